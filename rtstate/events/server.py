"""The 28 server events of the beta protocol (``2024-10-01``), as frozen values, and the
ones the GA protocol adds.

Class names are the CamelCase of the wire ``type``, which each class carries as the
class attribute ``type`` (the beta spelling where the GA protocol renamed an event:
``ResponseTextDelta`` is also GA's ``response.output_text.delta``). Every server event
has an ``event_id``. ``SERVER_EVENT_TYPES`` lists the beta 28, ``GA_SERVER_EVENT_TYPES``
the events only the GA codec decodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from .._repr import fields_repr
from .payloads import (
    ContentPart,
    Conversation,
    ErrorInfo,
    Item,
    LogProb,
    RateLimit,
    ResponseInfo,
    SessionConfig,
    TranscriptionLanguage,
    TranscriptionUsage,
)

__all__ = [
    "GA_SERVER_EVENT_TYPES",
    "SERVER_EVENT_TYPES",
    "ConversationCreated",
    "ConversationItemAdded",
    "ConversationItemCreated",
    "ConversationItemDeleted",
    "ConversationItemDone",
    "ConversationItemInputAudioTranscriptionCompleted",
    "ConversationItemInputAudioTranscriptionDelta",
    "ConversationItemInputAudioTranscriptionFailed",
    "ConversationItemInputAudioTranscriptionSegment",
    "ConversationItemRetrieved",
    "ConversationItemTruncated",
    "Error",
    "InputAudioBufferCleared",
    "InputAudioBufferCommitted",
    "InputAudioBufferDtmfEventReceived",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "McpListToolsCompleted",
    "McpListToolsFailed",
    "McpListToolsInProgress",
    "OutputAudioBufferCleared",
    "OutputAudioBufferStarted",
    "OutputAudioBufferStopped",
    "RateLimitsUpdated",
    "ResponseAudioDelta",
    "ResponseAudioDone",
    "ResponseAudioTranscriptDelta",
    "ResponseAudioTranscriptDone",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreated",
    "ResponseDone",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseFunctionCallArgumentsDone",
    "ResponseMcpCallArgumentsDelta",
    "ResponseMcpCallArgumentsDone",
    "ResponseMcpCallCompleted",
    "ResponseMcpCallFailed",
    "ResponseMcpCallInProgress",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseTextDelta",
    "ResponseTextDone",
    "ServerEvent",
    "SessionCreated",
    "SessionUpdated",
    "UnknownServerEvent",
]


@attrs.frozen(kw_only=True, repr=False)
class ServerEvent:
    """Base class of the known server events."""

    __repr__ = fields_repr

    type: ClassVar[str]
    event_id: str


@attrs.frozen(kw_only=True, repr=False)
class Error(ServerEvent):
    """``error``: a problem, usually caused by a client event named in ``error.event_id``."""

    type: ClassVar[str] = "error"
    error: ErrorInfo


@attrs.frozen(kw_only=True, repr=False)
class SessionCreated(ServerEvent):
    """``session.created``: the first server event; the session's initial config."""

    type: ClassVar[str] = "session.created"
    session: SessionConfig


@attrs.frozen(kw_only=True, repr=False)
class SessionUpdated(ServerEvent):
    """``session.updated``: the full effective config after a ``session.update``."""

    type: ClassVar[str] = "session.updated"
    session: SessionConfig


