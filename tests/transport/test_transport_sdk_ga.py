"""The official OpenAI Python SDK's **GA** client against ``serve()``.

The SDK's sync GA client (``client.realtime.connect``) dials
``rtstate.transport.serve_in_thread`` over loopback, with the server's event loop on
asyncio and on trio. It sends no ``OpenAI-Beta`` header, so ``serve()`` speaks GA to
it, as the real service does. It completes a text exchange and a tool-call exchange
(and a transcribed spoken turn) through the SDK's own resource methods, and every
frame it receives goes through ``sdk_checks.Checker``: strict pydantic validation of
the raw bytes against the SDK's GA ``RealtimeServerEvent`` (see ``sdk_checks``).

The only fields allowed beyond the SDK's GA models are the three the real GA service
sends in its session object and the SDK types as a session *request*, and the
``obfuscation`` of its text-bearing deltas (``KNOWN_EXTRAS``; see
``test_the_known_extras_are_what_the_real_service_sends``).
"""

from __future__ import annotations

import base64
import json
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import attrs
import orjson
import pydantic
import pytest
from openai import OpenAI
from openai.resources.realtime.realtime import RealtimeConnection
from openai.types.realtime import (
    ConversationItemAdded,
    ConversationItemCreatedEvent,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionDeltaEvent,
    ConversationItemTruncatedEvent,
    InputAudioBufferCommittedEvent,
    RateLimitsUpdatedEvent,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemUserMessage,
    RealtimeErrorEvent,
    RealtimeServerEvent,
    RealtimeSessionCreateRequest,
    ResponseAudioDeltaEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)
from openai.types.realtime.conversation_item_input_audio_transcription_completed_event import (
    UsageTranscriptTextUsageDuration,
)
from support import DATA
from support.sdk_checks import (
    GA_DELTA_EXTRAS,
    PCM16_MS,
    TOKEN,
    WEATHER_TOOL,
    Checker,
    Received,
    of,
    speech,
    unset_proxies,
    watchdog,
)

from rtstate.server import (
    EchoResponder,
    Message,
    Reply,
    ScriptedResponder,
    ServerConfig,
    ToolCallingResponder,
)
from rtstate.transport import serve_in_thread

MODEL: Final = "gpt-realtime"

SESSION_EXTRAS: Final = frozenset(
    {
        # The SDK types session.created/updated's session as RealtimeSessionCreateRequest,
        # which declares none of these; every real GA session.created/updated carries all
        # three (pydantic-ai's recorded cassettes, tests/data/corpus/ga/pydantic-ai/).
        ("RealtimeSessionCreateRequest", "id"),
        ("RealtimeSessionCreateRequest", "object"),
        ("RealtimeSessionCreateRequest", "expires_at"),
    }
)
KNOWN_EXTRAS: Final = SESSION_EXTRAS | GA_DELTA_EXTRAS

CHECK: Final = Checker[RealtimeServerEvent](RealtimeServerEvent, KNOWN_EXTRAS)
"""The SDK's GA union, checked strictly (``sdk_checks``)."""

Session = Received[RealtimeConnection, RealtimeServerEvent]

REAL_GA_SERVER: Final = (
    DATA
    / "corpus/ga/pydantic-ai/test_gateway_ws"
    / "test_gateway_openai_text_in_audio_out.server.jsonl"
)
"""Frames the real GA service sent (recorded by pydantic-ai through its gateway)."""


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's event loop (proxies unset: loopback only)."""
    unset_proxies(monkeypatch)
    return str(request.param)


