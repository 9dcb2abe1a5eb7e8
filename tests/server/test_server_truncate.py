"""Truncating an assistant item that is still being generated.

Widely used clients (the OpenAI Agents SDK, pipecat, LiveKit) truncate what was heard
while the answer is still streaming: truncate then cancel, cancel then truncate, or
truncate alone when the server's ``interrupt_response`` already stopped the answer.
The server accepts each of them; it refuses only an ``audio_end_ms`` past the audio
it has sent of that item. Every flow runs against a strict client in both dialects
and ends with ``loop.check()`` (zero client diagnostics, a valid server stream).
"""

from __future__ import annotations

import pytest
from support.server_harness import Loop

from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.server import Message, Reply, ScriptedResponder, ServerConfig
from rtstate.state import ItemState

PACED = ServerConfig(delta_interval=0.05)
LONG = "a fairly long spoken answer, streamed slowly enough to be interrupted"

pytestmark = pytest.mark.parametrize("dialect", ["beta", "ga"])


def streaming(dialect: Dialect, reply: Reply | str = LONG) -> tuple[Loop, str]:
    """A spoken response in progress, some of its audio sent: the loop and its item id."""
    loop = Loop(config=PACED, responder=ScriptedResponder([reply]), dialect=dialect).start()
    loop.send(c.ResponseCreate())
    loop.advance(0.4)
    assert loop.server.response_in_progress is not None
    first = next(e for e in loop.server_events if isinstance(e, s.ResponseOutputItemAdded))
    assert first.item.id is not None
    item = client_item(loop, first.item.id)
    assert item.parts and item.parts[0].audio_ms > 0 and item.parts[0].transcript
    return loop, first.item.id


def client_item(loop: Loop, item_id: str) -> ItemState:
    item = loop.client.state.item(item_id)
    assert item is not None
    return item


def truncate(loop: Loop, item_id: str, end: int) -> list[s.ServerEvent]:
    return loop.send(c.ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=end))


def of_item(events: list[s.ServerEvent], item_id: str, kind: type) -> list[s.ServerEvent]:
    return [e for e in events if isinstance(e, kind) and getattr(e, "item_id", None) == item_id]


def response_done(loop: Loop) -> s.ResponseDone:
    (done,) = [e for e in loop.server_events if isinstance(e, s.ResponseDone)]
    return done


