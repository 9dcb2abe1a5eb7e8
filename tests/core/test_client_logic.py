"""Client protocol logic: the ledger, one active response, truncation from playback, expiry.

First one test per story (a whole client-side scenario: a queued create, a barge-in
cut, an expired session, ...), then the rules around them. Server
events come from ``tests/support/helpers.Server``; the client is a ``ClientConnection``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs
import pytest
from support.helpers import Server

from rtstate import ClientConnection, Config, LocalProtocolError, Step
from rtstate import transitions as tr
from rtstate.connection import counter_ids
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import ContentPart, Item, ResponseParams
from rtstate.state import ItemPhase, PartPhase

STRICT = Config(dialect="beta", strict=True)
PCM_MS = 48  # pcm16 bytes per ms at 24 kHz


def sent_types(step: Step) -> list[str]:
    return [json.loads(f)["type"] for f in step.to_send]


def of(step: Step, kind: type[tr.Transition]) -> list[Any]:
    return [t for t in step.transitions if isinstance(t, kind)]


class Session:
    """A strict client and a helpers.Server feeding it."""

    def __init__(self, plugins: Sequence[object] = (), config: Config = STRICT) -> None:
        self.server = Server()
        self.conn = ClientConnection(config=config, plugins=plugins, id_factory=counter_ids("e"))
        self.receive(self.server.session_created())

    def receive(self, *events: s.ServerEvent) -> list[Step]:
        return [self.conn.receive_event(e) for e in events]

    def sent_frames(self, steps: Sequence[Step]) -> list[dict[str, Any]]:
        return [json.loads(f) for step in steps for f in step.to_send]


def audio(ms: int) -> bytes:
    return bytes(ms * PCM_MS)


# --- the stories ------------------------------------------------------------------------


class Tools:
    """On every function call ready: its output, then a response.create."""

    def on_function_call_ready(self, t: tr.FunctionCallReady, step: Step) -> list[c.ClientEvent]:
        output = Item(type="function_call_output", call_id=t.call_id, output='{"ok": true}')
        return [c.ConversationItemCreate(item=output), c.ResponseCreate()]


def test_two_tool_outputs_give_one_response_create() -> None:
    session = Session(plugins=[Tools()])
    srv = session.server
    events = [
        srv.response_created(),
        *srv.function_call_item("lookup", ['{"a":', "1}"]),
        *srv.function_call_item("lookup", ['{"b":', "2}"]),
    ]
    steps = session.receive(*events)
    frames = session.sent_frames(steps)
    # both outputs go out at once; both creates wait for the response to end
    assert [f["type"] for f in frames] == ["conversation.item.create"] * 2
    queued = [t for step in steps for t in of(step, tr.ClientEventQueued)]
    coalesced = [t for step in steps for t in of(step, tr.ClientEventCoalesced)]
    assert len(queued) == 1 and len(coalesced) == 1
    assert coalesced[0].into is queued[0].event
    (done,) = session.receive(srv.response_done())
    assert sent_types(done) == ["response.create"]
    assert json.loads(done.to_send[0])["event_id"] == queued[0].event.event_id
    assert session.conn.state.ledger.queued == ()
    assert session.conn.state.ledger.response_requested


def test_a_create_during_a_vad_response_is_queued_and_sent_after_response_done() -> None:
    session = Session()
    srv = session.server
    session.receive(*srv.vad_turn())
    session.receive(srv.response_created())  # server VAD started a response
    step = session.conn.send(c.ResponseCreate())
    assert step.to_send == ()
    assert [t.event.event_id for t in of(step, tr.ClientEventQueued)] == ["e1"]
    session.receive(*srv.text_item(["Hi", "!"]))
    (done,) = session.receive(srv.response_done())
    assert sent_types(done) == ["response.create"]
    assert json.loads(done.to_send[0])["event_id"] == "e1"
    (created,) = session.receive(srv.response_created())
    assert created.after.ledger.in_flight == ()  # acknowledged by its response.created


def test_a_cancel_before_response_created_is_sent_once_the_response_exists() -> None:
    session = Session()
    srv = session.server
    assert sent_types(session.conn.send(c.ResponseCreate())) == ["response.create"]
    cancel = session.conn.send(c.ResponseCancel())
    assert cancel.to_send == ()
    assert [t.event.type for t in of(cancel, tr.ClientEventQueued)] == ["response.cancel"]
    (created,) = session.receive(srv.response_created())
    assert sent_types(created) == ["response.cancel"]
    assert json.loads(created.to_send[0])["event_id"] == "e2"  # the id it was given
    assert created.after.ledger.deferred_cancel is None
    (done,) = session.receive(srv.response_done("cancelled", reason="client_cancelled"))
    assert done.after.ledger.in_flight == ()  # the cancel is answered by the response's end


def test_an_error_naming_a_create_rejects_it_and_releases_the_queue() -> None:
    session = Session()
    srv = session.server
    first = c.ResponseCreate(response=ResponseParams(instructions="x" * 10))
    session.conn.send(first)
    queued = session.conn.send(c.ResponseCreate(response=ResponseParams(instructions="again")))
    assert queued.to_send == ()
    (step,) = session.receive(
        srv.error("Invalid value", code="invalid_value", event_id="e1", param="response")
    )
    (rejected,) = of(step, tr.ClientEventRejected)
    assert rejected.event.event_id == "e1" and rejected.error.code == "invalid_value"
    assert sent_types(step) == ["response.create"]
    assert json.loads(step.to_send[0])["event_id"] == "e2"
    assert [p.event.event_id for p in step.after.ledger.in_flight] == ["e2"]
    assert step.diagnostics == ()


def played_audio_session(received_ms: Sequence[int], *, finish: bool) -> Session:
    """A response with one audio item per entry of ``received_ms``, streamed."""
    session = Session()
    srv = session.server
    session.receive(srv.response_created())
    for ms in received_ms:
        session.receive(*srv.audio_item(["word "], [audio(ms)], finish=True))
    if finish:
        session.receive(srv.response_done())
    return session


def test_truncate_after_full_playback_sends_nothing() -> None:
    session = played_audio_session([500], finish=True)
    (item,) = session.conn.state.items
    session.conn.playback(item.id, 500)
    step = session.conn.interrupt()
    assert step.to_send == () and step.transitions == ()
    assert session.conn.state.item(item.id) == item


def test_zero_playback_deletes_the_item() -> None:
    session = played_audio_session([500], finish=True)
    (item,) = session.conn.state.items
    step = session.conn.interrupt()
    assert session.sent_frames([step]) == [
        {"type": "conversation.item.delete", "event_id": "e1", "item_id": item.id}
    ]
    (plan,) = of(step, tr.TruncationPlanned)
    assert plan.deleted == (item.id,) and plan.truncated == () and not plan.cancelled
    (deleted,) = session.receive(session.server.deleted(item.id))
    assert deleted.after.items == () and deleted.after.ledger.in_flight == ()


def test_playback_past_the_audio_received_is_clamped() -> None:
    session = played_audio_session([400], finish=True)
    (item,) = session.conn.state.items
    session.conn.playback(item.id, 450)  # the app's clock ran ahead of the audio
    session.conn.playback(item.id, 9_000)
    step = session.conn.interrupt()
    assert step.to_send == ()  # heard to the end: nothing to cut
    fresh = played_audio_session([400], finish=False)
    (live,) = fresh.conn.state.items
    fresh.conn.playback(live.id, 9_000)
    step = fresh.conn.interrupt()
    frames = fresh.sent_frames([step])
    assert [f["type"] for f in frames] == ["response.cancel", "conversation.item.truncate"]
    assert frames[1]["audio_end_ms"] == 400  # clamped to what was received


def test_a_two_item_audio_response_interrupted_in_the_first_item() -> None:
    session = played_audio_session([500, 300], finish=False)
    first, second = session.conn.state.items
    session.conn.playback(first.id, 250)
    step = session.conn.interrupt()
    frames = session.sent_frames([step])
    assert frames == [
        {"type": "response.cancel", "event_id": "e1", "response_id": "resp_1"},
        {
            "type": "conversation.item.truncate",
            "event_id": "e2",
            "item_id": first.id,
            "content_index": 0,
            "audio_end_ms": 250,
        },
        {"type": "conversation.item.delete", "event_id": "e3", "item_id": second.id},
    ]
    (plan,) = of(step, tr.TruncationPlanned)
    assert plan == tr.TruncationPlanned(
        response_id="resp_1",
        cancelled=True,
        truncated=((first.id, 0, 250),),
        deleted=(second.id,),
    )
    # local truncation drops the transcript at once, as the server will
    part = session.conn.state.item(first.id).parts[0]  # type: ignore[union-attr]
    assert part.truncated_ms == 250 and part.transcript == ""


@pytest.mark.parametrize(
    ("message", "sent", "requeued"),
    [
        (
            "Conversation already has an active response in progress: resp_x. Wait until the "
            "response is finished before creating a new one.",
            c.ResponseCreate,
            True,
        ),
        ("Cancellation failed: no active response found", c.ResponseCancel, False),
    ],
)
def test_both_race_errors_with_code_null_are_reconciled(
    message: str, sent: type[c.ClientEvent], requeued: bool
) -> None:
    session = Session()
    srv = session.server
    session.receive(srv.response_created())
    if sent is c.ResponseCancel:
        session.conn.send(c.ResponseCancel())  # the response is active: it goes out
        session.receive(*srv.text_item(["ok"]), srv.response_done())
    else:
        session.receive(*srv.text_item(["ok"]), srv.response_done())
        session.conn.send(c.ResponseCreate())  # nothing active: it goes out...
        session.receive(srv.response_created())  # ...a VAD response starts first
    (step,) = session.receive(srv.error(message, code=None, event_id=None))  # 2024-10 shape
    assert step.diagnostics == ()  # strict, and not fatal
    (rejected,) = of(step, tr.ClientEventRejected)
    assert isinstance(rejected.event, sent)
    retry = attrs.evolve(rejected.event, event_id=None)  # its id is spent
    assert [t.event for t in of(step, tr.ClientEventQueued)] == ([retry] if requeued else [])
    if requeued:  # sent again, under a new id, once the response in the way ends
        session.receive(*srv.text_item(["x"]))
        (done,) = session.receive(srv.response_done())
        assert sent_types(done) == ["response.create"]
        assert json.loads(done.to_send[0])["event_id"] not in {rejected.event.event_id, None}


ACTIVE = "conversation_already_has_active_response"
TEXT = ResponseParams(modalities=("text",))
BRIEF = ResponseParams(instructions="Be brief.")


def _refused_while_queued(config: Config, *queued: ResponseParams | None) -> tuple[Session, Step]:
    """A text create goes out, ``queued`` creates wait behind it, a server-started
    response's ``response.created`` crosses it (taken for its answer), then the server
    refuses it with ``conversation_already_has_active_response``."""
    session = Session(config=config)
    srv = session.server
    first = session.conn.send(c.ResponseCreate(response=TEXT))
    (sent,) = first.sent
    for params in queued:
        session.conn.send(c.ResponseCreate(response=params))
    session.receive(srv.response_created())
    (step,) = session.receive(srv.error(code=ACTIVE, event_id=sent.event_id))
    (rejected,) = of(step, tr.ClientEventRejected)
    assert rejected.event == sent
    return session, step


def test_a_refused_create_retried_coalesces_with_an_identical_queued_one() -> None:
    session, step = _refused_while_queued(STRICT, None, TEXT)
    queued = session.conn.state.ledger.queued
    # the retry keeps its place in front; the later identical create adds nothing
    assert [q.response for q in queued] == [TEXT, None]
    assert queued[0].event_id is None  # its id is spent
    (coalesced,) = of(step, tr.ClientEventCoalesced)
    assert coalesced.into is queued[0] and coalesced.event.response == TEXT
    assert step.diagnostics == ()


def test_a_refused_create_retried_keeps_a_full_queue_within_its_limit() -> None:
    """Found by the stateful machine (``4 <= 3``): the retry went in front of a full
    queue, past ``Config.max_in_flight``."""
    config = Config(dialect="beta", strict=True, max_in_flight=2)
    session, step = _refused_while_queued(config, None, BRIEF)
    queued = session.conn.state.ledger.queued
    # as if the retry had stayed queued: the newest create is the one dropped
    assert [q.response for q in queued] == [TEXT, None]
    assert [d.code for d in step.diagnostics] == ["queue_full"]
    assert step.diagnostics[0].informational
    # one create at a time goes out as responses end, the retry first
    srv = session.server
    session.receive(*srv.text_item(["x"]))
    (done,) = session.receive(srv.response_done())
    assert [json.loads(f).get("response", {}).get("modalities") for f in done.to_send] == [["text"]]


# --- the ledger -------------------------------------------------------------------------


def test_every_acknowledged_kind_stays_in_flight_until_its_answer() -> None:
    session = Session()
    srv = session.server
    conn = session.conn
    item = Item(
        id="it_1", type="message", role="user", content=(ContentPart(type="input_text", text="hi"),)
    )
    conn.send(c.SessionUpdate(session=srv.session_config(instructions="brief")))
    conn.send(c.ConversationItemCreate(item=item))
    conn.send(c.InputAudioBufferAppend(audio="AAAA"))
    conn.send(c.InputAudioBufferClear())
    in_flight = [p.event.type for p in conn.state.ledger.in_flight]
    assert in_flight == ["session.update", "conversation.item.create", "input_audio_buffer.clear"]
    assert [e.type for e in conn.state.ledger.recent] == ["input_audio_buffer.append"]
    # the client's item is shown at once, pending, outside the conversation order
    assert conn.state.item("it_1").phase is ItemPhase.PENDING  # type: ignore[union-attr]
    assert not [i.id for i in conn.state.items]
    session.receive(srv.session_updated(instructions="brief"))
    session.receive(srv.item_created(item, None))
    session.receive(s.InputAudioBufferCleared(event_id=srv.event_id()))
    assert conn.state.ledger.in_flight == ()
    assert [i.id for i in session.conn.state.items] == ["it_1"]
    assert conn.state.item("it_1").phase is ItemPhase.DONE  # type: ignore[union-attr]


def test_a_rejected_item_create_disappears_and_a_rejected_truncation_is_undone() -> None:
    session = played_audio_session([300], finish=True)
    conn = session.conn
    srv = session.server
    (spoken,) = conn.state.items
    before = conn.state.item(spoken.id)
    conn.send(c.ConversationItemTruncate(item_id=spoken.id, content_index=0, audio_end_ms=100))
    assert conn.state.item(spoken.id).parts[0].transcript == ""  # type: ignore[union-attr]
    item = Item(
        id="mine", type="message", role="user", content=(ContentPart(type="input_text", text="x"),)
    )
    conn.send(c.ConversationItemCreate(item=item))
    (first,) = session.receive(srv.error("bad truncate", code="invalid_value", event_id="e1"))
    assert [t.event.event_id for t in of(first, tr.ClientEventRejected)] == ["e1"]
    assert conn.state.item(spoken.id) == before
    (second,) = session.receive(srv.error("bad item", code="invalid_value", event_id="e2"))
    assert [t.event.event_id for t in of(second, tr.ClientEventRejected)] == ["e2"]
    assert conn.state.item("mine") is None
    assert conn.state.ledger.in_flight == ()


def test_an_error_naming_an_append_still_finds_it() -> None:
    session = Session()
    session.conn.send(c.InputAudioBufferAppend(audio="AAAA"))
    (step,) = session.receive(
        session.server.error("bad audio", code="invalid_value", event_id="e1")
    )
    (rejected,) = of(step, tr.ClientEventRejected)
    assert rejected.event.type == "input_audio_buffer.append"


def test_unanswered_events_time_out_on_tick_and_release_the_queue() -> None:
    session = Session(config=Config(dialect="beta", strict=True, ack_timeout=5.0))
    conn = session.conn
    assert conn.next_deadline() is None
    conn.send(c.ResponseCreate())
    conn.send(c.ResponseCreate(response=ResponseParams(instructions="later")))
    assert conn.next_deadline() == 0.0  # a timer to start: tick now
    conn.tick(10.0)
    assert conn.next_deadline() == 15.0
    assert conn.tick(14.9).transitions == ()
    step = conn.tick(15.0)
    (timed_out,) = of(step, tr.ClientEventTimedOut)
    assert timed_out.event.event_id == "e1"
    assert sent_types(step) == ["response.create"]  # the queued one goes out
    assert [p.event.event_id for p in conn.state.ledger.in_flight] == ["e2"]


def test_the_ledger_is_bounded() -> None:
    session = Session(
        config=Config(dialect="beta", strict=True, max_in_flight=3, max_recent_events=2)
    )
    conn = session.conn
    dropped = []
    for _ in range(5):
        dropped += of(conn.send(c.InputAudioBufferClear()), tr.ClientEventTimedOut)
        conn.send(c.InputAudioBufferAppend(audio="AAAA"))
    assert [p.event.event_id for p in conn.state.ledger.in_flight] == ["e5", "e7", "e9"]
    assert [t.event.event_id for t in dropped] == ["e1", "e3"]
    # the evicted go to ``recent``, where a late error still finds them
    assert [e.event_id for e in conn.state.ledger.recent] == ["e3", "e10"]


def test_a_cancel_with_nothing_active_sends_nothing_and_says_so() -> None:
    session = Session()
    step = session.conn.send(c.ResponseCancel())
    assert step.to_send == ()
    assert [d.code for d in step.diagnostics] == ["cancel_not_active"]
    assert step.diagnostics[0].informational
    assert step.after.ledger == step.before.ledger


# --- barge-in ---------------------------------------------------------------------------


def test_speech_during_reported_playback_plans_the_cut_and_late_deltas_are_ignored() -> None:
    session = played_audio_session([600], finish=False)
    srv = session.server
    conn = session.conn
    (item,) = conn.state.items
    conn.playback(item.id, 200)
    (step,) = session.receive(srv.speech_started("item_user", 900))
    assert sent_types(step) == ["response.cancel", "conversation.item.truncate"]
    assert of(step, tr.TruncationPlanned)[0].truncated == ((item.id, 0, 200),)
    # audio the server had sent before it saw the cancel: ignored, said as information
    late = s.ResponseAudioDelta(
        event_id=srv.event_id(),
        response_id="resp_1",
        item_id=item.id,
        output_index=0,
        content_index=0,
        delta="AAAA",
    )
    (ignored,) = session.receive(late)
    assert ignored.after is ignored.before
    assert [d.code for d in ignored.diagnostics] == ["interrupted"]
    assert conn.interrupt().to_send == ()  # planned once per response


def test_speech_without_playback_reports_plans_nothing() -> None:
    session = played_audio_session([600], finish=False)
    (step,) = session.receive(session.server.speech_started("item_user", 900))
    assert step.to_send == () and of(step, tr.TruncationPlanned) == []


def test_playback_must_be_a_non_negative_int() -> None:
    session = Session()
    with pytest.raises(LocalProtocolError):
        session.conn.playback("x", -1)
    with pytest.raises(LocalProtocolError):
        session.conn.playback("x", 1.5)  # type: ignore[arg-type]
    step = session.conn.playback("unknown", 10)
    assert [d.code for d in step.diagnostics] == ["unknown_item"]


# --- expiry and rate limits -------------------------------------------------------------


def test_session_expired_error_and_close_1001_give_one_session_expired() -> None:
    session = Session()
    (step,) = session.receive(
        session.server.error(
            "Your session hit the maximum duration of 30 minutes.", code="session_expired"
        )
    )
    assert [t.message for t in of(step, tr.SessionExpired)] == [
        "Your session hit the maximum duration of 30 minutes."
    ]
    closed = session.conn.transport_closed(1001, "going away")
    assert of(closed, tr.SessionExpired) == []  # once
    assert closed.after.expired
    other = Session()
    closed = other.conn.transport_closed(1001, "")
    assert [type(t) for t in closed.transitions] == [tr.SessionExpired, tr.TransportClosed]


def test_rate_limits_expose_remaining_and_reset_time() -> None:
    session = Session()
    session.conn.tick(100.0)
    session.receive(session.server.rate_limits(("tokens", 20000, 5000, 3.0)))
    state = session.conn.state
    assert state.tokens_remaining == 5000
    assert state.requests_remaining is None
    limit = state.rate_limit("tokens")
    assert limit is not None
    assert limit.reset_at == 103.0
    assert limit.used_fraction == 0.75


def test_the_cores_own_plan_is_never_cut_by_the_plugin_cascade_bound() -> None:
    class Chatty:
        def on_truncation_planned(self, t: tr.TruncationPlanned, step: Step) -> c.ClientEvent:
            return c.InputAudioBufferClear()

    session = Session(
        plugins=[Chatty()], config=Config(dialect="beta", strict=True, max_cascade_rounds=0)
    )
    srv = session.server
    session.receive(srv.response_created(), *srv.audio_item(["a "], [audio(200)]))
    step = session.conn.interrupt()
    # the plan goes out whole; only the plugin's answer falls to the bound
    assert sent_types(step) == ["response.cancel", "conversation.item.delete"]
    assert [d.code for d in step.diagnostics] == ["cascade"]


def test_bad_tick_times_and_resume_arguments_are_local_errors_and_change_nothing() -> None:
    session = Session()
    before = session.conn.state
    for now in (float("nan"), float("inf"), "1.0", True):
        with pytest.raises(LocalProtocolError):
            session.conn.tick(now)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        session.conn.resume({"events": ()})  # type: ignore[arg-type]
    assert session.conn.state is before


def test_a_truncation_rolled_back_after_its_part_finished_keeps_the_part_finished() -> None:
    # the rollback undoes the cut only: a part the server closed in between stays
    # closed (it is not restored to the open part it was at the truncation)
    session = Session(config=Config(dialect="beta", strict=True, ack_timeout=5.0))
    conn = session.conn
    srv = session.server
    session.receive(srv.response_created())
    events = srv.audio_item(["Hello ", "there"], [audio(200), audio(200)], finish=True)
    first_done = next(i for i, e in enumerate(events) if isinstance(e, s.ResponseAudioDone))
    session.receive(*events[:first_done])
    (item,) = [i for i in conn.state.items_by_id.values() if i.role == "assistant"]
    conn.send(c.ConversationItemTruncate(item_id=item.id, content_index=0, audio_end_ms=100))
    session.receive(*events[first_done:])  # the server closes the part meanwhile
    conn.tick(0.0)
    (timed_out,) = of(conn.tick(10.0), tr.ClientEventTimedOut)
    assert timed_out.event.type == "conversation.item.truncate"
    part = conn.state.item(item.id).parts[0]  # type: ignore[union-attr]
    assert part.phase is PartPhase.DONE  # still finished
    assert part.truncated_ms is None and part.transcript == "Hello there"  # undone
    session.receive(srv.response_done())  # strict: no INV-8 / INV-12
    assert conn.state.active_response is None
