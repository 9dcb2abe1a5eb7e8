"""``rtstate.journal.replay``: a journal recorded by ``rtstate_plugins.Recorder`` gives back
the exact Steps; an edited or inconsistent journal is refused with the line at fault.

The session is real: a strict client against the sans-IO fake server, paced, with a
text response, a tool call answered by the client, an audio response cut by a
barge-in (playback reported, then ``interrupt()``), a refused frame, ticks and a
close. Event ids come from ``uuid4``, so the replay can only match by reading them
from the journal.
"""

from __future__ import annotations

import json
import uuid

import pytest
from rtstate_plugins import Recorder
from support.helpers import user_text
from support.server_harness import Loop

import rtstate
from rtstate import ClientConnection, Config, Step
from rtstate.config import AudioRetention
from rtstate.events import client as c
from rtstate.events.payloads import Item, ResponseParams, SessionConfig, Tool
from rtstate.journal import JournalError, replay
from rtstate.server import FunctionCall, ScriptedResponder, ServerConfig
from rtstate.state import SessionPhase
from rtstate.transitions import FunctionCallReady, SessionStarted, TruncationPlanned

BETA = Config(dialect="beta")
"""These tests feed beta frames: their connections say so (GA is the default)."""

WEATHER = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
TEXT = ResponseParams(modalities=("text",))


