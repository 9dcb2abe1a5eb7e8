"""AsyncConnection.redial(): a new WebSocket under the same connection, the session
resumed from a reconnect plan, on asyncio and trio (loopback and in-memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
from support.helpers import user_text
from support.transport_helpers import TEXT_ONLY, has

import rtstate
from rtstate import Step
from rtstate import transitions as t
from rtstate.events import client as c
from rtstate.server import ScriptedResponder, ServerConfig
from rtstate.transport import (
    AsyncConnection,
    Server,
    connect,
    connect_in_memory,
    memory_stream_pair,
    serve,
)

pytestmark = pytest.mark.anyio


async def wait(conn: AsyncConnection, predicate: Callable[[Step], bool]) -> Step:
    with anyio.fail_after(10):
        return await conn.wait_for(predicate)


def settled(since: Step) -> Callable[[Step], bool]:
    """A Step after ``since`` where every event sent is acknowledged, no response is
    running and the conversation is not empty."""

    def check(step: Step) -> bool:
        after = step.after
        return (
            after.revision > since.after.revision
            and not after.ledger.in_flight
            and after.active_response is None
            and bool(after.items)
        )

    return check


async def chat(conn: AsyncConnection, text: str) -> None:
    await conn.send(user_text(text))
    await conn.send(c.ResponseCreate())
    await wait(conn, has(t.ResponseFinished))


@asynccontextmanager
async def stoppable_server(**options: object) -> AsyncIterator[tuple[Server, anyio.Event]]:
    """``serve()`` in a task of its own: set the event to shut it down while a client
    is still connected."""
    stop = anyio.Event()

    async def run(*, task_status: anyio.abc.TaskStatus[Server]) -> None:
        async with serve(**options) as server:  # type: ignore[arg-type]
            task_status.started(server)
            await stop.wait()

    async with anyio.create_task_group() as tasks:
        server = await tasks.start(run)
        yield server, stop
        stop.set()


async def test_redial_rebuilds_the_conversation_on_a_new_session() -> None:
    replies = ScriptedResponder(["Hello!", "Still here."], cycle=True)
    async with (
        serve(responder=lambda: replies) as server,
        connect(server.url, id_factory=rtstate.connection.counter_ids("c")) as conn,
    ):
        await wait(conn, has(t.SessionStarted))
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await chat(conn, "Hi")
        before = [(i.role, i.text) for i in conn.state.items]
        assert conn.state.session is not None
        first_session = conn.state.session.id
        core = conn.core

        step = await conn.redial()  # the old WebSocket is open: closed first
        resumed = next(x for x in step.transitions if isinstance(x, t.SessionResumed))
        assert len(resumed.id_map) == 2
        assert [e.type for e in step.sent] == [
            "session.update",
            "conversation.item.create",
            "conversation.item.create",
        ]
        assert conn.closed is None and conn.core is core
        await wait(conn, settled(step))
        assert [(i.role, i.text) for i in conn.state.items] == before
        assert [i.id for i in conn.state.items] == list(resumed.id_map.values())
        assert conn.state.session is not None
        assert conn.state.session.id != first_session
        assert conn.state.session.modalities == ("text",)  # the config came along
        await chat(conn, "Are you there?")
        assert conn.state.items[-1].text == "Still here."
        assert server.served == 2


async def test_steps_go_on_across_a_redial_when_expected() -> None:
    server = Server(responder=lambda: ScriptedResponder(["One.", "Two."]))
    async with connect_in_memory(server) as conn:
        await wait(conn, has(t.SessionStarted))
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await chat(conn, "first")
        conn.expect_redial()  # as a plugin does from its TransportClosed hook
        step = await conn.redial()
        assert any(isinstance(x, t.SessionResumed) for x in step.transitions)
        kinds: list[type] = []
        with anyio.fail_after(10):  # wait_for read nothing from steps(): it starts at the start
            async for seen in conn.steps():
                kinds.extend(type(x) for x in seen.transitions)
                if t.SessionResumed in kinds and kinds[-1] is t.SessionStarted:
                    break
        # the old session, its close, the resume, then the new session: one stream of Steps
        resumed = kinds.index(t.SessionResumed)
        assert kinds[0] is t.SessionStarted
        assert t.TransportClosed in kinds[:resumed]
        assert kinds[-1] is t.SessionStarted and kinds.count(t.SessionStarted) == 2
        await wait(conn, settled(step))
        assert [i.text for i in conn.state.items] == ["first", "One."]
        assert server.served == 2


async def test_without_expect_redial_steps_end_and_restart_after_the_redial() -> None:
    config = ServerConfig(session_duration=0.3)
    server = Server(responder=lambda: ScriptedResponder(["Hi."], cycle=True), config=config)
    async with connect_in_memory(server) as conn:
        kinds: list[type] = []
        with anyio.fail_after(10):
            async for step in conn.steps():  # ends with the expired session's close
                kinds.extend(type(x) for x in step.transitions)
        assert kinds[-2:] == [t.SessionExpired, t.TransportClosed]
        assert conn.closed is not None and conn.closed.code == 1001
        await conn.redial()
        await wait(conn, has(t.SessionStarted))  # a new steps() stream
        assert conn.closed is None


async def test_a_failed_redial_leaves_the_connection_closed_and_redialable() -> None:
    replies = ScriptedResponder(["Hi."])
    async with stoppable_server(responder=lambda: replies) as (server, stop):  # noqa: SIM117
        async with connect(server.url, open_timeout=2) as conn:
            await wait(conn, has(t.SessionStarted))
            stop.set()  # the server shuts down (1012) and stops listening
            await wait(conn, has(t.TransportClosed))
            with anyio.fail_after(10), pytest.raises(rtstate.errors.ConnectError):
                await conn.redial()
            assert conn.closed is not None and conn.closed.code == 1012
            with anyio.fail_after(10), pytest.raises(rtstate.errors.ConnectError):
                await conn.redial()  # again: still refused, still closed


async def test_redial_refuses_after_aclose_and_over_a_given_stream() -> None:
    server = Server()
    async with connect_in_memory(server) as conn:
        await wait(conn, has(t.SessionStarted))
        await conn.aclose()
        assert conn.closing
        with pytest.raises(rtstate.ConnectionClosed):
            await conn.redial()

    client_end, server_end = memory_stream_pair()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.handle, server_end)
        async with connect("ws://memory/v1/realtime", stream=client_end) as conn:
            await wait(conn, has(t.SessionStarted))
            with pytest.raises(rtstate.TransportError, match="dialer"):
                await conn.redial()
            assert conn.closed is None  # refused before touching the WebSocket
        tasks.cancel_scope.cancel()
