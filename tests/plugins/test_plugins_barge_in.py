"""``rtstate_plugins.barge_in``: the audio sink's "stop now" signal, tied to playback
reports and the core's truncation plan, against the paced fake server."""

from __future__ import annotations

from rtstate_plugins import BargeIn, StopSignal
from support.server_harness import Loop, silence, tone

from rtstate import ClientConnection, Config
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.server import ScriptedResponder, ServerConfig
from rtstate.transitions import TruncationPlanned

LONG = "A long spoken answer that goes on and on, so that the user can talk over it."


def session(barge: BargeIn) -> Loop:
    client = ClientConnection(config=Config(strict=True), plugins=[barge])
    loop = Loop(
        client=client,
        responder=ScriptedResponder([LONG, "Sure, go ahead."]),
        config=ServerConfig(delta_interval=0.02),
    )
    loop.start()
    loop.send(c.ResponseCreate())
    loop.advance(0.3)
    return loop


def test_speech_over_reported_playback_stops_the_sink_and_cuts_where_it_was_heard() -> None:
    signals: list[StopSignal] = []
    barge = BargeIn(on_stop=signals.append)
    loop = session(barge)
    assert barge.received_ms > 200 and not barge.stop.is_set()
    item = loop.client.state.items[-1]
    steps = barge.report(150.0)  # the sink says: 150 ms of this response played
    assert [st.input for st in steps] and loop.client.state.playback[item.id] == 150
    loop.append(tone(400))  # the user talks: server VAD, the core plans the cut
    assert barge.stop.is_set()
    (signal,) = signals
    assert signal.reason == "speech" and signal.planned is not None
    assert signal.planned.truncated == ((item.id, 0, 150),)
    assert barge.stop_signal == signal
    truncates = [e for e in loop.client_events if isinstance(e, c.ConversationItemTruncate)]
    assert [(t.item_id, t.audio_end_ms) for t in truncates] == [(item.id, 150)]
    loop.append(silence(800))  # the turn ends, the next response starts: play again
    loop.drain()
    assert not barge.stop.is_set() and barge.stop_signal is None
    assert "conversation.item.truncated" in loop.types()
    loop.check()


def test_speech_without_a_playback_report_still_stops_the_sink_then_interrupt_cuts() -> None:
    barge = BargeIn()
    loop = session(barge)
    item = loop.client.state.items[-1]
    loop.append(tone(400))
    assert barge.stop.is_set()
    signal = barge.stop_signal
    assert signal is not None and signal.reason == "speech" and signal.planned is None
    assert not any(isinstance(e, c.ConversationItemTruncate) for e in loop.client_events)
    # the sink stopped after 90 ms: report it and let the core plan the cut
    for step in barge.interrupt(90.0):
        loop._client_step(step)
    signal = barge.stop_signal
    assert signal is not None and signal.reason == "interrupt"
    assert isinstance(signal.planned, TruncationPlanned)
    assert signal.planned.truncated == ((item.id, 0, 90),)
    truncated = [e for e in loop.server_events if isinstance(e, s.ConversationItemTruncated)]
    assert [(t.item_id, t.audio_end_ms) for t in truncated] == [(item.id, 90)]
    loop.append(silence(800))
    loop.drain()
    loop.check()


def test_heard_splits_the_played_time_over_the_items_in_order() -> None:
    barge = BargeIn()
    loop = session(barge)
    item = loop.client.state.items[-1]
    received = barge.received_ms
    assert barge.heard(0) == ()
    assert barge.heard(10.5) == ((item.id, 10),)
    assert barge.heard(received + 500) == ((item.id, int(received)),)
    assert barge.response_id == loop.client.state.active_response.id  # type: ignore[union-attr]
    loop.drain()
    loop.check()
