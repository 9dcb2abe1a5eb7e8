"""The fold's fast constructors: each speed trick behind one typed, named operation.

mypy checks every call as it would check the plain attrs construction:

- ``new_step``, ``new_item``, ``new_part``, ``new_response``, ``new_item_added``,
  ``new_item_finished``, ``new_response_started``, ``new_response_finished``,
  ``new_rate_limit`` and ``new_rate_limits_updated`` are
  ``rtstate._build.new`` of their class (``response_with_output`` is
  ``attrs.evolve(response, output=...)``, one copy of the dict-backed response's
  instance dict, and ``response_finished`` its copy at ``response.done``):
  the class's own signature, without ``__init__``'s cost; the deltas' Step
  (``delta_step``) and transitions (``new_*_appended``) take their fields by
  position (a keyword call is not specialised by CPython 3.11), as is the Step of
  any other fold with nothing besides its transitions (``plain_step``), typed by a
  ``Protocol`` that tests/core/test_fast.py compares with the class's fields;
- ``evolve_root``, ``evolve_item`` and ``evolve_part`` are ``attrs.evolve`` for the
  three dict-backed classes the fold rebuilds most (the root, items, parts; a
  response, dict-backed too, is rebuilt whole or by ``response_with_output``): one
  copy of the instance dict, whatever the number of fields; their keyword arguments
  are typed by a ``TypedDict`` of the class's fields;
- ``with_part`` puts a new part into an item and the item into the root, one
  revision on; ``streamed`` does it lazily, for the streaming deltas: the root keeps a
  record of its streaming part (``rtstate.state.Hot``: the part as it was when the
  record started and the values the deltas grew, ``new_record``, ``record_with_text``,
  ``record_with_transcript``, ``record_with_audio``), the part is built when read
  (``record_part``) and ``items_by_id`` on first read, so a delta copies neither the
  part, nor its item, nor the items map; ``evolve_root`` and ``with_part`` build it and
  drop the record (``with_part`` of the record's own item and part, as ``hot_part``
  gives them, starts from the record's items map instead), ``confirmed`` keeps it (a
  ``.done`` that agrees with the deltas);
  a function call's arguments deltas keep theirs in the same way (``state.CallHot``:
  ``new_call_record``, ``call_record_with``); ``item_finished`` an output item's copy at its end and
  ``part_finished`` a part's;
- ``item_of`` and ``part_of`` are ``new_item`` / ``new_part`` of a server snapshot's
  item or part (every item created or added): the fields by position, the snapshot's
  own fields read here, into a copy of a template dict (``_ITEM_NONE``, ``_PART_NEW``)
  where only the fields that are set are stored (copying a dict of the same keys is
  cheaper than building one from a literal); ``delta_step`` and ``plain_step`` fill
  Step (slotted, built fresh every call) through its writable subclass.

tests/core/test_fast.py compares each operation with the plain construction (and the
``TypedDict``\\ s with the classes' fields); benchmarks/bench_fold.py is why each is here.
"""

from __future__ import annotations

from typing import Any, Final, Protocol, TypedDict, Unpack

import attrs
from immutables import Map

from ._build import dict_setter, new, positional, writable_subclass
from .events.payloads import (
    ContentPart,
    ContentType,
    ErrorInfo,
    ImageDetail,
    Item,
    ItemStatus,
    ItemType,
    JSONObject,
    ResponseInfo,
    Role,
    SessionConfig,
)
from .logs import AudioWindow, TextLog
from .state import (
    CallHot,
    Hot,
    InputBufferState,
    ItemPhase,
    ItemState,
    Ledger,
    Order,
    PartPhase,
    PartState,
    PlaybackPhase,
    RateLimitState,
    ResponsePhase,
    ResponseState,
    SessionPhase,
    SessionState,
    Transcripts,
    _part_of_record,
)
from .step import Input, Step
from .transitions import (
    AudioAppended,
    FunctionCallArgumentsAppended,
    ItemAdded,
    ItemFinished,
    RateLimitsUpdated,
    ResponseFinished,
    ResponseStarted,
    TextAppended,
    TranscriptAppended,
    Transition,
)

