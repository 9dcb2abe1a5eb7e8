"""A blocking facade over ``connect()`` for sync code (audio callbacks on their own
threads): an anyio blocking portal runs the event loop in a thread of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ..events.client import ClientEvent
from ..state import SessionState
from ..step import Step
from ._client import AsyncConnection, connect
from ._server import Server, serve

__all__ = ["BlockingConnection", "connect_blocking", "serve_in_thread"]


class BlockingConnection:
    """``AsyncConnection``'s methods as blocking calls, safe from any thread.

    Each call runs on the portal's event loop and blocks until it is done; errors
    are raised in the calling thread.
    """

    def __init__(self, portal: BlockingPortal, connection: AsyncConnection) -> None:
        self._portal = portal
        self._connection = connection

    @property
    def state(self) -> SessionState:
        """The current immutable snapshot (safe to read from any thread)."""
        return self._connection.state

    def send(self, event: ClientEvent) -> Step:
        """Send ``event`` (see ``AsyncConnection.send``)."""
        return self._portal.call(self._connection.send, event)

    def playback(self, item_id: str, played_ms: int) -> Step:
        """Report what the user heard (see ``AsyncConnection.playback``)."""
        return self._portal.call(self._connection.playback, item_id, played_ms)

    def interrupt(self) -> Step:
        """Cut the assistant's audio now (see ``AsyncConnection.interrupt``)."""
        return self._portal.call(self._connection.interrupt)

    def steps(self) -> Iterator[Step]:
        """The Steps the transport drove, blocking for each (ends at the close)."""
        iterator = self._connection.steps()
        while True:
            try:
                yield self._portal.call(iterator.__anext__)
            except StopAsyncIteration:
                return

    def wait_for(self, predicate: Callable[[Step], bool]) -> Step:
        """Block until a Step satisfies ``predicate`` (see ``AsyncConnection.wait_for``)."""
        return self._portal.call(self._connection.wait_for, predicate)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (see ``AsyncConnection.aclose``)."""
        self._portal.call(self._connection.aclose, code, reason)


@contextmanager
def connect_blocking(
    url: str, *, backend: str = "asyncio", **options: Any
) -> Iterator[BlockingConnection]:
    """``connect()`` for sync code: the event loop (``backend``: asyncio or trio) runs
    in a thread of its own while the block is open. ``options`` are ``connect()``'s."""
    with (
        start_blocking_portal(backend) as portal,
        portal.wrap_async_context_manager(connect(url, **options)) as connection,
    ):
        yield BlockingConnection(portal, connection)


@contextmanager
def serve_in_thread(*, backend: str = "asyncio", **options: Any) -> Iterator[Server]:
    """``serve()`` in a thread of its own, for sync tests and demos. ``options`` are
    ``serve()``'s."""
    with (
        start_blocking_portal(backend) as portal,
        portal.wrap_async_context_manager(serve(**options)) as server,
    ):
        yield server
