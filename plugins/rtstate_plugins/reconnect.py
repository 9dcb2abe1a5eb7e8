"""``Reconnect``: when the session is lost, redial with backoff and resume the session.

On ``TransportClosed`` or ``SessionExpired`` the plugin decides
``Redial(attempt, delay, at, plan)`` (the plan is ``rtstate.plan_reconnect`` of the
state at the loss) or ``GiveUp`` once the ``Backoff`` policy's attempts are spent.

Over a transport (``rtstate.connect(..., plugins=[Reconnect()])``) the plugin's
``connected`` hook carries the decisions out: it waits ``delay``, calls
``connection.redial(decision.plan)`` (a new WebSocket, the same session state resumed
on it: the config and the conversation re-created), decides again when a dial fails,
and on ``GiveUp`` closes the connection, which ends ``steps()``. Until then
``steps()`` goes on across the redial. Closing the connection with ``aclose()`` never
redials.

Without a transport (a sans-IO loop of your own), whoever owns the I/O waits
``delay``, dials, calls ``conn.resume(decision.plan)`` and writes its frames; a dial
that fails is reported with ``failed()``, which decides the next attempt. A new
``session.created`` after a resume resets the count.

``Backoff`` is capped exponential backoff with jitter; its randomness and the clock
are injected (``random``, ``clock``), so decisions are reproducible in tests.

Not built: a proactive redial before the session's age limit. The plugin reacts to
``SessionExpired``, after the server ended the session. ``state.expires_at`` (unix
seconds, from ``session.created`` / ``.updated``) and ``state.seconds_left(time.time())``
give what such a redial needs; it would need a wall clock beside the monotonic
``clock`` (``expires_at`` is the server's wall time, skewed from the client's), a margin,
and a quiet moment (no response in progress, nothing in flight) to call
``connection.redial(rtstate.plan_reconnect(state))`` before the expiry.
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, TypeAlias

import anyio
import attrs

import rtstate
from rtstate import transitions as tr
from rtstate.plugins import PluginError

if TYPE_CHECKING:
    from rtstate.transport import AsyncConnection

__all__ = ["Backoff", "Decision", "GiveUp", "Reconnect", "Redial"]


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"Backoff.{attribute.name} must be > 0, not {value}")


@attrs.frozen(kw_only=True)
class Backoff:
    """Capped exponential backoff with jitter.

    The ``n``-th attempt (from 1) waits up to ``min(cap, initial * factor ** (n - 1))``
    seconds: all of it with ``jitter="none"``, a uniform part of it with ``"full"``
    (AWS's "full jitter": spreads a crowd of clients best), between half and all of
    it with ``"equal"``. ``max_attempts`` (``None``: no limit) bounds the redials of
    one loss.
    """

    initial: float = attrs.field(default=0.5, validator=_positive)
    factor: float = attrs.field(default=2.0, validator=_positive)
    cap: float = attrs.field(default=30.0, validator=_positive)
    jitter: Literal["full", "equal", "none"] = attrs.field(
        default="full", validator=attrs.validators.in_(("full", "equal", "none"))
    )
    max_attempts: int | None = 8

    def ceiling(self, attempt: int) -> float:
        """The longest wait before attempt ``attempt`` (from 1)."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, not {attempt}")
        exponent = min(attempt - 1, 1024)  # past the cap long before: no overflow
        try:
            grown = self.initial * self.factor**exponent
        except OverflowError:
            grown = self.cap
        return min(self.cap, grown)

    def delay(self, attempt: int, random: Callable[[], float] = _random.random) -> float:
        """The wait before attempt ``attempt``; ``random()`` gives a float in [0, 1)."""
        ceiling = self.ceiling(attempt)
        if self.jitter == "none":
            return ceiling
        if self.jitter == "equal":
            return ceiling / 2 + random() * ceiling / 2
        return random() * ceiling

    def allows(self, attempt: int) -> bool:
        """Whether attempt ``attempt`` may be made."""
        return self.max_attempts is None or attempt <= self.max_attempts


@attrs.frozen(kw_only=True)
class Redial:
    """Dial again after ``delay`` seconds (at ``at`` on the plugin's clock), then
    ``conn.resume(plan)``. ``reason``: ``"closed"`` (the transport closed) or
    ``"expired"`` (the server ended the session for its age)."""

    reason: Literal["closed", "expired"]
    attempt: int
    delay: float
    at: float
    plan: rtstate.ReconnectPlan


@attrs.frozen(kw_only=True)
class GiveUp:
    """Stop: ``attempts`` redials of this loss failed (``Backoff.max_attempts``)."""

    reason: Literal["closed", "expired"]
    attempts: int


Decision: TypeAlias = Redial | GiveUp
"""What ``Reconnect`` decided about a lost session."""


