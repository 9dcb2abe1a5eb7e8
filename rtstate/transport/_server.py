"""``serve()``: the fake Realtime server (``rtstate.ServerConnection``) over WebSockets.

One ``ServerConnection`` per WebSocket, each driven by a reader and a deadline task
that share a lock around every call and the write of its frames (as on the client).
The server checks the bearer token when it has one, refuses connections beyond its
limit with HTTP 503, and shuts down gracefully: it stops accepting, closes every
session with code 1012 (service restart), and waits a bounded time for them to end.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from http import HTTPStatus
from typing import Final
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.abc
import attrs
import orjson
from anyio.streams.tls import TLSListener
from websockets.http11 import Request
from websockets.server import ServerProtocol

from ..config import Dialect
from ..server import ServerConfig, ServerConnection
from ..server.responders import Responder
from ..step import Step
from ._client import MAX_SIZE
from ._endpoint import dialect_of
from ._timer import Alarm
from ._unwrap import Unwrap
from ._websocket import WebSocket

__all__ = ["EXPIRED_CLOSE", "ResponderFactory", "Server", "serve"]

_log = logging.getLogger("rtstate.transport.server")

EXPIRED_CLOSE: Final = 1001
"""The close code of a session the server ended for its age (the client folds it as
``SessionExpired``)."""

ResponderFactory = Callable[[], Responder]
"""Makes a fresh ``Responder`` for each session (``serve(responder=...)``)."""


def _requested_model(path: str) -> str | None:
    """The ``?model=`` (OpenAI) or ``?deployment=`` (Azure) of a handshake's path."""
    query = dict(parse_qsl(urlsplit(path).query))
    return query.get("model") or query.get("deployment")


def _error_body(status: HTTPStatus, message: str, code: str) -> str:
    """An HTTP error body in the shape OpenAI's API answers with."""
    error = {"message": message, "type": "invalid_request_error", "code": code, "param": None}
    return orjson.dumps({"error": error}).decode()


