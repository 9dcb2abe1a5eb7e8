"""The streaming deltas' fast path against its plain reference.

``fold`` folds text, transcript and audio deltas through ``rtstate._fold._deltas``
(an inline test of the common case, fast constructors, and the table handler when
the test fails). ``_deltas._reference`` folds a delta plainly: every rule checked in
turn, ``attrs.evolve`` for every copy, the byte count from ``base64``. For every
delta of generated sessions, perturbed (late, misplaced, duplicated, dropped), cut
by an ``Interrupt``, truncated mid-stream, with and without audio retention, strict
or not, both give the same Step, or both raise the same error.
tests/test_properties.py checks the same path against the handler tables alone.

A delta's state keeps its streaming part aside (``rtstate.state.Hot``) and builds
``items_by_id`` when first read. So the states are also compared with those of the
handler tables alone (``_handled``, which builds every item eagerly) only once the whole
session is folded: a state left unread while later deltas grew the same logs must
still show what it showed then.
"""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.dialects import dialects, in_dialects
from support.helpers import Server, pcm16

import rtstate
from rtstate import Config, SessionState, Step, fold
from rtstate._fold._deltas import _reference
from rtstate.config import AudioRetention, Dialect
from rtstate.events import server as s
from rtstate.events.client import UnknownClientEvent
from rtstate.fold import _handled
from rtstate.step import Interrupt
from rtstate.testing.perturb import perturbed
from rtstate.testing.script import Script
from rtstate.testing.strategies import function_call_responses, sessions, streams
from rtstate.transitions import AudioAppended

STRICT = Config(strict=True)
CONFIGS = [Config(), STRICT, Config(audio_retention=AudioRetention.PER_ITEM)]
DELTAS = (s.ResponseTextDelta, s.ResponseAudioTranscriptDelta, s.ResponseAudioDelta)


def _same(state: SessionState, event: Any, config: Config) -> Step | None:
    """``fold`` gives ``event`` the Step the reference gives (or both raise the same
    error); the Step, or ``None`` when both raised."""
    try:
        step = fold(state, event, config)
    except rtstate.RemoteProtocolError as exc:
        if not isinstance(event, DELTAS):
            return None
        with pytest.raises(rtstate.RemoteProtocolError) as reference:
            _reference(state, event, config)
        assert str(reference.value) == str(exc)
        return None
    if isinstance(event, DELTAS):
        assert _reference(state, event, config) == step
    return step


def _fold_all(events: list[Any], config: Config) -> list[Step]:
    """Fold ``events``, comparing each delta's Step with the reference's."""
    state = SessionState()
    steps = []
    for event in events:
        step = _same(state, event, config)
        if step is not None:
            steps.append(step)
            state = step.after
    return steps


@settings(max_examples=60)
@given(
    dialects.flatmap(lambda d: perturbed(streams(max_flows=4, dialect=d), dialect=d)),
    st.sampled_from(CONFIGS),
)
def test_the_fast_path_gives_the_reference_step_on_perturbed_streams(
    case: tuple[list[Any], list[str]], config: Config
) -> None:
    # streams of both dialects (the dialect drawn with the example)
    events, _ = case
    _fold_all(events, config)


@settings(max_examples=40)
@given(in_dialects(sessions, max_flows=5), st.sampled_from(CONFIGS), st.data())
def test_the_fast_path_gives_the_reference_step_on_interrupted_sessions(
    case: tuple[Dialect, Script], config: Config, data: st.DataObject
) -> None:
    script = case[1]
    events: list[Any] = [e for _, e in script.events if not isinstance(e, UnknownClientEvent)]
    at = data.draw(st.integers(0, len(events)), label="interrupt at")
    events.insert(at, Interrupt())
    _fold_all(events, config)


def _chains(events: list[Any], config: Config) -> None:
    """Fold ``events`` through ``fold`` and through the handler tables alone, keeping
    every state unread, then compare them pair by pair (and their items)."""
    fast, slow = SessionState(), SessionState()
    fast_states, slow_states = [], []
    for event in events:
        try:
            fast = fold(fast, event, config).after
        except rtstate.RemoteProtocolError:
            with pytest.raises(rtstate.RemoteProtocolError):
                _handled(slow, event, config)
            continue
        slow = _handled(slow, event, config).after
        fast_states.append(fast)
        slow_states.append(slow)
    for fast, slow in zip(fast_states, slow_states, strict=True):
        assert fast.items_by_id == slow.items_by_id
        assert fast.items == slow.items
        assert fast == slow


@settings(max_examples=60)
@given(
    dialects.flatmap(lambda d: perturbed(streams(max_flows=4, dialect=d), dialect=d)),
    st.sampled_from(CONFIGS),
)
def test_states_read_late_are_the_handler_tables_states(
    case: tuple[list[Any], list[str]], config: Config
) -> None:
    _chains(case[0], config)


@settings(max_examples=40)
@given(in_dialects(sessions, max_flows=5), st.sampled_from(CONFIGS), st.data())
def test_states_read_late_are_the_handler_tables_states_when_interrupted(
    case: tuple[Dialect, Script], config: Config, data: st.DataObject
) -> None:
    events: list[Any] = [e for _, e in case[1].events if not isinstance(e, UnknownClientEvent)]
    at = data.draw(st.integers(0, len(events)), label="interrupt at")
    events.insert(at, Interrupt())
    _chains(events, config)


