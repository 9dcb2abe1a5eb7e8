"""``rtstate demo``, ``rtstate serve`` and ``rtstate connect``: loopback only, bounded."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import rtstate
from rtstate import ClientConnection, Step
from rtstate.cli import EXIT_CONNECTION, main
from rtstate.cli._demo import run_demo
from rtstate.server import ServerConfig, ServerConnection
from rtstate.transport import serve_in_thread


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- demo ----------------------------------------------------------------------------------

TRANSCRIPT = [
    "  user: What is the weather in Oslo?",
    '  assistant -> get_weather({"city": "Oslo"})',
    '  get_weather -> {"city": "Oslo", "sky": "clear", "celsius": 18}',
    "  assistant: It is clear and 18 °C in Oslo right now.",
    "  user: Tell me everything about Norwegian weather.",
    "  (the user talks over the answer after 400 ms)",
    "  assistant: [interrupted at 0.4 s]",
    "  user: Just the short version, please.",
    "  assistant: In short: bring a jacket.",
]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_demo_runs_to_the_end_and_keeps_a_replayable_journal(
    backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo.jsonl"
    started = time.perf_counter()
    code, out, err = run(capsys, "demo", "--backend", backend, "--journal", str(path))
    assert code == 0, err
    assert time.perf_counter() - started < 10
    lines = out.splitlines()
    start = lines.index(TRANSCRIPT[0])
    assert lines[start : start + len(TRANSCRIPT)] == TRANSCRIPT
    assert "  responses: 1 cancelled, 3 completed" in lines
    assert "  tool calls answered by the Tools plugin: 1" in lines
    assert f"  replay it: rtstate replay {path}" in lines
    text = path.read_text(encoding="utf-8")
    steps = list(rtstate.journal.replay(text.splitlines()))
    assert [i.text for i in steps[-1].after.items][-1] == "In short: bring a jacket."
    # the socket's text messages are kept as text (greppable), not base64
    assert "frame_b64" not in text and '\\"type\\":\\"response.done\\"' in text
    code, out, _ = run(capsys, "replay", str(path), "--strict")
    assert code == 0 and "assistant: In short: bring a jacket." in out


class Calls:
    """A plugin whose tap keeps every Step its connection's calls returned."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def attached(self, conn: ClientConnection) -> None:
        conn.add_tap(self._tap)

    def _tap(self, verb: str, value: object) -> None:
        if verb == "step" and isinstance(value, Step):
            self.steps.append(value)


@pytest.mark.anyio
async def test_replay_reproduces_a_recorded_demo_exactly() -> None:
    """The journal of a demo session replays to the same Steps
    (inputs, states before and after, transitions, diagnostics) and the same frames."""
    journal, calls = io.StringIO(), Calls()
    summary = await run_demo(io.StringIO(), journal=journal, plugins=[calls])
    lines = journal.getvalue().splitlines()
    assert len(lines) == summary.journal_lines
    replayed = list(rtstate.journal.replay(lines))
    assert len(replayed) == len(calls.steps) > 50
    assert replayed == calls.steps
    assert [s.to_send for s in replayed] == [s.to_send for s in calls.steps]
    assert sum(len(s.to_send) for s in replayed) == summary.frames_sent


def test_demo_refuses_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "demo", "--backend", "curio")
    assert code == 2 and "invalid choice: 'curio'" in err
    code, _, err = run(capsys, "demo", "--journal", "/nonexistent/dir/demo.jsonl")
    assert code == 3 and err.startswith("rtstate demo: cannot write the journal")


# --- serve ---------------------------------------------------------------------------------


