"""The immutable session state and its read-only queries.

``SessionState`` is the root: session config, the conversation (items by id plus
their order, linked by ``previous_item_id`` as the server keeps it), the input audio
buffer, the responses in progress (by id) and a bounded history of finished ones, rate limits, the
last server error and a revision counter. Every value here is frozen; only
``rtstate.fold`` builds new ones, and old snapshots never change.

Glossary (one word, one meaning). Names that come from the wire (``status``,
``content``, ``content_index``, ``input_audio_*``, event types) stay as the wire spells
them; rtstate's own names follow this list (in brackets: the words not used for it):

- input: what ``fold`` takes (``Input``, ``Step.input``) [not the audio buffer].
- input buffer: the input audio buffer (``SessionState.input_buffer``,
  ``InputBufferState``, ``InputBufferPhase``; the ``Input*`` transitions) [not "input"].
- step: what one ``fold`` call did (``Step``) [a script's pair is ``Directed``].
- phase: where rtstate's machine has an entity (``*Phase``, ``.phase``) [never "status"].
- status: the wire's status string as the server last wrote it (``.status``) [not "phase"].
- finished: reached phase ``DONE``, whatever the status (``ItemFinished``,
  ``ResponseFinished``, ``SessionState.finished``) ["completed" is a status value only].
- part: one element of an item's wire ``content`` (``PartState``, ``ItemState.parts``).
- pending: only ``ItemPhase.PENDING``, a client's item the server has not yet confirmed.
- in flight: a sent event awaiting its acknowledgement (``InFlight``,
  ``Ledger.in_flight``) [not "pending"].
- queued: held back until it may go or be taken (``Ledger.queued``, ``Tools.queued``).
- early transcription: an input transcription that came before its item
  (``InputBufferState.early_transcriptions``) [not "pending"].
- transcript: what input transcription made of one committed item's audio, kept by
  item id in ``SessionState.transcripts`` (``TranscriptState``, ``TranscriptPhase``)
  in both kinds of session; a realtime session also writes its text on the item.
- kind: a session's ``session.type``, ``"realtime"`` or ``"transcription"``
  (``SessionState.kind``).
- interrupted response: the response whose playback a barge-in cut
  (``SessionState.interrupted_response_id``: an id, so named).
- active response: the default conversation's response in progress (at most one:
  ``SessionState.active_response``) [not any response in progress].
- out-of-band response: one created with ``response.conversation: "none"``
  (``ResponseState.conversation == "none"``); its output items are kept
  (``items_by_id``) but never enter the conversation ``order`` [not "background"].
- violation: an invariant a stream breaks, as ``rtstate.testing.Violation`` reports it;
  the fold rejects such an input and reports a ``Diagnostic``.
- bound: a ``Config`` limit, named ``max_<what is counted>`` (``max_in_flight``)
  [not ``*_limit``, ``*_history``, ``*_recent``].
- duration: seconds, named for what is timed, without unit (``ack_timeout``,
  ``audio_retention_window``); milliseconds always end in ``_ms``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import ClassVar, Final, Literal, TypeAlias

import attrs
from immutables import Map

from ._build import dict_setter, new
from ._repr import fields_repr
from .events.client import ClientEvent, ResponseCancel, ResponseCreate
from .events.payloads import (
    ContentType,
    ErrorInfo,
    ImageDetail,
    ItemStatus,
    ItemType,
    JSONObject,
    LogProb,
    ResponseInfo,
    ResponseStatus,
    Role,
    SessionConfig,
    StatusDetails,
    TranscriptionLanguage,
    TranscriptionUsage,
    Usage,
)
from .logs import EMPTY_AUDIO, EMPTY_TEXT, AudioWindow, TextLog

__all__ = [
    "InFlight",
    "InputBufferPhase",
    "InputBufferState",
    "ItemPhase",
    "ItemState",
    "Ledger",
    "Order",
    "PartPhase",
    "PartState",
    "PlaybackPhase",
    "RateLimitState",
    "ResponsePhase",
    "ResponseState",
    "SessionKind",
    "SessionPhase",
    "SessionState",
    "SpeechWindow",
    "TimeoutWindow",
    "TranscriptPhase",
    "TranscriptSegment",
    "TranscriptState",
    "Transcripts",
]


class _Phase(enum.Enum):
    """An enum whose members hash by identity (C speed) for the transition tables."""

    __hash__ = object.__hash__


class SessionPhase(_Phase):
    """Where the connection is: waiting for ``session.created``, open, or closed."""

    CONNECTING = "connecting"
    OPEN = "open"
    CLOSED = "closed"


class InputBufferPhase(_Phase):
    """The input buffer as server VAD sees it."""

    IDLE = "idle"
    SPEECH = "speech"


class ResponsePhase(_Phase):
    """A response between ``response.created`` and ``response.done``, or after."""

    IN_PROGRESS = "in_progress"
    DONE = "done"


class ItemPhase(_Phase):
    """An item's life.

    ``PENDING``: created by this client (``conversation.item.create`` with an id)
    and not yet confirmed by the server; it is not in the conversation order and
    disappears if the server rejects it. ``ANNOUNCED``: named by
    ``response.output_item.added`` but not yet placed in the conversation by
    ``conversation.item.created``. ``IN_PROGRESS``: in the conversation and still
    streaming. ``DONE``: final.
    """

    PENDING = "pending"
    ANNOUNCED = "announced"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class PlaybackPhase(_Phase):
    """The server's own playback of a response's audio (attached sessions: WebRTC,
    SIP), as ``output_audio_buffer.started`` / ``.stopped`` / ``.cleared`` report it:
    ``STARTED`` (playing), ``STOPPED`` (played to its end), ``CLEARED`` (cut)."""

    STARTED = "started"
    STOPPED = "stopped"
    CLEARED = "cleared"


class PartPhase(_Phase):
    """A content part streaming its deltas, or finished."""

    STREAMING = "streaming"
    DONE = "done"


class TranscriptPhase(_Phase):
    """An input transcript: its deltas and segments streaming, done (``.completed``) or
    failed (``.failed``)."""

    STREAMING = "streaming"
    DONE = "done"
    FAILED = "failed"


def _short_repr(value: str | None) -> str:
    """A string's repr cut to its first 40 characters and its length (an image's data
    URI may be megabytes long)."""
    if value is None or len(value) <= _REPR_CHARS:
        return repr(value)
    return f"{value[:_REPR_CHARS]!r}... ({len(value)} chars)"


_REPR_CHARS: Final = 40


@attrs.frozen(kw_only=True, repr=False, slots=False)  # dict-backed: see rtstate._fast
class PartState:
    """One content part of a message item.

    ``text_log`` accumulates ``text`` / ``input_text``; ``transcript_log`` the
    transcript of ``audio`` / ``input_audio`` (``None`` while an input transcript is
    unknown). Output audio is counted (``audio_bytes``, ``audio_ms``); keeping it is a
    ``Config.audio_retention`` choice.

    An ``input_image`` part (GA) keeps its ``image_url`` and ``detail`` as the client
    sent them: the very string of the ``conversation.item.create`` (a data URI can be
    large; it is held by reference, never copied), so that ``plan_reconnect`` replays
    the image. The server's echo leaves the data URI out; the fold then keeps the one
    of the create it answers. Both stay ``None`` on other parts. The repr shows the
    first 40 characters of ``image_url`` and its length.
    """

    __repr__ = fields_repr

    type: ContentType
    phase: PartPhase = PartPhase.DONE
    text_log: TextLog = EMPTY_TEXT
    transcript_log: TextLog | None = None
    audio_bytes: int = 0
    audio_ms: float = 0.0
    audio_done: bool = False
    truncated_ms: int | None = None
    image_url: str | None = attrs.field(default=None, repr=_short_repr)
    detail: ImageDetail | None = None

    @property
    def text(self) -> str:
        """The part's text (``""`` for audio parts)."""
        return self.text_log.value

    @property
    def transcript(self) -> str | None:
        """The part's transcript, or ``None`` when none is known."""
        log = self.transcript_log
        return None if log is None else log.value


