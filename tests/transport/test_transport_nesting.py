"""Sessions opened nested in one task (``async with connect()`` inside the previous
one's body): the connection's own tasks (reader, deadline, keepalive, plugin hooks)
run in a cancel-scope chain that does not grow with the sessions around them.

On anyio's asyncio backend, leaving a cancel scope (``move_on_after``, ``fail_after``,
a shielded checkpoint) and ``checkpoint_if_cancelled`` walk the task's chain of
scopes up to the first shielded one; without a shield at the connection, the walk in
the thousandth nested session's tasks went through every session opened before it.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack

import anyio
import pytest

from rtstate.transport import AsyncConnection, Server, connect_in_memory

pytestmark = pytest.mark.anyio

NESTED = 120  # sessions nested in one task
ROUNDS = 15  # the best of these timings is kept (a shared machine)
EXITS = 100  # cancel scopes left per timing


class ScopeProbe:
    """A plugin whose ``connected`` hook (a task of the connection, beside the
    reader) times leaving cancel scopes and checking for cancellation."""

    def __init__(self) -> None:
        self.best = float("inf")
        self.ran = anyio.Event()

    async def connected(self, connection: AsyncConnection) -> None:
        for _ in range(ROUNDS):
            start = time.perf_counter()
            for _ in range(EXITS):
                with anyio.move_on_after(60):
                    await anyio.lowlevel.checkpoint_if_cancelled()
            self.best = min(self.best, time.perf_counter() - start)
        self.ran.set()


async def test_connection_tasks_cost_does_not_grow_with_nested_sessions() -> None:
    server = Server()
    probes = [ScopeProbe() for _ in range(NESTED)]
    async with AsyncExitStack() as stack:
        for probe in probes:
            await stack.enter_async_context(connect_in_memory(server, plugins=[probe]))
            await probe.ran.wait()  # timed at this depth, with the sessions before open
    first, last = probes[0].best, probes[-1].best
    # without a cut, the last session's walks are ~NESTED x 4 scopes long: >10x the first's
    assert last < 3 * first, f"1st session {first * 1e6:.0f} us, {NESTED}th {last * 1e6:.0f} us"


async def test_a_nested_connection_still_ends_with_its_body() -> None:
    """The cut does not detach the connection's tasks: a cancelled body still closes
    every nested session and their tasks stop."""
    server = Server()
    connections: list[AsyncConnection] = []
    with anyio.move_on_after(0.5) as scope:
        async with AsyncExitStack() as stack:
            while len(connections) < 5:
                opened = await stack.enter_async_context(connect_in_memory(server))
                connections.append(opened)
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert all(conn._reader_done.is_set() for conn in connections)
