"""Transcription sessions in the client state: ``SessionState.kind``, the bounded
transcript store (``SessionState.transcripts``, ``Config.max_transcripts``), segments,
logprobs, usage and failures; and a strict client over ``serve()`` on asyncio and trio.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

import anyio
import pytest
from support.server_harness import tone

from rtstate import Config, RemoteProtocolError, Step, fold
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    ErrorInfo,
    InputAudioTranscription,
    Item,
    LogProb,
    SessionConfig,
    SessionType,
    TranscriptionUsage,
)
from rtstate.state import SessionState, TranscriptPhase
from rtstate.transitions import (
    InputSegmentTranscribed,
    InputTranscribed,
    InputTranscriptAppended,
    InputTranscriptionFailed,
)
from rtstate.transport import connect, serve

STRICT = Config(strict=True, dialect="ga")
USAGE = TranscriptionUsage(type="duration", seconds=1.5)
PROBS = (LogProb(token="Hi", bytes=(72, 105), logprob=-0.1),)
_IDS = itertools.count(1)


def _id() -> str:
    return f"event_{next(_IDS)}"


def _session(kind: SessionType | None) -> SessionState:
    session = SessionConfig(id="sess_1", type=kind)
    return fold(SessionState(), s.SessionCreated(event_id=_id(), session=session), STRICT).after


def _run(state: SessionState, *events: s.ServerEvent, config: Config = STRICT) -> list[Step]:
    steps = []
    for e in events:
        step = fold(state, e, config)
        steps.append(step)
        state = step.after
    return steps


def _committed(item_id: str, previous: str | None = None) -> s.InputAudioBufferCommitted:
    return s.InputAudioBufferCommitted(event_id=_id(), item_id=item_id, previous_item_id=previous)


def _delta(item_id: str, text: str, logprobs: Any = None) -> s.ServerEvent:
    return s.ConversationItemInputAudioTranscriptionDelta(
        event_id=_id(), item_id=item_id, content_index=0, delta=text, logprobs=logprobs
    )


def _segment(item_id: str, n: int, speaker: str, span: tuple[float, float], text: str) -> Any:
    start, end = span
    return s.ConversationItemInputAudioTranscriptionSegment(
        event_id=_id(),
        item_id=item_id,
        content_index=0,
        id=f"seg_{n}",
        text=text,
        speaker=speaker,
        start=start,
        end=end,
    )


def _done(item_id: str, text: str, logprobs: Any = None) -> s.ServerEvent:
    return s.ConversationItemInputAudioTranscriptionCompleted(
        event_id=_id(),
        item_id=item_id,
        content_index=0,
        transcript=text,
        usage=USAGE,
        logprobs=logprobs,
    )


def _failed(item_id: str) -> s.ServerEvent:
    error = ErrorInfo(type="server_error", message="Input transcription failed.")
    return s.ConversationItemInputAudioTranscriptionFailed(
        event_id=_id(), item_id=item_id, content_index=0, error=error
    )


# --- the session kind -------------------------------------------------------------------


def test_the_kind_reads_session_type() -> None:
    assert SessionState().kind == "realtime"
    assert _session(None).kind == "realtime"
    assert _session("transcription").kind == "transcription"


# --- the transcript store ---------------------------------------------------------------


def test_a_transcription_session_keeps_text_segments_usage_and_phase() -> None:
    state = _session("transcription")
    steps = _run(
        state,
        _committed("item_1"),
        _delta("item_1", "Hi", PROBS),
        _delta("item_1", " there."),
        _segment("item_1", 0, "A", (0.0, 0.4), "Hi"),
        _segment("item_1", 1, "B", (0.4, 1.5), "there."),
        _done("item_1", "Hi there."),
    )
    assert all(step.diagnostics == () for step in steps)
    streaming = steps[2].after.transcript("item_1")
    assert streaming is not None and streaming.phase is TranscriptPhase.STREAMING
    assert streaming.text == "Hi there."
    final = steps[-1].after
    kept = final.transcript("item_1")
    assert kept is not None
    assert (kept.phase, kept.text, kept.usage) == (TranscriptPhase.DONE, "Hi there.", USAGE)
    assert [(g.speaker, g.start, g.end, g.text) for g in kept.segments] == [
        ("A", 0.0, 0.4, "Hi"),
        ("B", 0.4, 1.5, "there."),
    ]
    assert kept.logprobs == PROBS  # the deltas' (the completed event has none)
    assert final.items == () and len(final.input_buffer.early_transcriptions) == 0
    said = [t for step in steps for t in step.transitions]
    assert (
        InputTranscriptAppended(item_id="item_1", content_index=0, delta="Hi", logprobs=PROBS)
        in said
    )
    assert sum(isinstance(t, InputSegmentTranscribed) for t in said) == 2
    (done,) = [t for t in said if isinstance(t, InputTranscribed)]
    assert (done.transcript, done.usage) == ("Hi there.", USAGE)


def test_the_completed_logprobs_replace_the_deltas() -> None:
    mine = (LogProb(token="Hi", bytes=(72, 105), logprob=-0.5),)
    steps = _run(
        _session("transcription"),
        _committed("item_1"),
        _delta("item_1", "Hi", PROBS),
        _done("item_1", "Hi", mine),
    )
    kept = steps[-1].after.transcript("item_1")
    assert kept is not None and kept.logprobs == mine
    (done,) = [t for t in steps[-1].transitions if isinstance(t, InputTranscribed)]
    assert done.logprobs == mine


def test_a_failed_transcription_keeps_its_error() -> None:
    steps = _run(
        _session("transcription"),
        _committed("item_1"),
        _delta("item_1", "Hel"),
        _failed("item_1"),
    )
    kept = steps[-1].after.transcript("item_1")
    assert kept is not None and kept.phase is TranscriptPhase.FAILED
    assert kept.error is not None and kept.error.type == "server_error"
    assert kept.text == "Hel"
    assert any(isinstance(t, InputTranscriptionFailed) for t in steps[-1].transitions)


def test_no_delta_follows_the_end() -> None:
    steps = _run(_session("transcription"), _committed("item_1"), _done("item_1", "Hi."))
    ended = steps[-1].after
    trailing = fold(ended, _segment("item_1", 0, "A", (0.0, 1.0), "Hi."), STRICT).after
    assert trailing.transcript("item_1").segments  # type: ignore[union-attr]
    late = _delta("item_1", "x")
    with pytest.raises(RemoteProtocolError, match="INV-14"):
        fold(ended, late, STRICT)
    lenient = fold(ended, late, Config(dialect="ga"))
    assert [d.code for d in lenient.diagnostics] == ["INV-14"]
    assert lenient.after.transcript("item_1") == ended.transcript("item_1")
    # a second result replaces the first, as on the item
    again = fold(ended, _done("item_1", "Hello."), STRICT).after.transcript("item_1")
    assert again is not None and again.text == "Hello."
    failed = fold(ended, _failed("item_1"), STRICT).after.transcript("item_1")
    assert failed is not None and failed.phase is TranscriptPhase.FAILED


def test_the_store_is_bounded_oldest_evicted() -> None:
    config = Config(strict=True, dialect="ga", max_transcripts=2)
    state = _session("transcription")
    events: list[s.ServerEvent] = []
    for n in range(3):
        events += [_committed(f"item_{n}"), _done(f"item_{n}", f"text {n}")]
    final = _run(state, *events, config=config)[-1].after
    assert [t.item_id for t in final.transcripts] == ["item_1", "item_2"]
    assert final.transcript("item_0") is None and len(final.transcripts) == 2
    assert "item_2" in final.transcripts


def test_realtime_early_transcriptions_are_bounded_with_the_store() -> None:
    config = Config(strict=True, dialect="ga", max_transcripts=2)
    state = _session(None)
    events = [_done(f"item_{n}", f"early {n}") for n in range(5)]
    final = _run(state, *events, config=config)[-1].after
    early = final.input_buffer.early_transcriptions
    assert sorted(early) == ["item_3", "item_4"]
    assert [t.item_id for t in final.transcripts] == ["item_3", "item_4"]


def test_a_realtime_session_writes_the_item_and_keeps_segments_and_logprobs() -> None:
    user = Item(
        id="item_1",
        type="message",
        status="completed",
        role="user",
        content=(ContentPart(type="input_audio"),),
    )
    steps = _run(
        _session(None),
        _committed("item_1"),
        s.ConversationItemAdded(event_id=_id(), item=user, previous_item_id=None),
        _delta("item_1", "Hi", PROBS),
        _segment("item_1", 0, "A", (0.0, 1.0), "Hi"),
        _done("item_1", "Hi"),
    )
    final = steps[-1].after
    assert final.item("item_1").transcript == "Hi"  # type: ignore[union-attr]
    kept = final.transcript("item_1")
    assert kept is not None and kept.logprobs == PROBS and len(kept.segments) == 1
    assert kept.usage == USAGE


def test_a_realtime_transcription_before_its_item_still_lands_on_it() -> None:
    user = Item(
        id="item_1",
        type="message",
        status="completed",
        role="user",
        content=(ContentPart(type="input_audio"),),
    )
    steps = _run(
        _session(None),
        _committed("item_1"),
        _done("item_1", "Hi"),
        s.ConversationItemAdded(event_id=_id(), item=user, previous_item_id=None),
    )
    final = steps[-1].after
    assert final.item("item_1").transcript == "Hi"  # type: ignore[union-attr]
    assert len(final.input_buffer.early_transcriptions) == 0
    assert final.transcript("item_1") is not None


def test_the_bound_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="max_transcripts"):
        Config(max_transcripts=0)


# --- a strict client over serve(), asyncio and trio -----------------------------------


@pytest.mark.anyio
async def test_a_strict_client_transcribes_over_serve_with_no_diagnostics() -> None:
    steps: list[Step] = []

    def seen(step: Step) -> bool:
        steps.append(step)
        return any(isinstance(t, InputTranscribed) for t in step.transitions)

    async with serve(dialect="ga") as server, connect(server.url, config=STRICT) as conn:
        with anyio.fail_after(20):
            await conn.wait_for(lambda step: conn.state.session is not None)
            update = SessionConfig(
                type="transcription",
                turn_detection=None,
                input_audio_transcription=InputAudioTranscription(
                    model="gpt-4o-transcribe-diarize"
                ),
            )
            steps.append(await conn.send(c.SessionUpdate(session=update)))
            await conn.wait_for(lambda step: conn.state.kind == "transcription")
            audio = tone(600)
            for i in range(0, len(audio), 4800):
                chunk = base64.b64encode(audio[i : i + 4800]).decode()
                steps.append(await conn.send(c.InputAudioBufferAppend(audio=chunk)))
            steps.append(await conn.send(c.InputAudioBufferCommit()))
            await conn.wait_for(seen)
        state = conn.state
    assert all(step.diagnostics == () for step in steps)
    said = [t for step in steps for t in step.transitions]
    assert any(isinstance(t, InputTranscriptAppended) for t in said)
    assert any(isinstance(t, InputSegmentTranscribed) for t in said)
    (kept,) = state.transcripts
    assert kept.phase is TranscriptPhase.DONE and kept.segments and kept.usage is not None
    assert state.items == ()
