"""``fold(state, input, config) -> Step``: the pure reducer, the only builder of state.

Each input type has one handler. The handler looks the input up in the machine
(``rtstate.machines``) of every entity it touches and gives the entity the phase the
table returns (the ``by_payload`` table first, where the payload decides); a
missing pair is a protocol violation. A server event settles the in-flight client
event ``machines.ACKS`` says it acknowledges. A violation rejects the input: the
Step's ``after`` is its ``before`` and it carries a ``Diagnostic`` (or, with
``Config(strict=True)``, ``RemoteProtocolError`` is raised). A handler may also
*reconcile* a quirk it can repair (a ``.done`` value that disagrees with its
deltas, an item left open at ``response.done``): the input is applied and the Step
carries a diagnostic with ``applied=True``; strict mode raises for those too,
leaving the state unchanged.

Disorder real servers produce is folded silently: input transcription before its
item or long after, ``conversation.item.created`` after (or before)
``response.output_item.added``, ``rate_limits.updated`` and ``error`` anywhere, no
``conversation.created``, unknown events.

Hot paths (deltas) rebuild only part -> root, with the typed fast constructors of
``rtstate._fast``: a streaming delta's root keeps what it grew (the part's logs and
audio counters) in its record of the streaming part (``rtstate.state.Hot``) and builds
the part and ``items_by_id`` on first read; a function call's arguments delta keeps its
log so (``rtstate.state.CallHot``). Text accumulates in append-only logs
(``rtstate.logs``), compacted when the part finishes.

This module is the entry (``fold``) and the dispatch (``_HANDLERS``); the handlers
live in the private package ``rtstate._fold``, one module per entity, with the
ledger (``_ledger``), the deltas' fast path (``_deltas``) and barge-in planning
(``_barge_in``) each in its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from ._fast import new_step, plain_step
from ._fold._attached import adopt
from ._fold._barge_in import _interrupt, _played
from ._fold._base import Handler, _Extra, _Out, _Rejected
from ._fold._calls import (
    _ARGUMENTS_PHASES,
    _arguments_delta,
    _arguments_done,
    _arguments_streamed,
)
from ._fold._deltas import _STREAMED, _delta, _streamed
from ._fold._input_buffer import (
    _cleared,
    _committed,
    _dtmf,
    _speech_started,
    _speech_stopped,
    _timeout_triggered,
)
from ._fold._items import (
    _input_segment,
    _input_transcript_delta,
    _item_created,
    _item_deleted,
    _item_done,
    _item_retrieved,
    _item_truncated,
    _transcribed,
)
from ._fold._local import _closed, _malformed, _resumed, _tick
from ._fold._mcp import (
    _mcp_arguments_delta,
    _mcp_arguments_done,
    _mcp_call_status,
    _mcp_list_tools,
)
from ._fold._parts import (
    _audio_done,
    _content_part_added,
    _content_part_done,
    _text_done,
    _transcript_done,
)
from ._fold._responses import (
    _output_audio,
    _output_audio_cleared,
    _output_item_added,
    _output_item_done,
    _response_created,
    _response_done,
)
from ._fold._sends import (
    _send_item_create,
    _send_keyed,
    _send_response_cancel,
    _send_response_create,
    _send_truncate,
    _sent,
    _sent_append,
)
from ._fold._session import (
    _conversation_created,
    _error,
    _rate_limits,
    _session_created,
    _session_updated,
    _unknown,
)
from .config import DEFAULT_CONFIG, Config
from .errors import RemoteProtocolError
from .events import client as c
from .events import server as s
from .state import SessionState
from .step import Closed, Diagnostic, Input, Interrupt, Malformed, Played, Resumed, Step, Tick

__all__ = ["fold"]


def fold(state: SessionState, input: Input, config: Config = DEFAULT_CONFIG) -> Step:
    """Fold one input into ``state`` and say what happened.

    ``input`` is a received server event, a client event as sent, ``Tick``,
    ``Closed`` or ``Malformed``. Pure: the same state, input and config always give
    an equal Step, and ``state`` itself is never changed.

    Raises:
        RemoteProtocolError: only with ``config.strict``, for an input that breaks
            the protocol; nothing is folded.
    """
    fast = _FAST.get(input.__class__)
    if fast is not None:
        step = fast[0](state, input, config, fast[1])
        if step is not None:
            return step
    return _handled(state, input, config)


def _handled(state: SessionState, input: Input, config: Config) -> Step:
    """``fold`` through the handler tables alone: the reference the fast paths
    (``_FAST``) agree with, and what ``fold`` does for every input they decline."""
    handler = _HANDLERS.get(type(input))
    if handler is None:
        raise TypeError(f"fold() cannot take a {type(input).__name__}")
    out = _Out(config)
    try:
        if state.attached:
            adopted, handled = adopt(state, input, out)
            after = handler(adopted, handled, out)
        else:
            after = handler(state, input, out)
    except _Rejected as v:
        return _reject(state, input, v, config)
    extra = out.extra
    if extra is not None:
        return _full_step(state, input, after, out, extra)
    return plain_step(input, state, after, tuple(out.transitions))


def _full_step(
    state: SessionState, input: Input, after: SessionState, out: _Out, extra: _Extra
) -> Step:
    event_type = getattr(input, "type", None)
    if extra.notes and out.config.strict:
        code, message = extra.notes[0]
        raise RemoteProtocolError(f"{code}: {message}", event_type=event_type)
    diagnostics = tuple(
        Diagnostic(code=code, message=message, event_type=event_type, applied=True)
        for code, message in (*extra.notes, *extra.infos)
    )
    return new_step(
        input=input,
        before=state,
        after=after,
        transitions=tuple(out.transitions),
        diagnostics=diagnostics,
        sent=tuple(extra.sent),
        planned=tuple(extra.planned),
    )


def _reject(state: SessionState, input: Input, rejection: _Rejected, config: Config) -> Step:
    code, message = rejection.code, rejection.message
    event_type = getattr(input, "type", None)
    if config.strict:
        raise RemoteProtocolError(f"{code}: {message}", event_type=event_type)
    diagnostic = Diagnostic(code=code, message=message, event_type=event_type, applied=False)
    return new_step(input=input, before=state, after=state, diagnostics=(diagnostic,))


_Fast = Callable[[SessionState, Any, Config, Any], Step | None]

_FAST: Final[Mapping[type, tuple[_Fast, object]]] = {
    **{delta: (_streamed, stream) for delta, stream in _STREAMED.items()},
    s.ResponseFunctionCallArgumentsDelta: (_arguments_streamed, _ARGUMENTS_PHASES),
}
"""Input type -> its fast path and that path's table entry: the streaming deltas
(``_deltas._streamed``) and a function call's arguments deltas
(``_calls._arguments_streamed``). A fast path gives the Step of the common case or
``None``, and ``fold`` goes on to the handler."""


_HANDLERS: Final[Mapping[type, Handler]] = {
    s.Error: _error,
    s.SessionCreated: _session_created,
    s.SessionUpdated: _session_updated,
    s.ConversationCreated: _conversation_created,
    s.ConversationItemCreated: _item_created,
    s.ConversationItemInputAudioTranscriptionCompleted: _transcribed,
    s.ConversationItemInputAudioTranscriptionFailed: _transcribed,
    s.ConversationItemTruncated: _item_truncated,
    s.ConversationItemDeleted: _item_deleted,
    s.InputAudioBufferCommitted: _committed,
    s.InputAudioBufferCleared: _cleared,
    s.InputAudioBufferSpeechStarted: _speech_started,
    s.InputAudioBufferSpeechStopped: _speech_stopped,
    s.ResponseCreated: _response_created,
    s.ResponseDone: _response_done,
    s.ResponseOutputItemAdded: _output_item_added,
    s.ResponseOutputItemDone: _output_item_done,
    s.ResponseContentPartAdded: _content_part_added,
    s.ResponseContentPartDone: _content_part_done,
    s.ResponseTextDelta: _delta,
    s.ResponseTextDone: _text_done,
    s.ResponseAudioTranscriptDelta: _delta,
    s.ResponseAudioTranscriptDone: _transcript_done,
    s.ResponseAudioDelta: _delta,
    s.ResponseAudioDone: _audio_done,
    s.ResponseFunctionCallArgumentsDelta: _arguments_delta,
    s.ResponseFunctionCallArgumentsDone: _arguments_done,
    s.RateLimitsUpdated: _rate_limits,
    s.ConversationItemAdded: _item_created,
    s.ConversationItemDone: _item_done,
    s.ConversationItemRetrieved: _item_retrieved,
    s.ConversationItemInputAudioTranscriptionDelta: _input_transcript_delta,
    s.ConversationItemInputAudioTranscriptionSegment: _input_segment,
    s.InputAudioBufferTimeoutTriggered: _timeout_triggered,
    s.OutputAudioBufferStarted: _output_audio,
    s.OutputAudioBufferStopped: _output_audio,
    s.OutputAudioBufferCleared: _output_audio_cleared,
    s.InputAudioBufferDtmfEventReceived: _dtmf,
    s.McpListToolsInProgress: _mcp_list_tools,
    s.McpListToolsCompleted: _mcp_list_tools,
    s.McpListToolsFailed: _mcp_list_tools,
    s.ResponseMcpCallArgumentsDelta: _mcp_arguments_delta,
    s.ResponseMcpCallArgumentsDone: _mcp_arguments_done,
    s.ResponseMcpCallInProgress: _mcp_call_status,
    s.ResponseMcpCallCompleted: _mcp_call_status,
    s.ResponseMcpCallFailed: _mcp_call_status,
    s.UnknownServerEvent: _unknown,
    c.SessionUpdate: _sent,
    c.InputAudioBufferAppend: _sent_append,
    c.InputAudioBufferCommit: _sent,
    c.InputAudioBufferClear: _sent,
    c.ConversationItemCreate: _send_item_create,
    c.ConversationItemTruncate: _send_truncate,
    c.ConversationItemDelete: _send_keyed,
    c.ConversationItemRetrieve: _send_keyed,
    c.OutputAudioBufferClear: _sent,
    c.ResponseCreate: _send_response_create,
    c.ResponseCancel: _send_response_cancel,
    c.UnknownClientEvent: _sent,
    Tick: _tick,
    Played: _played,
    Interrupt: _interrupt,
    Resumed: _resumed,
    Closed: _closed,
    Malformed: _malformed,
}
"""Input type -> handler: every server event, every client event as sent, local inputs."""
