"""rtstate.testing strategies and perturbations: generated streams are valid (by the
invariant checkers and by direct inspection), round-trip through their dialect's codec, and
the perturbations do what they say. Every property draws the dialect (beta or GA) with its
example (``support.dialects``), so both are covered at the same example count."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from support.dialects import DIALECTS, dialects, in_dialects, joins

from rtstate.codec import codec_for
from rtstate.config import Dialect
from rtstate.errors import RemoteProtocolError
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import SessionConfig
from rtstate.testing import (
    BENIGN,
    HARMFUL,
    Context,
    Flow,
    Script,
    any_flows,
    audio_responses,
    barge_ins,
    benign_perturbations,
    check_script,
    check_stream,
    clears,
    client_cancels,
    decode_stream,
    deletes,
    encode_stream,
    error_flows,
    format_violations,
    function_call_responses,
    item_creates,
    manual_commit_turns,
    perturbed,
    perturbed_frames,
    rate_limits_updates,
    session_starts,
    session_updates,
    sessions,
    streams,
    text_responses,
    truncates,
    vad_turns,
)
from rtstate.testing.perturb import drop, duplicate, move, swap_adjacent

FLOWS: dict[str, Callable[..., st.SearchStrategy[Flow]]] = {
    "session_updates": session_updates,
    "item_creates": item_creates,
    "text_responses": text_responses,
    "audio_responses": audio_responses,
    "function_call_responses": function_call_responses,
    "vad_turns": vad_turns,
    "manual_commit_turns": manual_commit_turns,
    "barge_ins": barge_ins,
    "client_cancels": client_cancels,
    "truncates": truncates,
    "deletes": deletes,
    "clears": clears,
    "error_flows": error_flows,
    "any_flows": any_flows,
}

quick = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_valid(script: Script) -> None:
    violations = check_script(script)
    assert not violations, format_violations(violations, script.server_events)


def of(events: list[Any], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def reachable(strategy: st.SearchStrategy[Any], predicate: Callable[[Any], bool]) -> Any:
    """An example satisfying ``predicate``: proves the strategy can generate it."""
    return find(
        strategy,
        predicate,
        settings=settings(
            max_examples=3_000,
            database=None,
            deadline=None,
            phases=[Phase.generate],  # the first example found will do: no shrinking
            suppress_health_check=list(HealthCheck),
        ),
    )


# --- validity ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(in_dialects(sessions))
def test_sessions_are_valid_both_sides(case: tuple[Dialect, Script]) -> None:
    dialect, script = case
    assert_valid(script)
    assert script.server_events[0].type == "session.created"
    ga_only = {type(e) for e in script.server_events} & set(s.GA_SERVER_EVENT_TYPES)
    if dialect == "beta":
        assert not ga_only
    else:
        assert not of(script.server_events, s.ConversationItemCreated)
        assert not of(script.server_events, s.ConversationCreated)
        first = script.server_events[0]
        assert isinstance(first, s.SessionCreated)
        assert first.session.temperature is None


@quick
@given(in_dialects(streams))
def test_streams_are_valid(case: tuple[Dialect, list[Any]]) -> None:
    assert check_stream(case[1]) == []


@quick
@given(in_dialects(session_starts))
def test_session_starts(case: tuple[Dialect, Flow]) -> None:
    dialect, flow = case
    assert flow.context.dialect == dialect
    assert_valid(flow.script)
    events = flow.server_events
    assert isinstance(events[0], s.SessionCreated)
    assert flow.context.started
    assert {e.type for e in events} <= {
        "session.created",
        "conversation.created",
        "session.updated",
    }


@pytest.mark.parametrize("name", sorted(FLOWS))
@quick
@given(data=st.data())
def test_each_flow_alone_is_a_valid_session(name: str, data: st.DataObject) -> None:
    flow = data.draw(FLOWS[name](dialect=data.draw(dialects)))
    assert_valid(flow.script)
    assert flow.server_events[0].type == "session.created"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_flows_continue_a_context(data: st.DataObject) -> None:
    dialect = data.draw(dialects, label="dialect")
    first = data.draw(
        FLOWS[data.draw(st.sampled_from(sorted(FLOWS)), label="first")](dialect=dialect)
    )
    name = data.draw(st.sampled_from(sorted(FLOWS)), label="second")
    second = data.draw(FLOWS[name](first.context))
    assert second.context.dialect == dialect
    assert second.script.server_events == [] or second.server_events[0].type != "session.created"
    assert_valid(first.script + second.script)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(in_dialects(streams), st.data())
def test_fragments_of_valid_streams_are_valid_fragments(
    case: tuple[Dialect, list[Any]], data: st.DataObject
) -> None:
    """A log that starts late (from_start=False) or stops early (complete=False), as the
    corpus's liusida capture does, is checked without false alarms."""
    events = case[1]
    start = data.draw(st.integers(0, len(events)), label="start")
    stop = data.draw(st.integers(start, len(events)), label="stop")
    for fragment, from_start, complete in [
        (events[start:], False, True),
        (events[:stop], True, False),
        (events[start:stop], False, False),
    ]:
        violations = check_stream(fragment, from_start=from_start, complete=complete)
        assert not violations, format_violations(violations, fragment)


