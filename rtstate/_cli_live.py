"""The ``rtstate`` subcommands that open sockets: ``demo``, ``serve`` and ``connect``.

Each is one ``add_<name>(commands)`` that ``rtstate._cli`` registers in ``_COMMANDS``;
each handler takes the parsed arguments and the output stream and returns the exit
code or raises ``Fail`` (one line on stderr: ``rtstate <command>: <message>``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TextIO

import anyio
import anyio.lowlevel

from ._cli_base import EXIT_CONNECTION, EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE, Fail
from ._cli_serve import Tls, run_workers, tls_for, tls_lines, worker_ready
from ._demo import _has, _user, run_demo
from .config import Dialect
from .errors import ConnectionClosed, HandshakeError, TransportError
from .events.client import ResponseCreate, SessionUpdate
from .events.payloads import ResponseParams, SessionConfig
from .step import Step
from .transitions import ResponseCompleted, ServerErrorReceived, SessionStarted, TextAppended
from .transport import AsyncConnection, connect, serve

__all__ = ["EXIT_CONNECTION", "add_connect", "add_demo", "add_serve"]

_BACKENDS: Final = ("asyncio", "trio")


def _require_backend(backend: str) -> None:
    if backend == "trio" and importlib.util.find_spec("trio") is None:
        raise Fail("the trio backend needs trio: pip install trio", EXIT_USAGE)


def _add_backend(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=_BACKENDS,
        default="asyncio",
        help="the event loop (anyio backend); default: asyncio",
    )


# --- demo ----------------------------------------------------------------------------------


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    _require_backend(args.backend)
    journal: TextIO | None = None
    if args.journal is not None:
        try:
            journal = Path(args.journal).open("w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise Fail(f"cannot write the journal {args.journal}: {exc}", EXIT_UNREADABLE) from None
    try:
        out.write(f"rtstate demo ({args.backend})\n")
        anyio.run(lambda: run_demo(out, journal=journal), backend=args.backend)
    except TimeoutError:
        raise Fail("the demo did not finish in time", EXIT_CONNECTION) from None
    except TransportError as exc:
        raise Fail(str(exc), EXIT_CONNECTION) from None
    finally:
        if journal is not None:
            journal.close()
    if args.journal is not None:
        out.write(f"  replay it: rtstate replay {args.journal}\n")
    return EXIT_OK


def add_demo(commands: Any) -> None:
    """Register ``rtstate demo``."""
    p = commands.add_parser(
        "demo",
        help="a scripted conversation with the fake server over loopback",
        description="Start the fake Realtime server on loopback and a client with the "
        "tools, transcript, recorder and barge-in plugins; play a scripted conversation "
        "(a tool call, a spoken answer the user talks over, a short answer); print the "
        "live transcript and a summary. No network, no API key; a few seconds.",
    )
    _add_backend(p)
    p.add_argument("--journal", metavar="FILE", help="keep the recorder's journal in FILE")
    p.set_defaults(run=_demo)


# --- serve ---------------------------------------------------------------------------------


async def _serve_forever(args: argparse.Namespace, out: TextIO, tls: Tls | None) -> None:
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
            await anyio.sleep_forever()
        auth = "a bearer token" if args.token else "no authentication"
        dialect = args.dialect or "beta or GA, as each client asks"
        out.write(f"rtstate fake Realtime server: {server.url}\n")
        out.write("".join(f"{line}\n" for line in tls_lines(tls)))
        out.write(f"  ({auth}; dialect: {dialect}; Ctrl-C to stop)\n")
        out.flush()
        await anyio.sleep_forever()


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    _require_backend(args.backend)
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
        except KeyboardInterrupt:
            out.write("stopped\n")
            return EXIT_OK
        except OSError as exc:
            where = f"{args.host}:{args.port}"
            raise Fail(
                f"cannot listen on {where}: {exc.strerror or exc}", EXIT_CONNECTION
            ) from None
    return EXIT_OK  # pragma: no cover - serve runs until interrupted


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
    _add_backend(p)
    p.set_defaults(run=_serve)


# --- connect -------------------------------------------------------------------------------


def _kinds(step: Step, kind: type) -> list[Any]:
    return [x for x in step.transitions if isinstance(x, kind)]


async def _read_line(lines: Callable[[], str]) -> str:
    """``lines()`` in a daemon thread of its own: a read blocked on a terminal must
    not keep the process alive after Ctrl-C (an anyio worker thread would)."""
    token = anyio.lowlevel.current_token()
    done = anyio.Event()
    box: list[str] = []

    def work() -> None:
        try:
            box.append(lines())
        except (OSError, ValueError):  # stdin closed under us: end of input
            box.append("")
        with contextlib.suppress(RuntimeError):  # the event loop is gone
            anyio.from_thread.run_sync(done.set, token=token)

    threading.Thread(target=work, name="rtstate stdin", daemon=True).start()
    await done.wait()
    return box[0]


async def _line_or_close(conn: AsyncConnection, lines: Callable[[], str]) -> str:
    """The next stdin line, read while watching the connection: a server that goes
    away between two lines ends the chat at once (``ConnectionClosed``)."""
    got: list[str] = []
    async with anyio.create_task_group() as tasks:

        async def read() -> None:
            got.append(await _read_line(lines))
            tasks.cancel_scope.cancel()

        tasks.start_soon(read)
        async for _ in conn.steps():  # between turns: nothing to print
            pass
        tasks.cancel_scope.cancel()
    if not got:
        raise conn.closed or ConnectionClosed(None, "the connection closed")
    return got[0]


async def _chat(
    args: argparse.Namespace, api_key: str, lines: Callable[[], str], out: TextIO
) -> None:
    dialect: Dialect | None = args.dialect
    completed = _has(ResponseCompleted)
    async with connect(args.url, api_key=api_key, model=args.model, dialect=dialect) as conn:
        with anyio.fail_after(args.timeout):
            await conn.wait_for(_has(SessionStarted))
        text_only = SessionConfig(modalities=("text",), turn_detection=None)
        await conn.send(SessionUpdate(session=text_only))
        while True:
            line = await _line_or_close(conn, lines)
            if not line:
                return  # end of input
            if not line.strip():
                continue
            await conn.send(_user(line.strip()))
            await conn.send(ResponseCreate(response=ResponseParams(modalities=("text",))))
            out.write("assistant: ")
            with anyio.fail_after(args.timeout):
                async for step in conn.steps():
                    for t in _kinds(step, TextAppended):
                        out.write(t.delta)
                        out.flush()
                    for e in _kinds(step, ServerErrorReceived):
                        print(f"\nserver error: {e.error.message}", file=sys.stderr)
                    if completed(step):
                        break
                else:
                    raise conn.closed or ConnectionClosed(None, "the connection closed")
            out.write("\n")
            out.flush()


def _connect(args: argparse.Namespace, out: TextIO) -> int:
    _require_backend(args.backend)
    if not args.url.startswith(("ws://", "wss://")):
        raise Fail(f"URL must start with ws:// or wss://, not {args.url!r}", EXIT_USAGE)
    api_key = os.environ.get(args.api_key_env, "")
    if not api_key:
        raise Fail(f"set {args.api_key_env} to your API key", EXIT_USAGE)
    try:
        anyio.run(_chat, args, api_key, sys.stdin.readline, out, backend=args.backend)
    except HandshakeError as exc:
        raise Fail(f"the server refused the connection: {exc}", EXIT_CONNECTION) from None
    except TimeoutError:
        raise Fail(f"no answer within {args.timeout:g} s", EXIT_CONNECTION) from None
    except ConnectionClosed as exc:
        raise Fail(f"lost the connection: {exc}", EXIT_CONNECTION) from None
    except TransportError as exc:
        raise Fail(str(exc), EXIT_CONNECTION) from None
    except KeyboardInterrupt:
        out.write("stopped\n")  # Ctrl-C ends the chat like end of input
    return EXIT_OK


def add_connect(commands: Any) -> None:
    """Register ``rtstate connect``."""
    p = commands.add_parser(
        "connect",
        help="text chat with a Realtime server (lines from stdin)",
        description="Connect to a Realtime server and chat in text: each line read from "
        "stdin is a user message; the assistant's text is printed as it streams. The API "
        "key comes from the environment (OPENAI_API_KEY). Ends at end of input.",
    )
    p.add_argument("url", metavar="URL", help="e.g. wss://api.openai.com/v1/realtime")
    p.add_argument("--model", help="added as ?model= (OpenAI)")
    p.add_argument("--dialect", choices=("beta", "ga"), help="default: GA for OpenAI")
    p.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", help="the variable holding the API key"
    )
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each answer")
    _add_backend(p)
    p.set_defaults(run=_connect)
