"""Barge-in: the playback the app reports, and the planning of an interruption.

``_played`` records how much of an item's audio the user heard; ``_plan_interrupt``
(on ``Interrupt``, or on server VAD speech once playback was reported) plans the
``response.cancel`` / ``conversation.item.truncate`` / ``conversation.item.delete``
that cut the latest default-conversation response's audio where the user stopped
hearing it (an out-of-band response is left alone), and marks the response
``interrupted``; ``_late`` folds a delta of an interrupted response (nothing
changes, an info says so). On an attached session (the server plays the audio)
``Interrupt`` plans ``response.cancel`` and ``output_audio_buffer.clear`` instead
(``_plan_server_interrupt``).
"""

from __future__ import annotations

from typing import Any

from .._fast import evolve_root
from ..events import client as c
from ..state import ResponseState, SessionState
from ..step import Interrupt, Played
from ..transitions import TruncationPlanned
from ._base import _Out


def _played(state: SessionState, e: Played, out: _Out) -> SessionState:
    if e.item_id not in state.items_by_id:
        out.info("unknown_item", f"playback reported for unknown item {e.item_id}")
        return state
    played = max(e.played_ms, 0)
    return evolve_root(
        state, playback=state.playback.set(e.item_id, played), revision=state.revision + 1
    )


def _interrupt(state: SessionState, e: Interrupt, out: _Out) -> SessionState:
    if state.attached:
        return _plan_server_interrupt(state, out)
    return _plan_interrupt(state, out, reported_only=False)


def _plan_server_interrupt(state: SessionState, out: _Out) -> SessionState:
    """Attached sessions: the server plays the audio, so the interruption is
    ``response.cancel`` (the response still in progress) and
    ``output_audio_buffer.clear`` (the server reports playback), with no truncation:
    the client has no playback of its own to report. Nothing to cut: no-op."""
    active = state.active_response
    playing = state.playing_response_id
    if active is None and playing is None:
        return state
    if active is not None:
        out.plan(c.ResponseCancel(response_id=active.id))
    if playing is not None:
        out.plan(c.OutputAudioBufferClear())
    interrupted = active.id if active is not None else playing
    assert interrupted is not None
    out.transitions.append(
        TruncationPlanned(
            response_id=interrupted, cancelled=active is not None, truncated=(), deleted=()
        )
    )
    return evolve_root(state, interrupted_response_id=interrupted, revision=state.revision + 1)


def _plan_interrupt(state: SessionState, out: _Out, *, reported_only: bool) -> SessionState:
    """Plan the cancel / truncate / delete that cut the latest response's audio (of
    the default conversation: an out-of-band response is never interrupted).

    Each audio item is cut where the user stopped hearing it (``playback``, clamped
    to the audio received); an item heard to its end is left alone once its
    response is done; an item not heard at all is deleted. With ``reported_only``
    (server VAD speech), nothing is planned unless playback was reported for the
    response: the app has not said what the user heard.
    """
    active = state.active_response  # the default conversation's only: out of band plays on
    response = active if active is not None else _last_default(state)
    if response is None or state.interrupted_response_id == response.id:
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
    return evolve_root(state, interrupted_response_id=response.id, revision=state.revision + 1)


def _last_default(state: SessionState) -> ResponseState | None:
    """The latest finished response of the default conversation, if remembered."""
    return next((r for r in reversed(state.finished) if not r.out_of_band), None)


def _late(state: SessionState, e: Any, out: _Out) -> SessionState:
    out.info("interrupted", f"{e.type} of interrupted response {e.response_id} ignored")
    return state
