"""What the ``rtstate`` subcommands share: the exit codes, ``Fail``, the ``--help``
epilog, the ``--backend`` option, and the two step helpers ``demo`` and ``connect`` use.

A handler returns its exit code, or raises ``Fail``: ``rtstate.cli.main`` prints it as
one line on stderr, ``rtstate <command>: <message>``, and exits with its code.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable
from typing import Final

from ..events.client import ConversationItemCreate
from ..events.payloads import ContentPart, Item
from ..step import Step
from ..transitions import Transition

__all__ = [
    "EPILOG",
    "EXIT_BAD_FILE",
    "EXIT_CONNECTION",
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "EXIT_USAGE",
    "EXIT_VIOLATIONS",
    "Fail",
    "add_backend",
    "has",
    "require_backend",
    "user_message",
]

EPILOG: Final = """\
files:
  a journal written by rtstate_plugins.Recorder (rtstate.journal.replay reproduces it;
  one cut by a crash replays up to the cut, with a warning), or a JSONL capture: one
  server event per line, or {"direction": "server"|"client", "event": {...}} per line.

exit codes:
  0  success
  1  protocol violations found (check; replay --strict)
  2  bad arguments
  3  the file cannot be read (missing, a directory, no permission, not UTF-8)
  4  the file is not a journal or a capture, or the journal does not replay
  5  serve cannot listen; connect cannot reach the server, is refused (the handshake,
     or the session setup: the server answered session.update with an error), or lost it
"""
"""The ``--help`` epilog of ``rtstate`` and of its file commands."""

EXIT_OK: Final = 0
"""Success."""
EXIT_VIOLATIONS: Final = 1
"""``check`` found a problem, or ``replay --strict`` a protocol violation."""
EXIT_USAGE: Final = 2
"""Bad arguments (argparse's own code)."""
EXIT_UNREADABLE: Final = 3
"""The file is missing, a directory, unreadable, or not UTF-8 text (or, for ``demo
--journal``, cannot be written)."""
EXIT_BAD_FILE: Final = 4
"""The file is neither a journal nor a JSONL capture, or a journal does not replay."""
EXIT_CONNECTION: Final = 5
"""``serve`` cannot listen, or ``connect`` cannot reach the server, is refused (its
handshake, or its session setup), or lost it."""


class Fail(Exception):
    """A one-line error for stderr, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


_BACKENDS: Final = ("asyncio", "trio")


def require_backend(backend: str) -> None:
    """Raise ``Fail`` if ``backend`` is trio and trio is not installed."""
    if backend == "trio" and importlib.util.find_spec("trio") is None:
        raise Fail("the trio backend needs trio: pip install trio", EXIT_USAGE)


def add_backend(p: argparse.ArgumentParser) -> None:
    """Add the ``--backend`` option (the anyio event loop) to ``p``."""
    p.add_argument(
        "--backend",
        choices=_BACKENDS,
        default="asyncio",
        help="the event loop (anyio backend); default: asyncio",
    )


def user_message(text: str) -> ConversationItemCreate:
    """A user text message added to the conversation."""
    part = ContentPart(type="input_text", text=text)
    return ConversationItemCreate(item=Item(type="message", role="user", content=(part,)))


def has(kind: type[Transition], status: str | None = None) -> Callable[[Step], bool]:
    """A ``wait_for`` predicate: the step has a ``kind`` transition (with ``status``)."""

    def check(step: Step) -> bool:
        return any(
            isinstance(x, kind) and (status is None or getattr(x, "status", None) == status)
            for x in step.transitions
        )

    return check
