"""Validation of client events against the protocol and the server's state.

Each check raises ``Rejected`` with the ``error`` a real server sends: type
``invalid_request_error``, a ``code``, a ``message`` and the ``param`` path in OpenAI's
dotted form (``session.tools[0].description``). Codes are the ones the real
service sends; where there is no evidence of the service's code for a case, the choice
is rtstate's and is marked "(rtstate)" in ``ERROR_CODES``.

Checks are tables: the settings of ``session.update`` and ``response.create`` are
checked field by field (``SESSION_CHECKS``, ``RESPONSE_CHECKS``); unknown parameters
are found by walking the raw JSON against the event classes' fields. The checks against
the server's state (an item that must exist, a response that must be in progress, the
conversation's bounds) are named functions at the end, one per refusal a handler of
``ServerConnection`` makes.
"""

from __future__ import annotations

import binascii
import functools
import math
import types
import typing
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import Any, Final, NoReturn, TypeAlias, Union

import attrs

from ..config import Dialect
from ..errors import RemoteProtocolError
from ..events.client import ClientEvent, ConversationItemTruncate
from ..events.payloads import (
    UNSET,
    ContentPart,
    ExtensionTool,
    Item,
    Tool,
    ToolChoiceFunction,
    ToolChoiceMcp,
)
from ..state import ItemPhase, ItemState, SessionState
from .vad import TURN_DETECTION_TYPES

__all__ = [
    "AUDIO_FORMATS",
    "EAGERNESS",
    "ERROR_CODES",
    "GA_RESPONSE_CHECKS",
    "GA_SESSION_CHECKS",
    "GA_VOICES",
    "IMAGE_DETAILS",
    "MAX_SCHEMA_DEPTH",
    "MODALITIES",
    "NOISE_REDUCTION_TYPES",
    "RESPONSE_CHECKS",
    "SESSION_CHECKS",
    "SESSION_TYPES",
    "VOICES",
    "Checks",
    "Rejected",
    "check_append_size",
    "check_cancel",
    "check_commit_size",
    "check_conversation",
    "check_delete",
    "check_item",
    "check_new_item",
    "check_no_active_response",
    "check_output_audio_clear",
    "check_output_audio_to_clear",
    "check_previous_item",
    "check_responses_allowed",
    "check_room",
    "check_settings",
    "check_tool_choice",
    "check_truncate",
    "check_voice_update",
    "conversation_item",
    "decode_b64",
    "from_codec_error",
    "ga_session_type",
    "referenced_item",
    "unknown_event_type",
    "unknown_parameter",
]

VOICES: Final = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse")
"""The voices of the beta protocol (launch three plus the five of late October 2024)."""

AUDIO_FORMATS: Final = ("pcm16", "g711_ulaw", "g711_alaw")
"""``input_audio_format`` / ``output_audio_format`` values."""

MODALITIES: Final = (("text",), ("audio", "text"))
"""The modality sets a response may have (sorted)."""

GA_VOICES: Final = (*VOICES, "marin", "cedar")
"""The built-in voices of the GA protocol (the beta eight plus ``marin`` and ``cedar``);
a GA voice may also be a custom voice, ``{"id": "voice_..."}``."""

EAGERNESS: Final = ("low", "medium", "high", "auto")
"""``turn_detection.eagerness`` values (``semantic_vad``)."""

NOISE_REDUCTION_TYPES: Final = ("near_field", "far_field")
"""``input_audio_noise_reduction.type`` values (GA ``audio.input.noise_reduction.type``)."""

TOOL_CHOICES: Final = ("auto", "none", "required")

MAX_DESCRIPTION: Final = 1024

