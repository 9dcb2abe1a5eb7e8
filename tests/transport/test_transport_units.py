"""The transport's small parts: dial targets, the blocking facade, the memory pair."""

from __future__ import annotations

import threading

import anyio
import pytest
from support.helpers import user_text
from support.transport_helpers import TEXT_ONLY, has

import rtstate
from rtstate import transitions as t
from rtstate.events import client as c
from rtstate.server import ScriptedResponder
from rtstate.transport import (
    connect_blocking,
    default_dialect,
    endpoint,
    memory_stream_pair,
    serve_in_thread,
)
from rtstate.transport._sync import Mutex, StepQueue


def test_openai_endpoint_has_bearer_beta_header_and_model() -> None:
    target = endpoint(
        "wss://api.openai.com/v1/realtime", api_key="sk-1", model="gpt-4o-realtime-preview"
    )
    assert target.url == "wss://api.openai.com/v1/realtime?model=gpt-4o-realtime-preview"
    assert (target.host, target.port, target.secure, target.azure) == (
        "api.openai.com",
        443,
        True,
        False,
    )
    assert target.headers == (("Authorization", "Bearer sk-1"), ("OpenAI-Beta", "realtime=v1"))


def test_azure_endpoint_has_api_key_deployment_and_version() -> None:
    target = endpoint(
        "https://myres.openai.azure.com/openai/realtime",
        api_key="az-1",
        azure_deployment="gpt-4o-rt",
        api_version="2024-10-01-preview",
        model="ignored-on-azure",
    )
    assert target.azure and target.secure
    assert target.url == (
        "wss://myres.openai.azure.com/openai/realtime"
        "?deployment=gpt-4o-rt&api-version=2024-10-01-preview"
    )
    assert ("api-key", "az-1") in target.headers
    assert all(name != "Authorization" for name, _ in target.headers)


def test_azure_is_recognised_by_host_and_keeps_the_query() -> None:
    target = endpoint(
        "wss://x.cognitiveservices.azure.com/openai/realtime?api-version=v&deployment=d",
        api_key="k",
    )
    assert target.azure
    assert target.url.endswith("?api-version=v&deployment=d")
    assert ("api-key", "k") in target.headers


def test_explicit_headers_replace_derived_ones() -> None:
    target = endpoint(
        "ws://127.0.0.1:8080/v1/realtime",
        api_key="k",
        headers={"authorization": "Bearer other", "X-Trace": "1"},
    )
    assert target.port == 8080 and not target.secure
    assert target.headers == (
        ("OpenAI-Beta", "realtime=v1"),
        ("authorization", "Bearer other"),
        ("X-Trace", "1"),
    )


@pytest.mark.parametrize("url", ["ftp://example.com/", "not a url", "wss:///nohost"])
def test_a_bad_url_is_a_local_error(url: str) -> None:
    with pytest.raises(rtstate.LocalProtocolError, match="ws:// or wss://"):
        endpoint(url)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_blocking_facade_runs_a_session_from_plain_threads(backend: str) -> None:
    responder = ScriptedResponder(["One.", "Two."])
    with (
        serve_in_thread(backend=backend, responder=lambda: responder) as server,
        connect_blocking(server.url, backend=backend) as conn,
    ):
        conn.wait_for(has(t.SessionStarted))
        conn.send(c.SessionUpdate(session=TEXT_ONLY))
        # another thread (an audio callback, say) sends while this one reads
        sender = threading.Thread(target=lambda: conn.send(user_text("from a thread")))
        sender.start()
        sender.join(10)
        conn.send(c.ResponseCreate())
        conn.wait_for(has(t.ResponseFinished))
        assert [i.text for i in conn.state.items] == ["from a thread", "One."]
        conn.close()
        with pytest.raises(rtstate.ConnectionClosed):
            conn.send(c.ResponseCreate())
        rest = list(conn.steps())  # what was buffered, ending with the close
        assert rest and has(t.TransportClosed)(rest[-1])


@pytest.mark.anyio
async def test_memory_pair_carries_bytes_both_ways_with_eof() -> None:
    a, b = memory_stream_pair(capacity=1)
    await a.send(b"hello world")
    assert await b.receive(5) == b"hello"
    assert await b.receive() == b" world"
    await b.send(b"back")
    assert await a.receive() == b"back"
    await a.send_eof()
    with pytest.raises(anyio.EndOfStream):
        await b.receive()
    await a.aclose()
    await b.aclose()


@pytest.mark.anyio
async def test_memory_pair_reads_a_large_chunk_in_small_pieces_exactly() -> None:
    a, b = memory_stream_pair()
    big = bytes(range(256)) * 400 + b"end"  # 102,403 bytes: the last piece is short
    await a.send(big)
    await a.send(b"next")
    pieces: list[bytes] = []
    while sum(map(len, pieces)) < len(big):
        pieces.append(await b.receive(1000))
    assert b"".join(pieces) == big
    assert all(len(piece) <= 1000 for piece in pieces)
    assert await b.receive() == b"next"  # a read never spans two chunks
    await a.aclose()
    await b.aclose()


def test_api_openai_com_defaults_to_ga_and_other_hosts_to_the_config() -> None:
    assert default_dialect("wss://api.openai.com/v1/realtime", "beta") == "ga"
    assert default_dialect("ws://127.0.0.1:9/v1/realtime", "beta") == "beta"
    assert default_dialect("ws://127.0.0.1:9/v1/realtime", "ga") == "ga"
    ga = endpoint("wss://api.openai.com/v1/realtime", api_key="k", beta_header=False)
    assert ga.headers == (("Authorization", "Bearer k"),)


@pytest.mark.anyio
async def test_the_mutex_is_fifo_and_survives_a_cancelled_waiter() -> None:
    mutex = Mutex()
    assert mutex.try_acquire() and not mutex.try_acquire()
    order: list[str] = []

    cancelled = anyio.CancelScope()

    async def take(name: str, scope: anyio.CancelScope | None = None) -> None:
        with scope or anyio.CancelScope():
            async with mutex:
                order.append(name)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(take, "first")
        await anyio.sleep(0.01)
        tasks.start_soon(take, "never", cancelled)
        await anyio.sleep(0.01)
        tasks.start_soon(take, "second")
        await anyio.sleep(0.01)
        cancelled.cancel()  # a waiter gives up: the one behind it still gets its turn
        await anyio.sleep(0.01)
        mutex.release()
    assert order == ["first", "second"]
    assert not mutex.locked


@pytest.mark.anyio
async def test_the_step_queue_drops_the_oldest_and_counts_them() -> None:
    queue: StepQueue[int] = StepQueue(3)
    dropped = [queue.put(n) for n in range(5)]
    assert dropped == [False, False, False, True, True]
    assert (queue.dropped, queue.take_dropped(), queue.take_dropped()) == (2, 2, 0)
    assert [await queue.get() for _ in range(3)] == [2, 3, 4]
    got: list[int] = []

    async def consume() -> None:
        got.append(await queue.get())

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(consume)
        await anyio.sleep(0.01)
        queue.put(9)  # wakes the waiting consumer
    assert got == [9]
    queue.close()
    with pytest.raises(anyio.EndOfStream):
        await queue.get()
