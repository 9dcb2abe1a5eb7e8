"""``serve()``: the fake Realtime server (``rtstate.server.ServerConnection``) over WebSockets.

One ``ServerConnection`` per WebSocket, driven by a reader and a deadline task. Both
call the session synchronously and hand its frames to ``WebSocket.send`` with no
checkpoint in between; ``send``'s lock is first-in first-out, so the frames go out in
the order the session wrote them without a second, per-session lock.

What a client sees is what the real service shows it: the bearer token (from the
``Authorization`` header, or from the browser subprotocol
``openai-insecure-api-key.<key>``) is checked in constant time, the ``realtime``
subprotocol is selected when offered, connections beyond ``max_sessions`` (counting
handshakes in progress) get HTTP 503, a binary message closes the session with 1003
and a text message that is not UTF-8 with 1007. A handshake with ``?call_id=<id>``
attaches the session to that call (the WebRTC/SIP sideband: no ``session.created``,
server-side playback; ``ServerConnection(call_id=...)``). The server itself holds: a failing
``accept()`` (out of file descriptors) backs off and retries while the sessions go
on, a client leaving or a junk handshake is one INFO/DEBUG log line (only a server
bug is logged at ERROR with its traceback), and shutdown closes every session with
code 1012 (service restart) within ``close_timeout`` overall, then drops the rest.
"""

from __future__ import annotations

import hmac
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.abc
import attrs
import orjson
from anyio.streams.stapled import MultiListener
from anyio.streams.tls import TLSStream
from websockets.datastructures import Headers
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_subprotocol
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from ..config import Dialect
from ..errors import ConnectionClosed, HandshakeError
from ..server import ServerConfig, ServerConnection
from ..server.responders import Responder
from ._client import MAX_SIZE
from ._endpoint import dialect_of
from ._timer import Alarm
from ._unwrap import Unwrap
from ._websocket import WebSocket

__all__ = [
    "BETA_SUBPROTOCOL",
    "EXPIRED_CLOSE",
    "KEY_SUBPROTOCOL",
    "REALTIME_SUBPROTOCOL",
    "ResponderFactory",
    "Server",
    "serve",
]

_log = logging.getLogger("rtstate.transport.server")

EXPIRED_CLOSE: Final = 1001
"""The close code of a session the server ended for its age (the client folds it as
``SessionExpired``)."""

REALTIME_SUBPROTOCOL: Final = "realtime"
"""The subprotocol a browser-style client offers (and the server selects)."""
KEY_SUBPROTOCOL: Final = "openai-insecure-api-key."
"""The prefix of the subprotocol that carries a browser-style client's API key."""
BETA_SUBPROTOCOL: Final = "openai-beta.realtime-v1"
"""The subprotocol with which a browser-style client asks for the beta dialect."""

_NORMAL_ENDS: Final = frozenset({1000, EXPIRED_CLOSE, 1012})
"""Close codes of sessions that ended as sessions do (logged at DEBUG, others at INFO)."""

_MAX_REFUSING: Final = 64
"""Connections beyond ``max_sessions`` answered 503 at once; past that, dropped."""

_ACCEPT_BACKOFF: Final = (0.01, 1.0)
"""The first and the longest wait after a failed ``accept()`` (doubling in between)."""

ResponderFactory = Callable[[], Responder]
"""Makes a fresh ``Responder`` for each session (``serve(responder=...)``)."""


class _NoDebug(logging.LoggerAdapter):  # type: ignore[type-arg]
    """``websockets``' protocol logger with DEBUG off: at DEBUG it writes every
    handshake header, the client's key among them."""

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)


_PROTOCOL_LOG: Final = _NoDebug(logging.getLogger("websockets.server"), {})


def _requested_model(path: str) -> str | None:
    """The ``?model=`` (OpenAI) or ``?deployment=`` (Azure) of a handshake's path."""
    query = dict(parse_qsl(urlsplit(path).query))
    return query.get("model") or query.get("deployment")


def _requested_call(path: str) -> str | None:
    """The ``?call_id=`` of a handshake's path: the WebRTC/SIP call the socket attaches
    to (the sideband). Any id is accepted (the fake has no calls to look up)."""
    return dict(parse_qsl(urlsplit(path).query)).get("call_id") or None


