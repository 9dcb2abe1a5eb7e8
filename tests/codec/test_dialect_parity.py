"""The same flows in both dialects: a beta server with a beta client, a GA server with a
GA client, over the in-memory ``Loop``. The wire differs (renamed events, nested session
audio config, ``conversation.item.added``/``.done``); what the client makes of it must
not: equal conversation state, equal session config (bar GA's missing
``temperature``), the same transitions in the same order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import attrs
import orjson
import pytest
from support.helpers import user_text
from support.server_harness import Loop, silence, tone

from rtstate import SessionState
from rtstate.codec import ga as ga_codec
from rtstate.events import client as c
from rtstate.events.payloads import (
    UNSET,
    InputAudioTranscription,
    Item,
    SessionConfig,
    Tool,
    TranscriptionUsage,
)
from rtstate.events.server import ConversationItemInputAudioTranscriptionCompleted
from rtstate.server import EchoResponder, ScriptedResponder, ServerConfig, ToolCallingResponder
from rtstate.transitions import (
    FunctionCallReady,
    InputTranscribed,
    InputTranscriptAppended,
    ItemTruncated,
    RateLimitsUpdated,
    ResponseFinished,
    SessionStarted,
    SessionUpdated,
    Transition,
    TruncationPlanned,
)

WEATHER = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
PACED = ServerConfig(delta_interval=0.05)


def text_flow(loop: Loop) -> None:
    loop.send(c.SessionUpdate(session=SessionConfig(modalities=("text",))))
    loop.send(user_text("Hi"))
    loop.send(c.ResponseCreate())


def audio_flow(loop: Loop) -> None:
    loop.send(user_text("Say something"))
    loop.send(c.ResponseCreate())


def tool_flow(loop: Loop) -> None:
    loop.send(c.SessionUpdate(session=SessionConfig(tools=(WEATHER,), modalities=("text",))))
    loop.send(user_text("Weather in Paris?"))
    loop.send(c.ResponseCreate())
    call = loop.client.state.items[-1]
    assert call.type == "function_call"
    output = Item(type="function_call_output", call_id=call.call_id, output='{"t":21}')
    loop.send(c.ConversationItemCreate(item=output))
    loop.send(c.ResponseCreate())


def vad_flow(loop: Loop) -> None:
    transcription = InputAudioTranscription(model="whisper-1")
    loop.send(c.SessionUpdate(session=SessionConfig(input_audio_transcription=transcription)))
    loop.append(silence(500) + tone(1200) + silence(400))
    loop.drain()


def barge_in_flow(loop: Loop) -> None:
    loop.send(c.ResponseCreate())
    loop.advance(0.3)
    item = loop.client.state.items[-1]
    loop.playback(item.id, int(item.audio_ms // 2))
    loop.append(tone(300))  # speech: the server cancels, the client plans the cut
    loop.append(silence(400))
    loop.drain()


FLOWS: dict[str, tuple[Callable[[Loop], None], Callable[[], dict[str, Any]]]] = {
    "text": (text_flow, lambda: {"responder": ScriptedResponder(["Hello, world! How are you?"])}),
    "audio": (audio_flow, lambda: {"responder": ScriptedResponder(["A spoken answer."])}),
    "tools": (tool_flow, lambda: {"responder": ToolCallingResponder(preamble="Let me check.")}),
    "vad": (vad_flow, lambda: {"responder": EchoResponder()}),
    "barge-in": (
        barge_in_flow,
        lambda: {"config": PACED, "responder": ScriptedResponder(["a fairly long answer"] * 2)},
    ),
}
"""Flow name -> (what the client does, the server's arguments)."""


def run(flow: str, dialect: str) -> Loop:
    drive, server_args = FLOWS[flow]
    loop = Loop(dialect=dialect, **server_args()).start()
    drive(loop)
    loop.check()
    return loop


ELSEWHERE: Final = (RateLimitsUpdated, InputTranscriptAppended, InputTranscribed)
"""Transitions of what the dialects send at different points, as the real services
do: GA sends ``rate_limits.updated`` after ``response.done`` (the 2024 beta after
``.created``) and streams input transcription deltas, then ``.completed``, after the
response a turn triggered began (the beta sent ``.completed`` alone, before it)."""


def transition_types(loop: Loop) -> list[str]:
    """Transition names in order, but for ``ELSEWHERE``."""
    return [
        type(t).__name__
        for step in loop.client_steps
        for t in step.transitions
        if not isinstance(t, ELSEWHERE)
    ]


def transitions(loop: Loop) -> list[Transition]:
    """Every transition but those carrying the session (which differs in temperature)
    and ``ELSEWHERE``."""
    return [
        t
        for step in loop.client_steps
        for t in step.transitions
        if not isinstance(t, (SessionStarted, SessionUpdated, *ELSEWHERE))
    ]


def without_usage(t: Transition) -> Transition:
    """``t`` without its usage (GA reports a transcription's; the 2024 beta did not)."""
    return attrs.evolve(t, usage=None) if isinstance(t, ResponseFinished | InputTranscribed) else t


def transcribed(loop: Loop) -> list[Transition]:
    return [
        t for step in loop.client_steps for t in step.transitions if isinstance(t, InputTranscribed)
    ]


def session(state: SessionState) -> SessionConfig | None:
    """The session without what differs by dialect on purpose: GA has no temperature,
    has speed, reports truncation and tracing (``null``: off; beta leaves it out), and
    its own default model and session length (test_server_settings)."""
    config = state.session
    if config is None:
        return None
    return attrs.evolve(
        config,
        temperature=None,
        speed=None,
        model=None,
        expires_at=None,
        truncation=None,
        tracing=UNSET,
    )


@pytest.mark.parametrize("flow", list(FLOWS))
def test_beta_and_ga_flows_give_the_same_state_and_transitions(flow: str) -> None:
    beta, ga = run(flow, "beta"), run(flow, "ga")
    assert ga.client.state.items == beta.client.state.items
    assert len(ga.client.state.items) >= 2
    assert session(ga.client.state) == session(beta.client.state)
    assert transition_types(ga) == transition_types(beta)
    if flow == "vad":  # GA's transcript arrives after the response began: not counted
        assert len(transitions(ga)) == len(transitions(beta))
        assert [without_usage(t) for t in transitions(ga)] == [
            without_usage(t) for t in transitions(beta)
        ]
    else:
        assert transitions(ga) == transitions(beta)
    assert [without_usage(t) for t in transcribed(ga)] == [
        without_usage(t) for t in transcribed(beta)
    ]
    assert all(t.usage is not None for t in transcribed(ga) if isinstance(t, InputTranscribed))
    assert ga.client.state.ledger.in_flight == beta.client.state.ledger.in_flight == ()
    # the wires did differ
    beta_types = {orjson.loads(f)["type"] for f in beta.frames}
    ga_types = {orjson.loads(f)["type"] for f in ga.frames}
    assert "conversation.item.created" in beta_types
    assert "conversation.item.created" not in ga_types
    assert {"conversation.item.added", "conversation.item.done"} <= ga_types


def test_the_flows_reach_what_they_are_about() -> None:
    text = run("text", "ga").client.state.items
    assert [(i.role, i.text) for i in text] == [
        ("user", "Hi"),
        ("assistant", "Hello, world! How are you?"),
    ]
    audio = run("audio", "ga").client.state.items[-1]
    assert audio.transcript == "A spoken answer." and audio.audio_ms > 0
    tools = run("tools", "ga")
    ready = [t for t in transitions(tools) if isinstance(t, FunctionCallReady)]
    assert [(t.name, t.arguments) for t in ready] == [("get_weather", '{"city":"example"}')]
    assert [i.type for i in tools.client.state.items] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert tools.client.state.items[-1].text == 'get_weather returned {"t":21}'
    vad = run("vad", "ga").client.state.items
    assert vad[0].role == "user"
    assert vad[0].parts[0].transcript == "[synthetic transcript of 1.9 s of audio]"
    assert vad[1].transcript == "You said: [synthetic transcript of 1.9 s of audio]"
    barge = run("barge-in", "ga")
    cut = [t for t in transitions(barge) if isinstance(t, TruncationPlanned | ItemTruncated)]
    assert [type(t).__name__ for t in cut] == ["TruncationPlanned", "ItemTruncated"]
    assert barge.client.state.finished[0].status == "cancelled"


def test_the_ga_wire_is_spelled_ga() -> None:
    loop = run("text", "ga")
    server_types = [orjson.loads(f)["type"] for f in loop.frames]
    assert "response.output_text.delta" in server_types
    assert not any(t.startswith("response.text.") for t in server_types)
    created = orjson.loads(loop.frames[0])
    assert created["type"] == "session.created"
    session_json = created["session"]
    assert session_json["type"] == "realtime"
    assert session_json["output_modalities"] == ["audio"]
    assert session_json["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session_json["audio"]["output"]["voice"] == "alloy"
    assert "temperature" not in session_json and "modalities" not in session_json
    sent = [orjson.loads(f) for step in loop.client_steps for f in step.to_send]
    update = next(f for f in sent if f["type"] == "session.update")
    assert update["session"] == {"type": "realtime", "output_modalities": ["text"]}


def test_ga_input_transcriptions_carry_usage_and_beta_ones_do_not() -> None:
    """GA's ``conversation.item.input_audio_transcription.completed`` requires ``usage``
    (the SDK's GA types reject the frame without it; the real service sends whisper's
    ``{"type": "duration", "seconds": ...}``); the 2024-10-01 beta wire had none."""
    ga, beta = run("vad", "ga"), run("vad", "beta")
    kind = "conversation.item.input_audio_transcription.completed"
    (ga_frame,) = [f for f in map(orjson.loads, ga.frames) if f["type"] == kind]
    (beta_frame,) = [f for f in map(orjson.loads, beta.frames) if f["type"] == kind]
    assert ga_frame["transcript"] == "[synthetic transcript of 1.9 s of audio]"
    assert ga_frame["usage"] == {"type": "duration", "seconds": pytest.approx(1.9, abs=0.05)}
    assert "usage" not in beta_frame
    assert {k: v for k, v in ga_frame.items() if k != "usage"} == beta_frame | {
        "event_id": ga_frame["event_id"]
    }
    # a real GA frame (pydantic-ai's recorded cassette) decodes with its usage
    real = {
        "type": kind,
        "event_id": "event_E6U0yPHRaSGaFrbW4UkbV",
        "item_id": "item_E6U0xpLmn5e80rVGpEeKv",
        "content_index": 0,
        "transcript": "Hello, my name is Marcelo.",
        "usage": {"type": "duration", "seconds": 3},
    }
    event = ga_codec.decode_server(orjson.dumps(real))
    assert isinstance(event, ConversationItemInputAudioTranscriptionCompleted)
    assert event.usage == TranscriptionUsage(type="duration", seconds=3)
    assert orjson.loads(ga_codec.encode(event)) == real
    tokens = {"type": "tokens", "input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    event = ga_codec.decode_server(orjson.dumps(real | {"usage": tokens}))
    assert isinstance(event, ConversationItemInputAudioTranscriptionCompleted)
    assert event.usage == TranscriptionUsage(
        type="tokens", input_tokens=7, output_tokens=3, total_tokens=10
    )
