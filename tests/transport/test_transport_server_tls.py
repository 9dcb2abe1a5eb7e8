"""``serve()`` over TLS, and ``rtstate serve``'s ``--tls``, ``--certfile`` /
``--keyfile`` and ``--workers``, on loopback: rtstate's client and the plain
``websockets`` client dial ``wss://``; the workers serve sessions and stop together.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest
import trustme
import websockets.sync.client
from support.server_clients import well_behaved

from rtstate.cli import EXIT_UNREADABLE, EXIT_USAGE, main
from rtstate.server import ScriptedResponder
from rtstate.transport import serve, serve_in_thread


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def first_event(url: str, context: ssl.SSLContext, **headers: str) -> dict[str, object]:
    """The first server event a plain ``websockets`` client receives over ``url``."""
    with websockets.sync.client.connect(
        url, ssl=context, additional_headers=headers, open_timeout=10
    ) as ws:
        value: dict[str, object] = orjson.loads(ws.recv(timeout=10))
        return value


@pytest.mark.anyio
async def test_rtstates_client_dials_wss_to_serve(ca: trustme.CA) -> None:
    async with serve(
        ssl_context=server_context(ca), responder=lambda: ScriptedResponder(["Secure."])
    ) as server:
        assert server.url.startswith("wss://127.0.0.1:")
        assert await well_behaved(server.url, ssl_context=client_context(ca)) == "Secure."


def test_the_websockets_client_dials_wss_to_serve(ca: trustme.CA) -> None:
    with serve_in_thread(ssl_context=server_context(ca)) as server:
        assert server.url.startswith("wss://")
        assert first_event(server.url, client_context(ca))["type"] == "session.created"


# --- the command ---------------------------------------------------------------------------


@contextmanager
def running(*argv: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``rtstate serve ARGV`` until its banner's ``(Ctrl-C to stop)`` line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtstate", "serve", "--port", "0", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner: list[str] = []
        while not banner or "Ctrl-C to stop" not in banner[-1]:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            banner.append(line.strip())
        yield proc, banner
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def stop(proc: subprocess.Popen[str], signum: int) -> str:
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    return out


def test_serve_tls_makes_a_certificate_and_prints_the_ca_to_trust() -> None:
    with running("--tls", "--token", "tok") as (proc, banner):
        url = banner[0].split(": ", 1)[1]
        assert url.startswith("wss://127.0.0.1:")
        ca_file = banner[1].split("self-signed CA: ", 1)[1].split(" ")[0]
        assert "SSL_CERT_FILE=" in banner[2] and "NODE_EXTRA_CA_CERTS=" in banner[2]
        context = ssl.create_default_context(cafile=ca_file)
        event = first_event(url, context, Authorization="Bearer tok")
        assert event["type"] == "session.created"
        localhost = url.replace("127.0.0.1", "localhost")
        assert first_event(localhost, context, Authorization="Bearer tok")["type"]
        with pytest.raises(ssl.SSLError):  # not trusted without the CA
            first_event(url, ssl.create_default_context())
        assert stop(proc, signal.SIGINT).strip().endswith("stopped")
    assert not Path(ca_file).exists()  # a throwaway, gone with the server


def test_serve_workers_serve_one_port_with_a_certificate_and_stop_together(
    ca: trustme.CA, tmp_path: Path
) -> None:
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(leaf.cert_chain_pems[0].bytes())
    keyfile.write_bytes(leaf.private_key_pem.bytes())
    with running("--workers", "2", "--certfile", str(certfile), "--keyfile", str(keyfile)) as (
        proc,
        banner,
    ):
        url = banner[0].split(": ", 1)[1]
        assert url.startswith("wss://127.0.0.1:")
        assert "2 worker processes" in banner[1]
        pids = [int(p) for p in banner[1].split("pids ")[1].rstrip(")").split(", ")]
        context = client_context(ca)
        for _ in range(6):
            assert first_event(url, context)["type"] == "session.created"
        assert stop(proc, signal.SIGTERM).strip().endswith("stopped")
    for pid in pids:  # every worker ended (and was reaped)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_serve_workers_stop_on_ctrl_c() -> None:
    with running("--workers", "2") as (proc, banner):
        url = banner[0].split(": ", 1)[1]
        assert url.startswith("ws://127.0.0.1:")
        for _ in range(4):
            with websockets.sync.client.connect(url, open_timeout=10) as ws:
                assert orjson.loads(ws.recv(timeout=10))["type"] == "session.created"
        assert stop(proc, signal.SIGINT).strip().endswith("stopped")


def test_serve_refuses_bad_tls_and_worker_arguments(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cases = [
        (["--certfile", "a.pem"], EXIT_USAGE, "--certfile and --keyfile go together"),
        (["--tls", "--certfile", "a", "--keyfile", "b"], EXIT_USAGE, "drop --certfile"),
        (["--workers", "0"], EXIT_USAGE, "--workers must be at least 1"),
        (
            ["--certfile", str(tmp_path / "no.pem"), "--keyfile", str(tmp_path / "no.pem")],
            EXIT_UNREADABLE,
            "no such file",
        ),
    ]
    for argv, code, message in cases:
        assert main(["serve", *argv]) == code
        assert message in capsys.readouterr().err
