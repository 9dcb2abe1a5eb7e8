"""The closed sets of values (``Literal`` fields of ``rtstate.events.payloads``).

mypy catches a typo in them (``tests/typing``). At run time: a server may send a value
outside a set and the frame still decodes, the value kept as given (both dialects); a
client event carrying one in an item field (``CHECKED_ON_SEND``) is refused on encode
with a ``LocalProtocolError`` naming the field, and the connection is unchanged;
everything else a server reported (a session's settings) encodes back as it came.
"""

from __future__ import annotations

import json
import typing
from typing import Any, get_args

import attrs
import pytest

from rtstate import ClientConnection, Config, LocalProtocolError
from rtstate.codec import codec_for, ga
from rtstate.config import Dialect
from rtstate.events import (
    CHECKED_ON_SEND,
    LITERALS,
    ContentPart,
    ContentType,
    ConversationItemAdded,
    ConversationItemCreate,
    Item,
    ResponseCreate,
    ResponseParams,
    SessionConfig,
    SessionUpdate,
    TurnDetection,
)
from rtstate.events import payloads as p

DIALECTS: tuple[Dialect, ...] = ("ga", "beta")


def _literal_fields() -> dict[tuple[type, str], Any]:
    """(class, field) -> the closed set it is typed with, for every payload class."""
    found: dict[tuple[type, str], Any] = {}
    for name in p.__all__:
        cls = getattr(p, name)
        if not (isinstance(cls, type) and attrs.has(cls)):
            continue
        for field, hint in typing.get_type_hints(cls).items():
            for alias in LITERALS:
                if alias == hint or alias in get_args(hint) or _in_tuple(alias, hint):
                    found[cls, field] = alias
    return found


def _in_tuple(alias: Any, hint: Any) -> bool:
    return any(typing.get_origin(a) is tuple and get_args(a)[0] == alias for a in get_args(hint))


def test_every_closed_set_types_a_field_and_the_checked_fields_are_typed_with_theirs() -> None:
    fields = _literal_fields()
    assert set(LITERALS) == set(fields.values())
    for cls, checked in CHECKED_ON_SEND.items():
        for name, alias in checked.items():
            assert fields[cls, name] == alias, (cls, name)
    for alias in LITERALS:
        assert typing.get_origin(alias) is typing.Literal
        assert all(isinstance(v, str) for v in get_args(alias))