@attrs.frozen(kw_only=True, repr=False, slots=False)  # dict-backed: see rtstate._fast
class ItemState:
    """A conversation item as the client knows it.

    ``role`` and ``parts`` apply to messages; ``name``, ``call_id`` and
    ``arguments`` to function calls; ``call_id`` and ``output`` to their outputs.
    ``response_id`` / ``output_index`` say which response produced it, if any.

    GA MCP items keep their fields from the item snapshots (``.added`` / ``.done``):
    ``server_label`` (every MCP item), ``tools`` (``mcp_list_tools``: each tool as the
    MCP server listed it), ``name`` / ``arguments`` (``mcp_call``,
    ``mcp_approval_request``), ``output`` and ``error`` (``mcp_call``: what the tool
    returned, or its failure ``{"type": "tool_execution_error" | "protocol_error" |
    "http_error", "message": ...}``), ``approval_request_id`` (``mcp_call`` run under an
    approval, ``mcp_approval_response``), ``approve`` and ``reason``
    (``mcp_approval_response``). An ``mcp_call``'s ``output`` / ``error`` are final at
    its ``ItemFinished`` (the ``response.mcp_call.completed`` / ``.failed`` events carry
    neither).
    """

    __repr__ = fields_repr

    id: str
    type: ItemType
    phase: ItemPhase
    status: ItemStatus | None = None
    role: Role | None = None
    parts: tuple[PartState, ...] = ()
    name: str | None = None
    call_id: str | None = None
    arguments_log: TextLog = EMPTY_TEXT
    output: str | None = None
    response_id: str | None = None
    output_index: int | None = None
    transcription_error: ErrorInfo | None = None
    server_label: str | None = None
    tools: tuple[JSONObject, ...] | None = None
    error: JSONObject | None = None
    approval_request_id: str | None = None
    approve: bool | None = None
    reason: str | None = None

    @property
    def text(self) -> str:
        """The joined text of the ``text`` / ``input_text`` parts (``""`` if none)."""
        return "".join([p.text for p in self.parts if p.type in _TEXT_PARTS])

    @property
    def transcript(self) -> str:
        """The joined transcripts of the ``audio`` / ``input_audio`` parts."""
        return "".join([p.transcript or "" for p in self.parts if p.type in _AUDIO_PARTS])

    @property
    def audio_bytes(self) -> int:
        """Output audio received for this item, in bytes."""
        return sum(p.audio_bytes for p in self.parts)

    @property
    def audio_ms(self) -> float:
        """Output audio received for this item, in milliseconds."""
        return sum(p.audio_ms for p in self.parts)

    @property
    def arguments(self) -> str | None:
        """A call's arguments (JSON text): a function call's or (GA) an MCP call's or
        approval request's; ``None`` for other items."""
        return self.arguments_log.value if self.type in _CALL_TYPES else None


