"""Checkers for the protocol's ordering invariants (``rtstate.machines.INVARIANTS``).

``check_stream(events)`` reads a server stream (event values in arrival order) and
returns every :class:`Violation` it finds; ``assert_valid_stream`` raises instead.
Pure Python: this module does not need hypothesis.

The checker accepts what real servers send (the captures in tests/data/corpus and
their notes): ``response.output_item.added`` before ``conversation.item.created``,
``error`` and ``rate_limits.updated`` (also with an empty list) anywhere after
``session.created``, input transcription anywhere after the commit, no
``conversation.created``, and unknown event types (``UnknownServerEvent``, such as
Azure's ``conversation.item.done`` in a beta stream), which it skips entirely.

It reads both dialects (their event classes are shared). GA's ``conversation.item.added``
stands for ``conversation.item.created`` in every invariant; GA's own orders are
checked too: ``conversation.item.done`` finalises an item that was added, once (INV-15),
and for a response's output item before its ``response.output_item.done`` (INV-7);
input transcription ``.delta`` and ``.segment`` events come after the item's
``speech_started`` or commit (real servers stream them while the user speaks) and
before its ``completed`` / ``failed`` (INV-14).

Some invariants need the client side: INV-3 (every ``session.update`` answered),
INV-16 (every truncate / delete / clear answered), the error correlation part of
INV-17, the manual-commit part of INV-13 and REQ-1 (every ``conversation.item.create``
answered) are checked only when ``client_events`` is given. Without a
client stream, the server-only parts of them are still checked.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from typing import Any, Final, cast

import attrs

from ..events.client import (
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemTruncate,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    SessionUpdate,
    UnknownClientEvent,
)
from ..events.payloads import UNSET, Item, ItemType, ResponseInfo
from ..events.server import (
    ConversationCreated,
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemDeleted,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemInputAudioTranscriptionSegment,
    ConversationItemTruncated,
    Error,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioBufferTimeoutTriggered,
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
    UnknownServerEvent,
)
from ..machines import INVARIANTS
from .script import Script

__all__ = [
    "DEFAULT_TOLERANCES",
    "INVARIANTS",
    "KNOWN_QUIRKS",
    "Violation",
    "assert_valid_stream",
    "check_script",
    "check_stream",
    "format_violations",
]

KNOWN_QUIRKS: Final[Mapping[str, str]] = {
    "empty_part_text_at_done": (
        "Azure Voice Live sends response.content_part.done with part.text == '' for text "
        "parts; the full text is in response.text.done and in the item snapshots "
        "(seen in every text response of the corpus's azure-voice-live captures). "
        "Tolerated: an empty text in content_part.done is not an INV-9 violation."
    ),
}
"""Deviations of real servers from the invariants that ``check_stream`` can tolerate."""

DEFAULT_TOLERANCES: Final[frozenset[str]] = frozenset(KNOWN_QUIRKS)
"""The quirks tolerated unless told otherwise: all known ones, as real traffic has them."""

_FINAL_STATUSES: Final = frozenset({"completed", "cancelled", "failed", "incomplete"})
_REASONS: Final[Mapping[str, frozenset[str]]] = {
    "cancelled": frozenset({"turn_detected", "client_cancelled"}),
    "incomplete": frozenset({"max_output_tokens", "content_filter"}),
}
_COMPLETE_SESSION_FIELDS: Final = (
    "modalities",
    "instructions",
    "voice",
    "input_audio_format",
    "output_audio_format",
    "input_audio_transcription",
    "turn_detection",
    "tools",
    "tool_choice",
    "max_response_output_tokens",
)
_NULLABLE_SESSION_FIELDS: Final = frozenset({"input_audio_transcription", "turn_detection"})


@attrs.frozen
class Violation:
    """One broken invariant.

    ``invariant`` is an id of :data:`INVARIANTS` (``"INV-4"``); ``index`` is the
    position in the server stream of the event at fault, or ``None`` when the fault is
    something missing that no event stands for (an unanswered client event).
    """

    invariant: str
    index: int | None
    message: str

    def __str__(self) -> str:
        where = "end of stream" if self.index is None else f"event {self.index}"
        return f"{self.invariant} at {where}: {self.message}"


# --- tracking state ---------------------------------------------------------------------


class _Part:
    __slots__ = (
        "audio_done",
        "closed",
        "index",
        "kind",
        "text",
        "text_done",
        "transcript",
        "transcript_done",
        "truncated",
    )

    def __init__(self, kind: str | None, index: int) -> None:
        self.kind = kind
        self.index = index
        self.text: list[str] = []
        self.transcript: list[str] = []
        self.text_done: str | None = None
        self.transcript_done: str | None = None
        self.audio_done = False
        self.closed = False
        self.truncated = False  # cut while streaming: its transcript is dropped


_UNKNOWN_KIND: Final = cast("ItemType", "unknown")
"""The kind of an output item a partial stream never showed (outside the protocol's
set on purpose: a later event may tell what it was)."""


class _Out:
    """An output item of a response."""

    __slots__ = (
        "added_at",
        "args",
        "args_done",
        "call_id",
        "done",
        "id",
        "name",
        "output_index",
        "partial",
        "parts",
        "response",
        "type",
    )

    def __init__(self, item: Item, response: _Resp, output_index: int, at: int) -> None:
        self.id = item.id
        self.type: str = item.type
        self.call_id = item.call_id
        self.name = item.name
        self.response = response
        self.output_index = output_index
        self.added_at = at
        self.parts: dict[int, _Part] = {}
        self.args: list[str] = []
        self.args_done: str | None = None
        self.done: Item | None = None
        self.partial = False


class _Resp:
    __slots__ = ("bound", "created_at", "done_at", "id", "items", "partial")

    def __init__(self, rid: str, created_at: int | None, bound: bool) -> None:
        self.id = rid
        self.created_at = created_at
        self.done_at: int | None = None
        self.items: list[_Out] = []
        self.bound = bound
        self.partial = created_at is None


def _is_bound(info: ResponseInfo) -> bool:
    """Whether a response belongs to the default conversation.

    Responses of the 2025 shape (which carries ``modalities``) name their conversation
    in ``conversation_id``; a null one there means out-of-band (``conversation:
    "none"``). The Oct 2024 shape has neither field: all its responses are bound.
    """
    return not (info.conversation_id is None and info.modalities is not None)


def _describe(event: object) -> str:
    return getattr(event, "type", type(event).__name__)


# --- the checker --------------------------------------------------------------------------


class _Checker:
    def __init__(self, *, from_start: bool, complete: bool, tolerate: Collection[str]) -> None:
        self.from_start = from_start
        self.complete = complete
        self.tolerate = frozenset(tolerate)
        self.out: list[Violation] = []
        self.first_known_seen = False
        self.session_created = 0
        self.conversation_created = 0
        self.item_or_response_seen = False
        self.event_ids: set[str] = set()
        self.responses: dict[str, _Resp] = {}
        self.active_bound: _Resp | None = None
        self.outputs: dict[str, _Out] = {}
        self.created: set[str] = set()
        self.existing: set[str] = set()
        self.transcribing = False  # a GA transcription session: no conversation
        self.deleted: set[str] = set()
        self.committed: dict[str, int] = {}
        self.speech_started: dict[str, int] = {}
        self.speech_stopped: set[str] = set()
        self.timed_out: set[str] = set()  # GA idle timeouts: the server's own commits
        self.ga_added: set[str] = set()  # items added by GA's conversation.item.added
        self.items_done: set[str] = set()  # items GA's conversation.item.done finalised
        self.transcribed: set[str] = set()  # items whose transcription completed or failed
        self.open_speech: str | None = None
        self.assistant_messages: set[str] = set()
        self.acks: list[tuple[int, ServerEvent]] = []
        self.created_at: list[tuple[int, str]] = []
        self.manual_commits: list[int] = []
        self.errors: list[tuple[int, Error]] = []
        self.session_updated: list[int] = []
        self.handlers: dict[type, Callable[[int, Any], None]] = {
            SessionCreated: self.session_created_,
            SessionUpdated: self.session_updated_,
            ConversationCreated: self.conversation_created_,
            ConversationItemCreated: self.item_created,
            ConversationItemAdded: self.item_added,  # GA's name for the same event
            ConversationItemDone: self.item_done,
            ConversationItemInputAudioTranscriptionDelta: self.transcription_part,
            ConversationItemInputAudioTranscriptionSegment: self.transcription_part,
            ConversationItemDeleted: self.item_deleted,
            ConversationItemTruncated: self.item_truncated,
            InputAudioBufferCleared: self.buffer_cleared,
            InputAudioBufferCommitted: self.committed_,
            InputAudioBufferSpeechStarted: self.speech_started_,
            InputAudioBufferSpeechStopped: self.speech_stopped_,
            InputAudioBufferTimeoutTriggered: lambda i, e: self.timed_out.add(e.item_id),
            ConversationItemInputAudioTranscriptionCompleted: self.transcription,
            ConversationItemInputAudioTranscriptionFailed: self.transcription,
            ResponseCreated: self.response_created,
            ResponseDone: self.response_done,
            ResponseOutputItemAdded: self.output_item_added,
            ResponseOutputItemDone: self.output_item_done,
            ResponseContentPartAdded: self.part_added,
            ResponseContentPartDone: self.part_done,
            ResponseTextDelta: self.text_delta,
            ResponseTextDone: self.text_done,
            ResponseAudioTranscriptDelta: self.transcript_delta,
            ResponseAudioTranscriptDone: self.transcript_done,
            ResponseAudioDelta: self.audio_delta,
            ResponseAudioDone: self.audio_done,
            ResponseFunctionCallArgumentsDelta: self.args_delta,
            ResponseFunctionCallArgumentsDone: self.args_done,
            Error: self.error,
        }

    def flag(self, invariant: str, index: int | None, message: str) -> None:
        self.out.append(Violation(invariant, index, message))

    # -- driving -------------------------------------------------------------------------

    def run(self, events: Sequence[ServerEvent | UnknownServerEvent]) -> None:
        for i, event in enumerate(events):
            if isinstance(event, UnknownServerEvent) or not isinstance(event, ServerEvent):
                continue
            if event.event_id in self.event_ids:
                self.flag("ID-1", i, f"event_id {event.event_id!r} was already used")
            self.event_ids.add(event.event_id)
            if not self.first_known_seen:
                self.first_known_seen = True
                if self.from_start and not isinstance(event, SessionCreated):
                    self.flag("INV-1", i, f"the first server event is {event.type}")
            if isinstance(
                event, ConversationItemCreated | ConversationItemAdded | ResponseCreated
            ) or (event.type.startswith("response.")):
                self.item_or_response_seen = True
            handler = self.handlers.get(type(event))
            if handler is not None:
                handler(i, event)
        if self.complete:
            self.finish()

    def finish(self) -> None:
        for r in self.responses.values():
            if r.done_at is None and not r.partial:
                self.flag("INV-4", r.created_at, f"response {r.id} never got response.done")
        for item_id, at in self.committed.items():
            if item_id not in self.created:
                self.flag(
                    "INV-13", at, f"committed item {item_id} never got conversation.item.created"
                )

    # -- session -------------------------------------------------------------------------

    def session_created_(self, i: int, e: SessionCreated) -> None:
        self.transcribing = e.session.type == "transcription"
        self.session_created += 1
        if self.session_created > 1:
            self.flag("INV-1", i, "session.created occurs more than once")

    def session_updated_(self, i: int, e: SessionUpdated) -> None:
        self.transcribing = e.session.type == "transcription"
        self.session_updated.append(i)
        for name in _COMPLETE_SESSION_FIELDS:
            value = getattr(e.session, name)
            if value is UNSET or (value is None and name not in _NULLABLE_SESSION_FIELDS):
                self.flag("INV-3", i, f"session.updated lacks session.{name}")

    def conversation_created_(self, i: int, e: ConversationCreated) -> None:
        self.conversation_created += 1
        if self.conversation_created > 1:
            self.flag("INV-2", i, "conversation.created occurs more than once")
        elif self.item_or_response_seen:
            self.flag("INV-2", i, "conversation.created after conversation items or responses")

    # -- conversation --------------------------------------------------------------------

    def check_previous(self, i: int, previous: str | None, what: str, own: str | None) -> None:
        if previous is None:
            return
        if previous == own:
            self.flag("INV-15", i, f"{what}: previous_item_id names the item itself")
        elif previous not in self.existing and (self.from_start or previous in self.deleted):
            state = "was deleted" if previous in self.deleted else "does not exist"
            self.flag("INV-15", i, f"{what}: previous_item_id {previous!r} {state}")

    def item_created(self, i: int, e: ConversationItemCreated | ConversationItemAdded) -> None:
        item_id = e.item.id
        self.check_previous(i, e.previous_item_id, "conversation.item.created", item_id)
        if item_id is None:
            self.flag("INV-15", i, "conversation.item.created without an item id")
            return
        if item_id in self.created:
            self.flag("INV-15", i, f"item {item_id} is created a second time")
        if item_id in self.speech_started and item_id not in self.committed:
            self.flag("INV-13", i, f"item {item_id} created before input_audio_buffer.committed")
        self.created.add(item_id)
        if e.item.type != "mcp_list_tools":  # GA: the service adds those on its own
            self.created_at.append((i, item_id))
        self.existing.add(item_id)
        self.deleted.discard(item_id)
        if e.item.type == "message" and e.item.role == "assistant":
            self.assistant_messages.add(item_id)

    def item_added(self, i: int, e: ConversationItemAdded) -> None:
        if e.item.id is not None:
            self.ga_added.add(e.item.id)
        self.item_created(i, e)

    def item_done(self, i: int, e: ConversationItemDone) -> None:
        item_id = e.item.id
        if item_id is None:
            self.flag("INV-15", i, "conversation.item.done without an item id")
            return
        self.check_previous(i, e.previous_item_id, "conversation.item.done", item_id)
        if item_id in self.items_done:
            self.flag("INV-15", i, f"conversation.item.done({item_id}) occurs twice")
        elif item_id not in self.existing and (self.from_start or item_id in self.deleted):
            state = "was deleted" if item_id in self.deleted else "was never added"
            self.flag("INV-15", i, f"conversation.item.done for {item_id}, which {state}")
        out = self.outputs.get(item_id)
        if out is not None and out.done is not None and out.response.bound:
            self.flag("INV-7", i, f"conversation.item.done({item_id}) after its output_item.done")
        self.items_done.add(item_id)

    def item_deleted(self, i: int, e: ConversationItemDeleted) -> None:
        self.acks.append((i, e))
        if e.item_id not in self.existing and (self.from_start or e.item_id in self.deleted):
            self.flag("INV-16", i, f"deleted item {e.item_id} does not exist (expected an error)")
        self.existing.discard(e.item_id)
        self.deleted.add(e.item_id)

    def item_truncated(self, i: int, e: ConversationItemTruncated) -> None:
        self.acks.append((i, e))
        if e.item_id not in self.existing and (self.from_start or e.item_id in self.deleted):
            self.flag("INV-16", i, f"truncated item {e.item_id} does not exist (expected an error)")
        elif e.item_id in self.created and e.item_id not in self.assistant_messages:
            self.flag("INV-16", i, f"truncated item {e.item_id} is not an assistant message")
        out = self.outputs.get(e.item_id)
        part = None if out is None else out.parts.get(e.content_index)
        if part is not None and part.transcript_done is None:
            # an item still being generated: the truncate drops the transcript so far,
            # so its done value no longer joins the deltas
            part.truncated = True

    def buffer_cleared(self, i: int, e: InputAudioBufferCleared) -> None:
        self.acks.append((i, e))
        self.open_speech = None

    # -- input audio ---------------------------------------------------------------------

    def speech_started_(self, i: int, e: InputAudioBufferSpeechStarted) -> None:
        x = e.item_id
        if x in self.committed:
            self.flag("INV-13", i, f"speech_started({x}) after its commit")
        elif x in self.speech_stopped:
            self.flag("INV-13", i, f"speech_started({x}) after speech_stopped({x})")
        elif x in self.speech_started:
            self.flag("INV-13", i, f"speech_started({x}) occurs twice")
        self.speech_started[x] = i
        self.open_speech = x

    def speech_stopped_(self, i: int, e: InputAudioBufferSpeechStopped) -> None:
        x = e.item_id
        if x in self.speech_stopped:
            self.flag("INV-13", i, f"speech_stopped({x}) occurs twice")
        elif x in self.committed:
            self.flag("INV-13", i, f"speech_stopped({x}) after committed({x})")
        elif x not in self.speech_started and self.open_speech is None and self.from_start:
            # A manual commit in the middle of speech ends the started item early; the
            # stop then names the next item (the item id speech_started gave goes to the commit).
            self.flag("INV-13", i, f"speech_stopped({x}) without a speech_started")
        self.speech_stopped.add(x)
        self.open_speech = None

    def committed_(self, i: int, e: InputAudioBufferCommitted) -> None:
        x = e.item_id
        self.check_previous(i, e.previous_item_id, "input_audio_buffer.committed", x)
        if x in self.committed:
            self.flag("INV-13", i, f"item {x} is committed twice")
        elif x in self.created:
            self.flag("INV-13", i, f"committed({x}) after conversation.item.created({x})")
        self.committed[x] = i
        if self.transcribing:  # no item follows: the commit stands for it
            self.created.add(x)
            self.existing.add(x)
        if x not in self.speech_stopped and x not in self.timed_out:
            # VAD stops the speech (or its idle timeout fires) before committing it:
            # this commit was the client's.
            self.manual_commits.append(i)
        if self.open_speech == x:
            self.open_speech = None

    def transcription(
        self,
        i: int,
        e: ConversationItemInputAudioTranscriptionCompleted
        | ConversationItemInputAudioTranscriptionFailed,
    ) -> None:
        x = e.item_id
        # In a fragment, the commit may precede it; unless the fragment saw the speech.
        if x not in self.committed and (self.from_start or x in self.speech_started):
            self.flag("INV-14", i, f"{e.type} for {x} before input_audio_buffer.committed({x})")
        self.transcribed.add(x)

    def transcription_part(
        self,
        i: int,
        e: ConversationItemInputAudioTranscriptionDelta
        | ConversationItemInputAudioTranscriptionSegment,
    ) -> None:
        """GA's streamed transcription: after the speech started (or the commit), before
        the transcription completes or fails."""
        x = e.item_id
        if x in self.transcribed:
            self.flag("INV-14", i, f"{e.type} for {x} after its transcription ended")
        elif x not in self.committed and x not in self.speech_started and self.from_start:
            self.flag("INV-14", i, f"{e.type} for {x} before its speech or commit")

    # -- responses -----------------------------------------------------------------------

    def response_created(self, i: int, e: ResponseCreated) -> None:
        rid = e.response.id
        if rid is None:  # GA's types make it optional; nothing can follow such a response
            self.flag("INV-4", i, "response.created without a response id")
            return
        known = self.responses.get(rid)
        if known is not None:
            self.flag("INV-4", i, f"response.created({rid}) occurs twice")
            return
        r = _Resp(rid, i, _is_bound(e.response))
        self.responses[rid] = r
        if r.bound:
            active = self.active_bound
            if active is not None and active.done_at is None:
                self.flag(
                    "INV-5", i, f"response {rid} created while response {active.id} is in progress"
                )
            self.active_bound = r

    def response_for(self, i: int, e: Any) -> _Resp | None:
        rid: str = e.response_id
        r = self.responses.get(rid)
        if r is None:
            if self.from_start:
                self.flag("INV-4", i, f"{e.type} for response {rid} before its response.created")
                return None
            r = _Resp(rid, None, True)
            self.responses[rid] = r
        if r.done_at is not None:
            self.flag("INV-4", i, f"{e.type} for response {rid} after its response.done")
        return r

    def output_for(self, i: int, e: Any) -> _Out | None:
        """The output item an event names (by ``item_id``), checked against its response."""
        r = self.response_for(i, e)
        if r is None:
            return None
        out = self.outputs.get(e.item_id)
        if out is None or out.response is not r:
            if r.partial:
                out = _Out(Item(type=_UNKNOWN_KIND, id=e.item_id), r, e.output_index, i)
                out.partial = True
                self.outputs[e.item_id] = out
                return out
            where = "an unknown item" if out is None else f"item of response {out.response.id}"
            self.flag("INV-7", i, f"{e.type} for {where} {e.item_id} of response {r.id}")
            return None
        if e.output_index != out.output_index:
            self.flag(
                "INV-6",
                i,
                f"{e.type} for {out.id} says output_index {e.output_index}, "
                f"the item has {out.output_index}",
            )
        if r.bound and out.id not in self.created and not out.partial:
            self.flag("INV-7", i, f"{e.type} for {out.id} before conversation.item.created")
        return out

    def output_item_added(self, i: int, e: ResponseOutputItemAdded) -> None:
        r = self.response_for(i, e)
        if r is None:
            return
        if e.item.id is None:
            self.flag("INV-6", i, "response.output_item.added without an item id")
            return
        if e.output_index != len(r.items) and not r.partial:
            self.flag(
                "INV-6",
                i,
                f"output_index {e.output_index} where {len(r.items)} was next in response {r.id}",
            )
        if e.item.id in self.outputs:
            self.flag("INV-6", i, f"item {e.item.id} is added a second time")
            return
        if r.bound and e.item.id in self.created:
            self.flag(
                "INV-7", i, f"conversation.item.created({e.item.id}) came before output_item.added"
            )
        out = _Out(e.item, r, e.output_index, i)
        r.items.append(out)
        self.outputs[e.item.id] = out

    def output_item_done(self, i: int, e: ResponseOutputItemDone) -> None:
        r = self.response_for(i, e)
        if r is None:
            return
        matches = [o for o in r.items if o.output_index == e.output_index]
        if not matches:
            if r.partial:
                out = _Out(e.item, r, e.output_index, i)
                out.partial = True
                out.done = e.item
                r.items.append(out)
                return
            self.flag("INV-6", i, f"output_item.done({e.output_index}) without its added")
            return
        out = matches[0]
        if e.item.id != out.id:
            self.flag(
                "INV-6", i, f"output_item.done({e.output_index}) is {e.item.id}, added {out.id}"
            )
        if out.done is not None:
            self.flag("INV-6", i, f"output_item.done for {out.id} occurs twice")
        if r.bound and out.id not in self.created and not out.partial:
            self.flag("INV-7", i, f"output_item.done for {out.id} before conversation.item.created")
        elif r.bound and out.id in self.ga_added and out.id not in self.items_done:
            self.flag("INV-7", i, f"output_item.done for {out.id} before conversation.item.done")
        statusless = e.item.status is None and e.item.type in _STATUSLESS_ITEMS
        if e.item.status not in ("completed", "incomplete") and not statusless:
            self.flag("INV-12", i, f"output_item.done item status is {e.item.status!r}")
        for part in out.parts.values():
            if not part.closed:
                self.flag(
                    "INV-8",
                    i,
                    f"output_item.done for {out.id} before content_part.done({part.index})",
                )
        if out.args and out.args_done is None:
            self.flag("INV-12", i, f"output_item.done for {out.id} before its arguments are done")
        self.check_snapshot(i, out, e.item, "output_item.done")
        out.done = e.item

    def check_snapshot(self, i: int, out: _Out, item: Item, what: str) -> None:
        """INV-9: an item snapshot carries the final values of its parts and arguments."""
        if item.type != out.type and not out.partial:
            self.flag("INV-9", i, f"{what}: item {out.id} has type {item.type}, was {out.type}")
        if out.type == "function_call":
            if out.args_done is not None and item.arguments != out.args_done:
                self.flag("INV-9", i, f"{what}: arguments of {out.id} differ from arguments.done")
            if item.call_id != out.call_id and not out.partial:
                self.flag("INV-10", i, f"{what}: call_id of {out.id} changed")
            return
        content = item.content or ()
        if len(content) != len(out.parts) and not out.partial:
            self.flag(
                "INV-9",
                i,
                f"{what}: {out.id} has {len(content)} parts, {len(out.parts)} were added",
            )
        for c, part in out.parts.items():
            if c >= len(content):
                continue
            snap = content[c]
            if part.text_done is not None and snap.text != part.text_done:
                self.flag("INV-9", i, f"{what}: text of {out.id}[{c}] differs from text.done")
            if part.transcript_done is not None and snap.transcript != part.transcript_done:
                self.flag(
                    "INV-9", i, f"{what}: transcript of {out.id}[{c}] differs from transcript.done"
                )

    def response_done(self, i: int, e: ResponseDone) -> None:
        info = e.response
        rid = info.id
        if rid is None:
            self.flag("INV-4", i, "response.done without a response id")
            return
        r = self.responses.get(rid)
        if r is None:
            if self.from_start:
                self.flag("INV-4", i, f"response.done({rid}) without response.created")
                return
            r = _Resp(rid, None, _is_bound(info))
            self.responses[rid] = r
        elif r.done_at is not None:
            self.flag("INV-4", i, f"response.done({rid}) occurs twice")
            return
        r.done_at = i
        if self.active_bound is r:
            self.active_bound = None
        # INV-12: everything opened is closed.
        for out in r.items:
            for part in out.parts.values():
                if not part.closed:
                    self.flag(
                        "INV-12",
                        i,
                        f"response.done before content_part.done of {out.id}[{part.index}]",
                    )
            if out.done is None:
                self.flag("INV-12", i, f"response.done before output_item.done of {out.id}")
            if r.bound and out.id not in self.created and not out.partial:
                self.flag("INV-7", i, f"output item {out.id} never got conversation.item.created")
        self.check_status(i, info, r)
        # INV-11: the output is the announced items, as their done snapshots.
        if not r.partial:
            announced = [o.id for o in r.items]
            listed = [item.id for item in info.output]
            if announced != listed:
                self.flag(
                    "INV-11", i, f"response.done lists {listed}, items added were {announced}"
                )
        by_id = {o.id: o for o in r.items}
        for item in info.output:
            for snap in item.content or ():
                if snap.audio is not None:
                    self.flag("INV-11", i, f"response.done output {item.id} carries audio bytes")
            announced_out = by_id.get(item.id)
            if (
                announced_out is not None
                and announced_out.done is not None
                and (item != announced_out.done)
            ):
                self.flag(
                    "INV-11", i, f"response.done output {item.id} differs from output_item.done"
                )

    def check_status(self, i: int, info: ResponseInfo, r: _Resp) -> None:
        status = info.status
        details = info.status_details
        if status not in _FINAL_STATUSES:
            self.flag("INV-12", i, f"response.done status is {status!r}")
            return
        if status == "completed":
            if details is not None and (
                details.type not in (None, "completed")
                or details.reason is not None
                or details.error is not None
            ):
                self.flag("INV-12", i, "completed response with status_details of another kind")
            for out in r.items:
                if (
                    out.done is not None
                    and out.done.status != "completed"
                    and not (out.done.status is None and out.done.type in _STATUSLESS_ITEMS)
                ):
                    self.flag(
                        "INV-12", i, f"completed response has item {out.id} {out.done.status}"
                    )
            return
        if details is None or details.type != status:
            kind = None if details is None else details.type
            self.flag("INV-12", i, f"{status} response with status_details.type {kind!r}")
            return
        if status == "failed":
            if details.reason is not None:
                self.flag("INV-12", i, "failed response with a status_details.reason")
            return
        if details.error is not None:
            self.flag("INV-12", i, f"{status} response with a status_details.error")
        if details.reason is not None and details.reason not in _REASONS[status]:
            self.flag("INV-12", i, f"{status} response with reason {details.reason!r}")

    # -- parts -----------------------------------------------------------------------------

    def part_for(self, i: int, e: Any, kind: str | None) -> tuple[_Out, _Part] | None:
        out = self.output_for(i, e)
        if out is None:
            return None
        if out.type == "function_call":
            self.flag("INV-10", i, f"{e.type} for function_call item {out.id}")
            return None
        part = out.parts.get(e.content_index)
        if part is None:
            if out.partial:
                part = _Part(None, e.content_index)
                part.text = _Unknown()
                part.transcript = _Unknown()
                out.parts[e.content_index] = part
                return out, part
            self.flag(
                "INV-8", i, f"{e.type} for {out.id}[{e.content_index}] before content_part.added"
            )
            return None
        if kind is not None and part.kind not in (kind, None):
            self.flag("INV-8", i, f"{e.type} for {out.id}[{e.content_index}], a {part.kind} part")
            return None
        if part.closed:
            self.flag(
                "INV-8", i, f"{e.type} for {out.id}[{e.content_index}] after content_part.done"
            )
        return out, part

    def part_added(self, i: int, e: ResponseContentPartAdded) -> None:
        out = self.output_for(i, e)
        if out is None:
            return
        if out.type == "function_call":
            self.flag("INV-10", i, f"content_part.added for function_call item {out.id}")
            return
        if out.done is not None:
            self.flag("INV-8", i, f"content_part.added for {out.id} after output_item.done")
        if e.content_index in out.parts:
            self.flag("INV-8", i, f"content_part.added for {out.id}[{e.content_index}] twice")
            return
        if e.content_index != len(out.parts) and not out.partial:
            self.flag(
                "INV-8",
                i,
                f"content_index {e.content_index} where {len(out.parts)} was next in {out.id}",
            )
        out.parts[e.content_index] = _Part(e.part.type, e.content_index)

    def part_done(self, i: int, e: ResponseContentPartDone) -> None:
        found = self.part_for(i, e, None)
        if found is None:
            return
        out, part = found
        if part.closed:
            return  # flagged by part_for
        where = f"{out.id}[{e.content_index}]"
        if part.kind is not None and e.part.type != part.kind:
            self.flag(
                "INV-8", i, f"content_part.done for {where} is {e.part.type}, was {part.kind}"
            )
        if part.kind == "text":
            if part.text_done is None:
                self.flag("INV-8", i, f"content_part.done for {where} before text.done")
            elif e.part.text != part.text_done and not (
                e.part.text == "" and "empty_part_text_at_done" in self.tolerate
            ):
                self.flag("INV-9", i, f"content_part.done text of {where} differs from text.done")
        elif part.kind == "audio":
            if not part.audio_done:
                self.flag("INV-8", i, f"content_part.done for {where} before audio.done")
            if part.transcript_done is None:
                self.flag("INV-8", i, f"content_part.done for {where} before transcript.done")
            elif e.part.transcript != part.transcript_done:
                self.flag(
                    "INV-9", i, f"content_part.done transcript of {where} differs from its done"
                )
        part.closed = True

    def text_delta(self, i: int, e: ResponseTextDelta) -> None:
        found = self.part_for(i, e, "text")
        if found is None:
            return
        _, part = found
        if part.text_done is not None:
            self.flag("INV-8", i, "response.text.delta after response.text.done")
        part.text.append(e.delta)

    def text_done(self, i: int, e: ResponseTextDone) -> None:
        found = self.part_for(i, e, "text")
        if found is None:
            return
        out, part = found
        if part.text_done is not None:
            self.flag("INV-8", i, f"response.text.done for {out.id}[{part.index}] twice")
        elif not isinstance(part.text, _Unknown) and "".join(part.text) != e.text:
            self.flag("INV-9", i, f"text.done of {out.id}[{part.index}] != the joined deltas")
        part.text_done = e.text

    def transcript_delta(self, i: int, e: ResponseAudioTranscriptDelta) -> None:
        found = self.part_for(i, e, "audio")
        if found is None:
            return
        _, part = found
        if part.transcript_done is not None:
            self.flag("INV-8", i, "audio_transcript.delta after audio_transcript.done")
        part.transcript.append(e.delta)

    def transcript_done(self, i: int, e: ResponseAudioTranscriptDone) -> None:
        found = self.part_for(i, e, "audio")
        if found is None:
            return
        out, part = found
        if part.transcript_done is not None:
            self.flag("INV-8", i, f"audio_transcript.done for {out.id}[{part.index}] twice")
        elif (
            not part.truncated
            and not isinstance(part.transcript, _Unknown)
            and "".join(part.transcript) != e.transcript
        ):
            self.flag(
                "INV-9", i, f"audio_transcript.done of {out.id}[{part.index}] != the joined deltas"
            )
        part.transcript_done = e.transcript

    def audio_delta(self, i: int, e: ResponseAudioDelta) -> None:
        found = self.part_for(i, e, "audio")
        if found is not None and found[1].audio_done:
            self.flag("INV-8", i, "response.audio.delta after response.audio.done")

    def audio_done(self, i: int, e: ResponseAudioDone) -> None:
        found = self.part_for(i, e, "audio")
        if found is None:
            return
        out, part = found
        if part.audio_done:
            self.flag("INV-8", i, f"response.audio.done for {out.id}[{part.index}] twice")
        part.audio_done = True

    def call_for(self, i: int, e: Any) -> _Out | None:
        out = self.output_for(i, e)
        if out is None:
            return None
        if out.partial and out.type == "unknown":
            out.type = "function_call"
            out.call_id = e.call_id
            out.args = _Unknown()
        if out.type != "function_call":
            self.flag("INV-10", i, f"{e.type} for {out.type} item {out.id}")
            return None
        if e.call_id != out.call_id:
            self.flag("INV-10", i, f"{e.type} call_id {e.call_id!r}, the item has {out.call_id!r}")
        return out

    def args_delta(self, i: int, e: ResponseFunctionCallArgumentsDelta) -> None:
        out = self.call_for(i, e)
        if out is None:
            return
        if out.args_done is not None:
            self.flag("INV-9", i, f"arguments delta for {out.id} after arguments.done")
        out.args.append(e.delta)

    def args_done(self, i: int, e: ResponseFunctionCallArgumentsDone) -> None:
        out = self.call_for(i, e)
        if out is None:
            return
        if out.args_done is not None:
            self.flag("INV-9", i, f"function_call_arguments.done for {out.id} twice")
        elif not isinstance(out.args, _Unknown) and "".join(out.args) != e.arguments:
            self.flag("INV-9", i, f"arguments.done of {out.id} != the joined deltas")
        if e.name is not None and out.name is not None and e.name != out.name:
            self.flag("INV-10", i, f"arguments.done names {e.name!r}, the item is {out.name!r}")
        out.args_done = e.arguments

    # -- errors and the client side --------------------------------------------------------

    def error(self, i: int, e: Error) -> None:
        self.errors.append((i, e))

    def match_client(self, client_events: Sequence[ClientEvent | UnknownClientEvent]) -> None:
        by_id: dict[str, int] = {}
        for n, c in enumerate(client_events):
            if c.event_id is not None:
                by_id.setdefault(c.event_id, n)
        rejected: set[int] = set()
        unattributed = 0
        for i, err in self.errors:
            named = err.error.event_id
            if named is None:
                unattributed += 1
            elif named not in by_id:
                self.flag("INV-17", i, f"error names client event {named!r}, which was not sent")
            elif by_id[named] in rejected:
                self.flag("INV-17", i, f"a second error names client event {named!r}")
            else:
                rejected.add(by_id[named])
        pool = [unattributed]

        def unanswered(cls: type) -> list[tuple[int, Any]]:
            return [
                (n, c)
                for n, c in enumerate(client_events)
                if isinstance(c, cls) and n not in rejected
            ]

        # INV-3: session.update -> session.updated | error.
        updates = unanswered(SessionUpdate)
        self.match(
            "INV-3",
            [(n, c, 0) for n, c in updates],
            [(i, 0) for i in self.session_updated],
            pool=pool,
            names=("session.update", "session.updated"),
        )
        # INV-16: truncate / delete / clear -> their acknowledgement | error.
        truncates = [
            (n, c, (c.item_id, c.content_index)) for n, c in unanswered(ConversationItemTruncate)
        ]
        truncated = [
            (i, (e.item_id, e.content_index))
            for i, e in self.acks
            if isinstance(e, ConversationItemTruncated)
        ]
        self.match(
            "INV-16",
            truncates,
            truncated,
            pool=pool,
            names=("truncate", "conversation.item.truncated"),
        )
        deletes = [(n, c, c.item_id) for n, c in unanswered(ConversationItemDelete)]
        deleted = [(i, e.item_id) for i, e in self.acks if isinstance(e, ConversationItemDeleted)]
        self.match(
            "INV-16", deletes, deleted, pool=pool, names=("delete", "conversation.item.deleted")
        )
        # INV-13: a commit of speech that never stopped (or of no speech) is manual.
        self.match(
            "INV-13",
            [(n, c, 0) for n, c in unanswered(InputAudioBufferCommit)],
            [(i, 0) for i in self.manual_commits],
            pool=pool,
            names=("input_audio_buffer.commit", "input_audio_buffer.committed without speech"),
        )
        # REQ-1: conversation.item.create -> conversation.item.created | error.
        creates = unanswered(ConversationItemCreate)
        chosen = {c.item.id for _, c in creates if c.item.id is not None}
        self.match(
            "REQ-1",
            [(n, c, c.item.id if c.item.id is not None else "*") for n, c in creates],
            [
                (i, item_id if item_id in chosen else "*")
                for i, item_id in self.created_at
                if item_id not in self.outputs and item_id not in self.committed
            ],
            pool=pool,
            names=("conversation.item.create", "conversation.item.created"),
        )
        clears = [(n, c, 0) for n, c in unanswered(InputAudioBufferClear)]
        cleared = [(i, 0) for i, e in self.acks if isinstance(e, InputAudioBufferCleared)]
        self.match(
            "INV-16", clears, cleared, pool=pool, names=("clear", "input_audio_buffer.cleared")
        )

    def match(
        self,
        invariant: str,
        requests: Sequence[tuple[int, Any, Hashable]],
        answers: Sequence[tuple[int, Hashable]],
        *,
        pool: list[int],
        names: tuple[str, str],
    ) -> None:
        """Pair answers with requests of the same key, first come first served."""
        request_name, answer_name = names
        waiting: dict[Hashable, deque[tuple[int, Any]]] = {}
        for n, c, key in requests:
            waiting.setdefault(key, deque()).append((n, c))
        # answers given to requests without an event_id, by key: an error that names
        # no event may have been theirs, and the answer a later request's
        swappable: dict[Hashable, int] = {}
        for i, key in answers:
            queue = waiting.get(key)
            if queue:
                _, answered = queue.popleft()
                if answered.event_id is None:
                    swappable[key] = swappable.get(key, 0) + 1
            else:
                self.flag(invariant, i, f"{answer_name} answers no in-flight client {request_name}")
        if not self.complete:
            return
        for key, queue in waiting.items():
            for n, c in queue:
                if c.event_id is None and pool[0] > 0:
                    pool[0] -= 1  # an error that names no event may have answered it
                    continue
                if pool[0] > 0 and swappable.get(key, 0) > 0:
                    pool[0] -= 1  # that error answered an earlier request, this one the answer
                    swappable[key] -= 1
                    continue
                self.flag(
                    invariant,
                    None,
                    f"client {request_name} #{n} got neither {answer_name} nor an error",
                )


_STATUSLESS_ITEMS: Final = frozenset({"mcp_call", "mcp_approval_request"})
"""GA output items whose type has no ``status`` (the SDK's ``RealtimeMcpToolCall``,
``RealtimeMcpApprovalRequest``): INV-12 does not ask them for one."""


class _Unknown(list[str]):
    """Accumulated values of a fragment whose beginning was not seen."""

    def append(self, value: str) -> None:
        pass


def check_stream(
    events: Sequence[ServerEvent | UnknownServerEvent],
    *,
    client_events: Sequence[ClientEvent | UnknownClientEvent] | None = None,
    from_start: bool = True,
    complete: bool = True,
    tolerate: Collection[str] = DEFAULT_TOLERANCES,
) -> list[Violation]:
    """Check a server stream against the ordering invariants (``INVARIANTS``).

    Args:
        events: the server events in arrival order. ``UnknownServerEvent`` values are
            skipped (they are real: Azure sends extra event types).
        client_events: the client events of the same session in send order, if known;
            enables INV-3, INV-16 and the correlation part of INV-17.
        from_start: the stream starts at the connection's first event. Give ``False``
            for a fragment (a log that starts mid-session): INV-1 then only checks that
            ``session.created`` is not repeated, and events of responses, items and
            parts whose beginning is not in the stream are taken as they come.
        complete: the stream runs to the end of the session (or a quiet point). Give
            ``False`` for a stream cut short: nothing is reported for what is still
            open at its end (a response without ``response.done``, an unanswered
            client event).
        tolerate: names of :data:`KNOWN_QUIRKS` not to report; by default all of them,
            so that real traffic passes. Give ``()`` to check the invariants strictly.

    Returns:
        The violations found, in stream order (end-of-stream findings last). Empty
        when the stream is valid.
    """
    unknown = set(tolerate) - set(KNOWN_QUIRKS)
    if unknown:
        raise ValueError(f"unknown quirks: {sorted(unknown)}; known: {sorted(KNOWN_QUIRKS)}")
    checker = _Checker(from_start=from_start, complete=complete, tolerate=tolerate)
    checker.run(events)
    if client_events is not None:
        checker.match_client(client_events)
    return checker.out


def check_script(
    script: Script,
    *,
    from_start: bool = True,
    complete: bool = True,
    tolerate: Collection[str] = DEFAULT_TOLERANCES,
) -> list[Violation]:
    """``check_stream`` over a :class:`~rtstate.testing.script.Script`'s two directions."""
    return check_stream(
        script.server_events,
        client_events=script.client_events,
        from_start=from_start,
        complete=complete,
        tolerate=tolerate,
    )


def format_violations(
    violations: Sequence[Violation], events: Sequence[ServerEvent | UnknownServerEvent] = ()
) -> str:
    """One line per violation, naming the event type at fault when ``events`` is given."""
    lines = []
    for v in violations:
        line = str(v)
        if v.index is not None and v.index < len(events):
            line += f" [{_describe(events[v.index])}]"
        lines.append(line)
    return "\n".join(lines)


def assert_valid_stream(
    events: Sequence[ServerEvent | UnknownServerEvent],
    *,
    client_events: Sequence[ClientEvent | UnknownClientEvent] | None = None,
    from_start: bool = True,
    complete: bool = True,
    tolerate: Collection[str] = DEFAULT_TOLERANCES,
) -> None:
    """Raise ``AssertionError`` listing every violation if the stream is not valid.

    Takes the same arguments as :func:`check_stream`.
    """
    violations = check_stream(
        events,
        client_events=client_events,
        from_start=from_start,
        complete=complete,
        tolerate=tolerate,
    )
    if violations:
        raise AssertionError(
            f"{len(violations)} protocol violation(s):\n" + format_violations(violations, events)
        )
