"""The machines of ``rtstate.machines`` are the truth: the fold changes a phase only
as a table says, and settles a in-flight client event only by an event ``ACKS`` names.

Each Step is read entity by entity (the session, the input buffer, the active
response, every item, every part); for each entity whose phase changed, the change
must be the table's: ``machine.next(before, input)`` (its ``by_payload`` table
first), or ``machine.undo`` for the client event the Step gives up (rejected or timed
out). A part lives and goes with its item: the parts of an item that appears are
checked from ``None``, those of an item that goes are not checked. The streams are
generated sessions (both directions) and perturbed streams (the disorder real servers
produce, which the fold reconciles) of both dialects, the dialect drawn with each
example, and every captured session of the corpus, beta and GA.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from support import DATA
from support.dialects import dialects, in_dialects
from support.helpers import Server, user_text
from support.helpers import fold_all as fold_steps

import rtstate
import rtstate.testing
from rtstate import ClientConnection, Config, SessionState, Step, fold, machines
from rtstate import events as ev
from rtstate.codec import beta, ga
from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events.payloads import Item, ResponseInfo
from rtstate.state import ItemPhase, PartPhase, ResponsePhase, SessionPhase
from rtstate.step import Closed, Resumed
from rtstate.testing.perturb import perturbed
from rtstate.testing.script import Script
from rtstate.testing.strategies import sessions, streams
from rtstate.transitions import ClientEventRejected, ClientEventTimedOut

CORPUS = DATA / "corpus"
CAPTURES = sorted(CORPUS.rglob("*.jsonl"))

Key = tuple[Any, ...]


def phases(state: SessionState) -> dict[Key, Any]:
    """Every entity of ``state`` -> its phase (an absent entity is not listed)."""
    found: dict[Key, Any] = {("session",): state.phase, ("input_buffer",): state.input_buffer.phase}
    for response_id, response in state.responses.items():
        found["response", response_id] = response.phase
    for item_id, item in state.items_by_id.items():
        found["item", item_id] = item.phase
        for index, part in enumerate(item.parts):
            found["part", item_id, index] = part.phase
    return found


_MACHINE: dict[str, machines.Machine[Any]] = {
    "session": machines.SESSION,
    "input_buffer": machines.INPUT_BUFFER,
    "response": machines.RESPONSE,
    "item": machines.ITEM,
    "part": machines.PART,
}


def _predicted(machine: machines.Machine[Any], before: Any, step: Step) -> list[Any]:
    """The phases the tables allow after ``before`` in ``step``."""
    allowed = []
    if machine.allows(before, step.input) or (before, type(step.input)) in machine.by_payload:
        allowed.append(machine.next(before, step.input))
    for transition in step.transitions:
        if isinstance(transition, ClientEventRejected | ClientEventTimedOut):
            key = (before, type(transition.event))
            if key in machine.undo:
                allowed.append(machine.undo[key])
    return allowed


def unpredicted(step: Step) -> list[str]:
    """Every phase change of ``step`` its entity's table does not predict."""
    before, after = phases(step.before), phases(step.after)
    wrong = []
    for key in before.keys() | after.keys():
        was, now = before.get(key), after.get(key)
        if was is now:
            continue
        if key[0] == "part" and ("item", key[1]) not in after:
            continue  # the part went with its item
        if key[0] == "part" and ("item", key[1]) not in before:
            was = None  # the part came with its item
        machine = _MACHINE[key[0]]
        if now not in _predicted(machine, was, step):
            name = type(step.input).__name__
            wrong.append(
                f"{key}: {was} -> {now} on {name}, tables: {_predicted(machine, was, step)}"
            )
    return wrong


def unacknowledged(step: Step) -> list[str]:
    """Every in-flight client event ``step`` settled that its input does not acknowledge
    (by ``machines.ACKS``) and that the step does not reject or time out."""
    if isinstance(step.input, Resumed):
        return []  # a fresh session: nothing is in flight any more
    left = {id(p.event) for p in step.after.ledger.in_flight}
    given_up = {
        id(t.event)
        for t in step.transitions
        if isinstance(t, ClientEventRejected | ClientEventTimedOut)
    }
    wrong = []
    for entry in step.before.ledger.in_flight:
        event = entry.event
        if id(event) in left or id(event) in given_up:
            continue
        if type(step.input) not in machines.ACKS[type(event)]:
            wrong.append(f"{event.type} settled by {type(step.input).__name__}")
    return wrong


