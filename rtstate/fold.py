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

from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs

from . import machines
from ._fast import (
    delta_step,
    evolve_item,
    evolve_part,
    evolve_root,
    new_audio_appended,
    new_item,
    new_item_added,
    new_order,
    new_part,
    new_step,
    new_text_appended,
    new_transcript_appended,
    part_with_audio,
    part_with_text,
    part_with_transcript,
    with_part,
)
from .config import DEFAULT_CONFIG, AudioRetention, Config
from .errors import RemoteProtocolError
from .events import client as c
from .events import server as s
from .events.payloads import ContentPart, ErrorInfo, Item, ResponseInfo
from .logs import EMPTY_TEXT, AudioChunk, TextLog
from .state import (
    InputBufferState,
    ItemPhase,
    ItemState,
    Ledger,
    Order,
    PartPhase,
    PartState,
    Pending,
    RateLimitState,
    ResponsePhase,
    ResponseState,
    SessionPhase,
    SessionState,
    SpeechWindow,
)
from .step import Closed, Diagnostic, Input, Interrupt, Malformed, Played, Resumed, Step, Tick
from .transitions import (
    ClientEventCoalesced,
    ClientEventQueued,
    ClientEventRejected,
    ClientEventTimedOut,
    DtmfReceived,
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
    McpApprovalRequested,
    McpCallArgumentsAppended,
    McpCallArgumentsDone,
    McpCallCompleted,
    McpCallFailed,
    McpToolsListed,
    McpToolsListFailed,
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
    TruncationPlanned,
)

__all__ = ["fold"]

T = TypeVar("T")

# Enum members as module constants, for the streaming deltas' inline test
# (``_streamed``) only: in Python 3.11 reading ``Enum.MEMBER`` runs a Python-level
# descriptor (about 0.1 us), a module global is one dict lookup. Cold code names the
# members.
_SESSION_OPEN: Final = SessionPhase.OPEN
_ITEM_DONE: Final = ItemPhase.DONE
_KEEP_NO_AUDIO: Final = AudioRetention.NONE
# The tables the fold reads without a check (the pair is known to be there).
_ITEM_TABLE: Final = machines.ITEM.transitions
_PART_TABLE: Final = machines.PART.transitions
_ACKNOWLEDGES: Final = machines.ACKNOWLEDGES
P = TypeVar("P")


def _live(table: machines.Table[P], phase: P | None, input: type) -> P:
    """The phase ``table`` gives ``input`` in ``phase``: a pair known to be there, to a
    phase (not a removal)."""
    next_phase = table[(phase, input)]
    assert next_phase is not None
    return next_phase


_BYTES_PER_MS: Final[Mapping[str, int]] = {"pcm16": 48, "g711_ulaw": 8, "g711_alaw": 8}
_FINAL_ITEM_STATUSES: Final = frozenset({"completed", "incomplete"})
_AUDIO_PARTS: Final = frozenset({"audio", "input_audio"})


