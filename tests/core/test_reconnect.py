"""The reconnect plan: rebuild a session on a fresh connection.

Unit tests build old sessions with ``tests/support/helpers.Server`` (every rule of
``rtstate.reconnect`` on its own); the end-to-end tests fold a real multi-turn
session between a strict ``ClientConnection`` and the fake ``ServerConnection``, plan,
send the plan to a fresh server and check that the rebuilt conversation is the old
one, item for item. A hypothesis property does the same over generated sessions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.dialects import in_dialects
from support.helpers import WEATHER, Server, fold_all, pcm16
from support.server_harness import Loop, tone

import rtstate
from rtstate import ClientConnection, Config, ReconnectPlan, SessionState, plan_reconnect
from rtstate import transitions as tr
from rtstate.codec import beta, codec_for
from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    UNSET,
    ContentPart,
    InputAudioTranscription,
    Item,
    ResponseParams,
    SessionConfig,
    ToolChoiceFunction,
)
from rtstate.events.server import ServerEvent
from rtstate.reconnect import MAX_ITEM_ID_LENGTH, REASONS, Dropped
from rtstate.server import (
    FunctionCall,
    Message,
    Reply,
    ScriptedResponder,
    ServerConfig,
    sequential_ids,
)
from rtstate.state import ItemPhase, ItemState, SessionPhase
from rtstate.testing.script import Script
from rtstate.testing.strategies import sessions

STRICT = Config(dialect="beta", strict=True)
SERVER_ONLY = ("id", "object", "model", "expires_at")

# --- helpers ---------------------------------------------------------------------------


def fold_events(events: Sequence[Any], state: SessionState | None = None) -> SessionState:
    """Fold ``events`` strictly (they are valid sequences); the final state."""
    final, _ = fold_all(events, state, STRICT)
    return final


def text_of(item: ItemState) -> str | None:
    """A message's text content: text parts as text, audio parts as their transcript."""
    if item.type != "message":
        return None
    return "".join(
        (p.transcript or "") if p.type in ("audio", "input_audio") else p.text for p in item.parts
    )


def view(item: ItemState) -> tuple[object, ...]:
    """What the rebuild must keep of an item."""
    return (
        item.type,
        item.role,
        text_of(item),
        item.name,
        item.call_id,
        item.arguments,
        item.output,
    )


def creates(plan: ReconnectPlan) -> list[c.ConversationItemCreate]:
    """The ``conversation.item.create`` events that rebuild the conversation."""
    new_ids = set(plan.id_map.values())
    return [
        e for e in plan.events if isinstance(e, c.ConversationItemCreate) and e.item.id in new_ids
    ]


def created_for(plan: ReconnectPlan, old_id: str) -> Item:
    """The item the plan creates for the old item ``old_id``."""
    new_id = plan.id_map[old_id]
    (event,) = [e for e in creates(plan) if e.item.id == new_id]
    return event.item


def reasons(plan: ReconnectPlan) -> list[tuple[str | None, int | None, str]]:
    """``(item_id, content_index, reason)`` of every item or part dropped."""
    return [(d.item_id, d.content_index, d.reason) for d in plan.dropped if d.event is None]


def queued_drops(plan: ReconnectPlan) -> list[tuple[str, str]]:
    """``(event type, reason)`` of every queued event dropped."""
    return [(d.event.type, d.reason) for d in plan.dropped if d.event is not None]


def apply(plan: ReconnectPlan, **server_args: Any) -> Loop:
    """Send ``plan.events`` (stamped by a fresh client) to a fresh server; the loop after."""
    server_args.setdefault("responder", ScriptedResponder([]))
    loop = Loop(**server_args).start()
    for event in plan.events:
        loop.send(event)
    return loop


def chat() -> tuple[Server, list[ServerEvent]]:
    """A session: a user text, a text reply, an audio reply, a call and its output."""
    srv = Server()
    events: list[ServerEvent] = [
        srv.session_created(tools=(WEATHER,)),
        srv.user_message("Weather in Paris?"),
        *srv.text_response(["Let me ", "check."]),
        *srv.audio_response(["It is ", "sunny."], [pcm16(40), pcm16(40, 1)]),
        *srv.function_call_response("get_weather", ['{"city":', '"Paris"}']),
    ]
    call = events[-2]
    assert isinstance(call, s.ResponseOutputItemDone)
    assert call.item.call_id is not None
    events.append(srv.function_call_output(call.item.call_id, '{"temp": 21}'))
    return srv, events


# --- the session.update ----------------------------------------------------------------


