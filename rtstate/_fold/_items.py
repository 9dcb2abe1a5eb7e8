"""Items: conversation items created, transcribed, retrieved, deleted and truncated,
and the helpers that build an item or a part from a snapshot (``_item_from``,
``_part_from``) or swap one part (``_part_at``, ``_item_with_part``, ``_cut``).

Handlers: ``conversation.item.created`` / ``.added`` (with the transcription that
came before its item), ``.done``, ``.retrieved``, ``.deleted``, ``.truncated``, and
the input audio transcription events: each keeps the item's transcript in
``SessionState.transcripts`` (both kinds of session; ``machines.TRANSCRIPT``) and, in
a realtime session, writes the text on the item too (or keeps the result as an early
transcription until the item comes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeAlias

import attrs
from immutables import Map

from .. import machines
from .._fast import (
    ItemChanges,
    evolve_item,
    evolve_part,
    evolve_root,
    item_of,
    new_item_added,
    part_of,
    with_part,
)
from ..events import server as s
from ..events.client import ClientEvent, ConversationItemCreate
from ..events.payloads import ContentPart, ErrorInfo, Item
from ..logs import EMPTY_TEXT, TextLog
from ..state import (
    ItemPhase,
    ItemState,
    PartPhase,
    PartState,
    SessionState,
    Transcripts,
    TranscriptSegment,
    TranscriptState,
)
from ..transitions import (
    InputSegmentTranscribed,
    InputTranscribed,
    InputTranscriptAppended,
    InputTranscriptionFailed,
    ItemDeleted,
    ItemRetrieved,
    ItemTruncated,
    McpApprovalRequested,
    Transition,
)
from ._base import _PART_TABLE, _check, _item_phase, _open, _Out, _Rejected
from ._ledger import _ack, _ack_unnamed_create

_AUDIO_PARTS: Final = frozenset({"audio", "input_audio"})
_PENDING: Final = ItemPhase.PENDING


def _part_from(part: ContentPart, phase: PartPhase) -> PartState:
    if part.type in _AUDIO_PARTS:
        transcript = part.transcript
        return part_of(
            part, phase, EMPTY_TEXT, None if transcript is None else TextLog.of(transcript)
        )
    text = part.text
    return part_of(part, phase, TextLog.of(text) if text else EMPTY_TEXT, None)


def _parts_from(content: tuple[ContentPart, ...], input: object) -> tuple[PartState, ...]:
    phase = _PART_TABLE[(None, input.__class__)]  # a phase: ``_live``, inline
    assert phase is not None
    if len(content) == 1:
        return (_part_from(content[0], phase),)
    return tuple([_part_from(p, phase) for p in content])


def _item_from(
    item: Item,
    item_id: str,
    phase: ItemPhase,
    input: object,
    *,
    response_id: str | None = None,
    output_index: int | None = None,
) -> ItemState:
    """The item of the snapshot ``item`` that ``input`` brings; its parts take the
    phase the part table gives a part that comes with ``input``."""
    content = item.content
    arguments = item.arguments
    return item_of(
        item,
        item_id,
        phase,
        _parts_from(content, input) if content else (),
        TextLog.of(arguments) if arguments else EMPTY_TEXT,
        response_id,
        output_index,
    )


def _mcp_changes(item: ItemState, snapshot: Item) -> ItemChanges:
    """What an MCP item's later snapshot (``.done``) brings: each MCP field it carries
    (a field it leaves out keeps the value ``item`` has)."""
    changes: ItemChanges = {}
    for name in _MCP_FIELDS:
        value = getattr(snapshot, name)
        if value is not None and value != getattr(item, name):
            changes[name] = value
    return changes


_MCP_FIELDS: Final = ("server_label", "tools", "error", "approval_request_id", "approve", "reason")
"""The fields only MCP items carry (``ItemState`` and ``Item`` spell them alike)."""


def _item_created(
    state: SessionState, e: s.ConversationItemCreated | s.ConversationItemAdded, out: _Out
) -> SessionState:
    """``conversation.item.created`` (beta) or ``conversation.item.added`` (GA)."""
    _open(state, e)
    item_id = e.item.id
    if item_id is None:
        raise _Rejected("INV-15", "conversation.item.created without an item id")
    items = state.items_by_id
    item = items.get(item_id)
    phase = None if item is None else item.phase
    next_phase = _check(machines.ITEM, phase, e)  # by_payload: created complete or not
    previous = e.previous_item_id
    order = state.order
    # the tail (the common case) is in the order: no look-up for it
    if previous is not None and previous != order.tail and previous not in order:
        raise _Rejected("INV-15", f"previous_item_id {previous} is not in the conversation")
    if item is None or phase is _PENDING:  # the server's copy is the truth
        new = _item_from(e.item, item_id, next_phase, e)
    else:
        new = evolve_item(item, phase=next_phase)
    buf = state.input_buffer
    ledger = state.ledger
    if ledger.in_flight:  # else nothing to acknowledge (the common case)
        ledger, entry = _ack(ledger, e, item_id, out.config)
        if entry is None and item is None and item_id not in buf.committed:
            ledger, entry = _ack_unnamed_create(ledger, e.item.type, out.config)
        if entry is not None and new.type == "message":
            new = _with_sent_images(new, entry.event)
    early = buf.early_transcriptions.get(item_id)
    new_buffer = buf
    if early is not None:
        new_buffer = attrs.evolve(
            buf, early_transcriptions=buf.early_transcriptions.delete(item_id)
        )
        try:
            new = _apply_transcription(new, *early)
        except _Rejected as v:  # the early transcription was bad, not this item: keep it
            out.note(v.code, f"{v.message}; the early transcription is dropped")
    out.transitions.append(
        new_item_added(item_id=item_id, previous_item_id=previous, type=new.type, role=new.role)
    )
    revision = state.revision + 1
    if new_buffer is not buf or ledger is not state.ledger:  # not the common case
        state = evolve_root(state, input_buffer=new_buffer, ledger=ledger)
    return evolve_root(
        state,
        items_by_id=items.set(item_id, new),
        order=order.insert(item_id, previous),
        revision=revision,
    )


def _with_sent_images(item: ItemState, sent: ClientEvent) -> ItemState:
    """``item`` (the server's copy of a message this client created with ``sent``) with
    the ``image_url`` of each ``input_image`` part the echo left without one, taken from
    the same part of ``sent``: the very string, not a copy (the echo leaves the data URI
    out, as it leaves audio bytes out)."""
    if not isinstance(sent, ConversationItemCreate):
        return item
    content = sent.item.content or ()
    parts = item.parts
    kept = list(parts)
    for index, part in enumerate(parts):
        if part.type != "input_image" or part.image_url is not None or index >= len(content):
            continue
        mine = content[index]
        if mine.type == "input_image" and mine.image_url is not None:
            kept[index] = evolve_part(
                part, image_url=mine.image_url, detail=part.detail or mine.detail
            )
    return item if kept == list(parts) else evolve_item(item, parts=tuple(kept))


def _apply_transcription(item: ItemState, index: int, result: str | ErrorInfo) -> ItemState:
    part = _part_at(item, index, "input_audio")
    if part is None:
        raise _Rejected("INV-14", f"item {item.id} has no input_audio part {index}")
    if isinstance(result, ErrorInfo):
        return evolve_item(item, transcription_error=result)
    return _item_with_part(item, index, evolve_part(part, transcript_log=TextLog.of(result)))


def _transcribed(
    state: SessionState,
    e: s.ConversationItemInputAudioTranscriptionCompleted
    | s.ConversationItemInputAudioTranscriptionFailed,
    out: _Out,
) -> SessionState:
    _open(state, e)
    item, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    result: str | ErrorInfo
    if isinstance(e, s.ConversationItemInputAudioTranscriptionCompleted):
        result = e.transcript
        done: Transition = InputTranscribed(
            item_id=e.item_id,
            content_index=e.content_index,
            transcript=e.transcript,
            usage=e.usage,
            logprobs=e.logprobs,
            languages=e.languages,
        )
    else:
        result = e.error
        done = InputTranscriptionFailed(
            item_id=e.item_id, content_index=e.content_index, error=e.error
        )
    transcripts, early = _kept(state, e, out)
    if item is None or phase is ItemPhase.PENDING:
        if state.kind == "realtime":  # the item may come yet (a transcription session has none)
            early = early.set(e.item_id, (e.content_index, result))
        out.transitions.append(done)
        return _with_transcripts(state, transcripts, early, revision=state.revision + 1)
    new = _apply_transcription(item, e.content_index, result)
    out.transitions.append(done)
    state = _with_transcripts(state, transcripts, early, revision=state.revision + 1)
    return evolve_root(state, items_by_id=state.items_by_id.set(e.item_id, new))


_TranscriptEvent: TypeAlias = (
    s.ConversationItemInputAudioTranscriptionDelta
    | s.ConversationItemInputAudioTranscriptionSegment
    | s.ConversationItemInputAudioTranscriptionCompleted
    | s.ConversationItemInputAudioTranscriptionFailed
)


def _streamed(entry: TranscriptState, e: Any) -> TranscriptState:
    delta = e.delta or ""
    logprobs = entry.logprobs
    if e.logprobs is not None:
        logprobs = (*(logprobs or ()), *e.logprobs)
    return attrs.evolve(entry, text_log=entry.text_log.append(delta), logprobs=logprobs)


def _segmented(entry: TranscriptState, e: Any) -> TranscriptState:
    segment = TranscriptSegment(id=e.id, text=e.text, speaker=e.speaker, start=e.start, end=e.end)
    return attrs.evolve(entry, segments=(*entry.segments, segment))


def _completed(entry: TranscriptState, e: Any) -> TranscriptState:
    return attrs.evolve(
        entry,
        text_log=TextLog.of(e.transcript),
        logprobs=e.logprobs if e.logprobs is not None else entry.logprobs,
        usage=e.usage,
        languages=e.languages,
        error=None,
    )


def _failed(entry: TranscriptState, e: Any) -> TranscriptState:
    return attrs.evolve(entry, error=e.error)


_TRANSCRIPT_CHANGES: Final[Mapping[type, Callable[[TranscriptState, Any], TranscriptState]]] = {
    s.ConversationItemInputAudioTranscriptionDelta: _streamed,
    s.ConversationItemInputAudioTranscriptionSegment: _segmented,
    s.ConversationItemInputAudioTranscriptionCompleted: _completed,
    s.ConversationItemInputAudioTranscriptionFailed: _failed,
}
"""Input transcription event -> what it changes in the item's transcript."""


def _kept(
    state: SessionState, e: _TranscriptEvent, out: _Out
) -> tuple[Transcripts, Map[str, tuple[int, str | ErrorInfo]]]:
    """The transcript store with ``e`` applied (the phase ``machines.TRANSCRIPT`` gives
    it), the oldest evicted past ``Config.max_transcripts``; and the early
    transcriptions without the evicted ones."""
    store = state.transcripts
    item_id = e.item_id
    entry = store.by_id.get(item_id)
    phase = _check(machines.TRANSCRIPT, None if entry is None else entry.phase, e)
    assert phase is not None
    order = store.order
    if entry is None:
        entry = TranscriptState(item_id=item_id, content_index=e.content_index or 0)
        order = (*order, item_id)
    new = attrs.evolve(_TRANSCRIPT_CHANGES[e.__class__](entry, e), phase=phase)
    by_id = store.by_id.set(item_id, new)
    early = state.input_buffer.early_transcriptions
    limit = out.config.max_transcripts
    if len(order) > limit:
        evicted, order = order[:-limit], order[-limit:]
        for gone in evicted:
            by_id = by_id.delete(gone)
            if gone in early:
                early = early.delete(gone)
    return Transcripts(by_id=by_id, order=order), early


def _with_transcripts(
    state: SessionState,
    transcripts: Transcripts,
    early: Map[str, tuple[int, str | ErrorInfo]],
    **changes: Any,
) -> SessionState:
    buf = state.input_buffer
    if early is not buf.early_transcriptions:
        changes["input_buffer"] = attrs.evolve(buf, early_transcriptions=early)
    return evolve_root(state, transcripts=transcripts, **changes)


def _item_done(state: SessionState, e: s.ConversationItemDone, out: _Out) -> SessionState:
    """GA: the item's final snapshot. A response's output item is finished by the
    ``response.output_item.done`` that follows; any other item was final when added."""
    _open(state, e)
    item, phase = _item_phase(state, e.item.id or "")
    _check(machines.ITEM, phase, e)
    if item is None:
        return state
    if item.response_id is None and item.type == "mcp_approval_request":
        # a response's request is reported at its output_item.done
        out.transitions.append(_approval_requested(item.id, e.item))
    if not item.type.startswith("mcp_"):
        return state
    changes = _mcp_changes(item, e.item)  # e.g. an mcp_list_tools item's tools
    if e.item.output is not None and e.item.output != item.output:
        changes["output"] = e.item.output
    if not changes:
        return state
    new = evolve_item(item, **changes)
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item.id, new), revision=state.revision + 1
    )


