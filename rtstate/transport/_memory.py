"""An in-memory byte stream pair: a WebSocket over it runs the same code as over TCP."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._client import AsyncConnection, connect
from ._server import Server
from ._unwrap import Unwrap

_log = logging.getLogger("rtstate.transport")

__all__ = ["MemoryByteStream", "connect_in_memory", "memory_stream_pair"]


class MemoryByteStream(anyio.abc.ByteStream):
    """One end of ``memory_stream_pair``: bytes sent here are received at the other end."""

    def __init__(
        self, send: MemoryObjectSendStream[bytes], receive: MemoryObjectReceiveStream[bytes]
    ) -> None:
        self._send = send
        self._receive = receive
        self._chunk = b""  # the chunk being read, from ``_offset`` on
        self._offset = 0

    async def send(self, item: bytes) -> None:
        """Send ``item``; waits while the other end has ``capacity`` chunks unread.

        Raises:
            anyio.BrokenResourceError: the other end is closed.
            anyio.ClosedResourceError: this end was closed.
        """
        if item:
            await self._send.send(bytes(item))

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Up to ``max_bytes`` of what the other end sent.

        Raises:
            anyio.EndOfStream: the other end sent EOF or closed.
        """
        chunk, start = self._chunk, self._offset
        if not chunk:
            chunk, start = await self._receive.receive(), 0
        end = start + max_bytes
        if end < len(chunk):  # keep the rest without copying it
            self._chunk, self._offset = chunk, end
            return chunk[start:end]
        self._chunk, self._offset = b"", 0
        return chunk[start:] if start else chunk

    async def send_eof(self) -> None:
        """Half-close: the other end's next ``receive`` raises ``EndOfStream``."""
        await self._send.aclose()

    async def aclose(self) -> None:
        """Close both directions."""
        await self._send.aclose()
        await self._receive.aclose()


def memory_stream_pair(capacity: float = 64) -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected in-memory byte streams (for tests and for embedding).

    ``capacity`` chunks may be in flight each way before a sender waits, so a reader
    that stops applies backpressure exactly as TCP would.
    """
    a_send, b_receive = anyio.create_memory_object_stream[bytes](capacity)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](capacity)
    return MemoryByteStream(a_send, a_receive), MemoryByteStream(b_send, b_receive)


@asynccontextmanager
async def connect_in_memory(
    server: Server | None = None, **options: Any
) -> AsyncIterator[AsyncConnection]:
    """``connect()`` to ``server`` (default: a ``Server()`` with the echo responder)
    over an in-memory pair: the full WebSocket path, no socket, no port.

    ``options`` are ``connect()``'s keyword arguments (config, plugins, ...). Each
    dial (the first, and every ``redial()``) is a new pair served by ``server``.
    """
    server = server if server is not None else Server()
    with Unwrap(_log, "rtstate.transport.connect_in_memory") as unwrap:
        async with anyio.create_task_group() as tasks:

            async def dialer() -> anyio.abc.ByteStream:
                client_end, server_end = memory_stream_pair()
                tasks.start_soon(server.handle, server_end)
                return client_end

            async with connect("ws://memory/v1/realtime", dialer=dialer, **options) as conn:
                try:
                    yield conn
                except BaseException as exc:
                    unwrap.body = exc
                    raise
            tasks.cancel_scope.cancel()
