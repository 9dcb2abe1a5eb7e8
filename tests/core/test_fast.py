"""The fold's fast constructors (``rtstate._build``, ``rtstate._fast``) against the
plain attrs construction they replace.

Each operation must build exactly what ``cls(...)`` / ``attrs.evolve`` builds (the
same objects in the same fields: sentinels compared by identity), and the typed
signatures must say what the classes say: the ``TypedDict`` of an ``evolve_*`` has
the class's fields and types, and mypy refuses a wrong keyword (the ``type: ignore``
comments below would be reported as unused, by ``mypy --strict``, if it did not).
"""

from __future__ import annotations

import types
import typing
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from immutables import Map

from rtstate import _fast
from rtstate._build import dict_setter, new, positional
from rtstate.events.payloads import ContentPart, Item
from rtstate.logs import EMPTY_AUDIO, TextLog, _Chunks
from rtstate.state import (
    InputBufferState,
    ItemPhase,
    ItemState,
    Order,
    PartPhase,
    PartState,
    RateLimitState,
    ResponsePhase,
    ResponseState,
    SessionState,
    SpeechWindow,
)
from rtstate.step import Step
from rtstate.transitions import (
    AudioAppended,
    FunctionCallArgumentsAppended,
    ItemAdded,
    ItemFinished,
    RateLimitsUpdated,
    ResponseFinished,
    ResponseStarted,
    TextAppended,
    TranscriptAppended,
)


@attrs.frozen
class _Awkward:
    """Field names that collide with the generated code's own names."""

    n: int
    v0: int
    o: int
    cls: int
    new: int
    M: int
    s0: int
    r: int
    _private: int = 7
    object: str = "x"


@attrs.frozen
class _Plain:
    a: int
    b: str = "b"
    c: list[int] = attrs.Factory(list)


_CLASSES: list[type[Any]] = [
    SessionState,
    ItemState,
    PartState,
    Step,
    Order,
    ResponseState,
    InputBufferState,
    SpeechWindow,
    RateLimitState,
    ItemAdded,
    TextAppended,
    TranscriptAppended,
    AudioAppended,
    ItemFinished,
    ResponseStarted,
    ResponseFinished,
    RateLimitsUpdated,
    TextLog,
    _Awkward,
    _Plain,
]


def _sentinels(
    cls: type[Any], data: st.DataObject, *, required_only: bool = False
) -> dict[str, Any]:
    """Keyword arguments for ``cls``: every required field and a drawn subset of the
    others, each a distinct sentinel."""
    fields = attrs.fields(cls)
    optional = [f.alias for f in fields if f.default is not attrs.NOTHING]
    chosen = set() if required_only else data.draw(st.sets(st.sampled_from(optional or [""])))
    return {f.alias: object() for f in fields if f.default is attrs.NOTHING or f.alias in chosen}


@pytest.mark.parametrize("cls", _CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=20)
@given(data=st.data())
def test_new_builds_what_the_constructor_builds(cls: type[Any], data: st.DataObject) -> None:
    kwargs = _sentinels(cls, data)
    built = new(cls)(**kwargs)
    expected = cls(**kwargs)
    assert type(built) is cls
    for f in attrs.fields(cls):
        if f.alias in kwargs:
            assert getattr(built, f.name) is kwargs[f.alias], f.name
        else:  # a default (a factory's fresh value: equal, not the same)
            assert getattr(built, f.name) == getattr(expected, f.name), f.name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(built, attrs.fields(cls)[0].name, 1)


@pytest.mark.parametrize("cls", _CLASSES, ids=lambda c: c.__name__)
def test_positional_builds_what_the_constructor_builds(cls: type[Any]) -> None:
    fields = attrs.fields(cls)
    values = [object() for _ in fields]
    built = positional(cls)(*values)
    expected = cls(**{f.alias: v for f, v in zip(fields, values, strict=True)})
    assert type(built) is cls
    for f, v in zip(fields, values, strict=True):
        assert getattr(built, f.name) is v is getattr(expected, f.name)