class Reconnect:
    """A plugin that redials a lost session with backoff (see the module docstring).

    Args:
        backoff: the policy (default ``Backoff()``).
        on_decision: called with each ``Decision`` as it is made.
        clock: a monotonic clock in seconds, for ``Redial.at``.
        random: floats in [0, 1) for the jitter.
    """

    def __init__(
        self,
        backoff: Backoff | None = None,
        *,
        on_decision: Callable[[Decision], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.backoff = backoff if backoff is not None else Backoff()
        self._on_decision = on_decision
        self._clock = clock
        self._random = random
        self.decision: Decision | None = None
        """The latest decision still open (``None`` once resumed or when none)."""
        self._attempt = 0
        self._closing = False
        self._resumed: rtstate.ReconnectPlan | None = None
        self._connection: AsyncConnection | None = None
        self._wake: anyio.Event | None = None
        self._dialect: Literal["beta", "ga"] = "ga"
        self.errors: list[rtstate.TransportError] = []
        """Why each failed redial failed, oldest first."""

    @property
    def attempt(self) -> int:
        """Redials decided for the current loss (0: connected, or never lost)."""
        return self._attempt

    def closing(self) -> None:
        """The app is closing the connection on purpose: do not redial."""
        self._closing = True

    def attached(self, connection: rtstate.ClientConnection) -> None:
        """Registered on ``connection``: its plans speak its dialect (``ReconnectPlan.dialect``)."""
        self._dialect = connection.config.dialect

    # --- hooks ---------------------------------------------------------------------------

    def on_session_expired(self, t: tr.SessionExpired, step: rtstate.Step) -> None:
        """The server ended the session for its age: redial."""
        self._lost("expired", step.after)

    def on_transport_closed(self, t: tr.TransportClosed, step: rtstate.Step) -> None:
        """The transport closed: redial, unless the app closed it."""
        if self._connection is not None and self._connection.closing:
            return
        self._lost("closed", step.after)

    def on_session_resumed(self, t: tr.SessionResumed, step: rtstate.Step) -> None:
        """The adapter resumed from the plan: the decision is carried out."""
        if isinstance(self.decision, Redial):
            self._resumed = self.decision.plan
        self.decision = None

    def on_session_started(self, t: tr.SessionStarted, step: rtstate.Step) -> None:
        """A session is open (first, or after a resume): a later loss starts at 1."""
        self._attempt = 0
        self._closing = False

    # --- over a transport -----------------------------------------------------------------

    async def connected(self, connection: AsyncConnection) -> None:
        """Carry the decisions out on ``connection`` (the transport runs this in a task
        of its own while the connection is open, and cancels it at close).

        ``Redial``: sleep ``delay``, then ``connection.redial(plan)``; a
        ``TransportError`` (kept in ``errors``) makes the next decision.
        ``GiveUp``: ``connection.aclose()``, which ends ``steps()``.
        """
        self._connection = connection
        try:
            while True:
                self._wake = anyio.Event()
                decision = self.decision
                if decision is None:
                    await self._wake.wait()
                    continue
                if isinstance(decision, GiveUp):
                    await connection.aclose()
                    return
                await anyio.sleep(max(decision.delay, 0.0))
                try:
                    await connection.redial(decision.plan)
                except rtstate.ConnectionClosed:
                    if connection.closing:
                        return  # the app closed it meanwhile
                    self.errors.append(rtstate.ConnectionClosed(None, "redial failed"))
                    self.failed()
                except rtstate.TransportError as exc:
                    self.errors.append(exc)
                    self.failed()
        finally:
            self._connection = None
            self._wake = None

    # --- the adapter's side ---------------------------------------------------------------

    def failed(self) -> Decision:
        """The last redial failed (the dial, or the resume): the next decision."""
        last = self.decision
        if last is None or isinstance(last, GiveUp):
            raise PluginError("failed() without a redial in progress")
        return self._decide(last.reason, last.plan)

    def _lost(self, reason: Literal["closed", "expired"], state: rtstate.SessionState) -> None:
        if self._closing or self.decision is not None:
            return  # closed on purpose, or one loss seen twice (expiry, then the close)
        resumed = self._resumed
        if resumed is not None and any(state.item(i) is None for i in resumed.id_map.values()):
            # lost again before the new session confirmed the rebuilt conversation:
            # the plan that rebuilds it still holds it
            plan = resumed
        else:
            plan = rtstate.plan_reconnect(state, dialect=self._dialect)
        self._decide(reason, plan)

    def _decide(
        self, reason: Literal["closed", "expired"], plan: rtstate.ReconnectPlan
    ) -> Decision:
        attempt = self._attempt + 1
        decision: Decision
        if not self.backoff.allows(attempt):
            decision = GiveUp(reason=reason, attempts=self._attempt)
        else:
            self._attempt = attempt
            delay = self.backoff.delay(attempt, self._random)
            decision = Redial(
                reason=reason, attempt=attempt, delay=delay, at=self._clock() + delay, plan=plan
            )
        self.decision = decision
        if self._on_decision is not None:
            self._on_decision(decision)
        connection = self._connection
        if connection is not None:
            if isinstance(decision, Redial):
                connection.expect_redial()
            if self._wake is not None:
                self._wake.set()
        return decision
