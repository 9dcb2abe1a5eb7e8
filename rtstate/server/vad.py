"""Server voice activity detection: an energy detector over pcm16 input.

Pure: ``feed(state, pcm, settings)`` returns the new ``VadState`` and the speech
boundaries found, as ``VadEvent`` values; nothing here reads a clock (time is the
audio itself: milliseconds of input appended this session).

The detector looks at 10 ms frames. A frame is speech when its RMS level is above
``-60 dBFS + 60 dB * threshold`` (threshold 0.5, the default, is -30 dBFS; higher
needs louder audio, as the protocol says). Speech starts at the first speech frame;
``audio_start_ms`` reaches back ``prefix_padding_ms`` (not before ``floor_ms``, where
the buffer began). It stops once ``silence_duration_ms`` of non-speech frames have
followed; ``audio_end_ms`` is the end of that silence window.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import attrs

from ..events.payloads import TurnDetection
from .audio import pcm16_rms_dbfs

__all__ = ["FRAME_MS", "VadEvent", "VadSettings", "VadState", "advance", "feed"]

FRAME_MS: Final = 10
"""The detector's frame, in ms."""

_FRAME_BYTES: Final = FRAME_MS * 48  # pcm16 at 24 kHz


@attrs.frozen(kw_only=True)
class VadSettings:
    """The ``server_vad`` knobs, with the defaults a real session starts with."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200

    @classmethod
    def of(cls, turn_detection: TurnDetection) -> VadSettings:
        """The settings of a session's ``turn_detection`` (missing fields: defaults)."""
        default = cls()
        td = turn_detection
        return cls(
            threshold=default.threshold if td.threshold is None else td.threshold,
            prefix_padding_ms=(
                default.prefix_padding_ms if td.prefix_padding_ms is None else td.prefix_padding_ms
            ),
            silence_duration_ms=(
                default.silence_duration_ms
                if td.silence_duration_ms is None
                else td.silence_duration_ms
            ),
        )

    @property
    def level_dbfs(self) -> float:
        """The RMS level above which a frame is speech."""
        return -60.0 + 60.0 * self.threshold


@attrs.frozen(kw_only=True)
class VadState:
    """Where the detector is.

    ``position_ms``: input audio seen this session (frames processed). ``floor_ms``:
    where the input buffer begins (speech cannot start before it). ``speaking``,
    ``silence_ms``: the current speech and the non-speech run at its end.
    ``remainder``: bytes of an unfinished frame.
    """

    position_ms: int = 0
    floor_ms: int = 0
    speaking: bool = False
    silence_ms: int = 0
    remainder: bytes = attrs.field(default=b"", repr=False)


@attrs.frozen(kw_only=True)
class VadEvent:
    """A speech boundary: ``kind`` ``"start"`` or ``"stop"`` at ``at_ms`` of session input."""

    kind: Literal["start", "stop"]
    at_ms: int


def feed(
    state: VadState, pcm: bytes, settings: VadSettings
) -> tuple[VadState, tuple[VadEvent, ...]]:
    """Run the detector over more pcm16 input; the new state and the boundaries found."""
    data = state.remainder + pcm if state.remainder else pcm
    usable = len(data) - len(data) % _FRAME_BYTES
    position = state.position_ms
    speaking = state.speaking
    silence = state.silence_ms
    floor = state.floor_ms
    level = settings.level_dbfs
    found: list[VadEvent] = []
    for offset in range(0, usable, _FRAME_BYTES):
        loud = pcm16_rms_dbfs(data[offset : offset + _FRAME_BYTES]) > level
        if not speaking:
            if loud:
                speaking = True
                silence = 0
                start = max(floor, position - settings.prefix_padding_ms)
                found.append(VadEvent(kind="start", at_ms=start))
        elif loud:
            silence = 0
        else:
            silence += FRAME_MS
            if silence >= settings.silence_duration_ms:
                speaking = False
                silence = 0
                found.append(VadEvent(kind="stop", at_ms=position + FRAME_MS))
        position += FRAME_MS
    new = VadState(
        position_ms=position,
        floor_ms=floor,
        speaking=speaking,
        silence_ms=silence,
        remainder=data[usable:],
    )
    return new, tuple(found)


def advance(state: VadState, ms: float) -> VadState:
    """Move the timeline on by ``ms`` of input the detector does not look at (not pcm16)."""
    return attrs.evolve(state, position_ms=state.position_ms + math.floor(ms))
