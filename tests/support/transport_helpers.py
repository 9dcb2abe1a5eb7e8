"""Shared pieces of the transport tests: session configs, predicates, a raw server.

``raw_server`` is a WebSocket server that is *not* rtstate's: it accepts with
``websockets``' sans-IO protocol, writes the frames a test gives it, and then does
what the test says (drop the socket, stop reading, close with a code). It plays the
misbehaving peer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import attrs
import orjson
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from rtstate import Step
from rtstate import transitions as t
from rtstate.events.payloads import SessionConfig

TEXT_ONLY = SessionConfig(modalities=("text",), turn_detection=None)
AUDIO = SessionConfig(modalities=("audio", "text"), turn_detection=None)


def has(kind: type[t.Transition]) -> Callable[[Step], bool]:
    """A ``wait_for`` predicate: the Step has a transition of type ``kind``."""
    return lambda step: any(isinstance(x, kind) for x in step.transitions)


def session_created(event_id: str = "event_1", session_id: str = "sess_1") -> str:
    return orjson.dumps(
        {
            "type": "session.created",
            "event_id": event_id,
            "session": {"id": session_id, "object": "realtime.session", "modalities": ["text"]},
        }
    ).decode()


@attrs.define
class RawPeer:
    """What the raw server saw."""

    request: Request | None = None
    received: list[bytes] = attrs.field(factory=list)
    pongs: list[bytes] = attrs.field(factory=list)
    port: int = 0
    url: str = ""


@asynccontextmanager
async def raw_server(
    frames: Sequence[str],
    *,
    then: str = "drop",
    close_code: int = 1000,
    read: bool = True,
    read_after: float = 0.0,
    ping: bytes | None = None,
) -> AsyncIterator[RawPeer]:
    """Accept one WebSocket on loopback, write ``frames``, then ``then``:

    - ``"drop"``: close the TCP socket without a close frame;
    - ``"close"``: send a close frame with ``close_code`` and finish the handshake;
    - ``"hang"``: keep the socket open; read (answering pings) only if ``read``,
      starting ``read_after`` seconds after the handshake (a peer that is slow to read).

    With ``ping``, a ping with that payload follows the frames (``peer.pongs``).
    """
    peer = RawPeer()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    peer.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    peer.url = f"ws://127.0.0.1:{peer.port}/v1/realtime"

    async def flush(stream: anyio.abc.ByteStream, protocol: ServerProtocol) -> None:
        chunks = protocol.data_to_send()
        data = b"".join(chunks)
        if data:
            await stream.send(data)
        if chunks and chunks[-1] == b"":  # the closing handshake is done: end it
            await stream.aclose()

    async def pump(stream: anyio.abc.ByteStream, protocol: ServerProtocol) -> None:
        await anyio.sleep(read_after)
        while True:
            try:
                data = await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                return
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Request):
                    peer.request = event
                elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    peer.received.append(bytes(event.data))
                elif isinstance(event, Frame) and event.opcode is Opcode.PONG:
                    peer.pongs.append(bytes(event.data))
            if read or peer.request is None:
                await flush(stream, protocol)

    async def handle(stream: anyio.abc.SocketStream) -> None:
        protocol = ServerProtocol(max_size=None)
        async with anyio.create_task_group() as tasks:
            while peer.request is None:
                data = await stream.receive()
                protocol.receive_data(data)
                for event in protocol.events_received():
                    if isinstance(event, Request):
                        peer.request = event
            assert peer.request is not None
            protocol.send_response(protocol.accept(peer.request))
            await flush(stream, protocol)
            if read:
                tasks.start_soon(pump, stream, protocol)
            for frame in frames:
                protocol.send_text(frame.encode())
            if ping is not None:
                protocol.send_ping(ping)
            await flush(stream, protocol)
            if then == "drop":
                await anyio.sleep(0.05)
                await stream.aclose()
                tasks.cancel_scope.cancel()
            elif then == "close":
                protocol.send_close(close_code, "bye")
                await flush(stream, protocol)
                await anyio.sleep(0.2)
                await stream.aclose()
                tasks.cancel_scope.cancel()
            else:
                await anyio.sleep_forever()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, handle)
        try:
            yield peer
        finally:
            tasks.cancel_scope.cancel()
    await listener.aclose()
