"""The append-only logs that hold streamed content in the state: ``TextLog``, ``AudioWindow``.

``PartState.text_log`` / ``transcript_log`` and ``ItemState.arguments_log`` are
``TextLog``s (text accumulated from deltas); ``SessionState.audio`` is an
``AudioWindow`` of ``AudioChunk``s (the retained output audio, see
``Config.audio_retention``).

Append-only logs with a length view: O(1) appends, persistent snapshots.

A log value is ``(shared list, n)``: it shows the first ``n`` entries of a list that
only ever grows. Appending to the newest value (the tip) appends to the shared list
in place and returns a value with ``n + 1``; every older value still sees exactly its
own ``n`` entries, so snapshots never change. Appending to an older value copies
first, so two futures of one snapshot never share entries they should not.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Final

import attrs

from ._build import new

__all__ = ["AudioChunk", "AudioWindow", "TextLog"]


class _Chunks(list[str]):
    """A ``TextLog``'s shared list of chunks, with what its views share besides:
    ``merged``, the deltas ``compacted`` folded into its first chunk (``chunk_count``
    counts them), and ``memo``, the text of the view that was last joined, as
    ``(n, text)`` (so the ``.done`` checks of a finished text join it once)."""

    __slots__ = ("memo", "merged")

    def __init__(self, chunks: list[str], merged: int = 0) -> None:
        super().__init__(chunks)
        self.merged = merged
        self.memo: tuple[int, str] | None = None


_new_list: Final = list.__new__


def _one_chunk(text: str, merged: int = 0) -> _Chunks:
    """``_Chunks([text], merged)`` without running ``__init__`` (a Python-level call,
    the costlier half): once per new log, so once per item created with text, once per
    part's first delta and once per log compacted."""
    chunks: _Chunks = _new_list(_Chunks)
    chunks.append(text)
    chunks.merged = merged
    chunks.memo = None
    return chunks


def _first_chunks(chunks: _Chunks, n: int) -> _Chunks:
    """``_Chunks(chunks[:n], chunks.merged)`` without running ``__init__``: once per
    append to a log that is not the tip (a state folded twice, a fork of a history)."""
    copied: _Chunks = _new_list(_Chunks)
    copied.extend(chunks[:n])
    copied.merged = chunks.merged
    copied.memo = None
    return copied


@attrs.frozen
class TextLog:
    """Text accumulated from deltas; ``str(log)`` or ``log.value`` joins it.

    The joined text is remembered (on the shared list, for the view last joined), so
    the ``.done`` checks that compare a finished text do not join it again.
    ``compacted()`` gives the same text as one chunk: the fold compacts a part's log
    when the part finishes, so a finished text holds one string, not one per delta.
    """

    _chunks: _Chunks = attrs.field(repr=False, eq=False)
    _n: int = attrs.field(eq=False)

    def append(self, delta: str) -> TextLog:
        """This log with ``delta`` added; O(1) at the tip."""
        n = self._n
        if n == 0:  # never grow a shared empty list (``EMPTY_TEXT`` is module-wide)
            return _text_log(_one_chunk(delta), 1)
        chunks = self._chunks
        if len(chunks) != n:  # not the tip: a list of its own
            chunks = _first_chunks(chunks, n)
        chunks.append(delta)
        return _text_log(chunks, n + 1)

    @property
    def value(self) -> str:
        """The joined text (O(length) on the first read, then O(1) while no later
        view of the same list is read)."""
        n = self._n
        if n == 0:
            return ""
        chunks = self._chunks
        if n == 1:
            return chunks[0]
        memo = chunks.memo
        if memo is not None and memo[0] == n:
            return memo[1]
        joined = "".join(chunks if len(chunks) == n else chunks[:n])
        chunks.memo = (n, joined)
        return joined

    @property
    def chunk_count(self) -> int:
        """How many deltas made this text (compacting keeps the count)."""
        return self._n + self._chunks.merged

    def compacted(self) -> TextLog:
        """The same text held as one chunk (and the same ``chunk_count``): O(1) to read,
        and free of the per-delta strings once older values are dropped. ``self`` when
        it is one chunk already."""
        n = self._n
        if n <= 1:
            return self
        chunks = self._chunks
        return _text_log(_one_chunk(self.value, chunks.merged + n - 1), 1)

    @classmethod
    def of(cls, text: str) -> TextLog:
        """A log holding ``text`` as one chunk."""
        return _text_log(_one_chunk(text), 1) if text else EMPTY_TEXT

    def __str__(self) -> str:
        return self.value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextLog):
            return self.value == other.value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)


EMPTY_TEXT: Final = TextLog(_Chunks([]), 0)
_text_log: Final = new(TextLog)


@attrs.frozen
class AudioChunk:
    """One retained output-audio delta."""

    item_id: str
    content_index: int
    audio: str  # base64, as received
    ms: float


@attrs.frozen(eq=False)
class AudioWindow:
    """Retained output audio: the last ``limit_ms`` of it (``None``: all of it)."""

    _chunks: list[AudioChunk] = attrs.field(repr=False)
    _start: int
    _n: int
    total_ms: float

    def append(self, chunk: AudioChunk, limit_ms: float | None) -> AudioWindow:
        """This window with ``chunk`` added and, under a limit, the oldest evicted."""
        chunks, start, n = self._chunks, self._start, self._n
        if len(chunks) != n or start == n:  # not the tip, or empty (maybe ``EMPTY_AUDIO``)
            chunks = chunks[start:n]
            n -= start
            start = 0
        chunks.append(chunk)
        n += 1
        total = self.total_ms + chunk.ms
        if limit_ms is not None:
            while total > limit_ms and start < n - 1:
                total -= chunks[start].ms
                start += 1
            if start > 64 and start * 2 > n:  # compact: amortised O(1) per append
                chunks = chunks[start:n]
                n -= start
                start = 0
        return AudioWindow(chunks, start, n, total)

    def without(self, item_id: str) -> AudioWindow:
        """This window with every chunk of ``item_id`` dropped (O(window))."""
        kept = [c for c in self if c.item_id != item_id]
        return AudioWindow(kept, 0, len(kept), sum(c.ms for c in kept))

    def __iter__(self) -> Iterator[AudioChunk]:
        chunks = self._chunks
        for i in range(self._start, self._n):
            yield chunks[i]

    def __len__(self) -> int:
        return self._n - self._start

    def __eq__(self, other: object) -> bool:
        # by the chunks kept (``total_ms`` derives from them), so equal inputs give
        # equal states whatever list the chunks happen to share
        if isinstance(other, AudioWindow):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def audio_of(self, item_id: str, content_index: int | None = None) -> bytes:
        """The retained audio bytes of one item (or one of its parts)."""
        return b"".join(
            base64.b64decode(c.audio)
            for c in self
            if c.item_id == item_id and (content_index is None or c.content_index == content_index)
        )


EMPTY_AUDIO: Final = AudioWindow([], 0, 0, 0.0)
