"""The beta round-trip suite: every event class, encoded and decoded again, is the same value.

One property per event class carries every per-value fact of the beta codec: the round
trip and the wire shape, hashing, an optional client ``event_id``, errors that name a
mistyped or dropped field, and an encoder that refuses or round-trips any field value
(``test_codec_fuzz`` keeps the hostile input that is not one class's value).

Also the shape rules of the wire: ``None`` optionals and ``UNSET`` are left out (but a
server event writes the nulls of ``rtstate.codec._shapes``), ``None`` on an
``UNSET``-able field is JSON ``null``, client ``event_id`` is optional, and
``tool_choice`` is read in both forms and written flat.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.codec_faults import (
    FieldSite,
    canon,
    drop_at,
    fault_path,
    field_sites,
    present,
    replace_at,
    set_at,
    union_with_payload,
    wrong_for,
    wrong_python_values,
)
from support.strategies_codec import event_strategy

from rtstate import LocalProtocolError, RemoteProtocolError
from rtstate.codec import beta
from rtstate.codec._converter import NullTable
from rtstate.codec._shapes import BETA_NULLS
from rtstate.events import (
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    UNSET,
    ClientEvent,
    ContentPart,
    ConversationItemCreate,
    InputAudioBufferCommit,
    InputAudioTranscription,
    Item,
    NoiseReduction,
    ResponseCreate,
    ResponseParams,
    ResponseTextDelta,
    ServerEvent,
    SessionConfig,
    SessionUpdate,
    Tool,
    ToolChoiceFunction,
    ToolChoiceMode,
    TurnDetection,
    UnknownClientEvent,
    UnknownServerEvent,
)

ALL_EVENT_TYPES: tuple[type[ServerEvent | ClientEvent], ...] = (
    *CLIENT_EVENT_TYPES,
    *SERVER_EVENT_TYPES,
)


AnyEvent = ServerEvent | ClientEvent | UnknownServerEvent | UnknownClientEvent


def _decoder(cls: type[Any]) -> Callable[[str | bytes], AnyEvent]:
    return beta.decode_client if issubclass(cls, ClientEvent) else beta.decode_server


def _written_null(value: Any, name: str, nulls: NullTable) -> bool:
    """``nulls`` (a dialect's server null table) says ``value.name`` is written ``null``."""
    rule = nulls.get(type(value), {})
    kind = getattr(value, "type", None)
    return name in rule.get("*", ()) or (isinstance(kind, str) and name in rule.get(kind, ()))


def assert_wire_shape(value: Any, wire: Any, nulls: NullTable) -> None:
    """Check the JSON written for an attrs value against the value, field by field.

    ``UNSET`` and ``None`` in a field that defaults to ``None`` are absent (unless
    ``nulls``, the server null table when ``value`` is in a server event, names it:
    then ``None`` is ``null``); ``None`` elsewhere (an ``UNSET``-able or a required
    nullable field) is ``null``; every other field is present, and nested payloads obey
    the same rules. No key appears that is not a field (bar the event's own ``type``).
    """
    assert isinstance(wire, dict), wire
    fields = attrs.fields(type(value))
    extra = set(wire) - {a.name for a in fields} - {"type"}
    assert not extra, f"{type(value).__name__} wrote unknown keys {extra}"
    for a in fields:
        v = getattr(value, a.name)
        if v is UNSET or (
            v is None and a.default is None and not _written_null(value, a.name, nulls)
        ):
            assert a.name not in wire, f"{type(value).__name__}.{a.name} should be omitted"
            continue
        assert a.name in wire, f"{type(value).__name__}.{a.name} missing from {wire}"
        w = wire[a.name]
        if v is None:
            assert w is None
        elif attrs.has(type(v)):
            assert_wire_shape(v, w, nulls)
        elif isinstance(v, tuple):
            assert isinstance(w, list) and len(w) == len(v)
            for item, item_wire in zip(v, w, strict=True):
                if attrs.has(type(item)):
                    assert_wire_shape(item, item_wire, nulls)
                else:
                    assert item == item_wire
        else:
            assert w == v


@pytest.mark.parametrize("cls", ALL_EVENT_TYPES, ids=lambda c: c.type)
@settings(suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_event_class_round_trips(cls: type[Any], data: st.DataObject) -> None:
    """The beta suite of one event class, over generated values of it.

    Each value: encodes to the wire shape and decodes back equal (and re-encodes to the
    same bytes); hashes like its equal copy unless it holds free-form JSON; as a client
    event, decodes the same without its ``event_id``; a field of it mistyped or dropped
    on the wire is an error naming that field; any Python value put in a field is
    refused by the encoder or round-trips.
    """
    event = data.draw(event_strategy(cls))
    frame = beta.encode(event)
    wire = orjson.loads(frame)
    assert wire["type"] == cls.type
    assert wire == beta.to_wire(event)
    assert_wire_shape(event, wire, BETA_NULLS if isinstance(event, ServerEvent) else {})
    decoded = _decoder(cls)(frame)
    assert type(decoded) is cls
    assert decoded == event
    assert beta.encode(decoded) == frame

    _check_hash(event, decoded)
    if issubclass(cls, ClientEvent):
        _check_client_event_id_is_optional(attrs.evolve(event, event_id=None))
    sites = [s for s in field_sites(event) if present(event, s.path)]
    if sites:  # e.g. input_audio_buffer.commit with no event_id has no field at all
        _check_errors_name_the_faulty_field(event, wire, data.draw(st.sampled_from(sites)))
    site = data.draw(st.sampled_from(list(field_sites(event))))
    new = data.draw(wrong_python_values)
    # Known leniency: a field typed as a union with a payload class (tool_choice, the
    # UNSET-able session fields) writes a dict by its runtime class, as a frame that
    # decodes to the payload. The wire is right; only the value's class differs.
    if not (isinstance(new, Mapping) and union_with_payload(site.hint)):
        _check_encode_refuses_or_round_trips(event, site, new)


def holds_free_form_json(value: Any) -> bool:
    """Whether an attrs value holds a Mapping (a dict, which cannot be hashed)."""
    if isinstance(value, Mapping):
        return True
    if attrs.has(type(value)):
        return any(holds_free_form_json(getattr(value, a.name)) for a in attrs.fields(type(value)))
    if isinstance(value, tuple):
        return any(holds_free_form_json(v) for v in value)
    return False


def _check_hash(event: Any, copy: Any) -> None:
    """Events are hashable unless they hold free-form JSON; equal events hash equal."""
    assert attrs.evolve(event) == event
    if holds_free_form_json(event):
        with pytest.raises(TypeError):
            hash(event)
    else:
        assert hash(copy) == hash(event)
        assert {event: 1}[copy] == 1


def _check_client_event_id_is_optional(event: Any) -> None:
    wire = beta.to_wire(event)
    assert "event_id" not in wire
    decoded = beta.decode_client(orjson.dumps(wire))
    assert decoded == event
    assert decoded.event_id is None
    stamped = beta.decode_client(orjson.dumps({**wire, "event_id": "evt_1"}))
    assert stamped == attrs.evolve(event, event_id="evt_1")


def _check_errors_name_the_faulty_field(event: Any, wire: Any, site: FieldSite) -> None:
    """A required field dropped, or any field mistyped, anywhere: the error says where."""
    cls = type(event)
    decode = _decoder(cls)
    mistyped = orjson.loads(orjson.dumps(wire))
    set_at(mistyped, site.path, wrong_for(site.hint))
    with pytest.raises(RemoteProtocolError) as info:
        decode(orjson.dumps(mistyped))
    assert info.value.event_type == cls.type
    assert info.value.path == fault_path(site.path)
    assert "expected" in info.value.message or "tool_choice" in site.path

    if site.attribute.default is attrs.NOTHING:
        dropped = orjson.loads(orjson.dumps(wire))
        drop_at(dropped, site.path)
        with pytest.raises(RemoteProtocolError) as info:
            decode(orjson.dumps(dropped))
        assert info.value.event_type == cls.type
        assert info.value.path == fault_path(site.path)
        assert "missing" in info.value.message or "tool_choice" in site.path


def _check_encode_refuses_or_round_trips(event: Any, site: FieldSite, new: Any) -> None:
    """Any value in any field: encode raises LocalProtocolError, or what it wrote decodes
    to the same event (lists and tuples aside)."""
    broken = replace_at(event, site.path, new)
    try:
        frame = beta.encode(broken)
    except LocalProtocolError:
        return
    assert canon(_decoder(type(event))(frame)) == canon(broken)


@pytest.mark.parametrize("cls", ALL_EVENT_TYPES, ids=lambda c: c.type)
def test_each_class_decodes_only_in_its_direction(cls: type[Any]) -> None:
    """A client type read as a server frame (and vice versa) is unknown, not mistaken."""
    other = beta.decode_server if issubclass(cls, ClientEvent) else beta.decode_client
    decoded = other(orjson.dumps({"type": cls.type, "event_id": "e"}))
    assert type(decoded).__name__.startswith("Unknown")
    assert decoded.type == cls.type


def test_none_optionals_are_omitted() -> None:
    event = ConversationItemCreate(
        item=Item(type="message", role="user", content=(ContentPart(type="input_text", text="hi"),))
    )
    assert beta.to_wire(event) == {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "hi"}],
        },
    }
    assert beta.encode(ResponseCreate()) == '{"type":"response.create"}'