def test_session_update_comes_first_with_the_effective_config_and_no_server_fields() -> None:
    srv = Server()
    state = fold_events(
        [
            srv.session_created(),
            srv.session_updated(
                instructions="Be brief.",
                voice="coral",
                modalities=("text",),
                input_audio_format="g711_ulaw",
                output_audio_format="g711_alaw",
                input_audio_transcription=InputAudioTranscription(model="whisper-1"),
                tools=(WEATHER,),
                tool_choice=ToolChoiceFunction(name="get_weather"),
                temperature=0.7,
                max_response_output_tokens=512,
            ),
        ]
    )
    plan = plan_reconnect(state, dialect="beta")
    first = plan.events[0]
    assert isinstance(first, c.SessionUpdate)
    assert state.session is not None
    assert first.session == attrs.evolve(state.session, **dict.fromkeys(SERVER_ONLY))
    wire = json.loads(plan.frames[0])["session"]
    for name in SERVER_ONLY:
        assert name not in wire
    assert wire["instructions"] == "Be brief."
    assert wire["voice"] == "coral"
    assert wire["modalities"] == ["text"]
    assert wire["input_audio_format"] == "g711_ulaw"
    assert wire["output_audio_format"] == "g711_alaw"
    assert wire["input_audio_transcription"] == {"model": "whisper-1"}
    assert wire["tools"][0]["name"] == "get_weather"
    assert wire["tools"][0]["parameters"] == WEATHER.parameters
    assert wire["tool_choice"] == {"type": "function", "name": "get_weather"}
    assert wire["temperature"] == 0.7
    assert wire["max_response_output_tokens"] == 512
    assert wire["turn_detection"]["type"] == "server_vad"


def test_session_update_sends_null_for_features_that_were_off_and_omits_unknown_ones() -> None:
    srv = Server()
    created = srv.session_created(turn_detection=None, input_audio_transcription=None)
    state = fold_events([created])
    assert state.session is not None
    assert state.session.input_audio_noise_reduction is UNSET  # never reported
    wire = json.loads(plan_reconnect(state, dialect="beta").frames[0])["session"]
    assert wire["turn_detection"] is None  # VAD stays off on the new session
    assert wire["input_audio_transcription"] is None
    assert "input_audio_noise_reduction" not in wire
    assert "speed" not in wire


def test_a_state_without_a_session_plans_nothing() -> None:
    plan = plan_reconnect(SessionState())
    assert plan == ReconnectPlan(events=(), id_map={}, dropped=())
    assert plan.frames == ()


def test_the_session_update_is_accepted_by_a_fresh_server() -> None:
    srv = Server()
    state = fold_events([srv.session_created(turn_detection=None, tools=(WEATHER,), voice="verse")])
    loop = apply(plan_reconnect(state, dialect="beta"))
    loop.check()
    assert loop.errors() == []
    new = loop.client.state.session
    assert new is not None
    assert new.turn_detection is None
    assert new.tools == (WEATHER,)
    assert new.voice == "verse"


# --- items -----------------------------------------------------------------------------


def test_items_are_recreated_in_order_chained_by_previous_item_id() -> None:
    _, events = chat()
    state = fold_events(events)
    plan = plan_reconnect(state, dialect="beta")
    made = creates(plan)
    assert [e.item.id for e in made] == [plan.id_map[i.id] for i in state.items]
    # the first goes to the (empty) end: no previous_item_id, and never "root", which
    # a 2024-10 server does not know; each next one names the new id before it
    assert made[0].previous_item_id is None
    assert "previous_item_id" not in json.loads(beta.encode(made[0]))
    assert [e.previous_item_id for e in made[1:]] == [e.item.id for e in made[:-1]]
    assert plan.events[1 : 1 + len(made)] == tuple(made)
    assert plan.dropped == ()


def test_id_map_is_total_injective_and_uses_short_counted_ids() -> None:
    _, events = chat()
    state = fold_events(events)
    plan = plan_reconnect(state, dialect="beta")
    assert set(plan.id_map) == {i.id for i in state.items}
    assert len(set(plan.id_map.values())) == len(plan.id_map)
    assert sorted(plan.id_map.values()) == sorted(f"item_rt_{n}" for n in range(1, 6))
    assert all(len(v) <= MAX_ITEM_ID_LENGTH for v in plan.id_map.values())
    with pytest.raises(TypeError):
        plan.id_map["x"] = "y"  # type: ignore[index]


