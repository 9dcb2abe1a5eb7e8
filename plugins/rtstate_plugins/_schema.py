"""JSON schemas from type hints, and checked JSON back to the hinted types.

``schema_of`` gives the JSON schema of one type hint, ``signature_schema`` the
``parameters`` schema of a function (both public through ``rtstate_plugins.tools``,
with ``SchemaError``); ``_converter`` turns a JSON value that fits ``schema_of(hint)``
into a value of the type ``hint`` declares (enum members, tuples, sets, ...). ``Tools``
(``rtstate_plugins.tools``) uses them to describe and to call its functions.
"""

from __future__ import annotations

import collections
import enum
import functools
import inspect
import types
import typing
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Literal

from ._jsonschema import json_equal, problems

__all__ = ["SchemaError", "schema_of", "signature_schema"]


class SchemaError(TypeError):
    """A type hint has no JSON schema equivalent (give ``parameters=`` explicitly)."""


# --- schemas from type hints -------------------------------------------------------------


_SCALARS: dict[Any, dict[str, str]] = {
    Any: {},
    object: {},
    None: {"type": "null"},
    type(None): {"type": "null"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
}
"""The hints with a fixed schema (copied on use: callers may add a description)."""


def schema_of(hint: Any) -> dict[str, Any]:
    """The JSON schema of a type hint.

    Raises:
        SchemaError: the hint has no JSON schema equivalent.
    """
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        schema = schema_of(args[0])
        notes = [a for a in args[1:] if isinstance(a, str)]
        if notes:
            schema["description"] = " ".join(notes)
        return schema
    scalar = _SCALARS.get(hint) if isinstance(hint, Hashable) else None
    if scalar is not None:
        return dict(scalar)
    if origin is Literal:
        return _enum_schema(list(args))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema([m.value for m in hint])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        schemas = [schema_of(a) for a in members]
        if len(members) < len(args):
            schemas.append({"type": "null"})
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    if hint in (list, tuple, collections.abc.Sequence) and not args:
        return {"type": "array"}
    if origin in (list, collections.abc.Sequence, set, frozenset):
        return {"type": "array", "items": schema_of(args[0])} if args else {"type": "array"}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": schema_of(args[0])}
        return {
            "type": "array",
            "prefixItems": [schema_of(a) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if hint in (dict, collections.abc.Mapping) and not args:
        return {"type": "object"}
    if origin in (dict, collections.abc.Mapping):
        if args and args[0] is not str:
            raise SchemaError(f"JSON object keys are strings, not {args[0]!r}")
        return (
            {"type": "object", "additionalProperties": schema_of(args[1])}
            if args
            else {"type": "object"}
        )
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint, include_extras=True)
        declared = getattr(hint, "__required_keys__", frozenset(hints))
        required = [
            k
            for k, v in hints.items()
            if typing.get_origin(v) is typing.Required
            or (k in declared and typing.get_origin(v) is not typing.NotRequired)
        ]
        return {
            "type": "object",
            "properties": {k: schema_of(_strip_required(v)) for k, v in hints.items()},
            "required": required,
            "additionalProperties": False,
        }
    raise SchemaError(f"no JSON schema for {hint!r}; give parameters= explicitly")


def _strip_required(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Required, typing.NotRequired):
        return typing.get_args(hint)[0]
    return hint


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {type(v) for v in values}
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1 and (kind := kinds.pop()) in names:
        schema = {"type": names[kind], "enum": values}
    return schema


def signature_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The ``parameters`` schema of ``fn``: an object with one property per
    parameter (those without a default are required).

    Raises:
        SchemaError: a parameter has no type hint, is ``*args`` / ``**kwargs``, or
            its hint has no JSON schema equivalent.
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise SchemaError(f"{fn.__qualname__}: *args / **kwargs have no schema")
        if param.kind is param.POSITIONAL_ONLY:
            raise SchemaError(f"{fn.__qualname__}: {name} is positional-only")
        if name not in hints:
            raise SchemaError(f"{fn.__qualname__}: parameter {name!r} has no type hint")
        hint = hints[name]
        if param.default is not inspect.Parameter.empty and param.default is None:
            hint = _without_none(hint)
        properties[name] = schema_of(hint)
        if param.default is inspect.Parameter.empty:
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


def _without_none(hint: Any) -> Any:
    """``X | None`` with a ``None`` default: the model may leave it out, so ``X``."""
    if typing.get_origin(hint) is typing.Annotated:
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = tuple(a for a in typing.get_args(hint) if a is not type(None))
        if len(members) == 1:
            return members[0]
    return hint


# --- from checked JSON to the declared types --------------------------------------------


Convert = Callable[[Any], Any]
"""Turns a JSON value that fits a hint's schema into a value of the hint's type."""


def _same(value: Any) -> Any:
    return value


def _to_int(value: Any) -> Any:
    return int(value) if isinstance(value, float) else value


def _to_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _pick(options: tuple[Any, ...], value: Any) -> Any:
    """The option (a ``Literal``'s value, an enum member) whose JSON value ``value`` is."""
    for option in options:
        if json_equal(option.value if isinstance(option, enum.Enum) else option, value):
            return option
    return value


def _first_fit(branches: tuple[tuple[dict[str, Any], Convert], ...], value: Any) -> Any:
    """A union: converted by its first member whose schema ``value`` fits."""
    for schema, convert in branches:
        if not problems(schema, value):
            return convert(value)
    return value


def _each(build: Callable[[Any], Any], item: Convert, value: Any) -> Any:
    return build(map(item, value))


def _positions(items: tuple[Convert, ...], value: Any) -> tuple[Any, ...]:
    return tuple(convert(x) for convert, x in zip(items, value, strict=False))


def _values(fields: Mapping[str, Convert], value: Any) -> dict[str, Any]:
    return {k: fields.get(k, _same)(v) for k, v in value.items()}


_COLLECTIONS: dict[Any, Callable[[Any], Any]] = {
    list: list,
    collections.abc.Sequence: list,
    set: set,
    frozenset: frozenset,
    tuple: tuple,
}
"""The array hints and what each is built as (``tuple[X, ...]`` included)."""


def _converter(hint: Any) -> Convert:
    """How a JSON value that fits ``schema_of(hint)`` becomes the type ``hint`` declares
    (``_same`` where nothing changes): the table mirrors ``schema_of``'s cases."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Annotated, typing.Required, typing.NotRequired):
        return _converter(args[0])
    simple: dict[Any, Convert] = {int: _to_int, float: _to_float, tuple: tuple}
    if isinstance(hint, Hashable) and hint in simple:
        return simple[hint]
    if origin is Literal:
        return functools.partial(_pick, args)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return functools.partial(_pick, tuple(hint))
    if origin in (typing.Union, types.UnionType):
        return functools.partial(_first_fit, tuple((schema_of(a), _converter(a)) for a in args))
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        return functools.partial(_positions, tuple(_converter(a) for a in args))
    if origin in _COLLECTIONS:
        build, item = _COLLECTIONS[origin], _converter(args[0]) if args else _same
        return _same if build is list and item is _same else functools.partial(_each, build, item)
    if origin in (dict, collections.abc.Mapping) and args:
        value = _converter(args[1])
        return _same if value is _same else functools.partial(_each_value, value)
    if typing.is_typeddict(hint):
        fields = {k: _converter(h) for k, h in typing.get_type_hints(hint).items()}
        changed = {k: f for k, f in fields.items() if f is not _same}
        return functools.partial(_values, changed) if changed else _same
    return _same


def _each_value(value: Convert, mapping: Any) -> dict[str, Any]:
    return {k: value(v) for k, v in mapping.items()}