def test_unset_is_omitted_and_decodes_back_to_unset() -> None:
    event = SessionUpdate(session=SessionConfig(instructions="be brief"))
    assert event.session.turn_detection is UNSET
    assert beta.to_wire(event) == {
        "type": "session.update",
        "session": {"instructions": "be brief"},
    }
    decoded = beta.decode_client(beta.encode(event))
    assert isinstance(decoded, SessionUpdate)
    assert decoded.session.turn_detection is UNSET
    assert decoded.session.input_audio_transcription is UNSET
    assert decoded.session.input_audio_noise_reduction is UNSET


def test_none_on_an_unset_able_field_is_json_null() -> None:
    event = SessionUpdate(
        session=SessionConfig(
            turn_detection=None, input_audio_transcription=None, input_audio_noise_reduction=None
        )
    )
    frame = beta.encode(event)
    assert '"turn_detection":null' in frame
    assert orjson.loads(frame)["session"] == {
        "turn_detection": None,
        "input_audio_transcription": None,
        "input_audio_noise_reduction": None,
    }
    decoded = beta.decode_client(frame)
    assert isinstance(decoded, SessionUpdate)
    assert decoded.session.turn_detection is None
    assert decoded.session.input_audio_transcription is None
    assert decoded.session.input_audio_noise_reduction is None
    assert decoded == event


