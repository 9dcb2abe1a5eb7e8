"""``fold(state, input, config) -> Step``: the pure reducer, the only builder of state.

Each input type has one handler. The handler looks the input up in the machine
(``rtstate.machines``) of every entity it touches and gives the entity the phase the
table returns (the ``by_payload`` table first, where the payload decides); a
missing pair is a protocol violation. A server event settles the pending client
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

Hot paths (deltas) rebuild only part -> item -> root, with the typed fast
constructors of ``rtstate._fast``; text accumulates in append-only logs (``rtstate.logs``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from . import machines
from ._fast import (
    evolve_item,
    evolve_part,
    evolve_root,
    new_item,
    new_item_added,
    new_part,
    new_step,
    with_part,
)
from ._fold._barge_in import _interrupt, _plan_interrupt, _played
from ._fold._base import (
    _BYTES_PER_MS,
    _ITEM_TABLE,
    _PART_TABLE,
    Handler,
    _active,
    _bounded,
    _check,
    _Extra,
    _item_phase,
    _live,
    _open,
    _Out,
    _Violation,
)
from ._fold._deltas import _STREAMED, _checked_part, _delta, _streamed, _streaming_part
from ._fold._ledger import (
    _ack,
    _ack_unnamed_create,
    _deferred,
    _queued,
    _recorded,
    _rejection,
    _release,
    _released_cancel,
    _timed,
)
from .config import DEFAULT_CONFIG, Config
from .errors import RemoteProtocolError
from .events import client as c
from .events import server as s
from .events.payloads import ContentPart, ErrorInfo, Item, ResponseInfo
from .logs import EMPTY_TEXT, TextLog
from .state import (
    InputBufferState,
    ItemPhase,
    ItemState,
    PartPhase,
    PartState,
    RateLimitState,
    ResponsePhase,
    ResponseState,
    SessionPhase,
    SessionState,
    SpeechWindow,
)
from .step import Closed, Diagnostic, Input, Interrupt, Malformed, Played, Resumed, Step, Tick
from .transitions import (
    ClientEventTimedOut,
    FunctionCallArgumentsAppended,
    FunctionCallReady,
    InputCleared,
    InputCommitted,
    InputSegmentTranscribed,
    InputTimeoutTriggered,
    InputTranscribed,
    InputTranscriptAppended,
    InputTranscriptionFailed,
    ItemCompleted,
    ItemDeleted,
    ItemRetrieved,
    ItemTruncated,
    OutputAudioCleared,
    OutputAudioStarted,
    OutputAudioStopped,
    RateLimitsUpdated,
    ResponseCompleted,
    ResponseStarted,
    ServerErrorReceived,
    SessionExpired,
    SessionResumed,
    SessionStarted,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    Transition,
    TransportClosed,
)

__all__ = ["fold"]


_FINAL_ITEM_STATUSES: Final = frozenset({"completed", "incomplete"})
_AUDIO_PARTS: Final = frozenset({"audio", "input_audio"})


def fold(state: SessionState, input: Input, config: Config = DEFAULT_CONFIG) -> Step:
    """Fold one input into ``state`` and say what happened.

    ``input`` is a received server event, a client event as sent, ``Tick``,
    ``Closed`` or ``Malformed``. Pure: the same state, input and config always give
    an equal Step, and ``state`` itself is never changed.

    Raises:
        RemoteProtocolError: only with ``config.strict``, for an input that breaks
            the protocol; nothing is folded.
    """
    stream = _STREAMED.get(input.__class__)
    if stream is not None:
        step = _streamed(state, input, config, stream)
        if step is not None:
            return step
    return _handled(state, input, config)


def _handled(state: SessionState, input: Input, config: Config) -> Step:
    """``fold`` through the handler tables alone: the reference ``_streamed`` agrees
    with, and what ``fold`` does for every input ``_streamed`` declines."""
    handler = _HANDLERS.get(type(input))
    if handler is None:
        raise TypeError(f"fold() cannot take a {type(input).__name__}")
    out = _Out(config)
    try:
        after = handler(state, input, out)
    except _Violation as v:
        return _reject(state, input, v, config)
    extra = out.extra
    if extra is not None:
        return _full_step(state, input, after, out, extra)
    return new_step(input=input, before=state, after=after, transitions=tuple(out.transitions))


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


def _reject(state: SessionState, input: Input, violation: _Violation, config: Config) -> Step:
    code, message = violation.code, violation.message
    event_type = getattr(input, "type", None)
    if config.strict:
        raise RemoteProtocolError(f"{code}: {message}", event_type=event_type)
    diagnostic = Diagnostic(code=code, message=message, event_type=event_type, applied=False)
    return new_step(input=input, before=state, after=state, diagnostics=(diagnostic,))


# --- session ---------------------------------------------------------------------------


def _session_created(state: SessionState, e: s.SessionCreated, out: _Out) -> SessionState:
    phase = _check(machines.SESSION, state.phase, e)
    out.transitions.append(SessionStarted(session=e.session))
    return evolve_root(state, phase=phase, session=e.session, revision=state.revision + 1)


def _session_updated(state: SessionState, e: s.SessionUpdated, out: _Out) -> SessionState:
    _check(machines.SESSION, state.phase, e)
    out.transitions.append(SessionUpdated(session=e.session))
    ledger, _ = _ack(state.ledger, e, None, out.config)
    return evolve_root(state, session=e.session, ledger=ledger, revision=state.revision + 1)


def _conversation_created(state: SessionState, e: s.ConversationCreated, out: _Out) -> SessionState:
    _check(machines.SESSION, state.phase, e)
    if state.conversation_id is not None or state.order.size or state.finished or state.response:
        raise _Violation("INV-2", "conversation.created after the conversation began")
    return evolve_root(state, conversation_id=e.conversation.id, revision=state.revision + 1)


def _error(state: SessionState, e: s.Error, out: _Out) -> SessionState:
    """Data, not an exception: correlated with the client event it names, if any."""
    error = e.error
    out.transitions.append(ServerErrorReceived(error=error))
    expired = state.expired
    if error.code == _EXPIRED_CODE and not expired:
        out.transitions.append(SessionExpired(message=error.message or "session expired"))
        expired = True
    state = _rejected(state, error, out)
    return evolve_root(state, last_error=error, expired=expired, revision=state.revision + 1)


def _rate_limits(state: SessionState, e: s.RateLimitsUpdated, out: _Out) -> SessionState:
    revision = state.revision + 1
    limits = state.rate_limits
    if e.rate_limits:
        with limits.mutate() as m:
            for r in e.rate_limits:
                m[r.name] = RateLimitState(
                    name=r.name,
                    limit=r.limit,
                    remaining=r.remaining,
                    reset_seconds=r.reset_seconds,
                    revision=revision,
                    arrived_at=state.now,
                )
            limits = m.finish()
    out.transitions.append(RateLimitsUpdated(names=tuple(r.name for r in e.rate_limits)))
    return evolve_root(state, rate_limits=limits, revision=revision)


def _unknown(state: SessionState, e: s.UnknownServerEvent, out: _Out) -> SessionState:
    return state


# --- input buffer ----------------------------------------------------------------------


def _input(state: SessionState, buf: InputBufferState, **changes: Any) -> SessionState:
    return evolve_root(state, input=attrs.evolve(buf, **changes), revision=state.revision + 1)


def _speech_started(
    state: SessionState, e: s.InputAudioBufferSpeechStarted, out: _Out
) -> SessionState:
    _open(state, e)
    buf = state.input
    phase = _check(machines.INPUT_BUFFER, buf.phase, e)
    window = SpeechWindow(item_id=e.item_id, start_ms=e.audio_start_ms)
    out.transitions.append(SpeechStarted(item_id=e.item_id, audio_start_ms=e.audio_start_ms))
    limit = out.config.history_limit
    state = _input(state, buf, phase=phase, speech=_bounded(buf.speech, window, limit))
    return _plan_interrupt(state, out, reported_only=True)


def _speech_stopped(
    state: SessionState, e: s.InputAudioBufferSpeechStopped, out: _Out
) -> SessionState:
    _open(state, e)
    buf = state.input
    phase = _check(machines.INPUT_BUFFER, buf.phase, e)
    speech = buf.speech
    if speech and speech[-1].end_ms is None:
        last = speech[-1]
        closed = SpeechWindow(item_id=e.item_id, start_ms=last.start_ms, end_ms=e.audio_end_ms)
        speech = (*speech[:-1], closed)
    out.transitions.append(SpeechStopped(item_id=e.item_id, audio_end_ms=e.audio_end_ms))
    return _input(state, buf, phase=phase, speech=speech)


def _committed(state: SessionState, e: s.InputAudioBufferCommitted, out: _Out) -> SessionState:
    _open(state, e)
    buf = state.input
    phase = _check(machines.INPUT_BUFFER, buf.phase, e)
    out.transitions.append(InputCommitted(item_id=e.item_id, previous_item_id=e.previous_item_id))
    committed = _bounded(buf.committed, e.item_id, out.config.history_limit)
    ledger = state.ledger
    if not (buf.speech and buf.speech[-1].item_id == e.item_id):  # not server VAD's own
        ledger, _ = _ack(state.ledger, e, None, out.config)
    return evolve_root(
        state,
        input=attrs.evolve(buf, phase=phase, appended_ms=0.0, committed=committed),
        ledger=ledger,
        revision=state.revision + 1,
    )


def _cleared(state: SessionState, e: s.InputAudioBufferCleared, out: _Out) -> SessionState:
    _open(state, e)
    buf = state.input
    phase = _check(machines.INPUT_BUFFER, buf.phase, e)
    out.transitions.append(InputCleared())
    ledger, _ = _ack(state.ledger, e, None, out.config)
    return evolve_root(
        state,
        input=attrs.evolve(buf, phase=phase, appended_ms=0.0, cleared=buf.cleared + 1),
        ledger=ledger,
        revision=state.revision + 1,
    )


def _b64_bytes(data: str) -> int:
    """The bytes ``data`` (base64) decodes to: padding only ever ends it."""
    n = len(data)
    return n * 3 // 4 - data.count("=", n - 2)


def _sent_append(state: SessionState, e: c.InputAudioBufferAppend, out: _Out) -> SessionState:
    _sending(state, e)
    buf = state.input
    fmt = state.session.input_audio_format if state.session is not None else None
    ms = _b64_bytes(e.audio) / _BYTES_PER_MS.get(fmt or "pcm16", 48)
    out.send(e)
    return evolve_root(
        _record(state, e, out),
        input=attrs.evolve(
            buf,
            appended_ms=buf.appended_ms + ms,
            total_appended_ms=buf.total_appended_ms + ms,
        ),
        revision=state.revision + 1,
    )


def _record(
    state: SessionState,
    e: c.ClientEvent,
    out: _Out,
    key: str | None = None,
    undo: PartState | None = None,
) -> SessionState:
    """``state`` with ``e`` in the ledger (``_ledger._recorded``); the event a full
    ledger gave up for it is reported (``ClientEventTimedOut``) and rolled back."""
    ledger, evicted = _recorded(state.ledger, e, out.config, key, undo)
    if evicted is None:
        return evolve_root(state, ledger=ledger)
    out.transitions.append(ClientEventTimedOut(event=evicted.event))
    return _rolled_back(evolve_root(state, ledger=ledger), evicted.event, evicted.undo)


def _sending(state: SessionState, e: c.ClientEvent) -> None:
    if state.phase is SessionPhase.CLOSED:
        raise _Violation("closed", f"{e.type} sent after the transport closed")


def _sent(state: SessionState, e: c.ClientEvent, out: _Out) -> SessionState:
    """A client event with no local effect beyond the ledger."""
    _sending(state, e)
    out.send(e)
    return evolve_root(_record(state, e, out), revision=state.revision + 1)


# --- responses -------------------------------------------------------------------------


def _response_created(state: SessionState, e: s.ResponseCreated, out: _Out) -> SessionState:
    _open(state, e)
    if state.response is not None:
        raise _Violation(
            "INV-5", f"response {e.response.id} created while {state.response.id} is active"
        )
    phase = _check(machines.RESPONSE, None, e)
    info = e.response
    response = ResponseState(
        id=info.id,
        phase=phase,
        status=info.status,
        info=info,
        output_audio_format=_output_format(state, info),
    )
    out.transitions.append(ResponseStarted(response_id=info.id))
    ledger, _ = _ack(state.ledger, e, None, out.config)
    ledger, cancel = _released_cancel(ledger)
    if cancel is not None:
        out.plan(cancel)  # the cancel sent before this response existed
    return evolve_root(state, response=response, ledger=ledger, revision=state.revision + 1)


def _response_done(state: SessionState, e: s.ResponseDone, out: _Out) -> SessionState:
    _open(state, e)
    info = e.response
    response = _active(state, e, info.id)
    items = state.items_by_id
    order = state.order
    final_status = {item.id: item.status for item in info.output if item.id is not None}
    for item_id in response.output:
        item = items.get(item_id)
        if item is None or item.phase is ItemPhase.DONE:
            continue
        out.note("INV-12", f"item {item_id} still open at response.done; closed")
        if item_id not in order:
            order = order.insert(item_id, order.tail)
        status = final_status.get(item_id)
        if status not in _FINAL_ITEM_STATUSES:  # a closed item is never in_progress
            status = "incomplete"
        parts = tuple(
            evolve_part(p, phase=_live(_PART_TABLE, p.phase, s.ResponseDone)) for p in item.parts
        )
        phase = _live(_ITEM_TABLE, item.phase, s.ResponseDone)
        items = items.set(item_id, evolve_item(item, phase=phase, status=status, parts=parts))
        out.transitions.append(ItemCompleted(item_id=item_id, status=status))
    announced = set(response.output)
    for snapshot in info.output:
        if snapshot.id is not None and snapshot.id not in announced:
            out.note("INV-11", f"response.done lists {snapshot.id}, never announced")
    # the table ends the active response (RESPONSE gives None); its record joins the history
    finished = ResponseState(
        id=info.id,
        phase=ResponsePhase.DONE,
        status=info.status,
        output=response.output,
        status_details=info.status_details,
        usage=info.usage,
        info=info,
        output_audio_format=response.output_audio_format,
    )
    history = _bounded(state.finished, finished, out.config.response_history)
    out.transitions.append(
        ResponseCompleted(
            response_id=info.id,
            status=info.status,
            status_details=info.status_details,
            usage=info.usage,
        )
    )
    ledger, entry = _ack(state.ledger, e, info.id, out.config)
    while entry is not None:  # every cancel of this response is answered by its end
        ledger, entry = _ack(ledger, e, info.id, out.config)
    ledger, release = _release(ledger, False)
    if release is not None:
        out.plan(release)
    return evolve_root(
        state,
        response=None,
        finished=history,
        items_by_id=items,
        order=order,
        ledger=ledger,
        revision=state.revision + 1,
    )


# --- items -----------------------------------------------------------------------------


def _part_from(part: ContentPart, phase: PartPhase) -> PartState:
    kind = part.type
    text: str | None = None
    transcript_log: TextLog | None = None
    if kind in _AUDIO_PARTS:
        if part.transcript is not None:
            transcript_log = TextLog.of(part.transcript)
    else:
        text = part.text
    return new_part(
        type=kind,
        phase=phase,
        text_log=TextLog.of(text) if text else EMPTY_TEXT,
        transcript_log=transcript_log,
        audio_bytes=0,
        audio_ms=0.0,
        audio_done=False,
        truncated_ms=None,
    )


def _parts_from(content: tuple[ContentPart, ...], input: object) -> tuple[PartState, ...]:
    phase = _live(_PART_TABLE, None, input.__class__)
    return tuple([_part_from(p, phase) for p in content])


def _item_from(
    item: Item,
    item_id: str,
    phase: ItemPhase,
    input: object,
    *,
    response_id: str | None = None,
    output_index: int | None = None,
) -> ItemState:
    """The item of the snapshot ``item`` that ``input`` brings; its parts take the
    phase the part table gives a part that comes with ``input``."""
    content = item.content
    arguments = item.arguments
    return new_item(
        id=item_id,
        type=item.type,
        phase=phase,
        status=item.status,
        role=item.role,
        parts=_parts_from(content, input) if content else (),
        name=item.name,
        call_id=item.call_id,
        arguments_log=TextLog.of(arguments) if arguments else EMPTY_TEXT,
        output=item.output,
        response_id=response_id,
        output_index=output_index,
        transcription_error=None,
    )


def _output_item_added(
    state: SessionState, e: s.ResponseOutputItemAdded, out: _Out
) -> SessionState:
    _open(state, e)
    response = _active(state, e, e.response_id)
    if e.output_index != len(response.output):
        raise _Violation("INV-6", f"output_index {e.output_index}, expected {len(response.output)}")
    item_id = e.item.id
    if item_id is None:
        raise _Violation("INV-6", "response.output_item.added without an item id")
    item, phase = _item_phase(state, item_id)
    phase = _check(machines.ITEM, phase, e)
    if item is None:
        new = _item_from(
            e.item,
            item_id,
            phase,
            e,
            response_id=response.id,
            output_index=e.output_index,
        )
    else:
        new = evolve_item(item, phase=phase, response_id=response.id, output_index=e.output_index)
    active = attrs.evolve(response, output=(*response.output, item_id))
    return evolve_root(
        state,
        items_by_id=state.items_by_id.set(item_id, new),
        response=active,
        revision=state.revision + 1,
    )


def _item_created(
    state: SessionState, e: s.ConversationItemCreated | s.ConversationItemAdded, out: _Out
) -> SessionState:
    """``conversation.item.created`` (beta) or ``conversation.item.added`` (GA)."""
    _open(state, e)
    item_id = e.item.id
    if item_id is None:
        raise _Violation("INV-15", "conversation.item.created without an item id")
    item, phase = _item_phase(state, item_id)
    next_phase = _check(machines.ITEM, phase, e)  # by_payload: created complete or not
    previous = e.previous_item_id
    if previous is not None and previous not in state.order:
        raise _Violation("INV-15", f"previous_item_id {previous} is not in the conversation")
    if item is None or phase is ItemPhase.PENDING:  # the server's copy is the truth
        new = _item_from(e.item, item_id, next_phase, e)
    else:
        new = evolve_item(item, phase=next_phase)
    ledger, entry = _ack(state.ledger, e, item_id, out.config)
    if entry is None and item is None and item_id not in state.input.committed:
        ledger = _ack_unnamed_create(ledger, e.item.type, out.config)
    buf = state.input
    pending = buf.pending.get(item_id)
    new_input = buf
    if pending is not None:
        new_input = attrs.evolve(buf, pending=buf.pending.delete(item_id))
        try:
            new = _apply_transcription(new, *pending)
        except _Violation as v:  # the early transcription was bad, not this item: keep it
            out.note(v.code, f"{v.message}; the early transcription is dropped")
    out.transitions.append(
        new_item_added(item_id=item_id, previous_item_id=previous, type=new.type, role=new.role)
    )
    items = state.items_by_id.set(item_id, new)
    order = state.order.insert(item_id, previous)
    return evolve_root(
        state,
        items_by_id=items,
        order=order,
        input=new_input,
        ledger=ledger,
        revision=state.revision + 1,
    )


def _apply_transcription(item: ItemState, index: int, result: str | ErrorInfo) -> ItemState:
    part = _part_at(item, index, "input_audio")
    if part is None:
        raise _Violation("INV-14", f"item {item.id} has no input_audio part {index}")
    if isinstance(result, ErrorInfo):
        return evolve_item(item, transcription_error=result)
    return _item_with_part(item, index, evolve_part(part, transcript_log=TextLog.of(result)))


def _transcribed(
    state: SessionState,
    e: s.ConversationItemInputAudioTranscriptionCompleted
    | s.ConversationItemInputAudioTranscriptionFailed,
    out: _Out,
) -> SessionState:
    _open(state, e)
    item, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    result: str | ErrorInfo
    if isinstance(e, s.ConversationItemInputAudioTranscriptionCompleted):
        result = e.transcript
        done: Transition = InputTranscribed(
            item_id=e.item_id, content_index=e.content_index, transcript=e.transcript
        )
    else:
        result = e.error
        done = InputTranscriptionFailed(
            item_id=e.item_id, content_index=e.content_index, error=e.error
        )
    out.transitions.append(done)
    if item is None or phase is ItemPhase.PENDING:
        buf = state.input
        return _input(state, buf, pending=buf.pending.set(e.item_id, (e.content_index, result)))
    new = _apply_transcription(item, e.content_index, result)
    return evolve_root(
        state, items_by_id=state.items_by_id.set(e.item_id, new), revision=state.revision + 1
    )


def _item_done(state: SessionState, e: s.ConversationItemDone, out: _Out) -> SessionState:
    """GA: the item's final snapshot. A response's output item is finished by the
    ``response.output_item.done`` that follows; any other item was final when added."""
    _open(state, e)
    _, phase = _item_phase(state, e.item.id or "")
    _check(machines.ITEM, phase, e)
    return state


def _item_retrieved(state: SessionState, e: s.ConversationItemRetrieved, out: _Out) -> SessionState:
    _open(state, e)
    item_id = e.item.id or ""
    _, phase = _item_phase(state, item_id)
    _check(machines.ITEM, phase, e)
    out.transitions.append(ItemRetrieved(item_id=item_id, item=e.item))
    ledger, _ = _ack(state.ledger, e, item_id, out.config)
    return evolve_root(state, ledger=ledger, revision=state.revision + 1)


def _input_transcript_delta(
    state: SessionState, e: s.ConversationItemInputAudioTranscriptionDelta, out: _Out
) -> SessionState:
    """GA: a chunk of a user item's transcript, kept until ``.completed`` gives the whole."""
    _open(state, e)
    item, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    index = e.content_index or 0
    delta = e.delta or ""
    out.transitions.append(
        InputTranscriptAppended(item_id=e.item_id, content_index=index, delta=delta)
    )
    if item is None or phase is ItemPhase.PENDING or not delta:
        return state  # nothing to show it on yet: ``.completed`` brings the whole
    part = _part_at(item, index, "input_audio")
    if part is None:
        raise _Violation("INV-14", f"item {item.id} has no input_audio part {index}")
    log = (part.transcript_log or EMPTY_TEXT).append(delta)
    return with_part(state, item, index, evolve_part(part, transcript_log=log))


