"""Beta codec speed: microseconds per frame, beside orjson on the same frames.

Run ``python benchmarks/bench_codec.py``. For each frame it prints the time to decode it
with ``rtstate.codec.beta.decode_server`` and to parse it with ``orjson.loads`` (the
floor: every decode starts with that call), and their ratio; then the time to encode a
text delta beside ``orjson.dumps`` of the same object. The target is a
decode within 4x of ``orjson.loads`` on small frames; this script reports, it does not
judge.

Each figure is the best (minimum) of several timeit repeats, the least noisy estimate of
the cost. ``RTSTATE_BENCH_QUICK=1`` runs far fewer iterations (a smoke run for tests).
"""

from __future__ import annotations

import base64
import functools
import os
import platform
import sys
import timeit
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import orjson

from rtstate.codec import beta, ga
from rtstate.events import ResponseAudioDelta, ResponseDone, ResponseTextDelta

QUICK = os.environ.get("RTSTATE_BENCH_QUICK") == "1"
REPEATS = 2 if QUICK else 7
MIN_SECONDS = 0.001 if QUICK else 0.1  # per repeat; timeit's autorange grows the count

ROOT = Path(__file__).resolve().parent.parent
TOOL_CALL_ROUND = ROOT / "tests/data/corpus/beta/azure-voice-live/test_tool_call_round.server.jsonl"

TEXT_DELTA = orjson.dumps(
    {
        "type": "response.text.delta",
        "event_id": "event_C1PSbcFuuVOQDwPGDXLGr",
        "response_id": "resp_C1PSbsyhar4EpjNZg9fkB",
        "item_id": "item_C1PSbur7hgTONg4H8lKhl",
        "output_index": 0,
        "content_index": 0,
        "delta": " pending",
    }
).decode()

AUDIO_BYTES = 4_800  # 100 ms of pcm16 at 24 kHz
AUDIO_DELTA = orjson.dumps(
    {
        "type": "response.audio.delta",
        "event_id": "event_AdAxZ6T7GA8uB6xZxrmXy",
        "response_id": "resp_AdAxZdo1Nxtm3fcSvUrj8",
        "item_id": "item_AdAxZYnsKUpaZYT9ZhmxS",
        "output_index": 0,
        "content_index": 0,
        "delta": base64.b64encode(bytes(i % 251 for i in range(AUDIO_BYTES))).decode(),
    }
).decode()


def _response_done(capture: Path) -> str:
    """The first ``response.done`` of a captured tool-call round (a function call)."""
    for line in capture.read_text(encoding="utf-8").splitlines():
        if orjson.loads(line)["type"] == "response.done":
            return line
    raise SystemExit(f"no response.done in {capture}")


RESPONSE_DONE = _response_done(TOOL_CALL_ROUND)

GA_TOOL_CALL_ROUND = (
    ROOT / "tests/data/corpus/ga/pydantic-ai/test_openai_ws/test_tool_call_round.server.jsonl"
)


def _ga_frame(frame: str, type: str) -> str:
    """``frame`` as a GA server writes it: the GA name, and the padding GA deltas carry."""
    return orjson.dumps(
        {**orjson.loads(frame), "type": type, "obfuscation": "cGp60YeLHWv9ws"}
    ).decode()


GA_TEXT_DELTA = _ga_frame(TEXT_DELTA, "response.output_text.delta")
GA_AUDIO_DELTA = _ga_frame(AUDIO_DELTA, "response.output_audio.delta")
GA_RESPONSE_DONE = _response_done(GA_TOOL_CALL_ROUND)


def _loop_size(timer: timeit.Timer) -> int:
    """Calls per timing run: enough for MIN_SECONDS (like Timer.autorange)."""
    number = 1
    while timer.timeit(number) < MIN_SECONDS:
        number *= 10 if number < 1000 else 2
    return number


