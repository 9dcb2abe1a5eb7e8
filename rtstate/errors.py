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

``RequestRejected``: the *server* refused a request a transport call waits on
(``AsyncConnection.request``, ``wait_for(..., request=...)``): its ``error`` event, as
data, raised where the caller waits. ``RequestDropped``: the *core* dropped such a
request before it was sent (a ``response.create`` over ``Config.max_in_flight``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # errors.py imports nothing of rtstate at run time
    from .events.client import ClientEvent
    from .events.payloads import ErrorInfo

__all__ = [
    "ConnectError",
    "ConnectionClosed",
    "HandshakeError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "RequestDropped",
    "RequestRejected",
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


class RequestRejected(RtStateError):
    """The server answered a request the caller waits on with an ``error`` event.

    The fold has already rolled back what the request changed locally (the
    ``ClientEventRejected`` transition); the connection stays open and usable.

    Attributes:
        event: the client event refused, as sent (with its ``event_id``).
        error: the server's ``ErrorInfo`` (``code``, ``message``, ``param``, ...).

    The message is the server's, with its code; ``event_type`` is the refused
    event's wire type and ``path`` the ``param`` the server blamed. The event's
    content is never in the message (a ``session.update`` may carry credentials).
    """

    def __init__(self, event: ClientEvent, error: ErrorInfo) -> None:
        said = error.message or "no message"
        code = f" ({error.code})" if error.code else ""
        super().__init__(
            f"the server rejected {event.type}{code}: {said}",
            event_type=event.type,
            path=error.param,
        )
        self.event = event
        self.error = error


class RequestDropped(RtStateError):
    """The connection dropped a request the caller waits on before sending it.

    A ``response.create`` that cannot go yet waits in the core's queue
    (``ledger.queued``), which holds at most ``Config.max_in_flight`` of them; one
    more is dropped, never sent (the ``queue_full`` diagnostic). A transport call
    waiting on it (``AsyncConnection.request``, ``wait_for(..., request=...)``) raises
    this at once instead of waiting out its timeout. Nothing was sent for it; the
    connection stays open and usable.

    Attributes:
        event: the client event dropped, as the caller sent it.
        reason: the diagnostic's code (``"queue_full"``).
    """

    def __init__(self, event: ClientEvent, reason: str, message: str) -> None:
        super().__init__(f"{event.type} dropped ({reason}): {message}", event_type=event.type)
        self.event = event
        self.reason = reason
