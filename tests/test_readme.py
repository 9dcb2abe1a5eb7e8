"""The README's examples run: every ```python block, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[tuple[int, str]]:
    """(line number, code) of each ```python block of the README."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


def test_readme_has_python_examples() -> None:
    assert python_blocks(), "README.md has no ```python block"


def test_readme_examples_run() -> None:
    namespace: dict[str, Any] = {"__name__": "readme"}
    blocks = python_blocks()
    assert blocks
    for line, code in blocks:
        # Pad so tracebacks give the README's own line numbers.
        exec(compile("\n" * (line - 1) + code, str(README), "exec"), namespace)


def test_the_first_program_comes_first_is_short_and_runs_alone(
    capsys: Any,
) -> None:
    """The README opens with a complete program (its own imports, no name from a later
    block) of about 20 lines, and it prints the fake server's answer."""
    text = README.read_text(encoding="utf-8")
    line, code = python_blocks()[0]
    assert text.index("## A first program") < text.index("```python") < text.index("## What exists")
    lines = [x for x in code.splitlines() if x.strip() and not x.lstrip().startswith("#")]
    assert len(lines) <= 22, len(lines)
    exec(compile("\n" * (line - 1) + code, str(README), "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out == "You said: What is the capital of Norway?\n"
