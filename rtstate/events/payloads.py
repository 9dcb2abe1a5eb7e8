"""Shared payloads of Realtime events: session config, items, responses, errors.

All are frozen attrs classes built with keyword arguments. Field names are the wire
names. A field the protocol may leave out defaults to ``None`` (and is left out again
on encode). Where the protocol gives ``null`` its own meaning, as in a
``session.update`` that turns voice activity detection off, the field defaults to
``UNSET`` instead, so "absent" and "null" stay different values.

Free-form JSON (tool parameter schemas, metadata) is kept as a read-only ``Mapping``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final, Literal, TypeAlias

import attrs

from .._repr import fields_repr

__all__ = [
    "CHECKED_ON_SEND",
    "LITERALS",
    "UNSET",
    "AudioFormat",
    "CachedTokensDetails",
    "ContentPart",
    "ContentType",
    "Conversation",
    "Eagerness",
    "ErrorInfo",
    "ExtensionTool",
    "FinalStatus",
    "ImageDetail",
    "InputAudioTranscription",
    "InputTokenDetails",
    "Item",
    "ItemStatus",
    "ItemType",
    "LogProb",
    "MaxTokens",
    "MessagePhase",
    "Modality",
    "NoiseReduction",
    "NoiseReductionType",
    "OutputTokenDetails",
    "RateLimit",
    "ResponseInfo",
    "ResponseParams",
    "ResponseStatus",
    "Role",
    "SessionConfig",
    "SessionType",
    "StatusDetails",
    "StatusReason",
    "Tool",
    "ToolChoice",
    "ToolChoiceFunction",
    "ToolChoiceMcp",
    "ToolChoiceMode",
    "ToolConfig",
    "TranscriptionLanguage",
    "TranscriptionUsage",
    "TranscriptionUsageType",
    "TurnDetection",
    "TurnDetectionType",
    "Unset",
    "Usage",
]


class Unset(enum.Enum):
    """Type of ``UNSET``: "this field was not given", as opposed to ``None`` (null)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset.UNSET

MaxTokens: TypeAlias = int | Literal["inf"]
"""``max_response_output_tokens``: an integer or the string ``"inf"``."""

# --- the closed sets of values ---------------------------------------------------------
#
# Where the protocol names every value a field may hold, the field is a ``Literal``, so a
# typo (``role="usr"``) fails mypy. Decoding stays as tolerant as before: the service has
# added values over time (GA's ``input_image`` part and MCP items), so a string outside
# the set decodes and is kept as the server wrote it (a frame that brings one still
# decodes; the fold handles the value as it did when these fields were ``str``). Code
# matching on these fields should keep a fallback branch for such values. On encode, the
# fields of a conversation item a client sends (``CHECKED_ON_SEND``) must hold a value of
# their set: ``LocalProtocolError`` otherwise. The other sets are checked by mypy only,
# since a session decoded from a server is sent back as it came by ``plan_reconnect``.

ItemType: TypeAlias = Literal[
    "message",
    "function_call",
    "function_call_output",
    "mcp_list_tools",
    "mcp_call",
    "mcp_approval_request",
    "mcp_approval_response",
    "item_reference",
]
"""``Item.type``: the kinds of conversation item (``mcp_*``: GA MCP items;
``item_reference``: an existing item named by ``id`` in a ``response.create``'s
``input``)."""

Role: TypeAlias = Literal["user", "assistant", "system"]
"""``Item.role`` of a message."""

ItemStatus: TypeAlias = Literal["completed", "incomplete", "in_progress"]
"""``Item.status``."""

MessagePhase: TypeAlias = Literal["commentary", "final_answer"]
"""``Item.phase`` of an assistant message (GA reasoning models)."""

ContentType: TypeAlias = Literal[
    "input_text",
    "input_audio",
    "input_image",
    "text",
    "audio",
    "item_reference",
    "output_text",
    "output_audio",
]
"""``ContentPart.type``. ``output_text`` / ``output_audio`` are GA's spellings of
``text`` / ``audio``: the GA codec decodes them as ``text`` / ``audio`` (and writes
those as them); the beta codec keeps them as given, since Azure Voice Live's clients
send them in assistant history items (``tests/data/corpus``)."""

