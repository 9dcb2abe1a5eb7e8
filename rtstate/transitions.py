"""Transitions: typed, past-tense records of what an input changed.

Every ``Step`` lists the transitions its input caused, in order. Each carries what a
plugin needs to act without re-reading the state (the delta, the call's arguments,
the final status), so nobody rebuilds strings per event. Plugin hooks are named
``on_<transition in snake case>``: ``on_text_appended``, ``on_function_call_ready``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import attrs

from ._repr import fields_repr
from .events.client import ClientEvent
from .events.payloads import (
    ErrorInfo,
    Item,
    ItemStatus,
    ItemType,
    JSONObject,
    LogProb,
    ResponseStatus,
    Role,
    SessionConfig,
    StatusDetails,
    TranscriptionLanguage,
    TranscriptionUsage,
    Usage,
)

if TYPE_CHECKING:
    from .audio import Pcm
    from .state import SessionState

__all__ = [
    "TRANSITION_TYPES",
    "AudioAppended",
    "ClientEventCoalesced",
    "ClientEventQueued",
    "ClientEventRejected",
    "ClientEventTimedOut",
    "DtmfReceived",
    "FunctionCallArgumentsAppended",
    "FunctionCallReady",
    "InputCleared",
    "InputCommitted",
    "InputSegmentTranscribed",
    "InputTimeoutTriggered",
    "InputTranscribed",
    "InputTranscriptAppended",
    "InputTranscriptionFailed",
    "ItemAdded",
    "ItemDeleted",
    "ItemFinished",
    "ItemRetrieved",
    "ItemTruncated",
    "McpApprovalRequested",
    "McpCallArgumentsAppended",
    "McpCallArgumentsDone",
    "McpCallCompleted",
    "McpCallFailed",
    "McpToolsListFailed",
    "McpToolsListed",
    "OutputAudioCleared",
    "OutputAudioStarted",
    "OutputAudioStopped",
    "RateLimitsUpdated",
    "ResponseFinished",
    "ResponseStarted",
    "ServerErrorReceived",
    "SessionExpired",
    "SessionResumed",
    "SessionStarted",
    "SessionUpdated",
    "SpeechStarted",
    "SpeechStopped",
    "TextAppended",
    "TranscriptAppended",
    "Transition",
    "TransportClosed",
    "TruncationPlanned",
    "hook_name",
]


@attrs.frozen(repr=False)
class Transition:
    """Base class of every transition."""

    __repr__ = fields_repr


@attrs.frozen(kw_only=True, repr=False)
class SessionStarted(Transition):
    """``session.created`` arrived: the session is open with this config."""

    session: SessionConfig


@attrs.frozen(kw_only=True, repr=False)
class SessionUpdated(Transition):
    """The effective session config changed (``session.updated``)."""

    session: SessionConfig


@attrs.frozen(kw_only=True, repr=False)
class ItemAdded(Transition):
    """An item took its place in the conversation, after ``previous_item_id``."""

    item_id: str
    previous_item_id: str | None
    type: ItemType
    role: Role | None


@attrs.frozen(kw_only=True, repr=False)
class ItemFinished(Transition):
    """An output item finished with ``status`` (``completed`` or ``incomplete``)."""

    item_id: str
    status: ItemStatus | None


@attrs.frozen(kw_only=True, repr=False)
class ItemDeleted(Transition):
    """An item left the conversation."""

    item_id: str


@attrs.frozen(kw_only=True, repr=False)
class ItemTruncated(Transition):
    """The server cut an item's audio at ``audio_end_ms`` and dropped its transcript."""

    item_id: str
    content_index: int
    audio_end_ms: int


@attrs.frozen(kw_only=True, repr=False)
class TextAppended(Transition):
    """Text arrived for a ``text`` part."""

    item_id: str
    content_index: int
    delta: str
    response_id: str


@attrs.frozen(kw_only=True, repr=False)
class TranscriptAppended(Transition):
    """Transcript text arrived for an ``audio`` part."""

    item_id: str
    content_index: int
    delta: str
    response_id: str


