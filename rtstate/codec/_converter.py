"""The strict cattrs converter every dialect builds on, and the frame-level helpers.

cattrs' stock hooks coerce (``str(5)`` is ``"5"``, a string is an iterable of
characters); a protocol codec must not. The hooks here accept exactly the JSON shapes
the types name and raise otherwise, so a mistyped field is a decode error.

Each converter comes in two builds with the same hooks: a fast one used on every
frame, and one with cattrs' detailed validation, used only after the fast one failed,
to name the field path of the fault.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, get_args, get_origin

import attrs
import cattrs
import orjson
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ..errors import LocalProtocolError, RemoteProtocolError
from ..events.payloads import (
    CHECKED_ON_SEND,
    LITERALS,
    UNSET,
    ExtensionTool,
    MaxTokens,
    Tool,
    ToolChoice,
    ToolChoiceFunction,
    ToolChoiceMcp,
    ToolConfig,
    Unset,
)

__all__ = ["Converters", "NullTable", "dumps", "excerpt", "loads", "make_converters"]

T = TypeVar("T")

NullTable = Mapping[type, Mapping[str, tuple[str, ...]]]
"""Which ``None`` fields a class writes as ``null`` rather than leaving out: class ->
(its ``type`` value, or ``"*"`` for any) -> field names. See ``rtstate.codec._shapes``."""
_EXCERPT_CHARS = 120


def excerpt(frame: str | bytes | bytearray | memoryview, limit: int = _EXCERPT_CHARS) -> str:
    """A short printable excerpt of a frame for error messages."""
    if isinstance(frame, memoryview):
        frame = frame.tobytes()
    if isinstance(frame, bytes | bytearray):
        text = bytes(frame[: limit * 4]).decode("utf-8", errors="replace")
    else:
        text = frame[: limit * 4].encode("utf-8", errors="replace").decode("utf-8")
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def loads(frame: str | bytes | bytearray | memoryview) -> dict[str, Any]:
    """Parse one frame into a JSON object, or raise ``RemoteProtocolError``."""
    try:
        raw = orjson.loads(frame)
    except (orjson.JSONDecodeError, TypeError) as exc:
        raise RemoteProtocolError(
            f"frame is not valid JSON ({exc})", excerpt=excerpt(frame)
        ) from None
    if raw.__class__ is not dict:
        raise RemoteProtocolError(
            f"frame is a JSON {type(raw).__name__}, not an object", excerpt=excerpt(frame)
        )
    return typing.cast("dict[str, Any]", raw)


def dumps(obj: Mapping[str, Any]) -> str:
    """Serialise an unstructured event; ``LocalProtocolError`` if it is not JSON-able."""
    try:
        return orjson.dumps(obj).decode("utf-8")
    except TypeError as exc:
        raise LocalProtocolError(
            f"event is not serialisable as JSON ({exc})",
            event_type=typing.cast("str | None", obj.get("type")),
        ) from None


# --- strict leaf hooks ---------------------------------------------------------------


def _type_error(value: object, expected: str) -> TypeError:
    return TypeError(f"expected {expected}, got {type(value).__name__}")


def _structure_str(value: object, _: object) -> str:
    if value.__class__ is str:
        return value
    raise _type_error(value, "a string")


def _structure_int(value: object, _: object) -> int:
    if value.__class__ is int:
        return value
    raise _type_error(value, "an integer")


def _structure_float(value: object, _: object) -> float:
    cls = value.__class__
    if cls is float:
        if math.isfinite(typing.cast("float", value)):
            return typing.cast("float", value)
        raise ValueError("expected a finite number")
    if cls is int:
        return float(typing.cast("int", value))
    raise _type_error(value, "a number")


def _structure_bool(value: object, _: object) -> bool:
    if value.__class__ is bool:
        return value
    raise _type_error(value, "a boolean")


def _structure_object(value: object, _: object) -> Mapping[str, Any]:
    if value.__class__ is dict:
        return typing.cast("Mapping[str, Any]", value)
    raise _type_error(value, "an object")


def _structure_str_or_object(value: object, _: object) -> str | Mapping[str, Any]:
    if value.__class__ is str or value.__class__ is dict:
        return typing.cast("str | Mapping[str, Any]", value)
    raise _type_error(value, "a string or an object")


def _structure_max_tokens(value: object, _: object) -> MaxTokens:
    if value == "inf" or value.__class__ is int:
        return value
    raise _type_error(value, 'an integer or "inf"')


# --- strict encode hooks ------------------------------------------------------------


def _unstructure_json(value: Any) -> Any:
    """A plain JSON copy of free-form data; raises on what JSON cannot hold.

    orjson would write NaN and infinities as ``null``, and datetimes, UUIDs, plain enums
    and dataclasses as strings or objects: values that do not decode to what was encoded.
    """
    if value is None or isinstance(value, str | int):
        return value
    if value.__class__ is float:
        if math.isfinite(value):
            return value
        raise ValueError("expected a finite number")
    if isinstance(value, Mapping):
        return _unstructure_json_object(value)
    if value.__class__ is list or value.__class__ is tuple:
        return [_unstructure_json(v) for v in value]
    raise _type_error(value, "a JSON value")


def _unstructure_json_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _type_error(value, "an object")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise _type_error(key, "string object keys")
        out[key] = _unstructure_json(item)
    return out


def _unstructure_unset(_: object) -> None:
    # UNSET-able fields leave UNSET out before any hook runs; anywhere else it is a
    # mistake that would otherwise go out as null.
    raise TypeError("UNSET where the field does not admit it")


def _is_mapping_type(tp: Any) -> bool:
    return tp == Mapping[str, Any] or (isinstance(tp, type) and issubclass(tp, Mapping))


def _equals(expected: Any) -> Callable[[Any], bool]:
    return lambda tp: bool(tp == expected)


def _is_homogeneous_tuple(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_nullable(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) in (typing.Union, types.UnionType) and (
        Unset in args or type(None) in args
    )


def _strip(tp: Any, *drop: Any) -> Any:
    rest = tuple(a for a in get_args(tp) if a not in drop)
    return rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007


@attrs.frozen
class Converters:
    """A fast converter and its detailed twin, configured identically, and ``server``:
    the fast one again, but writing the null fields of the dialect's ``NullTable``
    (used to encode server events only, so what a client sends is unchanged)."""

    fast: cattrs.Converter
    detailed: cattrs.Converter
    server: cattrs.Converter


def _at_type(exc: Exception) -> ClassValidationError:
    """``exc`` as a fault of a tool's ``type`` field (the error path names it)."""
    exc.__notes__ = [AttributeValidationNote("Structuring the tool @ attribute type", "type", str)]
    return ClassValidationError("While structuring a tool", [exc], Tool)


