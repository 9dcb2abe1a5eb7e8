"""Errors leave the transports as themselves, never in an ``ExceptionGroup``.

Each documented error (``ConnectionClosed``, ``RemoteProtocolError`` from strict
``steps()``, ``TimeoutError`` from ``fail_after``, the user's own exception) is caught
by a plain ``except`` around ``async with rtstate.connect(...)``, ``rtstate.serve(...)``,
``connect_blocking`` and ``serve_in_thread``, on asyncio and trio.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import anyio
import pytest
from anyio.from_thread import start_blocking_portal
from support.transport_helpers import has, raw_server, session_created

import rtstate
from rtstate import transitions as t
from rtstate.server import ServerConfig
from rtstate.transport import AsyncConnection, connect, connect_blocking, serve, serve_in_thread
from rtstate.transport._unwrap import Unwrap

BACKENDS = ["asyncio", "trio"]


class Mine(Exception):
    """The user's own error."""


def bad_frames() -> list[str]:
    return [session_created(), "this is not json"]


@asynccontextmanager
async def closing_server() -> AsyncIterator[str]:
    """A server that greets and then closes the WebSocket (code 1000)."""
    async with raw_server([session_created()], then="close") as peer:
        yield peer.url


async def until_closed(conn: AsyncConnection) -> None:
    with anyio.fail_after(10):
        await conn.wait_for(has(t.ResponseFinished))  # never comes: ConnectionClosed


# --- connect() --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_connection_closed_leaves_connect_as_itself() -> None:
    async with closing_server() as url:
        with pytest.raises(rtstate.ConnectionClosed) as info:
            async with connect(url, ping_interval=None) as conn:
                await until_closed(conn)
    assert type(info.value) is rtstate.ConnectionClosed
    assert info.value.code == 1000


@pytest.mark.anyio
async def test_a_strict_steps_error_leaves_connect_as_itself() -> None:
    async with raw_server(bad_frames(), then="hang") as peer:
        with pytest.raises(rtstate.RemoteProtocolError):
            async with connect(
                peer.url, config=rtstate.Config(strict=True), ping_interval=None
            ) as conn:
                with anyio.fail_after(10):
                    async for _ in conn.steps():
                        pass


@pytest.mark.anyio
async def test_a_timeout_in_the_body_leaves_connect_as_itself() -> None:
    async with raw_server([session_created()], then="hang") as peer:
        with pytest.raises(TimeoutError):
            async with connect(peer.url, ping_interval=None) as conn:
                with anyio.fail_after(0.2):
                    await conn.wait_for(has(t.ResponseFinished))


@pytest.mark.anyio
async def test_a_timeout_around_connect_is_a_timeout_error() -> None:
    async with raw_server([session_created()], then="hang") as peer:
        with pytest.raises(TimeoutError), anyio.fail_after(0.3):
            async with connect(peer.url, ping_interval=None) as conn:
                await conn.wait_for(has(t.ResponseFinished))
        assert conn.closed is not None


@pytest.mark.anyio
async def test_the_users_own_error_leaves_connect_as_itself_with_its_traceback() -> None:
    def fail() -> None:
        raise Mine("mine")

    async with raw_server([session_created()], then="hang") as peer:
        with pytest.raises(Mine) as info:
            async with connect(peer.url, ping_interval=None):
                fail()
    assert "fail" in [entry.name for entry in info.traceback]
    assert not isinstance(info.value.__context__, BaseExceptionGroup)


@pytest.mark.anyio
async def test_errors_leave_connect_in_memory_as_themselves() -> None:
    with pytest.raises(Mine):
        async with rtstate.transport.connect_in_memory() as conn:
            await conn.wait_for(has(t.SessionStarted))
            raise Mine("in memory")


# --- serve() ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_errors_leave_serve_as_themselves() -> None:
    with pytest.raises(Mine):
        async with serve():
            raise Mine("in serve")
    with pytest.raises(rtstate.ConnectionClosed):
        async with (
            serve(config=ServerConfig(session_duration=0.2)) as server,
            connect(server.url, ping_interval=None) as conn,
        ):
            await until_closed(conn)
    with pytest.raises(TimeoutError):
        async with serve():
            with anyio.fail_after(0.1):
                await anyio.sleep_forever()


# --- the blocking facades ---------------------------------------------------------------