def test_assistant_audio_becomes_a_text_part_holding_its_transcript() -> None:
    srv = Server()
    state = fold_events(
        [srv.session_created(), *srv.audio_response(["Hello ", "there."], [pcm16(60)])]
    )
    (item,) = state.items
    assert item.parts[0].type == "audio" and item.audio_ms > 0
    made = created_for(plan_reconnect(state, dialect="beta"), item.id)
    assert made.role == "assistant"
    assert made.content == (ContentPart(type="text", text="Hello there."),)


def test_user_input_audio_becomes_input_text_holding_its_transcript() -> None:
    srv = Server()
    state = fold_events(
        [srv.session_created(), *srv.vad_turn(item_id="item_u", transcript="Hi, it's me.")]
    )
    made = created_for(plan_reconnect(state, dialect="beta"), "item_u")
    assert made.role == "user"
    assert made.content == (ContentPart(type="input_text", text="Hi, it's me."),)


def test_system_and_user_text_keep_their_input_text() -> None:
    srv = Server()
    state = fold_events([srv.session_created(), srv.system_message("Speak French.")])
    (item,) = state.items
    made = created_for(plan_reconnect(state, dialect="beta"), item.id)
    assert (made.type, made.role) == ("message", "system")
    assert made.content == (ContentPart(type="input_text", text="Speak French."),)


def test_input_audio_without_a_transcript_is_removed_and_its_message_dropped() -> None:
    srv = Server()
    state = fold_events(
        [
            srv.session_created(),
            *srv.vad_turn(item_id="item_silent"),  # transcription off: no transcript
            *srv.vad_turn(item_id="item_failed"),
            srv.transcription_failed("item_failed"),
        ]
    )
    plan = plan_reconnect(state, dialect="beta")
    assert plan.id_map == {}
    assert reasons(plan) == [
        ("item_silent", 0, "no_transcript"),
        ("item_silent", None, "no_content"),
        ("item_failed", 0, "no_transcript"),
        ("item_failed", None, "no_content"),
    ]
    assert [e.type for e in plan.events] == ["session.update"]


def test_truncated_audio_whose_transcript_was_dropped_is_removed() -> None:
    srv = Server()
    events = [srv.session_created(), *srv.audio_response(["Once upon "], [pcm16(500)])]
    state = fold_events(events)
    (item,) = state.items
    state = fold_events([srv.truncated(item.id, 120)], state)
    part = state.items[0].parts[0]
    assert part.truncated_ms == 120 and not part.transcript
    plan = plan_reconnect(state, dialect="beta")
    assert plan.id_map == {}
    assert reasons(plan) == [(item.id, 0, "truncated"), (item.id, None, "no_content")]
    assert plan.dropped[0].detail.startswith(f"audio part 0 of {item.id} removed")


def test_a_message_keeps_the_parts_that_have_text() -> None:
    srv = Server()
    mixed = Item(
        id="item_mixed",
        object="realtime.item",
        type="message",
        status="completed",
        role="user",
        content=(
            ContentPart(type="input_audio", transcript=None),
            ContentPart(type="input_text", text="Look at this."),
            ContentPart(type="input_text", text=""),
            ContentPart(type="input_audio", transcript="And listen."),
        ),
    )
    state = fold_events([srv.session_created(), srv.item_created(mixed)])
    plan = plan_reconnect(state, dialect="beta")
    assert created_for(plan, "item_mixed").content == (
        ContentPart(type="input_text", text="Look at this."),
        ContentPart(type="input_text", text="And listen."),
    )
    assert reasons(plan) == [("item_mixed", 0, "no_transcript"), ("item_mixed", 2, "empty")]


def test_a_function_call_and_its_output_are_kept_as_a_pair() -> None:
    _, events = chat()
    state = fold_events(events)
    call, output = state.items[-2:]
    plan = plan_reconnect(state, dialect="beta")
    assert created_for(plan, call.id) == Item(
        type="function_call",
        id=plan.id_map[call.id],
        call_id=call.call_id,
        name="get_weather",
        arguments='{"city":"Paris"}',
    )
    assert created_for(plan, output.id) == Item(
        type="function_call_output",
        id=plan.id_map[output.id],
        call_id=call.call_id,
        output='{"temp": 21}',
    )


def test_a_call_without_its_output_is_dropped() -> None:
    srv = Server()
    state = fold_events(
        [
            srv.session_created(tools=(WEATHER,)),
            srv.user_message("Weather?", item_id="item_q"),
            *srv.function_call_response("get_weather", ["{}"], item_id="item_call"),
        ]
    )
    plan = plan_reconnect(state, dialect="beta")
    assert set(plan.id_map) == {"item_q"}
    assert reasons(plan) == [("item_call", None, "orphan_call")]


