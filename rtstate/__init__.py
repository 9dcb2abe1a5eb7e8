"""rtstate: a sans-IO state machine for the OpenAI Realtime API."""

from __future__ import annotations

from . import codec, events
from .errors import LocalProtocolError, RemoteProtocolError, RtStateError

__all__ = [
    "LocalProtocolError",
    "RemoteProtocolError",
    "RtStateError",
    "codec",
    "events",
]

__version__ = "0.1.0.dev0"
