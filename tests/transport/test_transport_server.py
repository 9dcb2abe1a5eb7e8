"""The WebSocket server (``rtstate.serve``) toward real clients and abusive ones, on
asyncio and trio over loopback: browser-style subprotocol authentication, the token
compared in constant time, quiet logs for clients that leave and junk handshakes,
binary and non-UTF-8 messages refused, ``accept()`` failures survived,
``max_sessions`` held under simultaneous handshakes, a bounded shutdown. Each abuse
runs beside a well-behaved session that must complete unaffected.
"""

from __future__ import annotations

import errno
import hmac
import logging
from typing import Any

import anyio
import anyio.abc
import pytest
from support.server_clients import CREATE, TEXT_UPDATE, junk, raw_client, raw_open, well_behaved
from websockets.frames import Opcode

import rtstate
from rtstate.server import Message, ScriptedResponder, ServerConfig
from rtstate.transport import serve

pytestmark = pytest.mark.anyio

KEY = "sk-browser-key-123"
BROWSER = ("realtime", f"openai-insecure-api-key.{KEY}")
SLOW = ServerConfig(delta_interval=0.005)
"""A reply of ``LONG`` streams for about half a second: long beside the faults the tests
make meanwhile (each takes milliseconds), short enough that waiting for it costs little."""
SERVER_LOGGERS = ("rtstate.transport.server", "websockets.server")
LONG = " ".join(f"word{n}" for n in range(100))


def answer(text: str = "Fine.") -> Any:
    return lambda: ScriptedResponder([text], cycle=True)


def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def is_ga(created: dict[str, object]) -> bool:
    session = created["session"]
    assert isinstance(session, dict)
    return session.get("type") == "realtime"


# --- browser-style subprotocols ---------------------------------------------------------


async def test_a_browser_client_connects_without_a_token_and_gets_realtime() -> None:
    async with (
        serve(responder=answer()) as server,
        raw_client(server.url, subprotocols=BROWSER) as client,
    ):
        assert client.subprotocol == "realtime"
        created = await client.until("session.created")
        assert is_ga(created)


async def test_a_browser_client_presents_its_key_as_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in SERVER_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    async with serve(token=KEY, responder=answer()) as server:
        async with raw_client(server.url, subprotocols=BROWSER) as client:
            assert client.subprotocol == "realtime"
            assert await client.until("session.created")
        for offered in (("realtime", "openai-insecure-api-key.sk-wrong"), ("realtime",)):
            with pytest.raises(rtstate.errors.HandshakeError) as info:
                await raw_open(server.url, subprotocols=offered)
            assert info.value.status == 401
            assert "invalid_api_key" in info.value.body
        assert await well_behaved(server.url, api_key=KEY) == "Fine."
    # at DEBUG too: websockets' header dump is off on the server side
    logged = [r.getMessage() for r in caplog.records if r.name in SERVER_LOGGERS]
    assert logged and not [m for m in logged if KEY[3:] in m]


async def test_the_beta_subprotocol_asks_for_the_beta_dialect() -> None:
    async with (
        serve(responder=answer()) as server,
        raw_client(server.url, subprotocols=(*BROWSER, "openai-beta.realtime-v1")) as client,
    ):
        assert client.subprotocol == "realtime"
        assert not is_ga(await client.until("session.created"))
    beta = (*BROWSER, "openai-beta.realtime-v1")
    async with (  # the server's own dialect wins
        serve(responder=answer(), dialect="ga") as server,
        raw_client(server.url, subprotocols=beta) as client,
    ):
        assert is_ga(await client.until("session.created"))


async def test_other_subprotocols_are_not_refused() -> None:
    async with (
        serve(responder=answer()) as server,
        raw_client(server.url, subprotocols=("chat",)) as client,
    ):
        assert client.subprotocol is None
        assert await client.until("session.created")


