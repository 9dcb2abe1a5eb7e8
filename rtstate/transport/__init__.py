"""Transports: the sans-IO connections over WebSockets, on asyncio or trio (anyio).

``connect()`` dials a Realtime server and yields an ``AsyncConnection``; ``serve()``
runs the fake server (``rtstate.server.ServerConnection``) for many sessions;
``connect_blocking`` / ``serve_in_thread`` do the same for sync code;
``connect_in_memory`` and ``memory_stream_pair`` speak WebSocket over memory. The
WebSocket protocol itself is ``websockets``' sans-IO layer; anyio does the I/O.
Nothing from either escapes: failures are ``rtstate.TransportError`` subclasses.
``AsyncConnection.wait_for`` / ``request`` wait with a timeout and fail with a typed
error (``rtstate.RequestRejected``); ``transitions()`` iterates over transitions of
given classes (``TransitionFeed``; ``BlockingFeed`` in the blocking facade).
"""

from __future__ import annotations

from ._blocking import BlockingConnection, BlockingFeed, connect_blocking, serve_in_thread
from ._client import MAX_SIZE, AsyncConnection, Dialer, connect
from ._endpoint import Endpoint, default_dialect, endpoint
from ._memory import MemoryByteStream, connect_in_memory, memory_stream_pair
from ._server import EXPIRED_CLOSE, ResponderFactory, Server, serve
from ._watch import TransitionFeed, Until

__all__ = [
    "EXPIRED_CLOSE",
    "MAX_SIZE",
    "AsyncConnection",
    "BlockingConnection",
    "BlockingFeed",
    "Dialer",
    "Endpoint",
    "MemoryByteStream",
    "ResponderFactory",
    "Server",
    "TransitionFeed",
    "Until",
    "connect",
    "connect_blocking",
    "connect_in_memory",
    "default_dialect",
    "endpoint",
    "memory_stream_pair",
    "serve",
    "serve_in_thread",
]
