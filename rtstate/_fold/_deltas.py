"""The streaming deltas: the hot path, and its plain reference.

Text, transcript and audio deltas are most frames of a session. ``fold`` tries
``_streamed`` first: one inline test of the common case against the same tables
the handlers read (``_stream`` takes each delta type's phases from them), then the
append (``_append_*``, with the typed fast constructors of ``rtstate._fast``) and
the Step, with no ``_Out``. When the test fails (a late delta of an interrupted
response, or one that breaks the protocol) the table handler ``_delta`` runs the
full checks (``_checked_part``), which report why. ``_streaming_part`` and
``_checked_part`` are the checks every part event (``_parts``) starts with.

``_reference`` is the same fold of a delta written plainly: each rule in the order
the handler checks it, ``attrs.evolve`` for every copy, the byte count from
``base64`` itself. It is slow and never used by ``fold``; tests/core/test_deltas.py checks
that ``fold`` gives the Step it gives, and tests/core/test_properties.py that
``_streamed`` agrees with the handler tables alone.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
from immutables import Map

from .. import machines
from .._fast import (
    delta_step,
    evolve_root,
    hot_part,
    new_audio_appended,
    new_record,
    new_text_appended,
    new_transcript_appended,
    record_part,
    record_with_audio,
    record_with_text,
    record_with_transcript,
    streamed,
    with_part,
)
from ..config import AudioRetention, Config
from ..errors import RemoteProtocolError
from ..events import server as s
from ..logs import EMPTY_TEXT, AudioChunk, AudioWindow
from ..state import (
    Hot,
    ItemPhase,
    ItemState,
    PartPhase,
    PartState,
    ResponsePhase,
    SessionPhase,
    SessionState,
)
from ..step import Diagnostic, Step
from ..transitions import AudioAppended, TextAppended, TranscriptAppended, Transition
from ._barge_in import _late
from ._base import (
    _BYTES_PER_MS,
    _active,
    _check,
    _item_phase,
    _not_in_progress,
    _open,
    _Out,
    _Rejected,
)

# Enum members as module constants, for the streaming deltas' inline test
# (``_streamed``) and the part checks every part event runs: in Python 3.11 reading
# ``Enum.MEMBER`` runs a Python-level descriptor (about 0.1 us), a module global is one
# dict lookup. Cold code names the members.

_SESSION_OPEN: Final = SessionPhase.OPEN
_ITEM_DONE: Final = ItemPhase.DONE
_KEEP_NO_AUDIO: Final = AudioRetention.NONE
_EMPTY_ITEMS: Final[Map[str, ItemState]] = Map()
"""The items map of a record ``_delta`` makes only to grow its part (never stored)."""


def _streaming_part(
    state: SessionState, e: Any, out: _Out
) -> tuple[ItemState, PartState | None, PartPhase | None]:
    """The item and part a part event names, after the response/item/part checks."""
    _open(state, e)
    _active(state, e, e.response_id)
    item, phase = _item_phase(state, e.item_id)
    if item is None or phase is _ITEM_DONE:
        where = "unknown" if item is None else "finished"
        raise _Rejected("INV-7", f"{e.type} for {where} item {e.item_id}")
    index = e.content_index
    part = item.parts[index] if 0 <= index < len(item.parts) else None
    return item, part, None if part is None else part.phase


def _checked_part(
    state: SessionState, e: Any, kind: str | None, out: _Out
) -> tuple[ItemState, PartState, PartPhase]:
    """The item and part a part event names, which the part table accepts it in and
    which is a ``kind`` part (any kind if ``None``), and the part's next phase; else
    the violation.

    Of a streaming state's own part (``hot_part``), the item is its record's, whose
    part ``content_index`` is stale: the callers give it only to ``with_part`` with
    that index (its ``id``, ``type`` and ``phase`` are the item's)."""
    found = hot_part(state, e.item_id, e.content_index)
    if found is None:
        item, part, phase = _streaming_part(state, e, out)
    else:
        _open(state, e)
        _active(state, e, e.response_id)
        item, part = found
        if item.phase is _ITEM_DONE:  # never in a record: the reference's check
            raise _Rejected("INV-7", f"{e.type} for finished item {e.item_id}")
        phase = part.phase
    next_phase = _check(machines.PART, phase, e)
    assert part is not None
    if kind is not None and part.type != kind:
        raise _Rejected("INV-8", f"{e.type} for a {part.type} part of {e.item_id}")
    return item, part, next_phase


def _append_text(
    e: s.ResponseTextDelta, hot: Hot, state: SessionState, config: Config
) -> tuple[Transition, Hot, AudioWindow | None]:
    transition = new_text_appended(e.item_id, e.content_index, e.delta, e.response_id)
    return transition, record_with_text(hot, hot[8].append(e.delta)), None


def _append_transcript(
    e: s.ResponseAudioTranscriptDelta, hot: Hot, state: SessionState, config: Config
) -> tuple[Transition, Hot, AudioWindow | None]:
    transition = new_transcript_appended(e.item_id, e.content_index, e.delta, e.response_id)
    log = (hot[9] or EMPTY_TEXT).append(e.delta)
    return transition, record_with_transcript(hot, log), None


def _append_audio(
    e: s.ResponseAudioDelta, hot: Hot, state: SessionState, config: Config
) -> tuple[Transition, Hot, AudioWindow | None]:
    delta = e.delta
    n = len(delta)
    size = n * 3 // 4 - delta.count("=", n - 2)  # _b64_bytes, inline: once per delta
    ms = size / _BYTES_PER_MS.get(hot[4].output_audio_format, 48)
    transition = new_audio_appended(e.item_id, e.content_index, size, ms, delta, e.response_id)
    new = record_with_audio(hot, hot[10] + size, hot[11] + ms)
    if config.audio_retention is _KEEP_NO_AUDIO:
        return transition, new, None
    chunk = AudioChunk(item_id=e.item_id, content_index=e.content_index, audio=delta, ms=ms)
    return transition, new, state.audio.append(chunk, config.audio_limit_ms)


# The three streaming deltas are folded by ``_streamed``, which ``fold`` tries first
# (see the module's docstring); ``_handled`` (the tables alone) and ``_reference``
# are what it is checked against.


_Append = Callable[[Any, Hot, SessionState, Config], tuple[Transition, Hot, AudioWindow | None]]
"""A delta's append to the record of its part (``state.Hot``): its transition, the
record grown (the part's values the delta changes), and the root's new audio window
(``None``: unchanged)."""


_Stream = tuple[str, _Append, frozenset[ResponsePhase | None], frozenset[PartPhase | None], object]

_GROUPS: Final[dict[tuple[str, frozenset[Any], frozenset[Any]], object]] = {}


def _stream(delta: type, kind: str, append: _Append) -> _Stream:
    """A delta type's kind of part, its append, the response and part phases the
    tables accept it in (the inline test of ``_streamed`` reads the same tables), and
    its group: the delta types with the same three share it, and so the record of a
    streaming part checked for one of them (``state.Hot``)."""
    response_phases = frozenset(phase for phase, input in machines.RESPONSE if input is delta)
    part_phases = frozenset(phase for phase, input in machines.PART if input is delta)
    group = _GROUPS.setdefault((kind, response_phases, part_phases), object())
    return (kind, append, response_phases, part_phases, group)


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

    The common case: the delta's response is in progress (of the default
    conversation or out of band: one look-up by id), the tables accept the delta in
    its response's phase and its part's, the part is of the delta's kind and not
    truncated, and the response was not interrupted. A state this path made for the
    same part, response and group of deltas (its ``_hot`` record) passed that test,
    and nothing it tests has changed since (any other fold drops the record, but a
    ``.done`` that agrees with the deltas, which changes nothing: ``_fast.confirmed``):
    the record is grown as it is. Else a new record of the part starts here
    (``new_record``). The append grows the record (the part's logs and audio
    counters), not the part: it is built when read (``_fast.record_part``).
    """
    kind, append, response_phases, part_phases, group = stream
    hot = state._hot
    if not (
        hot is not None
        and hot[1] is not None
        and hot[0] == e.item_id
        and hot[1] == e.content_index
        and hot[2] == e.response_id
        and hot[3] is group
    ):
        response = state.responses.get(e.response_id)
        items = state.items_by_id
        item = items.get(e.item_id)
        if (
            state.phase is not _SESSION_OPEN
            or response is None
            or response.phase not in response_phases
            or e.response_id == state.interrupted_response_id
            or item is None
            or item.phase is _ITEM_DONE
        ):
            return None
        parts = item.parts
        index = e.content_index
        if not 0 <= index < len(parts):
            return None
        part = parts[index]
        if part.phase not in part_phases or part.type != kind or part.truncated_ms is not None:
            return None
        hot = new_record(response, group, item, index, part, items)
    transition, grown, audio = append(e, hot, state, config)
    return delta_step(e, state, streamed(state, grown, audio), transition)


def _delta(state: SessionState, e: Any, out: _Out) -> SessionState:
    """A delta ``_streamed`` declined: late (interrupted), of a truncated part, or
    checked in full (the checks raise the violation that explains it).

    A part truncated while still streaming (the truncate of an item being generated,
    which the service accepts) still counts the audio it receives, but its transcript
    stays dropped: a transcript delta of it changes nothing."""
    if e.response_id == state.interrupted_response_id:
        return _late(state, e, out)
    kind, append, _, _, _ = _STREAMED[e.__class__]
    item, part, _ = _checked_part(state, e, kind, out)
    response = state.responses.get(e.response_id)
    assert response is not None  # _checked_part found it in progress
    if part.truncated_ms is not None and e.__class__ is s.ResponseAudioTranscriptDelta:
        return state
    record = new_record(response, None, item, e.content_index, part, _EMPTY_ITEMS)
    transition, grown, audio = append(e, record, state, out.config)
    out.transitions.append(transition)
    after = with_part(state, item, e.content_index, record_part(grown))
    return after if audio is None else evolve_root(after, audio=audio)


# --- the reference ---------------------------------------------------------------------

_KIND: Final[Mapping[type, str]] = {
    s.ResponseTextDelta: "text",
    s.ResponseAudioTranscriptDelta: "audio",
    s.ResponseAudioDelta: "audio",
}
"""The kind of part each delta type streams into."""


def _reference(
    state: SessionState,
    e: s.ResponseTextDelta | s.ResponseAudioTranscriptDelta | s.ResponseAudioDelta,
    config: Config,
) -> Step:
    """The Step ``fold`` gives for the streaming delta ``e``, computed plainly.

    Raises:
        RemoteProtocolError: with ``config.strict``, for a delta that breaks the
            protocol.
    """
    if e.response_id == state.interrupted_response_id:  # late: reported, nothing changes
        message = f"{e.type} of interrupted response {e.response_id} ignored"
        late = Diagnostic(code="interrupted", message=message, event_type=e.type, applied=True)
        return Step(input=e, before=state, after=state, diagnostics=(late,))
    broken = _broken(state, e)
    if broken is not None:
        code, message = broken
        if config.strict:
            raise RemoteProtocolError(f"{code}: {message}", event_type=e.type)
        rejected = Diagnostic(code=code, message=message, event_type=e.type, applied=False)
        return Step(input=e, before=state, after=state, diagnostics=(rejected,))
    item = state.items_by_id[e.item_id]
    part = item.parts[e.content_index]
    transition: Transition
    changes: dict[str, Any] = {}
    if isinstance(e, s.ResponseTextDelta):
        new_part = attrs.evolve(part, text_log=part.text_log.append(e.delta))
        transition = TextAppended(
            item_id=e.item_id,
            content_index=e.content_index,
            delta=e.delta,
            response_id=e.response_id,
        )
    elif isinstance(e, s.ResponseAudioTranscriptDelta):
        if part.truncated_ms is not None:  # a truncated part's transcript stays dropped
            return Step(input=e, before=state, after=state)
        log = part.transcript_log if part.transcript_log is not None else EMPTY_TEXT
        new_part = attrs.evolve(part, transcript_log=log.append(e.delta))
        transition = TranscriptAppended(
            item_id=e.item_id,
            content_index=e.content_index,
            delta=e.delta,
            response_id=e.response_id,
        )
    else:
        size = len(base64.b64decode(e.delta))
        response = state.responses[e.response_id]
        ms = size / _BYTES_PER_MS.get(response.output_audio_format, 48)
        new_part = attrs.evolve(
            part, audio_bytes=part.audio_bytes + size, audio_ms=part.audio_ms + ms
        )
        transition = AudioAppended(
            item_id=e.item_id,
            content_index=e.content_index,
            byte_count=size,
            ms=ms,
            audio=e.delta,
            response_id=e.response_id,
        )
        if config.audio_retention is not AudioRetention.NONE:
            chunk = AudioChunk(
                item_id=e.item_id, content_index=e.content_index, audio=e.delta, ms=ms
            )
            changes["audio"] = state.audio.append(chunk, config.audio_limit_ms)
    parts = list(item.parts)
    parts[e.content_index] = new_part
    new_item = attrs.evolve(item, parts=tuple(parts))
    after = attrs.evolve(
        state,
        items_by_id=state.items_by_id.set(item.id, new_item),
        revision=state.revision + 1,
        **changes,
    )
    return Step(input=e, before=state, after=after, transitions=(transition,))


def _broken(state: SessionState, e: Any) -> tuple[str, str] | None:
    """The rule the delta ``e`` breaks, as ``(code, message)``, else ``None``: each
    checked in the order the handler checks it."""
    if state.phase is not SessionPhase.OPEN:
        return "INV-1", f"{e.type} before session.created or after close"
    response = state.responses.get(e.response_id)
    if response is None and state.responses:
        return "INV-4", _not_in_progress(state, e.type, e.response_id)
    response_phase = None if response is None else response.phase
    if not machines.RESPONSE.allows(response_phase, e):
        where = "none" if response_phase is None else response_phase.value
        return machines.RESPONSE.invariant, f"{e.type} is not allowed when response is {where}"
    item = state.items_by_id.get(e.item_id)
    if item is None:
        return "INV-7", f"{e.type} for unknown item {e.item_id}"
    if item.phase is ItemPhase.DONE:
        return "INV-7", f"{e.type} for finished item {e.item_id}"
    index = e.content_index
    part = item.parts[index] if 0 <= index < len(item.parts) else None
    part_phase = None if part is None else part.phase
    if not machines.PART.allows(part_phase, e):
        where = "none" if part_phase is None else part_phase.value
        return machines.PART.invariant, f"{e.type} is not allowed when part is {where}"
    assert part is not None
    if part.type != _KIND[type(e)]:
        return "INV-8", f"{e.type} for a {part.type} part of {e.item_id}"
    return None