async def test_the_token_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr("rtstate.transport._server.hmac.compare_digest", spy)
    async with serve(token=KEY, responder=answer()) as server:
        assert await well_behaved(server.url, api_key=KEY) == "Fine."
        async with raw_client(server.url, subprotocols=BROWSER):
            pass
    assert compared == [(KEY.encode(), KEY.encode())] * 2


# --- quiet logs -----------------------------------------------------------------------


async def test_junk_handshakes_log_one_quiet_line_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rtstate")
    async with serve(responder=answer(), open_timeout=0.3) as server:
        garbage = await junk(server.port, b"\x16\x03\x01\x02\x00garbage\r\n\r\n")
        assert garbage == b""  # not HTTP: closed at once
        plain = await junk(server.port, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert plain.startswith(b"HTTP/1.1 426")
        assert await junk(server.port, b"") == b""  # says nothing: the timeout ends it
        assert await well_behaved(server.url) == "Fine."
    assert errors(caplog) == []
    lines = [r.getMessage() for r in caplog.records if r.name == "rtstate.transport.server"]
    assert sum("junk handshake" in m for m in lines) == 1
    assert sum("not a WebSocket handshake" in m for m in lines) == 1
    assert sum("no handshake" in m for m in lines) == 1


async def test_clients_that_leave_are_not_failures(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="rtstate")
    async with serve(responder=answer(LONG), config=SLOW) as server:
        # close 1000 mid-answer
        async with raw_client(server.url) as client:
            await client.send(CREATE)
            await client.until(".delta")
            await client.ws.close(1000)
        # TCP abort mid-answer
        async with raw_client(server.url) as client:
            await client.send(CREATE)
            await client.until(".delta")
            await client.stream.aclose()
        # idle, then close
        async with raw_client(server.url) as client:
            await client.until("session.created")
            await anyio.sleep(0.2)
            await client.ws.close(1000)
        assert await well_behaved(server.url) == LONG
        with anyio.fail_after(10):
            while server.sessions:
                await anyio.sleep(0.01)
    assert errors(caplog) == []
    ended = [r for r in caplog.records if "ended" in r.getMessage()]
    assert len(ended) == 4  # one line per session
    assert all(r.levelno <= logging.INFO for r in ended)


async def test_a_server_bug_is_still_an_error_with_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(request: object) -> str:
        raise RuntimeError("the responder broke")

    async with (
        serve(responder=lambda: ScriptedResponder(broken)) as server,
        raw_client(server.url) as client,
    ):
        await client.send(CREATE)
        assert await client.until("nothing") == {}
        assert client.ws.close_code == 1011
    [record] = errors(caplog)
    assert record.levelno == logging.ERROR and record.exc_info is not None


# --- refused messages -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("opcode", "data", "code"),
    [(Opcode.BINARY, CREATE.encode(), 1003), (Opcode.TEXT, b'{"type": "\xff\xfe"}', 1007)],
)
async def test_binary_and_non_utf8_messages_close_the_session(
    opcode: Opcode, data: bytes, code: int, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(responder=answer(LONG), config=SLOW) as server:
        async with anyio.create_task_group() as tasks:
            result: list[str] = []

            async def good() -> None:
                result.append(await well_behaved(server.url))

            tasks.start_soon(good)
            async with raw_client(server.url) as client:
                await client.until("session.created")
                if opcode is Opcode.BINARY:
                    client.protocol.send_binary(data)
                else:
                    client.protocol.send_text(data)
                await client.ws.write_handshake()  # writes what the protocol queued
                assert await client.until("response.created") == {}  # nothing answered
                assert client.ws.close_code == code
        assert result == [LONG]
    assert errors(caplog) == []


# --- accept() failures ----------------------------------------------------------------


class FlakyListener(anyio.abc.Listener[anyio.abc.SocketStream]):
    """A TCP listener whose ``accept()`` fails ``failures`` times (EMFILE) when told."""

    def __init__(self, inner: anyio.abc.SocketListener) -> None:
        self.inner = inner
        self.failures = 0
        self.attempts = 0

    async def accept(self) -> anyio.abc.SocketStream:
        if self.failures:
            self.failures -= 1
            self.attempts += 1
            await anyio.sleep(0)
            raise OSError(errno.EMFILE, "Too many open files")
        return await self.inner.accept()

    async def serve(self, handler: Any, task_group: Any = None) -> None:  # pragma: no cover
        raise NotImplementedError

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def extra_attributes(self) -> Any:
        return self.inner.extra_attributes


async def test_accept_failures_back_off_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The back-off doubles from 1 ms to 10 ms here (10 ms to 1 s in service), so the six
    # failures pass while the first reply is still streaming.
    monkeypatch.setattr(rtstate.transport._server, "_ACCEPT_BACKOFF", (0.001, 0.01))
    inner = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    [tcp] = inner.listeners
    assert isinstance(tcp, anyio.abc.SocketListener)
    flaky = FlakyListener(tcp)
    async with (
        serve(responder=answer(LONG), config=SLOW, listener=flaky) as server,
        raw_client(server.url) as first,
    ):
        await first.until("session.created")
        await first.send(TEXT_UPDATE)
        await first.send(CREATE)
        await first.until(".delta")
        flaky.failures = 6  # from the next accept on
        second = await raw_open(server.url)  # the accept in flight takes it
        with anyio.fail_after(10):
            while flaky.failures:
                await anyio.sleep(0.01)
        # the open sessions went on meanwhile, and new ones are accepted again
        done = await first.until("response.done")
        assert done["response"]["status"] == "completed"  # type: ignore[index]
        await second.ws.abort()
        assert await well_behaved(server.url) == LONG
    assert flaky.attempts == 6
    warned = [r for r in caplog.records if "accept() failed" in r.getMessage()]
    assert len(warned) == 1 and warned[0].exc_info is None
    assert errors(caplog) == []


# --- max_sessions -----------------------------------------------------------------------


async def test_max_sessions_holds_under_simultaneous_handshakes() -> None:
    limit, clients = 8, 30
    accepted: list[int] = []
    refused: list[int] = []
    release = anyio.Event()
    async with serve(responder=answer(), max_sessions=limit) as server:

        async def one(n: int) -> None:
            try:
                client = await raw_open(server.url)
            except rtstate.errors.HandshakeError as exc:
                refused.append(exc.status or 0)
                return
            accepted.append(n)
            await release.wait()
            await client.ws.abort()

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                for n in range(clients):
                    tasks.start_soon(one, n)
                while len(accepted) + len(refused) < clients:
                    await anyio.sleep(0.01)
                assert len(accepted) == limit
                assert refused == [503] * (clients - limit)
                release.set()
        with anyio.fail_after(10):
            while server.sessions:
                await anyio.sleep(0.01)
        assert await well_behaved(server.url) == "Fine."


# --- shutdown ----------------------------------------------------------------------------


async def test_shutdown_is_bounded_by_close_timeout_with_clients_that_do_not_read() -> None:
    close_timeout = 1.0
    audio = bytes(i % 251 for i in range(120 * 48_000))  # 120 s of pcm16: MBs of frames
    script = ScriptedResponder([Message(text="long", audio=audio)], cycle=True)
    stuck = []
    async with serve(
        responder=lambda: script, close_timeout=close_timeout, config=ServerConfig()
    ) as server:
        for _ in range(3):
            client = await raw_open(server.url, rcvbuf=4096)
            await client.send(CREATE)  # the server writes MBs to a client that never reads
            stuck.append(client)
        await anyio.sleep(0.5)
        assert await well_behaved(server.url) == "long"  # beside them, unaffected
        start = anyio.current_time()
    elapsed = anyio.current_time() - start
    assert elapsed < close_timeout * 4, elapsed  # the write timeout alone is 30 s
    for client in stuck:
        assert client.ws.close_code is None or client.ws.close_code != 1000
        await client.ws.abort()
