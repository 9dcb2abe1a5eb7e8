"""connect() against serve() over loopback sockets, on asyncio and trio: every flow.

Each test runs twice (the ``anyio_backend`` fixture): the client and the server share
one event loop of each kind, over real TCP sockets on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest
from support.helpers import WEATHER, user_text
from support.transport_helpers import AUDIO, TEXT_ONLY, has, raw_server, session_created

import rtstate
from rtstate import Step
from rtstate import transitions as t
from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events.payloads import SessionConfig
from rtstate.server import (
    Message,
    ScriptedResponder,
    ServerConfig,
    ToolCallingResponder,
)
from rtstate.transport import (
    AsyncConnection,
    Server,
    connect,
    connect_in_memory,
    serve,
)

pytestmark = pytest.mark.anyio


def completed(step: Step) -> bool:
    return has(t.ResponseFinished)(step)


async def wait(conn: AsyncConnection, predicate: Callable[[Step], bool]) -> Step:
    """``conn.wait_for`` bounded in time: a test fails rather than hangs."""
    with anyio.fail_after(20):
        return await conn.wait_for(predicate)


async def settle(conn: AsyncConnection) -> None:
    """Wait for the server's session.created to be folded."""
    await wait(conn, has(t.SessionStarted))


async def test_text_flow() -> None:
    async with (
        serve(responder=lambda: ScriptedResponder(["Hello! How can I help?"])) as server,
        connect(server.url, api_key="k") as conn,
    ):
        await settle(conn)
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await conn.send(user_text("Hi"))
        await conn.send(c.ResponseCreate())
        step = await wait(conn, completed)
        done = next(x for x in step.transitions if isinstance(x, t.ResponseFinished))
        assert done.status == "completed"
        items = conn.state.items
        assert [(i.role, i.text) for i in items] == [
            ("user", "Hi"),
            ("assistant", "Hello! How can I help?"),
        ]
        assert conn.state.active_response is None
        assert not conn.state.ledger.in_flight  # everything sent was acknowledged
    assert conn.closed is not None and conn.closed.code == 1000


async def test_audio_flow() -> None:
    config = ServerConfig(delta_interval=0.0)
    async with (
        serve(
            responder=lambda: ScriptedResponder(["Sure, here is the audio."]), config=config
        ) as server,
        connect(server.url) as conn,
    ):
        await settle(conn)
        await conn.send(c.SessionUpdate(session=AUDIO))
        await conn.send(c.ResponseCreate())
        audio_steps = 0
        async for step in conn.steps():
            audio_steps += sum(isinstance(x, t.AudioAppended) for x in step.transitions)
            if completed(step):
                break
        (item,) = conn.state.items
        assert item.transcript == "Sure, here is the audio."
        assert item.audio_bytes > 0
        assert audio_steps >= 2  # streamed in several deltas


async def test_tool_flow() -> None:
    async with (
        serve(responder=ToolCallingResponder) as server,
        connect(server.url) as conn,
    ):
        await settle(conn)
        tools = SessionConfig(tools=(WEATHER,), modalities=("text",))
        await conn.send(c.SessionUpdate(session=tools))
        await conn.send(user_text("Weather in Paris?"))
        await conn.send(c.ResponseCreate())
        step = await wait(conn, has(t.FunctionCallReady))
        ready = next(x for x in step.transitions if isinstance(x, t.FunctionCallReady))
        assert ready.name == "get_weather"
        await wait(conn, completed)
        await conn.send(
            c.ConversationItemCreate(
                item=rtstate.events.payloads.Item(
                    type="function_call_output", call_id=ready.call_id, output='{"temp": 21}'
                )
            )
        )
        await conn.send(c.ResponseCreate())
        await wait(conn, completed)
        last = conn.state.items[-1]
        assert last.role == "assistant"
        assert last.text == 'get_weather returned {"temp": 21}'
        types = [i.type for i in conn.state.items]
        assert types == ["message", "function_call", "function_call_output", "message"]


async def test_barge_in_flow() -> None:
    # a paced audio reply: 20 ms of audio per delta, one delta every 10 ms
    config = ServerConfig(delta_interval=0.01)
    long_reply = "This is a long answer that the user will not wait to hear. " * 4
    async with (
        serve(
            responder=lambda: ScriptedResponder([Message(text=long_reply)]), config=config
        ) as server,
        connect(server.url) as conn,
    ):
        await settle(conn)
        await conn.send(c.SessionUpdate(session=AUDIO))
        await conn.send(c.ResponseCreate())
        seen = 0
        async for step in conn.steps():
            seen += sum(isinstance(x, t.AudioAppended) for x in step.transitions)
            if seen >= 3:
                break
        item = conn.state.items[0]
        assert conn.state.active_response is not None
        await conn.playback(item.id, 40)
        step = await conn.interrupt()
        assert any(isinstance(x, t.TruncationPlanned) for x in step.transitions)
        assert [e.type for e in step.sent] == ["response.cancel", "conversation.item.truncate"]
        step = await wait(conn, completed)
        done = next(x for x in step.transitions if isinstance(x, t.ResponseFinished))
        assert done.status == "cancelled"
        if conn.state.ledger.in_flight:  # the truncate's acknowledgement
            await wait(conn, lambda s: not s.after.ledger.in_flight)
        cut = conn.state.item(item.id)
        assert cut is not None
        assert cut.parts[0].transcript == ""  # the unheard transcript is dropped
        assert conn.state.active_response is None


