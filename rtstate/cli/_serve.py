"""``rtstate serve``: the fake Realtime server (``rtstate.serve``, the echo responder)
until Ctrl-C, with its TLS and worker processes.

``add_serve`` registers the subcommand (``rtstate.cli``'s ``_COMMANDS``); its handler
returns the exit code or raises ``Fail``.

TLS: ``--certfile`` / ``--keyfile`` load a certificate with the standard library;
``--tls`` makes a throwaway CA and a certificate for ``localhost``, ``127.0.0.1`` and
``::1`` with ``trustme`` (the optional extra ``rtstate[tls]``: it needs the
``cryptography`` wheel, which nothing else in rtstate does), writes the CA to a
temporary file and prints its path, for ``SSL_CERT_FILE`` (Python, OpenSSL) or
``NODE_EXTRA_CA_CERTS`` (Node).

Workers: ``--workers N`` starts N copies of ``rtstate serve`` that listen on one
port with ``SO_REUSEPORT`` (the kernel spreads connections among them on Linux);
this process reserves the port, waits until every worker listens, prints the URL,
and on Ctrl-C (or SIGTERM) stops them all gracefully.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Final, TextIO

import anyio
import attrs

from ..transport import serve
from ._base import (
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    Fail,
    add_backend,
    require_backend,
)

__all__ = [
    "Tls",
    "add_serve",
    "run_workers",
    "self_signed",
    "tls_for",
    "tls_lines",
    "worker_ready",
]

SELF_SIGNED_NAMES: Final = ("localhost", "127.0.0.1", "::1")
"""The names the ``--tls`` certificate is valid for."""

_READY: Final = "ready"
"""What a worker prints on stdout once it listens."""


@attrs.frozen
class Tls:
    """The TLS a server serves with: its context, and the files behind it (the CA
    file only for a self-signed certificate)."""

    context: ssl.SSLContext
    certfile: str
    keyfile: str
    ca_file: str | None = None


def self_signed(directory: Path) -> Tls:
    """A throwaway CA and a server certificate for ``SELF_SIGNED_NAMES``, written to
    ``directory`` (``ca.pem``, ``cert.pem``, ``key.pem``).

    Raises:
        Fail: ``trustme`` is not installed.
    """
    if importlib.util.find_spec("trustme") is None:
        raise Fail(
            "--tls needs trustme to make a certificate: pip install 'rtstate[tls]' "
            "(or give --certfile and --keyfile)",
            EXIT_USAGE,
        )
    import trustme  # noqa: PLC0415 - an optional extra

    ca = trustme.CA(organization_name="rtstate serve --tls")
    leaf = ca.issue_cert(*SELF_SIGNED_NAMES)
    ca_file, certfile, keyfile = (directory / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca.cert_pem.write_to_path(str(ca_file))
    certfile.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    keyfile.touch(mode=0o600)
    leaf.private_key_pem.write_to_path(str(keyfile))
    tls = _load(str(certfile), str(keyfile))
    return attrs.evolve(tls, ca_file=str(ca_file))


def _load(certfile: str, keyfile: str) -> Tls:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except FileNotFoundError as exc:
        raise Fail(f"{exc.filename}: no such file", EXIT_UNREADABLE) from None
    except (OSError, ssl.SSLError) as exc:
        raise Fail(f"cannot load {certfile} / {keyfile}: {exc}", EXIT_UNREADABLE) from None
    return Tls(context, certfile, keyfile)


@contextlib.contextmanager
def tls_for(args: argparse.Namespace) -> Iterator[Tls | None]:
    """The TLS ``args`` ask for (``--certfile`` / ``--keyfile``, or ``--tls``); the
    self-signed files live while the block runs.

    Raises:
        Fail: a certificate without its key (or the other way round), ``--tls`` with
            a certificate, files that cannot be loaded, ``trustme`` missing.
    """
    if (args.certfile is None) != (args.keyfile is None):
        raise Fail("--certfile and --keyfile go together", EXIT_USAGE)
    if args.tls and args.certfile is not None:
        raise Fail("--tls makes its own certificate: drop --certfile / --keyfile", EXIT_USAGE)
    if args.certfile is not None:
        yield _load(args.certfile, args.keyfile)
    elif args.tls:
        with tempfile.TemporaryDirectory(prefix="rtstate-tls-") as directory:
            yield self_signed(Path(directory))
    else:
        yield None


def tls_lines(tls: Tls | None) -> list[str]:
    """What the banner says about TLS."""
    if tls is None or tls.ca_file is None:
        return []
    return [
        f"  self-signed CA: {tls.ca_file} (valid for {', '.join(SELF_SIGNED_NAMES)})",
        f"  trust it: SSL_CERT_FILE={tls.ca_file} or NODE_EXTRA_CA_CERTS={tls.ca_file}",
    ]


# --- workers ------------------------------------------------------------------------------


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEPORT``, not listening: it holds
    the port (an ephemeral one for port 0) for the workers to listen on."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = info[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _worker_argv(args: argparse.Namespace, port: int, tls: Tls | None) -> list[str]:
    argv = [sys.executable, "-m", "rtstate", "serve", "--worker"]
    argv += ["--host", args.host, "--port", str(port), "--backend", args.backend]
    if args.token is not None:
        argv += ["--token", args.token]
    if args.dialect is not None:
        argv += ["--dialect", args.dialect]
    if tls is not None:
        argv += ["--certfile", tls.certfile, "--keyfile", tls.keyfile]
    return argv


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_workers(args: argparse.Namespace, out: TextIO, tls: Tls | None, url: str) -> int:
    """Run ``args.workers`` worker processes on one port until Ctrl-C or SIGTERM.

    ``url`` is the URL to print, with ``{port}`` for the port.
    """
    if not hasattr(socket, "SO_REUSEPORT"):
        raise Fail("--workers needs SO_REUSEPORT (Linux, macOS, BSD)", EXIT_USAGE)
    try:
        reserved = _reserve(args.host, args.port)
    except OSError as exc:
        where = f"{args.host}:{args.port}"
        raise Fail(f"cannot listen on {where}: {exc.strerror or exc}", EXIT_CONNECTION) from None
    workers: list[subprocess.Popen[str]] = []
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        port = reserved.getsockname()[1]
        argv = _worker_argv(args, port, tls)
        # each in a session of its own: Ctrl-C reaches this process only, which stops
        # each worker once (a second SIGINT would cut its graceful shutdown)
        workers.extend(
            subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
            for _ in range(args.workers)
        )
        for worker in workers:
            assert worker.stdout is not None
            if worker.stdout.readline().strip() != _READY:
                raise Fail("a worker did not start (see its error above)", EXIT_CONNECTION)
        out.write(f"rtstate fake Realtime server: {url.format(port=port)}\n")
        pids = ", ".join(str(w.pid) for w in workers)
        out.write(f"  {args.workers} worker processes on one port (pids {pids})\n")
        out.write("".join(f"{line}\n" for line in tls_lines(tls)))
        out.write("  (Ctrl-C to stop)\n")
        out.flush()
        while all(w.poll() is None for w in workers):
            time.sleep(0.2)
        failed = next(w for w in workers if w.returncode is not None)
        raise Fail(f"a worker exited with code {failed.returncode}", EXIT_CONNECTION)
    except KeyboardInterrupt:
        out.write("stopped\n")
        return EXIT_OK
    finally:
        signal.signal(signal.SIGTERM, previous)
        _end(workers)
        reserved.close()


def _end(workers: list[subprocess.Popen[str]]) -> None:
    """Stop every worker as Ctrl-C does (one SIGINT: each closes its sessions
    gracefully), killing any still running 10 s later."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10.0
    for worker in workers:
        try:
            worker.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()


