"""The beta codec under hostile input: only rtstate's own errors ever escape.

Decoding arbitrary JSON, arbitrary bytes and text, and valid frames with one thing broken
(a field dropped, mistyped or wrongly nested, a huge or deeply nested value, a missing or
non-string ``type``) either succeeds or raises ``RemoteProtocolError``, which names the
event type and field. Encoding an event holding values that are not wire-valid raises
``LocalProtocolError``; whatever encodes, decodes to the same value. The faults put into a
generated value of each event class (a field mistyped or dropped on the wire, any Python
value in any field on encode) are checked in the beta round-trip suite
(``test_codec_roundtrip.py``), which draws that value once for all its checks.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support import DATA
from support.codec_faults import NotJSON, drop_at, fault_path, set_at, wire_paths
from support.strategies_codec import event_strategy, json_objects, json_text, json_values

from rtstate import LocalProtocolError, RemoteProtocolError
from rtstate.codec import beta, ga
from rtstate.events import (
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    UNSET,
    ClientEvent,
    ContentPart,
    ConversationItemCreate,
    Error,
    ErrorInfo,
    InputAudioBufferAppend,
    Item,
    ResponseCreate,
    ResponseDone,
    ResponseInfo,
    ResponseParams,
    ResponseTextDelta,
    ServerEvent,
    SessionConfig,
    SessionUpdate,
    Tool,
    UnknownClientEvent,
    UnknownServerEvent,
)

ALL_EVENT_TYPES: tuple[type[ServerEvent | ClientEvent], ...] = (
    *CLIENT_EVENT_TYPES,
    *SERVER_EVENT_TYPES,
)
ALL_TAGS = sorted({*beta.SERVER_TAGS, *beta.CLIENT_TAGS})
DECODERS = {"server": beta.decode_server, "client": beta.decode_client}
EXCERPT_LIMIT = 120

Decoder = Callable[[str | bytes], object]


# --- helpers ---------------------------------------------------------------------------


def decode_or_reject(decode: Decoder, frame: str | bytes) -> object | RemoteProtocolError:
    """Decode ``frame``; return the error if it is a ``RemoteProtocolError``.

    Any other exception propagates and fails the test that called this.
    """
    try:
        return decode(frame)
    except RemoteProtocolError as exc:
        assert exc.excerpt is not None
        assert exc.excerpt or frame in ("", b"")
        assert len(exc.excerpt) <= EXCERPT_LIMIT
        assert isinstance(str(exc), str)
        return exc


def check_decode(frame: str | bytes) -> None:
    """Both decoders either decode ``frame`` or reject it with ``RemoteProtocolError``.

    When a decoder accepts a frame of a known type, the value is of the right class and
    encodes to a frame that decodes to the same value.
    """
    for direction, decode in DECODERS.items():
        result = decode_or_reject(decode, frame)
        if isinstance(result, RemoteProtocolError):
            continue
        assert isinstance(
            result, ServerEvent | ClientEvent | UnknownServerEvent | UnknownClientEvent
        )
        if isinstance(result, ServerEvent | ClientEvent):
            tags: Mapping[str, type] = (
                beta.SERVER_TAGS if direction == "server" else beta.CLIENT_TAGS
            )
            assert tags[type(result).type] is type(result)
            try:
                encoded = beta.encode(result)
            except LocalProtocolError as exc:
                # reading is lenient, sending is not: a client item field outside its
                # closed set decodes (a server reads what it is sent) but is refused
                # when encoded as a client event (CHECKED_ON_SEND)
                assert isinstance(result, ClientEvent) and "not one of" in exc.message
                assert exc.path is not None
                continue
            assert decode(encoded) == result


def nested(depth: int, leaf: Any = 1) -> Any:
    """A value ``depth`` levels deep, alternating objects and lists, an object outermost."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if (depth - level) % 2 else [value]
    return value