# --- the shape of each flow -------------------------------------------------------------------


@quick
@given(in_dialects(text_responses))
def test_text_response_shape(case: tuple[Dialect, Flow]) -> None:
    _, flow = case
    events = flow.server_events
    (created,) = of(events, s.ResponseCreated)
    (done,) = of(events, s.ResponseDone)
    assert created.response.status == "in_progress"
    assert created.response.output == ()
    assert created.response.usage is None
    assert done.response.output == tuple(e.item for e in of(events, s.ResponseOutputItemDone))
    usage = done.response.usage
    assert usage is not None
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    if done.response.status == "completed":
        assert done.response.status_details is None
        (text,) = of(events, s.ResponseTextDone)
        assert text.text == "".join(e.delta for e in of(events, s.ResponseTextDelta))
    assert of(events, s.ResponseAudioDelta) == []
    assert len(of(flow.client_events, c.ResponseCreate)) == 1


@quick
@given(in_dialects(audio_responses))
def test_audio_response_shape(case: tuple[Dialect, Flow]) -> None:
    _, flow = case
    events = flow.server_events
    for delta in of(events, s.ResponseAudioDelta):
        size = len(base64.b64decode(delta.delta, validate=True))
        assert size % 2 == 0
        assert 20 * 48 <= size <= 100 * 48  # 20..100 ms of pcm16 at 24 kHz
    for part in of(events, s.ResponseContentPartAdded):
        assert part.part.type == "audio"
    (done,) = of(events, s.ResponseDone)
    if done.response.status == "completed":
        assert of(events, s.ResponseAudioDelta)
        (transcript,) = of(events, s.ResponseAudioTranscriptDone)
        deltas = of(events, s.ResponseAudioTranscriptDelta)
        assert transcript.transcript == "".join(d.delta for d in deltas)


@quick
@given(in_dialects(function_call_responses, follow_up=True))
def test_function_call_shape(case: tuple[Dialect, Flow]) -> None:
    _, flow = case
    events = flow.server_events
    (args,) = of(events, s.ResponseFunctionCallArgumentsDone)
    deltas = of(events, s.ResponseFunctionCallArgumentsDelta)
    assert args.arguments == "".join(d.delta for d in deltas)
    assert isinstance(json.loads(args.arguments), dict)
    assert args.call_id.startswith("call_")
    assert len(args.call_id) == len("call_") + 16
    (first_done, *_) = of(events, s.ResponseDone)
    calls = [o for o in first_done.response.output if o.type == "function_call"]
    assert [o.call_id for o in calls] == [args.call_id]
    assert first_done.response.output[-1].type == "function_call"  # after any message
    outputs = [e.item for e in of(flow.client_events, c.ConversationItemCreate) if e.item.call_id]
    assert [o.call_id for o in outputs] == [args.call_id]
    assert len(of(events, s.ResponseDone)) == 2


