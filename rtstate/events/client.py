"""The 9 client events of the beta protocol (``2024-10-01``), as frozen values, and the
two the GA protocol adds (``GA_CLIENT_EVENT_TYPES``).

Class names are the CamelCase of the wire ``type``, which each class carries as the
class attribute ``type``. ``event_id`` is optional: ``ClientConnection.send`` stamps one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from .._repr import fields_repr
from .payloads import Item, ResponseParams, SessionConfig

__all__ = [
    "CLIENT_EVENT_TYPES",
    "GA_CLIENT_EVENT_TYPES",
    "ClientEvent",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "OutputAudioBufferClear",
    "ResponseCancel",
    "ResponseCreate",
    "SessionUpdate",
    "UnknownClientEvent",
    "mcp_approval_response",
]


@attrs.frozen(kw_only=True, repr=False)
class ClientEvent:
    """Base class of the known client events."""

    __repr__ = fields_repr

    type: ClassVar[str]
    event_id: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class SessionUpdate(ClientEvent):
    """``session.update``: change the session config; only the fields given change."""

    type: ClassVar[str] = "session.update"
    session: SessionConfig


@attrs.frozen(kw_only=True, repr=False)
class InputAudioBufferAppend(ClientEvent):
    """``input_audio_buffer.append``: base64 audio in the input format; never acknowledged."""

    type: ClassVar[str] = "input_audio_buffer.append"
    audio: str


@attrs.frozen(kw_only=True, repr=False)
class InputAudioBufferCommit(ClientEvent):
    """``input_audio_buffer.commit``: turn the buffered audio into a user item."""

    type: ClassVar[str] = "input_audio_buffer.commit"


@attrs.frozen(kw_only=True, repr=False)
class InputAudioBufferClear(ClientEvent):
    """``input_audio_buffer.clear``: drop the buffered audio."""

    type: ClassVar[str] = "input_audio_buffer.clear"


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemCreate(ClientEvent):
    """``conversation.item.create``: add an item after ``previous_item_id`` (or at the end)."""

    type: ClassVar[str] = "conversation.item.create"
    item: Item
    previous_item_id: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemTruncate(ClientEvent):
    """``conversation.item.truncate``: keep only the first ``audio_end_ms`` of assistant audio."""

    type: ClassVar[str] = "conversation.item.truncate"
    item_id: str
    content_index: int
    audio_end_ms: int


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemDelete(ClientEvent):
    """``conversation.item.delete``: remove an item from the conversation."""

    type: ClassVar[str] = "conversation.item.delete"
    item_id: str


@attrs.frozen(kw_only=True, repr=False)
class ResponseCreate(ClientEvent):
    """``response.create``: ask for a response, with optional per-response overrides."""

    type: ClassVar[str] = "response.create"
    response: ResponseParams | None = None


@attrs.frozen(kw_only=True, repr=False)
class ResponseCancel(ClientEvent):
    """``response.cancel``: stop the active response (or ``response_id``)."""

    type: ClassVar[str] = "response.cancel"
    response_id: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class ConversationItemRetrieve(ClientEvent):
    """``conversation.item.retrieve`` (GA): ask for an item as the server holds it."""

    type: ClassVar[str] = "conversation.item.retrieve"
    item_id: str


@attrs.frozen(kw_only=True, repr=False)
class OutputAudioBufferClear(ClientEvent):
    """``output_audio_buffer.clear`` (GA, WebRTC/SIP only): cut the server's playback;
    send ``response.cancel`` first."""

    type: ClassVar[str] = "output_audio_buffer.clear"


def mcp_approval_response(
    approval_request_id: str,
    *,
    approve: bool,
    reason: str | None = None,
    item_id: str | None = None,
    previous_item_id: str | None = None,
) -> ConversationItemCreate:
    """The answer to a GA MCP approval request (``McpApprovalRequested``): a
    ``conversation.item.create`` of an ``mcp_approval_response`` item naming the
    request's item id in ``approval_request_id``, approving the call or not, with an
    optional ``reason``. ``item_id``: the new item's id (``None``: the server picks one).

    Send ``response.create`` after it to go on, as after a function call's output: the
    fake server (``rtstate.server``) runs an approved call in that response and never
    runs a denied one (see the README's "MCP")."""
    return ConversationItemCreate(
        item=Item(
            type="mcp_approval_response",
            id=item_id,
            approval_request_id=approval_request_id,
            approve=approve,
            reason=reason,
        ),
        previous_item_id=previous_item_id,
    )


@attrs.frozen(kw_only=True, repr=False)
class UnknownClientEvent:
    """A client frame whose ``type`` this codec does not know, kept as received."""

    __repr__ = fields_repr

    type: str
    raw: Mapping[str, Any] = attrs.field(repr=False)

    @property
    def event_id(self) -> str | None:
        """The frame's ``event_id`` if it is a string."""
        value = self.raw.get("event_id")
        return value if isinstance(value, str) else None


CLIENT_EVENT_TYPES: tuple[type[ClientEvent], ...] = (
    SessionUpdate,
    InputAudioBufferAppend,
    InputAudioBufferCommit,
    InputAudioBufferClear,
    ConversationItemCreate,
    ConversationItemTruncate,
    ConversationItemDelete,
    ResponseCreate,
    ResponseCancel,
)
"""Every beta client event class, in the beta protocol's documented order: session,
input audio buffer, conversation items, responses."""

GA_CLIENT_EVENT_TYPES: tuple[type[ClientEvent], ...] = (
    ConversationItemRetrieve,
    OutputAudioBufferClear,
)
"""The client events only the GA codec encodes."""
