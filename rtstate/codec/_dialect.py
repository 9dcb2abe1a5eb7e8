"""The tagged-union codec every dialect is: tag tables over one strict converter pair.

``make_codec`` takes a dialect's name, its tables (wire ``type`` -> event class, both
directions) and its converters (``_converter.make_converters()``, plus whatever shape
hooks the dialect registers on them) and returns a ``Codec`` whose functions decode and
encode frames. The beta and GA modules are each one call of it; only their tables and
shape hooks differ.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import orjson

from ..errors import LocalProtocolError, RemoteProtocolError
from ..events.client import ClientEvent, UnknownClientEvent
from ..events.server import ServerEvent, UnknownServerEvent
from ._converter import Converters, RefusedValue, dumps, excerpt, fault_path, loads
from ._typed import Reshape, typed_decoder

__all__ = ["AnyEvent", "Codec", "make_codec"]

AnyEvent = ServerEvent | ClientEvent | UnknownServerEvent | UnknownClientEvent
E = TypeVar("E", ServerEvent, ClientEvent)
_Hook = Callable[[Any, Any], Any]
_orjson_loads: Callable[[str | bytes], Any] = orjson.loads
_orjson_dumps: Callable[[Any], bytes] = orjson.dumps


@attrs.frozen
class Codec:
    """One dialect's functions and tables (see ``rtstate.codec.beta`` for their contracts).

    ``wire_path`` spells a field path of the event classes (``session.turn_detection``)
    the way the dialect's frames do (GA: ``session.audio.input.turn_detection``).
    ``reference_decode_server`` / ``reference_decode_client`` are the plain decodes
    (orjson, then the strict cattrs converter) that the typed decoders
    (``rtstate.codec._typed``) must agree with, and fall back to.
    """

    name: str
    server_tags: Mapping[str, type[ServerEvent]]
    client_tags: Mapping[str, type[ClientEvent]]
    decode_server: Callable[[str | bytes], ServerEvent | UnknownServerEvent]
    decode_client: Callable[[str | bytes], ClientEvent | UnknownClientEvent]
    to_wire: Callable[[AnyEvent], dict[str, Any]]
    encode: Callable[[AnyEvent], str]
    encode_unchecked: Callable[[AnyEvent], str]
    wire_path: Callable[[str | None], str | None] = lambda path: path
    reference_decode_server: Callable[[str | bytes], ServerEvent | UnknownServerEvent] | None = None
    reference_decode_client: Callable[[str | bytes], ClientEvent | UnknownClientEvent] | None = None


def _tag(raw: dict[str, Any], frame: str | bytes) -> str:
    tag = raw.get("type")
    if tag.__class__ is str:
        return tag
    problem = "has no 'type'" if tag is None else "has a 'type' that is not a string"
    raise RemoteProtocolError(f"event {problem}", path="type", excerpt=excerpt(frame))


def make_codec(
    name: str,
    server_tags: Mapping[str, type[ServerEvent]],
    client_tags: Mapping[str, type[ClientEvent]],
    converters: Converters,
    wire_path: Callable[[str | None], str | None] = lambda path: path,
    *,
    translated: tuple[type, ...] = (),
    reshape: Mapping[type, Reshape] | None = None,
) -> Codec:
    """Build a dialect's codec.

    ``server_tags`` / ``client_tags`` map each wire ``type`` the dialect decodes to its
    class; several tags may share a class, and the first tag listed for a class is the
    one it is encoded with. ``wire_path`` turns the field path of a fault (as the
    converter names it) into the dialect's own spelling, for error messages.
    ``translated`` names the payload classes the dialect's converters translate with
    hooks of their own: the typed decoders read them through the converter, or typed
    where ``reshape`` says how.
    """
    fast, detailed = converters.fast, converters.detailed
    unstructure_server = converters.server.unstructure
    unstructure_client = fast.unstructure

    def hooks(tags: Mapping[str, type[E]]) -> dict[str, tuple[type[E], str, _Hook]]:
        return {tag: (cls, tag, fast.get_structure_hook(cls)) for tag, cls in tags.items()}

    server_hooks = hooks(server_tags)
    client_hooks = hooks(client_tags)
    wire_type: dict[type, str] = {}
    for tags in (server_tags, client_tags):
        for tag, cls in tags.items():
            wire_type.setdefault(cls, tag)

    def fault(obj: dict[str, Any], cls: type) -> tuple[str | None, str]:
        """The (wire path, description) of why ``obj`` does not structure as ``cls``."""
        try:
            detailed.structure(obj, cls)
        except Exception as exc:  # cattrs reports every fault as an exception group
            path, description = fault_path(exc)
        else:  # pragma: no cover - the fast and detailed converters agree
            path, description = None, "invalid event"
        return wire_path(path), description

    def explain(raw: dict[str, Any], cls: type, tag: str, frame: str | bytes) -> Exception:
        path, description = fault(raw, cls)
        return RemoteProtocolError(
            f"invalid {tag!r} event: {description}",
            event_type=tag,
            path=path,
            excerpt=excerpt(frame),
        )

    def decoder(
        name: str, hooks: Mapping[str, tuple[type, str, _Hook]], unknown: type, doc: str
    ) -> Callable[[str | bytes], Any]:
        """The decode function of one direction: its tag table, its Unknown class."""

        def decode(frame: str | bytes) -> Any:
            try:  # orjson inline: one call less on every frame
                raw = _orjson_loads(frame)
            except Exception:
                raw = None
            if raw.__class__ is not dict:
                raw = loads(frame)  # raises the RemoteProtocolError that says why
            tag = raw.get("type")
            entry = hooks.get(tag) if tag.__class__ is str else None
            if entry is None:
                return unknown(type=_tag(raw, frame), raw=raw)
            cls, tag, hook = entry
            try:
                return hook(raw, cls)
            except Exception:
                raise explain(raw, cls, tag, frame) from None

        decode.__name__ = decode.__qualname__ = name
        decode.__doc__ = doc
        return decode

    decode_server = decoder(
        "decode_server",
        server_hooks,
        UnknownServerEvent,
        """Decode one server frame.

        Raises:
            RemoteProtocolError: the frame is not a JSON object, has no string ``type``,
                or a known event lacks a required field or has one of the wrong type.
        """,
    )
    decode_client = decoder(
        "decode_client",
        client_hooks,
        UnknownClientEvent,
        """Decode one client frame (what the server role reads).

        Raises:
            RemoteProtocolError: as ``decode_server``.
        """,
    )

    def unchecked(event: AnyEvent) -> dict[str, Any]:
        """The JSON object for an event, not checked to decode again."""
        if isinstance(event, UnknownServerEvent | UnknownClientEvent):
            return dict(event.raw)
        cls = type(event)
        tag = wire_type.get(cls)
        if tag is None:
            raise LocalProtocolError(f"{cls.__name__} is not an event of the {name} protocol")
        try:
            unstructure = (
                unstructure_server if isinstance(event, ServerEvent) else unstructure_client
            )
            obj: dict[str, Any] = unstructure(event)
        except RefusedValue as exc:
            raise LocalProtocolError(
                f"cannot encode {cls.__name__}: {exc}", event_type=cls.type, path=exc.path_in(event)
            ) from None
        except Exception as exc:
            raise LocalProtocolError(
                f"cannot encode {cls.__name__}: {exc}", event_type=cls.type
            ) from None
        # ``type`` first, as the real service writes it: a typed decoder reads a frame
        # in one pass when its tag comes first (msgspec scans ahead for a later one)
        return {"type": tag, **obj}

    def to_wire(event: AnyEvent) -> dict[str, Any]:
        """The JSON object for an event, checked to decode again.

        ``None`` optionals are left out, except in a server event where the dialect's
        null table (``rtstate.codec._shapes``) says the real service writes ``null``.

        Raises:
            LocalProtocolError: a field holds a value of the wrong type, or one the
                dialect cannot carry, so the result would not be a valid frame.
        """
        obj = unchecked(event)
        if isinstance(event, UnknownServerEvent | UnknownClientEvent):
            return obj
        cls = type(event)
        try:
            fast.structure(obj, cls)
        except Exception:
            path, description = fault(obj, cls)
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

    server_out: dict[type, tuple[str, Callable[[Any], dict[str, Any]]]] = {}
    get_server_hook = converters.server.get_unstructure_hook

    def encode_unchecked(event: AnyEvent) -> str:
        """Encode an event its caller built from typed values (the fake server's own),
        without checking that the frame decodes again: for a valid event, the frame
        ``encode`` writes.

        Raises:
            LocalProtocolError: a value cannot be written at all (not JSON-able, or
                one the dialect cannot carry).
        """
        cls = event.__class__
        entry = server_out.get(cls)
        if entry is not None:  # a server event's hook, found once per class
            tag, hook = entry
            try:
                return _orjson_dumps({"type": tag, **hook(event)}).decode("utf-8")
            except Exception:  # the plain path below raises what it is
                pass
        elif issubclass(cls, ServerEvent) and cls in wire_type:
            server_out[cls] = (wire_type[cls], get_server_hook(cls))
        return dumps(unchecked(event))

    typed_server = typed_decoder(server_tags, fast, decode_server, translated, reshape)
    typed_client = typed_decoder(client_tags, fast, decode_client, translated, reshape)
    for typed, plain in ((typed_server, decode_server), (typed_client, decode_client)):
        typed.__name__ = typed.__qualname__ = plain.__name__
        typed.__doc__ = plain.__doc__
    return Codec(
        name=name,
        server_tags=server_tags,
        client_tags=client_tags,
        decode_server=typed_server,
        decode_client=typed_client,
        reference_decode_server=decode_server,
        reference_decode_client=decode_client,
        to_wire=to_wire,
        encode=encode,
        encode_unchecked=encode_unchecked,
        wire_path=wire_path,
    )
