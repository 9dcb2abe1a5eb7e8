"""``rtstate demo``: the fake server on loopback and a client with the first-party plugins.

``add_demo`` registers the subcommand (``rtstate.cli``'s ``_COMMANDS``); its handler
runs ``run_demo``, optionally keeping the recorder's journal in a file.

``run_demo`` starts ``rtstate.serve`` on an ephemeral loopback port and connects to it
with the ``Tools``, ``Transcript``, ``Recorder`` and ``BargeIn`` plugins, then plays a
scripted conversation: a question answered through a tool call (the ``Tools`` plugin
runs it and answers on its own), a spoken answer the user talks over (a barge-in: the
playback reported, ``interrupt()``, the response cut where it was heard), and a last
short answer. The transcript is printed live, then a summary. How long it takes is
``DURATION`` (its ``--help`` and the README say it in these words); no network, no
API key.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, TextIO

import anyio
import attrs
from rtstate_plugins import BargeIn, Recorder, StopSignal, Tools, Transcript, render_text

from ..connection import ClientConnection
from ..errors import TransportError
from ..events.client import ResponseCreate
from ..events.payloads import ResponseParams, SessionConfig
from ..server import FunctionCall, Message, ScriptedResponder, ServerConfig
from ..step import Step
from ..transitions import ResponseFinished, SessionStarted
from ..transport import AsyncConnection, connect, serve
from ._base import (
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_UNREADABLE,
    Fail,
    add_backend,
    has,
    require_backend,
    user_message,
)

__all__ = ["DURATION", "DemoSummary", "add_demo", "run_demo"]

DURATION: Final = (
    "under a second of scripted conversation (its summary ends with how long it took), "
    "plus Python's start-up"
)
"""How long the demo takes, as ``demo --help`` and the README say it. Measured: the
conversation 0.4-0.5 s on an idle 2-core VM, 0.7-1.0 s with the machine loaded ten
deep; the whole command adds the interpreter and imports."""

_TEXT = ResponseParams(modalities=("text",))
_SPOKEN = ResponseParams(modalities=("audio", "text"))
_LONG = (
    "Norwegian weather changes fast: the coast is mild and wet, the mountains get snow "
    "even in June, the north has the midnight sun in summer and the polar night in "
    "winter, and in Bergen it rains on more than two hundred days a year, so locals say "
    "there is no bad weather, only bad clothes."
)
_SCRIPT = (
    FunctionCall(name="get_weather", arguments='{"city": "Oslo"}'),
    "It is clear and 18 °C in Oslo right now.",
    Message(text=_LONG),
    "In short: bring a jacket.",
)
_USER = (
    "What is the weather in Oslo?",
    "Tell me everything about Norwegian weather.",
    "Just the short version, please.",
)
_HEARD_MS = 400
"""How much of the spoken answer the user hears before talking over it."""


@attrs.frozen(kw_only=True)
class DemoSummary:
    """What the demo did (printed at its end)."""

    items: int
    responses: dict[str, int]
    tool_calls: int
    frames_sent: int
    frames_received: int
    audio_received_ms: float
    interrupted_at_ms: int
    journal_lines: int
    seconds: float


def _weather_tools() -> Tools:
    tools = Tools(response=ResponseCreate(response=_TEXT), timeout=5.0)

    @tools.register
    def get_weather(city: str) -> dict[str, object]:
        """The current weather in a city."""
        return {"city": city, "sky": "clear", "celsius": 18}

    return tools


class _Counter:
    """A plugin counting responses, and a tap counting frames; prints nothing."""

    def __init__(self) -> None:
        self.sent = 0
        self.received = 0
        self.responses: dict[str, int] = {}

    def attached(self, conn: ClientConnection) -> None:
        conn.add_tap(self._tap)

    def _tap(self, verb: str, value: object) -> None:
        if verb == "receive":
            self.received += 1
        elif verb == "step" and isinstance(value, Step):
            self.sent += len(value.to_send)

    def on_response_finished(self, t: ResponseFinished, step: Step) -> None:
        status = t.status or "unknown"
        self.responses[status] = self.responses.get(status, 0) + 1


class _LivePrinter:
    """Prints each transcript line once it is final (the ``Transcript`` on_change)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._printed: set[str] = set()

    def __call__(self, transcript: Transcript) -> None:
        for entry in transcript.entries:
            if entry.in_progress or entry.item_id in self._printed:
                continue
            self._printed.add(entry.item_id)
            self._out.write(f"  {render_text([entry])}\n")
            self._out.flush()