def _configure_tools(conv: cattrs.Converter, *, extension_tools: bool) -> None:
    """Hooks for a ``tools`` entry (``ToolConfig``), tagged by ``type``.

    ``"function"`` (or no ``type``: the flat form of the early docs) is a ``Tool``.
    With ``extension_tools`` (GA) any other string type is an ``ExtensionTool``
    holding the rest of the object; without (beta) it is a decode error.
    """
    structure_function = conv.get_structure_hook(Tool)
    unstructure_function = conv.get_unstructure_hook(Tool)

    def structure_tool(value: object, _: object) -> ToolConfig:
        if value.__class__ is not dict:
            raise _type_error(value, "an object")
        obj = typing.cast("dict[str, Any]", value)
        kind = obj.get("type", "function")
        if kind.__class__ is not str:
            raise _at_type(_type_error(kind, "a string"))
        if kind == "function":
            return structure_function(obj, Tool)  # type: ignore[no-any-return]
        if not extension_tools:
            raise _at_type(
                ValueError(f"the beta protocol has function tools only, not {kind!r} tools")
            )
        return ExtensionTool(type=kind, config={k: v for k, v in obj.items() if k != "type"})

    def unstructure_extension(tool: ExtensionTool) -> dict[str, Any]:
        if tool.type.__class__ is not str or tool.type == "function":
            raise ValueError(f"an ExtensionTool's type cannot be {tool.type!r} (use Tool)")
        config = _unstructure_json_object(tool.config)
        if "type" in config:
            raise ValueError("an ExtensionTool's config cannot hold 'type'")
        return {"type": tool.type, **config}

    unstructure_by_class: Mapping[type, Callable[[Any], Any]] = {
        Tool: unstructure_function,
        ExtensionTool: unstructure_extension,
    }

    def unstructure_tool(tool: Any) -> Any:
        hook = unstructure_by_class.get(tool.__class__)
        if hook is None:
            raise _type_error(tool, "a Tool or an ExtensionTool")
        return hook(tool)

    conv.register_structure_hook_func(_equals(ToolConfig), structure_tool)
    conv.register_structure_hook(ExtensionTool, structure_tool)
    conv.register_unstructure_hook_func(_equals(ToolConfig), unstructure_tool)
    conv.register_unstructure_hook(ExtensionTool, unstructure_extension)


