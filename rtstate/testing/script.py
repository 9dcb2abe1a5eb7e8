"""Both directions of a Realtime session as one ordered value, and frame helpers.

A :class:`Script` is what a test plays: the client events a client sends and the
server events a server answers with, in the order they cross the wire. Nothing here
needs hypothesis, so scripts and frame helpers work in any test suite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, TypeAlias

import attrs

from ..codec import beta
from ..events.client import ClientEvent, UnknownClientEvent
from ..events.server import ServerEvent, UnknownServerEvent

__all__ = [
    "AnyClientEvent",
    "AnyServerEvent",
    "Direction",
    "Script",
    "decode_stream",
    "encode_stream",
]

AnyServerEvent: TypeAlias = ServerEvent | UnknownServerEvent
"""A decoded server event: a known one or an ``UnknownServerEvent``."""

AnyClientEvent: TypeAlias = ClientEvent | UnknownClientEvent
"""A decoded client event: a known one or an ``UnknownClientEvent``."""

Direction: TypeAlias = Literal["client", "server"]
"""Who sent an event: ``"client"`` or ``"server"``."""

Step: TypeAlias = tuple[Direction, AnyServerEvent | AnyClientEvent]


def _to_steps(steps: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(steps)


def _check_steps(_: object, __: object, steps: tuple[Step, ...]) -> None:
    for n, (direction, event) in enumerate(steps):
        if direction == "server":
            ok = isinstance(event, ServerEvent | UnknownServerEvent)
        elif direction == "client":
            ok = isinstance(event, ClientEvent | UnknownClientEvent)
        else:
            raise ValueError(f"step {n}: direction must be 'client' or 'server', not {direction!r}")
        if not ok:
            raise TypeError(f"step {n}: {type(event).__name__} is not a {direction} event")


@attrs.frozen
class Script:
    """The events of both directions of a session, in wire order.

    ``steps`` is a tuple of ``(direction, event)`` pairs. A client event comes before
    the server events that answer it; server events are in arrival order. Scripts
    concatenate with ``+``.
    """

    steps: tuple[Step, ...] = attrs.field(default=(), converter=_to_steps, validator=_check_steps)

    @property
    def server_events(self) -> list[AnyServerEvent]:
        """The server events, in arrival order (what a client receives)."""
        return [e for d, e in self.steps if d == "server"]  # type: ignore[misc]

    @property
    def client_events(self) -> list[AnyClientEvent]:
        """The client events, in send order (what a server receives)."""
        return [e for d, e in self.steps if d == "client"]  # type: ignore[misc]

    def frames(self) -> list[tuple[Direction, str]]:
        """Every step encoded with the beta codec: ``(direction, text frame)`` pairs."""
        return [(d, beta.encode(e)) for d, e in self.steps]

    def __add__(self, other: Script) -> Script:
        if not isinstance(other, Script):
            return NotImplemented
        return Script(self.steps + other.steps)

    def __len__(self) -> int:
        return len(self.steps)


def encode_stream(events: Iterable[AnyServerEvent | AnyClientEvent]) -> list[str]:
    """Encode events to beta text frames, one frame per event, in order.

    Raises:
        LocalProtocolError: an event holds values that do not make a valid frame.
    """
    return [beta.encode(e) for e in events]


def decode_stream(frames: Sequence[str | bytes]) -> list[AnyServerEvent]:
    """Decode beta server frames to event values, in order.

    Raises:
        RemoteProtocolError: a frame is not a valid server event (the first bad one).
    """
    return [beta.decode_server(f) for f in frames]
