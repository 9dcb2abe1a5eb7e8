"""The response runner of ``ServerConnection``: a response from its start to its end.

``_start_response`` asks the responder for the reply, plans it (``rtstate.server.response``)
and writes ``response.created``; ``_pump`` then writes the planned actions as they come
due (one ``_act_*`` per ``Act``, table ``_ACTIONS``); ``_close_item`` writes the done
events of an output item from what was sent of it, ``_finish_run`` the ``response.done``;
``_cancel`` ends the response early (items ``incomplete``, status ``cancelled``) and
``_abandon`` ends it ``failed`` after an event could not be encoded.

The deltas of the default conversation's response are its hot path: each part's are
written by a ``DeltaWriter`` (``rtstate.server._wire``: the frame filled into a template
the codec wrote once, the event built by position, folded by ``fold_streamed``), and
``_pump_one`` runs a lone response's due actions without comparing responses. An item's
JSON is written once (``rtstate.server._wire.ItemFrames``): ``response.output_item.added``
lends it to ``conversation.item.added``, ``conversation.item.done`` (beta:
``response.output_item.done``) to the next, and ``response.done`` is written around its
output items' JSON (``_Run.item_jsons``).

Several responses at once
-------------------------
Responses are kept by id (``_runs``, in start order). At most one belongs to the
default conversation (``response.conversation`` ``"auto"`` or absent): its events fold
into the server's state, its items join the conversation. Any number run *out of band*
(``conversation: "none"``): each folds its events into a scratch state of its own (a
fork of the session's state taken when it starts, ``_Run.scratch``), so its items are
announced with ``response.output_item.added`` / ``.done`` only, never with
``conversation.item.*``, and never enter the conversation; its ``response.created`` /
``response.done`` carry ``conversation_id: null``. Folding them aside keeps the strict
fold's one-active-response rule true of the conversation the server keeps.
``_pump`` writes, among all responses, the action due first (ties in start order): their
frames interleave as their deltas come due. ``_acting`` names the response the
``_act_*`` methods work on; ``_run`` reads and writes it.

Playback (attached sessions)
----------------------------
A session attached to a call (``ServerConnection(call_id=...)``, the WebRTC/SIP
sideband) plays the audio itself: the first audio delta of a response writes
``output_audio_buffer.started``; its audio then plays at real-time pace (a buffer that
drains at one second per second of audio, restarting when it ran dry), and
``output_audio_buffer.stopped`` is due when the response has ended and its buffer has
drained. ``output_audio_buffer.clear`` (or a barge-in that cancels the response) cuts it
with ``output_audio_buffer.cleared``.

``_ResponseRunner`` is a mixin of ``ServerConnection`` (``rtstate.server.connection``),
which owns the session frame: the state, the clock, ``_emit``. What the runner uses of
it is declared at the top of the class.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs
from immutables import Map

from .._build import evolver
from ..config import Config, Dialect
from ..errors import RemoteProtocolError
from ..events import server as s
from ..events.payloads import (
    ContentPart,
    ErrorInfo,
    Item,
    ItemStatus,
    MessagePhase,
    RateLimit,
    ResponseInfo,
    ResponseParams,
    ResponseStatus,
    SessionConfig,
    StatusDetails,
    StatusReason,
)
from ..fold import fold
from ..state import ItemState, Ledger, PartPhase, SessionState
from ..transitions import Transition
from ._wire import DeltaWriter, ItemFrames, fold_streamed
from ._wire import obfuscation as _obfuscation
from .audio import (
    Voice,
    _render_base64,
    audio_ms,
)
from .config import ServerConfig
from .ids import IdFactory
from .mcp import run_call
from .responders import Responder, ResponseRequest
from .response import (
    Act,
    Action,
    Plan,
    Segment,
    build_plan,
    snapshot,
    text_tokens,
    usage,
)

__all__: list[str] = []

_RESPONSE_OVERRIDES: Final = (
    "modalities",
    "instructions",
    "voice",
    "output_audio_format",
    "tools",
    "tool_choice",
    "temperature",
    "max_response_output_tokens",
)


_MCP_KINDS: Final = frozenset({"mcp_call", "mcp_approval_request"})
"""The planned outputs that are GA MCP items."""

_REASONING_MODELS: Final = ("gpt-realtime-2",)
"""Model name prefixes of reasoning models: their assistant messages carry ``phase``
(GA) and their usage ``reasoning_tokens`` (the ``gpt-realtime-2.1`` captures)."""

_RATE_LIMIT_NAMES: Final[Mapping[Dialect, tuple[str, ...]]] = {
    "beta": ("requests", "tokens"),
    "ga": ("tokens",),
}
"""The limits ``rate_limits.updated`` reports: GA's real service sends ``tokens`` only,
after ``response.done``; the 2024 beta sent both, after ``response.created``."""


@attrs.frozen(kw_only=True)
class _Transcription:
    """The transcription of a committed user item, to be written."""

    item_id: str
    result: str | ErrorInfo
    seconds: float
    model: str | None


class _Unencodable(Exception):
    """An event the server made could not be encoded (see ``ServerConnection._emit``)."""

    def __init__(self, event_type: str, cause: BaseException) -> None:
        super().__init__(f"cannot encode {event_type}: {cause}")
        self.event_type = event_type
        self.reason = str(cause)[:200]


@attrs.define(kw_only=True, eq=False)
class _Run:
    """The response in progress: its plan and how far it got.

    ``_pump`` moves ``position`` on in place (once per event a response writes: a new
    run per action cost more than folding the event); every other change replaces the
    run (``_evolve_run``: ``attrs.evolve`` by slot writes), which the runner's ``_run``
    setter stores.
    """

    response_id: str
    plan: Plan
    started: float
    info: ResponseInfo
    input_text: int
    input_audio: int
    position: int = 0
    item_ids: tuple[str, ...] = ()
    open_index: int | None = None
    snapshots: tuple[Item, ...] = ()
    # the codec's JSON of each snapshot (``ItemFrames``; None: not cut out of a frame)
    item_jsons: tuple[str | None, ...] = ()
    scratch: SessionState | None = None  # out of band: the state its events fold into
    # (output index, delta class) -> the writer of those deltas (``_writer``); shared
    # by the runs ``_evolve_run`` makes of this one
    writers: dict[tuple[int, type], DeltaWriter] = attrs.field(factory=dict)

    @property
    def out_of_band(self) -> bool:
        """The response runs outside the default conversation."""
        return self.scratch is not None

    @property
    def next_due(self) -> float | None:
        if self.position >= len(self.plan.actions):
            return None
        return self.started + self.plan.due[self.position]


_evolve_run: Final = evolver(_Run)
_evolve_session: Final = evolver(SessionConfig)
_evolve_info: Final = evolver(ResponseInfo)
"""``attrs.evolve`` of these records, by plain slot writes (``rtstate._build.evolver``)."""


def _item_text_tokens(item: ItemState) -> int:
    """The estimated text tokens of one conversation item."""
    text = text_tokens(item.arguments) + text_tokens(item.output)
    for part in item.parts:
        text += text_tokens(part.text) + text_tokens(part.transcript)
    return text


def _effective(session: SessionConfig, params: ResponseParams | None) -> SessionConfig:
    """The session config with a ``response.create``'s overrides applied."""
    if params is None:
        return session
    changes = {}
    for name in _RESPONSE_OVERRIDES:
        value = getattr(params, name)
        if value is not None:
            changes[name] = value
    return _evolve_session(session, **changes) if changes else session


