"""The two synchronisation pieces of the hot path, with no cost when uncontended.

``anyio.Lock`` checks for cancellation on every acquire, and that check walks the
whole chain of cancel scopes of the task: with a thousand sessions opened nested in
one task it costs more than folding the event. ``Mutex`` is a plain flag while no one
waits (acquiring it never checkpoints; only a waiter waits on an ``anyio.Event``).
``StepQueue`` hands Steps from the reader to ``steps()`` with a deque and one event,
where a memory object stream would cost a task switch and a checkpoint per Step; it
never blocks the producer: past its capacity the oldest Steps are dropped and counted.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType
from typing import Generic, TypeVar

import anyio

__all__ = ["Mutex", "StepQueue"]

T = TypeVar("T")


class Mutex:
    """A non-reentrant lock for tasks of one event loop, FIFO under contention.

    ``try_acquire`` takes it at once if free (no checkpoint); ``async with`` waits
    for it. Release hands it straight to the first waiter, so no one barges in.
    """

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters: deque[anyio.Event] = deque()

    @property
    def locked(self) -> bool:
        """Whether a task holds it."""
        return self._held

    def try_acquire(self) -> bool:
        """Take the lock if it is free; whether it was taken."""
        if self._held:
            return False
        self._held = True
        return True

    async def acquire(self) -> None:
        """Take the lock, waiting for it if held (cancellable while waiting)."""
        if not self._held:
            self._held = True
            return
        handed = anyio.Event()
        self._waiters.append(handed)
        try:
            await handed.wait()
        except BaseException:
            if handed.is_set():  # handed over as we were cancelled: pass it on
                self.release()
            else:
                self._waiters.remove(handed)
            raise

    def release(self) -> None:
        """Give the lock to the first waiter, or free it."""
        if self._waiters:
            self._waiters.popleft().set()  # stays held: the waiter owns it now
        else:
            self._held = False

    async def __aenter__(self) -> None:
        if not self._held:
            self._held = True
            return
        await self.acquire()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


class StepQueue(Generic[T]):
    """A queue that never blocks its producer: past ``capacity`` items, the oldest
    are dropped (``dropped`` counts them; ``take_dropped`` reads and resets the count
    since the consumer last looked). ``get`` waits for an item; once ``close`` is
    called and the queue is empty it raises ``anyio.EndOfStream``."""

    __slots__ = ("_capacity", "_closed", "_items", "_waiter", "dropped", "unseen")

    def __init__(self, capacity: float) -> None:
        self._capacity = capacity
        self._items: deque[T] = deque()
        self._waiter: anyio.Event | None = None
        self._closed = False
        self.dropped = 0
        """Items dropped since the queue was made."""
        self.unseen = 0
        """Items dropped since the consumer last took a count (``take_dropped``)."""

    @property
    def capacity(self) -> float:
        """How many items it keeps."""
        return self._capacity

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called (and not ``reopen``)."""
        return self._closed

    def put(self, item: T) -> bool:
        """Add ``item``; whether an older item had to be dropped for it."""
        items = self._items
        items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set()
        if len(items) > self._capacity:
            items.popleft()
            self.dropped += 1
            self.unseen += 1
            return True
        return False

    def take_dropped(self) -> int:
        """Items dropped since the last call."""
        unseen, self.unseen = self.unseen, 0
        return unseen

    async def get(self) -> T:
        """The oldest item, waiting for one.

        Raises:
            anyio.EndOfStream: the queue is closed and empty.
        """
        items = self._items
        while not items:
            if self._closed:
                raise anyio.EndOfStream
            waiter = self._waiter
            if waiter is None:
                waiter = self._waiter = anyio.Event()
            await waiter.wait()
        return items.popleft()

    def close(self) -> None:
        """No more items: ``get`` ends once the queue is empty."""
        self._closed = True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set()

    def reopen(self) -> None:
        """Take items again after ``close`` (a redial)."""
        self._closed = False
