"""Per-event cost must not grow with the size of what is already folded.

Each test folds the same kind of event on a small and on a large state and compares
the per-event time as a ratio. Timings are the best of several runs (``perf_counter``)
over many events, the repeats of the small and the large state interleaved (``per_event``
takes both), so a busy machine slows both sides alike. The bound (``RATIO``) is
wide; a per-event O(n) copy of the conversation, of a part's chunks or of the retained
audio blows well past it (``test_the_detector_catches_a_per_delta_copy`` proves so for
a copying text log).
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Sequence

import pytest
from support.helpers import Server, b64, fold_all, pcm16

from rtstate import ClientConnection, Config, SessionState, Step, fold
from rtstate.codec import beta
from rtstate.config import AudioRetention
from rtstate.events import server as s
from rtstate.logs import TextLog, _Chunks
from rtstate.step import Input

BETA = Config(dialect="beta")
"""These tests feed beta frames: their connections say so (GA is the default)."""

RATIO = 4.0
"""Largest accepted (large state) / (small state) per-event time."""

REPEATS = 7


Case = tuple[SessionState, Sequence[Input]]
"""A start state and the events folded in a chain from it."""


def per_event(cases: Sequence[Case], config: Config | None = None) -> list[float]:
    """Best-of-``REPEATS`` seconds per event of each case; the cases take turns within
    each repeat, so a slow spell of a busy machine falls on both sides alike."""
    cfg = config or BETA
    best = [float("inf")] * len(cases)
    with _no_gc():
        for _ in range(REPEATS):
            for i, (start, events) in enumerate(cases):
                state = start
                t0 = time.perf_counter()
                for event in events:
                    state = fold(state, event, cfg).after
                best[i] = min(best[i], time.perf_counter() - t0)
    return [b / len(events) for b, (_, events) in zip(best, cases, strict=True)]


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """No cyclic GC pauses inside a timing (as ``timeit`` does)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def with_items(n: int) -> tuple[Server, SessionState]:
    """A session whose conversation holds ``n`` user messages."""
    srv = Server()
    state, steps = fold_all([srv.session_created(), *(srv.user_message(f"m{i}") for i in range(n))])
    assert len(state.items) == n
    assert not any(step.diagnostics for step in steps)
    return srv, state


def text_deltas(item_id: str, count: int, chunk: str = "word ") -> list[s.ResponseTextDelta]:
    return [
        s.ResponseTextDelta(
            event_id=f"event_d{i}",
            response_id="resp_1",
            item_id=item_id,
            output_index=0,
            content_index=0,
            delta=chunk,
        )
        for i in range(count)
    ]


def open_text_part(srv: Server, state: SessionState, chunks: list[str]) -> SessionState:
    """``state`` with a response streaming one text part that already holds ``chunks``."""
    for event in [srv.response_created(), *srv.text_item(chunks, finish=False)]:
        step = fold(state, event)  # keep no old state: a regression must not eat the RAM
        assert not step.diagnostics
        state = step.after
    return state


def check(costs: Sequence[float], what: str) -> None:
    """Fail when ``costs`` = (small, large) per-event times are more than ``RATIO`` apart."""
    small, large = costs
    ratio = large / small
    assert ratio < RATIO, (
        f"{what}: {large * 1e6:.2f} us/event on the large state vs {small * 1e6:.2f} on the "
        f"small one (x{ratio:.1f}): the per-event cost grows with the state"
    )


def test_text_delta_cost_does_not_grow_with_the_conversation() -> None:
    cases = []
    for n in (10, 10_000):
        srv, state = with_items(n)
        state = open_text_part(srv, state, [])
        cases.append((state, text_deltas(state.items[-1].id, 2000)))
    check(per_event(cases), "text delta, 10 vs 10,000 items")


def test_item_created_cost_does_not_grow_with_the_conversation() -> None:
    cases: list[Case] = []
    for n in (10, 10_000):
        srv, state = with_items(n)
        cases.append((state, [srv.user_message(f"x{i}") for i in range(1000)]))
    check(per_event(cases), "conversation.item.created, 10 vs 10,000 items")


