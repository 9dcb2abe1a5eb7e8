"""The ledger: client events sent, acknowledged, rejected, queued; pure functions
over ``Ledger``.

Each function takes a ``Ledger`` and its inputs and returns the new ``Ledger`` with
what else happened as a value: the entry settled or given up (a ``InFlight``), the
client event to plan, or ``Effects`` (transitions, infos, planned events). Nothing
here sees the rest of the state: the handlers (``_sends``, ``_responses``, ...)
roll back what a given-up event changed locally and record the effects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypedDict, Unpack

import attrs

from .. import machines
from .._build import evolver
from ..config import Config
from ..events import client as c
from ..events import server as s
from ..events.payloads import ErrorInfo, JSONObject
from ..state import InFlight, Ledger, PartState, _creates_out_of_band
from ..transitions import ClientEventCoalesced, ClientEventQueued, ClientEventRejected, Transition
from ._base import NO_EFFECTS, Effects, _bounded

_ACKNOWLEDGES: Final = machines.ACKNOWLEDGES
_RESPONSE_ACTIVE_CODE: Final = "conversation_already_has_active_response"
_CANCEL_NOT_ACTIVE_CODE: Final = "response_cancel_not_active"
# October 2024 servers sent these two with ``code: null``: recognised by message
_CODE_BY_MESSAGE: Final = (
    ("already has an active response", _RESPONSE_ACTIVE_CODE),
    ("no active response", _CANCEL_NOT_ACTIVE_CODE),
)


class LedgerChanges(TypedDict, total=False):
    """The fields of ``Ledger``, for ``_with``'s keyword arguments (tests/core/test_ledger.py
    holds them to the class's fields)."""

    in_flight: tuple[InFlight, ...]
    recent: tuple[c.ClientEvent, ...]
    queued: tuple[c.ResponseCreate, ...]
    deferred_cancel: c.ResponseCancel | None


_evolve_ledger: Final = evolver(Ledger)


def _with(ledger: Ledger, /, **changes: Unpack[LedgerChanges]) -> Ledger:
    """``attrs.evolve(ledger, **changes)`` by plain slot writes (``rtstate._build.evolver``:
    a third of the time): every ledger change of the fold."""
    return _evolve_ledger(ledger, **changes)


def _error_code(error: ErrorInfo) -> str | None:
    if error.code is not None:
        return error.code
    message = (error.message or "").lower()
    for fragment, code in _CODE_BY_MESSAGE:
        if fragment in message:
            return code
    return None


def _remember(ledger: Ledger, e: c.ClientEvent, config: Config) -> tuple[c.ClientEvent, ...]:
    """``ledger.recent`` with ``e`` added (the oldest forgotten past the bound)."""
    return _bounded(ledger.recent, e, config.max_recent_events)


def _recorded(
    ledger: Ledger,
    e: c.ClientEvent,
    config: Config,
    key: str | None = None,
    undo: PartState | None = None,
) -> tuple[Ledger, InFlight | None]:
    """``ledger`` with ``e`` in it: in flight if the server acknowledges its kind; and
    the entry given up to make room, if any.

    A full ledger gives up on its oldest in-flight event other than a
    ``response.create`` (the caller reports ``ClientEventTimedOut`` and rolls it back
    as a timeout is), so the one-active-response rule never loses track of a request.
    """
    if not machines.ACKS[e.__class__]:
        return _with(ledger, recent=_remember(ledger, e, config)), None
    in_flight = ledger.in_flight
    evicted: InFlight | None = None
    if len(in_flight) >= config.max_in_flight:
        index = next(
            (i for i, p in enumerate(in_flight) if p.event.__class__ is not c.ResponseCreate), 0
        )
        evicted = in_flight[index]
        in_flight = (*in_flight[:index], *in_flight[index + 1 :])
    entry = InFlight(event=e, key=key, undo=undo)
    ledger = _with(ledger, in_flight=(*in_flight, entry))
    if evicted is None:
        return ledger, None
    return _with(ledger, recent=_remember(ledger, evicted.event, config)), evicted


def _ack(
    ledger: Ledger, answer: s.ServerEvent, key: str | None, config: Config
) -> tuple[Ledger, InFlight | None]:
    """``ledger`` with the first in-flight event ``answer`` acknowledges settled (its
    type, by ``machines.ACKS``), and that entry.

    ``key`` names what the acknowledgement is about (an item or response id):
    only an entry with that key matches; ``None`` matches in send order.
    """
    if not ledger.in_flight:  # the common case on a server-driven stream
        return ledger, None
    sent = _ACKNOWLEDGES[answer.__class__]
    return _settle_first(
        ledger, lambda p: p.event.__class__ is sent and (key is None or p.key == key), config
    )


