"""``BargeIn``: tells the audio sink to stop the moment the user talks over the assistant.

The core plans the cut itself (``rtstate.transitions.TruncationPlanned``: a
``response.cancel``, a ``conversation.item.truncate`` where the user stopped hearing
each item, a ``conversation.item.delete`` for audio nobody heard) when server VAD hears
speech during audio whose playback was reported, or on ``conn.interrupt()``. This
plugin ties that to the sink:

* it follows the assistant's audio as it arrives (item by item, in order), so the sink
  can report progress as one number: ``report(played_ms)`` turns "this much of the
  response has played" into ``conn.playback(item_id, ms)`` for each item;
* on ``TruncationPlanned``, and on ``SpeechStarted`` while assistant audio may still be
  playing, it raises the stop signal: ``stop`` (a ``threading.Event``, safe to poll
  from an audio thread), the ``stop_signal`` value, and the ``on_stop`` callback;
* speech with no playback reported leaves the core nothing to cut by; the signal
  then says ``planned is None``, and ``interrupt()`` (report, then
  ``conn.interrupt()``) makes the core plan it from what the sink played.

No event loop and no I/O: the sink is the caller's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal

import attrs

import rtstate
from rtstate import transitions as tr
from rtstate.plugins import PluginError
from rtstate.step import Interrupt

__all__ = ["BargeIn", "StopSignal"]


@attrs.frozen(kw_only=True)
class StopSignal:
    """Stop playing ``response_id``'s audio now.

    ``reason``: ``"speech"`` (server VAD heard the user) or ``"interrupt"`` (the app
    called ``conn.interrupt()``). ``planned``: the core's cut (cancel / truncate /
    delete, sent in the same Step), or ``None`` when it had no playback report to cut
    by (speech before any report).
    """

    response_id: str
    reason: Literal["speech", "interrupt"]
    planned: tr.TruncationPlanned | None = None


class BargeIn:
    """A plugin that turns barge-in into a "stop now" signal for the audio sink.

    Args:
        on_stop: called with the ``StopSignal`` inside the connection's call (keep
            it quick: flush the sink's buffer, do not block).
    """

    def __init__(self, on_stop: Callable[[StopSignal], None] | None = None) -> None:
        self.stop = threading.Event()
        """Set when the sink must stop; cleared when the next response starts."""
        self.stop_signal: StopSignal | None = None
        """Why ``stop`` is set (``None`` while it is not)."""
        self._on_stop = on_stop
        self._conn: rtstate.ClientConnection | None = None
        self._response: str | None = None
        self._items: list[tuple[str, float]] = []  # (item_id, ms received), in order
        self._out_of_band: set[str] = set()  # responses not followed

    # --- lifecycle -----------------------------------------------------------------------

    def attached(self, conn: rtstate.ClientConnection) -> None:
        """Keep the connection, for ``report`` and ``interrupt``."""
        self._conn = conn

    # --- hooks ---------------------------------------------------------------------------

    def on_response_started(self, t: tr.ResponseStarted, step: rtstate.Step) -> None:
        """A new response of the default conversation: the sink may play again (an
        out-of-band response is not followed: barge-in never cuts it)."""
        if t.out_of_band:
            self._out_of_band.add(t.response_id)
            return
        self._response = t.response_id
        self._items = []
        self.stop_signal = None
        self.stop.clear()

    def on_response_finished(self, t: tr.ResponseFinished, step: rtstate.Step) -> None:
        """An out-of-band response ended: forget it."""
        self._out_of_band.discard(t.response_id)

    def on_audio_appended(self, t: tr.AudioAppended, step: rtstate.Step) -> None:
        """Follow the audio the sink is given, item by item."""
        if t.response_id in self._out_of_band:
            return
        if t.response_id != self._response:
            self._response = t.response_id
            self._items = []
        items = self._items
        if items and items[-1][0] == t.item_id:
            items[-1] = (t.item_id, items[-1][1] + t.ms)
        else:
            items.append((t.item_id, t.ms))

    def on_speech_started(self, t: tr.SpeechStarted, step: rtstate.Step) -> None:
        """The user talks: stop the sink if assistant audio may still be playing."""
        if any(isinstance(x, tr.TruncationPlanned) for x in step.transitions):
            return  # the core planned the cut: on_truncation_planned signals it
        response = self._response
        if response is None or not self._items or self._stopped == response:
            return
        if step.after.interrupted_response_id == response:
            return  # already cut
        self._signal(StopSignal(response_id=response, reason="speech"))

    def on_truncation_planned(self, t: tr.TruncationPlanned, step: rtstate.Step) -> None:
        """The core cut the response: stop the sink."""
        reason: Literal["speech", "interrupt"] = (
            "interrupt" if isinstance(step.input, Interrupt) else "speech"
        )
        self._signal(StopSignal(response_id=t.response_id, reason=reason, planned=t))

    # --- the sink's side -------------------------------------------------------------------

    @property
    def response_id(self) -> str | None:
        """The response whose audio is being followed."""
        return self._response

    @property
    def received_ms(self) -> float:
        """Assistant audio received for that response, in ms."""
        return sum(ms for _, ms in self._items)

    def heard(self, played_ms: float) -> tuple[tuple[str, int], ...]:
        """``(item_id, ms heard)`` for each item, when ``played_ms`` of the response's
        audio (in arrival order) has played."""
        out: list[tuple[str, int]] = []
        left = max(played_ms, 0.0)
        for item_id, received in self._items:
            if left <= 0:
                break
            out.append((item_id, int(min(left, received))))
            left -= received
        return tuple(out)

    def report(self, played_ms: float) -> list[rtstate.Step]:
        """Tell the connection what the user heard: ``played_ms`` of the current
        response's audio has played. Returns the ``playback`` Steps (nothing to
        send in them; write their ``to_send`` anyway, as after every call)."""
        conn = self._require()
        return [conn.playback(item_id, ms) for item_id, ms in self.heard(played_ms)]

    def interrupt(self, played_ms: float) -> list[rtstate.Step]:
        """Cut the response where the sink stopped: ``report(played_ms)``, then
        ``conn.interrupt()``. Write every returned Step's ``to_send``, in order."""
        steps = self.report(played_ms)
        steps.append(self._require().interrupt())
        return steps

    @property
    def _stopped(self) -> str | None:
        """The response the stop signal was raised for (``None``: not raised)."""
        signal = self.stop_signal
        return None if signal is None else signal.response_id

    def _require(self) -> rtstate.ClientConnection:
        if self._conn is None:
            raise PluginError("BargeIn is not attached to a connection")
        return self._conn

    def _signal(self, signal: StopSignal) -> None:
        if self._stopped == signal.response_id and signal.planned is None:
            return
        self.stop_signal = signal
        self.stop.set()
        if self._on_stop is not None:
            self._on_stop(signal)
