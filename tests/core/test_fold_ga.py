"""Real captured GA traffic (``tests/data/corpus/ga``) folded through a GA ``ClientConnection``.

Every capture folds in lenient mode with no exception, and with no diagnostic at all
except the WebRTC sideband captures: a sideband socket joins a session already open
(no ``session.created``), so those are folded from an OPEN state, as the beta
fragment ``liusida-text-response.jsonl`` is. The expected conversations were read off
the files by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import DATA

from rtstate import ClientConnection, Config, SessionState, Step
from rtstate.codec import ga
from rtstate.events import server as s
from rtstate.events.client import ClientEvent
from rtstate.events.payloads import Tool
from rtstate.state import ItemPhase, ItemState, SessionPhase
from rtstate.transitions import (
    FunctionCallReady,
    InputTranscribed,
    InputTranscriptAppended,
    InputTranscriptionFailed,
    ItemAdded,
    OutputAudioStarted,
    OutputAudioStopped,
)

CORPUS = DATA / "corpus" / "ga" / "pydantic-ai"
CAPTURES = sorted(CORPUS.rglob("*.jsonl"))
GA = Config(dialect="ga")


def fold_capture(path: Path, config: Config = GA) -> tuple[ClientConnection, list[Step]]:
    """Fold one capture: server frames through ``receive``, client frames through ``send``."""
    sideband = "sideband" in path.parent.name
    state = SessionState(phase=SessionPhase.OPEN) if sideband else None
    conn = ClientConnection(config=config, state=state)
    steps: list[Step] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not path.name.endswith(".both.jsonl"):
            steps.append(conn.receive(line))
            continue
        wrapped = json.loads(line)
        frame = json.dumps(wrapped["event"])
        if wrapped["direction"] == "server":
            steps.append(conn.receive(frame))
        else:
            event = ga.decode_client(frame)
            assert isinstance(event, ClientEvent), event
            steps.append(conn.send(event))
    return conn, steps


def fold(name: str) -> tuple[ClientConnection, list[Step]]:
    return fold_capture(CORPUS / f"{name}.server.jsonl")


def describe(item: ItemState) -> tuple[Any, ...]:
    if item.type == "message":
        parts = tuple(
            (p.type, p.transcript if p.type in ("audio", "input_audio") else p.text)
            for p in item.parts
        )
        return ("message", item.role, item.status, parts)
    if item.type == "function_call":
        return ("function_call", item.name, item.call_id, item.arguments)
    return (item.type, item.call_id, item.output)


def kinds(steps: list[Step], cls: Any) -> list[Any]:
    return [t for step in steps for t in step.transitions if isinstance(t, cls)]


def test_the_ga_corpus_is_there() -> None:
    assert len(CAPTURES) == 46
    assert {p.parent.name for p in CAPTURES} == {
        "test_azure_ws",
        "test_azure_ws_sideband",
        "test_gateway_ws",
        "test_openai_ws",
        "test_openai_ws_sideband",
        "test_parity_ws",
    }


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_capture_folds_with_no_diagnostic(path: Path) -> None:
    conn, steps = fold_capture(path)
    assert [(n, d.code) for n, step in enumerate(steps) for d in step.diagnostics] == []
    state = conn.state
    assert state.phase is SessionPhase.OPEN
    assert state.active_response is None
    assert state.items and all(i.phase is ItemPhase.DONE for i in state.items)
    assert state.ledger.in_flight == ()
    assert state == steps[-1].after


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_capture_folds_strictly_too(path: Path) -> None:
    conn, _ = fold_capture(path, Config(dialect="ga", strict=True))
    assert conn.state.items


SERVER_ONLY = [p for p in CAPTURES if p.name.endswith(".server.jsonl")]


@pytest.mark.parametrize("path", SERVER_ONLY, ids=lambda p: str(p.relative_to(CORPUS)))
def test_the_beta_codec_does_not_read_ga_traffic(path: Path) -> None:
    """The dialect matters: read as beta, GA items never join the conversation."""
    conn, steps = fold_capture(path, Config(dialect="beta"))
    assert not [t for step in steps for t in step.transitions if isinstance(t, ItemAdded)]
    assert not conn.state.items or any(step.diagnostics for step in steps)


def test_tool_call_round() -> None:
    conn, steps = fold("test_openai_ws/test_tool_call_round")
    answer = "It is foggy and 12 degrees in London."
    assert [describe(i) for i in conn.state.items] == [
        (
            "message",
            "user",
            "completed",
            (("input_text", "What is the weather in London?"),),
        ),
        (
            "function_call",
            "get_weather",
            "call_uMNE0Myi2tDTPu0w",
            '{  \n  "city": "London" \n} \n',
        ),
        ("function_call_output", "call_uMNE0Myi2tDTPu0w", answer),
        ("message", "assistant", "completed", (("text", answer),)),
    ]
    (ready,) = kinds(steps, FunctionCallReady)
    assert ready.name == "get_weather" and json.loads(ready.arguments) == {"city": "London"}
    session = conn.state.session
    assert session is not None
    assert session.modalities == ("text",)
    assert session.input_audio_format == session.output_audio_format == "pcm16"
    assert session.tools is not None
    assert isinstance(session.tools[0], Tool) and session.tools[0].name == "get_weather"
    assert session.max_response_output_tokens == "inf"


def test_audio_in_server_vad_turn() -> None:
    conn, steps = fold("test_openai_ws/test_audio_in_server_vad_turn")
    assert [describe(i) for i in conn.state.items] == [
        ("message", "user", "completed", (("input_audio", "Hello, my name is Marcelo."),)),
        (
            "message",
            "assistant",
            "completed",
            (("audio", "Hello, Marcelo! Great to meet you. How can I help you today?"),),
        ),
    ]
    streamed = kinds(steps, InputTranscriptAppended)
    assert "".join(t.delta for t in streamed) == " Hello, my name is Marcelo."
    (done,) = kinds(steps, InputTranscribed)
    assert done.transcript == "Hello, my name is Marcelo."
    assistant = conn.state.items[1]
    assert assistant.parts[0].audio_bytes == 33 * 27  # 27 recorded deltas of 33 bytes
    session = conn.state.session
    assert session is not None and session.modalities == ("audio", "text")
    assert session.input_audio_transcription is not None
    assert session.input_audio_transcription.model == "gpt-realtime-whisper"  # type: ignore[union-attr]
    turn = session.turn_detection
    assert turn is not None and turn.silence_duration_ms == 200  # type: ignore[union-attr]


def test_transcription_failure_is_kept_on_the_item() -> None:
    conn, steps = fold("test_azure_ws/test_audio_in_server_vad_transcription_requires_deployment")
    (failed,) = kinds(steps, InputTranscriptionFailed)
    assert failed.error.code == "DeploymentNotFound"
    user, assistant = conn.state.items
    assert user.transcription_error == failed.error
    assert assistant.transcript == "Hi Marcelo, it's great to meet you. How can I help you today?"


def test_history_seeding() -> None:
    conn, _ = fold("test_openai_ws/test_message_history_seeding")
    assert [describe(i) for i in conn.state.items] == [
        (
            "message",
            "user",
            "completed",
            (("input_text", "My name is Alice and my favorite color is teal."),),
        ),
        ("message", "assistant", "completed", (("text", "Nice to meet you, Alice!"),)),
        ("message", "user", "completed", (("input_text", "What is my name and favorite color?"),)),
        (
            "message",
            "assistant",
            "completed",
            (("text", "Your name is Alice, and your favorite color is teal!"),),
        ),
    ]


def test_three_vad_turns() -> None:
    conn, _ = fold("test_openai_ws/test_input_audio_retention_segments_three_server_vad_turns")
    assert [(i.role, i.transcript) for i in conn.state.items] == [
        ("user", "Hello, my name is Marcelo."),
        ("assistant", "Hi Marcelo! Nice to meet you."),
        ("user", "Hello, my name is Marcelo."),
        ("assistant", "Hi Marcelo! Great to meet you."),
        ("user", "Hello, my name is Marcelo."),
        ("assistant", "Hey Marcelo, nice meeting you."),
    ]


def test_text_in_audio_out() -> None:
    conn, _ = fold("test_openai_ws/test_text_in_audio_out_turn")
    assert [describe(i) for i in conn.state.items] == [
        ("message", "user", "completed", (("input_text", "Say a short greeting."),)),
        ("message", "assistant", "completed", (("audio", "Hi there!"),)),
    ]


def test_sideband_audio_turn_reports_the_servers_playback() -> None:
    conn, steps = fold("test_openai_ws_sideband/test_webrtc_sideband_audio_turn")
    assert [describe(i) for i in conn.state.items] == [
        ("message", "user", "completed", (("input_text", "Say hello."),)),
        ("message", "assistant", "completed", (("audio", "Hello there."),)),
    ]
    response_id = conn.state.finished[-1].id
    assert [type(t) for t in kinds(steps, OutputAudioStarted | OutputAudioStopped)] == [
        OutputAudioStarted,
        OutputAudioStopped,
    ]
    assert {t.response_id for t in kinds(steps, OutputAudioStarted | OutputAudioStopped)} == {
        response_id
    }


def test_conversation_item_done_never_moves_an_item() -> None:
    """Real GA servers send ``previous_item_id: null`` on ``conversation.item.done``."""
    path = CORPUS / "test_openai_ws/test_tool_call_round.server.jsonl"
    events = [ga.decode_server(line) for line in path.read_text().splitlines()]
    done = [e for e in events if isinstance(e, s.ConversationItemDone)]
    assert any(e.previous_item_id is None for e in done[1:])
    conn, _ = fold("test_openai_ws/test_tool_call_round")
    assert conn.state.items[0].role == "user"  # still first
