"""The fake server's session settings and defaults, in both dialects.

Every setting a real client sends is accepted and reported back as the real service
reports it (``semantic_vad`` with ``eagerness``, every ``server_vad`` field, noise
reduction, GA custom voices, any model and transcription model name), and what can be
simulated is honoured: ``eagerness`` moves the end of a turn, ``create_response`` and
``interrupt_response`` steer the VAD, ``idle_timeout_ms`` fires
``input_audio_buffer.timeout_triggered`` and what follows it. GA sessions start with
today's defaults (``gpt-realtime``, 60 minutes) and name a bad field in GA spelling.
Every flow runs against a strict client (``Loop.check``), and the GA session objects
validate strictly against the official SDK's GA types.
"""

from __future__ import annotations

import json
from typing import Any, Final

import anyio
import attrs
import orjson
import pytest
from openai.types.realtime import RealtimeServerEvent
from support.sdk_checks import GA_DELTA_EXTRAS, Checker
from support.server_harness import Loop, silence, tone

import rtstate
from rtstate import Config
from rtstate.codec import codec_for
from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    UNSET,
    Eagerness,
    InputAudioTranscription,
    NoiseReduction,
    ResponseParams,
    SessionConfig,
    TurnDetection,
)
from rtstate.server import ScriptedResponder, ServerConfig, ServerConnection, sequential_ids
from rtstate.transport import Server, connect_in_memory

DIALECTS: Final[tuple[Dialect, ...]] = ("beta", "ga")

SERVER_VAD_DEFAULTS: Final = TurnDetection(
    type="server_vad",
    threshold=0.5,
    prefix_padding_ms=300,
    silence_duration_ms=200,
    create_response=True,
    interrupt_response=True,
)
"""What every real session.created in tests/data/corpus reports (idle_timeout_ms null)."""

GA_CHECK: Final = Checker[RealtimeServerEvent](
    RealtimeServerEvent,
    frozenset(
        {
            # the SDK types the session as a create *request*: no id/object/expires_at
            # (every real GA session.created carries them; see test_transport_sdk_ga)
            ("RealtimeSessionCreateRequest", "id"),
            ("RealtimeSessionCreateRequest", "object"),
            ("RealtimeSessionCreateRequest", "expires_at"),
        }
    )
    | GA_DELTA_EXTRAS,
)

PACED: Final = ServerConfig(delta_interval=0.05)


def loop(dialect: Dialect, **server: Any) -> Loop:
    return Loop(dialect=dialect, **server).start()


def update(lp: Loop, **session: Any) -> list[s.ServerEvent]:
    return lp.send(c.SessionUpdate(session=SessionConfig(**session)))


def updated(events: list[s.ServerEvent]) -> SessionConfig:
    (event,) = [e for e in events if isinstance(e, s.SessionUpdated)]
    return event.session


def wire_of(lp: Loop, kind: str) -> list[dict[str, Any]]:
    """The frames of type ``kind`` the server wrote, as JSON."""
    frames = [orjson.loads(f) for f in lp.frames]
    return [f for f in frames if f["type"] == kind]


def sdk_check(lp: Loop) -> None:
    """Every frame a GA server wrote validates strictly against the SDK's GA types."""
    assert lp.server.dialect == "ga"
    for frame in lp.frames:
        GA_CHECK.check(frame.encode())


def of_type(events: list[s.ServerEvent], kind: type[s.ServerEvent]) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


# --- defaults ---------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_session_created_reports_the_real_turn_detection_defaults(dialect: Dialect) -> None:
    lp = loop(dialect)
    created = lp.server_events[0]
    assert isinstance(created, s.SessionCreated)
    assert created.session.turn_detection == SERVER_VAD_DEFAULTS
    assert created.session.input_audio_noise_reduction is None
    assert created.session.input_audio_transcription is None
    wire = wire_of(lp, "session.created")[0]["session"]
    td = wire["audio"]["input"]["turn_detection"] if dialect == "ga" else wire["turn_detection"]
    assert td["create_response"] is True and td["interrupt_response"] is True
    lp.check()