def _approval_requested(item_id: str, snapshot: Item) -> McpApprovalRequested:
    """The transition of an MCP approval request, from the item's final snapshot."""
    return McpApprovalRequested(
        item_id=item_id,
        server_label=snapshot.server_label or "",
        name=snapshot.name or "",
        arguments=snapshot.arguments or "",
    )


def _item_retrieved(state: SessionState, e: s.ConversationItemRetrieved, out: _Out) -> SessionState:
    _open(state, e)
    item_id = e.item.id or ""
    _, phase = _item_phase(state, item_id)
    _check(machines.ITEM, phase, e)
    out.transitions.append(ItemRetrieved(item_id=item_id, item=e.item))
    ledger, _ = _ack(state.ledger, e, item_id, out.config)
    return evolve_root(state, ledger=ledger, revision=state.revision + 1)


def _input_transcript_delta(
    state: SessionState, e: s.ConversationItemInputAudioTranscriptionDelta, out: _Out
) -> SessionState:
    """GA: a chunk of a user item's transcript: kept in its transcript, and on its item
    (if it has one yet) until ``.completed`` gives the whole."""
    _open(state, e)
    item, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    index = e.content_index or 0
    delta = e.delta or ""
    transcripts, early = _kept(state, e, out)
    appended = InputTranscriptAppended(
        item_id=e.item_id, content_index=index, delta=delta, logprobs=e.logprobs
    )
    if item is None or phase is ItemPhase.PENDING or not delta:
        out.transitions.append(appended)
        return _with_transcripts(state, transcripts, early, revision=state.revision + 1)
    part = _part_at(item, index, "input_audio")
    if part is None:
        raise _Rejected("INV-14", f"item {item.id} has no input_audio part {index}")
    out.transitions.append(appended)
    log = (part.transcript_log or EMPTY_TEXT).append(delta)
    state = _with_transcripts(state, transcripts, early)
    return with_part(state, item, index, evolve_part(part, transcript_log=log))


