"""The state's read-only queries, its frozenness, and the persistence of old snapshots.

Sequences are built inline from ``rtstate.events`` classes, in the canonical order of
text, audio and function-call responses and server VAD turns, and folded with ``rtstate.fold``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import pytest
from immutables import Map
from support.helpers import Server

from rtstate import Config, SessionState, Step, fold
from rtstate.config import AudioRetention
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    ErrorInfo,
    Item,
)
from rtstate.logs import AudioWindow
from rtstate.state import (
    InputBufferPhase,
    ItemPhase,
    ItemState,
    PartPhase,
    ResponsePhase,
    SessionPhase,
)
from rtstate.step import Closed, Input

DEFAULT = Config()


def fold_all(
    inputs: Iterable[Input], config: Config = DEFAULT, state: SessionState | None = None
) -> tuple[SessionState, list[Step]]:
    state = SessionState() if state is None else state
    steps = []
    for event in inputs:
        step = fold(state, event, config)
        assert step.before is state
        steps.append(step)
        state = step.after
    return state, steps


def _clean(steps: Iterable[Step]) -> None:
    problems = [d for step in steps for d in step.diagnostics]
    assert problems == []


# --- conversation order ------------------------------------------------------------------


def test_items_follow_previous_item_id() -> None:
    srv = Server()
    state, steps = fold_all(
        [
            srv.session_created(),
            srv.user_message("first", item_id="a", previous_item_id=None),
            srv.user_message("second", item_id="b", previous_item_id="a"),
            srv.user_message(
                "between a and b", item_id="c", previous_item_id="a"
            ),  # into the middle
            srv.user_message("new head", item_id="d", previous_item_id=None),  # at the head
            srv.user_message("tail", item_id="e", previous_item_id="b"),
        ]
    )
    _clean(steps)
    assert [i.id for i in state.items] == ["d", "a", "c", "b", "e"]
    assert [i.text for i in state.items] == [
        "new head",
        "first",
        "between a and b",
        "second",
        "tail",
    ]
    assert len(state.order) == 5
    assert list(state.order) == ["d", "a", "c", "b", "e"]
    assert (state.order.head, state.order.tail) == ("d", "e")
    assert "c" in state.order
    assert "zzz" not in state.order
    # the snapshots along the way kept their own order
    assert [[i.id for i in step.after.items] for step in steps[1:]] == [
        ["a"],
        ["a", "b"],
        ["a", "c", "b"],
        ["d", "a", "c", "b"],
        ["d", "a", "c", "b", "e"],
    ]


def test_deleted_items_leave_the_order() -> None:
    srv = Server()
    events: list[Input] = [srv.session_created()]
    previous = None
    for name in "abcde":
        events.append(srv.user_message(name.upper(), item_id=name, previous_item_id=previous))
        previous = name
    events += [  # middle, head, tail
        s.ConversationItemDeleted(event_id=srv.event_id(), item_id=name) for name in ("c", "a", "e")
    ]
    state, steps = fold_all(events)
    _clean(steps)
    assert [i.id for i in state.items] == ["b", "d"]
    assert (state.order.head, state.order.tail, len(state.order)) == ("b", "d", 2)
    assert state.item("c") is None
    # a new item after the new tail links up
    state, _ = fold_all([srv.user_message("F", item_id="f", previous_item_id="d")], state=state)
    assert [i.id for i in state.items] == ["b", "d", "f"]


def test_item_finds_announced_items_that_are_not_yet_in_the_order() -> None:
    srv = Server()
    item = Item(id="it_1", type="message", role="assistant", status="in_progress", content=())
    events = [
        srv.session_created(),
        srv.response_created("resp_1"),
        s.ResponseOutputItemAdded(
            event_id=srv.event_id(), response_id="resp_1", output_index=0, item=item
        ),
    ]
    state, steps = fold_all(events)
    _clean(steps)
    announced = state.item("it_1")
    assert announced is not None
    assert announced.phase is ItemPhase.ANNOUNCED
    assert announced.response_id == "resp_1"
    assert announced.output_index == 0
    assert state.items == ()  # announced, not in the conversation yet
    assert state.item("nope") is None
    state, _ = fold_all(
        [s.ConversationItemCreated(event_id=srv.event_id(), item=item, previous_item_id=None)],
        state=state,
    )
    created = state.item("it_1")
    assert created is not None
    assert created.phase is ItemPhase.IN_PROGRESS
    assert [i.id for i in state.items] == ["it_1"]


# --- responses ---------------------------------------------------------------------------


def test_active_response_and_response_by_id() -> None:
    srv = Server()
    events = [
        srv.session_created(),
        *srv.text_response(["Hi"], response_id="resp_1", item_id="it_1", previous_item_id=None),
    ]
    state, steps = fold_all(events[:3])
    active = state.active_response
    assert active is not None
    assert (active.id, active.phase, active.output) == (
        "resp_1",
        ResponsePhase.IN_PROGRESS,
        ("it_1",),
    )
    assert state.response_by_id("resp_1") is active
    state, steps = fold_all(events[3:], state=state)
    _clean(steps)
    assert state.active_response is None
    done = state.response_by_id("resp_1")
    assert done is not None
    assert (done.phase, done.status, done.output) == (ResponsePhase.DONE, "completed", ("it_1",))
    assert state.response_by_id("resp_2") is None


def test_response_history_is_bounded() -> None:
    srv = Server()
    config = Config(max_finished_responses=3)
    events: list[Input] = [srv.session_created()]
    previous = None
    for n in range(1, 8):
        events += srv.text_response(
            [str(n)], response_id=f"resp_{n}", item_id=f"it_{n}", previous_item_id=previous
        )
        previous = f"it_{n}"
    state, steps = fold_all(events, config)
    _clean(steps)
    assert [r.id for r in state.finished] == ["resp_5", "resp_6", "resp_7"]
    for n in (5, 6, 7):
        found = state.response_by_id(f"resp_{n}")
        assert found is not None
        assert found.id == f"resp_{n}"
    for n in (1, 2, 3, 4):
        assert state.response_by_id(f"resp_{n}") is None
    # the items stay: only response records are forgotten
    assert [i.text for i in state.items] == ["1", "2", "3", "4", "5", "6", "7"]


@pytest.mark.parametrize("limit", [1, 2, 16])
def test_history_limit_holds_at_every_size(limit: int) -> None:
    srv = Server()
    config = Config(max_finished_responses=limit)
    events: list[Input] = [srv.session_created()]
    for n in range(20):
        events += srv.text_response(
            ["x"],
            response_id=f"resp_{n}",
            item_id=f"it_{n}",
            previous_item_id=f"it_{n - 1}" if n else None,
        )
    state, _ = fold_all(events, config)
    assert len(state.finished) == limit
    assert state.finished[-1].id == "resp_19"


def test_rate_limit_query() -> None:
    srv = Server()
    state, steps = fold_all(
        [
            srv.session_created(),
            srv.rate_limits(("requests", 1000, 99, 1.5), ("tokens", 1000, 5000, 1.5)),
        ]
    )
    _clean(steps)
    requests = state.rate_limit("requests")
    assert requests is not None
    assert (requests.name, requests.limit, requests.remaining, requests.reset_seconds) == (
        "requests",
        1000,
        99,
        1.5,
    )
    assert requests.revision == state.revision
    tokens = state.rate_limit("tokens")
    assert tokens is not None
    assert tokens.remaining == 5000
    assert state.rate_limit("images") is None
    later, _ = fold_all([srv.rate_limits(("requests", 1000, 98, 1.5))], state=state)
    updated = later.rate_limit("requests")
    assert updated is not None
    assert updated.remaining == 98
    assert later.rate_limit("tokens") == tokens  # untouched names are kept
    assert state.rate_limit("requests") == requests  # the old snapshot too


# --- items and parts ---------------------------------------------------------------------


def _pcm(n: int, seed: int) -> bytes:
    return bytes((seed + i) % 256 for i in range(n))


def test_item_text_transcript_audio_and_arguments() -> None:
    srv = Server()
    audio = [_pcm(960, 1), _pcm(4800, 2), _pcm(48, 3)]
    events = [
        srv.session_created(),
        *srv.text_response(
            ["Hel", "lo", " world"], response_id="resp_1", item_id="text", previous_item_id=None
        ),
        *srv.audio_response(
            ["Hi", " there"], audio, response_id="resp_2", item_id="voice", previous_item_id="text"
        ),
        *srv.function_call_response(
            "lookup",
            ['{"city":', ' "Paris"}'],
            response_id="resp_3",
            item_id="call",
            call_id="call_call",
            previous_item_id="voice",
        ),
    ]
    state, steps = fold_all(events)
    _clean(steps)

    text = state.item("text")
    assert text is not None
    assert (text.text, text.transcript, text.arguments) == ("Hello world", "", None)
    assert (text.audio_bytes, text.audio_ms) == (0, 0.0)

    voice = state.item("voice")
    assert voice is not None
    assert (voice.text, voice.transcript, voice.arguments) == ("", "Hi there", None)
    assert voice.audio_bytes == 960 + 4800 + 48
    assert voice.audio_ms == pytest.approx((960 + 4800 + 48) / 48)
    assert voice.parts[0].audio_done is True

    call = state.item("call")
    assert call is not None
    assert call.arguments == '{"city": "Paris"}'
    assert (call.text, call.transcript, call.name, call.call_id) == ("", "", "lookup", "call_call")
    assert [i.id for i in state.items] == ["text", "voice", "call"]
    assert all(i.phase is ItemPhase.DONE and i.status == "completed" for i in state.items)


def test_item_text_joins_only_text_parts() -> None:
    srv = Server()
    item = Item(
        id="mixed",
        type="message",
        role="user",
        status="completed",
        content=(
            ContentPart(type="input_text", text="one "),
            ContentPart(type="input_audio", transcript="spoken"),
            ContentPart(type="input_text", text="two"),
        ),
    )
    state, steps = fold_all(
        [
            srv.session_created(),
            s.ConversationItemCreated(event_id=srv.event_id(), item=item, previous_item_id=None),
        ]
    )
    _clean(steps)
    mixed = state.item("mixed")
    assert mixed is not None
    assert (mixed.text, mixed.transcript) == ("one two", "spoken")
    assert mixed.arguments is None


def test_part_transcript_none_versus_empty() -> None:
    srv = Server()
    events: list[Input] = [
        srv.session_created(),
        *srv.vad_turn(100, 900, item_id="user_1", previous_item_id=None),
    ]
    state, steps = fold_all(events)
    _clean(steps)
    user = state.item("user_1")
    assert user is not None
    # an input_audio part whose transcript the server has not given: unknown, not ""
    assert user.parts[0].transcript is None
    assert user.transcript == ""  # the item-level join reads unknown as ""
    assert state.input_buffer.phase is InputBufferPhase.IDLE
    state, _ = fold_all([srv.transcription_completed("user_1", "")], state=state)
    user = state.item("user_1")
    assert user is not None
    assert user.parts[0].transcript == ""  # known to be empty
    state, _ = fold_all([srv.transcription_completed("user_1", "hello")], state=state)
    user = state.item("user_1")
    assert user is not None
    assert user.parts[0].transcript == "hello"
    assert user.transcript == "hello"

    # an output audio part starts with a known empty transcript
    start = srv.audio_response(
        ["a"], [_pcm(48, 0)], response_id="resp_1", item_id="voice", previous_item_id="user_1"
    )[:4]
    state, _ = fold_all(start, state=state)
    voice = state.item("voice")
    assert voice is not None
    assert voice.parts[0].transcript == ""
    assert voice.parts[0].phase is PartPhase.STREAMING
    # a text part has no transcript at all
    text_item = Item(
        id="typed",
        type="message",
        role="user",
        status="completed",
        content=(ContentPart(type="input_text", text="x"),),
    )
    state, _ = fold_all(
        [
            s.ConversationItemCreated(
                event_id=srv.event_id(), item=text_item, previous_item_id="user_1"
            )
        ],
        state=state,
    )
    typed = state.item("typed")
    assert typed is not None
    assert typed.parts[0].transcript is None


def test_truncation_empties_the_transcript() -> None:
    srv = Server()
    events: list[Input] = [
        srv.session_created(),
        *srv.audio_response(
            ["Hello", " there"],
            [_pcm(4800, 0)],
            response_id="resp_1",
            item_id="voice",
            previous_item_id=None,
        ),
        s.ConversationItemTruncated(
            event_id=srv.event_id(), item_id="voice", content_index=0, audio_end_ms=40
        ),
    ]
    state, steps = fold_all(events)
    _clean(steps)
    voice = state.item("voice")
    assert voice is not None
    assert voice.parts[0].truncated_ms == 40
    assert voice.parts[0].transcript == ""
    before = steps[-1].before.item("voice")
    assert before is not None
    assert before.transcript == "Hello there"


def test_transcription_failure_is_recorded() -> None:
    srv = Server()
    failed = s.ConversationItemInputAudioTranscriptionFailed(
        event_id=srv.event_id(),
        item_id="user_1",
        content_index=0,
        error=ErrorInfo(type="transcription_error", message="no"),
    )
    state, steps = fold_all(
        [
            srv.session_created(),
            *srv.vad_turn(100, 900, item_id="user_1", previous_item_id=None),
            failed,
        ]
    )
    _clean(steps)
    user = state.item("user_1")
    assert user is not None
    assert user.transcription_error == ErrorInfo(type="transcription_error", message="no")
    assert user.parts[0].transcript is None


# --- frozen ------------------------------------------------------------------------------


def _a_rich_stream(srv: Server) -> list[Input]:
    audio = [_pcm(480, i) for i in range(6)]
    return [
        srv.session_created(),
        srv.rate_limits(("requests", 1000, 10, 1.5)),
        *srv.vad_turn(100, 900, item_id="user_1", previous_item_id=None),
        *srv.text_response(
            ["Hel", "lo"], response_id="resp_1", item_id="text_1", previous_item_id="user_1"
        ),
        srv.transcription_completed("user_1", "hi"),
        *srv.audio_response(
            ["so", "und"], audio, response_id="resp_2", item_id="voice_1", previous_item_id="text_1"
        ),
        *srv.function_call_response(
            "lookup",
            ['{"a"', ":1}"],
            response_id="resp_3",
            item_id="call_1",
            call_id="call_call_1",
            previous_item_id="voice_1",
        ),
        srv.user_message("typed", item_id="user_2", previous_item_id="call_1"),
        *srv.text_response(
            ["again", "!"], response_id="resp_4", item_id="text_2", previous_item_id="user_2"
        ),
        s.ConversationItemTruncated(
            event_id=srv.event_id(), item_id="voice_1", content_index=0, audio_end_ms=20
        ),
        *srv.audio_response(
            ["x", "y", "z"],
            audio[:3],
            response_id="resp_5",
            item_id="voice_2",
            previous_item_id="text_2",
        ),
        s.ConversationItemDeleted(event_id=srv.event_id(), item_id="user_2"),
        s.Error(
            event_id=srv.event_id(), error=ErrorInfo(type="invalid_request_error", message="m")
        ),
        srv.rate_limits(("requests", 1000, 9, 1.5), ("tokens", 1000, 3, 1.5)),
        Closed(code=1000, reason="bye"),
    ]


def _attrs_values(value: object) -> list[object]:
    """Every attrs instance reachable from ``value`` (through tuples and Maps)."""
    found: list[object] = []
    todo = [value]
    while todo:
        v = todo.pop()
        kind = type(v)
        if attrs.has(kind):
            found.append(v)
            todo.extend(getattr(v, f.name) for f in attrs.fields(kind))
        if isinstance(v, tuple | list | AudioWindow):
            todo.extend(v)
        elif isinstance(v, Map):
            todo.extend(v.values())
    return found


def test_every_state_value_is_frozen() -> None:
    state, _ = fold_all(_a_rich_stream(Server()), Config(audio_retention=AudioRetention.PER_ITEM))
    values = _attrs_values(state)
    kinds = {type(v).__name__ for v in values}
    assert {
        "SessionState",
        "ItemState",
        "PartState",
        "ResponseState",
        "InputBufferState",
        "RateLimitState",
        "SpeechWindow",
        "Order",
        "TextLog",
        "AudioWindow",
        "AudioChunk",
        "SessionConfig",
    } <= kinds
    for value in values:
        kind = type(value)
        assert attrs.has(kind)
        for f in attrs.fields(kind):
            with pytest.raises(attrs.exceptions.FrozenInstanceError):
                setattr(value, f.name, None)
            with pytest.raises(attrs.exceptions.FrozenInstanceError):
                delattr(value, f.name)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        state.brand_new = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        state.items_by_id["x"] = state.items_by_id["text_1"]  # type: ignore[index]
    with pytest.raises(TypeError):
        state.rate_limits["x"] = None  # type: ignore[index]
    assert isinstance(state.items, tuple)
    assert isinstance(state.finished, tuple)


# --- persistence -------------------------------------------------------------------------


def _dump(value: object) -> object:
    """A plain, deep copy of a state's content, text and retained audio included."""
    if isinstance(value, SessionState):
        return {
            "root": repr(value),
            "items": [_dump(i) for i in value.items],
            "announced": sorted(
                repr(_dump(i)) for i in value.items_by_id.values() if i.id not in value.order
            ),
            "audio": [(c.item_id, c.content_index, c.audio, c.ms) for c in value.audio],
            "audio_total": value.audio.total_ms,
            "order": list(value.order),
            "responses": sorted(repr(r) for r in value.responses.values()),
            "finished": repr(value.finished),
            "rate_limits": sorted(repr(r) for r in value.rate_limits.values()),
            "input_buffer": repr(value.input_buffer),
        }
    if isinstance(value, ItemState):
        return (
            repr(value),
            value.text,
            value.transcript,
            value.arguments,
            value.audio_bytes,
            value.audio_ms,
            [(repr(p), p.text, p.transcript, p.text_log.chunk_count) for p in value.parts],
        )
    raise TypeError(type(value))


