"""Transport faults, on asyncio and trio: dropped sockets, cancellation, oversized
frames, refused handshakes, TLS, strict mode, keepalive, backpressure, load.

Whatever goes wrong, the state keeps everything received, the step stream ends with
a ``TransportClosed`` transition, and what escapes is an rtstate error.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable

import anyio
import anyio.abc
import orjson
import pytest
import trustme
from support.helpers import user_text
from support.transport_helpers import TEXT_ONLY, has, raw_server, session_created

import rtstate
from rtstate import Step
from rtstate import transitions as t
from rtstate.events import client as c
from rtstate.server import ScriptedResponder, ServerConfig
from rtstate.transport import AsyncConnection, connect, serve

pytestmark = pytest.mark.anyio


async def wait(conn: AsyncConnection, predicate: Callable[[Step], bool]) -> Step:
    with anyio.fail_after(20):
        return await conn.wait_for(predicate)


def frame(event: dict[str, object]) -> str:
    return orjson.dumps(event).decode()


MID_RESPONSE = [
    session_created(),
    frame(
        {
            "type": "response.created",
            "event_id": "event_2",
            "response": {
                "id": "resp_1",
                "object": "realtime.response",
                "status": "in_progress",
                "status_details": None,
                "output": [],
                "usage": None,
            },
        }
    ),
    frame(
        {
            "type": "response.output_item.added",
            "event_id": "event_3",
            "response_id": "resp_1",
            "output_index": 0,
            "item": {
                "id": "item_1",
                "object": "realtime.item",
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            },
        }
    ),
    frame(
        {
            "type": "response.content_part.added",
            "event_id": "event_4",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "text", "text": ""},
        }
    ),
    *(
        frame(
            {
                "type": "response.text.delta",
                "event_id": f"event_d{i}",
                "response_id": "resp_1",
                "item_id": "item_1",
                "output_index": 0,
                "content_index": 0,
                "delta": word,
            }
        )
        for i, word in enumerate(["The ", "socket ", "drops ", "here"])
    ),
]


async def test_a_dropped_socket_ends_the_steps_and_keeps_what_was_received() -> None:
    async with (
        raw_server(MID_RESPONSE, then="drop") as peer,
        connect(peer.url, dialect="beta", ping_interval=None) as conn,
    ):
        kinds: list[type] = []
        with anyio.fail_after(10):
            async for step in conn.steps():
                kinds.extend(type(x) for x in step.transitions)
        assert kinds[-1] is t.TransportClosed
        closed = conn.state
        assert closed.phase is rtstate.state.SessionPhase.CLOSED
        item = closed.item("item_1")  # an output item of the response cut short
        assert item is not None
        assert item.text == "The socket drops here"  # every delta received is kept
        assert closed.active_response is not None
        assert closed.active_response.output == ("item_1",)
        assert conn.closed is not None and conn.closed.code == 1006
        with pytest.raises(rtstate.ConnectionClosed) as info:
            await conn.send(c.ResponseCreate())
        assert isinstance(info.value, rtstate.TransportError)
        assert info.value.code == 1006


async def test_a_close_frame_from_the_server_is_reported_with_its_code() -> None:
    async with (
        raw_server([session_created()], then="close", close_code=1011) as peer,
        connect(peer.url, dialect="beta", ping_interval=None) as conn,
    ):
        step = await wait(conn, has(t.TransportClosed))
        closed = next(x for x in step.transitions if isinstance(x, t.TransportClosed))
        assert (closed.code, closed.reason) == (1011, "bye")


async def test_a_send_cancelled_mid_write_leaves_no_half_written_frame() -> None:
    # 12 MB of base64: more than the socket buffers hold while the peer does not read
    audio = base64.b64encode(bytes(9 * 1024 * 1024)).decode()
    async with (
        raw_server([session_created()], then="hang", read_after=0.6) as peer,
        connect(peer.url, dialect="beta", ping_interval=None) as conn,
    ):
        await wait(conn, has(t.SessionStarted))
        started = anyio.current_time()
        with anyio.move_on_after(0.2) as scope:  # fires while the write is blocked
            await conn.send(c.InputAudioBufferAppend(audio=audio))
        assert scope.cancel_called  # the caller was cancelled mid-send...
        assert anyio.current_time() - started >= 0.4  # ...and the write finished first
        await conn.send(c.ResponseCreate())
        with anyio.fail_after(10):
            while len(peer.received) < 2:
                await anyio.sleep(0.01)
        # the peer parsed whole frames: the cancelled one arrived complete (the write
        # was shielded), and the next one after it
        append, create = (orjson.loads(raw) for raw in peer.received)
        assert append["type"] == "input_audio_buffer.append"
        assert len(append["audio"]) == len(audio)
        assert create["type"] == "response.create"
        assert conn.closed is None  # still open and usable


async def test_a_send_cancelled_before_it_starts_changes_nothing() -> None:
    async with serve() as server, connect(server.url) as conn:
        await wait(conn, has(t.SessionStarted))
        before = conn.state
        with anyio.CancelScope() as scope:
            scope.cancel()
            await conn.send(c.ResponseCreate())
        assert conn.state is before


async def test_an_oversized_frame_from_the_server_closes_with_1009() -> None:
    big = frame({"type": "rate_limits.updated", "event_id": "e", "rate_limits": [],
                 "padding": "x" * 4096})  # fmt: skip
    async with (
        raw_server([session_created(), big], then="hang") as peer,
        connect(peer.url, max_size=2048, ping_interval=None) as conn,
    ):
        step = await wait(conn, has(t.TransportClosed))
        closed = next(x for x in step.transitions if isinstance(x, t.TransportClosed))
        assert closed.code == 1009
        assert "too large" in closed.reason
        assert conn.state.session is not None  # the frame before it was kept


async def test_an_oversized_frame_to_the_server_closes_with_1009() -> None:
    async with serve(max_size=64 * 1024) as server, connect(server.url) as conn:
        await wait(conn, has(t.SessionStarted))
        await conn.send(c.InputAudioBufferAppend(audio="A" * (128 * 1024)))
        step = await wait(conn, has(t.TransportClosed))
        closed = next(x for x in step.transitions if isinstance(x, t.TransportClosed))
        assert closed.code == 1009


async def test_the_default_limit_takes_a_16_mib_frame() -> None:
    audio = "A" * (15 * 1024 * 1024)
    delta = frame({"type": "input_audio_buffer.speech_started", "event_id": "e2",
                   "audio_start_ms": 0, "item_id": "item_9", "padding": audio})  # fmt: skip
    async with (
        raw_server([session_created(), delta], then="hang") as peer,
        connect(peer.url, dialect="beta", ping_interval=None) as conn,
    ):
        step = await wait(conn, has(t.SpeechStarted))
        assert conn.closed is None
        assert step.after.input_buffer.speech


async def test_a_wrong_token_is_refused_with_401() -> None:
    async with serve(token="secret") as server:
        with pytest.raises(rtstate.errors.HandshakeError) as info:
            async with connect(server.url, api_key="wrong"):
                pass
        assert info.value.status == 401
        assert "invalid_api_key" in info.value.body
        async with connect(server.url, api_key="secret") as conn:
            await wait(conn, has(t.SessionStarted))


async def test_sessions_beyond_the_limit_are_refused_with_503() -> None:
    async with serve(max_sessions=1) as server, connect(server.url) as first:
        await wait(first, has(t.SessionStarted))
        with pytest.raises(rtstate.errors.HandshakeError) as info:
            async with connect(server.url):
                pass
        assert info.value.status == 503


async def test_nothing_listening_is_a_connect_error() -> None:
    async with serve() as server:
        port = server.port
    with pytest.raises(rtstate.errors.ConnectError, match="cannot connect"):
        async with connect(f"ws://127.0.0.1:{port}/v1/realtime"):
            pass


async def test_tls_is_verified_by_default() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    async with serve(host="localhost", ssl_context=server_context) as server:
        url = f"wss://localhost:{server.port}/v1/realtime"
        with pytest.raises(rtstate.errors.ConnectError, match="did not verify"):
            async with connect(url):
                pass
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        async with (
            serve(
                host="localhost",
                ssl_context=server_context,
                responder=lambda: ScriptedResponder(["Secure."]),
            ) as tls,
            connect(f"wss://localhost:{tls.port}/v1/realtime", ssl_context=client_context) as conn,
        ):
            await wait(conn, has(t.SessionStarted))
            await conn.send(c.SessionUpdate(session=TEXT_ONLY))
            await conn.send(c.ResponseCreate())
            await wait(conn, has(t.ResponseFinished))
            assert conn.state.items[0].text == "Secure."


async def test_strict_mode_stops_on_a_bad_frame_and_raises_it_from_steps() -> None:
    frames = [session_created(), "this is not json", session_created("event_9")]
    async with (
        raw_server(frames, then="hang") as peer,
        connect(peer.url, config=rtstate.Config(strict=True), ping_interval=None) as conn,
    ):
        seen: list[Step] = []
        with pytest.raises(rtstate.RemoteProtocolError), anyio.fail_after(10):
            async for step in conn.steps():
                seen.append(step)  # noqa: PERF401 - the loop raises; keep what came first
        assert any(has(t.SessionStarted)(s) for s in seen)
        assert has(t.TransportClosed)(seen[-1])
        assert conn.closed is not None and conn.closed.code == 1002


async def test_lenient_mode_reports_a_bad_frame_and_goes_on() -> None:
    frames = [session_created(), "this is not json", frame({"type": "rate_limits.updated",
              "event_id": "e3", "rate_limits": []})]  # fmt: skip
    async with (
        raw_server(frames, then="hang") as peer,
        connect(peer.url, dialect="beta", ping_interval=None) as conn,
    ):
        bad = await wait(conn, lambda s: bool(s.diagnostics))
        assert bad.diagnostics[0].code == "malformed"
        await wait(conn, has(t.RateLimitsUpdated))
        assert conn.closed is None


async def test_a_peer_that_stops_answering_pings_is_dropped() -> None:
    async with (
        raw_server([session_created()], then="hang", read=False) as peer,
        connect(peer.url, ping_interval=0.1, ping_timeout=0.2) as conn,
    ):
        step = await wait(conn, has(t.TransportClosed))
        closed = next(x for x in step.transitions if isinstance(x, t.TransportClosed))
        assert closed.code == 1006
        assert "pong" in closed.reason


async def test_a_consumer_that_stops_reading_never_stops_the_connection() -> None:
    # the app stops reading steps() for several keepalive timeouts while the server
    # streams a long answer: the reader keeps folding and answering, pongs are read,
    # the connection survives and the state holds the whole answer
    config = ServerConfig(delta_interval=0.02)
    reply = " ".join(f"word{n}" for n in range(60))  # paced out over ~1.2 s
    async with (
        serve(responder=lambda: ScriptedResponder([reply]), config=config) as server,
        connect(server.url, step_buffer=4, ping_interval=0.05, ping_timeout=0.2) as conn,
    ):
        await wait(conn, has(t.SessionStarted))
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await conn.send(c.ResponseCreate())
        with anyio.fail_after(20):  # not reading steps(): only the state is watched
            while conn.state.active_response is not None or not conn.state.items:
                await anyio.sleep(0.05)
            await anyio.sleep(0.5)  # and more keepalive rounds with nobody reading
        assert conn.closed is None
        assert conn.state.items[0].text == reply
        assert conn.steps_dropped > 0
        # the consumer comes back: it reads the newest Steps, told what it missed
        with anyio.fail_after(20):
            step = await conn.steps().__anext__()
        dropped = [d for d in step.diagnostics if d.code == "steps_dropped"]
        assert dropped and str(conn.steps_dropped) in dropped[0].message
        await wait(conn, has(t.ResponseFinished))


async def test_a_plugin_only_app_is_never_stalled() -> None:
    done = anyio.Event()
    texts: list[str] = []

    class Collect:
        def on_response_finished(self, tr: t.ResponseFinished, step: Step) -> None:
            texts.append(step.after.items[-1].text or "")
            done.set()

    reply = "Many small words arrive here, " * 12  # 60 deltas over many reads
    config = ServerConfig(delta_interval=0.01)
    async with (
        serve(responder=lambda: ScriptedResponder([reply]), config=config) as server,
        connect(server.url, plugins=[Collect()], step_buffer=2) as conn,
    ):
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await conn.send(c.ResponseCreate())
        with anyio.fail_after(10):
            await done.wait()
        assert texts == [reply]


async def test_cancelling_the_body_closes_the_connection_cleanly() -> None:
    async with serve() as server:
        with anyio.move_on_after(0.3):
            async with connect(server.url) as conn:
                await wait(conn, has(t.SessionStarted))
                await anyio.sleep_forever()
        assert conn.closed is not None
        assert conn.state.phase is rtstate.state.SessionPhase.CLOSED
        with anyio.fail_after(5):
            while server.sessions:
                await anyio.sleep(0.01)


async def test_aclose_in_the_body_does_not_cancel_the_body() -> None:
    async with serve() as server, connect(server.url) as conn:
        await wait(conn, has(t.SessionStarted))
        await conn.aclose()
        await anyio.sleep(0.05)  # still running: only the connection's tasks stopped
        assert conn.closed is not None and conn.closed.code == 1000
        await conn.aclose()  # idempotent


async def test_a_responder_that_raises_closes_the_session_with_1011(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(request: object) -> str:
        raise RuntimeError("the responder broke")

    async with (
        serve(responder=lambda: ScriptedResponder(broken)) as server,
        connect(server.url) as conn,
    ):
        await wait(conn, has(t.SessionStarted))
        await conn.send(c.ResponseCreate())
        step = await wait(conn, has(t.TransportClosed))
        closed = next(x for x in step.transitions if isinstance(x, t.TransportClosed))
        assert closed.code == 1011
        assert closed.reason == "internal server error (see the server log)"
    assert "a session failed" in caplog.text
    assert "the responder broke" in caplog.text


async def test_plugins_connected_hook_runs_while_open() -> None:
    events: list[str] = []

    class Greeter:
        async def connected(self, connection: AsyncConnection) -> None:
            events.append("connected")
            await connection.send(user_text("hello from a plugin"))
            try:
                await anyio.sleep_forever()
            finally:
                events.append("cancelled")

    async with serve() as server, connect(server.url, plugins=[Greeter()]) as conn:
        await wait(conn, lambda s: bool(s.after.items))
        assert conn.state.items[0].text == "hello from a plugin"
    assert events == ["connected", "cancelled"]


async def test_a_sync_connected_hook_is_refused() -> None:
    class Broken:
        def connected(self, connection: object) -> None:
            pass

    with pytest.raises(rtstate.plugins.PluginError, match="async"):
        async with connect("ws://127.0.0.1:9/v1/realtime", plugins=[Broken()]):
            pass


async def test_two_hundred_concurrent_sessions_all_complete() -> None:
    done: list[str] = []

    async def session(n: int, url: str) -> None:
        async with connect(url, ping_interval=None) as conn:
            await wait(conn, has(t.SessionStarted))
            await conn.send(c.SessionUpdate(session=TEXT_ONLY))
            await conn.send(user_text(f"number {n}"))
            await conn.send(c.ResponseCreate())
            await wait(conn, has(t.ResponseFinished))
            done.append(conn.state.items[-1].text)

    async with serve(max_sessions=500) as server:
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tasks:
                for n in range(200):
                    tasks.start_soon(session, n, server.url)
        assert server.served == 200
    assert sorted(done) == sorted(f"You said: number {n}" for n in range(200))


async def test_a_close_with_1001_is_a_session_expiry() -> None:
    async with (
        raw_server([session_created()], then="close", close_code=1001) as peer,
        connect(peer.url, dialect="beta", ping_interval=None) as conn,
    ):
        kinds: list[type] = []
        with anyio.fail_after(10):
            async for step in conn.steps():
                kinds.extend(type(x) for x in step.transitions)
        assert kinds[-2:] == [t.SessionExpired, t.TransportClosed]


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", 404),
        (b"", None),
        (b"SSH-2.0-OpenSSH_9.6\r\n", None),
    ],
)
async def test_a_server_that_is_not_a_websocket_is_a_handshake_error(
    answer: bytes, status: int | None
) -> None:
    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            if answer:
                await stream.send(answer)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, handle)
        with pytest.raises(rtstate.errors.HandshakeError) as info, anyio.fail_after(10):
            async with connect(f"ws://127.0.0.1:{port}/v1/realtime"):
                pass
        assert info.value.status == status
        assert isinstance(info.value, rtstate.TransportError)
        tasks.cancel_scope.cancel()
    await listener.aclose()


async def test_the_client_answers_the_servers_pings() -> None:
    async with (
        raw_server([session_created()], then="hang", ping=b"are you there") as peer,
        connect(peer.url, dialect="beta", ping_interval=None) as conn,
    ):
        await wait(conn, has(t.SessionStarted))
        with anyio.fail_after(10):
            while not peer.pongs:
                await anyio.sleep(0.01)
        assert peer.pongs == [b"are you there"]


async def test_a_connected_hook_that_raises_is_detached_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    detached: list[BaseException | None] = []

    class Broken:
        async def connected(self, connection: AsyncConnection) -> None:
            raise RuntimeError("the plugin broke")

        def on_step(self, step: Step) -> None:
            return None

        def detached(self, connection: object, error: BaseException | None) -> None:
            detached.append(error)

    broken = Broken()
    async with (
        serve(responder=lambda: ScriptedResponder(["Still here."])) as server,
        connect(server.url, plugins=[broken]) as conn,
    ):
        await wait(conn, has(t.SessionStarted))
        with anyio.fail_after(10):
            while not conn.plugin_errors:
                await anyio.sleep(0.01)
        assert conn.plugin_errors[0][0] is broken
        assert broken not in conn.core.plugins
        assert [str(e) for e in detached] == ["the plugin broke"]
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await conn.send(c.ResponseCreate())
        await wait(conn, has(t.ResponseFinished))
        assert conn.state.items[0].text == "Still here."
    assert "plugin Broken raised RuntimeError('the plugin broke'); detached" in caplog.text
    assert 'raise RuntimeError("the plugin broke")' in caplog.text  # with its traceback


async def test_a_sync_hook_that_raises_is_detached_logged_and_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Hook:
        def on_session_started(self, tr: t.SessionStarted, step: Step) -> None:
            raise ValueError("hook broke")

    hook = Hook()
    async with (
        serve(responder=lambda: ScriptedResponder(["Still here."])) as server,
        connect(server.url, plugins=[hook]) as conn,
    ):
        started = await wait(conn, has(t.SessionStarted))
        assert [d.code for d in started.diagnostics] == ["plugin_error"]
        assert [(p, str(e)) for p, e in conn.plugin_errors] == [(hook, "hook broke")]
        assert hook not in conn.core.plugins
        await conn.send(c.SessionUpdate(session=TEXT_ONLY))
        await conn.send(c.ResponseCreate())
        await wait(conn, has(t.ResponseFinished))
    records = [r for r in caplog.records if r.name == "rtstate.transport" and r.exc_info]
    assert [r.getMessage() for r in records] == [
        "plugin Hook raised ValueError('hook broke'); detached"
    ]
    assert 'raise ValueError("hook broke")' in caplog.text  # the hook's own frame


@pytest.mark.parametrize(
    ("answer", "status", "says"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", None, "invalid HTTP status line: SSH-2.0-OpenSSH_9.6"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Pad: y\r\n" * 200,
            101,
            "too many HTTP headers",
        ),
        (
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 5000000\r\n\r\n" + b"x" * 10_000,
            401,
            "body too large",
        ),
        (
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 900000\r\n\r\n" + b"x" * 200_000,
            401,
            "larger than 65,536 bytes",
        ),
        (
            b"HTTP/1.1 401 Unauthorized\r\n\r\nno length, and the socket stays open",
            401,
            "did not end within 1 s: no length, and the socket stays open",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: wrong\r\n\r\n",
            101,
            "Sec-WebSocket-Accept",
        ),
    ],
)
async def test_a_bad_handshake_answer_fails_fast_with_its_cause(
    answer: bytes, status: int | None, says: str
) -> None:
    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(answer)
            await anyio.sleep_forever()  # never closes: the client must not wait for it

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(listener.serve, handle)
        # the server never closes and open_timeout is far off (it would raise a plain
        # ConnectError): a HandshakeError shows the answer itself was judged
        with pytest.raises(rtstate.errors.HandshakeError) as info, anyio.fail_after(20):
            async with connect(f"ws://127.0.0.1:{port}/v1/realtime", open_timeout=60):
                pass
        assert info.value.status == status
        assert says in str(info.value)
        tasks.cancel_scope.cancel()
    await listener.aclose()
