"""One ``__repr__`` shared by the many small frozen classes of the core (events, payloads,
transitions, state, steps).

attrs compiles a ``__repr__`` for each class it builds, and across these ~180 classes
that compiling was about a fifth of ``import rtstate``
(``benchmarks/bench_import.py``). Those classes say ``repr=False`` and take
``fields_repr`` (from their base class, or in their own body). It writes what attrs'
own would: the class name and every field as ``name=repr(value)``, leaving out a field
declared ``repr=False`` and formatting with a field's ``repr`` callable where it has one
(``tests/core/test_repr.py`` compares the two for every class).
"""

from __future__ import annotations

import attrs
from attrs import AttrsInstance

__all__ = ["fields_repr"]


def fields_repr(self: AttrsInstance) -> str:
    """``ClassName(field=value, ...)``, as attrs writes it."""
    cls = type(self)
    shown = []
    for field in attrs.fields(cls):
        how = field.repr
        if how is False:
            continue
        value = getattr(self, field.name)
        shown.append(f"{field.name}={how(value) if callable(how) else repr(value)}")
    return f"{cls.__qualname__.rsplit('>.', 1)[-1]}({', '.join(shown)})"
