"""``rtstate_plugins``: importable under that name (never a bare ``plugins``), shipped in
the wheel with the ``rtstate`` command, and built on the public ``rtstate`` API only."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import rtstate_plugins

import rtstate

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "plugins" / "rtstate_plugins").glob("*.py"))
PUBLIC_MODULES = {
    f"rtstate{suffix}"
    for suffix in (
        "",
        ".codec",
        ".config",
        ".connection",
        ".errors",
        ".events",
        ".journal",
        ".logs",
        ".plugins",
        ".reconnect",
        ".state",
        ".step",
        ".transitions",
    )
}


def test_the_package_imports_with_every_name_it_exports() -> None:
    assert Path(rtstate_plugins.__file__).parent == ROOT / "plugins" / "rtstate_plugins"
    for name in rtstate_plugins.__all__:
        assert getattr(rtstate_plugins, name) is not None
    assert {"Transcript", "Log", "Recorder", "BargeIn", "Reconnect", "Tools"} <= set(
        rtstate_plugins.__all__
    )


def test_it_imports_from_another_directory(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", "import rtstate_plugins, sys; print(rtstate_plugins.Tools)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "rtstate_plugins.tools.Tools" in run.stdout


def test_plugins_use_only_the_public_rtstate_api() -> None:
    """Every ``rtstate`` import is a public module, and every name used from it is in
    that module's ``__all__``."""
    assert SOURCES
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("rtstate"):
                        assert a.name in PUBLIC_MODULES, f"{path.name}: import {a.name}"
                        aliases[a.asname or a.name] = a.name
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rtstate"):
                assert node.level == 0
                module = __import__(node.module or "", fromlist=["_"])
                for a in node.names:
                    public = a.name in getattr(module, "__all__", ())
                    assert public, f"{path.name}: from {node.module} import {a.name}"
                    if f"{node.module}.{a.name}" in PUBLIC_MODULES:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                module_name = aliases.get(node.value.id)
                if module_name is not None:
                    module = __import__(module_name, fromlist=["_"])
                    assert node.attr in module.__all__, f"{path.name}: {module_name}.{node.attr}"


def test_the_wheel_ships_rtstate_plugins_and_the_command(tmp_path: Path) -> None:
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    run = subprocess.run(
        [*pip, "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    (wheel,) = tmp_path.glob("rtstate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "rtstate_plugins/__init__.py" in names
    assert {"rtstate/py.typed", "rtstate_plugins/py.typed"} <= set(names)  # PEP 561
    assert {f"rtstate_plugins/{p.name}" for p in SOURCES} <= set(names)
    assert not any(n.startswith("plugins/") for n in names)
    cli = {f"rtstate/cli/{p.name}" for p in (ROOT / "rtstate" / "cli").glob("*.py")}
    assert "rtstate/cli/__init__.py" in cli and cli <= set(names)
    assert "rtstate/__main__.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "rtstate = rtstate.cli:main" in text
    assert rtstate.__version__ in wheel.name