def test_ga_defaults_are_todays_service() -> None:
    server = ServerConnection(dialect="ga", ids=sequential_ids())
    created = codec_for("ga").decode_server(server.start(now=1000.0).to_send[0])
    assert isinstance(created, s.SessionCreated)
    assert created.session.model == "gpt-realtime"
    assert created.session.expires_at == 1000 + 60 * 60  # GA sessions last an hour
    assert created.session.speed == 1.0 and created.session.temperature is None
    assert server.config.model == "gpt-realtime"
    assert server.config.session_duration == 3600.0
    assert server.next_deadline() == 1000.0 + 3600.0


def test_beta_keeps_its_2024_defaults() -> None:
    server = ServerConnection(dialect="beta", ids=sequential_ids())
    created = codec_for("beta").decode_server(server.start(now=1000.0).to_send[0])
    assert isinstance(created, s.SessionCreated)
    assert created.session.model == "gpt-4o-realtime-preview-2024-10-01"
    assert created.session.expires_at == 1000 + 15 * 60
    assert created.session.speed is None and created.session.temperature == 0.8


@pytest.mark.parametrize("dialect", DIALECTS)
def test_explicit_model_and_duration_win_over_the_dialect_defaults(dialect: Dialect) -> None:
    config = ServerConfig(model="gpt-realtime-2099-01-01", session_duration=None)
    server = ServerConnection(dialect=dialect, config=config)
    created = codec_for(dialect).decode_server(server.start(now=5.0).to_send[0])
    assert isinstance(created, s.SessionCreated)
    assert created.session.model == "gpt-realtime-2099-01-01"
    assert created.session.expires_at is None
    assert server.next_deadline() is None


def test_the_ga_session_expires_after_sixty_minutes() -> None:
    lp = loop("ga")
    assert lp.advance(59 * 60.0) == []
    assert [e.error.code for e in of_type(lp.advance(61.0), s.Error)] == ["session_expired"]
    assert "60 minutes" in (lp.errors()[0].message or "")


# --- any model name ------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_session_update_model_is_reported_back_as_given(dialect: Dialect) -> None:
    lp = loop(dialect)
    for name in ("gpt-realtime-mini", "gpt-realtime-2", "some-future-model"):
        assert updated(update(lp, model=name)).model == name
        assert lp.client.state.session is not None
        assert lp.client.state.session.model == name
    assert lp.errors() == []
    lp.check()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_handshake_model_is_reported_back_as_given(dialect: Dialect) -> None:
    async def main() -> str | None:
        config = Config(strict=True, dialect=dialect)
        async with connect_in_memory(Server(), model="gpt-realtime-xyz", config=config) as conn:
            await conn.wait_for(lambda step: conn.state.session is not None)
            assert conn.state.session is not None
            return conn.state.session.model

    assert anyio.run(main) == "gpt-realtime-xyz"


# --- transcription models -----------------------------------------------------------


MODELS: Final = (
    "whisper-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-transcribe",
    "gpt-realtime-whisper",
    "gpt-transcribe-2099",  # a name no list here knows
)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("model", MODELS)
def test_any_transcription_model_is_accepted_and_used(dialect: Dialect, model: str) -> None:
    lp = loop(dialect)
    answer = update(lp, input_audio_transcription=InputAudioTranscription(model=model))
    transcription = updated(answer).input_audio_transcription
    assert transcription == InputAudioTranscription(model=model)
    events = lp.append(tone(300) + silence(300))
    done = of_type(events, s.ConversationItemInputAudioTranscriptionCompleted)
    assert len(done) == 1 and done[0].transcript.startswith("[synthetic transcript")
    assert lp.errors() == []
    lp.check()