def best_us(*funcs: Callable[[], Any]) -> list[float]:
    """Microseconds per call of each function: the minimum over REPEATS timing runs.

    The runs of the functions compared are interleaved, so a change in machine load
    during the measurement weighs on all of them alike.
    """
    timers = [timeit.Timer(f) for f in funcs]
    numbers = [_loop_size(t) for t in timers]
    best = [float("inf")] * len(timers)
    for _ in range(REPEATS):
        for i, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
            best[i] = min(best[i], timer.timeit(number) / number)
    return [b * 1e6 for b in best]


def decode_table(codec: Any, name: str, frame: str, cls: type) -> None:
    """One frame's line: the codec's decode, its reference decode, ``orjson.loads``."""
    decoded = codec.decode_server(frame)
    assert type(decoded) is cls, decoded  # measure the real path, not an error path
    # the plain decode, where the codec has one (a checkout before the typed decoders not)
    reference = getattr(codec, "reference_decode_server", None) or codec.decode_server
    decode_us, reference_us, loads_us = best_us(
        functools.partial(codec.decode_server, frame),
        functools.partial(reference, frame),
        functools.partial(orjson.loads, frame),
    )
    print(
        f"  {name:<40} decode {decode_us:7.2f}   reference {reference_us:7.2f}   "
        f"orjson.loads {loads_us:7.2f} us/frame   ratio {decode_us / loads_us:5.2f}x"
    )


def main() -> None:
    audio_b64_chars = len(orjson.loads(AUDIO_DELTA)["delta"])
    assert audio_b64_chars == 6_400, audio_b64_chars
    frames: list[tuple[str, str, type]] = [
        ("response.text.delta", TEXT_DELTA, ResponseTextDelta),
        (f"response.audio.delta ({audio_b64_chars} b64 chars)", AUDIO_DELTA, ResponseAudioDelta),
        (f"response.done (tool call, {len(RESPONSE_DONE)} B)", RESPONSE_DONE, ResponseDone),
    ]

    print(
        f"python {platform.python_version()}, orjson {version('orjson')}, "
        f"msgspec {version('msgspec')}, cattrs {version('cattrs')}, attrs {version('attrs')}"
        f"{' (quick run: numbers are rough)' if QUICK else ''}"
    )
    print(f"best of {REPEATS} repeats; us = microseconds")
    print()
    print("decode (beta.decode_server) vs orjson.loads of the same frame")
    print("  (reference: the plain orjson + cattrs decode the typed decoder falls back to)")
    for name, frame, cls in frames:
        decode_table(beta.CODEC, name, frame, cls)

    print()
    print("decode (ga.decode_server) vs orjson.loads of the same frame (GA dialect)")
    ga_frames: list[tuple[str, str, type]] = [
        ("response.output_text.delta", GA_TEXT_DELTA, ResponseTextDelta),
        (
            f"response.output_audio.delta ({audio_b64_chars} b64)",
            GA_AUDIO_DELTA,
            ResponseAudioDelta,
        ),
        (f"response.done (tool call, {len(GA_RESPONSE_DONE)} B)", GA_RESPONSE_DONE, ResponseDone),
    ]
    for name, frame, cls in ga_frames:
        decode_table(ga.CODEC, name, frame, cls)

    print()
    print("encode (beta.encode) vs orjson.dumps of the same object")
    event = beta.decode_server(TEXT_DELTA)
    wire = orjson.loads(TEXT_DELTA)
    encode_us, dumps_us = best_us(
        functools.partial(beta.encode, event), functools.partial(orjson.dumps, wire)
    )
    print(
        f"  {'response.text.delta':<40} encode {encode_us:8.2f} us/frame   "
        f"orjson.dumps {dumps_us:8.2f} us/frame   ratio {encode_us / dumps_us:5.2f}x"
    )
    ga_wire = ga.to_wire(event)
    encode_us, dumps_us = best_us(
        functools.partial(ga.encode, event), functools.partial(orjson.dumps, ga_wire)
    )
    print(
        f"  {'response.output_text.delta (GA)':<40} encode {encode_us:8.2f} us/frame   "
        f"orjson.dumps {dumps_us:8.2f} us/frame   ratio {encode_us / dumps_us:5.2f}x"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
