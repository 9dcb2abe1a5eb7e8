"""Property tests of the fold over generated sessions.

The streams come from ``rtstate.testing`` (valid sessions of both dialects, beta and GA,
the dialect drawn with each example; every canonical flow of the protocol, and the
perturbations real servers produce); the properties are
the ones the core promises: valid streams fold cleanly and strictly, determinism,
old snapshots never change, deltas add up, the order follows ``previous_item_id``,
one response at a time, lenient never raises, strict raises exactly where lenient
reports, plugins (even raising ones) never change the sequence of states, and
events about independent keys commute.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.dialects import dialects, in_dialects

import rtstate
from rtstate import Config, SessionState, Step, fold
from rtstate import events as ev
from rtstate import transitions as tr
from rtstate.config import Dialect
from rtstate.events.client import ClientEvent, UnknownClientEvent
from rtstate.fold import _handled
from rtstate.step import Interrupt
from rtstate.testing.perturb import benign_perturbations, perturbed
from rtstate.testing.script import Script
from rtstate.testing.strategies import sessions, streams

BETA = Config(dialect="beta")
"""These tests feed beta frames: their connections say so (GA is the default)."""

STRICT = Config(dialect="beta", strict=True)


def perturbed_streams(
    **kwargs: Any,
) -> st.SearchStrategy[tuple[Dialect, tuple[list[Any], list[str]]]]:
    """``(dialect, perturbed stream)`` in a drawn dialect."""
    return dialects.flatmap(
        lambda d: perturbed(streams(max_flows=4, dialect=d), dialect=d, **kwargs).map(
            lambda case: (d, case)
        )
    )


def fold_script(script: Script, config: Config = rtstate.config.DEFAULT_CONFIG) -> list[Step]:
    """Fold both directions of a script: client events as sent, server events as received."""
    state = SessionState()
    steps = []
    for _, event in script.events:
        if isinstance(event, UnknownClientEvent):
            continue
        step = fold(state, event, config)
        steps.append(step)
        state = step.after
    return steps


def fold_events(events: list[Any], config: Config = rtstate.config.DEFAULT_CONFIG) -> list[Step]:
    state = SessionState()
    steps = []
    for event in events:
        step = fold(state, event, config)
        steps.append(step)
        state = step.after
    return steps


@settings(max_examples=60)
@given(in_dialects(sessions, max_flows=5))
def test_valid_sessions_fold_cleanly_and_strictly(case: tuple[Dialect, Script]) -> None:
    dialect, script = case
    # on the wire: the dialect's frames, received by a strict connection of that dialect
    conn = rtstate.ClientConnection(config=Config(dialect=dialect, strict=True))
    for (direction, event), (_, frame) in zip(script.events, script.frames(dialect), strict=True):
        if direction == "server":
            assert not conn.receive(frame).diagnostics
        elif not isinstance(event, UnknownClientEvent):
            conn.send(event)  # type: ignore[arg-type]
    steps = fold_script(script, Config(dialect=dialect, strict=True))  # strict: would raise
    # only races and local no-ops (a cancel the script sends with nothing active)
    assert all(d.informational for s in steps for d in s.diagnostics)
    final = steps[-1].after
    # at most one response at a time, and every started response completed or active
    open_responses: set[str] = set()
    for step in steps:
        for t in step.transitions:
            if isinstance(t, tr.ResponseStarted):
                assert not open_responses
                open_responses.add(t.response_id)
            elif isinstance(t, tr.ResponseFinished):
                assert open_responses == {t.response_id}
                open_responses.clear()
    active = final.active_response
    assert (active is None) == (not open_responses)


@settings(max_examples=40)
@given(in_dialects(sessions, max_flows=4))
def test_fold_is_deterministic(case: tuple[Dialect, Script]) -> None:
    dialect, script = case
    config = Config(dialect=dialect)
    assert fold_script(script, config) == fold_script(script, config)


@settings(max_examples=40)
@given(in_dialects(sessions, max_flows=4))
def test_old_snapshots_never_change(case: tuple[Dialect, Script]) -> None:
    steps = fold_script(case[1], Config(dialect=case[0]))
    seen = [(s.after, repr(s.after.items), s.after.revision) for s in steps]
    # fold again from every snapshot, appending to old (non-tip) logs
    for step in steps[::3]:
        for other in steps[-3:]:
            fold(step.after, other.input)
    for state, items_repr, revision in seen:
        assert repr(state.items) == items_repr
        assert state.revision == revision


def _item_deltas(steps: list[Step]) -> dict[tuple[str, int], list[str]]:
    deltas: dict[tuple[str, int], list[str]] = {}
    for step in steps:
        for t in step.transitions:
            if isinstance(t, tr.TextAppended | tr.TranscriptAppended):
                deltas.setdefault((t.item_id, t.content_index), []).append(t.delta)
    return deltas


@settings(max_examples=60)
@given(in_dialects(sessions, max_flows=5))
def test_deltas_add_up_to_the_final_values(case: tuple[Dialect, Script]) -> None:
    steps = fold_script(case[1], Config(dialect=case[0]))
    final = steps[-1].after
    deltas = _item_deltas(steps)
    checked = 0
    for item in final.items:
        for index, part in enumerate(item.parts):
            joined = "".join(deltas.get((item.id, index), []))
            if part.truncated_ms is not None or not joined:
                continue
            value = part.text if part.type == "text" else part.transcript
            assert value == joined
            checked += 1
    for step in steps:
        for t in step.transitions:
            if isinstance(t, tr.FunctionCallReady):
                called = step.after.item(t.item_id)
                assert called is not None and called.arguments == t.arguments


@settings(max_examples=60)
@given(in_dialects(sessions, max_flows=6))
def test_order_follows_previous_item_id(case: tuple[Dialect, Script]) -> None:
    steps = fold_script(case[1], Config(dialect=case[0]))
    reference: list[str] = []
    for step in steps:
        for t in step.transitions:
            if isinstance(t, tr.ItemAdded):
                at = 0 if t.previous_item_id is None else reference.index(t.previous_item_id) + 1
                reference.insert(at, t.item_id)
            elif isinstance(t, tr.ItemDeleted):
                reference.remove(t.item_id)
        assert [i.id for i in step.after.items] == reference


@settings(max_examples=60)
@given(
    dialects.flatmap(
        lambda d: benign_perturbations(streams(max_flows=4, dialect=d), dialect=d).map(
            lambda case: (d, case)
        )
    )
)
def test_benign_perturbations_fold_without_diagnostics(
    case: tuple[Dialect, tuple[list[Any], list[str]]],
) -> None:
    dialect, (events, _) = case
    steps = fold_events(events, Config(dialect=dialect, strict=True))
    assert all(not s.diagnostics for s in steps)


@settings(max_examples=100)
@given(perturbed_streams())
def test_lenient_never_raises_and_strict_raises_exactly_where_lenient_reports(
    case: tuple[Dialect, tuple[list[Any], list[str]]],
) -> None:
    dialect, (events, _) = case
    lenient, strict = Config(dialect=dialect), Config(dialect=dialect, strict=True)
    state = SessionState()
    for event in events:
        step = fold(state, event, lenient)  # lenient: must not raise
        if step.diagnostics:
            with pytest.raises(rtstate.RemoteProtocolError):
                fold(state, event, strict)
        else:
            assert fold(state, event, strict) == step
        if any(not d.applied for d in step.diagnostics):
            assert step.after is state  # a rejected input changes nothing
        state = step.after


class _Raises:
    """A plugin that raises on its first hook call."""

    def __init__(self, on: str) -> None:
        self.on = on
        self.calls = 0

    def on_step(self, step: Step) -> None:
        self.calls += 1
        if self.on == "step" or (self.on == "text" and step.transitions):
            raise RuntimeError("plugin bug")


class _Quiet:
    def on_text_appended(self, t: tr.TextAppended, step: Step) -> None:
        return None

    def on_item_added(self, t: tr.ItemAdded, step: Step) -> None:
        return None


def _states(script: Script, plugins: list[object], dialect: Dialect) -> list[SessionState]:
    conn = rtstate.ClientConnection(plugins=plugins, config=Config(dialect=dialect))
    states = []
    for _, event in script.events:
        if isinstance(event, ClientEvent):
            step = conn.send(event)
        elif isinstance(event, UnknownClientEvent):
            continue
        else:
            step = conn.receive_event(event)
        states.append(step.after)
    return states


@settings(max_examples=30)
@given(in_dialects(sessions, max_flows=4), st.sampled_from(["step", "text"]))
def test_plugins_never_change_the_sequence_of_states(case: tuple[Dialect, Script], on: str) -> None:
    dialect, script = case
    bare = _states(script, [], dialect)
    assert _states(script, [_Quiet(), _Quiet(), _Quiet()], dialect) == bare
    raising = _Raises(on)
    assert _states(script, [_Quiet(), raising], dialect) == bare
    assert raising.calls >= 1


def _created(item_id: str, previous: str | None) -> ev.ConversationItemCreated:
    return ev.ConversationItemCreated(
        event_id=f"e_{item_id}",
        previous_item_id=previous,
        item=ev.Item(
            id=item_id,
            type="message",
            role="user",
            status="completed",
            content=(ev.ContentPart(type="input_audio", transcript=None),),
        ),
    )


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["requests", "tokens", "input_tokens"]),
            st.integers(0, 10_000),
        ),
        min_size=2,
        max_size=2,
        unique_by=lambda x: x[0],
    ),
    st.text(max_size=20),
    st.text(max_size=20),
)
def test_independent_keys_commute(limits: list[tuple[str, int]], first: str, second: str) -> None:
    start = fold_events(
        [
            ev.SessionCreated(event_id="e0", session=ev.SessionConfig(id="s")),
            _created("a", None),
            _created("b", "a"),
        ]
    )[-1].after
    updates = [
        ev.RateLimitsUpdated(
            event_id=f"r{i}",
            rate_limits=(ev.RateLimit(name=name, limit=10_000, remaining=left),),
        )
        for i, (name, left) in enumerate(limits)
    ]
    transcripts = [
        ev.ConversationItemInputAudioTranscriptionCompleted(
            event_id="t_a", item_id="a", content_index=0, transcript=first
        ),
        ev.ConversationItemInputAudioTranscriptionCompleted(
            event_id="t_b", item_id="b", content_index=0, transcript=second
        ),
    ]
    pairs: list[list[ev.ServerEvent]] = [list(updates), list(transcripts)]
    for pair in pairs:
        one, two = start, start
        for e in pair:
            one = fold(one, e).after
        for e in reversed(pair):
            two = fold(two, e).after
        assert one.items == two.items
        assert {
            name: attrs.evolve(limit, revision=0) for name, limit in one.rate_limits.items()
        } == {name: attrs.evolve(limit, revision=0) for name, limit in two.rate_limits.items()}


def _agree(state: SessionState, event: Any, config: Config) -> Step | None:
    """``fold`` and the handler tables alone give the same Step, or both raise."""
    try:
        step = fold(state, event, config)
    except rtstate.RemoteProtocolError as exc:
        with pytest.raises(rtstate.RemoteProtocolError) as reference:
            _handled(state, event, config)
        assert str(reference.value) == str(exc)
        return None
    assert _handled(state, event, config) == step
    return step


@settings(max_examples=60)
@given(perturbed_streams(), st.booleans())
def test_the_streaming_fast_path_agrees_with_the_handler_tables(
    case: tuple[Dialect, tuple[list[Any], list[str]]], strict: bool
) -> None:
    # ``fold`` folds the common case of a delta inline; the tables must say the same
    # for every delta, including late, misplaced and interrupted ones
    dialect, (events, _) = case
    config = Config(dialect=dialect, strict=strict)
    state = SessionState()
    for event in events:
        step = _agree(state, event, config)
        if step is not None:
            state = step.after


@settings(max_examples=40)
@given(
    in_dialects(sessions, max_flows=5),
    st.sampled_from([rtstate.config.AudioRetention.NONE, rtstate.config.AudioRetention.PER_ITEM]),
    st.data(),
)
def test_the_streaming_fast_path_agrees_on_interrupted_sessions(
    case: tuple[Dialect, Script], retention: Any, data: st.DataObject
) -> None:
    dialect, script = case
    config = Config(dialect=dialect, audio_retention=retention)
    # an ``Interrupt`` anywhere: the deltas of the response it cuts then arrive late
    events: list[Any] = [e for _, e in script.events if not isinstance(e, UnknownClientEvent)]
    at = data.draw(st.integers(0, len(events)), label="interrupt at")
    events.insert(at, Interrupt())
    state = SessionState()
    for event in events:
        was_interrupted = state.interrupted_response_id
        step = _agree(state, event, config)
        assert step is not None
        if isinstance(event, _DELTAS) and event.response_id == was_interrupted:
            # late: reported, and nothing changes
            assert [d.code for d in step.diagnostics] == ["interrupted"]
            assert step.after is state
        state = step.after


_DELTAS = (ev.ResponseTextDelta, ev.ResponseAudioDelta, ev.ResponseAudioTranscriptDelta)
