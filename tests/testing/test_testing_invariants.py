"""rtstate.testing.invariants: each invariant checker catches a hand-made violation of
it, accepts the valid streams it is built from, and accepts the real captures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest
from support import DATA

from rtstate.codec import ga
from rtstate.codec.beta import decode_client, decode_server
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    Conversation,
    ErrorInfo,
    Item,
    RateLimit,
    ResponseInfo,
    ResponseStatus,
    SessionConfig,
    StatusDetails,
    TurnDetection,
    Usage,
)
from rtstate.testing.invariants import (
    INVARIANTS,
    KNOWN_QUIRKS,
    Violation,
    assert_valid_stream,
    check_stream,
    format_violations,
)
from rtstate.testing.perturb import drop, duplicate, insert, move, swap_adjacent

Events = list[s.ServerEvent | s.UnknownServerEvent]
CORPUS = DATA / "corpus" / "beta"


# --- a tiny builder of valid streams --------------------------------------------------------


class B:
    """Builds valid server streams by hand, with readable ids."""

    def __init__(self) -> None:
        self.n = 0
        self.events: Events = []

    def eid(self) -> str:
        self.n += 1
        return f"event_{self.n:04d}"

    def add(self, cls: type[Any], **fields: Any) -> Any:
        event = cls(event_id=self.eid(), **fields)
        self.events.append(event)
        return event

    def start(self) -> B:
        self.add(
            s.SessionCreated,
            session=SessionConfig(
                id="sess_1",
                modalities=("text", "audio"),
                instructions="Be brief.",
                voice="alloy",
                input_audio_format="pcm16",
                output_audio_format="pcm16",
                input_audio_transcription=None,
                turn_detection=TurnDetection(type="server_vad"),
                tools=(),
                tool_choice="auto",
                max_response_output_tokens="inf",
            ),
        )
        return self

    def response(
        self,
        rid: str,
        outputs: Sequence[tuple[str, str]],
        previous: str | None,
        *,
        status: ResponseStatus = "completed",
        details: StatusDetails | None = None,
    ) -> B:
        """A response whose outputs are ``(item_id, "text"|"audio"|"call")`` pairs."""
        self.add(s.ResponseCreated, response=ResponseInfo(id=rid, status="in_progress"))
        done_items = []
        for index, (item_id, kind) in enumerate(outputs):
            ids = {"response_id": rid, "item_id": item_id, "output_index": index}
            if kind == "call":
                item = Item(
                    type="function_call",
                    id=item_id,
                    status="in_progress",
                    call_id=f"call_{item_id}",
                    name="get_weather",
                    arguments="",
                )
            else:
                item = Item(
                    type="message", id=item_id, status="in_progress", role="assistant", content=()
                )
            self.add(s.ResponseOutputItemAdded, response_id=rid, output_index=index, item=item)
            self.add(s.ConversationItemCreated, item=item, previous_item_id=previous)
            previous = item_id
            if kind == "call":
                for piece in ('{"city": ', '"Paris"}'):
                    self.add(
                        s.ResponseFunctionCallArgumentsDelta,
                        call_id=f"call_{item_id}",
                        delta=piece,
                        **ids,
                    )
                args = '{"city": "Paris"}'
                self.add(
                    s.ResponseFunctionCallArgumentsDone,
                    call_id=f"call_{item_id}",
                    arguments=args,
                    **ids,
                )
                final = attrs.evolve(item, status="completed", arguments=args)
            elif kind == "text":
                self.add(
                    s.ResponseContentPartAdded,
                    content_index=0,
                    part=ContentPart(type="text", text=""),
                    **ids,
                )
                for piece in ("Hel", "lo"):
                    self.add(s.ResponseTextDelta, content_index=0, delta=piece, **ids)
                self.add(s.ResponseTextDone, content_index=0, text="Hello", **ids)
                part = ContentPart(type="text", text="Hello")
                self.add(s.ResponseContentPartDone, content_index=0, part=part, **ids)
                final = attrs.evolve(item, status="completed", content=(part,))
            else:
                self.add(
                    s.ResponseContentPartAdded,
                    content_index=0,
                    part=ContentPart(type="audio", transcript=""),
                    **ids,
                )
                self.add(s.ResponseAudioTranscriptDelta, content_index=0, delta="Hi", **ids)
                self.add(s.ResponseAudioDelta, content_index=0, delta="AAAA", **ids)
                self.add(s.ResponseAudioTranscriptDelta, content_index=0, delta="!", **ids)
                self.add(s.ResponseAudioDone, content_index=0, **ids)
                self.add(s.ResponseAudioTranscriptDone, content_index=0, transcript="Hi!", **ids)
                part = ContentPart(type="audio", transcript="Hi!")
                self.add(s.ResponseContentPartDone, content_index=0, part=part, **ids)
                final = attrs.evolve(item, status="completed", content=(part,))
            self.add(s.ResponseOutputItemDone, response_id=rid, output_index=index, item=final)
            done_items.append(final)
        self.add(
            s.ResponseDone,
            response=ResponseInfo(
                id=rid,
                status=status,
                status_details=details,
                output=tuple(done_items),
                usage=Usage(total_tokens=3, input_tokens=1, output_tokens=2),
            ),
        )
        return self

    def vad_turn(self, item_id: str, previous: str | None) -> B:
        self.add(s.InputAudioBufferSpeechStarted, audio_start_ms=100, item_id=item_id)
        self.add(s.InputAudioBufferSpeechStopped, audio_end_ms=900, item_id=item_id)
        self.add(s.InputAudioBufferCommitted, item_id=item_id, previous_item_id=previous)
        self.add(
            s.ConversationItemCreated,
            item=Item(
                type="message",
                id=item_id,
                status="completed",
                role="user",
                content=(ContentPart(type="input_audio"),),
            ),
            previous_item_id=previous,
        )
        return self


def text_stream() -> Events:
    return B().start().response("resp_1", [("item_a", "text")], None).events


def audio_stream() -> Events:
    return B().start().response("resp_1", [("item_a", "audio")], None).events


def call_stream() -> Events:
    return B().start().response("resp_1", [("item_a", "text"), ("item_b", "call")], None).events


def vad_stream() -> Events:
    b = B().start().vad_turn("item_u", None)
    b.response("resp_1", [("item_a", "audio")], "item_u")
    b.add(
        s.ConversationItemInputAudioTranscriptionCompleted,
        item_id="item_u",
        content_index=0,
        transcript="hello",
    )
    return b.events


def at(events: Events, cls: type[Any], nth: int = 0) -> int:
    """Position of the ``nth`` event of class ``cls``."""
    return [n for n, e in enumerate(events) if isinstance(e, cls)][nth]


def replace(events: Events, index: int, **changes: Any) -> Events:
    out = list(events)
    out[index] = attrs.evolve(out[index], **changes)
    return out


def ids(violations: list[Violation]) -> set[str]:
    return {v.invariant for v in violations}


def flags(events: Events, invariant: str, **kwargs: Any) -> list[Violation]:
    """The violations of ``invariant``; fails if there are none."""
    found = [v for v in check_stream(events, **kwargs) if v.invariant == invariant]
    assert found, f"{invariant} not flagged; got {check_stream(events, **kwargs)}"
    return found


# --- the valid bases ------------------------------------------------------------------------


@pytest.mark.parametrize("make", [text_stream, audio_stream, call_stream, vad_stream])
def test_hand_made_streams_are_valid(make: Any) -> None:
    assert check_stream(make()) == []


def test_every_invariant_is_described() -> None:
    assert {f"INV-{n}" for n in range(1, 18)} <= set(INVARIANTS)


# --- one or more hand-made violations per invariant ------------------------------------------


def test_inv1_first_event_must_be_session_created() -> None:
    events = text_stream()[1:]
    (v,) = flags(events, "INV-1")
    assert v.index == 0
    assert "INV-1" not in ids(check_stream(events, from_start=False))


def test_inv1_session_created_only_once() -> None:
    events = text_stream()
    events = duplicate(events, 0, at=3)
    assert [v.index for v in flags(events, "INV-1")] == [3]


def test_inv1_errors_and_rate_limits_do_not_open_a_session() -> None:
    rl = s.RateLimitsUpdated(event_id="event_rl", rate_limits=())
    assert flags(insert(text_stream(), 0, rl), "INV-1")[0].index == 0


def test_inv1_unknown_events_are_skipped() -> None:
    unknown = s.UnknownServerEvent(type="x.y", raw={"type": "x.y", "event_id": "event_x"})
    assert check_stream(insert(text_stream(), 0, unknown)) == []


def test_inv2_conversation_created_at_most_once_and_first() -> None:
    conv = s.ConversationCreated(event_id="event_c", conversation=Conversation(id="conv_1"))
    events = insert(text_stream(), 1, conv)
    assert check_stream(events) == []
    twice = insert(events, 2, attrs.evolve(conv, event_id="event_c2"))
    assert flags(twice, "INV-2")[0].index == 2
    late = insert(text_stream(), 4, conv)
    assert flags(late, "INV-2")[0].index == 4


def test_inv3_session_update_needs_exactly_one_answer() -> None:
    events = text_stream()
    update = c.SessionUpdate(event_id="evt_1", session=SessionConfig(instructions="Hi"))
    (v,) = flags(events, "INV-3", client_events=[update])
    assert v.index is None
    answered = insert(
        events,
        1,
        s.SessionUpdated(event_id="event_u", session=events[0].session),  # type: ignore[union-attr]
    )
    assert check_stream(answered, client_events=[update]) == []
    # an updated nobody asked for
    assert flags(answered, "INV-3", client_events=[])[0].index == 1
    # rejected and answered too
    error = s.Error(
        event_id="event_e", error=ErrorInfo(type="invalid_request_error", event_id="evt_1")
    )
    assert flags(insert(answered, 2, error), "INV-3", client_events=[update])[0].index == 1
    # rejected only: fine
    assert check_stream(insert(events, 1, error), client_events=[update]) == []


def test_inv3_session_updated_carries_a_complete_session() -> None:
    partial = s.SessionUpdated(event_id="event_u", session=SessionConfig(instructions="Hi"))
    found = flags(insert(text_stream(), 1, partial), "INV-3")
    assert {v.index for v in found} == {1}
    assert any("modalities" in v.message for v in found)


def test_inv4_response_created_exactly_once() -> None:
    events = text_stream()
    assert flags(duplicate(events, 1), "INV-4")[0].index == 2


def test_inv4_response_done_exactly_once_and_last() -> None:
    events = text_stream()
    missing = drop(events, at(events, s.ResponseDone))
    assert flags(missing, "INV-4")[0].index == 1  # the response.created left open
    assert "INV-4" not in ids(check_stream(missing, complete=False))
    twice = duplicate(events, len(events) - 1)
    assert "INV-4" in ids(check_stream(twice))
    late = move(events, at(events, s.ResponseTextDelta), len(events))
    assert flags(late, "INV-4")[0].index == len(events) - 1


def test_inv4_events_before_response_created() -> None:
    events = text_stream()
    early = move(events, at(events, s.ResponseOutputItemAdded), 1)
    assert flags(early, "INV-4")[0].index == 1


def test_inv5_one_response_at_a_time() -> None:
    b = B().start()
    b.add(s.ResponseCreated, response=ResponseInfo(id="resp_1", status="in_progress"))
    b.response("resp_2", [("item_b", "text")], None)
    b.add(
        s.ResponseDone,
        response=ResponseInfo(id="resp_1", status="completed", output=(), usage=Usage()),
    )
    (v,) = flags(b.events, "INV-5")
    assert v.index == 2


def test_inv5_out_of_band_responses_are_exempt() -> None:
    b = B().start()
    oob = ResponseInfo(
        id="resp_1", status="in_progress", modalities=("text",), conversation_id=None
    )
    b.add(s.ResponseCreated, response=oob)
    b.response("resp_2", [("item_b", "text")], None)
    b.add(s.ResponseDone, response=attrs.evolve(oob, status="completed", usage=Usage()))
    assert check_stream(b.events) == []


def test_inv6_output_index_counts_from_zero() -> None:
    events = text_stream()
    n = at(events, s.ResponseOutputItemAdded)
    found = flags(replace(events, n, output_index=1), "INV-6")
    assert found[0].index == n


def test_inv6_output_item_done_needs_its_added() -> None:
    events = call_stream()
    n = at(events, s.ResponseOutputItemDone, 1)
    assert flags(replace(events, n, output_index=2), "INV-6")[0].index == n


def test_inv7_output_item_added_before_conversation_item_created() -> None:
    events = text_stream()
    swapped = swap_adjacent(events, at(events, s.ResponseOutputItemAdded))
    assert flags(swapped, "INV-7")[0].index == at(swapped, s.ResponseOutputItemAdded)


def test_inv7_conversation_item_created_before_the_items_parts() -> None:
    events = text_stream()
    late = move(events, at(events, s.ConversationItemCreated), at(events, s.ResponseTextDone))
    assert flags(late, "INV-7")[0].index == at(late, s.ResponseContentPartAdded)
    missing = drop(events, at(events, s.ConversationItemCreated))
    assert "INV-7" in ids(check_stream(missing))


def test_inv8_part_added_before_its_deltas() -> None:
    events = text_stream()
    early = swap_adjacent(events, at(events, s.ResponseContentPartAdded))
    assert flags(early, "INV-8")[0].index == at(early, s.ResponseTextDelta)


def test_inv8_done_events_in_order() -> None:
    events = audio_stream()
    n = at(events, s.ResponseContentPartDone)
    before_audio_done = move(events, n, at(events, s.ResponseAudioDone))
    assert "INV-8" in ids(check_stream(before_audio_done))
    item_first = swap_adjacent(events, n)  # output_item.done before content_part.done
    assert flags(item_first, "INV-8")[0].index == n
    delta_after = move(
        events, at(events, s.ResponseAudioDelta), at(events, s.ResponseAudioDone) + 1
    )
    assert "INV-8" in ids(check_stream(delta_after))


def test_inv8_content_index_counts_from_zero() -> None:
    events = text_stream()
    n = at(events, s.ResponseContentPartAdded)
    assert flags(replace(events, n, content_index=1), "INV-8")[0].index == n


def test_inv9_text_done_is_the_joined_deltas() -> None:
    events = text_stream()
    n = at(events, s.ResponseTextDelta)
    assert flags(replace(events, n, delta="Hal"), "INV-9")[0].index == at(
        events, s.ResponseTextDone
    )
    swapped = swap_adjacent(events, n)  # "lo" + "Hel"
    assert "INV-9" in ids(check_stream(swapped))


def test_inv9_transcript_and_arguments_are_the_joined_deltas() -> None:
    audio = audio_stream()
    n = at(audio, s.ResponseAudioTranscriptDone)
    assert "INV-9" in ids(check_stream(replace(audio, n, transcript="Hi?")))
    call = call_stream()
    n = at(call, s.ResponseFunctionCallArgumentsDone)
    assert flags(replace(call, n, arguments="{}"), "INV-9")[0].index == n


def test_inv9_snapshots_carry_the_done_values() -> None:
    events = text_stream()
    n = at(events, s.ResponseContentPartDone)
    other = replace(events, n, part=ContentPart(type="text", text="Hell"))
    assert flags(other, "INV-9")[0].index == n
    n = at(events, s.ResponseOutputItemDone)
    item = events[n].item  # type: ignore[union-attr]
    wrong = attrs.evolve(item, content=(ContentPart(type="text", text="Bye"),))
    assert flags(replace(events, n, item=wrong), "INV-9")[0].index == n


def test_inv9_empty_part_text_is_a_known_tolerated_quirk() -> None:
    events = text_stream()
    n = at(events, s.ResponseContentPartDone)
    azure = replace(events, n, part=ContentPart(type="text", text=""))
    assert check_stream(azure) == []
    assert flags(azure, "INV-9", tolerate=())[0].index == n
    assert "empty_part_text_at_done" in KNOWN_QUIRKS
    with pytest.raises(ValueError, match="unknown quirks"):
        check_stream(azure, tolerate=["nope"])


def test_inv10_function_call_events_only_for_function_calls() -> None:
    events = call_stream()
    n = at(events, s.ResponseFunctionCallArgumentsDelta)
    assert flags(replace(events, n, call_id="call_other"), "INV-10")[0].index == n
    on_message = replace(events, n, item_id="item_a", output_index=0)
    assert "INV-10" in ids(check_stream(on_message))
    part = s.ResponseContentPartAdded(
        event_id="event_p",
        response_id="resp_1",
        item_id="item_b",
        output_index=1,
        content_index=0,
        part=ContentPart(type="text", text=""),
    )
    assert flags(insert(events, n, part), "INV-10")[0].index == n


def test_inv10_arguments_done_names_the_function() -> None:
    events = call_stream()
    n = at(events, s.ResponseFunctionCallArgumentsDone)
    assert check_stream(replace(events, n, name="get_weather")) == []
    assert flags(replace(events, n, name="other"), "INV-10")[0].index == n


def test_inv11_response_done_lists_the_announced_items() -> None:
    events = call_stream()
    n = len(events) - 1
    info = events[n].response  # type: ignore[union-attr]
    assert flags(replace(events, n, response=attrs.evolve(info, output=info.output[:1])), "INV-11")
    reordered = attrs.evolve(info, output=info.output[::-1])
    assert flags(replace(events, n, response=reordered), "INV-11")[0].index == n


def test_inv11_response_done_items_match_their_snapshots_without_audio() -> None:
    events = audio_stream()
    n = len(events) - 1
    info = events[n].response  # type: ignore[union-attr]
    (item,) = info.output
    with_audio = attrs.evolve(
        item, content=(ContentPart(type="audio", transcript="Hi!", audio="AAAA"),)
    )
    found = flags(replace(events, n, response=attrs.evolve(info, output=(with_audio,))), "INV-11")
    assert any("audio bytes" in v.message for v in found)
    other = attrs.evolve(item, status="incomplete")
    assert flags(replace(events, n, response=attrs.evolve(info, output=(other,))), "INV-11")


def test_inv12_everything_is_closed_before_response_done() -> None:
    events = text_stream()
    no_item_done = drop(events, at(events, s.ResponseOutputItemDone))
    assert flags(no_item_done, "INV-12")[0].index == len(no_item_done) - 1
    no_part_done = drop(events, at(events, s.ResponseContentPartDone))
    assert "INV-12" in ids(check_stream(no_part_done))


def test_inv12_status_details_match_the_status() -> None:
    cancelled = StatusDetails(type="cancelled", reason="client_cancelled")
    ok = B().start().response("resp_1", [], None, status="cancelled", details=cancelled).events
    assert check_stream(ok) == []
    bad: list[tuple[ResponseStatus, StatusDetails | None]] = [
        ("cancelled", None),
        ("completed", cancelled),
        ("cancelled", StatusDetails(type="cancelled", reason="max_output_tokens")),
        ("failed", StatusDetails(type="failed", reason="turn_detected")),
        ("in_progress", None),
    ]
    for status, details in bad:
        events = B().start().response("resp_1", [], None, status=status, details=details).events
        assert flags(events, "INV-12")[0].index == len(events) - 1, (status, details)


def test_inv12_items_of_a_completed_response_are_completed() -> None:
    events = text_stream()
    n = at(events, s.ResponseOutputItemDone)
    item = attrs.evolve(events[n].item, status="in_progress")  # type: ignore[union-attr]
    assert flags(replace(events, n, item=item), "INV-12")[0].index == n


def test_inv13_vad_order() -> None:
    events = vad_stream()
    stopped = at(events, s.InputAudioBufferSpeechStopped)
    stop_after_commit = swap_adjacent(events, stopped)
    assert flags(stop_after_commit, "INV-13")[0].index == stopped + 1
    created_first = swap_adjacent(events, stopped + 1)
    assert "INV-13" in ids(check_stream(created_first))
    never_created = drop(events, stopped + 2)
    assert "INV-13" in ids(check_stream(never_created))
    start_after_stop = swap_adjacent(events, at(events, s.InputAudioBufferSpeechStarted))
    assert "INV-13" in ids(check_stream(start_after_stop))


def test_inv13_a_commit_without_stopped_speech_needs_a_client_commit() -> None:
    events = drop(vad_stream(), at(vad_stream(), s.InputAudioBufferSpeechStopped))
    assert check_stream(events, client_events=[c.InputAudioBufferCommit()]) == []
    (v,) = flags(events, "INV-13", client_events=[])
    assert v.index == at(events, s.InputAudioBufferCommitted)


def test_inv14_transcription_after_the_commit() -> None:
    events = vad_stream()
    n = at(events, s.ConversationItemInputAudioTranscriptionCompleted)
    anywhere_after = move(events, n, at(events, s.ConversationItemCreated))  # before created
    assert check_stream(anywhere_after) == []
    too_early = move(events, n, at(events, s.InputAudioBufferCommitted))
    assert flags(too_early, "INV-14")[0].index == at(events, s.InputAudioBufferCommitted)


def test_inv15_previous_item_id_names_an_existing_item() -> None:
    events = vad_stream()
    n = at(events, s.ConversationItemCreated, 1)
    assert flags(replace(events, n, previous_item_id="item_nope"), "INV-15")[0].index == n
    n = at(events, s.InputAudioBufferCommitted)
    assert flags(replace(events, n, previous_item_id="item_nope"), "INV-15")[0].index == n
    deleted = s.ConversationItemDeleted(event_id="event_d", item_id="item_u")
    gone = insert(events, at(events, s.ResponseCreated), deleted)
    assert "INV-15" in ids(check_stream(gone))


def test_inv15_an_item_is_created_once() -> None:
    events = text_stream()
    n = at(events, s.ConversationItemCreated)
    created = events[n]
    assert isinstance(created, s.ConversationItemCreated)
    again = insert(events, n + 1, attrs.evolve(created, event_id="event_again"))
    assert flags(again, "INV-15")[0].index == n + 1


def test_inv16_acknowledgements_answer_client_requests() -> None:
    events = text_stream()
    truncated = s.ConversationItemTruncated(
        event_id="event_t", item_id="item_a", content_index=0, audio_end_ms=10
    )
    deleted = s.ConversationItemDeleted(event_id="event_d", item_id="item_a")
    cleared = s.InputAudioBufferCleared(event_id="event_cl")
    acked = [*events, truncated, deleted, cleared]
    requests: list[Any] = [
        c.ConversationItemTruncate(item_id="item_a", content_index=0, audio_end_ms=10),
        c.ConversationItemDelete(item_id="item_a"),
        c.InputAudioBufferClear(),
    ]
    assert check_stream(acked, client_events=requests) == []
    found = flags(acked, "INV-16", client_events=[])
    assert [v.index for v in found] == [len(events), len(events) + 1, len(events) + 2]
    unanswered = flags(events, "INV-16", client_events=requests)
    assert [v.index for v in unanswered] == [None, None, None]


def test_inv16_acknowledgements_of_unknown_items() -> None:
    deleted = s.ConversationItemDeleted(event_id="event_d", item_id="item_nope")
    assert flags([*text_stream(), deleted], "INV-16")[0].index == len(text_stream())


def test_inv17_errors_name_client_events_that_were_sent() -> None:
    error = s.Error(
        event_id="event_e", error=ErrorInfo(type="invalid_request_error", event_id="evt_9")
    )
    events = insert(text_stream(), 3, error)
    assert check_stream(events) == []  # an error anywhere: fine without the client side
    assert flags(events, "INV-17", client_events=[])[0].index == 3
    sent = [c.ResponseCancel(event_id="evt_9")]
    assert check_stream(events, client_events=sent) == []
    twice = insert(events, 5, attrs.evolve(error, event_id="event_e2"))
    assert flags(twice, "INV-17", client_events=sent)[0].index == 5


def test_inv17_rate_limits_anywhere_open_nothing() -> None:
    events = text_stream()
    for n in range(1, len(events) + 1):
        rl = s.RateLimitsUpdated(
            event_id="event_rl", rate_limits=(RateLimit(name="requests", limit=1, remaining=0),)
        )
        assert check_stream(insert(events, n, rl)) == []


def test_id1_event_ids_are_unique() -> None:
    events = text_stream()
    n = at(events, s.ResponseTextDelta)
    assert [v.index for v in flags(duplicate(events, n, at=n + 2), "ID-1")] == [n + 2]


def test_req1_item_create_gets_an_answer() -> None:
    events = vad_stream()
    create = c.ConversationItemCreate(
        item=Item(type="message", role="user", content=(ContentPart(type="input_text", text="x"),))
    )
    (v,) = flags(events, "REQ-1", client_events=[create])
    assert v.index is None
    user = s.ConversationItemCreated(
        event_id="event_x",
        item=Item(type="message", id="item_x", role="user", status="completed"),
        previous_item_id=None,
    )
    answered = insert(events, 1, user)
    assert check_stream(answered, client_events=[create]) == []
    chosen = attrs.evolve(create, item=attrs.evolve(create.item, id="item_y"))
    assert flags(answered, "REQ-1", client_events=[chosen])[0].index == 1


def test_req1_an_error_naming_no_event_may_answer_the_earlier_create() -> None:
    """An id-less create refused by an error that names no event, then a create with
    an id answered by ``item.created``. Answers pair first come first served, so the
    answer goes to the first create; the anonymous error must still be allowed to be
    the first one's."""
    events = vad_stream()
    anonymous = c.ConversationItemCreate(
        item=Item(type="message", role="user", content=(ContentPart(type="input_text", text="x"),)),
        previous_item_id="item_gone",
    )
    named = c.ConversationItemCreate(event_id="evt_named", item=anonymous.item)
    refused = s.Error(
        event_id="event_err",
        error=ErrorInfo(type="invalid_request_error", message="Previous item not found."),
    )
    created = s.ConversationItemCreated(
        event_id="event_made",
        item=Item(type="message", id="item_made", role="user", status="completed"),
        previous_item_id=None,
    )
    answered = [*events, refused, created]
    assert check_stream(answered, client_events=[anonymous, named]) == []
    # with no error at all, one of the two creates is unanswered
    (v,) = flags([*events, created], "REQ-1", client_events=[anonymous, named])
    assert v.index is None


