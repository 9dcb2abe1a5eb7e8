"""``ServerConnection``: the server side of one Realtime session, sans I/O.

The server reads client frames, checks each against the protocol and its own state,
and answers with the server sequences a real server writes (``session.created``
first; each response from ``response.created`` to ``response.done``, every item and
part it opens closed inside it: the orders ``rtstate.machines.INVARIANTS`` names),
or with an ``error`` event (the session stays usable). It keeps no conversation
model of its own: every event it emits is folded through ``rtstate.fold`` (strictly)
into a ``SessionState``, and that state is what it validates against. So every stream
it writes has passed the client's own rules.

Pacing, and why it is driven by time
------------------------------------
A response is planned when it starts (see ``rtstate.server.response``) and then
*released by time*: its deltas are due ``ServerConfig.delta_interval`` seconds apart
(after ``response_latency``). Every call -- ``receive``, ``tick`` -- first moves the
server's clock on, then writes every event due by then; ``next_deadline()`` says when
the next one is due. With ``delta_interval=0`` (the default) a whole response is
written in the Step of the request that started it. With a positive interval a
response is still in progress when the client's next frame arrives, which is what
``response.cancel`` and barge-in (speech during a response) need; the response then
closes exactly what it opened (the ``.done`` events it owes, items ``incomplete``) and
ends ``cancelled``.

Time comes from the caller, as in aioquic: ``start(now)``, ``receive(frame, now)``,
``tick(now)``; a ``clock`` callable may be injected instead, used whenever ``now`` is
not given. Without either, time stands still at the last value given. Ids come from an
injected factory (``rtstate.server.ids``). Same frames, same times, same seed: the
same bytes out.

Like the client, every call returns a ``Step`` (``rtstate.Step``): ``to_send`` holds
the server frames to write, in order; ``before`` / ``after`` the server's folded state;
``transitions`` what folding its own events did; ``diagnostics`` one entry per client
event refused (its ``code`` is the ``error.code`` sent). ``session_expired`` ends with
a ``TransportClosed`` transition: close the socket then.

Where the code lives
--------------------
Out-of-band and concurrent responses, attached sessions
-------------------------------------------------------
``response.create`` with ``response.conversation: "none"`` runs a response beside the
conversation (see ``rtstate.server.runner``): several can be in flight at once, and
``conversation_already_has_active_response`` refuses only a second *default*
(``"auto"``) response. ``response.input`` replaces the conversation as a response's
context (inline items and ``{"type": "item_reference", "id": ...}`` of conversation
items; an unknown id is refused, naming it). ``response.cancel`` with a
``response_id`` cancels that response, default or out of band; without one, the default
conversation's response (as the service documents the bare cancel, and as clients that
run out-of-band lines rely on: a bare cancel never reaches them). Server VAD barge-in
cancels only the default response. An out-of-band ``response.create`` / ``response.cancel``
is not folded into the server's own ledger (which models one response at a time).

``ServerConnection(call_id=...)`` is a session *attached* to a call (the WebRTC/SIP
sideband, ``?call_id=`` on the socket): the session already exists, so ``start()``
writes nothing (the real sideband's traffic starts with the client's first event,
``session.update`` in the captures, answered by ``session.updated``); the server plays
the audio (``output_audio_buffer.started`` / ``.stopped``), and
``output_audio_buffer.clear`` (refused on a plain WebSocket session, as the service
refuses it) cuts that playback with ``output_audio_buffer.cleared``, answered even when
nothing plays (naming the last response that played audio). The fake has no media
channel: the audio deltas still travel on the socket. Any call id is accepted.

This module holds the session frame: the public API, the call frame (``_emit``,
``_reject``, the handler table), ``session.update`` and the conversation's requests.
The response runner is ``rtstate.server.runner``, the input buffer, server VAD and the
idle timeout ``rtstate.server.input_audio`` (mixins of ``ServerConnection``), and the
refusals are named checks in ``rtstate.server.validate``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import orjson

from ..codec import codec_for
from ..config import Config, Dialect
from ..errors import LocalProtocolError, RemoteProtocolError
from ..events import client as c
from ..events import server as s
from ..events.payloads import (
    UNSET,
    ContentPart,
    ErrorInfo,
    Item,
    SessionConfig,
    StatusDetails,
    TurnDetection,
    Unset,
)
from ..fold import fold
from ..logs import TextLog
from ..state import ItemPhase, ItemState, PartState, SessionPhase, SessionState
from ..step import Closed, Diagnostic, Input, Malformed, Step, Tick
from ..transitions import Transition
from . import validate as v
from ._wire import item_frames
from .audio import (
    SyntheticTranscriber,
    SyntheticVoice,
    Transcriber,
    Voice,
    audio_ms,
)
from .config import ServerConfig
from .ids import IdFactory, seeded_ids
from .input_audio import _InputAudio
from .mcp import ECHO_SERVER, allowed, mcp_tools
from .responders import EchoResponder, Responder
from .response import (
    drop_unsent,
)
from .runner import _Run, _Unencodable
from .vad import VadState, full_turn_detection

__all__ = ["ServerConnection"]

_SETTABLE_SKIP: Final = frozenset({"id", "object", "expires_at"})
_EXPIRED_CLOSE_CODE: Final = 1000


def _reported(session: SessionConfig, ga: bool) -> SessionConfig:
    """A session as the server reports it: complete (the real service writes every
    field: noise reduction off is ``null``, turn detection with its type's defaults;
    GA adds speed ``1.0`` and truncation ``"auto"`` and has no ``temperature``, which
    the 2024 beta protocol does not know)."""
    changes: dict[str, Any] = {
        "turn_detection": _reported_turn_detection(session.turn_detection),
        "temperature": None if ga else session.temperature,
    }
    if isinstance(session.input_audio_noise_reduction, Unset):
        changes["input_audio_noise_reduction"] = None
    if ga and session.speed is None:
        changes["speed"] = 1.0
    if ga and session.truncation is None:
        changes["truncation"] = "auto"
    if ga and isinstance(session.tracing, Unset):  # off is null in every real GA session
        changes["tracing"] = None
    return attrs.evolve(session, **changes)


def _merge_session(current: SessionConfig, update: SessionConfig) -> SessionConfig:
    """The full config after a partial ``session.update``."""
    changes: dict[str, Any] = {}
    for field in attrs.fields(SessionConfig):
        name = field.name
        if name in _SETTABLE_SKIP:
            continue
        value = getattr(update, name)
        if value is UNSET or (value is None and field.default is not UNSET):
            continue
        changes[name] = value
    if "turn_detection" in changes:
        changes["turn_detection"] = _reported_turn_detection(changes["turn_detection"])
    return attrs.evolve(current, **changes) if changes else current


def _reported_turn_detection(td: TurnDetection | Unset | None) -> TurnDetection | Unset | None:
    """A session's turn detection as the server reports it: a ``session.update``
    replaces it whole, and the fields the client left out take their type's defaults
    (``vad.full_turn_detection``)."""
    return full_turn_detection(td) if isinstance(td, TurnDetection) else td


def _raw_event_id(frame: str | bytes) -> str | None:
    """The ``event_id`` of a frame the codec refused, if it can be read at all."""
    try:
        raw = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    value = raw.get("event_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


class ServerConnection(_InputAudio):
    """The server side of one Realtime session (see the module docstring).

    Args:
        config: session defaults, pacing, delta sizes, limits.
        responder: decides each response's content (default: ``EchoResponder()``).
        voice: speaks assistant messages (default: ``SyntheticVoice()``).
        transcriber: transcribes committed input audio when the session asks for
            input transcription (default: ``SyntheticTranscriber()``).
        ids: the id factory (default: ``seeded_ids(seed)``).
        seed: seeds the default id factory.
        clock: the time when a call is not given ``now`` (seconds, any epoch;
            ``expires_at`` is reported in the same unit).
        dialect: the wire protocol it reads and writes: ``"beta"`` (the default; as
            the real service did for a client sending ``OpenAI-Beta: realtime=v1``)
            or ``"ga"``. A GA server announces items with ``conversation.item.added``
            and ``conversation.item.done`` (not ``.created``), has no
            ``temperature``, wants ``session.type`` in ``session.update`` and answers
            ``conversation.item.retrieve``. The flows are otherwise the same.
        call_id: attach the session to this call (the WebRTC/SIP sideband; see the
            module docstring): no ``session.created``, server-side playback. Any id is
            accepted.
    """

    def __init__(
        self,
        *,
        config: ServerConfig | None = None,
        responder: Responder | None = None,
        voice: Voice | None = None,
        transcriber: Transcriber | None = None,
        ids: IdFactory | None = None,
        seed: int | str = 0,
        clock: Callable[[], float] | None = None,
        dialect: Dialect = "ga",
        call_id: str | None = None,
    ) -> None:
        self._call_id = call_id
        self._codec = codec_for(dialect)
        self._item_frames = item_frames(dialect)
        resolved = (config if config is not None else ServerConfig()).for_dialect(dialect)
        self._config = resolved
        model, duration = resolved.model, resolved.session_duration
        self._model = "" if isinstance(model, Unset) else model
        self._duration = None if isinstance(duration, Unset) else duration
        self._ga = dialect == "ga"
        self._checks = _CHECKS[dialect]
        self._responder: Responder = responder if responder is not None else EchoResponder()
        self._voice: Voice = voice if voice is not None else SyntheticVoice()
        self._transcriber: Transcriber = (
            transcriber if transcriber is not None else SyntheticTranscriber()
        )
        self._ids = ids if ids is not None else seeded_ids(seed)
        self._clock = clock
        self._fold_config = Config(
            strict=True,
            max_finished_responses=self._config.max_finished_responses,
            max_input_buffer_history=self._config.max_input_buffer_history,
        )
        self._state = SessionState()
        self._now = 0.0
        self._started = False
        self._expires: float | None = None
        self._runs: dict[str, _Run] = {}  # response id -> its run, in start order
        self._acting: str | None = None
        self._playing: dict[str, float] = {}  # response id -> when its playback ends
        self._played: str | None = None  # the last response whose audio was played
        self._vad = VadState()
        self._speech_item: str | None = None
        self._idle_from: float | None = None  # when the idle timeout's clock started
        self._buffer = bytearray()
        self._buffer_start_ms = 0.0
        self._audio_out = False
        self._input_audio_ms: dict[str, float] = {}
        # item id -> (the item as last counted, its text tokens, its audio ms): a
        # response's input tokens recount only the items that changed
        self._item_tokens: dict[str, tuple[ItemState, int, float]] = {}
        self._calls: dict[str, str] = {}
        self._responses = 0
        self._tokens_used = 0
        self._chars: dict[str, int] = {}  # characters of text per item, for the bound
        self._chars_total = 0
        self._conversation_id: str | None = None
        self._mcp_listed: set[str] = set()  # GA: the MCP server labels listed so far
        # what the current call emits
        self._frames: list[str] = []
        self._transitions: list[Transition] = []
        self._diagnostics: list[Diagnostic] = []

    # --- public API ----------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The server's folded state (``== last_step.after``)."""
        return self._state

    @property
    def config(self) -> ServerConfig:
        """The connection's ``ServerConfig``, with the dialect's defaults filled in
        (``ServerConfig.for_dialect``)."""
        return self._config

    @property
    def dialect(self) -> Dialect:
        """The wire protocol this server speaks (``"beta"`` or ``"ga"``)."""
        return "ga" if self._ga else "beta"

    @property
    def now(self) -> float:
        """The server's clock: the latest time it was given."""
        return self._now

    @property
    def closed(self) -> bool:
        """The session is over (expired, or the transport closed)."""
        return self._state.phase is SessionPhase.CLOSED

    @property
    def response_in_progress(self) -> str | None:
        """The id of the default conversation's response being written, if any."""
        run = self._default_run
        return None if run is None else run.response_id

    @property
    def responses_in_progress(self) -> tuple[str, ...]:
        """The ids of every response being written (default and out of band), in the
        order they started."""
        return tuple(self._runs)

    @property
    def call_id(self) -> str | None:
        """The call this session is attached to (``None``: a plain WebSocket session)."""
        return self._call_id

    @property
    def attached(self) -> bool:
        """The session is attached to a call (WebRTC/SIP sideband)."""
        return self._call_id is not None

    @property
    def playing(self) -> tuple[str, ...]:
        """Attached: the responses whose audio the server is playing."""
        return tuple(self._playing)

    def start(self, now: float | None = None) -> Step:
        """Open the session: the Step writes ``session.created`` (with ``expires_at``);
        an attached session (``call_id``) writes nothing: its session already exists.

        Raises:
            LocalProtocolError: the session was already started.
        """
        if self._started:
            raise LocalProtocolError("start() was already called")
        self._started = True
        self._advance(now)
        before = self._begin()
        duration = self._duration
        self._expires = None if duration is None else self._now + duration
        session = attrs.evolve(
            _reported(self._config.session, self._ga),
            id=self._ids("sess"),
            object="realtime.session",
            model=self._model,
            expires_at=None if self._expires is None else math.floor(self._expires),
        )
        assert session.id is not None
        # one conversation per session; its id follows the session's (no id drawn)
        self._conversation_id = "conv_" + session.id.partition("_")[2]
        created = s.SessionCreated(event_id=self._ids("event"), session=session)
        if self._call_id is None:
            self._emit(created)
        else:  # the server's state opens all the same; the client is told nothing
            self._fold(created)
        self._sync_vad()
        return self._finish(Tick(now=self._now), before)

    def receive(self, frame: str | bytes, now: float | None = None) -> Step:
        """Handle one client frame; answer it, and write what else is due by ``now``.

        A frame that breaks the protocol is answered with an ``error`` event (and a
        diagnostic); nothing else changes and the session stays usable.

        Raises:
            LocalProtocolError: before ``start()`` or after the session closed.
        """
        self._check_open()
        self._advance(now)
        before = self._begin()
        self._pump()
        self._idle_check()
        input: Input
        try:
            event = self._codec.decode_client(frame)
        except RemoteProtocolError as exc:
            input = Malformed(frame=frame, error=str(exc))
            self._reject(v.from_codec_error(exc), _raw_event_id(frame), None)
        else:
            if isinstance(event, c.UnknownClientEvent):
                input = Malformed(frame=frame, error=f"unknown client event type {event.type!r}")
                rejected = v.unknown_event_type(event.type, self._codec.client_tags)
                self._reject(rejected, event.event_id, event.type)
            else:
                input = event
                self._handle(event, frame)
        self._pump()
        return self._finish(input, before)

    def tick(self, now: float | None = None) -> Step:
        """Let time pass: write the response events due by ``now``; expire the session.

        Call it when ``next_deadline()`` is due.
        """
        self._check_open()
        self._advance(now)
        before = self._begin()
        expires = self._expires
        if expires is not None and self._now >= expires:
            self._pump(until=expires)
            self._expire()
        else:
            self._pump()
            self._idle_check()
        return self._finish(Tick(now=self._now), before)

    def next_deadline(self) -> float | None:
        """When ``tick`` should next be called (``None``: nothing is due)."""
        if not self._started or self.closed:
            return None
        timers = (
            self._expires,
            self._next_due(),
            self._idle_due(),
        )
        due = [t for t in timers if t is not None]
        return min(due) if due else None

    def transport_closed(self, code: int | None = None, reason: str = "") -> Step:
        """The client went away: the response in progress is dropped, nothing is written."""
        before = self._begin()
        self._runs.clear()
        self._playing.clear()
        step = fold(self._state, Closed(code=code, reason=reason), self._fold_config)
        self._state = step.after
        self._transitions.extend(step.transitions)
        return self._finish(Closed(code=code, reason=reason), before)

    # --- the call frame ------------------------------------------------------------------

    def _check_open(self) -> None:
        if not self._started:
            raise LocalProtocolError("call start() before anything else")
        if self.closed:
            raise LocalProtocolError("the session is closed")

    def _advance(self, now: float | None) -> None:
        if now is None and self._clock is not None:
            now = self._clock()
        if now is not None and now > self._now:
            self._now = now

    def _begin(self) -> SessionState:
        self._frames = []
        self._transitions = []
        self._diagnostics = []
        return self._state

    def _finish(self, input: Input, before: SessionState) -> Step:
        return Step(
            input=input,
            before=before,
            after=self._state,
            transitions=tuple(self._transitions),
            diagnostics=tuple(self._diagnostics),
            to_send=tuple(self._frames),
        )

    def _emit(self, event: s.ServerEvent) -> None:
        """Encode ``event``, fold it into the server's state and queue its frame.

        It is encoded first: an event that cannot be encoded (``_Unencodable``) leaves
        the state as it was, so the server never believes it said what it did not.
        """
        frame = self._encode(event)
        self._fold(event)
        self._frames.append(frame)

    def _emit_written(self, event: s.ServerEvent, frame: str | None) -> str:
        """``_emit`` of an event whose frame was written already (``ItemFrames``;
        ``None``: it was not, the codec encodes it); the frame."""
        if frame is None:
            frame = self._encode(event)
        self._fold(event)
        self._frames.append(frame)
        return frame

    def _encode(self, event: s.ServerEvent) -> str:
        """``event``'s frame, or ``_Unencodable``. The server built the event from typed
        values, so the codec does not check that the frame decodes again (a property
        test holds this frame equal to the checked ``encode``'s)."""
        try:
            return self._codec.encode_unchecked(event)
        except (LocalProtocolError, RecursionError, ValueError, TypeError) as exc:
            raise _Unencodable(event.type, exc) from exc

    def _fold(self, event: s.ServerEvent) -> None:
        """Fold an event of the server's into its state (strictly)."""
        try:
            step = fold(self._state, event, self._fold_config)
        except RemoteProtocolError as exc:  # pragma: no cover - a bug in this module
            raise RuntimeError(f"rtstate.server made an invalid {event.type}: {exc}") from exc
        self._state = step.after
        self._transitions.extend(step.transitions)

    def _server_error(self, failure: _Unencodable, event_id: str | None, kind: str | None) -> None:
        """The safety net: an event the server could not encode becomes an ``error``
        (type ``server_error``) to the client; the session goes on."""
        message = (
            "The server had an error while processing your request: it could not encode "
            f"its {failure.event_type} event ({failure.reason})."
        )
        error = ErrorInfo(
            type="server_error", code="server_error", message=message, event_id=event_id
        )
        self._emit(s.Error(event_id=self._event_id(), error=error))
        self._diagnostics.append(
            Diagnostic(code="server_error", message=message, event_type=kind, applied=False)
        )

    def _event_id(self) -> str:
        return self._ids("event")

    def _emit_item(
        self, item: Item, previous: str | None, *, final: bool, item_json: str | None = None
    ) -> None:
        """An item joined the conversation: beta ``conversation.item.created``; GA
        ``conversation.item.added``, and ``conversation.item.done`` at once if it is
        ``final`` (a response's output item gets its ``.done`` when it closes).
        ``item_json``: the codec's JSON of ``item``, if a frame already holds it
        (``ItemFrames``: the item is not written again)."""
        written = self._item_frames
        event: s.ServerEvent
        if not self._ga:
            event = s.ConversationItemCreated(
                event_id=self._event_id(), item=item, previous_item_id=previous
            )
            self._emit_written(
                event, None if item_json is None else written.frame(event, item_json)
            )
            return
        event = s.ConversationItemAdded(
            event_id=self._event_id(), item=item, previous_item_id=previous
        )
        frame = self._emit_written(
            event, None if item_json is None else written.frame(event, item_json)
        )
        if final:
            if item_json is None:
                item_json = written.item_json(event, frame)
            done = s.ConversationItemDone(
                event_id=self._event_id(), item=item, previous_item_id=previous
            )
            self._emit_written(done, None if item_json is None else written.frame(done, item_json))

    def _reject(self, r: v.Rejected, event_id: str | None, event_type: str | None) -> None:
        error = ErrorInfo(
            type="invalid_request_error",
            code=r.code,
            message=r.message,
            param=r.param,
            event_id=event_id,
        )
        self._emit(s.Error(event_id=self._event_id(), error=error))
        self._diagnostics.append(
            Diagnostic(
                code=r.code or "invalid_request_error",
                message=r.message,
                event_type=event_type,
                applied=False,
            )
        )

    def _handle(self, event: c.ClientEvent, frame: str | bytes) -> None:
        handler = _HANDLERS[type(event)]
        try:
            if not self._ga:  # the walk knows the beta spelling only
                v.unknown_parameter(orjson.loads(frame), type(event))
            elif isinstance(event, c.SessionUpdate):  # "realtime" decodes as None
                state = self._state
                fresh = not (state.order.size or state.responses or state.finished or self._runs)
                v.ga_session_type(orjson.loads(frame), state.kind, fresh=fresh)
            handler(self, event)
        except v.Rejected as r:
            self._reject(r, event.event_id, event.type)
        except _Unencodable as failure:
            self._server_error(failure, event.event_id, event.type)

    def _accept(self, event: c.ClientEvent) -> None:
        """Fold an accepted client event (the input buffer counts appended audio)."""
        self._state = fold(self._state, event, self._fold_config).after

    @property
    def _session(self) -> SessionConfig:
        session = self._state.session
        assert session is not None
        return session

    # --- session -------------------------------------------------------------------------

    def _session_update(self, e: c.SessionUpdate) -> None:
        update = e.session
        v.check_settings(update, self._checks[0], "session", self._spell)
        current = self._session
        merged = _merge_session(current, update)
        if update.tool_choice is not None or update.tools is not None:
            v.check_tool_choice(merged.tool_choice, merged.tools or (), "session.tool_choice")
        v.check_voice_update(
            update.voice, current.voice, audio_out=self._audio_out, spell=self._spell
        )
        self._accept(e)
        self._emit(s.SessionUpdated(event_id=self._event_id(), session=merged))
        if self._ga and update.tools is not None:
            self._list_mcp_tools(merged)
        vad_off = merged.turn_detection is None
        new_format = merged.input_audio_format != current.input_audio_format
        if self._speech_item is not None and (vad_off or new_format):
            # speech cannot go on: close it so that speech_started is never left open
            self._emit(
                s.InputAudioBufferSpeechStopped(
                    event_id=self._event_id(),
                    audio_end_ms=self._vad.position_ms,
                    item_id=self._speech_item,
                )
            )
        if current.turn_detection is None or vad_off or new_format:
            self._sync_vad()
        if update.turn_detection is not UNSET:  # the idle clock starts over
            self._idle_from = (
                self._now if self._idle_from is None else max(self._idle_from, self._now)
            )

    def _list_mcp_tools(self, session: SessionConfig) -> None:
        """GA: list the tools of each MCP server of the session not listed yet (an
        ``mcp_list_tools`` item: added, in progress, completed with the tools
        ``allowed_tools`` lets through, or failed; see ``rtstate.server.mcp``)."""
        for tool in mcp_tools(session.tools):
            config = tool.config
            label = str(config.get("server_label"))
            if label in self._mcp_listed:
                continue
            self._mcp_listed.add(label)
            server = self._config.mcp_servers.get(label, ECHO_SERVER)
            item_id = self._ids("item")
            previous = self._state.order.tail
            item = Item(id=item_id, type="mcp_list_tools", server_label=label, tools=())
            self._emit(
                s.ConversationItemAdded(
                    event_id=self._event_id(), item=item, previous_item_id=previous
                )
            )
            self._emit(s.McpListToolsInProgress(event_id=self._event_id(), item_id=item_id))
            if server.list_error is None:
                listed = tuple(t.listed() for t in server.tools if allowed(config, t))
                self._emit(s.McpListToolsCompleted(event_id=self._event_id(), item_id=item_id))
                item = attrs.evolve(item, tools=listed)
            else:
                self._emit(s.McpListToolsFailed(event_id=self._event_id(), item_id=item_id))
            self._emit(
                s.ConversationItemDone(
                    event_id=self._event_id(), item=item, previous_item_id=previous
                )
            )
            self._count(item_id)

    def _spell(self, path: str) -> str:
        """A field path of the event classes in this dialect's spelling (the ``param``
        of an error: GA ``session.audio.input.turn_detection.type``)."""
        return self._codec.wire_path(path) or path

    # --- conversation --------------------------------------------------------------------

    def _room(self, items: int, chars: int) -> None:
        """Refuse (``conversation_too_large``) what would pass the conversation's bounds."""
        config = self._config
        v.check_room(
            len(self._state.order) + items,
            config.max_conversation_items,
            self._chars_total + chars,
            config.max_conversation_chars,
        )

    def _count(self, item_id: str) -> None:
        """Keep the characters of item ``item_id`` in the conversation's running total."""
        item = self._state.item(item_id)
        chars = 0 if item is None else _state_chars(item)
        self._chars_total += chars - self._chars.get(item_id, 0)
        self._chars[item_id] = chars

    def _item_create(self, e: c.ConversationItemCreate) -> None:
        item = e.item
        v.check_item(item, self.dialect)
        after = v.check_previous_item(self._state, e.previous_item_id)
        v.check_new_item(self._state, item, self._calls)
        self._room(1, _item_chars(item))
        self._accept(e)
        item_id = item.id if item.id is not None else self._ids("item")
        if item.type == "mcp_approval_response":  # GA: the SDK's item has no object, no status
            answer = Item(
                id=item_id,
                type=item.type,
                approval_request_id=item.approval_request_id,
                approve=item.approve,
                reason=item.reason,
            )
            self._emit_item(answer, after, final=True)
            self._count(item_id)
            return
        created = Item(
            id=item_id,
            object="realtime.item",
            type=item.type,
            status="completed",
            role=item.role,
            content=None if item.content is None else tuple(_echo_part(p) for p in item.content),
            call_id=item.call_id,
            name=item.name,
            arguments=(item.arguments or "") if item.type == "function_call" else None,
            output=item.output,
        )
        self._emit_item(created, after, final=True)
        self._count(item_id)
        if item.type == "function_call" and item.call_id is not None:
            self._calls[item.call_id] = item_id
        fmt = self._session.input_audio_format or "pcm16"
        heard = sum(
            audio_ms(len(v.base64_decode(p.audio)), fmt)
            for p in item.content or ()
            if p.type == "input_audio" and p.audio
        )
        if heard:
            self._input_audio_ms[item_id] = heard

    def _truncate(self, e: c.ConversationItemTruncate) -> None:
        v.check_truncate(self._state, e)
        index = e.content_index
        self._accept(e)
        self._emit(
            s.ConversationItemTruncated(
                event_id=self._event_id(),
                item_id=e.item_id,
                content_index=index,
                audio_end_ms=e.audio_end_ms,
            )
        )
        run = self._default_run
        if run is not None and e.item_id in run.item_ids:
            # still being generated: what lies beyond the cut is never sent; the
            # response goes on (a cancel, if one follows, ends it)
            plan = drop_unsent(
                run.plan,
                run.position,
                run.item_ids.index(e.item_id),
                self._config.delta_interval,
            )
            self._run = attrs.evolve(run, plan=plan)

    def _delete(self, e: c.ConversationItemDelete) -> None:
        item = v.check_delete(self._state, e.item_id)
        self._accept(e)
        self._emit(s.ConversationItemDeleted(event_id=self._event_id(), item_id=e.item_id))
        self._input_audio_ms.pop(e.item_id, None)
        self._chars_total -= self._chars.pop(e.item_id, 0)
        if item.type == "function_call" and item.call_id is not None:
            self._calls.pop(item.call_id, None)

    def _retrieve(self, e: c.ConversationItemRetrieve) -> None:
        item = v.conversation_item(
            self._state, e.item_id, "item_retrieve_invalid_item_id", "retrieving"
        )
        self._accept(e)
        self._emit(
            s.ConversationItemRetrieved(event_id=self._event_id(), item=_item_snapshot(item))
        )

    def _output_audio_clear(self, e: c.OutputAudioBufferClear) -> None:
        """Attached: cut the playback (``output_audio_buffer.cleared`` per response
        playing; with nothing playing, naming the last response played, or refused if
        none ever was). A plain WebSocket session refuses it, as the service does."""
        if self._call_id is None:
            v.check_output_audio_clear()
        if not self._playing:
            v.check_output_audio_to_clear(self._played)
        self._accept(e)
        if not self._clear_playback():
            assert self._played is not None
            self._emit(
                s.OutputAudioBufferCleared(event_id=self._event_id(), response_id=self._played)
            )

    # --- responses -----------------------------------------------------------------------

    def _response_create(self, e: c.ResponseCreate) -> None:
        v.check_responses_allowed(self._state.kind)
        params = e.response
        out_of_band = v.check_conversation(None if params is None else params.conversation)
        if not out_of_band:
            v.check_no_active_response(self.response_in_progress)
        context: tuple[ItemState, ...] | None = None
        if params is not None:
            v.check_settings(params, self._checks[1], "response", self._spell)
            if params.tool_choice is not None:
                tools = params.tools if params.tools is not None else self._session.tools
                v.check_tool_choice(params.tool_choice, tools or (), "response.tool_choice")
            if params.input is not None:
                context = self._context(params.input)
        if out_of_band:  # not folded: the server's ledger models the default response
            self._start_response(params, "client", context=context)
            return
        self._room(1, 0)
        self._accept(e)
        self._start_response(params, "client", context=context)

    def _context(self, items: tuple[Item, ...]) -> tuple[ItemState, ...]:
        """The context ``response.input`` gives: each ``item_reference`` the conversation
        item it names (an unknown id refused, naming it), each inline item as it would be
        created (an id drawn if it has none; it joins no conversation)."""
        context: list[ItemState] = []
        for index, item in enumerate(items):
            if item.type == "item_reference":
                context.append(v.referenced_item(self._state, item.id, index))
                continue
            v.check_item(item, self.dialect)
            context.append(_inline_item(item, item.id or self._ids("item")))
        return tuple(context)

    def _response_cancel(self, e: c.ResponseCancel) -> None:
        target = self._default_run if e.response_id is None else self._runs.get(e.response_id)
        v.check_cancel(e.response_id, None if target is None else target.response_id)
        assert target is not None
        if not target.out_of_band:
            self._accept(e)
        self._cancel(target.response_id, "client_cancelled")

    def _expire(self) -> None:
        """``session_expired``: fail the response in progress, send the error, close."""
        duration = self._duration or 0.0
        minutes = duration / 60.0
        message = f"Your session hit the maximum duration of {minutes:g} minutes."
        error = ErrorInfo(type="invalid_request_error", code="session_expired", message=message)
        details = StatusDetails(type="failed", error=ErrorInfo(type=error.type, code=error.code))
        for response_id in tuple(self._runs):
            self._acting = response_id
            try:
                run = self._runs[response_id]
                if run.open_index is not None:
                    self._close_item(run.open_index, "incomplete")
                self._finish_run("failed", details)
            finally:
                self._acting = None
        self._emit(s.Error(event_id=self._event_id(), error=error))
        step = fold(
            self._state,
            Closed(code=_EXPIRED_CLOSE_CODE, reason="session_expired"),
            self._fold_config,
        )
        self._state = step.after
        self._transitions.extend(step.transitions)


