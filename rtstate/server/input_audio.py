"""The input audio of ``ServerConnection``: the input buffer, server VAD and the idle timeout.

``input_audio_buffer.append`` / ``.commit`` / ``.clear``; the energy detector
(``rtstate.server.vad``) fed with the appended audio, whose speech boundaries make
``speech_started`` / ``speech_stopped``, a committed user item, its transcription and
(``create_response``) a response; barge-in (speech during a response cancels it); GA
server VAD's ``idle_timeout_ms`` (``input_audio_buffer.timeout_triggered``).

``_InputAudio`` is a mixin of ``ServerConnection`` (``rtstate.server.connection``) on top
of the response runner (``rtstate.server.runner``); what it uses of the session frame is
declared at the top of the class.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

import attrs

from ..events import client as c
from ..events import server as s
from ..events.payloads import (
    UNSET,
    ContentPart,
    ErrorInfo,
    InputTokenDetails,
    Item,
    LogProb,
    TranscriptionUsage,
    TurnDetection,
)
from . import validate as v
from ._wire import obfuscation as _obfuscation
from .audio import (
    BYTES_PER_MS,
    Transcriber,
    audio_ms,
)
from .response import (
    text_tokens,
)
from .runner import _ResponseRunner, _Transcription
from .vad import VadEvent, VadSettings, VadState, feed

__all__: list[str] = []

_TRANSCRIPT_WORDS: Final = re.compile(r"\s*[\w'\u2019-]+|\s*[^\w\s]+|\s+")
_SENTENCES: Final = re.compile(r"\s*[^.!?]+[.!?]*|\s*[.!?]+")
_LOGPROBS: Final = "item.input_audio_transcription.logprobs"
_SPEAKERS: Final = ("A", "B")


def _diarizing(model: str | None) -> bool:
    """Whether a transcription model diarizes (``gpt-4o-transcribe-diarize``: the SDK's
    one such name; any name with ``diarize`` in it is taken as one)."""
    return model is not None and "diarize" in model


def _segments(transcript: str, seconds: float) -> list[tuple[str, float, float]]:
    """A diarized transcript: one segment per sentence, ``(text, start, end)`` with the
    audio's length shared by the sentences' lengths."""
    pieces = [p.strip() for p in _SENTENCES.findall(transcript) if p.strip()] or [transcript]
    total = sum(len(p) for p in pieces) or 1
    out: list[tuple[str, float, float]] = []
    at = 0.0
    for piece in pieces:
        end = at + seconds * len(piece) / total
        out.append((piece, round(at, 3), round(end, 3)))
        at = end
    return out


def _logprobs(text: str) -> tuple[LogProb, ...]:
    """Synthetic token log probabilities: one token per word piece, sure of short ones."""
    return tuple(
        LogProb(token=t, bytes=tuple(t.encode()), logprob=-round(len(t.strip()) / 100, 2))
        for t in _transcript_deltas(text)
        if t
    )


def _transcript_deltas(transcript: str) -> list[str]:
    """A transcript cut as the real service streams it: a word (with the space before
    it) or a run of punctuation per delta."""
    pieces = _TRANSCRIPT_WORDS.findall(transcript)
    return pieces if "".join(pieces) == transcript and pieces else [transcript]


def _transcription_usage(model: str | None, seconds: float, transcript: str) -> TranscriptionUsage:
    """GA transcription usage as the real service reports it: whisper models bill the
    duration (``gpt-realtime-whisper``, ``whisper-1``), the others tokens
    (``gpt-4o-transcribe``: audio tokens in, text tokens out)."""
    if model is None or "whisper" in model:
        return TranscriptionUsage(type="duration", seconds=seconds)
    audio = math.ceil(seconds * 10)
    out = text_tokens(transcript)
    return TranscriptionUsage(
        type="tokens",
        input_tokens=audio,
        output_tokens=out,
        total_tokens=audio + out,
        input_token_details=InputTokenDetails(text_tokens=0, audio_tokens=audio),
    )


class _InputAudio(_ResponseRunner):
    """The input audio (see the module docstring); a mixin of ``ServerConnection``."""

    # what the input audio uses of the session frame (``ServerConnection``)
    _transcriber: Transcriber
    _vad: VadState
    _speech_item: str | None
    _buffer: bytearray
    _buffer_start_ms: float

    if TYPE_CHECKING:

        def _accept(self, event: c.ClientEvent) -> None: ...

        def _reject(self, r: v.Rejected, event_id: str | None, event_type: str | None) -> None: ...

        def _room(self, items: int, chars: int) -> None: ...

    # --- idle timeout (GA server VAD ``idle_timeout_ms``) ----------------------------------

    def _idle_timeout_ms(self) -> int | None:
        """The session's ``idle_timeout_ms``, when it has one that runs: GA server VAD
        only (the beta protocol has no ``timeout_triggered`` event; semantic VAD no idle
        timeout)."""
        session = self._state.session
        td = None if session is None else session.turn_detection
        if not self._ga or not isinstance(td, TurnDetection) or td.type != "server_vad":
            return None
        return td.idle_timeout_ms

    def _idle_due(self) -> float | None:
        """When the idle timeout fires: ``idle_timeout_ms`` after the end of the last
        response's audio (its ``response.done`` plus the audio's length, as the service
        documents it), of the last speech, or of the ``session.update`` that set it,
        whichever came last; never during speech or a response."""
        timeout = self._idle_timeout_ms()
        if (
            timeout is None
            or self._idle_from is None
            or self._default_run is not None
            or self._speech_item is not None
        ):
            return None
        return self._idle_from + timeout / 1000.0

    def _idle_check(self) -> None:
        """Fire the idle timeout if it is due: ``input_audio_buffer.timeout_triggered``,
        the input buffer committed as a user item (silent, most likely), a response."""
        due = self._idle_due()
        timeout = self._idle_timeout_ms()
        if due is None or timeout is None or due > self._now:
            return
        self._idle_from = None
        end = math.floor(self._state.input_buffer.total_appended_ms)
        start = max(math.floor(self._buffer_start_ms), end - timeout)
        item_id = self._ids("item")
        self._emit(
            s.InputAudioBufferTimeoutTriggered(
                event_id=self._event_id(), audio_start_ms=start, audio_end_ms=end, item_id=item_id
            )
        )
        self._commit_buffer(item_id)
        if self._state.kind == "realtime":
            self._start_response(None, "idle_timeout")
        self._pump()

    def _sync_vad(self) -> None:
        """Restart the detector at the current input position (nothing is speaking)."""
        position = math.floor(self._state.input_buffer.total_appended_ms)
        self._vad = VadState(position_ms=position, floor_ms=position)
        self._speech_item = None

    # --- input audio buffer ----------------------------------------------------------

    def _append(self, e: c.InputAudioBufferAppend) -> None:
        audio = v.decode_b64(e.audio, "audio")
        session = self._session
        td = session.turn_detection
        limit = self._config.max_input_audio_buffer_bytes
        held = len(self._buffer) + len(audio)
        v.check_append_size(held, limit, vad=isinstance(td, TurnDetection))
        self._accept(e)
        self._buffer += audio
        if not isinstance(td, TurnDetection):
            return
        if session.input_audio_format != "pcm16":
            self._sync_vad()  # the detector reads pcm16 only
        else:
            self._vad, found = feed(self._vad, audio, VadSettings.of(td))
            for boundary in found:
                _VAD_HANDLERS[boundary.kind](self, boundary, td)
        self._bound_buffer(session.input_audio_format or "pcm16")

    def _bound_buffer(self, audio_format: str) -> None:
        """Server VAD: drop the oldest audio past ``max_input_audio_buffer_bytes``."""
        excess = len(self._buffer) - self._config.max_input_audio_buffer_bytes
        if excess <= 0:
            return
        per_ms = BYTES_PER_MS.get(audio_format, 48)
        excess += -excess % (2 if per_ms == 48 else 1)
        del self._buffer[:excess]
        self._buffer_start_ms += excess / per_ms

    def _speech_started(self, boundary: VadEvent, td: TurnDetection) -> None:
        item_id = self._ids("item")
        self._speech_item = item_id
        self._idle_from = None
        self._emit(
            s.InputAudioBufferSpeechStarted(
                event_id=self._event_id(), audio_start_ms=boundary.at_ms, item_id=item_id
            )
        )
        if td.interrupt_response is not False:
            run = self._default_run  # an out-of-band response goes on
            if run is not None:
                self._cancel(run.response_id, "turn_detected")
            if self._playing:  # attached: the server's playback is cut too
                self._clear_playback()

    def _speech_stopped(self, boundary: VadEvent, td: TurnDetection) -> None:
        item_id = self._speech_item or self._ids("item")
        self._speech_item = None
        self._idle_from = self._now
        self._emit(
            s.InputAudioBufferSpeechStopped(
                event_id=self._event_id(), audio_end_ms=boundary.at_ms, item_id=item_id
            )
        )
        per_ms = BYTES_PER_MS["pcm16"]
        cut = max(0, round((boundary.at_ms - self._buffer_start_ms) * per_ms))
        cut -= cut % 2
        audio = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        self._buffer_start_ms = float(boundary.at_ms)
        self._vad = attrs.evolve(self._vad, floor_ms=boundary.at_ms)
        if not self._vad_room():  # the turn is heard, but not kept
            return
        transcription = self._commit(item_id, audio)
        if transcription is not None and not self._ga:
            self._transcribe(transcription)
            transcription = None
        if (
            td.create_response is not False
            and self._state.kind == "realtime"
            and self._default_run is None
            and self._vad_room()
        ):
            self._start_response(None, "turn_detected", transcription)
        if transcription is not None:
            # GA: the transcript streams in after the response it triggered began
            # (real traffic: deltas among the response's, .completed later)
            self._transcribe(transcription)

    def _vad_room(self) -> bool:
        """Whether a server VAD turn may add an item; if not, an ``error`` naming no
        client event says why."""
        try:
            self._room(1, 0)
        except v.Rejected as full:
            self._reject(full, None, None)
            return False
        return True

    def _commit_event(self, e: c.InputAudioBufferCommit) -> None:
        v.check_commit_size(self._state.input_buffer.appended_ms, self._config.min_commit_ms)
        self._room(1, 0)
        self._accept(e)
        self._commit_buffer(self._ids("item"))

    def _commit_buffer(self, item_id: str) -> None:
        """Commit the whole input buffer as user item ``item_id``."""
        audio = bytes(self._buffer)
        self._buffer.clear()
        self._buffer_start_ms = self._state.input_buffer.total_appended_ms
        self._vad = attrs.evolve(self._vad, floor_ms=self._vad.position_ms)
        transcription = self._commit(item_id, audio)
        if transcription is not None:
            self._transcribe(transcription)

    def _commit(self, item_id: str, audio: bytes) -> _Transcription | None:
        """``committed`` -> ``conversation.item.created``; the transcription to write
        (``_transcribe``), when the session asks for one.

        A transcription session has no conversation: the commit makes no item (no
        ``conversation.item.added``; the transcription events name the committed
        ``item_id``, and ``previous_item_id`` the previous commit's), as the clients
        built on it read it (livekit's realtime STT keys transcripts by ``item_id``
        alone), the SDK's transcription session carries no conversation, and
        servers that mimic the service send none there."""
        transcribing = self._state.kind == "transcription"
        committed = self._state.input_buffer.committed
        if transcribing:
            previous = committed[-1] if committed else None
        else:
            previous = self._state.order.tail
        self._emit(
            s.InputAudioBufferCommitted(
                event_id=self._event_id(), item_id=item_id, previous_item_id=previous
            )
        )
        if not transcribing:
            item = Item(
                id=item_id,
                object="realtime.item",
                type="message",
                status="completed",
                role="user",
                content=(ContentPart(type="input_audio"),),
            )
            self._emit_item(item, previous, final=True)
        session = self._session
        fmt = session.input_audio_format or "pcm16"
        self._input_audio_ms[item_id] = audio_ms(len(audio), fmt)
        self._count(item_id)
        transcription = session.input_audio_transcription
        if transcription is None or transcription is UNSET:
            return None
        return _Transcription(
            item_id=item_id,
            result=self._transcriber.transcribe(audio, fmt, transcription.model),
            seconds=self._input_audio_ms[item_id] / 1000,
            model=transcription.model,
        )

    def _transcribe(self, t: _Transcription) -> None:
        """A user item's transcription: ``failed``, or (GA) its ``delta`` events, its
        ``segment`` events (a diarizing model: one per sentence, speakers ``A`` and
        ``B`` in turn), then ``completed`` with ``usage`` (and ``logprobs`` on the
        deltas and the completed event when the session's ``include`` asks for
        ``item.input_audio_transcription.logprobs``); (beta, 2024) ``completed`` alone,
        without."""
        result = t.result
        if isinstance(result, ErrorInfo):
            self._emit(
                s.ConversationItemInputAudioTranscriptionFailed(
                    event_id=self._event_id(), item_id=t.item_id, content_index=0, error=result
                )
            )
            return
        include = self._session.include or ()
        logprobs = self._ga and _LOGPROBS in include
        if self._ga:
            for delta in _transcript_deltas(result):
                event_id = self._event_id()
                self._emit(
                    s.ConversationItemInputAudioTranscriptionDelta(
                        event_id=event_id,
                        item_id=t.item_id,
                        content_index=0,
                        delta=delta,
                        obfuscation=_obfuscation(event_id, delta),
                        logprobs=_logprobs(delta) if logprobs else None,
                    )
                )
            if _diarizing(t.model):
                self._diarize(t, result)
        self._emit(
            s.ConversationItemInputAudioTranscriptionCompleted(
                event_id=self._event_id(),
                item_id=t.item_id,
                content_index=0,
                transcript=result,
                usage=_transcription_usage(t.model, t.seconds, result) if self._ga else None,
                logprobs=_logprobs(result) if logprobs else None,
            )
        )
        self._count(t.item_id)

    def _diarize(self, t: _Transcription, transcript: str) -> None:
        """The ``segment`` events of a diarizing model's transcript."""
        for n, (text, start, end) in enumerate(_segments(transcript, t.seconds)):
            self._emit(
                s.ConversationItemInputAudioTranscriptionSegment(
                    event_id=self._event_id(),
                    item_id=t.item_id,
                    content_index=0,
                    id=f"seg_{n:04d}",
                    text=text,
                    speaker=_SPEAKERS[n % len(_SPEAKERS)],
                    start=start,
                    end=end,
                )
            )

    def _clear(self, e: c.InputAudioBufferClear) -> None:
        self._accept(e)
        self._buffer.clear()
        self._emit(s.InputAudioBufferCleared(event_id=self._event_id()))
        self._buffer_start_ms = self._state.input_buffer.total_appended_ms
        self._sync_vad()


_VAD_HANDLERS: Final[Mapping[str, Callable[[_InputAudio, VadEvent, TurnDetection], None]]] = {
    "start": _InputAudio._speech_started,
    "stop": _InputAudio._speech_stopped,
}
"""Speech boundary -> what it makes the server say."""
