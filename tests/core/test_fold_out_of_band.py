"""Out-of-band responses (``response.conversation: "none"``) in the fold, sans-IO.

Each rule of the response model: several responses in progress by id, the
out-of-band one's items kept outside the conversation order, how a response is told
out of band (its ``conversation_id``, else the ``response.create`` it answers), the
one-active-response rule (INV-5) for the default conversation only, the create queue,
per-request acknowledgements, cancels by id, barge-in and the reconnect plan.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from rtstate import Config, SessionState, Step
from rtstate._fold._deltas import _STREAMED, _streamed
from rtstate.errors import RemoteProtocolError
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    ContentType,
    ErrorInfo,
    Item,
    ResponseInfo,
    ResponseParams,
    ResponseStatus,
    SessionConfig,
)
from rtstate.fold import fold
from rtstate.reconnect import plan_reconnect
from rtstate.state import ItemPhase, ResponsePhase
from rtstate.step import Interrupt, Played
from rtstate.transitions import (
    ClientEventQueued,
    ClientEventRejected,
    ResponseFinished,
    ResponseStarted,
    TruncationPlanned,
)

STRICT = Config(strict=True)
CONV = "conv_1"


class Server:
    """GA-shaped server events (``conversation_id`` and ``modalities`` in every
    response object), with deterministic event ids."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def eid(self) -> str:
        return f"event_{next(self._ids)}"

    def session(self) -> s.SessionCreated:
        return s.SessionCreated(event_id=self.eid(), session=SessionConfig(id="sess_1"))

    def created(
        self,
        rid: str,
        *,
        out_of_band: bool,
        metadata: Mapping[str, Any] | None = None,
        shape_2025: bool = True,
    ) -> s.ResponseCreated:
        info = ResponseInfo(
            id=rid,
            status="in_progress",
            metadata=metadata,
            conversation_id=None if out_of_band or not shape_2025 else CONV,
            modalities=("text",) if shape_2025 else None,
        )
        return s.ResponseCreated(event_id=self.eid(), response=info)

    def item_added(self, rid: str, item_id: str, index: int = 0) -> s.ResponseOutputItemAdded:
        item = Item(id=item_id, type="message", role="assistant", status="in_progress")
        return s.ResponseOutputItemAdded(
            event_id=self.eid(), response_id=rid, output_index=index, item=item
        )

    def in_conversation(self, item_id: str, previous: str | None) -> s.ConversationItemAdded:
        item = Item(id=item_id, type="message", role="assistant", status="in_progress")
        return s.ConversationItemAdded(event_id=self.eid(), item=item, previous_item_id=previous)

    def part_added(self, rid: str, item_id: str, kind: ContentType) -> s.ResponseContentPartAdded:
        part = ContentPart(type=kind, text="" if kind == "text" else None, transcript=None)
        return s.ResponseContentPartAdded(event_id=self.eid(), part=part, **_ids(rid, item_id))

    def text(self, rid: str, item_id: str, delta: str) -> s.ResponseTextDelta:
        return s.ResponseTextDelta(event_id=self.eid(), delta=delta, **_ids(rid, item_id))

    def audio(self, rid: str, item_id: str, ms: int) -> s.ResponseAudioDelta:
        delta = base64.b64encode(b"\0" * 48 * ms).decode()
        return s.ResponseAudioDelta(event_id=self.eid(), delta=delta, **_ids(rid, item_id))

    def text_end(self, rid: str, item_id: str, text: str) -> list[s.ServerEvent]:
        final = Item(
            id=item_id,
            type="message",
            role="assistant",
            status="completed",
            content=(ContentPart(type="text", text=text),),
        )
        return [
            s.ResponseTextDone(event_id=self.eid(), text=text, **_ids(rid, item_id)),
            s.ResponseContentPartDone(
                event_id=self.eid(), part=ContentPart(type="text", text=text), **_ids(rid, item_id)
            ),
            s.ResponseOutputItemDone(
                event_id=self.eid(), response_id=rid, output_index=0, item=final
            ),
        ]

    def done(
        self,
        rid: str,
        *,
        out_of_band: bool,
        output: Sequence[Item] = (),
        status: ResponseStatus = "completed",
    ) -> s.ResponseDone:
        info = ResponseInfo(
            id=rid,
            status=status,
            output=tuple(output),
            conversation_id=None if out_of_band else CONV,
            modalities=("text",),
        )
        return s.ResponseDone(event_id=self.eid(), response=info)

    def text_response(
        self, rid: str, item_id: str, text: str, *, out_of_band: bool, previous: str | None = None
    ) -> list[s.ServerEvent]:
        """A whole text response: out of band, no ``conversation.item.*``."""
        events: list[s.ServerEvent] = [
            self.created(rid, out_of_band=out_of_band),
            self.item_added(rid, item_id),
        ]
        if not out_of_band:
            events.append(self.in_conversation(item_id, previous))
        events += [self.part_added(rid, item_id, "text"), self.text(rid, item_id, text)]
        ends = self.text_end(rid, item_id, text)
        final = ends[-1]
        assert isinstance(final, s.ResponseOutputItemDone)
        return [*events, *ends, self.done(rid, out_of_band=out_of_band, output=(final.item,))]


