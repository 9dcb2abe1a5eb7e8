"""``rtstate.testing.drive`` and the compact reprs of generated values."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.vendor.pretty import pretty  # what hypothesis prints examples with

from rtstate import ClientConnection, Config, RemoteProtocolError, Step
from rtstate import transitions as tr
from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import Item, ResponseInfo
from rtstate.testing import (
    Flow,
    Script,
    drive,
    error_flows,
    event_line,
    function_call_responses,
    sessions,
    streams,
    text_responses,
)

DIALECTS: tuple[Dialect, ...] = ("ga", "beta")
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sent_types(steps: Iterable[Step]) -> list[str]:
    return [e.type for step in steps for e in step.sent]


@pytest.mark.parametrize("dialect", DIALECTS)
@SETTINGS
@given(data=st.data())
def test_a_generated_session_drives_a_strict_client_to_the_scripts_conversation(
    dialect: Dialect, data: st.DataObject
) -> None:
    script: Script = data.draw(sessions(dialect=dialect))
    conn = ClientConnection(config=Config(strict=True, dialect=dialect))
    steps = list(drive(script, conn))
    known_client = [e for e in script.client_events if isinstance(e, c.ClientEvent)]
    assert len(steps) == len(script.server_events) + len(known_client)
    assert [step.input for step in steps if not isinstance(step.input, c.ClientEvent)] == [
        *script.server_events
    ]
    # every server event folded: no diagnostic but the connection's own informational ones
    assert [d for step in steps for d in step.diagnostics if not d.informational] == []
    # the conversation the client holds is the one the server's items describe
    done = {
        e.item.id
        for e in script.server_events
        if isinstance(e, s.ConversationItemCreated | s.ConversationItemAdded)
        and e.item.id is not None
    }
    deleted = {e.item_id for e in script.server_events if isinstance(e, s.ConversationItemDeleted)}
    assert {i.id for i in conn.state.items} == done - deleted


@pytest.mark.parametrize("dialect", DIALECTS)
@SETTINGS
@given(data=st.data())
def test_a_server_stream_alone_drives_too(dialect: Dialect, data: st.DataObject) -> None:
    events = data.draw(streams(dialect=dialect))
    steps = list(drive(events, dialect=dialect))
    assert [step.input for step in steps] == events


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", ["unknown_event_type", "cancel_inactive", "active_response"])
def test_the_three_error_flows_a_naive_loop_trips_on(dialect: Dialect, kind: str) -> None:
    @settings(max_examples=10, deadline=None, database=None)
    @given(flow=error_flows(kind=kind, dialect=dialect))
    def check(flow: Flow) -> None:
        conn = ClientConnection(config=Config(strict=True, dialect=dialect))
        steps = list(drive(flow, conn))  # no exception, strict as it is
        errors = [t for step in steps for t in step.transitions]
        assert any(isinstance(t, tr.ServerErrorReceived) for t in errors)
        scripted = [e for e in flow.client_events if getattr(e, "type", "") in _KIND_EVENT[kind]]
        assert scripted
        if kind == "unknown_event_type":  # skipped: never reaches the connection
            assert not [step for step in steps if isinstance(step.input, c.UnknownClientEvent)]
        if kind == "cancel_inactive":  # declined by the connection, said in the Step
            cancels = [step for step in steps if isinstance(step.input, c.ResponseCancel)]
            assert [d.code for d in cancels[-1].diagnostics] == ["cancel_not_active"]
            assert cancels[-1].to_send == ()
        if kind == "active_response":  # queued by the connection, sent when it may
            queued = [t for step in steps for t in step.transitions]
            assert any(isinstance(t, tr.ClientEventQueued) for t in queued)

    check()


_KIND_EVENT = {
    "unknown_event_type": {"response.frobnicate"},
    "cancel_inactive": {"response.cancel"},
    "active_response": {"response.create"},
}


def test_the_naive_loop_does_fail_on_an_unknown_client_event() -> None:
    # what drive() handles: the connection itself refuses the event
    conn = ClientConnection()
    with pytest.raises(Exception, match="send\\(\\) takes a client event"):
        conn.send(c.UnknownClientEvent(type="response.frobnicate", raw={}))  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", DIALECTS)
@SETTINGS
@given(data=st.data())
def test_an_app_callback_answers_function_calls(dialect: Dialect, data: st.DataObject) -> None:
    flow: Flow = data.draw(function_call_responses(dialect=dialect))
    calls: list[str] = []

    def app(step: Step) -> list[c.ClientEvent]:
        answers: list[c.ClientEvent] = []
        for t in step.transitions:
            if isinstance(t, tr.FunctionCallReady):
                calls.append(t.call_id)
                output = Item(type="function_call_output", call_id=t.call_id, output='"ok"')
                answers.append(c.ConversationItemCreate(item=output))
        return answers

    steps = list(drive(flow, app=app, dialect=dialect))
    ready = [
        t.call_id for step in steps for t in step.transitions if isinstance(t, tr.FunctionCallReady)
    ]
    assert calls == ready and ready
    answered = [
        e.item.call_id
        for step in steps
        for e in step.sent
        if isinstance(e, c.ConversationItemCreate) and e.item.type == "function_call_output"
    ]
    assert answered[-len(calls) :] == calls


def test_drive_refuses_a_dialect_other_than_the_connections() -> None:
    with pytest.raises(ValueError, match="configured for 'beta'"):
        drive(Script(), ClientConnection(config=Config(dialect="beta")), dialect="ga")


def test_drive_feeds_frames_through_the_codec_so_strict_mode_raises() -> None:
    bad = s.ResponseDone(event_id="e1", response=ResponseInfo(id="r", status="completed"))
    conn = ClientConnection(config=Config(strict=True))
    with pytest.raises(RemoteProtocolError):
        list(drive([bad], conn))


# --- compact reprs ------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@SETTINGS
@given(data=st.data())
def test_a_session_prints_one_short_line_per_event(dialect: Dialect, data: st.DataObject) -> None:
    script: Script = data.draw(sessions(dialect=dialect))
    lines = repr(script).splitlines()
    assert lines[0] == f"Script({len(script)} events:" and lines[-1] == ")"
    body = lines[1:-1]
    assert len(body) == len(script)
    assert all(len(line) <= 2 + 160 for line in body)
    for line, (direction, event) in zip(body, script.events, strict=True):
        assert line.startswith(f"  {'>' if direction == 'client' else '<'} {event.type}")
    # the old repr, attrs' fields of every nested payload, was many times longer
    assert len(repr(script)) * 2 < len(repr(script.events))


def test_event_line_shows_ids_whole_and_cuts_long_text() -> None:
    delta = s.ResponseAudioDelta(
        event_id="event_123",
        response_id="resp_ABCDEFGHIJKLMNOPQRSTU",
        item_id="item_ABCDEFGHIJKLMNOPQRSTU",
        output_index=0,
        content_index=0,
        delta="A" * 3200,
    )
    line = event_line("server", delta, width=200)
    assert line == (
        "< response.audio.delta response_id=resp_ABCDEFGHIJKLMNOPQRSTU "
        "item_id=item_ABCDEFGHIJKLMNOPQRSTU output_index=0 content_index=0 "
        "delta='AAAAAAAAAAAAAAAAAAAAAAAA'…(3200)"
    )
    create = c.ResponseCreate(event_id="evt_1")
    assert event_line("client", create) == "> response.create event_id=evt_1"
    assert len(event_line("server", delta, width=40)) == 40


@SETTINGS
@given(flow=text_responses())
def test_flows_and_streams_print_compactly(flow: Flow) -> None:
    text = repr(flow)
    assert text.startswith(f"Flow({len(flow.script)} events:")
    assert "context: ga," in text.splitlines()[-2]
    stream = list(flow.server_events)
    assert repr(Script([("server", e) for e in stream])).startswith("Script(")


@SETTINGS
@given(script=sessions(max_flows=2), flow=text_responses(), stream=streams(max_flows=1))
def test_hypothesis_prints_falsifying_examples_with_the_compact_repr(
    script: Script, flow: Flow, stream: list[s.ServerEvent]
) -> None:
    for value in (script, flow, stream):
        assert pretty(value).splitlines() == repr(value).splitlines()
        assert "SessionConfig(id=" in pretty(value) or "0 events" in pretty(value)