def _settle_first(
    ledger: Ledger, matches: Callable[[InFlight], bool], config: Config
) -> tuple[Ledger, InFlight | None]:
    """``ledger`` with its first in-flight entry that ``matches`` moved to ``recent``."""
    for index, entry in enumerate(ledger.in_flight):
        if matches(entry):
            in_flight = (*ledger.in_flight[:index], *ledger.in_flight[index + 1 :])
            recent = _remember(ledger, entry.event, config)
            return _with(ledger, in_flight=in_flight, recent=recent), entry
    return ledger, None


def _ack_created(
    ledger: Ledger, conversation: str | None, metadata: JSONObject | None, config: Config
) -> tuple[Ledger, InFlight | None]:
    """``ledger`` with the in-flight ``response.create`` a ``response.created`` answers
    settled, and that entry (``None``: no create of its kind is in flight, the server
    started the response itself).

    ``conversation`` is the response's as its object tells (``"auto"``, ``"none"``, or
    ``None`` when it cannot: any create may match), ``metadata`` its object's. Of the
    creates in flight for that conversation, the first (in send order) whose metadata
    is the response's, else the first.
    """
    candidates = [
        entry
        for entry in ledger.in_flight
        if entry.event.__class__ is c.ResponseCreate
        and (conversation is None or _conversation_of(entry.event) == conversation)
    ]
    if not candidates:
        return ledger, None
    chosen = candidates[0]
    if metadata is not None:
        chosen = next((p for p in candidates if _metadata_of(p.event) == metadata), chosen)
    return _settle_first(ledger, lambda p: p is chosen, config)


def _conversation_of(event: c.ClientEvent) -> str:
    """The conversation (``"auto"`` or ``"none"``) a ``response.create`` asks for."""
    return "none" if _creates_out_of_band(event) else "auto"


def _metadata_of(event: c.ClientEvent) -> JSONObject | None:
    params = event.response if isinstance(event, c.ResponseCreate) else None
    return None if params is None else params.metadata


def _ack_unnamed_create(
    ledger: Ledger, item_type: str, config: Config
) -> tuple[Ledger, InFlight | None]:
    """Settle the first ``conversation.item.create`` sent without an id, of this type
    (``ledger`` with it settled, and its entry, ``None`` if there is none).

    Called for an item nobody else explains (no response announced it, no commit
    made it): the server named the client's item.
    """
    if not ledger.in_flight:
        return ledger, None

    def matches(entry: InFlight) -> bool:
        event = entry.event
        return (
            isinstance(event, c.ConversationItemCreate)
            and event.item.id is None
            and event.item.type == item_type
        )

    return _settle_first(ledger, matches, config)


def _release(ledger: Ledger, active: bool) -> tuple[Ledger, c.ResponseCreate | None]:
    """The first queued ``response.create`` taken out of ``ledger`` to be planned, if
    no default-conversation response is ``active`` and none is requested (out-of-band
    ones hold nothing back)."""
    if not ledger.queued or active or ledger.default_requested:
        return ledger, None
    return _with(ledger, queued=ledger.queued[1:]), ledger.queued[0]


def _released_cancel(ledger: Ledger) -> tuple[Ledger, c.ResponseCancel | None]:
    """The cancel sent before the requested response existed, taken out of ``ledger``
    to be planned, once no default-conversation response is requested any more (it
    was created: a bare cancel is for the default response)."""
    cancel = ledger.deferred_cancel
    if cancel is None or ledger.default_requested:
        return ledger, None
    return _with(ledger, deferred_cancel=None), cancel


def _requeued(ledger: Ledger, retry: c.ResponseCreate, config: Config) -> tuple[Ledger, Effects]:
    """``ledger`` with a refused ``response.create`` queued again, in front: the queue
    it would hold had the retry waited there all along.

    A later queued create identical to it is coalesced into it, and a queue still
    over ``Config.max_in_flight`` loses its newest create (``queue_full``), as that
    create would have been dropped on arrival.
    """
    transitions: list[Transition] = [ClientEventQueued(event=retry)]
    queue: list[c.ResponseCreate] = [retry]
    for queued in ledger.queued:
        if queued.response == retry.response:
            transitions.append(ClientEventCoalesced(event=queued, into=retry))
        else:
            queue.append(queued)
    limit = config.max_in_flight
    infos: tuple[tuple[str, str], ...] = ()
    if len(queue) > limit:
        infos = (("queue_full", f"{limit} response.create already queued; the newest dropped"),)
        del queue[limit:]
    return _with(ledger, queued=tuple(queue)), Effects(tuple(transitions), infos)


