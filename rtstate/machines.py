"""The finite parts of the protocol: one machine per entity, and the invariants.

Each entity (the session, the input buffer, the active response, an item, a content
part) is one :class:`Machine`: its name, the invariant (an id of :data:`INVARIANTS`) a
missing pair breaks, and its table, ``(phase, input type) -> next phase``.
``rtstate.fold`` looks an input up in the machine of every entity it touches and
*assigns* the phase the table returns; a pair missing from a table breaks the
machine's invariant, and the input is rejected (a ``Diagnostic``, or
``RemoteProtocolError`` when strict).

As in h11's ``_state.py`` (whose ``EVENT_TRIGGERED_TRANSITIONS`` name the next state
for an event and ``STATE_TRIGGERED_TRANSITIONS`` the cases the event alone does not
decide), a machine has two more small tables: ``by_payload``, the pairs whose next
phase depends on the input's payload (a user message is created complete, an
assistant message in progress), and ``undo``, the phase an entity goes back to when
the client event that moved it is given up (rejected by an ``error``, timed out, or
evicted from a full ledger).

A ``None`` phase means "no such entity" (no active response, unknown item, unknown
part); a ``None`` next phase removes the entity. :data:`ACKS` says which server event
acknowledges which client event: the fold settles in-flight client events by it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from types import EllipsisType
from typing import Any, Final, Generic, TypeAlias, TypeVar

import attrs

from .events import client as c
from .events import server as s
from .state import (
    InputBufferPhase,
    ItemPhase,
    PartPhase,
    ResponsePhase,
    SessionPhase,
    TranscriptPhase,
)
from .step import Closed, Resumed

__all__ = [
    "ACKNOWLEDGES",
    "ACKS",
    "INPUT_BUFFER",
    "INVARIANTS",
    "ITEM",
    "MACHINES",
    "PART",
    "RESPONSE",
    "SESSION",
    "TRANSCRIPT",
    "Machine",
    "Table",
]

P = TypeVar("P")
Table: TypeAlias = Mapping[tuple[P | None, type], P | None]
PayloadTable: TypeAlias = Mapping[tuple[P | None, type], tuple[Callable[[Any], bool], P | None]]


@attrs.frozen(eq=False)
class Machine(Mapping[tuple[P | None, type], P | None], Generic[P]):
    """One entity's protocol: ``(phase, input type) -> next phase``, and what breaks.

    A machine is its table (it reads as the ``Mapping`` ``transitions``);
    :meth:`next` also reads ``by_payload``. ``undo`` holds
    ``(phase, client event type) -> phase``: where the entity goes when that client
    event is given up.
    """

    name: str
    invariant: str
    transitions: Mapping[tuple[P | None, type], P | None]
    by_payload: PayloadTable[P] = attrs.field(factory=dict)
    undo: Mapping[tuple[P | None, type], P | None] = attrs.field(factory=dict)

    def __getitem__(self, key: tuple[P | None, type]) -> P | None:
        return self.transitions[key]

    def __iter__(self) -> Iterator[tuple[P | None, type]]:
        return iter(self.transitions)

    def __len__(self) -> int:
        return len(self.transitions)

    def allows(self, phase: P | None, input: object) -> bool:
        """Whether ``input`` may come when the entity is in ``phase``."""
        return (phase, type(input)) in self.transitions

    def next(self, phase: P | None, input: object) -> P | None:
        """The phase ``input`` moves the entity to from ``phase``.

        ``by_payload`` decides where it has an entry whose test holds for ``input``;
        else ``transitions`` does.

        Raises:
            ValueError: the pair is missing: ``input`` breaks :attr:`invariant`.
        """
        key = (phase, type(input))
        refined = self.by_payload.get(key)
        if refined is not None and refined[0](input):
            return refined[1]
        if key not in self.transitions:
            where = "none" if phase is None else getattr(phase, "value", phase)
            raise ValueError(
                f"{self.invariant}: {type(input).__name__} is not allowed "
                f"when {self.name} is {where}"
            )
        return self.transitions[key]


def _from_each(phases: Iterable[P | None], input: type, to: P | EllipsisType | None) -> Table[P]:
    """``input`` moves the entity from every one of ``phases`` to ``to`` (``...``: each
    stays in its phase)."""
    return {(phase, input): phase if to is ... else to for phase in phases}


_OPEN, _CONNECTING, _CLOSED = SessionPhase.OPEN, SessionPhase.CONNECTING, SessionPhase.CLOSED

SESSION: Final[Machine[SessionPhase]] = Machine(
    name="session",
    invariant="INV-1",
    transitions={
        (_CONNECTING, s.SessionCreated): _OPEN,
        (_OPEN, s.SessionUpdated): _OPEN,
        (_OPEN, s.ConversationCreated): _OPEN,
        # the transport closes once; a resumed session starts over
        (_CONNECTING, Closed): _CLOSED,
        (_OPEN, Closed): _CLOSED,
        **_from_each(SessionPhase, Resumed, _CONNECTING),
    },
)
"""The session: ``session.created`` exactly once and first (INV-1)."""

_IDLE, _SPEECH = InputBufferPhase.IDLE, InputBufferPhase.SPEECH

INPUT_BUFFER: Final[Machine[InputBufferPhase]] = Machine(
    name="input_buffer",
    invariant="INV-13",
    transitions={
        (_IDLE, s.InputAudioBufferSpeechStarted): _SPEECH,
        (_SPEECH, s.InputAudioBufferSpeechStopped): _IDLE,
        # A manual commit may land mid-speech; the speech goes on.
        (_IDLE, s.InputAudioBufferCommitted): _IDLE,
        (_SPEECH, s.InputAudioBufferCommitted): _SPEECH,
        (_IDLE, s.InputAudioBufferCleared): _IDLE,
        (_SPEECH, s.InputAudioBufferCleared): _IDLE,
        # GA: the idle timeout fires only while nobody speaks
        (_IDLE, s.InputAudioBufferTimeoutTriggered): _IDLE,
        **_from_each(InputBufferPhase, Resumed, _IDLE),
    },
)
"""Server VAD: started -> stopped, commits anywhere (INV-13)."""

_ACTIVE = ResponsePhase.IN_PROGRESS

RESPONSE: Final[Machine[ResponsePhase]] = Machine(
    name="response",
    invariant="INV-4",
    transitions={
        (None, s.ResponseCreated): _ACTIVE,
        (_ACTIVE, s.ResponseOutputItemAdded): _ACTIVE,
        (_ACTIVE, s.ResponseOutputItemDone): _ACTIVE,
        (_ACTIVE, s.ResponseContentPartAdded): _ACTIVE,
        (_ACTIVE, s.ResponseContentPartDone): _ACTIVE,
        (_ACTIVE, s.ResponseTextDelta): _ACTIVE,
        (_ACTIVE, s.ResponseTextDone): _ACTIVE,
        (_ACTIVE, s.ResponseAudioTranscriptDelta): _ACTIVE,
        (_ACTIVE, s.ResponseAudioTranscriptDone): _ACTIVE,
        (_ACTIVE, s.ResponseAudioDelta): _ACTIVE,
        (_ACTIVE, s.ResponseAudioDone): _ACTIVE,
        (_ACTIVE, s.ResponseFunctionCallArgumentsDelta): _ACTIVE,
        (_ACTIVE, s.ResponseFunctionCallArgumentsDone): _ACTIVE,
        # GA: an MCP call's arguments stream like a function call's
        (_ACTIVE, s.ResponseMcpCallArgumentsDelta): _ACTIVE,
        (_ACTIVE, s.ResponseMcpCallArgumentsDone): _ACTIVE,
        # done: no response is active (the finished one joins the history, DONE)
        (_ACTIVE, s.ResponseDone): None,
        (_ACTIVE, Resumed): None,
    },
)
"""A response in progress, each one by its id: every response event between its
created and done (INV-4). Several may be in progress; at most one of the default
conversation (INV-5, checked by the fold: out-of-band responses run beside it)."""

_ANN, _ITEM, _DONE = ItemPhase.ANNOUNCED, ItemPhase.IN_PROGRESS, ItemPhase.DONE
_PENDING = ItemPhase.PENDING
_FINAL_STATUSES: Final = frozenset({"completed", "incomplete"})
_INPUT_ROLES: Final = frozenset({"user", "system"})
# GA MCP items that arrive whole (no event streams into them): the service's question
# and the client's answer
_WHOLE_TYPES: Final = frozenset(
    {"function_call_output", "mcp_approval_request", "mcp_approval_response"}
)


def _created_complete(event: s.ConversationItemCreated | s.ConversationItemAdded) -> bool:
    """The item arrives final: its status says so, or it is one no response streams (a
    function_call_output, a user or system message; servers leave ``status`` out of
    function_call_output items; GA MCP approval requests and responses have none)."""
    item = event.item
    status = item.status
    if status is None:
        return item.type in _WHOLE_TYPES or item.role in _INPUT_ROLES
    return status in _FINAL_STATUSES


ITEM: Final[Machine[ItemPhase]] = Machine(
    name="item",
    invariant="INV-7",
    transitions={
        # This client created it (with an id): shown at once, not yet in the order.
        (None, c.ConversationItemCreate): _PENDING,
        # The server confirms (its copy replaces ours); complete ones: by_payload.
        (_PENDING, s.ConversationItemCreated): _ITEM,
        (_PENDING, s.ConversationItemInputAudioTranscriptionCompleted): _PENDING,
        (_PENDING, s.ConversationItemInputAudioTranscriptionFailed): _PENDING,
        (None, s.ResponseOutputItemAdded): _ANN,
        # Created first, announced second: reconciled (the reverse of the usual order).
        (_ITEM, s.ResponseOutputItemAdded): _ITEM,
        (None, s.ConversationItemCreated): _ITEM,
        (_ANN, s.ConversationItemCreated): _ITEM,
        (_ANN, s.ResponseOutputItemDone): _DONE,
        (_ITEM, s.ResponseOutputItemDone): _DONE,
        (_ANN, s.ResponseContentPartAdded): _ANN,
        (_ITEM, s.ResponseContentPartAdded): _ITEM,
        (_ANN, s.ResponseFunctionCallArgumentsDelta): _ANN,
        (_ITEM, s.ResponseFunctionCallArgumentsDelta): _ITEM,
        (_ANN, s.ResponseFunctionCallArgumentsDone): _ANN,
        (_ITEM, s.ResponseFunctionCallArgumentsDone): _ITEM,
        # an item still open at response.done is closed there (noted: INV-12)
        (_ANN, s.ResponseDone): _DONE,
        (_ITEM, s.ResponseDone): _DONE,
        (_ITEM, s.ConversationItemDeleted): None,
        (_DONE, s.ConversationItemDeleted): None,
        # a truncate may cut an item still being generated, even one not yet placed
        (_ANN, s.ConversationItemTruncated): _ANN,
        (_ITEM, s.ConversationItemTruncated): _ITEM,
        (_DONE, s.ConversationItemTruncated): _DONE,
        # Input transcription may arrive before its item exists, or long after.
        (None, s.ConversationItemInputAudioTranscriptionCompleted): None,
        (_ITEM, s.ConversationItemInputAudioTranscriptionCompleted): _ITEM,
        (_DONE, s.ConversationItemInputAudioTranscriptionCompleted): _DONE,
        (None, s.ConversationItemInputAudioTranscriptionFailed): None,
        (_ITEM, s.ConversationItemInputAudioTranscriptionFailed): _ITEM,
        (_DONE, s.ConversationItemInputAudioTranscriptionFailed): _DONE,
        # GA: ``conversation.item.added`` is what ``.created`` is in the beta protocol
        (_PENDING, s.ConversationItemAdded): _ITEM,
        (None, s.ConversationItemAdded): _ITEM,
        (_ANN, s.ConversationItemAdded): _ITEM,
        # GA: ``conversation.item.done`` after ``.added``; a response's output item is
        # still finished by ``response.output_item.done``, which follows it
        (_ITEM, s.ConversationItemDone): _ITEM,
        (_DONE, s.ConversationItemDone): _DONE,
        (_ITEM, s.ConversationItemRetrieved): _ITEM,
        (_DONE, s.ConversationItemRetrieved): _DONE,
        # GA: streamed and diarized input transcription, as the whole transcript above
        (None, s.ConversationItemInputAudioTranscriptionDelta): None,
        (_PENDING, s.ConversationItemInputAudioTranscriptionDelta): _PENDING,
        (_ITEM, s.ConversationItemInputAudioTranscriptionDelta): _ITEM,
        (_DONE, s.ConversationItemInputAudioTranscriptionDelta): _DONE,
        (None, s.ConversationItemInputAudioTranscriptionSegment): None,
        (_PENDING, s.ConversationItemInputAudioTranscriptionSegment): _PENDING,
        (_ITEM, s.ConversationItemInputAudioTranscriptionSegment): _ITEM,
        (_DONE, s.ConversationItemInputAudioTranscriptionSegment): _DONE,
        # GA MCP calls: an mcp_call output item streams its arguments, then runs; its
        # end may be reported after output_item.done finished the item
        **_from_each((_ANN, _ITEM), s.ResponseMcpCallArgumentsDelta, ...),
        **_from_each((_ANN, _ITEM), s.ResponseMcpCallArgumentsDone, ...),
        **_from_each((_ANN, _ITEM), s.ResponseMcpCallInProgress, ...),
        **_from_each((_ANN, _ITEM, _DONE), s.ResponseMcpCallCompleted, ...),
        **_from_each((_ANN, _ITEM, _DONE), s.ResponseMcpCallFailed, ...),
        # GA: an mcp_list_tools item (no response's output) is done when the listing
        # ends, completed or failed; an unknown item is tolerated, as for transcription
        **_from_each((None, _ITEM, _DONE), s.McpListToolsInProgress, ...),
        (None, s.McpListToolsCompleted): None,
        (_ITEM, s.McpListToolsCompleted): _DONE,
        (_DONE, s.McpListToolsCompleted): _DONE,
        (None, s.McpListToolsFailed): None,
        (_ITEM, s.McpListToolsFailed): _DONE,
        (_DONE, s.McpListToolsFailed): _DONE,
        **_from_each(ItemPhase, Resumed, None),
    },
    by_payload={
        # created complete (a user message, a function_call_output): final at once
        (None, s.ConversationItemCreated): (_created_complete, _DONE),
        (_PENDING, s.ConversationItemCreated): (_created_complete, _DONE),
        (None, s.ConversationItemAdded): (_created_complete, _DONE),
        (_PENDING, s.ConversationItemAdded): (_created_complete, _DONE),
    },
    # the item this client created goes if its create is rejected, times out or is evicted
    undo={(_PENDING, c.ConversationItemCreate): None},
)
"""An item: announced, placed, streamed, finished, deleted (INV-6, 7, 10, 15)."""

_STREAMING, _PART_DONE = PartPhase.STREAMING, PartPhase.DONE

PART: Final[Machine[PartPhase]] = Machine(
    name="part",
    invariant="INV-8",
    transitions={
        (None, s.ResponseContentPartAdded): _STREAMING,
        (_STREAMING, s.ResponseTextDelta): _STREAMING,
        (_STREAMING, s.ResponseTextDone): _STREAMING,
        (_STREAMING, s.ResponseAudioTranscriptDelta): _STREAMING,
        (_STREAMING, s.ResponseAudioTranscriptDone): _STREAMING,
        (_STREAMING, s.ResponseAudioDelta): _STREAMING,
        (_STREAMING, s.ResponseAudioDone): _STREAMING,
        (_STREAMING, s.ResponseContentPartDone): _PART_DONE,
        # A part that comes in an item's snapshot is final.
        (None, s.ConversationItemCreated): _PART_DONE,
        (None, s.ConversationItemAdded): _PART_DONE,
        (None, s.ResponseOutputItemAdded): _PART_DONE,
        (None, s.ResponseOutputItemDone): _PART_DONE,
        (None, c.ConversationItemCreate): _PART_DONE,
        # a part still open when its item or response ends is closed (noted: INV-8, 12)
        **_from_each((_STREAMING, _PART_DONE), s.ResponseOutputItemDone, _PART_DONE),
        **_from_each((_STREAMING, _PART_DONE), s.ResponseDone, _PART_DONE),
    },
)
"""A content part: added, deltas, done values, part done (INV-8). A part lives and
goes with its item."""

_TSTREAMING: Final = TranscriptPhase.STREAMING
_TDONE: Final = TranscriptPhase.DONE
_FAILED: Final = TranscriptPhase.FAILED
_DELTA: Final = s.ConversationItemInputAudioTranscriptionDelta
_SEGMENT: Final = s.ConversationItemInputAudioTranscriptionSegment
_COMPLETED: Final = s.ConversationItemInputAudioTranscriptionCompleted
_TFAILED: Final = s.ConversationItemInputAudioTranscriptionFailed

TRANSCRIPT: Final[Machine[TranscriptPhase]] = Machine(
    name="transcript",
    invariant="INV-14",
    transitions={
        # deltas and segments stream (a transcript may begin with either)
        **_from_each((None, _TSTREAMING), _DELTA, _TSTREAMING),
        **_from_each((None, _TSTREAMING), _SEGMENT, _TSTREAMING),
        # a diarized segment may trail the completed transcript
        (_TDONE, _SEGMENT): _TDONE,
        # completed or failed ends it (the beta protocol streams no deltas); a later
        # one replaces the result, as it replaces the item's transcript
        **_from_each((None, _TSTREAMING, _TDONE, _FAILED), _COMPLETED, _TDONE),
        **_from_each((None, _TSTREAMING, _TDONE, _FAILED), _TFAILED, _FAILED),
    },
)
"""An input transcript (``SessionState.transcripts``): no delta follows its end (a
trailing segment, or a result replacing the last, may); a transcript evicted by
``Config.max_transcripts`` starts over."""

MACHINES: Final[tuple[Machine[Any], ...]] = (
    SESSION,
    INPUT_BUFFER,
    RESPONSE,
    ITEM,
    PART,
    TRANSCRIPT,
)
"""Every entity machine."""

ACKS: Final[Mapping[type, tuple[type, ...]]] = {
    c.SessionUpdate: (s.SessionUpdated,),
    c.ConversationItemCreate: (s.ConversationItemCreated, s.ConversationItemAdded),
    c.ConversationItemDelete: (s.ConversationItemDeleted,),
    c.ConversationItemTruncate: (s.ConversationItemTruncated,),
    c.InputAudioBufferCommit: (s.InputAudioBufferCommitted,),
    c.InputAudioBufferClear: (s.InputAudioBufferCleared,),
    c.ResponseCreate: (s.ResponseCreated,),
    c.ResponseCancel: (s.ResponseDone,),
    c.ConversationItemRetrieve: (s.ConversationItemRetrieved,),
    c.OutputAudioBufferClear: (s.OutputAudioBufferCleared,),
    c.InputAudioBufferAppend: (),
    c.UnknownClientEvent: (),
}
"""Client event type -> the server events that acknowledge it (beta, GA); ``()``:
nothing does, and the ledger only remembers the event for a while, so a late
``error`` can still name it."""

ACKNOWLEDGES: Final[Mapping[type, type]] = {
    answer: sent for sent, answers in ACKS.items() for answer in answers
}
"""Server event type -> the client event type it acknowledges (:data:`ACKS` read
backwards: each server event answers one kind of client event)."""

INVARIANTS: Final[Mapping[str, str]] = {
    "INV-1": "the first server event is session.created; it occurs exactly once",
    "INV-2": "conversation.created occurs at most once, before any conversation.item.* / "
    "response.* event",
    "INV-3": "every session.update gets exactly one of session.updated / error; "
    "session.updated carries a complete session object",
    "INV-4": "each response has exactly one response.created and one later response.done; "
    "its events lie strictly between them",
    "INV-5": "at most one response of the default conversation is in progress at a time",
    "INV-6": "output_index of output_item.added is 0,1,2,... per response, one item each; "
    "output_item.done follows its added and precedes response.done",
    "INV-7": "output_item.added(X) precedes conversation.item.created(X) (GA: "
    "conversation.item.added(X)), which precedes every part, delta and done event of X; "
    "in GA, conversation.item.done(X) precedes output_item.done(X)",
    "INV-8": "content_part.added precedes the part's deltas; its done events follow them and "
    "precede content_part.done, which precedes output_item.done; content_index is 0,1,...",
    "INV-9": "done values equal the concatenated deltas (but a transcript truncated while "
    "streaming, which is dropped); content_part.done and the item snapshots carry the same "
    "text / transcript / arguments",
    "INV-10": "function_call_arguments.* refer to function_call items and carry their "
    "call_id; function_call items get no content part, text or audio events",
    "INV-11": "response.done.output lists exactly the items of output_item.added, in "
    "output_index order, as in their output_item.done snapshots, without audio bytes",
    "INV-12": "every opened part and item is closed before response.done; the final status "
    "is completed/cancelled/failed/incomplete with consistent status_details",
    "INV-13": "speech_started(X) -> speech_stopped(X) -> committed(X) -> "
    "conversation.item.created(X) (GA: conversation.item.added(X)); each commit yields "
    "exactly one item X (none in a GA transcription session)",
    "INV-14": "input audio transcription completed/failed(X) comes after committed(X) "
    "(GA may stream its deltas while the user still speaks); its deltas precede the "
    "completed or failed that ends X's transcript",
    "INV-15": "previous_item_id is null or names an item that exists at that moment; "
    "an item is created once",
    "INV-16": "every conversation.item.truncated / deleted / input_audio_buffer.cleared "
    "answers exactly one client truncate / delete / clear",
    "INV-17": "error and rate_limits.updated open and close nothing; an error names at "
    "most one client event, one that was sent",
    "ID-1": "server event_ids are unique within a session",
    "REQ-1": "every client conversation.item.create gets exactly one "
    "conversation.item.created (with its id, if it chose one) or error",
}
"""The protocol's invariants, by the id a ``Diagnostic`` (``rtstate.fold``) or a
``Violation`` (``rtstate.testing.invariants.check_stream``) carries."""
