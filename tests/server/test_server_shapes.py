"""The fake server's frames carry every key the real service writes.

For each event type in the real captures (``tests/data/corpus``: GA from OpenAI, Azure
OpenAI and a gateway; beta from OpenAI and Azure Voice Live), the key paths the
captures carry are computed from the files at test time, and the fake server
(``ServerConnection``, sans-IO, in that dialect) is driven through scenarios that make
it send that event type; every capture key path must be in its frames.

Key paths: nested object keys joined by ``.``, list elements merged under ``[]``
(``response.output[].content[].transcript``). The inside of free-form values is not
part of the shape: a tool's ``parameters`` (a JSON schema the client wrote) and
``metadata`` (the client's own keys, or the service's ``request_id``) count as one key
each. What a fake WebSocket server cannot or should not write is listed below with the
reason (``NOT_PRODUCED``, ``PROVIDER_ONLY``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
from support import DATA
from support.server_harness import Loop, silence, tone

from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events.payloads import (
    ContentPart,
    ErrorInfo,
    InputAudioTranscription,
    Item,
    ResponseParams,
    SessionConfig,
    Tool,
)
from rtstate.server import ScriptedResponder, ServerConfig
from rtstate.server.responders import FunctionCall, Message

CORPUS: Final = DATA / "corpus"

FREE_FORM: Final = frozenset({"parameters", "metadata"})
"""Keys whose values are free-form JSON: their inside is not a shape."""

NOT_PRODUCED: Final[Mapping[Dialect, Mapping[str, str]]] = {
    "ga": {
        "output_audio_buffer.started": "WebRTC/SIP only: the server plays the audio itself "
        "(the capture is the sideband of a WebRTC call); a WebSocket client plays it",
        "output_audio_buffer.stopped": "WebRTC/SIP only, as output_audio_buffer.started",
    },
    "beta": {
        "conversation.item.done": "Azure Voice Live extra (corpus README); the beta "
        "protocol announces an item once, with conversation.item.created",
        "conversation.item.input_audio_transcription.delta": "Azure Voice Live extra "
        "(corpus README); rtstate's beta dialect is the 2024-10-01 protocol, where a "
        "transcript arrives whole in .completed",
    },
}
"""Event types of the captures the fake server does not send, and why."""

_AZURE_SESSION: Final = (
    "animation",
    "avatar",
    "greeting",
    "handoff",
    "include",
    "input_audio_echo_cancellation",
    "input_audio_sampling_rate",
    "output_audio_timestamp_types",
    "truncation_strategy",
    "turn_detection.appended_text_after_truncation",
    "turn_detection.auto_truncate",
    "turn_detection.end_of_utterance_detection",
    "turn_detection.idle_timeout_ms",
    "turn_detection.speech_duration_ms",
    "voice.name",
    "voice.type",
)

PROVIDER_ONLY: Final[Mapping[Dialect, Mapping[str, frozenset[str]]]] = {
    "ga": {
        # Azure OpenAI repeats the part under a second key; OpenAI does not
        kind: frozenset({"content", "content.text", "content.transcript", "content.type"})
        for kind in ("response.content_part.added", "response.content_part.done")
    },
    "beta": {
        # Azure Voice Live's own session settings and voice objects ({"name", "type"});
        # the OpenAI beta session (openai-python's beta Session model) has none of them
        "session.created": frozenset(f"session.{path}" for path in _AZURE_SESSION),
        "session.updated": frozenset(
            f"session.{path}"
            for path in (
                *_AZURE_SESSION,
                "input_audio_transcription.custom_speech",
                "input_audio_transcription.phrase_list",
            )
        ),
        **{
            kind: frozenset({"response.voice.name", "response.voice.type"})
            for kind in ("response.created", "response.done")
        },
    },
}
"""Key paths only one provider writes, by dialect and event type."""

# --- key paths ---------------------------------------------------------------------------


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value (see the module docstring)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}.{key}" if prefix else key
            found.add(path)
            if key not in FREE_FORM:
                found |= key_paths(inner, path)
    elif isinstance(value, list):
        for inner in value:
            found |= key_paths(inner, prefix + "[]")
    return found


def shapes(events: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Event type -> the union of its key paths."""
    found: dict[str, set[str]] = {}
    for event in events:
        found.setdefault(event["type"], set()).update(key_paths(event))
    return found


def _capture_files(dialect: Dialect) -> list[Path]:
    if dialect == "ga":
        return sorted((CORPUS / "ga").rglob("*.server.jsonl"))
    beta = CORPUS / "beta"
    return [beta / "liusida-text-response.jsonl", *sorted(beta.rglob("*.server.jsonl"))]


def capture_events(dialect: Dialect) -> Iterator[dict[str, Any]]:
    for path in _capture_files(dialect):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield json.loads(line)


CAPTURED: Final = {dialect: shapes(capture_events(dialect)) for dialect in ("ga", "beta")}


# --- scenarios ---------------------------------------------------------------------------

WEATHER: Final = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


class _FailingTranscriber:
    def transcribe(self, audio: bytes, audio_format: str, model: str | None) -> ErrorInfo:
        return ErrorInfo(type="server_error", code="transcription_failed", message="no")


def _loop(dialect: Dialect, model: str, **args: Any) -> Loop:
    config = ServerConfig(model=model)
    return Loop(dialect=dialect, config=config, **args).start()


def _update(loop: Loop, **settings: Any) -> None:
    loop.send(c.SessionUpdate(session=SessionConfig(**settings)))


def _user_text(loop: Loop, text: str) -> None:
    part = ContentPart(type="input_text", text=text)
    loop.send(c.ConversationItemCreate(item=Item(type="message", role="user", content=(part,))))


