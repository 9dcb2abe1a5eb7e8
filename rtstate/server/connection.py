"""``ServerConnection``: the server side of one Realtime session, sans I/O.

The server reads client frames, checks each against the protocol and its own state,
and answers with the legal server sequences of section 8 of the protocol reference,
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
closes exactly what it opened (pending ``.done`` events, items ``incomplete``) and
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
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
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
    InputTokenDetails,
    Item,
    RateLimit,
    ResponseInfo,
    ResponseParams,
    SessionConfig,
    StatusDetails,
    TranscriptionUsage,
    TurnDetection,
    Unset,
)
from ..fold import fold
from ..state import ItemPhase, ItemState, PartPhase, PartState, SessionPhase, SessionState
from ..step import Closed, Diagnostic, Input, Malformed, Step, Tick
from ..transitions import Transition
from . import validate as v
from .audio import (
    BYTES_PER_MS,
    SyntheticTranscriber,
    SyntheticVoice,
    Transcriber,
    Voice,
    audio_ms,
)
from .config import ServerConfig
from .ids import IdFactory, seeded_ids
from .responders import EchoResponder, Responder, ResponseRequest
from .response import (
    Act,
    Action,
    Plan,
    build_plan,
    drop_unsent,
    snapshot,
    text_tokens,
    usage,
)
from .vad import VadEvent, VadSettings, VadState, feed, full_turn_detection

__all__ = ["ServerConnection"]

_SETTABLE_SKIP: Final = frozenset({"id", "object", "expires_at"})
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
_EXPIRED_CLOSE_CODE: Final = 1000

_REASONING_MODELS: Final = ("gpt-realtime-2",)
"""Model name prefixes of reasoning models: their assistant messages carry ``phase``
(GA) and their usage ``reasoning_tokens`` (the ``gpt-realtime-2.1`` captures)."""

_RATE_LIMIT_NAMES: Final[Mapping[Dialect, tuple[str, ...]]] = {
    "beta": ("requests", "tokens"),
    "ga": ("tokens",),
}
"""The limits ``rate_limits.updated`` reports: GA's real service sends ``tokens`` only,
after ``response.done``; the 2024 beta sent both, after ``response.created``."""

_OBFUSCATION_BLOCK: Final = 16
_OBFUSCATION_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TRANSCRIPT_WORDS: Final = re.compile(r"\s*[\w'\u2019-]+|\s*[^\w\s]+|\s+")


def _obfuscation(event_id: str, delta: str) -> str:
    """A GA delta's ``obfuscation``: letters and digits that pad the delta to a multiple
    of 16 characters, as the real service's do; derived from the event id, so the same
    session writes the same bytes."""
    size = _OBFUSCATION_BLOCK - len(delta) % _OBFUSCATION_BLOCK
    digest = hashlib.blake2b(event_id.encode(), digest_size=_OBFUSCATION_BLOCK).digest()
    return "".join(_OBFUSCATION_CHARS[b % len(_OBFUSCATION_CHARS)] for b in digest[:size])


def _transcript_deltas(transcript: str) -> list[str]:
    """A transcript cut as the real service streams it: a word (with the space before
    it) or a run of punctuation per delta."""
    pieces = _TRANSCRIPT_WORDS.findall(transcript)
    return pieces if "".join(pieces) == transcript and pieces else [transcript]


def _transcription_usage(model: str | None, seconds: float, transcript: str) -> TranscriptionUsage:
    """GA transcription usage as the real service reports it: whisper models bill the
    duration (``gpt-realtime-whisper``, ``whisper-1``), the others tokens
    (``gpt-4o-transcribe``: audio tokens in, text tokens out)."""
    if model is None or "whisper" in model:
        return TranscriptionUsage(type="duration", seconds=seconds)
    audio = math.ceil(seconds * 10)
    out = text_tokens(transcript)
    return TranscriptionUsage(
        type="tokens",
        input_tokens=audio,
        output_tokens=out,
        total_tokens=audio + out,
        input_token_details=InputTokenDetails(text_tokens=0, audio_tokens=audio),
    )


def _reported(session: SessionConfig, ga: bool) -> SessionConfig:
    """A session as the server reports it: complete (the real service writes every
    field: noise reduction off is ``null``; GA adds speed ``1.0`` and truncation
    ``"auto"``, which the 2024 beta protocol does not have)."""
    changes: dict[str, Any] = {}
    if isinstance(session.input_audio_noise_reduction, Unset):
        changes["input_audio_noise_reduction"] = None
    if ga and session.speed is None:
        changes["speed"] = 1.0
    if ga and session.truncation is None:
        changes["truncation"] = "auto"
    return attrs.evolve(session, **changes) if changes else session


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


@attrs.frozen(kw_only=True)
class _Run:
    """The response in progress: its plan and how far it got."""

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

    @property
    def next_due(self) -> float | None:
        if self.position >= len(self.plan.actions):
            return None
        return self.started + self.plan.due[self.position]


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


def _effective(session: SessionConfig, params: ResponseParams | None) -> SessionConfig:
    """The session config with a ``response.create``'s overrides applied."""
    if params is None:
        return session
    changes = {
        name: getattr(params, name)
        for name in _RESPONSE_OVERRIDES
        if getattr(params, name) is not None
    }
    return attrs.evolve(session, **changes) if changes else session