def _ids(rid: str, item_id: str) -> dict[str, Any]:
    return {"response_id": rid, "item_id": item_id, "output_index": 0, "content_index": 0}


def run(
    state: SessionState, inputs: Sequence[Any], config: Config = STRICT
) -> tuple[SessionState, list[Step]]:
    """Fold ``inputs`` strictly; every Step is free of diagnostics."""
    steps = []
    for value in inputs:
        step = fold(state, value, config)
        assert step.diagnostics == (), step.diagnostics
        steps.append(step)
        state = step.after
    return state, steps


def opened(srv: Server) -> SessionState:
    return run(SessionState(), [srv.session()])[0]


def oob_create(**metadata: Any) -> c.ResponseCreate:
    params = ResponseParams(conversation="none", metadata=metadata or None, modalities=("text",))
    return c.ResponseCreate(response=params)


DEFAULT_CREATE = c.ResponseCreate(response=ResponseParams(modalities=("text",)))


def transitions(steps: Sequence[Step], kind: type[Any]) -> list[Any]:
    return [t for step in steps for t in step.transitions if isinstance(t, kind)]


# --- an out-of-band response alone ------------------------------------------------------


def test_an_out_of_band_response_is_kept_outside_the_conversation() -> None:
    srv = Server()
    state = opened(srv)
    state, (sent,) = run(state, [oob_create(topic="side")])
    assert [e.type for e in sent.sent] == ["response.create"]  # not queued: nothing active
    created = srv.created("resp_side", out_of_band=True, metadata={"topic": "side"})
    state, steps = run(state, [created, srv.item_added("resp_side", "item_side")])
    response = state.response_by_id("resp_side")
    assert response is not None and response.out_of_band
    assert response.conversation == "none" and response.metadata == {"topic": "side"}
    assert state.active_response is None  # no default-conversation response
    assert state.responses_in_progress == (response,)
    assert state.ledger.in_flight == ()  # the create is acknowledged
    (started,) = transitions(steps, ResponseStarted)
    assert started.out_of_band and started.metadata == {"topic": "side"}
    state, steps = run(
        state,
        [
            srv.part_added("resp_side", "item_side", "text"),
            srv.text("resp_side", "item_side", "Sum"),
            srv.text("resp_side", "item_side", "mary"),
            *srv.text_end("resp_side", "item_side", "Summary"),
        ],
    )
    item = state.item("item_side")
    assert item is not None and item.text == "Summary" and item.phase is ItemPhase.DONE
    assert state.items == () and "item_side" not in state.order
    state, steps = run(state, [srv.done("resp_side", out_of_band=True)])
    assert state.responses_in_progress == ()
    (finished,) = transitions(steps, ResponseFinished)
    assert finished.out_of_band and finished.conversation == "none"
    done = state.response_by_id("resp_side")
    assert done is not None and done.phase is ResponsePhase.DONE and done.out_of_band
    assert [i.text for i in state.response_items("resp_side")] == ["Summary"]
    assert state.items == ()