_CALL_TYPES = frozenset({"function_call", "mcp_call", "mcp_approval_request"})
_TEXT_PARTS = frozenset({"text", "input_text"})
_AUDIO_PARTS = frozenset({"audio", "input_audio"})


_AUTO: Final = "auto"
"""``ResponseState.conversation`` of a response of the default conversation."""
_NONE: Final = "none"
"""``ResponseState.conversation`` of an out-of-band response."""


@attrs.frozen(kw_only=True, repr=False, slots=False)  # dict-backed: see rtstate._fast
class ResponseState:
    """A response: its phase, output item ids by ``output_index``, final status, usage.

    ``output_audio_format`` is the format of its output audio, fixed when it was
    created: its own (from ``response.create``), else the session's.

    ``conversation`` is ``"auto"`` for a response of the default conversation and
    ``"none"`` for an out-of-band one (``out_of_band``), whose output items never
    enter the conversation. The fold decides it at ``response.created``, in this
    order: the response object's ``conversation_id`` when it says (set: ``"auto"``;
    null in a response object of the 2025 shape, the one that carries
    ``modalities`` / GA's ``output_modalities``: ``"none"``, as GA servers write an
    out-of-band response); else (an October 2024 object, which has neither field) the
    ``response.conversation`` of the in-flight ``response.create`` it answers; else
    ``"auto"`` (a response the server started itself, on server VAD). ``metadata`` is
    the response object's, else that of the ``response.create`` it answers.
    """

    __repr__ = fields_repr

    id: str
    phase: ResponsePhase
    status: ResponseStatus | None
    output: tuple[str, ...] = ()
    status_details: StatusDetails | None = None
    usage: Usage | None = None
    info: ResponseInfo | None = None
    output_audio_format: str = "pcm16"
    conversation: str = _AUTO
    metadata: JSONObject | None = None

    @property
    def out_of_band(self) -> bool:
        """Whether it is an out-of-band response (``conversation == "none"``)."""
        return self.conversation == _NONE


@attrs.frozen(kw_only=True, repr=False)
class SpeechWindow:
    """One stretch of speech server VAD detected, in ms of the session's input audio."""

    __repr__ = fields_repr

    item_id: str
    start_ms: int
    end_ms: int | None = None


@attrs.frozen(kw_only=True, repr=False)
class TimeoutWindow:
    """One stretch of input audio server VAD's idle timeout (GA ``idle_timeout_ms``)
    committed as user item ``item_id`` with no speech in it
    (``input_audio_buffer.timeout_triggered``), in ms of the session's input audio."""

    __repr__ = fields_repr

    item_id: str
    start_ms: int
    end_ms: int