class _Violation(Exception):
    """Raised inside a handler: the input breaks ``code`` and is rejected."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Extra:
    """The rarely used part of an ``_Out``, made on first use."""

    __slots__ = ("infos", "notes", "planned", "sent")

    def __init__(self) -> None:
        self.notes: list[tuple[str, str]] = []
        self.infos: list[tuple[str, str]] = []
        self.sent: list[c.ClientEvent] = []
        self.planned: list[c.ClientEvent] = []


class _Out:
    """What one fold collects besides the new state.

    ``transitions``, always; the rest lives in ``extra``, made on first use (most
    folds need none of it): ``notes`` are reconciled protocol quirks (strict mode
    raises for them); ``infos`` expected races and local no-ops that never raise;
    ``sent`` the client events going on the wire now; ``planned`` those the caller
    should send next.
    """

    __slots__ = ("config", "extra", "transitions")

    def __init__(self, config: Config) -> None:
        self.config = config
        self.transitions: list[Transition] = []
        self.extra: _Extra | None = None

    def _more(self) -> _Extra:
        extra = self.extra
        if extra is None:
            extra = self.extra = _Extra()
        return extra

    def note(self, code: str, message: str) -> None:
        """Record a reconciled quirk: the input is applied anyway."""
        self._more().notes.append((code, message))

    def info(self, code: str, message: str) -> None:
        """Record an expected race or a local no-op (never raised, even when strict)."""
        self._more().infos.append((code, message))

    def send(self, event: c.ClientEvent) -> None:
        """``event`` goes on the wire now."""
        self._more().sent.append(event)

    def plan(self, event: c.ClientEvent) -> None:
        """``event`` should be sent next (the connection does it in the same call)."""
        self._more().planned.append(event)


Handler = Callable[[SessionState, Any, _Out], SessionState]


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


def _check(machine: machines.Machine[Any], phase: Any, input: object) -> Any:
    """The phase ``input`` moves ``machine``'s entity to from ``phase`` (its
    ``by_payload`` table first, then its transitions), or a violation of the
    machine's invariant when the pair is missing: ``Machine.next``, raising
    ``_Violation``."""
    key = (phase, input.__class__)
    refined = machine.by_payload.get(key)
    if refined is not None and refined[0](input):
        return refined[1]
    transitions = machine.transitions
    if key in transitions:
        return transitions[key]
    name = getattr(input, "type", type(input).__name__)
    where = "none" if phase is None else phase.value
    raise _Violation(machine.invariant, f"{name} is not allowed when {machine.name} is {where}")


def _open(state: SessionState, event: s.ServerEvent) -> None:
    if state.phase is not SessionPhase.OPEN:
        raise _Violation("INV-1", f"{event.type} before session.created or after close")


# --- session ---------------------------------------------------------------------------


def _session_created(state: SessionState, e: s.SessionCreated, out: _Out) -> SessionState:
    phase = _check(machines.SESSION, state.phase, e)
    out.transitions.append(SessionStarted(session=e.session))
    return evolve_root(state, phase=phase, session=e.session, revision=state.revision + 1)


def _session_updated(state: SessionState, e: s.SessionUpdated, out: _Out) -> SessionState:
    _check(machines.SESSION, state.phase, e)
    out.transitions.append(SessionUpdated(session=e.session))
    ledger, _ = _ack(state.ledger, e, None, out)
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
    named = [r for r in e.rate_limits if r.name is not None]  # GA: name is optional
    if named:
        with limits.mutate() as m:
            for r in named:
                assert r.name is not None
                m[r.name] = RateLimitState(
                    name=r.name,
                    limit=r.limit,
                    remaining=r.remaining,
                    reset_seconds=r.reset_seconds,
                    revision=revision,
                    arrived_at=state.now,
                )
            limits = m.finish()
    out.transitions.append(
        RateLimitsUpdated(names=tuple([r.name for r in named if r.name is not None]))
    )
    return evolve_root(state, rate_limits=limits, revision=revision)


def _unknown(state: SessionState, e: s.UnknownServerEvent, out: _Out) -> SessionState:
    return state


# --- input buffer ----------------------------------------------------------------------


def _bounded(values: tuple[T, ...], value: T, limit: int) -> tuple[T, ...]:
    if limit <= 0:
        return ()
    values = (*values, value)
    return values if len(values) <= limit else values[-limit:]


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
        ledger, _ = _ack(state.ledger, e, None, out)
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
    ledger, _ = _ack(state.ledger, e, None, out)
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
        _recorded(state, e, out),
        input=attrs.evolve(
            buf,
            appended_ms=buf.appended_ms + ms,
            total_appended_ms=buf.total_appended_ms + ms,
        ),
        revision=state.revision + 1,
    )


def _sending(state: SessionState, e: c.ClientEvent) -> None:
    if state.phase is SessionPhase.CLOSED:
        raise _Violation("closed", f"{e.type} sent after the transport closed")


def _sent(state: SessionState, e: c.ClientEvent, out: _Out) -> SessionState:
    """A client event with no local effect beyond the ledger."""
    _sending(state, e)
    out.send(e)
    return evolve_root(_recorded(state, e, out), revision=state.revision + 1)


# --- responses -------------------------------------------------------------------------


def _active(state: SessionState, e: Any, response_id: str) -> ResponseState:
    """The active response ``response_id`` refers to, or a violation of INV-4."""
    response = state.response
    _check(machines.RESPONSE, None if response is None else response.phase, e)
    assert response is not None
    if response.id != response_id:
        raise _Violation(
            "INV-4", f"{e.type} names {response_id}, but the active response is {response.id}"
        )
    return response


def _response_id(info: ResponseInfo, e: s.ResponseCreated | s.ResponseDone) -> str:
    """The response's id; GA's types make it optional, but a response without one
    cannot be followed (INV-4)."""
    if info.id is None:
        raise _Violation("INV-4", f"{e.type} without a response id")
    return info.id


def _response_created(state: SessionState, e: s.ResponseCreated, out: _Out) -> SessionState:
    _open(state, e)
    if state.response is not None:
        raise _Violation(
            "INV-5", f"response {e.response.id} created while {state.response.id} is active"
        )
    phase = _check(machines.RESPONSE, None, e)
    info = e.response
    response_id = _response_id(info, e)
    response = ResponseState(
        id=response_id,
        phase=phase,
        status=info.status,
        info=info,
        output_audio_format=_output_format(state, info),
    )
    out.transitions.append(ResponseStarted(response_id=response_id))
    ledger, _ = _ack(state.ledger, e, None, out)
    cancel = ledger.deferred_cancel
    if cancel is not None and not ledger.response_requested:
        out.plan(cancel)  # the cancel sent before this response existed
        ledger = attrs.evolve(ledger, deferred_cancel=None)
    return evolve_root(state, response=response, ledger=ledger, revision=state.revision + 1)


def _response_done(state: SessionState, e: s.ResponseDone, out: _Out) -> SessionState:
    _open(state, e)
    info = e.response
    response_id = _response_id(info, e)
    response = _active(state, e, response_id)
    items = state.items_by_id
    order = state.order
    final_status = {item.id: item.status for item in info.output if item.id is not None}
    for item_id in response.output:
        item = items.get(item_id)
        if item is None or item.phase is ItemPhase.DONE:
            continue
        out.note("INV-12", f"item {item_id} still open at response.done; closed")
        if item_id not in order:
            order = _insert(order, item_id, order.tail)
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
        id=response_id,
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
            response_id=response_id,
            status=info.status,
            status_details=info.status_details,
            usage=info.usage,
        )
    )
    ledger, entry = _ack(state.ledger, e, response_id, out)
    while entry is not None:  # every cancel of this response is answered by its end
        ledger, entry = _ack(ledger, e, response_id, out)
    ledger = _release(ledger, False, out)
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


def _item_phase(state: SessionState, item_id: str) -> tuple[ItemState | None, ItemPhase | None]:
    item = state.items_by_id.get(item_id)
    return item, None if item is None else item.phase


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


def _insert(order: Order, item_id: str, previous: str | None) -> Order:
    """``order`` with ``item_id`` placed after ``previous`` (``None``: at the head)."""
    nxt, prev = order.next, order.prev
    after: str | None
    head: str | None
    if previous is None:
        after = order.head
        head = item_id
    else:
        after = nxt.get(previous)
        nxt = nxt.set(previous, item_id)
        prev = prev.set(item_id, previous)
        head = order.head
    if after is not None:
        nxt = nxt.set(item_id, after)
        prev = prev.set(after, item_id)
        tail = order.tail
    else:
        tail = item_id
    return new_order(head=head, tail=tail, next=nxt, prev=prev, size=order.size + 1)


def _remove(order: Order, item_id: str) -> Order:
    nxt, prev = order.next, order.prev
    before: str | None = prev.get(item_id)
    after = nxt.get(item_id)
    if before is not None:
        prev = prev.delete(item_id)
        nxt = nxt.set(before, after) if after is not None else nxt.delete(before)
    if after is not None:
        nxt = nxt.delete(item_id)
        prev = prev.set(after, before) if before is not None else prev.delete(after)
    head = after if order.head == item_id else order.head
    tail = before if order.tail == item_id else order.tail
    return new_order(head=head, tail=tail, next=nxt, prev=prev, size=order.size - 1)


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
    ledger, entry = _ack(state.ledger, e, item_id, out)
    if entry is None and item is None and item_id not in state.input.committed:
        ledger = _ack_unnamed_create(ledger, e.item.type, out)
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
    order = _insert(state.order, item_id, previous)
    return evolve_root(
        state,
        items_by_id=items,
        order=order,
        input=new_input,
        ledger=ledger,
        revision=state.revision + 1,
    )


def _ack_unnamed_create(ledger: Ledger, item_type: str, out: _Out) -> Ledger:
    """Settle the first ``conversation.item.create`` sent without an id, of this type.

    Called for an item nobody else explains (no response announced it, no commit
    made it): the server named the client's item.
    """

    def matches(entry: Pending) -> bool:
        event = entry.event
        return (
            isinstance(event, c.ConversationItemCreate)
            and event.item.id is None
            and event.item.type == item_type
        )

    return _settle_first(ledger, matches, out)[0]


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
    item, phase = _item_phase(state, e.item.id or "")
    _check(machines.ITEM, phase, e)
    if item is not None and item.response_id is None and item.type == "mcp_approval_request":
        # a response's request is reported at its output_item.done
        out.transitions.append(_approval_requested(item.id, e.item))
    return state


def _item_retrieved(state: SessionState, e: s.ConversationItemRetrieved, out: _Out) -> SessionState:
    _open(state, e)
    item_id = e.item.id or ""
    _, phase = _item_phase(state, item_id)
    _check(machines.ITEM, phase, e)
    out.transitions.append(ItemRetrieved(item_id=item_id, item=e.item))
    ledger, _ = _ack(state.ledger, e, item_id, out)
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
    ledger, _ = _ack(state.ledger, e, None, out)
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
        order = _insert(order, item_id, order.tail)
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
    if new.type == "mcp_approval_request":
        out.transitions.append(_approval_requested(item_id, snapshot))
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
        order = _remove(order, e.item_id)
    audio = state.audio
    if len(audio):
        audio = audio.without(e.item_id)
    out.transitions.append(ItemDeleted(item_id=e.item_id))
    ledger, _ = _ack(state.ledger, e, e.item_id, out)
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
    ledger, _ = _ack(state.ledger, e, e.item_id, out)
    return evolve_root(
        state,
        items_by_id=state.items_by_id.set(e.item_id, new),
        ledger=ledger,
        revision=state.revision + 1,
    )


# --- content parts ---------------------------------------------------------------------


def _streaming_part(
    state: SessionState, e: Any, out: _Out
) -> tuple[ItemState, PartState | None, PartPhase | None]:
    """The item and part a part event names, after the response/item/part checks."""
    _open(state, e)
    _active(state, e, e.response_id)
    item, phase = _item_phase(state, e.item_id)
    if item is None or phase is ItemPhase.DONE:
        where = "unknown" if item is None else "finished"
        raise _Violation("INV-7", f"{e.type} for {where} item {e.item_id}")
    index = e.content_index
    part = item.parts[index] if 0 <= index < len(item.parts) else None
    return item, part, None if part is None else part.phase


def _checked_part(
    state: SessionState, e: Any, kind: str | None, out: _Out
) -> tuple[ItemState, PartState, PartPhase]:
    """The item and part a part event names, which the part table accepts it in and
    which is a ``kind`` part (any kind if ``None``), and the part's next phase; else
    the violation."""
    item, part, phase = _streaming_part(state, e, out)
    next_phase = _check(machines.PART, phase, e)
    assert part is not None
    if kind is not None and part.type != kind:
        raise _Violation("INV-8", f"{e.type} for a {part.type} part of {e.item_id}")
    return item, part, next_phase


# The three streaming deltas (most frames of a session) are folded by ``_streamed``,
# which ``fold`` tries first: one inline test of the common case against the same
# tables, then the append and the Step, with no ``_Out``. When the test fails (a
# late delta of an interrupted response, or one that breaks the protocol) the table
# handler ``_delta`` runs the full checks, which report why. ``_handled`` (the tables
# alone) is the reference: tests/test_properties.py checks both give equal Steps.


def _append_text(
    state: SessionState, e: s.ResponseTextDelta, item: ItemState, part: PartState, config: Config
) -> tuple[Transition, SessionState]:
    new = part_with_text(part, part.text_log.append(e.delta))
    transition = new_text_appended(e.item_id, e.content_index, e.delta, e.response_id)
    return transition, with_part(state, item, e.content_index, new)


def _append_transcript(
    state: SessionState,
    e: s.ResponseAudioTranscriptDelta,
    item: ItemState,
    part: PartState,
    config: Config,
) -> tuple[Transition, SessionState]:
    new = part_with_transcript(part, (part.transcript_log or EMPTY_TEXT).append(e.delta))
    transition = new_transcript_appended(e.item_id, e.content_index, e.delta, e.response_id)
    return transition, with_part(state, item, e.content_index, new)


def _append_audio(
    state: SessionState, e: s.ResponseAudioDelta, item: ItemState, part: PartState, config: Config
) -> tuple[Transition, SessionState]:
    delta = e.delta
    n = len(delta)
    size = n * 3 // 4 - delta.count("=", n - 2)  # _b64_bytes, inline: once per delta
    response = state.response
    fmt = response.output_audio_format if response is not None else "pcm16"
    ms = size / _BYTES_PER_MS.get(fmt, 48)
    transition = new_audio_appended(e.item_id, e.content_index, size, ms, delta, e.response_id)
    new = part_with_audio(part, part.audio_bytes + size, part.audio_ms + ms)
    after = with_part(state, item, e.content_index, new)
    if config.audio_retention is _KEEP_NO_AUDIO:
        return transition, after
    chunk = AudioChunk(item_id=e.item_id, content_index=e.content_index, audio=delta, ms=ms)
    return transition, evolve_root(after, audio=after.audio.append(chunk, config.audio_limit_ms))


_Append = Callable[
    [SessionState, Any, ItemState, PartState, Config], tuple[Transition, SessionState]
]
_Stream = tuple[str, _Append, frozenset[ResponsePhase | None], frozenset[PartPhase | None]]


def _stream(delta: type, kind: str, append: _Append) -> _Stream:
    """A delta type's kind of part, its append, and the response and part phases the
    tables accept it in (the inline test of ``_streamed`` reads the same tables)."""
    return (
        kind,
        append,
        frozenset(phase for phase, input in machines.RESPONSE if input is delta),
        frozenset(phase for phase, input in machines.PART if input is delta),
    )


_STREAMED: Final[Mapping[type, _Stream]] = {
    s.ResponseTextDelta: _stream(s.ResponseTextDelta, "text", _append_text),
    s.ResponseAudioTranscriptDelta: _stream(
        s.ResponseAudioTranscriptDelta, "audio", _append_transcript
    ),
    s.ResponseAudioDelta: _stream(s.ResponseAudioDelta, "audio", _append_audio),
}
"""Delta type -> how it streams (``_stream``)."""


def _streamed(state: SessionState, e: Any, config: Config, stream: _Stream) -> Step | None:
    """The Step of a delta in the common case, else ``None`` (``fold`` goes on);
    ``stream`` is its ``_STREAMED`` entry.

    The common case: the tables accept the delta in its response's phase and its
    part's, the part is of the delta's kind and not truncated, and the response was
    not interrupted.
    """
    kind, append, response_phases, part_phases = stream
    response = state.response
    item = state.items_by_id.get(e.item_id)
    if (
        state.phase is _SESSION_OPEN
        and response is not None
        and response.id == e.response_id
        and response.phase in response_phases
        and e.response_id != state.interrupted
        and item is not None
        and item.phase is not _ITEM_DONE
    ):
        parts = item.parts
        index = e.content_index
        if 0 <= index < len(parts):
            part = parts[index]
            if part.phase in part_phases and part.type == kind and part.truncated_ms is None:
                transition, after = append(state, e, item, part, config)
                return delta_step(e, state, after, transition)
    return None


def _delta(state: SessionState, e: Any, out: _Out) -> SessionState:
    """A delta ``_streamed`` declined: late (interrupted), of a truncated part, or
    checked in full (the checks raise the violation that explains it).

    A part truncated while still streaming (the truncate of an item being generated,
    which the service accepts) still counts the audio it receives, but its transcript
    stays dropped: a transcript delta of it changes nothing."""
    if e.response_id == state.interrupted:
        return _late(state, e, out)
    kind, append, _, _ = _STREAMED[e.__class__]
    item, part, _ = _checked_part(state, e, kind, out)
    if part.truncated_ms is not None and e.__class__ is s.ResponseAudioTranscriptDelta:
        return state
    transition, after = append(state, e, item, part, out.config)
    out.transitions.append(transition)
    return after


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


# --- MCP calls and tool listings (GA) ----------------------------------------------------


def _approval_requested(item_id: str, snapshot: Item) -> McpApprovalRequested:
    return McpApprovalRequested(
        item_id=item_id,
        server_label=snapshot.server_label or "",
        name=snapshot.name or "",
        arguments=snapshot.arguments or "",
    )


def _mcp_call_item(state: SessionState, e: Any) -> ItemState:
    """The ``mcp_call`` item an MCP call event names (its phase unchanged: the table
    keeps it; ``response.output_item.done`` finishes the item)."""
    _open(state, e)
    item, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    assert item is not None  # the table has no (None, mcp call event) pair
    if item.type != "mcp_call":
        raise _Violation("INV-10", f"{e.type} for {item.type} item {e.item_id}")
    return item


def _mcp_arguments_delta(
    state: SessionState, e: s.ResponseMcpCallArgumentsDelta, out: _Out
) -> SessionState:
    _open(state, e)
    _active(state, e, e.response_id)
    item = _mcp_call_item(state, e)
    out.transitions.append(
        McpCallArgumentsAppended(item_id=e.item_id, delta=e.delta, response_id=e.response_id)
    )
    new = evolve_item(item, arguments_log=item.arguments_log.append(e.delta))
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item.id, new), revision=state.revision + 1
    )


def _mcp_arguments_done(
    state: SessionState, e: s.ResponseMcpCallArgumentsDone, out: _Out
) -> SessionState:
    _open(state, e)
    _active(state, e, e.response_id)
    item = _mcp_call_item(state, e)
    out.transitions.append(
        McpCallArgumentsDone(item_id=e.item_id, arguments=e.arguments, response_id=e.response_id)
    )
    if e.arguments == item.arguments_log.value:
        return evolve_root(state, revision=state.revision + 1)
    if item.arguments_log.chunk_count:
        out.note("INV-9", f"arguments of {e.item_id} differ from their deltas")
    new = evolve_item(item, arguments_log=TextLog.of(e.arguments))
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item.id, new), revision=state.revision + 1
    )


_MCP_CALL_ENDED: Final[Mapping[type, type[McpCallCompleted | McpCallFailed]]] = {
    s.ResponseMcpCallCompleted: McpCallCompleted,
    s.ResponseMcpCallFailed: McpCallFailed,
}


def _mcp_call_status(
    state: SessionState,
    e: s.ResponseMcpCallInProgress | s.ResponseMcpCallCompleted | s.ResponseMcpCallFailed,
    out: _Out,
) -> SessionState:
    _mcp_call_item(state, e)
    ended = _MCP_CALL_ENDED.get(type(e))
    if ended is not None:
        out.transitions.append(ended(item_id=e.item_id, output_index=e.output_index))
    return state


_MCP_LISTED: Final[Mapping[type, type[McpToolsListed | McpToolsListFailed]]] = {
    s.McpListToolsCompleted: McpToolsListed,
    s.McpListToolsFailed: McpToolsListFailed,
}


def _mcp_list_tools(
    state: SessionState,
    e: s.McpListToolsInProgress | s.McpListToolsCompleted | s.McpListToolsFailed,
    out: _Out,
) -> SessionState:
    """An ``mcp_list_tools`` item's listing: it is done when the listing ends."""
    _open(state, e)
    item, phase = _item_phase(state, e.item_id)
    next_phase = _check(machines.ITEM, phase, e)
    if item is not None and item.type != "mcp_list_tools":
        raise _Violation("INV-10", f"{e.type} for {item.type} item {e.item_id}")
    ended = _MCP_LISTED.get(type(e))
    if ended is not None:
        out.transitions.append(ended(item_id=e.item_id))
    if item is None or next_phase is phase or next_phase is None:
        return state
    new = evolve_item(item, phase=next_phase)
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item.id, new), revision=state.revision + 1
    )