_POSITIONAL: list[tuple[type[Any], Any, Any]] = [
    (TextAppended, _fast.new_text_appended, _fast.NewTextAppended),
    (TranscriptAppended, _fast.new_transcript_appended, _fast.NewTranscriptAppended),
    (AudioAppended, _fast.new_audio_appended, _fast.NewAudioAppended),
    (
        FunctionCallArgumentsAppended,
        _fast.new_arguments_appended,
        _fast.NewFunctionCallArgumentsAppended,
    ),
]


@pytest.mark.parametrize(("cls", "build", "protocol"), _POSITIONAL, ids=lambda v: v.__name__)
def test_the_positional_protocols_are_the_fields_in_order(
    cls: type[Any], build: Any, protocol: Any
) -> None:
    hints = typing.get_type_hints(protocol.__call__)
    del hints["return"]
    assert hints == typing.get_type_hints(cls)
    assert list(hints) == [f.alias for f in attrs.fields(cls)]  # the order of the fields
    assert typing.get_type_hints(protocol.__call__)["return"] is cls
    values = [object() for _ in hints]
    assert build(*values) == cls(**dict(zip(hints, values, strict=True)))


def test_delta_step_is_new_step_with_one_transition() -> None:
    input, before, after, transition = object(), object(), object(), object()
    built = _fast.delta_step(input, before, after, transition)  # type: ignore[arg-type]
    expected = Step(input=input, before=before, after=after, transitions=(transition,))  # type: ignore[arg-type]
    assert type(built) is Step
    for f in attrs.fields(Step):
        assert getattr(built, f.name) == getattr(expected, f.name), f.name
    assert built.input is input and built.after is after and built.transitions[0] is transition
    with pytest.raises(attrs.exceptions.FrozenInstanceError):  # frozen, as Step(...) is
        built.after = before  # type: ignore[misc, assignment]


def test_plain_step_is_new_step_with_its_transitions() -> None:
    input, before, after, transitions = object(), object(), object(), (object(), object())
    built = _fast.plain_step(input, before, after, transitions)  # type: ignore[arg-type]
    expected = Step(input=input, before=before, after=after, transitions=transitions)  # type: ignore[arg-type]
    assert type(built) is Step and built == expected
    for f in attrs.fields(Step):
        assert getattr(built, f.name) == getattr(expected, f.name), f.name
    assert built.input is input and built.before is before and built.after is after
    assert built.transitions is transitions