@attrs.frozen(kw_only=True, repr=False)
class ConversationCreated(ServerEvent):
    """``conversation.created``: documented after ``session.created``; rarely sent."""

    type: ClassVar[str] = "conversation.created"
    conversation: Conversation


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemCreated(ServerEvent):
    """``conversation.item.created``: an item joined the conversation after ``previous_item_id``."""

    type: ClassVar[str] = "conversation.item.created"
    item: Item
    previous_item_id: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemInputAudioTranscriptionCompleted(ServerEvent):
    """``conversation.item.input_audio_transcription.completed``: a user item's transcript."""

    type: ClassVar[str] = "conversation.item.input_audio_transcription.completed"
    item_id: str
    content_index: int
    transcript: str
    usage: TranscriptionUsage | None = None
    """GA: how much the transcription used (required there); the 2024 beta had none."""
    logprobs: tuple[LogProb, ...] | None = None
    """GA: the transcript's token log probabilities, when the session's ``include``
    asks for them."""
    languages: tuple[TranscriptionLanguage, ...] | None = None
    """GA: the languages detected in the audio."""


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemInputAudioTranscriptionFailed(ServerEvent):
    """``conversation.item.input_audio_transcription.failed``: transcription of an item failed."""

    type: ClassVar[str] = "conversation.item.input_audio_transcription.failed"
    item_id: str
    content_index: int
    error: ErrorInfo


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemTruncated(ServerEvent):
    """``conversation.item.truncated``: acknowledges ``conversation.item.truncate``."""

    type: ClassVar[str] = "conversation.item.truncated"
    item_id: str
    content_index: int
    audio_end_ms: int


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemDeleted(ServerEvent):
    """``conversation.item.deleted``: acknowledges ``conversation.item.delete``."""

    type: ClassVar[str] = "conversation.item.deleted"
    item_id: str


@attrs.frozen(kw_only=True, repr=False)
class InputAudioBufferCommitted(ServerEvent):
    """``input_audio_buffer.committed``: the buffer became user item ``item_id`` (created next)."""

    type: ClassVar[str] = "input_audio_buffer.committed"
    item_id: str
    previous_item_id: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class InputAudioBufferCleared(ServerEvent):
    """``input_audio_buffer.cleared``: acknowledges ``input_audio_buffer.clear``."""

    type: ClassVar[str] = "input_audio_buffer.cleared"


@attrs.frozen(kw_only=True, repr=False)
class InputAudioBufferSpeechStarted(ServerEvent):
    """``input_audio_buffer.speech_started``: server VAD heard speech at ``audio_start_ms``."""

    type: ClassVar[str] = "input_audio_buffer.speech_started"
    audio_start_ms: int
    item_id: str


@attrs.frozen(kw_only=True, repr=False)
class InputAudioBufferSpeechStopped(ServerEvent):
    """``input_audio_buffer.speech_stopped``: server VAD heard speech end at ``audio_end_ms``."""

    type: ClassVar[str] = "input_audio_buffer.speech_stopped"
    audio_end_ms: int
    item_id: str


@attrs.frozen(kw_only=True, repr=False)
class ResponseCreated(ServerEvent):
    """``response.created``: a response began (status ``in_progress``, no output yet)."""

    type: ClassVar[str] = "response.created"
    response: ResponseInfo


@attrs.frozen(kw_only=True, repr=False)
class ResponseDone(ServerEvent):
    """``response.done``: a response ended; final status, full output and usage."""

    type: ClassVar[str] = "response.done"
    response: ResponseInfo


@attrs.frozen(kw_only=True, repr=False)
class ResponseOutputItemAdded(ServerEvent):
    """``response.output_item.added``: output item ``output_index`` of a response began."""

    type: ClassVar[str] = "response.output_item.added"
    response_id: str
    output_index: int
    item: Item


@attrs.frozen(kw_only=True, repr=False)
class ResponseOutputItemDone(ServerEvent):
    """``response.output_item.done``: output item ``output_index`` ended; its final snapshot."""

    type: ClassVar[str] = "response.output_item.done"
    response_id: str
    output_index: int
    item: Item


