"""Content parts: ``response.content_part.added`` / ``.done`` and the text,
transcript and audio ``.done`` events, and ``_settle``, which gives a part the
server's final value and notes where it differs from the deltas (INV-9). The
deltas themselves are ``_deltas``.
"""

from __future__ import annotations

from .. import machines
from .._fast import confirmed, evolve_part, part_finished, with_part
from ..events import server as s
from ..events.payloads import ContentPart
from ..logs import EMPTY_TEXT, TextLog
from ..state import PartPhase, PartState, SessionState
from ._base import _check, _Out, _Rejected
from ._deltas import _checked_part, _streaming_part
from ._items import _part_from


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


def _compacted(part: PartState) -> PartState:
    """``part`` with its text and transcript logs each held as one string
    (``TextLog.compacted``): what a finished part keeps, instead of one string per
    delta. Equal to ``part``."""
    text_log, transcript_log = part.text_log, part.transcript_log
    compact_text = text_log.compacted()
    compact_transcript = None if transcript_log is None else transcript_log.compacted()
    if compact_text is text_log and compact_transcript is transcript_log:
        return part
    return evolve_part(part, text_log=compact_text, transcript_log=compact_transcript)


def _finished(part: PartState, phase: PartPhase) -> PartState:
    """``evolve_part(_compacted(part), phase=phase)`` in one copy: a part's end."""
    transcript_log = part.transcript_log
    return part_finished(
        part,
        phase,
        part.text_log.compacted(),
        None if transcript_log is None else transcript_log.compacted(),
    )


def _content_part_added(
    state: SessionState, e: s.ResponseContentPartAdded, out: _Out
) -> SessionState:
    item, _, phase = _streaming_part(state, e, out)
    phase = _check(machines.PART, phase, e)
    if item.type != "message":
        raise _Rejected(
            "INV-10", f"{e.type} for {item.type} item {item.id}: only messages have parts"
        )
    if e.content_index != len(item.parts):
        raise _Rejected("INV-8", f"content_index {e.content_index}, expected {len(item.parts)}")
    new_part = _part_from(e.part, phase)
    if new_part.type == "audio" and new_part.transcript_log is None:
        new_part = evolve_part(new_part, transcript_log=EMPTY_TEXT)
    return with_part(state, item, e.content_index, new_part)  # the index after the last


def _text_done(state: SessionState, e: s.ResponseTextDone, out: _Out) -> SessionState:
    item, part, _ = _checked_part(state, e, "text", out)
    if e.text == part.text:  # joined once: the log remembers it for the part's end
        return confirmed(state)  # nothing changes: a streaming record stays valid
    if e.response_id != state.interrupted_response_id:  # else: the deltas ignored since are in it
        out.note("INV-9", f"text.done of {e.item_id}[{e.content_index}] differs from its deltas")
    return with_part(state, item, e.content_index, evolve_part(part, text_log=TextLog.of(e.text)))


def _transcript_done(
    state: SessionState, e: s.ResponseAudioTranscriptDone, out: _Out
) -> SessionState:
    item, part, _ = _checked_part(state, e, "audio", out)
    if e.transcript == part.transcript or part.truncated_ms is not None:
        return confirmed(state)  # truncated: it stays dropped
    if e.response_id != state.interrupted_response_id:  # else: the deltas ignored since are in it
        out.note("INV-9", f"audio_transcript.done of {e.item_id} differs from its deltas")
    log = TextLog.of(e.transcript)
    return with_part(state, item, e.content_index, evolve_part(part, transcript_log=log))


def _audio_done(state: SessionState, e: s.ResponseAudioDone, out: _Out) -> SessionState:
    item, part, _ = _checked_part(state, e, "audio", out)
    return with_part(state, item, e.content_index, evolve_part(part, audio_done=True))


def _content_part_done(
    state: SessionState, e: s.ResponseContentPartDone, out: _Out
) -> SessionState:
    item, part, phase = _checked_part(state, e, None, out)
    quiet = e.response_id == state.interrupted_response_id
    settled = _settle(item.id, e.content_index, part, e.part, out, quiet=quiet)
    return with_part(state, item, e.content_index, _finished(settled, phase))
