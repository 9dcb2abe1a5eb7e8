"""One WebSocket over an anyio byte stream: ``websockets``' sans-IO protocol, driven.

``WebSocket`` owns the byte stream and the protocol object. It reassembles messages,
answers pings and closes (the protocol decides; we write what it queues), sends
keepalive pings, and maps every anyio / websockets / OS failure to rtstate's own
errors. Writes are serialised by a lock and shielded from cancellation, so a frame
is written whole or the connection is aborted: never half a frame followed by more.
"""

from __future__ import annotations

import os
import re
from collections import deque

import anyio
import anyio.abc
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, PayloadTooBig, ProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.streams import StreamReader

from ..errors import ConnectionClosed, HandshakeError
from ._sync import Mutex

__all__ = ["ABNORMAL", "ANSWER_LIMIT", "BODY_WAIT", "READ_SIZE", "WebSocket"]

READ_SIZE = 64 * 1024
"""Bytes asked of the stream per read: an audio delta of 100 ms is about 6 KB. Not
more: a socket read allocates this much first, and past 128 KiB that allocation
(an ``mmap``) costs more than the read itself."""

ABNORMAL = 1006
"""The close code when the connection ended without a close frame."""

ANSWER_LIMIT = 64 * 1024
"""Bytes of a handshake answer a client reads before it gives up on it (a refusal's
body is a few hundred bytes; an answer past this is not one worth waiting for)."""

BODY_WAIT = 1.0
"""Seconds a client waits for the rest of a refusal's body once its status line and
headers are in (a server that sends no length and keeps the socket open)."""

_STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3})[ \r]")

