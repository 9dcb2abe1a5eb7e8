"""The flows of ``rtstate.testing.strategies``: what each one draws and emits.

Each flow is a function of the builder (``rtstate.testing._builder._B``) that draws
its choices and records its events, in the order and shapes the module docstring of
``rtstate.testing.strategies`` describes; the public strategies there wrap them. Also
here: the small draws the flows share (``rate_limit_lists`` is public through
``rtstate.testing.strategies``) and ``_begin``, which starts a builder.
"""

from __future__ import annotations

import base64
import itertools
import json
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

import attrs
from hypothesis import strategies as st

from ..config import Dialect
from ..events.client import (
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
    UnknownClientEvent,
)
from ..events.payloads import (
    UNSET,
    ContentPart,
    ContentType,
    Conversation,
    ErrorInfo,
    InputAudioTranscription,
    InputTokenDetails,
    Item,
    ItemStatus,
    Modality,
    OutputTokenDetails,
    RateLimit,
    ResponseInfo,
    ResponseParams,
    ResponseStatus,
    Role,
    SessionConfig,
    StatusDetails,
    Tool,
    TranscriptionUsage,
    TurnDetection,
    Usage,
)
from ..events.server import (
    ConversationCreated,
    ConversationItemDeleted,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemTruncated,
    Error,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    RateLimitsUpdated,
    ResponseAudioDelta,
    ResponseAudioDone,
    ResponseAudioTranscriptDelta,
    ResponseAudioTranscriptDone,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseTextDelta,
    ResponseTextDone,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
)
from ._builder import _B, Context, ConversationEntry, _Cut

__all__ = ["rate_limit_lists"]

_ALNUM: Final = string.ascii_letters + string.digits
_PCM16_BYTES_PER_MS: Final = 48
_MODEL: Final[Mapping[Dialect, str]] = {
    "beta": "gpt-4o-realtime-preview-2024-10-01",
    "ga": "gpt-realtime",
}
_TRANSCRIBERS: Final[Mapping[Dialect, tuple[str, ...]]] = {
    "beta": ("whisper-1",),
    "ga": ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"),
}
_MAX_MINUTES: Final[Mapping[Dialect, int]] = {"beta": 15, "ga": 60}
_DEFAULT_INSTRUCTIONS: Final = (
    "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI."
)
_VOICES: Final = ("alloy", "echo", "shimmer")
_TOOLS: Final = (
    Tool(
        name="get_weather",
        description="Look up the weather for a city.",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    ),
    Tool(
        name="lookup_order",
        description="Find an order by its number.",
        parameters={"type": "object", "properties": {"number": {"type": "integer"}}},
    ),
)

_NO_SURROGATES: Final[tuple[Literal["Cs"]]] = ("Cs",)
_text = st.text(
    st.characters(codec="utf-8", exclude_categories=_NO_SURROGATES), min_size=1, max_size=8
)
_chunks = st.lists(_text, min_size=1, max_size=5)
_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10_000, 10_000),
    st.text(st.characters(codec="utf-8", exclude_categories=_NO_SURROGATES), max_size=8),
)
_json_args = st.dictionaries(
    st.text(string.ascii_lowercase + "_", min_size=1, max_size=8), _json_scalars, max_size=3
)


# --- small draws --------------------------------------------------------------------------


def _chance(draw: st.DrawFn, n: int) -> bool:
    """True about once in ``n`` draws; shrinks to False."""
    return draw(st.sampled_from([False] * (n - 1) + [True]))