ImageDetail: TypeAlias = Literal["auto", "low", "high"]
"""``ContentPart.detail`` of an ``input_image`` part."""

Modality: TypeAlias = Literal["text", "audio"]
"""One entry of ``modalities`` (GA ``output_modalities``)."""

AudioFormat: TypeAlias = Literal["pcm16", "g711_ulaw", "g711_alaw"]
"""``input_audio_format`` / ``output_audio_format`` (GA's ``audio/pcm``, ``audio/pcmu``,
``audio/pcma`` format objects decode to these names)."""

ToolChoiceMode: TypeAlias = Literal["auto", "none", "required"]
"""``tool_choice`` as a string."""

TurnDetectionType: TypeAlias = Literal["server_vad", "semantic_vad"]
"""``TurnDetection.type``."""

Eagerness: TypeAlias = Literal["low", "medium", "high", "auto"]
"""``TurnDetection.eagerness`` (``semantic_vad``)."""

NoiseReductionType: TypeAlias = Literal["near_field", "far_field"]
"""``NoiseReduction.type``."""

SessionType: TypeAlias = Literal["realtime", "transcription"]
"""``SessionConfig.type`` (GA; ``None`` is a realtime session)."""

ResponseStatus: TypeAlias = Literal["in_progress", "completed", "cancelled", "failed", "incomplete"]
"""``ResponseInfo.status``."""

FinalStatus: TypeAlias = Literal["completed", "cancelled", "failed", "incomplete"]
"""``StatusDetails.type``: how a response ended."""

StatusReason: TypeAlias = Literal[
    "turn_detected", "client_cancelled", "max_output_tokens", "content_filter"
]
"""``StatusDetails.reason``: why a response was cancelled or incomplete."""

TranscriptionUsageType: TypeAlias = Literal["duration", "tokens"]
"""``TranscriptionUsage.type``."""

LITERALS: Final[tuple[Any, ...]] = (
    ItemType,
    Role,
    ItemStatus,
    MessagePhase,
    ContentType,
    ImageDetail,
    Modality,
    AudioFormat,
    ToolChoiceMode,
    TurnDetectionType,
    Eagerness,
    NoiseReductionType,
    SessionType,
    ResponseStatus,
    FinalStatus,
    StatusReason,
    TranscriptionUsageType,
)
"""The closed sets above. A decoder reads any string for a field typed with one of them
(the value is kept as the server wrote it)."""

JSONObject: TypeAlias = Mapping[str, Any]


@attrs.frozen(kw_only=True, repr=False)
class ContentPart:
    """One content part of a message item.

    ``type`` is ``input_text`` / ``input_audio`` (user and system input), ``text`` /
    ``audio`` (assistant), ``input_image`` (GA user input) or ``item_reference``.
    ``audio`` (base64) only travels in client input; server snapshots carry the
    ``transcript`` instead. An ``input_image`` part holds its image as a data URI in
    ``image_url`` (``data:image/png;base64,...``) and its ``detail`` (``auto``,
    ``low``, ``high``); both are left out of the frame when not given.
    """

    __repr__ = fields_repr

    type: ContentType
    text: str | None = None
    audio: str | None = None
    transcript: str | None = None
    id: str | None = None
    image_url: str | None = None
    detail: ImageDetail | None = None


