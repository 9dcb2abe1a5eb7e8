"""The typed decoders (``rtstate.codec._typed``) against the reference decode, both dialects.

Every codec's ``decode_server`` / ``decode_client`` is the typed decoder; the reference is
``reference_decode_server`` / ``reference_decode_client`` (orjson, then the strict cattrs
converter). On every frame the two give equal values of the same classes (with the same
``repr``, so an ``int`` never stands in for a ``float``), or raise the same error with the
same message and path: over generated events of every class, those events with one field
dropped or replaced on the wire, arbitrary objects under every known ``type``, the real
captures in ``tests/data/corpus``, and the corners where msgspec and orjson read JSON
differently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support import CORPUS
from support.codec_faults import drop_at, set_at, wire_paths
from support.strategies_codec import event_strategy, json_objects, json_values

from rtstate import LocalProtocolError
from rtstate._build import writable_subclass
from rtstate.codec import _typed, beta, ga
from rtstate.codec._dialect import Codec
from rtstate.events import UnknownClientEvent, UnknownServerEvent
from rtstate.events.payloads import Item

CODECS: dict[str, Codec] = {"beta": beta.CODEC, "ga": ga.CODEC}
Decode = Callable[[str | bytes], Any]


def outcome(decode: Decode, frame: str | bytes) -> tuple[Any, ...]:
    """What a decode makes of ``frame``: its value (with class and repr), or its error."""
    try:
        value = decode(frame)
    except Exception as exc:
        return ("error", type(exc), str(exc), getattr(exc, "path", None))
    return ("value", type(value), value, repr(value))


def decoders(codec: Codec, direction: str) -> tuple[Decode, Decode]:
    """(typed, reference) decode of one direction of a codec."""
    if direction == "server":
        assert codec.reference_decode_server is not None
        return codec.decode_server, codec.reference_decode_server
    assert codec.reference_decode_client is not None
    return codec.decode_client, codec.reference_decode_client


def assert_same(codec: Codec, direction: str, frame: str | bytes) -> tuple[Any, ...]:
    typed, reference = decoders(codec, direction)
    expected = outcome(reference, frame)
    assert outcome(typed, frame) == expected, frame
    return expected


def test_every_codec_decodes_through_a_typed_decoder() -> None:
    for codec in CODECS.values():
        assert codec.decode_server is not codec.reference_decode_server
        assert codec.decode_client is not codec.reference_decode_client
        assert codec.decode_server.__name__ == "decode_server"


def _classes(direction: str) -> list[tuple[str, type]]:
    return sorted(
        {
            (name, cls)
            for name, codec in CODECS.items()
            for cls in (codec.server_tags if direction == "server" else codec.client_tags).values()
        },
        key=lambda pair: (pair[0], pair[1].__name__),
    )


def _wire(codec: Codec, event: Any) -> dict[str, Any]:
    try:
        return codec.to_wire(event)
    except LocalProtocolError:  # a value this dialect cannot write (GA: temperature)
        assume(False)
        raise


@pytest.mark.parametrize("direction", ["server", "client"])
@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_generated_events_decode_as_the_reference_does(direction: str, data: st.DataObject) -> None:
    dialect, cls = data.draw(st.sampled_from(_classes(direction)))
    codec = CODECS[dialect]
    obj = _wire(codec, data.draw(event_strategy(cls, dialect)))
    frame = orjson.dumps(obj)
    kind, decoded_cls, *_ = assert_same(codec, direction, frame)
    assert kind == "value" and decoded_cls is cls
    assert_same(codec, direction, frame.decode())
    # one field broken on the wire: dropped, or any JSON value in its place
    paths = list(wire_paths(obj))
    assume(paths)
    path = data.draw(st.sampled_from(paths))
    broken = json.loads(frame)
    if data.draw(st.booleans()):
        drop_at(broken, path)
    else:
        set_at(broken, path, data.draw(json_values))
    assert_same(codec, direction, json.dumps(broken))


@pytest.mark.parametrize("dialect", ["ga", "beta"])
@given(data=st.data(), fields=json_objects)
def test_any_object_under_a_known_type_decodes_as_the_reference_does(
    dialect: str, data: st.DataObject, fields: dict[str, Any]
) -> None:
    codec = CODECS[dialect]
    direction = data.draw(st.sampled_from(["server", "client"]))
    tags = codec.server_tags if direction == "server" else codec.client_tags
    tag = data.draw(st.sampled_from(sorted(tags)))
    assert_same(codec, direction, json.dumps({**fields, "type": tag}))


@pytest.mark.parametrize("dialect", ["ga", "beta"])
@given(value=json_values)
def test_any_json_decodes_as_the_reference_does(dialect: str, value: Any) -> None:
    assert_same(CODECS[dialect], "server", json.dumps(value))


def _corpus_frames() -> list[tuple[str, str, str]]:
    """(dialect, direction, text) of every captured frame."""
    out = []
    for path in sorted(CORPUS.rglob("*.jsonl")):
        dialect = "beta" if "beta" in path.relative_to(CORPUS).parts[0] else "ga"
        for line in path.read_text(encoding="utf-8").splitlines():
            if path.name.endswith(".both.jsonl"):
                record = json.loads(line)
                out.append((dialect, record["direction"], json.dumps(record["event"])))
            else:
                out.append((dialect, "server", line))
    return out


def test_the_corpus_decodes_as_the_reference_does() -> None:
    frames = _corpus_frames()
    assert len({d for d, _, _ in frames}) == 2 and len(frames) > 500
    values = 0
    for dialect, direction, text in frames:
        # in its own dialect, and in the other one (unknown types, other shapes)
        for codec in (CODECS[dialect], CODECS["beta" if dialect == "ga" else "ga"]):
            for frame in (text, text.encode()):
                kind, cls, *_ = assert_same(codec, direction, frame)
                values += kind == "value" and cls is not UnknownServerEvent
    assert values > 1_000


DELTA = {
    "type": "response.text.delta",
    "event_id": "e1",
    "response_id": "r1",
    "item_id": "i1",
    "output_index": 0,
    "content_index": 0,
    "delta": "hi",
}


@pytest.mark.parametrize(
    "frame",
    [
        # integers beyond int64: orjson reads past uint64 as a float, msgspec as an int
        orjson.dumps(DELTA).replace(b'"output_index":0', b'"output_index":18446744073709551615'),
        orjson.dumps(DELTA).replace(b'"output_index":0', b'"output_index":18446744073709551616'),
        orjson.dumps(DELTA).replace(b'"output_index":0', b'"output_index":-9223372036854775809'),
        orjson.dumps(DELTA).replace(b'"output_index":0', b'"output_index":1.0'),
        orjson.dumps(DELTA).replace(b'"output_index":0', b'"output_index":true'),
        orjson.dumps(DELTA).replace(b'"output_index":0', b'"output_index":1e400'),
        # a key twice: the last one counts, for the type too
        orjson.dumps(DELTA)[:-1] + b',"delta":"again"}',
        orjson.dumps(DELTA)[:-1] + b',"type":"response.text.done","text":"t"}',
        orjson.dumps(DELTA)[:-1] + b',"type":"no.such.type"}',
        orjson.dumps(DELTA).replace(b'"hi"', b'"\\ud800"'),
        orjson.dumps(DELTA).replace(b'"hi"', b'"\x01"'),
        orjson.dumps(DELTA).replace(b'"hi"', b'"\xff"'),
        orjson.dumps(DELTA).replace(b'"hi"', b"null"),
        # bad UTF-8 or a control character where msgspec skips (unknown fields) or keeps
        # raw JSON (metadata): orjson refuses the whole frame
        orjson.dumps(DELTA)[:-1] + b',"junk":"\xff"}',
        orjson.dumps(DELTA)[:-1] + b',"junk":{"a":["\xed\xa0\x80"]}}',
        orjson.dumps(DELTA)[:-1] + b',"junk":"\x01"}',
        orjson.dumps(DELTA)[:-1] + b',"junk":"\\ud800"}',
        orjson.dumps({**DELTA, "delta": "ü"})[:-1] + b',"junk":"\xc3"}',
        orjson.dumps({**DELTA, "delta": "ü"}),
        b'{"type":"response.done","event_id":"e","response":{"id":"r","metadata":{"n":"\xff"}}}',
        orjson.dumps({k: v for k, v in DELTA.items() if k != "delta"}),
        orjson.dumps({**DELTA, "obfuscation": None}),
        orjson.dumps({**DELTA, "obfuscation": 5}),
        b'{"type":"rate_limits.updated","event_id":"e","rate_limits":[{"name":"r",'
        b'"limit":1,"remaining":2,"reset_seconds":3}]}',
        b'{"type":"rate_limits.updated","event_id":"e","rate_limits":[{"name":"r",'
        b'"limit":1,"remaining":2,"reset_seconds":1e308}]}',
        b'{"type":"rate_limits.updated","event_id":"e","rate_limits":{}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","metadata":'
        b'{"n":99999999999999999999}}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","status_details":null}}',
        # classes msgspec fills itself (Usage and its details): their integers checked
        # against int64 after the read, nulls and absent fields alike
        b'{"type":"response.done","event_id":"e","response":{"id":"r","usage":'
        b'{"total_tokens":9223372036854775808}}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","usage":'
        b'{"input_tokens":-9223372036854775809}}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","usage":'
        b'{"input_token_details":{"cached_tokens_details":{"text_tokens":18446744073709551615}}}}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","usage":'
        b'{"output_token_details":{"audio_tokens":9223372036854775807,"text_tokens":null}}}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","usage":'
        b'{"total_tokens":true,"input_tokens":1.0}}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","usage":'
        b'{"total_tokens":1,"input_token_details":[]}}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","usage":null}}',
        # a raw field's null is read without parsing it; around it, the reference's read
        b'{"type":"response.done","event_id":"e","response":{"id":"r","metadata": null ,'
        b'"max_output_tokens":null}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","metadata":nul}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","metadata":"null"}}',
        b'{"type":"response.done","event_id":"e","response":{"id":"r","max_output_tokens":"inf"}}',
        b'{"type":"conversation.item.added","event_id":"e","item":{"type":"mcp_call",'
        b'"id":"i","error":null,"tools":[null]}}',
        b"[]",
        b"",
        b'{"type":5}',
        b'{"event_id":"e"}',
    ],
)
@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_where_msgspec_and_orjson_differ_the_reference_wins(frame: bytes, dialect: str) -> None:
    codec = CODECS[dialect]
    assert_same(codec, "server", frame)
    assert_same(codec, "server", frame.decode("utf-8", errors="surrogateescape"))


def test_a_ga_session_and_response_decode_as_the_reference_does() -> None:
    path = CORPUS / "ga" / "pydantic-ai" / "test_openai_ws" / "test_tool_call_round.server.jsonl"
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    kinds = set()
    for line in lines:
        kind, cls, *_ = assert_same(ga.CODEC, "server", line)
        assert kind == "value"
        kinds.add(cls.__name__)
        assert attrs.has(cls)
    assert {"SessionCreated", "ResponseDone", "ResponseFunctionCallArgumentsDelta"} <= kinds


def test_frames_are_written_type_first() -> None:
    # as the real service writes them: msgspec then reads the tagged union in one pass
    for codec in CODECS.values():
        frame = codec.encode(UnknownServerEvent(type="x", raw={"a": 1, "type": "x"}))
        assert frame == '{"a":1,"type":"x"}'  # an unknown event keeps its raw object
    delta = orjson.dumps(DELTA).decode()
    assert beta.encode(beta.decode_server(delta)) == delta
    assert ga.encode(beta.decode_server(delta)).startswith('{"type":"response.output_text.delta",')


@pytest.mark.parametrize("dialect", ["beta", "ga"])
@pytest.mark.parametrize("role", ["user", "usr"])  # in the closed set, and outside it
def test_closed_set_fields_are_read_as_strings_in_the_typed_pass(
    dialect: str, role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An item's ``type`` / ``role`` / ``status`` and a part's ``type`` are ``Literal``
    sets that decode as any string: the typed pass reads them as ``str``, never as raw
    JSON handed to orjson and the reference's hook (a second parse of every item)."""
    reads: list[bytes] = []

    def counting_loads(raw: bytes) -> Any:
        reads.append(raw)
        return real(raw)

    real = _typed._loads
    monkeypatch.setattr(_typed, "_loads", counting_loads)
    part = {"type": "input_text", "text": "hi"}
    item: dict[str, Any] = {"id": "item_1", "type": "message", "status": "completed"}
    item.update(role=role, content=[part])
    tag = "conversation.item.added" if dialect == "ga" else "conversation.item.created"
    frame = orjson.dumps({"type": tag, "event_id": "e1", "previous_item_id": None, "item": item})
    assert assert_same(CODECS[dialect], "server", frame)[2].item.role == role
    assert reads == []


