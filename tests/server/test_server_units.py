"""The server role's parts on their own: VAD, synthetic audio, responders, pacing, ids."""

from __future__ import annotations

import json

import pytest
from support.server_harness import Loop, silence, tone

from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    ErrorInfo,
    InputAudioTranscription,
    Item,
    SessionConfig,
    Tool,
    ToolChoiceFunction,
    TurnDetection,
)
from rtstate.server import (
    Chunking,
    EchoResponder,
    FunctionCall,
    Message,
    Reply,
    ResponseRequest,
    ScriptedResponder,
    ServerConfig,
    ServerConnection,
    SyntheticTranscriber,
    SyntheticVoice,
    ToolCallingResponder,
    VadSettings,
    seeded_ids,
    sequential_ids,
)
from rtstate.server.audio import pcm16_rms_dbfs
from rtstate.server.vad import VadState, feed

# --- VAD -------------------------------------------------------------------------------


def run(audio: bytes, settings: VadSettings) -> list[tuple[str, int]]:
    _, found = feed(VadState(), audio, settings)
    return [(e.kind, e.at_ms) for e in found]


def test_vad_start_reaches_back_by_the_prefix_padding() -> None:
    audio = silence(1000) + tone(500) + silence(600)
    assert run(audio, VadSettings(prefix_padding_ms=300, silence_duration_ms=500)) == [
        ("start", 700),
        ("stop", 2000),
    ]
    assert run(audio, VadSettings(prefix_padding_ms=0, silence_duration_ms=200))[0] == (
        "start",
        1000,
    )


def test_vad_start_never_precedes_the_buffer() -> None:
    state, found = feed(
        VadState(position_ms=100, floor_ms=100), tone(100), VadSettings(prefix_padding_ms=300)
    )
    assert [(e.kind, e.at_ms) for e in found] == [("start", 100)]
    assert state.speaking


def test_vad_silence_duration_bridges_short_pauses() -> None:
    audio = tone(300) + silence(150) + tone(300) + silence(300)
    assert run(audio, VadSettings(silence_duration_ms=200)) == [("start", 0), ("stop", 950)]
    assert run(audio, VadSettings(silence_duration_ms=100)) == [
        ("start", 0),
        ("stop", 400),
        ("start", 150),  # prefix padding reaches back into the pause
        ("stop", 850),
    ]


def test_vad_threshold_sets_how_loud_speech_must_be() -> None:
    quiet = tone(300, amplitude=0.01)  # about -43 dBFS
    assert pcm16_rms_dbfs(quiet) == pytest.approx(-43, abs=1)
    assert run(quiet, VadSettings(threshold=0.5)) == []  # needs -30 dBFS
    assert run(quiet, VadSettings(threshold=0.2))[0][0] == "start"  # needs -48 dBFS
    assert run(tone(300, amplitude=0.9), VadSettings(threshold=0.99)) == []


def test_vad_carries_unfinished_frames_over() -> None:
    audio = tone(300) + silence(300)
    state = VadState()
    found = []
    for i in range(0, len(audio), 333):  # odd chunk sizes
        state, more = feed(state, audio[i : i + 333], VadSettings())
        found += [(e.kind, e.at_ms) for e in more]
    assert found == run(audio, VadSettings())
    assert state.position_ms == 600


def test_vad_settings_from_a_session() -> None:
    assert VadSettings.of(TurnDetection()) == VadSettings()
    assert VadSettings.of(TurnDetection(threshold=0.9, silence_duration_ms=700)) == VadSettings(
        threshold=0.9, prefix_padding_ms=300, silence_duration_ms=700
    )


# --- synthetic audio ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tone", "noise"])
def test_synthetic_voice_is_sized_by_the_text_and_deterministic(kind: str) -> None:
    voice = SyntheticVoice(kind=kind, ms_per_char=50)  # type: ignore[arg-type]
    audio = voice.synthesize("hello there", "alloy", "pcm16")
    assert len(audio) == 11 * 50 * 48
    assert audio == voice.synthesize("hello there", "alloy", "pcm16")
    assert audio != voice.synthesize("hello there", "echo", "pcm16")
    assert pcm16_rms_dbfs(audio) > -30  # loud enough to be speech to the server's own VAD
    assert len(voice.synthesize("", "alloy", "pcm16")) == voice.min_ms * 48


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_synthetic_voice_speaks_g711(fmt: str) -> None:
    audio = SyntheticVoice().synthesize("abcdefghij", "alloy", fmt)
    assert len(audio) == 10 * 60 * 8
    assert len(set(audio)) > 20  # not one silent byte value
    silent = SyntheticVoice().synthesize(" " * 10, "alloy", fmt)
    assert len(set(silent)) == 1  # the G.711 code of zero


