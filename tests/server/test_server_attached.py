"""The fake server's attached (WebRTC/SIP sideband) sessions (issue 18).

``ServerConnection(call_id=...)`` (``?call_id=`` on ``serve()``'s socket) attaches to a
call: no ``session.created`` (the session exists; the client speaks first), server-side
playback reported by ``output_audio_buffer.started`` / ``.stopped`` at the audio's
real-time pace, ``output_audio_buffer.clear`` answered by ``.cleared``. A plain
WebSocket session refuses ``output_audio_buffer.clear``.

Over the socket, the official SDK's GA client (``client.realtime.connect``) runs an
out-of-band response overlapping a spoken default response, every frame validated
strictly against ``openai.types.realtime`` (``sdk_checks.Checker``).
"""

from __future__ import annotations

import base64
import typing
from typing import Any, Final

import attrs
import pytest
from openai import OpenAI
from openai.types.realtime import (
    RealtimeServerEvent,
    ResponseAudioDeltaEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    SessionUpdatedEvent,
)
from openai.types.realtime.realtime_server_event import (
    OutputAudioBufferCleared,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
)
from support.sdk_checks import GA_DELTA_EXTRAS, TOKEN, Checker, Received, unset_proxies, watchdog
from test_server_out_of_band import Wire, done, types

from rtstate.server import ScriptedResponder, ServerConfig
from rtstate.server.audio import audio_ms
from rtstate.transport import serve_in_thread

SESSION_EXTRAS: Final = frozenset(
    {
        ("RealtimeSessionCreateRequest", "id"),
        ("RealtimeSessionCreateRequest", "object"),
        ("RealtimeSessionCreateRequest", "expires_at"),
    }
)
CHECK: Final = Checker[RealtimeServerEvent](RealtimeServerEvent, SESSION_EXTRAS | GA_DELTA_EXTRAS)
MODEL: Final = "gpt-realtime"


def audio_seconds(frames: list[dict[str, Any]], response_id: str) -> float:
    """Seconds of pcm16 audio the response's deltas carried."""
    total = sum(
        len(base64.b64decode(f["delta"]))
        for f in frames
        if f["type"] == "response.output_audio.delta" and f["response_id"] == response_id
    )
    return audio_ms(total, "pcm16") / 1000.0


def attached(**kwargs: Any) -> Wire:
    return Wire("ga", call_id="rtc_call_1", **kwargs)


def test_an_attached_session_sends_nothing_first_and_exposes_its_call() -> None:
    wire = attached()
    assert wire.frames == []  # no session.created: the session already exists
    assert wire.server.call_id == "rtc_call_1" and wire.server.attached
    assert wire.server.state.session is not None  # the server's own state is open
    # the client speaks first, as in the real sideband captures
    frames = wire.send({"type": "session.update", "session": {"type": "realtime"}})
    assert types(frames) == ["session.updated"]
    plain = Wire("ga")
    assert types(plain.frames) == ["session.created"]
    assert plain.server.call_id is None and not plain.server.attached


def test_playback_starts_with_the_audio_and_stops_at_its_real_time_end() -> None:
    wire = attached(responder=ScriptedResponder(["Hello there, how are you?"]))
    frames = wire.create(1.0)
    response_id = frames[0]["response"]["id"]
    kinds = types(frames)
    started = kinds.index("output_audio_buffer.started")
    assert started < kinds.index("response.output_audio.delta")  # with the first audio
    assert frames[started]["response_id"] == response_id
    assert "output_audio_buffer.stopped" not in kinds  # still playing
    assert wire.server.playing == (response_id,)
    length = audio_seconds(frames, response_id)
    assert length > 0.2
    due = wire.server.next_deadline()
    assert due is not None
    assert due == pytest.approx(1.0 + length)  # real-time pace, on the server's clock
    assert wire.tick(1.0 + length / 2) == []
    stopped = wire.tick(due)
    assert types(stopped) == ["output_audio_buffer.stopped"]
    assert stopped[0]["response_id"] == response_id
    assert not wire.server.playing and wire.tick(due + 10.0) == []


def test_cancel_and_clear_cut_the_playback() -> None:
    wire = attached(
        config=ServerConfig(delta_interval=0.05),
        responder=ScriptedResponder(["A long spoken answer that takes a while to say."]),
    )
    response_id = wire.create()[0]["response"]["id"]
    wire.tick(0.3)
    assert wire.server.playing == (response_id,)
    cancelled = wire.send({"type": "response.cancel"}, 0.31)
    assert done(cancelled)["response"]["status"] == "cancelled"
    assert wire.server.playing == (response_id,)  # a cancel alone lets the buffer play out
    cleared = wire.send({"type": "output_audio_buffer.clear"}, 0.32)
    assert types(cleared) == ["output_audio_buffer.cleared"]
    assert cleared[0]["response_id"] == response_id
    assert not wire.server.playing
    assert "output_audio_buffer.stopped" not in types(wire.run_out())
    # a clear with nothing playing is still answered, naming the last response played
    again = wire.send({"type": "output_audio_buffer.clear"}, 5.0)
    assert types(again) == ["output_audio_buffer.cleared"]
    assert again[0]["response_id"] == response_id


