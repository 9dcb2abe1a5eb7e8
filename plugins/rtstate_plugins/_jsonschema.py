"""A small JSON Schema validator for function-tool arguments.

It covers what ``Tools`` emits and what hand-written tool schemas commonly use:
``type`` (a name or a list of names), ``enum``, ``const``, ``properties``,
``required``, ``additionalProperties`` (``false`` or a schema), ``items`` (a schema,
``false``, or the old list form), ``prefixItems``, ``minItems`` / ``maxItems``,
``minLength`` / ``maxLength``, ``minimum`` / ``maximum`` / ``exclusiveMinimum`` /
``exclusiveMaximum``, ``anyOf`` / ``oneOf`` / ``allOf``, OpenAPI's ``nullable`` and
local ``$ref``s (``#/$defs/...``). Other keywords (``pattern``, ``format``,
``patternProperties``, ...) are not checked. Types follow JSON Schema: ``true`` is
not an ``integer``, ``2.0`` is; an ``integer`` is a ``number``; ``NaN`` and
infinities are no numbers.

``problems(schema, value)`` returns what is wrong, one sentence per problem, each
naming where (``argument n``, ``argument place.city``, ``argument xs[2]``) and what
was expected, so the model can fix its call.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import attrs

__all__ = ["describe", "json_equal", "problems"]


# --- types -------------------------------------------------------------------------------


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


_TYPES: Final[Mapping[str, tuple[Callable[[object], bool], str]]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "integer": (_is_integer, "an integer"),
    "number": (_is_number, "a number"),
    "boolean": (lambda v: isinstance(v, bool), "a boolean"),
    "null": (lambda v: v is None, "null"),
    "array": (lambda v: isinstance(v, list), "an array"),
    "object": (lambda v: isinstance(v, dict), "an object"),
}
"""Each JSON Schema type: whether a decoded JSON value has it, and its name in a message."""


def _has_type(kind: object, value: object) -> bool:
    """Whether ``value`` has the type ``kind`` (a name or a list of names); an
    unknown name accepts nothing."""
    kinds = kind if isinstance(kind, list) else [kind]
    return any(isinstance(k, str) and k in _TYPES and _TYPES[k][0](value) for k in kinds)


def _type_name(kind: object) -> str:
    return _TYPES[kind][1] if isinstance(kind, str) and kind in _TYPES else repr(kind)


def _got(value: object) -> str:
    """What the model sent, for a message: its kind and a short rendering."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    kind = "a number" if isinstance(value, float) else "a value"  # 2.0 and NaN too
    if kind == "a value":
        kind = next((name for _, (test, name) in _TYPES.items() if test(value)), kind)
    text = _json(value)
    return f"{kind} ({text if len(text) <= 40 else text[:37] + '...'})"


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=repr)


