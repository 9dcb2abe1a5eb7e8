"""The ledger's pure functions (``rtstate._fold._ledger``): each takes a ``Ledger``
and returns the new one with what else happened as a value; the ledger given is
never changed, and nothing is written anywhere else.

The fold's own tests (tests/test_client_logic.py, tests/test_fold.py, ...) check what
the ledger does through ``fold``; these check the functions one by one.
"""

from __future__ import annotations

import typing

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtstate import Config
from rtstate._fold import _ledger as L
from rtstate._fold._base import Effects
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import ErrorInfo, Item, ResponseParams, SessionConfig
from rtstate.state import InFlight, Ledger
from rtstate.transitions import ClientEventCoalesced, ClientEventQueued, ClientEventRejected

CONFIG = Config(max_in_flight=3, max_recent_events=2)


def _create(n: int, instructions: str | None = None) -> c.ResponseCreate:
    return c.ResponseCreate(event_id=f"evt_{n}", response=ResponseParams(instructions=instructions))


def _update(n: int) -> c.SessionUpdate:
    return c.SessionUpdate(event_id=f"evt_{n}", session=SessionConfig(instructions=str(n)))


def _delete(n: int, item_id: str) -> c.ConversationItemDelete:
    return c.ConversationItemDelete(event_id=f"evt_{n}", item_id=item_id)


def test_recorded_keeps_an_acknowledged_kind_in_flight_and_the_rest_recent() -> None:
    ledger = Ledger()
    in_flight, evicted = L._recorded(ledger, _update(1), CONFIG)
    assert evicted is None
    assert in_flight.in_flight == (InFlight(event=_update(1)),)
    append = c.InputAudioBufferAppend(event_id="evt_2", audio="AAAA")
    recent, evicted = L._recorded(in_flight, append, CONFIG)
    assert evicted is None
    assert recent.recent == (append,) and recent.in_flight == in_flight.in_flight
    assert ledger == Ledger() and in_flight.recent == ()  # the ledgers given are unchanged


def test_recorded_gives_up_the_oldest_entry_but_never_a_response_create() -> None:
    ledger = Ledger()
    for event in (_create(0), _update(1), _update(2)):
        ledger, _ = L._recorded(ledger, event, CONFIG)
    full = ledger
    ledger, evicted = L._recorded(full, _delete(3, "item_1"), CONFIG, key="item_1")
    assert evicted == InFlight(event=_update(1))
    assert [p.event for p in ledger.in_flight] == [_create(0), _update(2), _delete(3, "item_1")]
    assert ledger.in_flight[-1].key == "item_1"
    assert ledger.recent == (_update(1),)
    assert len(full.in_flight) == 3


def test_ack_settles_by_kind_in_send_order_or_by_key() -> None:
    ledger = Ledger()
    for event in (_delete(1, "a"), _delete(2, "b"), _update(3)):
        ledger, _ = L._recorded(ledger, event, CONFIG, key=getattr(event, "item_id", None))
    deleted = s.ConversationItemDeleted(event_id="s1", item_id="b")
    after, entry = L._ack(ledger, deleted, "b", CONFIG)
    assert entry is not None and entry.event == _delete(2, "b")
    assert [p.event for p in after.in_flight] == [_delete(1, "a"), _update(3)]
    assert after.recent == (_delete(2, "b"),)
    after, entry = L._ack(ledger, deleted, None, CONFIG)  # no key: the first sent
    assert entry is not None and entry.event == _delete(1, "a")
    same, entry = L._ack(ledger, deleted, "zzz", CONFIG)
    assert entry is None and same is ledger


def test_ack_unnamed_create_settles_the_first_create_without_id_of_the_type() -> None:
    named = c.ConversationItemCreate(event_id="e1", item=Item(type="message", id="x"))
    call = c.ConversationItemCreate(event_id="e2", item=Item(type="function_call_output"))
    message = c.ConversationItemCreate(event_id="e3", item=Item(type="message"))
    ledger = Ledger(in_flight=tuple(InFlight(event=e) for e in (named, call, message)))
    after, entry = L._ack_unnamed_create(ledger, "message", CONFIG)
    assert [p.event for p in after.in_flight] == [named, call]
    assert after.recent == (message,)
    assert entry is not None and entry.event is message


def test_release_takes_the_first_queued_create_when_nothing_is_active_or_requested() -> None:
    queued = Ledger(queued=(_create(1), _create(2, "b")))
    after, planned = L._release(queued, False)
    assert planned == _create(1) and after.queued == (_create(2, "b"),)
    assert L._release(queued, True) == (queued, None)
    requested = attrs.evolve(queued, in_flight=(InFlight(event=_create(0)),))
    assert L._release(requested, False) == (requested, None)
    assert L._release(Ledger(), False) == (Ledger(), None)


def test_released_cancel_waits_until_the_response_is_no_longer_requested() -> None:
    cancel = c.ResponseCancel(event_id="evt_9")
    waiting = Ledger(in_flight=(InFlight(event=_create(0)),), deferred_cancel=cancel)
    assert L._released_cancel(waiting) == (waiting, None)
    created = attrs.evolve(waiting, in_flight=())
    assert L._released_cancel(created) == (Ledger(), cancel)


