"""Real captured beta traffic (tests/data/corpus/beta) through the beta codec.

Every frame decodes, except the two the logger truncated (fields hold the string
``"[Object]"``), which raise a ``RemoteProtocolError`` naming the bad field. Azure Voice
Live's extra event types decode as ``UnknownServerEvent`` with the raw object kept.
Every known event re-encodes to a frame that decodes to the same value.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from support import DATA

from rtstate import RemoteProtocolError
from rtstate.codec import beta
from rtstate.events import (
    ClientEvent,
    InputAudioBufferAppend,
    ResponseDone,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputItemDone,
    ResponseTextDelta,
    ResponseTextDone,
    ServerEvent,
    SessionCreated,
    UnknownClientEvent,
    UnknownServerEvent,
)

CORPUS = DATA / "corpus"
BETA = CORPUS / "beta"
LIUSIDA = BETA / "liusida-text-response.jsonl"
AZURE = BETA / "azure-voice-live"
BETA_FILES = sorted(BETA.rglob("*.jsonl"))

# The two frames util.inspect cut short, by line index: (event type, path of the fault).
TRUNCATED = {
    83: ("response.output_item.done", "item.content[0]"),
    84: ("response.done", "response.output[0]"),
}
AZURE_EXTRAS = {"conversation.item.done", "conversation.item.input_audio_transcription.delta"}

Event = ServerEvent | ClientEvent | UnknownServerEvent | UnknownClientEvent


@attrs.frozen
class Frame:
    """One line of a capture: the text to decode, its direction and its parsed object."""

    path: Path
    index: int
    direction: str
    text: str
    obj: dict[str, Any]

    def decode(self) -> Event:
        if self.direction == "server":
            return beta.decode_server(self.text)
        return beta.decode_client(self.text)

    def __str__(self) -> str:
        return f"{self.path.relative_to(CORPUS)}:{self.index + 1}"


def frames(path: Path) -> Iterator[Frame]:
    """The frames of one capture file, in order.

    ``*.both.jsonl`` lines wrap the event with its direction; other files hold one
    server event per line, passed to the decoder as the raw line text.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if path.name.endswith(".both.jsonl"):
            record = json.loads(line)
            event = record["event"]
            yield Frame(path, index, record["direction"], json.dumps(event), event)
        else:
            yield Frame(path, index, "server", line, json.loads(line))


def _is_truncated(frame: Frame) -> bool:
    return frame.path == LIUSIDA and frame.index in TRUNCATED


def test_the_corpus_is_there() -> None:
    names = {p.relative_to(BETA).as_posix() for p in BETA_FILES}
    assert "liusida-text-response.jsonl" in names
    assert len([n for n in names if n.startswith("azure-voice-live/")]) == 10
    assert (AZURE / "LICENSE").is_file()
    assert (AZURE / "SOURCES.md").is_file()
    assert (BETA / "liusida-SOURCES.md").is_file()
    assert sum(1 for p in BETA_FILES for _ in frames(p)) == 85 + 402


@pytest.mark.parametrize("path", BETA_FILES, ids=lambda p: p.relative_to(BETA).as_posix())
def test_every_frame_decodes_and_round_trips(path: Path) -> None:
    decoded = 0
    for frame in frames(path):
        if _is_truncated(frame):
            continue
        try:
            event = frame.decode()
        except RemoteProtocolError as exc:
            pytest.fail(f"{frame}: {exc}")
        assert event.type == frame.obj["type"], frame
        assert event.event_id == frame.obj.get("event_id"), frame
        if isinstance(event, UnknownServerEvent | UnknownClientEvent):
            assert event.raw == frame.obj, frame
            assert json.loads(beta.encode(event)) == frame.obj, frame
        else:
            assert type(event) is {**beta.SERVER_TAGS, **beta.CLIENT_TAGS}[frame.obj["type"]]
            again = beta.encode(event)
            decoder = beta.decode_server if frame.direction == "server" else beta.decode_client
            assert decoder(again) == event, frame
            # The encoded frame keeps every field the model knows, with the same value.
            wire = json.loads(again)
            for key, value in wire.items():
                if not isinstance(value, dict | list):
                    assert frame.obj.get(key) == value, (frame, key)
        decoded += 1
    assert decoded > 0