@quick
@given(in_dialects(vad_turns))
def test_vad_turn_shape(case: tuple[Dialect, Flow]) -> None:
    dialect, flow = case
    events = flow.server_events
    (started,) = of(events, s.InputAudioBufferSpeechStarted)
    (stopped,) = of(events, s.InputAudioBufferSpeechStopped)
    (committed,) = of(events, s.InputAudioBufferCommitted)
    user = [e for e in joins(events) if e.item.role == "user"]
    assert started.item_id == stopped.item_id == committed.item_id == user[-1].item.id
    order = [events.index(e) for e in (started, stopped, committed, user[-1])]
    assert order == sorted(order)
    if dialect == "ga":  # the committed item is final at once
        done = events[events.index(user[-1]) + 1]
        assert isinstance(done, s.ConversationItemDone)
        assert done.item == user[-1].item
    assert stopped.audio_end_ms > started.audio_start_ms
    appended = sum(
        len(base64.b64decode(e.audio)) for e in of(flow.client_events, c.InputAudioBufferAppend)
    )
    assert appended // 48 >= stopped.audio_end_ms  # the audio the server heard was sent


@quick
@given(in_dialects(barge_ins))
def test_barge_in_shape(case: tuple[Dialect, Flow]) -> None:
    _, flow = case
    events = flow.server_events
    first_done = of(events, s.ResponseDone)[0]
    speech = of(events, s.InputAudioBufferSpeechStarted)[0]
    assert events.index(speech) < events.index(first_done)
    info = first_done.response
    assert (info.status, info.status_details.type, info.status_details.reason) == (
        "cancelled",
        "cancelled",
        "turn_detected",
    )
    if info.output:
        assert info.output[-1].status == "incomplete"
    for truncate in of(flow.client_events, c.ConversationItemTruncate):
        (ack,) = of(events, s.ConversationItemTruncated)
        assert (ack.item_id, ack.audio_end_ms) == (truncate.item_id, truncate.audio_end_ms)


@quick
@given(in_dialects(client_cancels))
def test_client_cancel_shape(case: tuple[Dialect, Flow]) -> None:
    dialect, flow = case
    events = flow.server_events
    (cancel,) = of(flow.client_events, c.ResponseCancel)
    (done,) = of(events, s.ResponseDone)
    errors = of(events, s.Error)
    if errors:  # the race: the response had finished
        assert done.response.status == "completed"
        assert errors[0].error.event_id == cancel.event_id
        codes = {
            "beta": (None, "response_cancel_not_active"),
            "ga": ("response_cancel_not_active",),
        }
        assert errors[0].error.code in codes[dialect]
    else:
        details = done.response.status_details
        assert (done.response.status, details.reason) == ("cancelled", "client_cancelled")
        cancel_at = flow.script.events.index(("client", cancel))
        assert cancel_at < flow.script.events.index(("server", done))


@quick
@given(in_dialects(truncates))
def test_truncate_shape(case: tuple[Dialect, Flow]) -> None:
    _, flow = case
    (request,) = of(flow.client_events, c.ConversationItemTruncate)
    (ack,) = of(flow.server_events, s.ConversationItemTruncated)
    assert (ack.item_id, ack.content_index, ack.audio_end_ms) == (
        request.item_id,
        request.content_index,
        request.audio_end_ms,
    )
    heard = sum(
        len(base64.b64decode(d.delta))
        for d in of(flow.server_events, s.ResponseAudioDelta)
        if d.item_id == ack.item_id
    )
    assert 0 <= ack.audio_end_ms < heard // 48