def _frames_from_corpus() -> list[tuple[str, dict[str, Any]]]:
    """(direction, object) of every known event in the beta captures."""
    root = DATA / "corpus" / "beta"
    out = []
    for path in sorted(root.rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            obj = orjson.loads(line)
            direction, event = (
                ("server", obj) if "direction" not in obj else (obj["direction"], obj["event"])
            )
            tags = beta.SERVER_TAGS if direction == "server" else beta.CLIENT_TAGS
            if event.get("type") in tags and "[Object]" not in line:
                out.append((direction, event))
    return out


CORPUS_FRAMES = _frames_from_corpus()


def _generated_frame(cls: type[Any]) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    direction = "client" if issubclass(cls, ClientEvent) else "server"
    return event_strategy(cls).map(lambda event: (direction, beta.to_wire(event)))


valid_frames: st.SearchStrategy[tuple[str, dict[str, Any]]] = st.one_of(
    st.sampled_from(CORPUS_FRAMES), *[_generated_frame(cls) for cls in ALL_EVENT_TYPES]
)
"""(direction, JSON object) of a valid frame: a real capture or a generated event."""

HUGE = "x" * 2_000_000

wrong_values: st.SearchStrategy[Any] = st.one_of(
    json_values,
    st.sampled_from(
        [{}, [], [{}], [[]], {"type": {}}, [None], "[Object]", "", 0, -1, 1.5, True, None]
    ),
    st.just(HUGE),
    st.lists(st.just(HUGE), min_size=1, max_size=2),
    st.integers(1, 200).map(nested),
    st.sampled_from([2**63 - 1, -(2**63), 2**64 - 1, 1e308, -1e-308]),
)
"""Values to put where they do not belong (never nested past what orjson can write)."""


# --- decoding: arbitrary input -----------------------------------------------------------


@given(json_values)
def test_arbitrary_json_values(value: Any) -> None:
    check_decode(orjson.dumps(value))


@given(st.dictionaries(json_text, json_values) | json_objects)
def test_arbitrary_json_objects(value: dict[str, Any]) -> None:
    check_decode(orjson.dumps(value))


field_names = sorted(
    {a.name for cls in ALL_EVENT_TYPES for a in attrs.fields(cls)}
    | {
        a.name
        for cls in (SessionConfig, Item, ContentPart, ResponseInfo, ResponseParams, Tool, ErrorInfo)
        for a in attrs.fields(cls)
    }
)
schema_like: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text
    | st.sampled_from(ALL_TAGS),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(field_names) | json_text, children, max_size=6)
    ),
    max_leaves=20,
)


@given(
    tag=st.sampled_from(ALL_TAGS),
    fields=st.dictionaries(st.sampled_from(field_names), schema_like, max_size=8),
)
def test_known_types_with_arbitrary_fields(tag: str, fields: dict[str, Any]) -> None:
    frame = {**fields, "type": tag}
    try:
        encoded = orjson.dumps(frame)
    except TypeError:  # an integer beyond 64 bits: not a frame anyone can send
        assume(False)
        raise
    check_decode(encoded)


@given(st.binary(max_size=300))
def test_arbitrary_bytes(frame: bytes) -> None:
    check_decode(frame)


@given(st.text(max_size=300))
def test_arbitrary_text_including_lone_surrogates(frame: str) -> None:
    check_decode(frame)


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\xff\xfe{}",
        b'{"type": "error", "event_id": "\xc3\x28"}',
        '{"type": "error", "event_id": "\ud800"}',
        "null",
        "[]",
        '"response.text.delta"',
        "{",
        '{"type": "error"} trailing',
        "NaN",
        '{"type": "session.created", "event_id": "e", "session": {"temperature": 1e400}}',
        '{"type": "session.created", "event_id": "e", "session": {"temperature": NaN}}',
    ],
)
def test_malformed_frames_are_remote_protocol_errors(frame: str | bytes) -> None:
    for decode in DECODERS.values():
        with pytest.raises(RemoteProtocolError) as info:
            decode(frame)
        assert info.value.excerpt is not None
        assert len(info.value.excerpt) <= EXCERPT_LIMIT


def test_invalid_utf8_names_the_frame_in_the_excerpt() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        beta.decode_server(b'{"type":"error","x":"\xff"}')
    assert info.value.excerpt is not None
    assert info.value.excerpt.startswith('{"type":"error"')
    assert "not valid JSON" in info.value.message