@attrs.frozen(kw_only=True, repr=False)
class _PartEvent(ServerEvent):
    """Fields shared by every event about one content part of an output item."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int


@attrs.frozen(kw_only=True, repr=False)
class ResponseContentPartAdded(_PartEvent):
    """``response.content_part.added``: a content part of an assistant message began."""

    type: ClassVar[str] = "response.content_part.added"
    part: ContentPart


@attrs.frozen(kw_only=True, repr=False)
class ResponseContentPartDone(_PartEvent):
    """``response.content_part.done``: a content part ended; ``part`` holds its final text."""

    type: ClassVar[str] = "response.content_part.done"
    part: ContentPart


@attrs.frozen(kw_only=True, repr=False)
class ResponseTextDelta(_PartEvent):
    """``response.text.delta``: a chunk of a ``text`` part."""

    type: ClassVar[str] = "response.text.delta"
    delta: str
    obfuscation: str | None = None
    """GA: random characters that pad the frame's length (so it does not tell the delta's)."""


@attrs.frozen(kw_only=True, repr=False)
class ResponseTextDone(_PartEvent):
    """``response.text.done``: a ``text`` part's whole text."""

    type: ClassVar[str] = "response.text.done"
    text: str


@attrs.frozen(kw_only=True, repr=False)
class ResponseAudioTranscriptDelta(_PartEvent):
    """``response.audio_transcript.delta``: a chunk of an ``audio`` part's transcript."""

    type: ClassVar[str] = "response.audio_transcript.delta"
    delta: str
    obfuscation: str | None = None
    """GA: random characters that pad the frame's length (so it does not tell the delta's)."""


@attrs.frozen(kw_only=True, repr=False)
class ResponseAudioTranscriptDone(_PartEvent):
    """``response.audio_transcript.done``: an ``audio`` part's whole transcript."""

    type: ClassVar[str] = "response.audio_transcript.done"
    transcript: str


@attrs.frozen(kw_only=True, repr=False)
class ResponseAudioDelta(_PartEvent):
    """``response.audio.delta``: a chunk of base64 audio in the output format."""

    type: ClassVar[str] = "response.audio.delta"
    delta: str


@attrs.frozen(kw_only=True, repr=False)
class ResponseAudioDone(_PartEvent):
    """``response.audio.done``: an ``audio`` part's audio ended."""

    type: ClassVar[str] = "response.audio.done"


@attrs.frozen(kw_only=True, repr=False)
class ResponseFunctionCallArgumentsDelta(ServerEvent):
    """``response.function_call_arguments.delta``: a chunk of a function call's JSON arguments."""

    type: ClassVar[str] = "response.function_call_arguments.delta"
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str
    obfuscation: str | None = None
    """GA: random characters that pad the frame's length."""


@attrs.frozen(kw_only=True, repr=False)
class ResponseFunctionCallArgumentsDone(ServerEvent):
    """``response.function_call_arguments.done``: a function call's whole arguments."""

    type: ClassVar[str] = "response.function_call_arguments.done"
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    arguments: str
    name: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class RateLimitsUpdated(ServerEvent):
    """``rate_limits.updated``: a snapshot of the rate limits (the list may be empty)."""

    type: ClassVar[str] = "rate_limits.updated"
    rate_limits: tuple[RateLimit, ...]


# --- events of the GA protocol (some came with 2025 beta updates) -------------------


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemAdded(ServerEvent):
    """``conversation.item.added`` (GA): an item joined the conversation after
    ``previous_item_id``; what ``conversation.item.created`` says in the beta protocol.
    Output items arrive empty and ``in_progress``."""

    type: ClassVar[str] = "conversation.item.added"
    item: Item
    previous_item_id: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemDone(ServerEvent):
    """``conversation.item.done`` (GA): an item is final; its snapshot, without audio.

    For a response's output item it comes just before ``response.output_item.done``.
    Real servers send ``previous_item_id: null`` here whatever the item follows: it
    never moves the item.
    """

    type: ClassVar[str] = "conversation.item.done"
    item: Item
    previous_item_id: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemRetrieved(ServerEvent):
    """``conversation.item.retrieved`` (GA): answers ``conversation.item.retrieve``; the
    item as the server holds it (input audio included)."""

    type: ClassVar[str] = "conversation.item.retrieved"
    item: Item


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemInputAudioTranscriptionDelta(ServerEvent):
    """``conversation.item.input_audio_transcription.delta`` (GA): a chunk of a user
    item's transcript, before ``.completed`` gives the whole."""

    type: ClassVar[str] = "conversation.item.input_audio_transcription.delta"
    item_id: str
    content_index: int | None = None
    delta: str | None = None
    obfuscation: str | None = None
    """GA: random characters that pad the frame's length."""
    logprobs: tuple[LogProb, ...] | None = None
    """GA: the delta's token log probabilities, when the session's ``include`` asks."""


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemInputAudioTranscriptionSegment(ServerEvent):
    """``conversation.item.input_audio_transcription.segment`` (GA): one diarized
    segment of a user item's transcript (``speaker``, ``start`` / ``end`` in seconds)."""

    type: ClassVar[str] = "conversation.item.input_audio_transcription.segment"
    item_id: str
    content_index: int
    id: str
    text: str
    speaker: str | None = None
    start: float | None = None
    end: float | None = None