@attrs.frozen(kw_only=True, repr=False)
class InputBufferState:
    """The input audio buffer.

    ``appended_ms`` counts the client's own appends since the last commit or clear
    (``total_appended_ms`` since the session began). ``speech`` (server VAD's speech
    windows), ``timeouts`` (its idle-timeout windows, GA) and ``committed`` each keep
    the most recent ``Config.max_input_buffer_history`` entries.
    ``early_transcriptions`` holds input transcription results that arrived before
    their item (item id -> content index and transcript or error), in a realtime
    session only, and only while ``SessionState.transcripts`` keeps their transcript
    (so at most ``Config.max_transcripts`` of them).
    """

    __repr__ = fields_repr

    phase: InputBufferPhase = InputBufferPhase.IDLE
    appended_ms: float = 0.0
    total_appended_ms: float = 0.0
    speech: tuple[SpeechWindow, ...] = ()
    timeouts: tuple[TimeoutWindow, ...] = ()
    committed: tuple[str, ...] = ()
    cleared: int = 0
    early_transcriptions: Map[str, tuple[int, str | ErrorInfo]] = attrs.field(factory=Map)


@attrs.frozen(kw_only=True, repr=False)
class TranscriptSegment:
    """One diarized segment of an input transcript (GA ``...transcription.segment``):
    who spoke (``speaker``), when (``start`` / ``end``, seconds into the item's audio)
    and what (``text``)."""

    __repr__ = fields_repr

    id: str
    text: str
    speaker: str | None = None
    start: float | None = None
    end: float | None = None


@attrs.frozen(kw_only=True, repr=False)
class TranscriptState:
    """The input transcription of one committed item (``item_id``, its part
    ``content_index``).

    ``text`` accumulates the deltas while ``STREAMING``; ``.completed`` replaces it
    with the final transcript (``DONE``), ``.failed`` keeps ``error`` (``FAILED``).
    ``segments``: the diarized segments (diarizing models, such as
    ``gpt-4o-transcribe-diarize``), in arrival order. ``logprobs``: the token log
    probabilities when the session's ``include`` asks for
    ``item.input_audio_transcription.logprobs`` (the deltas', replaced by the
    completed event's when it carries them). ``usage`` and ``languages``: as
    ``.completed`` reports them.
    """

    __repr__ = fields_repr

    item_id: str
    content_index: int = 0
    phase: TranscriptPhase = TranscriptPhase.STREAMING
    text_log: TextLog = EMPTY_TEXT
    segments: tuple[TranscriptSegment, ...] = ()
    logprobs: tuple[LogProb, ...] | None = None
    usage: TranscriptionUsage | None = None
    languages: tuple[TranscriptionLanguage, ...] | None = None
    error: ErrorInfo | None = None

    @property
    def text(self) -> str:
        """The transcript so far (final once ``DONE``)."""
        return self.text_log.value


@attrs.frozen(kw_only=True, repr=False)
class Transcripts:
    """The input transcripts by item id, the most recent ``Config.max_transcripts``
    (``order``: their item ids, oldest first; the oldest is evicted first)."""

    __repr__ = fields_repr

    by_id: Map[str, TranscriptState] = attrs.field(factory=Map)
    order: tuple[str, ...] = ()

    def get(self, item_id: str) -> TranscriptState | None:
        """The transcript of item ``item_id``, if kept."""
        return self.by_id.get(item_id)

    def __iter__(self) -> Iterator[TranscriptState]:
        by_id = self.by_id
        return iter([by_id[i] for i in self.order])

    def __len__(self) -> int:
        return len(self.order)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.by_id


SessionKind: TypeAlias = Literal["realtime", "transcription"]
"""What a session does: converse (``"realtime"``) or only transcribe its input audio
(``"transcription"``, GA ``session.type``)."""


@attrs.frozen(kw_only=True, repr=False)
class RateLimitState:
    """A rate limit as last reported, with the state revision it arrived at.

    ``arrived_at`` is the caller's clock at arrival (the ``now`` of the latest
    ``tick``; ``None`` if the connection was never ticked), so ``reset_at`` says
    when the server expects the limit to be whole again.
    """

    __repr__ = fields_repr

    name: str
    limit: int | None
    remaining: int | None
    reset_seconds: float | None
    revision: int
    arrived_at: float | None = None

    @property
    def reset_at(self) -> float | None:
        """When the limit resets, on the caller's clock (``None`` if unknown)."""
        if self.arrived_at is None or self.reset_seconds is None:
            return None
        return self.arrived_at + self.reset_seconds

    @property
    def used_fraction(self) -> float | None:
        """How much of the limit is spent, from 0.0 to 1.0 (``None`` if unknown)."""
        if not self.limit or self.remaining is None:
            return None
        return min(max(1.0 - self.remaining / self.limit, 0.0), 1.0)


