"""``Log``: every transition and diagnostic as a stdlib ``logging`` record.

Loggers (children of ``rtstate``, so ``logging.getLogger("rtstate")`` configures all):

* ``rtstate.transitions``: one record per transition. ``INFO`` for what a person
  follows (session started, item added, response completed, speech, truncation, a
  closed transport); ``DEBUG`` for the streaming deltas (text, transcript, audio,
  call arguments) and bookkeeping (queued or coalesced events, rate limits);
  ``WARNING`` for what went wrong between the peers (a server ``error``, a client
  event rejected or timed out, the session expired).
* ``rtstate.diagnostics``: one record per diagnostic. ``WARNING`` for a protocol
  violation, ``ERROR`` for a plugin that raised, ``DEBUG`` for the informational ones
  (expected races and local no-ops, ``Diagnostic.informational``).

Each record carries structured fields in ``extra=``: ``rt_kind`` (``"transition"`` or
``"diagnostic"``), ``rt_name`` (the transition class or the diagnostic code),
``rt_fields`` (the transition's fields as a dict, audio left out; for a diagnostic its
``event_type`` and ``applied``), ``rt_input`` (the type of the Step's input) and
``rt_revision`` (the state revision after the Step). A record whose level is off
costs one ``isEnabledFor`` test. A call that raised is logged on
``rtstate.diagnostics`` at ``WARNING`` with ``rt_kind`` ``"raised"``.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import attrs

import rtstate
from rtstate import transitions as tr

__all__ = ["DIAGNOSTICS_LOGGER", "TRANSITIONS_LOGGER", "Log", "level_of"]

TRANSITIONS_LOGGER: Final = "rtstate.transitions"
"""The name of the logger ``Log`` writes transitions to by default."""
DIAGNOSTICS_LOGGER: Final = "rtstate.diagnostics"
"""The name of the logger ``Log`` writes diagnostics (and calls that raised) to by default."""

_DEBUG: Final[frozenset[type[rtstate.transitions.Transition]]] = frozenset(
    {
        tr.TextAppended,
        tr.TranscriptAppended,
        tr.AudioAppended,
        tr.FunctionCallArgumentsAppended,
        tr.RateLimitsUpdated,
        tr.ClientEventQueued,
        tr.ClientEventCoalesced,
    }
)
_WARNING: Final[frozenset[type[rtstate.transitions.Transition]]] = frozenset(
    {
        tr.ServerErrorReceived,
        tr.ClientEventRejected,
        tr.ClientEventTimedOut,
        tr.SessionExpired,
        tr.InputTranscriptionFailed,
    }
)


def level_of(item: rtstate.transitions.Transition | rtstate.Diagnostic) -> int:
    """The logging level ``Log`` uses for a transition or a diagnostic."""
    if isinstance(item, rtstate.Diagnostic):
        if item.informational:
            return logging.DEBUG
        if item.code == "plugin_error":
            return logging.ERROR
        return logging.WARNING
    kind = type(item)
    if kind in _DEBUG:
        return logging.DEBUG
    if kind in _WARNING:
        return logging.WARNING
    return logging.INFO


def _fields(t: rtstate.transitions.Transition) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in attrs.fields(type(t)):
        if field.name == "audio":
            continue
        value = getattr(t, field.name)
        if isinstance(value, rtstate.events.ClientEvent):
            value = value.type if value.event_id is None else f"{value.type} {value.event_id}"
        elif attrs.has(type(value)):
            value = attrs.asdict(value)
        out[field.name] = value
    return out


def _message(t: rtstate.transitions.Transition, fields: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in fields.items())
    return f"{type(t).__name__}({shown})"


class Log:
    """A plugin that logs its connection's transitions and diagnostics.

    Attached, it observes each call's final Step through a tap
    (``ClientConnection.add_tap``), so it also sees what only the whole call knows
    (a plugin that raised, a cascade cut short), and logs a call that raised
    (strict mode refusing a frame, a local error) on ``rtstate.diagnostics`` at
    ``WARNING``. ``log_step(step)`` logs any Step by hand (e.g. from ``rtstate.fold``).

    Args:
        transitions: the logger for transitions (default ``rtstate.transitions``).
        diagnostics: the logger for diagnostics (default ``rtstate.diagnostics``).
    """

    def __init__(
        self,
        transitions: logging.Logger | None = None,
        diagnostics: logging.Logger | None = None,
    ) -> None:
        self.transitions = transitions or logging.getLogger(TRANSITIONS_LOGGER)
        self.diagnostics = diagnostics or logging.getLogger(DIAGNOSTICS_LOGGER)
        self._conn: rtstate.ClientConnection | None = None

    def attached(self, conn: rtstate.ClientConnection) -> None:
        """Start logging ``conn``'s calls."""
        self._conn = conn
        conn.add_tap(self._tap)

    def detached(self, conn: rtstate.ClientConnection, error: BaseException) -> None:
        """Stop logging."""
        conn.remove_tap(self._tap)
        self._conn = None

    def _tap(self, verb: str, value: object) -> None:
        if verb == "step":
            assert isinstance(value, rtstate.Step)
            self.log_step(value)
        elif verb == "raised" and self.diagnostics.isEnabledFor(logging.WARNING):
            self.diagnostics.warning(
                "a call raised %s: %s",
                type(value).__name__,
                value,
                extra={
                    "rt_kind": "raised",
                    "rt_name": type(value).__name__,
                    "rt_fields": {"message": str(value)},
                    "rt_input": None,
                    "rt_revision": None if self._conn is None else self._conn.state.revision,
                },
            )

    def log_step(self, step: rtstate.Step) -> None:
        """Log what ``step`` did: its transitions, then its diagnostics."""
        logger = self.transitions
        for t in step.transitions:
            level = level_of(t)
            if logger.isEnabledFor(level):
                fields = _fields(t)
                logger.log(
                    level,
                    _message(t, fields),
                    extra={
                        "rt_kind": "transition",
                        "rt_name": type(t).__name__,
                        "rt_fields": fields,
                        "rt_input": type(step.input).__name__,
                        "rt_revision": step.after.revision,
                    },
                )
        logger = self.diagnostics
        for d in step.diagnostics:
            level = level_of(d)
            if logger.isEnabledFor(level):
                logger.log(
                    level,
                    "%s: %s",
                    d.code,
                    d.message,
                    extra={
                        "rt_kind": "diagnostic",
                        "rt_name": d.code,
                        "rt_fields": {"event_type": d.event_type, "applied": d.applied},
                        "rt_input": type(step.input).__name__,
                        "rt_revision": step.after.revision,
                    },
                )