@attrs.frozen(kw_only=True, repr=False)
class AudioAppended(Transition):
    """Output audio arrived: ``byte_count`` bytes, ``ms`` milliseconds, ``audio`` base64.

    ``pcm(step.after)`` decodes it (``rtstate.audio.Pcm``: bytes, format, sample rate);
    the fold never does.
    """

    item_id: str
    content_index: int
    byte_count: int
    ms: float
    audio: str = attrs.field(repr=False)
    response_id: str

    def pcm(self, state: SessionState | str) -> Pcm:
        """The audio decoded, in its response's format as ``state`` knows it (pass the
        Step's ``after``), or in the format a string names (``"pcm16"``, ...).

        Raises:
            LocalProtocolError: the format is unknown, or ``audio`` is not base64.
        """
        from .audio import pcm  # noqa: PLC0415 - rtstate.audio loads on first use

        return pcm(self, state)


@attrs.frozen(kw_only=True, repr=False)
class FunctionCallArgumentsAppended(Transition):
    """A chunk of a function call's JSON arguments arrived."""

    item_id: str
    call_id: str
    delta: str


@attrs.frozen(kw_only=True, repr=False)
class FunctionCallReady(Transition):
    """A function call item completed: run ``name`` with ``arguments`` and answer ``call_id``."""

    item_id: str
    call_id: str
    name: str
    arguments: str
    response_id: str | None


@attrs.frozen(kw_only=True, repr=False)
class ResponseStarted(Transition):
    """``response.created``: a response is in progress.

    ``conversation``: ``"auto"`` for the default conversation's response, ``"none"``
    for an out-of-band one (``out_of_band``; see ``ResponseState``); ``metadata``: the
    response's, as ``ResponseState.metadata``.
    """

    response_id: str
    conversation: str = "auto"
    metadata: JSONObject | None = None

    @property
    def out_of_band(self) -> bool:
        """Whether the response is out of band (its items stay out of the conversation)."""
        return self.conversation == "none"


@attrs.frozen(kw_only=True, repr=False)
class ResponseFinished(Transition):
    """``response.done``: the response ended with ``status`` (and ``usage``);
    ``conversation`` as in ``ResponseStarted``."""

    response_id: str
    status: ResponseStatus | None
    status_details: StatusDetails | None
    usage: Usage | None
    conversation: str = "auto"

    @property
    def out_of_band(self) -> bool:
        """Whether the response was out of band."""
        return self.conversation == "none"


@attrs.frozen(kw_only=True, repr=False)
class SpeechStarted(Transition):
    """Server VAD heard the user start speaking (item ``item_id`` will hold it)."""

    item_id: str
    audio_start_ms: int


@attrs.frozen(kw_only=True, repr=False)
class SpeechStopped(Transition):
    """Server VAD heard the user stop speaking."""

    item_id: str
    audio_end_ms: int


@attrs.frozen(kw_only=True, repr=False)
class InputCommitted(Transition):
    """The input buffer became user item ``item_id``."""

    item_id: str
    previous_item_id: str | None


@attrs.frozen(repr=False)
class InputCleared(Transition):
    """The input buffer was cleared."""


@attrs.frozen(kw_only=True, repr=False)
class InputTranscribed(Transition):
    """A user item's audio was transcribed (also in a transcription session, where
    no item holds it: ``SessionState.transcript(item_id)`` does).

    GA adds what ``.completed`` reports: ``usage``, ``logprobs`` (when the session's
    ``include`` asks for them) and the detected ``languages``; ``None`` when absent.
    """

    item_id: str
    content_index: int
    transcript: str
    usage: TranscriptionUsage | None = None
    logprobs: tuple[LogProb, ...] | None = None
    languages: tuple[TranscriptionLanguage, ...] | None = None


@attrs.frozen(kw_only=True, repr=False)
class InputTranscriptionFailed(Transition):
    """Transcribing a user item's audio failed."""

    item_id: str
    content_index: int
    error: ErrorInfo


