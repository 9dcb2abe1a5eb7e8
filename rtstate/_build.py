"""Fast builders for frozen attrs classes, for the fold's hot path.

A frozen attrs ``__init__`` sets each field through ``object.__setattr__``;
``attrs.evolve`` adds a keyword dict on top. The functions generated here skip
``__init__`` (so they are only for classes without validators or converters, as every
state class is) and fill the new object directly:

- a slotted class: each field through its slot descriptor, two to three times
  faster than ``__init__``;
- a dict-backed class (``attrs.frozen(slots=False)``): one copy of the instance
  dict, in C, whatever the number of fields. The fold's most rebuilt classes (the
  root, items, parts) are dict-backed for this: a copy with one change costs about
  half of the slotted copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["dict_setter", "evolver", "positional", "setter"]

T = TypeVar("T")
_MISSING: Any = object()


def _namespace(cls: type) -> tuple[dict[str, Any], tuple[attrs.Attribute[Any], ...], bool]:
    fields = attrs.fields(cls)
    for f in fields:
        if f.validator is not None or f.converter is not None:
            raise TypeError(f"{cls.__name__}.{f.name} has a validator or converter")
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_M": _MISSING}
    slotted = "__slots__" in cls.__dict__
    if slotted:
        for i, f in enumerate(fields):
            ns[f"_s{i}"] = getattr(cls, f.name).__set__
    else:
        ns["_setdict"] = dict_setter(cls)
    return ns, fields, slotted


def dict_setter(cls: type, *names: str) -> Callable[[object, dict[str, Any]], None]:
    """The ``__dict__`` descriptor's setter of a dict-backed class.

    ``set(object.__new__(cls), fields)`` makes ``fields`` (a dict of every field, which
    the caller gives up) the new object's state: for a hot path that writes its copies
    out rather than calling a ``setter``. ``names`` are the fields that caller writes
    by name, checked here once (a renamed field fails at import, not silently).
    """
    unknown = set(names) - {f.name for f in attrs.fields(cls)} if names else set()
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    for klass in cls.__mro__:
        descriptor = klass.__dict__.get("__dict__")
        if descriptor is not None:
            setter: Callable[[object, dict[str, Any]], None] = descriptor.__set__
            return setter
    raise TypeError(f"{cls.__name__} has no instance dict: it is not a dict-backed class")


def _compile(ns: dict[str, Any], lines: list[str], name: str) -> Callable[..., Any]:
    exec("\n".join(lines), ns)
    fn: Callable[..., Any] = ns[name]
    return fn


def evolver(cls: type[T]) -> Callable[..., T]:
    """``evolve(obj, **changes)`` for ``cls``: a copy of ``obj`` with ``changes``."""
    ns, fields, slotted = _namespace(cls)
    params = ", ".join(f"{f.alias}=_M" for f in fields)
    # the new object is ``_r``: a field may be called ``n`` (parameters are aliases,
    # which never start with an underscore)
    lines = [f"def evolve(_o, *, {params}):", "    _r = _new(_cls)"]
    if slotted:
        for i, f in enumerate(fields):
            lines.append(f"    _s{i}(_r, _o.{f.name} if {f.alias} is _M else {f.alias})")
    else:
        lines.append("    _d = _o.__dict__.copy()")
        lines += [f"    if {f.alias} is not _M: _d[{f.name!r}] = {f.alias}" for f in fields]
        lines.append("    _setdict(_r, _d)")
    lines.append("    return _r")
    return _compile(ns, lines, "evolve")


def positional(cls: type[T]) -> Callable[..., T]:
    """``new(...)`` for ``cls``: every field, in definition order, no defaults.

    The parameters carry the fields' names, so a call may pass them by keyword
    (safe against a reordering of the fields) or, on the hottest paths, by position.
    """
    ns, fields, slotted = _namespace(cls)
    params = ", ".join(f"{f.alias}" for f in fields)
    lines = [f"def new({params}):", "    _r = _new(_cls)"]
    if slotted:
        lines += [f"    _s{i}(_r, {f.alias})" for i, f in enumerate(fields)]
    else:
        pairs = ", ".join(f"{f.name!r}: {f.alias}" for f in fields)
        lines.append(f"    _setdict(_r, {{{pairs}}})")
    lines.append("    return _r")
    return _compile(ns, lines, "new")


def setter(cls: type[T], *names: str) -> Callable[..., T]:
    """``set(obj, *values)``: a copy of ``obj`` with the fields ``names`` replaced.

    The fastest copy for a fixed set of changes on a hot path.
    """
    ns, fields, slotted = _namespace(cls)
    known = {f.name for f in fields}
    unknown = set(names) - known
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    params = ", ".join(f"v{i}" for i in range(len(names)))
    lines = [f"def set(_o, {params}):", "    _r = _new(_cls)"]
    if slotted:
        for i, f in enumerate(fields):
            value = f"v{names.index(f.name)}" if f.name in names else f"_o.{f.name}"
            lines.append(f"    _s{i}(_r, {value})")
    else:
        lines.append("    _d = _o.__dict__.copy()")
        lines += [f"    _d[{name!r}] = v{i}" for i, name in enumerate(names)]
        lines.append("    _setdict(_r, _d)")
    lines.append("    return _r")
    return _compile(ns, lines, "set")