_ODD_ITEM = {
    "id": "item_1",
    "object": "realtime.item",
    "type": "reasoning",
    "status": "thinking",
    "role": "developer",
    "phase": "aside",
    "content": [{"type": "output_image", "detail": "original"}],
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_server_value_outside_a_set_decodes_and_is_kept(dialect: Dialect) -> None:
    frame = {"type": "conversation.item.added", "event_id": "e1", "item": _ODD_ITEM}
    if dialect == "beta":
        frame["type"] = "conversation.item.created"
    event = codec_for(dialect).decode_server(json.dumps(frame))
    item = event.item  # type: ignore[union-attr]
    assert (item.type, item.status, item.role, item.phase) == (
        "reasoning",
        "thinking",
        "developer",
        "aside",
    )
    assert item.content[0].type == "output_image" and item.content[0].detail == "original"
    # and it folds: the connection takes the frame (lenient by default)
    conn = ClientConnection(config=Config(dialect=dialect))
    conn.receive(json.dumps(frame))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_session_with_values_outside_the_sets_decodes_and_encodes_back(
    dialect: Dialect,
) -> None:
    """What ``plan_reconnect`` does with a session: send it back as the server gave it."""
    codec = codec_for(dialect)
    session = SessionConfig(
        modalities=("text", "video"),  # type: ignore[arg-type]
        turn_detection=TurnDetection(type="neural_vad", eagerness="eager"),  # type: ignore[arg-type]
        tool_choice="sometimes",  # type: ignore[arg-type]
    )
    event = SessionUpdate(session=session)
    assert codec.decode_client(codec.encode(event)) == event


_BAD_SENDS: list[tuple[str, Any]] = [
    (
        "Item.role is 'usr'",
        ConversationItemCreate(
            item=Item(
                type="message",
                role="usr",  # type: ignore[arg-type]
                content=(ContentPart(type="input_text", text="hi"),),
            )
        ),
    ),
    (
        "Item.type is 'mesage'",
        ConversationItemCreate(item=Item(type="mesage", role="user")),  # type: ignore[arg-type]
    ),
    (
        "ContentPart.type is 'input_txt'",
        ConversationItemCreate(
            item=Item(
                type="message",
                role="user",
                content=(ContentPart(type="input_txt", text="hi"),),  # type: ignore[arg-type]
            )
        ),
    ),
    (
        "ContentPart.detail is 'max'",
        ConversationItemCreate(
            item=Item(
                type="message",
                role="user",
                content=(ContentPart(type="input_image", image_url="data:", detail="max"),),  # type: ignore[arg-type]
            )
        ),
    ),
    (
        "Item.status is 'done'",
        ConversationItemCreate(item=Item(type="message", role="user", status="done", content=())),  # type: ignore[arg-type]
    ),
    (
        "Item.type is 'item_ref'",
        ResponseCreate(response=ResponseParams(input=(Item(type="item_ref", id="item_1"),))),  # type: ignore[arg-type]
    ),
]


_BAD_PATHS = {
    "Item.role is 'usr'": "item.role",
    "Item.type is 'mesage'": "item.type",
    "ContentPart.type is 'input_txt'": "item.content[0].type",
    "ContentPart.detail is 'max'": "item.content[0].detail",
    "Item.status is 'done'": "item.status",
    "Item.type is 'item_ref'": "response.input[0].type",
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("what", "event"), _BAD_SENDS, ids=[w for w, _ in _BAD_SENDS])
def test_a_client_item_field_outside_its_set_is_refused_on_encode(
    dialect: Dialect, what: str, event: Any
) -> None:
    with pytest.raises(LocalProtocolError, match="not one of") as info:
        codec_for(dialect).encode(event)
    assert what in info.value.message
    assert info.value.event_type == event.type
    assert info.value.path == _BAD_PATHS[what]  # where in the event, as the wire spells it
    conn = ClientConnection(config=Config(dialect=dialect))
    before = conn.state
    with pytest.raises(LocalProtocolError, match=what):
        conn.send(event)
    assert conn.state is before


def test_the_same_item_in_a_server_event_is_not_checked() -> None:
    """The server role writes what it is given: only client events are held to the sets."""
    item = Item(type="message", id="item_1", role="developer", content=())  # type: ignore[arg-type]
    event = ConversationItemAdded(event_id="e1", item=item)
    assert ga.decode_server(ga.encode(event)) == event


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_value_of_the_checked_sets_encodes(dialect: Dialect) -> None:
    codec = codec_for(dialect)
    for cls, fields in CHECKED_ON_SEND.items():
        for name, alias in fields.items():
            for value in get_args(alias):
                if cls is Item:
                    item = Item(**{"type": "message", "role": "user", name: value})
                else:
                    part = ContentPart(**{"type": "input_text", name: value})
                    item = Item(type="message", role="user", content=(part,))
                event = ConversationItemCreate(item=item)
                decoded = codec.decode_client(codec.encode(event))
                assert decoded == attrs.evolve(event, item=_canonical(item, dialect))


def _canonical(item: Item, dialect: Dialect) -> Item:
    """GA decodes its ``output_text`` / ``output_audio`` parts as ``text`` / ``audio``."""
    renamed: dict[str, ContentType] = {"output_text": "text", "output_audio": "audio"}
    if dialect == "beta" or not item.content:
        return item
    parts = tuple(attrs.evolve(c, type=renamed.get(c.type, c.type)) for c in item.content)
    return attrs.evolve(item, content=parts)
