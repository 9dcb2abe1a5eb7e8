"""The server's cheap paths write what the slow ones wrote.

The server encodes its own events without the codec's decode-again check
(``Codec.encode_unchecked``), draws seeded ids from batches, derives the GA
``obfuscation`` with one ``bytes.translate`` and keeps recent synthetic audio (words,
base64 deltas) in size-bounded caches. Each is held here to the plain computation it replaces.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import random
import re
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.server_harness import Loop, silence, tone

from rtstate import LocalProtocolError
from rtstate.codec import codec_for
from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    InputAudioTranscription,
    Item,
    ResponseParams,
    SessionConfig,
    Tool,
)
from rtstate.server import (
    ScriptedResponder,
    ServerConnection,
    SyntheticVoice,
    ToolCallingResponder,
    seeded_ids,
)
from rtstate.server import audio as audio_module
from rtstate.server._cache import SizedLru
from rtstate.server._wire import obfuscation as _obfuscation
from rtstate.testing import streams

DIALECTS: tuple[Dialect, ...] = ("beta", "ga")

# --- encode_unchecked ------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_unchecked_encode_equals_encode_over_generated_streams(
    dialect: Dialect, data: st.DataObject
) -> None:
    codec = codec_for(dialect)
    for event in data.draw(streams(dialect=dialect)):
        assert codec.encode_unchecked(event) == codec.encode(event)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_unchecked_encode_still_refuses_what_cannot_be_written(dialect: Dialect) -> None:
    codec = codec_for(dialect)

    def update(parameters: Any) -> s.SessionUpdated:
        tool = Tool(name="f", parameters=parameters)
        return s.SessionUpdated(event_id="e", session=SessionConfig(tools=(tool,)))

    fine = update({"type": "object"})
    assert codec.encode_unchecked(fine) == codec.encode(fine)  # the class's hook is kept
    deep: dict[str, Any] = {}
    for _ in range(300):
        deep = {"type": "object", "properties": {"x": deep}}
    for bad in (update({"x": object()}), update(deep)):  # not JSON, too deep for orjson
        with pytest.raises(LocalProtocolError):
            codec.encode_unchecked(bad)
        with pytest.raises(LocalProtocolError):
            codec.encode(bad)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_server_writes_what_the_checked_encode_writes(dialect: Dialect) -> None:
    server = ServerConnection(
        responder=ToolCallingResponder(preamble="Checking."),
        voice=SyntheticVoice(kind="noise"),
        dialect=dialect,
    )
    codec = server._codec
    compared: list[str] = []

    def compare(event: Any) -> str:
        frame = codec.encode_unchecked(event)
        assert frame == codec.encode(event), event.type
        compared.append(event.type)
        return frame

    server._codec = attrs.evolve(codec, encode_unchecked=compare)
    loop = Loop(server).start()
    loop.send(
        c.SessionUpdate(
            session=SessionConfig(
                tools=(Tool(name="lookup", parameters={"type": "object"}),),
                input_audio_transcription=InputAudioTranscription(model="whisper-1"),
            )
        )
    )
    loop.append(tone(600) + silence(300))  # a VAD turn, transcribed, answered by a call
    loop.drain()
    calls = [i for i in loop.client.state.items if i.type == "function_call"]
    loop.send(
        c.ConversationItemCreate(
            item=Item(type="function_call_output", call_id=calls[-1].call_id, output="{}")
        )
    )
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("audio", "text"))))
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    loop.send(c.ConversationItemDelete(item_id="no_such_item"))  # an error
    loop.drain()
    loop.check()
    kinds = set(compared)
    assert {"session.updated", "error", "response.done"} <= kinds
    assert any("audio" in kind and kind.endswith(".delta") for kind in kinds)
    assert any("text" in kind and kind.endswith(".delta") for kind in kinds)
    assert any("arguments" in kind for kind in kinds)


# --- ids and obfuscation ---------------------------------------------------------------


def test_seeded_ids_are_shaped_unique_and_reproducible_across_batches() -> None:
    kinds = ["event", "item", "call", "resp", "event"] * 2_000  # many batches of 4,096
    first, again, other = seeded_ids(7), seeded_ids(7), seeded_ids(8)
    ids = [first(kind) for kind in kinds]
    assert ids == [again(kind) for kind in kinds]
    assert ids[:20] != [other(kind) for kind in kinds[:20]]
    assert len(set(ids)) == len(ids)
    for kind, made in zip(kinds, ids, strict=True):
        length = 16 if kind == "call" else 21
        assert re.fullmatch(rf"{kind}_[A-Za-z0-9]{{{length}}}", made), made
    letters = "".join(made.partition("_")[2] for made in ids)
    assert len(set(letters)) == 62  # every letter and digit shows up


def reference_obfuscation(event_id: str, delta: str) -> str:
    """The derivation the server always had: a character per digest byte."""
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    size = 16 - len(delta) % 16
    digest = hashlib.blake2b(event_id.encode(), digest_size=16).digest()
    return "".join(chars[b % len(chars)] for b in digest[:size])


def test_obfuscation_is_the_same_bytes_as_before() -> None:
    rng = random.Random(5)
    for n in range(2_000):
        event_id, delta = f"event_{rng.random()}", "x" * rng.randrange(48)
        assert _obfuscation(event_id, delta) == reference_obfuscation(event_id, delta), n
        assert (len(delta) + len(_obfuscation(event_id, delta))) % 16 == 0


# --- SizedLru ------------------------------------------------------------------------


def test_sized_lru_holds_at_most_its_size_dropping_the_least_recent() -> None:
    cache = SizedLru[bytes](max_size=100, max_item=40)
    made: list[int] = []

    def make(n: int) -> bytes:
        made.append(n)
        return bytes(30)

    for key in (1, 2, 3):  # 90 bytes
        cache.get(key, functools.partial(make, key))
    cache.get(1, lambda: make(-1))  # a hit: 1 is now the most recent
    cache.get(4, lambda: make(4))  # 120 > 100: drops 2, the least recent
    assert made == [1, 2, 3, 4]
    assert cache.size == 90 and len(cache) == 3
    cache.get(2, lambda: make(2))  # made again
    cache.get(1, lambda: make(-1))  # still held
    assert made == [1, 2, 3, 4, 2]
    big = cache.get("big", lambda: bytes(41))  # larger than max_item: not kept
    assert len(big) == 41 and len(cache) == 3 and cache.size == 90
    cache.clear()
    assert cache.size == 0 and len(cache) == 0


def test_sized_lru_rejects_impossible_bounds() -> None:
    with pytest.raises(ValueError, match="max_item"):
        SizedLru[bytes](max_size=10, max_item=11)


# --- the synthetic voice's caches ------------------------------------------------------


def uncached(monkeypatch: pytest.MonkeyPatch) -> None:
    """No cache keeps anything (every value is larger than ``max_item``)."""
    monkeypatch.setattr(audio_module, "_WORDS", SizedLru[bytes](max_size=1, max_item=1))
    monkeypatch.setattr(audio_module, "_CHUNKS", SizedLru[str](max_size=1, max_item=1))


TEXT = "Hello there, hello again: the same words, spoken twice; the same words."


@pytest.mark.parametrize("kind", ["tone", "noise"])
@pytest.mark.parametrize("fmt", ["pcm16", "g711_ulaw"])
def test_cached_audio_is_the_uncached_audio(
    monkeypatch: pytest.MonkeyPatch, kind: str, fmt: str
) -> None:
    voice = SyntheticVoice(kind=kind)  # type: ignore[arg-type]
    rng = random.Random(3)
    size = voice.utterance(TEXT, "alloy", fmt).size
    ranges = [(0, size), (0, size + 99)]
    for _ in range(60):
        a, b = rng.randrange(size), rng.randrange(size)
        ranges.append((min(a, b), max(a, b)))
    ranges += [(start, start + 4_800) for start in range(0, size, 4_800)]
    ranges += [(start, start + 4_800) for start in range(0, size, 4_800)]  # again: hits

    def spoken() -> list[tuple[bytes, str, int]]:
        audio = voice.utterance(TEXT, "alloy", fmt)  # a fresh utterance, as per response
        out = []
        for start, end in ranges:
            text, count = audio_module._render_base64(audio, start, end)
            out.append((audio.render(start, end), text, count))
        return out

    cached = spoken()
    with monkeypatch.context() as patch:
        uncached(patch)
        plain = spoken()
    assert cached == plain
    for data, text, count in plain:
        assert base64.b64decode(text) == data and count == len(data)


def test_the_voice_caches_stay_within_their_bounds() -> None:
    words, chunks = audio_module._WORDS, audio_module._CHUNKS
    voice = SyntheticVoice()
    for n in range(300):  # many distinct words and replies, past both budgets
        text = " ".join(f"w{n}x{i}" + "o" * (i % 30) for i in range(40))
        audio = voice.utterance(text, "alloy", "pcm16")
        for start in range(0, audio.size, 24_000):
            audio_module._render_base64(audio, start, start + 24_000)
        assert words.size <= words.max_size and chunks.size <= chunks.max_size
    assert words.size > words.max_size // 2 and chunks.size > chunks.max_size // 2


def test_a_reply_spoken_again_writes_the_same_frames() -> None:
    def frames() -> list[str]:
        server = ServerConnection(responder=ScriptedResponder(["one two three"] * 3))
        server.start(0.0)
        out: list[str] = []
        for _ in range(3):
            out += server.receive('{"type": "response.create"}').to_send
        return out

    audio_module._WORDS.clear()
    audio_module._CHUNKS.clear()
    cold = frames()
    assert len(audio_module._CHUNKS) > 0
    assert frames() == cold  # warm caches, same bytes


# --- input tokens, counted per changed item --------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_input_tokens_recount_exactly_the_changed_items(dialect: Dialect) -> None:
    loop = Loop(
        responder=ScriptedResponder(["a spoken answer"] * 3 + ["text"] * 4),
        dialect=dialect,
    ).start()
    server = loop.server
    session = server.state.session
    assert session is not None
    seen: list[tuple[int, int]] = []

    def check() -> None:
        counted = server._input_tokens(session, None)  # through the kept counts
        server._item_tokens = {}
        assert server._input_tokens(session, None) == counted  # counted from scratch
        seen.append(counted)

    loop.send(
        c.SessionUpdate(
            session=SessionConfig(
                input_audio_transcription=InputAudioTranscription(model="whisper-1")
            )
        )
    )
    loop.append(tone(600) + silence(300))  # a VAD turn: audio, then its transcript
    loop.drain()
    check()
    loop.send(c.ConversationItemCreate(item=Item(type="message", role="user", content=())))
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("audio", "text"))))
    check()
    spoken = [i for i in server.state.items if i.role == "assistant"][-1]
    loop.send(
        c.ConversationItemTruncate(item_id=spoken.id, content_index=0, audio_end_ms=100)
    )  # the same item, shorter: its count must change
    check()
    loop.send(c.ConversationItemDelete(item_id=spoken.id))
    check()
    assert server._item_tokens.keys() == {i.id for i in server.state.items}
    assert all(a != b for a, b in itertools.pairwise(seen))  # each step changed it