def _b64_audio(n_bytes: int, seed: int) -> str:
    """Deterministic pcm16-looking bytes (no draw per byte), base64-encoded."""
    pattern = bytes((seed + i * 7) & 0xFF for i in range(256))
    data = (pattern * (n_bytes // 256 + 1))[:n_bytes]
    return base64.b64encode(data).decode("ascii")


def _split(draw: st.DrawFn, text: str, max_parts: int = 4) -> list[str]:
    """Cut a string into 1..max_parts non-empty pieces that join back to it."""
    if len(text) <= 1:
        return [text]
    cuts = draw(
        st.lists(st.integers(1, len(text) - 1), max_size=max_parts - 1, unique=True).map(sorted)
    )
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def rate_limit_lists(dialect: Dialect = "ga") -> st.SearchStrategy[tuple[RateLimit, ...]]:
    """The ``rate_limits`` list of ``rate_limits.updated``: empty, or the limits the
    dialect's service reports (beta: requests and tokens; GA: tokens only)."""

    @st.composite
    def limits(draw: st.DrawFn) -> tuple[RateLimit, ...]:
        if _chance(draw, 4):
            return ()
        tokens = draw(st.integers(1_000, 2_000_000))
        token_limit = RateLimit(
            name="tokens",
            limit=tokens,
            remaining=draw(st.integers(0, tokens)),
            reset_seconds=draw(st.sampled_from([0.0, 0.288, 2.5])),
        )
        if dialect == "ga":
            return (token_limit,)
        requests = draw(st.integers(1, 10_000))
        return (
            RateLimit(
                name="requests",
                limit=requests,
                remaining=draw(st.integers(0, requests)),
                reset_seconds=draw(st.sampled_from([0.006, 0.5, 1.0, 60.0])),
            ),
            token_limit,
        )

    return limits()


def _rate_limits(b: _B) -> None:
    b.emit(RateLimitsUpdated, rate_limits=b.draw(rate_limit_lists(b.dialect)))


def _usage(b: _B, *, audio: bool, failed: bool) -> Usage:
    if failed:
        return Usage(
            total_tokens=0,
            input_tokens=0,
            output_tokens=0,
            input_token_details=InputTokenDetails(cached_tokens=0, text_tokens=0, audio_tokens=0),
            output_token_details=OutputTokenDetails(text_tokens=0, audio_tokens=0),
        )
    draw = b.draw
    in_text = draw(st.integers(1, 2_000))
    in_audio = draw(st.integers(0, 500))
    out_text = draw(st.integers(0, 300))
    out_audio = draw(st.integers(0, 600)) if audio else 0
    return Usage(
        total_tokens=in_text + in_audio + out_text + out_audio,
        input_tokens=in_text + in_audio,
        output_tokens=out_text + out_audio,
        input_token_details=InputTokenDetails(
            cached_tokens=draw(st.integers(0, in_text)),
            text_tokens=in_text,
            audio_tokens=in_audio,
        ),
        output_token_details=OutputTokenDetails(text_tokens=out_text, audio_tokens=out_audio),
    )


# --- session ------------------------------------------------------------------------------


def _default_session(session_id: str, expires_at: int, dialect: Dialect) -> SessionConfig:
    """What ``session.created`` holds at connect: the beta service's defaults of Oct 2024,
    or the GA service's (as the captures decode: audio output with its transcript, no
    temperature, ``truncation: "auto"``, ``tracing``, ``prompt`` and ``include`` null)."""
    vad = TurnDetection(
        type="server_vad", threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200
    )
    beta = SessionConfig(
        id=session_id,
        object="realtime.session",
        model=_MODEL[dialect],
        expires_at=expires_at,
        modalities=("text", "audio"),
        instructions=_DEFAULT_INSTRUCTIONS,
        voice="alloy",
        input_audio_format="pcm16",
        output_audio_format="pcm16",
        input_audio_transcription=None,
        turn_detection=vad,
        tools=(),
        tool_choice="auto",
        temperature=0.8,
        max_response_output_tokens="inf",
    )
    if dialect != "ga":
        return beta
    return attrs.evolve(
        beta,
        modalities=("audio", "text"),
        turn_detection=attrs.evolve(vad, create_response=True, interrupt_response=True),
        temperature=None,
        input_audio_noise_reduction=None,
        speed=1.0,
        include=None,
        tracing=None,
        truncation="auto",
        prompt=None,
    )


_UNSET_FIELDS: Final = frozenset(a.name for a in attrs.fields(SessionConfig) if a.default is UNSET)


def _merge(full: SessionConfig, patch: SessionConfig) -> SessionConfig:
    """The effective config after a partial ``session.update``."""
    changes: dict[str, Any] = {}
    for a in attrs.fields(SessionConfig):
        value = getattr(patch, a.name)
        if value is UNSET or (value is None and a.name not in _UNSET_FIELDS):
            continue
        if isinstance(value, TurnDetection):
            value = TurnDetection(
                type=value.type,
                threshold=0.5 if value.threshold is None else value.threshold,
                prefix_padding_ms=300
                if value.prefix_padding_ms is None
                else value.prefix_padding_ms,
                silence_duration_ms=500
                if value.silence_duration_ms is None
                else value.silence_duration_ms,
                create_response=value.create_response,
            )
        changes[a.name] = value
    return attrs.evolve(full, **changes)


def _draw_patch(b: _B, forced: Mapping[str, Any]) -> SessionConfig:
    """A partial session config: a few drawn fields, plus the ``forced`` ones."""
    draw = b.draw
    fields: dict[str, Any] = {}
    ga = b.ga
    options: dict[str, st.SearchStrategy[Any]] = {
        # GA has no text-and-audio: ["audio"] (decoded as audio with its transcript)
        "modalities": st.sampled_from([("audio", "text") if ga else ("text", "audio"), ("text",)]),
        "instructions": st.sampled_from(["", "Answer in one short sentence.", "Be brief."]),
        "turn_detection": st.one_of(
            st.none(),
            st.builds(
                TurnDetection,
                type=st.just("server_vad"),
                threshold=st.sampled_from([None, 0.5, 0.7]),
                prefix_padding_ms=st.sampled_from([None, 300, 500]),
                silence_duration_ms=st.sampled_from([None, 200, 500]),
                create_response=st.sampled_from([None, True, False]),
            ),
        ),
        "input_audio_transcription": st.sampled_from(
            [None, *(InputAudioTranscription(model=m) for m in _TRANSCRIBERS[b.dialect])]
        ),
        "tools": st.sampled_from([(), _TOOLS[:1], _TOOLS]),
        "max_response_output_tokens": st.sampled_from(["inf", 256, 4096]),
    }
    if not ga:  # GA has no temperature
        options["temperature"] = st.sampled_from([0.6, 0.8, 1.0])
    if not b.audio_produced:
        options["voice"] = st.sampled_from(_VOICES)
    for name, strategy in options.items():
        if name not in forced and draw(st.booleans()):
            fields[name] = draw(strategy)
    fields.update(forced)
    if not fields:
        fields["instructions"] = "Be brief."
    return SessionConfig(**fields)


def _session_start(b: _B) -> None:
    draw = b.draw
    session = _default_session(
        b.make_id("sess_", 21), draw(st.integers(1_727_740_800, 1_790_000_000)), b.dialect
    )
    early = draw(st.booleans())  # JS sends session.update before session.created arrives
    patch = _draw_patch(b, {}) if early else None
    if patch is not None:
        b.client(SessionUpdate(event_id=b.maybe_client_id(), session=patch))
    b.emit(SessionCreated, session=session)
    b.session = session
    b.conversation_id = b.make_id("conv_", 21)
    if not b.ga and draw(st.booleans()):  # GA never sends it; beta servers may not
        b.emit(
            ConversationCreated,
            conversation=Conversation(id=b.conversation_id, object="realtime.conversation"),
        )
    if patch is not None:
        b.session = _merge(session, patch)
        b.emit(SessionUpdated, session=b.session)
    b.late_fields = b.ga or draw(st.booleans())  # GA responses always carry them


def _update(b: _B, patch: SessionConfig) -> None:
    """The client's ``session.update`` of ``patch`` and its ``session.updated``."""
    b.client(SessionUpdate(event_id=b.maybe_client_id(), session=patch))
    b.session = _merge(b.config, patch)
    b.emit(SessionUpdated, session=b.session)


def _session_update(b: _B, **forced: Any) -> None:
    _update(b, _draw_patch(b, forced))


def _set(b: _B, **fields: Any) -> None:
    """A ``session.update`` of exactly these fields (what a client does to get them)."""
    _update(b, SessionConfig(**fields))


def _ensure_vad(b: _B, on: bool) -> None:
    if (b.vad is not None) != on:
        td = TurnDetection(type="server_vad") if on else None
        _set(b, turn_detection=td)


def _function_tools(config: SessionConfig) -> tuple[Tool, ...]:
    """The session's function tools (the streams never call an ``ExtensionTool``)."""
    return tuple([t for t in config.tools or () if isinstance(t, Tool)])


def _ensure_tools(b: _B) -> None:
    if not _function_tools(b.config):
        _set(b, tools=b.draw(st.sampled_from([_TOOLS[:1], _TOOLS])))


# --- items --------------------------------------------------------------------------------


def _item_create(b: _B, kind: str | None = None) -> str:
    draw = b.draw
    kinds = ["user_text", "user_text", "system_text", "assistant_text"]
    unanswered = b.unanswered_calls()
    if unanswered:
        kinds.append("function_call_output")
    kind = kind or draw(st.sampled_from(kinds))
    client_item_id = b.make_id("msg_", 12) if draw(st.booleans()) else None
    call_id = None
    if kind == "function_call_output":
        call = draw(st.sampled_from(unanswered))
        call_id = call.call_id
        assert call_id is not None
        item = Item(
            type="function_call_output",
            id=client_item_id,
            call_id=call_id,
            output=json.dumps({"result": draw(_text)}),
        )
        b.answered.add(call_id)
    else:
        roles: dict[str, tuple[Role, ContentType]] = {
            "user_text": ("user", "input_text"),
            "system_text": ("system", "input_text"),
            "assistant_text": ("assistant", "text"),
        }
        role, part = roles[kind]
        item = Item(
            type="message",
            id=client_item_id,
            role=role,
            content=(ContentPart(type=part, text=draw(_text)),),
        )
    after = None
    if b.conversation and _chance(draw, 4):
        after = draw(st.sampled_from([e.id for e in b.conversation]))
    b.client(
        ConversationItemCreate(event_id=b.maybe_client_id(), item=item, previous_item_id=after)
    )
    item_id = client_item_id or b.item_id()
    previous = after if after is not None else b.last_item
    b.item_added(
        attrs.evolve(item, id=item_id, object="realtime.item", status="completed"),
        previous,
        final=True,
    )
    b.add_entry(ConversationEntry(id=item_id, kind=kind, call_id=call_id), after=after)
    return item_id


def _item_create_flow(b: _B) -> None:
    _item_create(b)


# --- responses ----------------------------------------------------------------------------


class _OutputItem:
    """One output item being streamed: its plan, what was sent, and its state."""

    def __init__(self, b: _B, kind: str, index: int) -> None:
        draw = b.draw
        self.kind = kind
        self.index = index
        self.id = b.item_id()
        self.previous: str | None = None  # the item before it, once added
        self.deltas: list[tuple[str, str]] = []  # ("text"|"transcript"|"audio"|"args", value)
        self.call_id: str | None = None
        self.name: str | None = None
        if kind == "text":
            self.deltas = [("text", t) for t in draw(_chunks)]
        elif kind == "audio":
            transcript = [("transcript", t) for t in draw(_chunks)]
            audio = [
                ("audio", _b64_audio(2 * samples, seed))
                for samples, seed in draw(
                    st.lists(
                        st.tuples(st.integers(480, 2_400), st.integers(0, 255)),
                        min_size=1,
                        max_size=3,
                    )
                )
            ]
            self.deltas = draw(st.permutations(transcript + audio))
        else:
            self.call_id = b.make_id("call_", 16)
            tools = _function_tools(b.config) or _TOOLS
            self.name = draw(st.sampled_from([t.name for t in tools]))
            args = json.dumps(draw(_json_args), ensure_ascii=draw(st.booleans()))
            self.deltas = [("args", piece) for piece in _split(draw, args)]
        self.sent: dict[str, list[str]] = {"text": [], "transcript": [], "args": []}
        self.audio_bytes = 0
        self.added = False
        self.part_open = False
        self.part_added = False
        self.closed_part: ContentPart | None = None
        self.args_closed = False
        self.final: Item | None = None

    def actions(self) -> list[tuple[str, int]]:
        acts = [("add", 0)]
        if self.kind != "function_call":
            acts.append(("part", 0))
        acts += [("delta", n) for n in range(len(self.deltas))]
        acts.append(("close_part", 0) if self.kind != "function_call" else ("close_args", 0))
        acts.append(("close", 0))
        return acts

    def snapshot(self, status: ItemStatus) -> Item:
        if self.kind == "function_call":
            return Item(
                type="function_call",
                id=self.id,
                object="realtime.item",
                status=status,
                name=self.name,
                call_id=self.call_id,
                arguments="".join(self.sent["args"]) if status != "in_progress" else "",
            )
        content = () if self.closed_part is None or status == "in_progress" else (self.closed_part,)
        return Item(
            type="message",
            id=self.id,
            object="realtime.item",
            status=status,
            role="assistant",
            content=content,
        )


def _response_fields(b: _B, kind: str) -> dict[str, Any]:
    """The fields a 2025 server adds to response objects (none in Oct 2024)."""
    if not b.late_fields:
        return {}
    fields = {
        "conversation_id": b.conversation_id,
        "modalities": _modalities(b, kind),
        "voice": b.config.voice,
        "output_audio_format": "pcm16",
        "temperature": b.config.temperature,
        "max_output_tokens": b.config.max_response_output_tokens,
    }
    if b.ga:
        del fields["temperature"]  # GA has none
    return fields


def _modalities(b: _B, kind: str) -> tuple[Modality, ...]:
    """The modalities of a ``kind`` response, as the dialect's wire decodes them."""
    if kind != "audio":
        return ("text",)
    return ("audio", "text") if b.ga else ("text", "audio")


def _part_kind(b: _B) -> str:
    return "audio" if b.speaks else "text"


def _response_create(b: _B, kind: str) -> None:
    """The client's ``response.create``, overriding modalities if the session's differ."""
    params = None
    if kind != _part_kind(b):
        params = ResponseParams(modalities=_modalities(b, kind))
    b.client(ResponseCreate(event_id=b.maybe_client_id(), response=params))


def _response(
    b: _B,
    kinds: Sequence[str],
    *,
    cut: _Cut | None = None,
    midway: Callable[[str], None] | None = None,
) -> list[_OutputItem]:
    """Stream one response with output items of ``kinds`` (text, audio, function_call).

    Without ``cut`` it completes. With one, it stops at a drawn point (for ``failed``:
    before any output), ``cut.interrupt`` emits what stopped it, every open part and
    item is closed (items ``incomplete``) and ``response.done`` has the cut's status.
    ``midway(response_id)`` is called once at a drawn point while it streams.
    """
    draw = b.draw
    audio = "audio" in kinds
    part_kind = "audio" if audio else "text"
    rid = b.make_id("resp_", 21)
    extra = _response_fields(b, part_kind)
    b.emit(
        ResponseCreated,
        response=ResponseInfo(
            id=rid,
            object="realtime.response",
            status="in_progress",
            status_details=None,
            output=(),
            usage=None,
            **extra,
        ),
    )
    if not b.ga and draw(st.booleans()):  # GA reports limits after response.done only
        _rate_limits(b)
    items = [_OutputItem(b, kind, n) for n, kind in enumerate(kinds)]
    plan = [(item, act, n) for item in items for act, n in item.actions()]
    if cut is None:
        stop = len(plan)
    elif cut.status == "failed":
        stop = 0
    else:
        stop = draw(st.integers(0, len(plan) - 1))  # the last item is open at the cut
    middle = draw(st.integers(0, stop)) if midway is not None else -1
    for step, (item, act, n) in enumerate(plan[:stop]):
        if step == middle and midway is not None:
            midway(rid)
        _act(b, rid, item, act, n)
    if stop == middle and midway is not None:
        midway(rid)
    if cut is not None and cut.interrupt is not None:
        cut.interrupt()
    for item in items:
        if item.added and item.final is None:
            _close_open(b, rid, item)
    output = tuple(item.final for item in items if item.final is not None)
    status: ResponseStatus = "completed" if cut is None else cut.status
    details = None
    if cut is not None:
        error = None
        if cut.status == "failed":
            error = draw(
                st.sampled_from(
                    [
                        ErrorInfo(type="server_error", code=None, message="Internal error."),
                        ErrorInfo(
                            type="invalid_request_error",
                            code="inference_rate_limit_exceeded",
                            message="Rate limit reached.",
                        ),
                    ]
                )
            )
        details = StatusDetails(type=cut.status, reason=cut.reason, error=error)
    b.emit(
        ResponseDone,
        response=ResponseInfo(
            id=rid,
            object="realtime.response",
            status=status,
            status_details=details,
            output=output,
            usage=_usage(b, audio=audio, failed=status == "failed"),
            **extra,
        ),
    )
    if draw(st.booleans()):
        _rate_limits(b)
    for item in items:
        if item.audio_bytes:
            b.audio_produced = True
        if item.added:
            kind = "function_call" if item.kind == "function_call" else "assistant"
            if item.kind == "audio" and item.part_added:
                kind = "assistant_audio"
            b.replace_entry(
                item.id,
                kind=kind,
                audio_ms=item.audio_bytes // _PCM16_BYTES_PER_MS,
                call_id=item.call_id,
            )
    return items


def _act(b: _B, rid: str, item: _OutputItem, act: str, n: int) -> None:
    ids = {"response_id": rid, "item_id": item.id, "output_index": item.index}
    if act == "add":
        snapshot = item.snapshot("in_progress")
        b.emit(ResponseOutputItemAdded, response_id=rid, output_index=item.index, item=snapshot)
        previous = b.last_item
        item.previous = previous
        b.item_added(snapshot, previous, final=False)
        b.add_entry(ConversationEntry(id=item.id, kind="assistant", call_id=item.call_id))
        item.added = True
    elif act == "part":
        part = (
            ContentPart(type="audio", transcript="")
            if item.kind == "audio"
            else ContentPart(type="text", text="")
        )
        b.emit(ResponseContentPartAdded, content_index=0, part=part, **ids)
        item.part_open = item.part_added = True
    elif act == "delta":
        kind, value = item.deltas[n]
        if kind == "text":
            b.emit(ResponseTextDelta, content_index=0, delta=value, **ids)
        elif kind == "transcript":
            b.emit(ResponseAudioTranscriptDelta, content_index=0, delta=value, **ids)
        elif kind == "audio":
            b.emit(ResponseAudioDelta, content_index=0, delta=value, **ids)
            item.audio_bytes += len(base64.b64decode(value))
            return
        else:
            b.emit(ResponseFunctionCallArgumentsDelta, call_id=item.call_id, delta=value, **ids)
        item.sent[kind].append(value)
    elif act in ("close_part", "close_args"):
        _close_part(b, rid, item)
    else:
        item.final = item.snapshot("completed")
        b.item_done(item.final, item.previous)
        b.emit(ResponseOutputItemDone, response_id=rid, output_index=item.index, item=item.final)


def _close_part(b: _B, rid: str, item: _OutputItem) -> None:
    ids = {"response_id": rid, "item_id": item.id, "output_index": item.index}
    if item.kind == "function_call":
        if item.args_closed:
            return
        name = item.name if b.draw(st.booleans()) else None
        b.emit(
            ResponseFunctionCallArgumentsDone,
            call_id=item.call_id,
            arguments="".join(item.sent["args"]),
            name=name,
            **ids,
        )
        item.args_closed = True
        return
    if not item.part_open:
        return
    if item.kind == "text":
        text = "".join(item.sent["text"])
        b.emit(ResponseTextDone, content_index=0, text=text, **ids)
        part = ContentPart(type="text", text=text)
    else:
        transcript = "".join(item.sent["transcript"])
        if b.draw(st.booleans()):  # the service fixes no order between the two
            b.emit(ResponseAudioDone, content_index=0, **ids)
            b.emit(ResponseAudioTranscriptDone, content_index=0, transcript=transcript, **ids)
        else:
            b.emit(ResponseAudioTranscriptDone, content_index=0, transcript=transcript, **ids)
            b.emit(ResponseAudioDone, content_index=0, **ids)
        part = ContentPart(type="audio", transcript=transcript)
    b.emit(ResponseContentPartDone, content_index=0, part=part, **ids)
    item.part_open = False
    item.closed_part = part


def _close_open(b: _B, rid: str, item: _OutputItem) -> None:
    """Close an item cut short: its open part or arguments, then the item, incomplete."""
    _close_part(b, rid, item)
    item.final = item.snapshot("incomplete")
    b.item_done(item.final, item.previous)
    b.emit(ResponseOutputItemDone, response_id=rid, output_index=item.index, item=item.final)


def _ending(b: _B, allow: Sequence[str] = ("completed", "incomplete", "failed")) -> _Cut | None:
    """A drawn way for a response to end on its own: mostly completed."""
    choice = b.draw(st.sampled_from(["completed", "completed", "completed", *allow]))
    if choice == "completed" or choice not in allow:
        return None
    if choice == "failed":
        return _Cut("failed")
    return _Cut(
        "incomplete", reason=b.draw(st.sampled_from(["max_output_tokens", "content_filter"]))
    )


def _maybe_user_text(b: _B) -> None:
    if b.draw(st.booleans()):
        _item_create(b, "user_text")


def _text_response(b: _B) -> None:
    _maybe_user_text(b)
    _response_create(b, "text")
    _response(b, ["text"], cut=_ending(b))


def _audio_response(b: _B) -> None:
    _maybe_user_text(b)
    _response_create(b, "audio")
    _response(b, ["audio"], cut=_ending(b))


def _function_call(b: _B, follow_up: bool | None = None) -> None:
    _ensure_tools(b)
    _maybe_user_text(b)
    kind = _part_kind(b)
    _response_create(b, kind)
    lead = b.draw(st.sampled_from([[], [kind]]))
    items = _response(b, [*lead, "function_call"])
    call = items[-1]
    if follow_up is None:
        follow_up = b.draw(st.booleans())
    if follow_up and call.call_id is not None:
        _item_create(b, "function_call_output")
        _response_create(b, kind)
        _response(b, [kind])


# --- input audio ----------------------------------------------------------------------------


def _append(b: _B, ms: int) -> None:
    """Client appends ``ms`` of pcm16 audio (1 to 2 events); the clock moves on."""
    if ms <= 0:
        return
    pieces = [ms] if ms < 40 or not b.draw(st.booleans()) else [ms // 2, ms - ms // 2]
    for piece in pieces:
        b.client(
            InputAudioBufferAppend(
                event_id=b.maybe_client_id(),
                audio=_b64_audio(piece * _PCM16_BYTES_PER_MS, b.serial & 0xFF),
            )
        )
    b.audio_clock += ms


def _transcribe(b: _B, item_id: str) -> None:
    """The async input transcription of a committed item: now, or deferred to later.

    GA streams it: 1 to 3 ``.delta`` events whose concatenation is the transcript, then
    ``.completed`` with the ``usage`` (billed by duration or by tokens).
    """
    if not b.transcribing:
        return
    events: list[ServerEvent] = []
    if _chance(b.draw, 6):
        event: ServerEvent = ConversationItemInputAudioTranscriptionFailed(
            event_id=b.event_id(),
            item_id=item_id,
            content_index=0,
            error=ErrorInfo(
                type="transcription_error",
                code="audio_unintelligible",
                message="Audio was unintelligible.",
            ),
        )
    else:
        transcript = b.draw(_text)
        usage = None
        if b.ga:
            events += [
                ConversationItemInputAudioTranscriptionDelta(
                    event_id=b.event_id(), item_id=item_id, content_index=0, delta=piece
                )
                for piece in _split(b.draw, transcript, 3)
            ]
            usage = b.draw(
                st.sampled_from(
                    [
                        TranscriptionUsage(type="duration", seconds=3.0),
                        TranscriptionUsage(
                            type="tokens", input_tokens=24, output_tokens=9, total_tokens=33
                        ),
                    ]
                )
            )
        event = ConversationItemInputAudioTranscriptionCompleted(
            event_id=b.event_id(),
            item_id=item_id,
            content_index=0,
            transcript=transcript,
            usage=usage,
        )
    events.append(event)
    if b.draw(st.booleans()):
        b.events += [("server", e) for e in events]
    else:
        for e in events:
            b.defer(e)


def _user_audio_item(b: _B, item_id: str) -> None:
    previous = b.last_item
    b.emit(InputAudioBufferCommitted, item_id=item_id, previous_item_id=previous)
    b.item_added(
        Item(
            type="message",
            id=item_id,
            object="realtime.item",
            status="completed",
            role="user",
            content=(ContentPart(type="input_audio", transcript=None),),
        ),
        previous,
        final=True,
    )
    b.add_entry(ConversationEntry(id=item_id, kind="user_audio"))
    _transcribe(b, item_id)


def _speech_start(b: _B) -> tuple[str, int]:
    """Client audio up to detected speech, then ``speech_started``."""
    item_id = b.item_id()
    gap = b.draw(st.integers(0, 300))
    start = b.audio_clock + gap
    _append(b, gap + b.draw(st.integers(20, 100)))
    b.emit(InputAudioBufferSpeechStarted, audio_start_ms=start, item_id=item_id)
    return item_id, start


def _maybe_transcription(b: _B) -> None:
    """Before an audio turn, sometimes turn input transcription on."""
    if not b.transcribing and b.draw(st.booleans()):
        model = b.draw(st.sampled_from(_TRANSCRIBERS[b.dialect]))
        _set(b, input_audio_transcription=InputAudioTranscription(model=model))


def _vad_turn(b: _B, started: tuple[str, int] | None = None) -> None:
    _ensure_vad(b, True)
    if started is None:
        _maybe_transcription(b)
    td = b.vad
    assert td is not None
    item_id, start = started if started is not None else _speech_start(b)
    speech = b.draw(st.integers(100, 600))
    silence = td.silence_duration_ms or 500
    end = start + speech + silence
    _append(b, end - b.audio_clock)
    b.emit(InputAudioBufferSpeechStopped, audio_end_ms=end, item_id=item_id)
    _user_audio_item(b, item_id)
    if td.create_response is not False:
        kinds = [_part_kind(b)]
        if _function_tools(b.config) and _chance(b.draw, 4):
            kinds = b.draw(st.sampled_from([["function_call"], [*kinds, "function_call"]]))
        _response(b, kinds, cut=_ending(b))


def _manual_turn(b: _B) -> None:
    _ensure_vad(b, False)
    _maybe_transcription(b)
    _append(b, b.draw(st.integers(100, 400)))
    b.client(InputAudioBufferCommit(event_id=b.maybe_client_id()))
    _user_audio_item(b, b.item_id())
    if b.draw(st.booleans()):
        kind = _part_kind(b)
        _response_create(b, kind)
        _response(b, [kind], cut=_ending(b))


def _barge_in(b: _B) -> None:
    _ensure_vad(b, True)
    _maybe_transcription(b)
    _maybe_user_text(b)
    _response_create(b, "audio")
    speech: list[tuple[str, int]] = []

    def interrupt() -> None:
        speech.append(_speech_start(b))

    items = _response(b, ["audio"], cut=_Cut("cancelled", "turn_detected", interrupt))
    heard = items[0]
    if heard.part_added and heard.audio_bytes and b.draw(st.booleans()):
        ms = heard.audio_bytes // _PCM16_BYTES_PER_MS
        played = b.draw(st.integers(0, ms))
        _truncate_item(b, heard.id, played)
    elif heard.final is not None and not heard.audio_bytes and b.draw(st.booleans()):
        _delete_item(b, heard.id)  # nothing was played: the client drops the item
    _vad_turn(b, started=speech[0])


def _client_cancel(b: _B) -> None:
    kind = _part_kind(b)
    _response_create(b, kind)
    cancel_id = b.maybe_client_id()
    if _chance(b.draw, 4):
        # The race: the response finished before the cancel arrived (an error, benign).
        _response(b, [kind])
        b.client(ResponseCancel(event_id=cancel_id))
        b.emit(
            Error,
            error=ErrorInfo(
                type="invalid_request_error",
                code=b.draw(
                    st.sampled_from([*([] if b.ga else [None]), "response_cancel_not_active"])
                ),
                message="Cancellation failed: no active response found",
                event_id=cancel_id,
            ),
        )
        return

    def interrupt() -> None:
        b.client(ResponseCancel(event_id=cancel_id))

    _response(b, [kind], cut=_Cut("cancelled", "client_cancelled", interrupt))


# --- acknowledged client requests ---------------------------------------------------------


def _truncate_item(b: _B, item_id: str, audio_end_ms: int) -> None:
    b.client(
        ConversationItemTruncate(
            event_id=b.maybe_client_id(),
            item_id=item_id,
            content_index=0,
            audio_end_ms=audio_end_ms,
        )
    )
    b.emit(ConversationItemTruncated, item_id=item_id, content_index=0, audio_end_ms=audio_end_ms)
    b.replace_entry(item_id, audio_ms=audio_end_ms)


def _delete_item(b: _B, item_id: str) -> None:
    b.client(ConversationItemDelete(event_id=b.maybe_client_id(), item_id=item_id))
    b.emit(ConversationItemDeleted, item_id=item_id)
    b.conversation = [e for e in b.conversation if e.id != item_id]


def _truncate(b: _B) -> None:
    if not b.truncatable():
        _response_create(b, "audio")
        _response(b, ["audio"])
    target = b.draw(st.sampled_from(b.truncatable()))
    _truncate_item(b, target.id, b.draw(st.integers(0, target.audio_ms - 1)))


def _delete(b: _B) -> None:
    busy = b.deferred_items()
    if not [e for e in b.conversation if e.id not in busy]:
        _item_create(b)
    target = b.draw(st.sampled_from([e for e in b.conversation if e.id not in busy]))
    _delete_item(b, target.id)


def _clear(b: _B) -> None:
    if b.draw(st.booleans()):
        _append(b, b.draw(st.integers(10, 80)))
    b.client(InputAudioBufferClear(event_id=b.maybe_client_id()))
    b.emit(InputAudioBufferCleared)


# --- errors -------------------------------------------------------------------------------

_ERROR_KINDS: Final = (
    "invalid_session_update",
    "active_response",
    "commit_empty",
    "cancel_inactive",
    "delete_unknown",
    "truncate_unknown",
    "unknown_previous_item",
    "unknown_event_type",
    "server_error",
)


def _error(b: _B, kind: str | None = None) -> None:
    draw = b.draw
    kind = kind or draw(st.sampled_from(_ERROR_KINDS))
    cid = None if _chance(draw, 4) else b.client_id()

    def reject(code: str | None, message: str, param: str | None = None) -> None:
        b.emit(
            Error,
            error=ErrorInfo(
                type="invalid_request_error", code=code, message=message, param=param, event_id=cid
            ),
        )

    oct_2024 = not b.ga and draw(st.booleans())  # Oct 2024 sent code null for some
    if kind == "invalid_session_update":
        long = "x" * 1025
        b.client(
            SessionUpdate(
                event_id=cid, session=SessionConfig(tools=(Tool(name="t", description=long),))
            )
        )
        reject(
            "string_above_max_length",
            "Invalid 'session.tools[0].description': string too long. Expected a string with "
            "maximum length 1024, but got a string with length 1025 instead.",
            "session.tools[0].description",
        )
    elif kind == "active_response":
        part_kind = _part_kind(b)
        _response_create(b, part_kind)

        def again(rid: str) -> None:
            b.client(ResponseCreate(event_id=cid))
            reject(
                None if oct_2024 else "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {rid}. Wait until "
                "the response is finished before creating a new one.",
            )

        _response(b, [part_kind], midway=again)
    elif kind == "commit_empty":
        b.client(InputAudioBufferCommit(event_id=cid))
        if oct_2024:
            reject(None, "Error committing input audio buffer: the buffer is empty.")
        else:
            reject(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                "100ms of audio, but buffer only has 0.00ms of audio.",
            )
    elif kind == "cancel_inactive":
        b.client(ResponseCancel(event_id=cid))
        reject(
            None if oct_2024 else "response_cancel_not_active",
            "Cancellation failed: no active response found",
        )
    elif kind == "delete_unknown":
        missing = b.item_id()
        b.client(ConversationItemDelete(event_id=cid, item_id=missing))
        reject(
            "item_delete_invalid_item_id",
            f"Error deleting item: the item with id '{missing}' does not exist.",
            "item_id",
        )
    elif kind == "truncate_unknown":
        missing = b.item_id()
        b.client(
            ConversationItemTruncate(event_id=cid, item_id=missing, content_index=0, audio_end_ms=0)
        )
        reject(
            "item_truncate_invalid_item_id",
            f"Error truncating item: the item with id '{missing}' does not exist.",
            "item_id",
        )
    elif kind == "unknown_previous_item":
        missing = b.item_id()
        item = Item(
            type="message", role="user", content=(ContentPart(type="input_text", text="hi"),)
        )
        b.client(ConversationItemCreate(event_id=cid, item=item, previous_item_id=missing))
        reject(None, f"Previous item with id '{missing}' not found.", "previous_item_id")
    elif kind == "unknown_event_type":
        raw: dict[str, Any] = {"type": "response.frobnicate"}
        if cid is not None:
            raw["event_id"] = cid
        b.client(UnknownClientEvent(type="response.frobnicate", raw=raw))
        reject("invalid_value", "Invalid value: 'response.frobnicate'.", "type")
    else:
        b.emit(
            Error,
            error=ErrorInfo(
                type="server_error",
                message="The server had an error while processing your request.",
            ),
        )


def _expire(b: _B) -> None:
    b.emit(
        Error,
        error=ErrorInfo(
            type="invalid_request_error",
            code="session_expired",
            message=f"Your session hit the maximum duration of {_MAX_MINUTES[b.dialect]} minutes.",
        ),
    )


def _begin(draw: st.DrawFn, ctx: Context | None, dialect: Dialect = "ga") -> _B:
    """A builder that continues ``ctx``; without one, a new ``dialect`` session, started."""
    if ctx is not None:
        return _B(draw, ctx)
    salt = draw(st.text(_ALNUM, min_size=1, max_size=4))
    b = _B(draw, Context(dialect=dialect, salt=salt))
    _session_start(b)
    return b