def _queued(ledger: Ledger, e: c.ResponseCreate, config: Config) -> tuple[Ledger, Effects]:
    """``ledger`` with ``e`` (a ``response.create`` that cannot go now) queued, or
    coalesced into an identical queued one, or dropped on a full queue."""
    for queued in ledger.queued:
        if queued.response == e.response:
            return ledger, Effects(transitions=(ClientEventCoalesced(event=e, into=queued),))
    if len(ledger.queued) >= config.max_in_flight:
        full = f"{len(ledger.queued)} response.create already queued; dropped"
        return ledger, Effects(infos=(("queue_full", full),))
    queue = (*ledger.queued, e)
    return _with(ledger, queued=queue), Effects(transitions=(ClientEventQueued(event=e),))


def _deferred(ledger: Ledger, e: c.ResponseCancel) -> tuple[Ledger, Effects]:
    """``ledger`` with ``e`` kept until the requested response exists, or coalesced
    into the cancel already kept."""
    waiting = ledger.deferred_cancel
    if waiting is not None:
        return ledger, Effects(transitions=(ClientEventCoalesced(event=e, into=waiting),))
    ledger = _with(ledger, deferred_cancel=e)
    return ledger, Effects(transitions=(ClientEventQueued(event=e),))


def _timed(ledger: Ledger, now: float, timeout: float) -> tuple[Ledger, tuple[InFlight, ...]]:
    """``ledger`` at ``now``: the timers of newly sent events started, the entries
    overdue by ``timeout`` taken out (and given, in send order)."""
    kept: list[InFlight] = []
    expired: list[InFlight] = []
    for entry in ledger.in_flight:
        if entry.sent_at is None:
            kept.append(attrs.evolve(entry, sent_at=now))
        elif now - entry.sent_at >= timeout:
            expired.append(entry)
        else:
            kept.append(entry)
    return _with(ledger, in_flight=tuple(kept)), tuple(expired)


def _rejection(
    ledger: Ledger, error: ErrorInfo, active: bool, config: Config
) -> tuple[Ledger, InFlight | None, Effects]:
    """``ledger`` without the client event the server ``error`` refuses, that event
    (with the ``undo`` its entry kept, for the caller's rollback), and the effects.

    The event is the one the error's ``event_id`` names; without one (October 2024),
    for the two codes that can only mean one kind, the oldest unanswered event of the
    kind, else the one answered last (its acknowledgement was someone else's, as the
    error shows); of ``response.create``, only a default-conversation one. A
    ``response.create`` refused for a race with a response we did not ask for is
    queued again without its spent ``event_id``; a refused create drops the cancel
    that waited for it, and frees the queue (``active``: the default conversation's
    response is active). No event: ``ledger`` unchanged, ``None``.
    """
    code = _error_code(error)
    event: c.ClientEvent | None = None
    if error.event_id is not None:
        event = ledger.find(error.event_id)
    elif code in (_RESPONSE_ACTIVE_CODE, _CANCEL_NOT_ACTIVE_CODE):
        wanted = c.ResponseCreate if code == _RESPONSE_ACTIVE_CODE else c.ResponseCancel
        candidates = (
            *(p.event for p in ledger.in_flight),
            *reversed(ledger.recent),
        )
        # only a default-conversation create can meet an active response
        event = next(
            (e for e in candidates if e.__class__ is wanted and not _creates_out_of_band(e)),
            None,
        )
    if event is None:
        return ledger, None, NO_EFFECTS
    transitions: list[Transition] = [ClientEventRejected(event=event, error=error)]
    infos: list[tuple[str, str]] = []
    planned: list[c.ClientEvent] = []
    undo = next((p.undo for p in ledger.in_flight if p.event is event), None)
    ledger = _with(
        ledger,
        in_flight=tuple(p for p in ledger.in_flight if p.event is not event),
        recent=tuple(r for r in ledger.recent if r is not event),
        queued=tuple(q for q in ledger.queued if q is not event),
        deferred_cancel=None if ledger.deferred_cancel is event else ledger.deferred_cancel,
    )
    if isinstance(event, c.ResponseCreate):
        if code == _RESPONSE_ACTIVE_CODE:  # a race with a response we did not ask for
            # queued again without its spent event_id: it goes out under a new one
            ledger, requeue = _requeued(ledger, attrs.evolve(event, event_id=None), config)
            transitions.extend(requeue.transitions)
            infos.extend(requeue.infos)
        if ledger.deferred_cancel is not None and not ledger.default_requested:
            infos.append(
                ("cancel_dropped", "the response a deferred cancel waited for was refused")
            )
            ledger = _with(ledger, deferred_cancel=None)
        ledger, release = _release(ledger, active)
        if release is not None:
            planned.append(release)
    refused = InFlight(event=event, undo=undo)
    return ledger, refused, Effects(tuple(transitions), tuple(infos), tuple(planned))