@pytest.mark.parametrize(
    "kind",
    [
        "invalid_session_update",
        "active_response",
        "commit_empty",
        "cancel_inactive",
        "delete_unknown",
        "truncate_unknown",
        "unknown_previous_item",
        "unknown_event_type",
        "server_error",
    ],
)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_error_flows(kind: str, data: st.DataObject) -> None:
    flow = data.draw(error_flows(kind=kind, dialect=data.draw(dialects)))
    assert_valid(flow.script)
    (error,) = of(flow.server_events, s.Error)
    if kind == "server_error":
        assert error.error.event_id is None
        return
    culprit = flow.client_events[-1]  # the rejected event is the last one sent
    assert error.error.event_id == culprit.event_id
    assert error.error.type == "invalid_request_error"
    if kind == "invalid_session_update":
        after = flow.server_events[flow.server_events.index(error) :]
        assert of(after, s.SessionUpdated) == []
        assert error.error.param == "session.tools[0].description"
    if kind == "active_response":
        (done,) = of(flow.server_events, s.ResponseDone)
        assert flow.server_events.index(error) < flow.server_events.index(done)


def test_argument_errors() -> None:
    with pytest.raises(ValueError, match="unknown error kind"):
        error_flows(kind="nope")
    with pytest.raises(ValueError, match="min_flows"):
        sessions(min_flows=3, max_flows=2)
    with pytest.raises(ValueError, match="not started"):
        text_responses(Context())
    with pytest.raises(ValueError, match="kinds"):
        perturbed(streams(), kinds=["nope"])
    with pytest.raises(ValueError, match="dialect"):
        sessions(dialect="v2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="keeps its dialect"):
        text_responses(Context(dialect="beta", session=SessionConfig()), dialect="ga")


# --- ids and the conversation order -----------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(in_dialects(sessions))
def test_ids_are_unique_and_well_formed(case: tuple[Dialect, Script]) -> None:
    script = case[1]
    events = script.server_events
    event_ids = [e.event_id or "" for e in events]
    assert len(set(event_ids)) == len(event_ids)
    assert all(i.startswith("event_") and len(i) == 27 for i in event_ids)
    responses = [e.response.id for e in of(events, s.ResponseCreated)]
    assert len(set(responses)) == len(responses)
    created = [e.item.id for e in joins(events)]
    assert len(set(created)) == len(created)
    client_ids = [e.event_id for e in script.client_events if e.event_id is not None]
    assert len(set(client_ids)) == len(client_ids)
    for added in of(events, s.ResponseOutputItemAdded):
        assert added.item.id.startswith("item_")
        assert len(added.item.id) == 26


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(in_dialects(sessions))
def test_previous_item_id_chains_the_conversation(case: tuple[Dialect, Script]) -> None:
    """Rebuild the conversation independently: an item follows the last one, unless the
    client created it after a given item (its answer comes right after its request).
    GA's ``conversation.item.done`` names the item's place, or null."""
    conversation: list[str] = []
    steps = case[1].events
    for n, (_, event) in enumerate(steps):
        if isinstance(event, s.ConversationItemDone):
            at = conversation.index(event.item.id or "")
            assert event.previous_item_id in (None, conversation[at - 1] if at else None)
        elif isinstance(event, s.ConversationItemCreated | s.ConversationItemAdded):
            assert event.item.id is not None
            request = steps[n - 1][1] if n else None
            asked = (
                request.previous_item_id if isinstance(request, c.ConversationItemCreate) else None
            )
            if asked is not None:
                assert event.previous_item_id == asked
                conversation.insert(conversation.index(asked) + 1, event.item.id)
            else:
                expected = conversation[-1] if conversation else None
                assert event.previous_item_id == expected
                conversation.append(event.item.id)
        elif isinstance(event, s.InputAudioBufferCommitted):
            assert event.previous_item_id == (conversation[-1] if conversation else None)
        elif isinstance(event, s.ConversationItemDeleted):
            conversation.remove(event.item_id)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(in_dialects(sessions))
def test_output_and_content_indexes(case: tuple[Dialect, Script]) -> None:
    script = case[1]
    by_response: dict[str, list[int]] = {}
    for e in of(script.server_events, s.ResponseOutputItemAdded):
        by_response.setdefault(e.response_id, []).append(e.output_index)
    for indexes in by_response.values():
        assert indexes == list(range(len(indexes)))
    for part in of(script.server_events, s.ResponseContentPartAdded):
        assert part.content_index == 0


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
def test_generation_is_deterministic() -> None:
    """No hidden randomness (uuid, random): the same draws give the same session."""
    derandomized = settings(
        max_examples=200,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )

    def long_enough(script: Script) -> bool:
        return len(script.server_events) > 30

    for dialect in DIALECTS:
        first = find(sessions(dialect=dialect), long_enough, settings=derandomized)
        second = find(sessions(dialect=dialect), long_enough, settings=derandomized)
        assert first == second


# --- what the generators can reach ------------------------------------------------------------


def _late_transcription(script: Script) -> bool:
    """A transcription that arrives while a later response (one that began after the
    user item was created) is streaming: between its response.created and response.done."""
    events = script.server_events
    for n, e in enumerate(events):
        if not isinstance(e, s.ConversationItemInputAudioTranscriptionCompleted):
            continue
        created = next(
            k
            for k, x in enumerate(events)
            if isinstance(x, s.ConversationItemCreated | s.ConversationItemAdded)
            and x.item.id == e.item_id
        )
        open_responses: set[str | None] = set()
        for x in events[created + 1 : n]:
            if isinstance(x, s.ResponseCreated):
                open_responses.add(x.response.id)
            elif isinstance(x, s.ResponseDone):
                open_responses.discard(x.response.id)
        if open_responses:
            return True
    return False


@pytest.mark.parametrize(
    ("strategy", "predicate"),
    [
        (sessions(dialect="beta"), _late_transcription),
        (sessions(dialect="ga"), _late_transcription),
        (
            vad_turns(dialect="ga"),
            lambda f: len(of(f.server_events, s.ConversationItemInputAudioTranscriptionDelta)) > 1,
        ),
        (
            sessions(dialect="ga"),
            lambda sc: (
                any(
                    e.previous_item_id is None and e.item.role == "assistant"
                    for e in of(sc.server_events, s.ConversationItemDone)
                )
                and any(
                    e.previous_item_id is not None and e.item.role == "assistant"
                    for e in of(sc.server_events, s.ConversationItemDone)
                )
            ),
        ),
        (
            sessions(),
            lambda sc: (
                not of(sc.server_events, s.ConversationCreated) and len(sc.server_events) > 10
            ),
        ),
        (sessions(dialect="beta"), lambda sc: bool(of(sc.server_events, s.ConversationCreated))),
        (
            sessions(),
            lambda sc: any(e.rate_limits == () for e in of(sc.server_events, s.RateLimitsUpdated)),
        ),
        (
            sessions(dialect="beta"),
            lambda sc: any(
                e.error.code is None and e.error.event_id is not None
                for e in of(sc.server_events, s.Error)
            ),
        ),
        (
            sessions(),
            lambda sc: any(
                isinstance(e, c.ConversationItemCreate) and e.previous_item_id is not None
                for e in sc.client_events
            ),
        ),
        (
            text_responses(),
            lambda f: any(
                e.response.status == "incomplete" for e in of(f.server_events, s.ResponseDone)
            ),
        ),
        (
            text_responses(),
            lambda f: any(
                e.response.status == "failed" for e in of(f.server_events, s.ResponseDone)
            ),
        ),
        (
            audio_responses(),
            lambda f: (
                [type(e) for e in f.server_events].index(s.ResponseAudioTranscriptDone)
                < [type(e) for e in f.server_events].index(s.ResponseAudioDone)
            ),
        ),
        (
            function_call_responses(),
            lambda f: len(of(f.server_events, s.ResponseOutputItemAdded)) == 2,
        ),
        (
            vad_turns(),
            lambda f: any(
                isinstance(e, s.ConversationItemInputAudioTranscriptionFailed)
                for e in f.server_events
            ),
        ),
        (sessions(), lambda sc: bool(of(sc.server_events, s.ConversationItemDeleted))),
        (
            sessions(),
            lambda sc: any(
                e.error.code == "session_expired" for e in of(sc.server_events, s.Error)
            ),
        ),
    ],
    ids=[
        "late_transcription_during_a_later_response",
        "ga_late_transcription_during_a_later_response",
        "ga_transcription_deltas",
        "ga_item_done_previous_null_or_not",
        "no_conversation_created",
        "conversation_created",
        "empty_rate_limits",
        "error_code_null",
        "insert_after_item",
        "incomplete_response",
        "failed_response",
        "transcript_done_first",
        "message_then_call",
        "transcription_failed",
        "delete",
        "session_expired",
    ],
)
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
def test_reachable(strategy: st.SearchStrategy[Any], predicate: Callable[[Any], bool]) -> None:
    example = reachable(strategy, predicate)
    script = example.script if isinstance(example, Flow) else example
    assert_valid(script)


# --- frames -----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(in_dialects(sessions))
def test_frames_round_trip(case: tuple[Dialect, Script]) -> None:
    dialect, script = case
    codec = codec_for(dialect)
    for _, frame in script.frames(dialect):
        assert isinstance(frame, str)
        json.loads(frame)
    for direction, event in script.events:
        frame = codec.encode(event)
        decoded = (
            codec.decode_server(frame) if direction == "server" else codec.decode_client(frame)
        )
        assert decoded == event
    server = script.server_events
    assert decode_stream(encode_stream(server, dialect), dialect) == server


def test_script_checks_directions() -> None:
    cancel = c.ResponseCancel()
    rl = s.RateLimitsUpdated(event_id="event_1", rate_limits=())
    script = Script([("client", cancel)]) + Script([("server", rl)])
    assert script.client_events == [cancel]
    assert script.server_events == [rl]
    assert len(script) == 2
    with pytest.raises(TypeError):
        Script([("server", cancel)])
    with pytest.raises(ValueError, match="direction"):
        Script([("peer", rl)])  # type: ignore[list-item]


@settings(max_examples=10, deadline=None)
@given(in_dialects(rate_limits_updates))
def test_rate_limits_updates(case: tuple[Dialect, s.RateLimitsUpdated]) -> None:
    dialect, event = case
    codec = codec_for(dialect)
    assert codec.decode_server(codec.encode(event)) == event
    names = {"beta": {"requests", "tokens"}, "ga": {"tokens"}}[dialect]
    assert {r.name for r in event.rate_limits} <= names
    assert all(r.remaining <= r.limit for r in event.rate_limits)  # type: ignore[operator]


# --- perturbations ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dialects.flatmap(lambda d: benign_perturbations(sessions(dialect=d), dialect=d)))
def test_benign_perturbations_keep_streams_valid(result: tuple[list[Any], list[str]]) -> None:
    events, applied = result
    assert applied
    assert set(applied) <= set(BENIGN)
    assert check_stream(events) == [], (applied, format_violations(check_stream(events), events))


@given(data=st.data())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_benign_perturbations_on_flows(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(FLOWS)))
    dialect = data.draw(dialects)
    flows = FLOWS[name](dialect=dialect).map(lambda f: f.script)
    events, applied = data.draw(benign_perturbations(flows, dialect=dialect))
    assert check_stream(events) == [], (name, applied)