def json_equal(a: object, b: object) -> bool:
    """JSON equality: ``true`` is not ``1`` while ``1`` is ``1.0``; arrays and objects
    compare item by item."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def describe(schema: object) -> str:
    """What a schema expects, in words: ``an integer``, ``one of "a", "b"``,
    ``an integer or null``."""
    if schema is False:
        return "no value"
    if not isinstance(schema, Mapping):
        return "any value"
    if "const" in schema:
        words = _json(schema["const"])
    elif isinstance(schema.get("enum"), list):
        values = [_json(v) for v in schema["enum"]]
        words = values[0] if len(values) == 1 else "one of " + ", ".join(values)
    elif isinstance(schema.get("anyOf") or schema.get("oneOf"), list):
        words = " or ".join(describe(s) for s in schema.get("anyOf") or schema["oneOf"])
    elif "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        words = " or ".join(_type_name(k) for k in kinds)
    else:
        words = "a value matching the schema"
    return words + " or null" if schema.get("nullable") is True else words


# --- where -------------------------------------------------------------------------------


@attrs.frozen
class _At:
    """Where in the arguments a value sits (``""``: the arguments object itself), and
    the root schema that ``$ref``s point into."""

    root: object
    path: str = ""

    def key(self, name: str) -> _At:
        return _At(self.root, f"{self.path}.{name}" if self.path else name)

    def index(self, i: int) -> _At:
        return _At(self.root, f"{self.path}[{i}]")

    def __str__(self) -> str:
        return f"argument {self.path}" if self.path else "arguments"

    def member(self, problem: str, name: str) -> str:
        """A problem with a member of the object here: ``missing required argument n``
        at the top, ``argument p: missing required property n`` below."""
        return f"{self}: {problem} property {name}" if self.path else f"{problem} argument {name}"

    def resolve(self, ref: object) -> object:
        """The schema a local ``$ref`` (``#``, ``#/$defs/x``) points at; ``True``
        (unchecked) for any other reference or a pointer that leads nowhere."""
        if not isinstance(ref, str) or not ref.startswith("#"):
            return True
        node = self.root
        for raw in filter(None, ref[1:].split("/")):
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return True
        return node


# --- keywords ----------------------------------------------------------------------------


Rule = Callable[[Any, Any, Mapping[str, Any], _At], Iterator[str]]
"""A keyword's check: (its value in the schema, the value checked, the schema, where)."""


def _enum(options: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    if isinstance(options, list) and not any(json_equal(value, o) for o in options):
        yield f"{at}: expected {describe({'enum': options})}, got {_got(value)}"


def _const(const: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    if not json_equal(value, const):
        yield f"{at}: expected {_json(const)}, got {_got(value)}"


def _bound(
    applies: Callable[[object], bool],
    measure: Callable[[Any], float],
    holds: Callable[[float, Any], bool],
    words: str,
    got: Callable[[Any], str] = _got,
) -> Rule:
    """A bound on a number, or on a string's or an array's length (``measure``);
    ``words`` takes the bound, ``got`` renders the value."""

    def rule(bound: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
        if applies(value) and _is_number(bound) and not holds(measure(value), bound):
            yield f"{at}: expected {words.format(bound)}, got {got(value)}"

    return rule


def _length(value: Any) -> str:
    return str(len(value))


def _itself(value: Any) -> Any:
    """A number measured as itself (an ``int`` past float range compares exactly)."""
    return value


def _properties(props: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    if isinstance(value, dict) and isinstance(props, Mapping):
        for name, sub in props.items():
            if name in value:
                yield from _check(sub, value[name], at.key(name))


def _required(names: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    if isinstance(value, dict) and isinstance(names, list):
        for name in names:
            if name not in value:
                yield at.member("missing required", name)


def _additional(extra: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    if not isinstance(value, dict) or extra is True or "patternProperties" in schema:
        return  # patternProperties is not checked, nor then what it leaves over
    declared = schema.get("properties")
    for name in value:
        if isinstance(declared, Mapping) and name in declared:
            continue
        if extra is False:
            yield at.member("unexpected", name)
        else:
            yield from _check(extra, value[name], at.key(name))


def _prefix(schemas: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    if isinstance(value, list) and isinstance(schemas, list):
        for i, (sub, item) in enumerate(zip(schemas, value, strict=False)):
            yield from _check(sub, item, at.index(i))


def _items(items: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    if not isinstance(value, list):
        return
    if isinstance(items, list):  # the draft-04 tuple form
        yield from _prefix(items, value, schema, at)
        return
    prefix = schema.get("prefixItems")
    start = len(prefix) if isinstance(prefix, list) else 0
    if items is False and len(value) > start:
        yield f"{at}: expected at most {start} items, got {len(value)}"
        return
    for i in range(start, len(value)):
        yield from _check(items, value[i], at.index(i))


def _any_of(branches: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    if not isinstance(branches, list):
        return
    found = [list(_check(b, value, at)) for b in branches]
    if any(not f for f in found):
        return
    yield from _no_branch(branches, found, value, at)


def _one_of(branches: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    if not isinstance(branches, list):
        return
    found = [list(_check(b, value, at)) for b in branches]
    matches = sum(not f for f in found)
    if matches > 1:
        yield f"{at}: expected exactly one of {describe({'oneOf': branches})}, got {_got(value)}"
    elif matches == 0:
        yield from _no_branch(branches, found, value, at)


def _no_branch(branches: list[Any], found: list[list[str]], value: Any, at: _At) -> Iterator[str]:
    """No branch fits: the problems of the one branch of the value's type, if just one
    has it (a wrong field of an object), else what the branches expect."""
    typed = [f for b, f in zip(branches, found, strict=True) if _type_fits(b, value)]
    if len(typed) == 1:
        yield from typed[0]
    else:
        yield f"{at}: expected {describe({'anyOf': branches})}, got {_got(value)}"


def _type_fits(schema: object, value: object) -> bool:
    return isinstance(schema, Mapping) and "type" in schema and _has_type(schema["type"], value)


def _all_of(branches: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    if isinstance(branches, list):
        for branch in branches:
            yield from _check(branch, value, at)


def _ref(ref: Any, value: Any, schema: Mapping[str, Any], at: _At) -> Iterator[str]:
    yield from _check(at.resolve(ref), value, at)


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_list(value: object) -> bool:
    return isinstance(value, list)


_KEYWORDS: Final[Mapping[str, Rule]] = {
    "$ref": _ref,
    "enum": _enum,
    "const": _const,
    "minimum": _bound(_is_number, _itself, operator.ge, "at least {}"),
    "maximum": _bound(_is_number, _itself, operator.le, "at most {}"),
    "exclusiveMinimum": _bound(_is_number, _itself, operator.gt, "more than {}"),
    "exclusiveMaximum": _bound(_is_number, _itself, operator.lt, "less than {}"),
    "minLength": _bound(_is_text, len, operator.ge, "at least {} characters", _length),
    "maxLength": _bound(_is_text, len, operator.le, "at most {} characters", _length),
    "minItems": _bound(_is_list, len, operator.ge, "at least {} items", _length),
    "maxItems": _bound(_is_list, len, operator.le, "at most {} items", _length),
    "required": _required,
    "properties": _properties,
    "additionalProperties": _additional,
    "prefixItems": _prefix,
    "items": _items,
    "anyOf": _any_of,
    "oneOf": _one_of,
    "allOf": _all_of,
}
"""The checked keywords, in the order their problems are reported (``type`` comes
first, in ``_check``: a value of the wrong type gets that one problem only)."""


def _check(schema: object, value: Any, at: _At) -> Iterator[str]:
    if schema is False:
        yield f"{at}: no value is allowed here, got {_got(value)}"
        return
    if not isinstance(schema, Mapping):  # ``true``, or not a schema: unchecked
        return
    if value is None and schema.get("nullable") is True:
        return
    if "type" in schema and not _has_type(schema["type"], value):
        yield f"{at}: expected {describe(schema)}, got {_got(value)}"
        return
    for keyword, rule in _KEYWORDS.items():
        if keyword in schema:
            yield from rule(schema[keyword], value, schema, at)


def problems(schema: Mapping[str, Any] | bool, value: Any) -> list[str]:
    """What is wrong with ``value`` (decoded JSON) against ``schema``: one sentence per
    problem, in schema order; empty when it fits. A schema that points back into itself
    without consuming the value (``{"$ref": "#"}``) or a value nested deeper than
    Python's recursion limit gives one problem, not a ``RecursionError``."""
    try:
        return list(_check(schema, value, _At(schema)))
    except RecursionError:
        return ["arguments: nested too deeply to check"]
