"""Attached sessions over a socket: ``connect(url, call_id=...)`` against the fake server.

The fake server (``serve()``, ``?call_id=``) attaches to a call: no ``session.created``,
server-side playback reported by ``output_audio_buffer.started`` / ``.stopped``,
``output_audio_buffer.clear`` answered by ``.cleared``. rtstate's client, strict,
interrupts a spoken response through the server's playback with no diagnostic, on
asyncio and trio.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import anyio
import pytest

from rtstate import Config, Step
from rtstate.events import client as c
from rtstate.events.payloads import SessionConfig
from rtstate.server import ScriptedResponder, ServerConfig
from rtstate.state import PlaybackPhase, SessionPhase
from rtstate.transitions import (
    OutputAudioCleared,
    OutputAudioStarted,
    ResponseFinished,
    SessionUpdated,
    TruncationPlanned,
)
from rtstate.transport import AsyncConnection, connect, connect_blocking, serve, serve_in_thread
from rtstate.transport._endpoint import endpoint

STRICT = Config(dialect="ga", strict=True)
LONG = "A long spoken answer that takes quite a while to say out loud, word after word."


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_the_url_gets_call_id_and_no_model_unless_given() -> None:
    url = "wss://api.openai.com/v1/realtime"
    assert query(endpoint(url, call_id="rtc_1").url) == {"call_id": "rtc_1"}
    both = endpoint(url, call_id="rtc_1", model="gpt-realtime").url
    assert query(both) == {"call_id": "rtc_1", "model": "gpt-realtime"}
    azure = endpoint(
        "wss://x.openai.azure.com/openai/v1/realtime", call_id="rtc_1", azure_deployment="d"
    ).url
    assert query(azure) == {"call_id": "rtc_1", "deployment": "d"}
    assert "call_id" not in query(endpoint(url, model="gpt-realtime").url)


def has(*kinds: type) -> Callable[[Step], bool]:
    return lambda step: any(isinstance(t, kinds) for t in step.transitions)


async def until(conn: AsyncConnection, predicate: Callable[[Step], bool], seen: list[Step]) -> Step:
    """Read every Step (into ``seen``) until ``predicate`` holds for one."""
    async for step in conn.steps():
        seen.append(step)
        if predicate(step):
            return step
    raise AssertionError("the connection closed first")


@pytest.mark.anyio
async def test_a_spoken_response_is_interrupted_through_the_servers_playback() -> None:
    config = ServerConfig(delta_interval=0.02)
    steps: list[Step] = []
    async with (
        serve(responder=ScriptedResponder([LONG]), config=config, dialect="ga") as server,
        connect(server.url, call_id="rtc_call_1", config=STRICT) as conn,
    ):
        assert conn.state.attached and conn.state.phase is SessionPhase.OPEN
        with anyio.fail_after(20):
            steps.append(
                await conn.send(c.SessionUpdate(session=SessionConfig(instructions="Be brief.")))
            )
            await until(conn, has(SessionUpdated), steps)
            steps.append(await conn.send(c.ResponseCreate()))
            await until(conn, has(OutputAudioStarted), steps)
            playing = conn.state.playing_response_id
            assert playing is not None
            assert (
                conn.state.active_response is not None and conn.state.active_response.id == playing
            )
            interrupt = await conn.interrupt()
            steps.append(interrupt)
            assert [e.type for e in interrupt.sent] == [
                "response.cancel",
                "output_audio_buffer.clear",
            ]
            assert any(isinstance(t, TruncationPlanned) for t in interrupt.transitions)
            cleared = False
            finished = False
            while not (cleared and finished):
                step = await until(conn, has(OutputAudioCleared, ResponseFinished), steps)
                cleared = cleared or any(
                    isinstance(t, OutputAudioCleared) for t in step.transitions
                )
                finished = finished or any(
                    isinstance(t, ResponseFinished) for t in step.transitions
                )
        state = conn.state
        assert state.active_response is None
        response = state.response_by_id(playing)
        assert response is not None and response.status == "cancelled"
        assert state.server_playback[playing] is PlaybackPhase.CLEARED
        assert state.playing_response_id is None
        assert state.ledger.in_flight == ()
    # deltas the server wrote before it read the cancel may still arrive: the expected
    # race (an informational "interrupted"), dropped; nothing else is said
    said = [d for step in steps for d in step.diagnostics]
    assert [d for d in said if not (d.informational and d.code == "interrupted")] == []
    assert conn.plugin_errors == ()


def test_connect_blocking_takes_call_id() -> None:
    with (
        serve_in_thread(responder=ScriptedResponder(["Hi."]), dialect="ga") as server,
        connect_blocking(server.url, call_id="rtc_call_2", config=STRICT) as conn,
    ):
        assert conn.state.attached
        conn.send(c.SessionUpdate(session=SessionConfig(instructions="Hi.")))
        step = conn.wait_for(lambda s: any(isinstance(t, SessionUpdated) for t in s.transitions))
        assert step.diagnostics == ()
        assert conn.state.session is not None
