"""Both directions of a Realtime session as one ordered value, and frame helpers.

A :class:`Script` is what a test plays: the client events a client sends and the
server events a server answers with, in the order they cross the wire. Nothing here
needs hypothesis, so scripts and frame helpers work in any test suite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, TypeAlias

import attrs

from ..codec import codec_for
from ..config import Dialect
from ..events.client import ClientEvent, UnknownClientEvent
from ..events.server import ServerEvent, UnknownServerEvent
from .compact import events_repr, repr_pretty

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

Directed: TypeAlias = tuple[Direction, AnyServerEvent | AnyClientEvent]


def _to_events(events: Iterable[Directed]) -> tuple[Directed, ...]:
    return tuple(events)


def _check_events(_: object, __: object, events: tuple[Directed, ...]) -> None:
    for n, (direction, event) in enumerate(events):
        if direction == "server":
            ok = isinstance(event, ServerEvent | UnknownServerEvent)
        elif direction == "client":
            ok = isinstance(event, ClientEvent | UnknownClientEvent)
        else:
            raise ValueError(
                f"event {n}: direction must be 'client' or 'server', not {direction!r}"
            )
        if not ok:
            raise TypeError(f"event {n}: {type(event).__name__} is not a {direction} event")


@attrs.frozen(repr=False)
class Script:
    """The events of both directions of a session, in wire order.

    ``events`` is a tuple of ``(direction, event)`` pairs. A client event comes before
    the server events that answer it; server events are in arrival order. Scripts
    concatenate with ``+``. The repr is one line per event
    (``rtstate.testing.compact``), so a falsifying example stays readable.
    """

    events: tuple[Directed, ...] = attrs.field(
        default=(), converter=_to_events, validator=_check_events
    )

    @property
    def server_events(self) -> list[AnyServerEvent]:
        """The server events, in arrival order (what a client receives)."""
        return [e for d, e in self.events if d == "server"]  # type: ignore[misc]

    @property
    def client_events(self) -> list[AnyClientEvent]:
        """The client events, in send order (what a server receives)."""
        return [e for d, e in self.events if d == "client"]  # type: ignore[misc]

    def frames(self, dialect: Dialect = "ga") -> list[tuple[Direction, str]]:
        """Every event encoded with ``dialect``'s codec: ``(direction, text frame)`` pairs.

        Raises:
            LocalProtocolError: an event has no spelling in that dialect (a
                ``temperature`` in GA, a GA-only event in beta, ...).
        """
        encode = codec_for(dialect).encode
        return [(d, encode(e)) for d, e in self.events]

    def __add__(self, other: Script) -> Script:
        if not isinstance(other, Script):
            return NotImplemented
        return Script(self.events + other.events)

    def __len__(self) -> int:
        return len(self.events)

    def __repr__(self) -> str:
        return events_repr("Script", self.events)

    _repr_pretty_ = repr_pretty


def encode_stream(
    events: Iterable[AnyServerEvent | AnyClientEvent], dialect: Dialect = "ga"
) -> list[str]:
    """Encode events to ``dialect``'s text frames (GA by default), one per event, in order.

    Raises:
        LocalProtocolError: an event holds values that do not make a valid frame.
    """
    encode = codec_for(dialect).encode
    return [encode(e) for e in events]


def decode_stream(frames: Sequence[str | bytes], dialect: Dialect = "ga") -> list[AnyServerEvent]:
    """Decode ``dialect``'s server frames (GA by default) to event values, in order.

    Raises:
        RemoteProtocolError: a frame is not a valid server event (the first bad one).
    """
    decode = codec_for(dialect).decode_server
    return [decode(f) for f in frames]
