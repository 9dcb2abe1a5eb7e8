"""Test helpers for Realtime integrations: valid streams, perturbations, invariant checks.

* :mod:`rtstate.testing.invariants`: ``check_stream`` / ``assert_valid_stream``, the
  ordering invariants INV-1..INV-17 (``rtstate.machines.INVARIANTS``). Pure Python.
* :mod:`rtstate.testing.script`: ``Script`` (both directions of a session in wire
  order) and ``encode_stream`` / ``decode_stream`` (frames of either dialect). Pure Python.
* :mod:`rtstate.testing.driver`: ``drive`` plays a script (or a generated session)
  through a ``ClientConnection`` and yields its Steps; an ``app`` callback answers.
  Pure Python.
* :mod:`rtstate.testing.compact`: ``event_line`` / ``events_repr``, one line per event:
  the reprs of ``Script``, ``Flow`` and ``streams``' lists. Pure Python.
* :mod:`rtstate.testing.strategies`: hypothesis strategies for valid server streams,
  flow by flow (``text_responses``, ``vad_turns``, ``barge_ins``, ...) or whole
  ``sessions`` / ``streams``.
* :mod:`rtstate.testing.perturb`: ``perturbed``, ``benign_perturbations`` and
  ``perturbed_frames``: what real servers and networks do to streams.

The last two need hypothesis: install the test extra, ``pip install 'rtstate[test]'``.
Without it, the checkers and scripts still work, and any strategy name (or a ``from
rtstate.testing import *``) raises ``ImportError`` saying what to install.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import compact, driver, invariants, script
from .compact import event_line, events_repr
from .driver import App, drive
from .invariants import (
    DEFAULT_TOLERANCES,
    INVARIANTS,
    KNOWN_QUIRKS,
    Violation,
    assert_valid_stream,
    check_script,
    check_stream,
    format_violations,
)
from .script import (
    AnyClientEvent,
    AnyServerEvent,
    Direction,
    Script,
    decode_stream,
    encode_stream,
)

__all__ = [
    "BENIGN",
    "DEFAULT_TOLERANCES",
    "FLOW_NAMES",
    "HARMFUL",
    "INVARIANTS",
    "KNOWN_QUIRKS",
    "PERTURBATIONS",
    "AnyClientEvent",
    "AnyServerEvent",
    "App",
    "Context",
    "ConversationEntry",
    "Direction",
    "Flow",
    "Script",
    "Violation",
    "any_flows",
    "assert_valid_stream",
    "audio_responses",
    "barge_ins",
    "benign_perturbations",
    "check_script",
    "check_stream",
    "clears",
    "client_cancels",
    "decode_stream",
    "deletes",
    "drive",
    "encode_stream",
    "error_flows",
    "event_line",
    "events_repr",
    "format_violations",
    "function_call_responses",
    "item_creates",
    "manual_commit_turns",
    "perturbed",
    "perturbed_frames",
    "rate_limit_lists",
    "rate_limits_updates",
    "session_starts",
    "session_updates",
    "sessions",
    "streams",
    "text_responses",
    "truncate_frame",
    "truncates",
    "vad_turns",
]

_NEEDS_HYPOTHESIS = frozenset(__all__).difference(
    invariants.__all__, script.__all__, driver.__all__, compact.__all__
)
"""The names of ``__all__`` that come from :mod:`.perturb` and :mod:`.strategies`."""


def _has_hypothesis() -> bool:
    try:
        importlib.import_module("hypothesis")
    except ImportError:
        return False
    return True


if TYPE_CHECKING or _has_hypothesis():
    from .perturb import (
        BENIGN,
        HARMFUL,
        PERTURBATIONS,
        benign_perturbations,
        perturbed,
        perturbed_frames,
        truncate_frame,
    )
    from .strategies import (
        FLOW_NAMES,
        Context,
        ConversationEntry,
        Flow,
        any_flows,
        audio_responses,
        barge_ins,
        clears,
        client_cancels,
        deletes,
        error_flows,
        function_call_responses,
        item_creates,
        manual_commit_turns,
        rate_limit_lists,
        rate_limits_updates,
        session_starts,
        session_updates,
        sessions,
        streams,
        text_responses,
        truncates,
        vad_turns,
    )
else:

    def __getattr__(name: str) -> Any:
        if name in _NEEDS_HYPOTHESIS:
            raise ImportError(
                f"rtstate.testing.{name} needs hypothesis, which is not installed; "
                "install the test extra: pip install 'rtstate[test]'",
                name=name,
            )
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
