"""Fold speed and memory: microseconds per frame through ``ClientConnection.receive``,
beside the floor, a minimal immutable fold of the same frames, measured in the same run.

Run ``python benchmarks/bench_fold.py``. The streams are built here as the JSON text
frames a real beta server sends (``2024-10-01``), and each is run in both dialects, GA
first (``to_ga``: the same events as a GA server writes them):

- text: one user message and a text response of 1,000 deltas;
- audio: a response of 100 ms pcm16 audio deltas (4,800 bytes = 6,400 base64 chars
  each) with a transcript delta after every third one;
- session: a session that reaches 1,000 items in 500 turns (a user message, a text
  reply of 20 deltas, ``rate_limits.updated``);
- function: a user message, then a function call whose arguments stream in 1,000 deltas;
- barge-in: 50 audio replies the user interrupts after 12 deltas: ``speech_started``,
  the reply cancelled (``response.done``, ``cancelled``) and truncated
  (``conversation.item.truncated``), the user's audio committed as an item;
- stress (reported, outside the targets): 1,000 user items created back to back, then
  a text response: item creation alone, the most expensive frames per byte.

The floor (``FLOORS``, its own section below) is what any immutable fold of these
frames must at least do: msgspec decodes each frame into a frozen Struct (a tagged
union of the types the streams use), and a minimal fold keeps the items in an
``immutables.Map``, makes one path copy (item, root) per delta, a transition tuple and
a Step tuple, and checks nothing. For each stream it prints the time per frame of
``receive`` (decode + fold) with no plugins and with 3 no-op plugins (a few ``on_*``
hooks that return ``None``), of the decode alone (the dialect's ``decode_server``), of
the floor and of its decode alone, and of ``orjson.loads``; then the time of single
frames inside their streams (a text delta, an audio delta, ``response.done``,
``conversation.item.created``), rtstate's and the floor's; then the peak memory
(``tracemalloc``) of folding 60 minutes of assistant audio (36,000 deltas of 100 ms in
360 responses of 10 s) with the default ``Config`` (audio counted, not kept), keeping
only the final state; and last the table of rtstate / floor per stream and dialect.

The attrs floor (``ATTRS_FLOORS``) is the same minimal fold with one change: its values
are frozen attrs classes, as rtstate's public events, state and Steps are (each decoded
Struct rebuilt as an attrs event, the items, roots and Step attrs classes, all built the
fastest way, ``rtstate._build.positional``). It prints beside the floor, per stream and
per frame, and the last table gives rtstate / attrs floor too: how far rtstate is from
the least any fold with attrs values pays, apart from what attrs itself costs.
tests/test_benchmarks.py checks that both floors end every stream with the items and
streamed text rtstate ends with.

Targets (issue 19; reported, not judged): every stream within 2x its floor (2.3x with
the 3 no-op plugins, against the same floor), at most 20 MB for the hour of audio.
Each time is the best of several runs, with the cyclic GC off inside a run (as
``timeit`` does); the runs of one stream are interleaved round by round, so a change
in machine load weighs on all of them alike. Every run drops each result at once, as
``receive`` drops its Steps (a baseline that kept 800 parsed audio frames alive would
pay for fresh memory and look slower than it is). ``RTSTATE_BENCH_QUICK=1`` runs far
fewer and shorter streams (a smoke run for tests): its numbers are rough.
"""

from __future__ import annotations

import base64
import gc
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from importlib.metadata import version
from typing import Any, Final, Union

import attrs
import immutables
import msgspec
import orjson

from rtstate import ClientConnection, Config
from rtstate._build import positional
from rtstate.codec import beta, codec_for, ga
from rtstate.events import ConversationItemAdded, ConversationItemCreated, SessionCreated
from rtstate.step import Step

QUICK = os.environ.get("RTSTATE_BENCH_QUICK") == "1"
REPEATS = 2 if QUICK else 7
TEXT_DELTAS = 100 if QUICK else 1_000
AUDIO_DELTAS = 60 if QUICK else 600
SESSION_ITEMS = 100 if QUICK else 1_000
TURN_DELTAS = 20  # text deltas per reply in the 1,000-item session
FUNCTION_DELTAS = 100 if QUICK else 1_000
BARGE_IN_TURNS = 5 if QUICK else 50
BARGE_IN_DELTAS = 12  # audio deltas (1.2 s) before the user speaks
HOUR_RESPONSES = 6 if QUICK else 360  # of 10 s each: 60 minutes in a full run
DELTAS_PER_RESPONSE = 100  # 100 ms each

AUDIO_BYTES = 4_800  # 100 ms of pcm16 at 24 kHz mono
AUDIO_B64 = base64.b64encode(bytes(i % 251 for i in range(AUDIO_BYTES))).decode()
TARGET_RATIO = 2.0  # rtstate / floor, every stream (issue 19)
TARGET_PLUGGED = 2.3  # the same with 3 no-op plugins
TARGET_MB = 20.0