def test_synthetic_voice_rejects_a_zero_rate() -> None:
    with pytest.raises(ValueError, match="ms_per_char"):
        SyntheticVoice(ms_per_char=0)


def test_synthetic_transcriber_says_it_is_synthetic() -> None:
    t = SyntheticTranscriber()
    assert (
        t.transcribe(silence(1234), "pcm16", "whisper-1")
        == "[synthetic transcript of 1.2 s of audio]"
    )
    assert (
        t.transcribe(bytes(8000), "g711_alaw", None) == "[synthetic transcript of 1.0 s of audio]"
    )


def test_a_failing_transcriber_makes_transcription_failed() -> None:
    class Deaf:
        def transcribe(self, audio: bytes, audio_format: str, model: str | None) -> str | ErrorInfo:
            return ErrorInfo(type="transcription_error", code="audio_unintelligible", message="?")

    loop = Loop(transcriber=Deaf()).start()
    loop.send(
        c.SessionUpdate(
            session=SessionConfig(
                turn_detection=None,
                input_audio_transcription=InputAudioTranscription(model="whisper-1"),
            )
        )
    )
    loop.append(tone(200))
    events = loop.send(c.InputAudioBufferCommit())
    assert loop.types(events)[-1] == "conversation.item.input_audio_transcription.failed"
    item = loop.client.state.items[-1]
    assert (
        item.transcription_error is not None
        and item.transcription_error.code == "audio_unintelligible"
    )
    loop.check()


# --- responders ------------------------------------------------------------------------


def request(loop: Loop) -> ResponseRequest:
    state = loop.server.state
    assert state.session is not None
    return ResponseRequest(response_id="resp_x", state=state, session=state.session)


def test_scripted_replies_in_order_then_a_failure() -> None:
    loop = Loop().start()
    responder = ScriptedResponder(
        ["one", Message(text="two"), [Message(text="a"), FunctionCall(name="f")]]
    )
    got = [responder.respond(request(loop)) for _ in range(4)]
    assert got[:3] == [
        Reply.text("one"),
        Reply.text("two"),
        Reply(outputs=(Message(text="a"), FunctionCall(name="f"))),
    ]
    assert got[3].failure is not None and got[3].failure.code == "script_exhausted"
    assert responder.played == 4


def test_scripted_cycle_and_callable() -> None:
    loop = Loop().start()
    cycling = ScriptedResponder(["a", "b"], cycle=True)
    assert [cycling.respond(request(loop)) for _ in range(3)] == [Reply.text(x) for x in "aba"]
    calls = ScriptedResponder(lambda r: f"answer to {r.response_id}")
    assert calls.respond(request(loop)) == Reply.text("answer to resp_x")


def test_echo_says_back_the_last_user_message() -> None:
    loop = Loop().start()
    assert EchoResponder().respond(request(loop)).outputs[0] == Message(
        text=EchoResponder().fallback
    )
    loop.send(
        c.ConversationItemCreate(
            item=Item(
                type="message", role="user", content=(ContentPart(type="input_text", text="ping"),)
            )
        )
    )
    assert EchoResponder(prefix="").respond(request(loop)) == Reply.text("ping")


def test_tool_calling_responder_fills_required_arguments() -> None:
    tool = Tool(
        name="book",
        parameters={
            "type": "object",
            "properties": {
                "seats": {"type": "integer"},
                "window": {"type": "boolean"},
                "cls": {"enum": ["eco", "biz"]},
                "note": {"type": "string"},
            },
            "required": ["seats", "window", "cls"],
        },
    )
    loop = Loop().start()
    loop.send(
        c.SessionUpdate(
            session=SessionConfig(tools=(Tool(name="other"), tool), tool_choice="required")
        )
    )
    call = ToolCallingResponder().respond(request(loop)).outputs[0]
    assert isinstance(call, FunctionCall) and call.name == "other"  # the first tool
    loop.send(c.SessionUpdate(session=SessionConfig(tool_choice=ToolChoiceFunction(name="book"))))
    call = ToolCallingResponder().respond(request(loop)).outputs[0]
    assert isinstance(call, FunctionCall) and call.name == "book"
    assert json.loads(call.arguments) == {"cls": "eco", "seats": 1, "window": True}
    custom = ToolCallingResponder(arguments=lambda t, r: '{"x":1}').respond(request(loop))
    assert custom.outputs[0] == FunctionCall(name="book", arguments='{"x":1}')
    loop.check()


