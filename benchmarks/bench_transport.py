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
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from importlib.metadata import version
from typing import Any

import anyio
import websockets.asyncio.client
import websockets.asyncio.server

from rtstate import ClientConnection
from rtstate import transitions as t
from rtstate.events.client import ResponseCreate
from rtstate.events.server import ServerEvent
from rtstate.server import Message, ScriptedResponder, ServerConfig, ServerConnection
from rtstate.step import Step
from rtstate.transport import AsyncConnection, connect, serve

QUICK = os.environ.get("RTSTATE_BENCH_QUICK") == "1"
REPEATS = 2 if QUICK else 5
LONG_SECONDS = 2 if QUICK else 60  # the reply of the one-session run
SESSIONS = 10 if QUICK else 100
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
    server = ServerConnection(responder=responder(seconds), config=CONFIG, seed=1)
    server.start(0.0)
    return list(server.receive(CREATE, 0.0).to_send)


def done(step: Step) -> bool:
    return any(isinstance(x, t.ResponseCompleted) for x in step.transitions)


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
    server = ServerConnection(responder=responder(seconds), config=CONFIG, seed=1)
    client = ClientConnection()
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
    connection = await stack.enter_async_context(connect(url, ping_interval=None))
    await connection.wait_for(lambda step: isinstance(step.input, ServerEvent))  # created
    return connection


async def rtstate_one(seconds: int) -> tuple[float, int]:
    async with (
        serve(responder=responder(seconds), config=CONFIG) as server,
        AsyncExitStack() as stack,
    ):
        connection = await opened(stack, server.url)
        return await best_rate(lambda: one_reply(connection))


async def rtstate_many(seconds: int, sessions: int) -> tuple[float, int]:
    async with (
        serve(responder=responder(seconds), config=CONFIG) as server,
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


# --- server CPU per event: the fake server alone, in processes of its own ----------------
#
# The server runs in a child process (or N, on one port with SO_REUSEPORT, as
# ``rtstate serve --workers N``); the clients are plain ``websockets`` clients in this
# process, so the figure is the server's own CPU time (user + system, read from each
# server process) divided by the events it wrote. The baseline is a plain
# ``websockets`` asyncio server writing the same pre-encoded frames, measured in the
# same run with the same clients.

CPU_SESSIONS = 10 if QUICK else 50
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
                port=port, responder=responder(seconds), config=CONFIG, reuse_port=True
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
    alone = ServerConnection(responder=responder(SHORT_SECONDS), config=CONFIG, seed=1)
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
    main()
    print()
    server_cpu_main()