def assistant_item(item_id: str) -> dict[str, Any]:
    """An assistant message as ``response.output_item.added`` announces it: no content yet."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }


class Frames:
    """Server frames with deterministic ids, as a real server would send them."""

    def __init__(self) -> None:
        self._event = 0
        self.tail: str | None = None

    def frame(self, type: str, **fields: Any) -> str:
        self._event += 1
        return orjson.dumps({"type": type, "event_id": f"event_{self._event}", **fields}).decode()

    def session_created(self) -> str:
        session = {
            "id": "sess_1",
            "object": "realtime.session",
            "model": "gpt-4o-realtime-preview-2024-10-01",
            "modalities": ["text", "audio"],
            "instructions": "You are a helpful assistant.",
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": None,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
            },
            "tools": [],
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
        }
        return self.frame("session.created", session=session)

    def rate_limits(self, turn: int) -> str:
        limits = [
            {"name": "requests", "limit": 5_000, "remaining": 4_999 - turn, "reset_seconds": 0.012},
            {"name": "tokens", "limit": 20_000, "remaining": 19_000 - turn, "reset_seconds": 3.0},
        ]
        return self.frame("rate_limits.updated", rate_limits=limits)

    def user_message(self, item_id: str, text: str) -> str:
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        previous, self.tail = self.tail, item_id
        return self.frame("conversation.item.created", previous_item_id=previous, item=item)

    def response(
        self, response_id: str, item_id: str, kind: str, body: Iterator[tuple[str, str]]
    ) -> Iterator[str]:
        """A whole response with one assistant message whose one part is ``kind``.

        ``body`` yields ``(event type, delta)`` pairs for the part's deltas.
        """
        rid = {"response_id": response_id}
        ids = {**rid, "item_id": item_id, "output_index": 0, "content_index": 0}
        item = assistant_item(item_id)
        empty = (
            {"type": "text", "text": ""} if kind == "text" else {"type": "audio", "transcript": ""}
        )
        yield self.frame(
            "response.created",
            response={
                "id": response_id,
                "object": "realtime.response",
                "status": "in_progress",
                "status_details": None,
                "output": [],
                "usage": None,
            },
        )
        yield self.frame("response.output_item.added", **rid, output_index=0, item=item)
        previous, self.tail = self.tail, item_id
        yield self.frame("conversation.item.created", previous_item_id=previous, item=item)
        yield self.frame("response.content_part.added", **ids, part=empty)
        text: list[str] = []
        for type, delta in body:
            if type != "response.audio.delta":
                text.append(delta)
            yield self.frame(type, **ids, delta=delta)
        full = "".join(text)
        if kind == "text":
            yield self.frame("response.text.done", **ids, text=full)
            part = {"type": "text", "text": full}
        else:
            yield self.frame("response.audio.done", **ids)
            yield self.frame("response.audio_transcript.done", **ids, transcript=full)
            part = {"type": "audio", "transcript": full}
        yield self.frame("response.content_part.done", **ids, part=part)
        done_item = {**item, "status": "completed", "content": [part]}
        yield self.frame("response.output_item.done", **rid, output_index=0, item=done_item)
        usage = {"total_tokens": 30, "input_tokens": 10, "output_tokens": 20}
        yield self.frame(
            "response.done",
            response={
                "id": response_id,
                "object": "realtime.response",
                "status": "completed",
                "status_details": None,
                "output": [done_item],
                "usage": usage,
            },
        )

    def response_object(
        self, response_id: str, status: str = "in_progress", output: list[Any] | None = None
    ) -> dict[str, Any]:
        done = status != "in_progress"
        details = (
            {"type": "cancelled", "reason": "turn_detected"} if status == "cancelled" else None
        )
        return {
            "id": response_id,
            "object": "realtime.response",
            "status": status,
            "status_details": details,
            "output": output or [],
            "usage": {"total_tokens": 30, "input_tokens": 10, "output_tokens": 20}
            if done
            else None,
        }

    def function_call(self, response_id: str, item_id: str, deltas: int) -> Iterator[str]:
        """A response with one function call whose arguments stream in ``deltas`` pieces."""
        rid = {"response_id": response_id}
        ids = {**rid, "item_id": item_id, "output_index": 0, "call_id": f"call_{item_id}"}
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": "lookup",
            "call_id": ids["call_id"],
            "arguments": "",
        }
        yield self.frame("response.created", response=self.response_object(response_id))
        yield self.frame("response.output_item.added", **rid, output_index=0, item=item)
        previous, self.tail = self.tail, item_id
        yield self.frame("conversation.item.created", previous_item_id=previous, item=item)
        pieces = ['{"query": "', *(f"w{n} " for n in range(deltas - 2)), '"}']
        for piece in pieces:
            yield self.frame("response.function_call_arguments.delta", **ids, delta=piece)
        arguments = "".join(pieces)
        yield self.frame("response.function_call_arguments.done", **ids, arguments=arguments)
        done_item = {**item, "status": "completed", "arguments": arguments}
        yield self.frame("response.output_item.done", **rid, output_index=0, item=done_item)
        yield self.frame(
            "response.done", response=self.response_object(response_id, "completed", [done_item])
        )

    def barged_in(self, response_id: str, item_id: str, user_id: str, deltas: int) -> Iterator[str]:
        """An audio reply the user interrupts after ``deltas`` audio deltas, then the
        user's turn, as the server writes it: ``speech_started``, the reply cancelled
        (``response.done``, status ``cancelled``) and truncated where playback stopped
        (``conversation.item.truncated``), the user's audio committed as an item."""
        rid = {"response_id": response_id}
        ids = {**rid, "item_id": item_id, "output_index": 0, "content_index": 0}
        item = assistant_item(item_id)
        yield self.frame("response.created", response=self.response_object(response_id))
        yield self.frame("response.output_item.added", **rid, output_index=0, item=item)
        previous, self.tail = self.tail, item_id
        yield self.frame("conversation.item.created", previous_item_id=previous, item=item)
        yield self.frame(
            "response.content_part.added", **ids, part={"type": "audio", "transcript": ""}
        )
        text = []
        for type, delta in audio_body(deltas):
            if type != "response.audio.delta":
                text.append(delta)
            yield self.frame(type, **ids, delta=delta)
        yield self.frame("input_audio_buffer.speech_started", audio_start_ms=1_000, item_id=user_id)
        part = {"type": "audio", "transcript": "".join(text)}
        yield self.frame("response.audio.done", **ids)
        yield self.frame("response.audio_transcript.done", **ids, transcript=part["transcript"])
        yield self.frame("response.content_part.done", **ids, part=part)
        done_item = {**item, "status": "incomplete", "content": [part]}
        yield self.frame("response.output_item.done", **rid, output_index=0, item=done_item)
        yield self.frame(
            "response.done", response=self.response_object(response_id, "cancelled", [done_item])
        )
        played = deltas * 100 // 2  # playback is behind the deltas received
        yield self.frame(
            "conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=played
        )
        yield self.frame("input_audio_buffer.speech_stopped", audio_end_ms=2_000, item_id=user_id)
        previous, self.tail = self.tail, user_id
        yield self.frame("input_audio_buffer.committed", item_id=user_id, previous_item_id=previous)
        user = {
            "id": user_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        yield self.frame("conversation.item.created", previous_item_id=previous, item=user)


def text_body(count: int) -> Iterator[tuple[str, str]]:
    for n in range(count):
        yield "response.text.delta", f" word{n}"


def audio_body(count: int) -> Iterator[tuple[str, str]]:
    for n in range(count):
        yield "response.audio.delta", AUDIO_B64
        if n % 3 == 2:
            yield "response.audio_transcript.delta", f" word{n}"


def text_stream() -> list[str]:
    f = Frames()
    frames = [f.session_created(), f.user_message("item_u", "Tell me a long story.")]
    frames += f.response("resp_1", "item_a", "text", text_body(TEXT_DELTAS))
    return frames


def audio_stream() -> list[str]:
    f = Frames()
    return [f.session_created(), *f.response("resp_1", "item_a", "audio", audio_body(AUDIO_DELTAS))]


def session_stream() -> list[str]:
    """A session that reaches 1,000 items: user message, text reply, rate limits, x500."""
    f = Frames()
    frames = [f.session_created()]
    for turn in range(SESSION_ITEMS // 2):
        frames.append(f.user_message(f"item_u{turn}", f"question number {turn}"))
        frames += f.response(f"resp_{turn}", f"item_a{turn}", "text", text_body(TURN_DELTAS))
        frames.append(f.rate_limits(turn))
    return frames


def function_stream() -> list[str]:
    """A user message, then a function call whose arguments stream in 1,000 deltas."""
    f = Frames()
    frames = [f.session_created(), f.user_message("item_u", "Look it up.")]
    frames += f.function_call("resp_1", "item_f", FUNCTION_DELTAS)
    return frames


def barge_in_stream() -> list[str]:
    """Audio replies the user interrupts, turn after turn (the server's frames only)."""
    f = Frames()
    frames = [f.session_created()]
    for turn in range(BARGE_IN_TURNS):
        frames += f.barged_in(f"resp_{turn}", f"item_a{turn}", f"item_u{turn}", BARGE_IN_DELTAS)
    return frames


def burst_stream() -> list[str]:
    """1,000 user items created back to back, then a response: item creation only."""
    f = Frames()
    frames = [f.session_created()]
    frames += [f.user_message(f"item_{n}", f"message number {n}") for n in range(SESSION_ITEMS)]
    frames += f.response("resp_1", "item_a", "text", text_body(50))
    return frames


class NoOp:
    """A plugin that is called for the common transitions and does nothing."""

    def on_text_appended(self, transition: object, step: Step) -> None:
        return None

    def on_audio_appended(self, transition: object, step: Step) -> None:
        return None

    def on_transcript_appended(self, transition: object, step: Step) -> None:
        return None

    def on_item_added(self, transition: object, step: Step) -> None:
        return None

    def on_response_finished(self, transition: object, step: Step) -> None:
        return None


# --- the floor: a minimal immutable fold, measured beside rtstate on the same frames -----
#
# What any immutable fold of these frames must at least do, written as plainly and as
# fast as CPython 3.11 allows: msgspec decodes each frame into a frozen Struct (one
# tagged union per dialect, over the event types these streams use), and one handler
# per type makes the new state: the items in a persistent map (``immutables.Map``),
# one path copy (item, then root) per delta, a tuple of transitions and a Step tuple.
# No protocol checks, no ledger, no plugins. Text goes to an append-only list shared
# by an item's versions (an O(1) append, as rtstate's ``TextLog``); audio is counted.


class FPart(msgspec.Struct, frozen=True):
    type: str
    text: str | None = None
    transcript: str | None = None
    audio: str | None = None


class FItem(msgspec.Struct, frozen=True):
    id: str
    type: str
    object: str | None = None
    status: str | None = None
    role: str | None = None
    content: tuple[FPart, ...] = ()
    name: str | None = None
    call_id: str | None = None
    arguments: str | None = None


class FResponse(msgspec.Struct, frozen=True):
    id: str
    object: str | None = None
    status: str | None = None
    status_details: dict[str, Any] | None = None
    output: tuple[FItem, ...] = ()
    usage: dict[str, Any] | None = None


class FSession(msgspec.Struct, frozen=True):
    id: str
    object: str | None = None
    model: str | None = None
    instructions: str | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_choice: str | dict[str, Any] | None = None


class FLimit(msgspec.Struct, frozen=True):
    name: str
    limit: int
    remaining: int
    reset_seconds: float


class FEvent(msgspec.Struct, frozen=True, tag_field="type"):
    event_id: str


_PART_IDS = {"response_id": str, "item_id": str, "output_index": int, "content_index": int}
_CALL_IDS = {"response_id": str, "item_id": str, "output_index": int, "call_id": str}
FLOOR_EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    # kind: (GA wire type, fields); the beta wire type is the kind itself
    "session.created": ("session.created", {"session": FSession}),
    "conversation.item.created": (
        "conversation.item.added",
        {"item": FItem, "previous_item_id": str | None},
    ),
    "response.created": ("response.created", {"response": FResponse}),
    "response.done": ("response.done", {"response": FResponse}),
    "response.output_item.added": (
        "response.output_item.added",
        {"response_id": str, "output_index": int, "item": FItem},
    ),
    "response.output_item.done": (
        "response.output_item.done",
        {"response_id": str, "output_index": int, "item": FItem},
    ),
    "response.content_part.added": ("response.content_part.added", {**_PART_IDS, "part": FPart}),
    "response.content_part.done": ("response.content_part.done", {**_PART_IDS, "part": FPart}),
    "response.text.delta": ("response.output_text.delta", {**_PART_IDS, "delta": str}),
    "response.text.done": ("response.output_text.done", {**_PART_IDS, "text": str}),
    "response.audio.delta": ("response.output_audio.delta", {**_PART_IDS, "delta": str}),
    "response.audio.done": ("response.output_audio.done", _PART_IDS),
    "response.audio_transcript.delta": (
        "response.output_audio_transcript.delta",
        {**_PART_IDS, "delta": str},
    ),
    "response.audio_transcript.done": (
        "response.output_audio_transcript.done",
        {**_PART_IDS, "transcript": str},
    ),
    "response.function_call_arguments.delta": (
        "response.function_call_arguments.delta",
        {**_CALL_IDS, "delta": str},
    ),
    "response.function_call_arguments.done": (
        "response.function_call_arguments.done",
        {**_CALL_IDS, "arguments": str},
    ),
    "rate_limits.updated": ("rate_limits.updated", {"rate_limits": tuple[FLimit, ...]}),
    "input_audio_buffer.speech_started": (
        "input_audio_buffer.speech_started",
        {"audio_start_ms": int, "item_id": str},
    ),
    "input_audio_buffer.speech_stopped": (
        "input_audio_buffer.speech_stopped",
        {"audio_end_ms": int, "item_id": str},
    ),
    "input_audio_buffer.committed": (
        "input_audio_buffer.committed",
        {"item_id": str, "previous_item_id": str | None},
    ),
    "conversation.item.truncated": (
        "conversation.item.truncated",
        {"item_id": str, "content_index": int, "audio_end_ms": int},
    ),
}


class Held(msgspec.Struct, frozen=True):
    """An item as the floor holds it: its text in a shared append-only list."""

    id: str
    role: str | None
    status: str | None
    chunks: list[str]
    length: int  # how many of ``chunks`` this version holds
    audio_bytes: int


class FState(msgspec.Struct, frozen=True):
    session: FSession | None = None
    items: immutables.Map[str, Held] = immutables.Map()
    response: FResponse | None = None
    rate_limits: tuple[FLimit, ...] = ()
    speaking: bool = False


_Handler = Callable[[Any, Any], tuple[Any, tuple[Any, ...]]]


def floor_handlers(Held: Callable[..., Any], FState: Callable[..., Any]) -> dict[str, _Handler]:
    """The floor's handler per event kind, building its items with ``Held`` and its
    roots with ``FState`` (by position): the Structs above, or the attrs floor's
    classes (``AttrsFloor``)."""

    def _with_items(s: Any, items: immutables.Map[str, Any]) -> Any:
        return FState(s.session, items, s.response, s.rate_limits, s.speaking)

    def _held(item: FItem) -> Any:
        return Held(item.id, item.role, item.status, [], 0, 0)

    def _appended(s: Any, e: Any) -> tuple[Any, tuple[Any, ...]]:
        """Every streamed delta: one path copy, item then root."""
        old = s.items[e.item_id]
        old.chunks.append(e.delta)
        new = Held(old.id, old.role, old.status, old.chunks, old.length + 1, old.audio_bytes)
        return _with_items(s, s.items.set(old.id, new)), (("appended", e.item_id, e.delta),)

    def _audio(s: Any, e: Any) -> tuple[Any, tuple[Any, ...]]:
        old = s.items[e.item_id]
        size = len(e.delta) * 3 // 4
        new = Held(old.id, old.role, old.status, old.chunks, old.length, old.audio_bytes + size)
        return _with_items(s, s.items.set(old.id, new)), (("audio", e.item_id, size),)

    def _item_added(s: Any, e: Any) -> tuple[Any, tuple[Any, ...]]:
        if e.item.id in s.items:
            return s, ()
        return _with_items(s, s.items.set(e.item.id, _held(e.item))), (("item", e.item.id),)

    def _item_status(s: Any, item_id: str, status: str) -> tuple[Any, tuple[Any, ...]]:
        old = s.items[item_id]
        new = Held(old.id, old.role, status, old.chunks, old.length, old.audio_bytes)
        return _with_items(s, s.items.set(item_id, new)), (("status", item_id, status),)

    def _response(s: Any, response: FResponse | None) -> tuple[Any, tuple[Any, ...]]:
        return FState(s.session, s.items, response, s.rate_limits, s.speaking), (("response",),)

    def _speaking(s: Any, speaking: bool) -> tuple[Any, tuple[Any, ...]]:
        return FState(s.session, s.items, s.response, s.rate_limits, speaking), (("speech",),)

    def _unchanged(s: Any, e: Any) -> tuple[Any, tuple[Any, ...]]:
        return s, ()

    return {
        "session.created": lambda s, e: (
            FState(e.session, s.items, s.response, s.rate_limits, s.speaking),
            (("session",),),
        ),
        "conversation.item.created": _item_added,
        "response.created": lambda s, e: _response(s, e.response),
        "response.done": lambda s, e: _response(s, None),
        "response.output_item.added": _item_added,
        "response.output_item.done": lambda s, e: _item_status(s, e.item.id, e.item.status),
        "response.content_part.added": _unchanged,
        "response.content_part.done": _unchanged,
        "response.text.delta": _appended,
        "response.text.done": lambda s, e: _item_status(s, e.item_id, "text done"),
        "response.audio.delta": _audio,
        "response.audio.done": _unchanged,
        "response.audio_transcript.delta": _appended,
        "response.audio_transcript.done": lambda s, e: _item_status(
            s, e.item_id, "transcript done"
        ),
        "response.function_call_arguments.delta": _appended,
        "response.function_call_arguments.done": lambda s, e: _item_status(s, e.item_id, "done"),
        "rate_limits.updated": lambda s, e: (
            FState(s.session, s.items, s.response, e.rate_limits, s.speaking),
            (("limits",),),
        ),
        "input_audio_buffer.speech_started": lambda s, e: _speaking(s, True),
        "input_audio_buffer.speech_stopped": lambda s, e: _speaking(s, False),
        "input_audio_buffer.committed": _unchanged,
        "conversation.item.truncated": lambda s, e: _item_status(s, e.item_id, "truncated"),
    }


FLOOR_HANDLERS: Final = floor_handlers(Held, FState)


class Floor:
    """One dialect's floor: its msgspec decoder and its handlers by Struct class."""

    def __init__(self, dialect: str) -> None:
        classes = []
        self.handlers: dict[type, _Handler] = {}
        self.kinds: dict[type, str] = {}
        for kind, (ga_type, fields) in FLOOR_EVENTS.items():
            tag = ga_type if dialect == "ga" else kind
            cls = msgspec.defstruct(
                kind.title().replace(".", "").replace("_", ""),
                list(fields.items()),
                bases=(FEvent,),
                tag=tag,
                frozen=True,
            )
            classes.append(cls)
            self.handlers[cls] = FLOOR_HANDLERS[kind]
            self.kinds[cls] = kind
        self.decode = msgspec.json.Decoder(Union[tuple(classes)]).decode  # noqa: UP007

    def start(self) -> Any:
        """The state a run starts from."""
        return FState()

    def fold(self, state: Any, frame: str) -> tuple[Any, ...]:
        """Decode and fold one frame: the Step tuple (before, after, event, transitions)."""
        event = self.decode(frame)
        after, transitions = self.handlers[event.__class__](state, event)
        return (state, after, event, transitions)

    def run(self, frames: list[str]) -> Callable[[], object]:
        decode, handlers = self.decode, self.handlers

        def run() -> object:
            state = FState()
            for frame in frames:
                event = decode(frame)
                after, transitions = handlers[event.__class__](state, event)
                step = (state, after, event, transitions)
                state = step[1]
            return state

        return run


# --- the attrs floor: the same fold with frozen attrs classes for the values -------------
#
# rtstate's public values (events, state, Steps) are frozen attrs classes, which CPython
# builds in Python (about 0.3 us each, the fastest way: ``rtstate._build.positional``,
# against about 0.07 us for a msgspec Struct). The attrs floor is the floor above with
# that one change: each decoded Struct is rebuilt as a frozen attrs event, the items
# and roots are frozen attrs classes, the Step is a frozen attrs class. Its transitions
# stay tuples and its nested payloads (items, parts, responses) stay Structs, so it is
# a lower bound of any fold whose public values are attrs classes.


@attrs.frozen
class AHeld:
    id: str
    role: str | None
    status: str | None
    chunks: list[str]
    length: int
    audio_bytes: int


@attrs.frozen
class AState:
    session: FSession | None = None
    items: immutables.Map[str, AHeld] = attrs.field(factory=immutables.Map)
    response: FResponse | None = None
    rate_limits: tuple[FLimit, ...] = ()
    speaking: bool = False


@attrs.frozen
class AStep:
    before: AState
    after: AState
    input: object
    transitions: tuple[Any, ...]


ATTRS_HANDLERS: Final = floor_handlers(positional(AHeld), positional(AState))


class AttrsFloor(Floor):
    """One dialect's attrs floor: the floor, its values frozen attrs classes."""

    def __init__(self, dialect: str) -> None:
        super().__init__(dialect)
        self.events: dict[type, Callable[..., Any]] = {}
        handlers: dict[type, _Handler] = {}
        for struct in self.handlers:
            names = [field.name for field in msgspec.structs.fields(struct)]
            event = attrs.make_class(f"A{struct.__name__}", list(names), frozen=True)
            self.events[struct] = positional(event)
            handlers[struct] = ATTRS_HANDLERS[self.kinds[struct]]
        self.handlers = handlers

    def start(self) -> Any:
        return AState()

    def fold(self, state: Any, frame: str) -> tuple[Any, ...]:
        struct = self.decode(frame)
        cls = struct.__class__
        event = self.events[cls](*astuple(struct))
        after, transitions = self.handlers[cls](state, event)
        step = new_astep(state, after, event, transitions)
        return (state, step.after)

    def run(self, frames: list[str]) -> Callable[[], object]:
        decode, handlers, events = self.decode, self.handlers, self.events

        def run() -> object:
            state = AState()
            for frame in frames:
                struct = decode(frame)
                cls = struct.__class__
                event = events[cls](*astuple(struct))
                after, transitions = handlers[cls](state, event)
                step = new_astep(state, after, event, transitions)
                state = step.after
            return state

        return run


new_astep: Final = positional(AStep)
astuple: Final = msgspec.structs.astuple


FLOORS = {"beta": Floor("beta"), "ga": Floor("ga")}
ATTRS_FLOORS = {"beta": AttrsFloor("beta"), "ga": AttrsFloor("ga")}


def best_us(runs: Sequence[Callable[[], object]], frames: int) -> list[float]:
    """Microseconds per frame of each run: its best of REPEATS (GC off inside a run).

    The runs are interleaved, round by round, so a change in machine load during the
    measurement weighs on all of them alike.
    """
    best = [float("inf")] * len(runs)
    for _ in range(REPEATS):
        for i, run in enumerate(runs):
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                run()
                best[i] = min(best[i], time.perf_counter() - t0)
            finally:
                gc.enable()
    return [b / frames * 1e6 for b in best]


def each(function: Callable[[str], object], frames: list[str]) -> Callable[[], None]:
    """A run calling ``function`` on every frame, dropping each result at once (as
    ``receive`` does with its Steps, so the baselines allocate alike)."""

    def run() -> None:
        for frame in frames:
            function(frame)

    return run


BETA = Config(dialect="beta")
"""The beta streams' connection (GA, the default, is said as ``GA``)."""
GA = Config(dialect="ga")


def to_ga(frames: list[str]) -> list[str]:
    """The same stream as a GA server writes it: GA names and shapes, and
    ``conversation.item.added`` where the beta server says ``conversation.item.created``."""
    out = []
    for frame in frames:
        event = beta.decode_server(frame)
        if isinstance(event, ConversationItemCreated):
            event = ConversationItemAdded(
                event_id=event.event_id, item=event.item, previous_item_id=event.previous_item_id
            )
        elif isinstance(event, SessionCreated):  # GA has no temperature
            event = attrs.evolve(event, session=attrs.evolve(event.session, temperature=None))
        out.append(ga.encode(event))
    return out


def fold_all(frames: list[str], plugins: int, config: Config | None = None) -> Callable[[], object]:
    config = config or BETA

    def run() -> object:
        conn = ClientConnection(config=config, plugins=[NoOp() for _ in range(plugins)])
        receive = conn.receive
        for frame in frames:
            receive(frame)
        return conn

    return run


def check(frames: list[str], config: Config | None = None) -> None:
    """Measure the real path: every frame folds with no diagnostic."""
    conn = ClientConnection(config=config or BETA, plugins=[NoOp(), NoOp(), NoOp()])
    for frame in frames:
        step = conn.receive(frame)
        if step.diagnostics:
            raise SystemExit(f"benchmark stream is not clean: {step.diagnostics}")
    assert conn.state.active_response is None and conn.state.finished


RUNS = 8  # the runs of one stream in one dialect, as bench_stream lists them
DIALECTS = (("GA", GA), ("beta", BETA))
"""GA first: the default dialect."""


def bench_stream(name: str, frames: list[str]) -> dict[str, tuple[float, float, float]]:
    """Print one stream's figures in both dialects; return dialect -> (ratio to the
    floor without plugins, with 3 no-op plugins, ratio to the attrs floor without)."""
    check(frames)
    by_dialect = {"GA": to_ga(frames), "beta": frames}
    check(by_dialect["GA"], GA)
    runs: list[Callable[[], object]] = []
    for dialect, config in DIALECTS:
        stream, codec, floor = (
            by_dialect[dialect],
            codec_for(config.dialect),
            FLOORS[config.dialect],
        )
        runs += [
            fold_all(stream, 0, config),
            fold_all(stream, 3, config),
            each(codec.decode_server, stream),
            floor.run(stream),
            each(floor.decode, stream),
            each(orjson.loads, stream),
            # the plain decode (orjson + cattrs) the typed one is checked against: the
            # decode before the typed decoders, in the same run (where a codec has it)
            each(getattr(codec, "reference_decode_server", None) or codec.decode_server, stream),
            ATTRS_FLOORS[config.dialect].run(stream),
        ]
    times = best_us(runs, len(frames))
    size = sum(len(f) for f in by_dialect["GA"]) / len(frames)
    print(f"{name} ({len(frames):,} frames, {size:,.0f} chars each on average in GA)")
    print(f"  {'us/frame':28}{'GA':>22}{'beta':>22}")
    rows = [
        ("receive, no plugins", 0, 3),
        ("receive, 3 no-op plugins", 1, 3),
        ("decode only", 2, 4),
        ("floor: decode + fold", 3, None),
        ("floor: decode only", 4, None),
        ("orjson.loads", 5, None),
        ("decode only, reference path", 6, 4),
        ("attrs floor: decode + fold", 7, 3),
    ]
    for label, at, against in rows:
        cells = ""
        for d in range(len(DIALECTS)):
            value = times[RUNS * d + at]
            ratio = f"{value / times[RUNS * d + against]:5.1f}x floor" if against else " " * 11
            cells += f"{value:9.2f} {ratio}" + " " * 1
        print(f"  {label:28}{cells} us/frame")
    return {
        dialect: (
            times[RUNS * d] / times[RUNS * d + 3],
            times[RUNS * d + 1] / times[RUNS * d + 3],
            times[RUNS * d] / times[RUNS * d + 7],
        )
        for d, (dialect, _) in enumerate(DIALECTS)
    }


PER_FRAME = (
    # (what, the stream it is timed in, beta type, GA type)
    ("text delta", text_stream, "response.text.delta", "response.output_text.delta"),
    ("audio delta", audio_stream, "response.audio.delta", "response.output_audio.delta"),
    ("response.done", session_stream, "response.done", "response.done"),
    (
        "conversation.item.created",
        session_stream,
        "conversation.item.created",
        "conversation.item.added",
    ),
)


def timed_frames(
    fold_one: Callable[[], Callable[[str], object]], frames: list[str], wanted: str
) -> Callable[[], float]:
    """A run folding every frame of a stream through a fresh ``fold_one()``, timing
    only the frames of type ``wanted`` one by one; it returns their total time."""
    timed = [orjson.loads(frame)["type"] == wanted for frame in frames]
    clock = time.perf_counter

    def run() -> float:
        one = fold_one()
        total = 0.0
        for frame, timing in zip(frames, timed, strict=True):
            if timing:
                t0 = clock()
                one(frame)
                total += clock() - t0
            else:
                one(frame)
        return total

    return run


def stateless(decode: Callable[[str], object]) -> Callable[[], Callable[[str], object]]:
    """``timed_frames``' ``fold_one`` for a function that keeps no state (a decoder)."""
    return lambda: decode


def best_total(runs: Sequence[Callable[[], float]]) -> list[float]:
    """The best total each run reports, interleaved round by round (GC off in a run)."""
    best = [float("inf")] * len(runs)
    for _ in range(REPEATS):
        for i, run in enumerate(runs):
            gc.collect()
            gc.disable()
            try:
                best[i] = min(best[i], run())
            finally:
                gc.enable()
    return best


def bench_per_frame() -> None:
    """One frame of each kind, decoded and folded in its stream: rtstate and the floor."""
    print("per frame, in its stream (us; receive = decode + fold, no plugins)")
    print(
        f"  {'':34}{'receive':>9}{'decode':>9}{'floor':>9}{'fl. dec.':>9}{'attrs fl.':>10}"
        f"{'ratio':>8}"
    )
    for what, stream, beta_type, ga_type in PER_FRAME:
        beta_frames = stream()
        for dialect, config in DIALECTS:
            frames = to_ga(beta_frames) if config is GA else beta_frames
            wanted = ga_type if config is GA else beta_type
            count = sum(orjson.loads(f)["type"] == wanted for f in frames)
            codec, floor = codec_for(config.dialect), FLOORS[config.dialect]
            attrs_floor = ATTRS_FLOORS[config.dialect]

            def rtstate(config: Config = config) -> Callable[[str], object]:
                return ClientConnection(config=config).receive

            def floor_fold(floor: Floor = floor) -> Callable[[str], object]:
                state = floor.start()

                def one(frame: str) -> None:
                    nonlocal state
                    state = floor.fold(state, frame)[1]

                return one

            totals = best_total(
                [
                    timed_frames(rtstate, frames, wanted),
                    timed_frames(stateless(codec.decode_server), frames, wanted),
                    timed_frames(floor_fold, frames, wanted),
                    timed_frames(stateless(floor.decode), frames, wanted),
                    timed_frames(partial(floor_fold, attrs_floor), frames, wanted),
                ]
            )
            full, decode, base, base_decode, attrs_base = (t / count * 1e6 for t in totals)
            label = f"{what} ({dialect})"
            print(
                f"  {label:34}{full:9.2f}{decode:9.2f}{base:9.2f}{base_decode:9.2f}"
                f"{attrs_base:10.2f}{full / base:7.1f}x us/frame"
            )


def hour_of_audio() -> Iterator[str]:
    """60 minutes of assistant audio: 360 responses of 100 deltas of 100 ms (full run)."""
    f = Frames()
    yield f.session_created()
    for r in range(HOUR_RESPONSES):
        yield f.user_message(f"item_u{r}", f"question {r}")
        yield from f.response(f"resp_{r}", f"item_a{r}", "audio", audio_body(DELTAS_PER_RESPONSE))


def bench_memory() -> float:
    minutes = HOUR_RESPONSES * DELTAS_PER_RESPONSE / 600
    gc.collect()
    tracemalloc.start()
    conn = ClientConnection(config=BETA)
    frames = 0
    for frame in hour_of_audio():  # frames are made one at a time and dropped
        conn.receive(frame)
        frames += 1
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    state = conn.state
    items = state.items
    assert len(items) == 2 * HOUR_RESPONSES
    audio_ms = sum(i.audio_ms for i in items)
    assert audio_ms == minutes * 60_000, audio_ms
    print(
        f"{minutes:.0f} minutes of assistant audio ({HOUR_RESPONSES * DELTAS_PER_RESPONSE:,} "
        f"deltas of 100 ms, {frames:,} frames), default retention, final state only"
    )
    held = current / 1e6
    print(f"  peak traced memory         {peak / 1e6:8.2f} MB   (held at the end: {held:.2f} MB)")
    return peak / 1e6


def main() -> None:
    print(
        f"python {platform.python_version()}, orjson {version('orjson')}, "
        f"msgspec {version('msgspec')}, cattrs {version('cattrs')}, attrs {version('attrs')}, "
        f"immutables {version('immutables')}"
        f"{' (quick run: numbers are rough)' if QUICK else ''}"
    )
    print(f"best of {REPEATS} runs; us = microseconds; one frame = one server event")
    print("floor = msgspec decode into frozen Structs + a minimal immutable fold (see FLOORS)")
    print()
    streams = [
        ("text", f"text stream: {TEXT_DELTAS:,} text deltas", text_stream()),
        (
            "audio",
            f"audio stream: {AUDIO_DELTAS:,} audio deltas of 100 ms + transcript",
            audio_stream(),
        ),
        (
            "session",
            f"session of {SESSION_ITEMS:,} items: {SESSION_ITEMS // 2:,} turns of a user message "
            f"and a text reply of {TURN_DELTAS} deltas",
            session_stream(),
        ),
        ("function", f"function call: arguments in {FUNCTION_DELTAS:,} deltas", function_stream()),
        (
            "barge-in",
            f"barge-in: {BARGE_IN_TURNS} audio replies cut after {BARGE_IN_DELTAS} deltas",
            barge_in_stream(),
        ),
    ]
    ratios = {}
    for key, name, frames in streams:
        ratios[key] = bench_stream(name, frames)
        print()
    bench_stream(
        f"stress, outside the targets: {SESSION_ITEMS:,} items created back to back",
        burst_stream(),
    )
    print()
    bench_per_frame()
    print()
    peak = bench_memory()
    print()
    print(
        f"rtstate / floor (receive vs floor decode + fold; targets <= {TARGET_RATIO}x, "
        f"<= {TARGET_PLUGGED}x with 3 no-op plugins); last two: rtstate / attrs floor"
    )
    print(
        f"  {'stream':10}{'GA':>9}{'GA+3':>9}{'beta':>9}{'beta+3':>9}"
        f"{'GA/attrs':>10}{'beta/attrs':>11}"
    )
    worst = worst_plugged = 0.0
    for key, per_dialect in ratios.items():
        cells = "".join(
            f"{plain:8.2f}x{plugged:8.2f}x" for plain, plugged, _ in per_dialect.values()
        )
        cells += "".join(f"{to_attrs:10.2f}x" for _, _, to_attrs in per_dialect.values())
        print(f"  {key:10}{cells}")
        worst = max([worst, *(plain for plain, _, _ in per_dialect.values())])
        worst_plugged = max([worst_plugged, *(p for _, p, _ in per_dialect.values())])
    print(
        f"targets: worst {worst:.2f}x ({'met' if worst <= TARGET_RATIO else 'NOT met'}), "
        f"with plugins {worst_plugged:.2f}x "
        f"({'met' if worst_plugged <= TARGET_PLUGGED else 'NOT met'}); <= {TARGET_MB:.0f} MB "
        f"for the hour of audio ({peak:.2f} MB: {'met' if peak <= TARGET_MB else 'NOT met'})"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
