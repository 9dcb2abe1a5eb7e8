"""The client's byte streams (``AsyncioStream``, ``TrioStream``), against a plain anyio peer.

``open_stream`` dials ``AsyncioStream`` on asyncio and ``TrioStream`` (anyio's stream,
read directly) on trio; each must behave as anyio's socket stream does: bytes in
order, half-close, EOF, closing, cancellation, and TCP flow control when the session
does not read.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest
import trustme
from anyio.streams.tls import TLSStream

from rtstate.transport._asyncio_stream import BUFFER_SIZE, HIGH_WATER, AsyncioStream
from rtstate.transport._client import open_stream
from rtstate.transport._trio_stream import TrioStream

pytestmark = pytest.mark.anyio

Handler = Callable[[anyio.abc.SocketStream], Awaitable[None]]


@asynccontextmanager
async def peer(handler: Handler) -> AsyncIterator[anyio.abc.ByteStream]:
    """A loopback listener that runs ``handler`` on its one connection; yields the
    client's stream from ``open_stream``."""
    listeners = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listeners.extra(anyio.abc.SocketAttribute.local_port)
    (listener,) = listeners.listeners
    assert isinstance(listener, anyio.abc.SocketListener)
    async with listeners, anyio.create_task_group() as tasks:

        async def serve_one() -> None:
            stream = await listener.accept()
            async with stream:
                await handler(stream)

        tasks.start_soon(serve_one)
        stream = await open_stream("127.0.0.1", port, secure=False)
        try:
            yield stream
        finally:
            await stream.aclose()
        tasks.cancel_scope.cancel()


async def read_all(stream: anyio.abc.ByteStream) -> bytes:
    data = bytearray()
    with anyio.fail_after(10):
        while True:
            try:
                data += await stream.receive()
            except anyio.EndOfStream:
                return bytes(data)


async def echo(stream: anyio.abc.SocketStream) -> None:
    """Echo until EOF, then say so and end."""
    with anyio.fail_after(10):
        try:
            while True:
                await stream.send(await stream.receive())
        except anyio.EndOfStream:
            await stream.send(b"<eof>")
            await stream.send_eof()


async def test_open_stream_is_the_backend_s_own_stream(anyio_backend: str) -> None:
    async with peer(echo) as stream:
        assert isinstance(stream, AsyncioStream if anyio_backend == "asyncio" else TrioStream)
        await stream.send(b"hello ")
        await stream.send(b"world")
        await stream.send_eof()  # half-close: the echo still comes back
        assert await read_all(stream) == b"hello world<eof>"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_receive_splits_a_chunk_larger_than_asked(anyio_backend: str) -> None:
    async def send_and_end(stream: anyio.abc.SocketStream) -> None:
        await stream.send(b"0123456789")

    async with peer(send_and_end) as stream:
        with anyio.fail_after(10):
            first = await stream.receive(4)
        rest = await read_all(stream)
        assert (len(first), first + rest) == (4, b"0123456789")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_session_that_does_not_read_holds_the_peer_back(anyio_backend: str) -> None:
    total = 8 * HIGH_WATER
    payload = bytes(i % 251 for i in range(total))
    sent = anyio.Event()

    async def flood(stream: anyio.abc.SocketStream) -> None:
        for start in range(0, total, BUFFER_SIZE):
            await stream.send(payload[start : start + BUFFER_SIZE])
        sent.set()

    async with peer(flood) as stream:
        assert isinstance(stream, AsyncioStream)
        await anyio.sleep(0.5)  # the client reads nothing meanwhile
        protocol = stream._protocol
        # reading paused with at most a read past the bound; TCP holds the rest back
        assert protocol.paused
        assert HIGH_WATER < protocol.buffered <= HIGH_WATER + BUFFER_SIZE
        assert not sent.is_set()
        data = await read_all(stream)  # resumes: every byte, in order
        assert hashlib.sha256(data).digest() == hashlib.sha256(payload).digest()
        assert sent.is_set()
        assert not protocol.paused


