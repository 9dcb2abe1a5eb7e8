"""The fake server's GA transcription sessions, against a strict client (in memory).

A ``session.update`` with ``session.type: "transcription"`` turns a fresh session into
a transcription-only one: committed input audio (server VAD or manual) is transcribed
(deltas, segments for a diarizing model, completed with usage, logprobs when included)
and makes no conversation item and no response; ``response.create`` is refused.
"""

from __future__ import annotations

from support.server_harness import Loop, silence, tone

from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    InputAudioTranscription,
    Item,
    SessionConfig,
    TurnDetection,
)
from rtstate.server import ServerConnection, sequential_ids
from rtstate.state import TranscriptPhase
from rtstate.transitions import InputSegmentTranscribed, InputTranscribed


def _loop() -> Loop:
    return Loop(ServerConnection(dialect="ga", ids=sequential_ids())).start()


def _transcribing(
    lp: Loop,
    model: str = "gpt-4o-transcribe",
    *,
    vad: bool = True,
    include: tuple[str, ...] | None = None,
) -> list[s.ServerEvent]:
    return lp.send(
        c.SessionUpdate(
            session=SessionConfig(
                type="transcription",
                input_audio_transcription=InputAudioTranscription(model=model),
                turn_detection=TurnDetection(type="server_vad") if vad else None,
                include=include,
            )
        )
    )


def test_session_update_makes_a_transcription_session() -> None:
    lp = _loop()
    (updated,) = _transcribing(lp)
    assert isinstance(updated, s.SessionUpdated)
    assert updated.session.type == "transcription"
    assert lp.client.state.kind == "transcription"
    wire = lp.codec.encode(updated)
    assert '"type":"transcription"' in wire
    lp.check()


def test_server_vad_turns_are_transcribed_without_items_or_responses() -> None:
    lp = _loop()
    _transcribing(lp)
    lp.append(tone(800) + silence(1000))
    types = lp.types()
    assert "input_audio_buffer.committed" in types
    assert "conversation.item.added" not in types
    assert not any(t.startswith("response.") for t in types)
    committed = next(e for e in lp.server_events if isinstance(e, s.InputAudioBufferCommitted))
    done = [
        e
        for e in lp.server_events
        if isinstance(e, s.ConversationItemInputAudioTranscriptionCompleted)
    ]
    assert [d.item_id for d in done] == [committed.item_id]
    assert done[0].usage is not None and done[0].usage.type == "tokens"
    deltas = [
        e.delta
        for e in lp.server_events
        if isinstance(e, s.ConversationItemInputAudioTranscriptionDelta)
    ]
    assert len(deltas) > 1 and "".join(d or "" for d in deltas) == done[0].transcript
    state = lp.client.state
    kept = state.transcript(committed.item_id)
    assert kept is not None and kept.phase is TranscriptPhase.DONE
    assert kept.text == done[0].transcript and kept.usage == done[0].usage
    assert state.items == () and len(state.input_buffer.early_transcriptions) == 0
    lp.check()


def test_manual_commits_chain_previous_item_ids() -> None:
    lp = _loop()
    _transcribing(lp, "whisper-1", vad=False)
    ids = []
    for _ in range(2):
        lp.append(tone(300))
        out = lp.send(c.InputAudioBufferCommit())
        committed = next(e for e in out if isinstance(e, s.InputAudioBufferCommitted))
        ids.append((committed.item_id, committed.previous_item_id))
    assert ids[0][1] is None and ids[1][1] == ids[0][0]
    done = [
        e
        for e in lp.server_events
        if isinstance(e, s.ConversationItemInputAudioTranscriptionCompleted)
    ]
    assert [d.item_id for d in done] == [i for i, _ in ids]
    assert all(d.usage is not None and d.usage.type == "duration" for d in done)
    assert [t.item_id for t in lp.client.state.transcripts] == [i for i, _ in ids]
    lp.check()


