"""A least-recently-used cache bounded by the total size of what it holds.

The synthetic voice keeps the audio of recent words and the base64 text of recent
audio deltas in two of these (``rtstate.server.audio``): a server speaking the same
words and replies again and again renders and encodes each once. Values are measured
with ``len`` (bytes or characters); a value larger than ``max_item`` is returned but
not kept, so one long word cannot push everything else out. It is shared by every
server of a process (the values depend on their keys alone), so it takes a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sized
from typing import Generic, TypeVar

__all__ = ["SizedLru"]

V = TypeVar("V", bound=Sized)


class SizedLru(Generic[V]):
    """``get(key, make)``: the value kept for ``key``, else ``make()`` (kept if it fits).

    Holds at most ``max_size`` in total (the sum of ``len`` of its values), dropping
    the least recently used first; ``size`` and ``len()`` say what it holds now.
    """

    def __init__(self, max_size: int, max_item: int) -> None:
        if not 0 < max_item <= max_size:
            raise ValueError("need 0 < max_item <= max_size")
        self.max_size = max_size
        self.max_item = max_item
        self._values: dict[Hashable, V] = {}  # oldest first
        self._size = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """The total ``len`` of the values held."""
        return self._size

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._values.clear()
            self._size = 0

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value for ``key``: kept from before (now the most recent), or made now."""
        values = self._values
        with self._lock:
            value = values.pop(key, None)
            if value is not None:
                values[key] = value
                return value
        value = make()
        size = len(value)
        if size > self.max_item:
            return value
        with self._lock:
            if key not in values:
                values[key] = value
                self._size += size
                while self._size > self.max_size:
                    oldest = next(iter(values))
                    self._size -= len(values.pop(oldest))
        return value