async def test_a_cancelled_receive_loses_nothing(anyio_backend: str) -> None:
    go = anyio.Event()

    async def late(stream: anyio.abc.SocketStream) -> None:
        await go.wait()
        await stream.send(b"late")

    async with peer(late) as stream:
        with anyio.move_on_after(0.1) as scope:
            await stream.receive()
        assert scope.cancelled_caught
        go.set()
        assert await read_all(stream) == b"late"


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_closed_and_broken_streams_raise_anyio_errors(anyio_backend: str) -> None:
    async def hang(stream: anyio.abc.SocketStream) -> None:
        await anyio.sleep_forever()

    async with peer(hang) as stream:
        await stream.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.send(b"x")

    async def drop(stream: anyio.abc.SocketStream) -> None:
        await stream.aclose()  # an abort: the client sees the end

    async with peer(drop) as stream:
        assert await read_all(stream) == b""
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()
        with pytest.raises((anyio.BrokenResourceError, anyio.ClosedResourceError)):
            with anyio.fail_after(10):
                for _ in range(100):  # the reset arrives after a write or two
                    await stream.send(b"x" * 1024)
                    await anyio.sleep(0.01)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_send_waits_while_the_peer_does_not_read(anyio_backend: str) -> None:
    chunks = [bytes([n]) * BUFFER_SIZE for n in range(256)]
    start = anyio.Event()
    done = anyio.Event()
    received = hashlib.sha256()
    sent = hashlib.sha256()
    progress: list[int] = []

    async def slow_reader(stream: anyio.abc.SocketStream) -> None:
        # one read first: anyio's stream reads without bound until its first receive
        received.update(await stream.receive())
        await start.wait()
        with anyio.fail_after(20):
            while True:
                try:
                    received.update(await stream.receive())
                except anyio.EndOfStream:
                    done.set()
                    return

    async with peer(slow_reader) as stream:

        async def write() -> None:
            for n in range(4096):  # 256 MiB at most: more than the kernel buffers
                chunk = chunks[n % 256]
                await stream.send(chunk)
                sent.update(chunk)
                progress.append(n)
                if start.is_set() and n > 2 * blocked_at:
                    break  # flowing again: enough
            await stream.send_eof()

        blocked_at = 0
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(write)
            await anyio.sleep(0.5)
            before = len(progress)
            await anyio.sleep(0.2)
            assert len(progress) == before < 4096  # blocked: the kernel buffers are full
            blocked_at = before
            start.set()
        with anyio.fail_after(20):
            await done.wait()
    assert received.digest() == sent.digest()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_two_tasks_cannot_wait_to_receive_at_once(anyio_backend: str) -> None:
    async def hang(stream: anyio.abc.SocketStream) -> None:
        await anyio.sleep_forever()

    async with peer(hang) as stream, anyio.create_task_group() as tasks:
        tasks.start_soon(stream.receive)
        await anyio.sleep(0.05)
        with pytest.raises(anyio.BusyResourceError):
            await stream.receive()
        tasks.cancel_scope.cancel()


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_loop_of_sends_lets_other_tasks_run(anyio_backend: str) -> None:
    async def drain(stream: anyio.abc.SocketStream) -> None:
        await read_all(stream)

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0)

    async with peer(drain) as stream, anyio.create_task_group() as tasks:
        tasks.start_soon(ticker)
        await anyio.sleep(0)
        before = ticks
        for _ in range(50):  # each send fits the kernel buffer: none has to wait
            await stream.send(b"x" * 64)
        assert ticks - before >= 25
        tasks.cancel_scope.cancel()


async def test_tls_delivers_many_small_records_read_at_once_exactly(anyio_backend: str) -> None:
    """A burst of small TLS records arrives in one socket read: asyncio's TLS layer
    then decrypts record after record into the rest of the stream's read buffer.
    Every byte must come out once and in order (a copied buffer lost them)."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    records = [hashlib.sha256(bytes([i % 256, i // 256])).digest() * 8 for i in range(400)]
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def serve_one() -> None:
        (tcp,) = listener.listeners
        assert isinstance(tcp, anyio.abc.SocketListener)
        raw = await tcp.accept()
        stream = await TLSStream.wrap(
            raw, server_side=True, ssl_context=server_context, standard_compatible=False
        )
        async with stream:
            await stream.receive()  # the client is ready: now a burst
            for record in records:  # one TLS record each
                await stream.send(record)

    async with listener, anyio.create_task_group() as tasks:
        tasks.start_soon(serve_one)
        stream = await open_stream("127.0.0.1", port, secure=True, ssl_context=client_context)
        async with stream:
            if anyio_backend == "asyncio":
                assert isinstance(stream, AsyncioStream)
            await stream.send(b"go")
            await anyio.sleep(0.2)  # let the whole burst reach the socket buffer
            expected = b"".join(records)
            data = bytearray()
            with anyio.fail_after(10):
                while len(data) < len(expected):
                    data += await stream.receive()
            assert bytes(data) == expected
