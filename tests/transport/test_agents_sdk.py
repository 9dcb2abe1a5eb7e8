"""The OpenAI Agents SDK's realtime runner against ``serve()``.

A framework no one here wrote, left at its default settings: ``RealtimeRunner`` with
its default model (``OpenAIRealtimeWebSocketModel``), pointed at ``rtstate.serve()``
on loopback through its model config ``url``. Nothing in the session settings is
chosen by these tests: the SDK sends its own ``session.update`` (GA shape, audio out,
``semantic_vad`` with ``interrupt_response``, input transcription, its voice) and
every test runs with it. The server speaks GA (the SDK sends no ``OpenAI-Beta``).

Five conversations: a text message and its answer; a function tool call and the
answer after its output; a spoken turn (server-side turn detection) answered with
audio; an explicit interrupt from the app mid-answer (``session.interrupt()``, and the
SDK's interrupt that also cancels); a barge-in by user speech over a spoken answer.
Every one asserts over the SDK's own event stream: no ``RealtimeError`` (a server
``error`` event, or a server frame the SDK failed to validate: the SDK reports both as
``error``), no exception (the session raises those from its iterator), no raw server
``error`` frame, nothing logged at ERROR by the SDK or the server; and the history
items, tool events and audio events each story needs.

The SDK is asyncio-only: these tests run on anyio's asyncio backend alone. Every wait
is bounded (``WAIT_S``), so a conversation that stalls fails instead of hanging.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

import anyio
import pytest
from agents import function_tool
from agents.realtime import (
    AssistantMessageItem,
    InputAudio,
    InputText,
    RealtimeAgent,
    RealtimeAgentEndEvent,
    RealtimeAgentStartEvent,
    RealtimeAudio,
    RealtimeAudioEnd,
    RealtimeAudioInterrupted,
    RealtimeError,
    RealtimeHistoryAdded,
    RealtimeHistoryUpdated,
    RealtimeItem,
    RealtimeModelSendInterrupt,
    RealtimeRawModelEvent,
    RealtimeRunner,
    RealtimeSession,
    RealtimeSessionEvent,
    RealtimeToolCallItem,
    RealtimeToolEnd,
    RealtimeToolStart,
    UserMessageItem,
)
from agents.realtime.items import AssistantAudio
from agents.realtime.model_events import RealtimeModelRawServerEvent
from agents.realtime.openai_realtime import DEFAULT_MODEL_SETTINGS, DEFAULT_REALTIME_MODEL
from support.sdk_checks import TOKEN, unset_proxies

from rtstate.server import ScriptedResponder, ServerConfig, ToolCallingResponder
from rtstate.server.audio import SyntheticVoice
from rtstate.server.responders import Responder
from rtstate.transport import serve

pytestmark = pytest.mark.anyio

WAIT_S: Final = 10.0
"""The bound on every wait for an event (a stalled conversation fails by then)."""

PACE_S: Final = 0.01
"""Seconds between two deltas of an answer the app talks over: its 100 ms audio
deltas come ten times faster than real time, so the answer below lasts about 1 s of
wall time and an interrupt sent at its first audio lands mid-answer."""

LONG_ANSWER: Final = (
    "Once upon a time there was a lighthouse keeper who counted the waves every night "
    "and wrote each number in a blue notebook."
)
"""An answer long enough (7.3 s of audio, 74 audio deltas) to be cut."""

SPEECH: Final = SyntheticVoice(kind="noise", amplitude=0.5).synthesize(
    "what is the weather like", "user", "pcm16"
)
"""The user's voice: 1.4 s of loud noise under a syllable envelope (pcm16, 24 kHz)."""

SILENCE_CHUNK: Final = bytes(2 * 24 * 100)
"""100 ms of pcm16 silence, the chunk a microphone streams after the user stops."""

SILENCE_LIMIT: Final = 150
"""The most silence chunks streamed while waiting for end of turn: 15 s of audio, more
than semantic_vad waits at its least eager (8 s)."""

