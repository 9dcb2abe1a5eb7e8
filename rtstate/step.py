"""``Step``: what one input did; ``Diagnostic``; the local inputs (``Tick``, ``Closed``)."""

from __future__ import annotations

from typing import TypeAlias

import attrs

from .events.client import ClientEvent
from .events.server import ServerEvent, UnknownServerEvent
from .state import SessionState
from .transitions import Transition

__all__ = ["Closed", "Diagnostic", "Input", "Malformed", "Step", "Tick"]


@attrs.frozen(kw_only=True)
class Tick:
    """Time passed: ``now`` on the caller's clock (seconds)."""

    now: float


@attrs.frozen(kw_only=True)
class Closed:
    """The transport closed with ``code`` and ``reason``."""

    code: int | None = None
    reason: str = ""


@attrs.frozen(kw_only=True)
class Malformed:
    """A frame that could not be decoded; folded as a diagnostic only."""

    frame: str | bytes = attrs.field(repr=False)
    error: str


Input: TypeAlias = ServerEvent | UnknownServerEvent | ClientEvent | Tick | Closed | Malformed
"""What ``fold`` accepts: a received server event, a client event as sent, time, close."""


@attrs.frozen(kw_only=True)
class Diagnostic:
    """Something about an input that breaks (or bends) the protocol.

    ``code`` is the invariant broken (``"INV-7"``) or a short name. ``applied`` says
    whether the input was still folded (a reconciled quirk) or rejected (the state
    is as before it).
    """

    code: str
    message: str
    event_type: str | None = None
    applied: bool = False


@attrs.frozen(kw_only=True)
class Step:
    """The result of one call: the state before and after, and what happened.

    ``to_send`` holds the frames to write, in order, after every call.
    """

    input: Input
    before: SessionState
    after: SessionState
    transitions: tuple[Transition, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    to_send: tuple[str, ...] = ()