def test_new_takes_positions_where_the_class_does() -> None:
    assert new(_Plain)(1, "x") == _Plain(1, "x")
    chunks = _Chunks(["a", "b"])
    assert new(TextLog)(chunks, 2).value == TextLog(chunks, 2).value == "ab"
    with pytest.raises(TypeError):
        new(PartState)("text")  # type: ignore[call-arg]  # kw_only, as PartState(...)
    with pytest.raises(TypeError):
        new(PartState)(type="text", nope=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        new(ItemState)(id="i", type="message")  # type: ignore[call-arg]  # phase missing


def test_new_refuses_what_skipping_init_would_break() -> None:
    @attrs.frozen
    class Validated:
        a: int = attrs.field(validator=attrs.validators.instance_of(int))

    @attrs.frozen
    class Converted:
        a: int = attrs.field(converter=int)

    @attrs.frozen
    class PostInit:
        a: int

        def __attrs_post_init__(self) -> None:
            pass

    @attrs.frozen
    class SelfFactory:
        a: int = attrs.Factory(lambda self: 1, takes_self=True)

    @attrs.frozen
    class NoInit:
        a: int = attrs.field(init=False, default=1)

    for cls, message in [
        (Validated, "validator or converter"),
        (Converted, "validator or converter"),
        (PostInit, "__attrs_post_init__"),
        (SelfFactory, "takes self"),
        (NoInit, "not an __init__ parameter"),
    ]:
        with pytest.raises(TypeError, match=message):
            new(cls)


@pytest.mark.parametrize("cls", [SessionState, ItemState, PartState], ids=lambda c: c.__name__)
def test_dict_setter_adopts_the_given_fields(cls: type[Any]) -> None:
    old = cls(**{f.alias: object() for f in attrs.fields(cls)})
    first = attrs.fields(cls)[0].name
    fields = dict(old.__dict__)
    fields[first] = replacement = object()
    built = object.__new__(cls)
    dict_setter(cls, first)(built, fields)
    assert type(built) is cls
    assert getattr(built, first) is replacement
    assert getattr(old, first) is not replacement  # the old one is untouched
    for f in attrs.fields(cls)[1:]:
        assert getattr(built, f.name) is getattr(old, f.name), f.name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(built, first, 1)


def test_dict_setter_refuses_unknown_fields_and_slotted_classes() -> None:
    with pytest.raises(TypeError, match=r"no field\(s\) \['nope'\]"):
        dict_setter(ItemState, "parts", "nope")
    with pytest.raises(TypeError, match="no instance dict: it is not a dict-backed class"):
        dict_setter(_Plain)


# --- rtstate._fast ----------------------------------------------------------------------

_EVOLVES: list[tuple[type[Any], Any, Any]] = [
    (SessionState, _fast.evolve_root, _fast.RootChanges),
    (ItemState, _fast.evolve_item, _fast.ItemChanges),
    (PartState, _fast.evolve_part, _fast.PartChanges),
]


@pytest.mark.parametrize(("cls", "evolve", "changes"), _EVOLVES, ids=lambda v: v.__name__)
def test_the_changes_are_the_fields_with_their_types(
    cls: type[Any], evolve: Any, changes: Any
) -> None:
    names = {f.name for f in attrs.fields(cls)}  # not a ClassVar (SessionState._hot)
    hints = {k: v for k, v in typing.get_type_hints(cls).items() if k in names}
    assert typing.get_type_hints(changes) == hints
    assert [f.name for f in attrs.fields(cls)] == list(typing.get_type_hints(changes))
    assert all(f.alias == f.name for f in attrs.fields(cls))  # evolve writes by alias
    assert changes.__optional_keys__ == frozenset(f.name for f in attrs.fields(cls))


@pytest.mark.parametrize(("cls", "evolve", "changes"), _EVOLVES, ids=lambda v: v.__name__)
@settings(max_examples=30)
@given(data=st.data())
def test_evolve_builds_what_attrs_evolve_builds(
    cls: type[Any], evolve: Any, changes: Any, data: st.DataObject
) -> None:
    fields = attrs.fields(cls)
    old = cls(**{f.alias: object() for f in fields})
    changed = data.draw(st.sets(st.sampled_from([f.name for f in fields])))
    values = {name: object() for name in sorted(changed)}
    built = evolve(old, **values)
    expected = attrs.evolve(old, **values)
    assert type(built) is cls
    for f in fields:
        assert getattr(built, f.name) is getattr(expected, f.name), f.name
        assert getattr(old, f.name) is not values.get(f.name)  # the old one is untouched


def test_the_part_copies_are_evolves_with_fixed_changes() -> None:
    sentinels: dict[str, Any] = {f.name: object() for f in attrs.fields(PartState)}
    old = PartState(**sentinels)
    a: Any = object()
    b: Any = object()
    c: Any = object()
    cases: list[tuple[PartState, dict[str, Any]]] = [
        (
            _fast.part_finished(old, a, b, c),
            {"phase": a, "text_log": b, "transcript_log": c},
        ),
    ]
    for built, changes in cases:
        expected = attrs.evolve(old, **changes)
        assert type(built) is PartState
        for f in attrs.fields(PartState):
            assert getattr(built, f.name) is getattr(expected, f.name), f.name
        assert all(getattr(old, name) is not value for name, value in changes.items())


def test_a_record_s_part_is_its_part_evolved_with_what_the_deltas_grew() -> None:
    """``new_record`` holds a part's values as they are; ``record_with_text`` /
    ``_transcript`` / ``_audio`` change only theirs; ``record_part`` is
    ``attrs.evolve`` of the record's first part with the four values."""
    sentinels: dict[str, Any] = {f.name: object() for f in attrs.fields(PartState)}
    old = PartState(**sentinels)
    item = ItemState(id="item_1", type="message", phase=ItemPhase.IN_PROGRESS, parts=(old,))
    response = ResponseState(id="resp_1", phase=ResponsePhase.IN_PROGRESS, status=None)
    group, items = object(), Map({"item_1": item})
    record = _fast.new_record(response, group, item, 0, old, items)
    assert record[:8] == ("item_1", 0, "resp_1", group, response, item, old, items)
    built = _fast.record_part(record)
    assert built is not old and type(built) is PartState
    for f in attrs.fields(PartState):
        assert getattr(built, f.name) is getattr(old, f.name), f.name
    a: Any = object()
    b: Any = object()
    cases: list[tuple[Any, dict[str, Any]]] = [
        (_fast.record_with_text(record, a), {"text_log": a}),
        (_fast.record_with_transcript(record, a), {"transcript_log": a}),
        (_fast.record_with_audio(record, a, b), {"audio_bytes": a, "audio_ms": b}),
    ]
    for grown, changes in cases:
        assert grown[:8] == record[:8] and grown[6] is old
        expected = attrs.evolve(old, **changes)
        built = _fast.record_part(grown)
        assert type(built) is PartState
        for f in attrs.fields(PartState):
            assert getattr(built, f.name) is getattr(expected, f.name), f.name
        # a second record grown from the first: the changes add up
        twice = _fast.record_part(_fast.record_with_text(grown, b))
        assert twice.text_log is b
        for name, value in changes.items():
            if name != "text_log":
                assert getattr(twice, name) is value


def _part(n: int) -> PartState:
    return PartState(type="text", phase=PartPhase.STREAMING, text_log=TextLog.of(f"part {n}"))


@settings(max_examples=50)
@given(count=st.integers(min_value=0, max_value=5), data=st.data())
def test_with_part_is_an_item_evolve_inside_a_root_evolve(count: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=count))  # count: a part added
    item = ItemState(
        id="item_1",
        type="message",
        phase=ItemPhase.IN_PROGRESS,
        parts=tuple(_part(n) for n in range(count)),
    )
    other = ItemState(id="item_0", type="message", phase=ItemPhase.DONE)
    state = SessionState(revision=data.draw(st.integers(min_value=0, max_value=10)))
    state = attrs.evolve(
        state, items_by_id=state.items_by_id.set("item_1", item).set("item_0", other)
    )
    replacement = _part(99)
    parts = list(item.parts)
    parts[index : index + 1] = [replacement]
    expected = attrs.evolve(
        state,
        items_by_id=state.items_by_id.set("item_1", attrs.evolve(item, parts=tuple(parts))),
        revision=state.revision + 1,
    )
    after = _fast.with_part(state, item, index, replacement)
    assert after == expected
    assert after.items_by_id["item_0"] is other
    assert after.items_by_id["item_1"].parts[index] is replacement
    assert state.items_by_id["item_1"] is item  # the old state is untouched
    assert replacement not in state.items_by_id["item_1"].parts