def _item_chars(item: Item) -> int:
    """Characters of text a client item brings (text, transcripts, arguments, output)."""
    parts = sum(len(p.text or "") + len(p.transcript or "") for p in item.content or ())
    return parts + len(item.arguments or "") + len(item.output or "")


def _state_chars(item: ItemState) -> int:
    """Characters of text an item of the conversation holds."""
    parts = sum(len(p.text or "") + len(p.transcript or "") for p in item.parts)
    return parts + len(item.arguments or "") + len(item.output or "")


def _inline_item(item: Item, item_id: str) -> ItemState:
    """An inline item of ``response.input`` as a responder reads it (``ItemState``)."""
    parts = tuple(
        PartState(
            type=p.type,
            text_log=TextLog.of(p.text) if p.text else TextLog.of(""),
            transcript_log=None if p.transcript is None else TextLog.of(p.transcript),
        )
        for p in item.content or ()
    )
    return ItemState(
        id=item_id,
        type=item.type,
        phase=ItemPhase.DONE,
        status="completed",
        role=item.role,
        parts=parts,
        name=item.name,
        call_id=item.call_id,
        arguments_log=TextLog.of(item.arguments or ""),
        output=item.output,
    )


def _item_snapshot(item: ItemState) -> Item:
    """An item as ``conversation.item.retrieved`` shows it (transcripts, no audio bytes)."""
    return Item(
        id=item.id,
        object="realtime.item",
        type=item.type,
        status=item.status or "completed",
        role=item.role,
        content=tuple(_snapshot_part(p) for p in item.parts) if item.type == "message" else None,
        call_id=item.call_id,
        name=item.name,
        arguments=item.arguments if item.type == "function_call" else None,
        output=item.output,
    )


