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

``semantic_vad`` runs the same detector (the fake server has no model to judge
whether a sentence is finished); its ``eagerness`` sets the silence it waits for:
an eighth of the longest wait the service documents for it (2 s for ``high``, 4 s for
``medium`` and ``auto``, 8 s for ``low``), so ``high`` ends a turn after 250 ms of
silence, ``medium`` after 500 ms, ``low`` after 1 s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, Literal

import attrs

from ..events.payloads import TurnDetection
from .audio import pcm16_rms_dbfs

__all__ = [
    "EAGERNESS_SILENCE_MS",
    "FRAME_MS",
    "TURN_DETECTION_DEFAULTS",
    "TURN_DETECTION_TYPES",
    "VadEvent",
    "VadSettings",
    "VadState",
    "advance",
    "feed",
    "full_turn_detection",
]

FRAME_MS: Final = 10
"""The detector's frame, in ms."""

_FRAME_BYTES: Final = FRAME_MS * 48  # pcm16 at 24 kHz

EAGERNESS_SILENCE_MS: Final[Mapping[str, int]] = {
    "high": 250,
    "medium": 500,
    "auto": 500,
    "low": 1000,
}
"""``semantic_vad`` ``eagerness`` -> the silence (ms) that ends a turn (module docstring)."""

TURN_DETECTION_DEFAULTS: Final[Mapping[str, TurnDetection]] = {
    "server_vad": TurnDetection(
        type="server_vad",
        threshold=0.5,
        prefix_padding_ms=300,
        silence_duration_ms=200,
        create_response=True,
        interrupt_response=True,
        idle_timeout_ms=None,
    ),
    "semantic_vad": TurnDetection(
        type="semantic_vad", eagerness="auto", create_response=True, interrupt_response=True
    ),
}
"""Turn detection ``type`` -> what a session reports for it when the client left the
other fields out: the values of real ``session.created`` / ``session.updated`` events
(server VAD: the captures in tests/data/corpus; semantic VAD: its documented default
``eagerness`` ``auto``)."""

TURN_DETECTION_TYPES: Final = tuple(TURN_DETECTION_DEFAULTS)
"""The ``turn_detection.type`` values a session accepts."""

_FIELDS_OF: Final[Mapping[str, frozenset[str]]] = {
    "server_vad": frozenset(
        {
            "threshold",
            "prefix_padding_ms",
            "silence_duration_ms",
            "create_response",
            "interrupt_response",
            "idle_timeout_ms",
        }
    ),
    "semantic_vad": frozenset({"eagerness", "create_response", "interrupt_response"}),
}
"""The fields each type of turn detection has (what a session reports for it)."""

_TUNABLE: Final = tuple(f.name for f in attrs.fields(TurnDetection) if f.name != "type")


def full_turn_detection(td: TurnDetection) -> TurnDetection:
    """``td`` as a session reports it: the defaults of its type where the client left a
    field out, and none of the fields of the other type (a ``semantic_vad`` has no
    ``threshold``; a ``server_vad`` no ``eagerness``). An unknown type is kept as given."""
    defaults = TURN_DETECTION_DEFAULTS.get(td.type)
    if defaults is None:
        return td
    fields = _FIELDS_OF[td.type]
    changes: dict[str, Any] = {name: None for name in _TUNABLE if name not in fields}
    for name in fields:
        if getattr(td, name) is None:
            changes[name] = getattr(defaults, name)
    return attrs.evolve(td, **changes)


@attrs.frozen(kw_only=True)
class VadSettings:
    """The ``server_vad`` knobs, with the defaults a real session starts with."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 200

    @classmethod
    def of(cls, turn_detection: TurnDetection) -> VadSettings:
        """The settings of a session's ``turn_detection`` (missing fields: defaults;
        ``semantic_vad``: the silence of its ``eagerness``)."""
        default = cls()
        td = turn_detection
        if td.type == "semantic_vad":
            silence = EAGERNESS_SILENCE_MS.get(td.eagerness or "auto", EAGERNESS_SILENCE_MS["auto"])
            return cls(silence_duration_ms=silence)
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
