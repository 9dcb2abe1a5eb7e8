"""Responses: ``response.created`` and ``response.done`` (which closes what the
response left open, and frees the ledger's queue), of the default conversation or out
of band (an out-of-band response's items never enter the conversation order), the
output items a response announces and finishes (``response.output_item.added`` /
``.done``, reconciling their parts with the final snapshot), and the server's own
output audio buffer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .. import machines
from .._fast import (
    evolve_item,
    evolve_part,
    evolve_root,
    item_finished,
    new_item_finished,
    new_response,
    new_response_finished,
    new_response_started,
    response_finished,
    response_with_output,
)
from ..events import server as s
from ..events.payloads import ContentPart, ResponseInfo
from ..logs import TextLog
from ..state import (
    _AUTO,
    _NONE,
    ItemPhase,
    ItemState,
    PartPhase,
    PartState,
    PlaybackPhase,
    ResponsePhase,
    SessionState,
)
from ..transitions import (
    FunctionCallReady,
    OutputAudioCleared,
    OutputAudioStarted,
    OutputAudioStopped,
)
from ._base import (
    _ITEM_TABLE,
    _PART_TABLE,
    _active,
    _bounded,
    _check,
    _live,
    _open,
    _Out,
    _Rejected,
)
from ._items import _approval_requested, _item_from, _mcp_changes, _part_from
from ._ledger import (
    _ack,
    _ack_created,
    _conversation_of,
    _metadata_of,
    _release,
    _released_cancel,
)
from ._parts import _compacted, _finished, _settle

_FINAL_ITEM_STATUSES: Final = frozenset({"completed", "incomplete"})
_PART_DONE: Final = PartPhase.DONE
_ITEM_DONE: Final = ItemPhase.DONE
_ANNOUNCED: Final = ItemPhase.ANNOUNCED
# a part done stays done when its item or response ends: no copy of it there
assert _PART_TABLE[(_PART_DONE, s.ResponseOutputItemDone)] is _PART_DONE


def _response_id(info: ResponseInfo, e: s.ResponseCreated | s.ResponseDone) -> str:
    """The response's id; GA's types make it optional, but a response without one
    cannot be followed (INV-4)."""
    if info.id is None:
        raise _Rejected("INV-4", f"{e.type} without a response id")
    return info.id


def _response_created(state: SessionState, e: s.ResponseCreated, out: _Out) -> SessionState:
    """A response begins: of the default conversation (the active response: at most
    one, INV-5) or out of band (any number), as ``ResponseState`` says how it is told;
    it acknowledges the in-flight ``response.create`` it answers (``_ack_created``)."""
    _open(state, e)
    info = e.response
    response_id = _response_id(info, e)
    known = state.responses.get(response_id)
    phase = _check(machines.RESPONSE, None if known is None else known.phase, e)
    told = _told_conversation(info)
    ledger, entry = state.ledger, None
    if ledger.in_flight:  # else no response.create to acknowledge (the common case)
        ledger, entry = _ack_created(ledger, told, info.metadata, out.config)
    conversation = told or (_AUTO if entry is None else _conversation_of(entry.event))
    active = state.active_response_id
    if conversation == _AUTO:
        if active is not None:
            raise _Rejected("INV-5", f"response {response_id} created while {active} is active")
        active = response_id
    metadata = info.metadata
    if metadata is None and entry is not None:
        metadata = _metadata_of(entry.event)
    response = new_response(
        id=response_id,
        phase=phase,
        status=info.status,
        info=info,
        output_audio_format=_output_format(state, info),
        conversation=conversation,
        metadata=metadata,
    )
    out.transitions.append(
        new_response_started(response_id=response_id, conversation=conversation, metadata=metadata)
    )
    if active == response_id and ledger.deferred_cancel is not None:
        ledger, cancel = _released_cancel(ledger)
        if cancel is not None:
            out.plan(cancel)  # the cancel sent before this response existed
    revision = state.revision + 1
    if ledger is not state.ledger:  # a response.create acknowledged: not the common case
        state = evolve_root(state, ledger=ledger)
    return evolve_root(
        state,
        responses=state.responses.set(response_id, response),
        active_response_id=active,
        revision=revision,
    )


def _told_conversation(info: ResponseInfo) -> str | None:
    """The conversation a response object tells: ``"auto"`` if it names one,
    ``"none"`` if its ``conversation_id`` is null in the 2025 shape (which carries
    ``modalities``), ``None`` for an October 2024 object (neither field)."""
    if info.conversation_id is not None:
        return _AUTO
    return None if info.modalities is None else _NONE


def _response_done(state: SessionState, e: s.ResponseDone, out: _Out) -> SessionState:
    _open(state, e)
    info = e.response
    response_id = _response_id(info, e)
    response = _active(state, e, response_id)
    in_conversation = not response.out_of_band
    items = state.items_by_id
    order = state.order
    for item_id in response.output:
        item = items.get(item_id)
        if item is None or item.phase is _ITEM_DONE:
            continue
        out.note("INV-12", f"item {item_id} still open at response.done; closed")
        if in_conversation and item_id not in order:
            order = order.insert(item_id, order.tail)
        # the snapshot's status (the last, if listed twice)
        status = next((o.status for o in reversed(info.output) if o.id == item_id), None)
        if status not in _FINAL_ITEM_STATUSES:  # a closed item is never in_progress
            status = "incomplete"
        parts = tuple(_finished(p, _live(_PART_TABLE, p.phase, s.ResponseDone)) for p in item.parts)
        phase = _live(_ITEM_TABLE, item.phase, s.ResponseDone)
        items = items.set(item_id, evolve_item(item, phase=phase, status=status, parts=parts))
        out.transitions.append(new_item_finished(item_id=item_id, status=status))
    announced = response.output
    for snapshot in info.output:
        if snapshot.id is not None and snapshot.id not in announced:
            out.note("INV-11", f"response.done lists {snapshot.id}, never announced")
    # the table ends the response (RESPONSE gives None); its record joins the history
    finished = response_finished(response, ResponsePhase.DONE, info)
    history = _bounded(state.finished, finished, out.config.max_finished_responses)
    out.transitions.append(
        new_response_finished(
            response_id=response_id,
            status=info.status,
            status_details=info.status_details,
            usage=info.usage,
            conversation=response.conversation,
        )
    )
    ledger = state.ledger
    if ledger.in_flight:
        ledger, entry = _ack(ledger, e, response_id, out.config)
        while entry is not None:  # every cancel of this response is answered by its end
            ledger, entry = _ack(ledger, e, response_id, out.config)
    active = state.active_response_id
    if active == response_id:
        active = None
    if ledger.queued:
        ledger, release = _release(ledger, active is not None)
        if release is not None:
            out.plan(release)
    revision = state.revision + 1
    if items is not state.items_by_id or order is not state.order:  # items closed here
        state = evolve_root(state, items_by_id=items, order=order)
    return evolve_root(
        state,
        responses=state.responses.delete(response_id),
        active_response_id=active,
        finished=history,
        ledger=ledger,
        revision=revision,
    )


def _output_item_added(
    state: SessionState, e: s.ResponseOutputItemAdded, out: _Out
) -> SessionState:
    _open(state, e)
    response = _active(state, e, e.response_id)
    if e.output_index != len(response.output):
        raise _Rejected("INV-6", f"output_index {e.output_index}, expected {len(response.output)}")
    item_id = e.item.id
    if item_id is None:
        raise _Rejected("INV-6", "response.output_item.added without an item id")
    item = state.items_by_id.get(item_id)
    phase = _check(machines.ITEM, None if item is None else item.phase, e)
    if item is None:
        new = _item_from(
            e.item,
            item_id,
            phase,
            e,
            response_id=response.id,
            output_index=e.output_index,
        )
    else:
        new = evolve_item(item, phase=phase, response_id=response.id, output_index=e.output_index)
    grown = response_with_output(response, (*response.output, item_id))
    return evolve_root(
        state,
        items_by_id=state.items_by_id.set(item_id, new),
        responses=state.responses.set(response.id, grown),
        revision=state.revision + 1,
    )


_OUTPUT_AUDIO: Final[
    Mapping[type, tuple[type[OutputAudioStarted | OutputAudioStopped], PlaybackPhase]]
] = {
    s.OutputAudioBufferStarted: (OutputAudioStarted, PlaybackPhase.STARTED),
    s.OutputAudioBufferStopped: (OutputAudioStopped, PlaybackPhase.STOPPED),
}


def _output_audio(
    state: SessionState,
    e: s.OutputAudioBufferStarted | s.OutputAudioBufferStopped,
    out: _Out,
) -> SessionState:
    """GA, WebRTC/SIP: the server's own playback began or ended (anywhere, like
    ``rate_limits.updated``: ``stopped`` follows the response's end)."""
    _open(state, e)
    transition, phase = _OUTPUT_AUDIO[type(e)]
    out.transitions.append(transition(response_id=e.response_id))
    return _played_by_server(state, e.response_id, phase)