async def _turn(
    conn: AsyncConnection, text: str, params: ResponseParams, *, responses: int = 1
) -> None:
    """Say ``text``, ask for a response, and wait for ``responses`` to complete (0: none)."""
    await conn.send(user_message(text))
    await conn.send(ResponseCreate(response=params))
    for _ in range(responses):
        await conn.wait_for(has(ResponseFinished))


async def run_demo(
    out: TextIO,
    *,
    journal: TextIO | None = None,
    plugins: Sequence[object] = (),
    delta_interval: float = 0.01,
    timeout: float = 30.0,
) -> DemoSummary:
    """Play the scripted demo over loopback and print it to ``out``.

    Args:
        journal: where the ``Recorder`` writes its JSONL journal (else nowhere).
        plugins: more plugins for the client (after the demo's own).
        delta_interval: the fake server's pacing between deltas, in seconds.
        timeout: the whole demo's time limit, in seconds.

    Raises:
        TimeoutError: the demo did not finish within ``timeout``.
    """
    started = time.perf_counter()
    signals: list[StopSignal] = []
    tools, barge, counter = _weather_tools(), BargeIn(on_stop=signals.append), _Counter()
    transcript = Transcript(on_change=_LivePrinter(out))
    written = 0

    def write(line: str) -> None:
        nonlocal written
        written += 1
        if journal is not None:
            journal.write(line)

    recorder = Recorder(write=write)
    config = ServerConfig(delta_interval=delta_interval)
    script = ScriptedResponder(_SCRIPT)
    with anyio.fail_after(timeout):
        async with serve(responder=lambda: script, config=config) as server:
            out.write(f"fake Realtime server on {server.url}\n\n")
            everything = [tools, transcript, recorder, barge, counter, *plugins]
            async with connect(server.url, plugins=everything) as conn:
                await conn.wait_for(has(SessionStarted))
                session = SessionConfig(
                    instructions="You are a weather assistant.", turn_detection=None
                )
                await conn.send(tools.session_update(session))
                # 1. a tool call: the Tools plugin runs get_weather and answers by itself
                await _turn(conn, _USER[0], _TEXT, responses=2)
                # 2. a spoken answer the user talks over
                await _turn(conn, _USER[1], _SPOKEN, responses=0)
                await conn.wait_for(lambda step: barge.received_ms >= _HEARD_MS + 100)
                for item_id, ms in barge.heard(_HEARD_MS):  # what the speaker played
                    await conn.playback(item_id, ms)
                await conn.interrupt()
                out.write(f"  (the user talks over the answer after {_HEARD_MS} ms)\n")
                await conn.wait_for(has(ResponseFinished, "cancelled"))
                # 3. a short answer
                await _turn(conn, _USER[2], _TEXT)
                state = conn.state
    summary = DemoSummary(
        items=len(state.items),
        responses=dict(counter.responses),
        tool_calls=len(tools.results),
        frames_sent=counter.sent,
        frames_received=counter.received,
        audio_received_ms=sum(i.audio_ms for i in state.items),
        interrupted_at_ms=_HEARD_MS,
        journal_lines=written,
        seconds=time.perf_counter() - started,
    )
    _print_summary(out, summary, signals)
    return summary


def _print_summary(out: TextIO, s: DemoSummary, signals: list[StopSignal]) -> None:
    responses = ", ".join(f"{n} {status}" for status, n in sorted(s.responses.items()))
    signal = signals[-1] if signals else None
    out.write(
        "\nsummary\n"
        f"  items in the conversation: {s.items}\n"
        f"  responses: {responses}\n"
        f"  tool calls answered by the Tools plugin: {s.tool_calls}\n"
        f"  frames: {s.frames_sent} sent, {s.frames_received} received\n"
        f"  assistant audio received: {s.audio_received_ms / 1000:.1f} s, "
        f"cut at {s.interrupted_at_ms / 1000:.1f} s "
        f"(stop signal: {signal.reason if signal else 'none'})\n"
        f"  journal: {s.journal_lines} lines\n"
        f"  took {s.seconds:.2f} s\n"
    )
    out.flush()


# --- the subcommand -----------------------------------------------------------------------


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    require_backend(args.backend)
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
        f"live transcript and a summary. No network, no API key. It takes {DURATION}.",
    )
    add_backend(p)
    p.add_argument("--journal", metavar="FILE", help="keep the recorder's journal in FILE")
    p.set_defaults(run=_demo)