@settings(max_examples=50)
@given(count=st.integers(min_value=1, max_value=4), data=st.data())
def test_streamed_is_with_part_built_on_first_read(count: int, data: st.DataObject) -> None:
    """``streamed`` (the deltas' lazy ``with_part``), chained as deltas chain it, gives
    at every step the state ``with_part`` gives; ``items_by_id`` is built only when
    read, and any other new root (``evolve_root``, ``with_part``) drops the record."""
    item = ItemState(
        id="item_1",
        type="message",
        phase=ItemPhase.IN_PROGRESS,
        parts=tuple(_part(n) for n in range(count)),
    )
    other = ItemState(id="item_0", type="message", phase=ItemPhase.DONE)
    response = ResponseState(id="resp_1", phase=ResponsePhase.IN_PROGRESS, status=None)
    eager = lazy = attrs.evolve(SessionState(), items_by_id=Map({"item_1": item, "item_0": other}))
    group = object()
    lazies, eagers = [], []
    audio = data.draw(st.sampled_from([None, EMPTY_AUDIO]))
    for n in range(data.draw(st.integers(min_value=1, max_value=6))):
        index = data.draw(st.integers(min_value=0, max_value=count - 1))
        hot = lazy._hot
        if hot is not None and hot[1] is not None and hot[1] == index:
            record = hot
        else:
            base_item = lazy.items_by_id["item_1"]
            start = base_item.parts[index]
            record = _fast.new_record(response, group, base_item, index, start, lazy.items_by_id)
            assert record[5] is base_item and record[7] is lazy.items_by_id
        log = TextLog.of(f"part {100 + n}")
        part = attrs.evolve(_fast.record_part(record), text_log=log)
        lazy = _fast.streamed(lazy, _fast.record_with_text(record, log), audio)
        eager = _fast.with_part(eager, eager.items_by_id["item_1"], index, part)
        if audio is not None:
            eager = _fast.evolve_root(eager, audio=audio)
        assert "items_by_id" not in lazy.__dict__  # built on first read only
        hot = lazy._hot
        assert hot is not None and hot[1] is not None and _fast.record_part(hot) == part
        lazies.append(lazy)
        eagers.append(eager)
    for lazy, eager in zip(lazies, eagers, strict=True):  # read only now
        assert lazy == eager
        assert lazy.items_by_id["item_0"] is other
    last = lazies[-1]
    for cold in (
        _fast.evolve_root(last, revision=99),
        _fast.with_part(last, last.items_by_id["item_1"], 0, _part(7)),
    ):
        assert "_hot" not in cold.__dict__ and cold._hot is None
    assert _fast.evolve_root(last, revision=99) == attrs.evolve(last, revision=99)


