"""The README's ``rtstate`` command section against the parser: every option of every
subcommand is documented under its command, and nothing documented there is missing
from the parser; the demo's duration is said in the same words by ``demo --help`` and
the README."""

from __future__ import annotations

import argparse
import re

import pytest
from support import DATA

from rtstate.cli import main, parser
from rtstate.cli._demo import DURATION

README = DATA.parent.parent / "README.md"
SHARED = {"--dialect": ("replay", "check"), "--backend": ("demo", "serve", "connect")}
"""Options described once for several commands, in a bullet of their own (checked below)."""


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("## The `rtstate` command\n", 1)[1].split("\n## ", 1)[0]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1
    return dict(actions[0].choices)


def _bullets() -> dict[str, str]:
    """Each ``- `rtstate NAME ...`` bullet of the section, by NAME, its lines joined."""
    found: dict[str, str] = {}
    for bullet in re.split(r"\n(?=- )", _section()):
        head = re.match(r"- `rtstate (\w+)", bullet)
        if head is not None:
            assert head.group(1) not in found, f"two bullets for {head.group(1)}"
            found[head.group(1)] = " ".join(bullet.split())
    return found


def _synopsis(bullet: str) -> str:
    """The bullet's first code span: ``rtstate NAME [options]``."""
    found = re.match(r"- `([^`]*)`", bullet)
    assert found is not None
    return found.group(1)


def _options(p: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The documented options (``--help`` is argparse's own; a hidden one is internal)."""
    return {
        option: action
        for action in p._actions
        if action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction)
        for option in action.option_strings
    }


def _mentions(text: str, option: str) -> bool:
    return re.search(re.escape(option) + r"(?![\w-])", text) is not None


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_the_readme_documents_every_option_of_the_subcommand(name: str) -> None:
    bullet = _bullets().get(name)
    assert bullet is not None, f"the README has no `rtstate {name}` bullet"
    synopsis = _synopsis(bullet)
    command = _subcommands()[name]
    options = _options(command)
    assert options or name in ("replay", "check")
    for option, action in options.items():
        assert _mentions(synopsis, option), f"{option} not in the synopsis of rtstate {name}"
        if action.choices is not None:
            spelled = f"{option} {'|'.join(map(str, action.choices))}"
            assert spelled in synopsis, f"the README does not spell {spelled}"
        described = bullet.replace(synopsis, "", 1)
        shared = name in SHARED.get(option, ())
        assert _mentions(described, option) or shared, (
            f"{option} of rtstate {name} is in the synopsis but never described"
        )
    for action in command._actions:
        if not action.option_strings and action.metavar is not None:
            assert f"rtstate {name} {action.metavar}" in synopsis  # URL, FILE
    # and the other way round: nothing documented that the parser does not have
    for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", synopsis):
        assert option in options, f"the README documents {option} that rtstate {name} lacks"


def test_every_subcommand_has_its_bullet_and_the_shared_options_are_described() -> None:
    assert set(_bullets()) == set(_subcommands())
    section = " ".join(_section().split())
    assert "`--backend asyncio|trio` (`demo`, `serve`, `connect`)" in section
    assert "take `--dialect beta|ga` to force it" in section
    with_backend = {n for n, p in _subcommands().items() if "--backend" in _options(p)}
    assert with_backend == {"demo", "serve", "connect"}


def test_the_option_check_catches_a_missing_option() -> None:
    """The check above can fail: drop one option from a bullet and it does."""
    synopsis = _synopsis(_bullets()["connect"])
    assert _mentions(synopsis, "--api-key-env")
    assert not _mentions(synopsis.replace("[--api-key-env NAME] ", ""), "--api-key-env")
    assert not _mentions("[--workers N]", "--worker")  # an option is not a prefix of another


def test_demo_help_and_the_readme_say_how_long_the_demo_takes_in_the_same_words(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"It takes {DURATION}." in help_text
    readme = " ".join(README.read_text(encoding="utf-8").split())
    quick_start = readme.split("## Quick start", 1)[1].split("## ", 1)[0]
    assert DURATION in quick_start
    assert DURATION in " ".join(_bullets()["demo"].split())
    # and no other claim about it is left behind
    for stale in ("well under a second", "a few seconds"):
        assert stale not in help_text and stale not in readme
