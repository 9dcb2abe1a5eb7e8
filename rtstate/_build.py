"""Fast builders for frozen slotted attrs classes, for the fold's hot path.

A frozen attrs ``__init__`` sets each field through ``object.__setattr__``;
``attrs.evolve`` adds a keyword dict on top. The generated functions here read the old
value and set the new one through the class's slot descriptors, which is two to
three times faster. They skip ``__init__``, so they are only for classes without
validators or converters (every state class).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["evolver", "positional", "setter"]

T = TypeVar("T")
_MISSING: Any = object()


def _namespace(cls: type) -> tuple[dict[str, Any], tuple[attrs.Attribute[Any], ...]]:
    fields = attrs.fields(cls)
    for f in fields:
        if f.validator is not None or f.converter is not None:
            raise TypeError(f"{cls.__name__}.{f.name} has a validator or converter")
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_M": _MISSING}
    for i, f in enumerate(fields):
        ns[f"_s{i}"] = getattr(cls, f.name).__set__
    return ns, fields


def evolver(cls: type[T]) -> Callable[..., T]:
    """``evolve(obj, **changes)`` for ``cls``: a copy of ``obj`` with ``changes``."""
    ns, fields = _namespace(cls)
    params = ", ".join(f"{f.alias}=_M" for f in fields)
    # the new object is ``_r``: a field may be called ``n`` (parameters are aliases,
    # which never start with an underscore)
    lines = [f"def evolve(_o, *, {params}):", "    _r = _new(_cls)"]
    for i, f in enumerate(fields):
        lines.append(f"    _s{i}(_r, _o.{f.name} if {f.alias} is _M else {f.alias})")
    lines.append("    return _r")
    exec("\n".join(lines), ns)
    fn: Callable[..., T] = ns["evolve"]
    return fn


def positional(cls: type[T]) -> Callable[..., T]:
    """``new(*values)`` for ``cls``: every field, positionally, in definition order."""
    ns, fields = _namespace(cls)
    params = ", ".join(f"v{i}" for i in range(len(fields)))
    lines = [f"def new({params}):", "    n = _new(_cls)"]
    lines += [f"    _s{i}(n, v{i})" for i in range(len(fields))]
    lines.append("    return n")
    exec("\n".join(lines), ns)
    fn: Callable[..., T] = ns["new"]
    return fn


def setter(cls: type[T], *names: str) -> Callable[..., T]:
    """``set(obj, *values)``: a copy of ``obj`` with the fields ``names`` replaced.

    The fastest copy for a fixed set of changes on a hot path.
    """
    ns, fields = _namespace(cls)
    known = {f.name for f in fields}
    unknown = set(names) - known
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    params = ", ".join(f"v{i}" for i in range(len(names)))
    lines = [f"def set(_o, {params}):", "    n = _new(_cls)"]
    for i, f in enumerate(fields):
        value = f"v{names.index(f.name)}" if f.name in names else f"_o.{f.name}"
        lines.append(f"    _s{i}(n, {value})")
    lines.append("    return n")
    exec("\n".join(lines), ns)
    fn: Callable[..., T] = ns["set"]
    return fn