def _dtmf(state: SessionState, e: s.InputAudioBufferDtmfEventReceived, out: _Out) -> SessionState:
    """GA, SIP: a keypad key; anywhere in an open session, like ``rate_limits.updated``."""
    _open(state, e)
    out.transitions.append(DtmfReceived(digit=e.event, received_at=e.received_at))
    return state


# --- the ledger: client events sent, acknowledged, rejected, queued ---------------------

_RESPONSE_ACTIVE_CODE: Final = "conversation_already_has_active_response"
_CANCEL_NOT_ACTIVE_CODE: Final = "response_cancel_not_active"
_EXPIRED_CODE: Final = "session_expired"
_GOING_AWAY: Final = 1001  # the close code of an expired session
# October 2024 servers sent these two with ``code: null``: recognised by message
_CODE_BY_MESSAGE: Final = (
    ("already has an active response", _RESPONSE_ACTIVE_CODE),
    ("no active response", _CANCEL_NOT_ACTIVE_CODE),
)


def _error_code(error: ErrorInfo) -> str | None:
    if error.code is not None:
        return error.code
    message = (error.message or "").lower()
    for fragment, code in _CODE_BY_MESSAGE:
        if fragment in message:
            return code
    return None


def _remember(ledger: Ledger, e: c.ClientEvent, config: Config) -> tuple[c.ClientEvent, ...]:
    """``ledger.recent`` with ``e`` added (the oldest forgotten past the bound)."""
    return _bounded(ledger.recent, e, config.ledger_recent)


