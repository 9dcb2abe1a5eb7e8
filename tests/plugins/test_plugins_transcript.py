"""``rtstate_plugins.transcript``: the conversation in conversation order, as text and
Markdown, against the fake server."""

from __future__ import annotations

import json

import pytest
import rtstate_plugins.transcript as transcript_module
from hypothesis import given, settings
from hypothesis import strategies as st
from rtstate_plugins import Transcript
from rtstate_plugins.transcript import Entry, entries, render_markdown, render_text
from support.dialects import in_dialects
from support.helpers import Server, user_text
from support.server_harness import Loop, silence, tone

import rtstate
from rtstate import ClientConnection, Config
from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events.client import UnknownClientEvent
from rtstate.events.payloads import (
    InputAudioTranscription,
    Item,
    ResponseParams,
    SessionConfig,
    Tool,
)
from rtstate.server import EchoResponder, FunctionCall, ScriptedResponder, ServerConfig
from rtstate.state import ItemState
from rtstate.testing.script import Script
from rtstate.testing.strategies import sessions

TEXT = ResponseParams(modalities=("text",))
WEATHER = Tool(name="get_weather", parameters={"type": "object", "properties": {}})


def test_a_text_and_tool_conversation_as_text_and_markdown() -> None:
    changes: list[int] = []
    transcript = Transcript(on_change=lambda t: changes.append(len(t.entries)))
    client = ClientConnection(config=Config(strict=True), plugins=[transcript])
    script = ScriptedResponder(
        ["Hi there.", FunctionCall(name="get_weather", arguments='{"city":"Oslo"}'), "Sunny."]
    )
    loop = Loop(client=client, responder=script).start()
    loop.send(c.SessionUpdate(session=SessionConfig(tools=(WEATHER,))))
    loop.send(user_text("Hello"))
    loop.send(c.ResponseCreate(response=TEXT))
    loop.send(c.ResponseCreate(response=TEXT))
    call = loop.client.state.items[-1]
    assert call.call_id is not None
    output = Item(type="function_call_output", call_id=call.call_id, output='{"sky":"clear"}')
    loop.send(c.ConversationItemCreate(item=output))
    loop.send(c.ResponseCreate(response=TEXT))
    loop.check()
    assert transcript.text() == "\n".join(
        [
            "user: Hello",
            "assistant: Hi there.",
            'assistant -> get_weather({"city":"Oslo"})',
            'get_weather -> {"sky":"clear"}',
            "assistant: Sunny.",
        ]
    )
    assert transcript.markdown().split("\n\n") == [
        "**User:** Hello",
        "**Assistant:** Hi there.",
        '**Assistant** calls `get_weather` with `{"city":"Oslo"}`',
        '**Tool** `get_weather` returned `{"sky":"clear"}`',
        "**Assistant:** Sunny.",
    ]
    assert changes[-1] == 5 and changes == sorted(changes)
    assert transcript.entries is transcript.entries  # computed once per state


def test_a_late_input_transcription_lands_at_its_items_place() -> None:
    """Real servers send the transcription in the middle of the next response: the
    server's frames are replayed with the transcription moved after response.done."""
    loop = Loop(responder=EchoResponder(prefix="Echo: ")).start()
    loop.send(
        c.SessionUpdate(
            session=SessionConfig(
                modalities=("text",),
                input_audio_transcription=InputAudioTranscription(model="whisper-1"),
            )
        )
    )
    loop.append(silence(300) + tone(800) + silence(700))
    loop.check()
    frames = list(loop.frames)
    late = next(f for f in frames if "input_audio_transcription.completed" in f)
    frames.remove(late)
    done = max(i for i, f in enumerate(frames) if json.loads(f)["type"] == "response.done")
    frames.insert(done + 1, late)

    transcript = Transcript()
    client = ClientConnection(config=Config(dialect="beta"), plugins=[transcript])
    for frame in frames[: done + 1]:
        assert client.receive(frame).diagnostics == ()
    before = transcript.entries
    assert [e.role for e in before] == ["user", "assistant"]
    assert before[0].awaiting_transcript and before[0].text == ""
    assert "[audio, no transcript yet]" in transcript.text().splitlines()[0]
    client.receive(frames[done + 1])
    after = transcript.entries
    assert [e.role for e in after] == ["user", "assistant"]  # not appended at the end
    assert after[0].text == "[synthetic transcript of 1.3 s of audio]"
    assert not after[0].awaiting_transcript
    assert transcript.text().splitlines()[0] == "user: [synthetic transcript of 1.3 s of audio]"
    assert entries(client.state) == after