def _input_segment(
    state: SessionState, e: s.ConversationItemInputAudioTranscriptionSegment, out: _Out
) -> SessionState:
    _open(state, e)
    _, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    out.transitions.append(
        InputSegmentTranscribed(
            item_id=e.item_id,
            content_index=e.content_index,
            segment_id=e.id,
            text=e.text,
            speaker=e.speaker,
            start=e.start,
            end=e.end,
        )
    )
    return state


def _timeout_triggered(
    state: SessionState, e: s.InputAudioBufferTimeoutTriggered, out: _Out
) -> SessionState:
    _open(state, e)
    _check(machines.INPUT_BUFFER, state.input.phase, e)
    out.transitions.append(
        InputTimeoutTriggered(
            item_id=e.item_id, audio_start_ms=e.audio_start_ms, audio_end_ms=e.audio_end_ms
        )
    )
    return state


_OUTPUT_AUDIO: Final[Mapping[type, type[OutputAudioStarted | OutputAudioStopped]]] = {
    s.OutputAudioBufferStarted: OutputAudioStarted,
    s.OutputAudioBufferStopped: OutputAudioStopped,
}


def _output_audio(
    state: SessionState,
    e: s.OutputAudioBufferStarted | s.OutputAudioBufferStopped,
    out: _Out,
) -> SessionState:
    """GA, WebRTC/SIP: the server's own playback began or ended (anywhere, like
    ``rate_limits.updated``: ``stopped`` follows the response's end)."""
    _open(state, e)
    out.transitions.append(_OUTPUT_AUDIO[type(e)](response_id=e.response_id))
    return state


