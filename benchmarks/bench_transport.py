"""Transport speed: server events per second over loopback WebSockets.

Run ``python benchmarks/bench_transport.py``. Every session streams the same kind of
reply: ``rtstate.serve()`` with ``ServerConfig(delta_interval=0)`` (a whole response
written as fast as the socket takes it) answers ``response.create`` with a spoken
message (ready pcm16 audio, so no synthesis is timed: 100 ms audio deltas of 6,400
base64 characters, the transcript interleaved), and the client ``rtstate.connect()``
reads ``steps()`` until the Step of ``response.done``. A figure is the server events
the client received divided by the wall time from sending ``response.create`` to
folding ``response.done``.

1. one session: a long reply on one connection;
2. many sessions: every session of one ``serve()`` sends ``response.create`` at once;
   the figure is all their events over the time until the last ``response.done``;
3. baseline: ``websockets``' own asyncio server and client (``websockets.asyncio``,
   no compression, as rtstate) with the same frames: the server writes the frames an
   rtstate server wrote for one such reply, pre-encoded, and the client receives
   them without looking inside. That is the ceiling for the bytes alone. It runs on
   asyncio only (``websockets``' I/O is asyncio); rtstate runs on asyncio and trio.
4. server CPU per event (``server_cpu_main``): the fake server alone in processes of
   its own (one, and several on one port as ``rtstate serve --workers``), loaded by
   plain ``websockets`` clients; its CPU time per event written, beside a plain
   ``websockets`` server's with the same frames and clients, and the sans-IO
   ``ServerConnection``'s own share.

The server and its clients share one process and one event loop (a single thread), so
each figure is the cost of both ends: encoding, folding and framing on the server,
framing, decoding and folding on the client. Each figure is the best of several runs,
with the cyclic GC off inside a run (as ``timeit`` does). ``RTSTATE_BENCH_QUICK=1``
runs far shorter replies and fewer sessions (a smoke run for tests): its numbers are
rough.

4. client capacity (``capacity_main``): how many sessions one client process holds
   at 20 events/s each (a 100 ms audio delta every 100 ms, as a live reply is paced)
   with the p99 latency of an event, from the server's write to the client's fold,
   at most 100 ms. The server is a plain ``websockets`` server in another process
   (``--paced-server``: the frames an rtstate server writes for a spoken reply, the
   audio deltas sent forever, each stamped with its send time on the shared
   monotonic clock), so the client process is measured alone. Sessions are added
   in steps (``CAPACITY_LEVELS``) until p99 passes 100 ms or fewer than 95% of the
   events arrive: rtstate opened the usual way (nested ``async with connect()`` in
   one task), rtstate with a task per session, and ``websockets``' own client (a
   task per connection that parses each message) as the baseline, in the same run.
   rtstate's figure is taken in an ``on_step`` plugin (the app is a plugin; nobody
   reads ``steps()``, whose buffer then drops the oldest Steps). Beside it, the
   client process's CPU time (user + system) per event received, at the largest
   level every run measured, as a ratio to the baseline's: a steadier figure than
   p99 on a shared machine.
"""

from __future__ import annotations

import asyncio
import gc
import os
import platform
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from importlib.metadata import version
from typing import Any, NamedTuple

import anyio
import anyio.abc
import orjson
import websockets.asyncio.client
import websockets.asyncio.server
import websockets.exceptions
from websockets.exceptions import InvalidHandshake

from rtstate import ClientConnection, Config
from rtstate import transitions as t
from rtstate.errors import ConnectError
from rtstate.events.client import ResponseCreate
from rtstate.events.server import ServerEvent
from rtstate.server import Message, ScriptedResponder, ServerConfig, ServerConnection
from rtstate.step import Step
from rtstate.transport import AsyncConnection, connect, serve

