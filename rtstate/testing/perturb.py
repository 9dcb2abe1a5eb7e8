"""Perturbations of server streams: what real servers (and networks) do to them.

Two kinds:

* **benign** perturbations keep a stream valid: ``check_stream`` still reports
  nothing, and a client must reconcile them *without* diagnostics, because real
  servers produce them in normal operation: ``rate_limits.updated`` anywhere (also
  with an empty list), unknown event types anywhere (Azure sends several), input
  transcription long after its turn or before the item's ``conversation.item.created``
  (INV-14 orders it only after the commit), ``speech_started`` earlier than usual (the VAD runs
  independently of response streaming), no ``conversation.created`` (OpenAI does not
  send it), and Azure's empty ``part.text`` in ``response.content_part.done`` (a
  known quirk, see ``KNOWN_QUIRKS``).
* **harmful** perturbations break the protocol, and ``check_stream`` usually reports
  them: ``conversation.item.created`` before its ``output_item.added`` (the reverse
  of the real order), duplicated, dropped and swapped events. At the frame level,
  ``perturbed_frames`` also cuts frames short (invalid JSON), as a broken logger or
  proxy does.

The functions ``insert``, ``drop``, ``duplicate``, ``swap_adjacent``, ``move`` and
``truncate_frame`` apply one perturbation deterministically; the strategies
``perturbed``, ``benign_perturbations`` and ``perturbed_frames`` draw several.

They work on streams of both dialects. In GA an item joins with
``conversation.item.added`` (``created_before_added`` moves that one), the
transcription ``completed`` never moves before its own ``.delta`` events, and the
unknown event types inserted are types GA does not know either (its own
``conversation.item.done`` and ``output_audio_buffer.*`` are known there): pass the
stream's ``dialect`` (GA by default) so that the frames decode.
"""

from __future__ import annotations

try:
    from hypothesis import strategies as st
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "rtstate.testing.perturb needs hypothesis, which is not installed; "
        "install the test extra: pip install 'rtstate[test]'"
    ) from _exc

from collections.abc import Callable, Collection, Sequence
from typing import Final, TypeAlias, TypeVar

import attrs

from ..codec import codec_for
from ..config import Dialect
from ..events.payloads import ContentPart
from ..events.server import (
    ConversationCreated,
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemDeleted,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
    Error,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    RateLimitsUpdated,
    ResponseContentPartDone,
    ResponseOutputItemAdded,
    SessionCreated,
    UnknownServerEvent,
)
from .script import AnyServerEvent, Script
from .strategies import rate_limit_lists

__all__ = [
    "BENIGN",
    "HARMFUL",
    "PERTURBATIONS",
    "benign_perturbations",
    "drop",
    "duplicate",
    "insert",
    "move",
    "perturbed",
    "perturbed_frames",
    "swap_adjacent",
    "truncate_frame",
]

T = TypeVar("T")

BENIGN: Final[tuple[str, ...]] = (
    "rate_limits_anywhere",
    "unknown_event",
    "late_transcription",
    "early_transcription",
    "early_speech",
    "no_conversation_created",
    "empty_part_text",
)
"""Perturbations that keep a stream valid; a client must absorb them silently."""

HARMFUL: Final[tuple[str, ...]] = (
    "created_before_added",
    "duplicate",
    "drop",
    "swap_adjacent",
)
"""Perturbations that break the protocol (``check_stream`` usually flags them)."""

PERTURBATIONS: Final[tuple[str, ...]] = BENIGN + HARMFUL
"""Every event-level perturbation, by name."""

_UNKNOWN_TYPES: Final[dict[Dialect, tuple[str, ...]]] = {
    # what Azure's beta-style service sends beyond the 2024 beta events
    "beta": (
        "conversation.item.done",
        "conversation.item.input_audio_transcription.delta",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "conversation.item.retrieved",
        "vendor.extension.heartbeat",
    ),
    # every one of those is a GA event: only types the GA protocol has not (yet)
    "ga": ("vendor.extension.heartbeat", "response.future_kind.delta"),
}

_Transcription = (
    ConversationItemInputAudioTranscriptionCompleted | ConversationItemInputAudioTranscriptionFailed
)


# --- deterministic operations -------------------------------------------------------------


def insert(events: Sequence[T], index: int, event: T) -> list[T]:
    """A copy of ``events`` with ``event`` inserted before position ``index``."""
    out = list(events)
    out.insert(index, event)
    return out


