"""Synthetic audio for the server role: speech-like output and input transcription.

No model weights and no randomness from outside: ``SyntheticVoice`` turns a text into
pcm16 (or G.711) audio whose length follows the text (tones, one per word, or noise
shaped like syllables); ``SyntheticTranscriber`` says plainly that its transcript is
synthetic. Both are deterministic: the same text and voice always give the same bytes.

Audio formats (protocol reference 1.4): ``pcm16`` is 24 kHz mono little-endian 16-bit
(48 bytes per ms); ``g711_ulaw`` / ``g711_alaw`` are 8 kHz, one byte per sample
(8 bytes per ms).
"""

from __future__ import annotations

import array
import math
import random
import sys
import zlib
from collections.abc import Mapping
from typing import Final, Literal, Protocol

import attrs

from ..events.payloads import ErrorInfo

__all__ = [
    "BYTES_PER_MS",
    "SAMPLE_RATES",
    "SyntheticTranscriber",
    "SyntheticVoice",
    "Transcriber",
    "Voice",
    "audio_ms",
    "pcm16_rms_dbfs",
    "pcm16_samples",
]

BYTES_PER_MS: Final[Mapping[str, int]] = {"pcm16": 48, "g711_ulaw": 8, "g711_alaw": 8}
"""Bytes of audio per millisecond, by ``*_audio_format``."""

SAMPLE_RATES: Final[Mapping[str, int]] = {"pcm16": 24_000, "g711_ulaw": 8_000, "g711_alaw": 8_000}
"""Samples per second, by ``*_audio_format``."""

_BIG_ENDIAN: Final = sys.byteorder == "big"


def audio_ms(n_bytes: int, audio_format: str) -> float:
    """How many milliseconds ``n_bytes`` of audio in ``audio_format`` last."""
    return n_bytes / BYTES_PER_MS.get(audio_format, 48)


def pcm16_samples(data: bytes) -> array.array[int]:
    """Little-endian pcm16 bytes as an array of samples (a trailing odd byte is dropped)."""
    samples = array.array("h")
    samples.frombytes(data[: len(data) - len(data) % 2])
    if _BIG_ENDIAN:  # pragma: no cover - little-endian hosts are the norm
        samples.byteswap()
    return samples


def pcm16_rms_dbfs(data: bytes) -> float:
    """The RMS level of pcm16 audio in dB relative to full scale (``-inf`` for silence)."""
    samples = pcm16_samples(data)
    if not samples:
        return -math.inf
    power = sum(x * x for x in samples) / len(samples)
    if power <= 0:
        return -math.inf
    return 10.0 * math.log10(power / (32768.0 * 32768.0))


def _pcm16_bytes(samples: array.array[int]) -> bytes:
    if _BIG_ENDIAN:  # pragma: no cover
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def _ulaw(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, 32635) + 0x84
    exponent = max((magnitude >> 7).bit_length() - 1, 0)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _alaw(sample: int) -> int:
    if sample >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        sample = -sample - 1
    sample = min(sample, 32767)
    if sample < 256:
        value = sample >> 4
    else:
        exponent = (sample >> 8).bit_length()
        value = (exponent << 4) | ((sample >> (exponent + 3)) & 0x0F)
    return value ^ mask


_G711: Final = {"g711_ulaw": _ulaw, "g711_alaw": _alaw}


def _encode(samples: array.array[int], audio_format: str) -> bytes:
    coder = _G711.get(audio_format)
    if coder is None:
        return _pcm16_bytes(samples)
    return bytes(coder(x) for x in samples)


class Voice(Protocol):
    """Makes the audio of an assistant message from its text (a text-to-speech stand-in)."""

    def synthesize(self, text: str, voice: str, audio_format: str) -> bytes:
        """Audio in ``audio_format`` saying ``text`` in ``voice``; deterministic."""
        ...


_VOICE_PITCH: Final[Mapping[str, float]] = {
    "alloy": 180.0,
    "ash": 120.0,
    "ballad": 140.0,
    "coral": 220.0,
    "echo": 110.0,
    "sage": 200.0,
    "shimmer": 240.0,
    "verse": 160.0,
}


@attrs.frozen(kw_only=True)
class SyntheticVoice:
    """Speech-shaped audio sized by the text: ``ms_per_char`` per character.

    ``kind="tone"`` sings one tone per word (its pitch set by the voice and the word);
    ``kind="noise"`` fills each word with noise under a syllable envelope. Spaces and
    punctuation are silence. The result lasts ``len(text) * ms_per_char`` ms (at least
    ``min_ms``), rounded to whole ms.
    """

    kind: Literal["tone", "noise"] = "tone"
    ms_per_char: float = attrs.field(default=60.0)
    amplitude: float = 0.3
    min_ms: int = 200

    @ms_per_char.validator
    def _check_rate(self, _: attrs.Attribute[float], value: float) -> None:
        if not value > 0:
            raise ValueError(f"ms_per_char must be > 0, not {value}")

    def duration_ms(self, text: str) -> int:
        """How long ``text`` is spoken, in ms."""
        return max(self.min_ms, round(len(text) * self.ms_per_char))

    def synthesize(self, text: str, voice: str, audio_format: str) -> bytes:
        """Audio for ``text`` (see the class docstring)."""
        rate = SAMPLE_RATES.get(audio_format, 24_000)
        total = self.duration_ms(text) * rate // 1000
        per_char = self.ms_per_char * rate / 1000.0
        base = _VOICE_PITCH.get(voice, 150.0)
        peak = 32767.0 * self.amplitude
        samples = array.array("h", bytes(2 * total))
        rng = random.Random(zlib.crc32(f"{voice}\0{text}".encode()))
        position = 0.0
        for word in _words(text):
            start = round(position)
            position += len(word) * per_char
            end = min(round(position), total)
            if not word.strip() or start >= end:
                continue
            n = end - start
            if self.kind == "tone":
                pitch = base * (1.0 + (zlib.crc32(word.encode()) % 7) / 12.0)
                step = 2.0 * math.pi * pitch / rate
                arc = math.pi / n
                sin = math.sin
                piece = [int(peak * sin(arc * i) * sin(step * i)) for i in range(n)]
            else:
                syllable = max(int(0.2 * rate), 1)
                shape = [math.sin(math.pi * i / syllable) ** 2 for i in range(min(n, syllable))]
                noise = rng.random
                piece = [int(peak * shape[i % syllable] * (2.0 * noise() - 1.0)) for i in range(n)]
            samples[start:end] = array.array("h", piece)
        return _encode(samples, audio_format)


def _words(text: str) -> list[str]:
    """``text`` cut into alternating runs of word and non-word characters."""
    runs: list[str] = []
    current = ""
    for ch in text:
        if current and ch.isalnum() != current[-1].isalnum():
            runs.append(current)
            current = ""
        current += ch
    if current:
        runs.append(current)
    return runs


class Transcriber(Protocol):
    """Transcribes a committed input audio buffer (a speech-to-text stand-in)."""

    def transcribe(self, audio: bytes, audio_format: str, model: str | None) -> str | ErrorInfo:
        """The transcript of ``audio``, or an ``ErrorInfo`` when transcription fails."""
        ...


@attrs.frozen(kw_only=True)
class SyntheticTranscriber:
    """Says plainly that it is synthetic: ``[synthetic transcript of 1.2 s of audio]``."""

    def transcribe(self, audio: bytes, audio_format: str, model: str | None) -> str | ErrorInfo:
        """A transcript naming the duration of ``audio``."""
        seconds = audio_ms(len(audio), audio_format) / 1000.0
        return f"[synthetic transcript of {seconds:.1f} s of audio]"
