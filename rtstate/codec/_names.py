"""The event type names that tell the dialects apart (no codec is built to read them).

``RENAMED`` pairs each beta server event type with its GA name. ``MARKERS`` maps the
type names that only one dialect's server ever sends to that dialect: the six renamed
pairs, and GA's ``conversation.item.added`` (beta announced items with
``conversation.item.created``, which GA's unions still list). Types GA added that late
beta servers also sent (``conversation.item.done``, the transcription deltas,
``output_audio_buffer.*``: Azure's beta traffic in ``tests/data/corpus`` has some) mark
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from ..config import Dialect

__all__ = ["MARKERS", "RENAMED", "detect_dialect", "dialect_of_type", "wrong_dialect_message"]

RENAMED: Final[Mapping[str, str]] = {
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
}
"""Beta server event type -> its GA name (every other shared event keeps its name)."""

MARKERS: Final[Mapping[str, Dialect]] = {
    **{name: "beta" for name in RENAMED},
    **{name: "ga" for name in RENAMED.values()},
    "conversation.item.added": "ga",
}
"""Event type -> the only dialect whose server sends it."""

_NAMES: Final[Mapping[Dialect, str]] = {"beta": "beta", "ga": "GA"}

# keys of a session or response object that only one dialect writes
_SHAPE_KEYS: Final[Mapping[str, Dialect]] = {
    "output_modalities": "ga",
    "audio": "ga",
    "modalities": "beta",
}


def dialect_of_type(event_type: str) -> Dialect | None:
    """The dialect whose server alone sends events of ``event_type`` (``None``: both,
    or neither)."""
    return MARKERS.get(event_type)


def _of_shape(obj: object) -> Dialect | None:
    if not isinstance(obj, dict):
        return None
    found = {_SHAPE_KEYS[key] for key in obj if key in _SHAPE_KEYS}
    return found.pop() if len(found) == 1 else None


def detect_dialect(events: Iterable[Mapping[str, Any]]) -> Dialect | None:
    """The dialect of a stream of decoded JSON events (server, client, or both), from
    the first that tells: a type name in ``MARKERS``, or a ``session`` / ``response``
    object spelled one dialect's way (GA's ``output_modalities`` / ``audio``, beta's
    ``modalities``). ``None``: no event tells."""
    for event in events:
        found = MARKERS.get(event.get("type"))  # type: ignore[arg-type]
        if found is None:
            found = _of_shape(event.get("session")) or _of_shape(event.get("response"))
        if found is not None:
            return found
    return None


def wrong_dialect_message(event_type: str, speaks: Dialect) -> str | None:
    """The message for a frame of the other dialect (``None``: ``event_type`` is not
    one): it names the fix."""
    other = MARKERS.get(event_type)
    if other is None or other == speaks:
        return None
    return (
        f"this frame is {_NAMES[other]} ({event_type}); the connection speaks "
        f"{_NAMES[speaks]}: connect with dialect={other!r} (Config(dialect={other!r}))"
    )