def drop(events: Sequence[T], index: int) -> list[T]:
    """A copy of ``events`` without the event at ``index``."""
    out = list(events)
    del out[index]
    return out


def duplicate(events: Sequence[T], index: int, at: int | None = None) -> list[T]:
    """A copy of ``events`` where the event at ``index`` occurs again (same event_id).

    The copy goes before position ``at`` of the original list (default: right after
    the original); ``at`` must be greater than ``index``.
    """
    at = index + 1 if at is None else at
    if at <= index:
        raise ValueError("a duplicate comes after the original")
    return insert(events, at, events[index])


def swap_adjacent(events: Sequence[T], index: int) -> list[T]:
    """A copy of ``events`` with the events at ``index`` and ``index + 1`` swapped."""
    out = list(events)
    out[index], out[index + 1] = out[index + 1], out[index]
    return out


def move(events: Sequence[T], source: int, before: int) -> list[T]:
    """A copy of ``events`` with the event at ``source`` moved before position ``before``.

    ``before`` indexes the original list (``len(events)`` moves it to the end).
    """
    out = list(events)
    event = out.pop(source)
    out.insert(before - 1 if before > source else before, event)
    return out


def truncate_frame(frame: str, at: int) -> str:
    """The first ``at`` characters of a frame: what a cut-off logger or proxy delivers."""
    return frame[:at]


# --- helpers ------------------------------------------------------------------------------


def _first(events: Sequence[AnyServerEvent], cls: type | tuple[type, ...]) -> int | None:
    return next((n for n, e in enumerate(events) if isinstance(e, cls)), None)


def _start(events: Sequence[AnyServerEvent]) -> int:
    """The first position after ``session.created`` (0 if there is none)."""
    at = _first(events, SessionCreated)
    return 0 if at is None else at + 1


def _end(events: Sequence[AnyServerEvent]) -> int:
    """The last position events may arrive at: before a ``session_expired`` error."""
    for n, e in enumerate(events):
        if isinstance(e, Error) and e.error.code == "session_expired":
            return n
    return len(events)


def _fresh_id(events: Sequence[AnyServerEvent], draw: st.DrawFn) -> str:
    used = {e.event_id for e in events}
    n = draw(st.integers(0, 10_000))
    while f"event_PERTURB{n:014d}" in used:
        n += 1
    return f"event_PERTURB{n:014d}"


def _transcriptions(events: Sequence[AnyServerEvent]) -> list[tuple[int, str]]:
    """``(position, item_id)`` of every input transcription event."""
    return [(n, e.item_id) for n, e in enumerate(events) if isinstance(e, _Transcription)]


def _committed_at(events: Sequence[AnyServerEvent], item_id: str) -> int | None:
    return next(
        (
            n
            for n, e in enumerate(events)
            if isinstance(e, InputAudioBufferCommitted) and e.item_id == item_id
        ),
        None,
    )


def _created_at(events: Sequence[AnyServerEvent], item_id: str) -> int | None:
    return next(
        (
            n
            for n, e in enumerate(events)
            if isinstance(e, ConversationItemCreated | ConversationItemAdded)
            and e.item.id == item_id
        ),
        None,
    )


# --- one drawn perturbation each: None when it does not apply -----------------------------

_Apply = Callable[[st.DrawFn, list[AnyServerEvent]], list[AnyServerEvent] | None]


def _rate_limits_anywhere(draw: st.DrawFn, ev: list[AnyServerEvent]) -> list[AnyServerEvent]:
    event = RateLimitsUpdated(event_id=_fresh_id(ev, draw), rate_limits=draw(rate_limit_lists()))
    return insert(ev, draw(st.integers(_start(ev), _end(ev))), event)


def _unknown_event(
    draw: st.DrawFn, ev: list[AnyServerEvent], dialect: Dialect = "ga"
) -> list[AnyServerEvent]:
    kind = draw(st.sampled_from(_UNKNOWN_TYPES[dialect]))
    event = UnknownServerEvent(type=kind, raw={"type": kind, "event_id": _fresh_id(ev, draw)})
    return insert(ev, draw(st.integers(0, len(ev))), event)


def _late_transcription(draw: st.DrawFn, ev: list[AnyServerEvent]) -> list[AnyServerEvent] | None:
    choices = []
    for n, item_id in _transcriptions(ev):
        limit = _end(ev)
        deleted = next(
            (
                k
                for k, e in enumerate(ev)
                if k > n and isinstance(e, ConversationItemDeleted) and e.item_id == item_id
            ),
            None,
        )
        if deleted is not None:
            limit = min(limit, deleted)
        if limit > n + 1:
            choices.append((n, limit))
    if not choices:
        return None
    n, limit = draw(st.sampled_from(choices))
    return move(ev, n, draw(st.integers(n + 2, limit)))


