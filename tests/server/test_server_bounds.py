"""The fake server bounds the work and memory one client can cause.

Per bound: the sans-IO server shows the bound (measured by what one Step builds or
renders, never by time), and a transport test runs an abusive session beside a
well-behaved one on the same ``Server`` (in memory, asyncio and trio): the abuse gets
its error or its capped answer, and the other session completes unaffected.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import attrs
import pytest
from support.helpers import user_text
from support.server_harness import Loop, b64, silence, tone

from rtstate import transitions as t
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    Item,
    ResponseParams,
    SessionConfig,
    Tool,
    TurnDetection,
)
from rtstate.server import (
    EchoResponder,
    ScriptedResponder,
    ServerConfig,
    SyntheticVoice,
)
from rtstate.server import validate as v
from rtstate.server.audio import Utterance
from rtstate.transport import AsyncConnection, Server, connect_in_memory

LONG = "hello world " * 1667  # 20,004 characters


# --- a voice that counts what it renders --------------------------------------------------


@attrs.frozen
class _Counted:
    inner: Utterance
    rendered: list[int]

    @property
    def size(self) -> int:
        return self.inner.size

    def render(self, start: int, end: int) -> bytes:
        self.rendered.append(end - start)
        return self.inner.render(start, end)


@attrs.define
class CountingVoice:
    """``SyntheticVoice``, recording the size of every range it renders."""

    inner: SyntheticVoice = attrs.field(factory=SyntheticVoice)
    rendered: list[int] = attrs.field(factory=list)

    def synthesize(self, text: str, voice: str, audio_format: str) -> bytes:
        audio = self.utterance(text, voice, audio_format)
        return audio.render(0, audio.size)

    def utterance(self, text: str, voice: str, audio_format: str) -> Utterance:
        return _Counted(self.inner.utterance(text, voice, audio_format), self.rendered)


def frames_bytes(frames: list[str] | tuple[str, ...]) -> int:
    return sum(len(f) for f in frames)


def echo_step(text: str, **config: Any) -> tuple[int, s.ResponseDone]:
    """Bytes the Step answering ``response.create`` writes, and its ``response.done``."""
    loop = Loop(config=ServerConfig(**config)).start()
    loop.send(user_text(text))
    events = loop.send(c.ResponseCreate())
    loop.check()
    done = next(e for e in events if isinstance(e, s.ResponseDone))
    return frames_bytes(loop.server_steps[-1].to_send), done


# --- amplification: reply length, incremental synthesis --------------------------------


def test_a_long_user_text_gets_a_capped_reply() -> None:
    short, short_done = echo_step("hello world " * 167)  # 2,000 characters: not capped
    big, done = echo_step(LONG)
    bigger, _ = echo_step(LONG * 2)
    assert short_done.response.status == "completed"
    assert done.response.status == "incomplete"
    assert done.response.status_details is not None
    assert done.response.status_details.reason == "max_output_tokens"
    usage = done.response.usage
    assert usage is not None and usage.output_tokens is not None
    assert usage.output_tokens <= 4096  # text and audio tokens, as the service counts
    # ten times the input, well under twice the output; twice again: not a byte more
    assert big < 2 * short
    assert bigger < big * 1.001  # the same reply (only the input token counts differ)


def test_the_output_cap_is_a_config_bound() -> None:
    small, done = echo_step(LONG, max_output_tokens=100)
    big, _ = echo_step(LONG)
    assert done.response.usage is not None and done.response.usage.output_tokens is not None
    assert done.response.usage.output_tokens <= 100
    assert small * 10 < big


def test_max_response_output_tokens_counts_audio() -> None:
    loop = Loop(responder=ScriptedResponder(["x" * 400])).start()
    events = loop.send(c.ResponseCreate(response=ResponseParams(max_response_output_tokens=20)))
    done = next(e for e in events if isinstance(e, s.ResponseDone)).response
    assert done.status == "incomplete" and done.usage is not None
    assert done.usage.output_tokens is not None and done.usage.output_tokens <= 20
    item = loop.client.state.items[-1]
    assert 0 < item.audio_ms <= 20 * 50
    loop.check()


def test_audio_is_rendered_as_deltas_fall_due() -> None:
    voice = CountingVoice()
    config = ServerConfig(delta_interval=0.05)
    loop = Loop(config=config, voice=voice).start()
    loop.send(user_text(LONG))
    loop.send(c.ResponseCreate())
    assert voice.rendered == []  # planning rendered nothing
    per_delta = config.chunking.audio_ms * 48
    for _ in range(20):
        rendered = len(voice.rendered)
        loop.advance(0.05)
        assert len(voice.rendered) - rendered <= 2  # a delta per interval (clock rounding)
    assert 10 <= len(voice.rendered) <= 21  # 1 s: ~20 deltas due, transcript ones among them
    assert max(voice.rendered) <= per_delta
    loop.drain()
    item = loop.client.state.items[-1]
    assert sum(voice.rendered) == round(item.audio_ms * 48)  # every byte once, no more
    loop.check()


def test_with_no_interval_one_step_renders_at_most_the_cap() -> None:
    voice = CountingVoice()
    loop = Loop(voice=voice).start()
    loop.send(user_text(LONG * 2))
    loop.send(c.ResponseCreate())
    assert 0 < sum(voice.rendered) <= 4096 * 50 * 48  # the cap's audio, not 40,000 chars'
    loop.check()


@pytest.mark.parametrize("fmt", ["pcm16", "g711_ulaw"])
@pytest.mark.parametrize("kind", ["tone", "noise"])
def test_any_range_of_the_synthetic_voice_renders_alone(kind: str, fmt: str) -> None:
    voice = SyntheticVoice(kind=kind)  # type: ignore[arg-type]
    text = "Ranges, rendered alone, give the same bytes as the whole."
    whole = voice.synthesize(text, "alloy", fmt)
    audio = voice.utterance(text, "alloy", fmt)
    assert audio.size == len(whole) == voice.duration_ms(text) * (48 if fmt == "pcm16" else 8)
    step = 1234 * (2 if fmt == "pcm16" else 1)
    pieces = [audio.render(i, i + step) for i in range(0, audio.size, step)]
    assert b"".join(pieces) == whole
    assert voice.synthesize(text, "alloy", fmt) == whole  # deterministic


# --- the input audio buffer ---------------------------------------------------------------

MANUAL = SessionConfig(turn_detection=None)


def test_an_append_past_the_buffer_bound_is_refused() -> None:
    config = ServerConfig(max_input_audio_buffer_bytes=48 * 1000)  # one second of pcm16
    loop = Loop(config=config).start()
    loop.send(c.SessionUpdate(session=MANUAL))
    loop.send(c.InputAudioBufferAppend(audio=b64(silence(900))))
    events = loop.send(c.InputAudioBufferAppend(audio=b64(silence(200))))
    assert [e.error.code for e in events if isinstance(e, s.Error)] == [
        "input_audio_buffer_too_large"
    ]
    assert loop.server.state.input_buffer.appended_ms == 900  # the refused audio is not held
    loop.send(c.InputAudioBufferAppend(audio=b64(silence(100))))  # still room for this
    events = loop.send(c.InputAudioBufferCommit())
    assert "input_audio_buffer.committed" in loop.types(events)
    loop.send(c.InputAudioBufferAppend(audio=b64(silence(900))))  # empty again
    assert loop.errors()[-1].code == "input_audio_buffer_too_large"
    assert len(loop.errors()) == 1
    loop.check()


def test_server_vad_keeps_only_the_newest_audio() -> None:
    config = ServerConfig(max_input_audio_buffer_bytes=48 * 1000)
    loop = Loop(config=config, responder=ScriptedResponder(["ok"], cycle=True)).start()
    loop.send(
        c.SessionUpdate(
            session=SessionConfig(
                turn_detection=TurnDetection(type="server_vad"),
                input_audio_transcription=None,
            )
        )
    )
    loop.append(silence(5000))  # five seconds of nothing: no error, nothing kept past 1 s
    assert loop.errors() == []
    assert len(loop.server._buffer) <= config.max_input_audio_buffer_bytes
    loop.append(tone(600) + silence(400))  # a turn after the silence still works
    loop.drain()
    assert "input_audio_buffer.committed" in loop.types()
    assert loop.client.state.items[-1].role == "assistant"
    loop.check()


# --- the conversation ---------------------------------------------------------------------


def test_the_conversation_holds_at_most_max_items() -> None:
    loop = Loop(config=ServerConfig(max_conversation_items=3)).start()
    for i in range(3):
        loop.send(user_text(f"item {i}"))
    events = loop.send(user_text("one too many"))
    assert [e.error.code for e in events if isinstance(e, s.Error)] == ["conversation_too_large"]
    events = loop.send(c.ResponseCreate())
    assert [e.error.code for e in events if isinstance(e, s.Error)] == ["conversation_too_large"]
    assert len(loop.client.state.items) == 3
    loop.send(c.ConversationItemDelete(item_id=loop.client.state.items[0].id))
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    assert loop.client.state.items[-1].role == "assistant"  # room again
    loop.check()


def test_the_conversation_holds_at_most_max_chars() -> None:
    loop = Loop(config=ServerConfig(max_conversation_chars=1000)).start()
    loop.send(user_text("x" * 600))
    events = loop.send(user_text("y" * 600))
    assert [e.error.code for e in events if isinstance(e, s.Error)] == ["conversation_too_large"]
    loop.send(user_text("z" * 300))  # what fits is still taken
    assert [i.text for i in loop.client.state.items] == ["x" * 600, "z" * 300]
    loop.check()


def test_a_full_conversation_stops_server_vad_turns_with_an_error() -> None:
    loop = Loop(config=ServerConfig(max_conversation_items=1)).start()
    loop.send(user_text("the one item"))
    loop.append(tone(600) + silence(400))
    loop.drain()
    assert [e.code for e in loop.errors()] == ["conversation_too_large"]
    assert "input_audio_buffer.committed" not in loop.types()
    assert len(loop.client.state.items) == 1
    loop.check()


# --- events the server cannot encode -----------------------------------------------------


def nested_tools(depth: int) -> str:
    schema = '{"type":"string"}'
    for _ in range(depth):
        schema = '{"type":"object","properties":{"a":' + schema + "}}"
    tool = '{"type":"function","name":"deep","parameters":' + schema + "}"
    return '{"type":"session.update","event_id":"evt_deep","session":{"tools":[' + tool + "]}}"


def test_a_deeply_nested_tool_schema_is_refused_and_the_session_goes_on() -> None:
    loop = Loop(responder=ScriptedResponder(["still here"])).start()
    events = loop.send_raw(nested_tools(300))
    errors = [e.error for e in events if isinstance(e, s.Error)]
    assert [(e.code, e.param, e.event_id) for e in errors] == [
        ("invalid_function_parameters", "session.tools[0].parameters", "evt_deep")
    ]
    assert loop.send_raw(nested_tools(10))[-1].type == "session.updated"  # a sane depth
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    assert loop.client.state.items[-1].text == "still here"


def test_an_unencodable_event_becomes_a_server_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v, "MAX_SCHEMA_DEPTH", 10_000)  # let the schema through
    loop = Loop(responder=ScriptedResponder(["still here"])).start()
    before = loop.server.state.session
    events = loop.send_raw(nested_tools(300))  # decodes, but session.updated cannot encode
    assert [(e.type, e.error.type, e.error.code, e.error.event_id) for e in events] == [  # type: ignore[attr-defined]
        ("error", "server_error", "server_error", "evt_deep")
    ]
    assert loop.server.state.session == before  # the server did not believe it said it
    assert not loop.server.closed
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    assert loop.client.state.items[-1].text == "still here"


@pytest.mark.parametrize("breaks", ["response.text.delta", "response.output_item.added"])
def test_an_unencodable_response_event_fails_the_response(
    monkeypatch: pytest.MonkeyPatch, breaks: str
) -> None:
    loop = Loop(responder=ScriptedResponder(["broken", "fine"])).start()
    codec = loop.server._codec
    encode = codec.encode_unchecked
    failed: list[str] = []

    def flaky(event: Any) -> str:
        if event.type == breaks and not failed:
            failed.append(event.type)
            raise RecursionError("maximum recursion depth exceeded")
        return encode(event)

    monkeypatch.setattr(loop.server, "_codec", attrs.evolve(codec, encode_unchecked=flaky))
    events = loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    done = next(e for e in events if isinstance(e, s.ResponseDone)).response
    assert done.status == "failed" and failed == [breaks]
    assert [e.error.code for e in events if isinstance(e, s.Error)] == ["server_error"]
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    assert loop.client.state.items[-1].text == "fine"
    assert loop.server.response_in_progress is None
    loop.check()


# --- over a transport: an abusive session beside a well-behaved one ---------------------


async def _wait(conn: AsyncConnection, predicate: Any) -> None:
    with anyio.fail_after(30):
        await conn.wait_for(predicate)


def _completed(step: Any) -> bool:
    return any(isinstance(x, t.ResponseFinished) for x in step.transitions)


def _error(step: Any) -> bool:
    return any(isinstance(x, t.ServerErrorReceived) for x in step.transitions)


async def _abuse(conn: AsyncConnection, kind: str) -> None:
    """One abuse; returns once the server has answered it."""
    if kind == "amplification":  # default modalities: audio and text
        await conn.send(user_text(LONG))
        await conn.send(c.ResponseCreate())
        await _wait(conn, _completed)
        done = conn.state.finished[-1]
        assert done.status == "incomplete"
    elif kind == "buffer":
        await conn.send(c.SessionUpdate(session=MANUAL))
        for _ in range(3):
            await conn.send(c.InputAudioBufferAppend(audio=b64(silence(400))))
        await _wait(conn, _error)
        assert conn.state.last_error is not None
        assert conn.state.last_error.code == "input_audio_buffer_too_large"
    elif kind == "conversation":
        for i in range(4):
            await conn.send(user_text(f"item {i}"))
        await _wait(conn, _error)
        assert conn.state.last_error is not None
        assert conn.state.last_error.code == "conversation_too_large"
    else:  # deeper than the server takes, as deep as the client's codec can still write
        schema: dict[str, Any] = {"type": "string"}
        for _ in range(110):
            schema = {"type": "object", "properties": {"a": schema}}
        tool = Tool(name="deep", parameters=schema)
        await conn.send(c.SessionUpdate(session=SessionConfig(tools=(tool,))))
        await _wait(conn, _error)
        assert conn.state.last_error is not None
        assert conn.state.last_error.code == "invalid_function_parameters"


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["amplification", "buffer", "conversation", "unencodable"])
async def test_an_abusive_session_leaves_the_others_unaffected(kind: str) -> None:
    config = ServerConfig(max_input_audio_buffer_bytes=48 * 1000, max_conversation_items=3)
    server = Server(config=config, responder=EchoResponder)
    async with connect_in_memory(server) as abuser, connect_in_memory(server) as polite:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_abuse, abuser, kind)
            await polite.send(c.SessionUpdate(session=SessionConfig(modalities=("text",))))
            await polite.send(user_text("ping"))
            await polite.send(c.ResponseCreate())
            await _wait(polite, _completed)
        assert polite.state.items[-1].text == "You said: ping"
        assert polite.state.finished[-1].status == "completed"
        assert polite.state.last_error is None
        # the abuser's session is alive and answers a sane request
        if kind == "conversation":
            await abuser.send(c.ConversationItemDelete(item_id=abuser.state.items[0].id))
        await abuser.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
        await _wait(abuser, _completed)
        assert abuser.state.finished[-1].status in ("completed", "incomplete")
        assert abuser.closed is None


def test_the_bounds_are_documented_in_the_error_table() -> None:
    for code in ("input_audio_buffer_too_large", "conversation_too_large"):
        assert code in v.ERROR_CODES
    with pytest.raises(ValueError, match="max_output_tokens"):
        ServerConfig(max_output_tokens=0)


def test_item_create_with_audio_counts_only_its_transcript() -> None:
    loop = Loop(config=ServerConfig(max_conversation_chars=10)).start()
    part = ContentPart(type="input_audio", audio=b64(silence(200)))
    loop.send(c.ConversationItemCreate(item=Item(type="message", role="user", content=(part,))))
    assert loop.errors() == []
    assert json.loads(loop.frames[-1])["type"] == "conversation.item.created"
    loop.check()
