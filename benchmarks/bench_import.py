"""Import cost: ``import rtstate`` beside the import of its runtime dependencies alone.

Run ``python benchmarks/bench_import.py``. Each run is one fresh interpreter::

    python -X importtime -c "import attrs, cattrs, orjson, immutables; import rtstate"

From its ``-X importtime`` report, in that same run:

- *deps* is the sum of the cumulative import times of ``attrs``, ``cattrs``, ``orjson``
  and ``immutables`` (the runtime dependencies the sans-IO core uses; each line counts
  what that import loaded first, so nothing is counted twice);
- *own* is the cumulative time of ``rtstate``, imported after them: what ``import
  rtstate`` costs over its dependencies (its own modules and whatever stdlib modules
  they add).

Bytecode is cached as for an installed package (in a temporary ``PYTHONPYCACHEPREFIX``,
warmed by a first run), so neither figure includes compiling source. The script prints
the minimum of each over the runs (the least noisy estimate) and ``own / deps``; the
target of issue 17 is at most 1.5. It also lists the heavy modules ``import rtstate``
must not load. ``RTSTATE_BENCH_QUICK=1`` does three runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import Final, NamedTuple

DEPS: Final = ("attrs", "cattrs", "orjson", "immutables")
"""The runtime dependencies ``import rtstate`` may load (anyio and websockets are the
transports', loaded on first use)."""

NOT_LOADED: Final = (
    "rtstate.server",
    "rtstate.transport",
    "rtstate.testing",
    "rtstate.codec.beta",
    "rtstate.codec.ga",
    "anyio",
    "websockets",
    "cattrs",
    "hypothesis",
)
"""Modules ``import rtstate`` leaves unloaded: the fake server, the transports and their
libraries, the testing tools, the codecs (built on first use) and cattrs with them."""

_LINE: Final = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\S+)$")
_CODE: Final = f"import {', '.join(DEPS)}; import rtstate"


class ImportCost(NamedTuple):
    """The figures of a series of runs, in microseconds (the minimum of each)."""

    deps_us: int
    own_us: int
    runs: int

    @property
    def ratio(self) -> float:
        """``own / deps``: what ``import rtstate`` adds, per unit of its dependencies."""
        return self.own_us / self.deps_us


def isolated_env(cache_dir: str) -> dict[str, str]:
    """The environment of a measured run: bytecode written to and read from
    ``cache_dir`` (so no source is compiled once it is warm), nothing else changed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def top_level_times(report: str) -> Mapping[str, int]:
    """Module name -> cumulative microseconds, for the top-level imports of a
    ``-X importtime`` report (the ones the ``-c`` code itself made)."""
    times: dict[str, int] = {}
    for line in report.splitlines():
        match = _LINE.match(line)
        if match is not None:
            times[match.group(3)] = int(match.group(2))
    return times


def one_run(python: str, env: Mapping[str, str]) -> tuple[int, int]:
    """(deps, own) microseconds of one fresh interpreter."""
    result = subprocess.run(
        [python, "-X", "importtime", "-c", _CODE],
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    times = top_level_times(result.stderr)
    return sum(times[name] for name in DEPS), times["rtstate"]


def measure(runs: int, python: str = sys.executable) -> ImportCost:
    """The minimum deps and own import times over ``runs`` fresh interpreters, after
    one warm-up run that fills a fresh bytecode cache."""
    with tempfile.TemporaryDirectory(prefix="rtstate-pyc-") as cache_dir:
        env = isolated_env(cache_dir)
        one_run(python, env)
        pairs = [one_run(python, env) for _ in range(runs)]
    return ImportCost(min(d for d, _ in pairs), min(o for _, o in pairs), runs)


def loaded_after_import(python: str = sys.executable) -> Sequence[str]:
    """The modules of ``NOT_LOADED`` that ``import rtstate`` loads (none, if all is well)."""
    code = f"import sys, rtstate; print(' '.join(m for m in {NOT_LOADED!r} if m in sys.modules))"
    result = subprocess.run(
        [python, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return result.stdout.split()


def main() -> None:
    """Print the figures."""
    runs = 3 if os.environ.get("RTSTATE_BENCH_QUICK") == "1" else 15
    cost = measure(runs)
    print(f"python {sys.version.split()[0]}, best of {cost.runs} fresh interpreters")
    print(f"import {' + '.join(DEPS)}: {cost.deps_us / 1000:.1f} ms")
    print(f"import rtstate over them: {cost.own_us / 1000:.1f} ms")
    print(f"own / deps: {cost.ratio:.2f} (target: at most 1.5)")
    loaded = loaded_after_import()
    print(f"heavy modules loaded by import rtstate: {', '.join(loaded) or 'none'}")


if __name__ == "__main__":
    main()