@attrs.frozen(kw_only=True, repr=False)
class InputAudioBufferTimeoutTriggered(ServerEvent):
    """``input_audio_buffer.timeout_triggered`` (GA): server VAD's ``idle_timeout_ms``
    ran out with no speech; the audio from ``audio_start_ms`` to ``audio_end_ms`` is
    committed as user item ``item_id`` (``committed`` follows)."""

    type: ClassVar[str] = "input_audio_buffer.timeout_triggered"
    audio_start_ms: int
    audio_end_ms: int
    item_id: str


@attrs.frozen(kw_only=True, repr=False)
class OutputAudioBufferStarted(ServerEvent):
    """``output_audio_buffer.started`` (GA, WebRTC/SIP): the server began playing the
    response's audio to the user."""

    type: ClassVar[str] = "output_audio_buffer.started"
    response_id: str


@attrs.frozen(kw_only=True, repr=False)
class OutputAudioBufferStopped(ServerEvent):
    """``output_audio_buffer.stopped`` (GA, WebRTC/SIP): the response's audio has all
    been played."""

    type: ClassVar[str] = "output_audio_buffer.stopped"
    response_id: str


@attrs.frozen(kw_only=True, repr=False)
class OutputAudioBufferCleared(ServerEvent):
    """``output_audio_buffer.cleared`` (GA, WebRTC/SIP): playback was cut (barge-in, or
    ``output_audio_buffer.clear``)."""

    type: ClassVar[str] = "output_audio_buffer.cleared"
    response_id: str


@attrs.frozen(kw_only=True, repr=False)
class InputAudioBufferDtmfEventReceived(ServerEvent):
    """``input_audio_buffer.dtmf_event_received`` (GA, SIP calls): the caller pressed a
    keypad key; ``event`` is the key (``"0"``-``"9"``, ``"*"``, ``"#"``, ...) and
    ``received_at`` when the service got it (Unix seconds). The GA types give it no
    ``event_id``: it is optional here."""

    type: ClassVar[str] = "input_audio_buffer.dtmf_event_received"
    event_id: str | None = None  # type: ignore[assignment]
    event: str
    received_at: int


@attrs.frozen(kw_only=True, repr=False)
class _McpListToolsEvent(ServerEvent):
    """Fields shared by the ``mcp_list_tools.*`` events: the ``mcp_list_tools`` item."""

    item_id: str


@attrs.frozen(kw_only=True, repr=False)
class McpListToolsInProgress(_McpListToolsEvent):
    """``mcp_list_tools.in_progress`` (GA): the service is listing an MCP server's
    tools into item ``item_id``."""

    type: ClassVar[str] = "mcp_list_tools.in_progress"


@attrs.frozen(kw_only=True, repr=False)
class McpListToolsCompleted(_McpListToolsEvent):
    """``mcp_list_tools.completed`` (GA): item ``item_id`` holds the server's tools."""

    type: ClassVar[str] = "mcp_list_tools.completed"


@attrs.frozen(kw_only=True, repr=False)
class McpListToolsFailed(_McpListToolsEvent):
    """``mcp_list_tools.failed`` (GA): listing the MCP server's tools failed."""

    type: ClassVar[str] = "mcp_list_tools.failed"