# --- semantic_vad ---------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_semantic_vad_is_accepted_with_the_rest_of_the_update(dialect: Dialect) -> None:
    lp = loop(dialect)
    answer = update(
        lp,
        instructions="Be brief.",
        voice="echo",
        turn_detection=TurnDetection(type="semantic_vad"),
        input_audio_transcription=InputAudioTranscription(model="gpt-4o-mini-transcribe"),
    )
    assert lp.types(answer) == ["session.updated"]
    session = updated(answer)
    assert session.turn_detection == TurnDetection(
        type="semantic_vad", eagerness="auto", create_response=True, interrupt_response=True
    )
    assert session.instructions == "Be brief." and session.voice == "echo"
    # the session reports what a semantic_vad has, and nothing of server_vad
    wire = wire_of(lp, "session.updated")[0]["session"]
    td = wire["audio"]["input"]["turn_detection"] if dialect == "ga" else wire["turn_detection"]
    assert "threshold" not in td and "silence_duration_ms" not in td
    assert td["eagerness"] == "auto"
    lp.check()


END_OF_TURN_MS: Final = {"high": 250, "auto": 500, "medium": 500, "low": 1000}
"""The silence each eagerness waits for (an eighth of the service's documented maximum)."""


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("eagerness", list(END_OF_TURN_MS))
def test_eagerness_moves_the_end_of_the_turn(dialect: Dialect, eagerness: Eagerness) -> None:
    lp = loop(dialect, responder=ScriptedResponder(["ok"]))
    update(lp, turn_detection=TurnDetection(type="semantic_vad", eagerness=eagerness))
    wait = END_OF_TURN_MS[eagerness]
    early = lp.append(tone(300) + silence(wait - 50), chunk_ms=10)
    assert lp.types(early) == ["input_audio_buffer.speech_started"]  # not over yet
    rest = lp.append(silence(100), chunk_ms=10)
    (stopped,) = of_type(rest, s.InputAudioBufferSpeechStopped)
    assert stopped.audio_end_ms == 300 + wait
    assert "response.created" in lp.types(rest)
    lp.check()


def test_a_more_eager_session_answers_sooner() -> None:
    ends = {}
    for eagerness in ("low", "high"):
        lp = loop("ga")
        update(lp, turn_detection=TurnDetection(type="semantic_vad", eagerness=eagerness))
        (stopped,) = of_type(lp.append(tone(300) + silence(1200)), s.InputAudioBufferSpeechStopped)
        ends[eagerness] = stopped.audio_end_ms
    assert ends["high"] < ends["low"]


# --- server_vad fields ------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_server_vad_field_is_reported_as_given(dialect: Dialect) -> None:
    lp = loop(dialect)
    td = TurnDetection(
        type="server_vad",
        threshold=0.6,
        prefix_padding_ms=100,
        silence_duration_ms=400,
        create_response=False,
        interrupt_response=False,
        idle_timeout_ms=6000,
    )
    assert updated(update(lp, turn_detection=td)).turn_detection == td
    lp.check()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_server_vad_fields_are_honoured(dialect: Dialect) -> None:
    lp = loop(dialect)
    update(lp, turn_detection=TurnDetection(prefix_padding_ms=100, silence_duration_ms=400))
    events = lp.append(silence(500) + tone(300) + silence(500))
    (started,) = of_type(events, s.InputAudioBufferSpeechStarted)
    (stopped,) = of_type(events, s.InputAudioBufferSpeechStopped)
    assert started.audio_start_ms == 500 - 100
    assert stopped.audio_end_ms == 800 + 400
    # a threshold this high hears no speech in the same tone
    update(lp, turn_detection=TurnDetection(threshold=0.99))
    assert lp.append(tone(300) + silence(500)) == []
    lp.check()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_partial_turn_detection_update_takes_the_defaults(dialect: Dialect) -> None:
    lp = loop(dialect)
    update(lp, turn_detection=TurnDetection(type="semantic_vad", eagerness="low"))
    back = updated(update(lp, turn_detection=TurnDetection(silence_duration_ms=700)))
    assert back.turn_detection == attrs.evolve(SERVER_VAD_DEFAULTS, silence_duration_ms=700)
    lp.check()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_create_response_false_leaves_the_answer_to_the_client(dialect: Dialect) -> None:
    lp = loop(dialect)
    update(lp, turn_detection=TurnDetection(create_response=False))
    events = lp.append(tone(300) + silence(300))
    assert "input_audio_buffer.committed" in lp.types(events)
    assert "response.created" not in lp.types(events)
    assert lp.server.response_in_progress is None
    lp.check()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_interrupt_response_false_lets_the_response_finish(dialect: Dialect) -> None:
    lp = loop(dialect, config=PACED, responder=ScriptedResponder(["a fairly long answer"] * 2))
    update(lp, turn_detection=TurnDetection(interrupt_response=False))
    lp.send(c.ResponseCreate())
    lp.advance(0.2)
    running = lp.server.response_in_progress
    assert running is not None
    events = lp.append(tone(300))
    assert lp.types(events)[0] == "input_audio_buffer.speech_started"
    assert lp.server.response_in_progress == running  # speech did not cancel it
    first = of_type(lp.drain(), s.ResponseDone)[0].response
    assert first.id == running and first.status == "completed"
    lp.check()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_interrupt_response_true_cancels_on_speech(dialect: Dialect) -> None:
    lp = loop(dialect, config=PACED, responder=ScriptedResponder(["a fairly long answer"] * 2))
    lp.send(c.ResponseCreate())
    lp.advance(0.2)
    done = of_type(lp.append(tone(300)), s.ResponseDone)
    assert [d.response.status for d in done] == ["cancelled"]
    lp.check()