@attrs.frozen(kw_only=True, repr=False)
class Item:
    """A conversation item: ``message``, ``function_call`` or ``function_call_output``.

    Which fields apply depends on ``type``: ``role`` and ``content`` for messages,
    ``call_id`` / ``name`` / ``arguments`` for calls, ``call_id`` / ``output`` for
    outputs. ``id`` may be left out in a client ``conversation.item.create``.
    ``phase`` (GA, reasoning models such as ``gpt-realtime-2.1``): an assistant
    message's role in its response, ``"commentary"`` (said before a tool call) or
    ``"final_answer"``.

    GA MCP items (a remote MCP server the service calls by itself) use ``name``,
    ``arguments`` and ``output`` as above and these fields:

    * ``mcp_list_tools``: ``server_label`` and ``tools`` (each tool as the server
      listed it: ``name``, ``input_schema``, ``description``, ``annotations``);
    * ``mcp_call``: ``server_label``, ``name``, ``arguments``, ``output``, ``error``
      (the failure as an object: ``{"type": "protocol_error" | "tool_execution_error"
      | "http_error", ...}``) and ``approval_request_id`` (the approval it ran under);
    * ``mcp_approval_request``: ``server_label``, ``name``, ``arguments``: the service
      asks whether it may make this call;
    * ``mcp_approval_response`` (created by the client): ``approval_request_id``,
      ``approve`` (the decision) and ``reason``.
    """

    __repr__ = fields_repr

    type: ItemType
    id: str | None = None
    object: str | None = None
    status: ItemStatus | None = None
    role: Role | None = None
    content: tuple[ContentPart, ...] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    phase: MessagePhase | None = None
    server_label: str | None = None
    tools: tuple[JSONObject, ...] | None = None
    approval_request_id: str | None = None
    approve: bool | None = None
    reason: str | None = None
    error: JSONObject | None = None


@attrs.frozen(kw_only=True, repr=False)
class Tool:
    """A function tool the model may call (flat form: not wrapped in ``function``).

    ``type`` is always ``"function"``; a tool of any other kind is an ``ExtensionTool``.
    """

    __repr__ = fields_repr

    name: str
    type: Literal["function"] = "function"
    description: str | None = None
    parameters: JSONObject | None = None


_CREDENTIAL_KEYS: Final = frozenset({"authorization", "headers"})
"""The keys of an ``mcp`` tool that carry credentials (a bearer token, auth headers)."""


def _without_credentials(config: JSONObject) -> str:
    """``repr(config)`` with the values of its credential keys shown as
    ``'[redacted]'``: a session's repr, log or error never carries an MCP token."""
    return repr({k: "[redacted]" if k in _CREDENTIAL_KEYS else v for k, v in config.items()})


@attrs.frozen(kw_only=True, repr=False)
class ExtensionTool:
    """A tool of a kind other than ``function`` (GA only), kept as the server gave it.

    ``type`` is the wire type (``"mcp"``: a remote MCP server the service calls by
    itself); ``config`` holds every other field of the tool object, verbatim and
    read-only (for ``mcp``: ``server_label``, ``server_url`` or ``connector_id``,
    ``allowed_tools``, ``require_approval``, ``headers``, ...). rtstate does not act on
    these tools (the service makes the MCP calls; the items and events that report them
    are typed: ``Item``, ``McpListTools*``, ``ResponseMcpCall*``); it keeps them so a
    session's tools decode, re-encode and carry over (``plan_reconnect``) unchanged.
    Function-tool logic skips them: test with ``isinstance(tool, Tool)``.

    The GA codec decodes every tool whose ``type`` is not ``"function"`` as one. The
    beta protocol (2024-10-01) has function tools only: its codec refuses a frame with
    another tool type (``RemoteProtocolError`` naming ``session.tools[i]``), and
    encoding an ``ExtensionTool`` in beta raises ``LocalProtocolError``.
    """

    __repr__ = fields_repr

    type: str
    config: JSONObject = attrs.field(repr=_without_credentials)


ToolConfig: TypeAlias = Tool | ExtensionTool
"""One entry of ``tools``: a function ``Tool``, or an ``ExtensionTool`` (GA: ``mcp``)."""


@attrs.frozen(kw_only=True, repr=False)
class ToolChoiceFunction:
    """``tool_choice`` naming one function.

    Decoded from both the flat ``{"type": "function", "name": ...}`` form (what the
    server accepts) and the nested ``{"type": "function", "function": {"name": ...}}``
    form of the early docs; always encoded flat. ``type`` is always ``"function"``.
    """

    __repr__ = fields_repr

    name: str
    type: Literal["function"] = "function"


