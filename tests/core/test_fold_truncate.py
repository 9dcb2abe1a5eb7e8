"""Folding the truncate of an assistant item that is still being generated.

The service accepts ``conversation.item.truncate`` of an item still streaming. Then
``conversation.item.truncated`` lands among the item's deltas, and what follows of the
response is legal: more deltas of the cut part (sent before the server read the
truncate, or from a server that streams on), its done events with or without the
dropped transcript, ``response.done``. The part keeps counting the audio it
receives; its transcript stays dropped. No diagnostic, strict or not, and the
ordering checker agrees, in both dialects.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from support.helpers import Server, diagnostics, pcm16, transitions

from rtstate import Config, SessionState, Step, fold
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import Item
from rtstate.fold import _handled
from rtstate.testing import check_stream
from rtstate.transitions import AudioAppended, ItemTruncated, TranscriptAppended

STRICT = Config(strict=True)
CONFIGS = pytest.mark.parametrize("config", [Config(), STRICT], ids=["loose", "strict"])


def streamed(
    cut_after: int, *, transcript_done: str | None = None, created: str = "after_added"
) -> list[Any]:
    """A spoken response whose item is truncated at 200 ms after ``cut_after`` of its
    deltas; the server streams the rest. Its done events and snapshots carry the full
    transcript, or ``transcript_done``. ``created``: where the item's
    ``conversation.item.created`` goes (``"omit"``: a server that never sends it)."""
    srv = Server()
    events: list[Any] = [srv.session_created(), srv.response_created()]
    item = srv.audio_item(["Once upon", " a time", " there was"], [pcm16(300)] * 3, created=created)
    part_added = next(i for i, e in enumerate(item) if isinstance(e, s.ResponseContentPartAdded))
    at = part_added + 1 + cut_after
    events += [*item[:at], srv.truncated("item_1", 200), *item[at:], srv.response_done()]
    if transcript_done is None:
        return events
    return [_with_transcript(e, transcript_done) for e in events]


def _with_transcript(event: Any, transcript: str) -> Any:
    """``event`` with ``transcript`` wherever it carries the final transcript."""
    if isinstance(event, s.ResponseAudioTranscriptDone):
        return attrs.evolve(event, transcript=transcript)
    if isinstance(event, s.ResponseContentPartDone):
        return attrs.evolve(event, part=attrs.evolve(event.part, transcript=transcript))
    if isinstance(event, s.ResponseOutputItemDone):
        return attrs.evolve(event, item=_item_with(event.item, transcript))
    if isinstance(event, s.ResponseDone):
        output = tuple(_item_with(i, transcript) for i in event.response.output)
        return attrs.evolve(event, response=attrs.evolve(event.response, output=output))
    return event


def _item_with(item: Item, transcript: str) -> Item:
    content = tuple(attrs.evolve(p, transcript=transcript) for p in item.content or ())
    return attrs.evolve(item, content=content)


def fold_agreeing(events: list[Any], config: Config) -> tuple[SessionState, list[Step]]:
    """Fold ``events``; each Step equals what the handler tables alone give."""
    state = SessionState()
    steps: list[Step] = []
    for event in events:
        step = fold(state, event, config)
        assert _handled(state, event, config) == step
        steps.append(step)
        state = step.after
    return state, steps


@CONFIGS
@pytest.mark.parametrize("cut_after", [0, 1, 2, 5])
def test_a_cut_while_streaming_folds_without_diagnostics(cut_after: int, config: Config) -> None:
    state, steps = fold_agreeing(streamed(cut_after), config)
    assert diagnostics(steps) == []
    (item,) = state.items
    (part,) = item.parts
    assert part.truncated_ms == 200
    assert part.transcript == ""  # dropped, whatever came after the cut
    assert part.audio_ms == 900.0  # the audio received still counts
    assert item.status == "completed"
    assert state.active_response is None and state.finished[-1].status == "completed"
    cut = next(i for i, step in enumerate(steps) if transitions([step], ItemTruncated))
    # after the cut, transcript deltas append nothing; audio deltas still do
    assert transitions(steps[cut:], TranscriptAppended) == []
    audio_before = len(transitions(steps[:cut], AudioAppended))
    assert len(transitions(steps[cut:], AudioAppended)) == 3 - audio_before


@CONFIGS
def test_a_cut_before_the_item_is_placed_folds_too(config: Config) -> None:
    """A server that streams an item before placing it in the conversation: the item
    is only announced when the truncate is acknowledged."""
    events = streamed(2, created="omit")
    (added,) = [e for e in events if isinstance(e, s.ResponseOutputItemAdded)]
    late = s.ConversationItemCreated(event_id="evt_late", item=added.item, previous_item_id=None)
    cut = next(i for i, e in enumerate(events) if isinstance(e, s.ConversationItemTruncated))
    events.insert(cut + 1, late)
    state, steps = fold_agreeing(events, config)
    assert diagnostics(steps) == []
    part = state.items_by_id["item_1"].parts[0]
    assert (part.truncated_ms, part.transcript, part.audio_ms) == (200, "", 900.0)


@CONFIGS
def test_done_events_with_the_dropped_transcript_fold_too(config: Config) -> None:
    """What rtstate's own server sends: the cut part closes with ``transcript: ""``."""
    state, steps = fold_agreeing(streamed(2, transcript_done=""), config)
    assert diagnostics(steps) == []
    assert state.items[0].parts[0].transcript == ""