def _output_audio_cleared(
    state: SessionState, e: s.OutputAudioBufferCleared, out: _Out
) -> SessionState:
    _open(state, e)
    out.transitions.append(OutputAudioCleared(response_id=e.response_id))
    ledger, _ = _ack(state.ledger, e, None, out.config)
    if ledger is state.ledger:
        return state
    return evolve_root(state, ledger=ledger, revision=state.revision + 1)


def _output_item_done(state: SessionState, e: s.ResponseOutputItemDone, out: _Out) -> SessionState:
    _open(state, e)
    response = _active(state, e, e.response_id)
    item_id = e.item.id or ""
    item, phase = _item_phase(state, item_id)
    next_phase = _check(machines.ITEM, phase, e)
    assert item is not None
    if response.output[e.output_index : e.output_index + 1] != (item_id,):
        raise _Violation("INV-6", f"item {item_id} is not output {e.output_index} of {response.id}")
    order = state.order
    if item.phase is ItemPhase.ANNOUNCED:
        out.note("INV-7", f"item {item_id} finished without conversation.item.created")
        order = order.insert(item_id, order.tail)
    snapshot = e.item
    parts = item.parts
    if snapshot.content is not None:
        quiet = response.id == state.interrupted
        parts = _reconcile_parts(item, snapshot.content, out, quiet)
    arguments = item.arguments_log
    if snapshot.arguments is not None and snapshot.arguments != arguments.value:
        if item.type == "function_call" and arguments.chunk_count:
            out.note("INV-9", f"arguments of {item_id} differ from their deltas")
        arguments = TextLog.of(snapshot.arguments)
    status = snapshot.status
    new = evolve_item(
        item,
        phase=next_phase,
        status=status,
        parts=parts,
        arguments_log=arguments,
        name=snapshot.name or item.name,
        call_id=snapshot.call_id or item.call_id,
        output=snapshot.output if snapshot.output is not None else item.output,
    )
    out.transitions.append(ItemCompleted(item_id=item_id, status=status))
    if new.type == "function_call" and status == "completed":
        out.transitions.append(
            FunctionCallReady(
                item_id=item_id,
                call_id=new.call_id or "",
                name=new.name or "",
                arguments=arguments.value,
                response_id=response.id,
            )
        )
    return evolve_root(
        state,
        items_by_id=state.items_by_id.set(item_id, new),
        order=order,
        revision=state.revision + 1,
    )