def test_an_output_without_a_call_before_it_is_dropped() -> None:
    srv = Server()
    state = fold_events(
        [
            srv.session_created(),
            srv.function_call_output("call_gone", "42", item_id="item_orphan"),
            srv.user_message("Hi", item_id="item_hi"),
        ]
    )
    plan = plan_reconnect(state, dialect="beta")
    assert set(plan.id_map) == {"item_hi"}
    assert reasons(plan) == [("item_orphan", None, "orphan_output")]


def test_an_output_placed_before_its_call_leaves_both_orphans() -> None:
    srv = Server()
    events: list[ServerEvent] = [
        srv.session_created(),
        *srv.function_call_response("f", ["{}"], item_id="item_call", call_id="call_x"),
    ]
    events.append(
        srv.item_created(
            Item(
                id="item_out",
                object="realtime.item",
                type="function_call_output",
                call_id="call_x",
                output="1",
            ),
            previous_item_id=None,  # inserted at the start, before its call
        )
    )
    state = fold_events(events)
    assert [i.id for i in state.items] == ["item_out", "item_call"]
    plan = plan_reconnect(state, dialect="beta")
    assert plan.id_map == {}
    assert reasons(plan) == [
        ("item_out", None, "orphan_output"),
        ("item_call", None, "orphan_call"),
    ]


def test_a_call_answered_by_a_queued_output_is_kept_and_the_output_sent_after() -> None:
    srv = Server()
    state = fold_events(
        [
            srv.session_created(tools=(WEATHER,)),
            *srv.function_call_response("get_weather", ["{}"], item_id="item_call", call_id="c1"),
        ]
    )
    output = c.ConversationItemCreate(
        event_id="evt_old_9",
        item=Item(type="function_call_output", call_id="c1", output="sunny"),
    )
    plan = plan_reconnect(state, queued=[output, c.ResponseCreate()], dialect="beta")
    assert set(plan.id_map) == {"item_call"}
    assert plan.events[-2:] == (attrs.evolve(output, event_id=None), c.ResponseCreate())
    loop = apply(plan, responder=ScriptedResponder(["Sunny it is."]))
    loop.check()
    assert loop.errors() == []
    assert [view(i)[0] for i in loop.client.state.items] == [
        "function_call",
        "function_call_output",
        "message",
    ]


def test_items_still_streaming_are_dropped() -> None:
    srv = Server()
    events: list[ServerEvent] = [
        srv.session_created(),
        srv.user_message("Tell me a story.", item_id="item_q"),
        srv.response_created(),
        *srv.text_item(["Once "], item_id="item_open", finish=False),
    ]
    events += srv.text_item(["x"], item_id="item_next", created="omit", finish=False)
    state = fold_events(events)
    phases = {i: item.phase for i, item in state.items_by_id.items()}
    assert phases == {
        "item_q": ItemPhase.DONE,
        "item_open": ItemPhase.IN_PROGRESS,  # in the conversation, streaming
        "item_next": ItemPhase.ANNOUNCED,  # named by the response, not yet placed
    }
    plan = plan_reconnect(state, dialect="beta")
    assert set(plan.id_map) == {"item_q"}
    assert reasons(plan) == [("item_open", None, "streaming"), ("item_next", None, "streaming")]


# --- queued events ---------------------------------------------------------------------


def test_queued_events_that_name_the_old_session_are_dropped() -> None:
    srv = Server()
    state = fold_events(
        [
            srv.session_created(),
            srv.user_message("Hi", item_id="item_a"),
            *srv.audio_response(["Hello"], [pcm16(100)], item_id="item_b"),
        ]
    )
    queued: list[c.ClientEvent] = [
        c.ConversationItemTruncate(item_id="item_b", content_index=0, audio_end_ms=50),
        c.ConversationItemDelete(item_id="item_a"),
        c.ConversationItemCreate(
            item=Item(
                type="message",
                role="user",
                content=(ContentPart(type="input_text", text="after a"),),
            ),
            previous_item_id="item_a",
        ),
        c.ConversationItemCreate(
            item=Item(
                id="item_a",
                type="message",
                role="user",
                content=(ContentPart(type="input_text", text="same id"),),
            ),
        ),
        c.ResponseCancel(response_id="resp_1"),
        c.ConversationItemCreate(
            item=Item(type="function_call_output", call_id="call_unknown", output="1")
        ),
        c.ResponseCreate(
            response=ResponseParams(input=(Item(type="item_reference", id="item_gone"),))
        ),
    ]
    plan = plan_reconnect(state, queued=queued, dialect="beta")
    assert queued_drops(plan) == [
        ("conversation.item.truncate", "names_old_item"),
        ("conversation.item.delete", "names_old_item"),
        ("conversation.item.create", "names_old_item"),
        ("conversation.item.create", "names_old_item"),
        ("response.cancel", "names_old_response"),
        ("conversation.item.create", "orphan_output"),
        ("response.create", "names_old_item"),
    ]
    assert [d.event for d in plan.dropped if d.event is not None] == queued
    assert [d.item_id for d in plan.dropped if d.event is not None][:4] == [
        "item_b",
        "item_a",
        "item_a",
        "item_a",
    ]
    assert [e.type for e in plan.events] == ["session.update", *["conversation.item.create"] * 2]


