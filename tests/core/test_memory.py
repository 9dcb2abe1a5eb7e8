"""What a long session holds: a finished text keeps its text, not one string per delta;
an hour of assistant audio stays small under the default audio retention.

Memory is measured with ``tracemalloc`` while only the latest state is kept (each
event is built just before it is folded, and dropped after, as a connection does), with
wide margins: the claims are about how the held memory grows, not about its exact size.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import attrs
from support.helpers import Server, b64, pcm16

from rtstate import Config, SessionState, fold
from rtstate.config import DEFAULT_CONFIG, AudioRetention
from rtstate.events.payloads import ContentPart

_DELTAS = 50_000
_MB = 1_000_000


def _held(
    events: Callable[[], Iterator[Any]], config: Config = DEFAULT_CONFIG
) -> tuple[SessionState, int, int]:
    """The final state of folding ``events()``, with the memory it holds at the end
    and the peak while folding (bytes traced since the fold began)."""
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        state = SessionState()
        for event in events():
            state = fold(state, event, config).after
        del event  # the last event (its frame would be dropped too)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return state, current - start, peak - start


def _word(n: int) -> str:
    return f" w{n}"


def _long_text(*, finish: bool) -> Iterator[Any]:
    """A text response of ``_DELTAS`` deltas, up to its item's ``output_item.done`` if
    ``finish`` (its ``response.done`` not yet come), else its last delta."""
    srv = Server()
    yield srv.session_created()
    yield srv.response_created()
    events: list[Any] = srv.text_item(["x"])
    added, created, part_added, delta, text_done, part_done, item_done = events
    yield from (added, created, part_added)
    for n in range(_DELTAS):
        yield attrs.evolve(delta, delta=_word(n))
    if not finish:
        return
    text = "".join(_word(n) for n in range(_DELTAS))  # the server's copy, as a frame has it
    yield attrs.evolve(text_done, text=text)
    part = ContentPart(type="text", text=text)
    yield attrs.evolve(part_done, part=part)
    yield attrs.evolve(item_done, item=attrs.evolve(item_done.item, content=(part,)))


def test_a_finished_text_holds_its_text_not_one_string_per_delta() -> None:
    state, held, _ = _held(lambda: _long_text(finish=True))
    (item,) = state.items_by_id.values()
    text = item.parts[0].text
    assert len(text) > 6 * _DELTAS  # about 350 kB of ASCII, one byte a character
    assert item.parts[0].text_log.chunk_count == _DELTAS  # compacting keeps the count
    # the text itself plus a small constant (one string per delta would be ~3 MB)
    assert held < len(text) + 200_000, held


def test_a_streaming_text_holds_one_string_per_delta() -> None:
    # the other side of the claim above: until the part finishes, the deltas are kept
    # as they came (an append is O(1)), so the measure above can fail
    state, held, _ = _held(lambda: _long_text(finish=False))
    (item,) = state.items_by_id.values()
    assert held > 2 * len(item.parts[0].text), held


_RESPONSES = 360  # of 10 s each: an hour
_AUDIO_DELTAS = 100  # of 100 ms
_AUDIO = b64(pcm16(100))


def _audio_session(responses: int = _RESPONSES) -> Iterator[Any]:
    """Assistant audio: a user message and an audio response of 100 deltas of 100 ms
    (a transcript delta after every third), ``responses`` times (an hour by default);
    each audio delta a fresh string, as each frame decodes into its own."""
    srv = Server()
    yield srv.session_created()
    for r in range(responses):
        yield srv.user_message(f"question {r}")
        yield srv.response_created()
        events: list[Any] = srv.audio_item(["x"], [b""])
        added, created, part_added, transcript, audio = events[:5]
        audio_done, transcript_done, part_done, item_done = events[5:]
        yield from (added, created, part_added)
        words = []
        for n in range(_AUDIO_DELTAS):
            yield attrs.evolve(audio, delta=_AUDIO[:-1] + _AUDIO[-1])
            if n % 3 == 2:
                words.append(_word(n))
                yield attrs.evolve(transcript, delta=words[-1])
        full = "".join(words)
        part = ContentPart(type="audio", transcript=full)
        yield audio_done
        yield attrs.evolve(transcript_done, transcript=full)
        yield attrs.evolve(part_done, part=part)
        yield attrs.evolve(item_done, item=attrs.evolve(item_done.item, content=(part,)))
        yield srv.response_done()


def test_an_hour_of_assistant_audio_holds_little_under_the_default_retention() -> None:
    state, held, peak = _held(_audio_session)
    assert sum(i.audio_ms for i in state.items) == 60 * 60_000
    transcript = state.items[-1].parts[0].transcript_log
    assert transcript is not None and transcript.chunk_count == _AUDIO_DELTAS // 3
    assert peak < 20 * _MB, peak
    assert held < 20 * _MB, held


def test_retained_audio_is_seen_by_the_measure() -> None:
    # the other side: 10 responses with their audio kept hold all of it (1,000 deltas
    # of 6.4 kB of base64), so the measure above would see an hour's (230 MB)
    kept = Config(audio_retention=AudioRetention.PER_ITEM)
    _, held, _ = _held(lambda: _audio_session(10), kept)
    assert held > 1_000 * len(_AUDIO), held