def test_set_values_on_unset_able_fields_round_trip() -> None:
    session = SessionConfig(
        turn_detection=TurnDetection(threshold=0.5, silence_duration_ms=200),
        input_audio_transcription=InputAudioTranscription(model="whisper-1"),
        input_audio_noise_reduction=NoiseReduction(type="near_field"),
    )
    wire = beta.to_wire(SessionUpdate(session=session))
    assert wire["session"] == {
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 200},
        "input_audio_transcription": {"model": "whisper-1"},
        "input_audio_noise_reduction": {"type": "near_field"},
    }
    decoded = beta.decode_client(orjson.dumps(wire))
    assert isinstance(decoded, SessionUpdate)
    assert decoded.session == session


def test_bare_client_frames_decode() -> None:
    assert beta.decode_client('{"type":"input_audio_buffer.commit"}') == InputAudioBufferCommit()
    assert beta.decode_client('{"type":"response.create"}') == ResponseCreate()


def test_server_event_id_is_required() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        beta.decode_server('{"type":"input_audio_buffer.cleared"}')
    assert info.value.path == "event_id"
    assert info.value.event_type == "input_audio_buffer.cleared"


@pytest.mark.parametrize(
    "tool_choice",
    [
        {"type": "function", "function": {"name": "f"}},
        {"type": "function", "name": "f"},
    ],
    ids=["nested", "flat"],
)
def test_tool_choice_function_decodes_from_both_forms_and_encodes_flat(
    tool_choice: dict[str, Any],
) -> None:
    session_frame = {"type": "session.update", "session": {"tool_choice": tool_choice}}
    decoded = beta.decode_client(orjson.dumps(session_frame))
    assert isinstance(decoded, SessionUpdate)
    assert decoded.session.tool_choice == ToolChoiceFunction(name="f")
    assert beta.to_wire(decoded)["session"]["tool_choice"] == {"type": "function", "name": "f"}

    create_frame = {"type": "response.create", "response": {"tool_choice": tool_choice}}
    created = beta.decode_client(orjson.dumps(create_frame))
    assert isinstance(created, ResponseCreate)
    assert created.response is not None
    assert created.response.tool_choice == ToolChoiceFunction(name="f")
    assert beta.to_wire(created)["response"]["tool_choice"] == {"type": "function", "name": "f"}


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_strings_round_trip(choice: ToolChoiceMode) -> None:
    event = ResponseCreate(
        response=ResponseParams(tool_choice=choice, tools=(Tool(name="f", parameters={}),))
    )
    frame = beta.encode(event)
    assert orjson.loads(frame)["response"]["tool_choice"] == choice
    assert beta.decode_client(frame) == event


def test_max_tokens_inf_and_int() -> None:
    for value in ("inf", 4096):
        event = SessionUpdate(session=SessionConfig(max_response_output_tokens=value))
        frame = beta.encode(event)
        assert orjson.loads(frame)["session"]["max_response_output_tokens"] == value
        assert beta.decode_client(frame) == event


def test_integral_float_fields_accept_json_integers() -> None:
    frame = '{"type":"session.update","session":{"temperature":1,"speed":2}}'
    decoded = beta.decode_client(frame)
    assert isinstance(decoded, SessionUpdate)
    assert decoded.session.temperature == 1.0
    assert type(decoded.session.temperature) is float
    assert type(decoded.session.speed) is float


def test_unknown_fields_are_ignored_not_fatal() -> None:
    frame = {
        "type": "response.text.delta",
        "event_id": "event_1",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hi",
        "logprobs_v9": "abc",
    }
    decoded = beta.decode_server(orjson.dumps(frame))
    assert decoded == ResponseTextDelta(
        event_id="event_1",
        response_id="resp_1",
        item_id="item_1",
        output_index=0,
        content_index=0,
        delta="Hi",
    )
    assert "obfuscation" not in beta.to_wire(decoded)
