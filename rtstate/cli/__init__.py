"""The ``rtstate`` command: ``main(argv)`` and its argument ``parser()``.

``main`` returns the exit code (``[project.scripts]`` and ``python -m rtstate`` call it).
Each subcommand lives in a module of its own and registers itself with one ``add``
function listed in ``_COMMANDS``:

- ``_demo``: ``demo``, a scripted conversation with the fake server over loopback;
- ``_serve``: ``serve``, the fake server until Ctrl-C (TLS, ``--workers``);
- ``_connect``: ``connect``, a text chat with a Realtime server;
- ``_files``: ``replay FILE`` and ``check FILE``, on journals and captures;
- ``_base``: what they share (exit codes, ``Fail``, ``--backend``).

``import rtstate`` does not import this package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

from .. import __version__
from ._base import (
    EPILOG,
    EXIT_BAD_FILE,
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    EXIT_VIOLATIONS,
    Fail,
)
from ._connect import add_connect
from ._demo import add_demo
from ._files import add_check, add_replay
from ._serve import add_serve

__all__ = [
    "EXIT_BAD_FILE",
    "EXIT_CONNECTION",
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "EXIT_USAGE",
    "EXIT_VIOLATIONS",
    "main",
    "parser",
]

_COMMANDS: Final[tuple[Callable[[Any], None], ...]] = (
    add_demo,
    add_serve,
    add_connect,
    add_replay,
    add_check,
)
"""The subcommands, in ``--help`` order."""


def parser() -> argparse.ArgumentParser:
    """The ``rtstate`` argument parser."""
    p = argparse.ArgumentParser(
        prog="rtstate",
        description="Tools for the OpenAI Realtime API, built on the rtstate sans-IO core.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"rtstate {__version__}")
    commands = p.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in _COMMANDS:
        add(commands)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rtstate`` command; the exit code (argparse exits 2 on bad arguments)."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, bad arguments
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        code: int = args.run(args, sys.stdout)
    except Fail as exc:
        print(f"rtstate {args.run.__name__.strip('_')}: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:  # ``rtstate replay big.jsonl | head``
        return EXIT_OK
    return code