def test_queued_queues_coalesces_or_drops() -> None:
    ledger, effects = L._queued(Ledger(), _create(1), CONFIG)
    assert ledger.queued == (_create(1),)
    assert effects == Effects(transitions=(ClientEventQueued(event=_create(1)),))
    same, effects = L._queued(ledger, _create(2), CONFIG)  # an identical response
    assert same is ledger
    assert effects.transitions == (ClientEventCoalesced(event=_create(2), into=_create(1)),)
    full = Ledger(queued=tuple(_create(n, str(n)) for n in range(3)))
    same, effects = L._queued(full, _create(5, "new"), CONFIG)
    assert same is full and effects.transitions == ()
    assert [code for code, _ in effects.infos] == ["queue_full"]


def test_deferred_keeps_one_cancel() -> None:
    first, second = c.ResponseCancel(event_id="a"), c.ResponseCancel(event_id="b")
    ledger, effects = L._deferred(Ledger(), first)
    assert ledger.deferred_cancel == first
    assert effects.transitions == (ClientEventQueued(event=first),)
    same, effects = L._deferred(ledger, second)
    assert same is ledger
    assert effects.transitions == (ClientEventCoalesced(event=second, into=first),)


def test_requeued_puts_the_retry_in_front_and_coalesces_its_copies() -> None:
    retry = _create(0, "x")
    ledger = Ledger(queued=(_create(1, "x"), _create(2, "y"), _create(3, "z")))
    after, effects = L._requeued(ledger, retry, CONFIG)
    assert after.queued == (retry, _create(2, "y"), _create(3, "z"))
    assert effects.transitions == (
        ClientEventQueued(event=retry),
        ClientEventCoalesced(event=_create(1, "x"), into=retry),
    )
    assert effects.infos == ()
    over, effects = L._requeued(Ledger(queued=(*ledger.queued[1:], _create(4))), retry, CONFIG)
    assert over.queued == (retry, _create(2, "y"), _create(3, "z"))  # the newest dropped
    assert [code for code, _ in effects.infos] == ["queue_full"]


@settings(max_examples=50)
@given(
    st.lists(st.sampled_from([None, 0.5, 1.0, 2.0]), min_size=1, max_size=6),
    st.floats(min_value=0, max_value=5),
)
def test_timed_starts_new_timers_and_takes_out_the_overdue(
    sent: list[float | None], now: float
) -> None:
    ledger = Ledger(
        in_flight=tuple(InFlight(event=_update(n), sent_at=t) for n, t in enumerate(sent))
    )
    after, expired = L._timed(ledger, now, 2.0)
    assert [p.event for p in expired] == [
        _update(n) for n, t in enumerate(sent) if t is not None and now - t >= 2.0
    ]
    assert [(p.event, p.sent_at) for p in after.in_flight] == [
        (_update(n), now if t is None else t)
        for n, t in enumerate(sent)
        if t is None or now - t < 2.0
    ]


def test_rejection_by_event_id_drops_the_event_everywhere_and_keeps_its_undo() -> None:
    delete = _delete(1, "a")
    ledger = Ledger(in_flight=(InFlight(event=delete, key="a"), InFlight(event=_update(2))))
    error = ErrorInfo(type="invalid_request_error", message="no", event_id="evt_1")
    after, refused, effects = L._rejection(ledger, error, False, CONFIG)
    assert refused == InFlight(event=delete)
    assert [p.event for p in after.in_flight] == [_update(2)]
    assert effects == Effects(transitions=(ClientEventRejected(event=delete, error=error),))
    unknown = attrs.evolve(error, event_id="evt_404")
    assert L._rejection(ledger, unknown, False, CONFIG) == (ledger, None, Effects())


def test_rejection_of_a_racing_create_without_event_id_requeues_and_releases() -> None:
    # October 2024: no event_id, no code; the message names the race
    error = ErrorInfo(
        type="invalid_request_error", message="Conversation already has an active response"
    )
    ledger = Ledger(in_flight=(InFlight(event=_create(1)),))
    after, refused, effects = L._rejection(ledger, error, False, CONFIG)
    assert refused is not None and refused.event == _create(1)
    retry = attrs.evolve(_create(1), event_id=None)
    assert effects.transitions == (
        ClientEventRejected(event=_create(1), error=error),
        ClientEventQueued(event=retry),
    )
    assert effects.planned == (retry,)  # nothing active: it goes out again at once
    assert after == Ledger()
    _, _, waiting = L._rejection(ledger, error, True, CONFIG)
    assert waiting.planned == ()  # a response is active: it waits for its end


def test_with_is_attrs_evolve_and_its_keywords_are_the_ledgers_fields() -> None:
    assert list(typing.get_type_hints(L.LedgerChanges)) == [f.name for f in attrs.fields(Ledger)]
    assert typing.get_type_hints(L.LedgerChanges) == typing.get_type_hints(Ledger)
    create = c.ResponseCreate(event_id="e1")
    ledger = Ledger(recent=(create,))
    for changes in ({}, {"queued": (create,)}, {"recent": (), "deferred_cancel": None}):
        built = L._with(ledger, **changes)
        assert type(built) is Ledger and built == attrs.evolve(ledger, **changes)
    with pytest.raises(TypeError, match="no field"):
        L._with(ledger, nope=1)  # type: ignore[call-arg]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.recent = ()  # type: ignore[misc]