__all__ = [
    "ItemChanges",
    "NewAudioAppended",
    "NewFunctionCallArgumentsAppended",
    "NewTextAppended",
    "NewTranscriptAppended",
    "PartChanges",
    "RootChanges",
    "call_record_with",
    "confirmed",
    "delta_step",
    "evolve_item",
    "evolve_part",
    "evolve_root",
    "hot_part",
    "item_finished",
    "item_of",
    "new_arguments_appended",
    "new_audio_appended",
    "new_call_record",
    "new_item",
    "new_item_added",
    "new_item_finished",
    "new_part",
    "new_rate_limit",
    "new_rate_limits_updated",
    "new_record",
    "new_response",
    "new_response_finished",
    "new_response_started",
    "new_step",
    "new_text_appended",
    "new_transcript_appended",
    "part_finished",
    "part_of",
    "plain_step",
    "record_part",
    "record_with_audio",
    "record_with_text",
    "record_with_transcript",
    "response_finished",
    "response_with_output",
    "streamed",
    "with_part",
]

new_step: Final = new(Step)
new_item_added: Final = new(ItemAdded)
new_item: Final = new(ItemState)
new_part: Final = new(PartState)
new_response: Final = new(ResponseState)
new_response_started: Final = new(ResponseStarted)
new_response_finished: Final = new(ResponseFinished)
new_item_finished: Final = new(ItemFinished)
new_rate_limit: Final = new(RateLimitState)
new_rate_limits_updated: Final = new(RateLimitsUpdated)


def response_with_output(response: ResponseState, output: tuple[str, ...]) -> ResponseState:
    """``attrs.evolve(response, output=output)``: once per output item added."""
    fields: dict[str, Any] = response.__dict__.copy()
    fields["output"] = output
    grown = _NEW(ResponseState)
    _set_response(grown, fields)
    return grown


def response_finished(
    response: ResponseState, phase: ResponsePhase, info: ResponseInfo
) -> ResponseState:
    """``attrs.evolve(response, phase=phase, status=info.status,
    status_details=info.status_details, usage=info.usage, info=info)``: a response's
    record at its end (``response.done``'s object ``info``), without the keyword dicts."""
    fields: dict[str, Any] = response.__dict__.copy()
    fields["phase"] = phase
    fields["status"] = info.status
    fields["status_details"] = info.status_details
    fields["usage"] = info.usage
    fields["info"] = info
    finished = _NEW(ResponseState)
    _set_response(finished, fields)
    return finished


class NewTextAppended(Protocol):
    """``TextAppended``'s fields, by position."""

    def __call__(
        self, item_id: str, content_index: int, delta: str, response_id: str, /
    ) -> TextAppended: ...


class NewTranscriptAppended(Protocol):
    """``TranscriptAppended``'s fields, by position."""

    def __call__(
        self, item_id: str, content_index: int, delta: str, response_id: str, /
    ) -> TranscriptAppended: ...


class NewAudioAppended(Protocol):
    """``AudioAppended``'s fields, by position."""

    def __call__(  # noqa: PLR0917  # the fields, by position: the point
        self,
        item_id: str,
        content_index: int,
        byte_count: int,
        ms: float,
        audio: str,
        response_id: str,
        /,
    ) -> AudioAppended: ...


new_text_appended: Final[NewTextAppended] = positional(TextAppended)
new_transcript_appended: Final[NewTranscriptAppended] = positional(TranscriptAppended)
new_audio_appended: Final[NewAudioAppended] = positional(AudioAppended)


class NewFunctionCallArgumentsAppended(Protocol):
    """``FunctionCallArgumentsAppended``'s fields, by position."""

    def __call__(
        self, item_id: str, call_id: str, delta: str, /
    ) -> FunctionCallArgumentsAppended: ...


new_arguments_appended: Final[NewFunctionCallArgumentsAppended] = positional(
    FunctionCallArgumentsAppended
)