def test_out_of_band_deltas_take_the_fast_path() -> None:
    srv = Server()
    state, _ = run(
        opened(srv),
        [
            srv.created("resp_side", out_of_band=True),
            srv.item_added("resp_side", "item_side"),
            srv.part_added("resp_side", "item_side", "text"),
        ],
    )
    delta = srv.text("resp_side", "item_side", "x")
    fast = _streamed(state, delta, STRICT, _STREAMED[s.ResponseTextDelta])
    assert fast is not None and fast.after.item("item_side").text == "x"  # type: ignore[union-attr]


def test_an_item_announced_and_left_open_is_closed_at_done_outside_the_order() -> None:
    srv = Server()
    state, _ = run(
        opened(srv),
        [srv.created("resp_side", out_of_band=True), srv.item_added("resp_side", "item_side")],
    )
    step = fold(state, srv.done("resp_side", out_of_band=True), Config())
    assert [d.code for d in step.diagnostics] == ["INV-12"]  # noted, as for any response
    assert step.after.item("item_side").phase is ItemPhase.DONE  # type: ignore[union-attr]
    assert "item_side" not in step.after.order


# --- beside a default response ------------------------------------------------------------


def test_an_out_of_band_response_is_accepted_while_a_default_one_is_active() -> None:
    srv = Server()
    state, _ = run(
        opened(srv),
        [
            srv.created("resp_main", out_of_band=False),
            srv.item_added("resp_main", "item_main"),
            srv.in_conversation("item_main", None),
            srv.part_added("resp_main", "item_main", "text"),
            srv.created("resp_side", out_of_band=True),
            srv.item_added("resp_side", "item_side"),
            srv.part_added("resp_side", "item_side", "text"),
            srv.text("resp_main", "item_main", "Hel"),
            srv.text("resp_side", "item_side", "Side"),
            srv.text("resp_main", "item_main", "lo"),
        ],
    )
    active = state.active_response
    assert active is not None and active.id == "resp_main" and not active.out_of_band
    assert [r.id for r in state.responses_in_progress] == ["resp_main", "resp_side"]
    state, _ = run(
        state,
        [
            *srv.text_end("resp_side", "item_side", "Side"),
            srv.done("resp_side", out_of_band=True),
            *srv.text_end("resp_main", "item_main", "Hello"),
            srv.done("resp_main", out_of_band=False),
        ],
    )
    assert [(i.id, i.text) for i in state.items] == [("item_main", "Hello")]
    assert state.item("item_side").text == "Side"  # type: ignore[union-attr]
    assert [r.id for r in state.finished] == ["resp_side", "resp_main"]
    assert state.responses_in_progress == () and state.active_response_id is None


def test_the_gate_still_rejects_two_overlapping_default_responses() -> None:
    srv = Server()
    state, _ = run(opened(srv), [srv.created("resp_1", out_of_band=False)])
    second = srv.created("resp_2", out_of_band=False)
    with pytest.raises(RemoteProtocolError, match="INV-5"):
        fold(state, second, STRICT)
    step = fold(state, second, Config())
    assert [(d.code, d.applied) for d in step.diagnostics] == [("INV-5", False)]
    assert step.after is state


def test_a_default_response_may_start_while_an_out_of_band_one_streams() -> None:
    srv = Server()
    state, _ = run(
        opened(srv),
        [srv.created("resp_side", out_of_band=True), srv.created("resp_main", out_of_band=False)],
    )
    assert state.active_response_id == "resp_main"
    assert {r.id for r in state.responses_in_progress} == {"resp_side", "resp_main"}


def test_an_event_naming_no_response_in_progress_is_refused() -> None:
    srv = Server()
    state, _ = run(opened(srv), [srv.created("resp_side", out_of_band=True)])
    with pytest.raises(RemoteProtocolError, match=r"INV-4.*resp_side"):
        fold(state, srv.item_added("resp_other", "item_x"), STRICT)