def _error_body(status: HTTPStatus, message: str, code: str) -> str:
    """An HTTP error body in the shape OpenAI's API answers with."""
    error = {"message": message, "type": "invalid_request_error", "code": code, "param": None}
    return orjson.dumps({"error": error}).decode()


def offered_subprotocols(headers: Headers) -> list[str]:
    """The subprotocols a handshake offers, in order (``[]`` when the header is bad)."""
    offered: list[str] = []
    try:
        for value in headers.get_all("Sec-WebSocket-Protocol"):
            offered.extend(parse_subprotocol(value))
    except InvalidHeader:
        return []
    return offered


def _select_subprotocol(
    protocol: ServerProtocol, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """``realtime`` when offered; otherwise none (a client offering others is not refused)."""
    return Subprotocol(REALTIME_SUBPROTOCOL) if REALTIME_SUBPROTOCOL in offered else None


def _credentials(request: Request, offered: Sequence[str]) -> list[str]:
    """The keys a handshake presents: its bearer token, its key subprotocol."""
    keys = [p[len(KEY_SUBPROTOCOL) :] for p in offered if p.startswith(KEY_SUBPROTOCOL)]
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        keys.append(token.strip() if scheme.lower() == "bearer" else "")
    return keys


def _same(given: str, token: str) -> bool:
    """``given == token`` in constant time (for the length of ``token``)."""
    return hmac.compare_digest(given.encode(), token.encode())


def _peer(stream: anyio.abc.ByteStream) -> str:
    address: Any = stream.extra(anyio.abc.SocketAttribute.remote_address, None)
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address) if address else "a peer"


