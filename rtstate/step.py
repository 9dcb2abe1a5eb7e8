"""``Step``: what one input did; ``Diagnostic``; the local inputs (``Tick``, ``Closed``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, TypeAlias

import attrs

from ._repr import fields_repr
from .events.client import ClientEvent
from .events.server import ServerEvent, UnknownServerEvent
from .state import SessionState
from .transitions import Transition

__all__ = [
    "INFORMATIONAL",
    "Closed",
    "Diagnostic",
    "Input",
    "Interrupt",
    "Malformed",
    "Played",
    "Resumed",
    "Step",
    "Tick",
]


@attrs.frozen(kw_only=True, repr=False)
class Tick:
    """Time passed: ``now`` on the caller's clock (seconds)."""

    __repr__ = fields_repr

    now: float


@attrs.frozen(kw_only=True, repr=False)
class Closed:
    """The transport closed with ``code`` and ``reason``."""

    __repr__ = fields_repr

    code: int | None = None
    reason: str = ""


@attrs.frozen(kw_only=True, repr=False)
class Played:
    """The user has heard the first ``played_ms`` of item ``item_id``'s audio."""

    __repr__ = fields_repr

    item_id: str
    played_ms: int


@attrs.frozen(kw_only=True, repr=False)
class Interrupt:
    """Cut the assistant's audio now (barge-in): plan cancel, truncate, delete."""

    __repr__ = fields_repr


@attrs.frozen(kw_only=True, repr=False)
class Resumed:
    """Start over on a new transport: a fresh state, then ``events`` sent in order.

    ``id_map`` (old item id -> new) comes with the ``ReconnectPlan`` the events do.
    """

    __repr__ = fields_repr

    events: tuple[ClientEvent, ...]
    id_map: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True, repr=False)
class Malformed:
    """A frame that could not be decoded; folded as a diagnostic only."""

    __repr__ = fields_repr

    frame: str | bytes = attrs.field(repr=False)
    error: str


Input: TypeAlias = (
    ServerEvent
    | UnknownServerEvent
    | ClientEvent
    | Tick
    | Closed
    | Malformed
    | Played
    | Interrupt
    | Resumed
)
"""What ``fold`` accepts: a received server event, a client event as sent, time, close,
a playback report, an interruption, a fresh start from a reconnect plan."""


INFORMATIONAL: Final = frozenset(
    {"cancel_not_active", "cancel_dropped", "interrupted", "queue_full", "unknown_item"}
)
"""Diagnostic codes for expected races and local no-ops (a late delta of an
interrupted response, a cancel with nothing to cancel): never raised, even when
strict, and no fault of either peer."""


@attrs.frozen(kw_only=True, repr=False)
class Diagnostic:
    """Something about an input that breaks (or bends) the protocol.

    ``code`` is the invariant broken (``"INV-7"``) or a short name. ``applied`` says
    whether the input was still folded (a reconciled quirk) or rejected (the state
    is as before it).
    """

    __repr__ = fields_repr

    code: str
    message: str
    event_type: str | None = None
    applied: bool = False

    @property
    def informational(self) -> bool:
        """Whether this is an expected race or a local no-op (see ``INFORMATIONAL``)."""
        return self.code in INFORMATIONAL


@attrs.frozen(kw_only=True, repr=False)  # slotted: built fresh once per call
class Step:
    """The result of one call: the state before and after, and what happened.

    ``to_send`` holds the frames to write, in order, after every call; ``sent`` the
    client events behind them. ``planned`` (from the pure ``fold`` only) lists the
    events the core wants sent next (a released ``response.create``, the cancel and
    truncation of a barge-in): ``ClientConnection`` sends them in the same call, so
    its Steps never carry any.
    """

    __repr__ = fields_repr

    input: Input
    before: SessionState
    after: SessionState
    transitions: tuple[Transition, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    to_send: tuple[str, ...] = ()
    sent: tuple[ClientEvent, ...] = ()
    planned: tuple[ClientEvent, ...] = ()