@attrs.frozen(kw_only=True, repr=False)
class InFlight:
    """A sent client event waiting for the server's acknowledgement.

    ``key`` is the id the acknowledgement names (the item id of a create, delete
    or truncate; the response id of a cancel); ``None``: matched in send order.
    ``sent_at`` is the caller's clock when its timer started (the ``now`` of the
    tick at or after sending). ``undo`` is the part a local truncation replaced,
    restored if the server rejects the truncation.
    """

    __repr__ = fields_repr

    event: ClientEvent
    key: str | None = None
    sent_at: float | None = None
    undo: PartState | None = None


def _creates_out_of_band(event: ClientEvent) -> bool:
    """Whether ``event`` is a ``response.create`` of an out-of-band response
    (``response.conversation: "none"``)."""
    if event.__class__ is not ResponseCreate:
        return False
    assert isinstance(event, ResponseCreate)
    params = event.response
    return params is not None and params.conversation == _NONE


@attrs.frozen(kw_only=True, repr=False)
class Ledger:
    """What this client sent and still expects an answer to, and what waits to go.

    ``in_flight``: sent events the server acknowledges, still unanswered, in send order. ``recent``:
    events settled lately (acknowledged, or never acknowledged such as audio
    appends), remembered so that a late ``error`` still finds its cause.
    ``queued``: default-conversation ``response.create`` events held back while the
    active response is in progress or requested, released one at a time by its
    ``response.done`` (an out-of-band ``response.create`` is never queued). ``deferred_cancel``: a
    ``response.cancel`` sent before its response existed, sent once it does.
    """

    __repr__ = fields_repr

    in_flight: tuple[InFlight, ...] = ()
    recent: tuple[ClientEvent, ...] = ()
    queued: tuple[ResponseCreate, ...] = ()
    deferred_cancel: ResponseCancel | None = None

    @property
    def response_requested(self) -> bool:
        """Whether a sent ``response.create`` awaits its ``response.created``."""
        return any(p.event.__class__ is ResponseCreate for p in self.in_flight)

    @property
    def default_requested(self) -> bool:
        """Whether a sent default-conversation ``response.create`` (not out of band)
        awaits its ``response.created``: what holds the next one back."""
        return any(
            p.event.__class__ is ResponseCreate and not _creates_out_of_band(p.event)
            for p in self.in_flight
        )

    def find(self, event_id: str) -> ClientEvent | None:
        """The sent, queued or recently settled event with this ``event_id``."""
        for p in self.in_flight:
            if p.event.event_id == event_id:
                return p.event
        for e in (*self.queued, *self.recent):
            if e.event_id == event_id:
                return e
        if self.deferred_cancel is not None and self.deferred_cancel.event_id == event_id:
            return self.deferred_cancel
        return None


@attrs.frozen(kw_only=True, repr=False)
class Order:
    """The conversation order: a doubly linked list of item ids in persistent maps."""

    __repr__ = fields_repr

    head: str | None = None
    tail: str | None = None
    next: Map[str, str] = attrs.field(factory=Map)
    prev: Map[str, str] = attrs.field(factory=Map)
    size: int = 0

    def __iter__(self) -> Iterator[str]:
        nxt = self.next
        cur = self.head
        while cur is not None:
            yield cur
            cur = nxt.get(cur)

    def __len__(self) -> int:
        return self.size

    def __contains__(self, item_id: object) -> bool:
        return item_id is not None and (item_id == self.head or item_id in self.prev)

    def insert(self, item_id: str, previous: str | None) -> Order:
        """This order with ``item_id`` placed after ``previous`` (``None``: at the head).

        ``item_id`` must not be in the order yet, and ``previous`` (if given) must be.
        """
        nxt, prev = self.next, self.prev
        after: str | None
        head: str | None
        if previous is None:
            after = self.head
            head = item_id
        else:
            after = nxt.get(previous)
            nxt = nxt.set(previous, item_id)
            prev = prev.set(item_id, previous)
            head = self.head
        if after is not None:
            nxt = nxt.set(item_id, after)
            prev = prev.set(after, item_id)
            tail = self.tail
        else:
            tail = item_id
        return _new_order(head=head, tail=tail, next=nxt, prev=prev, size=self.size + 1)

    def without(self, item_id: str) -> Order:
        """This order with ``item_id`` (which must be in it) taken out."""
        nxt, prev = self.next, self.prev
        before: str | None = prev.get(item_id)
        after = nxt.get(item_id)
        if before is not None:
            prev = prev.delete(item_id)
            nxt = nxt.set(before, after) if after is not None else nxt.delete(before)
        if after is not None:
            nxt = nxt.delete(item_id)
            prev = prev.set(after, before) if before is not None else prev.delete(after)
        head = after if self.head == item_id else self.head
        tail = before if self.tail == item_id else self.tail
        return _new_order(head=head, tail=tail, next=nxt, prev=prev, size=self.size - 1)


