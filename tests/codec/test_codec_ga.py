"""The GA codec: every real GA frame decodes, GA spellings map onto the shared classes,
and every event round-trips.

The round trip is over events in their canonical form (what decoding a GA frame can
give): GA has no ``temperature``, its ``["audio"]`` is ``("audio", "text")``, its format
objects are the format names, its ``output_text`` parts are ``text``, its session
``type`` ``"realtime"`` is ``None`` (and a transcription session writes no ``tracing: null``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import DATA
from support.strategies_codec import event_strategy

from rtstate import LocalProtocolError, RemoteProtocolError
from rtstate.codec import CODECS, beta, codec_for, ga
from rtstate.events import (
    CLIENT_EVENT_TYPES,
    GA_CLIENT_EVENT_TYPES,
    GA_SERVER_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    UNSET,
    ClientEvent,
    ContentPart,
    ConversationItemAdded,
    ConversationItemCreate,
    ConversationItemRetrieve,
    InputAudioTranscription,
    Item,
    ResponseContentPartAdded,
    ResponseCreate,
    ResponseInfo,
    ResponseParams,
    ResponseTextDelta,
    ServerEvent,
    SessionConfig,
    SessionCreated,
    SessionUpdate,
    TurnDetection,
    UnknownServerEvent,
)

CORPUS = DATA / "corpus" / "ga" / "pydantic-ai"
BOTH = sorted(CORPUS.rglob("*.both.jsonl"))
ALL_EVENT_TYPES: tuple[type[Any], ...] = (
    *CLIENT_EVENT_TYPES,
    *GA_CLIENT_EVENT_TYPES,
    *SERVER_EVENT_TYPES,
    *GA_SERVER_EVENT_TYPES,
)


def frames(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        wrapped = json.loads(line)
        out.append((wrapped["direction"], json.dumps(wrapped["event"])))
    return out


@pytest.mark.parametrize("path", BOTH, ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_corpus_frame_decodes_to_a_known_event(path: Path) -> None:
    for direction, frame in frames(path):
        if direction == "server":
            event: Any = ga.decode_server(frame)
            assert isinstance(event, ServerEvent), event
        else:
            event = ga.decode_client(frame)
            assert isinstance(event, ClientEvent), event
        # the frame GA encoding writes reads back as the same value
        decode = ga.decode_server if direction == "server" else ga.decode_client
        assert decode(ga.encode(event)) == event


def test_the_renamed_events_decode_to_the_beta_classes() -> None:
    for beta_type, ga_type in ga.RENAMED.items():
        assert ga.SERVER_TAGS[ga_type] is beta.SERVER_TAGS[beta_type]
        assert beta_type not in ga.SERVER_TAGS
    frame = {
        "type": "response.output_text.delta",
        "event_id": "event_1",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hi",
        "obfuscation": "cGp60YeLHWv9ws",
    }
    event = ga.decode_server(orjson.dumps(frame))
    assert event == ResponseTextDelta(
        event_id="event_1",
        response_id="resp_1",
        item_id="item_1",
        output_index=0,
        content_index=0,
        delta="Hi",
        obfuscation="cGp60YeLHWv9ws",
    )
    assert ga.to_wire(event) == frame
    # the beta spelling is unknown to GA, and the GA spelling to beta
    old = ga.decode_server(orjson.dumps({**frame, "type": "response.text.delta"}))
    assert isinstance(old, UnknownServerEvent)
    assert isinstance(beta.decode_server(orjson.dumps(frame)), UnknownServerEvent)


GA_SESSION = {
    "type": "realtime",
    "object": "realtime.session",
    "id": "sess_1",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "instructions": "Be brief.",
    "tools": [],
    "tool_choice": "auto",
    "max_output_tokens": "inf",
    "tracing": None,
    "truncation": "auto",
    "prompt": None,
    "expires_at": 1785217650,
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": {"model": "gpt-realtime-whisper", "language": None, "prompt": None},
            "noise_reduction": None,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
                "idle_timeout_ms": 5000,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin", "speed": 1.0},
    },
    "include": None,
}


def test_the_nested_session_is_the_flat_config() -> None:
    event = ga.decode_server(
        orjson.dumps({"type": "session.created", "event_id": "e", "session": GA_SESSION})
    )
    assert event == SessionCreated(
        event_id="e",
        session=SessionConfig(
            id="sess_1",
            object="realtime.session",
            model="gpt-realtime",
            expires_at=1785217650,
            modalities=("audio", "text"),
            instructions="Be brief.",
            voice="marin",
            input_audio_format="pcm16",
            output_audio_format="g711_ulaw",
            input_audio_transcription=InputAudioTranscription(model="gpt-realtime-whisper"),
            turn_detection=TurnDetection(
                threshold=0.5,
                prefix_padding_ms=300,
                silence_duration_ms=200,
                idle_timeout_ms=5000,
                create_response=True,
                interrupt_response=True,
            ),
            tools=(),
            tool_choice="auto",
            max_response_output_tokens="inf",
            input_audio_noise_reduction=None,
            speed=1.0,
            truncation="auto",
            tracing=None,  # null: tracing off (not UNSET, "not given")
        ),
    )
    wire = ga.to_wire(event)["session"]
    # a server event writes the nulls the real service writes: the same object again
    assert wire == GA_SESSION
    assert wire["type"] == "realtime"
    assert wire["output_modalities"] == ["audio"]
    assert wire["max_output_tokens"] == "inf"
    assert wire["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert wire["audio"]["output"] == {
        "format": {"type": "audio/pcmu"},
        "voice": "marin",
        "speed": 1.0,
    }
    assert not {"modalities", "voice", "input_audio_format", "turn_detection"} & set(wire)


def test_a_partial_update_writes_only_what_it_sets() -> None:
    assert ga.to_wire(SessionUpdate(session=SessionConfig(instructions="hi"))) == {
        "type": "session.update",
        "session": {"type": "realtime", "instructions": "hi"},
    }
    off = SessionUpdate(session=SessionConfig(turn_detection=None, voice="cedar"))
    assert ga.to_wire(off)["session"] == {
        "type": "realtime",
        "audio": {"input": {"turn_detection": None}, "output": {"voice": "cedar"}},
    }
    decoded = ga.decode_client(ga.encode(off))
    assert decoded == off
    assert isinstance(decoded, SessionUpdate)
    assert decoded.session.input_audio_transcription is UNSET


def test_response_objects_and_parameters() -> None:
    params = ResponseParams(
        modalities=("text",),
        voice="alloy",
        output_audio_format="g711_alaw",
        max_response_output_tokens=64,
    )
    assert ga.to_wire(ResponseCreate(response=params))["response"] == {
        "output_modalities": ["text"],
        "max_output_tokens": 64,
        "audio": {"output": {"voice": "alloy", "format": {"type": "audio/pcma"}}},
    }
    info = ga.decode_server(
        orjson.dumps(
            {
                "type": "response.created",
                "event_id": "e",
                "response": {
                    "object": "realtime.response",
                    "id": "resp_1",
                    "status": "in_progress",
                    "output": [],
                    "output_modalities": ["audio"],
                    "max_output_tokens": "inf",
                    "audio": {
                        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}
                    },
                },
            }
        )
    )
    assert info.response == ResponseInfo(  # type: ignore[union-attr]
        id="resp_1",
        object="realtime.response",
        status="in_progress",
        modalities=("audio", "text"),
        voice="alloy",
        output_audio_format="pcm16",
        max_output_tokens="inf",
    )


def test_assistant_content_is_output_text_in_items_only() -> None:
    item = Item(type="message", role="assistant", content=(ContentPart(type="text", text="Hello"),))
    create = ga.to_wire(ConversationItemCreate(item=item))
    assert create["item"]["content"] == [{"type": "output_text", "text": "Hello"}]
    assert ga.decode_client(orjson.dumps(create)) == ConversationItemCreate(item=item)
    added = ga.decode_server(
        orjson.dumps(
            {
                "type": "conversation.item.added",
                "event_id": "e",
                "previous_item_id": None,
                "item": {
                    "id": "i",
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_audio", "transcript": "Hi"}],
                },
            }
        )
    )
    assert isinstance(added, ConversationItemAdded)
    assert added.item.content == (ContentPart(type="audio", transcript="Hi"),)
    # content_part events keep "text"/"audio", as GA servers write them
    part = ResponseContentPartAdded(
        event_id="e",
        response_id="r",
        item_id="i",
        output_index=0,
        content_index=0,
        part=ContentPart(type="audio", transcript=""),
    )
    assert ga.to_wire(part)["part"] == {"type": "audio", "transcript": ""}


def test_temperature_cannot_be_sent_in_ga() -> None:
    with pytest.raises(LocalProtocolError, match="temperature"):
        ga.encode(SessionUpdate(session=SessionConfig(temperature=0.8)))
    with pytest.raises(LocalProtocolError, match="temperature"):
        ga.encode(ResponseCreate(response=ResponseParams(temperature=0.8)))
    # and is ignored when a frame carries it
    decoded = ga.decode_client('{"type":"session.update","session":{"temperature":1}}')
    assert decoded == SessionUpdate(session=SessionConfig())


def test_ga_only_events_are_not_beta_events() -> None:
    with pytest.raises(LocalProtocolError, match="not an event of the beta protocol"):
        beta.encode(ConversationItemRetrieve(item_id="i"))
    assert ga.encode(ConversationItemRetrieve(item_id="i")) == (
        '{"type":"conversation.item.retrieve","item_id":"i"}'
    )


def test_no_ga_event_is_left_unmodelled() -> None:
    # DTMF and the MCP events decode typed now (tests/test_ga_sdk_coverage.py checks
    # every type of the SDK's union); an unknown type still decodes as unknown
    assert frozenset() == ga.UNMODELLED_SERVER_TYPES
    assert ga.SERVER_TAGS["input_audio_buffer.dtmf_event_received"].__name__ == (
        "InputAudioBufferDtmfEventReceived"
    )
    event = ga.decode_server(orjson.dumps({"type": "x.y", "event_id": "e", "x": 1}))
    assert isinstance(event, UnknownServerEvent)
    assert event.type == "x.y" and event.event_id == "e"


def test_errors_name_the_ga_path() -> None:
    bad = {"type": "session.update", "session": {"audio": {"input": {"turn_detection": 5}}}}
    with pytest.raises(RemoteProtocolError) as info:
        ga.decode_client(orjson.dumps(bad))
    assert info.value.path == "session.audio.input.turn_detection"
    fmt = {"type": "session.update", "session": {"audio": {"output": {"format": 24000}}}}
    with pytest.raises(RemoteProtocolError, match="audio format"):
        ga.decode_client(orjson.dumps(fmt))


def test_the_codec_table() -> None:
    assert CODECS == {"beta": beta.CODEC, "ga": ga.CODEC}
    assert codec_for("ga") is ga.CODEC and codec_for("beta").name == "beta"
    with pytest.raises(ValueError, match="unknown dialect"):
        codec_for("v2")  # type: ignore[arg-type]


# --- round trips ---------------------------------------------------------------------

_FORMATS = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_MODALITIES: dict[Any, tuple[str, ...]] = {
    ("audio",): ("audio", "text"),
    ("text", "audio"): ("audio", "text"),
}
_PARTS = {"output_text": "text", "output_audio": "audio"}
_SETTINGS = (SessionConfig, ResponseInfo, ResponseParams)


def canonical(value: Any) -> Any:
    """``value`` as a GA frame can carry it (see the module docstring)."""
    if isinstance(value, tuple):
        return tuple(canonical(v) for v in value)
    if not attrs.has(type(value)):
        return value
    changes = {a.name: canonical(getattr(value, a.name)) for a in attrs.fields(type(value))}
    if isinstance(value, _SETTINGS):
        changes["temperature"] = None
        modalities = changes.get("modalities")
        changes["modalities"] = _MODALITIES.get(modalities, modalities)
        for name in ("input_audio_format", "output_audio_format"):
            if name in changes:
                changes[name] = _FORMATS.get(changes[name], changes[name])
    if isinstance(value, ContentPart):
        changes["type"] = _PARTS.get(value.type, value.type)
    if isinstance(value, SessionConfig) and value.type == "realtime":
        changes["type"] = None  # the default: decoded as None, as a beta session
    transcription = isinstance(value, SessionConfig) and value.type == "transcription"
    if transcription and value.tracing is None:  # a transcription session has no tracing
        changes["tracing"] = UNSET
    return attrs.evolve(value, **changes)


@pytest.mark.parametrize("cls", ALL_EVENT_TYPES, ids=lambda c: c.type)
@given(data=st.data())
def test_every_event_class_round_trips_in_ga(cls: type[Any], data: st.DataObject) -> None:
    event = canonical(data.draw(event_strategy(cls, "ga")))
    frame = ga.encode(event)
    wire = orjson.loads(frame)
    assert ga.SERVER_TAGS.get(wire["type"], ga.CLIENT_TAGS.get(wire["type"])) is cls
    decode = ga.decode_client if issubclass(cls, ClientEvent) else ga.decode_server
    decoded = decode(frame)
    assert type(decoded) is cls
    assert decoded == event
    assert ga.encode(decoded) == frame