# --- how a response is told out of band ---------------------------------------------------


@pytest.mark.parametrize(("create", "expected"), [(oob_create(), "none"), (DEFAULT_CREATE, "auto")])
def test_an_october_2024_response_object_is_told_by_the_create_it_answers(
    create: c.ResponseCreate, expected: str
) -> None:
    srv = Server()
    state, _ = run(
        opened(srv), [create, srv.created("resp_1", out_of_band=False, shape_2025=False)]
    )
    response = state.response_by_id("resp_1")
    assert response is not None and response.conversation == expected
    assert state.ledger.in_flight == ()


def test_a_response_the_server_started_does_not_answer_an_out_of_band_create() -> None:
    srv = Server()
    state, _ = run(opened(srv), [oob_create()])
    state, _ = run(state, [srv.created("resp_vad", out_of_band=False)])  # server VAD's
    assert state.active_response_id == "resp_vad"
    assert [p.event for p in state.ledger.in_flight] == [oob_create()]  # still awaited


def test_created_acknowledges_the_create_it_answers_by_conversation_and_metadata() -> None:
    srv = Server()
    first, second = oob_create(n=1), oob_create(n=2)
    state, _ = run(opened(srv), [first, second, DEFAULT_CREATE])
    assert len(state.ledger.in_flight) == 3  # out-of-band creates never wait
    state, _ = run(state, [srv.created("resp_b", out_of_band=True, metadata={"n": 2})])
    assert [p.event for p in state.ledger.in_flight] == [first, DEFAULT_CREATE]
    state, _ = run(state, [srv.created("resp_main", out_of_band=False)])
    assert [p.event for p in state.ledger.in_flight] == [first]
    # metadata not echoed (as October 2024 servers): the create supplies it
    state, _ = run(state, [srv.created("resp_a", out_of_band=True, shape_2025=False)])
    assert state.ledger.in_flight == ()
    assert state.response_by_id("resp_a").metadata == {"n": 1}  # type: ignore[union-attr]


# --- the queue, cancels and errors --------------------------------------------------------


def test_the_queue_holds_back_only_default_creates() -> None:
    srv = Server()
    state, steps = run(opened(srv), [DEFAULT_CREATE, oob_create(), DEFAULT_CREATE])
    # the first default create and the out-of-band one go; the second default one waits
    assert [len(step.sent) for step in steps] == [1, 1, 0]
    assert transitions(steps, ClientEventQueued) == [ClientEventQueued(event=DEFAULT_CREATE)]
    state, steps = run(
        state,
        [srv.created("resp_main", out_of_band=False), srv.created("resp_side", out_of_band=True)],
    )
    assert state.ledger.queued == (DEFAULT_CREATE,)
    state, (side_done,) = run(state, [srv.done("resp_side", out_of_band=True)])
    assert side_done.planned == () and state.ledger.queued == (DEFAULT_CREATE,)
    state, (main_done,) = run(state, [srv.done("resp_main", out_of_band=False)])
    assert (
        state.ledger.queued == () and len(main_done.planned) == 1
    )  # released by the default's end
    # an out-of-band create while a default response is active goes at once
    state, _ = run(state, [srv.created("resp_2", out_of_band=False)])
    state, (step,) = run(state, [oob_create()])
    assert len(step.sent) == 1 and state.ledger.queued == ()


def test_a_cancel_by_id_is_settled_by_that_response_end() -> None:
    srv = Server()
    state, _ = run(
        opened(srv),
        [srv.created("resp_main", out_of_band=False), srv.created("resp_side", out_of_band=True)],
    )
    cancel = c.ResponseCancel(response_id="resp_side")
    state, (sent,) = run(state, [cancel])
    assert sent.sent == (cancel,)
    assert [(p.event, p.key) for p in state.ledger.in_flight] == [(cancel, "resp_side")]
    state, _ = run(state, [srv.done("resp_main", out_of_band=False)])
    assert len(state.ledger.in_flight) == 1  # the other response's end does not settle it
    state, _ = run(state, [srv.done("resp_side", out_of_band=True, status="cancelled")])
    assert state.ledger.in_flight == ()