def recorded_session(*plugins: object) -> tuple[Recorder, list[Step]]:
    """Run the session; the recorder and every Step the client returned, in call order."""
    recorder = Recorder(clock=iter(range(10_000)).__next__)
    client = ClientConnection(
        config=Config(dialect="beta", strict=True),
        plugins=[recorder, *plugins],
        id_factory=lambda: f"evt_{uuid.uuid4().hex[:12]}",
    )
    steps: list[Step] = []

    def keep(verb: str, value: object) -> None:
        if verb == "step":
            assert isinstance(value, Step)
            steps.append(value)

    client.add_tap(keep)
    script = ScriptedResponder(
        [
            "Hello! Ask me about the weather.",
            FunctionCall(name="get_weather", arguments='{"city": "Paris"}'),
            "It is sunny in Paris.",
            "Here is a long spoken answer that the user will interrupt halfway through.",
        ]
    )
    loop = Loop(client=client, responder=script, config=ServerConfig(delta_interval=0.02))
    loop.start()
    loop.send(c.SessionUpdate(session=SessionConfig(tools=(WEATHER,), tool_choice="auto")))
    # text
    loop.send(user_text("Hi"))
    loop.send(c.ResponseCreate(response=TEXT))
    loop.drain()
    # a tool call, answered by the client
    loop.send(user_text("Weather in Paris?"))
    loop.send(c.ResponseCreate(response=TEXT))
    loop.drain()
    ready = [t for s in steps for t in s.transitions if isinstance(t, FunctionCallReady)]
    assert len(ready) == 1
    output = Item(type="function_call_output", call_id=ready[0].call_id, output='{"sky":"clear"}')
    loop.send(c.ConversationItemCreate(item=output))
    loop.send(c.ResponseCreate(response=TEXT))
    loop.drain()
    # audio, cut by a barge-in: playback reported, then interrupt()
    loop.send(c.ResponseCreate())
    loop.advance(0.3)
    item = loop.client.state.items[-1]
    assert item.audio_ms > 0
    loop.playback(item.id, int(item.audio_ms // 2))
    cut = loop.interrupt()
    assert any(isinstance(t, TruncationPlanned) for t in cut.transitions)
    loop.drain()
    loop.tick_client()
    # a frame the strict client refuses: recorded as raised, replayed as raised
    with pytest.raises(rtstate.RemoteProtocolError):
        loop.client.receive('{"type": "response.text.delta"}')
    loop.client.transport_closed(1000, "bye")
    loop.check()
    return recorder, steps


def test_replay_reproduces_every_step_exactly() -> None:
    recorder, original = recorded_session()
    replayed = list(replay(recorder.lines))
    assert len(replayed) == len(original) > 40
    for before, after in zip(original, replayed, strict=True):
        assert after.input == before.input
        assert after.transitions == before.transitions
        assert after.diagnostics == before.diagnostics
        assert after.to_send == before.to_send
        assert after.sent == before.sent
        assert after.before == before.before
        assert after.after == before.after
    kinds = {json.loads(line).get("call") for line in recorder.lines}
    assert {"send", "playback", "interrupt", "tick", "transport_closed", "id", "raised"} <= kinds
    directions = [json.loads(line).get("dir") for line in recorder.lines[1:]]
    assert {"in", "out", "local"} == set(directions)


def test_the_journal_streams_through_write_and_replays_from_a_file(tmp_path: object) -> None:
    lines: list[str] = []
    conn = ClientConnection(config=BETA, plugins=[Recorder(write=lines.append)])
    first = conn.receive('{"type": "session.created", "event_id": "e1", "session": {}}')
    second = conn.send(c.ResponseCreate())
    assert all(line.endswith("\n") for line in lines)
    assert json.loads(lines[0])["journal"] == "rtstate"
    assert [s.to_send for s in replay(lines)] == [first.to_send, second.to_send]


def test_the_header_keeps_the_config() -> None:
    config = Config(
        dialect="beta", strict=True, max_in_flight=7, audio_retention=AudioRetention.PER_ITEM
    )
    recorder = Recorder()
    ClientConnection(config=config, plugins=[recorder])
    header = json.loads(recorder.lines[0])
    assert header["config"]["max_in_flight"] == 7
    assert header["config"]["audio_retention"] == "per_item"
    assert header["fresh"] is True
    assert list(replay(recorder.lines)) == []


def test_a_ga_session_replays_with_its_dialect() -> None:
    recorder = Recorder()
    client = ClientConnection(config=Config(dialect="ga", strict=True), plugins=[recorder])
    loop = Loop(client=client, responder=ScriptedResponder(["Hi."]), dialect="ga").start()
    loop.send(c.ResponseCreate(response=TEXT))
    loop.check()
    assert json.loads(recorder.lines[0])["config"]["dialect"] == "ga"
    replayed = list(replay(recorder.lines))
    assert replayed[-1].after == client.state and client.state.items[-1].text == "Hi."


def test_an_edited_line_breaks_the_hash_chain() -> None:
    recorder, _ = recorded_session()
    lines = list(recorder.lines)
    index = next(i for i, line in enumerate(lines) if "Hello!" in line)
    lines[index] = lines[index].replace("Hello!", "Howdy!", 1)
    with pytest.raises(JournalError, match="hash chain breaks") as info:
        list(replay(lines))
    assert info.value.line == index + 1


def test_a_dropped_line_breaks_the_hash_chain() -> None:
    recorder, _ = recorded_session()
    lines = list(recorder.lines)
    del lines[10]
    with pytest.raises(JournalError, match="hash chain") as info:
        list(replay(lines))
    assert info.value.line == 11


def test_a_journal_cut_inside_a_call_is_refused_after_the_exact_steps() -> None:
    recorder, original = recorded_session()
    cut = next(i for i, line in enumerate(recorder.lines) if '"call":"send"' in line) + 1
    replayed: list[Step] = []
    with pytest.raises(JournalError, match="ends inside this call") as info:
        replayed.extend(replay(recorder.lines[:cut]))
    assert info.value.line == cut
    assert replayed == original[: len(replayed)] and replayed


class Greeter:
    def on_session_started(self, t: SessionStarted, step: Step) -> c.ResponseCreate:
        return c.ResponseCreate(response=TEXT)


def test_replay_without_a_plugin_that_returned_events_says_where_it_differs() -> None:
    recorder = Recorder()
    conn = ClientConnection(config=BETA, plugins=[recorder, Greeter()])
    conn.receive('{"type": "session.created", "event_id": "e1", "session": {}}')
    with pytest.raises(JournalError, match="differs in frames") as info:
        list(replay(recorder.lines))
    assert info.value.line == 4  # header, the frame, the id, then the result
    # with the plugin given again, it replays
    assert len(list(replay(recorder.lines, plugins=[Greeter()]))) == 1


def test_not_a_journal_and_an_empty_journal() -> None:
    with pytest.raises(JournalError, match="line 1: not a journal record"):
        list(replay(['{"type": "session.created", "session": {}}']))
    with pytest.raises(JournalError, match="empty"):
        list(replay([]))


def test_a_journal_from_a_state_that_was_not_fresh_needs_that_state() -> None:
    start = rtstate.SessionState(phase=SessionPhase.OPEN)
    recorder = Recorder()
    conn = ClientConnection(config=BETA, plugins=[recorder], state=start)
    step = conn.send(c.ResponseCreate())
    with pytest.raises(JournalError, match="not fresh"):
        list(replay(recorder.lines))
    assert [s.to_send for s in replay(recorder.lines, state=start)] == [step.to_send]


def test_calls_that_change_nothing_and_cannot_be_journaled_are_left_out() -> None:
    recorder = Recorder()
    conn = ClientConnection(config=BETA, plugins=[recorder])
    with pytest.raises(rtstate.LocalProtocolError):
        conn.send("not an event")  # type: ignore[arg-type]
    with pytest.raises(rtstate.LocalProtocolError):
        conn.playback("item_1", -5)  # journaled: it raises again on replay
    assert len(recorder.lines) == 3  # header, the playback call, its error
    assert list(replay(recorder.lines)) == []


def test_a_recorder_detached_stops_and_without_taps_the_connection_is_untouched() -> None:
    recorder = Recorder()
    conn = ClientConnection(config=BETA, plugins=[recorder])
    conn.receive('{"type": "session.created", "event_id": "e1", "session": {}}')
    recorder.stop()
    count = len(recorder.lines)
    conn.send(c.ResponseCreate())
    assert len(recorder.lines) == count and not recorder.recording
    with pytest.raises(rtstate.plugins.PluginError, match="one connection"):
        ClientConnection(config=BETA, plugins=[recorder, recorder])
