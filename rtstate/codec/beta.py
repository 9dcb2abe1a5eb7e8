"""The beta (``OpenAI-Beta: realtime=v1``, ``2024-10-01``) wire codec.

``decode_server(frame)`` and ``decode_client(frame)`` turn one WebSocket text message
into an event value; ``encode(event)`` turns an event back into one message.

A tagged union on ``type``: ``SERVER_TAGS`` / ``CLIENT_TAGS`` map every wire type to
its class, and one strict cattrs converter does the rest. An unknown ``type`` decodes
to ``UnknownServerEvent`` / ``UnknownClientEvent`` holding the raw object. Unknown
fields are ignored. Anything else that is wrong with a frame raises
``RemoteProtocolError`` (with the event type, the field path and an excerpt); encoding
an event that could not be decoded again raises ``LocalProtocolError``. No other
exception escapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from ..errors import LocalProtocolError, RemoteProtocolError
from ..events.client import CLIENT_EVENT_TYPES, ClientEvent, UnknownClientEvent
from ..events.server import SERVER_EVENT_TYPES, ServerEvent, UnknownServerEvent
from ._converter import dumps, excerpt, fault_path, loads, make_converters

__all__ = [
    "CLIENT_TAGS",
    "SERVER_TAGS",
    "decode_client",
    "decode_server",
    "encode",
    "to_wire",
]

SERVER_TAGS: Final[Mapping[str, type[ServerEvent]]] = {c.type: c for c in SERVER_EVENT_TYPES}
"""Wire ``type`` -> server event class."""

CLIENT_TAGS: Final[Mapping[str, type[ClientEvent]]] = {c.type: c for c in CLIENT_EVENT_TYPES}
"""Wire ``type`` -> client event class."""

_CONVERTERS = make_converters()
_FAST = _CONVERTERS.fast
_DETAILED = _CONVERTERS.detailed

E = TypeVar("E", ServerEvent, ClientEvent)
_Hook = Callable[[Any, Any], Any]


def _hooks(tags: Mapping[str, type[E]]) -> dict[str, tuple[type[E], _Hook]]:
    return {tag: (cls, _FAST.get_structure_hook(cls)) for tag, cls in tags.items()}


_SERVER_HOOKS = _hooks(SERVER_TAGS)
_CLIENT_HOOKS = _hooks(CLIENT_TAGS)


def _tag(raw: dict[str, Any], frame: str | bytes) -> str:
    tag = raw.get("type")
    if tag.__class__ is str:
        return tag
    problem = "has no 'type'" if tag is None else "has a 'type' that is not a string"
    raise RemoteProtocolError(f"event {problem}", path="type", excerpt=excerpt(frame))


def _explain(raw: dict[str, Any], cls: type, tag: str, frame: str | bytes) -> RemoteProtocolError:
    try:
        _DETAILED.structure(raw, cls)
    except Exception as exc:  # cattrs reports every fault as an exception group
        path, description = fault_path(exc)
    else:  # pragma: no cover - the fast and detailed converters agree
        path, description = None, "invalid event"
    return RemoteProtocolError(
        f"invalid {tag!r} event: {description}", event_type=tag, path=path, excerpt=excerpt(frame)
    )


def decode_server(frame: str | bytes) -> ServerEvent | UnknownServerEvent:
    """Decode one server frame.

    Raises:
        RemoteProtocolError: the frame is not a JSON object, has no string ``type``,
            or a known event lacks a required field or has one of the wrong type.
    """
    raw = loads(frame)
    tag = raw.get("type")
    entry = _SERVER_HOOKS.get(tag) if tag.__class__ is str else None
    if entry is None:
        return UnknownServerEvent(type=_tag(raw, frame), raw=raw)
    cls, hook = entry
    try:
        return hook(raw, cls)  # type: ignore[no-any-return]
    except Exception:
        raise _explain(raw, cls, cls.type, frame) from None


def decode_client(frame: str | bytes) -> ClientEvent | UnknownClientEvent:
    """Decode one client frame (what the server role reads).

    Raises:
        RemoteProtocolError: as ``decode_server``.
    """
    raw = loads(frame)
    tag = raw.get("type")
    entry = _CLIENT_HOOKS.get(tag) if tag.__class__ is str else None
    if entry is None:
        return UnknownClientEvent(type=_tag(raw, frame), raw=raw)
    cls, hook = entry
    try:
        return hook(raw, cls)  # type: ignore[no-any-return]
    except Exception:
        raise _explain(raw, cls, cls.type, frame) from None


AnyEvent = ServerEvent | ClientEvent | UnknownServerEvent | UnknownClientEvent


def to_wire(event: AnyEvent) -> dict[str, Any]:
    """The JSON object for an event (``None`` optionals left out), checked to decode again.

    Raises:
        LocalProtocolError: a field holds a value of the wrong type, so the result
            would not be a valid frame.
    """
    if isinstance(event, UnknownServerEvent | UnknownClientEvent):
        return dict(event.raw)
    cls = type(event)
    tag = getattr(cls, "type", None)
    if tag.__class__ is not str or (
        SERVER_TAGS.get(tag) is not cls and CLIENT_TAGS.get(tag) is not cls
    ):
        raise LocalProtocolError(f"{cls.__name__} is not an event of the beta protocol")
    try:
        obj: dict[str, Any] = _FAST.unstructure(event)
    except Exception as exc:
        raise LocalProtocolError(
            f"cannot encode {cls.__name__}: {exc}", event_type=cls.type
        ) from None
    obj["type"] = cls.type
    try:
        _FAST.structure(obj, cls)
    except Exception:
        try:
            _DETAILED.structure(obj, cls)
        except Exception as exc:
            path, description = fault_path(exc)
        else:  # pragma: no cover
            path, description = None, "invalid event"
        raise LocalProtocolError(
            f"cannot encode {cls.__name__}: {description}", event_type=cls.type, path=path
        ) from None
    return obj


def encode(event: AnyEvent) -> str:
    """Encode one event as a JSON text frame.

    Raises:
        LocalProtocolError: the event holds values that do not make a valid frame.
    """
    return dumps(to_wire(event))
