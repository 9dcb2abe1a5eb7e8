"""The ``rtstate`` command: ``replay`` and ``check`` on journals and captures, exit codes,
one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from rtstate_plugins import Recorder
from support import DATA
from support.server_harness import Loop

from rtstate import ClientConnection, Config
from rtstate.cli import EXIT_BAD_FILE, EXIT_UNREADABLE, EXIT_USAGE, EXIT_VIOLATIONS, main
from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events.payloads import ResponseParams
from rtstate.server import ScriptedResponder

CORPUS = DATA / "corpus" / "beta"
VAD_TURN = CORPUS / "azure-voice-live" / "test_audio_in_server_vad_turn.both.jsonl"
CUT = CORPUS / "liusida-text-response.jsonl"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def journal(tmp_path: Path, dialect: Dialect = "ga") -> Path:
    path = tmp_path / f"session-{dialect}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        client = ClientConnection(config=Config(dialect=dialect), plugins=[Recorder(write=f.write)])
        loop = Loop(
            client=client,
            responder=ScriptedResponder(["Hi! I am the fake server."]),
            dialect=dialect,
        )
        loop.start()
        loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
        loop.send(c.ResponseCancel())  # nothing active: an informational diagnostic
    return path


def test_replay_a_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = journal(tmp_path)
    code, out, err = run(capsys, "replay", str(path), "--strict")
    assert code == 0 and err == ""
    assert "assistant: Hi! I am the fake server." in out
    assert "completed: input" in out and "tokens" in out
    assert "cancel_not_active" in out and "(informational)" in out
    code, out, _ = run(capsys, "replay", str(path), "--markdown")
    assert "**Assistant:** Hi! I am the fake server." in out


def test_replay_a_capture_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "replay", str(VAD_TURN), "--strict")
    assert code == 0
    conversation = out.split("## conversation\n")[1].split("\n\n")[0].splitlines()
    assert conversation == [
        "user: Cześć, nazywam się Marcelo.",
        "assistant: Hi Marcelo, nice to meet you! How can I help you today?",
    ]
    assert "completed: input 44, output 99, total 143 tokens" in out


def test_replay_strict_fails_on_a_violation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "replay", str(CUT))
    assert code == 0 and f"{CUT}:84: malformed" in out
    code, _, _ = run(capsys, "replay", str(CUT), "--strict")
    assert code == EXIT_VIOLATIONS


def test_check_reports_line_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", str(VAD_TURN))
    assert code == 0 and out.endswith("0 problems\n")
    code, out, _ = run(capsys, "check", str(CUT))
    assert code == EXIT_VIOLATIONS
    assert f"{CUT}:84: malformed" in out and f"{CUT}:85: malformed" in out
    code, out, _ = run(capsys, "check", str(journal(tmp_path)))
    assert code == 0, out
    bad = tmp_path / "bad.jsonl"
    lines = [
        '{"type": "session.created", "event_id": "e1", "session": {"id": "s"}}',
        '{"type": "response.done", "event_id": "e2", "response": {"id": "r", "status": '
        '"completed", "output": []}}',
    ]
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", str(bad))
    assert code == EXIT_VIOLATIONS
    assert out.splitlines()[0].startswith(f"{bad}:2: INV-")


def test_bad_files_give_one_line_and_distinct_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "replay", str(tmp_path / "missing.jsonl"))
    assert (code, out) == (EXIT_UNREADABLE, "")
    assert err == f"rtstate replay: {tmp_path / 'missing.jsonl'}: no such file\n"
    code, _, err = run(capsys, "check", str(tmp_path))
    assert code == EXIT_UNREADABLE and err.endswith("is a directory\n")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    code, _, err = run(capsys, "check", str(binary))
    assert code == EXIT_UNREADABLE and "not UTF-8" in err
    for name, text, message in [
        ("empty.jsonl", "\n", "empty file"),
        ("text.jsonl", "hello\n", ":1: not JSON"),
        ("list.jsonl", "[1, 2]\n", ":1: not a JSON object"),
        ("other.jsonl", '{"kind": "x"}\n', ":1: neither a journal nor a capture"),
    ]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        code, _, err = run(capsys, "replay", str(path))
        assert code == EXIT_BAD_FILE and message in err and err.count("\n") == 1, err
    tampered = tmp_path / "tampered.jsonl"
    lines = journal(tmp_path).read_text(encoding="utf-8").splitlines()
    assert "session.created" in lines[1]
    lines[1] = lines[1].replace("session", "sessiom", 1)
    tampered.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run(capsys, "replay", str(tampered))
    assert code == EXIT_BAD_FILE
    assert err == (
        f"rtstate replay: {tampered}:2: the hash chain breaks here: the journal "
        "was edited, cut or reordered\n"
    )


def test_a_journal_cut_by_a_crash_replays_and_checks_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = journal(tmp_path).read_text(encoding="utf-8").splitlines()
    done = next(i for i, line in enumerate(lines) if "ResponseFinished" in line)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[: done + 1]) + "\n" + lines[done + 1][:25], encoding="utf-8")
    line = done + 2
    warning = f"{cut}:{line}: warning: truncated journal: the last line is cut mid-record"
    code, out, err = run(capsys, "replay", str(cut), "--strict")
    assert (code, err) == (0, "")
    assert out.startswith(f"# {cut} (journal, GA, truncated at line {line})")
    assert "assistant: Hi! I am the fake server." in out and warning in out
    code, out, err = run(capsys, "check", str(cut))
    assert (code, err) == (0, "")
    assert warning in out
    assert out.endswith("0 problems (a truncated journal: checked as --partial)\n")
    # cut inside a response: what is open at the cut is not a problem
    inside = next(i for i, line in enumerate(lines) if "ResponseStarted" in line)
    cut.write_text("\n".join(lines[: inside + 1]) + "\n" + lines[inside + 1][:9], encoding="utf-8")
    code, out, _ = run(capsys, "check", str(cut))
    assert code == 0 and "truncated journal" in out, out
    cut.write_text("\n".join(lines[: inside + 1]) + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", str(cut), "--partial")
    assert code == 0 and "truncated journal" not in out, out
    code, out, _ = run(capsys, "check", str(cut))
    assert code == 1 and "INV-" in out, out


def test_bad_arguments_exit_2_and_help_documents_the_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == EXIT_USAGE
    assert main(["replay"]) == EXIT_USAGE
    assert main(["frobnicate", "x"]) == EXIT_USAGE
    assert main(["replay", "x", "--bogus"]) == EXIT_USAGE
    capsys.readouterr()
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out and "3  the file cannot be read" in out
    assert "replay" in out and "check" in out


def test_the_installed_command_and_python_m(tmp_path: Path) -> None:
    path = journal(tmp_path)
    command = Path(sys.executable).parent / "rtstate"
    for argv in ([str(command)], [sys.executable, "-m", "rtstate"]):
        done = subprocess.run(
            [*argv, "replay", str(path)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "assistant: Hi! I am the fake server." in done.stdout
        missing = subprocess.run(
            [*argv, "check", str(tmp_path / "nope")], capture_output=True, text=True, check=False
        )
        assert missing.returncode == EXIT_UNREADABLE and missing.stderr.count("\n") == 1


def test_import_rtstate_does_not_import_the_cli() -> None:
    code = "import rtstate, sys; print(sorted(m for m in sys.modules if 'rtstate.cli' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


GA_TURN = DATA / "corpus" / "ga" / "pydantic-ai" / "test_openai_ws"
GA_TURN = GA_TURN / "test_text_in_audio_out_turn.both.jsonl"


@pytest.mark.parametrize(("path", "dialect"), [(GA_TURN, "GA"), (VAD_TURN, "beta"), (CUT, "beta")])
def test_replay_and_check_detect_a_captures_dialect(
    path: Path, dialect: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "replay", str(path))
    assert code == 0 and out.startswith(f"# {path} (capture, {dialect})")
    assert "assistant: " in out  # the conversation folded: the right codec read it
    code, out, _ = run(capsys, "check", str(path), "--partial")
    assert f"client {dialect} events" in out
    assert "wrong_dialect" not in out


def test_dialect_forces_the_reading(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "replay", str(GA_TURN), "--dialect", "beta")
    assert code == 0
    assert out.startswith(f"# {GA_TURN} (capture, beta)")
    assert "wrong_dialect: this frame is GA" in out
    assert "connect with dialect='ga'" in out
    _, out, _ = run(capsys, "replay", str(GA_TURN), "--dialect", "ga")
    assert "wrong_dialect" not in out


@pytest.mark.parametrize(("dialect", "name"), [("ga", "GA"), ("beta", "beta")])
def test_a_journal_is_read_in_its_recorded_dialect(
    dialect: Dialect, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = journal(tmp_path, dialect)
    code, out, _ = run(capsys, "replay", str(path), "--strict")
    assert code == 0 and out.startswith(f"# {path} (journal, {name})")
    assert "assistant: Hi! I am the fake server." in out
    code, out, _ = run(capsys, "check", str(path))
    assert code == 0 and f"client {name} events, 0 problems" in out
    # forced into the other dialect, the replay no longer matches the recording
    other = "beta" if dialect == "ga" else "ga"
    code, _, err = run(capsys, "replay", str(path), "--dialect", other)
    assert code == EXIT_BAD_FILE and "differs" in err
