"""Waiting on a connection: ``wait_for`` / ``request`` waiters and ``transitions()`` feeds.

A ``Watch`` sees every Step the transport drives, as it is buffered for ``steps()``
(under the fold lock, in fold order), and hands each to the waiters and feeds
registered at that moment. It never goes through the ``steps()`` buffer: a waiter
cannot miss its Step however far behind ``steps()`` is, waiting takes nothing away
from ``steps()``, and any number of tasks can wait at once.

It also keeps a backlog: the Steps since the last ``wait_for`` returned (at most the
connection's ``step_buffer`` of them). A new ``wait_for`` looks there first, so that
``await conn.send(...)`` followed by ``await conn.wait_for(...)`` finds a Step
folded in between, and ``await conn.wait_for(SessionStarted)`` right after connecting
finds a ``session.created`` that arrived before the call. Each ``wait_for`` that
returns moves the start of the backlog past its Step: the next one does not find it
again.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final, Generic, TypeAlias, TypeVar

import anyio
import attrs

from ..errors import ConnectionClosed, RequestDropped, RequestRejected
from ..events.client import ClientEvent, ResponseCreate
from ..step import Step
from ..transitions import (
    ClientEventCoalesced,
    ClientEventQueued,
    ClientEventRejected,
    ClientEventTimedOut,
    ResponseStarted,
    Transition,
)
from ._sync import StepQueue

__all__ = ["TransitionFeed", "Until", "Waiter", "Watch", "matcher"]

T = TypeVar("T", bound=Transition)

Until: TypeAlias = Callable[[Step], bool] | type[Transition] | tuple[type[Transition], ...]
"""What ``wait_for`` waits for: a predicate on a Step, or transition classes (a Step
with a transition of one of them, subclasses included)."""


def _kinds(until: Until) -> tuple[type[Transition], ...] | None:
    """``until``'s transition classes, or ``None`` if it is not classes."""
    kinds = until if isinstance(until, tuple) else (until,)
    if kinds and all(isinstance(k, type) and issubclass(k, Transition) for k in kinds):
        return kinds  # type: ignore[return-value]
    return None


def matcher(until: Until) -> Callable[[Step], bool]:
    """``until`` as a predicate on Steps.

    Raises:
        TypeError: ``until`` is neither callable nor transition classes.
    """
    kind_tuple = _kinds(until)
    if kind_tuple is not None:
        return lambda step: any(isinstance(t, kind_tuple) for t in step.transitions)
    if callable(until) and not isinstance(until, type):
        return until
    raise TypeError(f"wait_for() takes a predicate on Steps or transition classes, not {until!r}")