def worker_ready(out: TextIO) -> None:
    """A worker's signal to ``run_workers`` that it listens."""
    out.write(f"{_READY}\n")
    out.flush()


# --- the subcommand -----------------------------------------------------------------------


async def _serve_forever(args: argparse.Namespace, out: TextIO, tls: Tls | None) -> None:
    """Serve until Ctrl-C or SIGTERM. The signals are received inside the event loop
    (not raised as ``KeyboardInterrupt`` wherever the loop happens to be, which trio
    may take as an internal error), so the server always shuts down gracefully."""
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with serve(
            args.host,
            args.port,
            token=args.token,
            dialect=args.dialect,
            ssl_context=tls.context if tls is not None else None,
            reuse_port=args.worker,
        ) as server:
            if args.worker:
                worker_ready(out)
            else:
                auth = "a bearer token" if args.token else "no authentication"
                dialect = args.dialect or "beta or GA, as each client asks"
                out.write(f"rtstate fake Realtime server: {server.url}\n")
                out.write("".join(f"{line}\n" for line in tls_lines(tls)))
                out.write(f"  ({auth}; dialect: {dialect}; Ctrl-C to stop)\n")
                out.flush()
            async for _ in signals:
                return


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    require_backend(args.backend)
    if not 0 <= args.port <= 65535:
        raise Fail(f"--port must be 0..65535, not {args.port}", EXIT_USAGE)
    if args.workers < 1:
        raise Fail(f"--workers must be at least 1, not {args.workers}", EXIT_USAGE)
    with tls_for(args) as tls:
        if args.workers > 1:
            host = f"[{args.host}]" if ":" in args.host else args.host
            scheme = "ws" if tls is None else "wss"
            return run_workers(args, out, tls, f"{scheme}://{host}:{{port}}/v1/realtime")
        try:
            anyio.run(_serve_forever, args, out, tls, backend=args.backend)
        except KeyboardInterrupt:  # Ctrl-C before the signal receiver was in place
            pass
        except OSError as exc:
            where = f"{args.host}:{args.port}"
            raise Fail(
                f"cannot listen on {where}: {exc.strerror or exc}", EXIT_CONNECTION
            ) from None
    out.write("stopped\n")
    return EXIT_OK


def add_serve(commands: Any) -> None:
    """Register ``rtstate serve``."""
    p = commands.add_parser(
        "serve",
        help="run the fake Realtime server until Ctrl-C",
        description="Run the fake Realtime server (rtstate.serve, the echo responder) "
        "and print the URL to dial. Runs until Ctrl-C.",
    )
    p.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="default: 8765 (0: any free port)")
    p.add_argument(
        "--token",
        help="require Authorization: Bearer TOKEN or the subprotocol "
        "openai-insecure-api-key.TOKEN (else HTTP 401)",
    )
    p.add_argument(
        "--dialect",
        choices=("beta", "ga"),
        help="speak only this dialect (default: each client's, from its handshake)",
    )
    p.add_argument("--certfile", metavar="FILE", help="serve wss:// with this certificate (PEM)")
    p.add_argument("--keyfile", metavar="FILE", help="the certificate's private key (PEM)")
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// with a throwaway self-signed certificate for localhost, "
        "127.0.0.1 and ::1; prints the CA file to trust (needs rtstate[tls])",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N processes serving one port (SO_REUSEPORT), to use every core; default: 1",
    )
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    add_backend(p)
    p.set_defaults(run=_serve)
