"""Copies of the server's records with a few fields changed, without ``attrs.evolve``.

The server widens the session with a response's overrides, fills a response object in
at ``response.done`` and moves its ``_Run`` on a few times a response: each an
``attrs.evolve``, which builds a dict of every field and calls ``__init__`` by keyword
(about 4 µs for a record of ten fields or more). ``evolver(cls)`` makes a function that
does the same for a slotted attrs class without validators or converters: the copy is
filled with plain slot writes (``rtstate._build.writable_subclass``) and then takes its
class, so the result is an ordinary, immutable ``cls``.

tests/server/test_server_wire.py holds each copy equal to ``attrs.evolve``'s (and that
a name that is not a field is refused, as ``attrs.evolve`` refuses it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from .._build import writable_subclass

__all__ = ["evolver"]

T = TypeVar("T")


def evolver(cls: type[T]) -> Callable[..., T]:
    """A function ``evolve(obj, **changes)`` equal to ``attrs.evolve(obj, **changes)``
    for instances of ``cls`` (a slotted attrs class: no validator, converter,
    ``__attrs_post_init__`` or private alias; ``TypeError`` otherwise).

    ``changes`` name fields; any other name raises ``TypeError`` (no copy is returned).
    Untyped in what it takes: callers pass field names as ``attrs.evolve`` takes them.
    """
    fields = attrs.fields(cls)  # type: ignore[arg-type]  # an attrs class, checked here
    if "__attrs_post_init__" in dir(cls):
        raise TypeError(f"{cls.__name__} has __attrs_post_init__")
    for f in fields:
        if f.validator is not None or f.converter is not None:
            raise TypeError(f"{cls.__name__}.{f.name} has a validator or converter")
        if f.alias != f.name or not f.init:
            raise TypeError(f"{cls.__name__}.{f.name} is not set by its own name")
    writable = writable_subclass(cls)
    if writable is None:
        raise TypeError(f"{cls.__name__} is not a slotted class")
    names = frozenset(f.name for f in fields)
    lines = ["def evolve(_o, /, **changes):", "    _r = _W()"]
    lines += [f"    _r.{f.name} = _o.{f.name}" for f in fields]
    lines += [
        "    if not _names.issuperset(changes):",
        "        unknown = sorted(set(changes) - _names)",
        "        raise TypeError(f'{_cls.__name__} has no field(s) {unknown}')",
        "    for _k, _v in changes.items():",
        "        _set(_r, _k, _v)",
        "    _r.__class__ = _cls",
        "    return _r",
    ]
    ns: dict[str, Any] = {"_W": writable, "_cls": cls, "_names": names, "_set": setattr}
    exec("\n".join(lines), ns)  # generated from the class's own fields
    evolve: Callable[..., T] = ns["evolve"]
    evolve.__qualname__ = f"evolver.<{cls.__name__}>"
    return evolve