@settings(max_examples=50)
@given(count=st.integers(min_value=1, max_value=4), data=st.data())
def test_the_record_s_own_part_and_confirmed_keep_to_the_reference(
    count: int, data: st.DataObject
) -> None:
    """``hot_part`` gives the record's item and part; ``with_part`` of them (from the
    record's items map) gives what ``with_part`` of the built ``items_by_id`` gives;
    ``confirmed`` is ``evolve_root(revision + 1)`` and keeps the record."""
    item = ItemState(
        id="item_1",
        type="message",
        phase=ItemPhase.IN_PROGRESS,
        parts=tuple(_part(n) for n in range(count)),
    )
    other = ItemState(id="item_0", type="message", phase=ItemPhase.DONE)
    response = ResponseState(id="resp_1", phase=ResponsePhase.IN_PROGRESS, status=None)
    cold = attrs.evolve(SessionState(), items_by_id=Map({"item_1": item, "item_0": other}))
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    log = TextLog.of("part 50")
    grown = attrs.evolve(item.parts[index], text_log=log)
    start = _fast.new_record(response, object(), item, index, item.parts[index], cold.items_by_id)
    hot = _fast.streamed(cold, _fast.record_with_text(start, log), None)
    assert _fast.hot_part(cold, "item_1", index) is None
    assert _fast.hot_part(hot, "item_0", index) is None
    assert _fast.hot_part(hot, "item_1", index + 1) is None
    found = _fast.hot_part(hot, "item_1", index)
    assert found is not None and found[0] is item and found[1] == grown
    assert found[1].text_log is log
    replacement = _part(99)
    reference = _fast.with_part(hot, hot.items_by_id["item_1"], index, replacement)
    fresh = _fast.streamed(cold, _fast.record_with_text(start, log), None)
    quick = _fast.with_part(fresh, found[0], index, replacement)
    assert "items_by_id" not in fresh.__dict__  # not built on the way
    assert quick == reference and quick._hot is None
    assert quick.items_by_id["item_0"] is other
    assert quick.items_by_id["item_1"].parts[index] is replacement
    # another index of the record's item: the built map is the base
    other_index = (index + 1) % count
    assert _fast.with_part(hot, hot.items_by_id["item_1"], other_index, replacement) == (
        _fast.with_part(
            _fast.evolve_root(hot),
            _fast.evolve_root(hot).items_by_id["item_1"],
            other_index,
            replacement,
        )
    )
    for state in (cold, hot):
        kept = _fast.confirmed(state)
        assert kept == attrs.evolve(state, revision=state.revision + 1)
        assert kept._hot is state._hot
    assert state.revision == hot.revision  # untouched