def test_truncate_then_cancel(dialect: Dialect) -> None:
    loop, item_id = streaming(dialect)
    heard = int(client_item(loop, item_id).parts[0].audio_ms // 2)
    assert loop.types(truncate(loop, item_id, heard)) == ["conversation.item.truncated"]
    part = client_item(loop, item_id).parts[0]
    assert (part.truncated_ms, part.transcript) == (heard, "")
    sent_ms = part.audio_ms
    # the cancel follows at once, as the Agents SDK sends it
    answer = loop.send(c.ResponseCancel())
    expected = [
        "response.audio.done",
        "response.audio_transcript.done",
        "response.content_part.done",
        *(["conversation.item.done"] if dialect == "ga" else []),
        "response.output_item.done",
        "response.done",
        # a GA server sends rate_limits.updated after each response.done
        *(["rate_limits.updated"] if dialect == "ga" else []),
    ]
    assert loop.types(answer) == expected
    (transcript_done,) = of_item(answer, item_id, s.ResponseAudioTranscriptDone)
    assert isinstance(transcript_done, s.ResponseAudioTranscriptDone)
    assert transcript_done.transcript == ""  # dropped by the truncate
    final = response_done(loop).response
    assert final.status == "cancelled"
    (item,) = final.output
    assert item.status == "incomplete" and item.content is not None
    assert item.content[0].transcript == ""
    part = client_item(loop, item_id).parts[0]
    assert (part.truncated_ms, part.transcript, part.audio_ms) == (heard, "", sent_ms)
    loop.check()


def test_cancel_then_truncate(dialect: Dialect) -> None:
    loop, item_id = streaming(dialect)
    answer = loop.send(c.ResponseCancel())
    assert response_done(loop).response.status == "cancelled"
    assert loop.types(answer)[-1] == ("rate_limits.updated" if dialect == "ga" else "response.done")
    heard = int(client_item(loop, item_id).parts[0].audio_ms // 2)
    assert loop.types(truncate(loop, item_id, heard)) == ["conversation.item.truncated"]
    part = client_item(loop, item_id).parts[0]
    assert (part.truncated_ms, part.transcript) == (heard, "")
    loop.check()


def test_truncate_without_cancel_completes_the_response(dialect: Dialect) -> None:
    """No cancel at all (the client counts on ``interrupt_response``, or only cuts what
    was heard): the cut item sends nothing past the cut and closes with its transcript
    dropped; the response goes on with its other items and completes."""
    reply = Reply(outputs=(Message(text=LONG), Message(text="and a second item, sent in full")))
    loop, item_id = streaming(dialect, reply)
    heard = int(client_item(loop, item_id).parts[0].audio_ms // 3)
    mark = len(loop.server_events)
    truncate(loop, item_id, heard)
    loop.drain()
    after = loop.server_events[mark:]
    assert of_item(after, item_id, s.ResponseAudioDelta) == []
    assert of_item(after, item_id, s.ResponseAudioTranscriptDelta) == []
    final = response_done(loop).response
    assert final.status == "completed"
    first, second = final.output
    assert first.id == item_id and first.status == "completed"
    assert first.content is not None and first.content[0].transcript == ""
    assert second.content is not None and second.content[0].transcript == (
        "and a second item, sent in full"
    )
    part = client_item(loop, item_id).parts[0]
    assert part.truncated_ms == heard and part.transcript == ""
    loop.check()


def test_the_rest_of_a_cut_response_keeps_its_pace(dialect: Dialect) -> None:
    """The deltas a truncate drops take no time: the response ends sooner than the
    same response left alone (on the simulated clock)."""

    def ends_at(cut: bool) -> float:
        reply = Reply(outputs=(Message(text=LONG), Message(text="second")))
        loop, item_id = streaming(dialect, reply)
        if cut:
            truncate(loop, item_id, 1)
        while loop.server.response_in_progress is not None:
            due = loop.server.next_deadline()
            assert due is not None
            loop.advance(due - loop.now)
        loop.check()
        return loop.now

    assert ends_at(cut=True) < ends_at(cut=False)


def test_truncate_past_the_audio_sent_so_far_is_refused(dialect: Dialect) -> None:
    loop, item_id = streaming(dialect)
    sent = client_item(loop, item_id).parts[0].audio_ms
    answer = truncate(loop, item_id, int(sent) + 1)
    (error,) = answer
    assert isinstance(error, s.Error)
    assert error.error.code == "invalid_value" and error.error.param == "audio_end_ms"
    assert "already shorter than" in (error.error.message or "")
    # nothing changed: the answer goes on in full
    loop.drain()
    final = response_done(loop).response
    assert final.status == "completed" and final.output[0].content is not None
    assert final.output[0].content[0].transcript == LONG
    loop.check()


def test_truncate_twice_while_streaming(dialect: Dialect) -> None:
    """A second cut may only shorten the first."""
    loop, item_id = streaming(dialect)
    heard = int(client_item(loop, item_id).parts[0].audio_ms // 2)
    assert loop.types(truncate(loop, item_id, heard)) == ["conversation.item.truncated"]
    (error,) = truncate(loop, item_id, heard + 1)
    assert isinstance(error, s.Error) and error.error.param == "audio_end_ms"
    assert loop.types(truncate(loop, item_id, heard - 1)) == ["conversation.item.truncated"]
    assert client_item(loop, item_id).parts[0].truncated_ms == heard - 1
    loop.send(c.ResponseCancel())
    loop.check()