# --- decoding: one thing wrong in a valid frame -------------------------------------------


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frame=valid_frames, data=st.data())
def test_a_dropped_field_is_decoded_or_rejected(
    frame: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    direction, obj = frame
    obj = orjson.loads(orjson.dumps(obj))  # a private copy
    paths = [p for p in wire_paths(obj) if not isinstance(p[-1], int)]
    path = data.draw(st.sampled_from(paths))
    drop_at(obj, path)
    result = decode_or_reject(DECODERS[direction], orjson.dumps(obj))
    if path == ("type",):
        assert isinstance(result, RemoteProtocolError)
        assert result.path == "type"
    elif isinstance(result, RemoteProtocolError):
        assert result.event_type == obj["type"]
        assert result.path == fault_path(path)
        if "tool_choice" not in path:
            assert "missing" in result.message
    check_decode(orjson.dumps(obj))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(frame=valid_frames, data=st.data(), new=wrong_values)
def test_a_wrong_value_anywhere_is_decoded_or_rejected(
    frame: tuple[str, dict[str, Any]], data: st.DataObject, new: Any
) -> None:
    direction, obj = frame
    obj = orjson.loads(orjson.dumps(obj))
    path = data.draw(st.sampled_from(list(wire_paths(obj))))
    set_at(obj, path, new)
    result = decode_or_reject(DECODERS[direction], orjson.dumps(obj))
    if isinstance(result, RemoteProtocolError) and path != ("type",):
        assert result.event_type == obj["type"]
        assert result.path is not None
        # The fault is at the replaced value or inside it.
        assert result.path == fault_path(path) or result.path.startswith(fault_path(path))
    check_decode(orjson.dumps(obj))


def test_a_client_item_outside_its_sets_decodes_but_does_not_encode_again() -> None:
    """Found by the fuzzer: the decoders read any string where a client item's field has
    a closed set (as a server must, to answer with an error), but the codec refuses to
    send such an item, naming the field."""
    frame = orjson.dumps(
        {"type": "conversation.item.create", "item": {"type": "x" * 40, "role": "user"}}
    )
    for codec in (beta, ga):
        event = codec.decode_client(frame)
        assert event.item.type == "x" * 40
        with pytest.raises(LocalProtocolError, match="not one of") as info:
            codec.encode(event)
        assert info.value.path == "item.type"
    check_decode(frame)


def test_missing_required_field_message() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        beta.decode_server(
            '{"type":"response.text.delta","event_id":"e","response_id":"r",'
            '"item_id":"i","output_index":0,"content_index":0}'
        )
    assert info.value.path == "delta"
    assert info.value.event_type == "response.text.delta"
    assert "missing" in info.value.message
    assert "missing" in str(info.value)


def test_nested_missing_field_names_the_full_path() -> None:
    frame = {
        "type": "session.update",
        "session": {"tools": [{"name": "ok"}, {"type": "function", "description": "no name"}]},
    }
    with pytest.raises(RemoteProtocolError) as info:
        beta.decode_client(orjson.dumps(frame))
    assert info.value.path == "session.tools[1].name"
    assert "missing" in info.value.message


@pytest.mark.parametrize("bad_type", [None, 5, 1.5, True, [], {}, ["error"]])
def test_type_missing_or_not_a_string(bad_type: Any) -> None:
    frames = [{"event_id": "e"}, {"type": bad_type, "event_id": "e"}]
    for frame in frames:
        for decode in DECODERS.values():
            with pytest.raises(RemoteProtocolError) as info:
                decode(orjson.dumps(frame))
            assert info.value.path == "type"
            assert info.value.event_type is None


def test_huge_strings_decode_and_errors_stay_short() -> None:
    audio = "A" * 16_000_000
    delta = {
        "type": "response.audio.delta",
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "delta": audio,
    }
    decoded = beta.decode_server(orjson.dumps(delta))
    assert isinstance(decoded, ServerEvent)
    assert getattr(decoded, "delta") == audio  # noqa: B009
    with pytest.raises(RemoteProtocolError) as info:
        beta.decode_server(orjson.dumps({**delta, "output_index": audio}))
    assert info.value.path == "output_index"
    assert len(str(info.value)) < 1000


def test_deep_nesting() -> None:
    """Nesting orjson reads is fine in free-form fields and an error elsewhere; past its
    limit the frame is rejected. Only RemoteProtocolError either way."""
    ok = {"type": "response.create", "response": {"metadata": nested(300)}}
    decoded = beta.decode_client(_dumps_deep(ok))
    assert isinstance(decoded, ResponseCreate)
    assert decoded.response is not None
    assert decoded.response.metadata == nested(300)

    misplaced = {"type": "response.create", "response": {"instructions": nested(300)}}
    with pytest.raises(RemoteProtocolError) as info:
        beta.decode_client(_dumps_deep(misplaced))
    assert info.value.path == "response.instructions"

    too_deep = '{"type":"response.create","response":{"metadata":' + "[" * 5000 + "]" * 5000 + "}}"
    with pytest.raises(RemoteProtocolError):
        beta.decode_client(too_deep)


def _dumps_deep(value: Any) -> str:
    """JSON text for values nested deeper than orjson.dumps allows (it reads 1024 levels)."""
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{orjson.dumps(k).decode()}:{_dumps_deep(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ",".join(_dumps_deep(v) for v in value) + "]"
    return orjson.dumps(value).decode()


def test_a_decoded_value_too_deep_to_write_is_a_local_error_on_encode() -> None:
    """orjson reads 1024 levels but writes 254: such an event decodes, and encoding it
    again is refused with LocalProtocolError (not a crash, not a silent change)."""
    decoded = beta.decode_client(
        _dumps_deep({"type": "response.create", "response": {"metadata": nested(300)}})
    )
    with pytest.raises(LocalProtocolError):
        beta.encode(decoded)


# --- encoding: values that are not wire-valid ---------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        InputAudioBufferAppend(audio=123),  # type: ignore[arg-type]
        InputAudioBufferAppend(audio=b"raw bytes"),  # type: ignore[arg-type]
        InputAudioBufferAppend(audio="\ud800"),
        ConversationItemCreate(item=Item(type="message", content=[1, 2])),  # type: ignore[arg-type]
        ConversationItemCreate(item=Item(type="message", content=(ContentPart(type="x"), 3))),  # type: ignore[arg-type]
        ConversationItemCreate(item={"type": "message"}),  # type: ignore[arg-type]
        ConversationItemCreate(item=None),  # type: ignore[arg-type]
        ResponseCreate(response=ResponseParams(metadata={"k": NotJSON()})),
        ResponseCreate(response=ResponseParams(metadata={"k": [1, {2: 3}]})),
        ResponseCreate(response=ResponseParams(metadata={1: "int key"})),  # type: ignore[dict-item]
        ResponseCreate(response=ResponseParams(metadata={"k": float("nan")})),
        ResponseCreate(response=ResponseParams(metadata={"k": float("inf")})),
        ResponseCreate(response=ResponseParams(metadata={"k": 2**64})),
        ResponseCreate(response=ResponseParams(metadata={"k": {1, 2}})),
        ResponseCreate(response=ResponseParams(metadata=["not", "an", "object"])),  # type: ignore[arg-type]
        ResponseCreate(response=ResponseParams(voice={"name": float("nan")})),
        ResponseCreate(response=ResponseParams(max_response_output_tokens="Inf")),  # type: ignore[arg-type]
        ResponseCreate(response=ResponseParams(max_response_output_tokens=True)),
        ResponseCreate(response=ResponseParams(tool_choice=5)),  # type: ignore[arg-type]
        ResponseCreate(event_id=5),  # type: ignore[arg-type]
        SessionUpdate(session=SessionConfig(modalities="text")),  # type: ignore[arg-type]
        SessionUpdate(session=SessionConfig(modalities=frozenset({"text"}))),  # type: ignore[arg-type]
        SessionUpdate(session=SessionConfig(tools=Tool(name="f"))),  # type: ignore[arg-type]
        SessionUpdate(session=SessionConfig(temperature=float("nan"))),
        SessionUpdate(session=SessionConfig(temperature=True)),
        SessionUpdate(session=SessionConfig(temperature="0.8")),  # type: ignore[arg-type]
        SessionUpdate(session=SessionConfig(expires_at=2**70)),
        SessionUpdate(session=SessionConfig(instructions=UNSET)),  # type: ignore[arg-type]
        SessionUpdate(session=SessionConfig(tools=(Tool(name="f", parameters={"a": NotJSON()}),))),
        UnknownClientEvent(type="x.y", raw={"type": "x.y", "v": NotJSON()}),
    ],
    ids=lambda e: repr(e)[:60],
)
def test_invalid_events_are_local_protocol_errors(event: Any) -> None:
    with pytest.raises(LocalProtocolError) as info:
        beta.encode(event)
    assert info.value.event_type == event.type


@pytest.mark.parametrize(
    "thing",
    [
        SessionConfig(),
        Item(type="message"),
        None,
        {"type": "response.create"},
        "response.create",
        5,
    ],
    ids=repr,
)
def test_encoding_something_that_is_not_an_event(thing: Any) -> None:
    with pytest.raises(LocalProtocolError):
        beta.encode(thing)


def test_an_event_subclass_outside_the_protocol_is_refused() -> None:
    @attrs.frozen(kw_only=True)
    class Custom(ClientEvent):
        type: typing.ClassVar[str] = "custom.event"

    with pytest.raises(LocalProtocolError):
        beta.encode(Custom())


def test_unknown_events_encode_their_raw_object() -> None:
    raw: dict[str, Any] = {"type": "conversation.item.done", "event_id": "e", "item": {"id": "i"}}
    assert orjson.loads(beta.encode(UnknownServerEvent(type=raw["type"], raw=raw))) == raw


def test_valid_events_of_every_shape_encode() -> None:
    """The invalid cases above are invalid for the reason given, not by accident."""
    events: list[Any] = [
        InputAudioBufferAppend(audio="AAAA"),
        ConversationItemCreate(item=Item(type="message", content=(ContentPart(type="text"),))),
        ResponseCreate(response=ResponseParams(metadata={"k": [1, {"2": 3}], "f": 1.5})),
        ResponseCreate(
            response=ResponseParams(max_response_output_tokens="inf", tool_choice="auto")
        ),
        SessionUpdate(
            session=SessionConfig(modalities=("text",), temperature=0.8, expires_at=2**62)
        ),
        Error(event_id="e", error=ErrorInfo(message="m")),
        ResponseDone(event_id="e", response=ResponseInfo(id="r")),
        ResponseTextDelta(
            event_id="e", response_id="r", item_id="i", output_index=0, content_index=0, delta="d"
        ),
    ]
    for event in events:
        frame = beta.encode(event)
        decode = beta.decode_client if isinstance(event, ClientEvent) else beta.decode_server
        assert decode(frame) == event
