"""rtstate: a sans-IO state machine for the OpenAI Realtime API.

The three-step loop: ``step = conn.receive(frame)`` (or ``conn.send(event)``), write
``step.to_send`` in order, read ``step.transitions`` / ``conn.state``.

The top level holds the names most programs need (the table "Public API" of the README
lists them); everything else is imported from its own module: ``rtstate.state``
(``ItemPhase``, ``ItemState``, ...), ``rtstate.step`` (``Tick``, ``Played``, ...),
``rtstate.errors`` (``HandshakeError``, ...), ``rtstate.config``, ``rtstate.codec``,
``rtstate.journal`` (``replay``), ``rtstate.plugins`` (``PluginError``),
``rtstate.transport`` (``connect_blocking``, ``connect_in_memory``, ...).

``import rtstate`` loads the sans-IO core only: the fake server (``rtstate.server``),
the testing tools (``rtstate.testing``), the transports (``connect``, ``serve``,
``AsyncConnection``: anyio and websockets) and the other submodules load on first
attribute access, and a codec is built the first time a dialect is used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import build, events, transitions
from .config import Config
from .connection import ClientConnection
from .errors import (
    ConnectionClosed,
    LocalProtocolError,
    RemoteProtocolError,
    RequestDropped,
    RequestRejected,
    RtStateError,
    TransportError,
)
from .fold import fold
from .reconnect import ReconnectPlan, plan_reconnect
from .state import SessionState
from .step import Diagnostic, Step

if TYPE_CHECKING:
    from . import codec as codec
    from . import journal as journal
    from . import server, testing
    from . import transport as transport
    from .transport import AsyncConnection, connect, serve

__all__ = [
    "AsyncConnection",
    "ClientConnection",
    "Config",
    "ConnectionClosed",
    "Diagnostic",
    "LocalProtocolError",
    "ReconnectPlan",
    "RemoteProtocolError",
    "RequestDropped",
    "RequestRejected",
    "RtStateError",
    "SessionState",
    "Step",
    "TransportError",
    "build",
    "connect",
    "events",
    "fold",
    "plan_reconnect",
    "serve",
    "server",
    "testing",
    "transitions",
]

__version__ = "0.1.0.dev0"

_TRANSPORT: frozenset[str] = frozenset({"AsyncConnection", "connect", "serve"})
"""Top-level names the transports define (they import anyio and websockets)."""

_SUBMODULES: frozenset[str] = frozenset({"codec", "journal", "server", "testing", "transport"})
"""Submodules the core does not import itself, loaded on first attribute access."""


if not TYPE_CHECKING:  # mypy sees the names above, so a misspelt or moved one fails

    def __getattr__(name: str) -> Any:
        """Load the transports and the heavier submodules on first use."""
        if name in _TRANSPORT:
            return getattr(importlib.import_module(".transport", __name__), name)
        if name in _SUBMODULES:
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'rtstate' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names and the lazily loaded ones, for ``dir()`` and completion."""
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