def test_item_inserted_at_the_head_cost_does_not_grow() -> None:
    cases: list[Case] = []
    for n in (10, 10_000):
        srv, state = with_items(n)
        cases.append(
            (state, [srv.user_message(f"x{i}", previous_item_id=None) for i in range(300)])
        )
    check(per_event(cases), "item inserted at the head, 10 vs 10,000 items")


def _part_with(existing: int, chunk: str) -> tuple[SessionState, list[s.ResponseTextDelta]]:
    """A state whose streaming text part holds ``existing`` deltas, and 300 more to fold."""
    srv, state = with_items(10)
    state = open_text_part(srv, state, [chunk] * existing)
    item = state.items[-1]
    assert item.text == chunk * existing
    return state, text_deltas(item.id, 300, chunk)


CHUNK = "abcdefghijklmnopqrst"


def test_the_5000th_delta_costs_what_the_50th_does() -> None:
    check(per_event([_part_with(n, CHUNK) for n in (50, 5000)]), "50th vs 5,000th delta")


def test_a_long_answer_is_never_rebuilt_per_delta() -> None:
    """At 50,000 deltas (1 MB of text) a per-delta rebuild of the string would show."""
    check(per_event([_part_with(n, CHUNK) for n in (50, 50_000)]), "50th vs 50,000th delta")


def test_the_detector_catches_a_per_delta_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """``check`` fails for a text log that copies its chunks on every delta."""
    setups = [_part_with(n, CHUNK) for n in (50, 50_000)]  # built with the real log

    def copying_append(self: TextLog, delta: str) -> TextLog:
        chunks = _Chunks(self._chunks[: self._n])
        chunks.append(delta)
        return TextLog(chunks, len(chunks))

    monkeypatch.setattr(TextLog, "append", copying_append)
    costs = per_event(setups)
    with pytest.raises(AssertionError, match="grows with the state"):
        check(costs, "copying log")


def test_audio_delta_cost_does_not_grow_with_retained_audio() -> None:
    """Keeping every item's audio: the 30,000th delta costs what the 10th does."""
    config = Config(audio_retention=AudioRetention.PER_ITEM)
    audio = pcm16(20)
    cases: list[Case] = []
    for existing in (10, 30_000):
        srv, state = with_items(10)
        state, _ = fold_all(
            [srv.response_created(), *srv.audio_item([], [audio] * existing, finish=False)],
            state,
            config,
        )
        assert len(state.audio) == existing
        item_id = state.items[-1].id
        encoded = b64(audio)
        deltas = [
            s.ResponseAudioDelta(
                event_id=f"event_a{i}",
                response_id="resp_1",
                item_id=item_id,
                output_index=0,
                content_index=0,
                delta=encoded,
            )
            for i in range(500)
        ]
        cases.append((state, deltas))
    check(per_event(cases, config), "audio delta, 10 vs 30,000 retained chunks")


class _NoOp:
    """A plugin that looks at everything and does nothing."""

    def on_text_appended(self, transition: object, step: Step) -> None:
        return None

    def on_item_added(self, transition: object, step: Step) -> None:
        return None

    def on_step(self, step: Step) -> None:
        return None


def _receive_costs(sizes: Sequence[int]) -> list[float]:
    """Per-frame cost of ``ClientConnection.receive`` with 3 no-op plugins, a text delta
    at a time, on conversations of each size (the sizes take turns within a repeat)."""
    setups = []
    for n in sizes:
        srv, state = with_items(n)
        state = open_text_part(srv, state, [])
        setups.append((state, [beta.encode(d) for d in text_deltas(state.items[-1].id, 1000)]))
    best = [float("inf")] * len(setups)
    for _ in range(REPEATS):
        for i, (state, frames) in enumerate(setups):
            conn = ClientConnection(config=BETA, state=state, plugins=[_NoOp(), _NoOp(), _NoOp()])
            receive: Callable[[str], Step] = conn.receive
            with _no_gc():
                t0 = time.perf_counter()
                for frame in frames:
                    receive(frame)
                best[i] = min(best[i], time.perf_counter() - t0)
            assert conn.state.items[-1].text == "word " * 1000
    return [b / 1000 for b in best]


def test_connection_receive_with_plugins_does_not_grow_with_the_conversation() -> None:
    check(_receive_costs((10, 10_000)), "receive + 3 plugins, 10 vs 10,000 items")