@attrs.frozen(kw_only=True, repr=False)
class InputTranscriptAppended(Transition):
    """A chunk of a user item's transcript arrived (GA streams it before the whole),
    with its token ``logprobs`` when the session's ``include`` asks for them."""

    item_id: str
    content_index: int
    delta: str
    logprobs: tuple[LogProb, ...] | None = None


@attrs.frozen(kw_only=True, repr=False)
class InputSegmentTranscribed(Transition):
    """One diarized segment of a user item's transcript arrived (GA)."""

    item_id: str
    content_index: int
    segment_id: str
    text: str
    speaker: str | None
    start: float | None
    end: float | None


@attrs.frozen(kw_only=True, repr=False)
class InputTimeoutTriggered(Transition):
    """Server VAD's idle timeout ran out (GA); the silence becomes user item ``item_id``."""

    item_id: str
    audio_start_ms: int
    audio_end_ms: int


@attrs.frozen(kw_only=True, repr=False)
class ItemRetrieved(Transition):
    """The server sent its copy of an item (GA ``conversation.item.retrieve``), with
    whatever it holds that the state does not (input audio)."""

    item_id: str
    item: Item


@attrs.frozen(kw_only=True, repr=False)
class OutputAudioStarted(Transition):
    """The server began playing a response's audio (GA, WebRTC/SIP)."""

    response_id: str


@attrs.frozen(kw_only=True, repr=False)
class OutputAudioStopped(Transition):
    """The server played all of a response's audio (GA, WebRTC/SIP)."""

    response_id: str


@attrs.frozen(kw_only=True, repr=False)
class OutputAudioCleared(Transition):
    """The server cut the playback of a response's audio (GA, WebRTC/SIP)."""

    response_id: str


@attrs.frozen(kw_only=True, repr=False)
class RateLimitsUpdated(Transition):
    """New rate-limit figures arrived (``names`` may be empty)."""

    names: tuple[str, ...]


@attrs.frozen(kw_only=True, repr=False)
class ServerErrorReceived(Transition):
    """The server sent an ``error`` event (data, not an exception)."""

    error: ErrorInfo


@attrs.frozen(kw_only=True, repr=False)
class TransportClosed(Transition):
    """The transport closed; the state keeps everything received."""

    code: int | None
    reason: str


@attrs.frozen(kw_only=True, repr=False)
class SessionExpired(Transition):
    """The server ended the session for its age (``session_expired``, or close 1001)."""

    message: str


@attrs.frozen(kw_only=True, repr=False)
class SessionResumed(Transition):
    """The connection started over on a new transport from a reconnect plan; items
    the plan rebuilt have new ids (``id_map``: old -> new)."""

    id_map: Mapping[str, str]


@attrs.frozen(kw_only=True, repr=False)
class ClientEventRejected(Transition):
    """The server answered ``event`` (sent by this client) with ``error``.

    Whatever the event changed locally is rolled back: a pending item is removed, a
    local truncation restored, a requested response no longer counts as requested.
    """

    event: ClientEvent
    error: ErrorInfo


@attrs.frozen(kw_only=True, repr=False)
class ClientEventTimedOut(Transition):
    """``event`` went unanswered for ``Config.ack_timeout`` seconds (or was evicted
    from a full ledger): it no longer counts as in flight."""

    event: ClientEvent


@attrs.frozen(kw_only=True, repr=False)
class ClientEventQueued(Transition):
    """``event`` is held back, not sent: a ``response.create`` while a response is
    active or requested, or a ``response.cancel`` before its response exists."""

    event: ClientEvent


@attrs.frozen(kw_only=True, repr=False)
class ClientEventCoalesced(Transition):
    """``event`` asked for what the queued event ``into`` already asks for: only
    ``into`` is sent."""

    event: ClientEvent
    into: ClientEvent


@attrs.frozen(kw_only=True, repr=False)
class TruncationPlanned(Transition):
    """Playback of ``response_id`` was cut (barge-in or ``interrupt()``): stop the
    audio now.

    ``cancelled``: a ``response.cancel`` went out (the response was active).
    ``truncated``: ``(item_id, content_index, audio_end_ms)`` of each item cut where
    the user stopped hearing it. ``deleted``: items the user heard nothing of.
    """

    response_id: str
    cancelled: bool
    truncated: tuple[tuple[str, int, int], ...]
    deleted: tuple[str, ...]