# --- pacing and chunking ---------------------------------------------------------------


def test_chunk_sizes_are_honoured() -> None:
    config = ServerConfig(chunking=Chunking(text_chars=3, transcript_chars=4, audio_ms=250))
    loop = Loop(config=config, responder=ScriptedResponder(["abcdefgh", "abcdefgh"])).start()
    texts = loop.send(c.ResponseCreate(response=None))
    transcript = [e.delta for e in texts if isinstance(e, s.ResponseAudioTranscriptDelta)]
    audio = [e for e in texts if isinstance(e, s.ResponseAudioDelta)]
    assert transcript == ["abcd", "efgh"]
    assert len(audio) == 2  # 8 chars x 60 ms = 480 ms in 250 ms pieces
    loop.send(c.SessionUpdate(session=SessionConfig(modalities=("text",))))
    text = [e.delta for e in loop.send(c.ResponseCreate()) if isinstance(e, s.ResponseTextDelta)]
    assert text == ["abc", "def", "gh"]
    loop.check()


def test_pacing_spaces_deltas_and_latency() -> None:
    config = ServerConfig(delta_interval=0.5, response_latency=2.0, session_duration=None)
    loop = Loop(config=config, responder=ScriptedResponder(["abcdefghijkl"])).start()
    loop.send(c.SessionUpdate(session=SessionConfig(modalities=("text",))))
    first = loop.send(c.ResponseCreate())
    assert loop.types(first) == ["response.created", "rate_limits.updated"]
    assert loop.server.next_deadline() == 2.0
    at_two = loop.advance(2.0)
    assert loop.types(at_two) == [
        "response.output_item.added",
        "conversation.item.created",
        "response.content_part.added",
        "response.text.delta",
    ]
    assert loop.server.next_deadline() == 2.5
    assert loop.types(loop.advance(0.5)) == ["response.text.delta"]
    assert loop.types(loop.advance(0.5))[-1] == "response.done"
    assert loop.server.next_deadline() is None
    loop.check()


def test_a_client_frame_first_writes_what_was_due_before_it() -> None:
    loop = Loop(
        config=ServerConfig(delta_interval=0.1), responder=ScriptedResponder(["abcdefghijklmnop"])
    ).start()
    loop.send(c.ResponseCreate())
    loop.now += 10.0  # no tick in between: the next frame brings the time
    answer = loop.send(c.ResponseCancel())
    # the whole response was due before the cancel arrived: it completes, and the
    # cancel is a benign race, answered with an error
    assert loop.types(answer)[-2:] == ["response.done", "error"]
    assert loop.client.state.finished[-1].status == "completed"
    assert loop.errors()[-1].code == "response_cancel_not_active"
    loop.check()


# --- ids -------------------------------------------------------------------------------


def test_id_factories() -> None:
    seq = sequential_ids()
    assert [seq("event"), seq("item"), seq("event")] == ["event_1", "item_1", "event_2"]
    a, b = seeded_ids(3), seeded_ids(3)
    assert [a("event") for _ in range(3)] == [b("event") for _ in range(3)]
    assert len(seeded_ids()("call")) == len("call_") + 16


def test_server_config_rejects_negative_pacing() -> None:
    with pytest.raises(ValueError, match="delta_interval"):
        ServerConfig(delta_interval=-1)


def test_default_server_is_usable_without_arguments() -> None:
    server = ServerConnection()
    created = json.loads(server.start().to_send[0])
    assert created["type"] == "session.created"
    assert created["session"]["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 200
    step = server.receive('{"type": "response.create"}')
    done = [json.loads(f) for f in step.to_send if '"response.done"' in f]
    assert done[-1]["response"]["status"] == "completed"