def test_harmful_perturbations_are_usually_flagged() -> None:
    flagged: Counter[str] = Counter()
    total: Counter[str] = Counter()

    @settings(
        max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(dialects.flatmap(lambda d: perturbed(sessions(dialect=d), kinds=HARMFUL, max_count=1)))
    def run(result: tuple[list[Any], list[str]]) -> None:
        events, (name,) = result
        total[name] += 1
        flagged[name] += bool(check_stream(events))

    run()
    for name in ("created_before_added", "duplicate"):
        assert flagged[name] == total[name] > 0, name  # always caught (INV-7; ID-1)
    caught = sum(flagged.values()) / sum(total.values())
    assert caught > 0.6, (flagged, total)


@settings(max_examples=15, deadline=None)
@given(in_dialects(text_responses))
def test_specific_harmful_perturbations(case: tuple[Dialect, Flow]) -> None:
    events = case[1].server_events
    created = next(n for n, e in enumerate(events) if isinstance(e, s.ResponseCreated))
    done = next(n for n, e in enumerate(events) if isinstance(e, s.ResponseDone))

    def flagged(perturbed: list[Any]) -> set[str]:
        return {v.invariant for v in check_stream(perturbed)}

    assert "INV-4" in flagged(duplicate(events, created))
    assert "INV-4" in flagged(drop(events, done))
    assert "INV-1" in flagged(drop(events, 0))
    added = [n for n, e in enumerate(events) if isinstance(e, s.ResponseOutputItemAdded)]
    if added:
        item_created = added[0] + 1
        assert events[item_created] in joins(events)
        assert "INV-7" in flagged(move(events, item_created, added[0]))
        assert "INV-7" in flagged(drop(events, item_created))
        item_done = [n for n, e in enumerate(events) if isinstance(e, s.ResponseOutputItemDone)]
        assert "INV-12" in flagged(drop(events, item_done[0]))
    deltas = {n: e.delta for n, e in enumerate(events) if isinstance(e, s.ResponseTextDelta)}
    if deltas:
        assert {"ID-1", "INV-9"} <= flagged(duplicate(events, min(deltas)))
        pair = [n for n in deltas if n + 1 in deltas and deltas[n] != deltas[n + 1]]
        if pair:
            assert "INV-9" in flagged(swap_adjacent(events, pair[0]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    in_dialects(
        lambda dialect: perturbed_frames(
            streams(dialect=dialect), kinds=(), min_count=0, max_count=0, dialect=dialect
        )
    )
)
def test_truncated_frames_do_not_decode(case: tuple[Dialect, tuple[list[str], list[str]]]) -> None:
    dialect, (frames, applied) = case
    failed = 0
    for frame in frames:
        try:
            codec_for(dialect).decode_server(frame)
        except RemoteProtocolError:
            failed += 1
    cut = applied.count("truncated_frame")
    if cut:
        assert 1 <= failed <= cut
    else:
        assert failed == 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    in_dialects(
        lambda dialect: perturbed_frames(
            sessions(dialect=dialect), kinds=BENIGN, min_count=1, truncated=False, dialect=dialect
        )
    )
)
def test_benign_frames_decode_to_a_valid_stream(
    case: tuple[Dialect, tuple[list[str], list[str]]],
) -> None:
    dialect, (frames, applied) = case
    assert "truncated_frame" not in applied
    events = decode_stream(frames, dialect)
    assert check_stream(events) == []


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
def test_perturbed_scripts_keep_their_client_side_unchanged() -> None:
    """Perturbations touch the server side only: the result is a plain event list."""
    example = reachable(perturbed(sessions(), kinds=["drop"]), lambda r: bool(r[1]))
    events, applied = example
    assert applied == ["drop"]
    assert all(isinstance(e, s.ServerEvent | s.UnknownServerEvent) for e in events)


# --- without hypothesis -----------------------------------------------------------------------

_WITHOUT_HYPOTHESIS = """
import sys
sys.modules["hypothesis"] = None  # any import of hypothesis now fails
from rtstate.testing import Script, check_stream
from rtstate.testing.invariants import assert_valid_stream
assert check_stream([]) == []
for statement in (
    "from rtstate.testing import sessions",
    "import rtstate.testing.strategies",
    "import rtstate.testing.perturb",
    "from rtstate.testing import *",
):
    try:
        exec(statement)
    except ImportError as exc:
        assert "pip install 'rtstate[test]'" in str(exc), (statement, exc)
    else:
        raise AssertionError(statement + " did not raise ImportError")
print("ok")
"""


def test_checkers_work_without_hypothesis_and_strategies_say_what_to_install() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_HYPOTHESIS], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
