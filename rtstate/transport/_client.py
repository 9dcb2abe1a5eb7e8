"""``connect()``: a ``ClientConnection`` driven over a WebSocket, on asyncio or trio.

Three tasks share one sans-IO connection. The reader folds each received message;
the deadline task calls ``tick`` when ``next_deadline()`` is due; the keepalive task
pings. ``redial()`` opens a new WebSocket under the same connection (same URL, options
and ``ClientConnection``), restarts the reader and the keepalive on it, and resumes
the session from a reconnect plan. Every call into the core happens under one lock
together with the write of its ``to_send``, so frames leave in the order the core
produced them; the lock is a plain flag while uncontended (no checkpoint, no walk of
the cancel scopes), and a received frame that sends nothing awaits nothing.

Steps the transport drove (received frames, timers that did something, the close) go
into a bounded buffer that ``steps()`` reads. The reader never waits for the consumer:
it keeps folding (the state is always current) and answering pings, and past
``step_buffer`` Steps the oldest are dropped. ``steps_dropped`` counts them, the next
Step ``steps()`` yields carries a ``steps_dropped`` diagnostic saying how many it
missed, and the transport's logger warns once per backlog (once ``steps()`` was
called: a plugin-only app, which never reads it, is neither stalled nor warned).

``wait_for``, ``request`` and ``transitions()`` do not read that buffer: each Step
is also handed, as it is buffered, to the waiters and feeds registered then
(``_watch.py``), so a waiter never misses its Step and takes none from ``steps()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar, overload

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
from websockets.client import ClientProtocol
from websockets.http11 import USER_AGENT
from websockets.uri import parse_uri

from ..config import DEFAULT_CONFIG, Config, Dialect
from ..connection import ClientConnection
from ..errors import (
    ConnectError,
    ConnectionClosed,
    HandshakeError,
    RemoteProtocolError,
    RtStateError,
    TransportError,
)
from ..events.client import ClientEvent
from ..machines import ACKS
from ..plugins import PluginError
from ..reconnect import ReconnectPlan, plan_reconnect
from ..state import SessionPhase, SessionState
from ..step import Diagnostic, Step
from ..transitions import Transition
from ._asyncio_stream import open_asyncio_stream
from ._endpoint import default_dialect, endpoint, redacted_url, redacting_logger
from ._sync import Mutex, StepQueue
from ._timer import Alarm
from ._unwrap import Unwrap
from ._watch import TransitionFeed, Until, Waiter, Watch
from ._websocket import WebSocket

__all__ = ["MAX_SIZE", "AsyncConnection", "Dialer", "connect", "open_stream"]

MAX_SIZE: Final = 16 * 1024 * 1024
"""The default limit on one received message (16 MiB): a whole ``session.update``
with many tools, or seconds of audio in one delta, fit easily."""

Dialer = Callable[[], Awaitable[anyio.abc.ByteStream]]
"""An async function that opens a byte stream to the server (``connect(dialer=...)``)."""

_log = logging.getLogger("rtstate.transport")

T = TypeVar("T", bound=Transition)

_NETWORK = (OSError, anyio.BrokenResourceError, anyio.EndOfStream, anyio.ClosedResourceError)


class AsyncConnection:
    """One Realtime session over a WebSocket; made by ``rtstate.connect``.

    Every method that changes the session returns its ``Step`` after writing the
    Step's frames. ``steps()`` yields the Steps the transport itself drove: received
    frames, timers that did something, and finally the close (a ``TransportClosed``
    transition). The sans-IO rules hold: the state is immutable and everything
    received is kept, whatever happens to the socket.

    ``wait_for`` (with a timeout), ``request`` (send and wait; a server ``error``
    raises ``RequestRejected``) and ``transitions()`` (an async iterator over given
    transition classes) wait on it from any number of tasks.

    A closed connection can be opened again with ``redial()``: a new WebSocket to the
    same server, the same ``ClientConnection`` resumed from a reconnect plan (the
    ``rtstate_plugins.Reconnect`` plugin does it with backoff).
    """

    def __init__(
        self,
        websocket: WebSocket,
        core: ClientConnection,
        *,
        step_buffer: float = 256,
        clock: Callable[[], float] = anyio.current_time,
        close_timeout: float = 5.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 20.0,
        dial: Callable[[], Awaitable[WebSocket]] | None = None,
    ) -> None:
        self._ws = websocket
        self._dial = dial
        self._core = core
        self._clock = clock
        self._close_timeout = close_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        # a core call, the buffering of its Steps and the write of its frames
        self._fold_lock = Mutex()
        self._steps: StepQueue[Step] = StepQueue(step_buffer)
        self._watch = Watch(step_buffer)  # wait_for / request / transitions()
        self._behind = False  # warned about the current backlog of steps()
        self._reading = False  # someone called steps(): a plugin-only app gets no warning
        self._logged_errors = 0  # plugin errors already logged
        self._alarm = Alarm()  # wakes the deadline task
        self._reader_done = anyio.Event()
        self._closing = False
        self._hold = False  # keep steps() open across the close: a redial follows
        self._error: BaseException | None = None
        # shielded: the connection's tasks see a chain of cancel scopes that ends here,
        # however many sessions the opening task has open around this one (anyio's
        # asyncio scopes walk the chain on every exit and cancellation check); connect()
        # cancels it in aclose(), whatever ends the body
        self._scope = anyio.CancelScope(shield=True)
        self._tasks: anyio.abc.TaskGroup | None = None

    # --- reading the session -----------------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The current immutable snapshot."""
        return self._core.state

    @property
    def core(self) -> ClientConnection:
        """The sans-IO connection underneath (read it; drive it through this object)."""
        return self._core

    @property
    def closed(self) -> ConnectionClosed | None:
        """``None`` while open; once closed, the error a call would raise (its
        ``code`` and ``reason`` say how the connection ended)."""
        return None if self._ws.open else self._ws.closed_error()

    @property
    def plugin_errors(self) -> tuple[tuple[object, BaseException], ...]:
        """Every plugin detached because it failed, with its error: a sync hook that
        raised inside the fold as well as a ``connected`` task that raised
        (``ClientConnection.plugin_errors``). Each is also logged, with its traceback,
        on the ``rtstate.transport`` logger."""
        return self._core.plugin_errors

    @property
    def steps_dropped(self) -> int:
        """Steps dropped from the ``steps()`` buffer because the consumer was more than
        ``step_buffer`` Steps behind (the state kept them all)."""
        return self._steps.dropped

    @property
    def closing(self) -> bool:
        """Whether ``aclose()`` was called (the app is closing on purpose: a plugin
        should not redial)."""
        return self._closing

    def steps(self) -> AsyncIterator[Step]:
        """The Steps the transport drove, in the order they were folded.

        The iteration ends after the Step of the close, unless ``expect_redial()``
        was called before it: then it goes on with the Steps of the ``redial()``
        (its resume first) and of the new WebSocket. If the reader stopped on an
        error (a frame refused under ``Config(strict=True)``, a plugin raising under
        ``plugin_errors="raise"``), the iteration raises it after the Steps before it.
        One consumer at a time; ``wait_for``, ``request`` and ``transitions()`` take
        nothing from it.
        """
        return _Steps(self)

    async def wait_for(
        self,
        until: Until,
        *,
        timeout: float | None = None,
        request: ClientEvent | Step | None = None,
    ) -> Step:
        """Wait for a Step that satisfies ``until`` and return it.

        ``until`` is a predicate on Steps, or transition classes: ``wait_for(
        ResponseFinished)`` returns the first Step with a ``ResponseFinished`` (a
        tuple of classes: any of them). It looks at the Steps ``steps()`` yields
        (received frames, timers, the close, a redial's resume), in fold order:
        first those folded since the last ``wait_for`` returned (so a Step folded
        between a ``send`` and this call is found, and a Step one ``wait_for``
        returned is not found again), then each one as it is folded. It reads no
        Step from ``steps()`` and misses none however far ``steps()`` lags behind;
        several tasks may wait at once (one Step can end several waits). The
        predicate runs inside the reader, under the fold lock: keep it quick; if it
        raises, the error is raised here.

        Args:
            timeout: seconds to wait at most (``None``: until the connection ends).
            request: a client event already sent (as sent, with its ``event_id``;
                or the Step ``send`` returned): only Steps folded after it count,
                and if the server rejects it first, the wait ends with
                ``RequestRejected``. A ``response.create`` the core
                queues again after a race with a response it did not ask for is
                not rejected: the wait follows the retry. ``request(event, until)``
                sends and waits in one call, without any gap.

        Raises:
            TimeoutError: nothing matched within ``timeout`` (the builtin; nothing
                changed, and the Step may still come: call again to go on waiting).
            RequestRejected: the server answered ``request`` with an ``error`` (its
                ``error`` and ``event`` attached); the connection stays open.
            RequestDropped: ``request`` is a ``response.create`` the core dropped
                unsent (a full queue); the connection stays open.
            ConnectionClosed: the connection ended first (after a redial announced
                with ``expect_redial()``, the wait goes on over the new WebSocket).
            RtStateError: the reader's own error, which stopped it (a frame refused
                under ``Config(strict=True)``: ``RemoteProtocolError``), as ``steps()``
                raises it.
        """
        waiter = Waiter(until)
        sent: str | None = None
        if request is not None:
            event = request.input if isinstance(request, Step) else request
            if not isinstance(event, ClientEvent) or event.event_id is None:
                raise TypeError(
                    "wait_for(request=...) takes a client event as sent (with its "
                    "event_id) or the Step send() returned"
                )
            sent = event.event_id
            waiter.track(event)
            if isinstance(request, Step):
                waiter.follow(request)
        if not waiter.done.is_set():
            self._watch.wait(waiter, sent)
        if not waiter.done.is_set() and self._watch.ended:
            self._watch.remove(waiter)
            raise self._closed_error()
        return await self._waited(waiter, timeout)

    async def request(
        self, event: ClientEvent, until: Until | None = None, *, timeout: float | None = None
    ) -> Step:
        """Send ``event`` and wait for its outcome: ``send`` then ``wait_for(until,
        request=event)``, with no gap between the two.

        Only Steps folded after the send count. With ``until=None``, the wait ends
        at the server's acknowledgement of ``event`` (``session.updated`` for a
        ``session.update``, ``conversation.item.created`` for a
        ``conversation.item.create``, ``response.created`` for a
        ``response.create``, ...: ``rtstate.machines.ACKS``), and returns that
        Step; an event the server never acknowledges (an audio append) returns
        its send Step at once. A ``response.create`` waited on with transition
        classes waits for its own response (a transition naming another response,
        e.g. an out-of-band one running beside it, does not count).

        Raises:
            TimeoutError: no outcome within ``timeout``; with ``until=None`` also
                when the core stopped waiting for the acknowledgement
                (``Config.ack_timeout``). The event was sent either way.
            RequestRejected: the server refused ``event``.
            RequestDropped: ``event`` is a ``response.create`` the core dropped
                unsent: ``Config.max_in_flight`` creates were already queued.
            ConnectionClosed: the connection was closed before the send (nothing
                was folded) or ended while waiting.
            LocalProtocolError: ``event`` cannot be sent; nothing changed.
        """
        waiter = Waiter(until)
        try:
            await self._call(self._core.send, event, waiter=waiter)
        except BaseException:
            self._watch.remove(waiter)
            raise
        return await self._waited(waiter, timeout)

    @overload
    def transitions(self, *, buffer: float | None = None) -> TransitionFeed[Transition]: ...
    @overload
    def transitions(
        self, kind: type[T], /, *kinds: type[T], buffer: float | None = None
    ) -> TransitionFeed[T]: ...
    def transitions(self, *kinds: type[T], buffer: float | None = None) -> TransitionFeed[T]:
        """The transitions of the given classes (all of them if none is given), in
        fold order, from the Steps folded from this call on.

        An async iterator (``async for delta in conn.transitions(TextAppended):``)
        with a buffer of its own (``buffer`` transitions, by default the
        connection's ``step_buffer``; past it the oldest are dropped and counted in
        its ``dropped``; ``math.inf``: never): it takes nothing from ``steps()``
        and several may run at once. Make it before the ``send`` whose answers it
        should see. It ends when the connection ends, as
        ``steps()`` does (raising the reader's error if the reader stopped on one);
        ``break`` out of it, or ``aclose()`` it, to stop early.
        """
        chosen: tuple[type[T], ...] = kinds or (Transition,)  # type: ignore[assignment]
        return self._watch.feed(chosen, buffer)

    # --- driving the session -----------------------------------------------------------

    async def send(self, event: ClientEvent) -> Step:
        """Stamp, fold and write ``event`` (``ClientConnection.send``).

        Raises:
            ConnectionClosed: the connection is closed; nothing was folded.
            LocalProtocolError: ``event`` cannot be sent; nothing changed.
        """
        return await self._call(self._core.send, event)

    async def playback(self, item_id: str, played_ms: int) -> Step:
        """Report what the user heard (``ClientConnection.playback``)."""
        return await self._call(self._core.playback, item_id, played_ms)

    async def interrupt(self) -> Step:
        """Cut the assistant's audio now (``ClientConnection.interrupt``); the Step's
        frames (cancel, truncate, delete) are already written when it returns."""
        return await self._call(self._core.interrupt)

    async def resume(self, plan: ReconnectPlan) -> Step:
        """Replay ``plan`` on this (new) connection (``ClientConnection.resume``)."""
        return await self._call(self._core.resume, plan)

    def expect_redial(self) -> None:
        """Keep ``steps()`` open across the close being folded now: a ``redial()``
        follows. Call it from a plugin hook on ``TransportClosed`` or
        ``SessionExpired``; ``aclose()`` (e.g. on giving up) ends ``steps()`` anyway."""
        if not self._closing:
            self._hold = True

    async def redial(self, plan: ReconnectPlan | None = None) -> Step:
        """Open a new WebSocket to the same server and resume the session on it.

        The URL, headers, TLS and timeouts are those ``connect()`` was given; the
        ``ClientConnection`` (state, plugins, config, id factory) stays. The old
        WebSocket, if still open (a session that expired before the server closed
        it), is closed first with code 1000. Then the reader and the keepalive start
        on the new one, ``resume(plan)`` is folded and its frames written: the
        ``session.update`` and items that rebuild the conversation (``plan``
        defaults to ``rtstate.plan_reconnect(self.state)``, in the connection's
        dialect). The returned Step (a ``SessionResumed`` transition) is also
        yielded by ``steps()``; the new ``session.created`` and the items'
        acknowledgements follow there.

        Raises:
            ConnectError: the server could not be reached (``HandshakeError``: it
                refused); the connection stays closed and may be redialled again.
            ConnectionClosed: ``aclose()`` was called; nothing changed.
            TransportError: the connection was opened over a given ``stream`` (give
                ``connect()`` a ``dialer`` instead to redial), or the old reader
                did not stop.
        """
        if self._closing:
            raise ConnectionClosed(self._ws.close_code, "aclose() was called")
        if self._dial is None:
            raise TransportError(
                "this connection was opened over a given stream and cannot redial; "
                "give connect() a dialer= instead"
            )
        self._hold = True
        await self._end_link()
        ws = await self._dial()
        try:
            async with self._fold_lock:
                if self._closing:
                    raise ConnectionClosed(self._ws.close_code, "aclose() was called")
                if plan is None:
                    plan = plan_reconnect(self._core.state, dialect=self._core.config.dialect)
                step = self._core.resume(plan)
                self._ws = ws
                self._reader_done = anyio.Event()
                self._hold = False
                self._steps.reopen()  # if steps() ended at the close, it goes on
                self._watch.reopen()
                self._start_link()
                self._put(step)
                self._check_plugins()
                with contextlib.suppress(ConnectionClosed):  # the reader sees it
                    await ws.send(step.to_send)
                self._nudge()
        except BaseException:
            if ws is not self._ws:
                with anyio.CancelScope(shield=True):
                    await ws.abort()
            raise
        return step

    async def _end_link(self) -> None:
        """Close the current WebSocket (if open) and wait for its reader to finish."""
        ws = self._ws
        if ws.open:
            await ws.send_close(1000, "redialling")
        with anyio.move_on_after(self._close_timeout):
            await self._reader_done.wait()
        if not self._reader_done.is_set():
            await ws.abort()
            with anyio.move_on_after(self._close_timeout):
                await self._reader_done.wait()
        if not self._reader_done.is_set():
            raise TransportError("the previous connection's reader did not stop")

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket and stop the tasks. Shielded and bounded by the
        connection's close timeout: it returns even if the peer never answers, and a
        cancelled caller still closes. Idempotent."""
        with anyio.CancelScope(shield=True):
            if not self._closing:
                self._closing = True
                await self._ws.send_close(code, reason)
            with anyio.move_on_after(self._close_timeout):
                await self._reader_done.wait()
            await self._ws.abort()
            if not self._reader_done.is_set():
                # the reader never saw the end (a consumer stopped reading): fold the
                # close so the state says so
                async with self._fold_lock:
                    self._fold_close()
            if self._reader_done.is_set():  # else the reader ends steps() as it stops
                self._end_steps()
            self._scope.cancel()

    # --- internals ---------------------------------------------------------------------

    async def _run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """The connection's tasks, in a scope of their own: ``aclose`` stops them
        without cancelling the code that opened the connection."""
        with self._scope:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                self._start_link()
                tasks.start_soon(self._deadline_loop)
                for plugin in self._core.plugins:
                    connected = getattr(plugin, "connected", None)
                    if connected is not None:
                        tasks.start_soon(self._plugin_task, plugin, connected)
                task_status.started()

    async def _plugin_task(
        self, plugin: object, connected: Callable[[AsyncConnection], Awaitable[None]]
    ) -> None:
        """Run a plugin's ``connected`` hook; if it raises, the plugin is detached and
        the error kept in ``plugin_errors`` and logged, as the fold treats a hook
        that raises (re-raised with ``Config(plugin_errors="raise")``)."""
        try:
            await connected(self)
        except Exception as exc:
            if self._core.config.plugin_errors == "raise":
                raise
            self._core.detach(plugin, exc)
            self._check_plugins()

    def _check_plugins(self) -> None:
        """Log the plugin errors the core recorded since the last look (one integer
        comparison when there are none)."""
        core = self._core
        if core.plugin_error_count == self._logged_errors:
            return
        for plugin, error in core.plugin_errors[self._logged_errors :]:
            _log.error(
                "plugin %s raised %r; detached",
                type(plugin).__name__,
                error,
                exc_info=(type(error), error, error.__traceback__),
            )
        self._logged_errors = core.plugin_error_count

    def _put(self, step: Step) -> None:
        """Buffer ``step`` for ``steps()`` (past the buffer the oldest Step goes) and
        hand it to the waiters and feeds."""
        self._watch.publish(step)
        if self._steps.put(step) and self._reading and not self._behind:
            self._behind = True
            _log.warning(
                "steps() is more than %s Steps behind: dropping the oldest (the state "
                "keeps everything; see AsyncConnection.steps_dropped)",
                self._steps.capacity,
            )

    def _start_link(self) -> None:
        """Start the tasks of one WebSocket: the reader and the keepalive."""
        assert self._tasks is not None
        self._tasks.start_soon(self._read_loop)
        if self._ping_interval is not None:
            self._tasks.start_soon(self._keepalive_loop, self._ping_interval)

    def _end_steps(self) -> None:
        self._steps.close()
        self._watch.end(self._error if self._error is not None else self._closed_error())

    async def _waited(self, waiter: Waiter, timeout: float | None) -> Step:
        """Wait for ``waiter`` (registered or already done) and give its outcome."""
        try:
            if not waiter.done.is_set():
                if timeout is None:
                    await waiter.done.wait()
                else:
                    with anyio.move_on_after(timeout):
                        await waiter.done.wait()
        finally:
            self._watch.remove(waiter)
        if waiter.error is not None:
            raise waiter.error
        if waiter.result is None:
            raise TimeoutError(f"nothing matched within {timeout} s")
        self._watch.returned(waiter)
        return waiter.result

    def _closed_error(self) -> BaseException:
        """What a waiter raises once the connection ended."""
        if self._ws.open:  # ended by aclose() before the close was seen
            return ConnectionClosed(self._ws.close_code, "aclose() was called")
        return self._ws.closed_error()

    async def _call(
        self, method: Callable[..., Step], *args: Any, waiter: Waiter | None = None
    ) -> Step:
        # a cancelled caller changes nothing (the read path skips this check: it is
        # the walk of the cancel scopes that grows with the sessions of a task)
        await anyio.lowlevel.checkpoint_if_cancelled()
        lock = self._fold_lock
        if not lock.try_acquire():
            await lock.acquire()
        try:
            if not self._ws.open:
                raise self._ws.closed_error()
            step = method(*args)
            if waiter is not None:  # request(): registered before any other Step
                self._watch_request(waiter, step)
            if self._logged_errors != self._core.plugin_error_count:
                self._check_plugins()
            if step.to_send:
                await self._ws.send(step.to_send)
            self._nudge()
        finally:
            lock.release()
        return step

    def _watch_request(self, waiter: Waiter, step: Step) -> None:
        """Register ``waiter`` for the request ``step`` sent (under the fold lock)."""
        event = step.input
        assert isinstance(event, ClientEvent)
        waiter.track(event)
        if waiter.follow(step):
            return
        if waiter.wants_ack and not ACKS.get(event.__class__):
            waiter.settle(step)  # never acknowledged: the send is the outcome
            return
        self._watch.add(waiter)

    def _next_deadline(self) -> float | None:
        """The core's next deadline, or ``None`` once it is closed: a closed
        connection does not tick, so its unacknowledged events wait for a redial."""
        if self._core.state.phase is SessionPhase.CLOSED:
            return None
        return self._core.next_deadline()

    def _nudge(self) -> None:
        """Wake the deadline task if the next deadline moved."""
        self._alarm.nudge(self._next_deadline())

    async def _fold_and_push(
        self, call: Callable[[Any], Step], args: Sequence[Any], *, quiet_ok: bool = False
    ) -> None:
        """Fold ``call(arg)`` for each of ``args`` in order under the fold lock,
        buffer their Steps (with ``quiet_ok``, only those that say something) and
        write their frames. An error from the
        core stops the batch after the Steps before it, and is raised. With nothing to
        write and the lock free, nothing is awaited."""
        lock = self._fold_lock
        if not lock.try_acquire():
            await lock.acquire()
        try:
            core = self._core
            ledger = core.state.ledger
            to_send: list[str] = []
            error: RtStateError | None = None
            for arg in args:
                if core.state.phase is SessionPhase.CLOSED:
                    break
                try:
                    step = call(arg)
                except RtStateError as exc:  # strict mode, plugin_errors="raise"
                    error = exc
                    break
                if step.to_send:
                    to_send.extend(step.to_send)
                if not quiet_ok or step.transitions or step.diagnostics or step.to_send:
                    self._put(step)
            if self._logged_errors != core.plugin_error_count:
                self._check_plugins()
            if to_send:
                # if the socket is gone, the reader sees the end next; the state keeps
                # these Steps either way
                with contextlib.suppress(ConnectionClosed):
                    await self._ws.send(to_send)
            if to_send or core.state.ledger is not ledger:
                self._nudge()
        finally:
            lock.release()
        if error is not None:
            raise error

    async def _read_loop(self) -> None:
        ws = self._ws
        receive = self._core.receive
        try:
            while messages := await ws.receive_many():
                await self._fold_and_push(receive, messages)
        except RtStateError as exc:  # strict mode or plugin_errors="raise"
            self._error = exc
            code = 1002 if isinstance(exc, RemoteProtocolError) else 1011
            await ws.fail(code, str(exc))
        finally:
            with anyio.CancelScope(shield=True):
                await self._finish()

    async def _finish(self) -> None:
        if not self._ws.open and self._ws.close_code is None:
            await self._ws.abort()
        async with self._fold_lock:
            step = self._fold_close()
            if step is not None:
                self._put(step)
            if not self._hold or self._closing:
                self._end_steps()
            self._reader_done.set()

    def _fold_close(self) -> Step | None:
        if self._core.state.phase is SessionPhase.CLOSED:
            return None
        code = self._ws.close_code
        return self._core.transport_closed(code, self._ws.close_reason)

    async def _deadline_loop(self) -> None:
        clock = self._clock
        while True:
            if await self._alarm.wait(self._next_deadline(), clock):
                # the tick starts every in-flight event's timer and expires the overdue, so the
                # next deadline is after its ``now`` or at an event it sent: no spin
                await self._fold_and_push(self._core.tick, (clock(),), quiet_ok=True)

    async def _keepalive_loop(self, interval: float) -> None:
        ws = self._ws  # the WebSocket this loop was started for
        while True:
            await anyio.sleep(interval)
            if not ws.open:
                return
            if not await ws.ping(self._ping_timeout):
                if ws.open:
                    await ws.abort(f"no pong within {self._ping_timeout} s")
                return


class _Steps:
    """The async iterator ``AsyncConnection.steps()`` returns."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        connection._reading = True

    def __aiter__(self) -> _Steps:
        return self

    async def __anext__(self) -> Step:
        connection = self._connection
        queue = connection._steps
        try:
            step = await queue.get()
        except anyio.EndOfStream:
            error = connection._error
            if error is not None:
                connection._error = None
                raise error from None
            raise StopAsyncIteration from None
        if queue.unseen:
            missed = queue.take_dropped()
            connection._behind = False
            diagnostic = Diagnostic(
                code="steps_dropped",
                message=f"steps() fell more than {queue.capacity} Steps behind: the "
                f"{missed} before this one were dropped (the state has them)",
                applied=True,
            )
            step = attrs.evolve(step, diagnostics=(*step.diagnostics, diagnostic))
        return step