def test_a_clear_before_any_audio_is_refused() -> None:
    wire = attached()
    frames = wire.send({"type": "output_audio_buffer.clear"})
    assert types(frames) == ["error"]
    assert frames[0]["error"]["code"] == "invalid_value"


def test_a_plain_websocket_session_refuses_output_audio_buffer_clear() -> None:
    wire = Wire("ga", responder=ScriptedResponder(["Hi."]))
    wire.create()
    frames = wire.send({"type": "output_audio_buffer.clear"})
    assert types(frames) == ["error"]
    assert "WebRTC" in frames[0]["error"]["message"]
    assert not any(f["type"].startswith("output_audio_buffer.") for f in wire.frames[:-1])


# --- over the socket: the SDK's GA client, attached --------------------------------------


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    unset_proxies(monkeypatch)
    return str(request.param)


def test_the_sdk_attached_runs_an_out_of_band_response_beside_a_spoken_one(
    backend: str,
) -> None:
    """``client.realtime.connect(call_id=...)``: the server attaches (no
    ``session.created``); a spoken default response and an out-of-band text response
    overlap; every frame validates strictly; playback starts and stops."""
    config = attrs.evolve(ServerConfig(delta_interval=0.01), model=MODEL)
    responder = ScriptedResponder(
        lambda request: (
            "Side note."
            if request.params is not None and request.params.conversation == "none"
            else "A spoken answer, long enough to overlap."
        )
    )
    with serve_in_thread(
        backend=backend, responder=responder, config=config, token=TOKEN
    ) as server:
        client = OpenAI(api_key=TOKEN, websocket_base_url=f"ws://127.0.0.1:{server.port}/v1")
        with (
            client.realtime.connect(call_id="rtc_abc") as connection,
            watchdog(connection.close),
        ):
            request = connection._connection.request
            assert request is not None and "call_id=rtc_abc" in request.path
            session = Received(connection, CHECK)
            # the client speaks first: its session.update is the first answer it gets
            connection.session.update(
                session=typing.cast("Any", {"type": "realtime", "instructions": "Be brief."})
            )
            assert isinstance(session.recv(), SessionUpdatedEvent)
            connection.response.create()
            default = session.recv()
            assert isinstance(default, ResponseCreatedEvent)
            assert default.response.conversation_id is not None
            connection.response.create(
                response=typing.cast(
                    "Any",
                    {
                        "conversation": "none",
                        "output_modalities": ["text"],
                        "metadata": {"purpose": "classify"},
                    },
                )
            )
            seen: dict[str, ResponseDoneEvent] = {}
            side_id: str | None = None
            stopped: list[str] = []
            while len(seen) < 2 or not stopped:
                event = session.recv()
                if isinstance(event, ResponseCreatedEvent):
                    assert event.response.conversation_id is None
                    assert event.response.metadata == {"purpose": "classify"}
                    side_id = event.response.id
                    assert default.response.id not in seen  # created mid-stream
                elif isinstance(event, ResponseDoneEvent):
                    assert event.response.id is not None
                    seen[event.response.id] = event
                elif isinstance(event, OutputAudioBufferStopped):
                    stopped.append(event.response_id)
        assert server.sessions in (0, 1)
    events = session.events
    assert not any(getattr(e, "type", "") == "session.created" for e in events)
    assert side_id is not None and default.response.id is not None
    side_done, default_done = seen[side_id], seen[default.response.id]
    assert side_done.response.conversation_id is None
    assert side_done.response.metadata == {"purpose": "classify"}
    assert side_done.response.status == default_done.response.status == "completed"
    started = [e for e in events if isinstance(e, OutputAudioBufferStarted)]
    assert [e.response_id for e in started] == [default.response.id] == stopped
    assert not any(isinstance(e, OutputAudioBufferCleared) for e in events)
    # the two responses' frames interleave
    owners = [
        getattr(e, "response_id", None)
        for e in events
        if isinstance(e, ResponseAudioDeltaEvent) or getattr(e, "response_id", None) == side_id
    ]
    first_side = owners.index(side_id)
    assert default.response.id in owners[first_side:]
