"""Client events as sent: what each does locally (a create shown at once as
``PENDING``, a truncate applied at once, a default-conversation ``response.create``
queued while the active response is in progress or requested, a cancel kept until its
response exists) and its place in the ledger
(``_record``); and the rollback of a client event the server refused
(``_rejected``) or that timed out (``_rolled_back``).
"""

from __future__ import annotations

import attrs

from .. import machines
from .._fast import evolve_item, evolve_part, evolve_root
from ..events import client as c
from ..events.payloads import ErrorInfo
from ..state import PartState, SessionPhase, SessionState, _creates_out_of_band
from ..transitions import ClientEventTimedOut
from ._base import _BYTES_PER_MS, _ITEM_TABLE, _live, _Out, _Rejected
from ._items import _cut, _item_from, _item_with_part, _part_at
from ._ledger import _deferred, _queued, _recorded, _rejection


def _b64_bytes(data: str) -> int:
    """The bytes ``data`` (base64) decodes to: padding only ever ends it."""
    n = len(data)
    return n * 3 // 4 - data.count("=", n - 2)


def _sent_append(state: SessionState, e: c.InputAudioBufferAppend, out: _Out) -> SessionState:
    _sending(state, e)
    buf = state.input_buffer
    fmt = state.session.input_audio_format if state.session is not None else None
    ms = _b64_bytes(e.audio) / _BYTES_PER_MS.get(fmt or "pcm16", 48)
    out.send(e)
    return evolve_root(
        _record(state, e, out),
        input_buffer=attrs.evolve(
            buf,
            appended_ms=buf.appended_ms + ms,
            total_appended_ms=buf.total_appended_ms + ms,
        ),
        revision=state.revision + 1,
    )


def _record(
    state: SessionState,
    e: c.ClientEvent,
    out: _Out,
    key: str | None = None,
    undo: PartState | None = None,
) -> SessionState:
    """``state`` with ``e`` in the ledger (``_ledger._recorded``); the event a full
    ledger gave up for it is reported (``ClientEventTimedOut``) and rolled back."""
    ledger, evicted = _recorded(state.ledger, e, out.config, key, undo)
    if evicted is None:
        return evolve_root(state, ledger=ledger)
    out.transitions.append(ClientEventTimedOut(event=evicted.event))
    return _rolled_back(evolve_root(state, ledger=ledger), evicted.event, evicted.undo)


def _sending(state: SessionState, e: c.ClientEvent) -> None:
    if state.phase is SessionPhase.CLOSED:
        raise _Rejected("closed", f"{e.type} sent after the transport closed")


def _sent(state: SessionState, e: c.ClientEvent, out: _Out) -> SessionState:
    """A client event with no local effect beyond the ledger."""
    _sending(state, e)
    out.send(e)
    return evolve_root(_record(state, e, out), revision=state.revision + 1)


def _send_item_create(state: SessionState, e: c.ConversationItemCreate, out: _Out) -> SessionState:
    """Sent with an id, the item is shown at once as ``PENDING`` (not yet in order)."""
    _sending(state, e)
    out.send(e)
    item_id = e.item.id
    after = _record(state, e, out, key=item_id)
    items = after.items_by_id
    if item_id is not None and item_id not in items:
        phase = _live(_ITEM_TABLE, None, e.__class__)
        items = items.set(item_id, _item_from(e.item, item_id, phase, e))
    return evolve_root(after, items_by_id=items, revision=state.revision + 1)


def _send_keyed(
    state: SessionState, e: c.ConversationItemDelete | c.ConversationItemRetrieve, out: _Out
) -> SessionState:
    _sending(state, e)
    out.send(e)
    return evolve_root(_record(state, e, out, key=e.item_id), revision=state.revision + 1)


