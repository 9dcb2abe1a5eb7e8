"""A client's TCP byte stream on trio, read with one system call per read.

trio reads a socket by trying ``recv`` first and, on ``EAGAIN``, waiting for it to be
readable and trying again. A live session's socket is read as soon as a frame
arrives, so the first try nearly always fails: two ``recv`` calls and a wait per read,
under four layers of wrappers (anyio's stream, trio's stream, its socket, its helper).
``TrioStream`` reads the socket itself: it waits first and then reads once, and tries
at once only when the last read filled what was asked (more is likely queued).
Writing, half-closing and closing stay anyio's (``send``, ``send_eof``, ``aclose``);
TLS wraps it as it wraps anyio's own stream.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

import anyio
import anyio.abc
import trio
from anyio.streams.tls import TLSStream

from ._asyncio_stream import BUFFER_SIZE

__all__ = ["TrioStream", "open_trio_stream"]


class TrioStream(anyio.abc.ByteStream):
    """Reads ``stream``'s socket directly; everything else is ``stream``'s."""

    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self._stream = stream
        self._socket: socket.socket = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        self._closed = False
        self._receiving = False
        self._full = False  # the last read filled what was asked: try before waiting

    @property
    def extra_attributes(self) -> Any:
        return self._stream.extra_attributes

    async def receive(self, max_bytes: int = BUFFER_SIZE) -> bytes:
        """Bytes received (at most ``max_bytes``), waiting for some.

        Raises:
            anyio.EndOfStream: the peer ended its side.
            anyio.BrokenResourceError: the connection failed.
            anyio.ClosedResourceError: this side closed the stream.
            anyio.BusyResourceError: another task is waiting to receive.
        """
        if self._closed:
            raise anyio.ClosedResourceError
        if self._receiving:
            raise anyio.BusyResourceError("reading from")
        self._receiving = True
        sock = self._socket
        try:
            if self._full:
                await trio.lowlevel.checkpoint()
            while True:
                if not self._full:
                    await trio.lowlevel.wait_readable(sock)
                try:
                    data = sock.recv(max_bytes)
                except BlockingIOError:
                    self._full = False
                    continue
                break
        except trio.ClosedResourceError:
            raise anyio.ClosedResourceError from None
        except OSError as exc:
            if self._closed or sock.fileno() < 0:
                raise anyio.ClosedResourceError from None
            raise anyio.BrokenResourceError from exc
        finally:
            self._receiving = False
        if not data:
            raise anyio.EndOfStream
        self._full = len(data) == max_bytes
        return data

    async def send(self, item: bytes) -> None:
        """Write ``item`` (anyio's stream)."""
        await self._stream.send(item)

    async def send_eof(self) -> None:
        """Half-close (anyio's stream)."""
        await self._stream.send_eof()

    async def aclose(self) -> None:
        """Close (anyio's stream: a task waiting to receive gets ``ClosedResourceError``)."""
        self._closed = True
        await self._stream.aclose()


async def open_trio_stream(
    host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
) -> anyio.abc.ByteStream:
    """Dial TCP (TLS with ``ssl_context``, checking ``host``'s certificate; an EOF
    without ``close_notify`` is a plain EOF) on trio; the errors are anyio's."""
    stream = TrioStream(await anyio.connect_tcp(host, port))
    if ssl_context is None:
        return stream
    try:
        return await TLSStream.wrap(
            stream, hostname=host, ssl_context=ssl_context, standard_compatible=False
        )
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