def _recorded(
    state: SessionState,
    e: c.ClientEvent,
    out: _Out,
    key: str | None = None,
    undo: PartState | None = None,
) -> SessionState:
    """``state`` with ``e`` in the ledger: pending if the server acknowledges its kind.

    A full ledger gives up on its oldest pending event other than a
    ``response.create`` (``ClientEventTimedOut``, rolled back as a timeout is), so
    the one-active-response rule never loses track of a request.
    """
    ledger = state.ledger
    config = out.config
    if not machines.ACKS[e.__class__]:
        return evolve_root(state, ledger=attrs.evolve(ledger, recent=_remember(ledger, e, config)))
    pending = ledger.pending
    evicted: Pending | None = None
    if len(pending) >= config.ledger_limit:
        index = next(
            (i for i, p in enumerate(pending) if p.event.__class__ is not c.ResponseCreate), 0
        )
        evicted = pending[index]
        pending = (*pending[:index], *pending[index + 1 :])
        out.transitions.append(ClientEventTimedOut(event=evicted.event))
    entry = Pending(event=e, key=key, undo=undo)
    ledger = attrs.evolve(ledger, pending=(*pending, entry))
    if evicted is None:
        return evolve_root(state, ledger=ledger)
    ledger = attrs.evolve(ledger, recent=_remember(ledger, evicted.event, config))
    return _rolled_back(evolve_root(state, ledger=ledger), evicted.event, evicted.undo)


