"""The session: ``session.created`` / ``.updated``, ``conversation.created``, the
server's ``error`` (data, correlated with the client event it names), rate limits,
and unknown server events.
"""

from __future__ import annotations

from typing import Final

from .. import machines
from .._fast import evolve_root, new_rate_limit, new_rate_limits_updated
from ..events import server as s
from ..state import SessionState
from ..transitions import (
    ServerErrorReceived,
    SessionExpired,
    SessionStarted,
    SessionUpdated,
)
from ._base import _check, _Out, _Rejected
from ._ledger import _ack
from ._sends import _rejected


def _session_created(state: SessionState, e: s.SessionCreated, out: _Out) -> SessionState:
    phase = _check(machines.SESSION, state.phase, e)
    out.transitions.append(SessionStarted(session=e.session))
    return evolve_root(state, phase=phase, session=e.session, revision=state.revision + 1)


def _session_updated(state: SessionState, e: s.SessionUpdated, out: _Out) -> SessionState:
    _check(machines.SESSION, state.phase, e)
    out.transitions.append(SessionUpdated(session=e.session))
    ledger, _ = _ack(state.ledger, e, None, out.config)
    return evolve_root(state, session=e.session, ledger=ledger, revision=state.revision + 1)


def _conversation_created(state: SessionState, e: s.ConversationCreated, out: _Out) -> SessionState:
    _check(machines.SESSION, state.phase, e)
    if state.conversation_id is not None or state.order.size or state.finished or state.responses:
        raise _Rejected("INV-2", "conversation.created after the conversation began")
    return evolve_root(state, conversation_id=e.conversation.id, revision=state.revision + 1)


def _error(state: SessionState, e: s.Error, out: _Out) -> SessionState:
    """Data, not an exception: correlated with the client event it names, if any."""
    error = e.error
    out.transitions.append(ServerErrorReceived(error=error))
    expired = state.expired
    if error.code == _EXPIRED_CODE and not expired:
        out.transitions.append(SessionExpired(message=error.message or "session expired"))
        expired = True
    state = _rejected(state, error, out)
    return evolve_root(state, last_error=error, expired=expired, revision=state.revision + 1)


def _rate_limits(state: SessionState, e: s.RateLimitsUpdated, out: _Out) -> SessionState:
    revision = state.revision + 1
    limits = state.rate_limits
    now = state.now
    # GA: name is optional; a name given twice: the last one holds, as in a dict
    named = {
        r.name: new_rate_limit(
            name=r.name,
            limit=r.limit,
            remaining=r.remaining,
            reset_seconds=r.reset_seconds,
            revision=revision,
            arrived_at=now,
        )
        for r in e.rate_limits
        if r.name is not None
    }
    if named:
        limits = limits.update(named)
    out.transitions.append(
        new_rate_limits_updated(names=tuple([r.name for r in e.rate_limits if r.name is not None]))
    )
    return evolve_root(state, rate_limits=limits, revision=revision)


def _unknown(state: SessionState, e: s.UnknownServerEvent, out: _Out) -> SessionState:
    return state


_EXPIRED_CODE: Final = "session_expired"
