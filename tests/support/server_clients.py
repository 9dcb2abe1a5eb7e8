"""Test clients for the WebSocket server tests: a raw WebSocket client over anyio (the
handshake headers and subprotocols a test chooses, frames read and written by hand),
a socket that speaks no WebSocket at all, and a well-behaved rtstate session.

They run on asyncio and trio alike (``websockets``' sans-IO client driven by
rtstate's own ``WebSocket``), so a test can play a browser, a junk client or a client
that never reads.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import attrs
import orjson
from websockets.client import ClientProtocol
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from rtstate import transitions as t
from rtstate.events import client as c
from rtstate.events.payloads import SessionConfig
from rtstate.transport import connect
from rtstate.transport._websocket import WebSocket

TEXT_ONLY = SessionConfig(modalities=("text",), turn_detection=None)
CREATE = orjson.dumps({"type": "response.create"}).decode()
TEXT_UPDATE = orjson.dumps(
    {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
).decode()
"""A GA ``session.update`` to text-only answers (no synthetic voice)."""


@attrs.define
class RawClient:
    """A client WebSocket, open; ``subprotocol`` is the one the server selected."""

    ws: WebSocket
    protocol: ClientProtocol
    stream: anyio.abc.SocketStream

    @property
    def subprotocol(self) -> str | None:
        return self.protocol.subprotocol

    async def event(self) -> dict[str, object]:
        """The next server event (``{}`` once closed)."""
        message = await self.ws.receive()
        if message is None:
            return {}
        value: dict[str, object] = orjson.loads(message)
        return value

    async def until(self, kind: str) -> dict[str, object]:
        """Events up to the first whose type ends with ``kind`` (``{}`` if it closes
        first): ``"text.delta"`` is beta's ``response.text.delta`` and GA's
        ``response.output_text.delta``."""
        while event := await self.event():
            if str(event["type"]).endswith(kind):
                return event
        return {}

    async def send(self, frame: str) -> None:
        await self.ws.send([frame])


async def raw_open(
    url: str,
    *,
    subprotocols: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] = (),
    rcvbuf: int | None = None,
) -> RawClient:
    """Open a WebSocket to ``url`` offering ``subprotocols`` and sending ``headers``.

    Raises:
        rtstate.errors.HandshakeError: the server refused (its status and body).
    """
    uri = parse_uri(url)
    stream = await anyio.connect_tcp(uri.host, uri.port)
    if rcvbuf is not None:  # a client that will not read: small buffers fill fast
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    protocol = ClientProtocol(uri, subprotocols=[Subprotocol(p) for p in subprotocols] or None)
    ws = WebSocket(stream, protocol)
    request = protocol.connect()
    for name, value in headers:
        request.headers[name] = value
    protocol.send_request(request)
    await ws.write_handshake()
    with anyio.fail_after(10):
        await ws.handshake_event()
    ws.check_accepted()
    return RawClient(ws, protocol, stream)


@asynccontextmanager
async def raw_client(url: str, **options: object) -> AsyncIterator[RawClient]:
    client = await raw_open(url, **options)  # type: ignore[arg-type]
    try:
        yield client
    finally:
        await client.ws.abort()


async def junk(port: int, data: bytes) -> bytes:
    """Write ``data`` to the server's port and read what it answers until it closes."""
    answer = b""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        if data:
            await stream.send(data)
        with anyio.fail_after(10):
            try:
                while True:
                    answer += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                pass
    return answer


def done(step: object) -> bool:
    return any(isinstance(x, t.ResponseFinished) for x in step.transitions)  # type: ignore[attr-defined]


async def well_behaved(url: str, **options: object) -> str:
    """A whole text exchange over ``connect()``: the assistant's answer."""
    with anyio.fail_after(20):
        async with connect(url, **options) as conn:  # type: ignore[arg-type]
            await conn.wait_for(
                lambda s: any(isinstance(x, t.SessionStarted) for x in s.transitions)
            )
            await conn.send(c.SessionUpdate(session=TEXT_ONLY))
            await conn.send(c.ResponseCreate())
            await conn.wait_for(done)
            return conn.state.items[-1].text or ""