def _input_segment(
    state: SessionState, e: s.ConversationItemInputAudioTranscriptionSegment, out: _Out
) -> SessionState:
    """GA, diarizing models: one segment of a user item's transcript, kept in its
    transcript (``TranscriptState.segments``), not on the item."""
    _open(state, e)
    _, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    transcripts, early = _kept(state, e, out)
    out.transitions.append(
        InputSegmentTranscribed(
            item_id=e.item_id,
            content_index=e.content_index,
            segment_id=e.id,
            text=e.text,
            speaker=e.speaker,
            start=e.start,
            end=e.end,
        )
    )
    return _with_transcripts(state, transcripts, early, revision=state.revision + 1)


def _item_deleted(state: SessionState, e: s.ConversationItemDeleted, out: _Out) -> SessionState:
    _open(state, e)
    _, phase = _item_phase(state, e.item_id)
    gone = _check(machines.ITEM, phase, e)
    assert gone is None  # the table removes a deleted item
    order = state.order
    if e.item_id in order:
        order = order.without(e.item_id)
    audio = state.audio
    if len(audio):
        audio = audio.without(e.item_id)
    out.transitions.append(ItemDeleted(item_id=e.item_id))
    ledger, _ = _ack(state.ledger, e, e.item_id, out.config)
    playback = state.playback
    if e.item_id in playback:
        playback = playback.delete(e.item_id)
    return evolve_root(
        state,
        items_by_id=state.items_by_id.delete(e.item_id),
        order=order,
        audio=audio,
        ledger=ledger,
        playback=playback,
        revision=state.revision + 1,
    )


