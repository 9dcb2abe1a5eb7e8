"""Decoded views of the assistant's output audio: ``Pcm``, with its format and rate.

The fold keeps output audio as it arrived (base64 text, ``AudioAppended.audio``) and
never decodes it: decoding costs a copy per delta, and most programs only count the
milliseconds. A program that plays the audio asks for a ``Pcm`` when it wants one:

* ``AudioAppended.pcm(step.after)`` (or ``pcm(transition, state)``): one delta, in the
  format of the response that streams it;
* ``retained(state, item_id)``: an item's audio kept under
  ``Config(audio_retention=AudioRetention.PER_ITEM)`` (or ``LAST_SECONDS``);
* ``decode(text, format)``: any base64 audio.

Formats are the three the Realtime API knows, named as the state names them in both
dialects (``AudioFormat``): ``"pcm16"`` (16-bit signed little-endian linear PCM, mono,
24 kHz: GA's ``{"type": "audio/pcm", "rate": 24000}``, the only rate GA accepts),
``"g711_ulaw"`` and ``"g711_alaw"`` (8-bit companded, mono, 8 kHz: GA's
``audio/pcmu`` / ``audio/pcma``). ``Pcm.to_pcm16()`` expands G.711 to linear samples
for a sink that wants them. Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, cast

import attrs

from .errors import LocalProtocolError

if TYPE_CHECKING:
    from .state import SessionState
    from .transitions import AudioAppended

__all__ = [
    "AUDIO_FORMATS",
    "SAMPLE_RATES",
    "AudioFormat",
    "Pcm",
    "decode",
    "output_format",
    "pcm",
    "retained",
]

AudioFormat: TypeAlias = Literal["pcm16", "g711_ulaw", "g711_alaw"]
"""The audio formats of the Realtime API, as the state names them (both dialects)."""

AUDIO_FORMATS: Final[tuple[AudioFormat, ...]] = ("pcm16", "g711_ulaw", "g711_alaw")
"""Every ``AudioFormat``."""

SAMPLE_RATES: Final[Mapping[AudioFormat, int]] = {
    "pcm16": 24_000,
    "g711_ulaw": 8_000,
    "g711_alaw": 8_000,
}
"""Samples per second of each format (the Realtime API fixes them)."""

_SAMPLE_BYTES: Final[Mapping[AudioFormat, int]] = {"pcm16": 2, "g711_ulaw": 1, "g711_alaw": 1}


def _format(value: str) -> AudioFormat:
    if value not in SAMPLE_RATES:
        known = ", ".join(AUDIO_FORMATS)
        raise LocalProtocolError(f"unknown audio format {value!r}; known: {known}")
    return cast("AudioFormat", value)


def _check_format(_: object, __: object, value: str) -> None:
    _format(value)


def _default_rate(self: Pcm) -> int:
    return SAMPLE_RATES.get(self.format, 24_000)


def _check_positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise LocalProtocolError(f"Pcm.{attribute.name} must be >= 1, not {value}")


@attrs.frozen(repr=False)
class Pcm:
    """Audio samples with what it takes to play them.

    ``data``: the raw bytes (``pcm16``: signed 16-bit little-endian samples; G.711:
    one companded byte per sample); ``format``; ``sample_rate`` (Hz, the format's by
    default); ``channels`` (the Realtime API's audio is mono). Equal audio gives
    equal values. The repr shows the shape, never the bytes.

    Raises:
        LocalProtocolError: an unknown ``format``, or a rate or channel count
            below 1.
    """

    data: bytes
    format: AudioFormat = attrs.field(default="pcm16", validator=_check_format)
    sample_rate: int = attrs.field(
        default=attrs.Factory(_default_rate, takes_self=True), validator=_check_positive
    )
    channels: int = attrs.field(default=1, validator=_check_positive)

    @property
    def frame_bytes(self) -> int:
        """Bytes per frame (one sample of every channel)."""
        return _SAMPLE_BYTES[self.format] * self.channels

    @property
    def frames(self) -> int:
        """Whole frames held (a trailing partial frame, if any, is not counted)."""
        return len(self.data) // self.frame_bytes

    @property
    def ms(self) -> float:
        """Duration in milliseconds."""
        return self.frames * 1000.0 / self.sample_rate

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.frames / self.sample_rate

    def to_pcm16(self) -> Pcm:
        """This audio as 16-bit linear samples at the same rate (G.711 expanded by
        the standard tables; ``pcm16`` is returned as it is)."""
        if self.format == "pcm16":
            return self
        table = _ULAW if self.format == "g711_ulaw" else _ALAW
        return Pcm(
            b"".join([table[b] for b in self.data]), "pcm16", self.sample_rate, self.channels
        )

    def cut(self, start_ms: float = 0.0, end_ms: float | None = None) -> Pcm:
        """The frames from ``start_ms`` to ``end_ms`` (the end by default), clamped to
        the audio held; cut on frame boundaries."""
        step = self.frame_bytes
        first = max(0, int(start_ms * self.sample_rate / 1000.0))
        last = self.frames if end_ms is None else int(end_ms * self.sample_rate / 1000.0)
        last = min(max(last, first), self.frames)
        return attrs.evolve(self, data=self.data[first * step : last * step])

    @classmethod
    def join(cls, chunks: Iterable[Pcm]) -> Pcm:
        """One ``Pcm`` of ``chunks`` in order (they share a format, rate and channel
        count; none given: empty ``pcm16``).

        Raises:
            LocalProtocolError: the chunks differ in format, rate or channels.
        """
        items = list(chunks)
        if not items:
            return cls(b"")
        first = items[0]
        shape = (first.format, first.sample_rate, first.channels)
        for chunk in items[1:]:
            if (chunk.format, chunk.sample_rate, chunk.channels) != shape:
                raise LocalProtocolError(
                    f"cannot join {chunk.format} {chunk.sample_rate} Hz x{chunk.channels} "
                    f"to {first.format} {first.sample_rate} Hz x{first.channels}"
                )
        return attrs.evolve(first, data=b"".join([c.data for c in items]))

    def __repr__(self) -> str:
        return (
            f"Pcm({self.format}, {self.sample_rate} Hz, {self.channels} ch, "
            f"{len(self.data)} bytes, {self.ms:.1f} ms)"
        )


def decode(audio: str, format: str = "pcm16") -> Pcm:
    """Base64 ``audio`` (as the wire carries it) in ``format``, decoded.

    Raises:
        LocalProtocolError: ``audio`` is not base64, or ``format`` is unknown.
    """
    fmt = _format(format)
    try:
        data = base64.b64decode(audio, validate=True)
    except ValueError as exc:
        raise LocalProtocolError(f"audio is not valid base64: {exc}") from None
    return Pcm(data, fmt)


def output_format(state: SessionState, response_id: str | None) -> AudioFormat:
    """The output audio format of ``response_id``: the one fixed when it was created
    (``ResponseState.output_audio_format``) while the state remembers the response (in
    progress, or among the ``Config.max_finished_responses`` latest finished), else
    the session's (``session.output_audio_format``; GA's ``audio.output.format``),
    else ``"pcm16"``.

    Raises:
        LocalProtocolError: the format the state names is not one of ``AudioFormat``.
    """
    if response_id is not None:
        response = state.responses.get(response_id)
        if response is None:
            response = next((r for r in state.finished if r.id == response_id), None)
        if response is not None:
            return _format(response.output_audio_format)
    session = state.session
    return _format((session.output_audio_format if session is not None else None) or "pcm16")


def pcm(transition: AudioAppended, state: SessionState | str) -> Pcm:
    """``transition``'s audio, decoded: in its response's format as ``state`` knows it
    (pass the Step's ``after``), or in the format named by a string.

    Raises:
        LocalProtocolError: the format is unknown, or the delta is not base64.
    """
    fmt = state if isinstance(state, str) else output_format(state, transition.response_id)
    return decode(transition.audio, fmt)


def retained(state: SessionState, item_id: str, content_index: int | None = None) -> Pcm:
    """The output audio ``state`` retained for ``item_id`` (one part's, with
    ``content_index``), in its response's format (``output_format``). Empty when
    nothing was kept: ``Config.audio_retention`` is ``NONE`` (the default), the item
    is unknown, or its audio left a ``LAST_SECONDS`` window.

    Raises:
        LocalProtocolError: the format the state names is unknown.
    """
    item = state.items_by_id.get(item_id)
    fmt = output_format(state, item.response_id if item is not None else None)
    return Pcm(state.retained_audio(item_id, content_index), fmt)


# --- G.711 (ITU-T G.711), expanded to 16-bit little-endian linear samples ---------------


def _ulaw(byte: int) -> int:
    u = ~byte & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return (0x84 - magnitude) if u & 0x80 else (magnitude - 0x84)


def _alaw(byte: int) -> int:
    a = byte ^ 0x55
    exponent = (a & 0x70) >> 4
    mantissa = a & 0x0F
    base = (mantissa << 4) + (8 if exponent == 0 else 0x108)
    magnitude = base << max(exponent - 1, 0)
    return magnitude if a & 0x80 else -magnitude


_ULAW: Final = tuple(_ulaw(b).to_bytes(2, "little", signed=True) for b in range(256))
_ALAW: Final = tuple(_alaw(b).to_bytes(2, "little", signed=True) for b in range(256))