def _at_choice_type(exc: Exception) -> ClassValidationError:
    """``exc`` as a fault of a ``tool_choice`` object's ``type`` field."""
    exc.__notes__ = [
        AttributeValidationNote("Structuring the tool choice @ attribute type", "type", str)
    ]
    return ClassValidationError("While structuring a tool choice", [exc], ToolChoiceFunction)


def _configure_tool_choice(conv: cattrs.Converter, *, mcp: bool) -> None:
    """Hooks for ``tool_choice`` (``ToolChoice``): a string, or an object tagged by ``type``.

    ``"function"`` (or no ``type``) is a ``ToolChoiceFunction``, read from the flat or
    the nested form by hand: a fault inside it is reported at ``tool_choice`` itself.
    With ``mcp`` (GA) ``"mcp"`` is a ``ToolChoiceMcp``, structured as a class (a fault
    is reported at its field). Any other type is a decode error at ``tool_choice.type``.
    """
    structure_mcp = conv.get_structure_hook(ToolChoiceMcp)
    unstructure_function = conv.get_unstructure_hook(ToolChoiceFunction)
    unstructure_mcp = conv.get_unstructure_hook(ToolChoiceMcp)
    kinds = "'function' or 'mcp'" if mcp else "'function'"

    def structure_tool_choice(value: object, _: object) -> ToolChoice:
        if value.__class__ is str:  # any string, as the closed-set fields (LITERALS)
            return typing.cast("ToolChoice", value)
        if value.__class__ is not dict:
            raise _type_error(value, "a string or an object")
        obj = typing.cast("dict[str, Any]", value)
        kind = obj.get("type", "function")
        if kind.__class__ is not str:
            raise _at_choice_type(_type_error(kind, "a string"))
        if kind == "function":
            name = obj.get("name")
            nested = obj.get("function")
            if name is None and nested.__class__ is dict:
                name = nested.get("name")
            if name.__class__ is str:
                return ToolChoiceFunction(name=name)
            raise ValueError("tool_choice object needs a string 'name'")
        if kind == "mcp" and mcp:
            return structure_mcp(obj, ToolChoiceMcp)  # type: ignore[no-any-return]
        if kind == "mcp":
            raise _at_choice_type(
                ValueError("the beta protocol has function tool choices only, not 'mcp'")
            )
        raise _at_choice_type(ValueError(f"expected a tool choice type {kinds}, not {kind!r}"))

    def checked(
        hook: Callable[[Any], Any], cls: type, kind: str
    ) -> Callable[[Any], dict[str, Any]]:
        def unstructure(choice: Any) -> dict[str, Any]:
            if choice.type != kind:
                raise ValueError(f"a {cls.__name__}'s type cannot be {choice.type!r}")
            return typing.cast("dict[str, Any]", hook(choice))

        return unstructure

    unstructure_by_class: Mapping[type, Callable[[Any], Any]] = {
        str: lambda choice: choice,
        ToolChoiceFunction: checked(unstructure_function, ToolChoiceFunction, "function"),
        ToolChoiceMcp: checked(unstructure_mcp, ToolChoiceMcp, "mcp"),
    }

    def unstructure_tool_choice(choice: Any) -> Any:
        hook = unstructure_by_class.get(choice.__class__)
        if hook is None:
            raise _type_error(choice, "a string, a ToolChoiceFunction or a ToolChoiceMcp")
        return hook(choice)

    conv.register_structure_hook_func(_equals(ToolChoice), structure_tool_choice)
    conv.register_unstructure_hook_func(_equals(ToolChoice), unstructure_tool_choice)
    for cls in (ToolChoiceFunction, ToolChoiceMcp):
        conv.register_unstructure_hook(cls, unstructure_by_class[cls])