def _ack(
    ledger: Ledger, answer: s.ServerEvent, key: str | None, out: _Out
) -> tuple[Ledger, Pending | None]:
    """``ledger`` with the first pending event ``answer`` acknowledges settled (its
    type, by ``machines.ACKS``), and that entry.

    ``key`` names what the acknowledgement is about (an item or response id):
    only an entry with that key matches; ``None`` matches in send order.
    """
    sent = _ACKNOWLEDGES[answer.__class__]
    return _settle_first(
        ledger, lambda p: p.event.__class__ is sent and (key is None or p.key == key), out
    )


def _settle_first(
    ledger: Ledger, matches: Callable[[Pending], bool], out: _Out
) -> tuple[Ledger, Pending | None]:
    """``ledger`` with its first pending entry that ``matches`` moved to ``recent``."""
    for index, entry in enumerate(ledger.pending):
        if matches(entry):
            pending = (*ledger.pending[:index], *ledger.pending[index + 1 :])
            recent = _remember(ledger, entry.event, out.config)
            return attrs.evolve(ledger, pending=pending, recent=recent), entry
    return ledger, None


def _release(ledger: Ledger, active: bool, out: _Out) -> Ledger:
    """Plan the first queued ``response.create`` if no response is ``active`` and none
    is requested."""
    if not ledger.queued or active or ledger.response_requested:
        return ledger
    out.plan(ledger.queued[0])
    return attrs.evolve(ledger, queued=ledger.queued[1:])


