"""Faults put into valid events, for the codec tests: where a field sits (on the wire and
in the model), how to break it there, and where the decoder must report the fault.

``field_sites(event)`` lists every attrs field of an event and of the payloads in it;
``set_at`` / ``drop_at`` / ``replace_at`` break one on the wire or in the value;
``fault_path`` is where ``RemoteProtocolError.path`` must point; ``wrong_for(hint)`` is a
JSON value no part of ``hint`` accepts; ``wrong_python_values`` are Python values for
any field, wire-valid or not; ``canon`` compares values with lists and tuples alike.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
from hypothesis import strategies as st

from rtstate.events import UNSET

from .strategies_codec import json_text

__all__ = [
    "FieldSite",
    "NotJSON",
    "Path_",
    "canon",
    "dotted",
    "drop_at",
    "fault_path",
    "field_sites",
    "get_at",
    "present",
    "replace_at",
    "set_at",
    "union_with_payload",
    "wire_paths",
    "wrong_for",
    "wrong_python_values",
]

Path_ = tuple[str | int, ...]


def fault_path(path: Path_) -> str:
    """Where the decoder reports a fault at or inside ``path``.

    ``tool_choice`` is read by one hook (it accepts two shapes), so a fault inside it is
    reported at ``...tool_choice`` itself, except one of its ``type`` (the tag the hook
    reads first), reported at ``...tool_choice.type`` as a tool's is.
    """
    if "tool_choice" in path:
        end = path.index("tool_choice") + 1
        path = path[: end + 1] if path[end : end + 1] == ("type",) else path[:end]
    return dotted(path)


def dotted(path: Path_) -> str:
    """A path in the dotted form of ``RtStateError.path``: ``item.content[0].type``."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


def wire_paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    """Every path to a value inside a JSON value (object keys and list indexes)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from wire_paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*prefix, index)
            yield from wire_paths(child, (*prefix, index))


def get_at(value: Any, path: Path_) -> Any:
    for step in path:
        value = value[step]
    return value


def set_at(value: Any, path: Path_, new: Any) -> None:
    get_at(value, path[:-1])[path[-1]] = new


def drop_at(value: Any, path: Path_) -> None:
    del get_at(value, path[:-1])[path[-1]]


@attrs.frozen
class FieldSite:
    """One attrs field inside an event: where it is, on the wire and in the model."""

    path: Path_  # wire path: field names and tuple indexes
    owner: type
    attribute: attrs.Attribute[Any]
    hint: Any


def field_sites(value: Any, prefix: Path_ = ()) -> Iterator[FieldSite]:
    """Every attrs field of ``value`` and of the payloads nested in it."""
    cls = type(value)
    hints = typing.get_type_hints(cls)
    for a in attrs.fields(cls):
        path = (*prefix, a.name)
        yield FieldSite(path, cls, a, hints[a.name])
        child = getattr(value, a.name)
        if attrs.has(type(child)):
            yield from field_sites(child, path)
        elif isinstance(child, tuple):
            for index, item in enumerate(child):
                if attrs.has(type(item)):
                    yield from field_sites(item, (*path, index))


def replace_at(value: Any, path: Path_, new: Any) -> Any:
    """A copy of the attrs ``value`` with the field at ``path`` set to ``new`` (unchecked)."""
    step, rest = path[0], path[1:]
    if isinstance(step, int):
        items = list(value)
        items[step] = replace_at(items[step], rest, new) if rest else new
        return tuple(items)
    child = getattr(value, step)
    return attrs.evolve(value, **{step: replace_at(child, rest, new) if rest else new})


def canon(value: Any) -> Any:
    """A comparable form in which a list and a tuple of the same items are the same."""
    if attrs.has(type(value)):
        return (
            type(value),
            tuple(canon(getattr(value, a.name)) for a in attrs.fields(type(value))),
        )
    if isinstance(value, list | tuple):
        return ("seq", tuple(canon(v) for v in value))
    if isinstance(value, Mapping):
        return ("map", {k: canon(v) for k, v in value.items()})
    return value


def wrong_for(hint: Any) -> Any:
    """A JSON value no part of ``hint`` accepts, not even in part."""
    args = typing.get_args(hint)
    is_sequence = typing.get_origin(hint) is tuple or any(
        typing.get_origin(a) is tuple for a in args
    )
    return {"not": "a list"} if is_sequence else [{"not": "a scalar"}]


def present(event: Any, path: Path_) -> bool:
    """Whether the field at ``path`` appears on the wire (not omitted as None/UNSET)."""
    value = event
    for step in path:
        value = value[step] if isinstance(step, int) else getattr(value, step)
    owner_default = None
    if not isinstance(path[-1], int):
        parent = event
        for step in path[:-1]:
            parent = parent[step] if isinstance(step, int) else getattr(parent, step)
        owner_default = attrs.fields_dict(type(parent))[path[-1]].default
    return not (value is UNSET or (value is None and owner_default is None))


class NotJSON:
    """An object orjson cannot write."""


wrong_python_values: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=-(2**53), max_value=2**53),
    st.sampled_from([2**64, -(2**63) - 1, 2**70]),
    st.floats(),
    st.booleans(),
    st.none(),
    st.binary(max_size=5),
    st.text(max_size=5),
    st.just(UNSET),
    st.builds(NotJSON),
    st.lists(st.integers(0, 3), max_size=3),
    st.lists(json_text, max_size=3),
    st.frozensets(json_text, max_size=3),
    st.dictionaries(st.integers(0, 3), st.integers(), max_size=2),
    st.dictionaries(json_text, st.floats() | st.builds(NotJSON) | st.integers(), max_size=2),
)
"""Python values for any field. Payload instances of the wrong class are left out: the
encoder writes a payload by its runtime class, so one put where another is declared
goes out under that field (a type error mypy reports; see the codec notes)."""


def union_with_payload(hint: Any) -> bool:
    args = typing.get_args(hint)
    return len(args) > 2 and any(attrs.has(a) for a in args if isinstance(a, type))