def test_other_queued_events_follow_the_rebuild_without_their_event_ids() -> None:
    srv = Server()
    state = fold_events([srv.session_created(), srv.user_message("Hi", item_id="item_a")])
    new_item = Item(
        id="msg_new",
        type="message",
        role="user",
        content=(ContentPart(type="input_text", text="And one more thing."),),
    )
    queued: list[c.ClientEvent] = [
        c.SessionUpdate(event_id="evt_7", session=SessionConfig(instructions="Shorter.")),
        c.ConversationItemCreate(event_id="evt_8", item=new_item),
        c.ConversationItemCreate(
            item=attrs.evolve(new_item, id="msg_after"), previous_item_id="msg_new"
        ),
        c.ConversationItemDelete(event_id="evt_9", item_id="msg_after"),
        c.ResponseCancel(),
        c.ResponseCreate(event_id="evt_10"),
    ]
    plan = plan_reconnect(state, queued=queued, dialect="beta")
    assert plan.dropped == ()
    tail = plan.events[2:]
    assert tail == tuple(attrs.evolve(e, event_id=None) for e in queued)
    assert all(e.event_id is None for e in plan.events)


def test_queued_item_references_are_repointed_through_the_id_map() -> None:
    srv = Server()
    state = fold_events([srv.session_created(), srv.user_message("One"), srv.user_message("Two")])
    first, second = (i.id for i in state.items)
    inline = Item(type="message", role="user", content=(ContentPart(type="input_text", text="x"),))
    create = c.ResponseCreate(
        response=ResponseParams(
            input=(
                Item(type="item_reference", id=second),
                inline,
                Item(type="item_reference", id=first),
            )
        )
    )
    plan = plan_reconnect(state, queued=[create], dialect="beta")
    last = plan.events[-1]
    assert isinstance(last, c.ResponseCreate) and last.response is not None
    assert last.response.input == (
        Item(type="item_reference", id=plan.id_map[second]),
        inline,
        Item(type="item_reference", id=plan.id_map[first]),
    )


def test_new_ids_skip_the_ids_queued_creates_use() -> None:
    srv = Server()
    state = fold_events([srv.session_created(), srv.user_message("a"), srv.user_message("b")])
    mine = c.ConversationItemCreate(
        item=Item(
            id="item_rt_1",
            type="message",
            role="user",
            content=(ContentPart(type="input_text", text="queued"),),
        )
    )
    plan = plan_reconnect(state, queued=[mine], dialect="beta")
    assert sorted(plan.id_map.values()) == ["item_rt_2", "item_rt_3"]
    assert plan.events[-1] == mine
    loop = apply(plan)
    loop.check()
    assert loop.errors() == []
    assert [i.id for i in loop.client.state.items] == ["item_rt_2", "item_rt_3", "item_rt_1"]


# --- ids -------------------------------------------------------------------------------


def test_item_ids_come_from_the_given_factory() -> None:
    _, events = chat()
    state = fold_events(events)
    names = iter(f"msg_{n:03d}" for n in range(100))
    plan = plan_reconnect(state, item_ids=lambda: next(names), dialect="beta")
    assert [plan.id_map[i.id] for i in state.items] == [f"msg_{n:03d}" for n in range(5)]


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: "x" * (MAX_ITEM_ID_LENGTH + 1), "1 to 32 characters"),
        (lambda: "", "1 to 32 characters"),
        (lambda: "same", "twice"),
    ],
)
def test_a_bad_id_factory_raises_value_error(factory: Callable[[], str], message: str) -> None:
    _, events = chat()
    state = fold_events(events)
    with pytest.raises(ValueError, match=message):
        plan_reconnect(state, item_ids=factory, dialect="beta")