E = TypeVar("E")


@pytest.fixture
def anyio_backend() -> str:
    """The Agents SDK runs on asyncio only."""
    return "asyncio"


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's websockets client honours proxy variables; these tests speak to
    loopback only, and never to api.openai.com (no key, no tracing export)."""
    unset_proxies(monkeypatch)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")


class Conversation:
    """A ``RealtimeSession`` and every event it yielded, read with bounded waits."""

    def __init__(self, session: RealtimeSession) -> None:
        self.session = session
        self.events: list[RealtimeSessionEvent] = []
        self._stream = aiter(session)

    async def until(self, matches: Callable[[RealtimeSessionEvent], bool], what: str) -> None:
        """Read events up to and including the first that ``matches``; fail (naming
        ``what`` and the events read) when none comes within ``WAIT_S``."""
        start = len(self.events)
        with anyio.move_on_after(WAIT_S) as waited:
            async for event in self._stream:
                self.events.append(event)
                if matches(event):
                    return
        ending = f"within {WAIT_S} s" if waited.cancelled_caught else "before the stream ended"
        pytest.fail(
            f"no {what} {ending}; read before: {summary(self.events[:start])}; "
            f"read since: {summary(self.events[start:])}"
        )

    async def until_nth(self, kind: type[E], n: int, what: str) -> E:
        """The ``n``-th event of class ``kind`` (1-based), reading up to it if needed."""
        if len(self.of(kind)) < n:
            await self.until(lambda e: isinstance(e, kind) and len(self.of(kind)) >= n, what)
        return self.of(kind)[n - 1]

    async def frame(self, kind: str, n: int = 1, **fields: object) -> dict[str, Any]:
        """The ``n``-th raw server frame of type ``kind`` (with ``fields``), reading up
        to it if it was not read yet (the order of the server's events is not assumed
        beyond that)."""

        def found() -> list[dict[str, Any]]:
            return [f for f in self.frames(kind) if all(f.get(k) == v for k, v in fields.items())]

        if len(found()) < n:
            await self.until(lambda e: len(found()) >= n, f"server {kind} #{n} {fields or ''}")
        return found()[n - 1]

    async def until_history(
        self, holds: Callable[[list[RealtimeItem]], bool], what: str
    ) -> list[RealtimeItem]:
        """The history (``history()``) once ``holds`` is true of it."""
        if not holds(self.history()):
            await self.until(lambda e: holds(self.history()), what)
        return self.history()

    def frames_before(self, frame: dict[str, Any]) -> list[dict[str, Any]]:
        """The raw server frames read before ``frame``, in order."""
        read = [f for e in self.events if (f := raw_frame(e)) is not None]
        return read[: next(i for i, f in enumerate(read) if f is frame)]

    def of(self, kind: type[E]) -> list[E]:
        """The events of class ``kind`` read so far, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def frames(self, kind: str) -> list[dict[str, Any]]:
        """The raw server frames of type ``kind`` read so far, in order."""
        return [f for e in self.events if (f := raw_frame(e)) is not None and f["type"] == kind]

    def history(self) -> list[RealtimeItem]:
        """The history as an app sees it from the events read: the last
        ``history_updated`` snapshot with the ``history_added`` items since."""
        history: list[RealtimeItem] = []
        for event in self.events:
            if isinstance(event, RealtimeHistoryUpdated):
                history = list(event.history)
            elif isinstance(event, RealtimeHistoryAdded):
                ids = [item.item_id for item in history]
                if event.item.item_id in ids:
                    history[ids.index(event.item.item_id)] = event.item
                else:
                    history.append(event.item)
        return history

    def assert_clean(self) -> None:
        """No error of any kind so far (see the module docstring)."""
        errors = [describe(e) for e in self.of(RealtimeError)]
        assert not errors, f"the SDK reported errors: {errors}"
        frames = self.frames("error")
        assert not frames, f"the server sent error events: {frames}"