_new_order: Final = new(Order)


def _by_id(response: ResponseState) -> str:
    return response.id  # without ``__init__``'s cost: once per item added or deleted


@attrs.frozen(kw_only=True, repr=False, slots=False)  # dict-backed: see rtstate._fast
class SessionState:
    """The root of the client's view of one Realtime session.

    Queries: ``items`` (in conversation order), ``item(id)``, ``active_response``,
    ``responses_in_progress``, ``response_by_id(id)``, ``response_items(id)``,
    ``rate_limit(name)``.

    Responses: ``responses`` holds every response in progress by id: at most one of
    the default conversation (``active_response_id``, INV-5) and any number out of
    band. An out-of-band response's output items are in ``items_by_id`` (``item(id)``,
    ``response_items(response_id)``) but never in ``order``: ``items`` is the
    conversation only.

    Client side: ``ledger`` (what was sent and awaits an answer, what waits to go),
    ``playback`` (item id -> ms of its audio the user heard, as reported),
    ``interrupted_response_id`` (the response whose playback was cut: its late deltas are
    ignored), ``expired`` (the server ended the session for its age), ``now`` (the
    caller's clock at the latest ``tick``). ``expires_at`` / ``seconds_left(wall_now)``:
    when the server will end it (its wall clock, unix seconds).

    Attached sessions (a socket opened with ``?call_id=`` beside a WebRTC or SIP
    call): ``attached`` says the session began before this client saw it (it starts
    ``OPEN``, no ``session.created`` comes, ``session`` stays ``None`` until a
    ``session.updated``); ``adopted`` holds the ids of the responses it joined
    mid-flow (their ``response.created`` went by before it; ``rtstate._fold._attached``
    has the rule); ``server_playback`` (response id -> ``PlaybackPhase``) is the
    server's own playback of each response's audio, ``playing_response_id`` the one
    it is playing now.

    Input transcription: ``kind`` (``session.type``), ``transcripts`` (every input
    transcript by item id, bounded by ``Config.max_transcripts``: text, phase,
    segments, logprobs, usage, error) and ``transcript(item_id)``.
    """

    __repr__ = fields_repr

    phase: SessionPhase = SessionPhase.CONNECTING
    session: SessionConfig | None = None
    conversation_id: str | None = None
    items_by_id: Map[str, ItemState] = attrs.field(factory=Map)
    order: Order = attrs.field(factory=Order)
    input_buffer: InputBufferState = attrs.field(factory=InputBufferState)
    responses: Map[str, ResponseState] = attrs.field(factory=Map)
    active_response_id: str | None = None
    finished: tuple[ResponseState, ...] = ()
    rate_limits: Map[str, RateLimitState] = attrs.field(factory=Map)
    last_error: ErrorInfo | None = None
    audio: AudioWindow = EMPTY_AUDIO
    ledger: Ledger = attrs.field(factory=Ledger)
    playback: Map[str, int] = attrs.field(factory=Map)
    interrupted_response_id: str | None = None
    expired: bool = False
    now: float | None = None
    revision: int = 0
    attached: bool = False
    adopted: frozenset[str] = frozenset()
    server_playback: Map[str, PlaybackPhase] = attrs.field(factory=Map)
    transcripts: Transcripts = attrs.field(factory=Transcripts)

    _hot: ClassVar[Hot | CallHot | None] = None
    """The streaming part (``Hot``) or function call's arguments (``CallHot``), while
    deltas stream into it (``rtstate._fast.streamed``): ``items_by_id`` is then built
    on first read from this record (see ``Hot``, ``CallHot`` and ``_ItemsBuiltOnRead``,
    the descriptor that stands for the field until then).
    ``None`` (this class attribute) on every other state."""

    @property
    def playing_response_id(self) -> str | None:
        """The response whose audio the server is playing now (``output_audio_buffer.started``
        and not yet ``.stopped`` / ``.cleared``); ``None`` when it plays nothing or
        reports no playback (a plain WebSocket session)."""
        for response_id, phase in self.server_playback.items():
            if phase is PlaybackPhase.STARTED:
                return response_id
        return None

    @property
    def kind(self) -> SessionKind:
        """``"transcription"`` in a transcription session (GA ``session.type``), else
        ``"realtime"`` (also before ``session.created``, and in the beta protocol)."""
        session = self.session
        if session is not None and session.type == "transcription":
            return "transcription"
        return "realtime"

    @property
    def expires_at(self) -> float | None:
        """When the server will end the session for its age, in unix seconds (the
        ``expires_at`` of the latest ``session.created`` / ``.updated``; ``None`` until
        one came, or when it carries none).

        It is the server's wall clock, not the caller's ``now`` (``tick`` takes any
        clock, usually a monotonic one), so the fold never compares the two: it raises
        no deadline and no transition of its own before the expiry, which still arrives
        as ``SessionExpired`` (the ``session_expired`` error). To act before it, read
        ``seconds_left(time.time())`` and redial with ``plan_reconnect`` ahead of it,
        with a margin for the clocks' skew.
        """
        session = self.session
        if session is None or session.expires_at is None:
            return None
        return float(session.expires_at)

    def seconds_left(self, wall_now: float) -> float | None:
        """Seconds until ``expires_at`` at unix time ``wall_now`` (``time.time()``),
        ``0.0`` once it has passed; ``None`` when the expiry is unknown."""
        expires_at = self.expires_at
        if expires_at is None:
            return None
        return max(expires_at - wall_now, 0.0)

    def transcript(self, item_id: str) -> TranscriptState | None:
        """The input transcript of item ``item_id``, if kept (``Config.max_transcripts``)."""
        return self.transcripts.by_id.get(item_id)

    @property
    def items(self) -> tuple[ItemState, ...]:
        """The conversation's items in order (O(n): walk the linked order)."""
        by_id = self.items_by_id
        return tuple([by_id[i] for i in self.order])

    def item(self, item_id: str) -> ItemState | None:
        """The item with this id (in the conversation or announced by a response)."""
        return self.items_by_id.get(item_id)

    @property
    def active_response(self) -> ResponseState | None:
        """The default conversation's response between ``response.created`` and
        ``response.done``, if any (never an out-of-band one)."""
        active = self.active_response_id
        return None if active is None else self.responses.get(active)

    @property
    def responses_in_progress(self) -> tuple[ResponseState, ...]:
        """Every response in progress: the active one first, then the out-of-band ones
        (ordered by id: a map keeps no creation order)."""
        active = self.active_response_id
        others = sorted((r for r in self.responses.values() if r.id != active), key=_by_id)
        first = self.active_response
        return tuple(others) if first is None else (first, *others)

    def response_by_id(self, response_id: str) -> ResponseState | None:
        """The response in progress or the remembered finished one with this id."""
        response = self.responses.get(response_id)
        if response is not None:
            return response
        for r in reversed(self.finished):
            if r.id == response_id:
                return r
        return None

    def response_items(self, response_id: str) -> tuple[ItemState, ...]:
        """The output items of a response (in progress or remembered), by
        ``output_index``: how an out-of-band response's output is reached (``()`` for
        an unknown response; an item deleted since is left out)."""
        response = self.response_by_id(response_id)
        if response is None:
            return ()
        by_id = self.items_by_id
        return tuple([by_id[i] for i in response.output if i in by_id])

    def rate_limit(self, name: str) -> RateLimitState | None:
        """The last reported rate limit called ``name`` (``requests``, ``tokens``, ...)."""
        return self.rate_limits.get(name)

    @property
    def tokens_remaining(self) -> int | None:
        """Tokens left in the current rate-limit window (``None`` until reported)."""
        limit = self.rate_limits.get("tokens")
        return None if limit is None else limit.remaining

    @property
    def requests_remaining(self) -> int | None:
        """Requests left in the current rate-limit window (``None`` until reported)."""
        limit = self.rate_limits.get("requests")
        return None if limit is None else limit.remaining

    def retained_audio(self, item_id: str, content_index: int | None = None) -> bytes:
        """Output audio kept under ``Config.audio_retention`` for one item, as bytes."""
        return self.audio.audio_of(item_id, content_index)


