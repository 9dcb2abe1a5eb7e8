"""What every ``rtstate`` subcommand shares: its exit codes and ``Fail``.

A handler (``rtstate._cli``, ``rtstate._cli_live``) returns its exit code, or raises
``Fail``: ``rtstate._cli.main`` prints it as one line on stderr, ``rtstate <command>:
<message>``, and exits with its code.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "EXIT_BAD_FILE",
    "EXIT_CONNECTION",
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "EXIT_USAGE",
    "EXIT_VIOLATIONS",
    "Fail",
]

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
"""``serve`` cannot listen, or ``connect`` cannot reach the server (or lost it)."""


class Fail(Exception):
    """A one-line error for stderr, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