class Waiter:
    """One ``wait_for`` or ``request``: a predicate, and maybe a request to track.

    ``offer`` is called with each Step in fold order until it returns ``True``; then
    ``result`` or ``error`` holds the outcome and ``done`` is set.

    The request (``track``) is followed by its ``event_id``: a ``ClientEventRejected``
    for it ends the wait with ``RequestRejected``; a ``response.create`` the core
    dropped unsent on a full queue (``queue_full``) ends it with ``RequestDropped``.
    A ``response.create`` the core queued again after a race with a response it did
    not ask for (``conversation_already_has_active_response``: ``ClientEventRejected`` then
    ``ClientEventQueued`` of the same create without an id) is not a failure: the
    waiter follows the retry, which gets its ``event_id`` when it is sent. So it
    does for a request coalesced into another (``ClientEventCoalesced``). With no
    predicate (``acked``), the wait ends at the request's acknowledgement (it leaves
    ``ledger.in_flight`` settled), or with ``TimeoutError`` if the core gave up on it
    (``ClientEventTimedOut``: ``Config.ack_timeout``).

    A followed ``response.create`` waited on with transition classes waits for its
    own response: the ``response.created`` that acknowledges it names the response,
    and a transition of another response (one with another ``response_id``, e.g. an
    out-of-band response running beside it, or the one it was queued behind) does not
    end the wait. Transitions that name no response count as they come.
    """

    __slots__ = (
        "_creates",
        "_event",
        "_kinds",
        "_match",
        "_request",
        "_response",
        "_retry",
        "_sent",
        "done",
        "error",
        "result",
    )

    def __init__(self, until: Until | None) -> None:
        self._match = None if until is None else matcher(until)
        self._kinds = None if until is None else _kinds(until)
        self._request: str | None = None  # the event_id followed
        self._retry: ClientEvent | None = None  # a queued retry without its id yet
        self._creates = False  # whether the request is a response.create
        self._event: ClientEvent | None = None  # the request, as the caller sent it
        self._sent = False  # whether the request (or its retry) went on the wire
        self._response: str | None = None  # the response it started, once acknowledged
        self.done = anyio.Event()
        self.result: Step | None = None
        self.error: BaseException | None = None

    def track(self, event: ClientEvent) -> None:
        """Follow ``event`` (sent, so stamped with its ``event_id``)."""
        self._request = event.event_id
        self._retry = None
        self._creates = isinstance(event, ResponseCreate)
        self._event = event
        self._sent = False

    @property
    def wants_ack(self) -> bool:
        """Whether the wait ends at the request's acknowledgement (no predicate)."""
        return self._match is None

    def settle(self, step: Step) -> None:
        """End the wait with ``step``."""
        self._finish(result=step)

    def follow(self, step: Step) -> bool:
        """Take in what ``step`` (a call's own Step, not offered) says about the
        request (a coalescing); whether that ends the wait."""
        return self._followed(step)

    def offer(self, step: Step) -> bool:
        """Look at ``step``; whether the wait is over."""
        match = self._match
        if self._creates and self._response is None:
            self._response = self._started(step)
        if match is not None:
            try:
                if self._own(step) if self._creates and self._kinds else match(step):
                    return self._finish(result=step)
            except Exception as exc:  # the caller's predicate: raised where it waits
                return self._finish(error=exc)
        if self._request is None and self._retry is None:
            return False
        if self._followed(step):
            return True
        if match is None and self._acknowledged(step):
            return self._finish(result=step)
        return False

    def fail(self, error: BaseException) -> None:
        """End the wait with ``error`` (the connection ended)."""
        self._finish(error=error)

    def _finish(self, *, result: Step | None = None, error: BaseException | None = None) -> bool:
        self.result, self.error = result, error
        self.done.set()
        return True

    def _started(self, step: Step) -> str | None:
        """The response ``step`` started for the followed ``response.create``, if it
        acknowledges it."""
        if self._request is None or not self._acknowledged(step):
            return None
        for transition in step.transitions:
            if isinstance(transition, ResponseStarted):
                return transition.response_id
        return None

    def _own(self, step: Step) -> bool:
        """Whether ``step`` has a transition of the awaited classes that names no
        response or the followed create's own."""
        kinds = self._kinds
        assert kinds is not None
        response = self._response
        for transition in step.transitions:
            if isinstance(transition, kinds):
                named = getattr(transition, "response_id", None)
                if named is None or named == response:
                    return True
        return False

    def _mine(self, event: ClientEvent) -> bool:
        request = self._request
        if request is not None:
            return event.event_id == request
        return event.event_id is None and event == self._retry

    def _followed(self, step: Step) -> bool:
        retry = self._retry
        if retry is not None:  # the retry goes out under a new id
            for sent in step.sent:
                if sent.__class__ is retry.__class__ and attrs.evolve(sent, event_id=None) == retry:
                    self._request, self._retry = sent.event_id, None
                    break
        if not self._sent and any(self._mine(sent) for sent in step.sent):
            self._sent = True
        transitions = step.transitions
        for index, transition in enumerate(transitions):
            seen = _FOLLOW.get(transition.__class__)
            if seen is not None and seen(self, transition, transitions, index):
                return True
        return bool(step.diagnostics) and self._dropped(step)

    def _dropped(self, step: Step) -> bool:
        """Whether ``step`` dropped the followed ``response.create`` before it was ever
        sent (a full queue: ``queue_full``); if so the wait ends with ``RequestDropped``."""
        if not self._creates or self._sent:
            return False
        full = next((d for d in step.diagnostics if d.code == "queue_full"), None)
        if full is None:
            return False
        if any(self._mine(queued) for queued in step.after.ledger.queued):
            return False  # another create was dropped, not this one
        event = self._retry or self._event
        assert event is not None
        return self._finish(error=RequestDropped(event, full.code, full.message))

    def _rejected(
        self, transition: Transition, transitions: tuple[Transition, ...], index: int
    ) -> bool:
        assert isinstance(transition, ClientEventRejected)
        if not self._mine(transition.event):
            return False
        again = attrs.evolve(transition.event, event_id=None)
        if any(
            isinstance(t, ClientEventQueued) and t.event == again for t in transitions[index + 1 :]
        ):  # queued again: follow the retry
            self._request, self._retry = None, again
            return False
        return self._finish(error=RequestRejected(transition.event, transition.error))

    def _coalesced(
        self, transition: Transition, transitions: tuple[Transition, ...], index: int
    ) -> bool:
        assert isinstance(transition, ClientEventCoalesced)
        if self._mine(transition.event):
            into = transition.into
            if into.event_id is None:
                self._request, self._retry = None, into
            else:
                self._request, self._retry = into.event_id, None
        return False

    def _timed_out(
        self, transition: Transition, transitions: tuple[Transition, ...], index: int
    ) -> bool:
        assert isinstance(transition, ClientEventTimedOut)
        if self._match is not None or not self._mine(transition.event):
            return False  # a predicate decides when the wait ends, not the ack
        said = f"the server did not answer {transition.event.type} within Config.ack_timeout"
        return self._finish(error=TimeoutError(said))

    def _acknowledged(self, step: Step) -> bool:
        request = self._request
        if request is None:
            return False
        before = step.before.ledger
        after = step.after.ledger
        if before is after or not any(p.event.event_id == request for p in before.in_flight):
            return False
        if any(p.event.event_id == request for p in after.in_flight):
            return False
        return any(e.event_id == request for e in after.recent)


