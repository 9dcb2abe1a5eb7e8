"""``ClientConnection``: decode -> fold -> encode, ids, errors that leave the state alone.

Every call must return a ``Step`` whose ``before`` is the connection's previous state
and whose ``after`` is its new one, equal to what the pure ``fold`` gives for the same
input; a rejected call must leave ``conn.state`` as the very same object.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
from support.helpers import Server

from rtstate import (
    ClientConnection,
    Config,
    LocalProtocolError,
    RemoteProtocolError,
    SessionState,
    Step,
    fold,
)
from rtstate.codec import beta
from rtstate.config import Dialect
from rtstate.connection import counter_ids
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import ContentPart, Item, SessionConfig
from rtstate.state import SessionPhase
from rtstate.step import Malformed, Tick
from rtstate.transitions import SessionStarted, TextAppended, TransportClosed

BETA = Config(dialect="beta")
"""These tests feed beta frames: their connections say so (GA is the default)."""


def ids(*values: str) -> Callable[[], str]:
    it: Iterator[str] = iter(values)
    return lambda: next(it)


def audio(n_bytes: int) -> str:
    return base64.b64encode(bytes(i % 251 for i in range(n_bytes))).decode()


def opened(**kwargs: Any) -> ClientConnection:
    conn = ClientConnection(**{"config": BETA, **kwargs})
    conn.receive(beta.encode(Server().session_created()))
    assert conn.state.phase is SessionPhase.OPEN
    return conn


# --- receive -----------------------------------------------------------------------------


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_receive_decodes_and_folds_like_fold(as_bytes: bool) -> None:
    srv = Server()
    events = [
        srv.session_created(),
        *srv.text_response(["Hel", "lo", "!"], response_id="resp_1", item_id="item_1"),
    ]
    conn = ClientConnection(config=BETA)
    assert conn.state == SessionState()
    for event in events:
        text = beta.encode(event)
        frame: str | bytes = text.encode() if as_bytes else text
        before = conn.state
        step = conn.receive(frame)
        assert step.input == event
        assert step.before is before
        assert step.after is conn.state
        assert step == fold(before, event, conn.config)
        assert step.to_send == ()
        assert step.diagnostics == ()
    assert isinstance(conn.state.session, SessionConfig)
    item = conn.state.item("item_1")
    assert item is not None
    assert item.text == "Hello!"
    assert conn.state.active_response is None


def test_receive_reports_transitions() -> None:
    srv = Server()
    conn = ClientConnection(config=BETA)
    step = conn.receive(beta.encode(srv.session_created(model="gpt-4o-realtime-preview")))
    assert step.transitions == (
        SessionStarted(session=srv.session_config(model="gpt-4o-realtime-preview")),
    )
    events = srv.text_response(["a", "b"], response_id="resp_1", item_id="item_1")
    deltas = [conn.receive(beta.encode(e)).transitions for e in events]
    appended = [t for ts in deltas for t in ts if isinstance(t, TextAppended)]
    assert [t.delta for t in appended] == ["a", "b"]
    assert {t.response_id for t in appended} == {"resp_1"}


def test_receive_event_takes_decoded_events() -> None:
    srv = Server()
    events = [
        srv.session_created(),
        *srv.text_response(["x", "y"], response_id="resp_1", item_id="item_1"),
    ]
    by_frame = ClientConnection(config=BETA)
    by_event = ClientConnection(config=BETA)
    for event in events:
        before = by_event.state
        step = by_event.receive_event(event)
        assert step.before is before
        assert step.after is by_event.state
        assert step == by_frame.receive(beta.encode(event))
    assert by_event.state == by_frame.state


def test_unknown_event_types_are_folded_silently() -> None:
    conn = opened()
    before = conn.state
    step = conn.receive('{"type": "response.something_new", "event_id": "e9", "x": 1}')
    assert isinstance(step.input, s.UnknownServerEvent)
    assert step.input.type == "response.something_new"
    assert step.diagnostics == ()
    assert step.transitions == ()
    assert step.after is before is conn.state


_MALFORMED: list[str | bytes] = [
    "not json",
    b"\xff\xfe",
    "[]",
    '{"event_id": "e1"}',
    '{"type": 5}',
    '{"type": "response.text.delta", "event_id": "e1"}',
    '{"type": "session.created", "event_id": "e1", "session": 7}',
]


@pytest.mark.parametrize("frame", _MALFORMED)
def test_malformed_frame_is_a_diagnostic_in_lenient_mode(frame: str | bytes) -> None:
    conn = opened()
    before = conn.state
    step = conn.receive(frame)
    assert isinstance(step.input, Malformed)
    assert step.input.frame == frame
    assert [d.code for d in step.diagnostics] == ["malformed"]
    assert step.diagnostics[0].applied is False
    assert step.diagnostics[0].message
    assert step.transitions == ()
    assert step.to_send == ()
    assert step.before is before
    assert step.after is before
    assert conn.state is before
    # the connection is still usable
    after = conn.receive(
        beta.encode(Server().text_response(["ok"], response_id="resp_1", item_id="it")[0])
    )
    assert after.diagnostics == ()
    assert conn.state.active_response is not None


@pytest.mark.parametrize("frame", _MALFORMED)
def test_malformed_frame_raises_in_strict_mode(frame: str | bytes) -> None:
    conn = opened(config=Config(dialect="beta", strict=True))
    before = conn.state
    with pytest.raises(RemoteProtocolError):
        conn.receive(frame)
    assert conn.state is before
    step = conn.receive(
        beta.encode(Server().text_response(["ok"], response_id="resp_1", item_id="it")[0])
    )
    assert step.before is before
    assert conn.state.active_response is not None


def test_protocol_violation_lenient_versus_strict() -> None:
    srv = Server()
    # a text delta for a response nobody created, before session.created
    delta = srv.text_response(["x"], response_id="resp_1", item_id="it")[4]
    lenient = ClientConnection(config=BETA)
    before = lenient.state
    step = lenient.receive(beta.encode(delta))
    assert step.after is before is lenient.state
    assert len(step.diagnostics) == 1
    assert step.diagnostics[0].applied is False
    assert step.diagnostics[0].event_type == "response.text.delta"

    strict = ClientConnection(config=Config(dialect="beta", strict=True))
    before = strict.state
    with pytest.raises(RemoteProtocolError) as info:
        strict.receive(beta.encode(delta))
    assert info.value.event_type == "response.text.delta"
    assert strict.state is before
    strict.receive(beta.encode(srv.session_created()))
    assert strict.state.phase is SessionPhase.OPEN


# --- send --------------------------------------------------------------------------------


def test_send_stamps_the_event_id_from_the_factory() -> None:
    conn = opened(id_factory=ids("id_a", "id_b", "id_c"))
    before = conn.state
    step = conn.send(c.ResponseCreate())
    stamped = c.ResponseCreate(event_id="id_a")
    assert step.input == stamped
    assert step.to_send == (beta.encode(stamped),)
    assert json.loads(step.to_send[0]) == {"type": "response.create", "event_id": "id_a"}
    assert step.before is before
    assert step.after is conn.state
    assert step.after == fold(before, stamped, conn.config).after

    # an event_id given by the caller is kept, and no id is drawn for it
    own = c.InputAudioBufferCommit(event_id="mine")
    step = conn.send(own)
    assert step.input == own
    assert step.to_send == (beta.encode(own),)
    step = conn.send(c.InputAudioBufferClear())
    assert step.input == c.InputAudioBufferClear(event_id="id_b")
    assert json.loads(step.to_send[0])["event_id"] == "id_b"


def test_default_ids_are_deterministic() -> None:
    sent = []
    for _ in range(2):
        conn = opened()
        sent.append([conn.send(c.InputAudioBufferClear()).to_send for _ in range(3)])
    assert sent[0] == sent[1]
    assert [json.loads(frames[0])["event_id"] for frames in sent[0]] == [
        "evt_rt_1",
        "evt_rt_2",
        "evt_rt_3",
    ]
    make = counter_ids("x_")
    assert [make(), make(), make()] == ["x_1", "x_2", "x_3"]
    other = counter_ids("x_")
    assert other() == "x_1"  # every factory counts on its own


def test_send_encodes_exactly_one_frame_per_event() -> None:
    conn = opened(id_factory=counter_ids("e"))
    events: list[c.ClientEvent] = [
        c.SessionUpdate(session=SessionConfig(instructions="be brief")),
        c.InputAudioBufferAppend(audio=audio(96)),
        c.InputAudioBufferCommit(),
        c.InputAudioBufferClear(),
        c.ConversationItemCreate(
            item=Item(
                type="message", role="user", content=(ContentPart(type="input_text", text="hi"),)
            )
        ),
        c.ConversationItemTruncate(item_id="it", content_index=0, audio_end_ms=10),
        c.ConversationItemDelete(item_id="it"),
        c.ResponseCreate(),
        # (a response.cancel right after waits for the response: see test_client_logic)
    ]
    for n, event in enumerate(events, start=1):
        step = conn.send(event)
        assert len(step.to_send) == 1
        decoded = beta.decode_client(step.to_send[0])
        assert type(decoded) is type(event)
        assert decoded.event_id == f"e{n}"
        assert step.input == decoded


def test_send_before_session_created_is_allowed() -> None:
    conn = ClientConnection(config=BETA)
    step = conn.send(c.SessionUpdate(session=SessionConfig(voice="alloy")))
    assert len(step.to_send) == 1
    assert step.diagnostics == ()
    assert conn.state.phase is SessionPhase.CONNECTING


def test_send_of_an_invalid_event_raises_and_changes_nothing() -> None:
    conn = opened()
    before = conn.state
    with pytest.raises(LocalProtocolError) as info:
        conn.send(c.InputAudioBufferAppend(audio=123))  # type: ignore[arg-type]
    assert info.value.event_type == "input_audio_buffer.append"
    assert info.value.path == "audio"
    assert conn.state is before
    with pytest.raises(LocalProtocolError):
        conn.send(c.ConversationItemTruncate(item_id="i", content_index="0", audio_end_ms=1))  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        conn.send(Server().session_created())  # type: ignore[arg-type]
    assert conn.state is before
    # still usable
    assert len(conn.send(c.ResponseCreate()).to_send) == 1


def test_send_after_transport_closed_raises() -> None:
    conn = opened()
    conn.transport_closed(1000, "done")
    closed = conn.state
    with pytest.raises(LocalProtocolError, match="closed"):
        conn.send(c.ResponseCreate())
    with pytest.raises(LocalProtocolError):
        conn.send(c.InputAudioBufferAppend(audio=audio(48)))
    assert conn.state is closed


# --- transport_closed, tick, deadlines ---------------------------------------------------


def test_transport_closed_keeps_everything() -> None:
    srv = Server()
    conn = ClientConnection(config=BETA)
    for event in [
        srv.session_created(),
        *srv.text_response(["kept"], response_id="resp_1", item_id="item_1"),
    ]:
        conn.receive_event(event)
    before = conn.state
    step = conn.transport_closed(1006, "abnormal")
    assert step.transitions == (TransportClosed(code=1006, reason="abnormal"),)
    assert step.before is before
    assert step.after is conn.state
    assert conn.state.phase is SessionPhase.CLOSED
    assert conn.state.items_by_id is before.items_by_id
    assert conn.state.order is before.order
    assert [i.text for i in conn.state.items] == ["kept"]
    assert conn.state.response_by_id("resp_1") is before.response_by_id("resp_1")
    assert conn.state.session is before.session
    # closing twice is harmless and says nothing new
    again = conn.transport_closed()
    assert again.transitions == ()
    assert again.after is again.before is conn.state


def test_frames_after_close_are_reported_not_applied() -> None:
    srv = Server()
    conn = opened()
    conn.transport_closed()
    closed = conn.state
    step = conn.receive(
        beta.encode(srv.text_response(["x"], response_id="resp_1", item_id="it")[0])
    )
    assert step.after is closed
    assert len(step.diagnostics) == 1
    strict = opened(config=Config(dialect="beta", strict=True))
    strict.transport_closed()
    closed = strict.state
    with pytest.raises(RemoteProtocolError):
        strict.receive(beta.encode(srv.text_response(["x"], response_id="resp_2", item_id="it")[0]))
    assert strict.state is closed


def test_transport_closed_defaults() -> None:
    conn = ClientConnection(config=BETA)
    step = conn.transport_closed()
    assert step.transitions == (TransportClosed(code=None, reason=""),)
    assert conn.state.phase is SessionPhase.CLOSED


def test_with_nothing_sent_tick_only_records_the_time_and_no_deadline_is_due() -> None:
    srv = Server()
    conn = ClientConnection(config=BETA)
    assert conn.next_deadline() is None
    for n, event in enumerate(
        [srv.session_created(), *srv.text_response(["a"], response_id="resp_1", item_id="it")[:5]]
    ):
        conn.receive_event(event)
        before = conn.state
        step = conn.tick(float(n))
        assert step.input == Tick(now=float(n))
        assert step.before is before
        assert step.after == attrs.evolve(before, now=float(n))
        assert conn.state.now == float(n)
        assert (step.transitions, step.diagnostics, step.to_send) == ((), (), ())
        assert conn.next_deadline() is None
        assert conn.tick(float(n)).after is conn.state  # the same time again: no change


def test_a_create_timing_out_after_the_transport_closed_releases_nothing() -> None:
    # found by the client-logic state machine: a session that expired with a create in
    # flight and one queued behind it; the in-flight one timed out later, released the
    # queued one, and the release was refused as "sent after the transport closed"
    srv = Server()
    conn = ClientConnection(config=Config(strict=True))
    conn.receive_event(srv.session_created())
    conn.tick(0.0)
    conn.send(c.ResponseCreate())
    queued = conn.send(c.ResponseCreate())
    assert len(conn.state.ledger.queued) == 1 and queued.to_send == ()
    conn.tick(1.0)
    conn.transport_closed(1001, "session expired")
    step = conn.tick(1.0 + conn.config.ack_timeout + 1.0)
    assert [type(t).__name__ for t in step.transitions] == ["ClientEventTimedOut"]
    assert (step.to_send, step.diagnostics) == ((), ())
    assert len(conn.state.ledger.queued) == 1  # still queued: nothing went out


# --- input audio accounting --------------------------------------------------------------


def test_appended_ms_counts_pcm16_bytes() -> None:
    conn = opened()
    conn.send(c.InputAudioBufferAppend(audio=audio(4800)))
    assert conn.state.input_buffer.appended_ms == pytest.approx(100.0)
    conn.send(c.InputAudioBufferAppend(audio=audio(960)))
    assert conn.state.input_buffer.appended_ms == pytest.approx(120.0)
    conn.send(c.InputAudioBufferAppend(audio=audio(1)))  # "AA==": one byte, padded
    conn.send(c.InputAudioBufferAppend(audio=audio(2)))  # "AAE=": two bytes
    assert conn.state.input_buffer.appended_ms == pytest.approx(120.0 + 3 / 48)
    assert conn.state.input_buffer.total_appended_ms == pytest.approx(120.0 + 3 / 48)
    srv = Server()
    conn.receive_event(
        s.InputAudioBufferCommitted(event_id=srv.event_id(), item_id="u1", previous_item_id=None)
    )
    assert conn.state.input_buffer.appended_ms == 0.0
    assert conn.state.input_buffer.total_appended_ms == pytest.approx(120.0 + 3 / 48)
    conn.send(c.InputAudioBufferAppend(audio=audio(480)))
    assert conn.state.input_buffer.appended_ms == pytest.approx(10.0)
    conn.receive_event(s.InputAudioBufferCleared(event_id=srv.event_id()))
    assert conn.state.input_buffer.appended_ms == 0.0
    assert conn.state.input_buffer.cleared == 1


@pytest.mark.parametrize("fmt", ["g711_ulaw", "g711_alaw"])
def test_appended_ms_counts_g711_bytes(fmt: str) -> None:
    conn = ClientConnection(config=BETA)
    conn.receive_event(Server().session_created(input_audio_format=fmt))
    conn.send(c.InputAudioBufferAppend(audio=audio(800)))
    assert conn.state.input_buffer.appended_ms == pytest.approx(100.0)
    conn.send(c.InputAudioBufferAppend(audio=audio(160)))
    assert conn.state.input_buffer.appended_ms == pytest.approx(120.0)


def test_appended_ms_follows_session_updated() -> None:
    srv = Server()
    conn = ClientConnection(config=BETA)
    conn.send(c.InputAudioBufferAppend(audio=audio(480)))  # before any session: pcm16
    assert conn.state.input_buffer.appended_ms == pytest.approx(10.0)
    conn.receive_event(srv.session_created(input_audio_format="pcm16"))
    conn.receive_event(
        s.SessionUpdated(
            event_id=srv.event_id(),
            session=SessionConfig(id="sess_1", input_audio_format="g711_ulaw"),
        )
    )
    conn.send(c.InputAudioBufferAppend(audio=audio(480)))
    assert conn.state.input_buffer.appended_ms == pytest.approx(10.0 + 60.0)


# --- the chain of states -----------------------------------------------------------------


def _drive(conn: ClientConnection) -> list[Step]:
    srv = Server()
    steps = [conn.send(c.SessionUpdate(session=SessionConfig(instructions="hi")))]
    steps.append(conn.receive(beta.encode(srv.session_created())))
    steps.append(conn.send(c.InputAudioBufferAppend(audio=audio(960))))
    steps.append(conn.receive("garbage"))
    steps.append(conn.tick(1.0))
    steps += [
        conn.receive(beta.encode(e))
        for e in srv.text_response(["a", "b"], response_id="resp_1", item_id="it_1")
    ]
    steps.append(conn.send(c.ResponseCreate()))
    steps.append(
        conn.receive_event(
            srv.text_response(["c"], response_id="resp_2", item_id="it_2", previous_item_id="it_1")[
                0
            ]
        )
    )
    steps.append(conn.transport_closed(1000, "bye"))
    steps.append(conn.tick(2.0))
    return steps


def test_each_step_starts_where_the_last_one_ended() -> None:
    conn = ClientConnection(config=BETA)
    first = conn.state
    steps = _drive(conn)
    assert steps[0].before is first
    for previous, step in itertools.pairwise(steps):
        assert step.before is previous.after
    assert steps[-1].after is conn.state
    # each Step is what the pure fold gives for its input
    for step in steps:
        assert fold(step.before, step.input, conn.config).after == step.after


def test_connections_are_deterministic() -> None:
    assert _drive(ClientConnection(config=BETA)) == _drive(ClientConnection(config=BETA))


# --- the other dialect -----------------------------------------------------------------

_BETA_DELTA = next(
    beta.encode(e)
    for e in Server().text_response(["ok"], response_id="resp_1", item_id="it")
    if e.type == "response.text.delta"
)


@pytest.mark.parametrize(
    ("speaks", "frame", "other"),
    [
        ("ga", '{"type": "response.text.delta", "delta": "x"}', "beta"),
        ("ga", '{"type": "response.audio_transcript.done"}', "beta"),
        ("beta", '{"type": "response.output_text.delta", "delta": "x"}', "ga"),
        ("beta", '{"type": "conversation.item.added", "item": {}}', "ga"),
    ],
)
def test_a_frame_of_the_other_dialect_names_the_fix_once(
    speaks: Dialect, frame: str, other: str
) -> None:
    conn = ClientConnection(config=Config(dialect=speaks))
    (told,) = conn.receive(frame).diagnostics
    names = {"beta": "beta", "ga": "GA"}
    assert told.code == "wrong_dialect" and told.event_type == json.loads(frame)["type"]
    assert told.message.startswith(f"this frame is {names[other]} (")
    assert f"the connection speaks {names[speaks]}" in told.message
    assert f"Config(dialect='{other}')" in told.message
    assert conn.receive(frame).diagnostics == ()  # once per connection, not per frame
    assert ClientConnection(config=Config(dialect=speaks)).receive(frame).diagnostics


@pytest.mark.parametrize("speaks", ["ga", "beta"])
def test_strict_refuses_every_frame_of_the_other_dialect(speaks: Dialect) -> None:
    frame = (
        '{"type": "response.text.delta"}'
        if speaks == "ga"
        else '{"type": "response.output_text.done"}'
    )
    conn = ClientConnection(config=Config(dialect=speaks, strict=True))
    before = conn.state
    for _ in range(2):
        with pytest.raises(RemoteProtocolError, match="the connection speaks") as raised:
            conn.receive(frame)
        assert "connect with dialect=" in str(raised.value)
        assert conn.state == before


def test_a_real_beta_delta_on_ga_is_told_and_own_dialect_frames_are_not() -> None:
    ga_conn = ClientConnection(config=Config(dialect="ga"))
    assert "wrong_dialect" in [d.code for d in ga_conn.receive(_BETA_DELTA).diagnostics]
    beta_conn = ClientConnection(config=BETA)
    assert "wrong_dialect" not in [d.code for d in beta_conn.receive(_BETA_DELTA).diagnostics]
    unknown = '{"type": "response.something_new"}'
    assert ga_conn.receive(unknown).diagnostics == ()  # unknown to both: no dialect told
