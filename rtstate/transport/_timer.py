"""The one wait both deadline tasks make: until a deadline, or until woken."""

from __future__ import annotations

from collections.abc import Callable

import anyio

__all__ = ["Alarm", "deadline_reached"]


async def deadline_reached(
    deadline: float | None, wake: anyio.Event, clock: Callable[[], float]
) -> bool:
    """Wait until ``deadline`` (on ``clock``; ``None``: none) or until ``wake`` is set.

    Returns ``True`` when the deadline came, ``False`` when woken first (the caller
    then asks its connection for the new deadline).
    """
    if deadline is None:
        await wake.wait()
        return False
    delay = deadline - clock()
    if delay > 0:
        with anyio.move_on_after(delay):
            await wake.wait()
        return not wake.is_set()
    return True


class Alarm:
    """A deadline task's wait, and the wake-up other tasks give it when the deadline
    may have moved."""

    def __init__(self) -> None:
        self._wake = anyio.Event()
        self._deadline: float | None = None

    def wake(self) -> None:
        """Make the waiting task ask for its deadline again."""
        self._wake.set()

    def nudge(self, deadline: float | None) -> None:
        """Wake the waiting task if ``deadline`` is not the one it waits for."""
        if deadline != self._deadline:
            self._deadline = deadline
            self._wake.set()

    async def wait(self, deadline: float | None, clock: Callable[[], float]) -> bool:
        """``deadline_reached(deadline, ...)``, woken by ``wake`` and ``nudge``."""
        wake = self._wake = anyio.Event()
        self._deadline = deadline
        return await deadline_reached(deadline, wake, clock)