@attrs.frozen(kw_only=True, repr=False)
class ToolChoiceMcp:
    """``tool_choice`` forcing a call to a remote MCP server (GA only):
    ``{"type": "mcp", "server_label": ..., "name": ...}``.

    ``server_label`` names one of the ``mcp`` tools (``ExtensionTool``) of the session
    or the response; ``name``, optional, the tool to call on that server. rtstate makes
    no MCP calls (the service does): it keeps the choice so a session decodes,
    re-encodes and carries over (``plan_reconnect``) unchanged. The beta protocol has
    function tool choices only: its codec refuses a frame holding one
    (``RemoteProtocolError`` naming ``session.tool_choice.type``), and encoding one in
    beta raises ``LocalProtocolError``.
    """

    __repr__ = fields_repr

    server_label: str
    type: Literal["mcp"] = "mcp"
    name: str | None = None


ToolChoice: TypeAlias = ToolChoiceMode | ToolChoiceFunction | ToolChoiceMcp
"""``tool_choice``: ``"auto"``, ``"none"``, ``"required"``, one named function, or (GA)
one MCP server."""


@attrs.frozen(kw_only=True, repr=False)
class InputAudioTranscription:
    """Input transcription settings; ``None`` in the session turns transcription off.

    ``model`` is any transcription model name (``"whisper-1"``, ``"gpt-4o-transcribe"``,
    ``"gpt-4o-mini-transcribe"``, ``"gpt-realtime-whisper"``, ...): the set grows with
    the service, so neither the codec nor the fake server holds a list of them.
    GA adds ``delay`` (``"minimal"`` ... ``"xhigh"``: how long the model waits before
    it writes text), ``keywords`` (words to expect) and ``languages`` (the possible
    languages, ISO-639-1).
    """

    __repr__ = fields_repr

    model: str | None = None
    language: str | None = None
    prompt: str | None = None
    delay: str | None = None
    keywords: tuple[str, ...] | None = None
    languages: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True, repr=False)
class NoiseReduction:
    """Input audio noise reduction (``input_audio_noise_reduction``; GA
    ``audio.input.noise_reduction``); ``None`` in the session turns it off.

    ``type`` is ``"near_field"`` (close-talking microphones, headsets) or
    ``"far_field"`` (laptop or room microphones); ``strength`` (newer GA sessions) how
    hard it filters.
    """

    __repr__ = fields_repr

    type: NoiseReductionType | None = None
    strength: float | None = None


@attrs.frozen(kw_only=True, repr=False)
class TurnDetection:
    """Server turn detection settings; ``None`` in the session turns it off.

    ``type`` is ``"server_vad"`` (a voice activity detector: ``threshold``,
    ``prefix_padding_ms``, ``silence_duration_ms`` and, GA, ``idle_timeout_ms``) or
    ``"semantic_vad"`` (a model judges when the user is done: ``eagerness``, ``"low"``,
    ``"medium"``, ``"high"`` or ``"auto"``). Both take ``create_response`` (answer
    when a turn ends) and ``interrupt_response`` (cancel the response in progress when
    speech starts); a real session reports both ``True`` unless told otherwise.
    ``idle_timeout_ms`` (server VAD): when that long passes with no speech after the
    last response's audio, the server commits the input buffer and answers
    (``input_audio_buffer.timeout_triggered``).
    """

    __repr__ = fields_repr

    type: TurnDetectionType = "server_vad"
    threshold: float | None = None
    prefix_padding_ms: int | None = None
    silence_duration_ms: int | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None
    eagerness: Eagerness | None = None
    idle_timeout_ms: int | None = None