@attrs.frozen(kw_only=True, repr=False)
class DtmfReceived(Transition):
    """The caller pressed a keypad key (GA, SIP: ``input_audio_buffer.dtmf_event_received``):
    ``digit`` is the key (``"0"``-``"9"``, ``"*"``, ``"#"``, ...), ``received_at`` when the
    service got it (Unix seconds)."""

    digit: str
    received_at: int


@attrs.frozen(kw_only=True, repr=False)
class McpToolsListed(Transition):
    """The service listed an MCP server's tools into ``mcp_list_tools`` item ``item_id``
    (GA ``mcp_list_tools.completed``); the item is done."""

    item_id: str


@attrs.frozen(kw_only=True, repr=False)
class McpToolsListFailed(Transition):
    """Listing an MCP server's tools failed (GA ``mcp_list_tools.failed``); the item is done."""

    item_id: str


@attrs.frozen(kw_only=True, repr=False)
class McpCallArgumentsAppended(Transition):
    """A chunk of an ``mcp_call`` item's JSON arguments arrived (GA)."""

    item_id: str
    delta: str
    response_id: str


@attrs.frozen(kw_only=True, repr=False)
class McpCallArgumentsDone(Transition):
    """An ``mcp_call`` item's whole arguments arrived (GA); the service makes the call."""

    item_id: str
    arguments: str
    response_id: str


@attrs.frozen(kw_only=True, repr=False)
class McpCallCompleted(Transition):
    """The service's MCP tool call of item ``item_id`` returned (GA); its ``output`` is in
    the item's final snapshot (``ItemFinished`` follows)."""

    item_id: str
    output_index: int


@attrs.frozen(kw_only=True, repr=False)
class McpCallFailed(Transition):
    """The service's MCP tool call of item ``item_id`` failed (GA); its ``error`` is in
    the item's final snapshot."""

    item_id: str
    output_index: int


@attrs.frozen(kw_only=True, repr=False)
class McpApprovalRequested(Transition):
    """The service asks whether it may call MCP tool ``name`` of ``server_label`` with
    ``arguments`` (GA ``mcp_approval_request`` item ``item_id``): answer with a
    ``conversation.item.create`` of an ``mcp_approval_response`` item naming it in
    ``approval_request_id``, with ``approve`` (and a ``reason``)."""

    item_id: str
    server_label: str
    name: str
    arguments: str


TRANSITION_TYPES: Final[tuple[type[Transition], ...]] = (
    SessionStarted,
    SessionUpdated,
    ItemAdded,
    ItemFinished,
    ItemDeleted,
    ItemTruncated,
    TextAppended,
    TranscriptAppended,
    AudioAppended,
    FunctionCallArgumentsAppended,
    FunctionCallReady,
    ResponseStarted,
    ResponseFinished,
    SpeechStarted,
    SpeechStopped,
    InputCommitted,
    InputCleared,
    InputTranscribed,
    InputTranscriptionFailed,
    RateLimitsUpdated,
    ServerErrorReceived,
    TransportClosed,
    SessionExpired,
    SessionResumed,
    ClientEventRejected,
    ClientEventTimedOut,
    ClientEventQueued,
    ClientEventCoalesced,
    TruncationPlanned,
    InputTranscriptAppended,
    InputSegmentTranscribed,
    InputTimeoutTriggered,
    ItemRetrieved,
    OutputAudioStarted,
    OutputAudioStopped,
    OutputAudioCleared,
    DtmfReceived,
    McpToolsListed,
    McpToolsListFailed,
    McpCallArgumentsAppended,
    McpCallArgumentsDone,
    McpCallCompleted,
    McpCallFailed,
    McpApprovalRequested,
)
"""Every transition class."""

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def hook_name(transition_type: type[Transition]) -> str:
    """The plugin hook for a transition type: ``TextAppended`` -> ``on_text_appended``."""
    return "on_" + _CAMEL.sub("_", transition_type.__name__).lower()