@contextmanager
def sdk_session(
    backend: str, *, responder: object, config: ServerConfig | None = None
) -> Iterator[Session]:
    """``serve_in_thread`` on ``backend`` (dialect chosen from the handshake) and the
    SDK's sync GA client connected to it; ``session.created`` is received and checked
    first, and the handshake is the GA one. ``config``: the server's (its model is
    ``MODEL``)."""
    config = attrs.evolve(config or ServerConfig(), model=MODEL)
    with serve_in_thread(
        backend=backend, responder=responder, config=config, token=TOKEN
    ) as server:
        client = OpenAI(api_key=TOKEN, websocket_base_url=f"ws://127.0.0.1:{server.port}/v1")
        with client.realtime.connect(model=MODEL) as connection, watchdog(connection.close):
            request = connection._connection.request
            assert request is not None
            assert request.path == f"/v1/realtime?model={MODEL}"
            assert request.headers["Authorization"] == f"Bearer {TOKEN}"
            assert "OpenAI-Beta" not in request.headers  # so the server picks GA
            session = Session(connection, CHECK)
            created = session.recv()
            assert isinstance(created, SessionCreatedEvent)
            assert isinstance(created.session, RealtimeSessionCreateRequest)
            assert created.session.type == "realtime"
            assert created.session.model == MODEL
            assert created.session.output_modalities == ["audio"]
            assert server.sessions == 1  # the SDK's bearer token was accepted
            yield session
        # the GA server never sends beta's conversation.item.created (which the SDK's GA
        # union still lists): items arrive as conversation.item.added, then .done
        assert not of(session.events, ConversationItemCreatedEvent)


def update_session(connection: RealtimeConnection, **session: Any) -> None:
    """A GA ``session.update`` through the SDK (``type: "realtime"`` is required).
    (Its param types do not take a plain dict tool.)"""
    connection.session.update(session=typing.cast("Any", {"type": "realtime", **session}))


def user_text(s: Session, text: str) -> RealtimeConversationItemUserMessage:
    """A user message through the SDK; returns the item the server added (and finalized)."""
    s.connection.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    added, done = s.recv(), s.recv()
    assert isinstance(added, ConversationItemAdded) and isinstance(done, ConversationItemDone)
    assert isinstance(added.item, RealtimeConversationItemUserMessage)
    assert done.item == added.item and added.item.status == "completed"
    assert added.item.content[0].type == "input_text"
    assert added.item.content[0].text == text
    return added.item


def test_the_ga_union_is_one_class_per_type() -> None:
    """The tagged union is sound (every ``type`` names exactly one class), and it is
    the GA one: renamed deltas, added/done items."""
    assert len(CHECK.class_of) == len(CHECK.members) > 40
    assert CHECK.class_of["response.output_text.delta"] is ResponseTextDeltaEvent
    assert CHECK.class_of["conversation.item.added"] is ConversationItemAdded
    assert "response.text.delta" not in CHECK.class_of


def test_the_checker_is_strict_in_ga() -> None:
    """``CHECK`` rejects coercions, beta spellings and a GA frame missing a required field."""
    good = {
        "event_id": "event_1",
        "type": "response.output_text.delta",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hi",
    }
    assert isinstance(CHECK.check(orjson.dumps(good)), ResponseTextDeltaEvent)
    with pytest.raises(pydantic.ValidationError):  # lax mode would coerce "0" to 0
        CHECK.check(orjson.dumps(good | {"output_index": "0"}))
    with pytest.raises(pydantic.ValidationError):  # the beta name is no GA event
        CHECK.check(orjson.dumps(good | {"type": "response.text.delta"}))
    with pytest.raises(AssertionError, match="fields the SDK does not know"):
        CHECK.check(orjson.dumps(good | {"text": "Hi"}))
    transcribed = {
        "event_id": "event_2",
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "item_1",
        "content_index": 0,
        "transcript": "Hello.",
    }
    with pytest.raises(pydantic.ValidationError, match="usage"):  # GA requires usage
        CHECK.check(orjson.dumps(transcribed))
    usage = {"type": "duration", "seconds": 1.5}
    event = CHECK.check(orjson.dumps(transcribed | {"usage": usage}))
    assert isinstance(event, ConversationItemInputAudioTranscriptionCompletedEvent)