@attrs.frozen(kw_only=True, repr=False)
class ResponseMcpCallArgumentsDelta(ServerEvent):
    """``response.mcp_call_arguments.delta`` (GA): a chunk of an ``mcp_call`` item's
    JSON arguments."""

    type: ClassVar[str] = "response.mcp_call_arguments.delta"
    response_id: str
    item_id: str
    output_index: int
    delta: str
    obfuscation: str | None = None
    """Random characters that pad the frame's length."""


@attrs.frozen(kw_only=True, repr=False)
class ResponseMcpCallArgumentsDone(ServerEvent):
    """``response.mcp_call_arguments.done`` (GA): an ``mcp_call`` item's whole arguments."""

    type: ClassVar[str] = "response.mcp_call_arguments.done"
    response_id: str
    item_id: str
    output_index: int
    arguments: str


@attrs.frozen(kw_only=True, repr=False)
class _McpCallEvent(ServerEvent):
    """Fields shared by the ``response.mcp_call.*`` events (they name no response)."""

    item_id: str
    output_index: int


@attrs.frozen(kw_only=True, repr=False)
class ResponseMcpCallInProgress(_McpCallEvent):
    """``response.mcp_call.in_progress`` (GA): the service is calling the MCP tool."""

    type: ClassVar[str] = "response.mcp_call.in_progress"


@attrs.frozen(kw_only=True, repr=False)
class ResponseMcpCallCompleted(_McpCallEvent):
    """``response.mcp_call.completed`` (GA): the MCP tool call returned (its ``output``
    comes in the item's final snapshot)."""

    type: ClassVar[str] = "response.mcp_call.completed"


@attrs.frozen(kw_only=True, repr=False)
class ResponseMcpCallFailed(_McpCallEvent):
    """``response.mcp_call.failed`` (GA): the MCP tool call failed (its ``error`` comes
    in the item's final snapshot)."""

    type: ClassVar[str] = "response.mcp_call.failed"


@attrs.frozen(kw_only=True, repr=False)
class UnknownServerEvent:
    """A server frame whose ``type`` this codec does not know, kept as received."""

    __repr__ = fields_repr

    type: str
    raw: Mapping[str, Any] = attrs.field(repr=False)

    @property
    def event_id(self) -> str | None:
        """The frame's ``event_id`` if it is a string."""
        value = self.raw.get("event_id")
        return value if isinstance(value, str) else None


SERVER_EVENT_TYPES: tuple[type[ServerEvent], ...] = (
    Error,
    SessionCreated,
    SessionUpdated,
    ConversationCreated,
    ConversationItemCreated,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemTruncated,
    ConversationItemDeleted,
    InputAudioBufferCommitted,
    InputAudioBufferCleared,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    ResponseCreated,
    ResponseDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseTextDelta,
    ResponseTextDone,
    ResponseAudioTranscriptDelta,
    ResponseAudioTranscriptDone,
    ResponseAudioDelta,
    ResponseAudioDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    RateLimitsUpdated,
)
"""Every beta server event class, in the beta protocol's documented order: error,
session, conversation, input audio buffer, responses, rate limits."""

GA_SERVER_EVENT_TYPES: tuple[type[ServerEvent], ...] = (
    ConversationItemAdded,
    ConversationItemDone,
    ConversationItemRetrieved,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionSegment,
    InputAudioBufferTimeoutTriggered,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    OutputAudioBufferCleared,
    InputAudioBufferDtmfEventReceived,
    McpListToolsInProgress,
    McpListToolsCompleted,
    McpListToolsFailed,
    ResponseMcpCallArgumentsDelta,
    ResponseMcpCallArgumentsDone,
    ResponseMcpCallInProgress,
    ResponseMcpCallCompleted,
    ResponseMcpCallFailed,
)
"""The server events only the GA codec decodes (the beta codec reads them as unknown)."""
