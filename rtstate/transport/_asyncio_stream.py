"""A client's TCP (and TLS) byte stream on asyncio, read with no per-read overhead.

anyio's asyncio socket stream pauses the transport's reading after every
``receive`` and resumes it on the next (two ``epoll_ctl`` calls and an event per
read), and asyncio reads each time into a fresh 256 KiB ``bytes`` (a large
allocation that costs more than the read itself). With hundreds of sessions each
receiving an audio delta every 100 ms, that overhead was a large share of a
client's CPU per event. ``AsyncioStream`` keeps the transport reading into one
reused 64 KiB buffer and queues what arrives; reading pauses only when more than
``HIGH_WATER`` bytes wait unread, so a peer that sends faster than the session
folds is still held back by TCP. ``receive`` returns queued bytes without awaiting
anything, and otherwise waits on one future.

It is an ``anyio.abc.ByteStream`` with the semantics of anyio's own asyncio socket
stream (``send`` returns once the kernel took the bytes; ``send_eof`` half-closes;
``aclose`` aborts), used by ``open_stream`` when the running loop is asyncio. TLS
is asyncio's own (as ``websockets``' asyncio client uses it); an EOF without a TLS
``close_notify`` ends the stream as a plain EOF (as ``tls_standard_compatible=False``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from typing import Final

import anyio
import anyio.abc
import anyio.lowlevel

__all__ = ["BUFFER_SIZE", "HIGH_WATER", "LOW_WATER", "AsyncioStream", "open_asyncio_stream"]

BUFFER_SIZE: Final = 64 * 1024
"""Bytes read from the socket at most per read (one buffer, reused)."""

HIGH_WATER: Final = 1024 * 1024
"""Unread bytes past which the transport stops reading (TCP then holds the peer back)."""

LOW_WATER: Final = 256 * 1024
"""Unread bytes under which a paused transport reads again."""


class _Protocol(asyncio.BufferedProtocol):
    """Queues what the transport reads; wakes the one reader and the one writer."""

    def __init__(self, tls: bool) -> None:
        self._tls = tls
        self._buffer = bytearray(BUFFER_SIZE)
        self._view = memoryview(self._buffer)
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.paused = False  # reading paused: too much unread
        self.eof = False
        self.lost = False
        self.exception: Exception | None = None
        self.readable: asyncio.Future[None] | None = None  # the reader waits on it
        self.drained: asyncio.Future[None] | None = None  # set while writing is paused
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(0)  # send() returns once the kernel has it

    def get_buffer(self, sizehint: int) -> memoryview:
        # a view, not the bytearray: asyncio's TLS reads into ``buf[offset:]`` when one
        # record does not fill it, and a bytearray's slice is a copy (the bytes read
        # into it would be lost and stale ones delivered)
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.chunks.append(bytes(self._view[:nbytes]))
        self.buffered += nbytes
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake_reader()
        return None if self._tls else True  # keep a TCP stream open for writing

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.eof = True
        if exc is not None:
            self.exception = exc
        self._wake_reader()
        self.resume_writing()

    def pause_writing(self) -> None:
        if self.drained is None:
            self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _wake_reader(self) -> None:
        readable, self.readable = self.readable, None
        if readable is not None and not readable.done():
            readable.set_result(None)


class AsyncioStream(anyio.abc.ByteStream):
    """A byte stream over an asyncio transport and its ``_Protocol``."""

    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._closed = False

    async def receive(self, max_bytes: int = BUFFER_SIZE) -> bytes:
        """Queued bytes (at most ``max_bytes``), waiting for some if none are.

        Bytes already queued are returned without a checkpoint (no event-loop round
        per read): a reader that drains the queue runs at most through what arrived
        before it woke (``HIGH_WATER`` plus a read), then waits.

        Raises:
            anyio.EndOfStream: the peer ended its side.
            anyio.BrokenResourceError: the connection failed.
            anyio.ClosedResourceError: this side closed the stream.
            anyio.BusyResourceError: another task is waiting to receive.
        """
        protocol = self._protocol
        chunks = protocol.chunks
        while not chunks:
            if self._closed:
                raise anyio.ClosedResourceError
            if protocol.exception is not None:
                raise anyio.BrokenResourceError from protocol.exception
            if protocol.eof:
                raise anyio.EndOfStream
            if protocol.readable is not None:
                raise anyio.BusyResourceError("reading from")
            readable = protocol.readable = asyncio.get_running_loop().create_future()
            try:
                await readable
            finally:
                if protocol.readable is readable:
                    protocol.readable = None
        chunk = chunks.popleft()
        if len(chunk) > max_bytes:
            chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
            chunks.appendleft(rest)
        protocol.buffered -= len(chunk)
        if protocol.paused and protocol.buffered <= LOW_WATER and not protocol.lost:
            protocol.paused = False
            self._transport.resume_reading()
        return chunk

    async def send(self, item: bytes) -> None:
        """Write ``item``; return once the kernel took it all.

        Raises:
            anyio.BrokenResourceError: the connection failed.
            anyio.ClosedResourceError: this side closed the stream.
        """
        protocol = self._protocol
        if self._closed:
            raise anyio.ClosedResourceError
        if protocol.lost or self._transport.is_closing():
            raise anyio.BrokenResourceError from protocol.exception
        self._transport.write(item)
        drained = protocol.drained
        if drained is None:
            # yield as anyio's streams do, so a loop of sends cannot starve the reader
            await anyio.lowlevel.cancel_shielded_checkpoint()
            return
        await asyncio.shield(drained)
        if self._closed:
            raise anyio.ClosedResourceError  # aborted: the rest was discarded
        if protocol.exception is not None:
            raise anyio.BrokenResourceError from protocol.exception

    async def send_eof(self) -> None:
        """Half-close (TCP); a TLS stream cannot (``NotImplementedError``)."""
        if not self._transport.can_write_eof():
            raise NotImplementedError("this transport cannot half-close")
        if not self._transport.is_closing():
            with contextlib.suppress(OSError):  # the peer is gone: aclose follows
                self._transport.write_eof()

    async def aclose(self) -> None:
        """Close now (an abort: unsent bytes are dropped, as anyio's stream does)."""
        self._closed = True
        self._transport.abort()
        self._protocol._wake_reader()
        await anyio.lowlevel.checkpoint()


async def open_asyncio_stream(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncioStream:
    """Dial TCP (TLS with ``ssl_context``, checking ``host``'s certificate) on the
    running asyncio loop; the errors are the loop's (``OSError``, ``ssl.SSLError``)."""
    loop = asyncio.get_running_loop()
    tls = ssl_context is not None
    transport, protocol = await loop.create_connection(
        lambda: _Protocol(tls),
        host,
        port,
        ssl=ssl_context,
        server_hostname=host if tls else None,
        happy_eyeballs_delay=0.25,
    )
    assert isinstance(transport, asyncio.Transport)
    return AsyncioStream(transport, protocol)
