"""Short, readable descriptions of events and scripts, for falsifying examples.

An event's full repr writes every field of every nested payload: a generated session
prints as hundreds of lines. ``event_line`` writes one line per event instead::

    > response.create event_id=evt_3
    < response.output_audio.delta response_id=resp_1 item_id=item_2 delta='AAAA…'(3200)

``>`` is a client event, ``<`` a server event; then the event's ``type`` and the
fields that differ from their defaults (a server event's own ``event_id`` left out: it
is noise), ids whole and unquoted, other strings cut to 24 characters with their
length, payloads' ``object`` / ``expires_at`` left out, nested payloads shown one
level deep, and the whole line cut to ``width`` characters. ``Script``, ``Flow`` and
the lists ``streams`` gives use these lines as their repr (and as their
``_repr_pretty_``, which hypothesis prints falsifying examples with); the values themselves are
unchanged (``script.events`` holds every field).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

__all__ = ["event_line", "events_repr", "repr_pretty"]

WIDTH: Final = 160
"""The default cut of one line."""

_STRING: Final = 24
_ID: Final = 48  # a string this short without a space is shown whole (ids)
_NOISE: Final = frozenset({"object", "expires_at"})  # payload fields nobody reads


def event_line(direction: str, event: Any, *, width: int = WIDTH) -> str:
    """One line describing ``event``: its direction (``>`` client, ``<`` server),
    ``type`` and non-default fields (see the module docstring)."""
    arrow = ">" if direction == "client" else "<"
    skip = {"type"} if direction == "client" else {"type", "event_id"}
    fields = _fields(event, skip, depth=1)
    line = f"{arrow} {getattr(event, 'type', type(event).__name__)}"
    if fields:
        line = f"{line} {fields}"
    return line if len(line) <= width else line[: width - 1] + "…"


def events_repr(
    name: str, events: Iterable[tuple[str, Any]], *, width: int = WIDTH, tail: str = ""
) -> str:
    """``name(N events:`` then one indented ``event_line`` per event, then ``)``."""
    lines = [event_line(d, e, width=width) for d, e in events]
    body = "".join(f"\n  {line}" for line in lines)
    return f"{name}({len(lines)} events:{body}{tail}\n)" if lines else f"{name}(0 events{tail})"


def repr_pretty(obj: object, printer: Any, cycle: bool) -> None:
    """``obj``'s repr, line by line, for pretty printers (IPython's and hypothesis'
    ``_repr_pretty_`` protocol): hypothesis would otherwise print an attrs value field
    by field, whatever its ``__repr__``."""
    for n, line in enumerate(repr(obj).splitlines()):
        if n:
            printer.break_()
        printer.text(line)


def _fields(value: Any, skip: set[str], depth: int) -> str:
    if not attrs.has(type(value)):
        raw = getattr(value, "raw", None)  # the unknown events keep their frame as a Mapping
        if not isinstance(raw, Mapping):
            return ""
        return " ".join(f"{k}={_value(v, depth + 1)}" for k, v in raw.items() if k != "type")
    shown = []
    for field in attrs.fields(type(value)):
        if field.name in skip or field.name in _NOISE or field.name.startswith("_"):
            continue
        current = getattr(value, field.name)
        if _is_default(field, current):
            continue
        shown.append(f"{field.name}={_value(current, depth)}")
    return " ".join(shown) if depth == 1 else ", ".join(shown)


def _is_default(field: attrs.Attribute[Any], value: Any) -> bool:
    if value is None or (isinstance(value, enum.Enum) and value.name == "UNSET"):
        return True
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return isinstance(value, tuple | list | Mapping | frozenset) and not value
    try:
        return bool(default is not attrs.NOTHING and value == default)
    except Exception:
        return False


def _value(value: Any, depth: int) -> str:
    if isinstance(value, str):
        if len(value) <= _STRING or (len(value) <= _ID and " " not in value):
            return value if value.isidentifier() else repr(value)  # ids whole, unquoted
        return f"{value[:_STRING]!r}…({len(value)})"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, bool | int | float):
        return repr(value)
    if attrs.has(type(value)):
        if depth >= 2:
            return f"{type(value).__name__}(…)"
        return f"{type(value).__name__}({_fields(value, set(), depth + 1)})"
    if isinstance(value, Mapping):
        return f"{{{len(value)} keys}}" if depth >= 2 or len(value) > 4 else _mapping(value)
    if isinstance(value, tuple | list | frozenset):
        items = list(value)
        if len(items) <= 3 and all(isinstance(i, str | int | float) for i in items):
            return "[" + ", ".join(_value(i, depth + 1) for i in items) + "]"
        if len(items) == 1 and depth < 2:
            return f"[{_value(items[0], depth + 1)}]"
        return f"[{len(items)}]"
    return repr(value)


def _mapping(value: Mapping[Any, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_value(v, 2)}" for k, v in value.items()) + "}"