class RootChanges(TypedDict, total=False):
    """Fields of ``SessionState``, as ``evolve_root`` takes them."""

    phase: SessionPhase
    session: SessionConfig | None
    conversation_id: str | None
    items_by_id: Map[str, ItemState]
    order: Order
    input_buffer: InputBufferState
    responses: Map[str, ResponseState]
    active_response_id: str | None
    finished: tuple[ResponseState, ...]
    rate_limits: Map[str, RateLimitState]
    last_error: ErrorInfo | None
    audio: AudioWindow
    ledger: Ledger
    playback: Map[str, int]
    interrupted_response_id: str | None
    expired: bool
    now: float | None
    revision: int
    attached: bool
    adopted: frozenset[str]
    server_playback: Map[str, PlaybackPhase]
    transcripts: Transcripts


class ItemChanges(TypedDict, total=False):
    """Fields of ``ItemState``, as ``evolve_item`` takes them."""

    id: str
    type: ItemType
    phase: ItemPhase
    status: ItemStatus | None
    role: Role | None
    parts: tuple[PartState, ...]
    name: str | None
    call_id: str | None
    arguments_log: TextLog
    output: str | None
    response_id: str | None
    output_index: int | None
    transcription_error: ErrorInfo | None
    server_label: str | None
    tools: tuple[JSONObject, ...] | None
    error: JSONObject | None
    approval_request_id: str | None
    approve: bool | None
    reason: str | None


class PartChanges(TypedDict, total=False):
    """Fields of ``PartState``, as ``evolve_part`` takes them."""

    type: ContentType
    phase: PartPhase
    text_log: TextLog
    transcript_log: TextLog | None
    audio_bytes: int
    audio_ms: float
    audio_done: bool
    truncated_ms: int | None
    image_url: str | None
    detail: ImageDetail | None


_NEW: Final = object.__new__
_set_root: Final = dict_setter(SessionState, "items_by_id", "revision")
_set_item: Final = dict_setter(ItemState, "parts", "arguments_log")
_set_response: Final = dict_setter(ResponseState, "output")
_set_part: Final = dict_setter(PartState, "text_log", "transcript_log", "audio_bytes", "audio_ms")


def _root_fields(state: SessionState) -> dict[str, Any]:
    """A copy of the root's fields, for a new root: a streaming state's
    ``items_by_id`` built, and its record of the streaming part dropped (the new root
    may change what the record relies on)."""
    fields = state.__dict__
    if "_hot" in fields:
        state.items_by_id  # noqa: B018  # built and kept in ``fields``
        fields = fields.copy()
        del fields["_hot"]
        return fields
    return fields.copy()


def evolve_root(state: SessionState, /, **changes: Unpack[RootChanges]) -> SessionState:
    """``attrs.evolve(state, **changes)``: a copy of the root with ``changes``."""
    fields = state.__dict__
    # a streaming state's through ``_root_fields``; the common case without the call
    fields = _root_fields(state) if "_hot" in fields else fields.copy()
    fields.update(changes)
    root = _NEW(SessionState)
    _set_root(root, fields)
    return root


def evolve_item(item: ItemState, /, **changes: Unpack[ItemChanges]) -> ItemState:
    """``attrs.evolve(item, **changes)``: a copy of the item with ``changes``."""
    fields: dict[str, Any] = item.__dict__.copy()
    fields.update(changes)
    new_item = _NEW(ItemState)
    _set_item(new_item, fields)
    return new_item


def evolve_part(part: PartState, /, **changes: Unpack[PartChanges]) -> PartState:
    """``attrs.evolve(part, **changes)``: a copy of the part with ``changes``."""
    fields: dict[str, Any] = part.__dict__.copy()
    fields.update(changes)
    new_part = _NEW(PartState)
    _set_part(new_part, fields)
    return new_part


_STEP_WRITABLE: Final[Any] = writable_subclass(Step)
"""Step's writable subclass: ``delta_step`` and ``plain_step`` write every field with
plain slot writes and then give the object its class (``rtstate._build``)."""


