"""The repository's own documents: ``ARCHITECTURE.md`` maps the code, and no comment or
docstring sends a reader to a document outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "ARCHITECTURE.md"

# Pointers to documents that live outside the repository: numbered sections of the
# protocol reference or of the design notes, and the shared folder beside the repo.
OUTSIDE = re.compile(
    r"protocol reference|reference (?:section )?\d|\bsections? \d+(?:\.\d+)?\b"
    r"|ARCHITECTURE section|\.\./shared|/work/shared",
    re.IGNORECASE,
)


def _sources() -> list[Path]:
    files = [
        p for d in ("rtstate", "plugins", "tests", "benchmarks") for p in (ROOT / d).rglob("*.py")
    ]
    return sorted(p for p in files if p != Path(__file__).resolve())


def test_architecture_exists_and_the_readme_links_it() -> None:
    assert ARCHITECTURE.is_file()
    development = (ROOT / "README.md").read_text(encoding="utf-8").split("## Development", 1)
    assert len(development) == 2, "README.md has no Development section"
    assert "(ARCHITECTURE.md)" in development[1]


@pytest.mark.parametrize("package", ["_fold", "codec", "events", "server", "testing", "transport"])
def test_the_module_map_names_every_module_of_each_subpackage(package: str) -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert f"`{package}/`" in text
    modules = sorted(p.name for p in (ROOT / "rtstate" / package).glob("*.py"))
    missing = [m for m in modules if m != "__init__.py" and f"`{m}`" not in text]
    assert not missing, f"ARCHITECTURE.md does not map rtstate/{package}/{missing}"


@pytest.mark.parametrize("folder", ["plugins/rtstate_plugins", "benchmarks"])
def test_the_module_map_names_every_plugin_and_benchmark_module(folder: str) -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    modules = sorted(p.name for p in (ROOT / folder).glob("*.py"))
    missing = [m for m in modules if m != "__init__.py" and f"`{m}`" not in text]
    assert not missing, f"ARCHITECTURE.md does not map {folder}/{missing}"


def test_no_comment_or_docstring_points_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)
