"""How a ``Reply`` becomes a response's events: the plan, the snapshots, the usage.

A response is planned once, when it starts: the responder's ``Reply`` is cut into
``Action`` values (add an item, add a part, one delta, close an item, finish) with the
time each is due, relative to ``response.created``. The connection then turns due
actions into events one at a time, reading its own folded state for everything the
wire derives from what was already sent (``previous_item_id``, the text so far, the
item snapshots of the ``.done`` events), so a response cut short by a cancel or a
barge-in closes exactly what it opened.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Final, Literal

import attrs

from .._build import positional
from ..events.payloads import (
    CachedTokensDetails,
    ContentPart,
    InputTokenDetails,
    Item,
    ItemStatus,
    JSONObject,
    MaxTokens,
    MessagePhase,
    OutputTokenDetails,
    StatusDetails,
    Usage,
)
from ..state import ItemState
from .audio import BYTES_PER_MS, Recorded, Utterance, Voice, streams, utterance_of
from .mcp import McpOutcome
from .responders import FunctionCall, McpCall, Message, Output, Reply

__all__ = [
    "Act",
    "Action",
    "Chunking",
    "Plan",
    "Segment",
    "audio_tokens",
    "build_plan",
    "drop_unsent",
    "snapshot",
    "text_tokens",
]


class Act(enum.Enum):
    """What one planned action does."""

    RATE_LIMITS = "rate_limits"
    ADD_ITEM = "add_item"
    ADD_PART = "add_part"
    TEXT = "text"
    TRANSCRIPT = "transcript"
    AUDIO = "audio"
    ARGUMENTS = "arguments"
    CLOSE_ITEM = "close_item"
    DONE = "done"

    __hash__ = object.__hash__  # members are singletons: the identity hash, in C


DELTAS: Final = frozenset({Act.TEXT, Act.TRANSCRIPT, Act.AUDIO, Act.ARGUMENTS})
"""The actions that are one delta event each (the ones pacing spaces out)."""


@attrs.frozen
class Action:
    """One step of a response: ``kind`` for output ``index``; ``data`` is a text delta's
    payload; an audio delta is bytes ``start`` to ``end`` of its segment's ``audio``,
    rendered when the delta is due."""

    kind: Act
    index: int = 0
    data: str = attrs.field(default="", repr=False)
    start: int = 0
    end: int = 0


_action: Final[Callable[[Act, int, str, int, int], Action]] = positional(Action)
"""``Action(kind, index, data, start, end)`` by position, without ``__init__``: a plan
builds one per delta (tests/server/test_server_wire.py checks the two agree)."""


@attrs.frozen(kw_only=True)
class Segment:
    """One planned output item: a message (``part`` ``"text"`` or ``"audio"``), a
    function call, or (GA) an MCP call (``server_label``, its ``output`` or ``error``,
    the ``approval_request_id`` it runs under) or an MCP approval request."""

    kind: Literal["message", "function_call", "mcp_call", "mcp_approval_request"]
    part: Literal["text", "audio"] = "text"
    text: str = ""
    audio_ms: float = 0.0
    name: str = ""
    call_id: str = ""
    arguments: str = ""
    status: Literal["completed", "incomplete"] = "completed"
    audio: Utterance | None = attrs.field(default=None, eq=False, repr=False)
    server_label: str = ""
    output: str | None = None
    error: JSONObject | None = None
    approval_request_id: str | None = None


@attrs.frozen(kw_only=True)
class Chunking:
    """Delta sizes: characters per text / transcript / arguments delta, ms per audio delta."""

    text_chars: int = 6
    transcript_chars: int = 6
    arguments_chars: int = 12
    audio_ms: int = 100


@attrs.frozen(kw_only=True)
class Plan:
    """A planned response: its outputs, actions, when each is due, and how it ends."""

    segments: tuple[Segment, ...]
    actions: tuple[Action, ...]
    due: tuple[float, ...]
    status: Literal["completed", "incomplete", "failed"] = "completed"
    status_details: StatusDetails | None = None


def text_tokens(text: str | None) -> int:
    """A token estimate for text: one per four characters (rounded up)."""
    return math.ceil(len(text) / 4) if text else 0


MS_PER_AUDIO_TOKEN: Final = 50.0
"""Output audio counts one token per 50 ms (in ``usage`` and against the token budget)."""


def audio_tokens(ms: float) -> int:
    """Output tokens of ``ms`` of audio (one per 50 ms, rounded up)."""
    return math.ceil(ms / MS_PER_AUDIO_TOKEN)


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _interleave(transcript: list[Action], audio: list[Action]) -> list[Action]:
    """Transcript and audio deltas merged by their position in the utterance."""
    n_t, n_a = len(transcript), len(audio)
    keyed = [(i / n_t, 0, i, a) for i, a in enumerate(transcript)]
    keyed += [(i / n_a, 1, i, a) for i, a in enumerate(audio)]
    keyed.sort()  # by (position, list, index): never equal, so actions are not compared
    return [k[3] for k in keyed]


def build_plan(
    reply: Reply,
    *,
    modalities: tuple[str, ...],
    voice_name: str,
    audio_format: str,
    max_tokens: MaxTokens | None,
    voice: Voice,
    chunking: Chunking,
    new_call_id: Callable[[], str],
    rate_limits: bool,
    latency: float,
    interval: float,
    limit: int = 4096,
    mcp: Callable[[McpCall], McpOutcome] | None = None,
) -> Plan:
    """Plan the response that says ``reply`` (see the module docstring).

    Output is bounded by ``max_tokens`` (``"inf"`` or ``None``: by ``limit``, the
    model's own cap): text, transcript and arguments count a token per four
    characters, audio a token per 50 ms, as ``usage`` counts them. Output past the
    budget is cut and the response ends ``incomplete`` (``max_output_tokens``).
    Audio is planned by size only; each delta's bytes are rendered when it is due.
    ``mcp`` runs an ``McpCall`` (``rtstate.server.mcp.run_call``): a call that needs
    approval is planned as an approval request, which ends the response's outputs; a
    call's ``say`` adds the message said after it.
    """
    actions: list[Action] = [Action(Act.RATE_LIMITS)] if rate_limits else []
    if reply.failure is not None:
        actions.append(Action(Act.DONE))
        details = StatusDetails(type="failed", error=reply.failure)
        return Plan(
            segments=(),
            actions=tuple(actions),
            due=(0.0,) * len(actions),
            status="failed",
            status_details=details,
        )
    budget = max_tokens if isinstance(max_tokens, int) else limit
    spoken = "audio" in modalities
    segments: list[Segment] = []
    cut = False
    outputs = _with_mcp_messages(reply.outputs, mcp)
    for index, (output, outcome) in enumerate(outputs):
        actions.append(Action(Act.ADD_ITEM, index))
        if isinstance(output, McpCall):
            assert outcome is not None
            arguments = output.arguments
            if text_tokens(arguments) > budget:
                arguments, cut = arguments[: budget * 4], True
            budget -= text_tokens(arguments)
            segments.append(
                Segment(
                    kind="mcp_approval_request" if outcome.approval else "mcp_call",
                    name=output.name,
                    server_label=output.server_label,
                    arguments=arguments,
                    output=outcome.output,
                    error=outcome.error,
                    approval_request_id=output.approval_request_id,
                    status="incomplete" if cut else "completed",
                )
            )
            if not outcome.approval:
                actions += [
                    _action(Act.ARGUMENTS, index, d, 0, 0)
                    for d in _chunks(arguments, chunking.arguments_chars)
                ]
            actions.append(Action(Act.CLOSE_ITEM, index))
            if cut or outcome.approval:
                break
            continue
        if isinstance(output, FunctionCall):
            arguments = output.arguments
            if text_tokens(arguments) > budget:
                arguments, cut = arguments[: budget * 4], True
            budget -= text_tokens(arguments)
            call_id = output.call_id or new_call_id()
            segments.append(
                Segment(
                    kind="function_call",
                    name=output.name,
                    call_id=call_id,
                    arguments=arguments,
                    status="incomplete" if cut else "completed",
                )
            )
            actions += [
                _action(Act.ARGUMENTS, index, d, 0, 0)
                for d in _chunks(arguments, chunking.arguments_chars)
            ]
        else:
            text = output.text
            if text_tokens(text) > budget:  # cheap first cut: the text alone is too long
                text, cut = text[: budget * 4], True
            actions.append(Action(Act.ADD_PART, index))
            if spoken:
                per_ms = BYTES_PER_MS.get(audio_format, 48)
                spoken_text, audio, size, short = _fit_speech(
                    output,
                    text,
                    budget,
                    voice=voice,
                    voice_name=voice_name,
                    audio_format=audio_format,
                    per_ms=per_ms,
                )
                text, cut = spoken_text, cut or short
                budget -= text_tokens(text) + audio_tokens(size / per_ms)
                step = max(chunking.audio_ms, 1) * per_ms
                pieces = [
                    _action(Act.AUDIO, index, "", i, min(i + step, size))
                    for i in range(0, size, step)
                ]
                transcript = [
                    _action(Act.TRANSCRIPT, index, d, 0, 0)
                    for d in _chunks(text, chunking.transcript_chars)
                ]
                actions += _interleave(transcript, pieces)
                segments.append(
                    Segment(
                        kind="message",
                        part="audio",
                        text=text,
                        audio_ms=size / per_ms,
                        status="incomplete" if cut else "completed",
                        audio=audio,
                    )
                )
            else:
                budget -= text_tokens(text)
                actions += [
                    _action(Act.TEXT, index, d, 0, 0) for d in _chunks(text, chunking.text_chars)
                ]
                segments.append(
                    Segment(
                        kind="message",
                        part="text",
                        text=text,
                        status="incomplete" if cut else "completed",
                    )
                )
        actions.append(Action(Act.CLOSE_ITEM, index))
        if cut:
            break
    actions.append(Action(Act.DONE))
    return Plan(
        segments=tuple(segments),
        actions=tuple(actions),
        due=_schedule(actions, latency, interval),
        status="incomplete" if cut else "completed",
        status_details=StatusDetails(type="incomplete", reason="max_output_tokens")
        if cut
        else None,
    )


def _with_mcp_messages(
    outputs: tuple[Output, ...], mcp: Callable[[McpCall], McpOutcome] | None
) -> list[tuple[Output, McpOutcome | None]]:
    """The outputs with each MCP call's outcome, and the message its ``say`` makes
    after it (none after an approval request)."""
    planned: list[tuple[Output, McpOutcome | None]] = []
    for output in outputs:
        if not isinstance(output, McpCall):
            planned.append((output, None))
            continue
        if mcp is None:
            raise ValueError("an McpCall needs the server's MCP servers (build_plan's mcp)")
        outcome = mcp(output)
        planned.append((output, outcome))
        if not outcome.approval and output.say is not None:
            planned.append((Message(text=output.say(outcome.output, outcome.error)), None))
    return planned


_SPOKEN: Final = frozenset({Act.TRANSCRIPT, Act.AUDIO})
"""The actions a truncate drops of the item it cuts."""


def drop_unsent(plan: Plan, position: int, index: int, interval: float) -> Plan:
    """``plan`` without the transcript and audio deltas of output ``index`` not yet
    written (those from ``position`` on): what a truncate of that item still being
    generated leaves of it. Each later action moves up by the ``interval`` a dropped
    delta held, so the rest of the response keeps its pace."""
    actions: list[Action] = list(plan.actions[:position])
    due: list[float] = list(plan.due[:position])
    dropped = 0
    for action, at in zip(plan.actions[position:], plan.due[position:], strict=True):
        if action.index == index and action.kind in _SPOKEN:
            dropped += 1
            continue
        actions.append(action)
        due.append(at - interval * dropped)
    return attrs.evolve(plan, actions=tuple(actions), due=tuple(due))


def _fit_speech(
    message: Message,
    text: str,
    budget: int,
    *,
    voice: Voice,
    voice_name: str,
    audio_format: str,
    per_ms: int,
) -> tuple[str, Utterance, int, bool]:
    """The longest prefix of ``text`` whose transcript and audio tokens fit ``budget``:
    (that text, its audio, how many bytes of the audio are said, whether it was cut).

    A ``StreamingVoice`` is only asked for sizes here (nothing is rendered); audio a
    ``Message`` brings, or a plain ``Voice`` makes, is cut in proportion to the text.
    When not even the empty text fits (a voice says something for it), its audio is
    cut to the budget.
    """
    width = 1 if per_ms == 8 else 2
    said = text
    whole: bytes | None = None
    if message.audio is not None:
        whole, said = message.audio, message.text
    elif not streams(voice):
        whole = voice.synthesize(text, voice_name, audio_format)

    def keep(n: int) -> int:
        assert whole is not None
        if n == len(said) or not said:
            return len(whole)
        kept = len(whole) * n // len(said)
        return kept - kept % width

    def size(n: int) -> int:
        if whole is None:
            return utterance_of(voice, text[:n], voice_name, audio_format).size
        return keep(n)

    def cost(n: int) -> int:
        return text_tokens(text[:n]) + audio_tokens(size(n) / per_ms)

    n = len(text)
    cut = False
    if cost(n) > budget:
        cut = True
        low, high = 0, n  # cost(low) <= budget < cost(high), or low == 0
        while high - low > 1:
            middle = (low + high) // 2
            if cost(middle) <= budget:
                low = middle
            else:
                high = middle
        n = low
    audio: Utterance = (
        utterance_of(voice, text[:n], voice_name, audio_format)
        if whole is None
        else Recorded(whole[: keep(n)])
    )
    room = (budget - text_tokens(text[:n])) * MS_PER_AUDIO_TOKEN * per_ms
    said_bytes = min(audio.size, max(int(room) - int(room) % width, 0))
    return text[:n], audio, said_bytes, cut or said_bytes < audio.size


def _schedule(actions: list[Action], latency: float, interval: float) -> tuple[float, ...]:
    """When each action is due after ``response.created``: deltas ``interval`` apart.

    The actions before the first ``ADD_ITEM`` are due at once; from it on, each is due
    ``latency`` plus ``interval`` per delta before it. With no interval (the default)
    that is ``latency`` for every one, written without the walk.
    """
    first = next((i for i, a in enumerate(actions) if a.kind is Act.ADD_ITEM), len(actions))
    due = [0.0] * first
    if interval == 0.0:
        due += [latency + 0.0] * (len(actions) - first)  # latency + 0.0 * deltas
        return tuple(due)
    deltas = 0
    for action in actions[first:]:
        due.append(latency + interval * deltas)
        if action.kind in DELTAS:
            deltas += 1
    return tuple(due)


def snapshot(item: ItemState, status: ItemStatus, phase: MessagePhase | None = None) -> Item:
    """The wire snapshot of an output item as far as it was sent (no audio bytes);
    ``phase``: a message's, for a reasoning model (``Item.phase``). GA MCP items carry
    the fields the SDK's item types have (no ``object``, no ``status``)."""
    if item.type in _MCP_ITEMS:
        return Item(
            id=item.id,
            type=item.type,
            server_label=item.server_label,
            name=item.name,
            arguments=item.arguments or "",
            output=item.output,
            error=item.error,
            approval_request_id=item.approval_request_id,
        )
    if item.type == "function_call":
        return Item(
            id=item.id,
            object="realtime.item",
            type="function_call",
            status=status,
            name=item.name,
            call_id=item.call_id,
            arguments=item.arguments or "",
        )
    content = tuple(
        ContentPart(type="audio", transcript=p.transcript or "")
        if p.type == "audio"
        else ContentPart(type=p.type, text=p.text)
        for p in item.parts
    )
    return Item(
        id=item.id,
        object="realtime.item",
        type=item.type,
        status=status,
        role=item.role,
        content=content,
        phase=phase,
    )


_MCP_ITEMS: Final = frozenset({"mcp_call", "mcp_approval_request"})


def usage(
    input_text: int,
    input_audio: int,
    outputs: tuple[Item, ...],
    audio_ms: float,
    *,
    reasoning: bool = False,
) -> Usage:
    """Usage of a response: estimated input tokens, and output tokens from what was sent.

    Shaped as the real service writes it (captures in ``tests/data/corpus``): input
    details split text / audio / image tokens and the cached ones (none here: the
    fake server caches nothing); a ``reasoning`` model's output details also count
    ``reasoning_tokens`` (none: the fake server does not reason).
    """
    out_text = 0
    for item in outputs:
        out_text += text_tokens(item.arguments)
        for part in item.content or ():
            out_text += text_tokens(part.text) + text_tokens(part.transcript)
    out_audio = audio_tokens(audio_ms)
    total_in = input_text + input_audio
    total_out = out_text + out_audio
    return Usage(
        total_tokens=total_in + total_out,
        input_tokens=total_in,
        output_tokens=total_out,
        input_token_details=InputTokenDetails(
            cached_tokens=0,
            text_tokens=input_text,
            audio_tokens=input_audio,
            image_tokens=0,
            cached_tokens_details=CachedTokensDetails(
                text_tokens=0, audio_tokens=0, image_tokens=0
            ),
        ),
        output_token_details=OutputTokenDetails(
            text_tokens=out_text,
            audio_tokens=out_audio,
            reasoning_tokens=0 if reasoning else None,
        ),
    )