@attrs.frozen(kw_only=True, repr=False)
class SessionConfig:
    """The session object: full in ``session.created`` / ``.updated``, partial in ``.update``.

    In a ``session.update`` only the fields given change. ``turn_detection``,
    ``input_audio_transcription`` and ``input_audio_noise_reduction`` default to
    ``UNSET`` (unchanged); ``None`` turns the feature off.

    ``voice`` is a built-in voice's name, or (GA) a custom voice as an object
    ``{"id": "voice_..."}``. ``model`` is any model name: the server reports it back.
    GA sessions also carry ``include`` (extra server outputs, e.g.
    ``"item.input_audio_transcription.logprobs"``), ``tracing`` (``"auto"`` or a
    tracing object), ``truncation`` (``"auto"``, ``"disabled"`` or a retention-ratio
    object) and ``prompt`` (a prompt template reference); rtstate keeps them as given
    and acts on none of them.

    ``tracing`` defaults to ``UNSET`` (unchanged): ``None`` is ``"tracing": null``,
    which turns tracing off. GA also carries ``type`` (``None``: a realtime session, which
    the GA codec writes ``"realtime"``; ``"transcription"``: a transcription-only
    session), ``parallel_tool_calls`` and ``reasoning``
    (``{"effort": ...}``, reasoning models).
    """

    __repr__ = fields_repr

    id: str | None = None
    object: str | None = None
    model: str | None = None
    expires_at: int | None = None
    modalities: tuple[Modality, ...] | None = None
    instructions: str | None = None
    voice: str | JSONObject | None = None
    input_audio_format: AudioFormat | None = None
    output_audio_format: AudioFormat | None = None
    input_audio_transcription: InputAudioTranscription | Unset | None = UNSET
    turn_detection: TurnDetection | Unset | None = UNSET
    tools: tuple[ToolConfig, ...] | None = None
    tool_choice: ToolChoice | None = None
    temperature: float | None = None
    max_response_output_tokens: MaxTokens | None = None
    input_audio_noise_reduction: NoiseReduction | Unset | None = UNSET
    speed: float | None = None
    include: tuple[str, ...] | None = None
    tracing: str | JSONObject | Unset | None = UNSET
    truncation: str | JSONObject | None = None
    prompt: JSONObject | None = None
    type: SessionType | None = None
    parallel_tool_calls: bool | None = None
    reasoning: JSONObject | None = None


@attrs.frozen(kw_only=True, repr=False)
class ResponseParams:
    """Per-response overrides of ``response.create``; every field is optional.

    GA adds ``prompt`` (a prompt template reference), ``parallel_tool_calls`` and
    ``reasoning``, kept as given."""

    __repr__ = fields_repr

    modalities: tuple[Modality, ...] | None = None
    instructions: str | None = None
    voice: str | JSONObject | None = None
    output_audio_format: AudioFormat | None = None
    tools: tuple[ToolConfig, ...] | None = None
    tool_choice: ToolChoice | None = None
    temperature: float | None = None
    max_response_output_tokens: MaxTokens | None = None
    conversation: str | None = None
    metadata: JSONObject | None = None
    input: tuple[Item, ...] | None = None
    prompt: JSONObject | None = None
    parallel_tool_calls: bool | None = None
    reasoning: JSONObject | None = None


@attrs.frozen(kw_only=True, repr=False)
class ErrorInfo:
    """The ``error`` object of an ``error`` event or of a failed transcription/response.

    ``event_id`` names the client event that caused it, when the server knows it.
    """

    __repr__ = fields_repr

    type: str | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None
    event_id: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class StatusDetails:
    """Why a response ended as it did: ``reason`` for cancelled/incomplete, ``error`` for failed."""

    __repr__ = fields_repr

    type: FinalStatus | None = None
    reason: StatusReason | None = None
    error: ErrorInfo | None = None


@attrs.frozen(kw_only=True, repr=False)
class CachedTokensDetails:
    """Split of the cached input tokens."""

    __repr__ = fields_repr

    text_tokens: int | None = None
    audio_tokens: int | None = None
    image_tokens: int | None = None


@attrs.frozen(kw_only=True, repr=False)
class InputTokenDetails:
    """Split of the input tokens of a response."""

    __repr__ = fields_repr

    cached_tokens: int | None = None
    text_tokens: int | None = None
    audio_tokens: int | None = None
    image_tokens: int | None = None
    cached_tokens_details: CachedTokensDetails | None = None


