"""The input audio buffer: server VAD's speech start and stop (speech may plan a
barge-in), commits, clears and the idle timeout.
"""

from __future__ import annotations

import attrs

from .. import machines
from .._fast import evolve_root
from ..events import server as s
from ..state import InputBufferState, SessionState, SpeechWindow, TimeoutWindow
from ..transitions import (
    DtmfReceived,
    InputCleared,
    InputCommitted,
    InputTimeoutTriggered,
    SpeechStarted,
    SpeechStopped,
)
from ._barge_in import _plan_interrupt
from ._base import _bounded, _check, _open, _Out, _with_buffer
from ._ledger import _ack


def _speech_started(
    state: SessionState, e: s.InputAudioBufferSpeechStarted, out: _Out
) -> SessionState:
    _open(state, e)
    buf = state.input_buffer
    phase = _check(machines.INPUT_BUFFER, buf.phase, e)
    window = SpeechWindow(item_id=e.item_id, start_ms=e.audio_start_ms)
    out.transitions.append(SpeechStarted(item_id=e.item_id, audio_start_ms=e.audio_start_ms))
    limit = out.config.max_input_buffer_history
    state = _with_buffer(state, buf, phase=phase, speech=_bounded(buf.speech, window, limit))
    return _plan_interrupt(state, out, reported_only=True)


def _speech_stopped(
    state: SessionState, e: s.InputAudioBufferSpeechStopped, out: _Out
) -> SessionState:
    _open(state, e)
    buf = state.input_buffer
    phase = _check(machines.INPUT_BUFFER, buf.phase, e)
    speech = buf.speech
    if speech and speech[-1].end_ms is None:
        last = speech[-1]
        closed = SpeechWindow(item_id=e.item_id, start_ms=last.start_ms, end_ms=e.audio_end_ms)
        speech = (*speech[:-1], closed)
    out.transitions.append(SpeechStopped(item_id=e.item_id, audio_end_ms=e.audio_end_ms))
    return _with_buffer(state, buf, phase=phase, speech=speech)


def _committed(state: SessionState, e: s.InputAudioBufferCommitted, out: _Out) -> SessionState:
    _open(state, e)
    buf = state.input_buffer
    phase = _check(machines.INPUT_BUFFER, buf.phase, e)
    out.transitions.append(InputCommitted(item_id=e.item_id, previous_item_id=e.previous_item_id))
    committed = _bounded(buf.committed, e.item_id, out.config.max_input_buffer_history)
    ledger = state.ledger
    if not _vad_commits(buf, e.item_id):
        ledger, _ = _ack(state.ledger, e, None, out.config)
    return evolve_root(
        state,
        input_buffer=attrs.evolve(buf, phase=phase, appended_ms=0.0, committed=committed),
        ledger=ledger,
        revision=state.revision + 1,
    )


def _cleared(state: SessionState, e: s.InputAudioBufferCleared, out: _Out) -> SessionState:
    _open(state, e)
    buf = state.input_buffer
    phase = _check(machines.INPUT_BUFFER, buf.phase, e)
    out.transitions.append(InputCleared())
    ledger, _ = _ack(state.ledger, e, None, out.config)
    return evolve_root(
        state,
        input_buffer=attrs.evolve(buf, phase=phase, appended_ms=0.0, cleared=buf.cleared + 1),
        ledger=ledger,
        revision=state.revision + 1,
    )


def _timeout_triggered(
    state: SessionState, e: s.InputAudioBufferTimeoutTriggered, out: _Out
) -> SessionState:
    """GA: the idle timeout ran out; its window is kept like a speech window."""
    _open(state, e)
    buf = state.input_buffer
    phase = _check(machines.INPUT_BUFFER, buf.phase, e)
    out.transitions.append(
        InputTimeoutTriggered(
            item_id=e.item_id, audio_start_ms=e.audio_start_ms, audio_end_ms=e.audio_end_ms
        )
    )
    window = TimeoutWindow(item_id=e.item_id, start_ms=e.audio_start_ms, end_ms=e.audio_end_ms)
    limit = out.config.max_input_buffer_history
    return _with_buffer(state, buf, phase=phase, timeouts=_bounded(buf.timeouts, window, limit))


def _dtmf(state: SessionState, e: s.InputAudioBufferDtmfEventReceived, out: _Out) -> SessionState:
    """GA, SIP: a keypad key; anywhere in an open session, like ``rate_limits.updated``."""
    _open(state, e)
    out.transitions.append(DtmfReceived(digit=e.event, received_at=e.received_at))
    return state


def _vad_commits(buf: InputBufferState, item_id: str) -> bool:
    """Whether server VAD made the commit of ``item_id`` (the end of its latest speech
    window, or of its latest idle timeout), not a client's ``input_audio_buffer.commit``."""
    speech, timeouts = buf.speech, buf.timeouts
    return bool(
        (speech and speech[-1].item_id == item_id) or (timeouts and timeouts[-1].item_id == item_id)
    )
