"""Hypothesis strategies for the codec tests: every event class, built from its type hints.

``strategy_for(tp)`` maps a field annotation to a strategy that only makes values the
wire can carry: JSON-safe strings (no lone surrogates), integers within +-2**53, finite
floats, JSON objects for ``Mapping[str, Any]``, ``"inf"`` for ``Literal["inf"]`` and the
``UNSET`` sentinel where a field admits it. ``event_strategy(cls)`` builds any event or
payload class with *every* field drawn (``st.builds`` alone would only fill the required
ones and leave every optional field at its default).

Both take the ``dialect`` the values are for: ``ExtensionTool`` (a tool of another type
than ``function``) and ``ToolChoiceMcp`` (a ``tool_choice`` naming an MCP server) exist
in GA only, so the ``"beta"`` strategies (the default) never draw one.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
from hypothesis import strategies as st

from rtstate.events import UNSET, ExtensionTool, ToolChoiceMcp, Unset

__all__ = [
    "MAX_SAFE_INT",
    "event_strategy",
    "json_objects",
    "json_text",
    "json_values",
    "strategy_for",
]

T = TypeVar("T")

MAX_SAFE_INT = 2**53

json_text = st.text(st.characters(codec="utf-8"), max_size=20)
"""Strings orjson can write: any code point but a lone surrogate."""

json_ints = st.integers(min_value=-MAX_SAFE_INT, max_value=MAX_SAFE_INT)
json_floats = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | json_ints | json_floats | json_text

json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value, as ``orjson.loads`` would return it (lists, never tuples)."""

json_objects: st.SearchStrategy[dict[str, Any]] = st.dictionaries(
    json_text, json_values, max_size=4
)
"""A JSON object: what a ``Mapping[str, Any]`` field holds."""


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (typing.Union, types.UnionType)


_extension_tools = st.builds(
    ExtensionTool,
    type=json_text.filter(lambda kind: kind != "function"),
    config=json_objects.map(lambda obj: {k: v for k, v in obj.items() if k != "type"}),
)
"""An ``ExtensionTool`` a GA frame can carry: not ``function``, no ``type`` in ``config``."""

_SPECIAL: dict[str, dict[Any, st.SearchStrategy[Any]]] = {
    "beta": {ExtensionTool: st.nothing(), ToolChoiceMcp: st.nothing()},
    "ga": {ExtensionTool: _extension_tools},
}


def strategy_for(tp: Any, dialect: str = "beta") -> st.SearchStrategy[Any]:
    """A strategy of wire-valid values for one field annotation."""
    special = _SPECIAL[dialect].get(tp)
    if special is not None:
        return special
    if tp is str:
        return json_text
    if tp is bool:
        return st.booleans()
    if tp is int:
        return json_ints
    if tp is float:
        return json_floats
    if tp is type(None):
        return st.none()
    if tp is Unset:
        return st.just(UNSET)
    if tp == Mapping[str, Any]:
        return json_objects
    if get_origin(tp) is Literal:
        return st.sampled_from(get_args(tp))
    if _is_union(tp):
        return st.one_of([strategy_for(arg, dialect) for arg in get_args(tp)])
    if get_origin(tp) is tuple:
        elem, ellipsis = get_args(tp)
        assert ellipsis is Ellipsis, tp
        return st.lists(strategy_for(elem, dialect), max_size=3).map(tuple)
    if isinstance(tp, type) and attrs.has(tp):
        return event_strategy(tp, dialect)
    raise NotImplementedError(f"no strategy for field type {tp!r}")


_EVENT_STRATEGIES: dict[tuple[type[Any], str], st.SearchStrategy[Any]] = {}


def event_strategy(cls: type[T], dialect: str = "beta") -> st.SearchStrategy[T]:
    """``st.builds(cls, ...)`` with a strategy for every attrs field of ``cls``."""
    strategy = _EVENT_STRATEGIES.get((cls, dialect))
    if strategy is None:
        hints = typing.get_type_hints(cls)
        fields = {a.name: strategy_for(hints[a.name], dialect) for a in attrs.fields(cls)}  # type: ignore[arg-type]
        strategy = _EVENT_STRATEGIES[cls, dialect] = st.builds(cls, **fields)
    return strategy