def fold_all(inputs: list[Any], config: Config | None = None) -> list[Step]:
    return fold_steps(inputs, config=config)[1]


def assert_tables_predict(steps: list[Step]) -> None:
    for step in steps:
        assert unpredicted(step) == []
        assert unacknowledged(step) == []


def script_inputs(script: Script) -> list[Any]:
    return [e for _, e in script.events if not isinstance(e, c.UnknownClientEvent)]


# --- the tables predict every phase change ---------------------------------------------


@settings(max_examples=80)
@given(in_dialects(sessions, max_flows=6))
def test_the_tables_predict_every_phase_change_of_a_generated_session(
    case: tuple[Dialect, Script],
) -> None:
    dialect, script = case
    config = Config(dialect=dialect)
    steps = fold_all(script_inputs(script), config)
    kinds = [type(step.input) for step in steps]
    if dialect == "ga":  # GA's own events are among those the tables predict
        assert ev.ConversationItemCreated not in kinds
        assert kinds.count(ev.ConversationItemAdded) == kinds.count(ev.ConversationItemDone)
    assert_tables_predict(steps)
    # and the session's end and a resumption, as the tables say too
    ended = [*script_inputs(script), Closed(code=1000), Resumed(events=())]
    assert_tables_predict(fold_all(ended, config))


@settings(max_examples=80)
@given(
    dialects.flatmap(
        lambda d: perturbed(streams(max_flows=4, dialect=d), dialect=d).map(lambda p: (d, p))
    )
)
def test_the_tables_predict_every_phase_change_of_a_perturbed_stream(
    case: tuple[Dialect, tuple[list[Any], list[str]]],
) -> None:
    dialect, (events, _) = case
    assert_tables_predict(fold_all(events, Config(dialect=dialect)))


def _capture_steps(path: Path) -> Iterator[Step]:
    is_ga = "ga" in path.relative_to(CORPUS).parts[:1]
    codec = ga if is_ga else beta
    fragment = "sideband" in path.parent.name or "liusida" in path.name
    state = SessionState(phase=SessionPhase.OPEN) if fragment else None
    conn = ClientConnection(config=Config(dialect="ga" if is_ga else "beta"), state=state)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        if not path.name.endswith(".both.jsonl"):
            yield conn.receive(line)
            continue
        wrapped = json.loads(line)
        frame = json.dumps(wrapped["event"])
        if wrapped["direction"] == "server":
            yield conn.receive(frame)
        else:
            event = codec.decode_client(frame)
            assert isinstance(event, c.ClientEvent), event
            yield conn.send(event)


def test_the_corpus_is_there() -> None:
    dialects = {path.relative_to(CORPUS).parts[0] for path in CAPTURES}
    assert dialects == {"beta", "ga"}


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_the_tables_predict_every_phase_change_of_a_captured_session(path: Path) -> None:
    steps = list(_capture_steps(path))
    assert steps
    assert_tables_predict(steps)


# --- the checks can fail -----------------------------------------------------------


def test_a_phase_set_by_hand_is_caught() -> None:
    srv = Server()
    _, steps = fold_steps([srv.session_created(), srv.user_message("hi")])
    step = steps[-1]
    assert unpredicted(step) == []
    item_id = step.after.order.tail
    assert item_id is not None
    item = step.after.items_by_id[item_id]
    wrong = attrs.evolve(item, phase=ItemPhase.IN_PROGRESS)
    forged = attrs.evolve(
        step, after=attrs.evolve(step.after, items_by_id=step.after.items_by_id.set(item_id, wrong))
    )
    assert unpredicted(forged) == [
        f"('item', '{item_id}'): None -> ItemPhase.IN_PROGRESS on ConversationItemCreated, "
        "tables: [<ItemPhase.DONE: 'done'>]"
    ]


def test_an_acknowledgement_by_the_wrong_event_is_caught() -> None:
    srv = Server()
    sent = user_text("hi")
    _, steps = fold_steps([srv.session_created(), sent])
    before = steps[-1].after
    assert len(before.ledger.in_flight) == 1
    # a rate_limits.updated that (wrongly) settled the create
    step = fold(before, srv.empty_rate_limits())
    forged = attrs.evolve(
        step, after=attrs.evolve(step.after, ledger=attrs.evolve(before.ledger, in_flight=()))
    )
    assert unacknowledged(step) == []
    assert unacknowledged(forged) == ["conversation.item.create settled by RateLimitsUpdated"]