def _voice_name(voice: str | Mapping[str, Any] | None) -> str:
    """The name a ``Voice`` synthesizes with: a built-in voice's name, a custom voice's
    ``id`` (GA ``{"id": "voice_..."}``), or ``alloy``."""
    if isinstance(voice, str):
        return voice
    voice_id = None if voice is None else voice.get("id")
    return voice_id if isinstance(voice_id, str) else "alloy"


class _ResponseRunner:
    """The response runner (see the module docstring); a mixin of ``ServerConnection``."""

    # what the runner uses of the session frame (``ServerConnection``)
    _config: ServerConfig
    _fold_config: Config
    _frames: list[str]
    _transitions: list[Transition]
    _state: SessionState
    _now: float
    _ga: bool
    _ids: IdFactory
    _responder: Responder
    _voice: Voice
    _runs: dict[str, _Run]
    _acting: str | None
    _playing: dict[str, float]
    _played: str | None
    _call_id: str | None
    _calls: dict[str, str]
    _audio_out: bool
    _idle_from: float | None
    _input_audio_ms: dict[str, float]
    _item_tokens: dict[str, tuple[ItemState, int, float]]
    _responses: int
    _tokens_used: int
    _conversation_id: str | None
    _item_frames: ItemFrames

    if TYPE_CHECKING:

        @property
        def dialect(self) -> Dialect: ...

        @property
        def _session(self) -> SessionConfig: ...

        def _emit(self, event: s.ServerEvent) -> None: ...

        def _encode(self, event: s.ServerEvent) -> str: ...

        def _fold(self, event: s.ServerEvent) -> None: ...

        def _event_id(self) -> str: ...

        def _emit_item(
            self, item: Item, previous: str | None, *, final: bool, item_json: str | None = None
        ) -> None: ...

        def _emit_written(self, event: s.ServerEvent, frame: str | None) -> str: ...

        def _server_error(
            self, failure: _Unencodable, event_id: str | None, kind: str | None
        ) -> None: ...

        def _count(self, item_id: str) -> None: ...

    # --- the responses in progress ------------------------------------------------------

    @property
    def _run(self) -> _Run | None:
        """The response the ``_act_*`` methods work on (``_acting``)."""
        acting = self._acting
        return None if acting is None else self._runs.get(acting)

    @_run.setter
    def _run(self, run: _Run | None) -> None:
        if run is not None:
            self._runs[run.response_id] = run
        elif self._acting is not None:
            self._runs.pop(self._acting, None)

    @property
    def _default_run(self) -> _Run | None:
        """The default conversation's response in progress, if any."""
        for run in self._runs.values():
            if not run.out_of_band:
                return run
        return None

    def _view(self, run: _Run) -> SessionState:
        """The state ``run``'s events fold into: the session's, or its scratch state."""
        return self._state if run.scratch is None else run.scratch

    def _out(self, event: s.ServerEvent) -> None:
        """Write an event of the acting response: folded into the session's state, or,
        out of band, into the response's scratch state (``_emit`` for everything else)."""
        run = self._run
        if run is None or run.scratch is None:
            self._emit(event)
            return
        frame = self._encode(event)
        self._aside(event)
        self._frames.append(frame)

    def _out_written(self, event: s.ServerEvent, frame: str | None) -> str:
        """``_out`` of an event whose frame was written already (``ItemFrames``;
        ``None``: it was not, the codec encodes it); the frame."""
        run = self._run
        if run is None or run.scratch is None:
            return self._emit_written(event, frame)
        if frame is None:
            frame = self._encode(event)
        self._aside(event)
        self._frames.append(frame)
        return frame

    def _aside(self, event: s.ServerEvent) -> None:
        """Fold ``event`` into the acting out-of-band response's scratch state only."""
        run = self._run
        assert run is not None and run.scratch is not None
        try:
            step = fold(run.scratch, event, self._fold_config)
        except RemoteProtocolError as exc:  # pragma: no cover - a bug in this module
            raise RuntimeError(f"rtstate.server made an invalid {event.type}: {exc}") from exc
        self._run = _evolve_run(run, scratch=step.after)

    def _start_response(
        self,
        params: ResponseParams | None,
        trigger: str,
        transcription: _Transcription | None = None,
        context: tuple[ItemState, ...] | None = None,
    ) -> None:
        """``response.created`` and the plan; ``transcription``: the turn's transcription,
        not sent yet (GA), which the responder may read (``ResponseRequest.transcripts``);
        ``context``: the items of ``response.input``, which replace the conversation as
        the response's context (``ResponseRequest.context``)."""
        config = self._config
        response_id = self._ids("resp")
        effective = _effective(self._session, params)
        out_of_band = params is not None and params.conversation == "none"
        request = ResponseRequest(
            response_id=response_id,
            state=self._state,
            session=effective,
            params=params,
            trigger=trigger,
            transcripts={}
            if transcription is None or not isinstance(transcription.result, str)
            else {transcription.item_id: transcription.result},
            context=context,
        )
        reply = self._responder.respond(request)
        modalities = effective.modalities or ("audio", "text")
        audio_format = effective.output_audio_format or "pcm16"
        voice_name = _voice_name(effective.voice)
        plan = build_plan(
            reply,
            modalities=modalities,
            voice_name=voice_name,
            audio_format=audio_format,
            max_tokens=effective.max_response_output_tokens,
            voice=self._voice,
            chunking=config.chunking,
            new_call_id=lambda: self._ids("call"),
            rate_limits=config.rate_limits and not self._ga,  # GA: after response.done
            latency=config.response_latency,
            interval=config.delta_interval,
            limit=config.max_output_tokens,
            mcp=lambda call: run_call(
                config.mcp_servers,
                effective.tools,
                server_label=call.server_label,
                name=call.name,
                arguments=call.arguments,
                approved=call.approval_request_id is not None,
            ),
        )
        input_text, input_audio = self._input_tokens(effective, context)
        info = ResponseInfo(
            id=response_id,
            object="realtime.response",
            status="in_progress",
            output=(),
            metadata=None if params is None else params.metadata,
            conversation_id=None if out_of_band else self._conversation_id,
            modalities=tuple(modalities),
            voice=voice_name,  # a custom voice by its id: the GA response object has a string
            output_audio_format=audio_format,
            temperature=None if self._ga else effective.temperature,
            max_output_tokens=effective.max_response_output_tokens,
        )
        self._responses += 1
        run = _Run(
            response_id=response_id,
            plan=plan,
            started=self._now,
            info=info,
            input_text=input_text,
            input_audio=input_audio,
            scratch=attrs.evolve(
                self._state, responses=Map(), active_response_id=None, ledger=Ledger()
            )
            if out_of_band
            else None,
        )
        self._runs[response_id] = run
        self._acting = response_id
        try:
            self._out(s.ResponseCreated(event_id=self._event_id(), response=info))
        except _Unencodable:
            del self._runs[response_id]
            raise
        finally:
            self._acting = None

    def _input_tokens(
        self, session: SessionConfig, context: tuple[ItemState, ...] | None
    ) -> tuple[int, int]:
        """Estimated input tokens of a response: (text, audio) of the whole conversation
        (or of its ``context``, ``response.input``)."""
        text = text_tokens(session.instructions)
        audio_ms_total = 0.0
        heard = self._input_audio_ms
        counted = self._item_tokens
        kept: dict[str, tuple[ItemState, int, float]] = {}
        if context is not None:
            for item in context:
                entry = counted.get(item.id)
                if entry is None or entry[0] is not item:  # new, or changed since counted
                    entry = (item, _item_text_tokens(item), item.audio_ms)
                kept[item.id] = entry
                text += entry[1]
                audio_ms_total += heard.get(item.id, 0.0) + entry[2]
            return text, math.ceil(audio_ms_total / 100.0)
        # the conversation's items in order (``state.items`` without its tuple), each
        # counted again only if it changed; the same sums in the same order
        state = self._state
        by_id = state.items_by_id
        following = state.order.next.get
        item_id = state.order.head
        while item_id is not None:
            item = by_id[item_id]
            entry = counted.get(item_id)
            if entry is None or entry[0] is not item:  # new, or changed since counted
                entry = (item, _item_text_tokens(item), item.audio_ms)
            kept[item_id] = entry
            text += entry[1]
            audio_ms_total += heard.get(item_id, 0.0) + entry[2]
            item_id = following(item_id)
        self._item_tokens = kept  # the items as they are now (deleted ones go)
        return text, math.ceil(audio_ms_total / 100.0)

    def _pump(self, until: float | None = None) -> None:
        """Write what is due: the actions of the responses in progress, the first due
        first (ties in start order), and the ends of playback (attached sessions)."""
        now = self._now if until is None else min(until, self._now)
        runs = self._runs
        while True:
            if len(runs) == 1 and self._pump_one(now):
                return
            due: float | None = None
            chosen: str | None = None
            for response_id, run in self._runs.items():
                at = run.next_due
                if at is not None and at <= now and (due is None or at < due):
                    due, chosen = at, response_id
            stop = self._playback_due() if self._playing else None
            if stop is not None and stop[1] <= now and (due is None or stop[1] < due):
                self._stop_playback(stop[0])
                continue
            if chosen is None:
                return
            self._acting = chosen
            try:
                run = self._runs[chosen]
                action = run.plan.actions[run.position]
                run.position += 1
                try:
                    _ACTIONS[action.kind](self, action)
                except _Unencodable as failure:
                    self._server_error(failure, None, None)
                    self._abandon()
            finally:
                self._acting = None

    def _pump_one(self, now: float) -> bool:
        """``_pump`` while one response runs and no other playback can end: that
        response's due actions in order (what the general loop would choose), without
        comparing responses. True: nothing more is due by ``now``; False: responses or
        playback changed (the general loop goes on)."""
        runs = self._runs
        ((response_id, run),) = runs.items()
        playing = self._playing
        if playing and (len(playing) > 1 or response_id not in playing):
            return False
        self._acting = response_id
        try:
            while True:
                plan = run.plan
                position = run.position
                if position >= len(plan.actions) or run.started + plan.due[position] > now:
                    return True
                action = plan.actions[position]
                run.position = position + 1
                try:
                    _ACTIONS[action.kind](self, action)
                except _Unencodable as failure:
                    self._server_error(failure, None, None)
                    self._abandon()
                found = runs.get(response_id)
                if found is None or len(runs) != 1 or (playing and len(playing) > 1):
                    return False
                run = found
        finally:
            self._acting = None

    def _next_due(self) -> float | None:
        """When the next action of a response or the next end of playback is due."""
        dues = [run.next_due for run in self._runs.values()]
        stop = self._playback_due()
        due = [t for t in (*dues, None if stop is None else stop[1]) if t is not None]
        return min(due) if due else None

    # --- playback (attached sessions) ----------------------------------------------------

    def _playback_due(self) -> tuple[str, float] | None:
        """The playback to stop first: a response that has ended, and when its audio
        has all been played."""
        ends = [(end, rid) for rid, end in self._playing.items() if rid not in self._runs]
        if not ends:
            return None
        end, response_id = min(ends)
        return response_id, end

    def _play(self, response_id: str, ms: float) -> None:
        """Attached: ``ms`` of audio of ``response_id`` reach the server's playback."""
        if self._call_id is None:
            return
        start = self._playing.get(response_id)
        if start is None:
            self._emit(
                s.OutputAudioBufferStarted(event_id=self._event_id(), response_id=response_id)
            )
            start = self._now
            self._played = response_id
        self._playing[response_id] = max(start, self._now) + ms / 1000.0

    def _stop_playback(self, response_id: str) -> None:
        del self._playing[response_id]
        self._emit(s.OutputAudioBufferStopped(event_id=self._event_id(), response_id=response_id))

    def _clear_playback(self) -> tuple[str, ...]:
        """Cut the playback: ``output_audio_buffer.cleared`` for each response playing;
        the ids it cut."""
        cut = tuple(self._playing)
        self._playing.clear()
        for response_id in cut:
            self._emit(
                s.OutputAudioBufferCleared(event_id=self._event_id(), response_id=response_id)
            )
        return cut

    def _abandon(self) -> None:
        """End the response in progress ``failed`` after one of its events could not be
        encoded (if even that fails, the response is dropped)."""
        run = self._run
        if run is None:
            return
        error = ErrorInfo(type="server_error", code="server_error")
        index = run.open_index
        try:
            if index is not None and self._view(run).item(run.item_ids[index]) is not None:
                self._close_item(index, "incomplete")
            self._finish_run("failed", StatusDetails(type="failed", error=error))
        except _Unencodable:  # pragma: no cover - nothing left that can be said
            self._run = None

    def _part_ids(self, action: Action) -> dict[str, Any]:
        run = self._run
        assert run is not None
        return {
            "response_id": run.response_id,
            "item_id": run.item_ids[action.index],
            "output_index": action.index,
            "content_index": 0,
        }

    def _delta_fields(self, action: Action) -> dict[str, Any]:
        """A text or transcript delta's fields but the delta: ``_part_ids``, the
        ``event_id`` and (GA) the ``obfuscation``, in one dict."""
        fields = self._part_ids(action)
        event_id = fields["event_id"] = self._event_id()
        if self._ga:
            fields["obfuscation"] = _obfuscation(event_id, action.data)
        return fields

    def _act_rate_limits(self, action: Action) -> None:
        run = self._run
        assert run is not None
        self._rate_limits(run)

    def _rate_limits(self, run: _Run) -> None:
        """``rate_limits.updated`` after ``run`` spent its (planned) tokens."""
        config = self._config
        planned = sum(
            text_tokens(seg.text) + text_tokens(seg.arguments) for seg in run.plan.segments
        )
        self._tokens_used += run.input_text + run.input_audio + planned
        limits = {
            "requests": RateLimit(
                name="requests",
                limit=config.requests_limit,
                remaining=max(config.requests_limit - self._responses, 0),
                reset_seconds=round(60.0 / max(config.requests_limit, 1), 3),
            ),
            "tokens": RateLimit(
                name="tokens",
                limit=config.tokens_limit,
                remaining=max(config.tokens_limit - self._tokens_used, 0),
                reset_seconds=round(
                    60.0
                    * min(self._tokens_used, config.tokens_limit)
                    / max(config.tokens_limit, 1),
                    3,
                ),
            ),
        }
        names = _RATE_LIMIT_NAMES[self.dialect]
        self._emit(
            s.RateLimitsUpdated(
                event_id=self._event_id(), rate_limits=tuple(limits[n] for n in names)
            )
        )

    @property
    def _reasoning(self) -> bool:
        """The session's model is a reasoning model (``_REASONING_MODELS``)."""
        return (self._session.model or "").startswith(_REASONING_MODELS)

    def _phase(self, run: _Run, index: int) -> MessagePhase | None:
        """GA, reasoning model: a message's ``phase``, ``commentary`` when a function
        call of the same response follows it, else ``final_answer``."""
        segments = run.plan.segments
        if not (self._ga and self._reasoning) or segments[index].kind != "message":
            return None
        later = segments[index + 1 :]
        return "commentary" if any(seg.kind == "function_call" for seg in later) else "final_answer"

    def _obfuscated(self, delta: str) -> dict[str, Any]:
        """The ``event_id`` (and, GA, the ``obfuscation``) of a text-bearing delta."""
        event_id = self._event_id()
        if not self._ga:
            return {"event_id": event_id}
        return {"event_id": event_id, "obfuscation": _obfuscation(event_id, delta)}

    def _act_add_item(self, action: Action) -> None:
        run = self._run
        assert run is not None
        segment = run.plan.segments[action.index]
        item_id = self._ids("item")
        if segment.kind == "function_call":
            item = Item(
                id=item_id,
                object="realtime.item",
                type="function_call",
                status="in_progress",
                name=segment.name,
                call_id=segment.call_id,
                arguments="",
            )
            self._calls[segment.call_id] = item_id
        elif segment.kind in _MCP_KINDS:  # GA: the SDK's MCP items have no object, no status
            item = Item(
                id=item_id,
                type=segment.kind,
                server_label=segment.server_label,
                name=segment.name,
                arguments="" if segment.kind == "mcp_call" else segment.arguments,
                approval_request_id=segment.approval_request_id,
            )
        else:
            item = Item(
                id=item_id,
                object="realtime.item",
                type="message",
                status="in_progress",
                role="assistant",
                content=(),
                phase=self._phase(run, action.index),
            )
        self._run = _evolve_run(run, item_ids=(*run.item_ids, item_id), open_index=action.index)
        added = s.ResponseOutputItemAdded(
            event_id=self._event_id(),
            response_id=run.response_id,
            output_index=action.index,
            item=item,
        )
        frame = self._out_written(added, None)
        if not run.out_of_band:
            item_json = self._item_frames.item_json(added, frame)
            self._emit_item(item, self._state.order.tail, final=False, item_json=item_json)
        else:  # never sent: the scratch state holds the item as the fold wants it held
            self._aside(
                s.ConversationItemAdded(event_id="", item=item, previous_item_id=None)
                if self._ga
                else s.ConversationItemCreated(event_id="", item=item, previous_item_id=None)
            )

    def _act_add_part(self, action: Action) -> None:
        run = self._run
        assert run is not None
        kind = run.plan.segments[action.index].part
        part = (
            ContentPart(type="audio", transcript="")
            if kind == "audio"
            else ContentPart(type="text", text="")
        )
        self._out(
            s.ResponseContentPartAdded(
                event_id=self._event_id(), part=part, **self._part_ids(action)
            )
        )

    def _act_text(self, action: Action) -> None:
        run = self._runs[self._acting]  # type: ignore[index]  # set by _pump
        if run.scratch is not None:
            self._out(s.ResponseTextDelta(delta=action.data, **self._delta_fields(action)))
            return
        writer = run.writers.get((action.index, s.ResponseTextDelta))
        if writer is None:
            writer = self._writer(run, action, s.ResponseTextDelta)
        self._write_delta(writer, action.data)

    def _act_transcript(self, action: Action) -> None:
        run = self._runs[self._acting]  # type: ignore[index]  # set by _pump
        if run.scratch is not None:
            self._out(
                s.ResponseAudioTranscriptDelta(delta=action.data, **self._delta_fields(action))
            )
            return
        writer = run.writers.get((action.index, s.ResponseAudioTranscriptDelta))
        if writer is None:
            writer = self._writer(run, action, s.ResponseAudioTranscriptDelta)
        self._write_delta(writer, action.data)

    def _writer(self, run: _Run, action: Action, cls: type[s.ServerEvent]) -> DeltaWriter:
        """The ``DeltaWriter`` of ``cls`` deltas of ``run``'s part ``action.index``
        (made on its first delta, kept in ``run.writers``)."""
        key = (action.index, cls)
        writer = run.writers.get(key)
        if writer is None:
            fixed = (run.response_id, run.item_ids[action.index], action.index, 0)
            obfuscated = self._ga and cls is not s.ResponseAudioDelta
            # the template is encoded as the stream's first delta would be: what cannot
            # be encoded raises ``_Unencodable`` here
            writer = DeltaWriter(self._encode, cls, fixed, obfuscated=obfuscated)
            run.writers[key] = writer
        return writer

    def _write_delta(self, writer: DeltaWriter, delta: str) -> None:
        """``_emit`` of a text-bearing delta of the default conversation, through its
        ``DeltaWriter`` (the codec's frame, not encoded again)."""
        event, frame = writer.write(self._ids("event"), delta)
        if frame is None:  # the codec says why (``_Unencodable``)
            frame = self._encode(event)
        self._fold_delta(event)
        self._frames.append(frame)

    def _fold_delta(self, event: s.ServerEvent) -> None:
        """``_fold`` of a delta: through ``fold_streamed`` when it can."""
        folded = fold_streamed(self._state, event, self._fold_config)
        if folded is None:
            self._fold(event)
            return
        self._state = folded[0]
        self._transitions.append(folded[1])

    def _act_audio(self, action: Action) -> None:
        """An audio delta: its bytes are rendered now, when it is due (not at planning)."""
        run = self._runs[self._acting]  # type: ignore[index]  # set by _pump
        audio = run.plan.segments[action.index].audio
        assert audio is not None
        delta, size = _render_base64(audio, action.start, action.end)
        self._audio_out = True
        if self._call_id is not None:
            self._play(run.response_id, audio_ms(size, run.info.output_audio_format or "pcm16"))
        if run.scratch is not None:
            self._out(
                s.ResponseAudioDelta(
                    event_id=self._event_id(), delta=delta, **self._part_ids(action)
                )
            )
            return
        writer = self._writer(run, action, s.ResponseAudioDelta)
        event, frame = writer.write_audio(self._ids("event"), delta)
        if frame is None:  # the codec says why (``_Unencodable``)
            frame = self._encode(event)
        self._fold_delta(event)
        self._frames.append(frame)

    def _act_arguments(self, action: Action) -> None:
        run = self._run
        assert run is not None
        segment = run.plan.segments[action.index]
        if run.scratch is None and segment.kind == "function_call":
            cls = s.ResponseFunctionCallArgumentsDelta
            writer = run.writers.get((action.index, cls))
            if writer is None:
                fixed = (run.response_id, run.item_ids[action.index], action.index)
                writer = DeltaWriter(
                    self._encode, cls, (*fixed, segment.call_id), obfuscated=self._ga
                )
                run.writers[action.index, cls] = writer
            self._write_delta(writer, action.data)
            return
        if segment.kind == "mcp_call":
            self._out(
                s.ResponseMcpCallArgumentsDelta(
                    **self._obfuscated(action.data),
                    response_id=run.response_id,
                    item_id=run.item_ids[action.index],
                    output_index=action.index,
                    delta=action.data,
                )
            )
            return
        self._out(
            s.ResponseFunctionCallArgumentsDelta(
                **self._obfuscated(action.data),
                response_id=run.response_id,
                item_id=run.item_ids[action.index],
                output_index=action.index,
                call_id=run.plan.segments[action.index].call_id,
                delta=action.data,
            )
        )

    def _act_close_item(self, action: Action) -> None:
        run = self._run
        assert run is not None
        self._close_item(action.index, run.plan.segments[action.index].status)

    def _act_done(self, action: Action) -> None:
        run = self._run
        assert run is not None
        self._finish_run(run.plan.status, run.plan.status_details)

    def _close_item(self, index: int, status: ItemStatus) -> None:
        """The done events of output ``index``, from what was sent of it."""
        run = self._run
        assert run is not None
        item_id = run.item_ids[index]
        view = self._view(run)
        item = view.item(item_id)
        assert item is not None
        ids: dict[str, Any] = {
            "response_id": run.response_id,
            "item_id": item_id,
            "output_index": index,
        }
        if item.type == "function_call":
            self._out(
                s.ResponseFunctionCallArgumentsDone(
                    event_id=self._event_id(),
                    call_id=item.call_id or "",
                    arguments=item.arguments or "",
                    name=item.name,
                    **ids,
                )
            )
        segment = run.plan.segments[index]
        if item.type == "mcp_call":
            self._mcp_call_ran(item, segment, status, ids)
        for content_index, part in enumerate(item.parts):
            if part.phase is not PartPhase.STREAMING:
                continue
            where = {**ids, "content_index": content_index}
            if part.type == "audio":
                transcript = part.transcript or ""
                self._out(s.ResponseAudioDone(event_id=self._event_id(), **where))
                self._out(
                    s.ResponseAudioTranscriptDone(
                        event_id=self._event_id(), transcript=transcript, **where
                    )
                )
                done = ContentPart(type="audio", transcript=transcript)
            else:
                self._out(s.ResponseTextDone(event_id=self._event_id(), text=part.text, **where))
                done = ContentPart(type="text", text=part.text)
            self._out(s.ResponseContentPartDone(event_id=self._event_id(), part=done, **where))
        final = self._view(self._runs[run.response_id]).item(item_id)
        assert final is not None
        snap = snapshot(final, status, self._phase(run, index))
        if item.type == "mcp_call" and status == "completed":  # what the tool returned
            snap = attrs.evolve(snap, output=segment.output, error=segment.error)
        written = self._item_frames
        item_json: str | None = None
        if self._ga and not run.out_of_band:
            previous = self._state.order.prev.get(item_id)
            item_done = s.ConversationItemDone(
                event_id=self._event_id(), item=snap, previous_item_id=previous
            )
            item_json = written.item_json(item_done, self._out_written(item_done, None))
        output_done = s.ResponseOutputItemDone(
            event_id=self._event_id(),
            response_id=run.response_id,
            output_index=index,
            item=snap,
        )
        if item_json is None:
            item_json = written.item_json(output_done, self._out_written(output_done, None))
        else:
            self._out_written(output_done, written.frame(output_done, item_json))
        run = self._runs[run.response_id]
        self._run = _evolve_run(
            run,
            open_index=None,
            snapshots=(*run.snapshots, snap),
            item_jsons=(*run.item_jsons, item_json),
        )
        if not run.out_of_band:
            self._count(item_id)

    def _mcp_call_ran(
        self, item: ItemState, segment: Segment, status: str, ids: Mapping[str, Any]
    ) -> None:
        """An MCP call's arguments are whole; unless it was cut short, it runs: in
        progress, then completed or failed (its output or error is in the item's
        ``.done`` snapshots)."""
        self._out(
            s.ResponseMcpCallArgumentsDone(
                event_id=self._event_id(), arguments=item.arguments or "", **ids
            )
        )
        if status != "completed":
            return
        at = {"item_id": ids["item_id"], "output_index": ids["output_index"]}
        self._out(s.ResponseMcpCallInProgress(event_id=self._event_id(), **at))
        ended = s.ResponseMcpCallFailed if segment.error is not None else s.ResponseMcpCallCompleted
        self._out(ended(event_id=self._event_id(), **at))

    def _finish_run(self, status: ResponseStatus, details: StatusDetails | None) -> None:
        run = self._run
        assert run is not None
        spoken = 0.0
        view = self._view(run)
        for item_id in run.item_ids:
            item = view.item(item_id)
            if item is not None:
                spoken += item.audio_ms
        info = _evolve_info(
            run.info,
            status=status,
            status_details=details,
            output=run.snapshots,
            usage=usage(
                run.input_text, run.input_audio, run.snapshots, spoken, reasoning=self._reasoning
            ),
        )
        self._out_written(*self._response_done(run, info))
        self._run = None
        if not run.out_of_band:
            self._idle_from = self._now + spoken / 1000.0  # when its audio has been played
        if self._ga and self._config.rate_limits:
            self._rate_limits(run)

    def _response_done(self, run: _Run, info: ResponseInfo) -> tuple[s.ResponseDone, str | None]:
        """``response.done`` of ``run`` (``info``: its response object) and its frame,
        written around the JSON of its output items the codec wrote already (``None``:
        some were not cut out of a frame; the codec encodes the event)."""
        event = s.ResponseDone(event_id=self._event_id(), response=info)
        jsons = run.item_jsons
        if not info.output or len(jsons) != len(info.output) or None in jsons:
            return event, None
        empty = self._encode(
            s.ResponseDone(event_id=event.event_id, response=_evolve_info(info, output=()))
        )
        return event, self._item_frames.response_done(empty, jsons)  # type: ignore[arg-type]

    def _cancel(self, response_id: str, reason: StatusReason) -> None:
        """End response ``response_id``: close what is open, ``response.done`` cancelled."""
        self._acting = response_id
        try:
            run = self._run
            assert run is not None
            if run.open_index is not None:
                self._close_item(run.open_index, "incomplete")
            self._finish_run("cancelled", StatusDetails(type="cancelled", reason=reason))
        finally:
            self._acting = None


_ACTIONS: Final[Mapping[Act, Callable[[_ResponseRunner, Action], None]]] = {
    Act.RATE_LIMITS: _ResponseRunner._act_rate_limits,
    Act.ADD_ITEM: _ResponseRunner._act_add_item,
    Act.ADD_PART: _ResponseRunner._act_add_part,
    Act.TEXT: _ResponseRunner._act_text,
    Act.TRANSCRIPT: _ResponseRunner._act_transcript,
    Act.AUDIO: _ResponseRunner._act_audio,
    Act.ARGUMENTS: _ResponseRunner._act_arguments,
    Act.CLOSE_ITEM: _ResponseRunner._act_close_item,
    Act.DONE: _ResponseRunner._act_done,
}
"""Planned action -> what writes it."""
