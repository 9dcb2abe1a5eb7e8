"""``rtstate.build``: the builders of common client events.

Each built event goes through the fake server (``support.server_harness.Loop``: a
strict client and ``ServerConnection`` back to back) in both dialects and is accepted:
no ``error``, zero client diagnostics, a valid stream, and the server holds what was
meant. The wire shapes are the documented ones, and what the protocol never allows is
refused with ``LocalProtocolError`` before anything is built.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import pytest
from support.server_harness import Loop, tone

from rtstate import LocalProtocolError, build
from rtstate.codec import codec_for
from rtstate.config import Dialect
from rtstate.events import (
    ContentPart,
    ConversationItemCreate,
    InputAudioBufferAppend,
    InputAudioBufferCommit,
    Item,
    ResponseCreate,
    SessionConfig,
    SessionUpdate,
    Tool,
)
from rtstate.server import FunctionCall, ResponseRequest, ScriptedResponder
from rtstate.transitions import ResponseFinished, ResponseStarted

DIALECTS: tuple[Dialect, ...] = ("ga", "beta")


def loop(dialect: Dialect, responder: Any = None) -> Loop:
    return Loop(dialect=dialect, responder=responder or ScriptedResponder(["ok"], cycle=True))


def test_user_text_is_the_four_constructors() -> None:
    assert build.user_text("Hello") == ConversationItemCreate(
        item=Item(
            type="message", role="user", content=(ContentPart(type="input_text", text="Hello"),)
        )
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_messages_are_accepted_and_answered(dialect: Dialect) -> None:
    heard: list[list[tuple[str | None, str]]] = []

    def answer(request: ResponseRequest) -> str:
        heard.append([(i.role, i.parts[0].text) for i in request.items])
        return "Hi."

    lp = loop(dialect, ScriptedResponder(answer)).start()
    lp.send(build.system_text("Be brief.", item_id="item_s"))
    lp.send(build.assistant_text("Welcome back.", item_id="item_a", previous_item_id="item_s"))
    lp.send(build.user_text("Hello", item_id="item_u"))
    lp.send(build.response_create(output_modalities=["text"]))
    lp.drain()
    lp.check()
    assert lp.errors() == []
    assert heard == [[("system", "Be brief."), ("assistant", "Welcome back."), ("user", "Hello")]]
    state = lp.client.state
    assert [i.id for i in state.items][:3] == ["item_s", "item_a", "item_u"]
    assert state.items[-1].text == "Hi."


@pytest.mark.parametrize("dialect", DIALECTS)
def test_user_audio_is_accepted_as_base64_of_the_bytes(dialect: Dialect) -> None:
    pcm = tone(200)
    event = build.user_audio(pcm, item_id="item_au")
    part = event.item.content[0]  # type: ignore[index]
    assert part.type == "input_audio" and part.audio is not None
    assert json.loads(codec_for(dialect).encode(event))["item"]["content"][0]["audio"] == (
        part.audio
    )
    assert base64.b64decode(part.audio) == pcm
    lp = loop(dialect).start()
    lp.send(event)
    lp.send(build.response_create())
    lp.drain()
    lp.check()
    assert lp.errors() == []
    (item, *_) = lp.client.state.items
    assert item.id == "item_au" and item.role == "user" and item.parts[0].type == "input_audio"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_audio_append_fills_the_input_buffer(dialect: Dialect) -> None:
    lp = loop(dialect).start()
    lp.send(SessionUpdate(session=SessionConfig(turn_detection=None)))
    pcm = tone(300)
    for start in range(0, len(pcm), 4800):  # 100 ms chunks
        lp.send(build.audio_append(pcm[start : start + 4800]))
    committed = lp.send(InputAudioBufferCommit())
    lp.check()
    assert lp.errors() == []
    assert "input_audio_buffer.committed" in lp.types(committed)
    appended = [e for e in lp.client_events if isinstance(e, InputAudioBufferAppend)]
    assert b"".join(base64.b64decode(e.audio) for e in appended) == pcm


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    ("output", "text"),
    [
        ({"temp": 21, "sky": "clear"}, '{"temp": 21, "sky": "clear"}'),
        ("already text", "already text"),
        ([1, 2.5, None, True], "[1, 2.5, null, true]"),
        ("ü", "ü"),
        ({"city": "Zürich"}, '{"city": "Zürich"}'),
    ],
)
def test_function_output_answers_a_call(dialect: Dialect, output: object, text: str) -> None:
    outputs: list[str | None] = []

    def reply(request: ResponseRequest) -> Any:
        done = [i.output for i in request.items if i.type == "function_call_output"]
        if not done:
            return FunctionCall(name="weather", arguments="{}", call_id="call_1")
        outputs.extend(done)
        return "Sunny."

    lp = loop(dialect, ScriptedResponder(reply)).start()
    lp.send(build.user_text("Weather?"))
    lp.send(build.response_create(tools=[Tool(name="weather", parameters={"type": "object"})]))
    lp.drain()
    lp.send(build.function_output("call_1", output))
    lp.send(build.response_create(output_modalities=["audio"]))
    lp.drain()
    lp.check()
    assert lp.errors() == []
    assert outputs == [text]
    assert lp.client.state.items[-1].transcript == "Sunny."  # spoken, with its transcript


@pytest.mark.parametrize("dialect", DIALECTS)
def test_response_create_with_options_runs_out_of_band(dialect: Dialect) -> None:
    seen: list[Any] = []

    def answer(request: ResponseRequest) -> str:
        seen.append(request)
        return "Summary."

    lp = loop(dialect, ScriptedResponder(answer)).start()
    lp.send(build.user_text("The weather is fine.", item_id="item_u1"))
    lp.send(
        build.response_create(
            instructions="Summarise.",
            output_modalities=["text"],
            conversation="none",
            metadata={"topic": "summary"},
            tools=[Tool(name="f", parameters={"type": "object"})],
            tool_choice="none",
            input=[build.item_reference("item_u1"), build.user_text("Summarise it.").item],
            max_output_tokens=200,
        )
    )
    lp.drain()
    while lp.server.responses_in_progress:
        due = lp.server.next_deadline()
        assert due is not None
        lp.advance(due - lp.now)
    lp.check()
    assert lp.errors() == []
    (request,) = seen
    assert request.session.instructions == "Summarise."
    assert request.session.modalities == ("text",)
    assert [i.id for i in request.items][:1] == ["item_u1"]
    started = [t for s in lp.client_steps for t in s.transitions if isinstance(t, ResponseStarted)]
    finished = [
        t for s in lp.client_steps for t in s.transitions if isinstance(t, ResponseFinished)
    ]
    assert [(t.out_of_band, dict(t.metadata or {})) for t in started] == [
        (True, {"topic": "summary"})
    ]
    assert [(t.out_of_band, t.status) for t in finished] == [(True, "completed")]
    assert [i.id for i in lp.client.state.items] == ["item_u1"]  # out of band: not added


@pytest.mark.parametrize(
    ("dialect", "given", "wire"),
    [
        ("ga", ["audio"], {"output_modalities": ["audio"]}),
        ("ga", ["text"], {"output_modalities": ["text"]}),
        ("beta", ["audio"], {"modalities": ["audio", "text"]}),
        ("beta", ("text", "audio"), {"modalities": ["audio", "text"]}),
        ("beta", ["text"], {"modalities": ["text"]}),
    ],
)
def test_output_modalities_in_each_dialect(
    dialect: Dialect, given: Any, wire: dict[str, Any]
) -> None:
    frame = json.loads(codec_for(dialect).encode(build.response_create(output_modalities=given)))
    assert frame == {"type": "response.create", "response": wire}


def test_the_wire_shapes() -> None:
    ga = codec_for("ga")
    assert json.loads(ga.encode(build.response_create())) == {"type": "response.create"}
    assert json.loads(ga.encode(build.user_text("hi"))) == {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "hi"}],
        },
    }
    assert json.loads(ga.encode(build.assistant_text("yo")))["item"]["content"] == [
        {"type": "output_text", "text": "yo"}
    ]
    assert json.loads(ga.encode(build.function_output("call_9", {"a": 1}))) == {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "call_9", "output": '{"a": 1}'},
    }
    assert json.loads(ga.encode(build.audio_append(b"\x01\x00\xff\x7f"))) == {
        "type": "input_audio_buffer.append",
        "audio": "AQD/fw==",
    }
    params = build.response_create(conversation="none", metadata={"k": "v"}, voice="marin")
    assert json.loads(ga.encode(params))["response"] == {
        "conversation": "none",
        "metadata": {"k": "v"},
        "audio": {"output": {"voice": "marin"}},
    }
    assert json.loads(ga.encode(build.response_create(max_output_tokens="inf")))["response"] == {
        "max_output_tokens": "inf"
    }


def test_the_built_values_are_immutable() -> None:
    source = {"k": "v"}
    event = build.response_create(metadata=source, input=[build.item_reference("item_1")])
    source["k"] = "changed"
    assert event.response is not None and event.response.metadata == {"k": "v"}
    with pytest.raises(TypeError):
        event.response.metadata["k"] = "x"  # type: ignore[index]
    assert isinstance(event.response.input, tuple)
    assert isinstance(build.audio_append(bytearray(b"\0\0")), InputAudioBufferAppend)
    assert build.audio_append(memoryview(b"\0\0")).audio == "AAA="


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: build.audio_append(b"\0" * 33), "33 bytes"),
        (lambda: build.user_audio(b"\0\0\0"), "odd count"),
        (lambda: build.audio_append("AAAA"), "not str"),  # type: ignore[arg-type]
        (lambda: build.function_output("call_1", {1, 2}), "not JSON"),
        (lambda: build.function_output("call_1", math.nan), "not JSON"),
        (lambda: build.function_output("call_1", object()), "not JSON"),
        (lambda: build.response_create(output_modalities=[]), "output_modalities"),
        (lambda: build.response_create(output_modalities=["video"]), "output_modalities"),  # type: ignore[list-item]
        (lambda: build.response_create(output_modalities="text"), "not a string"),  # type: ignore[arg-type]
        (lambda: build.response_create(metadata={"n": 1}), "metadata"),  # type: ignore[dict-item]
        (lambda: build.response_create(max_output_tokens=0), "max_output_tokens"),
        (lambda: build.response_create(max_output_tokens=True), "max_output_tokens"),
        (lambda: build.response_create(max_output_tokens="many"), "max_output_tokens"),  # type: ignore[arg-type]
    ],
)
def test_what_the_protocol_never_allows_is_refused(call: Any, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        call()


def test_odd_lengths_are_fine_for_g711() -> None:
    assert build.audio_append(b"\x7f" * 3, audio_format="g711_ulaw").audio == "f39/"
    event = build.user_audio(b"\x7f", audio_format="g711_alaw")
    assert isinstance(event, ConversationItemCreate)


def test_a_refused_build_leaves_the_connection_unchanged() -> None:
    lp = loop("ga").start()
    before = lp.client.state
    with pytest.raises(LocalProtocolError):
        lp.send(build.audio_append(b"\0"))
    assert lp.client.state is before
    assert isinstance(build.response_create(), ResponseCreate)