# --- the machines themselves ----------------------------------------------------------


def test_each_machine_names_an_invariant_of_the_catalogue() -> None:
    assert [m.name for m in machines.MACHINES] == [
        "session",
        "input_buffer",
        "response",
        "item",
        "part",
        "transcript",
    ]
    for machine in machines.MACHINES:
        assert machine.invariant in machines.INVARIANTS
        assert dict(machine) == dict(machine.transitions)  # a machine reads as its table
        for key in (*machine.by_payload, *machine.undo):
            assert key in machine.transitions or key in machine.undo


def test_every_code_the_fold_emits_is_in_the_catalogue() -> None:
    fold = Path(importlib.import_module("rtstate.fold").__file__ or "")
    modules = [fold, *sorted((fold.parent / "_fold").glob("*.py"))]  # the fold's parts
    source = "".join(m.read_text(encoding="utf-8") for m in modules)
    codes = set(re.findall(r'"(INV-\d+)"', source))
    assert codes  # the fold emits its codes literally (and through the machines)
    assert codes <= set(machines.INVARIANTS)
    assert {f"INV-{n}" for n in range(1, 18)} <= set(machines.INVARIANTS)


def test_the_catalogue_lives_in_the_core_and_testing_reexports_it() -> None:
    assert rtstate.testing.INVARIANTS is machines.INVARIANTS
    assert rtstate.testing.invariants.INVARIANTS is machines.INVARIANTS


def test_acknowledges_is_acks_read_backwards() -> None:
    assert len(machines.ACKNOWLEDGES) == sum(len(a) for a in machines.ACKS.values())
    for sent, answers in machines.ACKS.items():
        for answer in answers:
            assert machines.ACKNOWLEDGES[answer] is sent
    # GA's conversation.item.added answers a create as beta's .created does
    assert machines.ACKNOWLEDGES[ev.ConversationItemAdded] is c.ConversationItemCreate


def _created(item: Item) -> ev.ConversationItemCreated:
    return ev.ConversationItemCreated(event_id="e", previous_item_id=None, item=item)


@pytest.mark.parametrize(
    ("item", "phase"),
    [
        (Item(id="u", type="message", role="user", content=()), ItemPhase.DONE),
        (Item(id="s", type="message", role="system", content=()), ItemPhase.DONE),
        (Item(id="o", type="function_call_output", call_id="x", output="{}"), ItemPhase.DONE),
        (Item(id="a", type="message", role="assistant", status="completed"), ItemPhase.DONE),
        (
            Item(id="a", type="message", role="assistant", status="in_progress"),
            ItemPhase.IN_PROGRESS,
        ),
        (Item(id="a", type="message", role="assistant"), ItemPhase.IN_PROGRESS),
    ],
)
def test_the_payload_decides_a_created_items_phase(item: Item, phase: ItemPhase) -> None:
    event = _created(item)
    assert machines.ITEM.next(None, event) is phase
    assert machines.ITEM.next(ItemPhase.PENDING, event) is phase
    # announced first: in progress until its response finishes it, whatever it says
    assert machines.ITEM.next(ItemPhase.ANNOUNCED, event) is ItemPhase.IN_PROGRESS
    srv = Server()
    state, _ = fold_steps([srv.session_created(), event])
    assert state.items_by_id[item.id or ""].phase is phase


def test_a_missing_pair_is_a_clear_error() -> None:
    done = ev.ResponseDone(event_id="e", response=ResponseInfo(id="r", status="completed"))
    assert not machines.RESPONSE.allows(None, done)
    with pytest.raises(
        ValueError, match="INV-4: ResponseDone is not allowed when response is none"
    ):
        machines.RESPONSE.next(None, done)
    assert machines.RESPONSE.next(ResponsePhase.IN_PROGRESS, done) is None


def test_closing_and_resuming_follow_the_session_table() -> None:
    srv = Server()
    _, steps = fold_steps(
        [srv.session_created(), *srv.text_response(["a"]), Closed(code=1001), Resumed(events=())]
    )
    assert steps[-2].after.phase is machines.SESSION[(SessionPhase.OPEN, Closed)]
    assert steps[-1].after.phase is machines.SESSION[(SessionPhase.CLOSED, Resumed)]
    assert_tables_predict(steps)
    assert PartPhase.DONE is machines.PART[(None, ev.ConversationItemCreated)]