# --- reporting --------------------------------------------------------------------------------


def test_assert_valid_stream_lists_the_violations() -> None:
    assert_valid_stream(text_stream())
    events = duplicate(text_stream(), 1)
    with pytest.raises(AssertionError) as info:
        assert_valid_stream(events)
    text = str(info.value)
    assert "INV-4 at event 2" in text
    assert "[response.created]" in text
    assert format_violations([Violation("INV-3", None, "x")]) == "INV-3 at end of stream: x"


# --- the real captures ------------------------------------------------------------------------


def _corpus(pattern: str) -> list[Path]:
    files = sorted(CORPUS.glob(pattern))
    assert files, f"no corpus files {pattern} under {CORPUS}"
    return files


def _server(path: Path) -> Events:
    return [decode_server(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("path", _corpus("**/*.server.jsonl"), ids=lambda p: p.name)
def test_real_server_streams_pass(path: Path) -> None:
    events = _server(path)
    assert events[0].type == "session.created"
    assert_valid_stream(events)


@pytest.mark.parametrize("path", _corpus("**/*.both.jsonl"), ids=lambda p: p.name)
def test_real_sessions_pass_with_their_client_side(path: Path) -> None:
    server: Events = []
    client: list[Any] = []
    for line in path.read_text().splitlines():
        frame = json.loads(line)
        raw = json.dumps(frame["event"])
        if frame["direction"] == "server":
            server.append(decode_server(raw))
        else:
            client.append(decode_client(raw))
    assert_valid_stream(server, client_events=client)


def test_the_azure_empty_part_text_quirk_is_real() -> None:
    """Strictly checked, Azure's text responses break INV-9 in exactly one way."""
    for path in _corpus("azure-voice-live/*.server.jsonl"):
        events = _server(path)
        strict = check_stream(events, tolerate=())
        text_parts = [
            n
            for n, e in enumerate(events)
            if isinstance(e, s.ResponseContentPartDone) and e.part.type == "text"
        ]
        assert [v.index for v in strict] == text_parts, path.name
        assert all(v.invariant == "INV-9" for v in strict)
        for n in text_parts:
            assert events[n].part.text == ""  # type: ignore[union-attr]


def test_the_liusida_log_is_a_fragment_cut_short() -> None:
    """One logged response: no session.created before it, and (without the 2 events the
    logger mangled) no output_item.done / response.done after it."""
    lines = (CORPUS / "liusida-text-response.jsonl").read_text().splitlines()
    events: Events = [decode_server(line) for line in lines[:-2]]
    assert check_stream(events, from_start=False, complete=False) == []
    strict = check_stream(events)
    assert [(v.invariant, v.index) for v in strict] == [("INV-1", 0), ("INV-4", 0)]


# --- GA: the real captures and GA's own orders ------------------------------------------------

GA_CORPUS = DATA / "corpus" / "ga"
GA_SESSIONS = sorted(GA_CORPUS.rglob("*.both.jsonl"))


def _ga_session(path: Path) -> tuple[Events, list[Any]]:
    server: Events = []
    client: list[Any] = []
    for line in path.read_text().splitlines():
        frame = json.loads(line)
        raw = json.dumps(frame["event"])
        if frame["direction"] == "server":
            server.append(ga.decode_server(raw))
        else:
            client.append(ga.decode_client(raw))
    return server, client


def test_the_ga_corpus_is_there() -> None:
    assert len(GA_SESSIONS) >= 10


@pytest.mark.parametrize("path", GA_SESSIONS, ids=lambda p: p.name)
def test_real_ga_sessions_pass_with_their_client_side(path: Path) -> None:
    server, client = _ga_session(path)
    assert any(isinstance(e, s.ConversationItemDone) for e in server)
    sideband = "sideband" in path.parent.name  # joined after session.created
    assert_valid_stream(server, client_events=client, from_start=not sideband)


def _ga_vad_stream() -> Events:
    """A real GA server VAD turn with streamed input transcription."""
    path = GA_CORPUS / "pydantic-ai" / "test_openai_ws" / "test_audio_in_server_vad_turn.both.jsonl"
    return _ga_session(path)[0]


def test_ga_item_done_follows_its_added_once() -> None:
    events = _ga_vad_stream()
    n = at(events, s.ConversationItemDone)
    done = events[n]
    assert isinstance(done, s.ConversationItemDone)
    assert check_stream(events) == []
    assert flags(insert(events, n + 1, attrs.evolve(done, event_id="event_again")), "INV-15")
    before_added = move(events, n, at(events, s.ConversationItemAdded))
    assert "INV-15" in ids(check_stream(before_added))


def test_ga_output_item_done_needs_the_item_done_first() -> None:
    events = _ga_vad_stream()
    n = at(events, s.ConversationItemDone, 1)  # the assistant's
    assert isinstance(events[n + 1], s.ResponseOutputItemDone)
    swapped = swap_adjacent(events, n)
    assert [v.index for v in flags(swapped, "INV-7")] == [n, n + 1]
    (v,) = flags(drop(events, n), "INV-7")
    assert v.index == n and "conversation.item.done" in v.message


def test_ga_transcription_deltas_come_between_the_speech_and_the_end() -> None:
    events = _ga_vad_stream()
    n = at(events, s.ConversationItemInputAudioTranscriptionDelta)
    # real servers stream them while the user still speaks: after speech_started is valid
    assert check_stream(move(events, n, at(events, s.InputAudioBufferSpeechStopped))) == []
    too_early = move(events, n, at(events, s.InputAudioBufferSpeechStarted))
    assert flags(too_early, "INV-14")[0].index == at(events, s.InputAudioBufferSpeechStarted)
    end = at(events, s.ConversationItemInputAudioTranscriptionCompleted)
    after_end = move(events, n, end + 1)
    assert [v.index for v in flags(after_end, "INV-14")] == [end]
