"""What every part of the fold shares: the ``_Out`` collector, the returned
``Effects`` of the pure sub-machines, ``_Rejected``, and the table checks.

A handler takes the state, its input and an ``_Out``, and returns the new state; it
raises ``_Rejected`` to reject the input (``rtstate.fold`` turns that into the
rejecting Step). ``_check`` gives an entity the phase its ``Machine`` gives the input,
or raises the machine's invariant; ``_open``, ``_active`` and ``_item_phase`` are the
checks and look-ups most handlers start with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs

from .. import machines
from .._fast import evolve_root
from ..config import Config
from ..events import client as c
from ..events import server as s
from ..state import (
    InputBufferState,
    ItemPhase,
    ItemState,
    ResponseState,
    SessionPhase,
    SessionState,
)
from ..transitions import Transition

T = TypeVar("T")
P = TypeVar("P")

# The tables the fold reads without a check (the pair is known to be there).
_ITEM_TABLE: Final = machines.ITEM.transitions
_PART_TABLE: Final = machines.PART.transitions
_RESPONSE_TABLE: Final = machines.RESPONSE.transitions

# Enum members as module constants for the checks every handler runs: in Python 3.11
# reading ``Enum.MEMBER`` runs a Python-level descriptor, a module global is one look-up.
_SESSION_OPEN: Final = SessionPhase.OPEN
_MISSING: Final[Any] = object()


def _live(table: machines.Table[P], phase: P | None, input: type) -> P:
    """The phase ``table`` gives ``input`` in ``phase``: a pair known to be there, to a
    phase (not a removal)."""
    next_phase = table[(phase, input)]
    assert next_phase is not None
    return next_phase


_BYTES_PER_MS: Final[Mapping[str, int]] = {"pcm16": 48, "g711_ulaw": 8, "g711_alaw": 8}


class _Rejected(Exception):
    """Raised inside a handler: the input breaks ``code`` and is rejected."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@attrs.frozen
class Effects:
    """What a pure sub-machine (``_ledger``) gives besides its new value: the
    transitions it records, the expected races and no-ops it reports (``infos``, as
    ``_Out.info`` takes them) and the client events it plans, each in order."""

    transitions: tuple[Transition, ...] = ()
    infos: tuple[tuple[str, str], ...] = ()
    planned: tuple[c.ClientEvent, ...] = ()


NO_EFFECTS: Final = Effects()


class _Extra:
    """The rarely used part of an ``_Out``, made on first use."""

    __slots__ = ("infos", "notes", "planned", "sent")

    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []
        self.infos: list[tuple[str, str]] = []
        self.sent: list[c.ClientEvent] = []
        self.planned: list[c.ClientEvent] = []


class _Out:
    """What one fold collects besides the new state.

    ``transitions``, always; the rest lives in ``extra``, made on first use (most
    folds need none of it): ``notes`` are reconciled protocol quirks (strict mode
    raises for them); ``infos`` expected races and local no-ops that never raise;
    ``sent`` the client events going on the wire now; ``planned`` those the caller
    should send next.
    """

    __slots__ = ("config", "extra", "transitions")

    def __init__(self, config: Config) -> None:
        self.config = config
        self.transitions: list[Transition] = []
        self.extra: _Extra | None = None

    def _more(self) -> _Extra:
        extra = self.extra
        if extra is None:
            extra = self.extra = _Extra()
        return extra

    def note(self, code: str, message: str) -> None:
        """Record a reconciled quirk: the input is applied anyway."""
        self._more().notes.append((code, message))

    def info(self, code: str, message: str) -> None:
        """Record an expected race or a local no-op (never raised, even when strict)."""
        self._more().infos.append((code, message))

    def send(self, event: c.ClientEvent) -> None:
        """``event`` goes on the wire now."""
        self._more().sent.append(event)

    def plan(self, event: c.ClientEvent) -> None:
        """``event`` should be sent next (the connection does it in the same call)."""
        self._more().planned.append(event)

    def take(self, effects: Effects) -> None:
        """Record what a pure sub-machine returned, in its order."""
        self.transitions.extend(effects.transitions)
        for code, message in effects.infos:
            self.info(code, message)
        for event in effects.planned:
            self.plan(event)


Handler = Callable[[SessionState, Any, _Out], SessionState]


def _check(machine: machines.Machine[Any], phase: Any, input: object) -> Any:
    """The phase ``input`` moves ``machine``'s entity to from ``phase`` (its
    ``by_payload`` table first, then its transitions), or a violation of the
    machine's invariant when the pair is missing: ``Machine.next``, raising
    ``_Rejected``."""
    key = (phase, input.__class__)
    by_payload = machine.by_payload
    if by_payload:  # most machines have none
        refined = by_payload.get(key)
        if refined is not None and refined[0](input):
            return refined[1]
    next_phase = machine.transitions.get(key, _MISSING)  # one look-up: ``None`` is a phase
    if next_phase is not _MISSING:
        return next_phase
    name = getattr(input, "type", type(input).__name__)
    where = "none" if phase is None else phase.value
    raise _Rejected(machine.invariant, f"{name} is not allowed when {machine.name} is {where}")


def _open(state: SessionState, event: s.ServerEvent) -> None:
    if state.phase is not _SESSION_OPEN:
        raise _Rejected("INV-1", f"{event.type} before session.created or after close")


def _bounded(values: tuple[T, ...], value: T, limit: int) -> tuple[T, ...]:
    if limit <= 0:
        return ()
    values = (*values, value)
    return values if len(values) <= limit else values[-limit:]


def _active(state: SessionState, e: Any, response_id: str) -> ResponseState:
    """The response in progress ``response_id`` names (of the default conversation
    or out of band), or a violation of INV-4."""
    response = state.responses.get(response_id)
    if response is None and state.responses:
        raise _Rejected("INV-4", _not_in_progress(state, e.type, response_id))
    phase = None if response is None else response.phase
    if (phase, e.__class__) not in _RESPONSE_TABLE:  # else ``_check`` passes: no call
        _check(machines.RESPONSE, phase, e)
    assert response is not None
    return response


def _not_in_progress(state: SessionState, event_type: str, response_id: str) -> str:
    """The message of an event naming a response that is not in progress while others are."""
    ids = ", ".join(sorted(state.responses.keys()))
    return f"{event_type} names {response_id}, but the responses in progress are {ids}"


def _item_phase(state: SessionState, item_id: str) -> tuple[ItemState | None, ItemPhase | None]:
    item = state.items_by_id.get(item_id)
    return item, None if item is None else item.phase


def _with_buffer(state: SessionState, buf: InputBufferState, **changes: Any) -> SessionState:
    return evolve_root(
        state, input_buffer=attrs.evolve(buf, **changes), revision=state.revision + 1
    )
