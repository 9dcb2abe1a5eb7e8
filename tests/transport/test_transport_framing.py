"""The client's framing of received bytes, fed in every kind of piece.

A client cuts whole text and binary frames out of the bytes itself and hands every
other frame whole to ``websockets``' protocol. These tests write a server's bytes by
hand (the handshake's answer, then frames), split at many sizes, and check that the
messages, the pong, the close and the errors are those the protocol alone gives.
"""

from __future__ import annotations

import anyio
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from rtstate.transport._memory import MemoryByteStream, memory_stream_pair
from rtstate.transport._websocket import WebSocket

pytestmark = pytest.mark.anyio

BIG = bytes(range(256)) * 260  # 66,560 bytes: a 64-bit length
MESSAGES = [b"a", b"\x00\x01" * 100, b"frag-mented", BIG, b'{"type": "last"}']
FINE = 3000  # bytes written in the pieces asked for; then 4 KiB at a time (BIG's body)


def frame(opcode: Opcode, data: bytes, *, fin: bool = True, mask: bool = False) -> bytes:
    return Frame(opcode, data, fin=fin).serialize(mask=mask)


STREAM = b"".join(
    [
        frame(Opcode.TEXT, MESSAGES[0]),
        frame(Opcode.BINARY, MESSAGES[1]),  # a 16-bit length
        frame(Opcode.PING, b"p1"),
        frame(Opcode.TEXT, b"frag-", fin=False),
        frame(Opcode.PING, b"p2"),  # between fragments
        frame(Opcode.CONT, b"men", fin=False),
        frame(Opcode.CONT, b"ted"),
        frame(Opcode.TEXT, BIG),
        frame(Opcode.TEXT, MESSAGES[4]),
    ]
)


async def opened(
    pieces: int, stream: bytes, *, max_size: int | None = 2**20
) -> tuple[WebSocket, MemoryByteStream, ServerProtocol]:
    """A client WebSocket, and the server's end: the handshake answer and ``stream``
    written after it in pieces of ``pieces`` bytes (the first one with the end of
    the answer, as a server that writes at once; past ``FINE`` bytes, 4 KiB at a
    time)."""
    ours, theirs = memory_stream_pair(capacity=float("inf"))
    protocol = ClientProtocol(parse_uri("ws://localhost/v1/realtime"), max_size=max_size)
    ws = WebSocket(ours, protocol, close_timeout=0.5)
    protocol.send_request(protocol.connect())
    await ws.write_handshake()
    server = ServerProtocol()
    server.receive_data(await theirs.receive())
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    data = b"".join(server.data_to_send()) + stream
    start = 0
    while start < len(data):
        size = pieces if start < FINE else max(pieces, 4096)
        await theirs.send(data[start : start + size])
        start += size
    await ws.handshake_event()
    ws.check_accepted()
    return ws, theirs, server


async def received(ws: WebSocket, count: int) -> list[bytes]:
    messages: list[bytes] = []
    with anyio.fail_after(20):
        while len(messages) < count and (message := await ws.receive()) is not None:
            messages.append(message)
    return messages


async def pongs(theirs: MemoryByteStream, server: ServerProtocol) -> list[bytes]:
    """The pongs the client wrote so far."""
    with anyio.move_on_after(0.2):
        while True:
            server.receive_data(await theirs.receive())
    return [
        bytes(event.data)
        for event in server.events_received()
        if isinstance(event, Frame) and event.opcode is Opcode.PONG
    ]


@pytest.mark.parametrize("pieces", [1, 2, 3, 7, 125, 4096, 70_000, 1_000_000])
async def test_messages_pings_and_fragments_come_through_whatever_the_pieces(
    pieces: int,
) -> None:
    ws, theirs, server = await opened(pieces, STREAM)
    assert await received(ws, len(MESSAGES)) == MESSAGES
    assert await pongs(theirs, server) == [b"p1", b"p2"]
    await theirs.send(frame(Opcode.TEXT, b"after"))
    assert await ws.receive() == b"after"
    await theirs.send(frame(Opcode.CLOSE, b"\x03\xe8bye"))
    await theirs.send_eof()
    assert await ws.receive() is None
    assert (ws.close_code, ws.close_reason) == (1000, "bye")
    await ws.abort()


@pytest.mark.parametrize("pieces", [1, 5, 4096])
async def test_a_masked_frame_from_the_server_is_a_protocol_error(pieces: int) -> None:
    stream = frame(Opcode.TEXT, b"ok") + frame(Opcode.TEXT, b"masked", mask=True)
    ws, _, _ = await opened(pieces, stream + frame(Opcode.TEXT, b"never"))
    assert await received(ws, 3) == [b"ok"]
    assert ws.close_code == 1002
    assert "incorrect masking" in ws.close_reason
    await ws.abort()


@pytest.mark.parametrize("pieces", [1, 3, 4096])
async def test_a_frame_past_max_size_closes_with_1009_before_it_is_whole(pieces: int) -> None:
    stream = frame(Opcode.TEXT, b"ok") + frame(Opcode.TEXT, b"x" * 2000)
    ws, _, _ = await opened(pieces, stream[:-500], max_size=1000)  # never whole
    assert await received(ws, 2) == [b"ok"]
    assert ws.close_code == 1009
    assert "too large" in ws.close_reason
    await ws.abort()


@pytest.mark.parametrize("cut", [1, 3, 9])
async def test_a_frame_cut_short_by_the_end_of_the_stream_is_an_abnormal_close(
    cut: int,
) -> None:
    stream = frame(Opcode.TEXT, b"ok") + frame(Opcode.TEXT, BIG)[:cut]
    ws, theirs, _ = await opened(4096, stream)
    await theirs.send_eof()
    assert await received(ws, 2) == [b"ok"]
    assert ws.close_code == 1006
    assert "stream ends after" in ws.close_reason  # websockets' own words
    await ws.abort()


async def test_a_reserved_opcode_is_refused_by_the_protocol() -> None:
    bad = bytes([0x83, 0x01]) + b"?"  # opcode 3 is reserved
    ws, _, _ = await opened(4096, frame(Opcode.TEXT, b"ok") + bad)
    assert await received(ws, 2) == [b"ok"]
    assert ws.close_code == 1002
    await ws.abort()
