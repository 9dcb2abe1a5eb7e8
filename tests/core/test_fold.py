"""``rtstate.fold``: the canonical server flows (connect, session update, text, audio and
function-call responses, VAD turns, barge-in, cancel, truncate), the disorders real
servers produce (folded silently), table violations (rejected), reconciled quirks
(applied with a diagnostic), conversation order, audio retention, determinism and
persistence of old snapshots.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pytest
from support.helpers import Server, append, b64, diagnostics, fold_all, pcm16, transitions, usage

from rtstate import ClientConnection, Config, RemoteProtocolError, SessionState, Step, fold
from rtstate.codec import beta
from rtstate.config import AudioRetention
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import ContentPart, ErrorInfo, StatusDetails
from rtstate.state import InputBufferPhase, ItemPhase, PartPhase, ResponsePhase, SessionPhase
from rtstate.step import Closed, Input
from rtstate.transitions import (
    AudioAppended,
    FunctionCallArgumentsAppended,
    FunctionCallReady,
    InputCleared,
    InputCommitted,
    InputTranscribed,
    InputTranscriptionFailed,
    ItemAdded,
    ItemDeleted,
    ItemFinished,
    ItemTruncated,
    RateLimitsUpdated,
    ResponseFinished,
    ResponseStarted,
    ServerErrorReceived,
    SessionStarted,
    SessionUpdated,
    SpeechStarted,
    SpeechStopped,
    TextAppended,
    TranscriptAppended,
    TransportClosed,
)

STRICT = Config(dialect="beta", strict=True)


def clean(
    events: Sequence[Input], state: SessionState | None = None, config: Config | None = None
) -> tuple[SessionState, list[Step]]:
    """Fold ``events`` and assert the fold raised no diagnostic at all."""
    state, steps = fold_all(events, state, config)
    assert diagnostics(steps) == []
    return state, steps


def kinds(steps: list[Step]) -> list[str]:
    return [type(t).__name__ for t in transitions(steps)]


def opened() -> tuple[Server, SessionState]:
    srv = Server()
    state, _ = clean([srv.session_created()])
    return srv, state


# --- connect, session.update -----------------------------------------------------------


def test_connect_session_created_then_updated() -> None:
    srv = Server()
    created = srv.session_created()
    updated = srv.session_updated(voice="shimmer", instructions="Be brief.")
    state, steps = clean([created, srv.conversation_created("conv_7"), updated])
    assert state.phase is SessionPhase.OPEN
    assert state.session == updated.session
    assert state.session is not None and state.session.voice == "shimmer"
    assert state.conversation_id == "conv_7"
    assert transitions(steps) == [
        SessionStarted(session=created.session),
        SessionUpdated(session=updated.session),
    ]
    assert steps[0].before.phase is SessionPhase.CONNECTING


def test_fresh_state_is_connecting_and_empty() -> None:
    state = SessionState()
    assert state.phase is SessionPhase.CONNECTING
    assert state.items == ()
    assert state.active_response is None
    assert state.retained_audio("anything") == b""


# --- text response ---------------------------------------------------------------------


def test_text_response() -> None:
    srv, start = opened()
    events = [srv.user_message("Tell me a joke."), srv.response_created(), srv.rate_limits()]
    events += srv.text_item(["Why ", "did ", "the ", "chicken..."])
    events += [srv.response_done(), srv.rate_limits(("tokens", 20000, 18000, 6.0))]
    state, steps = clean(events, state=start)

    user, reply = state.items
    assert (user.id, user.type, user.role, user.status) == (
        "item_1",
        "message",
        "user",
        "completed",
    )
    assert user.text == "Tell me a joke."
    assert user.phase is ItemPhase.DONE
    assert (reply.id, reply.role, reply.status) == ("item_2", "assistant", "completed")
    assert reply.phase is ItemPhase.DONE
    assert reply.text == "Why did the chicken..."
    assert [p.type for p in reply.parts] == ["text"]
    assert reply.parts[0].phase is PartPhase.DONE
    assert (reply.response_id, reply.output_index) == ("resp_1", 0)

    assert state.active_response is None
    (done,) = state.finished
    assert (done.id, done.phase, done.status) == ("resp_1", ResponsePhase.DONE, "completed")
    assert done.output == ("item_2",)
    assert done.usage == usage()
    assert state.response_by_id("resp_1") is done
    # The second rate_limits.updated replaced "tokens", kept "requests".
    tokens = state.rate_limit("tokens")
    assert tokens is not None and tokens.remaining == 18000
    requests = state.rate_limit("requests")
    assert requests is not None and requests.remaining == 4999
    assert tokens.revision > requests.revision

    assert transitions(steps) == [
        ItemAdded(item_id="item_1", previous_item_id=None, type="message", role="user"),
        ResponseStarted(response_id="resp_1"),
        RateLimitsUpdated(names=("requests", "tokens")),
        ItemAdded(item_id="item_2", previous_item_id="item_1", type="message", role="assistant"),
        TextAppended(item_id="item_2", content_index=0, delta="Why ", response_id="resp_1"),
        TextAppended(item_id="item_2", content_index=0, delta="did ", response_id="resp_1"),
        TextAppended(item_id="item_2", content_index=0, delta="the ", response_id="resp_1"),
        TextAppended(item_id="item_2", content_index=0, delta="chicken...", response_id="resp_1"),
        ItemFinished(item_id="item_2", status="completed"),
        ResponseFinished(
            response_id="resp_1", status="completed", status_details=None, usage=usage()
        ),
        RateLimitsUpdated(names=("tokens",)),
    ]


def test_text_streaming_state_mid_response() -> None:
    srv, start = opened()
    events = [srv.response_created(), *srv.text_item(["a", "b", "c"], finish=False)]
    state, _ = clean(events, state=start)
    response = state.active_response
    assert response is not None
    assert (response.id, response.phase, response.status) == (
        "resp_1",
        ResponsePhase.IN_PROGRESS,
        "in_progress",
    )
    assert response.output == ("item_1",)
    item = state.item("item_1")
    assert item is not None
    assert (item.phase, item.status, item.text) == (ItemPhase.IN_PROGRESS, "in_progress", "abc")
    assert item.parts[0].phase is PartPhase.STREAMING


# --- audio response --------------------------------------------------------------------


def test_audio_response() -> None:
    srv, start = opened()
    chunks = [pcm16(100, seed=1), pcm16(40, seed=2), pcm16(20, seed=3)]
    events = srv.audio_response(["Hello", " there", "!"], chunks)
    state, steps = clean(events, state=start)

    (item,) = state.items
    assert (item.role, item.status, item.phase) == ("assistant", "completed", ItemPhase.DONE)
    (part,) = item.parts
    assert part.type == "audio"
    assert part.transcript == item.transcript == "Hello there!"
    assert item.text == ""
    assert part.audio_bytes == item.audio_bytes == 4800 + 1920 + 960
    assert part.audio_ms == pytest.approx((4800 + 1920 + 960) / 48) == 160.0
    assert part.audio_done
    # Default retention: nothing kept.
    assert len(state.audio) == 0
    assert state.retained_audio("item_1") == b""

    assert kinds(steps) == [
        "ResponseStarted",
        "ItemAdded",
        "TranscriptAppended",
        "AudioAppended",
        "TranscriptAppended",
        "AudioAppended",
        "TranscriptAppended",
        "AudioAppended",
        "ItemFinished",
        "ResponseFinished",
    ]
    assert transitions(steps, TranscriptAppended)[1] == TranscriptAppended(
        item_id="item_1", content_index=0, delta=" there", response_id="resp_1"
    )
    audio = transitions(steps, AudioAppended)
    assert [(a.byte_count, a.ms) for a in audio] == [(4800, 100.0), (1920, 40.0), (960, 20.0)]
    assert audio[0].audio == b64(chunks[0])
    assert (audio[2].item_id, audio[2].content_index, audio[2].response_id) == (
        "item_1",
        0,
        "resp_1",
    )


def test_audio_ms_follows_the_output_format() -> None:
    srv = Server()
    events = [
        srv.session_created(output_audio_format="g711_ulaw"),
        *srv.audio_response(["hi"], [bytes(800)]),
    ]
    state, _ = clean(events)
    assert state.items[0].audio_ms == 100.0  # 8 bytes per ms


# --- function call ---------------------------------------------------------------------


def test_function_call_round() -> None:
    srv, start = opened()
    events: list[s.ServerEvent] = [srv.user_message("What is the weather in Paris?")]
    events += srv.function_call_response("get_weather", ['{"ci', 'ty": "Pa', 'ris"}'])
    events += [srv.function_call_output("call_1", '{"temp": 21}')]
    events += srv.text_response(["It is ", "21 degrees."])
    state, steps = clean(events, state=start)

    user, call, output, answer = state.items
    assert user.text == "What is the weather in Paris?"
    assert (call.type, call.name, call.call_id, call.status) == (
        "function_call",
        "get_weather",
        "call_1",
        "completed",
    )
    assert call.arguments == '{"city": "Paris"}'
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert call.parts == ()
    assert (output.type, output.call_id, output.output) == (
        "function_call_output",
        "call_1",
        '{"temp": 21}',
    )
    assert output.arguments is None
    # created without a status (as real servers send it), yet final: nothing streams it
    assert (output.status, output.phase) == (None, ItemPhase.DONE)
    assert (answer.role, answer.text) == ("assistant", "It is 21 degrees.")
    assert [r.id for r in state.finished] == ["resp_1", "resp_2"]

    args = transitions(steps, FunctionCallArgumentsAppended)
    assert [a.delta for a in args] == ['{"ci', 'ty": "Pa', 'ris"}']
    assert args[0] == FunctionCallArgumentsAppended(
        item_id="item_2", call_id="call_1", delta='{"ci'
    )
    assert transitions(steps, FunctionCallReady) == [
        FunctionCallReady(
            item_id="item_2",
            call_id="call_1",
            name="get_weather",
            arguments='{"city": "Paris"}',
            response_id="resp_1",
        )
    ]
    # FunctionCallReady follows the item's completion, before the response ends.
    names = kinds(steps)
    ready = names.index("FunctionCallReady")
    assert names[ready - 1] == "ItemFinished"
    assert names[ready + 1] == "ResponseFinished"


def test_response_with_a_message_and_a_function_call() -> None:
    srv, start = opened()
    events = [
        srv.response_created(),
        *srv.text_item(["Let me check."]),
        *srv.function_call_item("lookup", ['{"q": 1}']),
        srv.response_done(),
    ]
    state, steps = clean(events, state=start)
    message, call = state.items
    assert (message.output_index, call.output_index) == (0, 1)
    assert state.finished[-1].output == (message.id, call.id)
    assert call.arguments == '{"q": 1}'
    assert len(transitions(steps, FunctionCallReady)) == 1


def test_incomplete_function_call_is_not_ready() -> None:
    srv, start = opened()
    events = [srv.response_created(), *srv.function_call_item("f", ['{"a"'], finish=False)]
    done = srv.response_done("incomplete", reason="max_output_tokens")
    state, steps = fold_all([*events, done], state=start)
    assert transitions(steps, FunctionCallReady) == []
    assert state.items[0].status == "incomplete"


# --- server VAD turn, input buffer -----------------------------------------------------


def test_vad_turn_with_transcription_and_response() -> None:
    srv, start = opened()
    sent = [append(100, seed=i) for i in range(5)]
    state, steps = clean([srv.session_with_transcription(), *sent], state=start)
    assert state.input_buffer.appended_ms == pytest.approx(500.0)
    assert state.input_buffer.total_appended_ms == pytest.approx(500.0)

    turn = srv.vad_turn(120, 480, item_id="item_u1")
    started, stopped, committed, created = turn
    after_start, _ = clean([started], state=state)
    assert after_start.input_buffer.phase is InputBufferPhase.SPEECH
    assert after_start.item("item_u1") is None  # speech names an item that does not exist yet
    assert after_start.input_buffer.speech[-1].end_ms is None

    answer = srv.text_response(["Hi!"])
    transcript = srv.transcription_completed("item_u1", "Hello there")
    state, steps = clean([*turn, *answer, transcript], state=state)

    buf = state.input_buffer
    assert buf.phase is InputBufferPhase.IDLE
    assert [(w.item_id, w.start_ms, w.end_ms) for w in buf.speech] == [("item_u1", 120, 480)]
    assert buf.committed == ("item_u1",)
    assert buf.appended_ms == 0.0  # reset by the commit
    assert buf.total_appended_ms == pytest.approx(500.0)

    user, reply = state.items
    assert (user.id, user.role, user.status) == ("item_u1", "user", "completed")
    assert [p.type for p in user.parts] == ["input_audio"]
    assert user.parts[0].transcript == user.transcript == "Hello there"
    assert reply.text == "Hi!"

    assert transitions(steps)[:4] == [
        SpeechStarted(item_id="item_u1", audio_start_ms=120),
        SpeechStopped(item_id="item_u1", audio_end_ms=480),
        InputCommitted(item_id="item_u1", previous_item_id=None),
        ItemAdded(item_id="item_u1", previous_item_id=None, type="message", role="user"),
    ]
    assert transitions(steps)[-1] == InputTranscribed(
        item_id="item_u1", content_index=0, transcript="Hello there"
    )
    assert isinstance(created, s.ConversationItemCreated)
    assert isinstance(committed, s.InputAudioBufferCommitted)
    assert created.previous_item_id is None and committed.previous_item_id is None
    assert isinstance(stopped, s.InputAudioBufferSpeechStopped)


def test_input_transcript_is_unknown_until_transcribed() -> None:
    srv, start = opened()
    state, _ = clean(srv.vad_turn(item_id="item_u"), state=start)
    item = state.item("item_u")
    assert item is not None
    assert item.parts[0].transcript is None
    assert item.transcript == ""


def test_appended_ms_uses_the_input_format() -> None:
    srv = Server()
    state, _ = clean([srv.session_created(input_audio_format="g711_alaw")])
    state, _ = clean([c.InputAudioBufferAppend(audio=b64(bytes(1600)))], state=state)
    assert state.input_buffer.appended_ms == pytest.approx(200.0)


def test_manual_commit_and_clear() -> None:
    srv, start = opened()
    inputs: list[Input] = [
        append(300),
        c.InputAudioBufferCommit(),
        srv.committed("item_m"),
        srv.input_audio_item("item_m"),
        append(200),
        c.InputAudioBufferClear(),
        srv.cleared(),
    ]
    state, steps = clean(inputs, state=start)
    assert state.input_buffer.committed == ("item_m",)
    assert state.input_buffer.appended_ms == 0.0
    assert state.input_buffer.total_appended_ms == pytest.approx(500.0)
    assert state.input_buffer.cleared == 1
    assert state.input_buffer.speech == ()
    assert transitions(steps, InputCleared) == [InputCleared()]
    assert [i.id for i in state.items] == ["item_m"]


def test_transcription_failed() -> None:
    srv, start = opened()
    events = [*srv.vad_turn(item_id="item_u"), srv.transcription_failed("item_u", "noise")]
    state, steps = clean(events, state=start)
    item = state.item("item_u")
    assert item is not None
    assert item.transcription_error == ErrorInfo(
        type="transcription_error", code="audio_unintelligible", message="noise"
    )
    assert item.parts[0].transcript is None
    (failed,) = transitions(steps, InputTranscriptionFailed)
    assert (failed.item_id, failed.content_index) == ("item_u", 0)


# --- barge-in and cancel ---------------------------------------------------------------


def test_barge_in_cancels_and_truncates() -> None:
    srv, start = opened()
    events = [srv.response_created(), *srv.audio_item(["Once upon", " a time"], [pcm16(500)] * 4)]
    state, _ = clean(events[:-4], state=start)  # the item is still streaming
    speech = srv.speech_started("item_u2", 9000)
    item_done = events[-1]
    assert isinstance(item_done, s.ResponseOutputItemDone)
    # the server closes what was open, then ends the response as cancelled
    tail = [
        speech,
        *events[-4:-1],
        attrs.evolve(item_done, item=attrs.evolve(item_done.item, status="incomplete")),
        srv.response_done("cancelled", reason="turn_detected"),
        srv.truncated("item_1", 700),
    ]
    state, steps = clean(tail, state=state)
    (item,) = state.items
    assert item.status == "incomplete"
    part = item.parts[0]
    assert part.truncated_ms == 700
    assert part.transcript == ""  # the server dropped what the user did not hear
    assert part.audio_bytes == 4 * 24000  # what was received stays counted
    done = state.finished[-1]
    assert done.status == "cancelled"
    assert done.status_details == StatusDetails(type="cancelled", reason="turn_detected")
    assert state.input_buffer.phase is InputBufferPhase.SPEECH
    assert transitions(steps, ResponseFinished)[0].status_details == done.status_details
    assert transitions(steps)[-1] == ItemTruncated(
        item_id="item_1", content_index=0, audio_end_ms=700
    )


def test_cancel_race_error_is_data() -> None:
    srv, start = opened()
    events = [
        *srv.text_response(["done"]),
        srv.error(
            "Cancellation failed: no active response found",
            code="response_cancel_not_active",
            event_id="evt_9",
        ),
    ]
    state, steps = clean(events, state=start)
    assert state.last_error == ErrorInfo(
        type="invalid_request_error",
        code="response_cancel_not_active",
        message="Cancellation failed: no active response found",
        event_id="evt_9",
    )
    assert transitions(steps)[-1] == ServerErrorReceived(error=state.last_error)
    assert state.items[0].text == "done"


# --- truncate / delete / clear ---------------------------------------------------------


def test_truncate_drops_transcript_and_records_ms() -> None:
    srv, start = opened()
    state, _ = clean(srv.audio_response(["Hello", " world"], [pcm16(300)]), state=start)
    before = state
    state, steps = clean([srv.truncated("item_1", 120)], state=state)
    part = state.items[0].parts[0]
    assert (part.truncated_ms, part.transcript, part.audio_ms) == (120, "", 300.0)
    assert before.items[0].parts[0].transcript == "Hello world"  # old snapshot untouched
    assert transitions(steps) == [
        ItemTruncated(item_id="item_1", content_index=0, audio_end_ms=120)
    ]


def _three_items() -> tuple[Server, SessionState]:
    srv, start = opened()
    state, _ = clean([srv.user_message(t) for t in ("one", "two", "three")], state=start)
    return srv, state


def _linked(state: SessionState) -> list[str]:
    """The order walked forwards, checked against the backwards links."""
    order = state.order
    forward = list(order)
    backward: list[str] = []
    cur = order.tail
    while cur is not None:
        backward.append(cur)
        cur = order.prev.get(cur)
    assert backward == forward[::-1]
    assert len(order) == len(forward)
    assert (order.head, order.tail) == ((forward[0], forward[-1]) if forward else (None, None))
    assert [i.id for i in state.items] == forward
    return forward


@pytest.mark.parametrize(
    ("victim", "left"),
    [
        ("item_1", ["item_2", "item_3"]),
        ("item_2", ["item_1", "item_3"]),
        ("item_3", ["item_1", "item_2"]),
    ],
)
def test_delete_keeps_the_order_linked(victim: str, left: list[str]) -> None:
    srv, state = _three_items()
    state, steps = clean([srv.deleted(victim)], state=state)
    assert _linked(state) == left
    assert state.item(victim) is None
    assert transitions(steps) == [ItemDeleted(item_id=victim)]
    # the order goes on growing correctly after the hole
    state, _ = clean([srv.user_message("four")], state=state)
    assert _linked(state) == [*left, "item_4"]


def test_delete_everything_then_add() -> None:
    srv, state = _three_items()
    state, _ = clean(
        [srv.deleted("item_2"), srv.deleted("item_1"), srv.deleted("item_3")], state=state
    )
    assert _linked(state) == []
    state, _ = clean([srv.user_message("again")], state=state)
    assert _linked(state) == ["item_4"]


def test_insert_after_an_item_in_the_middle() -> None:
    srv, state = _three_items()
    step = fold(state, srv.user_message("one and a half", previous_item_id="item_1"))
    assert step.diagnostics == ()
    assert _linked(step.after) == ["item_1", "item_4", "item_2", "item_3"]
    assert step.transitions == (
        ItemAdded(item_id="item_4", previous_item_id="item_1", type="message", role="user"),
    )


def test_previous_item_id_null_inserts_at_head() -> None:
    srv, state = _three_items()
    state, _ = clean([srv.user_message("zero", previous_item_id=None)], state=state)
    assert _linked(state) == ["item_4", "item_1", "item_2", "item_3"]
    assert state.items[0].text == "zero"


def test_insert_after_the_tail() -> None:
    srv, state = _three_items()
    state, _ = clean([srv.user_message("four", previous_item_id="item_3")], state=state)
    assert _linked(state) == ["item_1", "item_2", "item_3", "item_4"]


# --- rate limits and errors anywhere (INV-17) ------------------------------------------


def test_rate_limits_revision_and_empty_list() -> None:
    srv, start = opened()
    first = srv.rate_limits(("requests", 100, 99, 1.0))
    state, steps = clean([first, srv.empty_rate_limits()], state=start)
    limit = state.rate_limit("requests")
    assert limit is not None
    assert (limit.name, limit.limit, limit.remaining, limit.reset_seconds) == (
        "requests",
        100,
        99,
        1.0,
    )
    assert limit.revision == steps[0].after.revision
    assert state.revision > limit.revision  # the empty update counted, changed nothing
    assert transitions(steps)[-1] == RateLimitsUpdated(names=())
    assert state.rate_limit("tokens") is None


def _full_text_session(srv: Server) -> list[s.ServerEvent]:
    return [
        srv.session_created(),
        srv.user_message("hi"),
        *srv.text_response(["a", "b"]),
        *srv.vad_turn(item_id="item_v", transcript="spoken"),
        *srv.function_call_response("f", ["{}"]),
    ]


def _conversation(state: SessionState) -> list[tuple[object, ...]]:
    return [
        (i.id, i.type, i.role, i.status, i.phase, i.text, i.transcript, i.arguments)
        for i in state.items
    ]


def test_rate_limits_and_errors_anywhere() -> None:
    plain, _ = clean(_full_text_session(Server()))
    srv = Server()
    events = _full_text_session(srv)
    noisy: list[s.ServerEvent] = [events[0]]
    for n, event in enumerate(events[1:]):
        noisy.append(event)
        noisy.append(srv.empty_rate_limits() if n % 3 else srv.rate_limits())
        if n % 5 == 0:
            noisy.append(srv.error("Something odd", code=None))
    state, _ = clean(noisy)
    assert _conversation(state) == _conversation(plain)
    assert [r.id for r in state.finished] == [r.id for r in plain.finished]
    assert state.last_error is not None and state.last_error.message == "Something odd"


def test_unknown_server_event_changes_nothing() -> None:
    srv, start = opened()
    state, _ = clean([srv.response_created(), *srv.text_item(["x"], finish=False)], state=start)
    step = fold(state, srv.unknown("output_audio_buffer.started", response_id="resp_1"))
    assert step.diagnostics == ()
    assert step.transitions == ()
    assert step.after is state


# --- reconciled disorders: folded with zero diagnostics --------------------------------


def test_transcription_before_the_item_exists() -> None:
    srv, start = opened()
    started, stopped, committed, created = srv.vad_turn(item_id="item_u")
    early = srv.transcription_completed("item_u", "early bird")
    state, steps = clean([started, stopped, committed, early], state=start)
    assert state.item("item_u") is None
    assert transitions(steps)[-1] == InputTranscribed(
        item_id="item_u", content_index=0, transcript="early bird"
    )
    state, steps = clean([created, *srv.text_response(["ok"])], state=state)
    item = state.item("item_u")
    assert item is not None and item.transcript == "early bird"
    assert "item_u" not in state.input_buffer.early_transcriptions


def test_bad_early_transcription_does_not_reject_its_item() -> None:
    """The early result names a part the item lacks: the item still joins the conversation."""
    srv, start = opened()
    started, stopped, committed, created = srv.vad_turn(item_id="item_u")
    bad = srv.transcription_completed("item_u", "x", content_index=2)
    state, steps = fold_all([started, stopped, committed, bad, created], state=start)
    assert [(d.code, d.applied) for d in diagnostics(steps)] == [("INV-14", True)]
    assert [i.id for i in state.items] == ["item_u"]
    assert state.items[0].parts[0].transcript is None
    assert "item_u" not in state.input_buffer.early_transcriptions
    # the conversation goes on after it
    state, _ = clean(srv.text_response(["ok"]), state=state)
    assert [i.id for i in state.items] == ["item_u", "item_1"]


def test_transcription_in_the_middle_of_the_next_response() -> None:
    srv, start = opened()
    turn = srv.vad_turn(item_id="item_u")
    response = srv.audio_response(["I ", "hear ", "you"], [pcm16(20)] * 3)
    late = srv.transcription_completed("item_u", "can you hear me")
    # well after committed and created: between two transcript deltas of the answer
    events = [*turn, *response[:6], late, *response[6:]]
    state, _ = clean(events, state=start)
    user, reply = state.items
    assert user.transcript == "can you hear me"
    assert reply.transcript == "I hear you"
    # and long after: two responses later
    state, _ = clean(
        [
            *srv.vad_turn(item_id="item_w"),
            *srv.text_response(["a"]),
            *srv.text_response(["b"]),
            srv.transcription_completed("item_w", "much later"),
        ],
        state=state,
    )
    item = state.item("item_w")
    assert item is not None and item.transcript == "much later"


def test_item_created_before_output_item_added() -> None:
    srv, start = opened()
    events = [srv.user_message("q"), *srv.text_response(["x", "y"], created="before_added")]
    assert isinstance(events[2], s.ConversationItemCreated)
    assert isinstance(events[3], s.ResponseOutputItemAdded)
    state, _ = clean(events, state=start)
    reply = state.items[1]
    assert (reply.text, reply.status, reply.response_id, reply.output_index) == (
        "xy",
        "completed",
        "resp_1",
        0,
    )
    assert state.finished[-1].output == (reply.id,)


def test_item_created_after_output_item_added() -> None:
    srv, start = opened()
    events = srv.text_response(["x"])
    assert isinstance(events[1], s.ResponseOutputItemAdded)
    state, _ = clean(events[:2], state=start)
    announced = state.item("item_1")
    assert announced is not None and announced.phase is ItemPhase.ANNOUNCED
    assert state.items == ()  # announced, not yet in the conversation
    state, _ = clean(events[2:], state=state)
    assert [i.id for i in state.items] == ["item_1"]


def test_no_conversation_created_needed() -> None:
    srv = Server()
    state, _ = clean([srv.session_created(), *srv.text_response(["fine"])])
    assert state.conversation_id is None
    assert state.items[0].text == "fine"


def test_speech_events_before_their_item_then_manual_commit_mid_speech() -> None:
    srv, start = opened()
    events = [
        srv.speech_started("item_a", 100),
        srv.committed("item_a"),  # a manual commit while speech goes on
        srv.input_audio_item("item_a"),
        srv.speech_stopped("item_a", 900),
    ]
    state, _ = clean(events, state=start)
    assert state.input_buffer.phase is InputBufferPhase.IDLE
    assert state.input_buffer.speech[-1].end_ms == 900


# --- violations: rejected, state unchanged ---------------------------------------------

Case = Callable[[Server], tuple[list[s.ServerEvent], s.ServerEvent]]


def _text_open(srv: Server) -> list[s.ServerEvent]:
    return [srv.session_created(), srv.response_created(), *srv.text_item(["a"], finish=False)]


def _audio_open(srv: Server) -> list[s.ServerEvent]:
    return [
        srv.session_created(),
        srv.response_created(),
        *srv.audio_item(["a"], [pcm16(10)], finish=False),
    ]


def _delta(
    srv: Server, item_id: str, content_index: int = 0, response_id: str = "resp_1"
) -> s.ResponseTextDelta:
    return s.ResponseTextDelta(
        event_id=srv.event_id(),
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=content_index,
        delta="zzz",
    )


def _case_delta_unknown_item(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return _text_open(srv), _delta(srv, "item_nope")


def _case_done_without_response(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    prefix = [srv.session_created(), *srv.text_response(["a"])]
    srv.response_id = "resp_1"
    return prefix, srv.response_done()


def _case_second_response_created(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    prefix = _text_open(srv)
    srv.response_id = None
    return prefix, srv.response_created()


def _case_content_index_out_of_order(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    prefix = [
        srv.session_created(),
        srv.response_created(),
        *srv.text_item(["a"], finish=False)[:2],
    ]
    bad = s.ResponseContentPartAdded(
        event_id=srv.event_id(),
        response_id="resp_1",
        item_id="item_1",
        output_index=0,
        content_index=1,
        part=ContentPart(type="text", text=""),
    )
    return prefix, bad


def _case_delta_unknown_part(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return _text_open(srv), _delta(srv, "item_1", content_index=3)


def _case_stopped_without_start(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return [srv.session_created()], srv.speech_stopped("item_x", 500)


def _case_started_twice(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return [srv.session_created(), srv.speech_started("item_x", 1)], srv.speech_started("item_y", 2)


def _case_second_session_created(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return [srv.session_created(), srv.user_message("hi")], srv.session_created()


def _case_before_session_created(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return [], srv.response_created()


def _case_text_delta_on_audio_part(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return _audio_open(srv), _delta(srv, "item_1")


def _case_transcript_on_text_part(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    bad = s.ResponseAudioTranscriptDelta(
        event_id=srv.event_id(),
        response_id="resp_1",
        item_id="item_1",
        output_index=0,
        content_index=0,
        delta="x",
    )
    return _text_open(srv), bad


def _case_arguments_on_message(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    bad = s.ResponseFunctionCallArgumentsDelta(
        event_id=srv.event_id(),
        response_id="resp_1",
        item_id="item_1",
        output_index=0,
        call_id="call_1",
        delta="{",
    )
    return _text_open(srv), bad


def _case_part_on_function_call(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    prefix = [srv.session_created(), srv.response_created()]
    prefix += srv.function_call_item("f", ["{"], finish=False)
    bad = s.ResponseContentPartAdded(
        event_id=srv.event_id(),
        response_id="resp_1",
        item_id="item_1",
        output_index=0,
        content_index=0,
        part=ContentPart(type="text", text=""),
    )
    return prefix, bad


def _case_arguments_wrong_call_id(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    prefix = [srv.session_created(), srv.response_created()]
    prefix += srv.function_call_item("f", ["{"], finish=False)
    bad = s.ResponseFunctionCallArgumentsDelta(
        event_id=srv.event_id(),
        response_id="resp_1",
        item_id="item_1",
        output_index=0,
        call_id="call_other",
        delta="}",
    )
    return prefix, bad


def _case_unknown_previous_item(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return [srv.session_created(), srv.user_message("a")], srv.user_message(
        "b", previous_item_id="item_ghost"
    )


def _case_output_index_gap(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    prefix = [srv.session_created(), srv.response_created()]
    added = srv.text_item(["a"])[0]
    assert isinstance(added, s.ResponseOutputItemAdded)
    return prefix, attrs.evolve(added, output_index=1)


def _case_wrong_response_id(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return _text_open(srv), _delta(srv, "item_1", response_id="resp_other")


def _case_delta_after_part_done(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    prefix = [srv.session_created(), srv.response_created(), *srv.text_item(["a"])[:-1]]
    return prefix, _delta(srv, "item_1")


def _case_delta_after_item_done(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    prefix = [srv.session_created(), srv.response_created(), *srv.text_item(["a"])]
    return prefix, _delta(srv, "item_1")


def _case_conversation_created_late(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return [srv.session_created(), srv.user_message("a")], srv.conversation_created()


def _case_duplicate_item_created(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    first = srv.user_message("a")
    return [srv.session_created(), first], attrs.evolve(first, event_id=srv.event_id())


def _case_truncate_text_item(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return [srv.session_created(), *srv.text_response(["a"])], srv.truncated("item_1", 10)


def _case_delete_unknown(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return [srv.session_created()], srv.deleted("item_ghost")


def _case_transcription_of_assistant(srv: Server) -> tuple[list[s.ServerEvent], s.ServerEvent]:
    return [srv.session_created(), *srv.text_response(["a"])], srv.transcription_completed(
        "item_1", "nope"
    )


VIOLATIONS: dict[str, tuple[Case, str]] = {
    "delta for an unknown item": (_case_delta_unknown_item, "INV-7"),
    "response.done with no active response": (_case_done_without_response, "INV-4"),
    "second response.created while one is active": (_case_second_response_created, "INV-5"),
    "content_index out of order": (_case_content_index_out_of_order, "INV-8"),
    "delta for an unknown part": (_case_delta_unknown_part, "INV-8"),
    "speech_stopped with no start": (_case_stopped_without_start, "INV-13"),
    "speech_started twice": (_case_started_twice, "INV-13"),
    "second session.created": (_case_second_session_created, "INV-1"),
    "an event before session.created": (_case_before_session_created, "INV-1"),
    "text.delta on an audio part": (_case_text_delta_on_audio_part, "INV-8"),
    "transcript delta on a text part": (_case_transcript_on_text_part, "INV-8"),
    "function arguments on a message item": (_case_arguments_on_message, "INV-10"),
    "function arguments with another call_id": (_case_arguments_wrong_call_id, "INV-10"),
    "content part on a function_call item": (_case_part_on_function_call, "INV-10"),
    "previous_item_id naming an unknown item": (_case_unknown_previous_item, "INV-15"),
    "output_index gap": (_case_output_index_gap, "INV-6"),
    "delta naming another response": (_case_wrong_response_id, "INV-4"),
    "delta after content_part.done": (_case_delta_after_part_done, "INV-8"),
    "delta after output_item.done": (_case_delta_after_item_done, "INV-7"),
    "conversation.created after items": (_case_conversation_created_late, "INV-2"),
    "conversation.item.created twice": (_case_duplicate_item_created, "INV-7"),
    "truncate a text item": (_case_truncate_text_item, "INV-16"),
    "delete an unknown item": (_case_delete_unknown, "INV-7"),
    "input transcription of an assistant item": (_case_transcription_of_assistant, "INV-14"),
}


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_violation_is_rejected_with_a_diagnostic(name: str) -> None:
    make, code = VIOLATIONS[name]
    srv = Server()
    prefix, bad = make(srv)
    state, _ = clean(prefix)
    step = fold(state, bad)
    assert step.after is step.before is state
    assert step.transitions == ()
    assert step.to_send == ()
    (diag,) = step.diagnostics
    assert diag.code == code, diag
    assert diag.applied is False
    assert diag.event_type == bad.type
    assert diag.message


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_violation_raises_when_strict(name: str) -> None:
    make, _ = VIOLATIONS[name]
    srv = Server()
    prefix, bad = make(srv)
    state, _ = clean(prefix, config=STRICT)
    snapshot = attrs.evolve(state)
    with pytest.raises(RemoteProtocolError) as info:
        fold(state, bad, STRICT)
    assert info.value.event_type == bad.type
    assert state == snapshot  # nothing changed


@pytest.mark.parametrize("name", list(VIOLATIONS))
def test_strict_connection_raises_and_keeps_its_state(name: str) -> None:
    make, _ = VIOLATIONS[name]
    srv = Server()
    prefix, bad = make(srv)
    conn = ClientConnection(config=STRICT)
    for event in prefix:
        assert conn.receive(beta.encode(event)).diagnostics == ()
    before = conn.state
    with pytest.raises(RemoteProtocolError):
        conn.receive(beta.encode(bad))
    assert conn.state is before


def test_rejected_event_leaves_the_stream_usable() -> None:
    srv = Server()
    head = [srv.session_created(), srv.response_created()]
    item = srv.text_item(["a", "b"])
    bad = _delta(srv, "item_nope")
    state, steps = fold_all([*head, *item[:5], bad, *item[5:], srv.response_done()])
    assert [d.code for d in diagnostics(steps)] == ["INV-7"]
    assert state.items[0].text == "ab"
    assert state.finished[-1].status == "completed"


# --- reconciled quirks: applied with a diagnostic --------------------------------------


def _replace(events: list[s.ServerEvent], index: int, **changes: Any) -> list[s.ServerEvent]:
    out = list(events)
    out[index] = attrs.evolve(out[index], **changes)
    return out


def _text_events() -> list[s.ServerEvent]:
    srv = Server()
    return [
        srv.session_created(),
        srv.response_created(),
        *srv.text_item(["Hel", "lo"]),
        srv.response_done(),
    ]


def _audio_events() -> list[s.ServerEvent]:
    srv = Server()
    return [
        srv.session_created(),
        srv.response_created(),
        *srv.audio_item(["Hel", "lo"], [pcm16(10)]),
        srv.response_done(),
    ]


def _call_events() -> list[s.ServerEvent]:
    srv = Server()
    return [
        srv.session_created(),
        srv.response_created(),
        *srv.function_call_item("f", ['{"a":', " 1}"]),
        srv.response_done(),
    ]


def _index_of(events: list[s.ServerEvent], kind: type[s.ServerEvent]) -> int:
    return next(n for n, e in enumerate(events) if isinstance(e, kind))


def test_text_done_mismatch_is_applied_server_wins() -> None:
    events = _text_events()
    n = _index_of(events, s.ResponseTextDone)
    events = _replace(events, n, text="Help")
    # keep the later snapshots consistent with the done value
    state, steps = fold_all(events[: n + 1])
    step = steps[-1]
    (diag,) = step.diagnostics
    assert (diag.code, diag.applied, diag.event_type) == ("INV-9", True, "response.text.done")
    assert step.after is not step.before
    item = state.item("item_1")
    assert item is not None and item.text == "Help"


def test_transcript_done_mismatch_is_applied_server_wins() -> None:
    events = _audio_events()
    n = _index_of(events, s.ResponseAudioTranscriptDone)
    events = _replace(events, n, transcript="Hullo")
    state, steps = fold_all(events[: n + 1])
    (diag,) = steps[-1].diagnostics
    assert (diag.code, diag.applied) == ("INV-9", True)
    assert state.items[0].transcript == "Hullo"


def test_arguments_done_mismatch_is_applied_server_wins() -> None:
    events = _call_events()
    n = _index_of(events, s.ResponseFunctionCallArgumentsDone)
    events = _replace(events, n, arguments='{"a": 2}')
    state, steps = fold_all(events[: n + 1])
    (diag,) = steps[-1].diagnostics
    assert (diag.code, diag.applied) == ("INV-9", True)
    assert state.items[0].arguments == '{"a": 2}'


def test_content_part_done_mismatch_is_applied_server_wins() -> None:
    events = _text_events()
    n = _index_of(events, s.ResponseContentPartDone)
    events = _replace(events, n, part=ContentPart(type="text", text="Hello!"))
    state, steps = fold_all(events[: n + 1])
    (diag,) = steps[-1].diagnostics
    assert (diag.code, diag.applied) == ("INV-9", True)
    item = state.item("item_1")
    assert item is not None and item.text == "Hello!"


def test_output_item_done_mismatch_is_applied_server_wins() -> None:
    events = _call_events()
    n = _index_of(events, s.ResponseOutputItemDone)
    done = events[n]
    assert isinstance(done, s.ResponseOutputItemDone)
    events = _replace(events, n, item=attrs.evolve(done.item, arguments='{"b": 0}'))
    state, steps = fold_all(events[: n + 1])
    (diag,) = steps[-1].diagnostics
    assert (diag.code, diag.applied) == ("INV-9", True)
    assert state.items[0].arguments == '{"b": 0}'
    ready = transitions(steps, FunctionCallReady)
    assert [r.arguments for r in ready] == ['{"b": 0}']


@pytest.mark.parametrize(
    ("events", "kind", "changes"),
    [
        (_text_events, s.ResponseTextDone, {"text": "Help"}),
        (_audio_events, s.ResponseAudioTranscriptDone, {"transcript": "Hullo"}),
        (_call_events, s.ResponseFunctionCallArgumentsDone, {"arguments": "{}"}),
    ],
)
def test_mismatch_raises_when_strict(
    events: Callable[[], list[s.ServerEvent]], kind: type[s.ServerEvent], changes: dict[str, str]
) -> None:
    stream = events()
    n = _index_of(stream, kind)
    state, _ = clean(stream[:n], config=STRICT)
    snapshot = attrs.evolve(state)
    with pytest.raises(RemoteProtocolError, match="INV-9"):
        fold(state, attrs.evolve(stream[n], **changes), STRICT)
    assert state == snapshot


def test_response_done_closes_an_open_item_as_incomplete() -> None:
    srv, start = opened()
    events = [srv.response_created(), *srv.text_item(["half a sen"], finish=False)]
    state, _ = clean(events, state=start)
    step = fold(state, srv.response_done("incomplete", reason="max_output_tokens"))
    (diag,) = step.diagnostics
    assert (diag.code, diag.applied) == ("INV-12", True)
    item = step.after.item("item_1")
    assert item is not None
    assert (item.phase, item.status, item.text) == (ItemPhase.DONE, "incomplete", "half a sen")
    assert all(p.phase is PartPhase.DONE for p in item.parts)
    assert step.after.active_response is None
    assert step.after.finished[-1].status == "incomplete"
    assert list(step.transitions) == [
        ItemFinished(item_id="item_1", status="incomplete"),
        ResponseFinished(
            response_id="resp_1",
            status="incomplete",
            status_details=StatusDetails(type="incomplete", reason="max_output_tokens"),
            usage=usage(),
        ),
    ]
    with pytest.raises(RemoteProtocolError, match="INV-12"):
        fold(state, step.input, STRICT)


def test_response_done_closing_an_item_its_snapshot_calls_in_progress() -> None:
    """An open item must end final even when ``response.done`` lists it as in_progress."""
    srv, start = opened()
    state, _ = clean([srv.response_created(), *srv.text_item(["x"], finish=False)], state=start)
    done = srv.response_done("cancelled", reason="client_cancelled")
    output = tuple(attrs.evolve(i, status="in_progress") for i in done.response.output)
    done = attrs.evolve(done, response=attrs.evolve(done.response, output=output))
    step = fold(state, done)
    item = step.after.item("item_1")
    assert item is not None
    assert (item.phase, item.status) == (ItemPhase.DONE, "incomplete")


def test_output_item_done_without_item_created() -> None:
    srv, start = opened()
    events = srv.text_response(["solo"], created="omit")
    state, steps = fold_all(events, state=start)
    assert [(d.code, d.applied) for d in diagnostics(steps)] == [("INV-7", True)]
    assert [i.text for i in state.items] == ["solo"]


def test_azure_empty_part_done_text_keeps_the_deltas() -> None:
    """Azure Voice Live sends ``content_part.done`` with ``text: ""``: not a mismatch."""
    events = _text_events()
    n = _index_of(events, s.ResponseContentPartDone)
    state, _ = clean(_replace(events, n, part=ContentPart(type="text", text="")))
    assert state.items[0].text == "Hello"


# --- transport closed ------------------------------------------------------------------


def test_transport_closed_keeps_everything() -> None:
    srv, start = opened()
    state, _ = clean(
        [srv.user_message("hi"), srv.response_created(), *srv.text_item(["par"], finish=False)],
        state=start,
    )
    step = fold(state, Closed(code=1006, reason="abnormal"))
    assert step.diagnostics == ()
    assert step.transitions == (TransportClosed(code=1006, reason="abnormal"),)
    after = step.after
    assert after.phase is SessionPhase.CLOSED
    assert after.items == state.items
    assert after.active_response == state.active_response
    assert after.session == state.session
    # closing twice is a no-op; sending after close is rejected
    again = fold(after, Closed())
    assert again.after is after and again.transitions == ()
    sent = fold(after, c.ResponseCreate())
    assert sent.after is after
    assert [d.code for d in sent.diagnostics] == ["closed"]


# --- audio retention -------------------------------------------------------------------


def _two_audio_items(srv: Server) -> tuple[list[s.ServerEvent], list[bytes], list[bytes]]:
    first = [pcm16(100, seed=1), pcm16(60, seed=2)]
    second = [pcm16(40, seed=3), pcm16(100, seed=4), pcm16(20, seed=5)]
    events = [
        srv.session_created(),
        *srv.audio_response(["one"], first),
        *srv.audio_response(["two"], second),
    ]
    return events, first, second


def test_retention_none_keeps_no_audio() -> None:
    events, _, _ = _two_audio_items(Server())
    state, _ = clean(events, config=Config(audio_retention=AudioRetention.NONE))
    assert len(state.audio) == 0
    assert state.retained_audio("item_1") == state.retained_audio("item_2") == b""
    assert state.items[0].audio_bytes == 7680  # counted all the same


def test_retention_per_item_returns_exact_bytes() -> None:
    events, first, second = _two_audio_items(Server())
    state, _ = clean(events, config=Config(audio_retention=AudioRetention.PER_ITEM))
    assert state.retained_audio("item_1") == b"".join(first)
    assert state.retained_audio("item_2") == b"".join(second)
    assert state.retained_audio("item_2", 0) == b"".join(second)
    assert state.retained_audio("item_2", 1) == b""
    assert state.retained_audio("item_x") == b""


def test_retention_per_item_forgets_deleted_items() -> None:
    srv = Server()
    events, _, second = _two_audio_items(srv)
    state, _ = clean(
        [*events, srv.deleted("item_1")], config=Config(audio_retention=AudioRetention.PER_ITEM)
    )
    assert state.retained_audio("item_1") == b""
    assert state.retained_audio("item_2") == b"".join(second)


def test_retention_last_seconds_keeps_about_the_window() -> None:
    srv = Server()
    chunks = [pcm16(100, seed=n) for n in range(50)]  # 5 s
    config = Config(audio_retention=AudioRetention.LAST_SECONDS, audio_retention_window=1.0)
    state, _ = clean([srv.session_created(), *srv.audio_response(["x"], chunks)], config=config)
    kept = state.retained_audio("item_1")
    whole = b"".join(chunks)
    assert 900 * 48 <= len(kept) <= 1000 * 48
    assert whole.endswith(kept)
    assert state.audio.total_ms <= 1000.0
    assert state.items[0].audio_ms == 5000.0


# --- determinism and persistence -------------------------------------------------------


def _mixed_inputs() -> list[Input]:
    srv = Server()
    return [
        srv.session_created(),
        append(200),
        *srv.vad_turn(item_id="item_u", transcript="hi"),
        *srv.audio_response(["a", "b"], [pcm16(50), pcm16(50)]),
        *srv.function_call_response("f", ["{", "}"]),
        srv.rate_limits(),
        srv.deleted("item_u"),
        srv.unknown(),
        _delta(srv, "item_nope"),
        Closed(code=1000),
    ]


@pytest.mark.parametrize("retention", list(AudioRetention))
def test_same_inputs_give_equal_steps(retention: AudioRetention) -> None:
    config = Config(audio_retention=retention)
    _, first = fold_all(_mixed_inputs(), config=config)
    _, second = fold_all(_mixed_inputs(), config=config)
    assert first == second
    assert [d.code for d in diagnostics(first)] == ["INV-4"]


def test_folding_the_same_state_twice_gives_equal_steps() -> None:
    srv = Server()
    state, _ = clean(
        [srv.session_created(), srv.response_created(), *srv.text_item(["a"], finish=False)]
    )
    delta = _delta(srv, "item_1")
    assert fold(state, delta) == fold(state, delta)


def test_old_snapshots_keep_their_text() -> None:
    srv, start = opened()
    chunks = [f"<{n}>" for n in range(3000)]
    events = [srv.response_created(), *srv.text_item(chunks, finish=False)]
    states = [start]
    for event in events:
        step = fold(states[-1], event)
        assert step.diagnostics == ()
        states.append(step.after)
    first_delta = len(states) - len(chunks)  # states[first_delta] has one chunk
    for n, chunks_seen in enumerate(range(1, len(chunks) + 1)):
        item = states[first_delta + n].item("item_1")
        assert item is not None
        assert item.text == "".join(chunks[:chunks_seen])

    # branch an old snapshot twice: neither future leaks into the other or the past
    old = states[first_delta + 999]
    expected_old = "".join(chunks[:1000])
    left = fold(old, _delta(srv, "item_1")).after
    right = fold(old, attrs.evolve(_delta(srv, "item_1"), delta="!!")).after
    left2 = fold(left, attrs.evolve(_delta(srv, "item_1"), delta="L")).after
    right2 = fold(right, attrs.evolve(_delta(srv, "item_1"), delta="R")).after

    def text(state: SessionState) -> str:
        item = state.item("item_1")
        assert item is not None
        return item.text

    assert text(old) == expected_old
    assert text(left) == expected_old + "zzz"
    assert text(right) == expected_old + "!!"
    assert text(left2) == expected_old + "zzzL"
    assert text(right2) == expected_old + "!!R"
    assert text(states[-1]) == "".join(chunks)
    # the tip can still grow, and the branches stay as they were
    tip = fold(states[-1], attrs.evolve(_delta(srv, "item_1"), delta="end")).after
    assert text(tip) == "".join(chunks) + "end"
    assert text(left2) == expected_old + "zzzL"
    assert text(states[first_delta + 1999]) == "".join(chunks[:2000])


def test_old_snapshots_keep_transcripts_and_arguments() -> None:
    srv, start = opened()
    events = [
        srv.response_created(),
        *srv.audio_item([f"t{n}" for n in range(200)], [], finish=False),
    ]
    _, steps = clean(events, state=start)
    for n, step in enumerate(steps[4:]):
        assert step.after.items[0].transcript == "".join(f"t{k}" for k in range(n + 1))
    # arguments
    srv2, start2 = opened()
    events2 = [
        srv2.response_created(),
        *srv2.function_call_item("f", [str(n) for n in range(200)], finish=False),
    ]
    _, steps2 = clean(events2, state=start2)
    last = events2[-1]
    assert isinstance(last, s.ResponseFunctionCallArgumentsDelta)
    branch = fold(steps2[50].after, attrs.evolve(last, delta="X")).after
    for n, step in enumerate(steps2[3:]):
        assert step.after.items[0].arguments == "".join(str(k) for k in range(n + 1))
    assert branch.items[0].arguments == "".join(str(k) for k in range(48)) + "X"


def test_old_snapshots_keep_their_retained_audio() -> None:
    """Under a sliding window, neither later deltas nor a branch change an old snapshot."""
    srv = Server()
    config = Config(audio_retention=AudioRetention.LAST_SECONDS, audio_retention_window=0.5)
    events = [srv.session_created(), *srv.audio_response(["x"], [pcm16(50, n) for n in range(60)])]
    seen: list[tuple[SessionState, bytes]] = []
    state = SessionState()
    for event in events:
        state = fold(state, event, config).after
        seen.append((state, state.retained_audio("item_1")))
    assert all(old.retained_audio("item_1") == kept for old, kept in seen)

    middle, kept = seen[30]
    delta = next(e for e in events if isinstance(e, s.ResponseAudioDelta))
    left = fold(middle, attrs.evolve(delta, delta=b64(b"\x01\x02" * 24)), config).after
    right = fold(middle, attrs.evolve(delta, delta=b64(b"\x03\x04" * 24)), config).after
    assert left.retained_audio("item_1").endswith(b"\x01\x02" * 24)
    assert right.retained_audio("item_1").endswith(b"\x03\x04" * 24)
    assert middle.retained_audio("item_1") == kept
    assert seen[-1][0].retained_audio("item_1") == seen[-1][1]
