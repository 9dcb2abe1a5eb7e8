"""The frames of a response's delta events, written from a template the codec wrote.

A response writes hundreds of deltas of one part (text, transcript, audio, arguments)
whose fields are the same but for three: ``event_id``, ``delta`` and (GA)
``obfuscation``. ``DeltaWriter`` has the codec encode one event of the stream with a
marker in each of those fields, once, and then writes each delta's frame by putting the
JSON strings of its three values where the markers were: the codec's own key order,
spelling and null table, without building the JSON object again. It also builds the
event itself (the server folds it), by position.

tests/server/test_wire.py holds every frame it writes equal, byte for byte, to the
codec's ``encode`` of the same event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import attrs
import orjson

from .._build import positional
from ..events import server as s

__all__ = ["DeltaWriter"]

_MARKS: Final = ("\x00event_id\x00", "\x00delta\x00", "\x00obfuscation\x00")
"""What the template event holds in the fields a delta's frame fills in."""

_B64_SAFE: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


_BUILDERS: Final[dict[type, Callable[..., Any]]] = {}


def _builder(cls: type[s.ServerEvent]) -> Callable[..., Any]:
    """``cls`` built by position (``rtstate._build.positional``), made once per class."""
    build = _BUILDERS.get(cls)
    if build is None:
        build = _BUILDERS[cls] = positional(cls)
    return build


def _json_str(text: str) -> str:
    """``text`` as a JSON string, as orjson writes it (raises what orjson raises)."""
    return orjson.dumps(text).decode("utf-8")


class DeltaWriter:
    """The frames and events of one stream of deltas (one event class, the same fields
    but for ``event_id``, ``delta`` and ``obfuscation``).

    ``fixed`` are the other fields' values, in the class's field order (after
    ``event_id``, before ``delta``); ``obfuscated``: the stream's events carry an
    ``obfuscation`` (GA text-bearing deltas), else it is left ``None``. ``encode`` is
    the codec's (``Codec.encode_unchecked``): it writes the template, once.
    """

    __slots__ = ("_build", "_field", "_fixed", "_head", "_mid", "_middle", "_obfuscated", "_tail")

    def __init__(
        self,
        encode: Callable[[s.ServerEvent], str],
        cls: type[s.ServerEvent],
        fixed: tuple[Any, ...],
        *,
        obfuscated: bool,
    ) -> None:
        self._build = _builder(cls)
        self._fixed = fixed
        self._obfuscated = obfuscated
        self._field = "obfuscation" in attrs.fields_dict(cls)  # left None unless obfuscated
        if obfuscated and not self._field:
            raise TypeError(f"{cls.__name__} has no obfuscation")
        marks: tuple[str, ...] = _MARKS if obfuscated else _MARKS[:2]
        template = encode(self.event(marks[0], marks[1], marks[2] if obfuscated else None))
        pieces: list[str] = []
        rest = template
        for mark in marks:  # the codec writes fields in definition order
            before, found, rest = rest.partition(_json_str(mark))
            if not found or _json_str(mark) in rest:
                raise ValueError(f"{cls.__name__}: no single {mark!r} in its frame {template!r}")
            pieces.append(before)
        self._head = pieces[0]  # ... "event_id":
        self._mid = pieces[1]  # ... "delta":
        self._middle = pieces[2] if obfuscated else ""  # ,"obfuscation":
        self._tail = rest

    def event(self, event_id: str, delta: str, obfuscation: str | None) -> Any:
        """The delta event (built by position: the class has no validators)."""
        if self._field:
            return self._build(event_id, *self._fixed, delta, obfuscation)
        return self._build(event_id, *self._fixed, delta)

    def frame(self, event_id: str, delta: str, obfuscation: str | None) -> str:
        """The codec's frame of ``event(event_id, delta, obfuscation)``.

        ``obfuscation`` is letters and digits (as the runner's ``_obfuscation`` makes
        it): it is written as it is.

        Raises:
            orjson.JSONEncodeError: a value cannot be written (a lone surrogate).
        """
        head = self._head + _json_str(event_id) + self._mid + _json_str(delta)
        if self._obfuscated:
            assert obfuscation is not None
            return head + self._middle + '"' + obfuscation + '"' + self._tail
        return head + self._tail

    def audio_frame(self, event_id: str, delta: str) -> str:
        """``frame`` of an audio delta whose ``delta`` is base64 text (as
        ``rtstate.server.audio`` renders it: nothing in it is escaped in JSON, so it is
        written as it is)."""
        return self._head + _json_str(event_id) + self._mid + '"' + delta + '"' + self._tail


def is_base64_text(text: str) -> bool:
    """``text`` holds base64 characters only (what ``DeltaWriter.audio_frame`` takes
    as it is). For tests and assertions: the renderer's output always does."""
    return _B64_SAFE.issuperset(text)