def test_a_new_session_after_a_rebuild_can_be_rebuilt_again() -> None:
    _, events = chat()
    first = apply(plan_reconnect(fold_events(events), dialect="beta"))
    again = plan_reconnect(
        first.client.state, dialect="beta"
    )  # the old ids are item_rt_N themselves
    second = apply(again)
    second.check()
    assert second.errors() == []
    assert [view(i) for i in second.client.state.items] == [
        view(i) for i in first.client.state.items
    ]


# --- the plan as a value ---------------------------------------------------------------


def test_every_frame_encodes_and_decodes_back_to_its_event() -> None:
    _, events = chat()
    plan = plan_reconnect(fold_events(events), queued=[c.ResponseCreate()], dialect="beta")
    assert len(plan.frames) == len(plan.events)
    for frame, event in zip(plan.frames, plan.events, strict=True):
        assert "event_id" not in json.loads(frame)
        assert beta.decode_client(frame) == event


def test_plan_is_pure_deterministic_and_leaves_the_state_alone() -> None:
    _, events = chat()
    state = fold_events(events)
    before = repr(state)
    queued = [c.ResponseCreate(), c.ConversationItemDelete(item_id="item_1")]
    assert plan_reconnect(state, queued=queued, dialect="beta") == plan_reconnect(
        state, queued=queued, dialect="beta"
    )
    assert repr(state) == before
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        plan_reconnect(state, dialect="beta").events = ()  # type: ignore[misc]


def test_every_reason_is_documented_and_the_api_is_exported() -> None:
    assert {"plan_reconnect", "ReconnectPlan"} <= set(rtstate.__all__)
    assert "Dropped" in rtstate.reconnect.__all__
    assert rtstate.plan_reconnect is plan_reconnect
    srv = Server()
    state = fold_events(
        [srv.session_created(), *srv.vad_turn(item_id="item_u"), srv.user_message("x")]
    )
    plan = plan_reconnect(
        state, queued=[c.ConversationItemDelete(item_id="item_u")], dialect="beta"
    )
    assert plan.dropped
    for dropped in plan.dropped:
        assert isinstance(dropped, Dropped)
        assert dropped.reason in REASONS
        assert dropped.detail


# --- end to end: fold a session, plan, rebuild it on a fresh server --------------------


def old_session(dialect: Dialect = "beta") -> Loop:
    """A real multi-turn session between a strict client and the fake server.

    A system message; a user text and a tool call with its output; the answer spoken
    (audio with its transcript); a spoken user turn transcribed; a text answer.
    """
    replies = ScriptedResponder(
        [
            Reply(outputs=(FunctionCall(name="get_weather", arguments='{"city":"Paris"}'),)),
            Message(text="It is 21 degrees and sunny in Paris."),
            "You are welcome.",
        ]
    )
    loop = Loop(
        responder=replies, config=ServerConfig(session_duration=None), dialect=dialect
    ).start()
    loop.send(
        c.SessionUpdate(
            session=SessionConfig(
                instructions="You are a weather bot.",
                voice="sage",
                turn_detection=None,
                input_audio_transcription=InputAudioTranscription(model="whisper-1"),
                tools=(WEATHER,),
                tool_choice="auto",
                temperature=0.9 if dialect == "beta" else None,  # GA has no temperature
            )
        )
    )
    loop.send(
        c.ConversationItemCreate(
            item=Item(
                type="message",
                role="system",
                content=(ContentPart(type="input_text", text="Answer in one sentence."),),
            )
        )
    )
    loop.send(
        c.ConversationItemCreate(
            item=Item(
                type="message",
                role="user",
                content=(ContentPart(type="input_text", text="What's the weather in Paris?"),),
            )
        )
    )
    loop.send(c.ResponseCreate())
    call = loop.client.state.items[-1]
    assert call.type == "function_call" and call.call_id is not None
    loop.send(
        c.ConversationItemCreate(
            item=Item(type="function_call_output", call_id=call.call_id, output='{"temp":21}')
        )
    )
    loop.send(c.ResponseCreate())  # spoken: the session's modalities are audio and text
    loop.append(tone(600))
    loop.send(c.InputAudioBufferCommit())
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    loop.check()
    assert loop.errors() == []
    return loop


