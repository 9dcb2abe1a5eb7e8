"""Both dialects for the property tests: draw the dialect with the example.

``in_dialects(sessions, max_flows=4)`` gives ``(dialect, session)`` pairs, the dialect
drawn from ``DIALECTS`` as part of the example, so a property covers beta and GA with
the same number of examples (and shrinks towards beta, the first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

from hypothesis import strategies as st

from rtstate.config import Dialect
from rtstate.events import server as s

__all__ = ["DIALECTS", "dialects", "in_dialects", "joins"]

T = TypeVar("T")

DIALECTS: Final[tuple[Dialect, ...]] = ("beta", "ga")

dialects: Final[st.SearchStrategy[Dialect]] = st.sampled_from(DIALECTS)
"""One of the two dialects."""


def in_dialects(
    make: Callable[..., st.SearchStrategy[T]], **kwargs: Any
) -> st.SearchStrategy[tuple[Dialect, T]]:
    """``(dialect, value)``: ``make(dialect=dialect, **kwargs)`` in a drawn dialect."""
    return dialects.flatmap(lambda d: make(dialect=d, **kwargs).map(lambda value: (d, value)))


def joins(events: list[Any]) -> list[Any]:
    """The events by which items join the conversation: beta's ``.created``, GA's ``.added``."""
    return [e for e in events if isinstance(e, s.ConversationItemCreated | s.ConversationItemAdded)]
