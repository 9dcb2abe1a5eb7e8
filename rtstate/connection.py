"""``ClientConnection``: the thin stateful shell over ``fold``.

decode -> fold -> plugins -> encode -> ``Step``. It holds the current state, the
plugins and the id factory, and does no I/O: after *every* call, write
``step.to_send`` in order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import TypeAlias

import attrs
from attrs import evolve

from .codec import codec_for
from .codec._names import wrong_dialect_message
from .config import DEFAULT_CONFIG, Config
from .errors import LocalProtocolError, RemoteProtocolError
from .events.client import ClientEvent
from .events.server import ServerEvent, UnknownServerEvent
from .fold import fold
from .plugins import Dispatched, Plugins
from .reconnect import ReconnectPlan
from .state import SessionPhase, SessionState
from .step import Closed, Diagnostic, Input, Interrupt, Malformed, Played, Resumed, Step, Tick
from .transitions import Transition

__all__ = ["ClientConnection", "Tap", "counter_ids"]

Tap: TypeAlias = Callable[[str, object], None]
"""A call observer (``ClientConnection.add_tap``): ``tap(verb, value)``."""


def counter_ids(prefix: str = "evt_rt_") -> Callable[[], str]:
    """A deterministic event-id factory: ``evt_rt_1``, ``evt_rt_2``, ..."""
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


class ClientConnection:
    """The client side of one Realtime session, sans I/O.

    Args:
        config: how to fold (strictness, audio retention, plugin error policy) and
            which wire dialect to decode and encode (``Config(dialect="ga")``).
        plugins: objects with ``on_<transition>`` hooks (see ``rtstate.plugins``).
        id_factory: makes the ``event_id`` of each sent event (default: a counter).
        state: start from this state instead of a fresh one (e.g. to fold a capture
            that begins mid-session).
        attached: the socket joins a session already running (opened with
            ``?call_id=`` beside a WebRTC or SIP call; ``rtstate.connect(...,
            call_id=...)`` sets it): the state starts ``OPEN`` and ``attached``, no
            ``session.created`` is expected, the session config stays ``None`` until a
            ``session.updated``, and what events name but began before the socket
            opened is adopted, not rejected (the rule: ``rtstate._fold._attached``).
            ``interrupt()`` then cuts the server's own playback (see there).

    Raises:
        PluginError: a plugin has an unknown hook name or a wrong signature.
    """

    def __init__(
        self,
        *,
        config: Config = DEFAULT_CONFIG,
        plugins: Sequence[object] = (),
        id_factory: Callable[[], str] | None = None,
        state: SessionState | None = None,
        attached: bool = False,
    ) -> None:
        if attached and state is not None:
            raise TypeError("ClientConnection() takes state= or attached=True, not both")
        self._config = config
        self._codec = codec_for(config.dialect)
        self._decode = self._codec.decode_server
        self._plugins = Plugins(plugins)
        self._dispatch = self._plugins.dispatch
        self._reraise = config.plugin_errors == "raise"
        self._ids = id_factory or counter_ids()
        if state is None:
            fresh = SessionState()
            state = evolve(fresh, phase=SessionPhase.OPEN, attached=True) if attached else fresh
        self._state = state
        self._failures: list[tuple[object, BaseException]] = []
        self._taps: tuple[Tap, ...] = ()
        self._tapping = False  # inside a tapped call: the method body runs untapped
        self._told_dialect = False  # the wrong-dialect diagnostic was given
        for plugin in self._plugins.active:
            hook = getattr(plugin, "attached", None)
            if hook is not None:
                hook(self)

    @property
    def state(self) -> SessionState:
        """The current immutable snapshot (``== last_step.after``)."""
        return self._state

    @property
    def config(self) -> Config:
        """The connection's ``Config``."""
        return self._config

    @property
    def plugins(self) -> tuple[object, ...]:
        """The plugins still attached, in registration order."""
        return self._plugins.active

    @property
    def plugin_errors(self) -> tuple[tuple[object, BaseException], ...]:
        """Every plugin detached because it failed, with its error, in order: a hook
        that raised or returned something other than client events, and (over a
        transport) a ``connected`` task that raised. The error keeps its traceback.
        Empty under ``Config(plugin_errors="raise")``, where the error propagates."""
        return tuple(self._failures)

    @property
    def plugin_error_count(self) -> int:
        """``len(plugin_errors)``, without a copy (an adapter polls it after calls)."""
        return len(self._failures)

    def detach(self, plugin: object, error: BaseException | None = None) -> None:
        """Remove ``plugin`` (this very object) and call its ``detached(self, error)``.

        What the fold does to a plugin whose hook raised; an adapter does it when a
        plugin fails outside the fold (``rtstate.connect``'s ``connected`` tasks), and
        a given ``error`` is kept in ``plugin_errors``. A
        ``detached`` that raises is ignored: the plugin is gone either way. A plugin
        not attached is left alone.
        """
        if not any(p is plugin for p in self._plugins.active):
            return
        if error is not None:
            self._failures.append((plugin, error))
        self._plugins.detach(plugin)
        self._detached(plugin, error)  # what it raised is dropped here

    def receive(self, frame: str | bytes) -> Step:
        """Fold one received WebSocket text message.

        A frame that does not decode is reported as a ``malformed`` diagnostic and
        leaves the state unchanged. A frame of the other dialect (a type only it sends:
        ``rtstate.codec.MARKERS``, e.g. beta's ``response.text.delta`` on a GA
        connection) folds as the unknown event it is, and the first one on the
        connection carries a ``wrong_dialect`` diagnostic naming the fix
        (``Config(dialect=...)``); later ones do not repeat it, so a whole session in
        the wrong dialect gives one diagnostic, not one per delta.

        Raises:
            RemoteProtocolError: only with ``Config(strict=True)``: the frame does
                not decode, breaks the protocol, or is of the other dialect (every
                such frame, with the ``wrong_dialect`` message). The state is unchanged.
        """
        if self._taps and not self._tapping:
            return self._tapped("receive", frame, self.receive, frame)
        try:
            event = self._decode(frame)
        except RemoteProtocolError as exc:
            if self._config.strict:
                raise
            return self._run(Malformed(frame=frame, error=str(exc)))
        if event.__class__ is UnknownServerEvent:
            return self._unknown(event)
        # ``_run(event)`` inlined for the common frame (one call less per frame)
        before = self._state
        step = fold(before, event, self._config)
        self._state = step.after
        if step.sent or step.planned or self._plugins.count:
            return self._ran(before, step, event, None)
        return step

    def _unknown(self, event: UnknownServerEvent) -> Step:
        """Fold an unknown server event; tell about the other dialect (see ``receive``)."""
        message = wrong_dialect_message(event.type, self._config.dialect)
        if message is None:
            return self._run(event)
        if self._config.strict:
            raise RemoteProtocolError(message, event_type=event.type)
        if self._told_dialect:
            return self._run(event)
        self._told_dialect = True
        step = self._run(event)
        told = Diagnostic(code="wrong_dialect", message=message, event_type=event.type)
        return attrs.evolve(step, diagnostics=(*step.diagnostics, told))

    def receive_event(self, event: ServerEvent | UnknownServerEvent) -> Step:
        """Fold a server event that is already decoded (same rules as ``receive``)."""
        if self._taps and not self._tapping:
            return self._tapped("receive_event", event, self.receive_event, event)
        if event.__class__ is UnknownServerEvent:
            return self._unknown(event)
        return self._run(event)

    def send(self, event: ClientEvent) -> Step:
        """Stamp ``event`` with an ``event_id`` (unless it has one), fold and encode it.

        Raises:
            LocalProtocolError: the event cannot be encoded, or the transport is
                closed. Nothing is folded or queued.
        """
        if self._taps and not self._tapping:
            return self._tapped("send", event, self.send, event)
        if not isinstance(event, ClientEvent):
            raise LocalProtocolError(f"send() takes a client event, not {type(event).__name__}")
        if self._state.phase is SessionPhase.CLOSED:
            raise LocalProtocolError(f"cannot send {event.type}: the transport is closed")
        stamped, frame = self._encode(event)
        return self._run(stamped, frame)

    def playback(self, item_id: str, played_ms: int) -> Step:
        """Report that the user has heard the first ``played_ms`` of ``item_id``'s audio.

        It decides where a barge-in cuts the item (``interrupt()``, or server VAD
        speech during the assistant's audio). Nothing is sent.

        Raises:
            LocalProtocolError: ``played_ms`` is negative or not an integer.
        """
        if self._taps and not self._tapping:
            return self._tapped("playback", (item_id, played_ms), self.playback, item_id, played_ms)
        if not isinstance(played_ms, int) or isinstance(played_ms, bool) or played_ms < 0:
            raise LocalProtocolError(f"played_ms must be an int >= 0, not {played_ms!r}")
        return self._run(Played(item_id=item_id, played_ms=played_ms))

    def interrupt(self) -> Step:
        """Cut the assistant's audio now: cancel the response if it is still active,
        truncate each audio item where the user stopped hearing it (clamped to the
        audio received), delete those not heard at all. The Step carries a
        ``TruncationPlanned`` transition (stop the audio sink) and the frames.

        Attached (the server plays the audio, and knows what was heard): cancel the
        response if it is still active, and send ``output_audio_buffer.clear`` if the
        server reports it playing (``state.playing_response_id``); no
        truncation is planned (the client has no playback of its own to report)."""
        if self._taps and not self._tapping:
            return self._tapped("interrupt", None, self.interrupt)
        return self._run(Interrupt())

    def resume(self, plan: ReconnectPlan) -> Step:
        """Start over on a new transport from ``plan`` (``rtstate.plan_reconnect``).

        Call it once the new transport is open: the state becomes a fresh session
        (plugins, config and the id factory stay), and the Step's ``to_send`` holds
        the plan's events, stamped, in order (``session.update``, then the items).
        The new ``session.created`` and the items' acknowledgements then fold as
        usual. A ``SessionResumed`` transition carries ``plan.id_map``.

        Raises:
            LocalProtocolError: ``plan`` is not a ``ReconnectPlan``; nothing changes.
        """
        if self._taps and not self._tapping:
            return self._tapped("resume", plan, self.resume, plan)
        if not isinstance(plan, ReconnectPlan):
            raise LocalProtocolError(f"resume() takes a ReconnectPlan, not {type(plan).__name__}")
        return self._run(Resumed(events=plan.events, id_map=plan.id_map))

    def tick(self, now: float) -> Step:
        """Let time pass: ``now`` on the caller's monotonic clock, in seconds.

        Starts the acknowledgement timers of newly sent events and times out the
        overdue ones (``ClientEventTimedOut``). Call it when ``next_deadline()`` is due.

        Raises:
            LocalProtocolError: ``now`` is not a finite number; nothing changes.
        """
        if self._taps and not self._tapping:
            return self._tapped("tick", now, self.tick, now)
        if not isinstance(now, int | float) or isinstance(now, bool) or not math.isfinite(now):
            raise LocalProtocolError(f"tick() takes a finite time in seconds, not {now!r}")
        return self._run(Tick(now=now))

    def transport_closed(self, code: int | None = None, reason: str = "") -> Step:
        """The transport closed; the state keeps everything received."""
        if self._taps and not self._tapping:
            return self._tapped(
                "transport_closed", (code, reason), self.transport_closed, code, reason
            )
        return self._run(Closed(code=code, reason=reason))

    def next_deadline(self) -> float | None:
        """When ``tick`` should next be called (``None``: nothing in flight).

        A deadline at or before the last ``tick``'s ``now`` (or ``0.0`` before any
        tick) means "tick now": an event was sent whose timer has not started. The
        session's expiry is never a deadline here: ``state.expires_at`` is the server's
        wall clock, not the caller's ``now`` (see ``SessionState.expires_at``).
        """
        state = self._state
        in_flight = state.ledger.in_flight
        if not in_flight:
            return None
        timeout = self._config.ack_timeout
        starts = [p.sent_at for p in in_flight]
        if None in starts:
            return state.now if state.now is not None else 0.0
        return min(t for t in starts if t is not None) + timeout

    # --- taps -------------------------------------------------------------------------

    def add_tap(self, tap: Tap) -> None:
        """Observe every call on this connection (a recorder's seam, see ``rtstate.journal``).

        ``tap(verb, value)`` is called, in this order, for each call:

        * before the call runs: ``verb`` is the method name and ``value`` its argument
          as given: ``"receive"`` (the raw frame), ``"receive_event"`` (the event),
          ``"send"`` (the event, before stamping), ``"playback"`` (``(item_id,
          played_ms)``), ``"interrupt"`` (``None``), ``"tick"`` (``now``),
          ``"transport_closed"`` (``(code, reason)``), ``"resume"`` (the plan);
        * ``"id"`` with each ``event_id`` the id factory makes during the call;
        * after it: ``"step"`` with the Step it returns, or ``"raised"`` with the
          exception it raises.

        Taps observe and never change anything; a tap that raises propagates (it is
        the caller's own code). With no tap the connection pays one attribute test
        per call. Plugin hooks run inside the call, between its taps.
        """
        self._taps = (*self._taps, tap)

    def remove_tap(self, tap: Tap) -> None:
        """Stop calling ``tap`` (every registration of it; a bound method matches
        the same method of the same object)."""
        self._taps = tuple(t for t in self._taps if t != tap)

    def _tapped(self, verb: str, value: object, method: Callable[..., Step], *args: object) -> Step:
        """Run ``method(*args)`` untapped, telling the taps about it around the call."""
        taps = self._taps
        for tap in taps:
            tap(verb, value)
        ids = self._ids

        def minted() -> str:
            event_id = ids()
            for tap in taps:
                tap("id", event_id)
            return event_id

        self._tapping = True
        self._ids = minted
        try:
            step = method(*args)
        except BaseException as exc:
            for tap in taps:
                tap("raised", exc)
            raise
        finally:
            self._ids = ids
            self._tapping = False
        for tap in taps:
            tap("step", step)
        return step

    # --- internals --------------------------------------------------------------------

    def _detached(self, plugin: object, error: BaseException | None) -> Diagnostic | None:
        """Call ``plugin.detached(self, error)`` if it has one: a ``plugin_error``
        Diagnostic if that raises (a broken plugin stays isolated), else ``None``."""
        detached = getattr(plugin, "detached", None)
        if detached is None:
            return None
        try:
            detached(self, error)
        except Exception as exc:
            return Diagnostic(
                code="plugin_error",
                message=f"{type(plugin).__name__}.detached raised {exc!r}",
            )
        return None

    def _encode(self, event: ClientEvent) -> tuple[ClientEvent, str]:
        if event.event_id is None:
            event = attrs.evolve(event, event_id=self._ids())
        return event, self._codec.encode(event)

    def _run(self, input: Input, frame: str | None = None) -> Step:
        before = self._state
        step = fold(before, input, self._config)
        self._state = step.after
        return self._ran(before, step, input, frame)

    def _ran(self, before: SessionState, step: Step, input: Input, frame: str | None) -> Step:
        """The rest of ``_run``, after ``step = fold(before, input)`` was made current:
        the frames of what it sent, the plugins, what they and the core planned."""
        if step.sent:
            step = attrs.evolve(step, to_send=self._frames(step.sent, input, frame))
        first: Dispatched | None = None
        try:
            if self._plugins.count:
                first = self._dispatch(step, self._reraise)
            if first is None and not step.planned:
                return step  # the common case: hooks observed, nothing to fold or send
            return self._react(step, first)
        except BaseException:
            # ``plugin_errors="raise"``, or strict mode refusing a returned event: the
            # call raises, so it must change nothing (its frames are never returned)
            self._state = before
            raise

    def _react(self, step: Step, first: Dispatched | None) -> Step:
        """Send what the core planned and what the plugins returned for ``step``
        (``first``), run the plugins on those Steps, and so on to completion (bounded
        by ``Config.max_cascade_rounds`` / ``max_cascade_events``)."""
        config = self._config
        reraise = self._reraise
        transitions: list[Transition] = list(step.transitions)
        diagnostics: list[Diagnostic] = list(step.diagnostics)
        to_send: list[str] = list(step.to_send)
        sent: list[ClientEvent] = list(step.sent)
        this_round = [step]
        rounds = 0
        cascaded = 0
        cut_short = False
        while this_round:
            planned: list[ClientEvent] = []  # the core's own plan: never cut
            returned: list[ClientEvent] = []  # the plugins': bounded
            for sub in this_round:
                planned.extend(sub.planned)
                found: Dispatched | None
                if sub is step:
                    found = first  # dispatched above
                elif self._plugins.count:
                    found = self._plugins.dispatch(sub, reraise)
                else:
                    continue
                if found is None:
                    continue
                diagnostics.extend(found.diagnostics)
                returned.extend(found.events)
                for plugin, error in found.failed:
                    self._failures.append((plugin, error))
                    broken = self._detached(plugin, error)
                    if broken is not None:
                        diagnostics.append(broken)
            if returned:
                rounds += 1
                budget = max(config.max_cascade_events - cascaded, 0)
                keep = [] if rounds > config.max_cascade_rounds else returned[:budget]
                if len(keep) < len(returned) and not cut_short:  # reported once per call
                    cut_short = True
                    diagnostics.append(
                        Diagnostic(
                            code="cascade",
                            message=f"plugins returned more than {config.max_cascade_rounds} "
                            f"rounds or {config.max_cascade_events} events in one call; "
                            f"{len(returned) - len(keep)} dropped",
                        )
                    )
                returned = keep
                cascaded += len(returned)
            queued = planned + returned
            if not queued:
                break
            this_round = []
            for event in queued:
                try:
                    stamped, frame = self._encode(event)
                except LocalProtocolError as exc:
                    if reraise:
                        raise
                    diagnostics.append(Diagnostic(code="plugin_error", message=str(exc)))
                    continue
                sub = fold(self._state, stamped, config)
                to_send.extend(self._frames(sub.sent, stamped, frame))
                sent.extend(sub.sent)
                self._state = sub.after
                transitions.extend(sub.transitions)
                diagnostics.extend(sub.diagnostics)
                this_round.append(sub)
        return Step(
            input=step.input,
            before=step.before,
            after=self._state,
            transitions=tuple(transitions),
            diagnostics=tuple(diagnostics),
            to_send=tuple(to_send),
            sent=tuple(sent),
        )

    def _frames(
        self, events: tuple[ClientEvent, ...], input: object, frame: str | None
    ) -> tuple[str, ...]:
        """The frames of ``events``, reusing ``frame`` (already encoded) for ``input``."""
        encode = self._codec.encode
        return tuple(
            frame if (event is input and frame is not None) else encode(event) for event in events
        )