def test_must_show_3_the_rebuilt_conversation_equals_the_old_one() -> None:
    old = old_session().client.state
    kinds = [(i.type, i.role, tuple(p.type for p in i.parts)) for i in old.items]
    assert kinds == [
        ("message", "system", ("input_text",)),
        ("message", "user", ("input_text",)),
        ("function_call", None, ()),
        ("function_call_output", None, ()),
        ("message", "assistant", ("audio",)),
        ("message", "user", ("input_audio",)),
        ("message", "assistant", ("text",)),
    ]
    assert old.items[4].transcript == "It is 21 degrees and sunny in Paris."
    assert old.items[4].audio_ms > 0
    assert old.items[5].transcript.startswith("[synthetic transcript of 0.6 s")

    plan = plan_reconnect(old, dialect="beta")
    assert plan.dropped == ()

    # a fresh connection: a fresh server, a fresh strict client that stamps every event
    server = rtstate.server.ServerConnection(
        ids=sequential_ids(), responder=ScriptedResponder([]), dialect="beta"
    )
    client = ClientConnection(config=STRICT)
    for frame in server.start(now=0.0).to_send:
        client.receive(frame)
    sent: list[str] = []
    for event in plan.events:
        step = client.send(event)
        for frame in step.to_send:
            stamped = json.loads(frame)
            assert stamped["event_id"]
            sent.append(stamped["event_id"])
            answer = server.receive(frame)
            assert answer.diagnostics == ()
            for reply in answer.to_send:
                assert not client.receive(reply).diagnostics
    assert len(set(sent)) == len(plan.events)

    new = client.state
    assert len(new.items) == len(old.items)
    for before, after in zip(old.items, new.items, strict=True):
        assert view(after) == view(before)
        assert after.id == plan.id_map[before.id]
        assert after.phase is ItemPhase.DONE
    assert set(plan.id_map) == {i.id for i in old.items}  # total
    assert sorted(plan.id_map.values()) == sorted(i.id for i in new.items)
    # the server agrees, and the session is configured as before
    assert [view(i) for i in server.state.items] == [view(i) for i in old.items]
    assert old.session is not None and new.session is not None
    assert attrs.evolve(new.session, **dict.fromkeys(SERVER_ONLY)) == attrs.evolve(
        old.session, **dict.fromkeys(SERVER_ONLY)
    )


def test_must_show_3_the_rebuilt_session_goes_on_talking() -> None:
    old = old_session().client.state
    plan = plan_reconnect(old, queued=[c.ResponseCreate()], dialect="beta")
    loop = apply(plan, responder=ScriptedResponder(["Anything else?"]))
    loop.check()
    assert loop.errors() == []
    new = loop.client.state
    assert [view(i) for i in new.items[:-1]] == [view(i) for i in old.items]
    assert text_of(new.items[-1]) == "Anything else?"


# --- a property over generated sessions ------------------------------------------------


def check_queued(state: SessionState, script: Script, upto: int) -> None:
    """The client events after the cut, as if queued: each kept at the end, or dropped."""
    later = [e for _, e in script.events[upto:] if isinstance(e, c.ClientEvent)][:6]
    queued = [attrs.evolve(e, event_id=f"evt_q{n}") for n, e in enumerate(later)]
    plan = plan_reconnect(state, queued=queued, dialect="beta")
    dropped = [d.event for d in plan.dropped if d.event is not None]
    assert all(any(e is d for e in queued) for d in dropped)
    kept = [e for e in queued if not any(e is d for d in dropped)]
    tail = plan.events[len(plan.events) - len(kept) :] if kept else ()
    assert [t.type for t in tail] == [k.type for k in kept]
    for k, t in zip(kept, tail, strict=True):
        assert t.event_id is None
        if not isinstance(k, c.ResponseCreate):  # the only kind re-pointed
            assert t == attrs.evolve(k, event_id=None)
    assert [beta.decode_client(f) for f in plan.frames] == list(plan.events)