def test_serve_prints_its_url_serves_and_stops_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtstate", "serve", "--port", "0", "--token", "tok"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once listening
        assert first.startswith("rtstate fake Realtime server: ws://127.0.0.1:")
        url = first.split(": ", 1)[1].strip()
        assert "a bearer token" in proc.stdout.readline()

        async def chat() -> str:
            async with rtstate.connect(url, api_key="tok") as conn:
                await conn.send(rtstate.events.ResponseCreate())
                with anyio.fail_after(10):
                    await conn.wait_for(
                        lambda s: any(
                            isinstance(x, rtstate.transitions.ResponseFinished)
                            for x in s.transitions
                        )
                    )
                return conn.state.items[-1].transcript or conn.state.items[-1].text

        assert anyio.run(chat)  # the echo responder's fallback
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert out.strip().endswith("stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def test_serve_refuses_bad_arguments_and_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "serve", "--port", "70000")
    assert code == 2 and "--port must be 0..65535" in err
    code, _, err = run(capsys, "serve", "--dialect", "v2")
    assert code == 2 and "invalid choice" in err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = run(capsys, "serve", "--port", str(port))
    assert code == EXIT_CONNECTION and f"cannot listen on 127.0.0.1:{port}" in err


# --- connect -------------------------------------------------------------------------------


def test_connect_chats_in_text_with_lines_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hello there\n\nHow are you?\n"))
    with serve_in_thread(token="sk-test") as server:
        code, out, err = run(capsys, "connect", server.url, "--timeout", "10")
        assert server.served == 1
    assert code == 0, err
    assert out.splitlines() == [
        "assistant: You said: Hello there",
        "assistant: You said: How are you?",
    ]


def test_connect_errors_have_clear_messages_and_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    code, _, err = run(capsys, "connect", "http://example.com")
    assert code == 2 and "must start with ws:// or wss://" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hi\n"))
    with serve_in_thread(token="sk-right") as server:
        code, _, err = run(capsys, "connect", server.url)
        assert code == EXIT_CONNECTION and "refused the connection: HTTP 401" in err
        assert "no API key was sent" not in err and "sk-" not in err
        # no key at all: the same refusal, with a hint naming the variable
        monkeypatch.delenv("OPENAI_API_KEY")
        code, _, err = run(capsys, "connect", server.url, "--api-key-env", "MY_KEY")
        assert code == EXIT_CONNECTION and "refused the connection: HTTP 401" in err
        assert err.endswith("(no API key was sent: set MY_KEY)\n") and err.count("\n") == 1
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    code, _, err = run(capsys, "connect", f"ws://127.0.0.1:{port}/v1/realtime")
    assert code == EXIT_CONNECTION and "cannot connect to 127.0.0.1" in err


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_connect_needs_no_key_for_a_server_that_needs_none(
    backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hello there\n"))
    with serve_in_thread(backend=backend) as server:  # no token: no key needed
        code, out, err = run(capsys, "connect", server.url, "--backend", backend)
    assert (code, err) == (0, "")
    assert out.splitlines() == ["assistant: You said: Hello there"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_connect_exits_5_when_the_server_rejects_the_session_setup(
    backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A GA server answers a beta ``session.update`` (no ``session.type``) with an
    ``error``: the chat does not start, and the command says why and exits 5."""
    stdin = io.StringIO("Hello there\n")
    monkeypatch.setattr(sys, "stdin", stdin)
    with serve_in_thread(backend=backend, dialect="ga") as server:
        argv = ("connect", server.url, "--dialect", "beta", "--backend", backend)
        code, out, err = run(capsys, *argv)
        assert server.served == 1
    assert code == EXIT_CONNECTION and out == ""
    assert err == (
        "rtstate connect: the server rejected the session setup: "
        "Missing required parameter: 'session.type'.\n"
    )
    assert stdin.tell() == 0  # no line was read: the chat never started


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_connect_exits_5_at_once_when_the_setup_error_names_no_event(
    backend: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server that answers the setup with an ``error`` naming no ``event_id``: the
    command takes it as the setup's answer (the one request waiting) and exits 5 at
    once, instead of waiting out ``--timeout``."""
    reject = ServerConnection._reject

    def anonymous(self: ServerConnection, r: Any, event_id: str | None, kind: str | None) -> None:
        reject(self, r, None, kind)  # the error leaves out which event it answers

    monkeypatch.setattr(ServerConnection, "_reject", anonymous)
    stdin = io.StringIO("Hello there\n")
    monkeypatch.setattr(sys, "stdin", stdin)
    with serve_in_thread(backend=backend, dialect="ga") as server:
        argv = ("connect", server.url, "--dialect", "beta", "--backend", backend)
        started = time.monotonic()
        code, out, err = run(capsys, *argv, "--timeout", "30")
        took = time.monotonic() - started
    assert code == EXIT_CONNECTION and out == ""
    assert err == (
        "rtstate connect: the server rejected the session setup: "
        "Missing required parameter: 'session.type'.\n"
    )
    assert took < 15  # not the 30 s timeout
    assert stdin.tell() == 0


def test_the_command_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for name in ("demo", "serve", "connect", "replay", "check"):
        assert f"    {name}" in out
    assert "5  serve cannot listen" in out


# --- exit codes: a lost server, Ctrl-C ---------------------------------------------------


def _wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _rtstate(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rtstate", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        proc.wait(timeout=20)  # stdin stays open: the command is not at end of input
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    return proc.returncode, out, err


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_serve_stops_on_ctrl_c_with_one_line_on_both_backends(backend: str) -> None:
    proc = _rtstate("serve", "--port", "0", "--backend", backend)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("rtstate fake Realtime server: ws://")
    proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    code, out, err = _finish(proc)
    assert (code, out.strip(), err) == (0, "stopped", "")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_connect_stops_on_ctrl_c_with_one_line(backend: str) -> None:
    with serve_in_thread(backend=backend) as server:
        proc = _rtstate("connect", server.url, "--backend", backend, env={"OPENAI_API_KEY": "k"})
        _wait_until(lambda: server.sessions == 1)
        time.sleep(0.2)  # into the wait for a line
        proc.send_signal(signal.SIGINT)
        code, out, err = _finish(proc)
    assert (code, out.strip(), err) == (0, "stopped", "")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_connect_exits_5_with_one_line_when_the_server_goes_away(backend: str) -> None:
    config = ServerConfig(session_duration=1.0)  # the server ends the session after 1 s
    with serve_in_thread(backend=backend, config=config) as server:
        proc = _rtstate("connect", server.url, "--backend", backend, env={"OPENAI_API_KEY": "k"})
        code, _, err = _finish(proc)  # stdin stays open: it is waiting for a line
    assert code == EXIT_CONNECTION
    assert err.startswith("rtstate connect: lost the connection: the connection is closed: code")
    assert err.count("\n") == 1 and "Traceback" not in err