def _voice_name(voice: str | Mapping[str, Any] | None) -> str:
    """The name a ``Voice`` synthesizes with: a built-in voice's name, a custom voice's
    ``id`` (GA ``{"id": "voice_..."}``), or ``alloy``."""
    if isinstance(voice, str):
        return voice
    voice_id = None if voice is None else voice.get("id")
    return voice_id if isinstance(voice_id, str) else "alloy"


def _raw_event_id(frame: str | bytes) -> str | None:
    """The ``event_id`` of a frame the codec refused, if it can be read at all."""
    try:
        raw = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return None
    value = raw.get("event_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


class ServerConnection:
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
        dialect: Dialect = "beta",
    ) -> None:
        self._codec = codec_for(dialect)
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
            response_history=self._config.response_history,
            history_limit=self._config.history_limit,
        )
        self._state = SessionState()
        self._now = 0.0
        self._started = False
        self._expires: float | None = None
        self._run: _Run | None = None
        self._vad = VadState()
        self._speech_item: str | None = None
        self._idle_from: float | None = None  # when the idle timeout's clock started
        self._buffer = bytearray()
        self._buffer_start_ms = 0.0
        self._audio_out = False
        self._input_audio_ms: dict[str, float] = {}
        self._calls: dict[str, str] = {}
        self._responses = 0
        self._tokens_used = 0
        self._chars: dict[str, int] = {}  # characters of text per item, for the bound
        self._chars_total = 0
        self._conversation_id: str | None = None
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
        """The id of the response being written, if any."""
        return None if self._run is None else self._run.response_id

    def start(self, now: float | None = None) -> Step:
        """Open the session: the Step writes ``session.created`` (with ``expires_at``).

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
        configured = self._config.session
        session = attrs.evolve(
            _reported(configured, self._ga),
            temperature=None if self._ga else configured.temperature,
            turn_detection=_reported_turn_detection(configured.turn_detection),
            id=self._ids("sess"),
            object="realtime.session",
            model=self._model,
            expires_at=None if self._expires is None else math.floor(self._expires),
        )
        assert session.id is not None
        # one conversation per session; its id follows the session's (no id drawn)
        self._conversation_id = "conv_" + session.id.partition("_")[2]
        self._emit(s.SessionCreated(event_id=self._ids("event"), session=session))
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
                allowed = ", ".join(repr(t) for t in self._codec.client_tags)
                rejected = v.Rejected(
                    "invalid_value",
                    f"Invalid value: {event.type!r}. Supported values are: {allowed}.",
                    "type",
                )
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
        """When ``tick`` should next be called (``None``: nothing is pending)."""
        if not self._started or self.closed:
            return None
        pending = (
            self._expires,
            None if self._run is None else self._run.next_due,
            self._idle_due(),
        )
        due = [t for t in pending if t is not None]
        return min(due) if due else None

    def transport_closed(self, code: int | None = None, reason: str = "") -> Step:
        """The client went away: the response in progress is dropped, nothing is written."""
        before = self._begin()
        self._run = None
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
        try:
            frame = self._codec.encode(event)
        except (LocalProtocolError, RecursionError, ValueError, TypeError) as exc:
            raise _Unencodable(event.type, exc) from exc
        try:
            step = fold(self._state, event, self._fold_config)
        except RemoteProtocolError as exc:  # pragma: no cover - a bug in this module
            raise RuntimeError(f"rtstate.server made an invalid {event.type}: {exc}") from exc
        self._state = step.after
        self._transitions.extend(step.transitions)
        self._frames.append(frame)

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

    def _emit_item(self, item: Item, previous: str | None, *, final: bool) -> None:
        """An item joined the conversation: beta ``conversation.item.created``; GA
        ``conversation.item.added``, and ``conversation.item.done`` at once if it is
        ``final`` (a response's output item gets its ``.done`` when it closes)."""
        if not self._ga:
            self._emit(
                s.ConversationItemCreated(
                    event_id=self._event_id(), item=item, previous_item_id=previous
                )
            )
            return
        self._emit(
            s.ConversationItemAdded(event_id=self._event_id(), item=item, previous_item_id=previous)
        )
        if final:
            self._emit(
                s.ConversationItemDone(
                    event_id=self._event_id(), item=item, previous_item_id=previous
                )
            )

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
            elif isinstance(event, c.SessionUpdate):  # the codec drops ``session.type``
                v.ga_session_type(orjson.loads(frame))
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
        if self._audio_out and update.voice is not None and update.voice != current.voice:
            raise v.Rejected(
                "cannot_update_voice",
                "Cannot update a conversation's voice if assistant audio is present.",
                self._spell("session.voice"),
            )
        self._accept(e)
        self._emit(s.SessionUpdated(event_id=self._event_id(), session=merged))
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

    def _spell(self, path: str) -> str:
        """A field path of the event classes in this dialect's spelling (the ``param``
        of an error: GA ``session.audio.input.turn_detection.type``)."""
        return self._codec.wire_path(path) or path

    # --- idle timeout (GA server VAD ``idle_timeout_ms``) ----------------------------------

    def _idle_timeout_ms(self) -> int | None:
        """The session's ``idle_timeout_ms``, when it has one that runs: GA server VAD
        only (the beta protocol has no ``timeout_triggered`` event; semantic VAD no idle
        timeout)."""
        session = self._state.session
        td = None if session is None else session.turn_detection
        if not self._ga or not isinstance(td, TurnDetection) or td.type != "server_vad":
            return None
        return td.idle_timeout_ms

    def _idle_due(self) -> float | None:
        """When the idle timeout fires: ``idle_timeout_ms`` after the end of the last
        response's audio (its ``response.done`` plus the audio's length, as the service
        documents it), of the last speech, or of the ``session.update`` that set it,
        whichever came last; never during speech or a response."""
        timeout = self._idle_timeout_ms()
        if (
            timeout is None
            or self._idle_from is None
            or self._run is not None
            or self._speech_item is not None
        ):
            return None
        return self._idle_from + timeout / 1000.0

    def _idle_check(self) -> None:
        """Fire the idle timeout if it is due: ``input_audio_buffer.timeout_triggered``,
        the input buffer committed as a user item (silent, most likely), a response."""
        due = self._idle_due()
        timeout = self._idle_timeout_ms()
        if due is None or timeout is None or due > self._now:
            return
        self._idle_from = None
        end = math.floor(self._state.input.total_appended_ms)
        start = max(math.floor(self._buffer_start_ms), end - timeout)
        item_id = self._ids("item")
        self._emit(
            s.InputAudioBufferTimeoutTriggered(
                event_id=self._event_id(), audio_start_ms=start, audio_end_ms=end, item_id=item_id
            )
        )
        self._commit_buffer(item_id)
        self._start_response(None, "idle_timeout")
        self._pump()

    def _sync_vad(self) -> None:
        """Restart the detector at the current input position (nothing is speaking)."""
        position = math.floor(self._state.input.total_appended_ms)
        self._vad = VadState(position_ms=position, floor_ms=position)
        self._speech_item = None

    # --- input audio buffer ----------------------------------------------------------

    def _append(self, e: c.InputAudioBufferAppend) -> None:
        audio = v.decode_b64(e.audio, "audio")
        session = self._session
        td = session.turn_detection
        limit = self._config.max_input_audio_buffer_bytes
        held = len(self._buffer) + len(audio)
        if held > limit and not isinstance(td, TurnDetection):
            raise v.Rejected(
                "input_audio_buffer_too_large",
                f"Error appending to input audio buffer: it would hold {held} bytes of audio, "
                f"but the limit is {limit} bytes. Commit or clear the buffer first.",
                "audio",
            )
        self._accept(e)
        self._buffer += audio
        if not isinstance(td, TurnDetection):
            return
        if session.input_audio_format != "pcm16":
            self._sync_vad()  # the detector reads pcm16 only
        else:
            self._vad, found = feed(self._vad, audio, VadSettings.of(td))
            for boundary in found:
                _VAD_HANDLERS[boundary.kind](self, boundary, td)
        self._bound_buffer(session.input_audio_format or "pcm16")

    def _bound_buffer(self, audio_format: str) -> None:
        """Server VAD: drop the oldest audio past ``max_input_audio_buffer_bytes``."""
        excess = len(self._buffer) - self._config.max_input_audio_buffer_bytes
        if excess <= 0:
            return
        per_ms = BYTES_PER_MS.get(audio_format, 48)
        excess += -excess % (2 if per_ms == 48 else 1)
        del self._buffer[:excess]
        self._buffer_start_ms += excess / per_ms

    def _speech_started(self, boundary: VadEvent, td: TurnDetection) -> None:
        item_id = self._ids("item")
        self._speech_item = item_id
        self._idle_from = None
        self._emit(
            s.InputAudioBufferSpeechStarted(
                event_id=self._event_id(), audio_start_ms=boundary.at_ms, item_id=item_id
            )
        )
        if self._run is not None and td.interrupt_response is not False:
            self._cancel("turn_detected")

    def _speech_stopped(self, boundary: VadEvent, td: TurnDetection) -> None:
        item_id = self._speech_item or self._ids("item")
        self._speech_item = None
        self._idle_from = self._now
        self._emit(
            s.InputAudioBufferSpeechStopped(
                event_id=self._event_id(), audio_end_ms=boundary.at_ms, item_id=item_id
            )
        )
        per_ms = BYTES_PER_MS["pcm16"]
        cut = max(0, round((boundary.at_ms - self._buffer_start_ms) * per_ms))
        cut -= cut % 2
        audio = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        self._buffer_start_ms = float(boundary.at_ms)
        self._vad = attrs.evolve(self._vad, floor_ms=boundary.at_ms)
        if not self._vad_room():  # the turn is heard, but not kept
            return
        transcription = self._commit(item_id, audio)
        if transcription is not None and not self._ga:
            self._transcribe(transcription)
            transcription = None
        if td.create_response is not False and self._run is None and self._vad_room():
            self._start_response(None, "turn_detected", transcription)
        if transcription is not None:
            # GA: the transcript streams in after the response it triggered began
            # (real traffic: deltas among the response's, .completed later)
            self._transcribe(transcription)

    def _vad_room(self) -> bool:
        """Whether a server VAD turn may add an item; if not, an ``error`` naming no
        client event says why."""
        try:
            self._room(1, 0)
        except v.Rejected as full:
            self._reject(full, None, None)
            return False
        return True

    def _commit_event(self, e: c.InputAudioBufferCommit) -> None:
        buffered = self._state.input.appended_ms
        if buffered < self._config.min_commit_ms:
            raise v.Rejected(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{self._config.min_commit_ms:g}ms of audio, but buffer only has "
                f"{buffered:.2f}ms of audio.",
            )
        self._room(1, 0)
        self._accept(e)
        self._commit_buffer(self._ids("item"))

    def _commit_buffer(self, item_id: str) -> None:
        """Commit the whole input buffer as user item ``item_id``."""
        audio = bytes(self._buffer)
        self._buffer.clear()
        self._buffer_start_ms = self._state.input.total_appended_ms
        self._vad = attrs.evolve(self._vad, floor_ms=self._vad.position_ms)
        transcription = self._commit(item_id, audio)
        if transcription is not None:
            self._transcribe(transcription)

    def _commit(self, item_id: str, audio: bytes) -> _Transcription | None:
        """``committed`` -> ``conversation.item.created``; the transcription to write
        (``_transcribe``), when the session asks for one."""
        previous = self._state.order.tail
        self._emit(
            s.InputAudioBufferCommitted(
                event_id=self._event_id(), item_id=item_id, previous_item_id=previous
            )
        )
        item = Item(
            id=item_id,
            object="realtime.item",
            type="message",
            status="completed",
            role="user",
            content=(ContentPart(type="input_audio"),),
        )
        self._emit_item(item, previous, final=True)
        session = self._session
        fmt = session.input_audio_format or "pcm16"
        self._input_audio_ms[item_id] = audio_ms(len(audio), fmt)
        self._count(item_id)
        transcription = session.input_audio_transcription
        if transcription is None or transcription is UNSET:
            return None
        return _Transcription(
            item_id=item_id,
            result=self._transcriber.transcribe(audio, fmt, transcription.model),
            seconds=self._input_audio_ms[item_id] / 1000,
            model=transcription.model,
        )

    def _transcribe(self, t: _Transcription) -> None:
        """A user item's transcription: ``failed``, or (GA) its ``delta`` events then
        ``completed`` with ``usage``; (beta, 2024) ``completed`` alone, without."""
        result = t.result
        if isinstance(result, ErrorInfo):
            self._emit(
                s.ConversationItemInputAudioTranscriptionFailed(
                    event_id=self._event_id(), item_id=t.item_id, content_index=0, error=result
                )
            )
            return
        if self._ga:
            for delta in _transcript_deltas(result):
                event_id = self._event_id()
                self._emit(
                    s.ConversationItemInputAudioTranscriptionDelta(
                        event_id=event_id,
                        item_id=t.item_id,
                        content_index=0,
                        delta=delta,
                        obfuscation=_obfuscation(event_id, delta),
                    )
                )
        self._emit(
            s.ConversationItemInputAudioTranscriptionCompleted(
                event_id=self._event_id(),
                item_id=t.item_id,
                content_index=0,
                transcript=result,
                usage=_transcription_usage(t.model, t.seconds, result) if self._ga else None,
            )
        )
        self._count(t.item_id)

    def _clear(self, e: c.InputAudioBufferClear) -> None:
        self._accept(e)
        self._buffer.clear()
        self._emit(s.InputAudioBufferCleared(event_id=self._event_id()))
        self._buffer_start_ms = self._state.input.total_appended_ms
        self._sync_vad()

    # --- conversation --------------------------------------------------------------------

    def _room(self, items: int, chars: int) -> None:
        """Refuse (``conversation_too_large``) what would pass the conversation's bounds."""
        config = self._config
        count = len(self._state.order) + items
        total = self._chars_total + chars
        if count > config.max_conversation_items:
            what = f"{count} items, but the limit is {config.max_conversation_items}"
        elif total > config.max_conversation_chars:
            what = f"{total} characters of text, but the limit is {config.max_conversation_chars}"
        else:
            return
        raise v.Rejected(
            "conversation_too_large",
            f"The conversation is full: it would hold {what}. Delete items to make room.",
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
        state = self._state
        previous = e.previous_item_id
        after: str | None
        if previous is None:
            after = state.order.tail
        elif previous == "root":
            after = None
        elif previous in state.order:
            after = previous
        else:
            raise v.Rejected(
                "invalid_value",
                f"Error adding item: the previous item with id '{previous}' does not exist.",
                "previous_item_id",
            )
        if item.id is not None and state.item(item.id) is not None:
            raise v.Rejected(
                "invalid_value",
                f"Error adding item: the id '{item.id}' is already in use.",
                "item.id",
            )
        if item.type == "function_call_output" and item.call_id not in self._calls:
            raise v.Rejected(
                "invalid_value",
                f"Error adding item: no function_call item has call_id '{item.call_id}'.",
                "item.call_id",
            )
        if item.type == "function_call" and item.call_id in self._calls:
            raise v.Rejected(
                "invalid_value",
                f"Error adding item: call_id '{item.call_id}' is already in use.",
                "item.call_id",
            )
        self._room(1, _item_chars(item))
        self._accept(e)
        item_id = item.id if item.id is not None else self._ids("item")
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

    def _streaming(self, item_id: str) -> bool:
        item = self._state.item(item_id)
        return item is not None and item.phase is not ItemPhase.DONE

    def _conversation_item(
        self, item_id: str, code: str, doing: str, param: str | None = "item_id"
    ) -> ItemState:
        """The item ``item_id`` of the conversation, or the server's error ``code``
        for one it does not have (``doing``: what the request was doing)."""
        item = self._state.item(item_id)
        if item is None or item_id not in self._state.order:
            raise v.Rejected(
                code, f"Error {doing} item: the item with id '{item_id}' does not exist.", param
            )
        return item

    def _truncate(self, e: c.ConversationItemTruncate) -> None:
        item = self._conversation_item(e.item_id, "item_truncate_invalid_item_id", "truncating")
        if item.type != "message" or item.role != "assistant":
            raise v.Rejected(
                "invalid_value", "Only assistant messages can be truncated.", "item_id"
            )
        index = e.content_index
        if not 0 <= index < len(item.parts) or item.parts[index].type != "audio":
            raise v.Rejected(
                "invalid_value",
                f"Item '{e.item_id}' has no audio content at index {index}.",
                "content_index",
            )
        if e.audio_end_ms < 0:
            raise v.Rejected(
                "integer_below_min_value",
                "Invalid 'audio_end_ms': integer below minimum value. Expected a value >= 0, "
                f"but got {e.audio_end_ms} instead.",
                "audio_end_ms",
            )
        part = item.parts[index]
        available = part.audio_ms
        if part.truncated_ms is not None:
            available = min(available, part.truncated_ms)
        if e.audio_end_ms > available:
            raise v.Rejected(
                "invalid_value",
                f"Audio content of {math.floor(available)}ms is already shorter than "
                f"{e.audio_end_ms}ms",
                "audio_end_ms",
            )
        self._accept(e)
        self._emit(
            s.ConversationItemTruncated(
                event_id=self._event_id(),
                item_id=e.item_id,
                content_index=index,
                audio_end_ms=e.audio_end_ms,
            )
        )
        run = self._run
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
        item = self._conversation_item(
            e.item_id, "item_delete_invalid_item_id", "deleting", param=None
        )
        if self._streaming(e.item_id):
            raise v.Rejected(
                "invalid_value",
                f"Item '{e.item_id}' is still being generated; cancel the response first.",
                "item_id",
            )
        self._accept(e)
        self._emit(s.ConversationItemDeleted(event_id=self._event_id(), item_id=e.item_id))
        self._input_audio_ms.pop(e.item_id, None)
        self._chars_total -= self._chars.pop(e.item_id, 0)
        if item.type == "function_call" and item.call_id is not None:
            self._calls.pop(item.call_id, None)

    def _retrieve(self, e: c.ConversationItemRetrieve) -> None:
        item = self._conversation_item(e.item_id, "item_retrieve_invalid_item_id", "retrieving")
        self._accept(e)
        self._emit(
            s.ConversationItemRetrieved(event_id=self._event_id(), item=_item_snapshot(item))
        )

    def _output_audio_clear(self, e: c.OutputAudioBufferClear) -> None:
        raise v.Rejected(
            "invalid_value",
            "output_audio_buffer.clear is only supported on WebRTC and SIP connections.",
            "type",
        )

    # --- responses -----------------------------------------------------------------------

    def _response_create(self, e: c.ResponseCreate) -> None:
        run = self._run
        if run is not None:
            raise v.Rejected(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {run.response_id}. "
                "Wait until the response is finished before creating a new one.",
            )
        params = e.response
        if params is not None:
            v.check_settings(params, self._checks[1], "response", self._spell)
            if params.tool_choice is not None:
                tools = params.tools if params.tools is not None else self._session.tools
                v.check_tool_choice(params.tool_choice, tools or (), "response.tool_choice")
        self._room(1, 0)
        self._accept(e)
        self._start_response(params, "client")

    def _response_cancel(self, e: c.ResponseCancel) -> None:
        run = self._run
        if run is None or (e.response_id is not None and e.response_id != run.response_id):
            raise v.Rejected(
                "response_cancel_not_active", "Cancellation failed: no active response found"
            )
        self._accept(e)
        self._cancel("client_cancelled")

    def _start_response(
        self, params: ResponseParams | None, trigger: str, pending: _Transcription | None = None
    ) -> None:
        """``response.created`` and the plan; ``pending``: the turn's transcription,
        not sent yet (GA), which the responder may read (``ResponseRequest.transcripts``)."""
        config = self._config
        response_id = self._ids("resp")
        effective = _effective(self._session, params)
        request = ResponseRequest(
            response_id=response_id,
            state=self._state,
            session=effective,
            params=params,
            trigger=trigger,
            transcripts={}
            if pending is None or not isinstance(pending.result, str)
            else {pending.item_id: pending.result},
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
        )
        input_text, input_audio = self._input_tokens(effective)
        info = ResponseInfo(
            id=response_id,
            object="realtime.response",
            status="in_progress",
            output=(),
            metadata=None if params is None else params.metadata,
            conversation_id=self._conversation_id,
            modalities=tuple(modalities),
            voice=voice_name,  # a custom voice by its id: the GA response object has a string
            output_audio_format=audio_format,
            temperature=None if self._ga else effective.temperature,
            max_output_tokens=effective.max_response_output_tokens,
        )
        self._responses += 1
        self._emit(s.ResponseCreated(event_id=self._event_id(), response=info))
        self._run = _Run(
            response_id=response_id,
            plan=plan,
            started=self._now,
            info=info,
            input_text=input_text,
            input_audio=input_audio,
        )

    def _input_tokens(self, session: SessionConfig) -> tuple[int, int]:
        """Estimated input tokens of a response: (text, audio) of the whole conversation."""
        text = text_tokens(session.instructions)
        audio_ms_total = 0.0
        heard = self._input_audio_ms
        for item in self._state.items:
            text += text_tokens(item.arguments) + text_tokens(item.output)
            for part in item.parts:
                text += text_tokens(part.text) + text_tokens(part.transcript)
            audio_ms_total += heard.get(item.id, 0.0) + item.audio_ms
        return text, math.ceil(audio_ms_total / 100.0)

    def _pump(self, until: float | None = None) -> None:
        """Write the actions of the response in progress that are due."""
        now = self._now if until is None else min(until, self._now)
        while (run := self._run) is not None:
            due = run.next_due
            if due is None or due > now:
                return
            action = run.plan.actions[run.position]
            self._run = attrs.evolve(run, position=run.position + 1)
            try:
                _ACTIONS[action.kind](self, action)
            except _Unencodable as failure:
                self._server_error(failure, None, None)
                self._abandon()

    def _abandon(self) -> None:
        """End the response in progress ``failed`` after one of its events could not be
        encoded (if even that fails, the response is dropped)."""
        run = self._run
        if run is None:
            return
        error = ErrorInfo(type="server_error", code="server_error")
        index = run.open_index
        try:
            if index is not None and self._state.item(run.item_ids[index]) is not None:
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

    def _phase(self, run: _Run, index: int) -> str | None:
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
        self._run = attrs.evolve(run, item_ids=(*run.item_ids, item_id), open_index=action.index)
        self._emit(
            s.ResponseOutputItemAdded(
                event_id=self._event_id(),
                response_id=run.response_id,
                output_index=action.index,
                item=item,
            )
        )
        self._emit_item(item, self._state.order.tail, final=False)

    def _act_add_part(self, action: Action) -> None:
        run = self._run
        assert run is not None
        kind = run.plan.segments[action.index].part
        part = (
            ContentPart(type="audio", transcript="")
            if kind == "audio"
            else ContentPart(type="text", text="")
        )
        self._emit(
            s.ResponseContentPartAdded(
                event_id=self._event_id(), part=part, **self._part_ids(action)
            )
        )

    def _act_text(self, action: Action) -> None:
        self._emit(
            s.ResponseTextDelta(
                delta=action.data, **self._obfuscated(action.data), **self._part_ids(action)
            )
        )

    def _act_transcript(self, action: Action) -> None:
        self._emit(
            s.ResponseAudioTranscriptDelta(
                delta=action.data, **self._obfuscated(action.data), **self._part_ids(action)
            )
        )

    def _act_audio(self, action: Action) -> None:
        """An audio delta: its bytes are rendered now, when it is due (not at planning)."""
        run = self._run
        assert run is not None
        audio = run.plan.segments[action.index].audio
        assert audio is not None
        delta = base64.b64encode(audio.render(action.start, action.end)).decode("ascii")
        self._audio_out = True
        self._emit(
            s.ResponseAudioDelta(event_id=self._event_id(), delta=delta, **self._part_ids(action))
        )

    def _act_arguments(self, action: Action) -> None:
        run = self._run
        assert run is not None
        self._emit(
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

    def _close_item(self, index: int, status: str) -> None:
        """The done events of output ``index``, from what was sent of it."""
        run = self._run
        assert run is not None
        item_id = run.item_ids[index]
        item = self._state.item(item_id)
        assert item is not None
        ids: dict[str, Any] = {
            "response_id": run.response_id,
            "item_id": item_id,
            "output_index": index,
        }
        if item.type == "function_call":
            self._emit(
                s.ResponseFunctionCallArgumentsDone(
                    event_id=self._event_id(),
                    call_id=item.call_id or "",
                    arguments=item.arguments or "",
                    name=item.name,
                    **ids,
                )
            )
        for content_index, part in enumerate(item.parts):
            if part.phase is not PartPhase.STREAMING:
                continue
            where = {**ids, "content_index": content_index}
            if part.type == "audio":
                transcript = part.transcript or ""
                self._emit(s.ResponseAudioDone(event_id=self._event_id(), **where))
                self._emit(
                    s.ResponseAudioTranscriptDone(
                        event_id=self._event_id(), transcript=transcript, **where
                    )
                )
                done = ContentPart(type="audio", transcript=transcript)
            else:
                self._emit(s.ResponseTextDone(event_id=self._event_id(), text=part.text, **where))
                done = ContentPart(type="text", text=part.text)
            self._emit(s.ResponseContentPartDone(event_id=self._event_id(), part=done, **where))
        final = self._state.item(item_id)
        assert final is not None
        snap = snapshot(final, status, self._phase(run, index))
        if self._ga:
            previous = self._state.order.prev.get(item_id)
            self._emit(
                s.ConversationItemDone(
                    event_id=self._event_id(), item=snap, previous_item_id=previous
                )
            )
        self._emit(
            s.ResponseOutputItemDone(
                event_id=self._event_id(),
                response_id=run.response_id,
                output_index=index,
                item=snap,
            )
        )
        self._run = attrs.evolve(run, open_index=None, snapshots=(*run.snapshots, snap))
        self._count(item_id)

    def _finish_run(self, status: str, details: StatusDetails | None) -> None:
        run = self._run
        assert run is not None
        spoken = 0.0
        for item_id in run.item_ids:
            item = self._state.item(item_id)
            if item is not None:
                spoken += item.audio_ms
        info = attrs.evolve(
            run.info,
            status=status,
            status_details=details,
            output=run.snapshots,
            usage=usage(
                run.input_text, run.input_audio, run.snapshots, spoken, reasoning=self._reasoning
            ),
        )
        self._run = None
        self._idle_from = self._now + spoken / 1000.0  # when its audio has been played
        self._emit(s.ResponseDone(event_id=self._event_id(), response=info))
        if self._ga and self._config.rate_limits:
            self._rate_limits(run)

    def _cancel(self, reason: str) -> None:
        """End the response in progress: close what is open, ``response.done`` cancelled."""
        run = self._run
        assert run is not None
        if run.open_index is not None:
            self._close_item(run.open_index, "incomplete")
        self._finish_run("cancelled", StatusDetails(type="cancelled", reason=reason))

    def _expire(self) -> None:
        """``session_expired``: fail the response in progress, send the error, close."""
        duration = self._duration or 0.0
        minutes = duration / 60.0
        message = f"Your session hit the maximum duration of {minutes:g} minutes."
        error = ErrorInfo(type="invalid_request_error", code="session_expired", message=message)
        run = self._run
        if run is not None:
            if run.open_index is not None:
                self._close_item(run.open_index, "incomplete")
            self._finish_run(
                "failed",
                StatusDetails(type="failed", error=ErrorInfo(type=error.type, code=error.code)),
            )
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

_ACTIONS: Final[Mapping[Act, Callable[[ServerConnection, Action], None]]] = {
    Act.RATE_LIMITS: ServerConnection._act_rate_limits,
    Act.ADD_ITEM: ServerConnection._act_add_item,
    Act.ADD_PART: ServerConnection._act_add_part,
    Act.TEXT: ServerConnection._act_text,
    Act.TRANSCRIPT: ServerConnection._act_transcript,
    Act.AUDIO: ServerConnection._act_audio,
    Act.ARGUMENTS: ServerConnection._act_arguments,
    Act.CLOSE_ITEM: ServerConnection._act_close_item,
    Act.DONE: ServerConnection._act_done,
}
"""Planned action -> what writes it."""

_CHECKS: Final[Mapping[Dialect, tuple[v.Checks, v.Checks]]] = {
    "beta": (v.SESSION_CHECKS, v.RESPONSE_CHECKS),
    "ga": (v.GA_SESSION_CHECKS, v.GA_RESPONSE_CHECKS),
}
"""Dialect -> the settings checks of ``session.update`` and ``response.create``."""

_VAD_HANDLERS: Final[Mapping[str, Callable[[ServerConnection, VadEvent, TurnDetection], None]]] = {
    "start": ServerConnection._speech_started,
    "stop": ServerConnection._speech_stopped,
}
"""Speech boundary -> what it makes the server say."""