def _reconcile_parts(
    item: ItemState, content: tuple[ContentPart, ...], out: _Out, quiet: bool
) -> tuple[PartState, ...]:
    parts = list(item.parts)
    for index, part in enumerate(parts):
        if part.phase is not PartPhase.DONE:
            out.note("INV-8", f"part {index} of {item.id} still open at output_item.done")
        done = _live(_PART_TABLE, part.phase, s.ResponseOutputItemDone)
        parts[index] = evolve_part(part, phase=done)
    for index, snapshot in enumerate(content):
        if index >= len(parts):
            parts.append(_part_from(snapshot, _live(_PART_TABLE, None, s.ResponseOutputItemDone)))
            continue
        parts[index] = _settle(item.id, index, parts[index], snapshot, out, quiet=quiet)
    return tuple(parts)


def _settle(
    item_id: str, index: int, part: PartState, snapshot: ContentPart, out: _Out, *, quiet: bool
) -> PartState:
    """``part`` with the server's final text/transcript, noting a mismatch (INV-9).

    An empty final value over non-empty deltas is taken as "not given" (Azure Voice
    Live sends ``content_part.done`` with ``text: ""``): the deltas stand. ``quiet``
    (an interrupted response, whose late deltas were ignored): no mismatch is noted.
    A truncated part keeps its transcript dropped.
    """
    if snapshot.text == "" and part.text_log.chunk_count:
        snapshot = ContentPart(type=snapshot.type, transcript=snapshot.transcript)
    if snapshot.transcript == "" and part.transcript:
        snapshot = ContentPart(type=snapshot.type, text=snapshot.text)
    if snapshot.text is not None and snapshot.text != part.text:
        if part.text_log.chunk_count and not quiet:
            out.note("INV-9", f"text of {item_id}[{index}] differs from its deltas")
        part = evolve_part(part, text_log=TextLog.of(snapshot.text))
    if (
        snapshot.transcript is not None
        and part.truncated_ms is None
        and snapshot.transcript != part.transcript
    ):
        log = part.transcript_log
        if log is not None and log.chunk_count and not quiet:
            out.note("INV-9", f"transcript of {item_id}[{index}] differs from its deltas")
        part = evolve_part(part, transcript_log=TextLog.of(snapshot.transcript))
    return part