ERROR_CODES: Final[Mapping[str, str]] = {
    "invalid_json": "a frame that is not JSON (rtstate)",
    "invalid_event": "a JSON value that is not an event object, or has no string 'type'",
    "invalid_value": "an unknown event type (param 'type'), or a value outside its set",
    "missing_required_parameter": "a required field is missing",
    "invalid_type": "a field has the wrong JSON type",
    "unknown_parameter": "a field the event does not have",
    "decimal_below_min_value": "a number below its minimum",
    "decimal_above_max_value": "a number above its maximum",
    "integer_below_min_value": "an integer below its minimum",
    "integer_above_max_value": "an integer above its maximum",
    "string_above_max_length": "a string that is too long (tool description > 1024)",
    "invalid_function_parameters": "a tool schema nesting deeper than MAX_SCHEMA_DEPTH",
    "input_audio_buffer_too_large": "an append past max_input_audio_buffer_bytes (rtstate)",
    "conversation_too_large": "past max_conversation_items / _chars (rtstate)",
    "server_error": "(type server_error) an event the server could not encode (rtstate)",
    "cannot_update_voice": "voice changed after the session produced audio",
    "input_audio_buffer_commit_empty": "commit with less than 100 ms in the buffer",
    "conversation_already_has_active_response": "response.create while one is in progress",
    "response_cancel_not_active": "response.cancel with no response in progress",
    "item_truncate_invalid_item_id": "truncate of an unknown item",
    "item_delete_invalid_item_id": "delete of an unknown item",
    "item_retrieve_invalid_item_id": "retrieve of an unknown item (GA)",
    "session_expired": "the session hit its maximum duration (then the server closes)",
    "invalid_parameter": "(GA) a session.update changing a session's type",
    "unsupported_event": "(GA) response.create in a transcription session (rtstate's choice)",
}
"""Every ``error.code`` the server sends, and when."""


class Rejected(Exception):
    """A client event the server refuses; carries the ``error`` payload to send."""

    def __init__(self, code: str | None, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# --- frames the codec refused ------------------------------------------------------------


def from_codec_error(exc: RemoteProtocolError) -> Rejected:
    """The ``error`` for a frame ``decode_client`` refused."""
    text = exc.message
    if "not valid JSON" in text:
        return Rejected("invalid_json", "The event is not valid JSON.", None)
    if "not an object" in text:
        return Rejected("invalid_event", "The event must be a JSON object.", None)
    if "'type'" in text:
        return Rejected("invalid_event", "The 'type' field is missing or not a string.", "type")
    path = exc.path
    if "required field missing" in text:
        return Rejected(
            "missing_required_parameter", f"Missing required parameter: '{path}'.", path
        )
    _, _, what = text.partition(": ")
    return Rejected("invalid_type", f"Invalid type for '{path}': {what or text}.", path)


# --- unknown parameters ------------------------------------------------------------------


@attrs.frozen
class _Field:
    nested: type | None  # an attrs class inside (directly or in a tuple)
    free: bool  # a free-form JSON object: anything goes inside


@functools.cache
def _fields(cls: type) -> Mapping[str, _Field]:
    hints = typing.get_type_hints(cls)
    out: dict[str, _Field] = {}
    for f in attrs.fields(cls):
        out[f.name] = _classify(hints.get(f.name, Any))
    return out


def _classify(tp: Any) -> _Field:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        found = [_classify(arg) for arg in typing.get_args(tp)]
        nested = next((f.nested for f in found if f.nested is not None), None)
        return _Field(nested=nested, free=any(f.free for f in found))
    if origin is tuple:
        args = typing.get_args(tp)
        return _classify(args[0]) if args else _Field(None, False)
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping):
        return _Field(None, True)
    if isinstance(tp, type) and attrs.has(tp):
        return _Field(tp, False)
    return _Field(None, False)


_REQUIRED_FIRST: Final[Mapping[type, tuple[str, ...]]] = {ToolChoiceFunction: ("name",)}
"""Fields whose absence the server reports before anything else about the object."""


def unknown_parameter(raw: Mapping[str, Any], cls: type[ClientEvent]) -> None:
    """Reject a field ``raw`` has that ``cls`` does not (the codec ignores them)."""
    _walk(raw, cls, "", top=True)


def _walk(raw: Mapping[str, Any], cls: type, path: str, *, top: bool = False) -> None:
    for name in _REQUIRED_FIRST.get(cls, ()):
        if name not in raw:
            param = _join(path, name)
            raise Rejected(
                "missing_required_parameter", f"Missing required parameter: '{param}'.", param
            )
    fields = _fields(cls)
    for key, value in raw.items():
        if top and key == "type":
            continue
        spec = fields.get(key)
        param = _join(path, key)
        if spec is None:
            raise Rejected("unknown_parameter", f"Unknown parameter: '{param}'.", param)
        if spec.free or spec.nested is None:
            continue
        if isinstance(value, dict):
            _walk(value, spec.nested, param)
        elif isinstance(value, list):
            for i, element in enumerate(value):
                if isinstance(element, dict):
                    _walk(element, spec.nested, f"{param}[{i}]")


# --- settings (session.update, response.create) ------------------------------------------


def _invalid(value: object, allowed: Sequence[object], param: str) -> Rejected:
    listed = ", ".join(repr(a) for a in allowed)
    return Rejected(
        "invalid_value", f"Invalid value: {value!r}. Supported values are: {listed}.", param
    )