def _requeued(ledger: Ledger, retry: c.ResponseCreate, out: _Out) -> Ledger:
    """``ledger`` with a refused ``response.create`` queued again, in front: the queue
    it would hold had the retry waited there all along.

    A later queued create identical to it is coalesced into it, and a queue still
    over ``Config.ledger_limit`` loses its newest create (``queue_full``), as that
    create would have been dropped on arrival.
    """
    out.transitions.append(ClientEventQueued(event=retry))
    queue: list[c.ResponseCreate] = [retry]
    for queued in ledger.queued:
        if queued.response == retry.response:
            out.transitions.append(ClientEventCoalesced(event=queued, into=retry))
        else:
            queue.append(queued)
    limit = out.config.ledger_limit
    if len(queue) > limit:
        out.info("queue_full", f"{limit} response.create already queued; the newest dropped")
        del queue[limit:]
    return attrs.evolve(ledger, queued=tuple(queue))


def _send_item_create(state: SessionState, e: c.ConversationItemCreate, out: _Out) -> SessionState:
    """Sent with an id, the item is shown at once as ``PENDING`` (not yet in order)."""
    _sending(state, e)
    out.send(e)
    item_id = e.item.id
    after = _recorded(state, e, out, key=item_id)
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
    return evolve_root(_recorded(state, e, out, key=e.item_id), revision=state.revision + 1)