def raw_frame(event: RealtimeSessionEvent) -> dict[str, Any] | None:
    """The server frame a ``raw_model_event`` carries, if it carries one."""
    if isinstance(event, RealtimeRawModelEvent) and isinstance(
        event.data, RealtimeModelRawServerEvent
    ):
        frame: dict[str, Any] = event.data.data
        return frame
    return None


def describe(event: RealtimeSessionEvent) -> str:
    """A short name for an event in a failure message."""
    frame = raw_frame(event)
    if frame is not None:
        return f"server:{frame['type']}"
    if isinstance(event, RealtimeError):
        return f"error:{event.error!r}"
    if isinstance(event, RealtimeRawModelEvent):
        return f"model:{event.data.type}"
    return event.type


def summary(events: list[RealtimeSessionEvent]) -> str:
    """The events' names, a run of one name counted (``server:...delta x12``)."""
    runs: list[tuple[str, int]] = []
    for event in events:
        name = describe(event)
        if name.startswith("model:") or name in {"audio"}:
            continue  # the model event behind a session event, and audio: noise here
        if runs and runs[-1][0] == name:
            runs[-1] = (name, runs[-1][1] + 1)
        else:
            runs.append((name, 1))
    return ", ".join(name if n == 1 else f"{name} x{n}" for name, n in runs)


def without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    """``mapping`` without ``key``."""
    return {k: v for k, v in mapping.items() if k != key}


def messages(history: list[RealtimeItem], role: str) -> list[Any]:
    """The message items of ``role`` in ``history``."""
    return [i for i in history if i.type == "message" and i.role == role]


def transcript_of(item: UserMessageItem | AssistantMessageItem) -> str | None:
    """The transcript of a message's (first) audio part."""
    audio = [p for p in item.content if isinstance(p, InputAudio | AssistantAudio)]
    assert audio, f"no audio part in {item}"
    return audio[0].transcript


def audio_bytes(conversation: Conversation, item_id: str) -> bytes:
    """The audio the SDK handed the app for ``item_id``."""
    return b"".join(e.audio.data for e in conversation.of(RealtimeAudio) if e.item_id == item_id)


def pcm16_ms(data: bytes) -> float:
    """The duration of pcm16 audio at 24 kHz, in ms."""
    return len(data) / 48


def delta_ms(frames: list[dict[str, Any]]) -> float:
    """The duration of the audio in ``response.output_audio.delta`` frames, in ms."""
    return sum(pcm16_ms(base64.b64decode(f["delta"])) for f in frames)


@asynccontextmanager
async def conversation(
    responder: Responder,
    *,
    agent: RealtimeAgent[Any] | None = None,
    pace: float = 0.0,
) -> AsyncIterator[Conversation]:
    """``serve()`` on loopback and the SDK's ``RealtimeRunner`` connected to it with
    its defaults (only the URL and the key are given). Before the block runs, the
    server has answered both ``session.update`` events the SDK sends on its own (its
    settings at connect, its tracing setting once ``session.created`` arrives)."""
    config = ServerConfig(delta_interval=pace)
    async with serve(responder=responder, config=config, token=TOKEN) as server:
        runner = RealtimeRunner(agent or RealtimeAgent(name="assistant", instructions="Be brief."))
        session = await runner.run(
            model_config={"url": f"{server.url}?model={DEFAULT_REALTIME_MODEL}", "api_key": TOKEN}
        )
        with anyio.fail_after(WAIT_S):
            await session.enter()
        try:
            talk = Conversation(session)
            await talk.frame("session.updated", 2)
            assert_session_settings(talk)
            yield talk
        finally:
            with anyio.fail_after(WAIT_S):
                await session.close()