def _values(value: Any) -> Any:
    """Every attrs value inside ``value`` (itself included), depth first."""
    if attrs.has(type(value)):
        yield value
        for field in attrs.fields(type(value)):
            yield from _values(getattr(value, field.name))
    elif isinstance(value, tuple):
        for element in value:
            yield from _values(element)


def test_built_values_have_their_own_frozen_class() -> None:
    """The builders fill a writable subclass and then give the object its class
    (``_typed._writable``): no value, nested ones included, keeps the subclass, and
    every one is frozen again."""
    checked = 0
    for dialect, direction, text in _corpus_frames():
        typed, _ = decoders(CODECS[dialect], direction)
        try:
            event = typed(text)
        except Exception:
            continue
        for value in _values(event):
            cls = type(value)
            assert not cls.__name__.endswith("Writable"), cls
            assert cls.__module__.startswith("rtstate.events"), cls
            field = attrs.fields(cls)[0].name if attrs.fields(cls) else None
            if field is not None:
                with pytest.raises(attrs.exceptions.FrozenInstanceError):
                    setattr(value, field, None)
            checked += 1
    assert checked > 2_000


def test_a_writable_subclass_switches_to_its_class() -> None:
    writable = writable_subclass(Item)
    assert writable is not None and issubclass(writable, Item)
    obj = object.__new__(writable)
    for field in attrs.fields(Item):
        setattr(obj, field.name, None)
    obj.__class__ = Item
    assert type(obj) is Item and obj == Item(type=None)  # type: ignore[arg-type]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        obj.id = "x"  # type: ignore[misc]


