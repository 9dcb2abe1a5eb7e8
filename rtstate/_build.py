"""Fast builders for frozen attrs classes, for the fold's hot path.

A frozen attrs ``__init__`` sets each field through ``object.__setattr__``;
``attrs.evolve`` adds a keyword dict on top. The builders here skip ``__init__``
(so they are only for classes without validators or converters, as every state and
transition class is) and fill the new object directly:

- a slotted class: an instance of its writable subclass (``writable_subclass``)
  filled with plain slot writes, then given its own class (about 9 ns a field; a
  class that refuses the switch: each field through its slot descriptor, 43 ns);
- a dict-backed class (``attrs.frozen(slots=False)``): one dict, adopted as the
  instance dict in C, whatever the number of fields.

The typed decoders (``rtstate.codec._typed``) build events through
``writable_subclass`` too, and ``evolver(cls)`` is ``attrs.evolve`` for a slotted class
the same way (the fake server's copies of its records). ``new(cls)`` is typed: it has
the signature of ``cls`` itself (mypy checks its calls as it checks ``cls(...)``);
``dict_setter`` is the primitive ``rtstate._fast`` builds its typed operations on.
tests/core/test_log.py compares each builder with the plain attrs construction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import attrs

__all__ = ["dict_setter", "evolver", "new", "positional", "writable_subclass"]

T = TypeVar("T")
P = ParamSpec("P")
_MISSING: Any = object()


def dict_setter(cls: type, *names: str) -> Callable[[object, dict[str, Any]], None]:
    """The ``__dict__`` descriptor's setter of a dict-backed class.

    ``set(object.__new__(cls), fields)`` makes ``fields`` (a dict of every field, which
    the caller gives up) the new object's state. ``names`` are the fields that caller
    writes by name, checked here once (a renamed field fails at import, not silently).
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


def writable_subclass(cls: type) -> type | None:
    """A subclass of ``cls`` whose instances take plain attribute writes, or None.

    A frozen attrs class refuses ``obj.field = value``; setting its slots through their
    descriptors costs a call each (about four times a plain slot write). The subclass
    adds no slot and writes through ``object.__setattr__`` (for ``__delattr__`` too,
    so the interpreter's own slot write is used), so a builder fills it with plain
    writes and then gives it its class (``r.__class__ = cls``: the layouts are the
    same). Only for a slotted class whose instances allow that switch; the object
    never leaves the builder before it has its class.
    """
    if "__slots__" not in cls.__dict__ or "__dict__" in dir(cls):
        return None
    writable = type(
        f"{cls.__name__}Writable",
        (cls,),
        {
            "__slots__": (),
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__init__": object.__init__,  # made by a call with no arguments
            "__module__": __name__,  # rtstate._build: not a class of its own module
        },
    )
    try:
        probe: Any = object.__new__(writable)
        probe.__class__ = cls
    except TypeError:  # pragma: no cover - a layout the switch refuses
        return None
    return writable


def positional(cls: type[T]) -> Callable[..., T]:
    """A function that builds ``cls`` from every field, in definition order, by
    position (no defaults), skipping ``__init__``.

    Positional calls are the cheapest in CPython 3.11 (a call with keywords is not
    specialised): for the hottest paths only. Untyped: give it a typed ``Protocol``
    (``rtstate._fast`` does; tests/core/test_fast.py checks the two agree).
    """
    return _generate(cls, by_position=True)


def new(cls: Callable[P, T]) -> Callable[P, T]:
    """A function that builds ``cls`` as ``cls(...)`` does, skipping ``__init__``.

    Same parameters (names, defaults, keyword-only or not), so it is typed as ``cls``
    is. Only for an attrs class without validators, converters or ``__attrs_post_init__``.
    """
    klass: type = cls  # type: ignore[assignment]  # a class: attrs.fields checks it
    return _generate(klass, by_position=False)


def _generate(klass: type, *, by_position: bool) -> Callable[..., Any]:
    fields = attrs.fields(klass)
    if "__attrs_post_init__" in dir(klass):
        raise TypeError(f"{klass.__name__} has __attrs_post_init__")
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": klass, "_M": _MISSING}
    params: list[str] = []
    keywords: list[str] = []
    body: list[str] = []
    for i, f in enumerate(fields):
        if f.validator is not None or f.converter is not None:
            raise TypeError(f"{klass.__name__}.{f.name} has a validator or converter")
        if not f.init:
            raise TypeError(f"{klass.__name__}.{f.name} is not an __init__ parameter")
        param = f.alias
        if by_position:
            pass
        elif isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
            if f.default.takes_self:
                raise TypeError(f"{klass.__name__}.{f.name} has a factory that takes self")
            ns[f"_f{i}"] = f.default.factory
            param += "=_M"
            body.append(f"    if {f.alias} is _M: {f.alias} = _f{i}()")
        elif f.default is not attrs.NOTHING:
            ns[f"_d{i}"] = f.default
            param += f"=_d{i}"
        (keywords if f.kw_only and not by_position else params).append(param)
    signature = ", ".join([*params, *(["*", *keywords] if keywords else [])])
    lines = [f"def new({signature}):", *body, "    _r = _new(_cls)"]
    writable = writable_subclass(klass)
    if writable is not None:  # plain slot writes, then the object takes its class
        ns["_W"] = writable
        lines[-1] = "    _r = _W()"
        lines += [f"    _r.{f.name} = {f.alias}" for f in fields]
        lines.append("    _r.__class__ = _cls")
    elif "__slots__" in klass.__dict__:
        for i, f in enumerate(fields):
            ns[f"_s{i}"] = getattr(klass, f.name).__set__
            lines.append(f"    _s{i}(_r, {f.alias})")
    else:
        ns["_setdict"] = dict_setter(klass)
        pairs = ", ".join(f"{f.name!r}: {f.alias}" for f in fields)
        lines.append(f"    _setdict(_r, {{{pairs}}})")
    lines.append("    return _r")
    # the new object is ``_r`` and the namespace's names start with an underscore:
    # no parameter (an alias, which never does) can shadow them
    exec("\n".join(lines), ns)
    fn: Callable[..., Any] = ns["new"]
    fn.__qualname__ = f"{'positional' if by_position else 'new'}[{klass.__name__}]"
    return fn


def evolver(cls: type[T]) -> Callable[..., T]:
    """A function ``evolve(obj, **changes)`` equal to ``attrs.evolve(obj, **changes)``
    for instances of ``cls`` (a slotted attrs class: no validator, converter,
    ``__attrs_post_init__`` or private alias; ``TypeError`` otherwise).

    ``attrs.evolve`` builds a dict of every field and calls ``__init__`` by keyword
    (about 4 µs for a record of ten fields or more); the copy here is filled with
    plain slot writes (``writable_subclass``) and then takes its class, so the result
    is an ordinary, immutable ``cls`` (about 0.6 µs).

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