def _one_of(allowed: Sequence[object]) -> Callable[[Any, str], None]:
    def check(value: Any, param: str) -> None:
        if value not in allowed:
            raise _invalid(value, allowed, param)

    return check


def _number(low: float | None, high: float | None, kind: str) -> Callable[[Any, str], None]:
    def check(value: Any, param: str) -> None:
        if low is not None and value < low:
            raise Rejected(
                f"{kind}_below_min_value",
                f"Invalid '{param}': {kind} below minimum value. Expected a value >= {low}, "
                f"but got {value} instead.",
                param,
            )
        if high is not None and value > high:
            raise Rejected(
                f"{kind}_above_max_value",
                f"Invalid '{param}': {kind} above maximum value. Expected a value <= {high}, "
                f"but got {value} instead.",
                param,
            )

    return check


def _modalities(value: Any, param: str) -> None:
    if tuple(sorted(value)) not in MODALITIES:
        raise Rejected(
            "invalid_value",
            f"Invalid modalities: {list(value)}. Supported combinations are: ['text'] and "
            "['audio', 'text'].",
            param,
        )


def _voice_in(voices: Sequence[str], *, custom: bool = False) -> Callable[[Any, str], None]:
    """A voice among ``voices``; with ``custom`` (GA) also ``{"id": "<voice id>"}``."""

    def check(value: Any, param: str) -> None:
        if custom and isinstance(value, Mapping):
            _custom_voice(value, param)
        elif not isinstance(value, str) or value not in voices:
            raise _invalid(value, voices, param)

    return check


def _custom_voice(value: Mapping[str, Any], param: str) -> None:
    """A GA custom voice: ``{"id": "voice_..."}`` and nothing else."""
    for key in value:
        if key != "id":
            p = f"{param}.{key}"
            raise Rejected("unknown_parameter", f"Unknown parameter: '{p}'.", p)
    voice_id = value.get("id")
    p = f"{param}.id"
    if voice_id is None:
        raise Rejected("missing_required_parameter", f"Missing required parameter: '{p}'.", p)
    if not isinstance(voice_id, str):
        raise Rejected(
            "invalid_type",
            f"Invalid type for '{p}': expected a string, but got {type(voice_id).__name__} "
            "instead.",
            p,
        )


_voice = _voice_in(VOICES)


def _max_tokens(value: Any, param: str) -> None:
    if isinstance(value, int):
        _number(1, 4096, "integer")(value, param)
    elif value != "inf":  # pragma: no cover - the codec admits only ints and "inf"
        raise _invalid(value, ("inf",), param)


MAX_SCHEMA_DEPTH: Final = 100
"""The deepest nesting (JSON objects and arrays) a tool's ``parameters`` (or an
extension tool's config) may have. The service documents no limit for non-strict
function schemas (strict ones stop at 10 levels); 100 keeps every event the server
echoes encodable (the codec stops near 250) while no real schema comes close."""


def _depth(value: Any, limit: int) -> int:
    """How deep ``value`` nests (a scalar: 0), counting no further than ``limit + 1``
    (breadth first, so a deep value costs no recursion)."""
    depth = 0
    level: list[Any] = [value]
    while depth <= limit:
        containers = [v for v in level if isinstance(v, Mapping | list | tuple)]
        if not containers:
            break
        depth += 1
        level = [x for c in containers for x in (c.values() if isinstance(c, Mapping) else c)]
    return depth


def _nesting(value: Any, name: str, param: str) -> None:
    if _depth(value, MAX_SCHEMA_DEPTH) > MAX_SCHEMA_DEPTH:
        raise Rejected(
            "invalid_function_parameters",
            f"Invalid schema for function '{name}': it nests deeper than "
            f"{MAX_SCHEMA_DEPTH} levels.",
            param,
        )


def _function_tool(tool: Tool, where: str) -> None:
    _nesting(tool.parameters, tool.name, f"{where}.parameters")
    description = tool.description or ""
    if len(description) > MAX_DESCRIPTION:
        p = f"{where}.description"
        raise Rejected(
            "string_above_max_length",
            f"Invalid '{p}': string too long. Expected a string with maximum length "
            f"{MAX_DESCRIPTION}, but got a string with length {len(description)} instead.",
            p,
        )