def _snapshot_part(part: PartState) -> ContentPart:
    if part.type in ("audio", "input_audio"):
        return ContentPart(type=part.type, transcript=part.transcript)
    if part.type == "input_image":  # the state keeps no image
        return ContentPart(type=part.type)
    return ContentPart(type=part.type, text=part.text)


def _echo_part(part: ContentPart) -> ContentPart:
    """A content part as ``conversation.item.created`` shows it: never audio or image
    bytes (an image part keeps its ``detail``; leaving out its data URI, as audio parts
    leave out theirs, is an rtstate choice)."""
    if part.type == "input_audio":
        return ContentPart(type="input_audio", transcript=part.transcript)
    if part.type == "input_image":
        return ContentPart(type="input_image", detail=part.detail)
    return ContentPart(type=part.type, text=part.text)


_Handler = Callable[[ServerConnection, Any], None]

_HANDLERS: Final[Mapping[type[c.ClientEvent], _Handler]] = {
    c.SessionUpdate: ServerConnection._session_update,
    c.InputAudioBufferAppend: ServerConnection._append,
    c.InputAudioBufferCommit: ServerConnection._commit_event,
    c.InputAudioBufferClear: ServerConnection._clear,
    c.ConversationItemCreate: ServerConnection._item_create,
    c.ConversationItemTruncate: ServerConnection._truncate,
    c.ConversationItemDelete: ServerConnection._delete,
    c.ResponseCreate: ServerConnection._response_create,
    c.ResponseCancel: ServerConnection._response_cancel,
    c.ConversationItemRetrieve: ServerConnection._retrieve,
    c.OutputAudioBufferClear: ServerConnection._output_audio_clear,
}
"""Client event type -> handler: validate (raise ``Rejected``), then emit the answer."""

_CHECKS: Final[Mapping[Dialect, tuple[v.Checks, v.Checks]]] = {
    "beta": (v.SESSION_CHECKS, v.RESPONSE_CHECKS),
    "ga": (v.GA_SESSION_CHECKS, v.GA_RESPONSE_CHECKS),
}
"""Dialect -> the settings checks of ``session.update`` and ``response.create``."""
