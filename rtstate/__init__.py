"""rtstate: a sans-IO state machine for the OpenAI Realtime API.

The three-step loop: ``step = conn.receive(frame)`` (or ``conn.send(event)``), write
``step.to_send`` in order, read ``step.transitions`` / ``conn.state``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import codec, events, server, transitions
from .config import AudioRetention, Config, Dialect
from .connection import ClientConnection, Tap, counter_ids
from .errors import (
    ConnectError,
    ConnectionClosed,
    HandshakeError,
    LocalProtocolError,
    RemoteProtocolError,
    RtStateError,
    TransportError,
)
from .fold import fold
from .journal import JournalError, JournalWriter, replay
from .plugins import HOOK_NAMES, PluginError
from .reconnect import Dropped, ReconnectPlan, plan_reconnect
from .server import ServerConnection
from .state import (
    InputBufferState,
    InputPhase,
    ItemPhase,
    ItemState,
    Ledger,
    PartPhase,
    PartState,
    Pending,
    RateLimitState,
    ResponsePhase,
    ResponseState,
    SessionPhase,
    SessionState,
    SpeechWindow,
)
from .step import (
    INFORMATIONAL,
    Closed,
    Diagnostic,
    Input,
    Interrupt,
    Malformed,
    Played,
    Resumed,
    Step,
    Tick,
)
from .transitions import Transition

if TYPE_CHECKING:
    from .transport import AsyncConnection, connect, connect_blocking, serve

__all__ = [
    "HOOK_NAMES",
    "INFORMATIONAL",
    "AsyncConnection",
    "AudioRetention",
    "ClientConnection",
    "Closed",
    "Config",
    "ConnectError",
    "ConnectionClosed",
    "Diagnostic",
    "Dialect",
    "Dropped",
    "HandshakeError",
    "Input",
    "InputBufferState",
    "InputPhase",
    "Interrupt",
    "ItemPhase",
    "ItemState",
    "JournalError",
    "JournalWriter",
    "Ledger",
    "LocalProtocolError",
    "Malformed",
    "PartPhase",
    "PartState",
    "Pending",
    "Played",
    "PluginError",
    "RateLimitState",
    "ReconnectPlan",
    "RemoteProtocolError",
    "ResponsePhase",
    "ResponseState",
    "Resumed",
    "RtStateError",
    "ServerConnection",
    "SessionPhase",
    "SessionState",
    "SpeechWindow",
    "Step",
    "Tap",
    "Tick",
    "Transition",
    "TransportError",
    "codec",
    "connect",
    "connect_blocking",
    "counter_ids",
    "events",
    "fold",
    "plan_reconnect",
    "replay",
    "serve",
    "server",
    "transitions",
]

__version__ = "0.1.0.dev0"

_TRANSPORT = frozenset({"AsyncConnection", "connect", "connect_blocking", "serve"})


def __getattr__(name: str) -> Any:
    """The transports load on first use: the sans-IO core imports no anyio."""
    if name in _TRANSPORT:
        return getattr(importlib.import_module(".transport", __name__), name)
    raise AttributeError(f"module 'rtstate' has no attribute {name!r}")