def tool_round(dialect: Dialect, model: str) -> Loop:
    """History seeding, a text answer that calls a tool, its output, the final answer,
    then a spoken answer."""
    responder = ScriptedResponder(
        [
            [Message(text="Let me check."), FunctionCall(name="get_weather", arguments="{}")],
            "It is sunny in Paris.",
            "Hello there.",
        ]
    )
    loop = _loop(dialect, model, responder=responder)
    _update(loop, instructions="Be brief.", tools=(WEATHER,), tool_choice="auto")
    said = ContentPart(type="text", text="Hi, how can I help?")
    loop.send(
        c.ConversationItemCreate(item=Item(type="message", role="assistant", content=(said,)))
    )
    _user_text(loop, "Weather in Paris?")
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    call = next(e for e in loop.server.state.items if e.type == "function_call")
    output = Item(type="function_call_output", call_id=call.call_id, output="sunny")
    loop.send(c.ConversationItemCreate(item=output))
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    loop.send(c.ResponseCreate())
    loop.check()
    return loop


def spoken_turn(dialect: Dialect, model: str, transcription: str) -> Loop:
    """A spoken turn under server VAD, transcribed, answered in audio."""
    loop = _loop(dialect, model, responder=ScriptedResponder(["Nice to meet you."]))
    _update(loop, input_audio_transcription=InputAudioTranscription(model=transcription))
    loop.append(silence(300) + tone(800) + silence(900))
    loop.drain()
    loop.check()
    return loop


def failed_transcription(dialect: Dialect, model: str) -> Loop:
    loop = _loop(dialect, model, transcriber=_FailingTranscriber())
    _update(loop, input_audio_transcription=InputAudioTranscription(model="whisper-1"))
    loop.append(silence(300) + tone(800) + silence(900))
    loop.drain()
    loop.check()
    return loop


SCENARIOS: Final[Mapping[Dialect, tuple[Callable[[], Loop], ...]]] = {
    "ga": (
        lambda: tool_round("ga", "gpt-realtime"),
        # a reasoning model: assistant messages carry ``phase``, usage ``reasoning_tokens``
        lambda: tool_round("ga", "gpt-realtime-2.1"),
        lambda: spoken_turn("ga", "gpt-realtime", "gpt-realtime-whisper"),
        lambda: spoken_turn("ga", "gpt-realtime", "gpt-4o-transcribe"),
        lambda: failed_transcription("ga", "gpt-realtime"),
    ),
    "beta": (
        lambda: tool_round("beta", "gpt-4o-realtime-preview-2024-10-01"),
        # Azure's beta captures write reasoning_tokens: the fake writes them for a
        # reasoning model, as OpenAI does (GA capture openai-current)
        lambda: tool_round("beta", "gpt-realtime-2.1"),
        lambda: spoken_turn("beta", "gpt-4o-realtime-preview-2024-10-01", "whisper-1"),
    ),
}


@pytest.fixture(scope="module", params=["ga", "beta"])
def produced(request: pytest.FixtureRequest) -> tuple[Dialect, dict[str, set[str]]]:
    """The fake server's key paths, per event type, over every scenario of a dialect."""
    dialect: Dialect = request.param
    frames = [orjson.loads(f) for make in SCENARIOS[dialect] for f in make().frames]
    return dialect, shapes(frames)


# --- the checks --------------------------------------------------------------------------


def missing_paths(dialect: Dialect, made: Mapping[str, set[str]]) -> dict[str, list[str]]:
    """Event type -> the capture key paths the fake server's frames lack (beyond the
    listed exceptions)."""
    missing: dict[str, list[str]] = {}
    for kind, paths in CAPTURED[dialect].items():
        if kind in NOT_PRODUCED[dialect]:
            continue
        allowed = PROVIDER_ONLY[dialect].get(kind, frozenset())
        lacking = sorted(paths - made.get(kind, set()) - allowed)
        if lacking:
            missing[kind] = lacking
    return missing


def test_every_captured_event_type_is_sent_with_every_captured_key(
    produced: tuple[Dialect, dict[str, set[str]]],
) -> None:
    dialect, made = produced
    assert missing_paths(dialect, made) == {}


def test_the_exceptions_are_real_and_needed(
    produced: tuple[Dialect, dict[str, set[str]]],
) -> None:
    """Each listed exception names an event type / key path the captures carry and the
    fake server does not write (a stale entry fails)."""
    dialect, made = produced
    captured = CAPTURED[dialect]
    for kind in NOT_PRODUCED[dialect]:
        assert kind in captured, kind
        assert kind not in made, kind
    for kind, paths in PROVIDER_ONLY[dialect].items():
        assert paths <= captured[kind], (kind, paths - captured[kind])
        assert not paths & made.get(kind, set()), (kind, paths & made.get(kind, set()))


def test_the_captures_cover_both_dialects() -> None:
    """The check is not vacuous: the corpora hold the event types it is about."""
    assert {"session.created", "response.done", "conversation.item.added"} <= set(CAPTURED["ga"])
    assert {"session.created", "response.done", "conversation.item.created"} <= set(
        CAPTURED["beta"]
    )
    assert "response.output[].content[].transcript" in CAPTURED["ga"]["response.done"]


def test_key_paths_merge_list_elements_and_skip_free_form_values() -> None:
    event = {
        "a": {"b": None, "metadata": {"x": 1}},
        "list": [{"p": 1}, {"q": {"r": 2}}],
        "tools": [{"parameters": {"type": "object"}}],
    }
    assert key_paths(event) == {
        "a",
        "a.b",
        "a.metadata",
        "list",
        "list[].p",
        "list[].q",
        "list[].q.r",
        "tools",
        "tools[].parameters",
    }