async def test_in_memory_pair_runs_the_same_protocol() -> None:
    server = Server(responder=lambda: ScriptedResponder(["From memory."]))
    async with connect_in_memory(server) as conn:
        await settle(conn)
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await conn.send(c.ResponseCreate())
        await wait(conn, completed)
        assert conn.state.items[0].text == "From memory."
        assert server.sessions == 1
    assert conn.closed is not None


async def test_session_expiry_closes_with_session_expired() -> None:
    config = ServerConfig(session_duration=0.3)
    async with serve(config=config) as server, connect(server.url) as conn:
        kinds: list[type] = []
        async for step in conn.steps():
            kinds.extend(type(x) for x in step.transitions)
        assert t.SessionExpired in kinds
        assert kinds[-1] is t.TransportClosed
        assert kinds.count(t.SessionExpired) == 1
        assert conn.closed is not None and conn.closed.code == 1001
        with pytest.raises(rtstate.ConnectionClosed):
            await conn.send(c.ResponseCreate())


async def test_server_counts_and_reports_its_port() -> None:
    async with serve() as server:
        assert server.port > 0
        assert server.url == f"ws://127.0.0.1:{server.port}/v1/realtime"
        async with connect(server.url) as a, connect(server.url) as b:
            await settle(a)
            await settle(b)
            assert server.sessions == 2
        with anyio.fail_after(5):
            while server.sessions:
                await anyio.sleep(0.01)
        assert server.served == 2


async def test_graceful_shutdown_closes_clients() -> None:
    async with serve() as server:
        conn_cm = connect(server.url)
        conn = await conn_cm.__aenter__()
        try:
            await settle(conn)
            await server.aclose()
            step = await wait(conn, has(t.TransportClosed))
            closed = next(x for x in step.transitions if isinstance(x, t.TransportClosed))
            assert closed.code == 1012
            assert server.sessions == 0
        finally:
            await conn_cm.__aexit__(None, None, None)


async def test_the_deadline_task_times_out_an_unacknowledged_event() -> None:
    async with (
        raw_server([session_created()], then="hang") as peer,
        connect(peer.url, config=rtstate.Config(ack_timeout=0.2), ping_interval=None) as conn,
    ):
        await settle(conn)
        sent = await conn.send(c.ResponseCreate())
        step = await wait(conn, has(t.ClientEventTimedOut))
        timed_out = next(x for x in step.transitions if isinstance(x, t.ClientEventTimedOut))
        assert timed_out.event.event_id == sent.sent[0].event_id
        assert not conn.state.ledger.in_flight


@pytest.mark.parametrize("dialect", ["beta", "ga"])
async def test_the_server_speaks_the_dialect_the_handshake_asks_for(dialect: Dialect) -> None:
    async with (
        serve(responder=lambda: ScriptedResponder(["Same words."])) as server,
        connect(server.url, dialect=dialect) as conn,
    ):
        assert conn.core.config.dialect == dialect
        await settle(conn)
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await conn.send(user_text("Hi"))
        await conn.send(c.ResponseCreate())
        await wait(conn, completed)
        assert [(i.role, i.text) for i in conn.state.items] == [
            ("user", "Hi"),
            ("assistant", "Same words."),
        ]


@pytest.mark.parametrize(("dialect", "header"), [("beta", "realtime=v1"), ("ga", None)])
async def test_the_beta_header_goes_only_with_beta(dialect: Dialect, header: str | None) -> None:
    async with (
        raw_server([session_created()], then="hang") as peer,
        connect(peer.url, dialect=dialect, ping_interval=None) as conn,
    ):
        await settle(conn)
        assert peer.request is not None
        assert peer.request.headers.get("OpenAI-Beta") == header


async def test_the_session_reports_the_model_the_client_asked_for() -> None:
    async with serve() as server:
        async with connect(server.url, model="gpt-realtime-mini") as conn:
            await settle(conn)
            assert conn.state.session is not None
            assert conn.state.session.model == "gpt-realtime-mini"
        async with connect(server.url) as conn:  # GA, the default: its default model
            await settle(conn)
            assert conn.state.session is not None
            assert conn.state.session.model == "gpt-realtime"
        async with connect(server.url, dialect="beta") as conn:
            await settle(conn)
            assert conn.state.session is not None
            assert conn.state.session.model == "gpt-4o-realtime-preview-2024-10-01"
