"""The finite parts of the protocol, as tables: (phase, input type) -> next phase.

One table per entity: the session, the input buffer, the active response, an item,
a content part. ``rtstate.fold`` looks an input up in the table of every entity it
touches; a pair missing from a table breaks the invariant the table names, and the
input is rejected (a ``Diagnostic``, or ``RemoteProtocolError`` when strict).

A ``None`` phase means "no such entity yet" (no active response, unknown item,
unknown part).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeAlias, TypeVar

from .events import client as c
from .events import server as s
from .state import InputPhase, ItemPhase, PartPhase, ResponsePhase, SessionPhase

__all__ = [
    "ACKS",
    "INPUT_BUFFER",
    "ITEM",
    "PART",
    "RESPONSE",
    "SESSION",
    "Table",
]

P = TypeVar("P")
Table: TypeAlias = Mapping[tuple[P | None, type], P | None]

_OPEN = SessionPhase.OPEN

SESSION: Final[Table[SessionPhase]] = {
    (SessionPhase.CONNECTING, s.SessionCreated): _OPEN,
    (_OPEN, s.SessionUpdated): _OPEN,
    (_OPEN, s.ConversationCreated): _OPEN,
}
"""The session: ``session.created`` exactly once and first (INV-1)."""

_IDLE, _SPEECH = InputPhase.IDLE, InputPhase.SPEECH

INPUT_BUFFER: Final[Table[InputPhase]] = {
    (_IDLE, s.InputAudioBufferSpeechStarted): _SPEECH,
    (_SPEECH, s.InputAudioBufferSpeechStopped): _IDLE,
    # A manual commit may land mid-speech; the speech goes on (reference 6, #13).
    (_IDLE, s.InputAudioBufferCommitted): _IDLE,
    (_SPEECH, s.InputAudioBufferCommitted): _SPEECH,
    (_IDLE, s.InputAudioBufferCleared): _IDLE,
    (_SPEECH, s.InputAudioBufferCleared): _IDLE,
    # GA: the idle timeout fires only while nobody speaks
    (_IDLE, s.InputAudioBufferTimeoutTriggered): _IDLE,
}
"""Server VAD: started -> stopped, commits anywhere (INV-13)."""

_ACTIVE = ResponsePhase.IN_PROGRESS

RESPONSE: Final[Table[ResponsePhase]] = {
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
    (_ACTIVE, s.ResponseDone): None,
}
"""One response at a time; every response event between its created and done (INV-4, 5)."""

_ANN, _ITEM, _DONE = ItemPhase.ANNOUNCED, ItemPhase.IN_PROGRESS, ItemPhase.DONE
_PENDING = ItemPhase.PENDING

ITEM: Final[Table[ItemPhase]] = {
    # This client created it; the server confirms (its copy replaces ours).
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
}
"""An item: announced, placed, streamed, finished, deleted (INV-6, 7, 10, 15)."""

_STREAMING, _PART_DONE = PartPhase.STREAMING, PartPhase.DONE

PART: Final[Table[PartPhase]] = {
    (None, s.ResponseContentPartAdded): _STREAMING,
    (_STREAMING, s.ResponseTextDelta): _STREAMING,
    (_STREAMING, s.ResponseTextDone): _STREAMING,
    (_STREAMING, s.ResponseAudioTranscriptDelta): _STREAMING,
    (_STREAMING, s.ResponseAudioTranscriptDone): _STREAMING,
    (_STREAMING, s.ResponseAudioDelta): _STREAMING,
    (_STREAMING, s.ResponseAudioDone): _STREAMING,
    (_STREAMING, s.ResponseContentPartDone): _PART_DONE,
}
"""A content part: added, deltas, done values, part done (INV-8)."""

ACKS: Final[Mapping[type, type | None]] = {
    c.SessionUpdate: s.SessionUpdated,
    c.ConversationItemCreate: s.ConversationItemCreated,
    c.ConversationItemDelete: s.ConversationItemDeleted,
    c.ConversationItemTruncate: s.ConversationItemTruncated,
    c.InputAudioBufferCommit: s.InputAudioBufferCommitted,
    c.InputAudioBufferClear: s.InputAudioBufferCleared,
    c.ResponseCreate: s.ResponseCreated,
    c.ResponseCancel: s.ResponseDone,
    c.ConversationItemRetrieve: s.ConversationItemRetrieved,
    c.OutputAudioBufferClear: s.OutputAudioBufferCleared,
    c.InputAudioBufferAppend: None,
    c.UnknownClientEvent: None,
}
"""Client event type -> the server event that acknowledges it (``None``: nothing does;
the ledger only remembers it for a while, so a late ``error`` can still name it)."""

INVARIANT: Final[Mapping[str, str]] = {
    "session": "INV-1",
    "input": "INV-13",
    "response": "INV-4",
    "item": "INV-7",
    "part": "INV-8",
}
"""The invariant a missing pair in each table breaks."""
