"""The GA wire codec: the Realtime protocol every OpenAI endpoint speaks since May 2026.

Same interface as ``rtstate.codec.beta``: ``decode_server(frame)``, ``decode_client(frame)``,
``encode(event)``, ``to_wire(event)``, ``SERVER_TAGS``, ``CLIENT_TAGS``, with the same
errors. GA frames decode into the same event and payload classes as beta frames wherever
the meaning is the same, so the state never sees a GA spelling:

* renamed events: ``response.output_text.*``, ``response.output_audio.*`` and
  ``response.output_audio_transcript.*`` are ``ResponseText*``, ``ResponseAudio*`` and
  ``ResponseAudioTranscript*``;
* the session's nested ``audio.input`` / ``audio.output`` blocks are the flat
  ``SessionConfig`` fields (``input_audio_format``, ``voice``, ``turn_detection``, ...);
  format objects (``{"type": "audio/pcm", "rate": 24000}``, ``audio/pcmu``,
  ``audio/pcma``) are the format names ``pcm16``, ``g711_ulaw``, ``g711_alaw``;
  ``output_modalities`` is ``modalities`` (GA's ``["audio"]``, audio with its
  transcript, is ``("audio", "text")``); ``max_output_tokens`` is
  ``max_response_output_tokens``; the session's ``type`` is written ``"realtime"``;
* response objects and ``response.create`` parameters likewise (``audio.output``);
* assistant content ``output_text`` / ``output_audio`` is ``text`` / ``audio``;
* a tool that is not a function (``{"type": "mcp", "server_label": ...}``: a remote
  MCP server) is an ``ExtensionTool`` holding its fields verbatim, in a session's or
  a ``response.create``'s ``tools`` (the beta codec refuses them: beta had function
  tools only); a ``tool_choice`` naming one (``{"type": "mcp", "server_label": ...,
  "name": ...}``, ``name`` optional) is a ``ToolChoiceMcp`` (the beta codec refuses it
  too, at ``tool_choice.type``); a user's ``input_image`` part keeps its ``image_url``
  and ``detail``.

GA-only events have their own classes (``events.server.GA_SERVER_EVENT_TYPES``,
``events.client.GA_CLIENT_EVENT_TYPES``): every type of the official SDK's
``RealtimeServerEvent`` and ``RealtimeClientEvent`` unions decodes to a typed class
(DTMF and the eight MCP events included; ``tests/codec/test_ga_sdk_coverage.py`` checks it
against the installed SDK, field by field). Any other type decodes as
``UnknownServerEvent`` / ``UnknownClientEvent``; fields no class declares are ignored.

Every setting a GA session or ``response.create`` carries survives a decode and an
encode: ``tracing`` (``null``, tracing off, is not "absent": ``UNSET`` is),
``truncation``, ``prompt``, ``include``, ``reasoning``, ``parallel_tool_calls``,
the transcription's ``delay`` / ``keywords`` / ``languages``, and the session's
``type`` (``"transcription"`` is kept; ``"realtime"``, the default, decodes as
``None``, as a beta session, and ``None`` is written ``"realtime"``). MCP items
keep their fields (``Item.server_label``, ``tools``, ``approval_request_id``,
``approve``, ``reason``, ``error``).

GA has no ``temperature``: encoding an event that sets one raises
``LocalProtocolError``. The state keeps a user's image (``PartState.image_url``,
``detail``) and ``plan_reconnect`` replays it. A ``tool_choice``
object of any type but ``function`` and ``mcp`` does not decode.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import cattrs
import msgspec

from ..events.client import CLIENT_EVENT_TYPES, GA_CLIENT_EVENT_TYPES, ClientEvent
from ..events.payloads import ContentPart, Item, ResponseInfo, ResponseParams, SessionConfig
from ..events.server import GA_SERVER_EVENT_TYPES, SERVER_EVENT_TYPES, ServerEvent
from ._converter import Converters, make_converters
from ._dialect import AnyEvent, make_codec
from ._names import RENAMED
from ._shapes import GA_NULLS
from ._typed import Reshape

__all__ = [
    "CLIENT_TAGS",
    "CODEC",
    "RENAMED",
    "SERVER_TAGS",
    "UNMODELLED_SERVER_TYPES",
    "AnyEvent",
    "decode_client",
    "decode_server",
    "encode",
    "to_wire",
]

SERVER_TAGS: Final[Mapping[str, type[ServerEvent]]] = {
    RENAMED.get(cls.type, cls.type): cls for cls in (*SERVER_EVENT_TYPES, *GA_SERVER_EVENT_TYPES)
}
"""GA wire ``type`` -> server event class."""

CLIENT_TAGS: Final[Mapping[str, type[ClientEvent]]] = {
    cls.type: cls for cls in (*CLIENT_EVENT_TYPES, *GA_CLIENT_EVENT_TYPES)
}
"""GA wire ``type`` -> client event class (the beta nine keep their names)."""

UNMODELLED_SERVER_TYPES: Final[frozenset[str]] = frozenset()
"""GA server events of the SDK's union decoded as ``UnknownServerEvent``: none since
DTMF and the MCP events got their classes (kept so code that reads it still works)."""

# --- the value tables -----------------------------------------------------------------

_FORMAT_IN: Final[Mapping[str, str]] = {
    "audio/pcm": "pcm16",
    "audio/pcmu": "g711_ulaw",
    "audio/pcma": "g711_alaw",
}
_FORMAT_OUT: Final[Mapping[str, Mapping[str, Any]]] = {
    "pcm16": {"type": "audio/pcm", "rate": 24000},
    "g711_ulaw": {"type": "audio/pcmu"},
    "g711_alaw": {"type": "audio/pcma"},
}
_MODALITIES_IN: Final[Mapping[tuple[str, ...], list[str]]] = {("audio",): ["audio", "text"]}
_MODALITIES_OUT: Final[Mapping[tuple[str, ...], list[str]]] = {
    ("audio", "text"): ["audio"],
    ("text", "audio"): ["audio"],
}
_PART_IN: Final[Mapping[str, str]] = {"output_text": "text", "output_audio": "audio"}
_PART_OUT: Final[Mapping[str, str]] = {"text": "output_text", "audio": "output_audio"}

# The fields spelled alike in both dialects, per payload.
_SESSION_SAME: Final = (
    "id",
    "object",
    "model",
    "expires_at",
    "instructions",
    "tools",
    "tool_choice",
    "include",
    "tracing",
    "truncation",
    "prompt",
    "type",
    "parallel_tool_calls",
    "reasoning",
)
_RESPONSE_SAME: Final = (
    "id",
    "object",
    "status",
    "status_details",
    "output",
    "usage",
    "metadata",
    "conversation_id",
    "max_output_tokens",
)
_PARAMS_SAME: Final = (
    "instructions",
    "tools",
    "tool_choice",
    "conversation",
    "metadata",
    "input",
    "prompt",
    "parallel_tool_calls",
    "reasoning",
)
# realtime-session settings a transcription session has no key for: the server's null
# table writes them ``null`` when unset, which a transcription session leaves out
_REALTIME_ONLY_NULLS: Final = ("prompt", "tracing")
# (GA name, model field) renamed at the top level of a session or response parameters
# (``output_modalities`` -> ``modalities``, which also translates its value, is in all three)
_MAX_TOKENS: Final = (("max_output_tokens", "max_response_output_tokens"),)

# (GA key in audio.input / audio.output, model field, value translation)
_Convert = Callable[[Any], Any]
_AUDIO_INPUT: Final[tuple[tuple[str, str, bool], ...]] = (
    ("format", "input_audio_format", True),
    ("transcription", "input_audio_transcription", False),
    ("noise_reduction", "input_audio_noise_reduction", False),
    ("turn_detection", "turn_detection", False),
)
_AUDIO_OUTPUT: Final[tuple[tuple[str, str, bool], ...]] = (
    ("format", "output_audio_format", True),
    ("voice", "voice", False),
    ("speed", "speed", False),
)
_PARAMS_AUDIO_OUTPUT: Final = _AUDIO_OUTPUT[:2]

_SESSION_PATHS: Final[Mapping[str, str]] = {
    "modalities": "output_modalities",
    "max_response_output_tokens": "max_output_tokens",
    **{model: f"audio.input.{ga}" for ga, model, _ in _AUDIO_INPUT},
    **{model: f"audio.output.{ga}" for ga, model, _ in _AUDIO_OUTPUT},
}
"""Model field -> its GA path inside a session or a response object, for error messages."""


def _object(value: object, what: str) -> dict[str, Any]:
    if value.__class__ is not dict:
        raise TypeError(f"expected an object for {what}, got {type(value).__name__}")
    return typing.cast("dict[str, Any]", value)


def _format_in(value: object) -> object:
    """A GA format object -> the format name (an unknown type is kept as given)."""
    if value is None or value.__class__ is str:
        return value
    kind = _object(value, "an audio format").get("type")
    if kind.__class__ is not str:
        raise TypeError("an audio format needs a string 'type'")
    return _FORMAT_IN.get(kind, kind)


def _format_out(name: str) -> Mapping[str, Any]:
    return dict(_FORMAT_OUT.get(name) or {"type": name})


def _modalities_in(value: object) -> object:
    if value.__class__ is list:
        return _MODALITIES_IN.get(tuple(typing.cast("list[str]", value)), value)
    return value


def _modalities_out(value: list[str]) -> list[str]:
    return _MODALITIES_OUT.get(tuple(value), value)


def _copy(raw: Mapping[str, Any], names: tuple[str, ...], out: dict[str, Any]) -> None:
    for name in names:
        if name in raw:
            out[name] = raw[name]


def _audio_in(block: object, table: tuple[tuple[str, str, bool], ...], out: dict[str, Any]) -> None:
    if block is None:
        return
    block = _object(block, "an audio block")
    for ga, model, is_format in table:
        if ga in block:
            value = block[ga]
            out[model] = _format_in(value) if is_format else value


def _audio_out(obj: Mapping[str, Any], table: tuple[tuple[str, str, bool], ...]) -> dict[str, Any]:
    block: dict[str, Any] = {}
    for ga, model, is_format in table:
        if model in obj:
            value = obj[model]
            block[ga] = _format_out(value) if is_format and value.__class__ is str else value
    return block


def _no_temperature(obj: Mapping[str, Any]) -> None:
    if "temperature" in obj:
        raise ValueError("the GA protocol has no 'temperature'")


def _top_in(
    raw: Mapping[str, Any], same: tuple[str, ...], renamed: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    """A session's, response's or response parameters' top-level fields, GA -> model."""
    out: dict[str, Any] = {}
    _copy(raw, same, out)
    if "output_modalities" in raw:
        out["modalities"] = _modalities_in(raw["output_modalities"])
    for ga, model in renamed:
        if ga in raw:
            out[model] = raw[ga]
    return out