def fold_script(script: Script, upto: int | None = None, dialect: Dialect = "beta") -> SessionState:
    """Fold both directions of a generated session (valid: strictly), up to step ``upto``."""
    state = SessionState()
    config = Config(strict=True, dialect=dialect)
    for _, event in script.events[:upto]:
        if isinstance(event, c.UnknownClientEvent):
            continue
        state = rtstate.fold(state, event, config).after
    return state


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(in_dialects(sessions, max_flows=6), st.data())
def test_plan_over_generated_sessions_accounts_for_every_item(
    case: tuple[Dialect, Script], data: st.DataObject
) -> None:
    # a session of either dialect, rebuilt on a fresh connection of the same dialect
    dialect, script = case
    # any state: the whole session, or cut anywhere (mid-response, mid-turn)
    upto = data.draw(st.integers(1, len(script.events)), label="upto")
    state = fold_script(script, upto, dialect)
    plan = plan_reconnect(state, dialect=dialect)  # never raises
    check_queued(state, script, upto)

    conversation = [i.id for i in state.items]
    announced = [i for i, item in state.items_by_id.items() if item.phase is ItemPhase.ANNOUNCED]
    gone = [d.item_id or "" for d in plan.dropped if d.content_index is None]
    kept = list(plan.id_map)
    # every item (in the conversation, or announced by a response) is kept or dropped,
    # never both, never twice; the id map is injective
    assert sorted(kept + gone) == sorted(conversation + announced)
    assert len(set(plan.id_map.values())) == len(kept)
    assert all(d.reason in REASONS for d in plan.dropped)
    for item in state.items:
        if item.phase is not ItemPhase.DONE:
            assert item.id not in plan.id_map

    # the creates follow the old order, chained; every frame encodes
    made = creates(plan)
    assert [e.item.id for e in made] == [plan.id_map[i] for i in conversation if i in plan.id_map]
    assert [e.previous_item_id for e in made] == [None, *(e.item.id for e in made[:-1])][
        : len(made)
    ]
    codec = codec_for(dialect)
    assert [codec.decode_client(codec.encode(e)) for e in plan.events] == list(plan.events)

    # a fresh server accepts every event, and the rebuilt conversation is the kept one
    loop = apply(plan, dialect=dialect)
    assert loop.errors() == []
    loop.check()
    expected = [view(i) for i in state.items if i.id in plan.id_map]
    assert [view(i) for i in loop.client.state.items] == expected
    assert [i.id for i in loop.client.state.items] == [e.item.id for e in made]


def test_resume_starts_the_same_connection_over_from_the_plan() -> None:
    loop = old_session()
    client = loop.client
    old = client.state
    client.transport_closed(1001, "session expired")
    plan = plan_reconnect(client.state, dialect="beta")
    server = rtstate.server.ServerConnection(
        ids=sequential_ids(), responder=ScriptedResponder([]), dialect="beta"
    )
    step = client.resume(plan)
    (resumed,) = [t for t in step.transitions if isinstance(t, tr.SessionResumed)]
    assert dict(resumed.id_map) == dict(plan.id_map)
    assert step.after.items == () and step.after.phase is SessionPhase.CONNECTING
    # the plan's events, stamped and in flight, in order
    frames = [json.loads(f) for f in step.to_send]
    assert [f["type"] for f in frames] == [e.type for e in plan.events]
    assert len({f["event_id"] for f in frames}) == len(frames)
    assert [p.event.type for p in step.after.ledger.in_flight] == [e.type for e in plan.events]
    for frame in server.start(now=0.0).to_send:
        assert not client.receive(frame).diagnostics
    for frame in step.to_send:
        for reply in server.receive(frame).to_send:
            assert not client.receive(reply).diagnostics
    new = client.state
    assert new.ledger.in_flight == ()  # every event acknowledged
    assert [view(i) for i in new.items] == [view(i) for i in old.items]
    assert [i.id for i in new.items] == [plan.id_map[i.id] for i in old.items]


@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_the_plan_speaks_the_dialect_it_was_planned_in(dialect: Dialect) -> None:
    loop = old_session(dialect)
    client = loop.client
    old = client.state
    client.transport_closed(1001, "session expired")
    plan = plan_reconnect(client.state, dialect=client.config.dialect)
    assert plan.dialect == dialect
    assert plan_reconnect(client.state).dialect == "ga"  # the default, as Config's
    codec = codec_for(dialect)
    assert [codec.decode_client(f) for f in plan.frames] == list(plan.events)
    # the fake server of that dialect takes the plan's own frames without an error
    server = rtstate.server.ServerConnection(
        ids=sequential_ids(), responder=ScriptedResponder([]), dialect=dialect
    )
    server.start(now=0.0)
    replies = [r for f in plan.frames for r in server.receive(f).to_send]
    assert replies and not [r for r in replies if json.loads(r)["type"] == "error"]
    # and the connection's resume writes the same frames (stamped) in that dialect
    step = client.resume(plan)
    stamped = [json.loads(f) for f in step.to_send]
    assert [{k: v for k, v in f.items() if k != "event_id"} for f in stamped] == [
        json.loads(f) for f in plan.frames
    ]
    fresh = rtstate.server.ServerConnection(
        ids=sequential_ids(), responder=ScriptedResponder([]), dialect=dialect
    )
    for frame in fresh.start(now=0.0).to_send:
        assert not client.receive(frame).diagnostics
    for frame in step.to_send:
        for reply in fresh.receive(frame).to_send:
            assert not client.receive(reply).diagnostics
    assert [view(i) for i in client.state.items] == [view(i) for i in old.items]
