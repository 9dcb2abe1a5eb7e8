"""Attached (sideband) sessions, client side: a ``ClientConnection(attached=True)``.

A socket opened with ``?call_id=`` joins a WebRTC or SIP call already running: no
``session.created``, events may start mid-flow, the server owns playback. The real
GA sideband captures (tests/data/corpus/ga/pydantic-ai/*_ws_sideband) fold from a
fresh attached connection, strictly, with no diagnostic; so does every suffix of
them (a socket opened at any point of the turn: what it missed is adopted).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import CORPUS as CORPUS_ROOT

from rtstate import ClientConnection, Config, Step
from rtstate.codec import ga
from rtstate.errors import RemoteProtocolError
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.client import ClientEvent
from rtstate.events.payloads import Item, SessionConfig
from rtstate.reconnect import plan_reconnect
from rtstate.state import ItemPhase, PlaybackPhase, SessionPhase, SessionState
from rtstate.transitions import OutputAudioCleared, ResponseStarted, TruncationPlanned

CORPUS = CORPUS_ROOT / "ga" / "pydantic-ai"
SIDEBAND = sorted(p for p in CORPUS.rglob("*.jsonl") if "sideband" in p.parent.name)
STRICT = Config(dialect="ga", strict=True)


def frames(path: Path) -> list[tuple[str, str]]:
    """``(direction, frame)`` for each line of a capture."""
    out: list[tuple[str, str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if path.name.endswith(".both.jsonl"):
            wrapped = json.loads(line)
            out.append((wrapped["direction"], json.dumps(wrapped["event"])))
        else:
            out.append(("server", line))
    return out


def fold_frames(conn: ClientConnection, lines: list[tuple[str, str]]) -> list[Step]:
    steps: list[Step] = []
    for direction, frame in lines:
        if direction == "server":
            steps.append(conn.receive(frame))
        else:
            event = ga.decode_client(frame)
            assert isinstance(event, ClientEvent)
            steps.append(conn.send(event))
    return steps


def test_there_are_three_sideband_sessions() -> None:
    assert len([p for p in SIDEBAND if p.name.endswith(".both.jsonl")]) == 3
    assert len(SIDEBAND) == 6


@pytest.mark.parametrize("path", SIDEBAND, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_sideband_capture_folds_strictly_with_no_diagnostic(path: Path) -> None:
    conn = ClientConnection(config=STRICT, attached=True)
    assert conn.state.phase is SessionPhase.OPEN and conn.state.session is None
    steps = fold_frames(conn, frames(path))
    assert [d for step in steps for d in step.diagnostics] == []
    state = conn.state
    assert state.session is not None  # from session.updated
    assert state.active_response is None
    (finished,) = state.finished
    assert finished.status == "completed"
    user, assistant = state.items
    assert user.text == "Say hello."
    assert assistant.phase is ItemPhase.DONE
    assert (assistant.text or assistant.transcript) in {"Hello there!", "Hello there."}
    if "audio" in path.name:  # the server played it to its end
        assert dict(state.server_playback) == {finished.id: PlaybackPhase.STOPPED}
        assert state.playing_response_id is None
    else:
        assert dict(state.server_playback) == {}


@pytest.mark.parametrize("path", SIDEBAND, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_plain_connection_rejects_the_same_capture(path: Path) -> None:
    """Why ``attached`` exists: without it, every event before a session.created is
    an INV-1 violation."""
    conn = ClientConnection(config=Config(dialect="ga"))
    steps = fold_frames(conn, frames(path))
    rejected = [d for step in steps for d in step.diagnostics if d.code == "INV-1"]
    assert len(rejected) >= len([f for f in frames(path) if f[0] == "server"]) - 1


@pytest.mark.parametrize("path", [p for p in SIDEBAND if p.name.endswith(".server.jsonl")])
def test_every_suffix_of_a_capture_folds_strictly(path: Path) -> None:
    """A socket opened anywhere in the turn adopts what it missed: no diagnostic."""
    lines = frames(path)
    full = ClientConnection(config=STRICT, attached=True)
    fold_frames(full, lines)
    for start in range(1, len(lines)):
        conn = ClientConnection(config=STRICT, attached=True)
        steps = fold_frames(conn, lines[start:])
        assert [d for step in steps for d in step.diagnostics] == [], start
        state = conn.state
        assert state.active_response is None, start
        events = [json.loads(f) for _, f in lines[start:]]
        if any(e["type"].startswith("response.") for e in events):
            (finished,) = state.finished  # the response, adopted if its start was missed
            assert finished.id == full.state.finished[0].id
            assert finished.status == "completed"
            adopted = not any(e["type"] == "response.created" for e in events)
            assert (finished.id in state.adopted) is adopted, start
            if finished.output:
                (item_id,) = finished.output
                item = state.item(item_id)
                assert item is not None and item.phase is ItemPhase.DONE
                assert item_id in state.order
                final = full.state.item(item_id)
                assert final is not None
                assert (item.text, item.transcript) == (final.text, final.transcript), start


def test_a_response_adopted_at_a_delta_starts_then_streams() -> None:
    conn = ClientConnection(config=STRICT, attached=True)
    step = conn.receive_event(
        s.ResponseTextDelta(
            event_id="e1",
            response_id="resp_1",
            item_id="item_1",
            output_index=0,
            content_index=0,
            delta="lo",
        )
    )
    assert any(isinstance(t, ResponseStarted) for t in step.transitions)
    assert step.after.active_response is not None and step.after.active_response.id == "resp_1"
    assert step.after.adopted == frozenset({"resp_1"})
    item = step.after.item("item_1")
    assert item is not None and item.text == "lo" and item.role == "assistant"
    assert list(step.after.order) == ["item_1"]


def test_a_gap_in_output_indices_is_still_rejected() -> None:
    conn = ClientConnection(config=Config(dialect="ga"), attached=True)
    step = conn.receive_event(
        s.ResponseOutputItemAdded(
            event_id="e1",
            response_id="resp_1",
            output_index=1,
            item=Item(id="item_1", type="message", role="assistant"),
        )
    )
    assert [d.code for d in step.diagnostics] == ["INV-6"]
    assert step.after is step.before


def test_attached_and_state_together_are_refused() -> None:
    with pytest.raises(TypeError, match="not both"):
        ClientConnection(attached=True, state=SessionState())


def test_a_plain_session_adopts_nothing() -> None:
    conn = ClientConnection(config=STRICT)
    conn.receive_event(s.SessionCreated(event_id="e0", session=ga_session()))
    with pytest.raises(RemoteProtocolError, match="INV-4"):
        conn.receive_event(
            s.ResponseTextDelta(
                event_id="e1",
                response_id="resp_1",
                item_id="item_1",
                output_index=0,
                content_index=0,
                delta="lo",
            )
        )


def ga_session() -> SessionConfig:
    return SessionConfig(id="sess_1", model="gpt-realtime")


# --- server-owned playback and the attached interrupt ---------------------------------


def started_response(conn: ClientConnection, response_id: str = "resp_1") -> None:
    conn.receive(
        json.dumps(
            {
                "type": "response.created",
                "event_id": "e_c",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": "in_progress",
                    "output": [],
                },
            }
        )
    )


def test_server_playback_follows_started_stopped_cleared() -> None:
    conn = ClientConnection(config=STRICT, attached=True)
    started_response(conn)
    step = conn.receive_event(s.OutputAudioBufferStarted(event_id="p1", response_id="resp_1"))
    assert dict(step.after.server_playback) == {"resp_1": PlaybackPhase.STARTED}
    assert step.after.playing_response_id == "resp_1"
    step = conn.receive_event(s.OutputAudioBufferCleared(event_id="p2", response_id="resp_1"))
    assert dict(step.after.server_playback) == {"resp_1": PlaybackPhase.CLEARED}
    assert step.after.playing_response_id is None
    assert [type(t) for t in step.transitions] == [OutputAudioCleared]


def test_interrupt_while_generating_and_playing_cancels_and_clears() -> None:
    conn = ClientConnection(config=STRICT, attached=True)
    started_response(conn)
    conn.receive_event(s.OutputAudioBufferStarted(event_id="p1", response_id="resp_1"))
    step = conn.interrupt()
    assert [type(e) for e in step.sent] == [c.ResponseCancel, c.OutputAudioBufferClear]
    assert isinstance(step.sent[0], c.ResponseCancel) and step.sent[0].response_id == "resp_1"
    assert [json.loads(f)["type"] for f in step.to_send] == [
        "response.cancel",
        "output_audio_buffer.clear",
    ]
    (planned,) = [t for t in step.transitions if isinstance(t, TruncationPlanned)]
    assert planned.cancelled and planned.truncated == () and planned.deleted == ()
    assert step.after.interrupted_response_id == "resp_1"
    # the server answers: cleared, then the cancelled response's end
    conn.receive_event(s.OutputAudioBufferCleared(event_id="p2", response_id="resp_1"))
    done = conn.receive(
        json.dumps(
            {
                "type": "response.done",
                "event_id": "e_d",
                "response": {
                    "id": "resp_1",
                    "object": "realtime.response",
                    "status": "cancelled",
                    "output": [],
                },
            }
        )
    )
    assert done.diagnostics == ()
    assert done.after.ledger.in_flight == ()
    assert done.after.finished[-1].status == "cancelled"
    assert dict(done.after.server_playback) == {"resp_1": PlaybackPhase.CLEARED}


def test_interrupt_after_generation_only_clears_the_playback() -> None:
    conn = ClientConnection(config=STRICT, attached=True)
    started_response(conn)
    conn.receive(
        json.dumps(
            {
                "type": "response.done",
                "event_id": "e_d",
                "response": {
                    "id": "resp_1",
                    "object": "realtime.response",
                    "status": "completed",
                    "output": [],
                },
            }
        )
    )
    conn.receive_event(s.OutputAudioBufferStarted(event_id="p1", response_id="resp_1"))
    step = conn.interrupt()
    assert [type(e) for e in step.sent] == [c.OutputAudioBufferClear]
    (planned,) = [t for t in step.transitions if isinstance(t, TruncationPlanned)]
    assert planned.response_id == "resp_1" and not planned.cancelled


def test_interrupt_with_nothing_playing_or_generating_does_nothing() -> None:
    conn = ClientConnection(config=STRICT, attached=True)
    step = conn.interrupt()
    assert step.sent == () and step.transitions == () and step.after is step.before


def test_interrupt_while_generating_without_playback_only_cancels() -> None:
    conn = ClientConnection(config=STRICT, attached=True)
    started_response(conn)
    step = conn.interrupt()
    assert [type(e) for e in step.sent] == [c.ResponseCancel]


def test_a_plain_session_still_plans_truncation_from_reported_playback() -> None:
    """Not attached: ``interrupt`` never sends output_audio_buffer.clear."""
    conn = ClientConnection(config=Config(dialect="ga"))
    conn.receive_event(s.SessionCreated(event_id="e0", session=ga_session()))
    started_response(conn)
    conn.receive_event(s.OutputAudioBufferStarted(event_id="p1", response_id="resp_1"))
    step = conn.interrupt()
    assert [type(e) for e in step.sent] == [c.ResponseCancel]


def test_resume_keeps_the_session_attached() -> None:
    conn = ClientConnection(config=STRICT, attached=True)
    step = conn.resume(plan_reconnect(conn.state))
    assert step.after.attached and step.after.phase is SessionPhase.OPEN
    assert step.after.active_response is None


def test_server_playback_of_forgotten_responses_is_bounded() -> None:
    conn = ClientConnection(config=Config(dialect="ga", max_finished_responses=2), attached=True)
    for n in range(6):
        rid = f"resp_{n}"
        started_response(conn, rid)
        conn.receive(
            json.dumps(
                {
                    "type": "response.done",
                    "event_id": f"d{n}",
                    "response": {
                        "id": rid,
                        "object": "realtime.response",
                        "status": "completed",
                        "output": [],
                    },
                }
            )
        )
        conn.receive_event(s.OutputAudioBufferStarted(event_id=f"p{n}", response_id=rid))
        conn.receive_event(s.OutputAudioBufferStopped(event_id=f"q{n}", response_id=rid))
    assert set(conn.state.server_playback) <= {"resp_4", "resp_5"}
    assert conn.state.server_playback["resp_5"] is PlaybackPhase.STOPPED