def delta_step(
    input: Input, before: SessionState, after: SessionState, transition: Transition
) -> Step:
    """``new_step(input=input, before=before, after=after, transitions=(transition,))``:
    the Step of a streaming delta."""
    step = _STEP_WRITABLE()
    step.input = input
    step.before = before
    step.after = after
    step.transitions = (transition,)
    step.diagnostics = step.to_send = step.sent = step.planned = ()
    step.__class__ = Step
    return step  # type: ignore[no-any-return]


def plain_step(
    input: Input, before: SessionState, after: SessionState, transitions: tuple[Transition, ...]
) -> Step:
    """``new_step(input=input, before=before, after=after, transitions=transitions)``:
    the Step of a fold with nothing besides its transitions (no diagnostic, nothing
    sent or planned), by position."""
    step = _STEP_WRITABLE()
    step.input = input
    step.before = before
    step.after = after
    step.transitions = transitions
    step.diagnostics = step.to_send = step.sent = step.planned = ()
    step.__class__ = Step
    return step  # type: ignore[no-any-return]


def part_finished(
    part: PartState, phase: PartPhase, text_log: TextLog, transcript_log: TextLog | None
) -> PartState:
    """``evolve_part(part, phase=phase, text_log=text_log,
    transcript_log=transcript_log)``: a part's end, without the keyword dicts."""
    fields: dict[str, Any] = part.__dict__.copy()
    fields["phase"] = phase
    fields["text_log"] = text_log
    fields["transcript_log"] = transcript_log
    new_part = _NEW(PartState)
    _set_part(new_part, fields)
    return new_part


def item_finished(  # noqa: PLR0917  # by position: the point
    item: ItemState,
    phase: ItemPhase,
    status: ItemStatus | None,
    parts: tuple[PartState, ...],
    arguments_log: TextLog,
    name: str | None,
    call_id: str | None,
    output: str | None,
) -> ItemState:
    """``evolve_item(item, phase=phase, status=status, parts=parts,
    arguments_log=arguments_log, name=name, call_id=call_id, output=output)``: an
    output item's end (``response.output_item.done``), without the keyword dicts."""
    fields: dict[str, Any] = item.__dict__.copy()
    fields["phase"] = phase
    fields["status"] = status
    fields["parts"] = parts
    fields["arguments_log"] = arguments_log
    fields["name"] = name
    fields["call_id"] = call_id
    fields["output"] = output
    new_item = _NEW(ItemState)
    _set_item(new_item, fields)
    return new_item


def with_part(state: SessionState, item: ItemState, index: int, part: PartState) -> SessionState:
    """``state`` with ``part`` as part ``index`` of ``item`` (an item of ``state``, or
    the item of its streaming record, as ``hot_part`` gives it), one revision on;
    ``index`` may be ``len(item.parts)``: ``part`` added after the last.

    The same as ``evolve_root(state, items_by_id=..., revision=...)`` of
    ``evolve_item(item, parts=...)``, with the two copies written out: it runs once
    per streaming delta. When ``item`` is the streaming record's item and ``index`` its
    part, the record's items map is the base (not ``items_by_id`` built first: one
    item copy and one map update fewer).
    """
    parts = item.parts
    fields: dict[str, Any] = item.__dict__.copy()
    if index == len(parts):  # a part added
        fields["parts"] = (*parts, part)
    else:
        fields["parts"] = (
            (part,) if len(parts) == 1 else (*parts[:index], part, *parts[index + 1 :])
        )
    new_item = _NEW(ItemState)
    _set_item(new_item, fields)
    hot = state._hot
    if hot is not None and hot[1] is not None and hot[5] is item and hot[1] == index:
        fields = state.__dict__.copy()
        del fields["_hot"]
        items = hot[7]  # the map without the part: the record's item is its base
    else:
        fields = _root_fields(state)
        items = fields["items_by_id"]
    fields["items_by_id"] = items.set(item.id, new_item)
    fields["revision"] = state.revision + 1
    after = _NEW(SessionState)
    _set_root(after, fields)
    return after