def _send_truncate(state: SessionState, e: c.ConversationItemTruncate, out: _Out) -> SessionState:
    """Truncated locally at once, as the server will (the transcript is dropped)."""
    _sending(state, e)
    out.send(e)
    item = state.items_by_id.get(e.item_id)
    index = e.content_index
    old = None if item is None else _part_at(item, index, "audio")
    if item is None or old is None:
        return evolve_root(_recorded(state, e, out, key=e.item_id), revision=state.revision + 1)
    after = _recorded(state, e, out, key=e.item_id, undo=old)
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
        return evolve_root(_recorded(state, e, out), revision=state.revision + 1)
    for queued in ledger.queued:
        if queued.response == e.response:
            out.transitions.append(ClientEventCoalesced(event=e, into=queued))
            return state
    if len(ledger.queued) >= out.config.ledger_limit:
        out.info("queue_full", f"{len(ledger.queued)} response.create already queued; dropped")
        return state
    out.transitions.append(ClientEventQueued(event=e))
    queue = (*ledger.queued, e)
    return evolve_root(
        state, ledger=attrs.evolve(ledger, queued=queue), revision=state.revision + 1
    )


def _send_response_cancel(state: SessionState, e: c.ResponseCancel, out: _Out) -> SessionState:
    """Sent if a response is active; remembered if one is requested; else nothing."""
    _sending(state, e)
    ledger = state.ledger
    response = state.response
    if response is not None:
        out.send(e)
        after = _recorded(state, e, out, key=e.response_id or response.id)
        return evolve_root(after, revision=state.revision + 1)
    if ledger.response_requested:
        waiting = ledger.deferred_cancel
        if waiting is not None:
            out.transitions.append(ClientEventCoalesced(event=e, into=waiting))
            return state
        out.transitions.append(ClientEventQueued(event=e))
        ledger = attrs.evolve(ledger, deferred_cancel=e)
        return evolve_root(state, ledger=ledger, revision=state.revision + 1)
    out.info("cancel_not_active", "response.cancel with no response active or requested: not sent")
    return state


