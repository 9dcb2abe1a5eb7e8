"""Attached sessions: adopting what began before this client saw it.

A socket opened with ``?call_id=`` beside a WebRTC or SIP call joins a session
already running: no ``session.created`` comes, and the first events may name a
response, an item or a part whose beginning went by before the socket opened. On
an attached state (``SessionState.attached``), ``adopt`` runs before the event's
handler and folds, through the ordinary handlers, the events the client missed, so
that the event itself folds as usual. The rule, per event type (what the GA
sideband captures in tests/data/corpus/ga send, in their order):

- a response event (``response.output_item.added`` / ``.done``,
  ``response.content_part.*``, every text, transcript, audio and function-call
  arguments delta or ``.done``, ``response.done``) naming a response the state does
  not know: its ``response.created`` was missed. The response is adopted in progress
  (from ``response.done``'s snapshot when that is the event) and its id joins
  ``SessionState.adopted``;
- an event naming an output item the response has not announced, at the next
  ``output_index``: its ``response.output_item.added`` was missed, and (for every
  event but ``response.output_item.added`` itself) its ``conversation.item.added``
  too: the item is announced and placed at the end of the conversation. A gap in the
  output indices is still INV-6;
- a part event naming the next ``content_index`` of an adopted or announced message:
  its ``response.content_part.added`` was missed (a ``text`` part for text events, an
  ``audio`` part for transcript and audio events, the event's part for
  ``content_part.done``);
- ``response.done`` naming outputs never announced: each is adopted and finished
  from the snapshot, as its ``response.output_item.done`` would have;
- ``conversation.item.added`` whose ``previous_item_id`` the client never saw: the
  item goes at the end of the conversation;
- ``input_audio_buffer.speech_stopped`` with no speech begun: its
  ``speech_started`` was missed; the speech window starts where it ends;
- ``conversation.item.done`` for an unknown item: it is added at the end; a
  response's output (an ``assistant`` message, a call) is added in progress and
  empty, for its ``response.output_item.done`` (which follows) to finish it.

A part (or call) of an adopted response whose first deltas were missed takes its
final text, transcript (or arguments) from the ``.done`` event without an INV-9
mismatch. Whatever cannot be adopted (a response named while another is active, a
gap in the output indices) is left to the handler, which rejects it as in any
session. ``session.updated``,
``rate_limits.updated``, ``output_audio_buffer.*`` and input events need nothing
adopted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from .._fast import evolve_item, evolve_part, evolve_root
from ..events import server as s
from ..events.payloads import ContentPart, ContentType, Item, ResponseInfo
from ..logs import TextLog
from ..state import InputBufferPhase, PartState, SessionState
from ..step import Input
from ._base import Handler, _Out, _Rejected
from ._input_buffer import _speech_started
from ._items import _item_created, _item_with_part
from ._parts import _content_part_added
from ._responses import _output_item_added, _output_item_done, _response_created

_ADOPTED_EVENT_ID: Final = ""
"""The ``event_id`` of an event folded in place of one the client missed."""

_OUTPUT_TYPES: Final = frozenset({"function_call", "mcp_call", "mcp_approval_request"})


def adopt(state: SessionState, e: Input, out: _Out) -> tuple[SessionState, Input]:
    """``state`` with what ``e`` names but the client missed adopted, and the event
    to fold in ``e``'s place (``e`` itself, or ``conversation.item.added`` placed at
    the end of the conversation)."""
    adopter = _ADOPT.get(e.__class__)
    if adopter is None:
        return state, e
    return adopter(state, e, out)


def _try(state: SessionState, handler: Handler, e: Any, out: _Out) -> SessionState:
    """Fold ``e`` (an event the client missed) with ``handler``; unchanged if it is
    rejected (the real event's handler then says why)."""
    sub = _Out(out.config)
    try:
        after = handler(state, e, sub)
    except _Rejected:
        return state
    out.transitions.extend(sub.transitions)
    extra = sub.extra
    if extra is not None:
        for code, message in extra.notes:
            out.note(code, message)
        for code, message in extra.infos:
            out.info(code, message)
        for event in extra.planned:
            out.plan(event)
    return after


def _response(
    state: SessionState, response_id: str, out: _Out, info: ResponseInfo | None = None
) -> SessionState:
    if state.response_by_id(response_id) is not None:
        return state
    missed = ResponseInfo(id=response_id, status="in_progress")
    if info is not None:
        missed = attrs.evolve(
            info, status="in_progress", status_details=None, output=(), usage=None
        )
    created = s.ResponseCreated(event_id=_ADOPTED_EVENT_ID, response=missed)
    after = _try(state, _response_created, created, out)
    if after is state:
        return state
    return evolve_root(after, adopted=after.adopted | {response_id})


def _item(
    state: SessionState, response_id: str, output_index: int, item: Item, out: _Out, *, placed: bool
) -> SessionState:
    """The output item ``item`` announced (and, with ``placed``, in the conversation)."""
    state = _response(state, response_id, out)
    response = state.responses.get(response_id)
    item_id = item.id
    if response is None or item_id is None:
        return state
    if item_id in response.output or output_index != len(response.output):
        return state
    empty = attrs.evolve(item, status="in_progress", content=() if item.type == "message" else None)
    if placed and item_id not in state.items_by_id:
        added = s.ConversationItemAdded(
            event_id=_ADOPTED_EVENT_ID, item=empty, previous_item_id=state.order.tail
        )
        state = _try(state, _item_created, added, out)
    announced = s.ResponseOutputItemAdded(
        event_id=_ADOPTED_EVENT_ID, response_id=response_id, output_index=output_index, item=empty
    )
    return _try(state, _output_item_added, announced, out)


def _message(item_id: str) -> Item:
    return Item(type="message", id=item_id, role="assistant")


def _part(state: SessionState, e: Any, kind: ContentType, out: _Out) -> SessionState:
    """The part ``e`` names, adopted as a ``kind`` part (with its item and response)."""
    state = _item(state, e.response_id, e.output_index, _message(e.item_id), out, placed=True)
    item = state.items_by_id.get(e.item_id)
    if item is None or item.type != "message" or e.content_index != len(item.parts):
        return state
    part = ContentPart(type=kind, transcript="") if kind == "audio" else ContentPart(type=kind)
    added = s.ResponseContentPartAdded(
        event_id=_ADOPTED_EVENT_ID,
        response_id=e.response_id,
        item_id=e.item_id,
        output_index=e.output_index,
        content_index=e.content_index,
        part=part,
    )
    return _try(state, _content_part_added, added, out)


def _final(state: SessionState, item_id: str, index: int, snapshot: ContentPart) -> SessionState:
    """A part of an adopted response given its final text / transcript before the
    ``.done`` event folds: its first deltas were missed, so no INV-9 mismatch."""
    item = state.items_by_id.get(item_id)
    if item is None or item.response_id not in state.adopted or not 0 <= index < len(item.parts):
        return state
    part: PartState = item.parts[index]
    if snapshot.text:
        part = evolve_part(part, text_log=TextLog.of(snapshot.text))
    if snapshot.transcript and part.transcript_log is not None and part.truncated_ms is None:
        part = evolve_part(part, transcript_log=TextLog.of(snapshot.transcript))
    new = _item_with_part(item, index, part)
    return evolve_root(state, items_by_id=state.items_by_id.set(item_id, new))


def _kind_of(kind: ContentType) -> Callable[[SessionState, Any, _Out], tuple[SessionState, Input]]:
    def adopt_part(state: SessionState, e: Any, out: _Out) -> tuple[SessionState, Input]:
        return _part(state, e, kind, out), e

    return adopt_part


def _text_done(state: SessionState, e: s.ResponseTextDone, out: _Out) -> tuple[SessionState, Input]:
    state = _part(state, e, "text", out)
    return _final(state, e.item_id, e.content_index, ContentPart(type="text", text=e.text)), e


def _transcript_done(
    state: SessionState, e: s.ResponseAudioTranscriptDone, out: _Out
) -> tuple[SessionState, Input]:
    state = _part(state, e, "audio", out)
    snapshot = ContentPart(type="audio", transcript=e.transcript)
    return _final(state, e.item_id, e.content_index, snapshot), e


def _content_part_done(
    state: SessionState, e: s.ResponseContentPartDone, out: _Out
) -> tuple[SessionState, Input]:
    state = _part(state, e, e.part.type, out)
    return _final(state, e.item_id, e.content_index, e.part), e


def _arguments(state: SessionState, e: Any, out: _Out) -> tuple[SessionState, Input]:
    call = Item(type="function_call", id=e.item_id, call_id=e.call_id)
    state = _item(state, e.response_id, e.output_index, call, out, placed=True)
    if isinstance(e, s.ResponseFunctionCallArgumentsDone):
        state = _final_arguments(state, e.item_id, e.arguments)
    return state, e


def _final_arguments(state: SessionState, item_id: str, arguments: str | None) -> SessionState:
    """A call of an adopted response given its final arguments (its first deltas
    were missed: no INV-9 mismatch)."""
    item = state.items_by_id.get(item_id)
    if item is None or item.response_id not in state.adopted or arguments is None:
        return state
    new = evolve_item(item, arguments_log=TextLog.of(arguments))
    return evolve_root(state, items_by_id=state.items_by_id.set(item_id, new))


def _speech_stopped(
    state: SessionState, e: s.InputAudioBufferSpeechStopped, out: _Out
) -> tuple[SessionState, Input]:
    """Speech that began before the socket opened: its window starts where it ends."""
    if state.input_buffer.phase is not InputBufferPhase.IDLE:
        return state, e
    started = s.InputAudioBufferSpeechStarted(
        event_id=_ADOPTED_EVENT_ID, audio_start_ms=e.audio_end_ms, item_id=e.item_id
    )
    return _try(state, _speech_started, started, out), e


def _output_item_added_adopt(
    state: SessionState, e: s.ResponseOutputItemAdded, out: _Out
) -> tuple[SessionState, Input]:
    return _response(state, e.response_id, out), e


def _snapshot_parts(state: SessionState, item: Item) -> SessionState:
    state = _final_arguments(state, item.id or "", item.arguments)
    for index, snapshot in enumerate(item.content or ()):
        state = _final(state, item.id or "", index, snapshot)
    return state


def _output_item_done_adopt(
    state: SessionState, e: s.ResponseOutputItemDone, out: _Out
) -> tuple[SessionState, Input]:
    state = _item(state, e.response_id, e.output_index, e.item, out, placed=True)
    return _snapshot_parts(state, e.item), e


def _response_done(state: SessionState, e: s.ResponseDone, out: _Out) -> tuple[SessionState, Input]:
    response_id = e.response.id
    if response_id is None:
        return state, e
    state = _response(state, response_id, out, e.response)
    response = state.responses.get(response_id)
    if response is None:
        return state, e
    for index, snapshot in enumerate(e.response.output):
        if snapshot.id is None or snapshot.id in response.output:
            continue
        state = _item(state, response_id, index, snapshot, out, placed=True)
        state = _snapshot_parts(state, snapshot)
        done = s.ResponseOutputItemDone(
            event_id=_ADOPTED_EVENT_ID, response_id=response_id, output_index=index, item=snapshot
        )
        state = _try(state, _output_item_done, done, out)
        response = state.responses.get(response_id)
        assert response is not None
    return state, e


def _item_added(
    state: SessionState, e: s.ConversationItemAdded, out: _Out
) -> tuple[SessionState, Input]:
    previous = e.previous_item_id
    if previous is None or previous in state.order:
        return state, e
    return state, attrs.evolve(e, previous_item_id=state.order.tail)


def _item_done(
    state: SessionState, e: s.ConversationItemDone, out: _Out
) -> tuple[SessionState, Input]:
    item = e.item
    if item.id is None or item.id in state.items_by_id:
        return state, e
    if item.role == "assistant" or item.type in _OUTPUT_TYPES:
        item = attrs.evolve(
            item, status="in_progress", content=() if item.type == "message" else None
        )
    added = s.ConversationItemAdded(
        event_id=_ADOPTED_EVENT_ID, item=item, previous_item_id=state.order.tail
    )
    return _try(state, _item_created, added, out), e


_ADOPT: Final[Mapping[type, Callable[[SessionState, Any, _Out], tuple[SessionState, Input]]]] = {
    s.ResponseOutputItemAdded: _output_item_added_adopt,
    s.ResponseOutputItemDone: _output_item_done_adopt,
    s.ResponseContentPartAdded: lambda state, e, out: (
        _item(state, e.response_id, e.output_index, _message(e.item_id), out, placed=True),
        e,
    ),
    s.ResponseContentPartDone: _content_part_done,
    s.ResponseTextDelta: _kind_of("text"),
    s.ResponseTextDone: _text_done,
    s.ResponseAudioTranscriptDelta: _kind_of("audio"),
    s.ResponseAudioTranscriptDone: _transcript_done,
    s.ResponseAudioDelta: _kind_of("audio"),
    s.ResponseAudioDone: _kind_of("audio"),
    s.ResponseFunctionCallArgumentsDelta: _arguments,
    s.ResponseFunctionCallArgumentsDone: _arguments,
    s.ResponseDone: _response_done,
    s.ConversationItemAdded: _item_added,
    s.ConversationItemCreated: _item_added,
    s.ConversationItemDone: _item_done,
    s.InputAudioBufferSpeechStopped: _speech_stopped,
}
"""Event type -> what it adopts on an attached state (the module docstring's rules)."""
