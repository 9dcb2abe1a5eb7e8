"""The one wait both deadline tasks make: until a deadline, or until woken."""

from __future__ import annotations

from collections.abc import Callable

import anyio

__all__ = ["deadline_reached"]


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