def test_the_known_extras_are_what_the_real_service_sends() -> None:
    """A real GA ``session.created`` and ``session.updated`` pass the same checks, with
    exactly ``SESSION_EXTRAS`` beyond the SDK's models, and real deltas with exactly
    ``GA_DELTA_EXTRAS`` (so none is ours alone)."""
    frames = [line for line in REAL_GA_SERVER.read_bytes().splitlines() if line.strip()]
    sessions = [f for f in frames if orjson.loads(f)["type"].startswith("session.")]
    assert [orjson.loads(f)["type"] for f in sessions[:2]] == ["session.created", "session.updated"]
    strict = Checker[RealtimeServerEvent](RealtimeServerEvent, frozenset())
    for frame in sessions[:2]:
        with pytest.raises(AssertionError, match="fields the SDK does not know") as failure:
            strict.check(frame)
        for _, name in SESSION_EXTRAS:
            assert f"'RealtimeSessionCreateRequest', '{name}'" in str(failure.value)
        assert isinstance(CHECK.check(frame), SessionCreatedEvent | SessionUpdatedEvent)
    corpus = REAL_GA_SERVER.parents[1]
    seen: set[tuple[str, str]] = set()
    for path in sorted(corpus.rglob("*.server.jsonl")):
        for line in path.read_bytes().splitlines():
            if b'"obfuscation"' not in line:
                continue
            with pytest.raises(AssertionError, match="fields the SDK does not know") as failure:
                strict.check(line)
            seen |= {extra for extra in GA_DELTA_EXTRAS if repr(extra)[1:-1] in str(failure.value)}
            CHECK.check(line)
    assert seen == GA_DELTA_EXTRAS


def test_text_exchange(backend: str) -> None:
    reply = "Hello there! This reply is cut into many small text deltas."
    with sdk_session(backend, responder=lambda: ScriptedResponder([reply])) as s:
        update_session(s.connection, output_modalities=["text"], instructions="Be brief.")
        updated = s.recv()
        assert isinstance(updated, SessionUpdatedEvent)
        assert isinstance(updated.session, RealtimeSessionCreateRequest)
        assert updated.session.output_modalities == ["text"]
        assert updated.session.instructions == "Be brief."

        user = user_text(s, "Say hello.")
        s.connection.response.create()
        events = s.until("response.done")

    created = events[0]
    assert isinstance(created, ResponseCreatedEvent)
    assert created.response.status == "in_progress"
    assert created.response.output_modalities == ["text"]
    (output_added,) = of(events, ResponseOutputItemAddedEvent)
    assert isinstance(output_added.item, RealtimeConversationItemAssistantMessage)
    assert output_added.item.status == "in_progress" and output_added.item.content == []
    (added,) = of(events, ConversationItemAdded)  # the assistant item enters, empty
    assert added.item == output_added.item and added.previous_item_id == user.id
    (part_added,) = of(events, ResponseContentPartAddedEvent)
    assert part_added.part.type == "text" and part_added.part.text == ""
    deltas = of(events, ResponseTextDeltaEvent)
    assert len(deltas) > 5
    assert "".join(d.delta for d in deltas) == reply
    (text_done,) = of(events, ResponseTextDoneEvent)
    assert text_done.text == reply
    (part_done,) = of(events, ResponseContentPartDoneEvent)
    assert part_done.part.type == "text" and part_done.part.text == reply
    (item_done,) = of(events, ConversationItemDone)  # ... and is finalized, full
    done = events[-1]
    assert isinstance(done, ResponseDoneEvent)
    assert done.response.status == "completed" and done.response.id == created.response.id
    assert done.response.usage is not None and done.response.usage.output_tokens
    (item,) = done.response.output or []
    assert isinstance(item, RealtimeConversationItemAssistantMessage)
    assert item == item_done.item and item.id == added.item.id and item.status == "completed"
    assert [(c.type, c.text) for c in item.content] == [("output_text", reply)]
    assert {d.item_id for d in deltas} == {item.id}
    assert {d.response_id for d in deltas} == {done.response.id}


