"""Local inputs: time passing (``Tick``: the ledger's timers), the transport
closing (``Closed``), a resumed session (``Resumed``) and a frame that did not
decode (``Malformed``). Playback and ``Interrupt`` are ``_barge_in``'s.
"""

from __future__ import annotations

from typing import Final

from .. import machines
from .._fast import evolve_root
from ..events import client as c
from ..state import SessionPhase, SessionState
from ..step import Closed, Malformed, Resumed, Tick
from ..transitions import ClientEventTimedOut, SessionExpired, SessionResumed, TransportClosed
from ._base import _live, _Out, _Rejected
from ._ledger import _release, _timed
from ._sends import _rolled_back

_GOING_AWAY: Final = 1001  # the close code of an expired session


def _tick(state: SessionState, e: Tick, out: _Out) -> SessionState:
    """Time passed: start the timers of newly sent events, time out the overdue.

    A timed-out ``response.create`` releases the next queued one, unless the
    transport has closed: then the queue stays as it is (``plan_reconnect`` reads it).
    """
    now = e.now
    ledger = state.ledger
    if not ledger.in_flight:
        return evolve_root(state, now=now) if state.now != now else state
    ledger, expired = _timed(ledger, now, out.config.ack_timeout)
    state = evolve_root(state, ledger=ledger, now=now, revision=state.revision + 1)
    for entry in expired:
        out.transitions.append(ClientEventTimedOut(event=entry.event))
        state = _rolled_back(state, entry.event, entry.undo)
    closed = state.phase is SessionPhase.CLOSED  # nothing goes out on a closed transport
    if not closed and any(isinstance(entry.event, c.ResponseCreate) for entry in expired):
        ledger, release = _release(state.ledger, state.active_response_id is not None)
        if release is not None:
            out.plan(release)
        state = evolve_root(state, ledger=ledger)
    return state


def _closed(state: SessionState, e: Closed, out: _Out) -> SessionState:
    if state.phase is SessionPhase.CLOSED:
        return state
    phase = _live(machines.SESSION.transitions, state.phase, Closed)
    expired = state.expired
    if e.code == _GOING_AWAY and not expired:
        out.transitions.append(SessionExpired(message=e.reason or "connection closed (1001)"))
        expired = True
    out.transitions.append(TransportClosed(code=e.code, reason=e.reason))
    return evolve_root(state, phase=phase, expired=expired, revision=state.revision + 1)


def _resumed(state: SessionState, e: Resumed, out: _Out) -> SessionState:
    """A fresh session (only the clock, and being attached, carry over); the plan's
    events go out next."""
    out.transitions.append(SessionResumed(id_map=e.id_map))
    for event in e.events:
        out.plan(event)
    if state.attached:  # a call joined again: no session.created comes
        return SessionState(
            phase=SessionPhase.OPEN, attached=True, now=state.now, revision=state.revision + 1
        )
    return SessionState(now=state.now, revision=state.revision + 1)


def _malformed(state: SessionState, e: Malformed, out: _Out) -> SessionState:
    raise _Rejected("malformed", e.error)
