"""Real captured beta traffic (``tests/data/corpus/beta``) folded through ``ClientConnection``.

Every capture folds in lenient mode with no exception and no diagnostic, except the
documented quirk of ``liusida-text-response.jsonl``: its last two frames were cut by
the recorder (fields hold the literal string ``"[Object]"``) and must come out as
``malformed`` diagnostics. That file is also a fragment: it starts mid-session with no
``session.created``, so it is folded from a state that is already OPEN.

``*.server.jsonl`` lines are server events; ``*.both.jsonl`` lines are
``{"direction": "server"|"client", "event": {...}}``: server frames go through
``receive``, client frames are decoded with ``decode_client`` and go through ``send``
(which stamps an ``event_id``).

The expected conversations below were read off the files by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import DATA

from rtstate import ClientConnection, Config, SessionState, Step
from rtstate.codec import beta
from rtstate.events.client import ClientEvent
from rtstate.state import InputBufferPhase, ItemPhase, ItemState, ResponsePhase, SessionPhase
from rtstate.transitions import (
    AudioAppended,
    FunctionCallReady,
    InputTranscribed,
    TextAppended,
)

CORPUS = DATA / "corpus" / "beta"
CAPTURES = sorted(CORPUS.rglob("*.jsonl"))
AZURE = CORPUS / "azure-voice-live"
LIUSIDA = CORPUS / "liusida-text-response.jsonl"

BETA = Config(dialect="beta")
"""The corpus is beta traffic: its connection speaks beta (GA is the default)."""

RECORDED_AUDIO_BYTES = 33
"""The recorder cut every audio payload to 44 base64 chars = 33 bytes."""


def fold_capture(path: Path) -> tuple[ClientConnection, list[Step]]:
    """Fold one capture file through a fresh ``ClientConnection``."""
    if path == LIUSIDA:
        # a fragment: one response from the middle of a session, no session.created
        conn = ClientConnection(config=BETA, state=SessionState(phase=SessionPhase.OPEN))
    else:
        conn = ClientConnection(config=BETA)
    steps: list[Step] = []
    both = path.name.endswith(".both.jsonl")
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if not both:
            steps.append(conn.receive(line))
            continue
        wrapped = json.loads(line)
        frame = json.dumps(wrapped["event"])
        if wrapped["direction"] == "server":
            steps.append(conn.receive(frame))
        else:
            assert wrapped["direction"] == "client"
            event = beta.decode_client(frame)
            assert isinstance(event, ClientEvent), event
            steps.append(conn.send(event))
    return conn, steps


def describe(item: ItemState) -> dict[str, Any]:
    """The parts of an item a reader of the conversation cares about."""
    out: dict[str, Any] = {"id": item.id, "type": item.type, "status": item.status}
    if item.type == "message":
        out["role"] = item.role
        out["parts"] = [
            (p.type, p.transcript if p.type in ("audio", "input_audio") else p.text)
            for p in item.parts
        ]
    elif item.type == "function_call":
        out.update(name=item.name, call_id=item.call_id, arguments=item.arguments)
    else:
        out.update(call_id=item.call_id, output=item.output)
    return out


def conversation(state: SessionState) -> list[dict[str, Any]]:
    return [describe(i) for i in state.items]


def test_the_corpus_is_there() -> None:
    names = sorted(str(p.relative_to(CORPUS)) for p in CAPTURES)
    assert names == [
        "azure-voice-live/test_audio_in_server_vad_turn.both.jsonl",
        "azure-voice-live/test_audio_in_server_vad_turn.server.jsonl",
        "azure-voice-live/test_message_history_seeding.both.jsonl",
        "azure-voice-live/test_message_history_seeding.server.jsonl",
        "azure-voice-live/test_text_in_audio_out_turn.both.jsonl",
        "azure-voice-live/test_text_in_audio_out_turn.server.jsonl",
        "azure-voice-live/test_text_output_modality_returns_text.both.jsonl",
        "azure-voice-live/test_text_output_modality_returns_text.server.jsonl",
        "azure-voice-live/test_tool_call_round.both.jsonl",
        "azure-voice-live/test_tool_call_round.server.jsonl",
        "liusida-text-response.jsonl",
    ]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_capture_folds_without_diagnostics(path: Path) -> None:
    conn, steps = fold_capture(path)
    found = [(n, d.code, d.applied) for n, step in enumerate(steps) for d in step.diagnostics]
    if path == LIUSIDA:
        last = len(steps) - 1
        assert found == [(last - 1, "malformed", False), (last, "malformed", False)]
        assert steps[-1].after is steps[-1].before  # a malformed frame changes nothing
        assert "'response.done'" in steps[-1].diagnostics[0].message
        assert "'response.output_item.done'" in steps[-2].diagnostics[0].message
    else:
        assert found == []
        assert conn.state.phase is SessionPhase.OPEN
        assert conn.state.active_response is None
        assert all(i.phase is ItemPhase.DONE for i in conn.state.items)
    assert conn.state == steps[-1].after


@pytest.mark.parametrize(
    "name",
    [
        "test_audio_in_server_vad_turn",
        "test_message_history_seeding",
        "test_text_in_audio_out_turn",
        "test_text_output_modality_returns_text",
        "test_tool_call_round",
    ],
)
def test_both_directions_give_the_server_only_conversation(name: str) -> None:
    server_only, _ = fold_capture(AZURE / f"{name}.server.jsonl")
    both, steps = fold_capture(AZURE / f"{name}.both.jsonl")
    assert both.state.items == server_only.state.items
    assert both.state.finished == server_only.state.finished
    # every client frame was written once, with an event_id stamped by send()
    sent = [step for step in steps if isinstance(step.input, ClientEvent)]
    assert sent
    for n, step in enumerate(sent, start=1):
        (frame,) = step.to_send
        assert json.loads(frame)["event_id"] == f"evt_rt_{n}"


def test_tool_call_round() -> None:
    conn, steps = fold_capture(AZURE / "test_tool_call_round.both.jsonl")
    state = conn.state
    assert conversation(state) == [
        {
            "id": "item_1NEGWt6HlQ4SHbk7pOcFOC",
            "type": "message",
            "status": "completed",
            "role": "user",
            "parts": [("input_text", "What is the weather in London?")],
        },
        {
            "id": "item_E4BAvo5DXdxEo29tRXlor",
            "type": "function_call",
            "status": "completed",
            "name": "get_weather",
            "call_id": "call_gjTmnRCz6ans0s2H",
            "arguments": '{  \n  "city": "London" \n} \n',
        },
        {
            "id": "item_7cfrf6iwUkHTO5yiwWdT8h",
            "type": "function_call_output",
            "status": None,
            "call_id": "call_gjTmnRCz6ans0s2H",
            "output": "It is foggy and 12 degrees in London.",
        },
        {
            "id": "item_E4BAv7tLiUUCjXx1w627g",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "parts": [("text", "It's foggy and 12 degrees in London right now.")],
        },
    ]
    call = state.items[1]
    assert call.arguments is not None and json.loads(call.arguments) == {"city": "London"}
    assert call.response_id == "resp_E4BAvPKQEyg2Qv1zUb9bh"

    ready = [t for step in steps for t in step.transitions if isinstance(t, FunctionCallReady)]
    assert ready == [
        FunctionCallReady(
            item_id="item_E4BAvo5DXdxEo29tRXlor",
            call_id="call_gjTmnRCz6ans0s2H",
            name="get_weather",
            arguments='{  \n  "city": "London" \n} \n',
            response_id="resp_E4BAvPKQEyg2Qv1zUb9bh",
        )
    ]
    first, second = state.finished
    assert (first.id, first.status, first.output) == (
        "resp_E4BAvPKQEyg2Qv1zUb9bh",
        "completed",
        ("item_E4BAvo5DXdxEo29tRXlor",),
    )
    assert first.usage is not None
    assert (first.usage.total_tokens, first.usage.input_tokens, first.usage.output_tokens) == (
        85,
        63,
        22,
    )
    assert (second.id, second.status) == ("resp_E4BAvoKZl13g0SVmnP600", "completed")
    assert second.usage is not None and second.usage.total_tokens == 110
    assert all(r.phase is ResponsePhase.DONE for r in state.finished)
    text = [t.delta for step in steps for t in step.transitions if isinstance(t, TextAppended)]
    assert "".join(text) == "It's foggy and 12 degrees in London right now."
    assert len(text) == 12


def test_audio_in_server_vad_turn() -> None:
    conn, steps = fold_capture(AZURE / "test_audio_in_server_vad_turn.both.jsonl")
    state = conn.state
    user_id, reply_id = "item_E4BAsP00UV55RqqV8zSub", "item_E4BAsZXoSuYWxcYtda12l"
    assert conversation(state) == [
        {
            "id": user_id,
            "type": "message",
            "status": "completed",
            "role": "user",
            "parts": [("input_audio", "Cześć, nazywam się Marcelo.")],
        },
        {
            "id": reply_id,
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "parts": [("audio", "Hi Marcelo, nice to meet you! How can I help you today?")],
        },
    ]
    reply = state.items[1]
    # 14 audio deltas of 33 bytes each (cut by the recorder), pcm16 = 48 bytes per ms
    assert reply.audio_bytes == 14 * RECORDED_AUDIO_BYTES == 462
    assert reply.audio_ms == pytest.approx(462 / 48)
    assert reply.parts[0].audio_done

    buf = state.input_buffer
    assert buf.phase is InputBufferPhase.IDLE
    assert [(w.item_id, w.start_ms, w.end_ms) for w in buf.speech] == [(user_id, 1456, 4512)]
    assert buf.committed == (user_id,)
    # 55 client appends of 33 bytes, all before the commit
    assert buf.total_appended_ms == pytest.approx(55 * RECORDED_AUDIO_BYTES / 48)
    assert buf.appended_ms == 0.0
    assert len(buf.early_transcriptions) == 0

    (done,) = state.finished
    assert (done.id, done.status) == ("resp_E4BAsy7BWzPzysFg4Xvvk", "completed")
    assert done.usage is not None and done.usage.total_tokens == 143

    # the input transcription landed in the middle of the response's deltas
    (transcribed,) = [
        s for s in steps if any(isinstance(t, InputTranscribed) for t in s.transitions)
    ]
    assert transcribed.before.active_response is not None
    assert transcribed.transitions == (
        InputTranscribed(
            item_id=user_id, content_index=0, transcript="Cześć, nazywam się Marcelo."
        ),
    )
    audio = [t for step in steps for t in step.transitions if isinstance(t, AudioAppended)]
    assert [a.byte_count for a in audio] == [33] * 14
    assert audio[0].audio == "BgABAAkABgD+/wgAAwAGAAAABwAGAAYAAgACAAgAAwAF"


def test_message_history_seeding() -> None:
    conn, _ = fold_capture(AZURE / "test_message_history_seeding.both.jsonl")
    assert conversation(conn.state) == [
        {
            "id": "item_502DFDvolZ8VetrqA6mFvP",
            "type": "message",
            "status": "completed",
            "role": "user",
            "parts": [("input_text", "My name is Alice and my favorite color is teal.")],
        },
        {
            "id": "item_3Iw6iOWQ8fzzT19ijANWog",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "parts": [("text", "Nice to meet you, Alice!")],
        },
        {
            "id": "item_4rM3Tcyn8EHtAC1rAtEU8T",
            "type": "message",
            "status": "completed",
            "role": "user",
            "parts": [("input_text", "What is my name and favorite color?")],
        },
        {
            "id": "item_E4BAwex9dP7OdCGHkmTH8",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "parts": [
                (
                    "text",
                    "Your name is Alice, and your favorite color is teal! Got it locked in. "
                    "Anything else fun you want to share?",
                )
            ],
        },
    ]
    (done,) = conn.state.finished
    assert done.usage is not None and done.usage.total_tokens == 176


def test_text_in_audio_out_turn() -> None:
    conn, _ = fold_capture(AZURE / "test_text_in_audio_out_turn.both.jsonl")
    assert conversation(conn.state) == [
        {
            "id": "item_60aC9fbklRnUprIbPDwHTj",
            "type": "message",
            "status": "completed",
            "role": "user",
            "parts": [("input_text", "Say a short greeting.")],
        },
        {
            "id": "item_E4BAqvdWBX2CPiTEwdsGK",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "parts": [("audio", "Hola, ¿qué tal?")],
        },
    ]
    assert conn.state.items[1].audio_bytes == 6 * RECORDED_AUDIO_BYTES
    (done,) = conn.state.finished
    assert done.id == "resp_E4BAqe5bKD2fzpGWYUcxW"
    assert done.usage is not None and done.usage.output_tokens == 45


def test_text_output_modality_returns_text() -> None:
    conn, _ = fold_capture(AZURE / "test_text_output_modality_returns_text.both.jsonl")
    assert conversation(conn.state) == [
        {
            "id": "item_2dKX0Hd5dzTtZO9IaxpcfG",
            "type": "message",
            "status": "completed",
            "role": "user",
            "parts": [("input_text", "Say a short greeting.")],
        },
        {
            "id": "item_EAKJURSUNAdRnKbgt6QVq",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "parts": [("text", "Hello there!")],
        },
    ]
    session = conn.state.session
    assert session is not None and session.modalities == ("text",)


LIUSIDA_TEXT = (
    '{\n  "word": "pending",\n  "region": "--",\n  "explanation": "The word \'pending\' '
    "refers to something that is awaiting a decision, settlement, or completion. It means "
    'that the matter is not yet resolved or finalized.",\n  "sentence": "The approval for '
    "the new project is still pending, so we can't start working on it just yet.\"\n}"
)


def test_liusida_text_response_fragment() -> None:
    """One real text response; its output_item.done and response.done are malformed.

    So the item keeps the text of its deltas (and text.done) but never closes, and the
    response stays active: the state is what the valid frames say, nothing more.
    """
    conn, steps = fold_capture(LIUSIDA)
    state = conn.state
    (item,) = state.items
    assert describe(item) == {
        "id": "item_C1PSbur7hgTONg4H8lKhl",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "parts": [("text", LIUSIDA_TEXT)],
    }
    assert json.loads(item.text)["word"] == "pending"
    assert item.phase is ItemPhase.IN_PROGRESS
    assert item.parts[0].text_log.chunk_count == 77  # the deltas, not a replacement
    deltas = [t for step in steps for t in step.transitions if isinstance(t, TextAppended)]
    assert len(deltas) == 77
    assert "".join(d.delta for d in deltas) == LIUSIDA_TEXT
    response = state.active_response
    assert response is not None
    assert (response.id, response.status) == ("resp_C1PSbsyhar4EpjNZg9fkB", "in_progress")
    assert response.output == ("item_C1PSbur7hgTONg4H8lKhl",)
    assert state.finished == ()
    assert state.conversation_id is None