def _call_streams(dialect: Dialect) -> st.SearchStrategy[list[Any]]:
    """A function call's server stream (its arguments streamed in deltas)."""
    return function_call_responses(dialect=dialect).map(lambda f: list(f.server_events))


@settings(max_examples=60)
@given(
    dialects.flatmap(lambda d: perturbed(_call_streams(d), dialect=d)),
    st.sampled_from(CONFIGS),
)
def test_a_call_s_arguments_read_late_are_the_handler_tables_states(
    case: tuple[list[Any], list[str]], config: Config
) -> None:
    """A function call's arguments deltas keep their log in the root's record
    (``state.CallHot``): every state, read only once the stream is folded, is the one
    the handler tables give (late, duplicated, dropped and misplaced deltas too), and
    so is every Step read at once."""
    events, _ = case
    _chains(events, config)
    state = SessionState()
    for event in events:
        try:
            step = fold(state, event, config)
        except rtstate.RemoteProtocolError:
            continue
        assert _handled(state, event, config) == step
        state = step.after


def _spoken() -> list[Any]:
    """A spoken response: two transcript deltas and two audio deltas, interleaved."""
    srv = Server()
    start = [srv.session_created(), srv.response_created()]
    item = srv.audio_item(["Once", " upon"], [pcm16(100)] * 2)
    return [*start, *item, srv.response_done()]


@pytest.mark.parametrize("config", CONFIGS, ids=["loose", "strict", "retained"])
def test_each_way_a_delta_can_go_gives_the_reference_step(config: Config) -> None:
    """The branches one by one: appended, late, truncated, and each rule broken."""
    events = _spoken()
    first = next(i for i, e in enumerate(events) if isinstance(e, DELTAS))
    transcript = next(e for e in events if isinstance(e, s.ResponseAudioTranscriptDelta))
    audio = next(e for e in events if isinstance(e, s.ResponseAudioDelta))
    streaming = _fold_all(events[:first], config)[-1].after
    interrupted = fold(streaming, Interrupt()).after
    truncated = fold(streaming, Server().truncated(transcript.item_id, 50)).after
    cases = [
        (streaming, transcript),  # appended
        (streaming, audio),  # appended, its audio retained or not
        (truncated, audio),  # a truncated part still counts its audio
        (truncated, transcript),  # ... but its transcript stays dropped: nothing changes
        (interrupted, transcript),  # late
        (SessionState(), transcript),  # before session.created: INV-1
        (streaming, attrs.evolve(transcript, response_id="resp_other")),  # INV-4
        (streaming, attrs.evolve(transcript, item_id="item_none")),  # INV-7
        (streaming, attrs.evolve(transcript, content_index=5)),  # no such part: INV-8
        (streaming, _text_of(transcript)),  # a text delta for an audio part: INV-8
    ]
    codes: list[list[str] | None] = []
    for state, event in cases:
        step = _same(state, event, config)
        codes.append(None if step is None else [d.code for d in step.diagnostics])
    assert codes[:5] == [[], [], [], [], ["interrupted"]]
    broken = codes[5:]
    if config.strict:
        assert broken == [None] * 5  # raised, as the reference did
    else:
        assert broken == [["INV-1"], ["INV-4"], ["INV-7"], ["INV-8"], ["INV-8"]]
    appended = _same(streaming, audio, config)
    assert appended is not None and appended.after.revision == streaming.revision + 1
    assert appended.transitions[0] == AudioAppended(
        item_id=audio.item_id,
        content_index=0,
        byte_count=4800,  # 100 ms of 24 kHz pcm16
        ms=100.0,
        audio=audio.delta,
        response_id=audio.response_id,
    )


@pytest.mark.parametrize("config", CONFIGS, ids=["loose", "strict", "retained"])
@pytest.mark.parametrize("agrees", [True, False], ids=["agrees", "differs"])
def test_a_done_on_a_streaming_state_gives_the_reference_steps(
    config: Config, *, agrees: bool
) -> None:
    """A transcript ``.done`` right after a delta (its state still streaming): when it
    agrees with the deltas the record stays (``_fast.confirmed``) and a later delta of
    the same part takes the fast path from it; when it differs, the new part goes in
    from the record's own item (``_fast.hot_part``). Either way every Step is the
    reference's and every state the handler tables'."""
    events = _spoken()
    at = next(i for i, e in enumerate(events) if isinstance(e, s.ResponseAudioTranscriptDone))
    done = events[at]
    delta = next(e for e in events if isinstance(e, s.ResponseAudioTranscriptDelta))
    more = attrs.evolve(delta, delta=" a time")
    if agrees:
        done = attrs.evolve(done, transcript=done.transcript + " a time")
    late = attrs.evolve(delta, delta=" again")
    chain = [*events[:at], more, done, late, *events[at + 1 :]]
    steps = _fold_all(chain, config)
    if config.strict and not agrees:
        return  # the differing done raised, as the handler tables do (_chains checks it)
    at_done = next(st for st in steps if st.input is done)
    assert (at_done.after._hot is not None) is agrees
    assert [d.code for d in at_done.diagnostics] == ([] if agrees else ["INV-9"])
    _chains(chain, config)


def _text_of(event: s.ResponseAudioTranscriptDelta) -> s.ResponseTextDelta:
    return s.ResponseTextDelta(
        event_id="evt_text",
        response_id=event.response_id,
        item_id=event.item_id,
        output_index=event.output_index,
        content_index=event.content_index,
        delta="x",
    )