@pytest.fixture
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Nothing logged at ERROR by the SDK ("openai.agents": e.g. a server event it
    failed to validate) or by the server ("rtstate": e.g. a session that failed)."""
    with caplog.at_level(logging.WARNING):
        yield
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.startswith(("openai.agents", "rtstate"))
    ]
    assert not errors, errors


def assert_session_settings(talk: Conversation) -> None:
    """The server took the SDK's defaults whole: the first ``session.updated``
    reports them, and the second (after the SDK's tracing update) keeps them."""
    first, second = talk.frames("session.updated")
    session = first["session"]
    assert without(second["session"], "tracing") == without(session, "tracing")
    assert session["type"] == "realtime"
    assert session["model"] == DEFAULT_REALTIME_MODEL
    assert session["instructions"] == "Be brief."
    assert session["output_modalities"] == DEFAULT_MODEL_SETTINGS["modalities"]
    audio = session["audio"]
    assert audio["output"]["voice"] == DEFAULT_MODEL_SETTINGS["voice"]
    # the defaults the real service reports; the SDK reads interrupt_response to decide
    # whether to cancel a response itself on barge-in and on interrupt()
    expected = {"type": "semantic_vad", "create_response": True, "interrupt_response": True}
    turn_detection = audio["input"]["turn_detection"]
    assert {key: turn_detection.get(key) for key in expected} == expected
    assert audio["input"]["transcription"]["model"] == "gpt-4o-mini-transcribe"


@pytest.mark.usefixtures("no_error_logs")
async def test_a_text_message_and_its_answer() -> None:
    answer = "Hello! The fake server speaks."
    async with conversation(ScriptedResponder([answer])) as talk:
        await talk.session.send_message("Hello there")
        await talk.until_nth(RealtimeAgentEndEvent, 1, "end of the answer")
        talk.assert_clean()

        user, assistant = talk.history()
        assert isinstance(user, UserMessageItem)
        (text,) = user.content
        assert isinstance(text, InputText)
        assert text.text == "Hello there"
        assert isinstance(assistant, AssistantMessageItem)
        assert assistant.status == "completed"
        assert transcript_of(assistant) == answer
        assert len(talk.of(RealtimeAgentStartEvent)) == 1

        (audio_done,) = talk.frames("response.output_audio.done")
        heard = audio_bytes(talk, assistant.item_id)
        assert pcm16_ms(heard) == delta_ms(talk.frames("response.output_audio.delta")) > 0
        (end,) = talk.of(RealtimeAudioEnd)
        assert (end.item_id, end.content_index) == (assistant.item_id, audio_done["content_index"])
        (done,) = talk.frames("response.done")
        assert done["response"]["status"] == "completed"
        assert done["response"]["output_modalities"] == ["audio"]


@pytest.mark.usefixtures("no_error_logs")
async def test_a_function_tool_call_and_the_answer_after_its_output() -> None:
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        calls.append(city)
        return f"sunny and 21 C in {city}"

    agent = RealtimeAgent(name="assistant", instructions="Be brief.", tools=[get_weather])
    responder = ToolCallingResponder(arguments=lambda tool, request: '{"city": "Paris"}')
    async with conversation(responder, agent=agent) as talk:
        (tool,) = talk.frames("session.updated")[-1]["session"]["tools"]
        assert (tool["type"], tool["name"]) == ("function", "get_weather")
        await talk.session.send_message("What is the weather in Paris?")
        start = await talk.until_nth(RealtimeToolStart, 1, "tool start")
        assert start.tool.name == "get_weather"
        assert start.arguments == '{"city": "Paris"}'
        end = await talk.until_nth(RealtimeToolEnd, 1, "tool end")
        assert end.output == "sunny and 21 C in Paris"
        assert calls == ["Paris"]
        # the SDK sends the output and a response.create; the answer quotes the output
        await talk.until_nth(RealtimeAgentEndEvent, 2, "end of the answer after the output")
        talk.assert_clean()

        history = talk.history()
        calls_in_history = [i for i in history if isinstance(i, RealtimeToolCallItem)]
        (call,) = calls_in_history
        assert (call.name, call.arguments, call.status) == (
            "get_weather",
            '{"city": "Paris"}',
            "completed",
        )
        assert call.output == "sunny and 21 C in Paris"
        (answer,) = messages(history, "assistant")
        assert transcript_of(answer) == "get_weather returned sunny and 21 C in Paris"
        assert audio_bytes(talk, answer.item_id)
        (output,) = [
            f["item"]
            for f in talk.frames("conversation.item.added")
            if f["item"]["type"] == "function_call_output"
        ]
        assert output["call_id"] == call.call_id
        statuses = [f["response"]["status"] for f in talk.frames("response.done")]
        assert statuses == ["completed", "completed"]


async def speak(talk: Conversation, *, until: str) -> dict[str, Any]:
    """The user says ``SPEECH`` into the session, then the microphone streams silence
    (100 ms chunks, faster than real time: the server's detector counts audio, not
    wall time) until the server sends ``until``; that frame."""
    stop = anyio.Event()

    async def microphone() -> None:
        await talk.session.send_audio(SPEECH)
        for _ in range(SILENCE_LIMIT):
            if stop.is_set():
                return
            await talk.session.send_audio(SILENCE_CHUNK)
            await anyio.sleep(0.005)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(microphone)
        try:
            frame = await talk.frame(until)
        finally:
            stop.set()
    return frame


@pytest.mark.usefixtures("no_error_logs")
async def test_a_spoken_turn_with_server_turn_detection_and_audio_back() -> None:
    answer = "I heard you loud and clear."
    async with conversation(ScriptedResponder([answer])) as talk:
        await speak(talk, until="input_audio_buffer.committed")
        await talk.until_nth(RealtimeAgentEndEvent, 1, "end of the spoken answer")
        transcription = await talk.frame("conversation.item.input_audio_transcription.completed")
        await talk.until_history(
            lambda history: (
                [transcript_of(m) for m in messages(history, "user")]
                == [transcription["transcript"]]
            ),
            "the user's transcript in the history",
        )
        talk.assert_clean()

        (started,) = talk.frames("input_audio_buffer.speech_started")
        (stopped,) = talk.frames("input_audio_buffer.speech_stopped")
        assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]
        (created,) = talk.frames("response.created")
        assert created["response"]["status"] == "in_progress"

        history = talk.history()
        (user,) = messages(history, "user")
        assert user.item_id == stopped["item_id"] == transcription["item_id"]
        assert [type(part) for part in user.content] == [InputAudio]
        (assistant,) = messages(history, "assistant")
        assert transcript_of(assistant) == answer
        assert pcm16_ms(audio_bytes(talk, assistant.item_id)) > 0
        assert talk.of(RealtimeAudioEnd)[-1].item_id == assistant.item_id
        assert not talk.of(RealtimeAudioInterrupted)