def _mcp_tool(tool: ExtensionTool, where: str) -> None:
    config = tool.config
    _nesting(config, str(config.get("server_label")), where)
    if not isinstance(config.get("server_label"), str):
        p = f"{where}.server_label"
        raise Rejected("missing_required_parameter", f"Missing required parameter: '{p}'.", p)
    if not any(isinstance(config.get(k), str) for k in _MCP_TARGETS):
        p = f"{where}.server_url"
        raise Rejected(
            "missing_required_parameter",
            f"Missing required parameter: '{p}'. One of 'server_url', 'connector_id' or "
            "'tunnel_id' must be provided.",
            p,
        )
    _mcp_filter_or(config.get("allowed_tools"), f"{where}.allowed_tools", list_ok=True)
    approval = config.get("require_approval")
    p = f"{where}.require_approval"
    if isinstance(approval, str):
        _one_of(("always", "never"))(approval, p)
    elif isinstance(approval, Mapping):
        for key, value in approval.items():
            _one_of(("always", "never"))(key, f"{p}.{key}")
            _mcp_filter_or(value, f"{p}.{key}", list_ok=False)
    elif approval is not None:
        raise _type(p, "a string or an object", approval)


_MCP_TARGETS: Final = ("server_url", "connector_id", "tunnel_id")
"""Where an ``mcp`` tool reaches its server: one of these must be given."""


def _type(param: str, expected: str, value: object) -> Rejected:
    return Rejected(
        "invalid_type",
        f"Invalid type for '{param}': expected {expected}, but got {type(value).__name__} instead.",
        param,
    )


def _mcp_filter_or(value: object, param: str, *, list_ok: bool) -> None:
    """An MCP tool filter ``{"tool_names": [str, ...], "read_only": bool}`` (or, where
    ``list_ok``, a list of tool names)."""
    if value is None:
        return
    if list_ok and isinstance(value, list):
        names: object = value
        where = param
    elif isinstance(value, Mapping):
        for key in value:
            if key not in ("tool_names", "read_only"):
                raise Rejected(
                    "unknown_parameter", f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}"
                )
        read_only = value.get("read_only")
        if read_only is not None and not isinstance(read_only, bool):
            raise _type(f"{param}.read_only", "a boolean", read_only)
        names, where = value.get("tool_names", []), f"{param}.tool_names"
    else:
        raise _type(param, "an array or an object" if list_ok else "an object", value)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _type(where, "an array of strings", names)


_TOOL_CHECKS: Final[Mapping[str, Callable[[Any, str], None]]] = {
    "function": _function_tool,
    "mcp": _mcp_tool,
}
"""Tool ``type`` -> the check of one such tool. The server calls no MCP server: it
accepts an ``mcp`` tool (GA) with its ``server_label`` and never uses it."""


def _tools_of(kinds: Sequence[str]) -> Callable[[Any, str], None]:
    def check(value: Any, param: str) -> None:
        for i, tool in enumerate(value):
            where = f"{param}[{i}]"
            _one_of(kinds)(tool.type, f"{where}.type")
            _TOOL_CHECKS[tool.type](tool, where)

    return check


_tools = _tools_of(("function",))


def _transcription(value: Any, param: str) -> None:
    """Input transcription: a ``model`` is required, and any name goes (the service adds
    transcription models faster than a list here could follow)."""
    if value.model is None:
        p = f"{param}.model"
        raise Rejected("missing_required_parameter", f"Missing required parameter: '{p}'.", p)


_TURN_CHECKS: Final[tuple[tuple[str, Callable[[Any, str], None]], ...]] = (
    ("type", _one_of(TURN_DETECTION_TYPES)),
    ("threshold", _number(0.0, 1.0, "decimal")),
    ("prefix_padding_ms", _number(0, None, "integer")),
    ("silence_duration_ms", _number(0, None, "integer")),
    ("idle_timeout_ms", _number(0, None, "integer")),
    ("eagerness", _one_of(EAGERNESS)),
)


def _turn_detection(value: Any, param: str) -> None:
    _run(_TURN_CHECKS, value, param)


_NOISE_CHECKS: Final[tuple[tuple[str, Callable[[Any, str], None]], ...]] = (
    ("type", _one_of(NOISE_REDUCTION_TYPES)),
    ("strength", _number(0.0, None, "decimal")),
)


def _noise_reduction(value: Any, param: str) -> None:
    _run(_NOISE_CHECKS, value, param)


Checks: TypeAlias = tuple[tuple[str, Callable[[Any, str], None]], ...]
"""A table of settings checks: (field, check(value, param))."""

_COMMON: Final[Checks] = (
    ("modalities", _modalities),
    ("voice", _voice),
    ("output_audio_format", _one_of(AUDIO_FORMATS)),
    ("tools", _tools),
    ("temperature", _number(0.6, 1.2, "decimal")),
    ("max_response_output_tokens", _max_tokens),
)