def _item_deleted(state: SessionState, e: s.ConversationItemDeleted, out: _Out) -> SessionState:
    _open(state, e)
    _, phase = _item_phase(state, e.item_id)
    gone = _check(machines.ITEM, phase, e)
    assert gone is None  # the table removes a deleted item
    order = state.order
    if e.item_id in order:
        order = order.without(e.item_id)
    audio = state.audio
    if len(audio):
        audio = audio.without(e.item_id)
    out.transitions.append(ItemDeleted(item_id=e.item_id))
    ledger, _ = _ack(state.ledger, e, e.item_id, out.config)
    playback = state.playback
    if e.item_id in playback:
        playback = playback.delete(e.item_id)
    return evolve_root(
        state,
        items_by_id=state.items_by_id.delete(e.item_id),
        order=order,
        audio=audio,
        ledger=ledger,
        playback=playback,
        revision=state.revision + 1,
    )


def _item_truncated(state: SessionState, e: s.ConversationItemTruncated, out: _Out) -> SessionState:
    _open(state, e)
    item, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    assert item is not None
    index = e.content_index
    part = _part_at(item, index, "audio")
    if part is None:
        raise _Violation("INV-16", f"item {e.item_id} has no audio part {index} to truncate")
    out.transitions.append(
        ItemTruncated(item_id=e.item_id, content_index=index, audio_end_ms=e.audio_end_ms)
    )
    new = _item_with_part(item, index, _cut(part, e.audio_end_ms))
    ledger, _ = _ack(state.ledger, e, e.item_id, out.config)
    return evolve_root(
        state,
        items_by_id=state.items_by_id.set(e.item_id, new),
        ledger=ledger,
        revision=state.revision + 1,
    )