def test_a_local_truncate_drops_the_deltas_already_on_the_wire() -> None:
    """The client truncates (cut locally at once); deltas the server sent before it
    read the truncate still arrive, then the ack: the transcript stays dropped."""
    events = streamed(2)
    cut = next(i for i, e in enumerate(events) if isinstance(e, s.ConversationItemTruncated))
    sent = c.ConversationItemTruncate(item_id="item_1", content_index=0, audio_end_ms=200)
    # the client sends the truncate when it has seen two deltas; four more arrive
    # before the server's ack
    reordered = [*events[:cut], sent, *events[cut + 1 : cut + 5], events[cut], *events[cut + 5 :]]
    state, steps = fold_agreeing(reordered, STRICT)
    assert diagnostics(steps) == []
    part = state.items[0].parts[0]
    assert (part.truncated_ms, part.transcript, part.audio_ms) == (200, "", 900.0)
    assert not state.ledger.in_flight


@pytest.mark.parametrize("dialect", ["beta", "ga"])
@pytest.mark.parametrize("transcript_done", [None, ""])
def test_the_ordering_checker_agrees(dialect: str, transcript_done: str | None) -> None:
    events = streamed(2, transcript_done=transcript_done)
    if dialect == "ga":  # GA announces items with conversation.item.added
        events = [
            s.ConversationItemAdded(
                event_id=e.event_id, item=e.item, previous_item_id=e.previous_item_id
            )
            if isinstance(e, s.ConversationItemCreated)
            else e
            for e in events
        ]
        # and finalises them with conversation.item.done before output_item.done
        n = next(n for n, e in enumerate(events) if isinstance(e, s.ResponseOutputItemDone))
        done = events[n]
        assert isinstance(done, s.ResponseOutputItemDone)
        final = s.ConversationItemDone(event_id="event_item_done", item=done.item)
        events = [*events[:n], final, *events[n:]]
    truncate = c.ConversationItemTruncate(item_id="item_1", content_index=0, audio_end_ms=200)
    assert check_stream(events, client_events=[truncate]) == []


def test_the_ordering_checker_still_checks_an_uncut_transcript() -> None:
    """The exemption is the cut part's alone: a transcript.done that differs from its
    deltas without a truncate is still an INV-9 violation."""
    events = [e for e in streamed(2, transcript_done="") if not _is_truncated(e)]
    assert [v.invariant for v in check_stream(events)] == ["INV-9"]


def _is_truncated(event: Any) -> bool:
    return isinstance(event, s.ConversationItemTruncated)
