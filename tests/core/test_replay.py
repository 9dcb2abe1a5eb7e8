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
from collections.abc import Sequence

import pytest
from rtstate_plugins import Recorder
from support import DATA
from support.helpers import user_text
from support.server_harness import Loop

import rtstate
from rtstate import ClientConnection, Config, Step
from rtstate.config import AudioRetention
from rtstate.events import client as c
from rtstate.events.payloads import Item, ResponseParams, SessionConfig, Tool
from rtstate.journal import JOURNAL_VERSION, JournalError, replay
from rtstate.server import FunctionCall, ScriptedResponder, ServerConfig
from rtstate.state import SessionPhase
from rtstate.step import Malformed
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


def test_a_journal_that_ends_inside_a_call_replays_the_calls_before_and_says_where() -> None:
    recorder, original = recorded_session()
    cut = next(i for i, line in enumerate(recorder.lines) if '"call":"send"' in line) + 1
    replayed = replay(recorder.lines[:cut])
    first = next(replayed)
    assert replayed.truncated is None  # not known before the end
    steps = [first, *replayed]
    assert steps == original[: len(steps)] and steps
    assert replayed.truncated is not None
    assert replayed.truncated.line == cut
    assert "ends inside this call" in replayed.truncated.reason


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


# --- crashes, canonical hashing, text frames, the old format ---------------------------------

OLD = DATA / "journals" / "v1-ga-loopback.jsonl"
"""A version 1 journal, written over loopback (rtstate.serve, rtstate.connect) by the
Recorder before version 2: frames as base64, the hash over the bytes as written."""


def _results(lines: Sequence[str]) -> int:
    """How many recorded calls returned a Step (their result is an ``out`` record)."""
    return sum(json.loads(line).get("dir") == "out" for line in lines)


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def test_a_journal_cut_anywhere_by_a_crash_replays_up_to_the_cut_and_says_where() -> None:
    recorder, original = recorded_session()
    text = "".join(line + "\n" for line in recorder.lines)
    stride = len(text) // 41
    positions = {*range(len(recorder.lines[0]) + 1, len(text), stride), len(text) - 3}
    ends = [len("".join(line + "\n" for line in recorder.lines[:n])) for n in (2, 3, 4)]
    positions |= {*ends, *(e - 1 for e in ends)}  # between two lines, or before a newline
    for position in sorted(positions):
        lines = text[:position].splitlines()
        whole = [line for line in lines if _parses(line)]
        assert len(lines) - len(whole) <= 1
        replayed = replay(lines)
        steps = list(replayed)  # never raises: a cut is not an edit
        assert steps == original[: _results(whole)], position
        truncated = replayed.truncated
        kinds = [
            "result"
            if r.get("dir") == "out" or r.get("call") == "raised"
            else "id"
            if r.get("call") == "id"
            else "header"
            if "journal" in r
            else "call"
            for r in map(json.loads, whole)
        ]
        if kinds[-1] in ("result", "header") and len(whole) == len(lines):
            assert truncated is None, position  # cut between two calls: nothing to tell
        elif kinds[-1] in ("result", "header"):
            assert truncated is not None, position
            assert truncated.line == len(lines)  # the cut line itself
            assert "the last line is cut mid-record" in truncated.reason
        else:  # inside a call: the report names the call's first line
            assert truncated is not None, position
            call_line = max(i + 1 for i, kind in enumerate(kinds) if kind == "call")
            assert truncated.line == call_line, position
            assert str(truncated).startswith(f"line {call_line}: ")
            assert "not replayed" in truncated.reason


def test_a_line_cut_before_the_last_is_an_error_not_a_truncation() -> None:
    recorder, _ = recorded_session()
    lines = list(recorder.lines)
    lines[7] = lines[7][:30]
    with pytest.raises(JournalError, match="not the last line") as info:
        list(replay(lines))
    assert info.value.line == 8
    with pytest.raises(JournalError, match="header is cut"):
        list(replay([recorder.lines[0][:40]]))


def test_an_edited_last_line_that_still_parses_is_an_edit_not_a_truncation() -> None:
    recorder, _ = recorded_session()
    lines = list(recorder.lines)
    last = json.loads(lines[-1])
    last["revision"] += 1
    lines[-1] = json.dumps(last)
    with pytest.raises(JournalError, match="hash chain breaks") as info:
        list(replay(lines))
    assert info.value.line == len(lines)