_DATA = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)
_WHOLE = (0x81, 0x82)  # the first byte of a whole text / binary frame: FIN, no RSV bits
_AT_EOF = StreamReader.at_eof.__code__
_NETWORK_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class WebSocket:
    """A message-level WebSocket over ``stream`` (client or server side).

    Args:
        stream: an open anyio byte stream (TCP, TLS or in-memory).
        protocol: a ``websockets`` ``ClientProtocol`` or ``ServerProtocol``, open or
            still in its handshake.
        write_timeout: seconds a write may block on a peer that does not read before
            the connection is aborted (a frame is never left half written).
        close_timeout: seconds to wait for the peer to end the connection once the
            closing handshake is done (or started by a failure) before dropping it.
        text_only: refuse what is not a UTF-8 text message, as the Realtime service
            takes JSON events in text messages only (the server side): a binary
            message closes the connection with 1003 (unsupported data), a text message
            that is not UTF-8 with 1007 (invalid payload data). Nothing after it is
            delivered.
    """

    def __init__(
        self,
        stream: anyio.abc.ByteStream,
        protocol: ClientProtocol | ServerProtocol,
        *,
        write_timeout: float = 30.0,
        close_timeout: float = 5.0,
        text_only: bool = False,
    ) -> None:
        self._stream = stream
        self._text_only = text_only
        self._binary = False  # the message being reassembled started with a binary frame
        self._protocol = protocol
        self._write_timeout = write_timeout
        self._close_timeout = close_timeout
        self._lock = Mutex()  # no checkpoint when free: the read path takes it per read
        self._messages: deque[bytes] = deque()
        self._parts: list[bytes] = []
        self._handshake: deque[Request | Response] = deque()
        self._pongs: dict[bytes, anyio.Event] = {}
        self._eof = False
        self._aborted: str | None = None
        self._failed: tuple[int, str] | None = None  # a close this side started on a fault
        # a client's handshake answer as it arrives (its start, and its size), to say
        # why it failed; ``None`` on a server and once the handshake is over
        self._answer: bytearray | None = (
            bytearray() if isinstance(protocol, ClientProtocol) else None
        )
        self._answer_size = 0
        self._answered: int | None = None  # the status of the answer, once in
        # the client's direct path (``_feed``): ``None`` until the handshake is over,
        # then whether received bytes are framed here rather than by the protocol
        self._direct: bool | None = None if isinstance(protocol, ClientProtocol) else False
        self._pending: list[bytes] = []  # the start of a frame not yet whole
        self._pending_size = 0
        self._needed = 0  # bytes the pending frame needs before it can be cut

    # --- state -------------------------------------------------------------------------

    @property
    def open(self) -> bool:
        """Messages can still be sent."""
        return self._protocol.state is State.OPEN and self._aborted is None

    @property
    def close_code(self) -> int | None:
        """How the connection ended (``None`` while it is open).

        A close this side started because of what the peer sent (a frame too large,
        a protocol error, a frame strict mode refused) reports this side's code, not
        the peer's echo.
        """
        protocol = self._protocol
        if protocol.state is not State.CLOSED and not self._eof and self._aborted is None:
            return None
        if self._failed is not None:
            return self._failed[0]
        if self._aborted is not None:
            return ABNORMAL
        if protocol.parser_exc is not None and protocol.close_sent is not None:
            return protocol.close_sent.code
        if protocol.close_rcvd is None:
            return ABNORMAL
        return protocol.close_rcvd.code

    @property
    def close_reason(self) -> str:
        """Why the connection ended, in words ("" for a plain close)."""
        protocol = self._protocol
        exc = protocol.parser_exc
        if self._failed is not None:
            return self._failed[1]
        if self._aborted is not None:
            return self._aborted
        if isinstance(exc, PayloadTooBig):
            return f"a received frame is too large: {exc}"
        if exc is not None:
            return f"the peer broke the WebSocket protocol: {exc}"
        if protocol.close_rcvd is None:
            return "the connection was lost without a close frame"
        return protocol.close_rcvd.reason

    def closed_error(self) -> ConnectionClosed:
        """The error a call on this closed connection raises."""
        return ConnectionClosed(self.close_code, self.close_reason)

    # --- handshake ---------------------------------------------------------------------

    async def handshake_event(self) -> Request | Response:
        """Read until the peer's handshake (a request on a server, a response on a
        client) arrives.

        A client fails as soon as the answer cannot be a WebSocket's: it is not HTTP,
        has too many headers, is larger than ``ANSWER_LIMIT``, or is a refusal whose
        body does not end within ``BODY_WAIT`` seconds of its headers.

        Raises:
            HandshakeError: the answer is not a valid one, or the connection ended
                first; with the HTTP status when the answer had one.
        """
        client = self._answer is not None
        while not self._handshake:
            if client:
                self._check_answer()
            if self._eof:
                raise HandshakeError(
                    self._answer_status(), "the connection closed during the handshake"
                )
            if client and self._refusal_pending():
                with anyio.move_on_after(BODY_WAIT):
                    await self._read()
                    continue
                raise HandshakeError(
                    self._answer_status(),
                    f"the body of the answer did not end within {BODY_WAIT:g} s: "
                    f"{self._answer_body()}",
                )
            await self._read()
        if client:
            self._answered = self._answer_status()
        self._answer = None
        return self._handshake.popleft()

    def _answer_status(self) -> int | None:
        """The HTTP status of the client's handshake answer so far, if it has one."""
        match = _STATUS.match(self._answer or b"")
        return int(match.group(1)) if match else None

    def _answer_body(self) -> str:
        answer = self._answer or b""
        _, _, body = bytes(answer).partition(b"\r\n\r\n")
        return body[:500].decode("utf-8", "replace")

    def _refusal_pending(self) -> bool:
        """The answer's status line and headers are in, it is not a 101, and its body
        has not ended."""
        answer = self._answer
        if answer is None or b"\r\n\r\n" not in answer:
            return False
        status = self._answer_status()
        return status is not None and status != 101

    def _check_answer(self) -> None:
        """Raise if the client's handshake answer already failed."""
        exc = self._protocol.handshake_exc
        if exc is not None and not self._handshake:
            cause = exc.__cause__
            detail = f"{exc}: {cause}" if cause is not None else str(exc)
            raise HandshakeError(self._answer_status(), detail)
        if self._answer_size > ANSWER_LIMIT:
            raise HandshakeError(
                self._answer_status(),
                f"the answer to the handshake is larger than {ANSWER_LIMIT:,} bytes",
            )

    async def request(self) -> Request:
        """Server side: read until the client's handshake request arrives.

        Raises:
            HandshakeError: what arrived is not an HTTP request (``websockets``'
                reason; its 400 answer is written), or the connection ended first.
        """
        while not self._handshake:
            exc = self._protocol.handshake_exc
            if exc is not None:
                cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
                raise HandshakeError(None, f"{exc}{cause}")
            if self._eof:
                raise HandshakeError(None, "the connection closed during the handshake")
            await self._read()
        event = self._handshake.popleft()
        if not isinstance(event, Request):  # pragma: no cover - a server reads requests
            raise TypeError(type(event).__name__)
        return event

    def check_accepted(self) -> None:
        """Raise if the server refused the client's handshake.

        Raises:
            HandshakeError: with the HTTP status and body the server answered.
        """
        exc = self._protocol.handshake_exc
        if exc is None:
            return
        if isinstance(exc, InvalidStatus):
            response = exc.response
            body = response.body.decode("utf-8", "replace")[:500] if response.body else ""
            raise HandshakeError(response.status_code, body or response.reason_phrase)
        cause = exc.__cause__
        raise HandshakeError(self._answered, f"{exc}: {cause}" if cause else str(exc))

    async def write_handshake(self) -> None:
        """Write what the protocol queued (the request or the response)."""
        await self._flush()

    # --- messages ----------------------------------------------------------------------

    async def receive(self) -> bytes | None:
        """The next whole message (text or binary, as bytes); ``None`` once closed.

        Pings are answered and the peer's close is echoed on the way.
        """
        if not await self._wait_messages():
            return None
        return self._messages.popleft()

    async def receive_many(self) -> list[bytes]:
        """Every whole message one read brought (at least one); ``[]`` once closed."""
        if not await self._wait_messages():
            return []
        messages = list(self._messages)
        self._messages.clear()
        return messages

    async def send(self, frames: list[str] | tuple[str, ...]) -> None:
        """Write ``frames`` as text messages, in order, in one write.

        Raises:
            ConnectionClosed: the connection is closed or closing; nothing was written.
        """
        if not frames:
            return
        async with self._lock:
            if not self.open:
                raise self.closed_error()
            protocol = self._protocol
            for frame in frames:
                protocol.send_text(frame.encode())
            await self._write_locked()

    async def ping(self, timeout: float) -> bool:
        """Send a ping and wait up to ``timeout`` seconds for its pong."""
        data = os.urandom(4)
        pong = self._pongs[data] = anyio.Event()
        try:
            async with self._lock:
                if not self.open:
                    return False
                self._protocol.send_ping(data)
                await self._write_locked()
            with anyio.move_on_after(timeout):
                await pong.wait()
            return pong.is_set()
        finally:
            self._pongs.pop(data, None)

    async def send_close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (a no-op once closing). The reader then sees
        the peer's close and the end of the stream."""
        with anyio.CancelScope(shield=True):
            async with self._lock:
                if self.open:
                    self._protocol.send_close(code, reason)
                    await self._write_locked()

    async def close(self, code: int = 1000, reason: str = "", *, timeout: float = 5.0) -> None:
        """Close when no other task reads: start the closing handshake, read up to
        ``timeout`` seconds for the peer's close, then close the stream. Shielded: a
        cancelled caller still closes cleanly."""
        with anyio.CancelScope(shield=True):
            await self.send_close(code, reason)
            with anyio.move_on_after(timeout):
                while not self._eof and self._aborted is None:
                    await self._read()
            await self.abort()

    async def abort(self, reason: str | None = None) -> None:
        """Close the stream now, without a closing handshake."""
        if reason is not None and self._aborted is None and not self._eof:
            self._aborted = reason
        self._eof = True
        with anyio.CancelScope(shield=True):
            await self._stream.aclose()

    async def fail(self, code: int, reason: str) -> None:
        """Close because of a fault this side found in what the peer sent: the close
        frame carries ``code`` (and ``reason``, cut to fit a close frame), and
        ``close_code`` / ``close_reason`` report them once closed."""
        if self._failed is None:
            self._failed = (code, reason)
        with anyio.CancelScope(shield=True):
            async with self._lock:
                if self._protocol.state is State.OPEN:
                    self._protocol.fail(code, reason.encode()[:120].decode("utf-8", "ignore"))
                    await self._write_locked()

    # --- internals ---------------------------------------------------------------------

    async def _wait_messages(self) -> bool:
        """Read until a whole message is buffered: ``True``; ``False`` once closed."""
        while not self._messages:
            if self._eof or self._aborted is not None:
                return False
            await self._read()
        return True

    async def _read(self) -> None:
        try:
            if self._protocol.close_expected():
                # the closing handshake is done or was started by a failure: the peer
                # has close_timeout seconds to end the connection
                with anyio.fail_after(self._close_timeout):
                    data = await self._stream.receive(READ_SIZE)
            else:
                data = await self._stream.receive(READ_SIZE)
        except (TimeoutError, anyio.EndOfStream, *_NETWORK_ERRORS):
            if self._pending:  # the start of a frame: the protocol says it was cut short
                self._protocol.receive_data(b"".join(self._pending))
                self._pending = []
            self._protocol.receive_eof()
            self._collect()
            await self.abort()  # the peer is gone: release the socket now
            return
        if self._direct:
            if self._protocol.state is State.OPEN:
                if self._feed(data):
                    await self._flush()
                return
            # closing (this side started it, or failed): the protocol takes it all
            self._direct = False
            if self._pending:
                data = b"".join((*self._pending, data))
                self._pending = []
        answer = self._answer
        if answer is not None:  # a client in its handshake: keep the answer's start
            self._answer_size += len(data)
            if len(answer) < ANSWER_LIMIT:
                answer += data[: ANSWER_LIMIT - len(answer)]
        self._protocol.receive_data(data)
        self._collect()
        if self._direct is None:
            self._direct = self._can_go_direct()
        await self._flush()

    def _can_go_direct(self) -> bool | None:
        """Whether a client whose handshake is over may frame what it receives itself.

        Only while ``websockets``' parser waits at the start of a frame with nothing
        buffered (it may have been given the start of a frame with the handshake's
        answer), with no extension and no debug log of frames. ``None``: ask again
        after the next read; ``False``: never (the protocol frames everything).
        """
        protocol = self._protocol
        if protocol.state is State.CONNECTING:
            return None
        if protocol.state is not State.OPEN or protocol.extensions or protocol.debug:
            return False
        if protocol.reader.buffer:
            return None
        parser = protocol.parser
        while (inner := getattr(parser, "gi_yieldfrom", None)) is not None:
            parser = inner
        return True if getattr(parser, "gi_code", None) is _AT_EOF else None

    def _feed(self, data: bytes) -> bool:
        """The client's direct path: cut whole unfragmented text and binary frames
        out of ``data`` here, the common case, and hand every other frame whole to
        ``websockets``' protocol (control frames, fragments, a frame too large or
        malformed: it answers, checks and fails as it always does). The protocol
        then always waits at a frame's start; once it is no longer open, it gets
        all bytes from here on. Whether it was given anything (there may be a pong
        or a close to write).
        """
        if self._pending:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size < self._needed:
                return False
            data = b"".join(self._pending)
            self._pending = []
        protocol = self._protocol
        messages = self._messages
        size = len(data)
        position = 0
        handed = False
        while position < size:
            first = data[position]
            second = data[position + 1] if position + 1 < size else 0
            length = second & 0x7F
            head = 2
            if length == 126:
                head = 4
                if position + head <= size:
                    length = int.from_bytes(data[position + 2 : position + 4])
            elif length == 127:
                head = 10
                if position + head <= size:
                    length = int.from_bytes(data[position + 2 : position + 10])
            if second & 0x80:
                head += 4  # masked: the protocol refuses it
            end = position + head + length
            limit = protocol.max_size
            if limit is not None and protocol.cur_size is not None:
                limit -= protocol.cur_size
            if position + head > size or (end > size and (limit is None or length <= limit)):
                # not whole yet (the protocol takes a frame past max_size at once,
                # to refuse it)
                self._pending = [data[position:]]
                self._pending_size = size - position
                self._needed = end - position if position + head <= size else head
                return handed
            if (
                first in _WHOLE
                and not second & 0x80
                and protocol.cur_size is None
                and (limit is None or length <= limit)
            ):
                messages.append(data[position + head : end])
                position = end
                continue
            handed = True
            if end > size:  # too large: the protocol fails the connection on its header
                protocol.receive_data(data[position:])
                position = size
            else:
                protocol.receive_data(data[position:end])
                position = end
            self._collect()
            if protocol.state is not State.OPEN:
                self._direct = False
                if position < size:
                    protocol.receive_data(data[position:])
                    self._collect()
                return True
        return handed

    def _collect(self) -> None:
        for event in self._protocol.events_received():
            if isinstance(event, Frame):
                opcode = event.opcode
                if opcode in _DATA:
                    if self._failed is not None:
                        continue  # refused a message: nothing after it is delivered
                    if opcode is not Opcode.CONT:
                        self._binary = opcode is Opcode.BINARY
                    self._parts.append(bytes(event.data))
                    if event.fin:
                        parts = self._parts
                        message = parts[0] if len(parts) == 1 else b"".join(parts)
                        self._parts = []
                        if not self._text_only or self._accepts(message):
                            self._messages.append(message)
                elif opcode is Opcode.PONG:
                    waiter = self._pongs.get(bytes(event.data))
                    if waiter is not None:
                        waiter.set()
            else:
                self._handshake.append(event)

    def _accepts(self, message: bytes) -> bool:
        """``text_only``: whether ``message`` is UTF-8 text; if not, start closing
        with 1003 (binary) or 1007 (not UTF-8); ``_read`` writes the close."""
        if self._binary:
            self._refuse(1003, "binary frames are not supported: send JSON events as text")
            return False
        try:
            message.decode()
        except UnicodeDecodeError as exc:
            self._refuse(1007, f"a text message is not UTF-8 (at byte {exc.start})")
            return False
        return True

    def _refuse(self, code: int, reason: str) -> None:
        self._failed = (code, reason)
        if self._protocol.state is State.OPEN:
            self._protocol.fail(code, reason)

    async def _flush(self) -> None:
        async with self._lock:
            await self._write_locked()

    async def _write_locked(self) -> None:
        chunks = self._protocol.data_to_send()
        if not chunks:
            return
        data = b"".join(chunks)
        eof = chunks[-1] == b""
        if self._eof or self._aborted is not None:
            return
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + self._write_timeout
            try:
                if data:
                    await self._stream.send(data)
                if eof:
                    await self._send_eof()
            except (*_NETWORK_ERRORS, ProtocolError):
                self._protocol.receive_eof()
                self._eof = True
                return
        if scope.cancelled_caught:
            # the peer stopped reading: a frame may be half written, so nothing more
            # can follow it on this stream
            await self.abort(f"a write blocked for more than {self._write_timeout} s")

    async def _send_eof(self) -> None:
        send_eof = getattr(self._stream, "send_eof", None)
        try:
            if send_eof is not None:
                await send_eof()
        except NotImplementedError:  # TLS streams cannot half-close
            await self._stream.aclose()
