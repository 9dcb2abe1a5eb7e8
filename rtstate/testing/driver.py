"""``drive``: play a script's session through a ``ClientConnection``, one Step at a time.

A :class:`~rtstate.testing.script.Script` (or a generated ``Flow`` / session, or a
plain list of server events from ``streams``) records both directions of a session.
``drive`` plays it against a client: each server event is encoded in the connection's
dialect and received as a frame (``conn.receive``: the codec runs too), each client
event is sent (``conn.send``), and the Step of every call is yielded, in wire order.
An ``app`` callback stands for the integration under test: it sees each of those
Steps and may answer with client events, which are sent at once (their Steps follow).

A loop that does just that by hand fails in three ways on generated sessions, each of
which ``drive`` handles:

1. ``UnknownClientEvent`` (``error_flows(kind="unknown_event_type")``): ``send``
   takes known events only and raises ``LocalProtocolError``. ``drive`` skips it:
   the connection never sees it, no Step is yielded, and the server's ``error`` that
   answers it folds as a ``ServerErrorReceived`` naming an id the client never used.
2. A ``response.cancel`` with nothing to cancel (``kind="cancel_inactive"``): the
   connection does not send it (an informational ``cancel_not_active`` diagnostic,
   nothing in ``to_send``), so the scripted ``error`` answers a frame that never left.
3. A ``response.create`` while a response streams (``kind="active_response"``): the
   connection queues it (``ClientEventQueued``) and sends it when the response ends,
   a frame the scripted server never answers, so a later scripted ``response.create``
   waits behind it.

For 2 and 3 the connection's policy wins and the Steps say so; ``drive`` neither
raises nor hides them. Under ``Config(strict=True)`` a server event that breaks the
protocol raises ``RemoteProtocolError`` out of the iteration, as ``receive`` does.
Pure: no I/O, no clock (``tick`` is never called, so no acknowledgement times out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeAlias

from ..codec import codec_for
from ..config import Config, Dialect
from ..connection import ClientConnection
from ..events.client import ClientEvent, UnknownClientEvent
from ..events.server import ServerEvent, UnknownServerEvent
from ..step import Step
from .script import AnyServerEvent, Script

__all__ = ["App", "drive"]

App: TypeAlias = Callable[[Step], Iterable[ClientEvent] | None]
"""The integration under test: called with each Step ``drive`` yields for the script,
it returns the client events to send in answer (or ``None``)."""


class _HasScript(Protocol):
    @property
    def script(self) -> Script: ...


def drive(
    source: Script | _HasScript | Iterable[AnyServerEvent],
    conn: ClientConnection | None = None,
    *,
    app: App | None = None,
    dialect: Dialect | None = None,
) -> Iterator[Step]:
    """Yield the Step of each call that plays ``source`` through ``conn``.

    Args:
        source: a ``Script``, anything with a ``script`` (a ``Flow``), or server
            events alone (``streams``).
        conn: the client to drive; a new ``ClientConnection(config=Config(dialect=
            dialect or "ga"))`` by default. Its plugins run as usual.
        app: called with every Step of a script event; the client events it returns
            are sent in order, and their Steps yielded after it (``app`` is not
            called on those).
        dialect: the wire dialect of the frames; the connection's own when ``conn``
            is given (naming another raises ``ValueError``). A script holds events,
            not frames: drive it in the dialect it was generated for.

    Raises:
        ValueError: ``dialect`` differs from ``conn``'s.
        LocalProtocolError: a scripted event has no spelling in the dialect, or
            ``app`` returned an event that cannot be sent.
        RemoteProtocolError: under ``Config(strict=True)``, a server event breaks the
            protocol (raised by ``conn.receive``; the connection's state is unchanged).
    """
    if conn is None:
        conn = ClientConnection(config=Config(dialect=dialect or "ga"))
    elif dialect is not None and dialect != conn.config.dialect:
        raise ValueError(
            f"drive(dialect={dialect!r}) with a connection configured for "
            f"{conn.config.dialect!r}: give one or the other"
        )
    return _steps(_directed(source), conn, app)


def _directed(
    source: Script | _HasScript | Iterable[AnyServerEvent],
) -> Iterable[tuple[str, object]]:
    script = getattr(source, "script", source)
    if isinstance(script, Script):
        return script.events
    return (("server", event) for event in script)  # type: ignore[union-attr]


def _steps(
    events: Iterable[tuple[str, object]], conn: ClientConnection, app: App | None
) -> Iterator[Step]:
    encode = codec_for(conn.config.dialect).encode
    for direction, event in events:
        if direction == "server":
            if not isinstance(event, ServerEvent | UnknownServerEvent):
                raise TypeError(f"not a server event: {type(event).__name__}")
            step = conn.receive(encode(event))
        elif isinstance(event, UnknownClientEvent):
            continue  # ClientConnection.send cannot take it: see the module docstring
        elif isinstance(event, ClientEvent):
            step = conn.send(event)
        else:
            raise TypeError(f"not a client event: {type(event).__name__}")
        answers = () if app is None else tuple(app(step) or ())
        yield step
        for answer in answers:
            yield conn.send(answer)
