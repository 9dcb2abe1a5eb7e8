"""The server role back to back with a strict client: every flow, zero diagnostics.

Each test drives a ``ClientConnection(config=Config(strict=True))`` against a
``ServerConnection`` over the in-memory ``Loop`` and ends with ``loop.check()``: the
client folded every server frame without a diagnostic (strict mode would have
raised), and the server stream passes ``rtstate.testing``'s invariant checkers.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.server_harness import Loop, b64, silence, tone

from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    InputAudioTranscription,
    Item,
    ResponseParams,
    SessionConfig,
    Tool,
    TurnDetection,
)
from rtstate.server import (
    EchoResponder,
    FunctionCall,
    Message,
    Reply,
    ScriptedResponder,
    ServerConfig,
    ToolCallingResponder,
)
from rtstate.state import ItemPhase, SessionPhase
from rtstate.transitions import TransportClosed

TEXT_ONLY = SessionConfig(modalities=("text",))
MANUAL = SessionConfig(turn_detection=None)
WEATHER = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
    },
)


def user_text(text: str, **item: Any) -> c.ConversationItemCreate:
    return c.ConversationItemCreate(
        item=Item(
            type="message",
            role="user",
            content=(ContentPart(type="input_text", text=text),),
            **item,
        )
    )


def done(events: list[s.ServerEvent]) -> s.ResponseDone:
    found = [e for e in events if isinstance(e, s.ResponseDone)]
    assert len(found) == 1
    return found[0]


# --- session ---------------------------------------------------------------------------


def test_session_created_first_with_expires_at() -> None:
    loop = Loop(now=1_700_000_000.0).start()
    first = loop.server_events[0]
    assert isinstance(first, s.SessionCreated)
    assert first.session.expires_at == 1_700_000_000 + 15 * 60
    assert first.session.id is not None and first.session.model is not None
    assert loop.client.state.phase is SessionPhase.OPEN
    loop.check()


def test_session_update_answers_with_the_full_config() -> None:
    loop = Loop().start()
    answer = loop.send(
        c.SessionUpdate(session=SessionConfig(voice="echo", instructions="Be brief."))
    )
    assert loop.types(answer) == ["session.updated"]
    updated = answer[0]
    assert isinstance(updated, s.SessionUpdated)
    assert updated.session.voice == "echo" and updated.session.instructions == "Be brief."
    assert updated.session.modalities == ("audio", "text")  # unchanged fields kept
    assert updated.session.turn_detection is not None
    off = loop.send(c.SessionUpdate(session=SessionConfig(turn_detection=None)))
    assert isinstance(off[0], s.SessionUpdated) and off[0].session.turn_detection is None
    loop.check()


def test_turn_detection_update_is_echoed_with_defaults_filled() -> None:
    loop = Loop().start()
    answer = loop.send(
        c.SessionUpdate(session=SessionConfig(turn_detection=TurnDetection(threshold=0.7)))
    )
    td = answer[0].session.turn_detection  # type: ignore[attr-defined]
    assert td == TurnDetection(
        threshold=0.7,
        prefix_padding_ms=300,
        silence_duration_ms=200,
        create_response=True,
        interrupt_response=True,
    )
    loop.check()


# --- responses -------------------------------------------------------------------------


def test_text_response() -> None:
    loop = Loop(responder=ScriptedResponder(["Hello, world! How are you today?"])).start()
    loop.send(c.SessionUpdate(session=TEXT_ONLY))
    loop.send(user_text("Hi"))
    events = loop.send(c.ResponseCreate())
    assert loop.types(events)[:5] == [
        "response.created",
        "rate_limits.updated",
        "response.output_item.added",
        "conversation.item.created",
        "response.content_part.added",
    ]
    assert loop.types(events)[-4:] == [
        "response.text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    deltas = [e.delta for e in events if isinstance(e, s.ResponseTextDelta)]
    assert len(deltas) > 1 and "".join(deltas) == "Hello, world! How are you today?"
    final = done(events).response
    assert final.status == "completed" and final.usage is not None
    assert final.usage.output_tokens and final.usage.input_tokens
    assert final.usage.total_tokens == final.usage.input_tokens + final.usage.output_tokens
    item = loop.client.state.items[-1]
    assert item.role == "assistant" and item.text == "Hello, world! How are you today?"
    loop.check()


def test_audio_response_interleaves_transcript_and_audio() -> None:
    loop = Loop(responder=ScriptedResponder(["This is a spoken answer of some length."])).start()
    events = loop.send(c.ResponseCreate())
    kinds = [
        e.type
        for e in events
        if e.type in ("response.audio.delta", "response.audio_transcript.delta")
    ]
    assert len(set(kinds)) == 2
    # interleaved: the transcript deltas are not all before or all after the audio
    first_audio = kinds.index("response.audio.delta")
    assert "response.audio_transcript.delta" in kinds[first_audio:]
    assert "response.audio.delta" in kinds[kinds.index("response.audio_transcript.delta") + 1 :]
    tail = loop.types(events)[-5:]
    assert tail == [
        "response.audio.done",
        "response.audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    item = loop.client.state.items[-1]
    assert item.transcript == "This is a spoken answer of some length."
    assert item.audio_ms == pytest.approx(len("This is a spoken answer of some length.") * 60)
    usage = done(events).response.usage
    assert usage is not None and usage.output_token_details is not None
    assert usage.output_token_details.audio_tokens
    loop.check()


def test_response_overrides_apply_to_one_response() -> None:
    loop = Loop(responder=ScriptedResponder(["one", "two"])).start()
    first = loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    assert any(isinstance(e, s.ResponseTextDelta) for e in first)
    second = loop.send(c.ResponseCreate())
    assert any(isinstance(e, s.ResponseAudioDelta) for e in second)
    loop.check()


def test_g711_output_is_counted_in_its_own_format() -> None:
    loop = Loop(responder=ScriptedResponder(["twelve chars"])).start()
    loop.send(c.SessionUpdate(session=SessionConfig(output_audio_format="g711_ulaw")))
    loop.send(c.ResponseCreate())
    item = loop.client.state.items[-1]
    assert item.audio_bytes == 12 * 60 * 8 and item.audio_ms == pytest.approx(12 * 60)
    loop.check()


def test_function_call_round_trip() -> None:
    loop = Loop(responder=ToolCallingResponder(preamble="Let me check.")).start()
    loop.send(c.SessionUpdate(session=SessionConfig(tools=(WEATHER,), modalities=("text",))))
    loop.send(user_text("Weather in Paris?"))
    events = loop.send(c.ResponseCreate())
    final = done(events).response
    assert [o.type for o in final.output] == ["message", "function_call"]
    call = final.output[1]
    assert call.name == "get_weather" and json.loads(call.arguments or "") == {
        "city": "example",
        "unit": "c",
    }
    assert not any(
        isinstance(e, s.ResponseContentPartAdded) and e.output_index == 1 for e in events
    )
    loop.send(
        c.ConversationItemCreate(
            item=Item(type="function_call_output", call_id=call.call_id, output='{"t":21}')
        )
    )
    answer = loop.send(c.ResponseCreate())
    text = done(answer).response.output[0].content
    assert text is not None and text[0].text == 'get_weather returned {"t":21}'
    loop.check()


def test_tool_choice_none_answers_in_text() -> None:
    loop = Loop(responder=ToolCallingResponder()).start()
    loop.send(c.SessionUpdate(session=SessionConfig(tools=(WEATHER,), tool_choice="none")))
    assert [o.type for o in done(loop.send(c.ResponseCreate())).response.output] == ["message"]
    loop.check()


def test_max_output_tokens_makes_an_incomplete_response() -> None:
    loop = Loop(responder=ScriptedResponder(["x" * 400])).start()
    events = loop.send(
        c.ResponseCreate(
            response=ResponseParams(modalities=("text",), max_response_output_tokens=5)
        )
    )
    final = done(events).response
    assert final.status == "incomplete"
    assert final.status_details is not None and final.status_details.reason == "max_output_tokens"
    assert final.output[0].status == "incomplete" and final.output[0].content[0].text == "x" * 20  # type: ignore[index]
    loop.check()


def test_a_failed_reply_ends_the_response_failed() -> None:
    loop = Loop(responder=ScriptedResponder([])).start()
    final = done(loop.send(c.ResponseCreate())).response
    assert final.status == "failed" and final.output == ()
    assert final.status_details is not None and final.status_details.error is not None
    assert final.status_details.error.code == "script_exhausted"
    loop.check()


def test_responder_audio_is_used_as_is() -> None:
    audio = tone(250)
    loop = Loop(responder=ScriptedResponder([Message(text="beep", audio=audio)])).start()
    loop.send(c.ResponseCreate())
    assert loop.client.state.items[-1].audio_bytes == len(audio)
    loop.check()


def test_response_with_several_outputs() -> None:
    reply = Reply(
        outputs=(Message(text="a"), FunctionCall(name="f", arguments="{}"), Message(text="b"))
    )
    loop = Loop(responder=ScriptedResponder([reply])).start()
    final = done(loop.send(c.ResponseCreate())).response
    assert [o.type for o in final.output] == ["message", "function_call", "message"]
    loop.check()


# --- paced responses: cancel and barge-in ----------------------------------------------

PACED = ServerConfig(delta_interval=0.05)


def test_paced_response_streams_by_time() -> None:
    loop = Loop(
        config=PACED, responder=ScriptedResponder(["a fairly long answer to stream"])
    ).start()
    first = loop.send(c.ResponseCreate())
    assert "response.done" not in loop.types(first)
    assert loop.server.next_deadline() == pytest.approx(loop.now + 0.05)
    assert loop.client.state.active_response is not None
    rest = loop.drain()
    assert loop.types(rest)[-1] == "response.done"
    loop.check()


def test_cancel_closes_what_was_opened() -> None:
    loop = Loop(
        config=PACED, responder=ScriptedResponder(["a fairly long answer to stream"])
    ).start()
    loop.send(c.ResponseCreate())
    loop.advance(0.2)
    answer = loop.send(c.ResponseCancel())
    assert loop.types(answer) == [
        "response.audio.done",
        "response.audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ]
    final = done(answer).response
    assert final.status == "cancelled"
    assert final.status_details is not None and final.status_details.reason == "client_cancelled"
    assert final.output[0].status == "incomplete"
    heard = final.output[0].content[0].transcript  # type: ignore[index]
    assert heard and "a fairly long answer to stream".startswith(heard) and len(heard) < 30
    assert loop.server.next_deadline() == loop.server.state.session.expires_at  # type: ignore[union-attr]
    loop.check()


def test_cancel_a_function_call_mid_arguments() -> None:
    reply = FunctionCall(name="f", arguments=json.dumps({"long": "x" * 100}))
    loop = Loop(config=PACED, responder=ScriptedResponder([reply])).start()
    loop.send(c.ResponseCreate())
    loop.advance(0.12)
    answer = loop.send(c.ResponseCancel(response_id=loop.server.response_in_progress))
    assert loop.types(answer) == [
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.done",
    ]
    loop.check()


def test_cancel_before_the_first_item() -> None:
    config = ServerConfig(delta_interval=0.05, response_latency=1.0)
    loop = Loop(config=config, responder=ScriptedResponder(["hi"])).start()
    loop.send(c.ResponseCreate())
    answer = loop.send(c.ResponseCancel())
    assert loop.types(answer) == ["response.done"] and done(answer).response.output == ()
    loop.check()


def test_barge_in_cancels_with_turn_detected() -> None:
    loop = Loop(
        config=PACED, responder=ScriptedResponder(["a fairly long answer to stream"] * 2)
    ).start()
    loop.send(c.ResponseCreate())
    loop.advance(0.2)
    assert loop.server.response_in_progress is not None
    events = loop.append(tone(300))
    types = loop.types(events)
    assert types[0] == "input_audio_buffer.speech_started"
    final = done(events).response
    assert final.status == "cancelled" and final.status_details is not None
    assert final.status_details.reason == "turn_detected"
    # the client truncates what was heard, as the guide says
    item = final.output[0]
    assert item.id is not None
    heard = int(loop.client.state.item(item.id).audio_ms // 2)  # type: ignore[union-attr]
    assert loop.types(
        loop.send(c.ConversationItemTruncate(item_id=item.id, content_index=0, audio_end_ms=heard))
    ) == ["conversation.item.truncated"]
    assert loop.client.state.item(item.id).parts[0].truncated_ms == heard  # type: ignore[union-attr]
    after = loop.append(silence(400))
    assert loop.types(after)[:3] == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.created",
    ]
    loop.drain()
    loop.check()


# --- input audio: VAD and manual commits ------------------------------------------------


def test_vad_turn_with_transcription_and_automatic_response() -> None:
    loop = Loop(responder=EchoResponder()).start()
    loop.send(
        c.SessionUpdate(
            session=SessionConfig(
                input_audio_transcription=InputAudioTranscription(model="whisper-1")
            )
        )
    )
    events = loop.append(silence(500) + tone(1200) + silence(400))
    types = loop.types(events)
    assert types[:5] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.created",
        "conversation.item.input_audio_transcription.completed",
    ]
    assert "response.created" in types and types[-1] == "response.done"
    started, stopped = events[0], events[1]
    assert isinstance(started, s.InputAudioBufferSpeechStarted)
    assert isinstance(stopped, s.InputAudioBufferSpeechStopped)
    assert started.audio_start_ms == 500 - 300  # prefix padding
    assert stopped.audio_end_ms == 500 + 1200 + 200  # silence duration
    assert started.item_id == stopped.item_id
    transcript = events[4]
    assert isinstance(transcript, s.ConversationItemInputAudioTranscriptionCompleted)
    assert transcript.transcript == "[synthetic transcript of 1.9 s of audio]"
    answer = loop.client.state.items[-1]
    assert answer.transcript == "You said: [synthetic transcript of 1.9 s of audio]"
    loop.check()


def test_vad_create_response_false_leaves_the_response_to_the_client() -> None:
    loop = Loop().start()
    loop.send(
        c.SessionUpdate(session=SessionConfig(turn_detection=TurnDetection(create_response=False)))
    )
    events = loop.append(tone(300) + silence(300))
    assert "response.created" not in loop.types(events)
    assert loop.types(events)[-1] == "conversation.item.created"
    loop.check()


def test_manual_commit_then_response() -> None:
    loop = Loop(responder=ScriptedResponder(["ok"])).start()
    loop.send(c.SessionUpdate(session=MANUAL))
    loop.append(tone(300))
    events = loop.send(c.InputAudioBufferCommit())
    assert loop.types(events) == ["input_audio_buffer.committed", "conversation.item.created"]
    assert "response.created" not in loop.types()
    loop.send(c.ResponseCreate())
    assert loop.client.state.items[-1].role == "assistant"
    loop.check()


def test_manual_commit_in_the_middle_of_speech() -> None:
    loop = Loop(responder=ScriptedResponder(["ok"])).start()
    loop.append(tone(400))
    mid = loop.send(c.InputAudioBufferCommit())
    assert loop.types(mid) == ["input_audio_buffer.committed", "conversation.item.created"]
    rest = loop.append(silence(300))
    assert loop.types(rest)[:3] == [
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.created",
    ]
    loop.check()


def test_clear_drops_the_buffer_and_any_speech() -> None:
    loop = Loop().start()
    loop.append(tone(300))
    assert loop.types(loop.send(c.InputAudioBufferClear())) == ["input_audio_buffer.cleared"]
    assert loop.client.state.input_buffer.appended_ms == 0
    events = loop.append(silence(400))
    assert events == []
    loop.check()


def test_turning_vad_off_mid_speech_closes_the_speech() -> None:
    loop = Loop().start()
    loop.append(tone(300))
    answer = loop.send(c.SessionUpdate(session=MANUAL))
    assert loop.types(answer) == ["session.updated", "input_audio_buffer.speech_stopped"]
    loop.send(c.SessionUpdate(session=SessionConfig(turn_detection=TurnDetection())))
    again = loop.append(tone(200) + silence(300))
    assert loop.types(again)[0] == "input_audio_buffer.speech_started"
    loop.check()


def test_g711_input_is_buffered_without_vad() -> None:
    loop = Loop().start()
    loop.send(c.SessionUpdate(session=SessionConfig(input_audio_format="g711_ulaw")))
    assert loop.send(c.InputAudioBufferAppend(audio=b64(bytes(8 * 300)))) == []
    assert loop.types(loop.send(c.InputAudioBufferCommit()))[0] == "input_audio_buffer.committed"
    loop.check()


# --- conversation: create, truncate, delete ---------------------------------------------


def test_item_create_previous_item_id_null_existing_and_root() -> None:
    loop = Loop().start()
    a = loop.send(user_text("a", id="item_a"))
    assert isinstance(a[0], s.ConversationItemCreated) and a[0].previous_item_id is None
    b = loop.send(user_text("b", id="item_b"))
    assert b[0].previous_item_id == "item_a"  # type: ignore[attr-defined]
    loop.send(
        c.ConversationItemCreate(
            item=Item(
                id="item_m",
                type="message",
                role="system",
                content=(ContentPart(type="input_text", text="m"),),
            ),
            previous_item_id="item_a",
        )
    )
    root = loop.send(
        c.ConversationItemCreate(
            item=Item(
                id="item_r",
                type="message",
                role="assistant",
                content=(ContentPart(type="text", text="r"),),
            ),
            previous_item_id="root",
        )
    )
    assert root[0].previous_item_id is None  # type: ignore[attr-defined]
    assert [i.id for i in loop.client.state.items] == ["item_r", "item_a", "item_m", "item_b"]
    assert [i.id for i in loop.server.state.items] == ["item_r", "item_a", "item_m", "item_b"]
    loop.check()


def test_item_create_echo_carries_no_audio_bytes() -> None:
    loop = Loop().start()
    part = ContentPart(type="input_audio", audio=b64(tone(200)), transcript="hi")
    created = loop.send(
        c.ConversationItemCreate(item=Item(type="message", role="user", content=(part,)))
    )
    assert isinstance(created[0], s.ConversationItemCreated)
    content = created[0].item.content
    assert content is not None and content[0].audio is None and content[0].transcript == "hi"
    loop.check()


def test_truncate_assistant_audio() -> None:
    loop = Loop(responder=ScriptedResponder(["twenty characters!!!"])).start()
    loop.send(c.ResponseCreate())
    item_id = loop.client.state.items[-1].id
    answer = loop.send(
        c.ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=500)
    )
    assert loop.types(answer) == ["conversation.item.truncated"]
    assert loop.client.state.item(item_id).transcript == ""  # type: ignore[union-attr]
    # truncating again, shorter, is fine; longer than what is left is not
    assert loop.types(
        loop.send(c.ConversationItemTruncate(item_id=item_id, content_index=0, audio_end_ms=100))
    ) == ["conversation.item.truncated"]
    loop.check()


def test_delete_items() -> None:
    loop = Loop(responder=ScriptedResponder(["x"])).start()
    loop.send(user_text("a", id="item_a"))
    loop.send(c.ResponseCreate())
    answer_id = loop.client.state.items[-1].id
    assert loop.types(loop.send(c.ConversationItemDelete(item_id="item_a"))) == [
        "conversation.item.deleted"
    ]
    assert loop.types(loop.send(c.ConversationItemDelete(item_id=answer_id))) == [
        "conversation.item.deleted"
    ]
    assert loop.client.state.items == () and loop.server.state.items == ()
    created = loop.send(user_text("again"))
    assert created[0].previous_item_id is None  # type: ignore[attr-defined]
    loop.check()


def test_delete_a_finished_item_of_the_response_in_progress() -> None:
    reply = Reply(outputs=(Message(text="first"), Message(text="second, a bit longer")))
    loop = Loop(config=PACED, responder=ScriptedResponder([reply])).start()
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    loop.advance(0.2)
    first = loop.client.state.items[0]
    assert first.phase is ItemPhase.DONE and loop.server.response_in_progress is not None
    assert loop.types(loop.send(c.ConversationItemDelete(item_id=first.id))) == [
        "conversation.item.deleted"
    ]
    final = done(loop.drain()).response
    assert final.output[0].id == first.id  # the response still lists what it said
    loop.check()


# --- rate limits, expiry, close ----------------------------------------------------------


def test_rate_limits_follow_each_response_created() -> None:
    loop = Loop(responder=ScriptedResponder(["a", "b"])).start()
    loop.send(c.ResponseCreate())
    loop.send(c.ResponseCreate())
    limits = [e for e in loop.server_events if isinstance(e, s.RateLimitsUpdated)]
    assert len(limits) == 2
    assert [r.name for r in limits[0].rate_limits] == ["requests", "tokens"]
    assert limits[1].rate_limits[0].remaining == limits[0].rate_limits[0].remaining - 1  # type: ignore[operator]
    assert loop.client.state.rate_limit("tokens") is not None
    loop.check()


def test_session_expires_after_the_configured_duration() -> None:
    loop = Loop(config=ServerConfig(session_duration=60.0)).start()
    assert loop.server.next_deadline() == 60.0
    assert loop.advance(59.0) == []
    events = loop.advance(2.0)
    assert loop.types(events) == ["error"]
    error = events[0].error  # type: ignore[attr-defined]
    assert (error.type, error.code) == ("invalid_request_error", "session_expired")
    assert error.message == "Your session hit the maximum duration of 1 minutes."
    assert loop.server.closed and loop.server.next_deadline() is None
    assert any(isinstance(t, TransportClosed) for t in loop.server_steps[-1].transitions)
    loop.check()


def test_expiry_fails_the_response_in_progress() -> None:
    config = ServerConfig(session_duration=1.0, delta_interval=0.1)
    loop = Loop(config=config, responder=ScriptedResponder(["a long answer " * 5])).start()
    loop.send(c.ResponseCreate())
    events = loop.advance(5.0)
    final = done(events).response
    assert final.status == "failed" and final.status_details is not None
    assert (
        final.status_details.error is not None
        and final.status_details.error.code == "session_expired"
    )
    assert loop.types(events)[-1] == "error"
    loop.check()


def test_transport_closed_drops_the_response() -> None:
    loop = Loop(config=PACED, responder=ScriptedResponder(["long enough answer"])).start()
    loop.send(c.ResponseCreate())
    step = loop.server.transport_closed(1001, "going away")
    assert step.to_send == () and loop.server.closed and loop.server.response_in_progress is None
    assert loop.server.next_deadline() is None