SESSION_CHECKS: Final = (
    *_COMMON,
    ("input_audio_format", _one_of(AUDIO_FORMATS)),
    ("input_audio_transcription", _transcription),
    ("input_audio_noise_reduction", _noise_reduction),
    ("turn_detection", _turn_detection),
)
"""``session.update``: field -> check (run when the field is given and not null)."""

RESPONSE_CHECKS: Final = _COMMON
"""``response.create``: field -> check (``conversation`` is ``check_conversation``'s:
``"auto"`` or ``"none"``, out of band)."""

_GA_REPLACED: Final[Mapping[str, Callable[[Any, str], None]]] = {
    "voice": _voice_in(GA_VOICES, custom=True),
    "tools": _tools_of(("function", "mcp")),
}


def _for_ga(checks: Checks) -> Checks:
    return tuple((name, _GA_REPLACED.get(name, check)) for name, check in checks)


GA_SESSION_CHECKS: Final = _for_ga(SESSION_CHECKS)
"""``session.update`` in the GA protocol: its voices (and custom voices) and tool
types (``function`` and ``mcp``), the fields as the GA codec decodes them."""

GA_RESPONSE_CHECKS: Final = _for_ga(RESPONSE_CHECKS)
"""``response.create`` in the GA protocol."""


SESSION_TYPES: Final = ("realtime", "transcription")
"""GA ``session.type`` values."""


def ga_session_type(raw: Mapping[str, Any], current: str, *, fresh: bool) -> None:
    """A GA ``session.update`` must say ``session.type``: ``"realtime"`` or
    ``"transcription"``, the session's own kind (``current``).

    The real service fixes the kind when the session is made (``?intent=transcription``
    makes a transcription session) and refuses a change ("Passing a transcription
    session update event to a realtime session is not allowed.", as clients report
    it); this server's sessions all start as realtime ones, so a ``fresh`` one (no
    item and no response yet) may become a transcription session; no other change."""
    session = raw.get("session") if raw.get("type") == "session.update" else None
    if not isinstance(session, dict):
        return
    kind = session.get("type")
    if kind is None:
        raise Rejected(
            "missing_required_parameter",
            "Missing required parameter: 'session.type'.",
            "session.type",
        )
    if kind not in SESSION_TYPES:
        raise _invalid(kind, SESSION_TYPES, "session.type")
    if kind != current and not (fresh and kind == "transcription"):
        raise Rejected(
            "invalid_parameter",
            f"Passing a {kind} session update event to a {current} session is not allowed.",
            "session.type",
        )


def check_responses_allowed(kind: str) -> None:
    """A transcription session makes no responses. The service documents no error for
    a ``response.create`` there; this server refuses it as an ``invalid_request_error``
    with code ``unsupported_event``, naming the event's ``type``."""
    if kind == "transcription":
        raise Rejected(
            "unsupported_event",
            "'response.create' is not supported in a transcription session.",
            "type",
        )


def _run(
    checks: Sequence[tuple[str, Callable[[Any, str], None]]],
    value: object,
    prefix: str,
    spell: Callable[[str], str] = lambda path: path,
) -> None:
    for name, check in checks:
        field = getattr(value, name, None)
        if field is None or field is UNSET:
            continue
        check(field, spell(_join(prefix, name)))


def check_settings(
    value: object,
    checks: Sequence[tuple[str, Callable[[Any, str], None]]],
    prefix: str,
    spell: Callable[[str], str] = lambda path: path,
) -> None:
    """Run a table of checks over a session config or response params.

    ``spell`` turns the path of a field of the event classes (``session.turn_detection``)
    into the dialect's own (GA: ``session.audio.input.turn_detection``): errors name
    the fields as the client wrote them."""
    _run(checks, value, prefix, spell)


def check_tool_choice(choice: object, tools: Sequence[Any], param: str) -> None:
    """``tool_choice``: one of the words, a function among ``tools`` (its function
    tools: an ``ExtensionTool`` has no name to choose), or (GA) an MCP server among them
    (a ``ToolChoiceMcp`` whose ``server_label`` is an ``mcp`` tool's). The server calls
    no MCP server: it accepts such a choice and never acts on it."""
    if choice is None:
        return
    if isinstance(choice, str):
        _one_of(TOOL_CHOICES)(choice, param)
        return
    if isinstance(choice, ToolChoiceMcp):
        labels = [
            t.config.get("server_label")
            for t in tools
            if isinstance(t, ExtensionTool) and t.type == "mcp"
        ]
        if choice.server_label not in labels:
            raise Rejected(
                "invalid_value",
                f"Tool choice server_label '{choice.server_label}' is not one of the MCP "
                f"tools' server_labels: {labels}.",
                param,
            )
        return
    name = getattr(choice, "name", None)
    names = [t.name for t in tools if isinstance(t, Tool)]
    if name not in names:
        raise Rejected(
            "invalid_value", f"Tool choice '{name}' is not one of the tools: {names}.", param
        )


