"""Every benchmark script still runs: a quick pass of each, so benchmarks never rot.

Numbers are not checked (benchmarks report, they do not judge); the scripts must exit 0
and print their ``us/frame`` lines (``bench_import`` its ``own / deps`` line).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