def _top_out(
    obj: Mapping[str, Any],
    same: tuple[str, ...],
    renamed: tuple[tuple[str, str], ...],
    out: dict[str, Any],
) -> dict[str, Any]:
    """``_top_in`` the other way, into ``out`` (GA has no ``temperature``)."""
    _no_temperature(obj)
    _copy(obj, same, out)
    if "modalities" in obj:
        out["output_modalities"] = _modalities_out(obj["modalities"])
    for ga, model in renamed:
        if model in obj:
            out[ga] = obj[model]
    return out


# --- session --------------------------------------------------------------------------


def _session_in(value: object) -> dict[str, Any]:
    raw = _object(value, "the session")
    out = _top_in(raw, _SESSION_SAME, _MAX_TOKENS)
    if out.get("type") == "realtime":  # the default: as a beta session, no type
        del out["type"]
    audio = raw.get("audio")
    if audio is not None:
        audio = _object(audio, "session.audio")
        _audio_in(audio.get("input"), _AUDIO_INPUT, out)
        _audio_in(audio.get("output"), _AUDIO_OUTPUT, out)
    return out


def _session_out(obj: dict[str, Any]) -> dict[str, Any]:
    out = _top_out(obj, _SESSION_SAME, _MAX_TOKENS, {"type": "realtime"})
    audio = {}
    for key, table in (("input", _AUDIO_INPUT), ("output", _AUDIO_OUTPUT)):
        block = _audio_out(obj, table)
        if block:
            audio[key] = block
    if audio:
        out["audio"] = audio
    if out["type"] == "transcription":
        for name in _REALTIME_ONLY_NULLS:
            if name in out and out[name] is None:
                del out[name]
    return out