class Server:
    """Serves ``ServerConnection`` sessions over WebSockets (see ``rtstate.serve``).

    ``handle(stream)`` serves one connection over any byte stream, so the same server
    runs behind a TCP listener, with TLS (``ssl_context``) or over an in-memory pair;
    ``serve_listener(listener)`` accepts connections from any anyio listener.
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
        ssl_context: ssl.SSLContext | None = None,
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
        self._ssl_context = ssl_context
        self._active: set[WebSocket] = set()
        self._occupied = 0  # sessions open + handshakes admitted toward max_sessions
        self._refusing = 0  # handshakes beyond max_sessions being answered 503
        self._served = 0
        self._closing = False
        self._idle = anyio.Event()
        self._idle.set()
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        """The ``ws://host:port/v1/realtime`` URL clients dial (once listening);
        ``wss://`` when serving TLS."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "ws" if self._ssl_context is None else "wss"
        return f"{scheme}://{host}:{self.port}/v1/realtime"

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

    def _refusal(
        self, request: Request, offered: Sequence[str], admitted: bool
    ) -> tuple[HTTPStatus, str, str] | None:
        if self._closing:
            return HTTPStatus.SERVICE_UNAVAILABLE, "The server is shutting down.", "shutting_down"
        token = self._token
        if token is not None:
            # every key is compared (no early exit on the first that matches)
            matches = [_same(key, token) for key in _credentials(request, offered)]
            if not any(matches):
                return (
                    HTTPStatus.UNAUTHORIZED,
                    "Incorrect API key provided.",
                    "invalid_api_key",
                )
        if not admitted:
            return (
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"Too many sessions: the limit is {self._max_sessions}.",
                "too_many_sessions",
            )
        return None

    async def serve_listener(self, listener: anyio.abc.Listener[Any]) -> None:
        """Accept connections from ``listener`` and serve each in a task of its own,
        until cancelled.

        A failing ``accept()`` (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ...) does not
        stop the server: it is logged once at WARNING, retried after a wait that
        doubles from 10 ms to 1 s while it lasts, and the open sessions go on.
        """
        if isinstance(listener, MultiListener):  # one accept loop per address
            async with anyio.create_task_group() as loops:
                for each in listener.listeners:
                    loops.start_soon(self.serve_listener, each)
            return
        accept = getattr(listener, "accept", None)
        if accept is None:  # a listener that only serves (e.g. anyio's TLSListener)
            await listener.serve(self.handle)
            return
        first, longest = _ACCEPT_BACKOFF
        delay = 0.0
        failures = 0
        async with anyio.create_task_group() as tasks:
            while True:
                try:
                    stream = await accept()
                except OSError as exc:
                    if not failures:
                        _log.warning(
                            "accept() failed (%s); retrying with a backoff while it lasts, "
                            "the open sessions go on",
                            exc,
                        )
                    failures += 1
                    delay = min(max(delay * 2, first), longest)
                    await anyio.sleep(delay)
                    continue
                if failures:
                    _log.warning("accept() works again after %d failed attempts", failures)
                    failures, delay = 0, 0.0
                tasks.start_soon(self.handle, stream)

    async def handle(self, stream: anyio.abc.ByteStream) -> None:
        """Serve one WebSocket connection over ``stream`` until it ends. Never raises:
        a client leaving or a junk handshake is logged at INFO/DEBUG, a server bug at
        ERROR with its traceback; the stream is closed either way."""
        admitted = not self._closing and self._occupied < self._max_sessions
        if admitted:
            self._occupied += 1
        elif self._refusing >= _MAX_REFUSING:
            _log.info("dropped a connection from %s: too many sessions", _peer(stream))
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            return
        else:
            self._refusing += 1
        try:
            await self._handle(stream, admitted)
        finally:
            if admitted:
                self._occupied -= 1
            else:
                self._refusing -= 1

    async def _handle(self, stream: anyio.abc.ByteStream, admitted: bool) -> None:
        peer = _peer(stream)
        protocol = ServerProtocol(
            max_size=self._max_size,
            select_subprotocol=_select_subprotocol,
            logger=_PROTOCOL_LOG,
        )
        ws: WebSocket | None = None
        try:
            with anyio.fail_after(self._open_timeout):
                if self._ssl_context is not None:
                    stream = await TLSStream.wrap(
                        stream,
                        server_side=True,
                        ssl_context=self._ssl_context,
                        standard_compatible=False,
                    )
                ws = WebSocket(stream, protocol, close_timeout=self._close_timeout, text_only=True)
                request = await ws.request()
        except TimeoutError:
            _log.debug("no handshake from %s within %g s", peer, self._open_timeout)
        except HandshakeError as exc:
            _log.debug("a junk handshake from %s: %s", peer, exc.body)
        except (ssl.SSLError, OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
            _log.debug("a failed TLS handshake from %s: %s", peer, exc)
        else:
            try:
                await self._answer(ws, protocol, request, admitted, peer)
            except Exception:
                _log.exception("a session failed (%s)", peer)
        finally:
            with anyio.CancelScope(shield=True):
                await (ws.abort() if ws is not None else stream.aclose())

    async def _answer(
        self,
        ws: WebSocket,
        protocol: ServerProtocol,
        request: Request,
        admitted: bool,
        peer: str,
    ) -> None:
        offered = offered_subprotocols(request.headers)
        refusal = self._refusal(request, offered, admitted)
        if refusal is None:
            response = protocol.accept(request)
        else:
            status, message, code = refusal
            response = protocol.reject(status, _error_body(status, message, code))
            response.headers["Content-Type"] = "application/json"
        protocol.send_response(response)
        await ws.write_handshake()
        if refusal is not None:
            _log.info("refused %s: HTTP %d %s", peer, refusal[0], refusal[2])
            return
        if not ws.open:
            _log.debug("refused %s: not a WebSocket handshake (%s)", peer, protocol.handshake_exc)
            return
        dialect = self._dialect
        if dialect is None:
            dialect = "beta" if BETA_SUBPROTOCOL in offered else dialect_of(request.headers)
        await self._session(
            ws, dialect, _requested_model(request.path), _requested_call(request.path)
        )
        ended = ws.close_code
        level = logging.DEBUG if ended in _NORMAL_ENDS else logging.INFO
        _log.log(level, "session with %s ended: %s %s", peer, ended, ws.close_reason)

    async def _session(
        self, ws: WebSocket, dialect: Dialect, model: str | None, call_id: str | None
    ) -> None:
        config = self._config if self._config is not None else ServerConfig()
        if model is not None:  # the session reports the model the client asked for
            config = attrs.evolve(config, model=model)
        session = ServerConnection(
            dialect=dialect,
            config=config,
            responder=self._responder_for_session(),
            seed=self._seed if self._seed is not None else self._served,
            call_id=call_id,  # attached: no session.created, server-side playback
        )
        self._active.add(ws)
        self._served += 1
        self._idle = anyio.Event() if self._idle.is_set() else self._idle
        alarm = Alarm()
        clock = self._clock

        async def write(frames: list[str] | tuple[str, ...]) -> None:
            # called right after the session call that wrote ``frames``, with no
            # checkpoint in between: ``send``'s FIFO lock keeps the session's order
            alarm.nudge(session.next_deadline())
            try:
                await ws.send(frames)
            except ConnectionClosed:
                return  # the client left; the reader sees the end
            if session.closed and ws.open:
                await ws.send_close(EXPIRED_CLOSE, "session expired")

        async def timers() -> None:
            while not session.closed:
                if await alarm.wait(session.next_deadline(), clock) and not session.closed:
                    await write(session.tick(clock()).to_send)

        try:
            async with anyio.create_task_group() as tasks:
                await write(session.start(clock()).to_send)
                tasks.start_soon(timers)
                while messages := await ws.receive_many():
                    now = clock()
                    frames: list[str] = []
                    for message in messages:
                        if session.closed:
                            break
                        frames.extend(session.receive(message, now).to_send)
                    if frames:
                        await write(frames)
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
        drop those still open ``close_timeout`` seconds later: the whole shutdown is
        bounded by ``close_timeout``, even with clients that do not read."""
        self._closing = True
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as tasks:
                for ws in list(self._active):  # concurrently: a stuck client holds none
                    tasks.start_soon(ws.send_close, 1012, "the server is shutting down")
                with anyio.move_on_after(self._close_timeout):
                    await self._idle.wait()
                # closing the streams ends the writes still blocked on clients that
                # do not read, and the closes waiting behind them
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
    open_timeout: float = 10.0,
    close_timeout: float = 5.0,
    seed: int | str | None = None,
    dialect: Dialect | None = None,
    backlog: int = 1024,
    reuse_port: bool = False,
    listener: anyio.abc.Listener[Any] | None = None,
) -> AsyncIterator[Server]:
    """Run the fake Realtime server on ``host:port`` and yield it (``server.port`` is
    the bound port, ``server.url`` the URL to dial); shut down gracefully on exit.

    Args:
        host / port: where to listen; loopback and an ephemeral port by default.
        responder: a ``Responder`` shared by every session, or a zero-argument
            factory called once per session (for stateful ones such as
            ``ScriptedResponder``). Default: ``EchoResponder``.
        config: the ``ServerConfig`` of every session.
        token: when set, a client must present it, as ``Authorization: Bearer
            <token>`` or (browser-style clients) as the subprotocol
            ``openai-insecure-api-key.<token>``; others get HTTP 401.
        max_sessions: connections beyond this (sessions open and handshakes in
            progress) get HTTP 503.
        ssl_context: serve wss with this server-side context (``server.url`` is
            then ``wss://``).
        open_timeout: seconds a connection has to complete its (TLS and) WebSocket
            handshake.
        close_timeout: the bound on the closing handshake of one session, and on
            the whole shutdown.
        seed: seeds every session's ids (default: the session's ordinal).
        dialect: ``"beta"`` or ``"ga"`` for every session; ``None`` (the default)
            chooses per connection as the real service did: beta when the handshake
            has ``OpenAI-Beta: realtime=v1`` or offers the subprotocol
            ``openai-beta.realtime-v1``, GA otherwise.
        reuse_port: set ``SO_REUSEPORT``, so several processes serve one port (the
            kernel spreads connections among them on Linux).
        listener: accept from this anyio listener instead of listening on
            ``host:port`` (``server.host`` / ``port`` come from its address).
    """
    server = Server(
        responder=responder,
        config=config,
        token=token,
        max_sessions=max_sessions,
        max_size=max_size,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        seed=seed,
        dialect=dialect,
        ssl_context=ssl_context,
    )
    server.host, server.port = host, port
    if listener is None:
        listener = await anyio.create_tcp_listener(
            local_host=host, local_port=port, backlog=backlog, reuse_port=reuse_port
        )
        server.port = listener.extra(anyio.abc.SocketAttribute.local_port)
    else:
        address: Any = listener.extra(anyio.abc.SocketAttribute.local_address, None)
        if isinstance(address, tuple):
            server.host, server.port = str(address[0]), int(address[1])
    try:
        with Unwrap(_log, "rtstate.serve") as unwrap:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(server.serve_listener, listener)
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