# --- content parts ---------------------------------------------------------------------


def _content_part_added(
    state: SessionState, e: s.ResponseContentPartAdded, out: _Out
) -> SessionState:
    item, _, phase = _streaming_part(state, e, out)
    phase = _check(machines.PART, phase, e)
    if item.type != "message":
        raise _Violation(
            "INV-10", f"{e.type} for {item.type} item {item.id}: only messages have parts"
        )
    if e.content_index != len(item.parts):
        raise _Violation("INV-8", f"content_index {e.content_index}, expected {len(item.parts)}")
    new_part = _part_from(e.part, phase)
    if new_part.type == "audio" and new_part.transcript_log is None:
        new_part = evolve_part(new_part, transcript_log=EMPTY_TEXT)
    new = evolve_item(item, parts=(*item.parts, new_part))
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item.id, new), revision=state.revision + 1
    )


def _text_done(state: SessionState, e: s.ResponseTextDone, out: _Out) -> SessionState:
    item, part, _ = _checked_part(state, e, "text", out)
    if e.text == part.text:
        return evolve_root(state, revision=state.revision + 1)
    if e.response_id != state.interrupted:  # else: the deltas ignored since are in it
        out.note("INV-9", f"text.done of {e.item_id}[{e.content_index}] differs from its deltas")
    return with_part(state, item, e.content_index, evolve_part(part, text_log=TextLog.of(e.text)))


