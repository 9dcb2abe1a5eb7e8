"""The fold's fast constructors: each speed trick behind one typed, named operation.

mypy checks every call as it would check the plain attrs construction:

- ``new_step``, ``new_item``, ``new_part`` and ``new_item_added``
  are ``rtstate._build.new`` of their class:
  the class's own signature, without ``__init__``'s cost; the deltas' Step
  (``delta_step``) and transitions (``new_*_appended``) take their fields by
  position (a keyword call is not specialised by CPython 3.11), typed by a
  ``Protocol`` that tests/core/test_fast.py compares with the class's fields;
- ``evolve_root``, ``evolve_item`` and ``evolve_part`` are ``attrs.evolve`` for the
  three dict-backed classes the fold rebuilds most (the root, items, parts): one
  copy of the instance dict, whatever the number of fields; their keyword arguments
  are typed by a ``TypedDict`` of the class's fields;
- ``with_part`` puts a new part into an item and the item into the root, one
  revision on: the one rebuild every streaming delta does; ``part_with_text``,
  ``part_with_transcript`` and ``part_with_audio`` are the deltas' part copies
  (``evolve_part`` with fixed changes, without building a keyword dict).

tests/core/test_fast.py compares each operation with the plain construction (and the
``TypedDict``\\ s with the classes' fields); benchmarks/bench_fold.py is why each is here.
"""

from __future__ import annotations

from typing import Any, Final, Protocol, TypedDict, Unpack

from immutables import Map

from ._build import dict_setter, new, positional
from .events.payloads import (
    ContentType,
    ErrorInfo,
    ImageDetail,
    ItemStatus,
    ItemType,
    JSONObject,
    Role,
    SessionConfig,
)
from .logs import AudioWindow, TextLog
from .state import (
    InputBufferState,
    ItemPhase,
    ItemState,
    Ledger,
    Order,
    PartPhase,
    PartState,
    PlaybackPhase,
    RateLimitState,
    ResponseState,
    SessionPhase,
    SessionState,
    Transcripts,
)
from .step import Input, Step
from .transitions import AudioAppended, ItemAdded, TextAppended, TranscriptAppended, Transition

__all__ = [
    "ItemChanges",
    "NewAudioAppended",
    "NewTextAppended",
    "NewTranscriptAppended",
    "PartChanges",
    "RootChanges",
    "delta_step",
    "evolve_item",
    "evolve_part",
    "evolve_root",
    "new_audio_appended",
    "new_item",
    "new_item_added",
    "new_part",
    "new_step",
    "new_text_appended",
    "new_transcript_appended",
    "part_with_audio",
    "part_with_text",
    "part_with_transcript",
    "with_part",
]

new_step: Final = new(Step)
new_item_added: Final = new(ItemAdded)
new_item: Final = new(ItemState)
new_part: Final = new(PartState)


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
_set_item: Final = dict_setter(ItemState, "parts")
_set_step: Final = dict_setter(Step)
_set_part: Final = dict_setter(PartState, "text_log", "transcript_log", "audio_bytes", "audio_ms")


def evolve_root(state: SessionState, /, **changes: Unpack[RootChanges]) -> SessionState:
    """``attrs.evolve(state, **changes)``: a copy of the root with ``changes``."""
    fields: dict[str, Any] = state.__dict__.copy()
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


def delta_step(
    input: Input, before: SessionState, after: SessionState, transition: Transition
) -> Step:
    """``new_step(input=input, before=before, after=after, transitions=(transition,))``:
    the Step of a streaming delta."""
    step = _NEW(Step)
    _set_step(
        step,
        {
            "input": input,
            "before": before,
            "after": after,
            "transitions": (transition,),
            "diagnostics": (),
            "to_send": (),
            "sent": (),
            "planned": (),
        },
    )
    return step


def part_with_text(part: PartState, text_log: TextLog) -> PartState:
    """``evolve_part(part, text_log=text_log)``: once per text delta."""
    fields: dict[str, Any] = part.__dict__.copy()
    fields["text_log"] = text_log
    new_part = _NEW(PartState)
    _set_part(new_part, fields)
    return new_part


def part_with_transcript(part: PartState, transcript_log: TextLog | None) -> PartState:
    """``evolve_part(part, transcript_log=transcript_log)``: once per transcript delta."""
    fields: dict[str, Any] = part.__dict__.copy()
    fields["transcript_log"] = transcript_log
    new_part = _NEW(PartState)
    _set_part(new_part, fields)
    return new_part


def part_with_audio(part: PartState, audio_bytes: int, audio_ms: float) -> PartState:
    """``evolve_part(part, audio_bytes=audio_bytes, audio_ms=audio_ms)``: once per
    audio delta."""
    fields: dict[str, Any] = part.__dict__.copy()
    fields["audio_bytes"] = audio_bytes
    fields["audio_ms"] = audio_ms
    new_part = _NEW(PartState)
    _set_part(new_part, fields)
    return new_part


def with_part(state: SessionState, item: ItemState, index: int, part: PartState) -> SessionState:
    """``state`` with ``part`` as part ``index`` of ``item`` (an item of ``state``),
    one revision on.

    The same as ``evolve_root(state, items_by_id=..., revision=...)`` of
    ``evolve_item(item, parts=...)``, with the two copies written out: it runs once
    per streaming delta.
    """
    parts = item.parts
    fields: dict[str, Any] = item.__dict__.copy()
    fields["parts"] = (part,) if len(parts) == 1 else (*parts[:index], part, *parts[index + 1 :])
    new_item = _NEW(ItemState)
    _set_item(new_item, fields)
    fields = state.__dict__.copy()
    fields["items_by_id"] = state.items_by_id.set(item.id, new_item)
    fields["revision"] = state.revision + 1
    after = _NEW(SessionState)
    _set_root(after, fields)
    return after