@contextmanager
def raw_server_in_thread(frames: list[str], then: str, backend: str) -> Iterator[str]:
    with (
        start_blocking_portal(backend) as portal,
        portal.wrap_async_context_manager(raw_server(frames, then=then)) as peer,
    ):
        yield peer.url


@pytest.mark.parametrize("backend", BACKENDS)
def test_connection_closed_leaves_connect_blocking_as_itself(backend: str) -> None:
    with (
        raw_server_in_thread([session_created()], "close", backend) as url,
        pytest.raises(rtstate.ConnectionClosed),
        connect_blocking(url, backend=backend, ping_interval=None) as conn,
    ):
        conn.wait_for(has(t.ResponseFinished))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_strict_steps_error_leaves_connect_blocking_as_itself(backend: str) -> None:
    strict = rtstate.Config(strict=True)
    with (
        raw_server_in_thread(bad_frames(), "hang", backend) as url,
        pytest.raises(rtstate.RemoteProtocolError),
        connect_blocking(url, backend=backend, config=strict, ping_interval=None) as conn,
    ):
        for _ in conn.steps():
            pass


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_timeout_leaves_connect_blocking_as_itself(backend: str) -> None:
    async def timed_out(connection: AsyncConnection) -> None:
        with anyio.fail_after(0.1):
            await connection.wait_for(has(t.ResponseFinished))

    with (
        raw_server_in_thread([session_created()], "hang", backend) as url,
        pytest.raises(TimeoutError),
        connect_blocking(url, backend=backend, ping_interval=None) as conn,
    ):
        conn._portal.call(timed_out, conn._connection)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_users_error_leaves_connect_blocking_and_serve_in_thread(backend: str) -> None:
    with (
        pytest.raises(Mine),
        serve_in_thread(backend=backend) as server,
        connect_blocking(server.url, backend=backend) as conn,
    ):
        conn.wait_for(has(t.SessionStarted))
        raise Mine("blocking")
    with pytest.raises(Mine), serve_in_thread(backend=backend):
        raise Mine("in the server thread's body")


# --- how a group is taken apart ---------------------------------------------------------


def unwrap_of(group: BaseExceptionGroup[BaseException], body: BaseException | None) -> Unwrap:
    unwrap = Unwrap(logging.getLogger("test.unwrap"), "test")
    unwrap.body = body
    return unwrap


@pytest.mark.anyio
async def test_two_real_errors_raise_the_users_and_log_the_other(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mine, theirs = Mine("mine"), RuntimeError("a task's")
    group = BaseExceptionGroup("two", [theirs, ExceptionGroup("nested", [mine])])
    assert unwrap_of(group, mine).choose(group) is mine
    assert "another error at the same time as Mine" in caplog.text
    assert "RuntimeError: a task's" in caplog.text


async def a_cancellation() -> BaseException:
    caught: list[BaseException] = []
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.sleep(1)
        except anyio.get_cancelled_exc_class() as exc:
            caught.append(exc)
            raise
    return caught[0]


@pytest.mark.anyio
async def test_keyboard_interrupt_wins_and_cancellation_loses() -> None:
    interrupt, error = KeyboardInterrupt(), RuntimeError("a task's")
    group = BaseExceptionGroup("g", [error, interrupt])
    assert unwrap_of(group, error).choose(group) is interrupt
    # the body was cancelled because a task failed: the task's error is the one
    cancel = await a_cancellation()
    group = BaseExceptionGroup("g", [cancel, error])
    assert unwrap_of(group, cancel).choose(group) is error
    only = BaseExceptionGroup("g", [cancel])
    assert unwrap_of(only, cancel).choose(only) is cancel


def test_a_cause_and_a_context_of_the_users_error_are_kept() -> None:
    def raising(make: Callable[[], Exception]) -> BaseException | None:
        try:
            with Unwrap(logging.getLogger("test.unwrap"), "test"):
                raise ExceptionGroup("g", [make()])
        except BaseException as exc:
            return exc
        return None

    def with_cause() -> Exception:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            error = Mine("outer")
            error.__cause__ = inner
            error.__context__ = inner
            return error

    got = raising(with_cause)
    assert isinstance(got, Mine)
    assert isinstance(got.__cause__, KeyError)
    assert isinstance(got.__context__, KeyError)
