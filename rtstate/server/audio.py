"""Synthetic audio for the server role: speech-like output and input transcription.

No model weights and no randomness from outside: ``SyntheticVoice`` turns a text into
pcm16 (or G.711) audio whose length follows the text (tones, one per word, or noise
shaped like syllables); ``SyntheticTranscriber`` says plainly that its transcript is
synthetic. Both are deterministic: the same text and voice always give the same bytes.

Audio formats: ``pcm16`` is 24 kHz mono little-endian 16-bit
(48 bytes per ms); ``g711_ulaw`` / ``g711_alaw`` are 8 kHz, one byte per sample
(8 bytes per ms).
"""

from __future__ import annotations

import array
import base64
import bisect
import functools
import itertools
import math
import random
import sys
import weakref
import zlib
from collections.abc import Hashable, Mapping
from typing import Final, Literal, Protocol, TypeGuard, runtime_checkable

import attrs

from ..events.payloads import ErrorInfo
from ._cache import SizedLru

__all__ = [
    "BYTES_PER_MS",
    "SAMPLE_RATES",
    "Recorded",
    "StreamingVoice",
    "SyntheticTranscriber",
    "SyntheticVoice",
    "Transcriber",
    "Utterance",
    "Voice",
    "audio_ms",
    "pcm16_rms_dbfs",
    "pcm16_samples",
    "utterance_of",
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


class Utterance(Protocol):
    """The audio of one message, made a piece at a time: ``size`` bytes in all, and
    ``render(start, end)`` the bytes ``[start, end)`` of it (whole samples)."""

    @property
    def size(self) -> int:
        """The length of the whole audio, in bytes."""
        ...

    def render(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` of the audio; the same range gives the same bytes."""
        ...


@runtime_checkable
class StreamingVoice(Protocol):
    """A ``Voice`` that can also speak a piece at a time (``SyntheticVoice`` does).

    The server plans a spoken message from ``utterance(...).size`` alone and renders
    each audio delta when it is due, so a long reply never exists whole in memory. A
    plain ``Voice`` is asked for the whole audio once, when the response is planned.
    """

    def synthesize(self, text: str, voice: str, audio_format: str) -> bytes:
        """The whole audio (``utterance(...).render(0, size)``)."""
        ...

    def utterance(self, text: str, voice: str, audio_format: str) -> Utterance:
        """The audio of ``text`` in ``voice``, to be rendered a range at a time."""
        ...


@attrs.frozen
class Recorded:
    """An ``Utterance`` of ready bytes (a plain ``Voice``'s, or a ``Message``'s own)."""

    data: bytes = attrs.field(repr=False)

    @property
    def size(self) -> int:
        """``len(data)``."""
        return len(self.data)

    def render(self, start: int, end: int) -> bytes:
        """A slice of ``data``."""
        return self.data[start:end]


def streams(voice: Voice) -> TypeGuard[StreamingVoice]:
    """``isinstance(voice, StreamingVoice)``; the built-in ``SyntheticVoice`` is known
    to be one without the protocol's attribute walk (about 10 us on Python 3.11)."""
    return type(voice) is SyntheticVoice or isinstance(voice, StreamingVoice)


def utterance_of(voice: Voice, text: str, name: str, audio_format: str) -> Utterance:
    """``voice``'s audio of ``text``: a ``StreamingVoice``'s utterance, else ``Recorded``."""
    if streams(voice):
        return voice.utterance(text, name, audio_format)
    return Recorded(voice.synthesize(text, name, audio_format))


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

_LEVELS: Final = 32
"""Loudness steps of the envelope (one level per 10 ms block)."""

_NOISE_SAMPLES: Final = 4096
"""The length of the noise the ``noise`` voice loops over (at a text-chosen offset)."""

_WORDS: Final = SizedLru[bytes](max_size=4 << 20, max_item=96_000)
"""The audio of recently spoken words (up to 2 s of pcm16 each), by what it depends on:
the same word in the same voice is rendered once, its deltas are slices of it."""

_CHUNKS: Final = SizedLru[str](max_size=4 << 20, max_item=64_000)
"""The base64 text of recent synthetic audio deltas (up to 1 s of pcm16 each), by
utterance and range: a reply spoken again is neither rendered nor encoded again."""


class _Token:
    """Stands for one utterance's inputs in ``_CHUNKS``' keys: hashed and compared by
    identity (a key tuple holding the voice and the text hashed them on every look-up)."""

    __slots__ = ("__weakref__",)


_TOKENS: Final = weakref.WeakValueDictionary[Hashable, _Token]()
"""Inputs -> their token, while a cached delta or an utterance holds it (two threads
may make two tokens for the same inputs: the same bytes cached twice, never wrong)."""


def _token(inputs: Hashable) -> _Token:
    """The token of ``inputs`` (made if none is alive)."""
    token = _TOKENS.get(inputs)
    if token is None:
        token = _TOKENS.setdefault(inputs, _Token())
    return token


@functools.cache
def _zero(audio_format: str) -> bytes:
    """One sample of silence in ``audio_format``."""
    return _encode(array.array("h", [0]), audio_format)


@functools.lru_cache(maxsize=4096)
def _tone_period(period: int, level: int, peak: float, audio_format: str) -> bytes:
    """One period (``period`` samples) of a sine at ``level / _LEVELS`` of ``peak``."""
    scale = peak * level / _LEVELS
    step = 2.0 * math.pi / period
    return _encode(
        array.array("h", [int(scale * math.sin(step * i)) for i in range(period)]), audio_format
    )


@functools.cache
def _noise_base() -> tuple[float, ...]:
    rng = random.Random(0x5EED)
    return tuple(2.0 * rng.random() - 1.0 for _ in range(_NOISE_SAMPLES))


@functools.lru_cache(maxsize=256)
def _noise_loop(level: int, peak: float, audio_format: str) -> bytes:
    """``_NOISE_SAMPLES`` of uniform noise at ``level / _LEVELS`` of ``peak``."""
    scale = peak * level / _LEVELS
    return _encode(array.array("h", [int(scale * x) for x in _noise_base()]), audio_format)


def _cycle(loop: bytes, width: int, offset: int, count: int) -> bytes:
    """``count`` samples of ``loop`` (repeated) from sample ``offset`` on."""
    n = len(loop) // width
    offset %= n
    reps = (offset + count) // n + 1
    return (loop * reps)[offset * width : (offset + count) * width]


@attrs.frozen
class _Word:
    start: int  # first sample
    end: int  # one past the last sample
    period: int  # tone: samples per cycle
    offset: int  # noise: where in the loop it starts


@attrs.frozen(kw_only=True, eq=False)
class _Synthetic:
    """A ``SyntheticVoice`` utterance: words laid out on samples, rendered by range."""

    voice: SyntheticVoice
    text: str
    name: str
    audio_format: str
    samples: int

    @property
    def size(self) -> int:
        return self.samples * self._width

    @property
    def _width(self) -> int:
        return 1 if self.audio_format in _G711 else 2

    @property
    def _rate(self) -> int:
        return SAMPLE_RATES.get(self.audio_format, 24_000)

    @functools.cached_property
    def _words(self) -> tuple[tuple[int, ...], tuple[_Word, ...]]:
        """The spoken words (start sample order) and their start samples."""
        rate = self._rate
        per_char = self.voice.ms_per_char * rate / 1000.0
        base = _VOICE_PITCH.get(self.name, 150.0)
        seed = zlib.crc32(f"{self.name}\0{self.text}".encode())
        words: list[_Word] = []
        position = 0.0
        for word in _words(self.text):
            start = round(position)
            position += len(word) * per_char
            end = min(round(position), self.samples)
            if not word[0].isalnum() or start >= end:
                continue
            pitch = base * (1.0 + (zlib.crc32(word.encode()) % 7) / 12.0)
            words.append(_Word(start, end, max(round(rate / pitch), 2), seed + start))
        return tuple(w.start for w in words), tuple(words)

    def render(self, start: int, end: int) -> bytes:
        width = self._width
        first = max(start, 0) // width
        last = min(end, self.size) // width
        starts, words = self._words
        index = max(bisect.bisect_right(starts, first) - 1, 0)
        pieces: list[bytes] = []
        position = first
        while position < last:
            word = words[index] if index < len(words) else None
            if word is None or position < word.start:
                stop = last if word is None else min(word.start, last)
                pieces.append(_zero(self.audio_format) * (stop - position))
                position = stop
            elif position >= word.end:
                index += 1
            else:
                stop = min(word.end, last)
                pieces.append(self._word_slice(word, position, stop))
                position = stop
        return b"".join(pieces)

    @functools.cached_property
    def _chunk_key(self) -> tuple[_Token, int, int]:
        """What the cache keys of this utterance's deltas start with: the token of
        what its audio depends on (``_token``), its sample width and size in bytes."""
        return _token((self.voice, self.text, self.name, self.audio_format)), self._width, self.size

    def render_base64(self, start: int, end: int) -> tuple[str, int]:
        """``render(start, end)`` as base64 text, and its length in bytes (cached)."""
        token, width, size = self._chunk_key
        count = max(min(end, size) // width - max(start, 0) // width, 0) * width
        text = _CHUNKS.get(
            (token, start, end), lambda: base64.b64encode(self.render(start, end)).decode("ascii")
        )
        return text, count

    def _word_slice(self, word: _Word, start: int, end: int) -> bytes:
        """``_word(word, start, end)``, sliced out of the whole word's cached audio."""
        width = self._width
        n = word.end - word.start
        if n * width > _WORDS.max_item:
            return self._word(word, start, end)
        voice = self.voice
        shape = word.period if voice.kind == "tone" else word.offset
        key = (voice.kind, voice.amplitude, self.audio_format, n, shape)
        audio = _WORDS.get(key, lambda: self._word(word, word.start, word.end))
        return audio[(start - word.start) * width : (end - word.start) * width]

    def _word(self, word: _Word, start: int, end: int) -> bytes:
        """Samples ``start`` to ``end`` of ``word``, one 10 ms block of loudness at a time."""
        voice = self.voice
        rate, width, fmt = self._rate, self._width, self.audio_format
        peak = 32767.0 * voice.amplitude
        block = max(rate // 100, 1)
        n = word.end - word.start
        blocks = -(-n // block)
        syllable = max(int(0.2 * rate), 1)
        tone = voice.kind == "tone"
        pieces: list[bytes] = []
        position = start
        while position < end:
            at = position - word.start
            b = at // block
            stop = min(word.start + (b + 1) * block, end)
            middle = (b + 0.5) * block
            if tone:
                shape = math.sin(math.pi * (b + 0.5) / blocks)
            else:
                shape = math.sin(math.pi * (middle % syllable) / syllable) ** 2
            level = round(shape * _LEVELS)
            if tone:
                loop = _tone_period(word.period, level, peak, fmt)
                pieces.append(_cycle(loop, width, at, stop - position))
            else:
                loop = _noise_loop(level, peak, fmt)
                pieces.append(_cycle(loop, width, word.offset + at, stop - position))
            position = stop
        return b"".join(pieces)


@attrs.frozen(kw_only=True)
class SyntheticVoice:
    """Speech-shaped audio sized by the text: ``ms_per_char`` per character.

    ``kind="tone"`` sings one tone per word (its pitch set by the voice and the word,
    rounded to a whole number of samples per cycle) under a rise-and-fall envelope;
    ``kind="noise"`` fills each word with noise under a syllable envelope (200 ms
    syllables). Spaces and punctuation are silence. The envelope moves in 10 ms
    steps of 32 levels, so each piece is built from cached bytes rather than sample
    by sample. The result lasts ``len(text) * ms_per_char`` ms (at least ``min_ms``),
    rounded to whole ms; the same text, voice and format always give the same bytes,
    and any range of them can be rendered alone (``utterance``).
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

    def utterance(self, text: str, voice: str, audio_format: str) -> Utterance:
        """The audio of ``text``, rendered a range at a time (laid out on first use)."""
        rate = SAMPLE_RATES.get(audio_format, 24_000)
        samples = self.duration_ms(text) * rate // 1000
        return _Synthetic(
            voice=self, text=text, name=voice, audio_format=audio_format, samples=samples
        )

    def synthesize(self, text: str, voice: str, audio_format: str) -> bytes:
        """Audio for ``text`` (see the class docstring)."""
        audio = self.utterance(text, voice, audio_format)
        return audio.render(0, audio.size)


def _render_base64(audio: Utterance, start: int, end: int) -> tuple[str, int]:
    """Bytes ``start`` to ``end`` of ``audio`` as base64 text, and how many bytes they
    are: what an audio delta carries. A ``SyntheticVoice`` utterance's are cached (a
    bounded cache shared by the process: the same words and replies spoken again cost
    a lookup); any other utterance's are rendered and encoded each time."""
    if isinstance(audio, _Synthetic):
        return audio.render_base64(start, end)
    data = audio.render(start, end)
    return base64.b64encode(data).decode("ascii"), len(data)


def _words(text: str) -> list[str]:
    """``text`` cut into alternating runs of word and non-word characters."""
    return ["".join(run) for _, run in itertools.groupby(text, str.isalnum)]


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