_FOLLOW: Final[
    Mapping[type[Transition], Callable[[Waiter, Transition, tuple[Transition, ...], int], bool]]
] = {
    ClientEventRejected: Waiter._rejected,
    ClientEventCoalesced: Waiter._coalesced,
    ClientEventTimedOut: Waiter._timed_out,
}
"""The transitions that say something about a request a waiter follows -> what it does
(whether the wait ends)."""


class TransitionFeed(Generic[T]):
    """The async iterator ``AsyncConnection.transitions(*kinds)`` returns: the
    transitions of those classes in the Steps folded since it was made, in order.

    It has a buffer of its own (``buffer`` transitions, by default the connection's
    ``step_buffer``; past it the oldest are dropped and counted in ``dropped``), so
    it neither takes from nor waits for ``steps()``, and several feeds can run at
    once. It ends when the
    connection ends (after a redial announced with ``expect_redial()``, it goes
    on), raising the reader's error if it stopped on one, as ``steps()`` does. A
    feed dropped by its owner (``break`` out of the loop, then no reference left)
    or closed with ``aclose()`` stops receiving.
    """

    __slots__ = ("__weakref__", "_error", "_kinds", "_queue", "_watch")

    def __init__(self, watch: Watch, kinds: tuple[type[T], ...], capacity: float) -> None:
        self._kinds = kinds
        self._queue: StepQueue[T] = StepQueue(capacity)
        self._error: BaseException | None = None
        self._watch = watch

    @property
    def dropped(self) -> int:
        """Transitions dropped because the consumer fell ``step_buffer`` behind."""
        return self._queue.dropped

    def __aiter__(self) -> TransitionFeed[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self._queue.get()
        except anyio.EndOfStream:
            error, self._error = self._error, None
            if error is not None:
                raise error from None
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Stop receiving; the iteration ends after what is buffered."""
        self._watch.discard(self)
        self._queue.close()

    def _offer(self, step: Step) -> None:
        kinds = self._kinds
        for transition in step.transitions:
            if isinstance(transition, kinds):
                self._queue.put(transition)

    def _end(self, error: BaseException | None) -> None:
        self._error = error
        self._queue.close()


class Watch:
    """The waiters and feeds of one connection, and the backlog of Steps."""

    __slots__ = ("_backlog", "_capacity", "_count", "_feeds", "_waiters", "ended", "listening")

    def __init__(self, capacity: float) -> None:
        self._capacity = capacity
        self._backlog: deque[Step] = deque(maxlen=None if math.isinf(capacity) else int(capacity))
        self._count = 0  # Steps published so far
        self._waiters: list[Waiter] = []
        self._feeds: weakref.WeakSet[TransitionFeed[Transition]] = weakref.WeakSet()
        self.ended = False
        """Whether the connection ended (``end``) and did not ``reopen``."""
        self.listening = False
        """Whether a waiter or a feed is registered (the hot path's one check)."""

    # --- the transport's side ---------------------------------------------------------

    def publish(self, step: Step) -> None:
        """``step`` was folded: keep it in the backlog, hand it to every listener."""
        self._count += 1
        self._backlog.append(step)
        if self.listening:
            self._dispatch(step)

    def end(self, error: BaseException) -> None:
        """The connection ended: the waiters fail with ``error``; the feeds end
        (raising ``error`` unless it is a plain close, which ends them quietly)."""
        self.ended = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.fail(error)
        quiet = isinstance(error, ConnectionClosed)
        for feed in list(self._feeds):
            feed._end(None if quiet else error)
        self._feeds.clear()
        self.listening = False

    def reopen(self) -> None:
        """A redial: waiting is possible again."""
        self.ended = False

    # --- the waiting side -------------------------------------------------------------

    def wait(self, waiter: Waiter, sent: str | None = None) -> None:
        """Offer ``waiter`` the backlog, then register it for what follows (unless
        the backlog settled it). Synchronous: no Step can slip in between.

        ``sent``: the ``event_id`` of a request already sent; only the Steps folded
        after it count (the first whose state before knows the event, and on).
        """
        backlog = self._backlog
        first = self._count - len(backlog)  # the count before backlog[0]
        for offset, step in enumerate(backlog):
            if sent is not None:
                if step.before.ledger.find(sent) is None:
                    continue  # folded before the request was sent
                sent = None
            if waiter.offer(step):
                if waiter.error is None:
                    self._passed(first + offset + 1)
                return
        self.add(waiter)

    def add(self, waiter: Waiter) -> None:
        """Register ``waiter`` for the Steps published from now on."""
        self._waiters.append(waiter)
        self.listening = True

    def remove(self, waiter: Waiter) -> None:
        """Unregister ``waiter`` (it returned, failed, timed out or was cancelled)."""
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        self._relisten()

    def returned(self, waiter: Waiter) -> None:
        """``waiter`` returns its Step: the backlog starts after it."""
        result = waiter.result
        if result is None:
            return
        backlog = self._backlog
        first = self._count - len(backlog)
        for offset, step in enumerate(backlog):
            if step is result:
                self._passed(first + offset + 1)
                return

    def feed(self, kinds: tuple[type[T], ...], capacity: float | None) -> TransitionFeed[T]:
        """A new feed of ``kinds`` buffering ``capacity`` transitions (``None``: the
        connection's ``step_buffer``), registered now (ended at once if the
        connection has ended)."""
        size = self._capacity if capacity is None else capacity
        feed: TransitionFeed[T] = TransitionFeed(self, kinds, size)
        if self.ended:
            feed._end(None)
        else:
            self._feeds.add(feed)  # type: ignore[arg-type]
            self.listening = True
        return feed

    def discard(self, feed: TransitionFeed[T]) -> None:
        """Unregister ``feed``."""
        self._feeds.discard(feed)  # type: ignore[arg-type]
        self._relisten()

    # --- internals --------------------------------------------------------------------

    def _dispatch(self, step: Step) -> None:
        waiters = self._waiters
        if waiters:
            still = [w for w in waiters if not w.offer(step)]
            if len(still) != len(waiters):
                self._waiters = still
        for feed in self._feeds:
            feed._offer(step)
        self._relisten()

    def _relisten(self) -> None:
        self.listening = bool(self._waiters) or len(self._feeds) > 0

    def _passed(self, count: int) -> None:
        """Drop the backlog's Steps up to the ``count``-th published."""
        backlog = self._backlog
        first = self._count - len(backlog)
        for _ in range(min(count - first, len(backlog))):
            backlog.popleft()
