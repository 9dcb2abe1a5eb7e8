"""The exceptions rtstate raises, named for whose fault the problem is.

``LocalProtocolError``: *you* asked for something that is always invalid (an event
that cannot be encoded, a call after close). ``RemoteProtocolError``: the *peer* sent
something we cannot accept (a frame that is not JSON, a missing or mistyped field, an
event that breaks the protocol under ``Config(strict=True)``).

Whichever is raised, the object that raised it is left exactly as it was before the
call: a rejected frame changes no state and the connection stays usable.
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "RemoteProtocolError", "RtStateError"]


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