def _check_connected(plugins: Sequence[object]) -> None:
    for plugin in plugins:
        connected = getattr(plugin, "connected", None)
        if connected is not None and not inspect.iscoroutinefunction(connected):
            raise PluginError(
                f"{type(plugin).__name__}.connected must be an async method taking the "
                "AsyncConnection (it runs in its own task while the transport is open)"
            )


def _on_asyncio() -> bool:
    """Whether the running event loop is asyncio's (trio runs no asyncio loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def open_stream(
    host: str,
    port: int,
    *,
    secure: bool,
    ssl_context: ssl.SSLContext | None = None,
) -> anyio.abc.ByteStream:
    """Dial TCP (and TLS, verified by default).

    Raises:
        ConnectError: the connection or the TLS handshake failed.
    """
    try:
        context = None
        if secure:
            context = ssl_context if ssl_context is not None else ssl.create_default_context()
        if _on_asyncio():
            return await open_asyncio_stream(host, port, ssl_context=context)
        from ._trio_stream import open_trio_stream  # noqa: PLC0415 - trio is optional

        return await open_trio_stream(host, port, ssl_context=context)
    except ssl.SSLCertVerificationError as exc:
        raise ConnectError(f"the TLS certificate of {host} did not verify: {exc}") from None
    except _NETWORK as exc:
        raise ConnectError(
            f"cannot connect to {host}:{port}: {exc or type(exc).__name__}"
        ) from None


async def _handshake(
    stream: anyio.abc.ByteStream,
    url: str,
    headers: Sequence[tuple[str, str]],
    max_size: int,
    close_timeout: float,
) -> WebSocket:
    # websockets logs the request's headers at DEBUG: through a logger that redacts keys
    protocol = ClientProtocol(
        parse_uri(url), max_size=max_size, logger=redacting_logger("websockets.client")
    )
    ws = WebSocket(stream, protocol, close_timeout=close_timeout)
    request = protocol.connect()
    request.headers["User-Agent"] = f"rtstate {USER_AGENT}"
    for name, value in headers:
        if name in request.headers:
            del request.headers[name]
        request.headers[name] = value
    protocol.send_request(request)
    try:
        await ws.write_handshake()
        await ws.handshake_event()
        ws.check_accepted()
    except BaseException:
        await ws.abort()
        raise
    return ws


def _scrubbed(error: HandshakeError, secret: str | None) -> HandshakeError:
    """``error`` with ``secret`` cut out of the body the server answered (a server
    that echoes the key it refused)."""
    if not secret or secret not in error.body:
        return error
    return HandshakeError(error.status, error.body.replace(secret, "[redacted]"))


@asynccontextmanager
async def connect(
    url: str,
    *,
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    model: str | None = None,
    call_id: str | None = None,
    azure_deployment: str | None = None,
    api_version: str | None = None,
    dialect: Dialect | None = None,
    config: Config = DEFAULT_CONFIG,
    plugins: Sequence[object] = (),
    id_factory: Callable[[], str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    stream: anyio.abc.ByteStream | None = None,
    dialer: Dialer | None = None,
    max_size: int = MAX_SIZE,
    open_timeout: float = 10.0,
    close_timeout: float = 5.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float = 20.0,
    step_buffer: float = 256,
    clock: Callable[[], float] = anyio.current_time,
) -> AsyncIterator[AsyncConnection]:
    """Open a Realtime session and yield its ``AsyncConnection``; close it on exit.

    Args:
        url: ``wss://api.openai.com/v1/realtime`` or any ws(s) URL (``rtstate.serve``
            reports its own).
        api_key: sent as ``Authorization: Bearer`` (OpenAI) or ``api-key`` (Azure).
        headers: extra handshake headers; they replace derived ones of the same name.
        model: added as ``?model=`` (OpenAI).
        call_id: join a WebRTC or SIP call already running (an attached, or
            sideband, session): added as ``?call_id=`` (and ``?model=`` only if
            ``model`` is given too). The ``ClientConnection`` starts attached: no
            ``session.created`` is awaited, what began before the socket opened is
            adopted, ``interrupt()`` cuts the server's own playback
            (``response.cancel`` + ``output_audio_buffer.clear``).
        azure_deployment / api_version: Azure's ``deployment`` and ``api-version``
            query; Azure is also recognised by its host names.
        dialect: the wire protocol, ``"beta"`` or ``"ga"``; it replaces
            ``config.dialect``. ``None``: GA for ``api.openai.com`` (OpenAI retired the
            beta surface in May 2026), ``config.dialect`` elsewhere. The
            ``OpenAI-Beta: realtime=v1`` header goes only with beta.
        config / plugins / id_factory: for the ``ClientConnection``. A plugin may also
            define ``async def connected(self, connection)``: it runs in its own task
            while the transport is open and is cancelled at close (the connection's
            tasks are shielded from the scopes around ``connect()``: its deadlines do
            not reach them; closing, however the body ends, stops them).
        ssl_context: for wss; the default verifies certificates and host names.
        stream: an open byte stream to speak over instead of dialing (an in-memory
            pair, a proxy tunnel); ``url`` then only names the resource, and the
            connection cannot ``redial()``.
        dialer: an async function that opens the byte stream, called for the first
            dial and for every ``redial()`` (instead of TCP/TLS to ``url``'s host).
        max_size: the largest message accepted (at least 16 MiB by default); a larger
            one closes the connection with code 1009 and says so.
        open_timeout: seconds for TCP, TLS and the WebSocket handshake together.
        close_timeout: seconds ``aclose`` waits for the server's close.
        ping_interval / ping_timeout: keepalive pings (``None``: off).
        step_buffer: Steps buffered for ``steps()``; past it the oldest are dropped
            (``steps_dropped``; ``math.inf``: never drop, memory grows instead). The
            reader never waits for ``steps()``.
        clock: the monotonic clock given to ``tick`` (seconds).

    Raises:
        ConnectError: the server could not be reached, TLS failed, or it timed out.
        HandshakeError: the server refused the WebSocket (e.g. HTTP 401).
        PluginError: a plugin is malformed.
    """
    _check_connected(plugins)
    chosen = dialect if dialect is not None else default_dialect(url, config.dialect)
    if chosen != config.dialect:
        config = attrs.evolve(config, dialect=chosen)
    target = endpoint(
        url,
        api_key=api_key,
        headers=headers,
        model=model,
        azure_deployment=azure_deployment,
        api_version=api_version,
        beta_header=chosen == "beta",
        call_id=call_id,
    )
    if stream is not None and dialer is not None:
        raise TypeError("connect() takes stream= or dialer=, not both")
    core = ClientConnection(
        config=config, plugins=plugins, id_factory=id_factory, attached=call_id is not None
    )

    async def dial(given: anyio.abc.ByteStream | None = None) -> WebSocket:
        opened = given
        try:
            with anyio.fail_after(open_timeout):
                if opened is None:
                    opened = await (
                        dialer()
                        if dialer is not None
                        else open_stream(
                            target.host,
                            target.port,
                            secure=target.secure,
                            ssl_context=ssl_context,
                        )
                    )
                try:
                    return await _handshake(
                        opened, target.url, target.headers, max_size, close_timeout
                    )
                except HandshakeError as exc:
                    raise _scrubbed(exc, api_key) from None
        except TimeoutError:
            if opened is not None:
                await opened.aclose()
            raise ConnectError(
                f"no WebSocket to {redacted_url(target.url)} within {open_timeout} s"
            ) from None
        except _NETWORK as exc:  # a dialer that failed
            shown = redacted_url(target.url)
            raise ConnectError(f"cannot connect to {shown}: {exc!r}") from None

    ws = await dial(stream)
    connection = AsyncConnection(
        ws,
        core,
        step_buffer=step_buffer,
        clock=clock,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        dial=dial if stream is None else None,
    )
    with Unwrap(_log, "rtstate.connect") as unwrap:
        async with anyio.create_task_group() as tasks:
            try:
                await tasks.start(connection._run)
            except BaseException:
                connection._scope.cancel()  # shielded from ours: stop its tasks here
                raise
            try:
                yield connection
            except BaseException as exc:
                unwrap.body = exc
                raise
            finally:
                await connection.aclose()