Hot: TypeAlias = tuple[
    str,
    int,
    str,
    object,
    ResponseState,
    ItemState,
    PartState,
    Map[str, ItemState],
    TextLog,
    TextLog | None,
    int,
    float,
]
"""A streaming state's record of its streaming part: ``(item_id, content_index,
response_id, group, response, item, part, items, text_log, transcript_log,
audio_bytes, audio_ms)``.

The deltas' fast path (``rtstate._fold._deltas``) keeps what the deltas grew here
instead of copying the part and its item and updating ``items_by_id`` on every delta:
``items`` is the items map without the part's new values (``item``'s
``parts[content_index]`` is stale), ``part`` the part as it was when the record
started, and the last four the values the deltas change (the part's logs and audio
counters) as they are now: the part itself is built only when read
(``_part_of_record``). ``response`` is the response it streams for, ``group`` the kind
of deltas the record was checked for. It is valid because only the fast path
makes such a state, after the full checks, and every other fold of it builds its new
root with ``rtstate._fast.evolve_root`` / ``with_part``, which drop the record (building
``items_by_id`` first, or, for the record's own part, from ``items``), or with
``rtstate._fast.confirmed`` (a ``.done`` that agrees with the deltas: nothing the record
relies on changes, so it stays). Reading ``items_by_id`` of such a state builds it
(``_items_with``) and keeps it.
"""