QUICK = os.environ.get("RTSTATE_BENCH_QUICK") == "1"
REPEATS = 1 if QUICK else 5
LONG_SECONDS = 1 if QUICK else 60  # the reply of the one-session run
SESSIONS = 4 if QUICK else 100
SHORT_SECONDS = 1 if QUICK else 5  # the reply of each session in the many-sessions run

CONFIG = ServerConfig(delta_interval=0.0, session_duration=None)
CREATE = '{"type": "response.create"}'


def spoken(seconds: int) -> Message:
    """A reply of ``seconds`` of ready pcm16 audio and a transcript (~2.5 words/s)."""
    audio = bytes(i % 251 for i in range(seconds * 1000 * 48))
    words = " ".join(f"word{n}" for n in range(max(1, seconds * 5 // 2)))
    return Message(text=words, audio=audio)


def responder(seconds: int) -> ScriptedResponder:
    return ScriptedResponder([spoken(seconds)], cycle=True)


def reply_frames(seconds: int) -> list[str]:
    """The frames an rtstate server writes for one reply (the baseline sends these)."""
    server = ServerConnection(dialect="beta", responder=responder(seconds), config=CONFIG, seed=1)
    server.start(0.0)
    return list(server.receive(CREATE, 0.0).to_send)


def done(step: Step) -> bool:
    return any(isinstance(x, t.ResponseFinished) for x in step.transitions)


async def one_reply(connection: AsyncConnection) -> int:
    """Ask for a response and read Steps until its ``response.done``; events received."""
    await connection.send(ResponseCreate())
    events = 0
    async for step in connection.steps():
        if isinstance(step.input, ServerEvent):
            events += 1
        if done(step):
            return events
    raise SystemExit("the connection closed before response.done")


async def best_rate(run: Callable[[], Awaitable[int]]) -> tuple[float, int]:
    """Best events per second of ``run`` (which returns its event count) over REPEATS
    runs (GC off inside a run), and the event count."""
    best = 0.0
    count = 0
    for _ in range(REPEATS):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            count = await run()
            elapsed = time.perf_counter() - start
        finally:
            gc.enable()
        best = max(best, count / elapsed)
    return best, count


async def sans_io(seconds: int) -> tuple[float, int]:
    """The same replies through the two sans-IO ends on one session with no socket
    between them: what the transport adds is the difference."""
    server = ServerConnection(dialect="beta", responder=responder(seconds), config=CONFIG, seed=1)
    client = ClientConnection(config=Config(dialect="beta"))
    for frame in server.start(0.0).to_send:
        client.receive(frame)

    async def run() -> int:
        step = client.send(ResponseCreate())
        frames = server.receive(step.to_send[0], 0.0).to_send
        for frame in frames:
            client.receive(frame)
        if client.state.active_response is not None:
            raise SystemExit("the sans-IO reply did not complete")
        return len(frames)

    return await best_rate(run)


async def opened(stack: AsyncExitStack, url: str) -> AsyncConnection:
    connection = await stack.enter_async_context(connect(url, dialect="beta", ping_interval=None))
    async for step in connection.steps():  # read up to session.created: one_reply counts
        if isinstance(step.input, ServerEvent):  # what steps() yields after it
            break
    return connection


async def rtstate_one(seconds: int) -> tuple[float, int]:
    async with (
        serve(dialect="beta", responder=responder(seconds), config=CONFIG) as server,
        AsyncExitStack() as stack,
    ):
        connection = await opened(stack, server.url)
        return await best_rate(lambda: one_reply(connection))


async def rtstate_many(seconds: int, sessions: int) -> tuple[float, int]:
    async with (
        serve(dialect="beta", responder=responder(seconds), config=CONFIG) as server,
        AsyncExitStack() as stack,
    ):
        connections = [await opened(stack, server.url) for _ in range(sessions)]
        assert server.sessions == sessions

        async def all_replies() -> int:
            counts: list[int] = []

            async def reply(connection: AsyncConnection) -> None:
                counts.append(await one_reply(connection))

            async with anyio.create_task_group() as tasks:
                for connection in connections:
                    tasks.start_soon(reply, connection)
            return sum(counts)

        return await best_rate(all_replies)


async def baseline(frames: list[str], sessions: int) -> tuple[float, int]:
    """``websockets`` alone: ``sessions`` clients, each sent ``frames`` per request."""

    async def handler(ws: websockets.asyncio.server.ServerConnection) -> None:
        async for _ in ws:
            for frame in frames:
                await ws.send(frame)

    async with websockets.asyncio.server.serve(
        handler, "127.0.0.1", 0, compression=None, max_size=None
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    websockets.asyncio.client.connect(
                        f"ws://127.0.0.1:{port}/", compression=None, max_size=None
                    )
                )
                for _ in range(sessions)
            ]

            async def reply(ws: websockets.asyncio.client.ClientConnection) -> None:
                await ws.send(CREATE)
                for _ in frames:
                    await ws.recv()

            async def all_replies() -> int:
                async with anyio.create_task_group() as tasks:
                    for ws in clients:
                        tasks.start_soon(reply, ws)
                return len(frames) * sessions

            return await best_rate(all_replies)


def line(name: str, rate: float, events: int, ceiling: float | None) -> None:
    ratio = f"   {rate / ceiling:5.2f}x baseline" if ceiling else ""
    print(
        f"  {name:34} {rate:11,.0f} events/s {1e6 / rate:8.2f} us/frame"
        f"   ({events:,} events){ratio}"
    )


def main() -> None:
    print(
        f"python {platform.python_version()} ({sys.platform}, {os.cpu_count()} cpus), "
        f"anyio {version('anyio')}, trio {version('trio')}, websockets {version('websockets')}"
        f"{' (quick run: numbers are rough)' if QUICK else ''}"
    )
    print(
        f"best of {REPEATS} runs; events/s = server events the client received per second "
        "of wall time; us/frame = its inverse; server and clients share one event loop"
    )
    print("the baseline is websockets' own asyncio server and client (its I/O is asyncio only)")
    print()
    long_frames = reply_frames(LONG_SECONDS)
    short_frames = reply_frames(SHORT_SECONDS)
    size = sum(len(f) for f in long_frames) / len(long_frames)
    one_ceiling, one_events = anyio.run(baseline, long_frames, 1)
    many_ceiling, many_events = anyio.run(baseline, short_frames, SESSIONS)
    results = {
        backend: (
            anyio.run(rtstate_one, LONG_SECONDS, backend=backend),
            anyio.run(rtstate_many, SHORT_SECONDS, SESSIONS, backend=backend),
        )
        for backend in ("asyncio", "trio")
    }
    for backend, ((_, one_count), (_, many_count)) in results.items():
        if (one_count, many_count) != (one_events, many_events):  # the same frames, or no ratio
            raise SystemExit(f"{backend}: received {one_count} and {many_count} events")
    print(
        f"one session: a reply of {LONG_SECONDS} s of audio ({len(long_frames):,} events, "
        f"{size:,.0f} chars each on average)"
    )
    line("websockets baseline (asyncio)", one_ceiling, one_events, None)
    line("sans-IO server + client, no socket", *anyio.run(sans_io, LONG_SECONDS), one_ceiling)
    for backend, (one_session, _) in results.items():
        line(f"rtstate on {backend}", *one_session, one_ceiling)
    print()
    print(
        f"{SESSIONS} concurrent sessions on one serve(): a reply of {SHORT_SECONDS} s of "
        f"audio each ({len(short_frames):,} events per session)"
    )
    line("websockets baseline (asyncio)", many_ceiling, many_events, None)
    for backend, (_, many_sessions) in results.items():
        line(f"rtstate on {backend}", *many_sessions, many_ceiling)
    sys.stdout.flush()


# --- client capacity: sessions held at 20 events/s with p99 <= 100 ms -------------------

CAPACITY_LEVELS = (4,) if QUICK else (100, 200, 400, 600, 800, 1000, 1200, 1500, 2000)
CAPACITY_WARMUP = 0.2 if QUICK else 1.0  # seconds after adding sessions, not measured
CAPACITY_WINDOW = 0.5 if QUICK else 2.5  # seconds measured at each level
PACE = 0.1  # every 100 ms: a 100 ms audio delta and its transcript delta (20 events/s)
P99_LIMIT = 0.100
CAPACITY_BUDGET = 2.0 if QUICK else 45.0  # seconds per ramp: a loaded machine stops it


def paced_frames() -> tuple[list[str], list[tuple[str, str]]]:
    """What the paced server sends: the frames before the first audio delta (session
    and response start), then the templates of one audio delta and one transcript
    delta, each split where its send time goes (in the ``event_id``)."""
    server = ServerConnection(dialect="beta", responder=responder(1), config=CONFIG, seed=1)
    created = list(server.start(0.0).to_send)
    reply = list(server.receive(CREATE, 0.0).to_send)
    kinds = [orjson.loads(f)["type"] for f in reply]
    audio = kinds.index("response.audio.delta")
    transcript = kinds.index("response.audio_transcript.delta")
    templates = []
    for index in (audio, transcript):
        event = orjson.loads(reply[index])
        event["event_id"] = "@"
        head, tail = orjson.dumps(event).decode().split('"@"')
        templates.append((head + '"t', '"' + tail))
    return created + reply[: min(audio, transcript)], templates


def paced_server() -> None:
    """``--paced-server``: serve every connection the paced stream, forever; print
    the port. 20 events/s per connection: an audio delta and a transcript delta
    every 100 ms."""
    preamble, templates = paced_frames()

    async def handler(ws: websockets.asyncio.server.ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        try:
            for frame in preamble:
                await ws.send(frame)
            while True:
                due += PACE
                await asyncio.sleep(max(0.0, due - loop.time()))
                for head, tail in templates:
                    await ws.send(f"{head}{time.monotonic():.6f}{tail}")
        except websockets.exceptions.ConnectionClosed:
            return  # the client is done

    async def run() -> None:
        async with websockets.asyncio.server.serve(
            handler, "127.0.0.1", 0, compression=None, max_size=None, ping_interval=None,
            backlog=4096,
        ) as server:  # fmt: skip
            print(next(iter(server.sockets)).getsockname()[1], flush=True)
            await asyncio.Future()

    asyncio.run(run())


class Latencies:
    """Event latencies (seconds) recorded while ``on`` is set."""

    def __init__(self) -> None:
        self.on = False
        self.samples: list[float] = []

    def record(self, event_id: str) -> None:
        if event_id[:1] == "t":
            self.samples.append(time.monotonic() - float(event_id[1:]))

    def verdict(self, sessions: int) -> tuple[float, float]:
        """p99 latency (s) and the share of the expected events that arrived."""
        samples = sorted(self.samples)
        expected = sessions * CAPACITY_WINDOW * 2 / PACE
        if not samples:
            return float("inf"), 0.0
        return samples[min(len(samples) - 1, int(len(samples) * 0.99))], len(samples) / expected


class StampReader:
    """The app, as an rtstate plugin: it notes each event's latency as it is folded."""

    def __init__(self, latencies: Latencies) -> None:
        self._latencies = latencies

    def on_step(self, step: Step) -> None:
        if self._latencies.on:
            event_id = getattr(step.input, "event_id", None)
            if isinstance(event_id, str):
                self._latencies.record(event_id)


class Level(NamedTuple):
    """What one level of the ramp measured."""

    sessions: int
    p99: float  # seconds
    share: float  # of the expected events that arrived
    cpu: float  # the client process's CPU seconds per event received (user + system)


async def measure(latencies: Latencies, sessions: int) -> Level:
    await anyio.sleep(CAPACITY_WARMUP)
    latencies.samples = []
    latencies.on = True
    cpu = time.process_time()
    await anyio.sleep(CAPACITY_WINDOW)
    cpu = time.process_time() - cpu
    latencies.on = False
    p99, share = latencies.verdict(sessions)
    return Level(sessions, p99, share, cpu / max(1, len(latencies.samples)))


Opener = Callable[[AsyncExitStack, anyio.abc.TaskGroup, str, Latencies], Awaitable[None]]


async def open_nested(
    stack: AsyncExitStack, tasks: anyio.abc.TaskGroup, url: str, latencies: Latencies
) -> None:
    """The usual way: ``async with connect()`` nested in the one task."""
    await stack.enter_async_context(
        connect(url, dialect="beta", plugins=[StampReader(latencies)], step_buffer=8)
    )


async def open_in_task(
    stack: AsyncExitStack, tasks: anyio.abc.TaskGroup, url: str, latencies: Latencies
) -> None:
    """A task per session."""

    async def session(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with connect(url, dialect="beta", plugins=[StampReader(latencies)], step_buffer=8):
            task_status.started()
            await anyio.sleep_forever()

    await tasks.start(session)


async def open_baseline(
    stack: AsyncExitStack, tasks: anyio.abc.TaskGroup, url: str, latencies: Latencies
) -> None:
    """``websockets``' own client: a task per connection that parses every message."""
    ws = await stack.enter_async_context(
        websockets.asyncio.client.connect(url, compression=None, max_size=None)
    )

    async def read() -> None:
        async for message in ws:
            if latencies.on:
                latencies.record(orjson.loads(message)["event_id"])

    tasks.start_soon(read)


async def capacity(url: str, opener: Opener) -> list[Level]:
    """What each level measured, up to the first that fails or the time budget
    (opening sessions slows down on a loaded machine)."""
    latencies = Latencies()
    levels: list[Level] = []
    start = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        async with AsyncExitStack() as stack:
            opened = 0
            for level in CAPACITY_LEVELS:
                if time.perf_counter() - start > CAPACITY_BUDGET:
                    break
                try:
                    while opened < level:
                        await opener(stack, tasks, url, latencies)
                        opened += 1
                except (ConnectError, OSError, TimeoutError, InvalidHandshake) as exc:
                    # a session that cannot even open (a loaded machine): the level fails
                    print(f"    (opening session {opened + 1} failed: {exc})", flush=True)
                    levels.append(Level(level, float("inf"), 0.0, float("nan")))
                    break
                measured = await measure(latencies, level)
                levels.append(measured)
                if not passes(measured):
                    break
        tasks.cancel_scope.cancel()
    return levels


def passes(level: Level) -> bool:
    """p99 <= 100 ms and >= 95% of the events arrived."""
    return level.p99 <= P99_LIMIT and level.share >= 0.95


def held(levels: list[Level]) -> int:
    """The most sessions held with p99 <= 100 ms and >= 95% of the events."""
    return max((level.sessions for level in levels if passes(level)), default=0)


def cpu_report(ramps: list[tuple[str, list[Level]]]) -> None:
    """Client CPU per event at the largest level every run measured (a steadier
    figure than p99 on a shared machine), each as a ratio to the baseline's."""
    common = set.intersection(*({lv.sessions for lv in levels if lv.share} for _, levels in ramps))
    if not common:
        return
    sessions = max(common)
    cpus = [
        (label, next(lv.cpu for lv in levels if lv.sessions == sessions)) for label, levels in ramps
    ]
    base = cpus[0][1]
    print(f"client CPU us per event at {sessions:,} sessions (user + system, whole process)")
    for label, cpu in cpus:
        print(f"  {label:40} {cpu * 1e6:7.1f} us/event   {cpu / base:5.2f}x baseline")


def capacity_main() -> None:
    """Print the client capacity figures (after ``main``'s)."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--paced-server"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        url = f"ws://127.0.0.1:{int(server.stdout.readline())}/v1/realtime"
        print()
        print(
            "client capacity: sessions one client process holds at 20 events/s each "
            f"(100 ms audio deltas), p99 latency <= {P99_LIMIT * 1000:.0f} ms, server in "
            "another process"
        )
        runs: list[tuple[str, Opener, str]] = [
            ("websockets baseline (asyncio)", open_baseline, "asyncio"),
            ("rtstate, nested in one task", open_nested, "asyncio"),
            ("rtstate, a task per session", open_in_task, "asyncio"),
            ("rtstate, nested in one task", open_nested, "trio"),
        ]
        ramps: list[tuple[str, list[Level]]] = []
        for name, opener, backend in runs:
            levels = anyio.run(capacity, url, opener, backend=backend)
            steps = ", ".join(
                f"{lv.sessions}: {lv.p99 * 1000:.0f} ms" if lv.share else f"{lv.sessions}: no open"
                for lv in levels
            )
            label = f"{name} on {backend}" if "baseline" not in name else name
            passed = bool(levels) and levels[-1].sessions == held(levels)
            count = f">={held(levels):,}" if passed else f"{held(levels):,}"
            print(f"  {label:40} {count:>7} sessions   (p99 by sessions: {steps})")
            sys.stdout.flush()
            ramps.append((label, levels))
        cpu_report(ramps)
        sys.stdout.flush()
    finally:
        server.kill()
        server.wait(10)


# --- server CPU per event: the fake server alone, in processes of its own ----------------
#
# The server runs in a child process (or N, on one port with SO_REUSEPORT, as
# ``rtstate serve --workers N``); the clients are plain ``websockets`` clients in this
# process, so the figure is the server's own CPU time (user + system, read from each
# server process) divided by the events it wrote. The baseline is a plain
# ``websockets`` asyncio server writing the same pre-encoded frames, measured in the
# same run with the same clients.

CPU_SESSIONS = 4 if QUICK else 50
CPU_ROUNDS = 1 if QUICK else 4


def _cpu_server(kind: str, port: int, seconds: int, pipe: Any) -> None:
    """A server process: ``kind`` is "rtstate" or "websockets"; it listens on ``port``
    (SO_REUSEPORT), says "ready", then answers each request on ``pipe`` with its CPU
    time so far."""
    import threading  # noqa: PLC0415 - in the child only

    def answer_cpu() -> None:
        while pipe.recv() == "cpu":
            pipe.send(time.process_time())

    async def run() -> None:
        if kind == "rtstate":
            async with serve(
                port=port,
                responder=responder(seconds),
                config=CONFIG,
                reuse_port=True,
                dialect="beta",
            ):
                pipe.send("ready")
                await anyio.sleep_forever()
        frames = reply_frames(seconds)

        async def handler(ws: websockets.asyncio.server.ServerConnection) -> None:
            async for _ in ws:
                for frame in frames:
                    await ws.send(frame)

        async with websockets.asyncio.server.serve(
            handler, "127.0.0.1", port, compression=None, max_size=None, reuse_port=True
        ):
            pipe.send("ready")
            await anyio.sleep_forever()

    threading.Thread(target=answer_cpu, daemon=True).start()
    anyio.run(run)


async def _cpu_clients(port: int, sessions: int, rounds: int) -> int:
    """``sessions`` plain clients each ask for ``rounds`` replies; the events received."""
    received = [0]

    async def one() -> None:
        async with websockets.asyncio.client.connect(
            f"ws://127.0.0.1:{port}/v1/realtime", compression=None, max_size=None
        ) as ws:
            await ws.recv()  # session.created
            for _ in range(rounds):
                await ws.send(CREATE)
                while True:
                    frame = await ws.recv()
                    received[0] += 1
                    if '"response.done"' in frame:
                        break

    async with anyio.create_task_group() as tasks:
        for _ in range(sessions):
            tasks.start_soon(one)
    return received[0]


async def _baseline_clients(port: int, sessions: int, rounds: int, per_reply: int) -> int:
    async def one() -> None:
        async with websockets.asyncio.client.connect(
            f"ws://127.0.0.1:{port}/", compression=None, max_size=None
        ) as ws:
            for _ in range(rounds):
                await ws.send(CREATE)
                for _ in range(per_reply):
                    await ws.recv()

    async with anyio.create_task_group() as tasks:
        for _ in range(sessions):
            tasks.start_soon(one)
    return sessions * rounds * per_reply


def server_cpu(kind: str, workers: int, seconds: int) -> tuple[float, int]:
    """Server CPU µs per event of ``workers`` server processes of ``kind``."""
    import multiprocessing  # noqa: PLC0415
    import socket  # noqa: PLC0415

    reserve = socket.socket()
    reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reserve.bind(("127.0.0.1", 0))  # holds the port; never listens
    port = reserve.getsockname()[1]
    spawn = multiprocessing.get_context("spawn")
    pipes, processes = [], []
    try:
        for _ in range(workers):
            ours, theirs = spawn.Pipe()
            process = spawn.Process(target=_cpu_server, args=(kind, port, seconds, theirs))
            process.start()
            pipes.append(ours)
            processes.append(process)
        for pipe in pipes:
            if pipe.recv() != "ready":
                raise SystemExit("a server process did not start")

        def cpu() -> float:
            for pipe in pipes:
                pipe.send("cpu")
            return float(sum(pipe.recv() for pipe in pipes))

        per_reply = len(reply_frames(seconds))
        start = cpu()
        if kind == "rtstate":
            events = anyio.run(_cpu_clients, port, CPU_SESSIONS, CPU_ROUNDS)
        else:
            events = anyio.run(_baseline_clients, port, CPU_SESSIONS, CPU_ROUNDS, per_reply)
        used = cpu() - start
        return used * 1e6 / events, events
    finally:
        for pipe in pipes:
            pipe.send("stop")
        for process in processes:
            process.terminate()
            process.join()
        reserve.close()


def server_cpu_main() -> None:
    """Print the server CPU section."""
    workers = max(2, min(4, os.cpu_count() or 1))
    print(
        f"server CPU per event: {CPU_SESSIONS} sessions x {CPU_ROUNDS} replies of "
        f"{SHORT_SECONDS} s of audio, plain websockets clients in another process; "
        "CPU = user + system time of the server process(es)"
    )
    base, events = server_cpu("websockets", 1, SHORT_SECONDS)
    print(f"  {'websockets baseline server':34} {base:8.2f} us CPU/event   ({events:,} events)")
    alone = ServerConnection(
        dialect="beta", responder=responder(SHORT_SECONDS), config=CONFIG, seed=1
    )
    alone.start(0.0)
    count, start = 0, time.process_time()
    for _ in range(CPU_ROUNDS * 10):
        count += len(alone.receive(CREATE, 0.0).to_send)
    cost = (time.process_time() - start) * 1e6 / count
    print(
        f"  {'sans-IO ServerConnection, no socket':34} {cost:8.2f} us CPU/event   "
        f"({count:,} events)   (the share of the server's own logic)"
    )
    for count in (1, workers):
        cost, events = server_cpu("rtstate", count, SHORT_SECONDS)
        name = "rtstate serve()" + (f", {count} workers" if count > 1 else "")
        print(
            f"  {name:34} {cost:8.2f} us CPU/event   ({events:,} events)   "
            f"{cost / base:5.2f}x baseline"
        )


if __name__ == "__main__":
    if sys.argv[1:] == ["--paced-server"]:
        paced_server()
    else:
        main()
        print()
        server_cpu_main()
        print()
        capacity_main()
