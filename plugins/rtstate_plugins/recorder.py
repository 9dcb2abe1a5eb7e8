"""``Recorder``: a journal of every call on a connection, for ``rtstate.journal.replay``.

The journal is JSON Lines (see ``rtstate.journal``): a header with the config, then
for each call the direction (``in``: a received frame; ``local``: ``send``,
``playback``, ``interrupt``, ``tick``, ``transport_closed``, ``resume`` and the event
ids made; ``out``: the frames the call wrote), the recorder's monotonic time and the
frame or arguments. ``rtstate.journal.replay(lines)`` reproduces the exact Steps.

    recorder = Recorder()                    # lines kept in ``recorder.lines``
    conn = rtstate.ClientConnection(plugins=[recorder])
    ...
    steps = list(rtstate.journal.replay(recorder.lines))

or ``Recorder(write=file.write)`` to stream the lines (each ends with a newline). A
process that dies while writing leaves a journal that still replays up to the cut
(``rtstate.journal.Replay.truncated`` says where).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import rtstate
from rtstate.journal import JournalWriter
from rtstate.plugins import PluginError

__all__ = ["Recorder"]


class Recorder:
    """A plugin that journals its connection (attach it at construction).

    Args:
        write: called with each line (newline included); ``None`` keeps the lines in
            ``lines`` instead.
        clock: the monotonic clock stamped on each record (``t``), in seconds.
    """

    def __init__(
        self,
        write: Callable[[str], object] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lines: list[str] = []
        """The journal's lines (without newlines), when no ``write`` was given."""
        self._write = write
        self._clock = clock
        self._writer: JournalWriter | None = None
        self._conn: rtstate.ClientConnection | None = None

    @property
    def recording(self) -> bool:
        """Whether a connection is being recorded."""
        return self._conn is not None

    def attached(self, conn: rtstate.ClientConnection) -> None:
        """Start the journal: its header, then a tap on every call."""
        if self._conn is not None:
            raise PluginError("a Recorder records one connection")
        self._writer = JournalWriter()
        self._emit(self._writer.header(conn.config, conn.state, self._clock()))
        self._conn = conn
        conn.add_tap(self._tap)

    def detached(self, conn: rtstate.ClientConnection, error: BaseException) -> None:
        """Stop recording (the journal so far stays replayable)."""
        self.stop()

    def stop(self) -> None:
        """Stop recording this connection."""
        if self._conn is not None:
            self._conn.remove_tap(self._tap)
            self._conn = None

    def _tap(self, verb: str, value: object) -> None:
        assert self._writer is not None
        line = self._writer.record(verb, value, self._clock())
        if line is not None:
            self._emit(line)

    def _emit(self, line: str) -> None:
        if self._write is None:
            self.lines.append(line)
        else:
            self._write(line + "\n")