def _rejected(state: SessionState, error: ErrorInfo, out: _Out) -> SessionState:
    """Correlate a server error with the client event it names, and roll it back."""
    ledger = state.ledger
    code = _error_code(error)
    event: c.ClientEvent | None = None
    if error.event_id is not None:
        event = ledger.find(error.event_id)
    elif code in (_RESPONSE_ACTIVE_CODE, _CANCEL_NOT_ACTIVE_CODE):
        # no event_id (October 2024): the oldest unanswered event of the kind, else the
        # one answered last (its acknowledgement was someone else's, as the error shows)
        wanted = c.ResponseCreate if code == _RESPONSE_ACTIVE_CODE else c.ResponseCancel
        candidates = (
            *(p.event for p in ledger.pending),
            *reversed(ledger.recent),
        )
        event = next((e for e in candidates if e.__class__ is wanted), None)
    if event is None:
        return state
    out.transitions.append(ClientEventRejected(event=event, error=error))
    undo = next((p.undo for p in ledger.pending if p.event is event), None)
    ledger = attrs.evolve(
        ledger,
        pending=tuple(p for p in ledger.pending if p.event is not event),
        recent=tuple(r for r in ledger.recent if r is not event),
        queued=tuple(q for q in ledger.queued if q is not event),
        deferred_cancel=None if ledger.deferred_cancel is event else ledger.deferred_cancel,
    )
    state = _rolled_back(state, event, undo)
    if isinstance(event, c.ResponseCreate):
        if code == _RESPONSE_ACTIVE_CODE:  # a race with a response we did not ask for
            # queued again without its spent event_id: it goes out under a new one
            ledger = _requeued(ledger, attrs.evolve(event, event_id=None), out)
        if ledger.deferred_cancel is not None and not ledger.response_requested:
            out.info("cancel_dropped", "the response a deferred cancel waited for was refused")
            ledger = attrs.evolve(ledger, deferred_cancel=None)
        ledger = _release(ledger, state.response is not None, out)
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


# --- barge-in: playback, interruption ---------------------------------------------------


def _played(state: SessionState, e: Played, out: _Out) -> SessionState:
    if e.item_id not in state.items_by_id:
        out.info("unknown_item", f"playback reported for unknown item {e.item_id}")
        return state
    played = max(e.played_ms, 0)
    return evolve_root(
        state, playback=state.playback.set(e.item_id, played), revision=state.revision + 1
    )


def _interrupt(state: SessionState, e: Interrupt, out: _Out) -> SessionState:
    return _plan_interrupt(state, out, reported_only=False)


def _plan_interrupt(state: SessionState, out: _Out, *, reported_only: bool) -> SessionState:
    """Plan the cancel / truncate / delete that cut the latest response's audio.

    Each audio item is cut where the user stopped hearing it (``playback``, clamped
    to the audio received); an item heard to its end is left alone once its
    response is done; an item not heard at all is deleted. With ``reported_only``
    (server VAD speech), nothing is planned unless playback was reported for the
    response: the app has not said what the user heard.
    """
    active = state.response
    response = active if active is not None else (state.finished[-1] if state.finished else None)
    if response is None or state.interrupted == response.id:
        return state
    playback = state.playback
    if reported_only and not any(i in playback for i in response.output):
        return state
    truncated: list[tuple[str, int, int]] = []
    deleted: list[str] = []
    for item_id in response.output:
        item = state.items_by_id.get(item_id)
        if item is None:
            continue
        for index, part in enumerate(item.parts):
            if part.type != "audio" or part.truncated_ms is not None:
                continue
            received = int(part.audio_ms)
            heard = min(playback.get(item_id, 0), received)
            if heard >= received and active is None:
                break  # heard to the end
            if heard <= 0:
                deleted.append(item_id)
            else:
                truncated.append((item_id, index, heard))
            break
    if active is None and not truncated and not deleted:
        return state
    if active is not None:
        out.plan(c.ResponseCancel(response_id=active.id))
    for item_id, index, end in truncated:
        out.plan(c.ConversationItemTruncate(item_id=item_id, content_index=index, audio_end_ms=end))
    for item_id in deleted:
        out.plan(c.ConversationItemDelete(item_id=item_id))
    out.transitions.append(
        TruncationPlanned(
            response_id=response.id,
            cancelled=active is not None,
            truncated=tuple(truncated),
            deleted=tuple(deleted),
        )
    )
    return evolve_root(state, interrupted=response.id, revision=state.revision + 1)


def _late(state: SessionState, e: Any, out: _Out) -> SessionState:
    out.info("interrupted", f"{e.type} of interrupted response {e.response_id} ignored")
    return state


# --- local inputs ----------------------------------------------------------------------


def _tick(state: SessionState, e: Tick, out: _Out) -> SessionState:
    """Time passed: start the timers of newly sent events, time out the overdue."""
    now = e.now
    ledger = state.ledger
    if not ledger.pending:
        return evolve_root(state, now=now) if state.now != now else state
    timeout = out.config.ack_timeout
    kept: list[Pending] = []
    expired: list[Pending] = []
    for entry in ledger.pending:
        if entry.sent_at is None:
            kept.append(attrs.evolve(entry, sent_at=now))
        elif now - entry.sent_at >= timeout:
            expired.append(entry)
        else:
            kept.append(entry)
    ledger = attrs.evolve(ledger, pending=tuple(kept))
    state = evolve_root(state, ledger=ledger, now=now, revision=state.revision + 1)
    for entry in expired:
        out.transitions.append(ClientEventTimedOut(event=entry.event))
        state = _rolled_back(state, entry.event, entry.undo)
    if any(isinstance(entry.event, c.ResponseCreate) for entry in expired):
        state = evolve_root(state, ledger=_release(state.ledger, state.response is not None, out))
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