# --- items -------------------------------------------------------------------------------

_PARTS_BY_ROLE: Final[Mapping[str, tuple[str, ...]]] = {
    "system": ("input_text",),
    "user": ("input_text", "input_audio"),
    "assistant": ("text",),
}
"""What content a client-created message may hold, by role (an assistant message holds
text, never audio)."""

_GA_PARTS_BY_ROLE: Final[Mapping[str, tuple[str, ...]]] = {
    **_PARTS_BY_ROLE,
    "user": (*_PARTS_BY_ROLE["user"], "input_image"),
}
"""The same in the GA protocol: a user message may also hold images."""

_PARTS: Final[Mapping[Dialect, Mapping[str, tuple[str, ...]]]] = {
    "beta": _PARTS_BY_ROLE,
    "ga": _GA_PARTS_BY_ROLE,
}

IMAGE_DETAILS: Final = ("auto", "low", "high")
"""``detail`` values of an ``input_image`` part (GA)."""

_MAX_AUDIO_BYTES: Final = 15 * 1024 * 1024


def _required(value: object, param: str) -> None:
    if value is None:
        raise Rejected(
            "missing_required_parameter", f"Missing required parameter: '{param}'.", param
        )


def decode_b64(data: str, param: str) -> bytes:
    """Base64 audio, or ``Rejected`` (``invalid_value``; too large: ``string_above_max_length``)."""
    try:
        audio = base64_decode(data)
    except (binascii.Error, ValueError):
        raise Rejected("invalid_value", f"Invalid '{param}': not valid base64.", param) from None
    if len(audio) > _MAX_AUDIO_BYTES:
        raise Rejected(
            "string_above_max_length",
            f"Invalid '{param}': audio too large. Expected at most 15 MiB per event, but got "
            f"{len(audio)} bytes instead.",
            param,
        )
    return audio


def base64_decode(data: str) -> bytes:
    """Strict base64 decoding (``binascii.Error`` on anything else)."""
    return binascii.a2b_base64(data.encode("ascii"), strict_mode=True) if data else b""


def check_item(item: Item, dialect: Dialect = "beta") -> None:
    """The item of a ``conversation.item.create``: fields by type, parts by role (GA
    user messages may hold ``input_image`` parts)."""
    kind = item.type
    if kind == "message":
        parts_by_role = _PARTS[dialect]
        _required(item.role, "item.role")
        _one_of(tuple(parts_by_role))(item.role, "item.role")
        _required(item.content, "item.content")
        allowed = parts_by_role[item.role or ""]
        for i, part in enumerate(item.content or ()):
            _check_part(part, allowed, f"item.content[{i}]")
    elif kind == "function_call":
        _required(item.call_id, "item.call_id")
        _required(item.name, "item.name")
    elif kind == "function_call_output":
        _required(item.call_id, "item.call_id")
        _required(item.output, "item.output")
    elif kind == "mcp_approval_response" and dialect == "ga":
        _required(item.approval_request_id, "item.approval_request_id")
        _required(item.approve, "item.approve")
    else:
        kinds = ("message", "function_call", "function_call_output")
        raise _invalid(
            kind, (*kinds, "mcp_approval_response") if dialect == "ga" else kinds, "item.type"
        )


def _text_part(part: ContentPart, param: str) -> None:
    _required(part.text, f"{param}.text")


def _audio_part(part: ContentPart, param: str) -> None:
    if part.audio is not None:
        decode_b64(part.audio, f"{param}.audio")


def _image_part(part: ContentPart, param: str) -> None:
    _required(part.image_url, f"{param}.image_url")
    if part.detail is not None:
        _one_of(IMAGE_DETAILS)(part.detail, f"{param}.detail")


_PART_CHECKS: Final[Mapping[str, Callable[[ContentPart, str], None]]] = {
    "input_text": _text_part,
    "text": _text_part,
    "input_audio": _audio_part,
    "input_image": _image_part,
}
"""Content part ``type`` -> the check of its fields (the image itself is not looked at)."""


def _check_part(part: ContentPart, allowed: Sequence[str], param: str) -> None:
    if part.type not in allowed:
        raise _invalid(part.type, allowed, f"{param}.type")
    _PART_CHECKS[part.type](part, param)