def hot_part(state: SessionState, item_id: str, index: int) -> tuple[ItemState, PartState] | None:
    """The item and part ``state``'s streaming record (``state.Hot``) holds, if it is
    of part ``index`` of ``item_id``: the item as in the record's items map (its part
    ``index`` stale: give it only to ``with_part`` with the same ``index``) and the
    part as it is now (``record_part``). ``None`` when ``state`` has no such record."""
    hot = state._hot
    if hot is None or hot[1] is None or hot[0] != item_id or hot[1] != index:
        return None
    return hot[5], _part_of_record(hot)


def confirmed(state: SessionState) -> SessionState:
    """``evolve_root(state, revision=state.revision + 1)``, keeping ``state``'s
    streaming record (if any): for a fold that confirms the streamed part and changes
    nothing else (``text.done`` / ``audio_transcript.done`` that agree with the
    deltas), so the record stays valid and ``items_by_id`` need not be built."""
    fields: dict[str, Any] = state.__dict__.copy()
    fields["revision"] += 1
    after = _NEW(SessionState)
    _set_root(after, fields)
    return after


def new_record(  # noqa: PLR0917  # the streaming part's record, by position: the point
    response: ResponseState,
    group: object,
    item: ItemState,
    index: int,
    part: PartState,
    items: Map[str, ItemState],
) -> Hot:
    """A record of part ``index`` of ``item`` (``state.Hot``), as it is: once per
    streaming part (its first delta), and for a delta the fast path declines.
    ``items`` is the items map ``item`` is in, ``response`` and ``group`` what the
    deltas' fast path checked the part for."""
    return (
        item.id,
        index,
        response.id,
        group,
        response,
        item,
        part,
        items,
        part.text_log,
        part.transcript_log,
        part.audio_bytes,
        part.audio_ms,
    )


def record_with_text(hot: Hot, text_log: TextLog) -> Hot:
    """The record with its part's ``text_log`` as given: once per text delta."""
    item_id, index, response_id, group, response, item, part, items, _, tl, ab, ms = hot
    return (item_id, index, response_id, group, response, item, part, items, text_log, tl, ab, ms)


def record_with_transcript(hot: Hot, transcript_log: TextLog) -> Hot:
    """The record with its part's ``transcript_log`` as given: once per transcript delta."""
    item_id, index, response_id, group, response, item, part, items, text, _, ab, ms = hot
    return (
        item_id,
        index,
        response_id,
        group,
        response,
        item,
        part,
        items,
        text,
        transcript_log,
        ab,
        ms,
    )


def record_with_audio(hot: Hot, audio_bytes: int, audio_ms: float) -> Hot:
    """The record with its part's ``audio_bytes`` and ``audio_ms`` as given: once per
    audio delta."""
    item_id, index, response_id, group, response, item, part, items, text, tl, _, _ = hot
    return (
        item_id,
        index,
        response_id,
        group,
        response,
        item,
        part,
        items,
        text,
        tl,
        audio_bytes,
        audio_ms,
    )


def new_call_record(item: ItemState, response_id: str, items: Map[str, ItemState]) -> CallHot:
    """A record of the function call ``item`` (``state.CallHot``), its arguments as
    they are: once per call whose arguments stream (its first delta). ``items`` is the
    items map ``item`` is in, ``response_id`` the response the delta was checked for."""
    return (item.id, None, response_id, item, items, item.arguments_log)


def call_record_with(hot: CallHot, arguments_log: TextLog) -> CallHot:
    """The call record with its item's ``arguments_log`` as given: once per arguments
    delta."""
    item_id, _, response_id, item, items, _ = hot
    return (item_id, None, response_id, item, items, arguments_log)


record_part: Final = _part_of_record
"""The part a record stands for (``state.Hot``): its ``part`` with the values the
deltas grew, built on each call (``evolve_part`` with the four fields)."""