_LITERALS: frozenset[Any] = frozenset(LITERALS)


def _checked_on_send(conv: cattrs.Converter) -> None:
    """Make ``conv`` refuse, in the classes of ``CHECKED_ON_SEND``, a value outside
    its field's closed set (the fields a client writes into an item it sends)."""
    for cls, fields in CHECKED_ON_SEND.items():  # ContentPart first: Item's hook uses it
        base = conv.get_unstructure_hook(cls)
        conv.register_unstructure_hook(cls, _in_sets(cls, fields, base))


def _in_sets(
    cls: type, fields: Mapping[str, Any], base: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    """``base``, after checking that each field of ``fields`` is ``None`` or in its set."""
    sets = tuple((name, frozenset(get_args(tp)), get_args(tp)) for name, tp in fields.items())

    def unstructure(value: Any) -> Any:
        for name, allowed, ordered in sets:
            given = getattr(value, name)
            if given is not None and given not in allowed:
                choices = ", ".join(repr(v) for v in ordered)
                said = f"{cls.__name__}.{name} is {given!r}, not one of {choices}"
                raise RefusedValue(said, value, name)
        return base(value)

    return unstructure


class RefusedValue(ValueError):
    """A field of ``owner`` (an object inside the event being encoded) holds a value
    outside its closed set; ``path_in`` gives the field's path in the event."""

    def __init__(self, message: str, owner: object, name: str) -> None:
        super().__init__(message)
        self.owner = owner
        self.name = name

    def path_in(self, event: object) -> str | None:
        """The dotted path of the refused field in ``event`` (``item.content[0].type``),
        or ``None`` if ``owner`` is not found in it."""
        found = _path_to(event, self.owner, "")
        if found is None:
            return None
        return f"{found}.{self.name}" if found else self.name


def _path_to(value: object, target: object, prefix: str) -> str | None:
    """The path from ``value`` to the object ``target`` (by identity) through attrs
    fields and tuples, ``""`` for ``value`` itself; ``None`` if it is not there."""
    if value is target:
        return prefix
    if attrs.has(value.__class__):
        for a in attrs.fields(value.__class__):
            at = f"{prefix}.{a.name}" if prefix else a.name
            found = _path_to(getattr(value, a.name), target, at)
            if found is not None:
                return found
    elif isinstance(value, tuple):
        for i, element in enumerate(value):
            found = _path_to(element, target, f"{prefix}[{i}]")
            if found is not None:
                return found
    return None


def _with_nulls(
    hook: Callable[[Any], dict[str, Any]], rule: Mapping[str, tuple[str, ...]]
) -> Callable[[Any], dict[str, Any]]:
    """``hook``, then the fields ``rule`` names that it left out for being ``None``, as
    ``None`` (an ``UNSET`` field, "not given", stays out)."""
    always = rule.get("*", ())

    def unstructure(value: Any) -> dict[str, Any]:
        obj = hook(value)
        kind = getattr(value, "type", None)
        for name in always + (rule.get(kind, ()) if kind.__class__ is str else ()):
            if name not in obj and getattr(value, name) is None:
                obj[name] = None
        return obj

    return unstructure


def _configure(conv: cattrs.Converter, nulls: NullTable) -> None:
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(bool, _structure_bool)
    exact: list[tuple[Any, Callable[[Any, Any], Any]]] = [
        (Mapping[str, Any], _structure_object),
        (str | Mapping[str, Any], _structure_str_or_object),
        (MaxTokens, _structure_max_tokens),
    ]
    for tp, hook in exact:
        conv.register_structure_hook_func(_equals(tp), hook)
    # a closed set decodes any string: a value the service added is kept as given
    conv.register_structure_hook_func(_LITERALS.__contains__, _structure_str)
    conv.register_unstructure_hook_func(_is_mapping_type, _unstructure_json_object)

    def tuple_unstructure_hook(tp: Any) -> Callable[[Any], list[Any]]:
        elem_hook = conv.get_unstructure_hook(get_args(tp)[0])

        def unstructure_tuple(value: Any) -> list[Any]:
            # cattrs' stock hook is list(value): a string would go out as its characters.
            if value.__class__ is not tuple and value.__class__ is not list:
                raise _type_error(value, "a tuple")
            return [elem_hook(v) for v in value]

        return unstructure_tuple

    conv.register_unstructure_hook_factory(_is_homogeneous_tuple, tuple_unstructure_hook)

    def tuple_hook(tp: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        elem = get_args(tp)[0]
        elem_hook = conv.get_structure_hook(elem)

        def structure_tuple(value: object, _: object) -> tuple[Any, ...]:
            if value.__class__ is not list:
                raise _type_error(value, "an array")
            items = value
            if conv.detailed_validation:
                return tuple(_indexed(elem_hook, elem, items))
            return tuple([elem_hook(v, elem) for v in items])

        return structure_tuple

    conv.register_structure_hook_factory(_is_homogeneous_tuple, tuple_hook)

    def nullable_hook(tp: Any) -> Callable[[Any, Any], Any]:
        inner = _strip(tp, Unset, type(None))
        inner_hook = conv.get_structure_hook(inner)

        def structure_nullable(value: object, _: object) -> Any:
            return None if value is None else inner_hook(value, inner)

        return structure_nullable

    conv.register_structure_hook_factory(_is_nullable, nullable_hook)
    conv.register_unstructure_hook(Unset, _unstructure_unset)

    def unstructure_factory(cls: type) -> Callable[[Any], dict[str, Any]]:
        overrides = {
            a.name: override(omit_if_default=True)
            for a in attrs.fields(cls)
            if a.default is None or a.default is UNSET
        }
        hook: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(
            cls,
            conv,
            **overrides,  # type: ignore[arg-type]
        )
        rule = nulls.get(cls)
        return hook if rule is None else _with_nulls(hook, rule)

    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)

    if not conv.detailed_validation:
        conv.register_structure_hook_factory(attrs.has, lambda cls: _fast_structure_fn(cls, conv))
    else:
        # The fast build lets a non-object fail inside the generated code; this build
        # exists to explain failures, so it says plainly that an object was expected.
        def object_factory(cls: type) -> Callable[[Any, Any], Any]:
            inner: Callable[[Any, Any], Any] = make_dict_structure_fn(cls, conv)

            def structure_object(value: object, _: object) -> Any:
                if value.__class__ is not dict:
                    raise _type_error(value, "an object")
                return inner(typing.cast("dict[str, Any]", value), cls)

            return structure_object

        conv.register_structure_hook_factory(attrs.has, object_factory)


_MISSING: Any = object()
_EXACT = {str: "str", int: "int", bool: "bool"}


def _exact_check(tp: Any) -> tuple[str, bool] | None:
    """``("str", nullable)`` for ``str`` / ``str | None`` (likewise int, bool), else None.
    A closed set of ``LITERALS`` decodes as any string: checked inline as ``str``."""
    if tp in _EXACT or tp in _LITERALS:
        return _EXACT.get(tp, "str"), False
    args = get_args(tp)
    if get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        (other,) = (a for a in args if a is not type(None))
        if other in _EXACT or other in _LITERALS:
            return _EXACT.get(other, "str"), True
    return None


def _fast_structure_fn(cls: type, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Generate the structure function the fast converter uses for an attrs class.

    It type-checks str/int/bool fields inline, calls the converter's hooks for the
    rest, and fills the instance through its slot descriptors rather than ``__init__``
    (the event classes have no validators or converters to skip), which is twice as
    fast as a keyword call of a frozen class. On any fault it raises; the detailed
    converter then explains where.
    """
    attrs.resolve_types(cls)
    ns: dict[str, Any] = {
        "_new": object.__new__,
        "_cls": cls,
        "_MISSING": _MISSING,
        "_bad": _type_error,
    }
    lines = ["def structure(o, _=None):", "    i = _new(_cls)"]
    for n, a in enumerate(attrs.fields(cls)):
        if isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
            raise TypeError(f"{cls.__name__}.{a.name}: factories are not supported")
        ns[f"_s{n}"] = getattr(cls, a.name).__set__
        indent = "    "
        nullable = _is_nullable(a.type) and Unset not in get_args(a.type)
        if a.default is attrs.NOTHING:
            lines.append(f"    v = o[{a.name!r}]")
        elif a.default is None and nullable:  # absent and null are the same
            lines.append(f"    v = o.get({a.name!r})")
        else:
            ns[f"_d{n}"] = a.default
            lines.append(f"    v = o.get({a.name!r}, _MISSING)")
            lines.append(f"    if v is _MISSING: _s{n}(i, _d{n})")
            lines.append("    else:")
            indent = "        "
        exact = _exact_check(a.type)
        if exact is not None:
            name, exact_nullable = exact
            test = f"v.__class__ is not {name}"
            if exact_nullable:
                test = f"v is not None and {test}"
            lines.append(f"{indent}if {test}: raise _bad(v, {name!r})")
        elif nullable:  # call the inner hook directly, not the nullable wrapper
            inner = _strip(a.type, type(None))
            ns[f"_h{n}"] = conv.get_structure_hook(inner)
            ns[f"_t{n}"] = inner
            lines.append(f"{indent}if v is not None: v = _h{n}(v, _t{n})")
        else:
            ns[f"_h{n}"] = conv.get_structure_hook(a.type)
            ns[f"_t{n}"] = a.type
            lines.append(f"{indent}v = _h{n}(v, _t{n})")
        lines.append(f"{indent}_s{n}(i, v)")
    lines.append("    return i")
    exec("\n".join(lines), ns)
    return typing.cast("Callable[[Any, Any], Any]", ns["structure"])


def _indexed(hook: Callable[[Any, Any], Any], elem: Any, items: list[Any]) -> list[Any]:
    """Structure a list, raising a cattrs iterable error that names the failing index."""
    out = []
    errors: list[Exception] = []
    for index, value in enumerate(items):
        try:
            out.append(hook(value, elem))
        except Exception as exc:
            exc.__notes__ = [
                *getattr(exc, "__notes__", []),
                IterableValidationNote(f"Structuring index {index}", index, elem),
            ]
            errors.append(exc)
    if errors:
        raise IterableValidationError("While structuring an array", errors, tuple)
    return out


def make_converters(*, extension_tools: bool = False, nulls: NullTable | None = None) -> Converters:
    """Build the strict converters. Dialects add their own hooks to all three.

    ``extension_tools``: a ``tools`` entry of another type than ``function`` decodes
    as an ``ExtensionTool``, and a ``tool_choice`` of type ``mcp`` as a
    ``ToolChoiceMcp`` (GA), rather than being refused (beta). ``nulls``: the fields
    the ``server`` converter writes as ``null`` when they are ``None`` (or ``UNSET``).
    """
    fast = cattrs.Converter(detailed_validation=False, prefer_attrib_converters=False)
    detailed = cattrs.Converter(detailed_validation=True, prefer_attrib_converters=False)
    server = cattrs.Converter(detailed_validation=False, prefer_attrib_converters=False)
    for conv, table in ((fast, {}), (detailed, {}), (server, nulls or {})):
        _configure(conv, table)
        _configure_tools(conv, extension_tools=extension_tools)
        _configure_tool_choice(conv, mcp=extension_tools)
    _checked_on_send(fast)  # fast encodes the client events; server, the server's
    return Converters(fast=fast, detailed=detailed, server=server)


def _describe(exc: BaseException, _: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, TypeError | ValueError) and exc.args and isinstance(exc.args[0], str):
        return exc.args[0]
    return f"invalid value ({type(exc).__name__})"


def fault_path(exc: BaseException) -> tuple[str | None, str]:
    """The dotted path and description of the first fault in a cattrs error."""
    messages = cattrs.transform_error(exc, path="$", format_exception=_describe)
    first = messages[0] if messages else str(exc)
    description, _, where = first.rpartition(" @ ")
    if not _:
        return None, first
    path = where[1:].lstrip(".") or None
    return path, description