def test_the_arguments_delta_operations_are_their_evolves() -> None:
    """A call record (``new_call_record``, grown by ``call_record_with``) kept by
    ``streamed`` stands for ``evolve_item(item, arguments_log=...)`` set into the
    items map, one revision on, built on first read; every state of a chain keeps what
    it showed; any other new root drops the record, a part's record replaces it."""
    call = ItemState(id="item_1", type="function_call", phase=ItemPhase.IN_PROGRESS)
    other = ItemState(id="item_0", type="message", phase=ItemPhase.DONE)
    state = attrs.evolve(
        SessionState(revision=3), items_by_id=Map({"item_1": call, "item_0": other})
    )
    record = _fast.new_call_record(call, "resp_1", state.items_by_id)
    assert record == ("item_1", None, "resp_1", call, state.items_by_id, call.arguments_log)
    states, logs = [], []
    log = call.arguments_log
    for n in range(4):
        log = log.append(f'"{n}"')
        record = _fast.call_record_with(record, log)
        assert record[3] is call and record[5] is log
        state = _fast.streamed(state, record, None)
        assert "items_by_id" not in state.__dict__ and state._hot is record
        states.append(state)
        logs.append(log)
    for n, (lazy, log) in enumerate(zip(states, logs, strict=True)):  # read only now
        grown = attrs.evolve(call, arguments_log=log)
        expected = attrs.evolve(
            SessionState(revision=4 + n), items_by_id=Map({"item_1": grown, "item_0": other})
        )
        assert lazy == expected
        assert lazy.items_by_id["item_1"].arguments == "".join(f'"{i}"' for i in range(n + 1))
        assert lazy.items_by_id["item_0"] is other
        assert _fast.hot_part(lazy, "item_1", 0) is None
    last = states[-1]
    cold = _fast.evolve_root(last, revision=99)
    assert cold._hot is None and cold == attrs.evolve(last, revision=99)
    kept = _fast.confirmed(last)
    assert kept._hot is last._hot and kept == attrs.evolve(last, revision=last.revision + 1)


def test_item_finished_is_attrs_evolve() -> None:
    # every field a distinct sentinel: a field item_finished sets in the wrong place,
    # or forgets to copy, fails here
    values: dict[str, Any] = {f.name: object() for f in attrs.fields(ItemState)}
    item = ItemState(**values)
    changes: dict[str, Any] = {
        name: object()
        for name in ("phase", "status", "parts", "arguments_log", "name", "call_id", "output")
    }
    built = _fast.item_finished(item, *changes.values())
    expected = attrs.evolve(item, **changes)
    assert type(built) is ItemState
    assert set(built.__dict__) == {f.name for f in attrs.fields(ItemState)}
    for f in attrs.fields(ItemState):
        assert getattr(built, f.name) is getattr(expected, f.name), f.name


def test_response_finished_is_attrs_evolve() -> None:
    values: dict[str, Any] = {f.name: object() for f in attrs.fields(ResponseState)}
    response = ResponseState(**values)
    info: Any = types.SimpleNamespace(status=object(), status_details=object(), usage=object())
    phase: Any = object()
    built = _fast.response_finished(response, phase, info)
    expected = attrs.evolve(
        response,
        phase=phase,
        status=info.status,
        status_details=info.status_details,
        usage=info.usage,
        info=info,
    )
    assert type(built) is ResponseState
    assert set(built.__dict__) == {f.name for f in attrs.fields(ResponseState)}
    for f in attrs.fields(ResponseState):
        assert getattr(built, f.name) is getattr(expected, f.name), f.name


def test_response_with_output_is_attrs_evolve() -> None:
    # every field a distinct sentinel: a field added to ResponseState and not copied
    # by response_with_output fails here
    values: dict[str, Any] = {f.name: object() for f in attrs.fields(ResponseState)}
    response = ResponseState(**values)
    output = ("item_1",)
    built = _fast.response_with_output(response, output)
    expected = attrs.evolve(response, output=output)
    assert type(built) is ResponseState
    assert set(built.__dict__) == {f.name for f in attrs.fields(ResponseState)}
    for f in attrs.fields(ResponseState):
        assert getattr(built, f.name) is getattr(expected, f.name), f.name