# --- checks against the server's state ---------------------------------------------------
# Each looks at the client event and at what the server holds (its folded ``SessionState``
# and the few counts it keeps beside it), and raises ``Rejected`` or returns what it found.


def unknown_event_type(event_type: str, allowed: Iterable[str]) -> Rejected:
    """The refusal of a client event type the dialect does not have (``allowed``: the
    types it has)."""
    listed = ", ".join(repr(t) for t in allowed)
    return Rejected(
        "invalid_value",
        f"Invalid value: {event_type!r}. Supported values are: {listed}.",
        "type",
    )


def check_voice_update(
    voice: object, current: object, *, audio_out: bool, spell: Callable[[str], str]
) -> None:
    """A ``session.update`` may not change the voice once the session produced audio."""
    if audio_out and voice is not None and voice != current:
        raise Rejected(
            "cannot_update_voice",
            "Cannot update a conversation's voice if assistant audio is present.",
            spell("session.voice"),
        )


def check_append_size(held: int, limit: int, *, vad: bool) -> None:
    """Without server VAD, an append may not grow the input buffer past ``limit`` bytes
    (with it, the oldest audio is dropped instead)."""
    if held > limit and not vad:
        raise Rejected(
            "input_audio_buffer_too_large",
            f"Error appending to input audio buffer: it would hold {held} bytes of audio, "
            f"but the limit is {limit} bytes. Commit or clear the buffer first.",
            "audio",
        )


def check_commit_size(buffered_ms: float, min_commit_ms: float) -> None:
    """A commit needs at least ``min_commit_ms`` of audio in the buffer."""
    if buffered_ms < min_commit_ms:
        raise Rejected(
            "input_audio_buffer_commit_empty",
            "Error committing input audio buffer: buffer too small. Expected at least "
            f"{min_commit_ms:g}ms of audio, but buffer only has "
            f"{buffered_ms:.2f}ms of audio.",
        )


def check_room(count: int, max_items: int, chars: int, max_chars: int) -> None:
    """Refuse (``conversation_too_large``) a conversation of ``count`` items and
    ``chars`` characters of text past its bounds."""
    if count > max_items:
        what = f"{count} items, but the limit is {max_items}"
    elif chars > max_chars:
        what = f"{chars} characters of text, but the limit is {max_chars}"
    else:
        return
    raise Rejected(
        "conversation_too_large",
        f"The conversation is full: it would hold {what}. Delete items to make room.",
    )


def check_previous_item(state: SessionState, previous: str | None) -> str | None:
    """Where a ``conversation.item.create`` inserts its item: the id of the item it
    follows (``None``: first), from its ``previous_item_id``."""
    if previous is None:
        return state.order.tail
    if previous == "root":
        return None
    if previous in state.order:
        return previous
    raise Rejected(
        "invalid_value",
        f"Error adding item: the previous item with id '{previous}' does not exist.",
        "previous_item_id",
    )


def check_new_item(state: SessionState, item: Item, calls: Container[str | None]) -> None:
    """A created item's id must be free; a function call output needs its call, a function
    call a call id not in use (``calls``: the call ids of the conversation)."""
    if item.id is not None and state.item(item.id) is not None:
        raise Rejected(
            "invalid_value",
            f"Error adding item: the id '{item.id}' is already in use.",
            "item.id",
        )
    if item.type == "function_call_output" and item.call_id not in calls:
        raise Rejected(
            "invalid_value",
            f"Error adding item: no function_call item has call_id '{item.call_id}'.",
            "item.call_id",
        )
    if item.type == "mcp_approval_response":
        _check_approval(state, item.approval_request_id or "")
    if item.type == "function_call" and item.call_id in calls:
        raise Rejected(
            "invalid_value",
            f"Error adding item: call_id '{item.call_id}' is already in use.",
            "item.call_id",
        )


def _check_approval(state: SessionState, request_id: str) -> None:
    """An ``mcp_approval_response`` answers an ``mcp_approval_request`` of the
    conversation, once."""
    asked = state.item(request_id)
    if asked is None or asked.type != "mcp_approval_request" or request_id not in state.order:
        raise Rejected(
            "invalid_value",
            f"Error adding item: no mcp_approval_request item has id '{request_id}'.",
            "item.approval_request_id",
        )
    for item in state.items_by_id.values():
        if item.type == "mcp_approval_response" and item.approval_request_id == request_id:
            raise Rejected(
                "invalid_value",
                f"Error adding item: the approval request '{request_id}' was already "
                f"answered by item '{item.id}'.",
                "item.approval_request_id",
            )