async def interrupt(session: RealtimeSession) -> None:
    """``session.interrupt()``: the SDK truncates the playing item to what was played
    and, as the session reports ``interrupt_response: true``, sends no cancel (the
    response goes on to its end, with no more audio of the cut item)."""
    await session.interrupt()


async def interrupt_and_cancel(session: RealtimeSession) -> None:
    """The SDK's own interrupt for a tripped guardrail: truncate, then
    ``response.cancel`` whatever the session's ``interrupt_response``."""
    await session.model.send_event(RealtimeModelSendInterrupt(force_response_cancel=True))


@pytest.mark.parametrize(
    ("interrupter", "status", "reason"),
    [(interrupt, "completed", None), (interrupt_and_cancel, "cancelled", "client_cancelled")],
)
@pytest.mark.usefixtures("no_error_logs")
async def test_an_explicit_interrupt_from_the_app_mid_answer(
    interrupter: Callable[[RealtimeSession], Awaitable[None]], status: str, reason: str | None
) -> None:
    after = "Yes, I stopped."
    async with conversation(ScriptedResponder([LONG_ANSWER, after]), pace=PACE_S) as talk:
        await talk.session.send_message("Tell me a long story")
        first = await talk.until_nth(RealtimeAudio, 1, "the first audio of the answer")
        await interrupter(talk.session)
        interrupted = await talk.until_nth(RealtimeAudioInterrupted, 1, "audio_interrupted")
        assert (interrupted.item_id, interrupted.content_index) == (
            first.item_id,
            first.content_index,
        )
        truncated = await talk.frame("conversation.item.truncated", item_id=first.item_id)
        assert truncated["content_index"] == first.content_index
        await talk.until_nth(RealtimeAgentEndEvent, 1, "end of the interrupted answer")
        # the truncate landed mid-answer: before the server finished the answer's audio,
        # and cut at most the audio sent before it
        sent_before = talk.frames_before(truncated)
        assert "response.output_audio.done" not in {f["type"] for f in sent_before}
        deltas = [f for f in sent_before if f["type"] == "response.output_audio.delta"]
        assert 0 <= truncated["audio_end_ms"] <= delta_ms(deltas)
        (done,) = talk.frames("response.done")
        assert done["response"]["status"] == status
        assert (done["response"].get("status_details") or {}).get("reason") == reason
        # the cut item sends no audio after its truncate, cancelled or not (the fake
        # server's decision, README "The fake server")
        full = delta_ms(talk.frames("response.output_audio.delta"))
        assert full == delta_ms(deltas) < SyntheticVoice().duration_ms(LONG_ANSWER)

        # the conversation goes on
        await talk.session.send_message("Did you stop?")
        await talk.until_nth(RealtimeAgentEndEvent, 2, "end of the next answer")
        talk.assert_clean()
        cut, next_answer = messages(talk.history(), "assistant")
        assert cut.item_id == first.item_id
        assert transcript_of(next_answer) == after
        assert [f["response"]["status"] for f in talk.frames("response.done")] == [
            status,
            "completed",
        ]