@pytest.mark.parametrize(
    "config",
    [
        Config(),
        Config(audio_retention=AudioRetention.PER_ITEM),
        Config(audio_retention=AudioRetention.LAST_SECONDS, audio_retention_window=0.02),
        Config(max_finished_responses=1, max_input_buffer_history=1),
    ],
    ids=["default", "per_item", "last_20ms", "short_history"],
)
def test_old_snapshots_never_change(config: Config) -> None:
    srv = Server()
    stream = _a_rich_stream(srv)
    state = SessionState()
    kept: list[tuple[SessionState, object]] = [(state, _dump(state))]
    for event in stream:
        step = fold(state, event, config)
        assert step.diagnostics == ()
        state = step.after
        kept.append((state, _dump(state)))
    # replay the rest of the stream from old snapshots: every delta now appends to a
    # log that is no longer the tip, and must neither leak into others nor differ
    for i in range(0, len(stream), 3):
        replayed, _ = fold_all(stream[i:], config, state=kept[i][0])
        assert _dump(replayed) == kept[-1][1]
    for snapshot, dumped in kept:
        assert _dump(snapshot) == dumped
    final = kept[-1][0]
    assert final.phase is SessionPhase.CLOSED
    assert [i.id for i in final.items] == [
        "user_1",
        "text_1",
        "voice_1",
        "call_1",
        "text_2",
        "voice_2",
    ]


def test_same_inputs_give_equal_states() -> None:
    for config in (Config(), Config(audio_retention=AudioRetention.PER_ITEM)):
        first, steps_1 = fold_all(_a_rich_stream(Server()), config)
        second, steps_2 = fold_all(_a_rich_stream(Server()), config)
        assert first == second
        assert [st.after for st in steps_1] == [st.after for st in steps_2]
        assert [st.transitions for st in steps_1] == [st.transitions for st in steps_2]


def test_order_membership() -> None:
    srv = Server()
    empty = SessionState().order
    assert None not in empty
    assert "a" not in empty
    state, _ = fold_all(
        [
            srv.session_created(),
            srv.user_message("x", item_id="a", previous_item_id=None),
            srv.user_message("y", item_id="b", previous_item_id="a"),
        ]
    )
    assert "a" in state.order
    assert "b" in state.order
    assert None not in state.order
    assert "c" not in state.order