@attrs.frozen(kw_only=True, repr=False)
class OutputTokenDetails:
    """Split of the output tokens of a response (``reasoning_tokens``: reasoning models)."""

    __repr__ = fields_repr

    text_tokens: int | None = None
    audio_tokens: int | None = None
    reasoning_tokens: int | None = None


@attrs.frozen(kw_only=True, repr=False)
class Usage:
    """Token usage of a finished response (``response.done``)."""

    __repr__ = fields_repr

    total_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_token_details: InputTokenDetails | None = None
    output_token_details: OutputTokenDetails | None = None


@attrs.frozen(kw_only=True, repr=False)
class TranscriptionUsage:
    """Usage of an input audio transcription (GA; absent from the 2024-10-01 wire):
    ``type`` ``"duration"`` with ``seconds`` of audio, or ``"tokens"`` with the
    token counts (``input_token_details`` splits ``text_tokens`` / ``audio_tokens``)."""

    __repr__ = fields_repr

    type: TranscriptionUsageType
    seconds: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_token_details: InputTokenDetails | None = None


@attrs.frozen(kw_only=True, repr=False)
class ResponseInfo:
    """The response object of ``response.created`` and ``response.done``.

    ``status`` is ``in_progress`` at creation, then ``completed``, ``cancelled``,
    ``failed`` or ``incomplete``. ``output`` is empty at creation and lists every
    output item (without audio bytes) at ``response.done``. ``id`` is always sent by
    the service, but the GA types make it optional: a frame without one decodes (the
    fold then refuses it: a response it cannot name).
    """

    __repr__ = fields_repr

    id: str | None = None
    object: str | None = None
    status: ResponseStatus | None = None
    status_details: StatusDetails | None = None
    output: tuple[Item, ...] = ()
    usage: Usage | None = None
    metadata: JSONObject | None = None
    conversation_id: str | None = None
    modalities: tuple[Modality, ...] | None = None
    voice: str | JSONObject | None = None
    output_audio_format: AudioFormat | None = None
    temperature: float | None = None
    max_output_tokens: MaxTokens | None = None


CHECKED_ON_SEND: Final[Mapping[type, Mapping[str, Any]]] = {
    ContentPart: {"type": ContentType, "detail": ImageDetail},
    Item: {"type": ItemType, "role": Role, "status": ItemStatus, "phase": MessagePhase},
}
"""The fields the encoder checks in a client event (a ``conversation.item.create``'s
item, a ``response.create``'s ``input``): class -> field -> its closed set. A value
outside the set (``role="usr"``) raises ``LocalProtocolError``; ``None`` (absent) is
fine. A server event is not checked, and neither is any other field: what a server
sends is kept and may be sent back (``plan_reconnect`` re-sends the session as the
server reported it), so only the fields a client writes itself are held to the set."""


@attrs.frozen(kw_only=True, repr=False)
class Conversation:
    """The conversation object of ``conversation.created`` (``id`` optional in GA)."""

    __repr__ = fields_repr

    id: str | None = None
    object: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class RateLimit:
    """One entry of ``rate_limits.updated``: ``name`` is ``requests`` or ``tokens``
    (optional in the GA types: an entry without one is kept but not tracked by name)."""

    __repr__ = fields_repr

    name: str | None = None
    limit: int | None = None
    remaining: int | None = None
    reset_seconds: float | None = None


@attrs.frozen(kw_only=True, repr=False)
class LogProb:
    """The log probability of one token of an input transcription (GA, when the
    session's ``include`` asks for ``item.input_audio_transcription.logprobs``)."""

    __repr__ = fields_repr

    token: str
    bytes: tuple[int, ...]
    logprob: float


@attrs.frozen(kw_only=True, repr=False)
class TranscriptionLanguage:
    """A language detected in transcribed input audio (GA): its ISO-639-1 ``code``."""

    __repr__ = fields_repr

    code: str