def _send_truncate(state: SessionState, e: c.ConversationItemTruncate, out: _Out) -> SessionState:
    """Truncated locally at once, as the server will (the transcript is dropped)."""
    _sending(state, e)
    out.send(e)
    item = state.items_by_id.get(e.item_id)
    index = e.content_index
    old = None if item is None else _part_at(item, index, "audio")
    if item is None or old is None:
        return evolve_root(_record(state, e, out, key=e.item_id), revision=state.revision + 1)
    after = _record(state, e, out, key=e.item_id, undo=old)
    item = after.items_by_id.get(e.item_id) or item
    cut = _item_with_part(item, index, _cut(old, e.audio_end_ms))
    return evolve_root(
        after, items_by_id=after.items_by_id.set(item.id, cut), revision=state.revision + 1
    )


def _send_response_create(state: SessionState, e: c.ResponseCreate, out: _Out) -> SessionState:
    """An out-of-band create (``conversation: "none"``) is sent at once; a
    default-conversation one is sent if the active response is neither in progress
    nor requested, else queued (or coalesced)."""
    _sending(state, e)
    ledger = state.ledger
    if _creates_out_of_band(e) or (
        state.active_response_id is None and not ledger.default_requested
    ):
        out.send(e)
        return evolve_root(_record(state, e, out), revision=state.revision + 1)
    queued, effects = _queued(ledger, e, out.config)
    out.take(effects)
    if queued is ledger:  # coalesced, or dropped
        return state
    return evolve_root(state, ledger=queued, revision=state.revision + 1)


def _send_response_cancel(state: SessionState, e: c.ResponseCancel, out: _Out) -> SessionState:
    """Sent if the response it names is in progress (a bare cancel names the active
    response, as the service reads it), or if it names one while any is; kept until
    it exists if a response is requested (a bare cancel: a default-conversation one);
    else nothing. Its key is the response it names: that response's end settles it.
    """
    _sending(state, e)
    ledger = state.ledger
    target = e.response_id
    if target is None:  # the active response's, or the one requested for it
        target, waiting = state.active_response_id, ledger.default_requested
    else:  # a wrong id is the server's to refuse
        waiting = ledger.response_requested
        if not state.responses:
            target = None
    if target is not None:
        out.send(e)
        after = _record(state, e, out, key=target)
        return evolve_root(after, revision=state.revision + 1)
    if waiting:
        deferred, effects = _deferred(ledger, e)
        out.take(effects)
        if deferred is ledger:  # coalesced
            return state
        return evolve_root(state, ledger=deferred, revision=state.revision + 1)
    out.info("cancel_not_active", "response.cancel with no response active or requested: not sent")
    return state


def _rejected(state: SessionState, error: ErrorInfo, out: _Out) -> SessionState:
    """Correlate a server error with the client event it names, and roll it back."""
    ledger, refused, effects = _rejection(
        state.ledger, error, state.active_response_id is not None, out.config
    )
    if refused is None:
        return state
    out.take(effects)
    state = _rolled_back(state, refused.event, refused.undo)
    return evolve_root(state, ledger=ledger)


def _rolled_back(state: SessionState, event: c.ClientEvent, undo: PartState | None) -> SessionState:
    """``state`` without what ``event`` changed locally."""
    items = state.items_by_id
    if isinstance(event, c.ConversationItemCreate) and event.item.id is not None:
        item = items.get(event.item.id)
        back = machines.ITEM.undo
        if item is not None and (item.phase, event.__class__) in back:
            phase = back[(item.phase, event.__class__)]
            if phase is None:
                return evolve_root(state, items_by_id=items.delete(item.id))
            return evolve_root(
                state, items_by_id=items.set(item.id, evolve_item(item, phase=phase))
            )
    if isinstance(event, c.ConversationItemTruncate) and undo is not None:
        item = items.get(event.item_id)
        index = event.content_index
        if item is not None and index < len(item.parts):
            # only what the truncation changed: the part may have finished since
            current = item.parts[index]
            restored = evolve_part(
                current, truncated_ms=undo.truncated_ms, transcript_log=undo.transcript_log
            )
            return evolve_root(
                state, items_by_id=items.set(item.id, _item_with_part(item, index, restored))
            )
    return state