@pytest.mark.parametrize("path", BETA_FILES, ids=lambda p: p.relative_to(BETA).as_posix())
def test_frames_decode_from_bytes_too(path: Path) -> None:
    for frame in frames(path):
        if _is_truncated(frame):
            continue
        from_text = frame.decode()
        raw = frame.text.encode("utf-8")
        if frame.direction == "server":
            assert beta.decode_server(raw) == from_text
        else:
            assert beta.decode_client(raw) == from_text


@pytest.mark.parametrize(("index", "expected"), sorted(TRUNCATED.items()))
def test_logger_truncated_frames_raise_naming_the_field(
    index: int, expected: tuple[str, str]
) -> None:
    event_type, field_path = expected
    frame = list(frames(LIUSIDA))[index]
    assert '"[Object]"' in frame.text
    with pytest.raises(RemoteProtocolError) as info:
        beta.decode_server(frame.text)
    error = info.value
    assert error.event_type == event_type
    assert error.path == field_path
    assert error.excerpt
    assert len(error.excerpt) <= 120
    assert "expected an object" in error.message
    assert field_path in str(error)


def test_exactly_the_two_truncated_frames_fail() -> None:
    failing = []
    for path in BETA_FILES:
        for frame in frames(path):
            try:
                frame.decode()
            except RemoteProtocolError:
                failing.append((frame.path, frame.index))
    assert failing == [(LIUSIDA, 83), (LIUSIDA, 84)]


def test_azure_extras_are_unknown_server_events() -> None:
    seen: Counter[str] = Counter()
    for path in sorted(AZURE.glob("*.jsonl")):
        for frame in frames(path):
            event = frame.decode()
            if isinstance(event, UnknownServerEvent):
                assert frame.direction == "server"
                assert event.raw == frame.obj
                assert event.event_id == frame.obj["event_id"]
                seen[event.type] += 1
            else:
                assert not isinstance(event, UnknownClientEvent), frame
    assert set(seen) == AZURE_EXTRAS
    assert all(n > 0 for n in seen.values())


def test_liusida_text_deltas_add_up_to_the_done_text() -> None:
    events = [frame.decode() for frame in frames(LIUSIDA) if not _is_truncated(frame)]
    deltas = [e for e in events if isinstance(e, ResponseTextDelta)]
    (done,) = [e for e in events if isinstance(e, ResponseTextDone)]
    assert len(deltas) == 77
    assert "".join(d.delta for d in deltas) == done.text
    assert {d.item_id for d in deltas} == {done.item_id}


def test_tool_call_round_decodes_to_typed_values() -> None:
    events = [frame.decode() for frame in frames(AZURE / "test_tool_call_round.both.jsonl")]
    created = events[0]
    assert isinstance(created, SessionCreated)
    assert created.session.id is not None
    (args_done,) = [e for e in events if isinstance(e, ResponseFunctionCallArgumentsDone)]
    json.loads(args_done.arguments)  # the whole arguments are JSON text
    item_done = [
        e
        for e in events
        if isinstance(e, ResponseOutputItemDone) and e.item.type == "function_call"
    ]
    assert [e.item.call_id for e in item_done] == [args_done.call_id]
    responses = [e for e in events if isinstance(e, ResponseDone)]
    assert responses
    assert all(r.response.status == "completed" for r in responses)
    assert any(item.type == "function_call" for r in responses for item in r.response.output)
    assert all(r.response.usage is not None for r in responses)


def test_client_frames_of_the_captures_decode_as_client_events() -> None:
    appended = 0
    for path in sorted(AZURE.glob("*.both.jsonl")):
        for frame in frames(path):
            if frame.direction != "client":
                continue
            event = frame.decode()
            assert isinstance(event, ClientEvent), frame
            if isinstance(event, InputAudioBufferAppend):
                appended += 1
                assert event.audio == frame.obj["audio"]
    assert appended > 0