def _item(parts: int) -> dict[str, Any]:
    part = {"type": "output_text", "text": "hi"}
    return {"type": "message", "id": "i", "role": "assistant", "content": [part] * parts}


_LIMIT = {"name": "tokens", "limit": 1, "remaining": 0, "reset_seconds": 1}
_RESPONSE = '{"type":"response.done","event_id":"e","response":{"id":"r",%s}}'
# a voice object (a custom voice) is free-form JSON: GA's typed read leaves it to the reference
_VOICE_OBJECT = _RESPONSE % '"audio":{"output":{"voice":{"id":"v"}}}'
# an integer beyond int64 (orjson reads it up to uint64)
_BIG_MAX_TOKENS = _RESPONSE % f'"max_output_tokens":{2**63}'
_STEPS_ASIDE = {"ga": {_VOICE_OBJECT, _BIG_MAX_TOKENS}, "beta": {_BIG_MAX_TOKENS}}


@pytest.mark.parametrize(
    "frame",
    [
        # tuples of records: empty, one element, several; null and absent
        *(
            orjson.dumps({"type": tag, "event_id": "e", "item": _item(n)}).decode()
            for tag in ("conversation.item.added", "conversation.item.created")
            for n in (0, 1, 2, 3)
        ),
        '{"type":"conversation.item.added","event_id":"e","item":{"type":"message","content":null}}',
        '{"type":"conversation.item.added","event_id":"e","item":{"type":"message"}}',
        *(_RESPONSE % f'"output":{orjson.dumps([_item(1)] * n).decode()}' for n in (0, 1, 2, 3)),
        _RESPONSE % '"output":null',
        _RESPONSE % '"output":[null]',
        *(
            orjson.dumps({"type": "rate_limits.updated", "rate_limits": [_LIMIT] * n}).decode()
            for n in (0, 1, 2, 3)
        ),
        # GA's own keys of a response: read only when present, as the converter reads them
        _RESPONSE % '"output_modalities":["audio"]',
        _RESPONSE % '"output_modalities":["text"],"audio":{"output":{"voice":"alloy"}}',
        _RESPONSE % '"audio":{"output":{"format":{"type":"audio/pcmu"},"voice":"v"}}',
        _VOICE_OBJECT,
        _RESPONSE % '"audio":{"output":{"format":"pcm16","voice":null}}',
        _RESPONSE % '"audio":{"output":{"format":{"type":"audio/pcm","rate":24000}}}',
        _RESPONSE % '"audio":{"output":{"format":{"type":"x","rate":"?"}}}',
        _RESPONSE % '"audio":{"output":{"format":null}}',
        _RESPONSE % '"audio":{"output":{"format":{"type":5}}}',
        _RESPONSE % '"audio":{"output":{"format":{}}}',
        _RESPONSE % '"audio":{"output":{"format":[]}}',
        _RESPONSE % '"audio":{"output":{"voice":5}}',
        _RESPONSE % '"audio":{"output":{}}',
        _RESPONSE % '"audio":{"input":{"format":"pcm16"}}',
        _RESPONSE % '"audio":{}',
        _RESPONSE % '"audio":[]',
        _RESPONSE % '"output_modalities":["audio","text"]',
        _RESPONSE % '"output_modalities":[]',
        _RESPONSE % '"output_modalities":[5]',
        _RESPONSE % '"output_modalities":null',
        _RESPONSE % '"output_modalities":["audio"],"output_modalities":["text"]',
        # max_output_tokens: an integer or "inf", read typed (int64) in both dialects
        *(
            _RESPONSE % f'"max_output_tokens":{value}'
            for value in ("4096", '"inf"', "null", '"INF"', "1.0", "true", "-1", "[]")
        ),
        _BIG_MAX_TOKENS,
        '{"type":"session.updated","event_id":"e","session":{"max_response_output_tokens":"inf"}}',
        '{"type":"session.updated","event_id":"e","session":{"max_response_output_tokens":5}}',
        '{"type":"session.updated","event_id":"e","session":{"max_response_output_tokens":"5"}}',
        _RESPONSE % '"audio":{"output":null}',
        _RESPONSE % '"audio":null,"output_modalities":null',
        _RESPONSE % '"audio":5',
        _RESPONSE % '"audio":{"output":{"format":7}}',
        _RESPONSE % '"output_modalities":"audio"',
        _RESPONSE % '"modalities":["text"],"voice":"alloy"',
    ],
)
@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_tuples_and_dialect_keys_decode_as_the_reference_does(frame: str, dialect: str) -> None:
    kind, cls, *_ = assert_same(CODECS[dialect], "server", frame)
    assert_same(CODECS[dialect], "server", frame.encode())
    if kind == "value" and cls is not UnknownServerEvent and frame not in _STEPS_ASIDE[dialect]:
        assert read_typed(CODECS[dialect], frame)  # not the reference's value


