"""Fold speed and memory: microseconds per frame through ``ClientConnection.receive``.

Each stream is also run in the GA dialect (``Config(dialect="ga")``): the same events
as a GA server writes them.

Run ``python benchmarks/bench_fold.py``. Three server streams, built here as the JSON
text frames a real server sends (beta ``2024-10-01``):

- text: one user message and a text response of 1,000 deltas;
- audio: a response of 100 ms pcm16 audio deltas (4,800 bytes = 6,400 base64 chars
  each) with a transcript delta after every third one;
- session: a session that reaches 1,000 items in 500 turns (a user message, a text
  reply of 20 deltas, ``rate_limits.updated``);
- stress (reported, outside the targets): 1,000 user items created back to back, then
  a text response: item creation alone, the most expensive frames per byte.

For each stream it prints the time per frame of ``receive`` (decode + fold) with no
plugins and with 3 no-op plugins (a few ``on_*`` hooks that return ``None``), of the
decode alone (``beta.decode_server``), and of ``orjson.loads`` of the same frames (the
floor: every decode starts with it). Then the peak memory (``tracemalloc``) of folding
60 minutes of assistant audio (36,000 deltas of 100 ms in 360 responses of 10 s) with
the default ``Config`` (audio counted, not kept), keeping only the final state.

Targets (reported, not judged): at most 10 us per frame on every stream,
at most 20 MB for the hour of audio. Each time is the best of several runs, with the
cyclic GC off inside a run (as ``timeit`` does); the runs of one stream are
interleaved round by round, so a change in machine load weighs on all of them alike.
Every run drops each result at once, as ``receive`` drops its Steps (a baseline that
kept 800 parsed audio frames alive would pay for fresh memory and look slower than
it is). ``RTSTATE_BENCH_QUICK=1`` runs far
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
from importlib.metadata import version
from typing import Any

import attrs
import orjson

from rtstate import ClientConnection, Config
from rtstate.codec import beta, ga
from rtstate.events import ConversationItemAdded, ConversationItemCreated, SessionCreated
from rtstate.step import Step

QUICK = os.environ.get("RTSTATE_BENCH_QUICK") == "1"
REPEATS = 2 if QUICK else 7
TEXT_DELTAS = 100 if QUICK else 1_000
AUDIO_DELTAS = 60 if QUICK else 600
SESSION_ITEMS = 100 if QUICK else 1_000
TURN_DELTAS = 20  # text deltas per reply in the 1,000-item session
HOUR_RESPONSES = 6 if QUICK else 360  # of 10 s each: 60 minutes in a full run
DELTAS_PER_RESPONSE = 100  # 100 ms each

AUDIO_BYTES = 4_800  # 100 ms of pcm16 at 24 kHz mono
AUDIO_B64 = base64.b64encode(bytes(i % 251 for i in range(AUDIO_BYTES))).decode()
TARGET_US = 10.0
TARGET_MB = 20.0


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
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
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


def bench_stream(name: str, frames: list[str]) -> float:
    check(frames)
    n = len(frames)
    ga_frames = to_ga(frames)
    check(ga_frames, GA)
    plain, plugged, decode, loads, ga_plain, ga_decode, ga_loads = best_us(
        [
            fold_all(frames, 0),
            fold_all(frames, 3),
            each(beta.decode_server, frames),
            each(orjson.loads, frames),
            fold_all(ga_frames, 0, GA),
            each(ga.decode_server, ga_frames),
            each(orjson.loads, ga_frames),
        ],
        n,
    )
    size = sum(len(f) for f in frames) / n
    print(f"{name} ({n:,} frames, {size:,.0f} chars each on average)")
    print(
        f"  receive, no plugins        {plain:8.2f} us/frame   {plain / loads:5.1f}x orjson.loads"
    )
    ratio = plugged / loads
    print(f"  receive, 3 no-op plugins   {plugged:8.2f} us/frame   {ratio:5.1f}x orjson.loads")
    print(
        f"  decode only                {decode:8.2f} us/frame   {decode / loads:5.1f}x orjson.loads"
    )
    print(f"  orjson.loads               {loads:8.2f} us/frame")
    print(
        f"  GA: receive, no plugins    {ga_plain:8.2f} us/frame   "
        f"{ga_plain / ga_loads:5.1f}x orjson.loads of the GA frames"
    )
    print(
        f"  GA: decode only            {ga_decode:8.2f} us/frame   "
        f"{ga_decode / ga_loads:5.1f}x orjson.loads of the GA frames"
    )
    return max(plain, plugged)


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
        f"cattrs {version('cattrs')}, attrs {version('attrs')}, immutables {version('immutables')}"
        f"{' (quick run: numbers are rough)' if QUICK else ''}"
    )
    print(f"best of {REPEATS} runs; us = microseconds; one frame = one server event")
    print()
    worst = 0.0
    streams = [
        (f"text stream: {TEXT_DELTAS:,} text deltas", text_stream()),
        (f"audio stream: {AUDIO_DELTAS:,} audio deltas of 100 ms + transcript", audio_stream()),
        (
            f"session of {SESSION_ITEMS:,} items: {SESSION_ITEMS // 2:,} turns of a user message "
            f"and a text reply of {TURN_DELTAS} deltas",
            session_stream(),
        ),
    ]
    for name, frames in streams:
        worst = max(worst, bench_stream(name, frames))
        print()
    burst = bench_stream(
        f"stress, outside the targets: {SESSION_ITEMS:,} items created back to back",
        burst_stream(),
    )
    print()
    peak = bench_memory()
    print()
    print(
        f"targets: <= {TARGET_US:.0f} us/frame on the text, audio and session streams (worst "
        f"here {worst:.2f}: {'met' if worst <= TARGET_US else 'NOT met'}); <= {TARGET_MB:.0f} MB "
        f"for the hour of audio ({peak:.2f} MB: {'met' if peak <= TARGET_MB else 'NOT met'})"
    )
    print(f"item creation alone (stress): {burst:.2f} us/frame")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