def _early_transcription(draw: st.DrawFn, ev: list[AnyServerEvent]) -> list[AnyServerEvent] | None:
    choices = []
    for n, item_id in _transcriptions(ev):
        committed = _committed_at(ev, item_id)
        # GA: never before its own deltas (they stay between the speech and the end)
        streamed = [
            k
            for k, e in enumerate(ev[:n])
            if isinstance(e, ConversationItemInputAudioTranscriptionDelta) and e.item_id == item_id
        ]
        if committed is not None:
            lowest = max([committed, *streamed]) + 1
            if lowest < n:
                choices.append((n, lowest))
    if not choices:
        return None
    n, lowest = draw(st.sampled_from(choices))
    return move(ev, n, draw(st.integers(lowest, n - 1)))


def _early_speech(draw: st.DrawFn, ev: list[AnyServerEvent]) -> list[AnyServerEvent] | None:
    fences = (
        SessionCreated,
        InputAudioBufferSpeechStarted,
        InputAudioBufferSpeechStopped,
        InputAudioBufferCommitted,
        InputAudioBufferCleared,
    )
    choices = []
    for n, e in enumerate(ev):
        if isinstance(e, InputAudioBufferSpeechStarted):
            lowest = next((k + 1 for k in range(n - 1, -1, -1) if isinstance(ev[k], fences)), 0)
            if lowest < n:
                choices.append((n, lowest))
    if not choices:
        return None
    n, lowest = draw(st.sampled_from(choices))
    return move(ev, n, draw(st.integers(lowest, n - 1)))


def _no_conversation_created(
    draw: st.DrawFn, ev: list[AnyServerEvent]
) -> list[AnyServerEvent] | None:
    at = _first(ev, ConversationCreated)
    return None if at is None else drop(ev, at)


def _empty_part_text(draw: st.DrawFn, ev: list[AnyServerEvent]) -> list[AnyServerEvent] | None:
    choices = [
        n
        for n, e in enumerate(ev)
        if isinstance(e, ResponseContentPartDone) and e.part.type == "text" and e.part.text
    ]
    if not choices:
        return None
    n = draw(st.sampled_from(choices))
    event = ev[n]
    assert isinstance(event, ResponseContentPartDone)
    out = list(ev)
    out[n] = attrs.evolve(event, part=ContentPart(type="text", text=""))
    return out


def _created_before_added(draw: st.DrawFn, ev: list[AnyServerEvent]) -> list[AnyServerEvent] | None:
    choices = []
    for n, e in enumerate(ev):
        if isinstance(e, ResponseOutputItemAdded) and e.item.id is not None:
            created = _created_at(ev, e.item.id)
            if created is not None and created > n:
                choices.append((n, created))
    if not choices:
        return None
    added, created = draw(st.sampled_from(choices))
    return move(ev, created, added)


def _duplicate(draw: st.DrawFn, ev: list[AnyServerEvent]) -> list[AnyServerEvent] | None:
    if not ev:
        return None
    n = draw(st.integers(0, len(ev) - 1))
    return duplicate(ev, n, draw(st.integers(n + 1, min(len(ev), n + 5))))


def _drop(draw: st.DrawFn, ev: list[AnyServerEvent]) -> list[AnyServerEvent] | None:
    return drop(ev, draw(st.integers(0, len(ev) - 1))) if ev else None


def _swap_adjacent(draw: st.DrawFn, ev: list[AnyServerEvent]) -> list[AnyServerEvent] | None:
    choices = [n for n in range(len(ev) - 1) if ev[n] != ev[n + 1]]
    return swap_adjacent(ev, draw(st.sampled_from(choices))) if choices else None


_APPLY: Final[dict[str, _Apply]] = {
    "rate_limits_anywhere": _rate_limits_anywhere,
    "unknown_event": _unknown_event,
    "late_transcription": _late_transcription,
    "early_transcription": _early_transcription,
    "early_speech": _early_speech,
    "no_conversation_created": _no_conversation_created,
    "empty_part_text": _empty_part_text,
    "created_before_added": _created_before_added,
    "duplicate": _duplicate,
    "drop": _drop,
    "swap_adjacent": _swap_adjacent,
}