def test_an_interrupted_audio_answer_is_marked() -> None:
    script = ScriptedResponder(["A long answer that will be cut off part way through."])
    transcript = Transcript()
    client = ClientConnection(config=Config(strict=True), plugins=[transcript])
    loop = Loop(client=client, responder=script, config=ServerConfig(delta_interval=0.02))
    loop.start()
    loop.send(c.ResponseCreate())
    loop.advance(0.2)
    item = loop.client.state.items[-1]
    assert transcript.entries[-1].in_progress
    assert render_text(transcript.entries).endswith("[...]")
    loop.playback(item.id, 120)
    loop.interrupt()
    loop.drain()
    loop.check()
    last = transcript.entries[-1]
    assert last.audio and last.truncated_ms == 120 and not last.in_progress
    assert render_text([last]).endswith("[interrupted at 0.1 s]")
    assert render_markdown([last]).endswith("_(interrupted at 0.1 s)_")


def test_a_delta_renders_only_the_item_it_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Transcript.entries`` keeps each item's entry while its ``ItemState`` is the same
    object: per delta, only the growing item is rendered again, however long the
    conversation (and an output's call name still follows its call)."""
    rendered: list[str] = []
    render = transcript_module._entry

    def counting(item: ItemState, name: str | None) -> Entry:
        rendered.append(item.id)
        return render(item, name)

    monkeypatch.setattr(transcript_module, "_entry", counting)
    per_change: list[list[str]] = []

    def redraw(t: Transcript) -> None:
        rendered.clear()
        shown = t.entries
        per_change.append(list(rendered))
        assert shown == entries(t.state)  # the uncached computation renders every item

    transcript = Transcript(on_change=redraw)
    client = ClientConnection(plugins=[transcript])
    srv = Server()
    client.receive_event(srv.session_created())
    for n in range(40):
        client.receive_event(srv.user_message(f"message {n}"))
    call_events = srv.function_call_response("get_weather", ['{"city"', ':"Oslo"}'])
    for event in call_events:
        client.receive_event(event)
    call = client.state.items[-1]
    assert call.call_id is not None
    client.receive_event(srv.function_call_output(call.call_id, '{"sky":"clear"}'))
    per_change.clear()
    events = srv.text_response([f"word {n} " for n in range(30)])
    for event in events:
        client.receive_event(event)
    answer = client.state.items[-1].id
    assert len(per_change) >= 30
    assert all(ids in ([], [answer]) for ids in per_change)
    assert sum(ids == [answer] for ids in per_change) >= 30  # one render per delta
    assert transcript.entries[-1].text == "".join(f"word {n} " for n in range(30))

    output = transcript.entries[-2]
    assert output.kind == "function_call_output" and output.name == "get_weather"
    client.send(c.ConversationItemDelete(item_id=call.id))
    client.receive_event(srv.deleted(call.id))
    output = next(e for e in transcript.entries if e.item_id == output.item_id)
    assert output.name is None  # its call is gone: re-rendered, not the cached name
    assert transcript.entries == entries(client.state)


@settings(max_examples=60)
@given(in_dialects(sessions, max_flows=6), st.data())
def test_cached_entries_equal_a_fresh_computation_at_every_step(
    case: tuple[Dialect, Script], data: st.DataObject
) -> None:
    script = case[1]  # a session of either dialect
    transcript = Transcript()
    state = rtstate.SessionState()
    for _, event in script.events:
        if isinstance(event, UnknownClientEvent):
            continue
        step = rtstate.fold(state, event)
        state = step.after
        transcript.on_step(step)
        if data.draw(st.booleans(), label="look"):  # some Steps go unseen by the cache
            assert transcript.entries == entries(state)
    assert transcript.entries == entries(state)