def test_a_diarizing_model_sends_segments() -> None:
    lp = _loop()
    _transcribing(lp, "gpt-4o-transcribe-diarize", vad=False)
    lp.append(tone(600))
    lp.send(c.InputAudioBufferCommit())
    segments = [
        e
        for e in lp.server_events
        if isinstance(e, s.ConversationItemInputAudioTranscriptionSegment)
    ]
    assert segments
    assert all(seg.speaker in {"A", "B"} for seg in segments)
    starts = [seg.start or 0.0 for seg in segments]
    assert starts == sorted(starts)
    (kept,) = lp.client.state.transcripts
    assert [(g.id, g.speaker, g.start, g.end, g.text) for g in kept.segments] == [
        (e.id, e.speaker, e.start, e.end, e.text) for e in segments
    ]
    steps = lp.client_steps
    said = [t for step in steps for t in step.transitions]
    assert sum(isinstance(t, InputSegmentTranscribed) for t in said) == len(segments)
    lp.check()


def test_a_plain_model_sends_no_segments() -> None:
    lp = _loop()
    _transcribing(lp, "gpt-4o-mini-transcribe", vad=False)
    lp.append(tone(300))
    lp.send(c.InputAudioBufferCommit())
    assert "conversation.item.input_audio_transcription.segment" not in lp.types()
    lp.check()


def test_logprobs_when_the_session_includes_them() -> None:
    lp = _loop()
    _transcribing(lp, vad=False, include=("item.input_audio_transcription.logprobs",))
    lp.append(tone(300))
    lp.send(c.InputAudioBufferCommit())
    done = next(
        e
        for e in lp.server_events
        if isinstance(e, s.ConversationItemInputAudioTranscriptionCompleted)
    )
    assert done.logprobs
    assert "".join(p.token for p in done.logprobs) == done.transcript
    (kept,) = lp.client.state.transcripts
    assert kept.logprobs == done.logprobs
    said = [t for step in lp.client_steps for t in step.transitions]
    (transcribed,) = [t for t in said if isinstance(t, InputTranscribed)]
    assert transcribed.logprobs == done.logprobs and transcribed.usage == done.usage
    lp.check()


def test_response_create_is_refused_in_a_transcription_session() -> None:
    lp = _loop()
    _transcribing(lp)
    out = lp.send(c.ResponseCreate(event_id="evt_r"))
    (error,) = [e.error for e in out if isinstance(e, s.Error)]
    assert (error.type, error.code, error.event_id) == (
        "invalid_request_error",
        "unsupported_event",
        "evt_r",
    )
    assert lp.server.response_in_progress is None
    assert lp.client.state.ledger.in_flight == ()
    lp.check()


def test_the_session_type_cannot_change_back_or_after_the_conversation_began() -> None:
    lp = _loop()
    _transcribing(lp)
    out = lp.send_raw('{"type":"session.update","session":{"type":"realtime"}}')
    (error,) = [e.error for e in out if isinstance(e, s.Error)]
    assert (error.code, error.param) == ("invalid_parameter", "session.type")
    assert "realtime session update event to a transcription session" in (error.message or "")

    busy = _loop()
    busy.send(c.ConversationItemCreate(item=_hello()))
    out = _transcribing(busy)
    (error,) = [e.error for e in out if isinstance(e, s.Error)]
    assert error.code == "invalid_parameter"
    assert busy.client.state.kind == "realtime"


def test_a_realtime_session_still_makes_items_and_answers() -> None:
    lp = _loop()
    lp.send(
        c.SessionUpdate(
            session=SessionConfig(
                input_audio_transcription=InputAudioTranscription(model="gpt-4o-transcribe-diarize")
            )
        )
    )
    lp.append(tone(800) + silence(1000))
    lp.drain()
    types = lp.types()
    assert "conversation.item.added" in types and "response.done" in types
    user = lp.client.state.items[0]
    kept = lp.client.state.transcript(user.id)
    assert kept is not None and kept.segments  # segments are kept in a realtime session too
    assert user.transcript == kept.text
    lp.check()


def _hello() -> Item:
    return Item(type="message", role="user", content=(ContentPart(type="input_text", text="hi"),))