def test_tool_call_exchange(backend: str) -> None:
    with sdk_session(backend, responder=ToolCallingResponder) as s:
        update_session(
            s.connection, output_modalities=["text"], tools=[WEATHER_TOOL], tool_choice="auto"
        )
        updated = s.recv()
        assert isinstance(updated, SessionUpdatedEvent)
        assert isinstance(updated.session, RealtimeSessionCreateRequest)
        tools = updated.session.tools or []
        assert [t.model_dump(exclude_unset=True) for t in tools] == [WEATHER_TOOL]
        assert updated.session.tool_choice == "auto"

        user_text(s, "What is the weather in Paris?")
        s.connection.response.create()
        first = s.until("response.done")

        deltas = of(first, ResponseFunctionCallArgumentsDeltaEvent)
        (arguments_done,) = of(first, ResponseFunctionCallArgumentsDoneEvent)
        assert len(deltas) >= 2
        assert "".join(d.delta for d in deltas) == arguments_done.arguments
        assert json.loads(arguments_done.arguments) == {"city": "example"}
        assert arguments_done.name == "get_weather"
        done = first[-1]
        assert isinstance(done, ResponseDoneEvent) and done.response.status == "completed"
        (call,) = done.response.output or []
        assert isinstance(call, RealtimeConversationItemFunctionCall)
        assert call.name == "get_weather" and call.status == "completed"
        assert call.call_id == arguments_done.call_id and call.call_id is not None
        assert call.arguments == arguments_done.arguments
        assert {d.call_id for d in deltas} == {call.call_id}
        assert {d.item_id for d in deltas} == {call.id}
        # as the real GA service: the token limit after response.done, nothing else
        limits = s.recv()
        assert isinstance(limits, RateLimitsUpdatedEvent)
        assert [limit.name for limit in limits.rate_limits] == ["tokens"]

        s.connection.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": '{"c":21}'}
        )
        added, finalized = s.recv(), s.recv()
        assert isinstance(added, ConversationItemAdded)
        assert isinstance(finalized, ConversationItemDone) and finalized.item == added.item
        output = added.item
        assert isinstance(output, RealtimeConversationItemFunctionCallOutput)
        assert output.call_id == call.call_id and output.output == '{"c":21}'
        assert added.previous_item_id == call.id
        s.connection.response.create()
        second = s.until("response.done")

    final = second[-1]
    assert isinstance(final, ResponseDoneEvent) and final.response.status == "completed"
    assert final.response.id != done.response.id
    (message,) = final.response.output or []
    assert isinstance(message, RealtimeConversationItemAssistantMessage)
    answer = 'get_weather returned {"c":21}'
    assert [(c.type, c.text) for c in message.content] == [("output_text", answer)]
    assert "".join(d.delta for d in of(second, ResponseTextDeltaEvent)) == answer
    (message_added,) = of(second, ConversationItemAdded)
    assert message_added.previous_item_id == output.id


