"""Errors out of a task group, as themselves: the group stays an implementation detail.

anyio's task groups (asyncio and trio alike) wrap whatever leaves them in an
``ExceptionGroup``, so ``except rtstate.ConnectionClosed`` around ``async with
rtstate.connect(...)`` would never match. ``Unwrap`` takes the group apart at the
boundary and raises one of its exceptions, with its own traceback, cause and
context: the one that matters to the caller, chosen in this order:

1. a ``KeyboardInterrupt`` or ``SystemExit`` (never swallowed);
2. the exception the body of the ``async with`` raised (the user's own, a
   ``TimeoutError`` from ``fail_after``, a ``ConnectionClosed`` from a call),
   unless it is a cancellation caused by a task's error;
3. any other error (a task's), the first one;
4. a cancellation (it then propagates to the scope that cancelled).

Other errors in the group (rare: two real errors at once) are logged with their
traceback on the given logger; cancellations are dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from types import TracebackType

__all__ = ["Unwrap"]


def _cancellations() -> tuple[type[BaseException], ...]:
    """The cancellation exceptions of the event loops in use (asyncio's, and trio's
    once trio is imported); no event loop needs to be running."""
    trio = sys.modules.get("trio")
    return (asyncio.CancelledError,) if trio is None else (asyncio.CancelledError, trio.Cancelled)


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


class Unwrap:
    """A context manager (sync, usable inside async code) around a task group.

    Set ``body`` to the exception the body raised (``except BaseException as exc:
    unwrap.body = exc; raise``) so it wins over the tasks' errors.
    """

    __slots__ = ("_log", "_what", "body")

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self.body: BaseException | None = None

    def __enter__(self) -> Unwrap:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not isinstance(value, BaseExceptionGroup):
            return
        chosen = self.choose(value)
        context, suppress = chosen.__context__, chosen.__suppress_context__
        try:
            raise chosen
        finally:
            # ``raise`` inside ``__exit__`` would make the group the context of the
            # error it holds: keep the error's own context instead
            chosen.__context__, chosen.__suppress_context__ = context, suppress
            del chosen, context, value

    def choose(self, group: BaseExceptionGroup[BaseException]) -> BaseException:
        """The exception to raise for ``group``; log the other errors in it."""
        leaves = list(_leaves(group))
        cancelled = _cancellations()
        fatal = [e for e in leaves if isinstance(e, KeyboardInterrupt | SystemExit)]
        errors = [e for e in leaves if not isinstance(e, cancelled) and e not in fatal]
        body = self.body
        chosen: BaseException
        if fatal:
            chosen = fatal[0]
        elif isinstance(body, Exception) and any(e is body for e in leaves):
            chosen = body
        elif errors:
            chosen = errors[0]
        else:
            return leaves[0]
        for other in errors:
            if other is not chosen:
                self._log.error(
                    "%s: another error at the same time as %s",
                    self._what,
                    type(chosen).__name__,
                    exc_info=(type(other), other, other.__traceback__),
                )
        return chosen