def conversation_item(
    state: SessionState, item_id: str, code: str, doing: str, param: str | None = "item_id"
) -> ItemState:
    """The item ``item_id`` of the conversation, or the server's error ``code``
    for one it does not have (``doing``: what the request was doing)."""
    item = state.item(item_id)
    if item is None or item_id not in state.order:
        raise Rejected(
            code, f"Error {doing} item: the item with id '{item_id}' does not exist.", param
        )
    return item


def check_truncate(state: SessionState, e: ConversationItemTruncate) -> ItemState:
    """The assistant message a ``conversation.item.truncate`` cuts: its part must be
    audio, and the cut within the audio it still has."""
    item = conversation_item(state, e.item_id, "item_truncate_invalid_item_id", "truncating")
    if item.type != "message" or item.role != "assistant":
        raise Rejected("invalid_value", "Only assistant messages can be truncated.", "item_id")
    index = e.content_index
    if not 0 <= index < len(item.parts) or item.parts[index].type != "audio":
        raise Rejected(
            "invalid_value",
            f"Item '{e.item_id}' has no audio content at index {index}.",
            "content_index",
        )
    if e.audio_end_ms < 0:
        raise Rejected(
            "integer_below_min_value",
            "Invalid 'audio_end_ms': integer below minimum value. Expected a value >= 0, "
            f"but got {e.audio_end_ms} instead.",
            "audio_end_ms",
        )
    part = item.parts[index]
    available = part.audio_ms
    if part.truncated_ms is not None:
        available = min(available, part.truncated_ms)
    if e.audio_end_ms > available:
        raise Rejected(
            "invalid_value",
            f"Audio content of {math.floor(available)}ms is already shorter than "
            f"{e.audio_end_ms}ms",
            "audio_end_ms",
        )
    return item


def check_delete(state: SessionState, item_id: str) -> ItemState:
    """The item a ``conversation.item.delete`` removes: one of the conversation's that
    is not still being generated."""
    item = conversation_item(state, item_id, "item_delete_invalid_item_id", "deleting", None)
    if item.phase is not ItemPhase.DONE:
        raise Rejected(
            "invalid_value",
            f"Item '{item_id}' is still being generated; cancel the response first.",
            "item_id",
        )
    return item


def check_output_audio_clear() -> NoReturn:
    """``output_audio_buffer.clear`` is refused: the server speaks WebSocket only."""
    raise Rejected(
        "invalid_value",
        "output_audio_buffer.clear is only supported on WebRTC and SIP connections.",
        "type",
    )


def check_output_audio_to_clear(played: str | None) -> None:
    """An attached session's ``output_audio_buffer.clear`` with nothing playing names the
    last response played; with no response ever played there is nothing to name."""
    if played is None:
        raise Rejected(
            "invalid_value",
            "output_audio_buffer.clear: no response audio has been played in this session.",
            "type",
        )


_CONVERSATIONS: Final = ("auto", "none")


def check_conversation(conversation: str | None) -> bool:
    """``response.conversation``: ``"auto"`` (or absent: the default conversation) or
    ``"none"`` (out of band); whether the response is out of band. A session has one
    conversation, so any other value is refused."""
    if conversation is not None and conversation not in _CONVERSATIONS:
        raise Rejected(
            "invalid_value",
            f"Invalid value: '{conversation}'. Supported values are: 'auto' and 'none'.",
            "response.conversation",
        )
    return conversation == "none"


def referenced_item(state: SessionState, item_id: str | None, index: int) -> ItemState:
    """The conversation item an ``item_reference`` of ``response.input`` names, or an
    error naming the id."""
    item = None if item_id is None else state.item(item_id)
    if item is None or item_id not in state.order:
        raise Rejected(
            "invalid_value",
            f"Error in response.input: the item with id '{item_id}' does not exist.",
            f"response.input[{index}].id",
        )
    return item


def check_no_active_response(active: str | None) -> None:
    """``response.create`` waits for the response in progress (``active``) to end."""
    if active is not None:
        raise Rejected(
            "conversation_already_has_active_response",
            f"Conversation already has an active response in progress: {active}. "
            "Wait until the response is finished before creating a new one.",
        )


def check_cancel(response_id: str | None, active: str | None) -> None:
    """``response.cancel`` needs a response in progress (``active``), the one it names
    if it names one."""
    if active is None or (response_id is not None and response_id != active):
        raise Rejected(
            "response_cancel_not_active", "Cancellation failed: no active response found"
        )