def test_a_reordered_pair_of_lines_breaks_the_chain() -> None:
    recorder, _ = recorded_session()
    lines = list(recorder.lines)
    lines[20], lines[21] = lines[21], lines[20]
    with pytest.raises(JournalError, match="hash chain breaks") as info:
        list(replay(lines))
    assert info.value.line == 21


def _reserialized(line: str) -> str:
    """The record as another JSON writer might put it: spaces, keys reversed, no escapes."""
    record = json.loads(line)
    return json.dumps(dict(reversed(record.items())), ensure_ascii=False)


def test_a_journal_reserialized_with_spaces_and_another_key_order_still_verifies() -> None:
    recorder, original = recorded_session()
    lines = [_reserialized(line) for line in recorder.lines]
    assert lines != recorder.lines and '", "' in lines[1]
    assert list(replay(lines)) == original
    # and an edit is still found
    index = next(i for i, line in enumerate(lines) if "Hello!" in line)
    lines[index] = lines[index].replace("Hello!", "Howdy!", 1)
    with pytest.raises(JournalError, match="hash chain breaks") as info:
        list(replay(lines))
    assert info.value.line == index + 1


def test_frames_received_as_bytes_are_kept_as_text_and_replay_as_bytes() -> None:
    recorder = Recorder()
    conn = ClientConnection(config=BETA, plugins=[recorder])
    created = b'{"type": "session.created", "event_id": "e1", "session": {"voice": "caf\xc3\xa9"}}'
    steps = [
        conn.receive(created),  # what a socket delivers: a text message's UTF-8 bytes
        conn.receive(b"not json"),  # malformed: its input keeps the bytes
        conn.receive(b"\xff\xfe not UTF-8"),  # only such bytes stay base64
        conn.receive('{"type": "rate_limits.updated", "event_id": "e2", "rate_limits": []}'),
    ]
    records = [json.loads(line) for line in recorder.lines]
    received = [r for r in records if r.get("dir") == "in"]
    assert received[0]["frame"] == created.decode() and received[0]["bytes"] is True
    assert "café" in received[0]["frame"] and "frame_b64" not in received[0]
    assert received[1] == {**received[1], "frame": "not json", "bytes": True}
    assert "frame_b64" in received[2] and "frame" not in received[2]
    assert "bytes" not in received[3] and "rate_limits.updated" in received[3]["frame"]
    assert "session.created" in recorder.lines[1]  # greppable
    replayed = list(replay(recorder.lines))
    assert replayed == steps
    assert isinstance(replayed[1].input, Malformed) and replayed[1].input.frame == b"not json"
    # another writer's UTF-8 ("café" unescaped), spaces and key order: the same Steps
    rewritten = [_reserialized(line) for line in recorder.lines]
    assert "café" in rewritten[1] and list(replay(rewritten)) == steps


def test_the_header_says_version_2_and_other_versions_are_refused() -> None:
    recorder = Recorder()
    ClientConnection(config=BETA, plugins=[recorder])
    assert JOURNAL_VERSION == 2 and json.loads(recorder.lines[0])["v"] == 2
    header = json.loads(recorder.lines[0])
    header["v"] = 3
    with pytest.raises(JournalError, match="version 3; this rtstate reads versions 1 and 2"):
        list(replay([json.dumps(header)]))
    header["v"] = True  # JSON true is not version 1
    with pytest.raises(JournalError, match="version True; this rtstate reads"):
        list(replay([json.dumps(header)]))


def test_a_version_1_journal_still_replays() -> None:
    lines = OLD.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["v"] == 1
    assert sum('"frame_b64":' in line for line in lines) > 10  # frames as base64
    replayed = replay(lines)
    steps = list(replayed)
    assert replayed.truncated is None and len(steps) == _results(lines) == 25
    state = steps[-1].after
    assert [(i.role, i.text) for i in state.items] == [
        ("user", "Héllo ☕ there"),
        ("assistant", "You said: Héllo ☕ there"),
    ]
    # spacing may change (the line is parsed), an edit is found, a cut last line is told
    assert list(replay([line.replace('","', '", "') for line in lines])) == steps
    edited = [line.replace("Caf\\u00e9", "Cafe", 1) for line in lines]
    assert edited != lines
    with pytest.raises(JournalError, match="hash chain breaks"):
        list(replay(edited))
    cut = replay([*lines, lines[-2][:50]])
    assert list(cut) == steps and cut.truncated is not None
    assert cut.truncated.line == len(lines) + 1