def _transcript_done(
    state: SessionState, e: s.ResponseAudioTranscriptDone, out: _Out
) -> SessionState:
    item, part, _ = _checked_part(state, e, "audio", out)
    if e.transcript == part.transcript or part.truncated_ms is not None:
        return evolve_root(state, revision=state.revision + 1)  # truncated: it stays dropped
    if e.response_id != state.interrupted:  # else: the deltas ignored since are in it
        out.note("INV-9", f"audio_transcript.done of {e.item_id} differs from its deltas")
    log = TextLog.of(e.transcript)
    return with_part(state, item, e.content_index, evolve_part(part, transcript_log=log))


def _output_format(state: SessionState, info: ResponseInfo) -> str:
    """A new response's output audio format: its own, else the session's."""
    if info.output_audio_format:
        return info.output_audio_format
    session = state.session
    return (session.output_audio_format if session is not None else None) or "pcm16"


def _audio_done(state: SessionState, e: s.ResponseAudioDone, out: _Out) -> SessionState:
    item, part, _ = _checked_part(state, e, "audio", out)
    return with_part(state, item, e.content_index, evolve_part(part, audio_done=True))


def _content_part_done(
    state: SessionState, e: s.ResponseContentPartDone, out: _Out
) -> SessionState:
    item, part, phase = _checked_part(state, e, None, out)
    quiet = e.response_id == state.interrupted
    settled = _settle(item.id, e.content_index, part, e.part, out, quiet=quiet)
    return with_part(state, item, e.content_index, evolve_part(settled, phase=phase))


# --- function calls --------------------------------------------------------------------


def _call_item(state: SessionState, e: Any) -> ItemState:
    _open(state, e)
    _active(state, e, e.response_id)
    item, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    assert item is not None
    if item.type != "function_call":
        raise _Violation("INV-10", f"{e.type} for {item.type} item {e.item_id}")
    if item.call_id is not None and item.call_id != e.call_id:
        raise _Violation("INV-10", f"{e.type} call_id {e.call_id} != the item's {item.call_id}")
    return item


def _arguments_delta(
    state: SessionState, e: s.ResponseFunctionCallArgumentsDelta, out: _Out
) -> SessionState:
    item = _call_item(state, e)
    out.transitions.append(
        FunctionCallArgumentsAppended(item_id=e.item_id, call_id=e.call_id, delta=e.delta)
    )
    new = evolve_item(item, arguments_log=item.arguments_log.append(e.delta))
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item.id, new), revision=state.revision + 1
    )


def _arguments_done(
    state: SessionState, e: s.ResponseFunctionCallArgumentsDone, out: _Out
) -> SessionState:
    item = _call_item(state, e)
    if e.arguments == item.arguments_log.value:
        return evolve_root(state, revision=state.revision + 1)
    if item.arguments_log.chunk_count:
        out.note("INV-9", f"arguments of {e.item_id} differ from their deltas")
    new = evolve_item(item, arguments_log=TextLog.of(e.arguments))
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item.id, new), revision=state.revision + 1
    )


# --- the ledger: client events sent, acknowledged, rejected, queued ---------------------

_EXPIRED_CODE: Final = "session_expired"
_GOING_AWAY: Final = 1001  # the close code of an expired session
# October 2024 servers sent these two with ``code: null``: recognised by message


def _send_item_create(state: SessionState, e: c.ConversationItemCreate, out: _Out) -> SessionState:
    """Sent with an id, the item is shown at once as ``PENDING`` (not yet in order)."""
    _sending(state, e)
    out.send(e)
    item_id = e.item.id
    after = _record(state, e, out, key=item_id)
    items = after.items_by_id
    if item_id is not None and item_id not in items:
        phase = _live(_ITEM_TABLE, None, e.__class__)
        items = items.set(item_id, _item_from(e.item, item_id, phase, e))
    return evolve_root(after, items_by_id=items, revision=state.revision + 1)


def _send_keyed(
    state: SessionState, e: c.ConversationItemDelete | c.ConversationItemRetrieve, out: _Out
) -> SessionState:
    _sending(state, e)
    out.send(e)
    return evolve_root(_record(state, e, out, key=e.item_id), revision=state.revision + 1)


def _send_truncate(state: SessionState, e: c.ConversationItemTruncate, out: _Out) -> SessionState:
    """Truncated locally at once, as the server will (the transcript is dropped)."""
    _sending(state, e)
    out.send(e)
    item = state.items_by_id.get(e.item_id)
    index = e.content_index
    old = None if item is None else _part_at(item, index, "audio")
    if item is None or old is None:
        return evolve_root(_record(state, e, out, key=e.item_id), revision=state.revision + 1)
    after = _record(state, e, out, key=e.item_id, undo=old)
    item = after.items_by_id.get(e.item_id) or item
    cut = _item_with_part(item, index, _cut(old, e.audio_end_ms))
    return evolve_root(
        after, items_by_id=after.items_by_id.set(item.id, cut), revision=state.revision + 1
    )


def _part_at(item: ItemState, index: int, kind: str) -> PartState | None:
    """Part ``index`` of ``item`` if there is one and it is a ``kind`` part."""
    if 0 <= index < len(item.parts):
        part = item.parts[index]
        if part.type == kind:
            return part
    return None


