"""``mypy --strict`` accepts an app written against rtstate, its builders and
``rtstate_plugins``, and reports a typo in a closed-set field.

mypy runs (``mypy.api.run``) on a copy of ``app.py`` in a temporary directory, with a
config of its own (``strict = True``), so it sees rtstate and rtstate_plugins as a user's
project does: installed packages, typed by their ``py.typed`` markers (without
``rtstate_plugins/py.typed`` it reports the package as untyped and ``@tools.register``
as an untyped decorator). The second run reuses the first one's cache.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from mypy import api

HERE = Path(__file__).resolve().parent
APP = HERE / "app.py"
ROOT = HERE.parent.parent

TYPOS = {
    'role="user", content=())': 'role="usr", content=())',  # an item's role
    'output_modalities=["text"])': 'output_modalities=["txt"])',  # a builder's argument
    'conversation="none"': 'conversation="nope"',
    't.role == "user"': 't.role == "usr"',  # a transition's role, compared
}
"""Edits of ``app.py`` that mypy must report: original -> the typo (each once in the file)."""


def _mypy(folder: Path, source: str, cache: Path) -> tuple[int, list[str]]:
    folder.mkdir()
    (folder / "app.py").write_text(source, encoding="utf-8")
    config = folder / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n", encoding="utf-8")
    out, err, status = api.run(
        ["--config-file", str(config), "--cache-dir", str(cache), str(folder / "app.py")]
    )
    assert not err, err
    return status, out.splitlines()


def test_the_markers_ship() -> None:
    assert (ROOT / "rtstate" / "py.typed").is_file()
    assert (ROOT / "plugins" / "rtstate_plugins" / "py.typed").is_file()


def test_mypy_strict_passes_on_the_app_and_reports_typos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no project config or sources of the repository's in sight
    source = APP.read_text(encoding="utf-8")
    status, lines = _mypy(tmp_path / "good", source, tmp_path / "cache")
    assert status == 0, "\n".join(lines)
    assert lines[-1].startswith("Success: no issues found in 1 source file")

    bad = source
    typo_lines = []
    for original, typo in TYPOS.items():
        assert bad.count(original) == 1, original
        index = bad.index(original)
        typo_lines.append(bad.count("\n", 0, index) + 1)
        bad = bad.replace(original, typo)
    status, lines = _mypy(tmp_path / "bad", bad, tmp_path / "cache")
    assert status == 1
    reported = {
        int(m.group(1)) for line in lines if (m := re.search(r"app\.py:(\d+): error", line))
    }
    assert reported == set(typo_lines), "\n".join(lines)
    errors = "\n".join(lines)
    assert "Literal['usr']" in errors and "Literal['user', 'assistant', 'system']" in errors
    assert "Literal['txt']" in errors and "Literal['text', 'audio']" in errors
    assert "Non-overlapping equality check" in errors
    assert "Literal['nope']" in errors and "Literal['auto', 'none']" in errors


def test_the_app_runs() -> None:
    spec = importlib.util.spec_from_file_location("typing_app", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        frames, _ = module.main()
    finally:
        del sys.modules[spec.name]
    assert frames == 1 + len(module.first_events())  # the greeting, then every event
