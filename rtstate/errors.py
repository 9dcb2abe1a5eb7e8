"""The exceptions rtstate raises, named for whose fault the problem is.

``LocalProtocolError``: *you* asked for something that is always invalid (an event
that cannot be encoded, a call after close). ``RemoteProtocolError``: the *peer* sent
something we cannot accept (a frame that is not JSON, a missing or mistyped field, an
event that breaks the protocol under ``Config(strict=True)``).

Whichever is raised, the object that raised it is left exactly as it was before the
call: a rejected frame changes no state and the connection stays usable.

``TransportError`` and its subclasses come from the transports (``rtstate.connect``,
``rtstate.serve``): the network, TLS or the WebSocket handshake failed, or the
connection is closed. Nothing from anyio or websockets escapes them.
"""

from __future__ import annotations

__all__ = [
    "ConnectError",
    "ConnectionClosed",
    "HandshakeError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "RtStateError",
    "TransportError",
]


class RtStateError(Exception):
    """Base class of every exception rtstate raises on purpose.

    Attributes:
        event_type: the wire ``type`` of the event concerned, or ``None`` when the
            frame was not readable far enough to know it.
        path: where in the event the problem is, in the dotted form OpenAI uses for
            ``error.param`` (``"item.content[0].type"``); ``None`` when it concerns
            the whole frame.
        excerpt: a short, printable excerpt of the frame, for logs.
    """

    def __init__(
        self,
        message: str,
        *,
        event_type: str | None = None,
        path: str | None = None,
        excerpt: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.event_type = event_type
        self.path = path
        self.excerpt = excerpt

    def __str__(self) -> str:
        parts = [self.message]
        if self.event_type is not None:
            parts.append(f"event type: {self.event_type!r}")
        if self.path is not None:
            parts.append(f"at: {self.path}")
        if self.excerpt is not None:
            parts.append(f"frame: {self.excerpt}")
        return "; ".join(parts)


class LocalProtocolError(RtStateError):
    """The caller tried to do something the protocol never allows.

    Raised before anything is written: the state is unchanged and nothing is queued.
    """


class RemoteProtocolError(RtStateError):
    """The peer sent a frame we cannot accept.

    Raised before the frame is folded: the state is unchanged, and the connection can
    go on receiving frames.
    """


class TransportError(RtStateError):
    """The transport failed; the sans-IO state keeps everything received."""


class ConnectError(TransportError):
    """The connection could not be opened: DNS, TCP, TLS (including an unverified
    certificate) or a timeout before the WebSocket handshake finished."""


class HandshakeError(ConnectError):
    """The server refused the WebSocket handshake.

    Attributes:
        status: the HTTP status it answered (401 for a bad key), or ``None`` when the
            connection ended before an answer.
        body: the start of the answer's body, or a description.
    """

    def __init__(self, status: int | None, body: str) -> None:
        head = "the WebSocket handshake failed" if status is None else f"HTTP {status}"
        super().__init__(f"{head}: {body}" if body else head)
        self.status = status
        self.body = body


class ConnectionClosed(TransportError):
    """The connection is closed: a call that needs it cannot proceed.

    Attributes:
        code: the WebSocket close code (1000 normal, 1001 going away, 1006 lost
            without a close frame, 1009 a frame too large), or ``None``.
        reason: the close reason, in words.
    """

    def __init__(self, code: int | None, reason: str) -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(f"the connection is closed: code {code}{detail}")
        self.code = code
        self.reason = reason