@pytest.mark.usefixtures("no_error_logs")
async def test_a_barge_in_by_user_speech_over_a_spoken_answer() -> None:
    after = "Sorry, go ahead."
    async with conversation(ScriptedResponder([LONG_ANSWER, after]), pace=PACE_S) as talk:
        await talk.session.send_message("Tell me a long story")
        first = await talk.until_nth(RealtimeAudio, 1, "the first audio of the answer")
        committed = await speak(talk, until="input_audio_buffer.committed")
        started = await talk.frame("input_audio_buffer.speech_started")
        assert started["item_id"] == committed["item_id"]
        interrupted = await talk.until_nth(RealtimeAudioInterrupted, 1, "audio_interrupted")
        assert (interrupted.item_id, interrupted.content_index) == (
            first.item_id,
            first.content_index,
        )
        # the user spoke mid-answer, and the server cancelled the answer at once
        # (interrupt_response)
        assert "response.done" not in {f["type"] for f in talk.frames_before(started)}
        cancelled = await talk.frame("response.done")
        assert cancelled["response"]["status"] == "cancelled"
        assert cancelled["response"]["status_details"]["reason"] == "turn_detected"
        # the SDK truncated what it had played, after the cancel
        truncated = await talk.frame("conversation.item.truncated", item_id=first.item_id)
        sent_before = talk.frames_before(truncated)
        assert (
            0
            <= truncated["audio_end_ms"]
            <= delta_ms([f for f in sent_before if f["type"] == "response.output_audio.delta"])
        )
        # the server answers the new turn by itself (create_response)
        await talk.frame("response.done", 2)
        talk.assert_clean()

        statuses = [f["response"]["status"] for f in talk.frames("response.done")]
        assert statuses == ["cancelled", "completed"]
        assert delta_ms(
            [f for f in talk.frames("response.output_audio.delta") if f["item_id"] == first.item_id]
        ) < SyntheticVoice().duration_ms(LONG_ANSWER)
        history = talk.history()
        users = messages(history, "user")
        assert [type(u.content[0]) for u in users] == [InputText, InputAudio]
        cut, second = messages(history, "assistant")
        assert cut.item_id == first.item_id
        assert second.item_id != first.item_id
        assert transcript_of(second) == after
        assert audio_bytes(talk, second.item_id)