class Server:
    """Serves ``ServerConnection`` sessions over WebSockets (see ``rtstate.serve``).

    ``handle(stream)`` serves one connection over any byte stream, so the same server
    runs behind a TCP listener, a TLS listener or an in-memory pair.
    """

    def __init__(
        self,
        *,
        responder: Responder | ResponderFactory | None = None,
        config: ServerConfig | None = None,
        token: str | None = None,
        max_sessions: int = 1000,
        max_size: int = MAX_SIZE,
        open_timeout: float = 10.0,
        close_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        seed: int | str | None = None,
        dialect: Dialect | None = None,
    ) -> None:
        self._responder = responder
        self._config = config
        self._token = token
        self._max_sessions = max_sessions
        self._max_size = max_size
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._clock = clock
        self._seed = seed
        self._dialect = dialect
        self._active: set[WebSocket] = set()
        self._served = 0
        self._closing = False
        self._idle = anyio.Event()
        self._idle.set()
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        """The ``ws://host:port/v1/realtime`` URL clients dial (once listening)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}/v1/realtime"

    @property
    def sessions(self) -> int:
        """Sessions open now."""
        return len(self._active)

    @property
    def served(self) -> int:
        """Sessions accepted since the server started."""
        return self._served

    def _responder_for_session(self) -> Responder | None:
        responder = self._responder
        # a class with a ``respond`` method is a factory (one instance per session)
        if responder is None or (hasattr(responder, "respond") and not isinstance(responder, type)):
            return responder
        return responder()

    def _refusal(self, request: Request) -> tuple[HTTPStatus, str, str] | None:
        if self._closing:
            return HTTPStatus.SERVICE_UNAVAILABLE, "The server is shutting down.", "shutting_down"
        if self._token is not None:
            given = request.headers.get("Authorization", "")
            if given != f"Bearer {self._token}":
                return (
                    HTTPStatus.UNAUTHORIZED,
                    "Incorrect API key provided.",
                    "invalid_api_key",
                )
        if len(self._active) >= self._max_sessions:
            return (
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"Too many sessions: the limit is {self._max_sessions}.",
                "too_many_sessions",
            )
        return None

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        """Serve one WebSocket connection over ``stream`` until it ends. Never raises
        (a failure is logged and the stream closed)."""
        protocol = ServerProtocol(max_size=self._max_size)
        ws = WebSocket(stream, protocol, close_timeout=self._close_timeout)
        try:
            with anyio.fail_after(self._open_timeout):
                request = await ws.handshake_event()
            if not isinstance(request, Request):  # pragma: no cover - a server reads requests
                raise TypeError(type(request).__name__)
            refusal = self._refusal(request)
            if refusal is None:
                response = protocol.accept(request)
            else:
                status, message, code = refusal
                response = protocol.reject(status, _error_body(status, message, code))
                response.headers["Content-Type"] = "application/json"
            protocol.send_response(response)
            await ws.write_handshake()
            if refusal is not None or not ws.open:
                await ws.abort()
                return
            dialect = self._dialect or dialect_of(request.headers)
            await self._session(ws, dialect, _requested_model(request.path))
        except Exception:
            _log.exception("a session failed")
            await ws.abort()

    async def _session(self, ws: WebSocket, dialect: Dialect, model: str | None) -> None:
        config = self._config if self._config is not None else ServerConfig()
        if model is not None:  # the session reports the model the client asked for
            config = attrs.evolve(config, model=model)
        session = ServerConnection(
            dialect=dialect,
            config=config,
            responder=self._responder_for_session(),
            seed=self._seed if self._seed is not None else self._served,
        )
        self._active.add(ws)
        self._served += 1
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        lock = anyio.Lock()
        alarm = Alarm()

        async def run(call: Callable[[], Step]) -> None:
            async with lock:
                if session.closed:
                    return
                step = call()
                await ws.send(step.to_send)
                alarm.wake()
            if session.closed and ws.open:
                await ws.send_close(EXPIRED_CLOSE, "session expired")

        async def timers() -> None:
            while not session.closed:
                if await alarm.wait(session.next_deadline(), self._clock):
                    await run(partial(session.tick, self._clock()))

        try:
            async with anyio.create_task_group() as tasks:
                await run(partial(session.start, self._clock()))
                tasks.start_soon(timers)
                while (message := await ws.receive()) is not None:
                    if not session.closed:
                        await run(partial(session.receive, message, self._clock()))
                tasks.cancel_scope.cancel()
        except Exception:
            if ws.open:  # tell the client, as a real server does on an internal error
                await ws.fail(1011, "internal server error (see the server log)")
            raise
        finally:
            with anyio.CancelScope(shield=True):
                if not session.closed:
                    session.transport_closed(ws.close_code, ws.close_reason)
                await ws.abort()
                self._active.discard(ws)
                if not self._active:
                    self._idle.set()

    async def aclose(self) -> None:
        """Stop accepting, close every session with code 1012 (service restart), and
        wait (bounded by the close timeout) for them to end."""
        self._closing = True
        with anyio.CancelScope(shield=True):
            for ws in list(self._active):
                await ws.send_close(1012, "the server is shutting down")
            with anyio.move_on_after(self._close_timeout):
                await self._idle.wait()
            for ws in list(self._active):
                await ws.abort("server shut down")


@asynccontextmanager
async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    responder: Responder | ResponderFactory | None = None,
    config: ServerConfig | None = None,
    token: str | None = None,
    max_sessions: int = 1000,
    ssl_context: ssl.SSLContext | None = None,
    max_size: int = MAX_SIZE,
    close_timeout: float = 5.0,
    seed: int | str | None = None,
    dialect: Dialect | None = None,
    backlog: int = 1024,
) -> AsyncIterator[Server]:
    """Run the fake Realtime server on ``host:port`` and yield it (``server.port`` is
    the bound port, ``server.url`` the URL to dial); shut down gracefully on exit.

    Args:
        host / port: where to listen; loopback and an ephemeral port by default.
        responder: a ``Responder`` shared by every session, or a zero-argument
            factory called once per session (for stateful ones such as
            ``ScriptedResponder``). Default: ``EchoResponder``.
        config: the ``ServerConfig`` of every session.
        token: when set, a client must send ``Authorization: Bearer <token>``; others
            get HTTP 401.
        max_sessions: sessions beyond this get HTTP 503.
        ssl_context: serve wss with this server-side context.
        seed: seeds every session's ids (default: the session's ordinal).
        dialect: ``"beta"`` or ``"ga"`` for every session; ``None`` (the default)
            chooses per connection as the real service did: beta when the handshake
            has ``OpenAI-Beta: realtime=v1``, GA otherwise.
    """
    server = Server(
        responder=responder,
        config=config,
        token=token,
        max_sessions=max_sessions,
        max_size=max_size,
        close_timeout=close_timeout,
        seed=seed,
        dialect=dialect,
    )
    listener: anyio.abc.Listener[anyio.abc.ByteStream]
    tcp = await anyio.create_tcp_listener(local_host=host, local_port=port, backlog=backlog)
    server.host = host
    server.port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = tcp
    if ssl_context is not None:
        listener = TLSListener(tcp, ssl_context, standard_compatible=False)
    try:
        with Unwrap(_log, "rtstate.serve") as unwrap:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(listener.serve, server.handle)
                try:
                    yield server
                except BaseException as exc:
                    unwrap.body = exc
                    raise
                finally:
                    with anyio.CancelScope(shield=True):
                        await server.aclose()
                    tasks.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await listener.aclose()
