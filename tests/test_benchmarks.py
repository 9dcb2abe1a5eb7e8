"""Every benchmark script still runs: a quick pass of each, so benchmarks never rot.

Numbers are not checked (benchmarks report, they do not judge); the scripts must exit 0
and print their ``us/frame`` lines (``bench_import`` its ``own / deps`` line).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from rtstate import ClientConnection, Config

FIGURE_LINE = {"bench_import.py": "own / deps"}
"""Script -> the text of its figure lines, where it is not ``us/frame``."""
BENCHMARKS = sorted((Path(__file__).resolve().parent.parent / "benchmarks").glob("*.py"))


def test_there_are_benchmarks() -> None:
    names = {p.name for p in BENCHMARKS}
    assert {
        "bench_codec.py",
        "bench_fold.py",
        "bench_import.py",
        "bench_server.py",
        "bench_transport.py",
    } <= names


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_runs_quickly(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "RTSTATE_BENCH_QUICK": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    marker = FIGURE_LINE.get(script.name, "us/frame")
    lines = [line for line in result.stdout.splitlines() if marker in line]
    assert lines, result.stdout
    assert "nan" not in result.stdout.lower()
    if script.name == "bench_transport.py":  # the client CPU per event beside the baseline
        assert "client CPU us per event" in result.stdout, result.stdout


def _bench_fold_quick() -> ModuleType:
    """``benchmarks/bench_fold.py`` imported as a module, with its quick streams."""
    path = BENCHMARKS[0].parent / "bench_fold.py"
    previous = os.environ.get("RTSTATE_BENCH_QUICK")
    os.environ["RTSTATE_BENCH_QUICK"] = "1"
    try:
        spec = importlib.util.spec_from_file_location("bench_fold_quick", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # attrs resolves the module's classes through it
        spec.loader.exec_module(module)
    finally:
        if previous is None:
            del os.environ["RTSTATE_BENCH_QUICK"]
        else:
            os.environ["RTSTATE_BENCH_QUICK"] = previous
    return module


def test_the_floors_fold_what_rtstate_folds() -> None:
    """The floors are measured on every frame of every stream, so they must do the work:
    both floors (Structs and attrs values) end each stream with the items the server
    streamed that rtstate ends with, each with its streamed text (text, transcript or
    arguments) and its audio bytes."""
    bench = _bench_fold_quick()
    streams = [
        bench.text_stream(),
        bench.audio_stream(),
        bench.session_stream(),
        bench.function_stream(),
        bench.barge_in_stream(),
    ]
    for beta_frames in streams:
        for dialect in ("beta", "ga"):
            frames = bench.to_ga(beta_frames) if dialect == "ga" else beta_frames
            conn = ClientConnection(config=Config(dialect=dialect))
            for frame in frames:
                conn.receive(frame)
            expected = {
                item.id: (
                    None  # truncated: rtstate drops the transcript, the floor only marks it
                    if any(p.truncated_ms is not None for p in item.parts)
                    else "".join((p.text or "") + (p.transcript or "") for p in item.parts)
                    + str(item.arguments_log),
                    item.audio_bytes,
                )
                for item in conn.state.items
                if item.role != "user"  # a user's text comes whole, the floor keeps no content
            }
            for floor in (bench.FLOORS[dialect], bench.ATTRS_FLOORS[dialect]):
                state = floor.start()
                for frame in frames:
                    state = floor.fold(state, frame)[1]
                folded = {
                    held.id: (
                        None if held.status == "truncated" else "".join(held.chunks[: held.length]),
                        held.audio_bytes,
                    )
                    for held in state.items.values()
                    if held.role != "user"
                }
                assert folded == expected, (type(floor).__name__, dialect)