# --- idle timeout -----------------------------------------------------------------------

IDLE: Final = TurnDetection(idle_timeout_ms=5000)


def spoken_answer(lp: Loop) -> float:
    """Ask for a response (written at once); the clock time its audio ends playing."""
    lp.send(c.ResponseCreate())
    assert lp.server.response_in_progress is None
    item = lp.client.state.items[-1]
    assert item.role == "assistant" and item.audio_ms > 0
    return lp.now + item.audio_ms / 1000.0


def test_idle_timeout_fires_after_the_answer_has_been_played() -> None:
    lp = loop("ga", responder=ScriptedResponder(["Hello there.", "Still there?"]))
    update(lp, turn_detection=IDLE)
    played = spoken_answer(lp)
    assert lp.server.next_deadline() == pytest.approx(played + 5.0)
    lp.append(silence(round((played - lp.now) * 1000) + 4900))
    assert "input_audio_buffer.timeout_triggered" not in lp.types()
    events = lp.append(silence(200))
    types = lp.types(events)
    assert types[:4] == [
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    # a GA server sends rate_limits.updated after each response.done
    assert "response.created" in types and types[-2:] == ["response.done", "rate_limits.updated"]
    (fired,) = of_type(events, s.InputAudioBufferTimeoutTriggered)
    (committed,) = of_type(events, s.InputAudioBufferCommitted)
    assert committed.item_id == fired.item_id
    assert fired.audio_end_ms - fired.audio_start_ms == 5000  # the silent stretch
    assert lp.client.state.items[-1].transcript == "Still there?"
    assert lp.errors() == []
    lp.check()
    sdk_check(lp)


def test_idle_timeout_fires_on_the_clock_when_no_audio_comes() -> None:
    lp = loop("ga", responder=ScriptedResponder(["Hi.", "Hello?"]))
    update(lp, turn_detection=IDLE)
    played = spoken_answer(lp)
    events = lp.advance(played - lp.now + 5.0)
    (fired,) = of_type(events, s.InputAudioBufferTimeoutTriggered)
    assert fired.audio_start_ms == fired.audio_end_ms == 0  # nothing was appended
    assert lp.types(events)[-2:] == ["response.done", "rate_limits.updated"]
    assert lp.now == pytest.approx(played + 5.0)
    # it fires once per silence: the nudge's own audio starts the clock again
    nudge = lp.client.state.items[-1]
    assert lp.server.next_deadline() == pytest.approx(lp.now + nudge.audio_ms / 1000 + 5.0)
    lp.check()


def test_speech_restarts_the_idle_clock() -> None:
    lp = loop("ga", responder=ScriptedResponder(["Hi.", "Bye."]))
    update(lp, turn_detection=attrs.evolve(IDLE, create_response=False))
    played = spoken_answer(lp)
    lp.advance(played - lp.now + 3.0)
    events = lp.append(tone(300) + silence(300))  # speech, no answer (create_response off)
    assert "input_audio_buffer.speech_stopped" in lp.types(events)
    assert lp.advance(4.0) == []  # past the first deadline: the speech reset the clock
    fired = of_type(lp.advance(1.5), s.InputAudioBufferTimeoutTriggered)
    assert len(fired) == 1
    lp.check()


def test_no_idle_timeout_without_the_setting_or_with_semantic_vad() -> None:
    for td in (TurnDetection(), TurnDetection(type="semantic_vad", idle_timeout_ms=5000)):
        lp = loop("ga", config=ServerConfig(session_duration=None))
        update(lp, turn_detection=td)
        spoken_answer(lp)
        assert lp.server.next_deadline() is None
        assert "input_audio_buffer.timeout_triggered" not in lp.types(lp.advance(60.0))


def test_beta_accepts_idle_timeout_but_has_no_event_to_fire() -> None:
    lp = loop("beta", config=ServerConfig(session_duration=None))
    assert updated(update(lp, turn_detection=IDLE)).turn_detection == attrs.evolve(
        SERVER_VAD_DEFAULTS, idle_timeout_ms=5000
    )
    spoken_answer(lp)
    assert lp.server.next_deadline() is None
    assert lp.advance(60.0) == []
    lp.check()


# --- noise reduction and voices ---------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_noise_reduction_near_far_and_off(dialect: Dialect) -> None:
    lp = loop(dialect)
    for setting in (NoiseReduction(type="near_field"), NoiseReduction(type="far_field"), None):
        assert updated(
            update(lp, input_audio_noise_reduction=setting)
        ).input_audio_noise_reduction == (setting)
    assert lp.client.state.session is not None
    assert lp.client.state.session.input_audio_noise_reduction is None
    assert lp.errors() == []
    lp.check()


def test_noise_reduction_in_the_ga_shape() -> None:
    lp = loop("ga")
    update(lp, input_audio_noise_reduction=NoiseReduction(type="far_field", strength=0.5))
    wire = wire_of(lp, "session.updated")[0]["session"]
    assert wire["audio"]["input"]["noise_reduction"] == {"type": "far_field", "strength": 0.5}
    sdk_check(lp)


def test_a_custom_voice_round_trips_in_ga() -> None:
    lp = loop("ga", responder=ScriptedResponder(["In my own voice."]))
    voice = {"id": "voice_1234"}
    assert updated(update(lp, voice=voice)).voice == voice
    wire = wire_of(lp, "session.updated")[0]["session"]
    assert wire["audio"]["output"]["voice"] == voice
    lp.send(c.ResponseCreate())
    created = wire_of(lp, "response.created")[0]["response"]
    # the GA response object types its voice as a string: a custom voice by its id
    assert created["audio"]["output"]["voice"] == "voice_1234"
    assert lp.client.state.items[-1].audio_ms > 0
    assert lp.errors() == []
    lp.check()
    sdk_check(lp)


# --- GA session objects against the SDK's types ------------------------------------------


def test_ga_session_objects_validate_against_the_sdk() -> None:
    lp = loop("ga")
    update(
        lp,
        model="gpt-realtime-mini",
        turn_detection=TurnDetection(type="semantic_vad", eagerness="high"),
        input_audio_noise_reduction=NoiseReduction(type="near_field"),
        input_audio_transcription=InputAudioTranscription(model="gpt-4o-transcribe"),
        voice="marin",
    )
    update(lp, turn_detection=TurnDetection(idle_timeout_ms=8000, interrupt_response=False))
    update(lp, turn_detection=None, input_audio_noise_reduction=None)
    assert lp.errors() == []
    assert len(wire_of(lp, "session.updated")) == 3
    sdk_check(lp)


# --- errors: the real shapes, GA spelling -----------------------------------------------


GA_PARAMS: Final = (
    (
        {"audio": {"input": {"turn_detection": {"type": "neural_vad"}}}},
        "invalid_value",
        "session.audio.input.turn_detection.type",
    ),
    (
        {"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "now"}}}},
        "invalid_value",
        "session.audio.input.turn_detection.eagerness",
    ),
    (
        {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}}},
        "decimal_above_max_value",
        "session.audio.input.turn_detection.threshold",
    ),
    (
        {"audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": "high"}}}},
        "invalid_type",
        "session.audio.input.turn_detection.threshold",
    ),
    (
        {"audio": {"input": {"noise_reduction": {"type": "deep_space"}}}},
        "invalid_value",
        "session.audio.input.noise_reduction.type",
    ),
    (
        {"audio": {"input": {"transcription": {"language": "en"}}}},
        "missing_required_parameter",
        "session.audio.input.transcription.model",
    ),
    ({"audio": {"output": {"voice": "robot"}}}, "invalid_value", "session.audio.output.voice"),
    (
        {"audio": {"output": {"voice": {"id": 5}}}},
        "invalid_type",
        "session.audio.output.voice.id",
    ),
    (
        {"audio": {"output": {"voice": {"name": "x"}}}},
        "unknown_parameter",
        "session.audio.output.voice.name",
    ),
    ({"output_modalities": ["video"]}, "invalid_value", "session.output_modalities"),
    ({"max_output_tokens": 0}, "integer_below_min_value", "session.max_output_tokens"),
)