# --- strategies ---------------------------------------------------------------------------

StreamSource: TypeAlias = st.SearchStrategy[Sequence[AnyServerEvent] | Script]
"""A strategy of server streams, or of scripts (their server side is used)."""


def _server_side(value: Sequence[AnyServerEvent] | Script) -> list[AnyServerEvent]:
    return value.server_events if isinstance(value, Script) else list(value)


def _perturb(
    draw: st.DrawFn,
    events: list[AnyServerEvent],
    kinds: Collection[str],
    min_count: int,
    max_count: int,
    *,
    dialect: Dialect,
) -> tuple[list[AnyServerEvent], list[str]]:
    applied: list[str] = []
    for _ in range(draw(st.integers(min_count, max_count))):
        # Try the kinds in a drawn order until one applies to this stream.
        for name in draw(st.permutations(sorted(kinds))):
            if name == "unknown_event":
                result: list[AnyServerEvent] | None = _unknown_event(draw, events, dialect)
            else:
                result = _APPLY[name](draw, events)
            if result is not None:
                events = result
                applied.append(name)
                break
        else:
            break
    return events, applied


def _check_kinds(kinds: Collection[str]) -> None:
    unknown = set(kinds) - set(PERTURBATIONS)
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty subset of {PERTURBATIONS}, got {kinds!r}")


def perturbed(
    streams: StreamSource,
    *,
    kinds: Collection[str] = PERTURBATIONS,
    min_count: int = 1,
    max_count: int = 3,
    dialect: Dialect = "ga",
) -> st.SearchStrategy[tuple[list[AnyServerEvent], list[str]]]:
    """Streams drawn from ``streams`` with ``min_count``..``max_count`` perturbations.

    Gives ``(perturbed stream, names of the perturbations applied, in order)``. Each
    perturbation is drawn among ``kinds`` (default: all, benign and harmful) that
    apply to the stream at hand; fewer are applied when none applies (an empty name
    list means the stream is unchanged). ``dialect`` is the streams' (it picks the
    unknown event types, which must be unknown to that dialect's codec).
    """
    _check_kinds(kinds)

    @st.composite
    def strategy(draw: st.DrawFn) -> tuple[list[AnyServerEvent], list[str]]:
        events = _server_side(draw(streams))
        return _perturb(draw, events, kinds, min_count, max_count, dialect=dialect)

    return strategy()


def benign_perturbations(
    streams: StreamSource, *, min_count: int = 1, max_count: int = 3, dialect: Dialect = "ga"
) -> st.SearchStrategy[tuple[list[AnyServerEvent], list[str]]]:
    """``perturbed`` with the ``BENIGN`` kinds only: the results are still valid streams.

    A client must fold these with no diagnostics. ``rate_limits_anywhere`` and
    ``unknown_event`` apply to every stream, so at least ``min_count`` are applied.
    """
    return perturbed(
        streams, kinds=BENIGN, min_count=min_count, max_count=max_count, dialect=dialect
    )


def perturbed_frames(
    streams: StreamSource,
    *,
    kinds: Collection[str] = PERTURBATIONS,
    min_count: int = 0,
    max_count: int = 3,
    truncated: bool = True,
    dialect: Dialect = "ga",
) -> st.SearchStrategy[tuple[list[str], list[str]]]:
    """Perturbed streams encoded to ``dialect``'s text frames, some maybe cut short.

    Like ``perturbed``, then every event is encoded with that dialect's codec (GA by
    default: give the dialect the streams were generated in);
    with ``truncated``, 0 to 2 frames are cut at a drawn length (each adds
    ``"truncated_frame"`` to the names). A cut frame is not valid JSON (or misses
    fields), so decoding it raises ``RemoteProtocolError``.
    """
    if kinds:
        _check_kinds(kinds)
    encode = codec_for(dialect).encode

    @st.composite
    def strategy(draw: st.DrawFn) -> tuple[list[str], list[str]]:
        events = _server_side(draw(streams))
        applied: list[str] = []
        if kinds:
            events, applied = _perturb(draw, events, kinds, min_count, max_count, dialect=dialect)
        frames = [encode(e) for e in events]
        if truncated and frames:
            for _ in range(draw(st.integers(0, 2))):
                n = draw(st.integers(0, len(frames) - 1))
                if len(frames[n]) > 1:
                    frames[n] = truncate_frame(frames[n], draw(st.integers(1, len(frames[n]) - 1)))
                    applied.append("truncated_frame")
        return frames, applied

    return strategy()