def test_a_bare_cancel_is_for_the_default_response_only() -> None:
    srv = Server()
    state, _ = run(opened(srv), [srv.created("resp_side", out_of_band=True)])
    step = fold(state, c.ResponseCancel(), STRICT)
    assert step.sent == () and [d.code for d in step.diagnostics] == ["cancel_not_active"]
    state, _ = run(state, [srv.created("resp_main", out_of_band=False)])
    state, (sent,) = run(state, [c.ResponseCancel()])
    assert len(sent.sent) == 1 and state.ledger.in_flight[0].key == "resp_main"


def test_a_refused_create_without_event_id_is_the_default_one() -> None:
    srv = Server()
    state, _ = run(opened(srv), [oob_create(), DEFAULT_CREATE])
    error = s.Error(
        event_id=srv.eid(),
        error=ErrorInfo(
            type="invalid_request_error", code="conversation_already_has_active_response"
        ),
    )
    state, steps = run(state, [error], Config())
    (rejected,) = transitions(steps, ClientEventRejected)
    assert rejected.event == DEFAULT_CREATE
    assert [p.event for p in state.ledger.in_flight] == [oob_create()]


# --- barge-in and reconnect -----------------------------------------------------------------


def spoken_and_side(srv: Server) -> SessionState:
    """A spoken default response (200 ms heard of it) beside an out-of-band text one."""
    state, _ = run(
        opened(srv),
        [
            srv.created("resp_main", out_of_band=False),
            srv.item_added("resp_main", "item_main"),
            srv.in_conversation("item_main", None),
            srv.part_added("resp_main", "item_main", "audio"),
            srv.audio("resp_main", "item_main", 500),
            srv.created("resp_side", out_of_band=True),
            srv.item_added("resp_side", "item_side"),
            srv.part_added("resp_side", "item_side", "text"),
            Played(item_id="item_main", played_ms=200),
        ],
    )
    return state


def test_barge_in_interrupts_the_default_response_only() -> None:
    srv = Server()
    state, (step,) = run(spoken_and_side(srv), [Interrupt()])
    (planned,) = transitions([step], TruncationPlanned)
    assert planned.response_id == "resp_main"
    assert c.ResponseCancel(response_id="resp_main") in step.planned
    assert all(getattr(e, "response_id", None) != "resp_side" for e in step.planned)
    assert state.interrupted_response_id == "resp_main"
    # the out-of-band response streams on, folded as before
    state, _ = run(state, [srv.text("resp_side", "item_side", "still here")])
    assert state.item("item_side").text == "still here"  # type: ignore[union-attr]


def test_barge_in_with_only_an_out_of_band_response_plans_nothing() -> None:
    srv = Server()
    state, _ = run(
        opened(srv),
        [
            srv.created("resp_side", out_of_band=True),
            srv.item_added("resp_side", "item_side"),
            srv.part_added("resp_side", "item_side", "audio"),
            srv.audio("resp_side", "item_side", 300),
            Played(item_id="item_side", played_ms=100),
        ],
    )
    step = fold(state, Interrupt(), STRICT)
    assert step.planned == () and step.after.interrupted_response_id is None


def test_the_reconnect_plan_never_recreates_out_of_band_items() -> None:
    srv = Server()
    state, _ = run(
        opened(srv),
        [
            *srv.text_response("resp_main", "item_main", "kept", out_of_band=False),
            *srv.text_response("resp_done", "item_done", "aside", out_of_band=True),
            srv.created("resp_side", out_of_band=True),
            srv.item_added("resp_side", "item_side"),
        ],
    )
    plan = plan_reconnect(state)
    creates = [e for e in plan.events if isinstance(e, c.ConversationItemCreate)]
    assert [e.item.content[0].text for e in creates] == ["kept"]  # type: ignore[index]
    assert all(d.item_id not in ("item_done", "item_side") for d in plan.dropped)