# --- responses ------------------------------------------------------------------------


def _response_in(
    value: object, what: str, same: tuple[str, ...], renamed: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    raw = _object(value, what)
    out = _top_in(raw, same, renamed)
    audio = raw.get("audio")
    if audio is not None:
        _audio_in(_object(audio, "audio").get("output"), _PARAMS_AUDIO_OUTPUT, out)
    return out


def _response_out(
    obj: dict[str, Any], same: tuple[str, ...], renamed: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    out = _top_out(obj, same, renamed, {})
    block = _audio_out(obj, _PARAMS_AUDIO_OUTPUT)
    if block:
        out["audio"] = {"output": block}
    return out


def _info_in(value: object) -> dict[str, Any]:
    return _response_in(value, "the response", _RESPONSE_SAME, ())


def _info_out(obj: dict[str, Any]) -> dict[str, Any]:
    return _response_out(obj, _RESPONSE_SAME, ())


def _params_in(value: object) -> dict[str, Any]:
    return _response_in(value, "the response parameters", _PARAMS_SAME, _MAX_TOKENS)


def _params_out(obj: dict[str, Any]) -> dict[str, Any]:
    return _response_out(obj, _PARAMS_SAME, _MAX_TOKENS)


# --- content --------------------------------------------------------------------------


def _part_in(value: object) -> object:
    if value.__class__ is dict:
        part = typing.cast("dict[str, Any]", value)
        renamed = _PART_IN.get(part.get("type"))  # type: ignore[arg-type]
        if renamed is not None:
            return {**part, "type": renamed}
    return value


def _item_out(obj: dict[str, Any]) -> dict[str, Any]:
    content = obj.get("content")
    if content:
        obj["content"] = [
            {**p, "type": _PART_OUT[p["type"]]} if p.get("type") in _PART_OUT else p
            for p in content
        ]
    return obj


# --- the converters -------------------------------------------------------------------


def _wrap_structure(conv: cattrs.Converter, cls: type, translate: _Convert) -> None:
    base = conv.get_structure_hook(cls)

    def structure(value: object, _: object) -> Any:
        return base(translate(value), cls)

    conv.register_structure_hook(cls, structure)


def _wrap_unstructure(conv: cattrs.Converter, cls: type, translate: _Convert) -> None:
    base = conv.get_unstructure_hook(cls)

    def unstructure(value: object) -> Any:
        return translate(base(value))

    conv.register_unstructure_hook(cls, unstructure)


def _ga_converters() -> Converters:
    converters = make_converters(extension_tools=True, nulls=GA_NULLS)
    for conv in (converters.fast, converters.detailed, converters.server):
        # leaves first: the hooks generated later for their containers pick these up
        _wrap_structure(conv, ContentPart, _part_in)
        _wrap_unstructure(conv, Item, _item_out)
        _wrap_structure(conv, SessionConfig, _session_in)
        _wrap_unstructure(conv, SessionConfig, _session_out)
        _wrap_structure(conv, ResponseInfo, _info_in)
        _wrap_unstructure(conv, ResponseInfo, _info_out)
        _wrap_structure(conv, ResponseParams, _params_in)
        _wrap_unstructure(conv, ResponseParams, _params_out)
    return converters


def _wire_path(path: str | None) -> str | None:
    """A fault's path in GA spelling: ``session.turn_detection`` is
    ``session.audio.input.turn_detection``."""
    if path is None:
        return None
    head, dot, rest = path.partition(".")
    if not dot or head not in ("session", "response"):
        return path
    name, sep, tail = rest.partition(".")
    index = name.find("[")
    field = name if index < 0 else name[:index]
    renamed = _SESSION_PATHS.get(field)
    if renamed is None:
        return path
    return f"{head}.{renamed}{name[len(field) :]}{sep}{tail}"


# --- the typed decoders' reading of the translated payloads -------------------------------


class _Format(msgspec.Struct):
    """A GA audio format object as ``_format_in`` reads it: its string ``type``."""

    type: str


_FORMAT_READ: Final = str | _Format | None
_MODALITIES_READ: Final = tuple[str, ...] | None
_VOICE_READ: Final = str | None
"""A voice object (a custom voice, rare) is free-form JSON, which msgspec reads otherwise
than orjson: the typed read refuses it and the reference decodes the frame."""


def _format_read(value: str | _Format | None) -> str | None:
    """``_format_in`` of a format read typed."""
    if isinstance(value, _Format):
        return _FORMAT_IN.get(value.type, value.type)
    return value


def _modalities_read(value: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """``_modalities_in`` of modalities read typed, as the converter's hook gives them."""
    return value if value is None else tuple(_MODALITIES_IN.get(value, value))


def _same(value: Any) -> Any:
    return value


def _session_type_read(value: str | None) -> str | None:
    """A session's ``type``: ``"realtime"``, the default, is ``None`` (``_session_in``)."""
    return None if value == "realtime" else value


def _audio_paths(
    table: tuple[tuple[str, str, bool], ...], *keys: str
) -> dict[str, tuple[str, ...]]:
    return {model: (*keys, ga) for ga, model, _ in table}


# ``_session_in``, ``_params_in`` and ``_info_in`` for the typed decoder: the fields GA
# spells alike are read as they are; the renamed ones where GA writes them, translated as
# the converters' hooks translate them
_SESSION_RESHAPE: Final = Reshape(
    frozenset(_SESSION_SAME) - {"type"},
    paths={
        "modalities": ("output_modalities",),
        "max_response_output_tokens": ("max_output_tokens",),
        "type": ("type",),
        **_audio_paths(_AUDIO_INPUT, "audio", "input"),
        **_audio_paths(_AUDIO_OUTPUT, "audio", "output"),
    },
    read={
        "modalities": (_MODALITIES_READ, _modalities_read),
        "type": (str | None, _session_type_read),
        "input_audio_format": (_FORMAT_READ, _format_read),
        "output_audio_format": (_FORMAT_READ, _format_read),
        "voice": (_VOICE_READ, _same),
    },
)
_PARAMS_RESHAPE: Final = Reshape(
    frozenset(_PARAMS_SAME),
    paths={
        "modalities": ("output_modalities",),
        "max_response_output_tokens": ("max_output_tokens",),
        **_audio_paths(_PARAMS_AUDIO_OUTPUT, "audio", "output"),
    },
    read={
        "modalities": (_MODALITIES_READ, _modalities_read),
        "output_audio_format": (_FORMAT_READ, _format_read),
        "voice": (_VOICE_READ, _same),
    },
)
_INFO_RESHAPE: Final = Reshape(
    frozenset(_RESPONSE_SAME),
    paths={
        "modalities": ("output_modalities",),
        **_audio_paths(_PARAMS_AUDIO_OUTPUT, "audio", "output"),
    },
    read={
        "modalities": (_MODALITIES_READ, _modalities_read),
        "output_audio_format": (_FORMAT_READ, _format_read),
        "voice": (_VOICE_READ, _same),
    },
)


_CONVERTERS: Final = _ga_converters()
CODEC: Final = make_codec(
    "GA",
    SERVER_TAGS,
    CLIENT_TAGS,
    _CONVERTERS,
    _wire_path,
    translated=(ContentPart, SessionConfig, ResponseInfo, ResponseParams),
    reshape={
        # ``_part_in`` for a part read typed: the GA content types get their model names
        ContentPart: Reshape(
            frozenset(a.name for a in attrs.fields(ContentPart)), renamed={"type": _PART_IN}
        ),
        ResponseInfo: _INFO_RESHAPE,
        SessionConfig: _SESSION_RESHAPE,
        ResponseParams: _PARAMS_RESHAPE,
    },
)
"""The GA dialect as a ``Codec`` value (what ``Config(dialect="ga")`` selects)."""

decode_server: Final = CODEC.decode_server
decode_client: Final = CODEC.decode_client
to_wire: Final = CODEC.to_wire
encode: Final = CODEC.encode
