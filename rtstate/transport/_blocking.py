"""A blocking facade over ``connect()`` for sync code (audio callbacks on their own
threads): an anyio blocking portal runs the event loop in a thread of its own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, Generic, TypeVar, overload

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ..events.client import ClientEvent
from ..state import SessionState
from ..step import Step
from ..transitions import Transition
from ._client import AsyncConnection, connect
from ._server import Server, serve
from ._watch import TransitionFeed, Until

T = TypeVar("T", bound=Transition)

__all__ = ["BlockingConnection", "BlockingFeed", "connect_blocking", "serve_in_thread"]


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

    def wait_for(
        self,
        until: Until,
        *,
        timeout: float | None = None,
        request: ClientEvent | Step | None = None,
    ) -> Step:
        """Block until a Step satisfies ``until`` (a predicate on Steps, or
        transition classes), at most ``timeout`` seconds (see
        ``AsyncConnection.wait_for``: the same Steps, the same errors).

        Raises:
            TimeoutError: nothing matched within ``timeout``.
            RequestRejected: the server rejected ``request``.
            RequestDropped: the core dropped ``request`` unsent (a full queue).
            ConnectionClosed: the connection ended first.
        """
        wait = partial(self._connection.wait_for, until, timeout=timeout, request=request)
        return self._portal.call(wait)

    def request(
        self, event: ClientEvent, until: Until | None = None, *, timeout: float | None = None
    ) -> Step:
        """Send ``event`` and block until its outcome: ``until`` holds, or (``None``)
        the server acknowledged it (see ``AsyncConnection.request``).

        Raises:
            TimeoutError: no outcome within ``timeout``.
            RequestRejected: the server refused ``event``.
            RequestDropped: the core dropped ``event`` unsent (a full queue).
            ConnectionClosed: the connection was or became closed.
        """
        call = partial(self._connection.request, event, until, timeout=timeout)
        return self._portal.call(call)

    @overload
    def transitions(self, *, buffer: float | None = None) -> BlockingFeed[Transition]: ...
    @overload
    def transitions(
        self, kind: type[T], /, *kinds: type[T], buffer: float | None = None
    ) -> BlockingFeed[T]: ...
    def transitions(self, *kinds: type[T], buffer: float | None = None) -> BlockingFeed[T]:
        """The transitions of the given classes (all if none), from this call on,
        blocking for each (see ``AsyncConnection.transitions``); ends at the close.
        ``close()`` it (or use it as a context manager) to stop early."""
        connection = self._connection

        def make() -> TransitionFeed[T]:  # on the event loop's thread
            return connection.transitions(*kinds, buffer=buffer)

        return BlockingFeed(self._portal, self._portal.call(make))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (see ``AsyncConnection.aclose``)."""
        self._portal.call(self._connection.aclose, code, reason)


class BlockingFeed(Generic[T]):
    """The iterator ``BlockingConnection.transitions()`` returns."""

    def __init__(self, portal: BlockingPortal, feed: TransitionFeed[T]) -> None:
        self._portal = portal
        self._feed = feed

    @property
    def dropped(self) -> int:
        """Transitions dropped because the consumer fell ``step_buffer`` behind."""
        return self._feed.dropped

    def __iter__(self) -> BlockingFeed[T]:
        return self

    def __next__(self) -> T:
        try:
            return self._portal.call(self._feed.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        """Stop receiving (idempotent; a no-op once the connection's block has exited)."""
        with contextlib.suppress(RuntimeError):  # the portal is gone: so is the feed
            self._portal.call(self._feed.aclose)

    def __enter__(self) -> BlockingFeed[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
