"""Each first-party plugin against the fake server over the real transports, on asyncio
and trio: ``connect()`` to ``serve()`` on loopback, or ``connect_in_memory``."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from rtstate_plugins import (
    Backoff,
    BargeIn,
    Decision,
    GiveUp,
    Log,
    Reconnect,
    Recorder,
    Redial,
    Tools,
    Transcript,
)
from support.helpers import user_text
from support.server_harness import tone
from support.transport_helpers import AUDIO, TEXT_ONLY, has

import rtstate
from rtstate import Step
from rtstate import transitions as t
from rtstate.events import client as c
from rtstate.events.payloads import ResponseParams, SessionConfig, TurnDetection
from rtstate.server import FunctionCall, Message, ScriptedResponder, ServerConfig
from rtstate.server.responders import ReplyLike
from rtstate.transport import (
    AsyncConnection,
    Server,
    connect,
    connect_in_memory,
    memory_stream_pair,
    serve,
)

pytestmark = pytest.mark.anyio

TEXT = ResponseParams(modalities=("text",))


async def wait(conn: AsyncConnection, predicate: Callable[[Step], bool]) -> Step:
    with anyio.fail_after(10):
        return await conn.wait_for(predicate)


def completed(status: str = "completed") -> Callable[[Step], bool]:
    return lambda step: any(
        isinstance(x, t.ResponseFinished) and x.status == status for x in step.transitions
    )


def quiet_after(since: Step) -> Callable[[Step], bool]:
    """A Step after ``since`` with everything acknowledged and no response running."""
    return lambda step: (
        step.after.revision > since.after.revision
        and not step.after.ledger.in_flight
        and step.after.active_response is None
        and bool(step.after.items)
    )


class Sent:
    """A plugin that notes the type of every event sent."""

    def __init__(self) -> None:
        self.types: list[str] = []
        self.steps: list[Step] = []

    def on_step(self, step: Step) -> None:
        self.steps.append(step)
        self.types.extend(e.type for e in step.sent)


# --- tools ----------------------------------------------------------------------------------


def weather_tools(timeout: float = 30.0) -> Tools:
    tools = Tools(response=c.ResponseCreate(response=TEXT), timeout=timeout)

    @tools.register
    def get_weather(city: str) -> dict[str, str]:
        """The weather in a city."""
        return {"city": city, "sky": "clear"}

    @tools.register
    async def get_time(city: str) -> str:
        """The local time in a city."""
        await anyio.sleep(0.01)
        return f"12:00 in {city}"

    @tools.register
    async def slow(seconds: float) -> str:
        """Sleeps."""
        await anyio.sleep(seconds)
        return "done"

    @tools.register
    def broken() -> str:
        """Raises."""
        raise RuntimeError("out of order")

    return tools


async def test_tools_are_run_and_answered_by_the_plugin_alone() -> None:
    tools, sent = weather_tools(), Sent()
    script: list[ReplyLike] = [
        FunctionCall(name="get_weather", arguments='{"city": "Oslo"}'),
        "Clear in Oslo.",
    ]
    async with (
        serve(responder=lambda: ScriptedResponder(script)) as server,
        connect(server.url, plugins=[tools, sent]) as conn,
    ):
        await wait(conn, has(t.SessionStarted))
        await conn.send(tools.session_update(SessionConfig(modalities=("text",))))
        await conn.send(user_text("Weather in Oslo?"))
        await conn.send(c.ResponseCreate(response=TEXT))
        await wait(conn, lambda s: any(i.text == "Clear in Oslo." for i in s.after.items))
        types = [i.type for i in conn.state.items]
        assert types == ["message", "function_call", "function_call_output", "message"]
        output = conn.state.items[2].output
        assert output is not None and json.loads(output) == {"city": "Oslo", "sky": "clear"}
        assert [r.ok for r in tools.results] == [True]
        assert sent.types.count("response.create") == 2  # the user's, and the tool's
        assert tools.queued == ()


async def test_several_calls_get_one_response_and_errors_are_answered() -> None:
    tools, sent = weather_tools(timeout=0.2), Sent()
    calls = [
        FunctionCall(name="get_time", arguments='{"city": "Oslo"}'),
        FunctionCall(name="broken"),
        FunctionCall(name="slow", arguments='{"seconds": 5}'),
        FunctionCall(name="nope"),
    ]
    server = Server(responder=lambda: ScriptedResponder([calls, "All four answered."]))
    async with connect_in_memory(server, plugins=[tools, sent]) as conn:
        await wait(conn, has(t.SessionStarted))
        await conn.send(tools.session_update(SessionConfig(modalities=("text",))))
        await conn.send(c.ResponseCreate(response=TEXT))
        await wait(conn, lambda s: any(i.text == "All four answered." for i in s.after.items))
        outputs = [i.output or "" for i in conn.state.items if i.type == "function_call_output"]
        assert len(outputs) == 4
        errors = sorted(r.error or "ok" for r in tools.results)
        assert errors == ["exception", "ok", "timeout", "unknown_tool"]
        assert "12:00 in Oslo" in outputs
        assert sent.types.count("response.create") == 2  # four outputs, one response
        messages = [json.loads(o)["error"]["message"] for o in outputs if o.startswith("{")]
        assert any("out of order" in m for m in messages)


# --- barge-in -------------------------------------------------------------------------------

LONG = "A long spoken answer that goes on and on, so that the user can talk over it. " * 3


async def audio_reply(conn: AsyncConnection, barge: BargeIn, ms: float) -> None:
    """Ask for a paced audio reply and wait until ``ms`` of it arrived."""
    await wait(conn, has(t.SessionStarted))
    await conn.send(c.ResponseCreate())
    await wait(conn, lambda s: barge.received_ms >= ms)


async def test_barge_in_interrupt_stops_the_sink_and_cuts_where_it_was_heard() -> None:
    barge = BargeIn()
    config = ServerConfig(delta_interval=0.01)
    async with (
        serve(responder=lambda: ScriptedResponder([Message(text=LONG)]), config=config) as server,
        connect(server.url, plugins=[barge]) as conn,
    ):
        await conn.send(c.SessionUpdate(session=AUDIO))
        await audio_reply(conn, barge, 200)
        assert not barge.stop.is_set()
        for item_id, ms in barge.heard(120):  # what the sink played
            await conn.playback(item_id, ms)
        step = await conn.interrupt()
        assert barge.stop.is_set()
        signal = barge.stop_signal
        assert signal is not None and signal.reason == "interrupt" and signal.planned is not None
        truncate = next(e for e in step.sent if isinstance(e, c.ConversationItemTruncate))
        assert truncate.audio_end_ms == 120
        await wait(conn, completed("cancelled"))


async def test_barge_in_on_speech_heard_by_the_server_vad() -> None:
    signals: list[object] = []
    barge = BargeIn(on_stop=signals.append)
    config = ServerConfig(delta_interval=0.01)
    vad = SessionConfig(modalities=("audio", "text"), turn_detection=TurnDetection())
    server = Server(
        responder=lambda: ScriptedResponder([Message(text=LONG), "Yes?"]), config=config
    )
    async with connect_in_memory(server, plugins=[barge]) as conn:
        await conn.send(c.SessionUpdate(session=vad))
        await audio_reply(conn, barge, 200)
        (item_id, ms), *_ = barge.heard(150)
        await conn.playback(item_id, ms)
        audio = tone(400)
        for i in range(0, len(audio), 4800):  # the user talks over it, 100 ms a frame
            chunk = base64.b64encode(audio[i : i + 4800]).decode()
            await conn.send(c.InputAudioBufferAppend(audio=chunk))
        step = await wait(conn, has(t.TruncationPlanned))
        assert barge.stop.is_set() and signals == [barge.stop_signal]
        assert barge.stop_signal is not None and barge.stop_signal.reason == "speech"
        truncate = next(e for e in step.sent if isinstance(e, c.ConversationItemTruncate))
        assert (truncate.item_id, truncate.audio_end_ms) == (item_id, 150)


# --- transcript, log, recorder -------------------------------------------------------------


async def test_transcript_follows_the_conversation_live() -> None:
    changes: list[str] = []
    transcript = Transcript(on_change=lambda tr: changes.append(tr.text()))
    replies = ["Hello! How can I help?", "Oslo is in Norway."]
    async with (
        serve(responder=lambda: ScriptedResponder(replies)) as server,
        connect(server.url, plugins=[transcript]) as conn,
    ):
        await wait(conn, has(t.SessionStarted))
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        for text in ("Hi", "Where is Oslo?"):
            await conn.send(user_text(text))
            await conn.send(c.ResponseCreate())
            await wait(conn, completed())
        assert transcript.text().splitlines() == [
            "user: Hi",
            "assistant: Hello! How can I help?",
            "user: Where is Oslo?",
            "assistant: Oslo is in Norway.",
        ]
        assert "**Assistant:** Oslo is in Norway." in transcript.markdown()
        assert any(line.endswith("[...]") for line in changes)  # seen while streaming
        assert transcript.state is conn.state


async def test_log_records_transitions_and_diagnostics(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rtstate")
    server = Server(responder=lambda: ScriptedResponder(["Logged."]))
    async with connect_in_memory(server, plugins=[Log()]) as conn:
        await wait(conn, has(t.SessionStarted))
        await conn.send(c.ResponseCreate(response=TEXT))
        await wait(conn, completed())
        await conn.send(c.ResponseCancel())  # nothing active: an informational diagnostic
    names = [getattr(r, "rt_name", None) for r in caplog.records]
    for name in ("SessionStarted", "ResponseStarted", "TextAppended", "ResponseFinished"):
        assert name in names
    assert "TransportClosed" in names
    cancel = next(r for r in caplog.records if getattr(r, "rt_kind", "") == "diagnostic")
    assert cancel.levelno == logging.DEBUG and cancel.name == "rtstate.diagnostics"


async def test_recorder_journal_replays_the_live_session_exactly() -> None:
    recorder, sent = Recorder(), Sent()
    tools = weather_tools()
    script: list[ReplyLike] = [
        FunctionCall(name="get_weather", arguments='{"city": "Oslo"}'),
        "Clear.",
    ]
    async with (
        serve(responder=lambda: ScriptedResponder(script)) as server,
        connect(server.url, plugins=[tools, recorder, sent]) as conn,
    ):
        await wait(conn, has(t.SessionStarted))
        await conn.send(tools.session_update(SessionConfig(modalities=("text",))))
        await conn.send(c.ResponseCreate(response=TEXT))
        await wait(conn, lambda s: any(i.text == "Clear." for i in s.after.items))
    replayed = list(rtstate.journal.replay(recorder.lines))
    assert replayed == sent.steps  # the same Steps: inputs, states, transitions, frames
    assert [s.to_send for s in replayed] == [s.to_send for s in sent.steps]
    assert replayed[-1].after == conn.state


# --- reconnect ------------------------------------------------------------------------------


def no_wait(
    max_attempts: int = 3, on_decision: Callable[[Decision], None] | None = None
) -> Reconnect:
    return Reconnect(
        Backoff(initial=0.01, jitter="none", max_attempts=max_attempts), on_decision=on_decision
    )


async def chat(conn: AsyncConnection, text: str) -> None:
    await conn.send(user_text(text))
    await conn.send(c.ResponseCreate())
    await wait(conn, completed())


async def test_reconnect_redials_an_expired_session_and_rebuilds_it() -> None:
    decisions: list[Decision] = []
    reconnect = no_wait(on_decision=decisions.append)
    config = ServerConfig(session_duration=1.0)
    replies = ScriptedResponder(["Hello!", "Welcome back."])
    async with (
        serve(responder=lambda: replies, config=config) as server,
        connect(server.url, plugins=[reconnect]) as conn,
    ):
        await wait(conn, has(t.SessionStarted))
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await chat(conn, "Hi")
        before = [(i.role, i.text) for i in conn.state.items]
        await wait(conn, has(t.SessionExpired))
        resumed = await wait(conn, has(t.SessionResumed))
        await wait(conn, quiet_after(resumed))
        assert [(i.role, i.text) for i in conn.state.items] == before
        assert conn.state.session is not None
        assert conn.state.session.modalities == ("text",)
        (decision,) = decisions
        assert isinstance(decision, Redial) and decision.reason == "expired"
        assert server.served == 2 and conn.closed is None
        await chat(conn, "Still there?")
        assert conn.state.items[-1].text == "Welcome back."


@asynccontextmanager
async def droppable(server: Server) -> AsyncIterator[tuple[Callable[[], object], list[object]]]:
    """A dialer over in-memory pairs to ``server``, and the server ends of the pairs
    (close one to drop that connection without a close frame)."""
    ends: list[object] = []
    async with anyio.create_task_group() as tasks:

        async def dialer() -> anyio.abc.ByteStream:
            client_end, server_end = memory_stream_pair()
            ends.append(server_end)
            tasks.start_soon(server.handle, server_end)
            return client_end

        yield dialer, ends
        tasks.cancel_scope.cancel()


async def test_reconnect_redials_a_dropped_socket() -> None:
    reconnect = no_wait()
    replies = ScriptedResponder(["One.", "Two."])  # one script across both sessions
    server = Server(responder=lambda: replies)
    async with (
        droppable(server) as (dialer, ends),
        connect("ws://memory/v1/realtime", dialer=dialer, plugins=[reconnect]) as conn,  # type: ignore[arg-type]
    ):
        await wait(conn, has(t.SessionStarted))
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await chat(conn, "first")
        await ends[0].aclose()  # type: ignore[attr-defined]
        step = await wait(conn, has(t.TransportClosed))
        closed = next(x for x in step.transitions if isinstance(x, t.TransportClosed))
        assert closed.code == 1006
        resumed = await wait(conn, has(t.SessionResumed))
        await wait(conn, quiet_after(resumed))
        assert [i.text for i in conn.state.items] == ["first", "One."]
        await chat(conn, "second")
        assert [i.text for i in conn.state.items][-1] == "Two."
        assert server.served == 2 and len(ends) == 2


async def test_reconnect_gives_up_after_max_attempts_and_ends_the_steps() -> None:
    decisions: list[Decision] = []
    reconnect = no_wait(max_attempts=2, on_decision=decisions.append)
    stop = anyio.Event()

    async def run(*, task_status: anyio.abc.TaskStatus[str]) -> None:
        async with serve() as server:
            task_status.started(server.url)
            await stop.wait()

    async with anyio.create_task_group() as tasks:
        url = await tasks.start(run)
        async with connect(url, plugins=[reconnect], open_timeout=2) as conn:
            await wait(conn, has(t.SessionStarted))
            stop.set()  # the server goes away for good
            kinds: list[type] = []
            with anyio.fail_after(10):
                async for step in conn.steps():  # ends once the plugin gives up
                    kinds.extend(type(x) for x in step.transitions)
            assert kinds[-1] is t.TransportClosed
            assert [type(d) for d in decisions] == [Redial, Redial, GiveUp]
            assert decisions[-1] == GiveUp(reason="closed", attempts=2)
            assert len(reconnect.errors) == 2
            assert all(isinstance(e, rtstate.errors.ConnectError) for e in reconnect.errors)
            assert conn.closing and conn.closed is not None


async def test_reconnect_does_not_redial_a_connection_the_app_closed() -> None:
    decisions: list[Decision] = []
    reconnect = no_wait(on_decision=decisions.append)
    server = Server()
    async with connect_in_memory(server, plugins=[reconnect]) as conn:
        await wait(conn, has(t.SessionStarted))
    assert decisions == [] and server.served == 1
    assert conn.closed is not None and conn.closed.code == 1000
