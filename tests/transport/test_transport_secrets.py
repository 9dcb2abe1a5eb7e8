"""Secrets never reach a repr, an error message or a log, and cannot inject headers."""

from __future__ import annotations

import logging

import anyio
import anyio.abc
import pytest
from support.transport_helpers import has, raw_server, session_created

import rtstate
from rtstate import transitions as t
from rtstate.transport import connect, endpoint, serve

KEY = "sk-very-secret-123"


def test_the_endpoint_repr_shows_no_key() -> None:
    openai = endpoint("wss://api.openai.com/v1/realtime", api_key=KEY, model="gpt-realtime")
    azure = endpoint(f"wss://x.openai.azure.com/openai/realtime?api-key={KEY}", api_key=KEY)
    given = endpoint("ws://h/", headers={"Authorization": f"Bearer {KEY}", "X-Trace": "t1"})
    for target in (openai, azure, given):
        assert KEY not in repr(target)
        assert "[redacted]" in repr(target)
    assert "X-Trace', 't1'" in repr(given)  # only secrets are hidden
    assert ("Authorization", f"Bearer {KEY}") in openai.headers  # the value itself is kept


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"api_key": f"{KEY}\r\nX-Injected: 1"}, "the API key holds a CR, LF"),
        ({"api_key": f"{KEY}\n"}, "the API key holds a CR, LF"),
        ({"headers": {"X-Trace": "a\r\nX-Injected: 1"}}, "header 'X-Trace'"),
        ({"headers": {"Authorization": f"Bearer {KEY}\r\nX: 1"}}, "its value holds"),
        ({"headers": {"Bad Name": "v"}}, "not a valid HTTP header name"),
        ({"headers": {"X-Null": "a\x00b"}}, "header 'X-Null'"),
    ],
)
@pytest.mark.anyio
async def test_a_header_that_would_inject_is_refused_before_anything_is_sent(
    options: dict[str, object], says: str
) -> None:
    dialled: list[bool] = []

    async def dialer() -> anyio.abc.ByteStream:
        dialled.append(True)
        raise OSError("never dialled")

    with pytest.raises(rtstate.LocalProtocolError) as info:
        async with connect("ws://127.0.0.1:1/v1/realtime", dialer=dialer, **options):  # type: ignore[arg-type]
            pass
    assert says in str(info.value)
    assert KEY not in str(info.value)
    assert dialled == []


@pytest.mark.anyio
async def test_connect_errors_show_no_query_and_no_key() -> None:
    url = f"ws://user:{KEY}@127.0.0.1:1/v1/realtime?api-key={KEY}&model=m"

    async def refused() -> anyio.abc.ByteStream:
        raise ConnectionRefusedError("refused")

    async def slow() -> anyio.abc.ByteStream:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    for dialer, says in ((refused, "cannot connect to"), (slow, "no WebSocket to")):
        with pytest.raises(rtstate.errors.ConnectError) as info:
            async with connect(url, dialer=dialer, open_timeout=0.2):
                pass
        message = str(info.value)
        assert says in message and "ws://127.0.0.1:1/v1/realtime?..." in message
        assert KEY not in message
    with pytest.raises(rtstate.LocalProtocolError) as bad:
        rtstate.transport.endpoint(f"ftp://h/?api-key={KEY}")
    assert KEY not in str(bad.value)


@pytest.mark.anyio
async def test_a_refusal_that_echoes_the_key_is_scrubbed() -> None:
    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            body = f"Incorrect API key provided: {KEY}".encode()
            await stream.send(
                b"HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            await anyio.sleep(5)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, handle)
        with pytest.raises(rtstate.errors.HandshakeError) as info:
            async with connect(f"ws://127.0.0.1:{port}/v1/realtime", api_key=KEY):
                pass
        tasks.cancel_scope.cancel()
    await listener.aclose()
    assert info.value.status == 401
    assert KEY not in str(info.value) and "[redacted]" in info.value.body


@pytest.mark.anyio
async def test_debug_logging_of_the_handshake_shows_no_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {"Sec-WebSocket-Protocol": f"realtime, openai-insecure-api-key.{KEY}"}
    with caplog.at_level(logging.DEBUG, logger="websockets"):
        async with (
            raw_server([session_created()], then="hang") as peer,
            connect(f"{peer.url}?api-key={KEY}", api_key=KEY, headers=headers) as conn,
        ):
            with anyio.fail_after(10):
                await conn.wait_for(has(t.SessionStarted))
        async with (
            serve() as server,  # Azure's header, on a host that is not Azure's
            connect(server.url, api_key=KEY, azure_deployment="d") as azure,
        ):
            with anyio.fail_after(10):
                await azure.wait_for(has(t.SessionStarted))
    client = "\n".join(r.getMessage() for r in caplog.records if r.name == "websockets.client")
    assert "> Authorization: [redacted]" in client  # the lines are there, redacted
    assert "> api-key: [redacted]" in client
    assert "openai-insecure-api-key.[redacted]" in client
    assert "api-key=%5Bredacted%5D" in client  # the query of the request line
    assert KEY not in client