def read_typed(codec: Codec, frame: str | bytes, direction: str = "server") -> bool:
    """Whether the typed decoder reads ``frame`` itself, without the reference."""
    decode = decoders(codec, direction)[0]
    assert decode.__closure__ is not None
    cell = decode.__closure__[decode.__code__.co_freevars.index("reference")]
    reference, calls = cell.cell_contents, []

    def counted(frame: str | bytes) -> Any:
        calls.append(frame)
        return reference(frame)

    cell.cell_contents = counted
    try:
        decode(frame)
    finally:
        cell.cell_contents = reference
    return not calls


def test_the_typed_pass_reads_every_valid_corpus_frame_itself() -> None:
    """No captured frame the reference decodes to a known event steps aside: the typed
    pass reads them all (a shape it stopped reading would only show as lost speed)."""
    read = 0
    for dialect, direction, text in _corpus_frames():
        codec = CODECS[dialect]
        kind, cls, *_ = outcome(decoders(codec, direction)[1], text)
        if kind == "value" and cls not in (UnknownServerEvent, UnknownClientEvent):
            assert read_typed(codec, text, direction), text
            read += 1
    assert read > 2_500


_SESSION = '{"type":"session.updated","event_id":"e","session":{"id":"s",%s}}'
_SESSION_UPDATE = '{"type":"session.update","session":{%s}}'
# GA writes a session's audio settings under audio.input / audio.output
_SESSION_SHAPES = [
    '"audio":null',
    '"audio":{}',
    '"audio":{"input":null,"output":null}',
    '"audio":{"input":{}}',
    '"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,'
    '"noise_reduction":null,"turn_detection":null}}',
    '"audio":{"input":{"format":"pcm16","transcription":{"model":"whisper-1","language":null},'
    '"noise_reduction":{"type":"near_field"},"turn_detection":{"type":"semantic_vad",'
    '"eagerness":"auto","create_response":true}}}',
    '"audio":{"input":{"turn_detection":{"threshold":0.5,"prefix_padding_ms":300}}}',
    '"audio":{"input":{"turn_detection":{"type":null}}}',
    '"audio":{"input":{"transcription":{"keywords":["a","b"],"languages":[]}}}',
    '"audio":{"input":{"format":{"type":"audio/pcmu"}},"output":{"format":{"type":"audio/pcma"},'
    '"voice":"alloy","speed":1}}',
    '"audio":{"output":{"voice":null,"speed":null,"format":null}}',
    '"audio":{"output":{"voice":{"id":"voice_1"}}}',
    '"audio":{"output":{"speed":1.5e0}}',
    '"audio":{"output":{"speed":"fast"}}',
    '"audio":{"input":{"format":{"type":7}}}',
    '"audio":{"input":{"format":{"rate":24000}}}',
    '"audio":{"input":5}',
    '"audio":[]',
    '"audio":{"input":{"turn_detection":{"threshold":"high"}}}',
    '"type":"realtime"',
    '"type":"transcription"',
    '"type":null',
    '"type":5',
    '"output_modalities":["audio"],"max_output_tokens":"inf"',
    '"output_modalities":null,"max_output_tokens":null',
    '"output_modalities":["text"],"max_output_tokens":4096,"tools":[],"tool_choice":"auto"',
    '"max_output_tokens":9223372036854775808',
    # the beta spellings in a GA frame are not GA's: ignored there, read by beta
    '"modalities":["text"],"voice":"alloy","turn_detection":null,"input_audio_format":"pcm16"',
    '"temperature":0.8,"max_response_output_tokens":"inf"',
    '"tracing":null,"include":["item.input_audio_transcription.logprobs"],"truncation":"auto"',
    '"audio":{"input":{"format":"pcm16"},"input":{"format":"g711_ulaw"}}',
]
_SESSION_ASIDE = ('"voice":{"id"', "9223372036854775808")