@pytest.mark.parametrize(("session", "code", "param"), GA_PARAMS)
def test_ga_errors_name_the_field_in_ga_spelling(
    session: dict[str, Any], code: str, param: str
) -> None:
    lp = loop("ga")
    frame = {
        "type": "session.update",
        "event_id": "evt_x",
        "session": {"type": "realtime", **session},
    }
    events = lp.send_raw(json.dumps(frame))
    assert lp.types(events) == ["error"]
    error = events[0].error  # type: ignore[attr-defined]
    assert (error.type, error.code, error.param, error.event_id) == (
        "invalid_request_error",
        code,
        param,
        "evt_x",
    )
    message = error.message or ""
    assert "session.turn_detection" not in message and "session.voice" not in message
    assert lp.client.state.session == lp.server.state.session  # nothing changed
    sdk_check(lp)


def test_ga_response_errors_name_the_field_in_ga_spelling() -> None:
    lp = loop("ga")
    events = lp.send(c.ResponseCreate(response=ResponseParams(voice="robot")))
    assert [e.error.param for e in of_type(events, s.Error)] == ["response.audio.output.voice"]


def test_ga_voice_change_after_audio_names_the_ga_field() -> None:
    lp = loop("ga", responder=ScriptedResponder(["Hi."]))
    lp.send(c.ResponseCreate())
    events = update(lp, voice="marin")
    errors = of_type(events, s.Error)
    assert [(e.error.code, e.error.param) for e in errors] == [
        ("cannot_update_voice", "session.audio.output.voice")
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_string_where_a_number_goes_is_an_invalid_type(dialect: Dialect) -> None:
    lp = loop(dialect)
    turn = {"type": "server_vad", "silence_duration_ms": "long"}
    session: dict[str, Any] = (
        {"type": "realtime", "audio": {"input": {"turn_detection": turn}}}
        if dialect == "ga"
        else {"turn_detection": turn}
    )
    events = lp.send_raw(json.dumps({"type": "session.update", "session": session}))
    (error,) = [e.error for e in of_type(events, s.Error)]
    assert error.code == "invalid_type"
    expected = "session.turn_detection.silence_duration_ms"
    if dialect == "ga":
        expected = "session.audio.input.turn_detection.silence_duration_ms"
    assert error.param == expected


def test_session_config_defaults_keep_unset_apart_from_null() -> None:
    # an update that does not mention noise reduction leaves it as it was
    lp = loop("ga")
    update(lp, input_audio_noise_reduction=NoiseReduction(type="near_field"))
    back = updated(update(lp, instructions="x"))
    assert back.input_audio_noise_reduction == NoiseReduction(type="near_field")
    assert SessionConfig().input_audio_noise_reduction is UNSET
    assert rtstate.events.NoiseReduction is NoiseReduction