def _snapshot(cls: type[Any]) -> Any:
    """A stand-in snapshot of ``cls`` whose every field is a distinct sentinel."""
    return types.SimpleNamespace(**{f.name: object() for f in attrs.fields(cls)})


def test_item_of_is_new_item_of_the_snapshot() -> None:
    # every field a distinct sentinel: a field ItemState shares with Item that item_of
    # does not copy from the snapshot (or a field it forgets) fails here
    snapshot = _snapshot(Item)
    given: dict[str, Any] = {
        "id": object(),
        "phase": object(),
        "parts": object(),
        "arguments_log": object(),
        "response_id": object(),
        "output_index": object(),
    }
    built = _fast.item_of(
        snapshot,
        given["id"],
        given["phase"],
        given["parts"],
        given["arguments_log"],
        given["response_id"],
        given["output_index"],
    )
    assert type(built) is ItemState
    for f in attrs.fields(ItemState):
        if f.name in given:
            expected = given[f.name]
        elif f.name == "transcription_error":
            expected = None
        else:
            expected = getattr(snapshot, f.name)
        assert getattr(built, f.name) is expected, f.name
    assert set(built.__dict__) == {f.name for f in attrs.fields(ItemState)}


def test_item_of_keeps_a_snapshot_s_unset_fields_none() -> None:
    assert list(_fast._ITEM_NONE) == [f.name for f in attrs.fields(ItemState)]
    assert set(_fast._ITEM_NONE.values()) == {None}
    snapshot = types.SimpleNamespace(**dict.fromkeys(f.name for f in attrs.fields(Item)))
    snapshot.type = "message"
    log = TextLog.of("x")
    built = _fast.item_of(snapshot, "item_1", ItemPhase.DONE, (), log, None, None)  # type: ignore[arg-type]
    expected = ItemState(id="item_1", type="message", phase=ItemPhase.DONE, arguments_log=log)
    assert built.__dict__ == expected.__dict__
    assert built.arguments_log is log


def test_part_of_is_new_part_of_the_snapshot() -> None:
    snapshot = _snapshot(ContentPart)
    phase, text_log, transcript_log = object(), object(), object()
    built = _fast.part_of(snapshot, phase, text_log, transcript_log)  # type: ignore[arg-type]
    expected = _fast.new_part(
        type=snapshot.type,
        phase=phase,  # type: ignore[arg-type]
        text_log=text_log,  # type: ignore[arg-type]
        transcript_log=transcript_log,  # type: ignore[arg-type]
        image_url=snapshot.image_url,
        detail=snapshot.detail,
    )
    assert type(built) is PartState
    assert built.__dict__ == expected.__dict__  # the defaults: 0, 0.0, False, None
    assert list(built.__dict__) == [f.name for f in attrs.fields(PartState)]
    bare = types.SimpleNamespace(type="text", image_url=None, detail=None)
    empty = _fast.part_of(bare, PartPhase.DONE, TextLog.of(""), None)  # type: ignore[arg-type]
    assert empty.__dict__ == PartState(type="text").__dict__
    for name in ("type", "phase", "text_log", "transcript_log", "image_url", "detail"):
        assert getattr(built, name) is getattr(expected, name), name


def test_mypy_checks_the_keywords_of_the_typed_operations() -> None:
    """Each ignore below is an error mypy reports; an unused one fails ``mypy --strict``."""
    state = SessionState()
    part = PartState(type="text")
    with pytest.raises(TypeError):
        _fast.new_step(input=None, before=state)  # type: ignore[call-arg, arg-type]
    with pytest.raises(TypeError):
        _fast.new_item_added(item_id="i", previous_item_id=None, type="message", colour=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _fast.new_text_appended(item_id="i", delta="d")  # type: ignore[call-arg]
    # the evolves take any keyword at run time: mypy is their check
    wrong = _fast.evolve_root(state, revision="1")  # type: ignore[arg-type]
    assert wrong.__dict__["revision"] == "1"
    assert _fast.evolve_part(part, nope=1).__dict__["nope"] == 1  # type: ignore[call-arg]