def _item_with_part(item: ItemState, index: int, part: PartState) -> ItemState:
    """``item`` with ``part`` as its part ``index``."""
    parts = item.parts
    return evolve_item(item, parts=(*parts[:index], part, *parts[index + 1 :]))


def _cut(part: PartState, audio_end_ms: int) -> PartState:
    """An audio part truncated at ``audio_end_ms``: its transcript no longer holds."""
    return evolve_part(part, truncated_ms=audio_end_ms, transcript_log=EMPTY_TEXT)


def _send_response_create(state: SessionState, e: c.ResponseCreate, out: _Out) -> SessionState:
    """Sent if no response is active or requested; else queued (or coalesced)."""
    _sending(state, e)
    ledger = state.ledger
    if state.response is None and not ledger.response_requested:
        out.send(e)
        return evolve_root(_record(state, e, out), revision=state.revision + 1)
    queued, effects = _queued(ledger, e, out.config)
    out.take(effects)
    if queued is ledger:  # coalesced, or dropped
        return state
    return evolve_root(state, ledger=queued, revision=state.revision + 1)


def _send_response_cancel(state: SessionState, e: c.ResponseCancel, out: _Out) -> SessionState:
    """Sent if a response is active; remembered if one is requested; else nothing."""
    _sending(state, e)
    ledger = state.ledger
    response = state.response
    if response is not None:
        out.send(e)
        after = _record(state, e, out, key=e.response_id or response.id)
        return evolve_root(after, revision=state.revision + 1)
    if ledger.response_requested:
        deferred, effects = _deferred(ledger, e)
        out.take(effects)
        if deferred is ledger:  # coalesced
            return state
        return evolve_root(state, ledger=deferred, revision=state.revision + 1)
    out.info("cancel_not_active", "response.cancel with no response active or requested: not sent")
    return state


def _rejected(state: SessionState, error: ErrorInfo, out: _Out) -> SessionState:
    """Correlate a server error with the client event it names, and roll it back."""
    ledger, refused, effects = _rejection(
        state.ledger, error, state.response is not None, out.config
    )
    if refused is None:
        return state
    out.take(effects)
    state = _rolled_back(state, refused.event, refused.undo)
    return evolve_root(state, ledger=ledger)


def _rolled_back(state: SessionState, event: c.ClientEvent, undo: PartState | None) -> SessionState:
    """``state`` without what ``event`` changed locally."""
    items = state.items_by_id
    if isinstance(event, c.ConversationItemCreate) and event.item.id is not None:
        item = items.get(event.item.id)
        back = machines.ITEM.undo
        if item is not None and (item.phase, event.__class__) in back:
            phase = back[(item.phase, event.__class__)]
            if phase is None:
                return evolve_root(state, items_by_id=items.delete(item.id))
            return evolve_root(
                state, items_by_id=items.set(item.id, evolve_item(item, phase=phase))
            )
    if isinstance(event, c.ConversationItemTruncate) and undo is not None:
        item = items.get(event.item_id)
        index = event.content_index
        if item is not None and index < len(item.parts):
            # only what the truncation changed: the part may have finished since
            current = item.parts[index]
            restored = evolve_part(
                current, truncated_ms=undo.truncated_ms, transcript_log=undo.transcript_log
            )
            return evolve_root(
                state, items_by_id=items.set(item.id, _item_with_part(item, index, restored))
            )
    return state


# --- local inputs ----------------------------------------------------------------------


def _tick(state: SessionState, e: Tick, out: _Out) -> SessionState:
    """Time passed: start the timers of newly sent events, time out the overdue."""
    now = e.now
    ledger = state.ledger
    if not ledger.pending:
        return evolve_root(state, now=now) if state.now != now else state
    ledger, expired = _timed(ledger, now, out.config.ack_timeout)
    state = evolve_root(state, ledger=ledger, now=now, revision=state.revision + 1)
    for entry in expired:
        out.transitions.append(ClientEventTimedOut(event=entry.event))
        state = _rolled_back(state, entry.event, entry.undo)
    if any(isinstance(entry.event, c.ResponseCreate) for entry in expired):
        ledger, release = _release(state.ledger, state.response is not None)
        if release is not None:
            out.plan(release)
        state = evolve_root(state, ledger=ledger)
    return state


def _closed(state: SessionState, e: Closed, out: _Out) -> SessionState:
    if state.phase is SessionPhase.CLOSED:
        return state
    phase = _live(machines.SESSION.transitions, state.phase, Closed)
    expired = state.expired
    if e.code == _GOING_AWAY and not expired:
        out.transitions.append(SessionExpired(message=e.reason or "connection closed (1001)"))
        expired = True
    out.transitions.append(TransportClosed(code=e.code, reason=e.reason))
    return evolve_root(state, phase=phase, expired=expired, revision=state.revision + 1)


def _resumed(state: SessionState, e: Resumed, out: _Out) -> SessionState:
    """A fresh session (only the clock carries over); the plan's events go out next."""
    out.transitions.append(SessionResumed(id_map=e.id_map))
    for event in e.events:
        out.plan(event)
    return SessionState(now=state.now, revision=state.revision + 1)


def _malformed(state: SessionState, e: Malformed, out: _Out) -> SessionState:
    raise _Violation("malformed", e.error)


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