def test_transcribed_spoken_turn(backend: str) -> None:
    """A committed user turn with input transcription: GA's
    ``conversation.item.input_audio_transcription.completed`` carries the ``usage`` the
    SDK's GA types require (the 2024 beta wire had none)."""
    with sdk_session(backend, responder=EchoResponder()) as s:
        update_session(
            s.connection,
            output_modalities=["text"],
            audio={"input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}},
        )
        updated = s.recv()
        assert isinstance(updated, SessionUpdatedEvent)
        assert isinstance(updated.session, RealtimeSessionCreateRequest)
        assert updated.session.audio is not None and updated.session.audio.input is not None
        assert updated.session.audio.input.turn_detection is None
        s.connection.input_audio_buffer.append(audio=base64.b64encode(speech(1000)).decode())
        s.connection.input_audio_buffer.commit()
        committed = s.recv()
        assert isinstance(committed, InputAudioBufferCommittedEvent)
        added, finalized = s.recv(), s.recv()
        streamed = s.until("conversation.item.input_audio_transcription.completed")
        s.connection.response.create()
        events = s.until("response.done")

    assert isinstance(added, ConversationItemAdded) and isinstance(finalized, ConversationItemDone)
    assert isinstance(added.item, RealtimeConversationItemUserMessage)
    assert added.item.id == committed.item_id
    assert [c.type for c in added.item.content] == ["input_audio"]
    *deltas, transcribed = streamed
    assert isinstance(transcribed, ConversationItemInputAudioTranscriptionCompletedEvent)
    assert transcribed.item_id == committed.item_id
    # streamed first, as the real service does: the deltas add up to the transcript
    pieces = of(deltas, ConversationItemInputAudioTranscriptionDeltaEvent)
    assert len(pieces) == len(deltas) > 1
    assert "".join(d.delta or "" for d in pieces) == transcribed.transcript
    assert transcribed.transcript == "[synthetic transcript of 1.0 s of audio]"
    assert transcribed.usage == UsageTranscriptTextUsageDuration(type="duration", seconds=1.0)
    done = events[-1]
    assert isinstance(done, ResponseDoneEvent) and done.response.status == "completed"
    (item,) = done.response.output or []
    assert isinstance(item, RealtimeConversationItemAssistantMessage)
    assert item.content[0].text == "You said: [synthetic transcript of 1.0 s of audio]"


# --- interrupting a spoken answer ---------------------------------------------------------

SPOKEN: Final = Reply(
    outputs=(
        Message(text="Once upon a time, a long answer was spoken, slowly enough to cut."),
        Message(text="And a second item follows it, so a cut item leaves work to do."),
    )
)
"""Two spoken items: a cancel sent just after a truncate always finds the response
still in progress, even if the cut item closed in between."""
PACED_SPEECH: Final = ServerConfig(delta_interval=0.1)


def spoken_answer_started(s: Session) -> tuple[str, int]:
    """A user message, ``response.create``, and the first audio of the answer: its
    item id and the ms of audio received."""
    user_text(s, "Tell me a story.")
    s.connection.response.create()
    first = s.until("response.output_audio.delta")[-1]
    assert isinstance(first, ResponseAudioDeltaEvent)
    received = len(base64.b64decode(first.delta)) // PCM16_MS
    assert received > 1
    return first.item_id, received


def after_truncated(s: Session, item_id: str) -> list[RealtimeServerEvent]:
    """What ``s`` received of ``item_id`` after its ``conversation.item.truncated``."""
    (cut,) = [i for i, e in enumerate(s.events) if isinstance(e, ConversationItemTruncatedEvent)]
    return [e for e in s.events[cut + 1 :] if getattr(e, "item_id", None) == item_id]


def assistant(item: object) -> RealtimeConversationItemAssistantMessage:
    assert isinstance(item, RealtimeConversationItemAssistantMessage)
    return item


def test_interrupt_a_spoken_answer_truncate_then_cancel(backend: str) -> None:
    """The order of the Agents SDK (and of any client that cuts what was heard first):
    truncate the item still being generated, then cancel. No error; nothing more of
    the cut item's audio or transcript arrives; the transcript is dropped."""
    with sdk_session(
        backend, responder=lambda: ScriptedResponder([SPOKEN]), config=PACED_SPEECH
    ) as s:
        item_id, received = spoken_answer_started(s)
        heard = received // 2
        s.connection.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=heard
        )
        s.connection.response.cancel()
        s.until("response.done")

    assert not of(s.events, RealtimeErrorEvent)
    (truncated,) = of(s.events, ConversationItemTruncatedEvent)
    assert (truncated.item_id, truncated.content_index, truncated.audio_end_ms) == (
        item_id,
        0,
        heard,
    )
    rest = after_truncated(s, item_id)
    assert not of(rest, ResponseAudioDeltaEvent)
    assert not of(rest, ResponseAudioTranscriptDeltaEvent)
    done = s.events[-1]
    assert isinstance(done, ResponseDoneEvent) and done.response.status == "cancelled"
    assert done.response.status_details is not None
    assert done.response.status_details.reason == "client_cancelled"
    cut = assistant((done.response.output or [])[0])
    assert cut.id == item_id
    assert [(c.type, c.transcript) for c in cut.content] == [("output_audio", "")]


def test_interrupt_a_spoken_answer_cancel_then_truncate(backend: str) -> None:
    """The order of LiveKit (and of the beta JS client): cancel, then truncate the
    item the cancel closed. No error; the transcript is dropped after the cut."""
    with sdk_session(
        backend, responder=lambda: ScriptedResponder([SPOKEN]), config=PACED_SPEECH
    ) as s:
        item_id, received = spoken_answer_started(s)
        s.connection.response.cancel()
        s.until("response.done")
        heard = received // 2
        s.connection.conversation.item.truncate(
            item_id=item_id, content_index=0, audio_end_ms=heard
        )
        truncated = s.until("conversation.item.truncated")[-1]
        s.connection.conversation.item.retrieve(item_id=item_id)
        retrieved = s.until("conversation.item.retrieved")[-1]

    assert not of(s.events, RealtimeErrorEvent)
    (done,) = of(s.events, ResponseDoneEvent)
    assert done.response.status == "cancelled"
    (item,) = done.response.output or []
    cancelled = assistant(item)
    assert cancelled.id == item_id and cancelled.status == "incomplete"
    assert cancelled.content[0].transcript  # what was said before the cancel
    assert isinstance(truncated, ConversationItemTruncatedEvent)
    assert (truncated.item_id, truncated.audio_end_ms) == (item_id, heard)
    kept = assistant(getattr(retrieved, "item", None))
    assert [(c.type, c.transcript) for c in kept.content] == [("output_audio", "")]
