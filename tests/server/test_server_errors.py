"""Every error path of the server role: the exact error, nothing changed, still usable.

Each case sets a session up, sends one offending client event (or raw frame), and
checks the one ``error`` event that answers it: ``type``, ``code``, ``param`` and the
``event_id`` of the client event at fault. Then the server's and the client's
conversations are unchanged, the same session still completes a response, and the
whole stream passes the invariant checkers with zero client diagnostics.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from support.server_harness import Loop, silence, tone

from rtstate import LocalProtocolError
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    InputAudioTranscription,
    Item,
    NoiseReduction,
    ResponseParams,
    Role,
    SessionConfig,
    Tool,
    ToolChoiceFunction,
    TurnDetection,
)
from rtstate.server import FunctionCall, ScriptedResponder, ServerConfig, ServerConnection


@attrs.frozen
class Case:
    name: str
    trigger: Callable[[Loop], list[s.ServerEvent]]
    code: str | None
    param: str | None
    setup: Callable[[Loop], Any] = lambda loop: None
    config: ServerConfig = attrs.field(factory=ServerConfig)


def send(event: c.ClientEvent) -> Callable[[Loop], list[s.ServerEvent]]:
    return lambda loop: loop.send(event)


def raw(frame: str | dict[str, Any]) -> Callable[[Loop], list[s.ServerEvent]]:
    text = frame if isinstance(frame, str) else json.dumps(frame)
    return lambda loop: loop.send_raw(text)


def update(**session: Any) -> Callable[[Loop], list[s.ServerEvent]]:
    return send(c.SessionUpdate(session=SessionConfig(**session)))


def create(item: Item, previous: str | None = None) -> Callable[[Loop], list[s.ServerEvent]]:
    return send(c.ConversationItemCreate(item=item, previous_item_id=previous))


def message(role: Role, *parts: ContentPart, **extra: Any) -> Item:
    return Item(type="message", role=role, content=parts, **extra)


def text(t: str) -> ContentPart:
    return ContentPart(type="input_text", text=t)


def respond(loop: Loop) -> None:
    loop.send(c.ResponseCreate())
    loop.drain()


def last_assistant(loop: Loop) -> str:
    return [i for i in loop.server.state.items if i.role == "assistant"][-1].id


def truncate(
    end: int, index: int = 0, item: str | None = None
) -> Callable[[Loop], list[s.ServerEvent]]:
    def go(loop: Loop) -> list[s.ServerEvent]:
        target = item if item is not None else last_assistant(loop)
        return loop.send(
            c.ConversationItemTruncate(item_id=target, content_index=index, audio_end_ms=end)
        )

    return go


def paced_response(loop: Loop) -> None:
    loop.send(c.ResponseCreate())
    loop.advance(0.12)
    assert loop.server.response_in_progress is not None


PACED = ServerConfig(delta_interval=0.05)
LONG_TOOL = Tool(name="f", description="d" * 1025)

CASES = [
    # frames that do not decode
    Case("not json", raw("{nope"), "invalid_json", None),
    Case("not an object", raw("[1, 2]"), "invalid_event", None),
    Case("no type", raw({"event_id": "evt_x"}), "invalid_event", "type"),
    Case(
        "unknown type",
        raw({"type": "conversation.item.update", "event_id": "evt_u"}),
        "invalid_value",
        "type",
    ),
    Case(
        "missing field",
        raw({"type": "conversation.item.truncate", "item_id": "x", "event_id": "evt_m"}),
        "missing_required_parameter",
        "content_index",
    ),
    Case(
        "wrong type",
        raw({"type": "conversation.item.delete", "item_id": 5}),
        "invalid_type",
        "item_id",
    ),
    Case(
        "unknown parameter",
        raw(
            {
                "type": "session.update",
                "session": {"input_audio_transcription": {"model": "whisper-1", "enabled": True}},
            }
        ),
        "unknown_parameter",
        "session.input_audio_transcription.enabled",
    ),
    Case(
        "unknown top-level parameter",
        raw({"type": "response.create", "stream": True}),
        "unknown_parameter",
        "stream",
    ),
    Case(
        "nested tool_choice",
        raw(
            {
                "type": "session.update",
                "session": {"tool_choice": {"type": "function", "function": {"name": "f"}}},
            }
        ),
        "missing_required_parameter",
        "session.tool_choice.name",
    ),
    # session.update
    Case("bad voice", update(voice="robot"), "invalid_value", "session.voice"),
    Case("bad modalities", update(modalities=("audio",)), "invalid_value", "session.modalities"),
    Case(
        "bad input format",
        update(input_audio_format="mp3"),
        "invalid_value",
        "session.input_audio_format",
    ),
    Case(
        "cold temperature",
        update(temperature=0.1),
        "decimal_below_min_value",
        "session.temperature",
    ),
    Case(
        "hot temperature", update(temperature=2.0), "decimal_above_max_value", "session.temperature"
    ),
    Case(
        "too many tokens",
        update(max_response_output_tokens=5000),
        "integer_above_max_value",
        "session.max_response_output_tokens",
    ),
    Case(
        "zero tokens",
        update(max_response_output_tokens=0),
        "integer_below_min_value",
        "session.max_response_output_tokens",
    ),
    Case(
        "long tool description",
        update(tools=(LONG_TOOL,)),
        "string_above_max_length",
        "session.tools[0].description",
    ),
    Case(
        "unknown VAD type",
        update(turn_detection=TurnDetection(type="neural_vad")),  # type: ignore[arg-type]
        "invalid_value",
        "session.turn_detection.type",
    ),
    Case(
        "unknown eagerness",
        update(turn_detection=TurnDetection(type="semantic_vad", eagerness="eager")),  # type: ignore[arg-type]
        "invalid_value",
        "session.turn_detection.eagerness",
    ),
    Case(
        "negative idle timeout",
        update(turn_detection=TurnDetection(idle_timeout_ms=-1)),
        "integer_below_min_value",
        "session.turn_detection.idle_timeout_ms",
    ),
    Case(
        "negative silence",
        update(turn_detection=TurnDetection(silence_duration_ms=-5)),
        "integer_below_min_value",
        "session.turn_detection.silence_duration_ms",
    ),
    Case(
        "noise reduction type",
        update(input_audio_noise_reduction=NoiseReduction(type="deep_space")),  # type: ignore[arg-type]
        "invalid_value",
        "session.input_audio_noise_reduction.type",
    ),
    Case(
        "VAD threshold",
        update(turn_detection=TurnDetection(threshold=1.5)),
        "decimal_above_max_value",
        "session.turn_detection.threshold",
    ),
    Case(
        "transcription without a model",
        update(input_audio_transcription=InputAudioTranscription(language="en")),
        "missing_required_parameter",
        "session.input_audio_transcription.model",
    ),
    Case(
        "custom voice in beta",
        update(voice={"id": "voice_1234"}),
        "invalid_value",
        "session.voice",
    ),
    Case(
        "tool_choice names no tool",
        update(tool_choice=ToolChoiceFunction(name="nope")),
        "invalid_value",
        "session.tool_choice",
    ),
    Case(
        "voice after audio",
        update(voice="echo"),
        "cannot_update_voice",
        "session.voice",
        setup=respond,
    ),
    # conversation.item.create
    Case(
        "unknown previous item",
        create(message("user", text("x")), "item_nope"),
        "invalid_value",
        "previous_item_id",
    ),
    Case(
        "duplicate item id",
        create(message("user", text("x"), id="item_dup")),
        "invalid_value",
        "item.id",
        setup=lambda loop: loop.send(
            c.ConversationItemCreate(item=message("user", text("y"), id="item_dup"))
        ),
    ),
    Case(
        "system audio",
        create(message("system", ContentPart(type="input_audio", audio=""))),
        "invalid_value",
        "item.content[0].type",
    ),
    Case(
        "assistant audio",
        create(message("assistant", ContentPart(type="audio", transcript="hi"))),
        "invalid_value",
        "item.content[0].type",
    ),
    Case(
        "message without role",
        create(Item(type="message", content=(text("x"),))),
        "missing_required_parameter",
        "item.role",
    ),
    # raw frames: the client's encoder refuses both (CHECKED_ON_SEND), the server must too
    Case(
        "unknown role",
        raw(
            {
                "type": "conversation.item.create",
                "event_id": "evt_role",
                "item": {
                    "type": "message",
                    "role": "robot",
                    "content": [{"type": "input_text", "text": "x"}],
                },
            }
        ),
        "invalid_value",
        "item.role",
    ),
    Case(
        "unknown item type",
        raw({"type": "conversation.item.create", "event_id": "evt_t", "item": {"type": "image"}}),
        "invalid_value",
        "item.type",
    ),
    Case(
        "input_text without text",
        create(message("user", ContentPart(type="input_text"))),
        "missing_required_parameter",
        "item.content[0].text",
    ),
    Case(
        "output for an unknown call",
        create(Item(type="function_call_output", call_id="call_nope", output="{}")),
        "invalid_value",
        "item.call_id",
    ),
    Case(
        "input audio not base64",
        create(message("user", ContentPart(type="input_audio", audio="%%%"))),
        "invalid_value",
        "item.content[0].audio",
    ),
    # input audio buffer
    Case(
        "append not base64", send(c.InputAudioBufferAppend(audio="@@@@")), "invalid_value", "audio"
    ),
    Case("commit empty", send(c.InputAudioBufferCommit()), "input_audio_buffer_commit_empty", None),
    Case(
        "commit under 100 ms",
        send(c.InputAudioBufferCommit()),
        "input_audio_buffer_commit_empty",
        None,
        setup=lambda loop: (
            loop.send(c.SessionUpdate(session=SessionConfig(turn_detection=None))),
            loop.append(tone(90)),
        ),
    ),
    # truncate
    Case(
        "truncate unknown item",
        truncate(10, item="item_nope"),
        "item_truncate_invalid_item_id",
        "item_id",
    ),
    Case(
        "truncate a user item",
        truncate(10, item="item_u"),
        "invalid_value",
        "item_id",
        setup=lambda loop: loop.send(
            c.ConversationItemCreate(item=message("user", text("x"), id="item_u"))
        ),
    ),
    Case("truncate past the end", truncate(10_000), "invalid_value", "audio_end_ms", setup=respond),
    Case(
        "truncate a text part",
        truncate(1, index=1),
        "invalid_value",
        "content_index",
        setup=respond,
    ),
    Case(
        "truncate before zero",
        truncate(-1),
        "integer_below_min_value",
        "audio_end_ms",
        setup=respond,
    ),
    Case(
        "truncate a streaming item past the audio sent so far",
        truncate(10_000),
        "invalid_value",
        "audio_end_ms",
        setup=paced_response,
        config=PACED,
    ),
    # delete
    Case(
        "delete unknown item",
        send(c.ConversationItemDelete(item_id="item_nope")),
        "item_delete_invalid_item_id",
        None,
    ),
    Case(
        "delete a streaming item",
        lambda loop: loop.send(c.ConversationItemDelete(item_id=last_assistant(loop))),
        "invalid_value",
        "item_id",
        setup=paced_response,
        config=PACED,
    ),
    # responses
    Case(
        # the client holds a second create back (it queues it): only a raw frame can ask
        "second response",
        raw({"type": "response.create", "event_id": "evt_second"}),
        "conversation_already_has_active_response",
        None,
        setup=paced_response,
        config=PACED,
    ),
    Case(
        "another conversation",  # one conversation per session: "auto" or "none" only
        send(c.ResponseCreate(response=ResponseParams(conversation="conv_other"))),
        "invalid_value",
        "response.conversation",
    ),
    Case(
        "response voice",
        send(c.ResponseCreate(response=ResponseParams(voice="robot"))),
        "invalid_value",
        "response.voice",
    ),
    Case(
        "response tool_choice",
        send(c.ResponseCreate(response=ResponseParams(tool_choice="sometimes"))),  # type: ignore[arg-type]
        "invalid_value",
        "response.tool_choice",
    ),
    Case(
        # the client sends no cancel with nothing to cancel: only a raw frame can
        "cancel with nothing active",
        raw({"type": "response.cancel", "event_id": "evt_cancel"}),
        "response_cancel_not_active",
        None,
    ),
    Case(
        "cancel another response",
        send(c.ResponseCancel(response_id="resp_other")),
        "response_cancel_not_active",
        None,
        setup=paced_response,
        config=PACED,
    ),
    Case(
        "cancel just after the response finished",
        raw({"type": "response.cancel", "event_id": "evt_late_cancel"}),
        "response_cancel_not_active",
        None,
        setup=respond,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_error_path(case: Case) -> None:
    loop = Loop(
        config=case.config, responder=ScriptedResponder(["a short answer"], cycle=True)
    ).start()
    case.setup(loop)
    server_before = loop.server.state
    client_items = loop.client.state.items
    answer = case.trigger(loop)
    errors = [e for e in answer if isinstance(e, s.Error)]
    assert len(errors) == 1, loop.types(answer)
    error = errors[0].error
    assert (error.type, error.code, error.param) == ("invalid_request_error", case.code, case.param)
    assert error.message
    sent = loop.client_events[-1] if loop.client_events else None
    if sent is not None and sent.event_id is not None and error.event_id is not None:
        assert error.event_id == sent.event_id
    # the refused event changed nothing: nothing else answers it, same conversation
    others = [e for e in answer if not isinstance(e, s.Error)]
    assert all(getattr(e, "response_id", None) == loop.server.response_in_progress for e in others)
    assert loop.server.state.items == server_before.items
    assert loop.server.state.session == server_before.session
    assert loop.client.state.items == client_items
    diagnostics = loop.server_steps[-1].diagnostics
    assert [d.code for d in diagnostics] == [case.code or "invalid_request_error"]
    # and the session is still usable
    loop.drain()
    after = loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    loop.drain()
    assert loop.client.state.finished[-1].status == "completed", loop.types(after)
    loop.check()


def test_every_error_carries_the_client_event_id() -> None:
    loop = Loop().start()
    loop.send(c.InputAudioBufferCommit(event_id="evt_commit"))
    loop.send_raw(json.dumps({"type": "nope", "event_id": "evt_raw"}))
    loop.send_raw(json.dumps({"type": "conversation.item.delete", "event_id": "evt_bad"}))
    assert [e.event_id for e in loop.errors()] == ["evt_commit", "evt_raw", "evt_bad"]
    loop.check()


def test_commit_message_names_what_the_buffer_holds() -> None:
    loop = Loop().start()
    loop.send(c.SessionUpdate(session=SessionConfig(turn_detection=None)))
    loop.append(tone(50))
    loop.send(c.InputAudioBufferCommit())
    assert loop.errors()[-1].message == (
        "Error committing input audio buffer: buffer too small. Expected at least 100ms of "
        "audio, but buffer only has 50.00ms of audio."
    )
    loop.append(silence(60))
    assert loop.types(loop.send(c.InputAudioBufferCommit()))[0] == "input_audio_buffer.committed"
    loop.check()


def test_the_voice_may_change_until_the_first_audio() -> None:
    loop = Loop(responder=ScriptedResponder(["a", "b"])).start()
    assert loop.types(loop.send(c.SessionUpdate(session=SessionConfig(voice="sage")))) == [
        "session.updated"
    ]
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    assert loop.types(loop.send(c.SessionUpdate(session=SessionConfig(voice="verse")))) == [
        "session.updated"
    ]
    loop.send(c.ResponseCreate())
    assert loop.types(loop.send(c.SessionUpdate(session=SessionConfig(voice="verse")))) == [
        "session.updated"
    ]
    assert loop.errors() == []
    loop.send(c.SessionUpdate(session=SessionConfig(voice="ash")))
    assert loop.errors()[-1].code == "cannot_update_voice"
    loop.check()


def test_calls_are_forgotten_when_deleted() -> None:
    loop = Loop(responder=ScriptedResponder([FunctionCall(name="f", call_id="call_1")])).start()
    loop.send(c.ResponseCreate())
    call_item = loop.client.state.items[-1].id
    loop.send(c.ConversationItemDelete(item_id=call_item))
    loop.send(
        c.ConversationItemCreate(
            item=Item(type="function_call_output", call_id="call_1", output="x")
        )
    )
    assert loop.errors()[-1].param == "item.call_id"
    loop.check()


def test_after_close_calls_are_local_errors() -> None:
    server = ServerConnection()
    with pytest.raises(LocalProtocolError):
        server.receive('{"type": "response.create"}')
    server.start()
    with pytest.raises(LocalProtocolError):
        server.start()
    server.transport_closed()
    with pytest.raises(LocalProtocolError):
        server.receive('{"type": "response.create"}')
    with pytest.raises(LocalProtocolError):
        server.tick(1.0)