CallHot: TypeAlias = tuple[str, None, str, ItemState, Map[str, ItemState], TextLog]
"""A streaming state's record of a function call whose arguments stream:
``(item_id, None, response_id, item, items, arguments_log)`` (``None`` where a part's
record, ``Hot``, has its ``content_index``: what tells the two apart).

The arguments deltas' fast path (``rtstate._fold._calls``) keeps the arguments log
here instead of copying the item and updating ``items_by_id`` on every delta:
``items`` is the items map without the new log (``item`` as in it), ``arguments_log``
the log as it is now, ``response_id`` the response the deltas were checked for. Valid
for the reasons ``Hot`` is (only the fast path makes it, after the full checks; every
other new root drops it or, ``confirmed``, changes nothing it relies on).
"""

_set_item_fields: Final = dict_setter(ItemState)
_set_part_fields: Final = dict_setter(
    PartState, "text_log", "transcript_log", "audio_bytes", "audio_ms"
)


def _part_of_record(hot: Hot) -> PartState:
    """The part a streaming record stands for: its ``part`` with the values the deltas
    grew (``attrs.evolve`` of it, without its cost). A new object every call."""
    fields = hot[6].__dict__.copy()
    fields["text_log"] = hot[8]
    fields["transcript_log"] = hot[9]
    fields["audio_bytes"] = hot[10]
    fields["audio_ms"] = hot[11]
    part = object.__new__(PartState)
    _set_part_fields(part, fields)
    return part


class _ItemsBuiltOnRead:
    """``SessionState.items_by_id`` where the instance has none yet: a streaming
    state's, built from its record (``_items_with``) on first read and kept in the
    instance dict (which a later read finds first: this descriptor has no
    ``__set__``, so an instance's own value always wins)."""

    def __get__(self, state: SessionState | None, owner: type | None = None) -> object:
        if state is None:
            return self
        fields = state.__dict__
        hot = fields.get("_hot")
        if hot is None:
            raise AttributeError("items_by_id")
        items = fields["items_by_id"] = _items_with(hot)
        return items


SessionState.items_by_id = _ItemsBuiltOnRead()  # type: ignore[assignment]  # see the class


def _items_with(hot: Hot | CallHot) -> Map[str, ItemState]:
    """The items map a streaming state stands for: ``items`` with ``item`` holding
    the record's part (``_part_of_record``) as part ``content_index``, or a call
    record's arguments log (``attrs.evolve`` of the item, without its cost)."""
    if hot[1] is None:
        call, items = hot[3], hot[4]
        fields = call.__dict__.copy()
        fields["arguments_log"] = hot[5]
        new_call = object.__new__(ItemState)
        _set_item_fields(new_call, fields)
        return items.set(call.id, new_call)
    index, item, items = hot[1], hot[5], hot[7]
    parts = item.parts
    fields = item.__dict__.copy()
    fields["parts"] = (*parts[:index], _part_of_record(hot), *parts[index + 1 :])
    new_item = object.__new__(ItemState)
    _set_item_fields(new_item, fields)
    return items.set(item.id, new_item)