def _output_audio_cleared(
    state: SessionState, e: s.OutputAudioBufferCleared, out: _Out
) -> SessionState:
    _open(state, e)
    out.transitions.append(OutputAudioCleared(response_id=e.response_id))
    ledger, _ = _ack(state.ledger, e, None, out.config)
    state = _played_by_server(state, e.response_id, PlaybackPhase.CLEARED)
    return evolve_root(state, ledger=ledger)


def _played_by_server(state: SessionState, response_id: str, phase: PlaybackPhase) -> SessionState:
    """``state`` with ``server_playback[response_id] = phase``; the entries of responses
    the state no longer remembers are dropped once they stop playing (a bound)."""
    playback = state.server_playback.set(response_id, phase)
    stale = [
        r
        for r, p in playback.items()
        if p is not PlaybackPhase.STARTED and r != response_id and state.response_by_id(r) is None
    ]
    for r in stale:
        playback = playback.delete(r)
    return evolve_root(state, server_playback=playback, revision=state.revision + 1)


def _output_item_done(state: SessionState, e: s.ResponseOutputItemDone, out: _Out) -> SessionState:
    _open(state, e)
    response = _active(state, e, e.response_id)
    item_id = e.item.id or ""
    item = state.items_by_id.get(item_id)
    next_phase = _check(machines.ITEM, None if item is None else item.phase, e)
    assert item is not None
    if response.output[e.output_index : e.output_index + 1] != (item_id,):
        raise _Rejected("INV-6", f"item {item_id} is not output {e.output_index} of {response.id}")
    if item.phase is _ANNOUNCED and not response.out_of_band:
        out.note("INV-7", f"item {item_id} finished without conversation.item.created")
        order = state.order
        state = evolve_root(state, order=order.insert(item_id, order.tail))
    snapshot = e.item
    parts = item.parts
    if snapshot.content is not None:
        quiet = response.id == state.interrupted_response_id
        parts = _reconcile_parts(item, snapshot.content, out, quiet)
    arguments = item.arguments_log
    if snapshot.arguments is not None and snapshot.arguments != arguments.value:
        if item.type == "function_call" and arguments.chunk_count:
            out.note("INV-9", f"arguments of {item_id} differ from their deltas")
        arguments = TextLog.of(snapshot.arguments)
    arguments = arguments.compacted()
    status = snapshot.status
    new = item_finished(
        item,
        next_phase,
        status,
        parts,
        arguments,
        snapshot.name or item.name,
        snapshot.call_id or item.call_id,
        snapshot.output if snapshot.output is not None else item.output,
    )
    if new.type.startswith("mcp_"):
        new = evolve_item(new, **_mcp_changes(item, snapshot))
    out.transitions.append(new_item_finished(item_id=item_id, status=status))
    if new.type == "function_call" and status == "completed":
        out.transitions.append(
            FunctionCallReady(
                item_id=item_id,
                call_id=new.call_id or "",
                name=new.name or "",
                arguments=arguments.value,
                response_id=response.id,
            )
        )
    if new.type == "mcp_approval_request":
        out.transitions.append(_approval_requested(item_id, snapshot))
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item_id, new), revision=state.revision + 1
    )


def _reconcile_parts(
    item: ItemState, content: tuple[ContentPart, ...], out: _Out, quiet: bool
) -> tuple[PartState, ...]:
    parts = list(item.parts)
    for index, part in enumerate(parts):
        if part.phase is not _PART_DONE:
            out.note("INV-8", f"part {index} of {item.id} still open at output_item.done")
            done = _live(_PART_TABLE, part.phase, s.ResponseOutputItemDone)
            parts[index] = evolve_part(part, phase=done)
    for index, snapshot in enumerate(content):
        if index >= len(parts):
            parts.append(_part_from(snapshot, _live(_PART_TABLE, None, s.ResponseOutputItemDone)))
            continue
        parts[index] = _compacted(_settle(item.id, index, parts[index], snapshot, out, quiet=quiet))
    return tuple(parts)


def _output_format(state: SessionState, info: ResponseInfo) -> str:
    """A new response's output audio format: its own, else the session's."""
    if info.output_audio_format:
        return info.output_audio_format
    session = state.session
    return (session.output_audio_format if session is not None else None) or "pcm16"