def streamed(state: SessionState, hot: Hot | CallHot, audio: AudioWindow | None) -> SessionState:
    """``with_part(state, item, index, record_part(hot))`` (and ``audio`` as the
    root's, if given), built lazily: the new root keeps ``hot`` as its record of the
    streaming part (``state.Hot``) and builds ``items_by_id`` on first read.

    ``hot``'s ``items`` is ``state``'s items map without the part's new values
    (``state.items_by_id``, or its record's own), its ``item`` the item as in ``items``.
    Once per streaming delta: no part or item copy and no map update, the root's
    fields copied once.
    """
    fields: dict[str, Any] = state.__dict__.copy()
    if "items_by_id" in fields:  # a streaming state's, built: now stale (no ``pop`` call)
        del fields["items_by_id"]  # noqa: RUF051  # a pop call costs more
    fields["_hot"] = hot
    fields["revision"] += 1
    if audio is not None:
        fields["audio"] = audio
    after = _NEW(SessionState)
    _set_root(after, fields)
    return after


def item_of(  # noqa: PLR0917  # by position: the point
    snapshot: Item,
    id: str,
    phase: ItemPhase,
    parts: tuple[PartState, ...],
    arguments_log: TextLog,
    response_id: str | None,
    output_index: int | None,
) -> ItemState:
    """``new_item(...)`` of the snapshot ``snapshot``: its type, status, role, name,
    call id, output and MCP fields, with ``id``, ``phase``, ``parts``,
    ``arguments_log``, ``response_id`` and ``output_index`` as given and no
    transcription error. Once per item created, added or output.

    A copy of ``_ITEM_NONE`` (every field ``None``) with the given fields and the
    snapshot's fields that are set: most are not (a message has no name, call id,
    output or MCP field), and a test is cheaper than a store."""
    fields = _ITEM_NONE.copy()
    fields["id"] = id
    fields["type"] = snapshot.type
    fields["phase"] = phase
    fields["status"] = snapshot.status
    fields["role"] = snapshot.role
    fields["parts"] = parts
    fields["arguments_log"] = arguments_log
    fields["response_id"] = response_id
    fields["output_index"] = output_index
    if (name := snapshot.name) is not None:
        fields["name"] = name
    if (call_id := snapshot.call_id) is not None:
        fields["call_id"] = call_id
    if (output := snapshot.output) is not None:
        fields["output"] = output
    if (server_label := snapshot.server_label) is not None:
        fields["server_label"] = server_label
    if (tools := snapshot.tools) is not None:
        fields["tools"] = tools
    if (error := snapshot.error) is not None:
        fields["error"] = error
    if (approval_request_id := snapshot.approval_request_id) is not None:
        fields["approval_request_id"] = approval_request_id
    if (approve := snapshot.approve) is not None:
        fields["approve"] = approve
    if (reason := snapshot.reason) is not None:
        fields["reason"] = reason
    item = _NEW(ItemState)
    _set_item(item, fields)
    return item


_ITEM_NONE: Final[dict[str, Any]] = dict.fromkeys(f.name for f in attrs.fields(ItemState))
"""Every field of ``ItemState``, ``None``: what ``item_of`` starts from."""


def part_of(
    snapshot: ContentPart, phase: PartPhase, text_log: TextLog, transcript_log: TextLog | None
) -> PartState:
    """``new_part(...)`` of the snapshot ``snapshot``: its type, image URL and detail,
    with ``phase``, ``text_log`` and ``transcript_log`` as given and no audio yet. Once
    per part of an item created, added or output: a copy of ``_PART_NEW`` (the fields
    of a part with no audio, no image) with the rest."""
    fields = _PART_NEW.copy()
    fields["type"] = snapshot.type
    fields["phase"] = phase
    fields["text_log"] = text_log
    fields["transcript_log"] = transcript_log
    if (image_url := snapshot.image_url) is not None:
        fields["image_url"] = image_url
    if (detail := snapshot.detail) is not None:
        fields["detail"] = detail
    part = _NEW(PartState)
    _set_part(part, fields)
    return part


_PART_NEW: Final[dict[str, Any]] = {
    "type": None,
    "phase": None,
    "text_log": None,
    "transcript_log": None,
    "audio_bytes": 0,
    "audio_ms": 0.0,
    "audio_done": False,
    "truncated_ms": None,
    "image_url": None,
    "detail": None,
}
"""``PartState``'s fields, those ``part_of`` takes from a snapshot ``None`` and the rest
as a new part has them: what ``part_of`` starts from."""
