"""``rtstate connect URL``: a text chat with a Realtime server, one user message per
line of stdin, the assistant's text printed as it streams.

The API key is read from the environment (``--api-key-env``, ``OPENAI_API_KEY`` by
default) and sent when set: a server that needs none (``rtstate serve`` without
``--token``) is dialled without one. The chat starts only once the server has accepted
its text-only session setup (``session.update``); a server that rejects it ends the
command with ``EXIT_CONNECTION`` and the server's message.

``add_connect`` registers the subcommand (``rtstate.cli``'s ``_COMMANDS``); its handler
returns the exit code or raises ``Fail``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

import anyio
import anyio.lowlevel

from ..config import Dialect
from ..errors import ConnectionClosed, HandshakeError, RequestRejected, TransportError
from ..events.client import ResponseCreate, SessionUpdate
from ..events.payloads import ResponseParams, SessionConfig
from ..step import Step
from ..transitions import (
    ResponseFinished,
    ServerErrorReceived,
    SessionStarted,
    SessionUpdated,
    TextAppended,
    Transition,
)
from ..transport import AsyncConnection, connect
from ._base import (
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_USAGE,
    Fail,
    add_backend,
    has,
    require_backend,
    user_message,
)

__all__ = ["add_connect"]

T = TypeVar("T", bound=Transition)


def _kinds(step: Step, kind: type[T]) -> list[T]:
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


class _SetupRejected(Exception):
    """The server answered the session setup with an error (its message)."""


def _unattributed_error(step: Step) -> ServerErrorReceived | None:
    """An ``error`` in ``step`` that names no client event, if any."""
    for x in _kinds(step, ServerErrorReceived):
        if x.error.event_id is None:
            return x
    return None


def _answered(step: Step) -> bool:
    """Whether ``step`` answers the session setup: ``session.updated``, or an error
    that names no client event (while the setup is the one request awaiting its
    answer, a server that leaves out the ``event_id`` means that one)."""
    return bool(_kinds(step, SessionUpdated)) or _unattributed_error(step) is not None


async def _set_up(conn: AsyncConnection, timeout: float) -> None:
    """Make the session text only; wait until the server accepts (``session.updated``).

    Raises:
        _SetupRejected: the server answered the ``session.update`` with an error
            (one naming it, or one naming no event at all).
        TimeoutError: no answer within ``timeout`` seconds.
    """
    text_only = SessionConfig(modalities=("text",), turn_detection=None)
    try:
        step = await conn.request(SessionUpdate(session=text_only), _answered, timeout=timeout)
    except RequestRejected as exc:
        raise _SetupRejected(exc.error.message) from None
    error = _unattributed_error(step)
    if error is not None:
        raise _SetupRejected(error.error.message)


async def _chat(
    args: argparse.Namespace, api_key: str | None, lines: Callable[[], str], out: TextIO
) -> None:
    dialect: Dialect | None = args.dialect
    completed = has(ResponseFinished)
    async with connect(args.url, api_key=api_key, model=args.model, dialect=dialect) as conn:
        with anyio.fail_after(args.timeout):
            await conn.wait_for(has(SessionStarted))
        await _set_up(conn, args.timeout)
        while True:
            line = await _line_or_close(conn, lines)
            if not line:
                return  # end of input
            if not line.strip():
                continue
            await conn.send(user_message(line.strip()))
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
    require_backend(args.backend)
    if not args.url.startswith(("ws://", "wss://")):
        raise Fail(f"URL must start with ws:// or wss://, not {args.url!r}", EXIT_USAGE)
    api_key = os.environ.get(args.api_key_env) or None  # none: for a server that needs none
    try:
        anyio.run(_chat, args, api_key, sys.stdin.readline, out, backend=args.backend)
    except HandshakeError as exc:
        hint = f" (no API key was sent: set {args.api_key_env})" if api_key is None else ""
        raise Fail(f"the server refused the connection: {exc}{hint}", EXIT_CONNECTION) from None
    except _SetupRejected as exc:
        raise Fail(f"the server rejected the session setup: {exc}", EXIT_CONNECTION) from None
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
        "key comes from the environment (OPENAI_API_KEY), and is not needed by a server "
        "that asks for none (rtstate serve without --token). Ends at end of input; exits 5 "
        "if the server cannot be reached, refuses the connection or the session setup, or "
        "goes away.",
    )
    p.add_argument("url", metavar="URL", help="e.g. wss://api.openai.com/v1/realtime")
    p.add_argument("--model", help="added to the URL as ?model= (OpenAI needs it)")
    p.add_argument("--dialect", choices=("beta", "ga"), help="the wire protocol; default: GA")
    p.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="NAME",
        help="the environment variable holding the API key (default: OPENAI_API_KEY); "
        "unset or empty: no key is sent",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for the session, its setup and each answer; default: 60",
    )
    add_backend(p)
    p.set_defaults(run=_connect)