def _item_truncated(state: SessionState, e: s.ConversationItemTruncated, out: _Out) -> SessionState:
    _open(state, e)
    item, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    assert item is not None
    index = e.content_index
    part = _part_at(item, index, "audio")
    if part is None:
        raise _Rejected("INV-16", f"item {e.item_id} has no audio part {index} to truncate")
    out.transitions.append(
        ItemTruncated(item_id=e.item_id, content_index=index, audio_end_ms=e.audio_end_ms)
    )
    new = _item_with_part(item, index, _cut(part, e.audio_end_ms))
    ledger, _ = _ack(state.ledger, e, e.item_id, out.config)
    return evolve_root(
        state,
        items_by_id=state.items_by_id.set(e.item_id, new),
        ledger=ledger,
        revision=state.revision + 1,
    )


def _part_at(item: ItemState, index: int, kind: str) -> PartState | None:
    """Part ``index`` of ``item`` if there is one and it is a ``kind`` part."""
    if 0 <= index < len(item.parts):
        part = item.parts[index]
        if part.type == kind:
            return part
    return None


def _item_with_part(item: ItemState, index: int, part: PartState) -> ItemState:
    """``item`` with ``part`` as its part ``index``."""
    parts = item.parts
    return evolve_item(item, parts=(*parts[:index], part, *parts[index + 1 :]))


def _cut(part: PartState, audio_end_ms: int) -> PartState:
    """An audio part truncated at ``audio_end_ms``: its transcript no longer holds."""
    return evolve_part(part, truncated_ms=audio_end_ms, transcript_log=EMPTY_TEXT)
