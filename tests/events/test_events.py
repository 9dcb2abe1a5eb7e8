"""The event classes against the beta protocol's wire types: one class and one codec entry per
wire type, named as the house rules say; every event class frozen and
slotted (hashing values is in the codec's round-trip suites).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest

import rtstate.events
from rtstate.codec import beta
from rtstate.events import (
    CLIENT_EVENT_TYPES,
    GA_CLIENT_EVENT_TYPES,
    GA_SERVER_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    ClientEvent,
    ResponseTextDelta,
    ServerEvent,
    UnknownServerEvent,
)

# The 9 client event types of the beta protocol (2024-10-01), in its documented order.
CLIENT_WIRE_TYPES = [
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
]

# Its 28 server event types, in its documented order.
SERVER_WIRE_TYPES = [
    "error",
    "session.created",
    "session.updated",
    "conversation.created",
    "conversation.item.created",
    "conversation.item.input_audio_transcription.completed",
    "conversation.item.input_audio_transcription.failed",
    "conversation.item.truncated",
    "conversation.item.deleted",
    "input_audio_buffer.committed",
    "input_audio_buffer.cleared",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "response.created",
    "response.done",
    "response.output_item.added",
    "response.output_item.done",
    "response.content_part.added",
    "response.content_part.done",
    "response.text.delta",
    "response.text.done",
    "response.audio_transcript.delta",
    "response.audio_transcript.done",
    "response.audio.delta",
    "response.audio.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "rate_limits.updated",
]


def camel(wire_type: str) -> str:
    """``response.audio_transcript.delta`` -> ``ResponseAudioTranscriptDelta``."""
    return "".join(word.capitalize() for word in re.split(r"[._]", wire_type))


def _subclasses(base: type) -> Iterator[type]:
    cls: type
    for cls in base.__subclasses__():
        yield cls
        yield from _subclasses(cls)


def library_event_classes(base: type) -> list[type]:
    """Every concrete event class rtstate defines under ``base`` (one with a ``type``);
    not the typed decoders' writable subclasses (``rtstate._build.writable_subclass``),
    which only build values of the class they subclass."""
    return [
        cls
        for cls in _subclasses(base)
        if cls.__module__.startswith("rtstate.")
        and cls.__module__ != "rtstate._build"
        and isinstance(getattr(cls, "type", None), str)
    ]


def test_the_reference_lists_9_client_and_28_server_types() -> None:
    assert len(CLIENT_WIRE_TYPES) == len(set(CLIENT_WIRE_TYPES)) == 9
    assert len(SERVER_WIRE_TYPES) == len(set(SERVER_WIRE_TYPES)) == 28
    assert not set(CLIENT_WIRE_TYPES) & set(SERVER_WIRE_TYPES)


@pytest.mark.parametrize(
    ("wire_type", "expected"),
    [
        ("error", "Error"),
        ("response.audio_transcript.delta", "ResponseAudioTranscriptDelta"),
        ("input_audio_buffer.speech_started", "InputAudioBufferSpeechStarted"),
        (
            "conversation.item.input_audio_transcription.completed",
            "ConversationItemInputAudioTranscriptionCompleted",
        ),
    ],
)
def test_camel(wire_type: str, expected: str) -> None:
    assert camel(wire_type) == expected


@pytest.mark.parametrize(
    ("base", "wire_types", "tags", "registry"),
    [
        (ClientEvent, CLIENT_WIRE_TYPES, beta.CLIENT_TAGS, CLIENT_EVENT_TYPES),
        (ServerEvent, SERVER_WIRE_TYPES, beta.SERVER_TAGS, SERVER_EVENT_TYPES),
    ],
    ids=["client", "server"],
)
def test_one_class_and_one_codec_entry_per_wire_type(
    base: type,
    wire_types: list[str],
    tags: Mapping[str, type],
    registry: tuple[type, ...],
) -> None:
    ga_only = (*GA_CLIENT_EVENT_TYPES, *GA_SERVER_EVENT_TYPES)
    classes = [cls for cls in library_event_classes(base) if cls not in ga_only]
    by_type: dict[str, list[type]] = {}
    for cls in classes:
        by_type.setdefault(getattr(cls, "type"), []).append(cls)  # noqa: B009

    assert sorted(by_type) == sorted(wire_types), "classes for types not in the reference"
    for wire_type in wire_types:
        (cls,) = by_type[wire_type]  # exactly one class
        assert cls.__name__ == camel(wire_type)
        assert getattr(rtstate.events, cls.__name__) is cls
        assert cls.__name__ in rtstate.events.__all__
        assert tags[wire_type] is cls  # exactly one codec entry (a dict key), this class

    assert sorted(tags) == sorted(wire_types), "codec entries for types not in the reference"
    assert list(registry) == [by_type[t][0] for t in wire_types], "registry order or content"


@pytest.mark.parametrize(
    ("base", "registry"),
    [(ClientEvent, GA_CLIENT_EVENT_TYPES), (ServerEvent, GA_SERVER_EVENT_TYPES)],
    ids=["client", "server"],
)
def test_the_ga_only_classes_are_named_and_exported_like_the_others(
    base: type, registry: tuple[type[Any], ...]
) -> None:
    beta_types = {c.type for c in CLIENT_EVENT_TYPES} | {c.type for c in SERVER_EVENT_TYPES}
    every = set(library_event_classes(base))
    for cls in registry:
        assert cls in every
        assert cls.type not in beta_types
        assert cls.__name__ == camel(cls.type)
        assert getattr(rtstate.events, cls.__name__) is cls
        assert cls.__name__ in rtstate.events.__all__
    registered = set(CLIENT_EVENT_TYPES if base is ClientEvent else SERVER_EVENT_TYPES)
    assert every == registered | set(registry), "a class in neither registry"


def test_client_and_server_registries_do_not_overlap() -> None:
    assert not set(beta.CLIENT_TAGS) & set(beta.SERVER_TAGS)
    assert not set(CLIENT_EVENT_TYPES) & set(SERVER_EVENT_TYPES)


ALL_EVENT_TYPES: tuple[type[Any], ...] = (*CLIENT_EVENT_TYPES, *SERVER_EVENT_TYPES)


def test_every_event_class_is_frozen_slotted_and_hashed_by_value() -> None:
    """Class facts, checked once per class (hashing real values, free-form JSON or not, is
    in each dialect's round-trip suite: ``tests/codec/test_codec_roundtrip.py``)."""
    for cls in ALL_EVENT_TYPES:
        # An instance with no field set: frozenness and slots belong to the class, not
        # to the values an instance holds.
        event = object.__new__(cls)
        for a in attrs.fields(cls):
            with pytest.raises(attrs.exceptions.FrozenInstanceError):
                setattr(event, a.name, None)
            with pytest.raises(attrs.exceptions.FrozenInstanceError):
                delattr(event, a.name)
        with pytest.raises((attrs.exceptions.FrozenInstanceError, AttributeError)):
            event.extra = 1
        assert not hasattr(event, "__dict__"), f"{cls.__name__} is not slotted"
        assert "__slots__" in cls.__dict__, cls
        assert cls.__hash__ is not None, f"{cls.__name__} is not hashable by value"


def test_equal_values_are_equal_events() -> None:
    fields: dict[str, Any] = {
        "event_id": "e",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "delta": "d",
    }
    assert ResponseTextDelta(**fields) == ResponseTextDelta(**fields)
    assert ResponseTextDelta(**fields) != ResponseTextDelta(**{**fields, "delta": "x"})
    unknown: object = UnknownServerEvent(
        type="response.text.delta", raw={**fields, "type": "response.text.delta"}
    )
    assert ResponseTextDelta(**fields) != unknown


def test_events_take_keyword_arguments_only() -> None:
    with pytest.raises(TypeError):
        ResponseTextDelta("e", "r", "i", 0, 0, "d")  # type: ignore[call-arg]


def test_sequences_are_tuples_and_class_type_is_not_a_field() -> None:
    for cls in ALL_EVENT_TYPES:
        names = {a.name for a in attrs.fields(cls)}
        assert "type" not in names, cls
        assert "event_id" in names, cls
    for cls in (rtstate.events.SessionConfig, rtstate.events.ResponseInfo, rtstate.events.Item):
        for a in attrs.fields(cls):
            assert "list[" not in str(a.type), (cls, a.name)