@pytest.mark.parametrize("shape", _SESSION_SHAPES)
@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_session_shapes_decode_as_the_reference_does(shape: str, dialect: str) -> None:
    """GA's session read typed (``ga._SESSION_RESHAPE``: its audio blocks, its renamed
    keys and values), beta's as it is: both as the reference, null against absent (an
    absent ``turn_detection`` is ``UNSET``, a ``null`` one ``None``), both directions."""
    codec = CODECS[dialect]
    for frame, direction in ((_SESSION % shape, "server"), (_SESSION_UPDATE % shape, "client")):
        kind, *_ = assert_same(codec, direction, frame)
        assert_same(codec, direction, frame.encode())
        if kind == "value" and not any(text in shape for text in _SESSION_ASIDE):
            assert read_typed(codec, frame, direction), frame


_PARAMS = '{"type":"response.create","event_id":"e","response":{%s}}'
_PARAMS_SHAPES = [
    "",
    '"output_modalities":["audio"],"max_output_tokens":"inf","instructions":"hi"',
    '"output_modalities":null,"max_output_tokens":null,"conversation":"none"',
    '"audio":{"output":{"format":{"type":"audio/pcmu"},"voice":"alloy"}}',
    '"audio":{"output":{"format":"pcm16","voice":null}}',
    '"audio":{"output":null},"audio":{"output":{"voice":"marin"}}',
    '"audio":{"output":{"voice":{"id":"voice_1"}}}',
    '"audio":{"input":{"format":"pcm16"}}',
    '"audio":null',
    '"audio":7',
    '"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"q"}]}]',
    '"input":[],"tools":[],"tool_choice":"none","metadata":{"k":"v"}',
    '"modalities":["text"],"voice":"alloy","max_response_output_tokens":5,"temperature":0.7',
    '"max_output_tokens":-5',
    '"max_output_tokens":1.5',
]


@pytest.mark.parametrize("shape", _PARAMS_SHAPES)
@pytest.mark.parametrize("dialect", ["ga", "beta"])
def test_response_parameters_decode_as_the_reference_does(shape: str, dialect: str) -> None:
    """A ``response.create``'s parameters: GA's read typed (``ga._PARAMS_RESHAPE``),
    beta's as they are, both as the reference."""
    codec = CODECS[dialect]
    frame = _PARAMS % shape
    kind, *_ = assert_same(codec, "client", frame)
    assert_same(codec, "client", frame.encode())
    if kind == "value" and '"voice":{"id"' not in shape:
        assert read_typed(codec, frame, "client"), frame
