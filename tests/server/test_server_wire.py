"""The server's delta frames written from templates, and its one-response pump.

``DeltaWriter`` (rtstate.server._wire) writes a delta's frame by filling a template
the codec wrote, and builds the event by position; ``_pump_one`` runs one response's
due actions without comparing responses; plans build their delta actions by
position. Each is held here to what it replaces: the codec's checked ``encode`` of the
event built by keyword, and the general pump loop, over whole sessions.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.strategies_codec import strategy_for

from rtstate import LocalProtocolError, SessionState, Step
from rtstate._build import evolver
from rtstate.codec import codec_for
from rtstate.config import Config, Dialect
from rtstate.events import server as s
from rtstate.events.payloads import Item, ResponseInfo, SessionConfig
from rtstate.fold import fold
from rtstate.server import (
    FunctionCall,
    ScriptedResponder,
    ServerConfig,
    ServerConnection,
    SyntheticVoice,
)
from rtstate.server import audio as audio_module
from rtstate.server import connection as connection_module
from rtstate.server import runner as runner_module
from rtstate.server._wire import DeltaWriter, ItemFrames, fold_streamed, is_base64_text, item_frames
from rtstate.server._wire import obfuscation as _obfuscation
from rtstate.server.response import (
    DELTAS,
    Act,
    Action,
    _action,
    _interleave,
    _schedule,
    text_tokens,
)
from rtstate.testing import streams

DIALECTS: tuple[Dialect, ...] = ("beta", "ga")
TEXT_DELTAS: tuple[type[s.ServerEvent], ...] = (
    s.ResponseTextDelta,
    s.ResponseAudioTranscriptDelta,
    s.ResponseFunctionCallArgumentsDelta,
    s.ResponseMcpCallArgumentsDelta,
)


def by_keyword(cls: type[s.ServerEvent], values: list[Any]) -> Any:
    """``cls`` built by keyword from every field's value, in field order."""
    names = [f.name for f in attrs.fields(cls)]
    return cls(**dict(zip(names, values, strict=True)))


def fixed_fields(cls: type[s.ServerEvent], response_id: str, item_id: str) -> tuple[Any, ...]:
    """The fields between ``event_id`` and ``delta`` of ``cls``."""
    values = {"response_id": response_id, "item_id": item_id, "output_index": 3}
    values |= {"content_index": 1, "call_id": "call_" + item_id}
    names = [f.name for f in attrs.fields(cls)][1:]
    return tuple(values[name] for name in names[: names.index("delta")])


texts = st.text(max_size=40)


_TEXT_CASES = [
    (dialect, cls)
    for dialect in DIALECTS
    for cls in TEXT_DELTAS
    if cls in codec_for(dialect).server_tags.values()  # MCP arguments are GA only
]


@pytest.mark.parametrize(
    ("dialect", "cls"), _TEXT_CASES, ids=[f"{d}-{c.__name__}" for d, c in _TEXT_CASES]
)
@settings(max_examples=40, deadline=None)
@given(event_id=texts, delta=texts, response_id=texts, item_id=texts)
def test_a_text_delta_frame_is_the_codecs_encode(
    dialect: Dialect,
    cls: type[s.ServerEvent],
    *,
    event_id: str,
    delta: str,
    response_id: str,
    item_id: str,
) -> None:
    codec = codec_for(dialect)
    fixed = fixed_fields(cls, response_id, item_id)
    ga = dialect == "ga"
    writer = DeltaWriter(codec.encode_unchecked, cls, fixed, obfuscated=ga)
    obfuscation = _obfuscation(event_id, delta) if ga else None
    expected = by_keyword(cls, [event_id, *fixed, delta, obfuscation])
    event = writer.event(event_id, delta, obfuscation)
    assert type(event) is cls and event == expected
    assert writer.frame(event_id, delta, obfuscation) == codec.encode(expected)
    assert writer.write(event_id, delta) == (expected, codec.encode(expected))


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "item_id", ["\x00delta\x00", "\x00event_id\x00\x00obfuscation\x00", "\x00\x00delta\x00\x00"]
)
def test_a_fixed_field_that_holds_a_marker_is_written_as_it_is(
    dialect: Dialect, item_id: str
) -> None:
    """Regression (found by hypothesis): an id holding the template's marker text."""
    codec = codec_for(dialect)
    fixed = fixed_fields(s.ResponseTextDelta, "resp_1", item_id)
    writer = DeltaWriter(codec.encode_unchecked, s.ResponseTextDelta, fixed, obfuscated=False)
    event, frame = writer.write("\x00event_id\x00", "\x00delta\x00")
    assert frame == codec.encode(event)


@pytest.mark.parametrize("dialect", DIALECTS)
@settings(max_examples=40, deadline=None)
@given(event_id=texts, audio=st.binary(max_size=60), item_id=texts)
def test_an_audio_delta_frame_is_the_codecs_encode(
    dialect: Dialect, event_id: str, audio: bytes, item_id: str
) -> None:
    codec = codec_for(dialect)
    fixed = fixed_fields(s.ResponseAudioDelta, "resp_1", item_id)
    writer = DeltaWriter(codec.encode_unchecked, s.ResponseAudioDelta, fixed, obfuscated=False)
    delta = base64.b64encode(audio).decode("ascii")
    assert is_base64_text(delta)
    expected = s.ResponseAudioDelta(
        event_id=event_id,
        response_id="resp_1",
        item_id=item_id,
        output_index=3,
        content_index=1,
        delta=delta,
    )
    assert writer.event(event_id, delta, None) == expected
    assert writer.write_audio(event_id, delta) == (expected, codec.encode(expected))
    assert writer.frame(event_id, delta, None) == codec.encode(expected)


def test_a_delta_that_cannot_be_written_raises_as_the_codec_refuses_it() -> None:
    codec = codec_for("ga")
    fixed = fixed_fields(s.ResponseTextDelta, "resp_1", "item_1")
    writer = DeltaWriter(codec.encode_unchecked, s.ResponseTextDelta, fixed, obfuscated=True)
    with pytest.raises(orjson.JSONEncodeError):
        writer.frame("event_1", "\ud800", "AAAAAAAAAAAAAAA")
    assert writer.write("event_1", "\ud800")[1] is None
    beta = DeltaWriter(codec.encode_unchecked, s.ResponseTextDelta, fixed, obfuscated=False)
    assert beta.write("\udfff", "fine")[1] is None
    audio = DeltaWriter(codec.encode_unchecked, s.ResponseAudioDelta, fixed, obfuscated=False)
    assert audio.write_audio("\udfff", "AAAA")[1] is None
    with pytest.raises(LocalProtocolError):
        codec.encode(writer.event("event_1", "\ud800", "AAAAAAAAAAAAAAA"))


def test_plan_actions_built_by_position_equal_the_plain_ones() -> None:
    assert _action(Act.TEXT, 2, "abc", 0, 0) == Action(Act.TEXT, 2, "abc")
    assert _action(Act.AUDIO, 1, "", 48, 96) == Action(Act.AUDIO, 1, start=48, end=96)


# --- whole sessions: the fast paths against the plain ones ------------------------------


class ReferenceWriter(DeltaWriter):
    """The plain path: the event built by keyword, its frame the codec's checked encode."""

    def __init__(
        self,
        encode: Callable[[s.ServerEvent], str],
        cls: type[s.ServerEvent],
        fixed: tuple[Any, ...],
        *,
        obfuscated: bool,
    ) -> None:
        self.cls, self.fixed_values = cls, fixed
        self.has_obfuscation = "obfuscation" in attrs.fields_dict(cls)
        self.codec = encode.__self__._codec  # type: ignore[attr-defined]  # the server's
        super().__init__(encode, cls, fixed, obfuscated=obfuscated)

    def event(self, event_id: str, delta: str, obfuscation: str | None) -> Any:
        values = [event_id, *self.fixed_values, delta]
        return by_keyword(self.cls, values + [obfuscation] * self.has_obfuscation)

    def frame(self, event_id: str, delta: str, obfuscation: str | None) -> str:
        frame: str = self.codec.encode(self.event(event_id, delta, obfuscation))
        return frame

    def write(self, event_id: str, delta: str) -> tuple[Any, str | None]:
        obfuscation = _obfuscation(event_id, delta) if self._obfuscated else None
        event = self.event(event_id, delta, obfuscation)
        try:
            return event, self.frame(event_id, delta, obfuscation)
        except LocalProtocolError:
            return event, None

    def write_audio(self, event_id: str, delta: str) -> tuple[Any, str | None]:
        return self.write(event_id, delta)


def session(dialect: Dialect, attached: bool) -> list[Step]:
    """A session with paced, cancelled, out-of-band, spoken and function-call responses."""
    replies: list[str | FunctionCall] = [
        "a short text reply",
        "a spoken reply of several words",
        "a long text reply, written while the spoken one still plays " * 25,
        FunctionCall(name="lookup", arguments='{"city": "Paris", "days": 3}'),
        "cut short by a cancel, this reply is long enough to be cut",
        "beside",
        "the default one",
    ]
    server = ServerConnection(
        responder=ScriptedResponder(replies, cycle=True),
        config=ServerConfig(delta_interval=0.01),
        dialect=dialect,
        call_id="rtc_1" if attached else None,
    )
    mods = "output_modalities" if dialect == "ga" else "modalities"

    def create(*modalities: str, oob: bool = False) -> str:
        response: dict[str, Any] = {mods: list(modalities)}
        if oob:
            response["conversation"] = "none"
        return orjson.dumps({"type": "response.create", "response": response}).decode()

    user = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    steps = [server.start(0.0)]
    now = 0.0
    for frame, wait in [
        (orjson.dumps({"type": "conversation.item.create", "item": user}).decode(), 0.0),
        (create("text"), 1.0),
        (create("audio", "text"), 0.5),
        (create("text"), 3.0),
        (create("text"), 1.0),
        (create("audio", "text"), 0.05),
        ('{"type": "response.cancel"}', 1.0),
        (create("text", oob=True), 0.03),
        (create("audio", "text"), 5.0),
    ]:
        steps.append(server.receive(frame, now))
        end = now + wait
        while (due := server.next_deadline()) is not None and due <= end:
            steps.append(server.tick(due))
        now = end
    return steps


@pytest.mark.parametrize(("dialect", "attached"), [("beta", False), ("ga", False), ("ga", True)])
def test_sessions_step_as_through_the_plain_paths(
    monkeypatch: pytest.MonkeyPatch, dialect: Dialect, attached: bool
) -> None:
    fast = session(dialect, attached)
    frames = [f for step in fast for f in step.to_send]
    kinds = {orjson.loads(f)["type"] for f in frames}
    assert any(k.endswith("audio.delta") for k in kinds)
    assert any(k.endswith("arguments.delta") for k in kinds)
    assert any(k.endswith("text.delta") for k in kinds)
    assert attached == ("output_audio_buffer.stopped" in kinds)
    assert any(k.startswith("conversation.item.") for k in kinds)
    codec = codec_for(dialect)
    for frame in frames:
        assert codec.encode(codec.decode_server(frame)) == frame
    assert item_frames(dialect).usable  # the fast sessions wrote items around their JSON
    with monkeypatch.context() as patch:
        patch.setattr(runner_module, "DeltaWriter", ReferenceWriter)
        patch.setattr(connection_module, "item_frames", lambda dialect: UNUSABLE)
        for name in ("_evolve_run", "_evolve_session", "_evolve_info"):
            patch.setattr(runner_module, name, attrs.evolve)
        patch.setattr(runner_module._ResponseRunner, "_input_tokens", reference_input_tokens)
        patch.setattr(runner_module._ResponseRunner, "_pump_one", lambda self, now: False)
        patch.setattr(runner_module, "fold_streamed", lambda state, event, config: None)
        plain = session(dialect, attached)
    assert len(fast) == len(plain)
    for a, b in zip(fast, plain, strict=True):
        assert a.to_send == b.to_send
        assert a.transitions == b.transitions
        assert a.diagnostics == b.diagnostics
        assert a.after == b.after


class _Unusable(ItemFrames):
    def __init__(self) -> None:
        self.usable = False


UNUSABLE = _Unusable()
"""``ItemFrames`` that never write: every item event encoded by the codec."""


def reference_input_tokens(
    self: Any, session: SessionConfig, context: tuple[Any, ...] | None
) -> tuple[int, int]:
    """``_input_tokens`` counted from scratch over ``state.items`` (no kept counts)."""
    text = text_tokens(session.instructions)
    audio = 0.0
    for item in self._state.items if context is None else context:
        text += runner_module._item_text_tokens(item)
        audio += self._input_audio_ms.get(item.id, 0.0) + item.audio_ms
    return text, math.ceil(audio / 100.0)


# --- ItemFrames: an item's JSON written once ---------------------------------------------


ITEM_EVENTS: tuple[type[s.ServerEvent], ...] = (
    s.ConversationItemAdded,
    s.ConversationItemDone,
    s.ConversationItemCreated,
    s.ResponseOutputItemAdded,
    s.ResponseOutputItemDone,
)


def item_event(cls: type[s.ServerEvent], item: Item, previous: str | None) -> Any:
    if cls in (s.ResponseOutputItemAdded, s.ResponseOutputItemDone):
        event_id = 'event_\u2028"1'  # written escaped
        return cls(event_id=event_id, response_id="resp_1", output_index=12, item=item)
    return cls(event_id="event_1", item=item, previous_item_id=previous)  # type: ignore[call-arg]


@pytest.mark.parametrize("dialect", DIALECTS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_item_frames_are_the_codecs_frames_byte_for_byte(
    dialect: Dialect, data: st.DataObject
) -> None:
    codec = codec_for(dialect)
    frames = item_frames(dialect)
    assert frames.usable
    items = data.draw(st.lists(strategy_for(Item, dialect), min_size=1, max_size=3))
    previous = data.draw(st.none() | st.text(max_size=8))
    jsons: list[str] = []
    for item in items:
        events = [item_event(cls, item, previous) for cls in ITEM_EVENTS]
        try:
            written = [codec.encode(e) for e in events if e.type in codec.server_tags]
        except LocalProtocolError:  # an item the codec refuses: the server never has it
            return
        known = [e for e in events if e.type in codec.server_tags]
        cut = {frames.item_json(e, f) for e, f in zip(known, written, strict=True)}
        assert len(cut) == 1 and None not in cut  # the same JSON in every event
        (json,) = cut
        assert json is not None
        assert [frames.frame(e, json) for e in known] == written
        jsons.append(json)
    info = ResponseInfo(id="resp_1", object="realtime.response", status="completed", output=())
    empty = codec.encode(s.ResponseDone(event_id="event_1", response=info))
    full = s.ResponseDone(event_id="event_1", response=attrs.evolve(info, output=tuple(items)))
    assert frames.response_done(empty, tuple(jsons)) == codec.encode(full)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_item_frames_take_no_frame_of_another_layout(dialect: Dialect) -> None:
    frames = item_frames(dialect)
    item = Item(id="item_1", type="message", role="user", content=())
    event = s.ResponseOutputItemDone(event_id="event_1", response_id="r", output_index=0, item=item)
    assert frames.item_json(event, codec_for(dialect).encode(event)) is not None
    assert frames.item_json(event, '{"type":"response.output_item.done","item":{}}') is None
    assert frames.item_json(s.ResponseDone(event_id="e", response=ResponseInfo()), "{}") is None
    assert frames.response_done('{"output":[],"output":[]}', ("{}",)) is None
    assert UNUSABLE.frame(event, "{}") is None and UNUSABLE.item_json(event, "{}") is None


# --- evolver: attrs.evolve by slot writes ------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_evolver_copies_are_attrs_evolve_copies(dialect: Dialect, data: st.DataObject) -> None:
    for cls in (SessionConfig, ResponseInfo, Item):
        value = data.draw(strategy_for(cls, dialect))
        names = data.draw(st.sets(st.sampled_from([f.name for f in attrs.fields(cls)])))
        other = data.draw(strategy_for(cls, dialect))
        changes = {n: getattr(other, n) for n in names}
        copy = evolver(cls)(value, **changes)
        assert type(copy) is cls
        assert copy == attrs.evolve(value, **changes)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            copy.id = "x"  # type: ignore[misc]


def test_evolver_refuses_what_is_not_a_field() -> None:
    info = ResponseInfo(id="resp_1")
    with pytest.raises(TypeError, match="no field"):
        evolver(ResponseInfo)(info, nope=1)
    with pytest.raises(TypeError):  # as attrs.evolve refuses it
        attrs.evolve(info, nope=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="not a slotted class"):
        evolver(SessionState)  # dict-backed


# --- fold_streamed: the server's fold of its own deltas ----------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("strict", [True, False])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fold_streamed_is_the_folds_state_and_transition(
    dialect: Dialect, strict: bool, data: st.DataObject
) -> None:
    config = Config(strict=strict)
    state = SessionState()

    for event in data.draw(streams(dialect=dialect)):
        step = fold(state, event, config)
        folded = fold_streamed(state, event, config)
        if folded is not None:
            after, transition = folded
            assert after == step.after and (transition,) == step.transitions
            assert after._hot == step.after._hot and after.revision == step.after.revision
            assert not step.diagnostics and not step.to_send
        state = step.after


def test_fold_streamed_takes_the_servers_deltas_and_declines_others() -> None:
    codec = codec_for("ga")
    server = ServerConnection(responder=ScriptedResponder(["spoken words " * 5]))
    frames = [*server.start(0.0).to_send, *server.receive('{"type": "response.create"}').to_send]
    config = Config(strict=True)
    state, kinds = SessionState(), set()
    for frame in frames:
        event = codec.decode_server(frame)
        step = fold(state, event, config)
        folded = fold_streamed(state, event, config)
        if folded is not None:
            kinds.add(event.type)
            assert folded[0] == step.after and (folded[1],) == step.transitions
        elif event.type.endswith(".delta"):  # only a part's first delta is declined
            assert state._hot is None or state._hot[0] != getattr(event, "item_id", None)
        state = step.after
    assert kinds == {"response.audio.delta", "response.audio_transcript.delta"}  # class names


# --- the voice's delta cache keys --------------------------------------------------------


def test_utterances_of_the_same_inputs_share_their_cached_deltas() -> None:
    def synthetic(kind: str, text: str, name: str, fmt: str) -> audio_module._Synthetic:
        utterance = SyntheticVoice(kind=kind).utterance(text, name, fmt)  # type: ignore[arg-type]
        assert isinstance(utterance, audio_module._Synthetic)
        return utterance

    one = synthetic("tone", "the same words", "alloy", "pcm16")
    two = synthetic("tone", "the same words", "alloy", "pcm16")  # an equal voice
    assert one._chunk_key[0] is two._chunk_key[0]
    others = [
        synthetic("noise", "the same words", "alloy", "pcm16"),
        synthetic("tone", "other words", "alloy", "pcm16"),
        synthetic("tone", "the same words", "echo", "pcm16"),
        synthetic("tone", "the same words", "alloy", "g711_ulaw"),
    ]
    assert len({id(u._chunk_key[0]) for u in [one, *others]}) == 5
    made = len(audio_module._CHUNKS)
    first = audio_module._render_base64(one, 0, 4_800)
    assert audio_module._render_base64(two, 0, 4_800) == first
    assert len(audio_module._CHUNKS) <= made + 1  # the second was a hit
    for other in others:
        text, count = audio_module._render_base64(other, 0, 4_800)
        assert base64.b64decode(text) == other.render(0, 4_800) and count == 4_800


# --- the plan's schedule -----------------------------------------------------------------


def reference_schedule(actions: list[Action], latency: float, interval: float) -> tuple[float, ...]:
    """The walk ``_schedule`` always made."""
    due: list[float] = []
    deltas = 0
    started = False
    for action in actions:
        if action.kind is Act.ADD_ITEM:
            started = True
        if not started:
            due.append(0.0)
            continue
        due.append(latency + interval * deltas)
        if action.kind in DELTAS:
            deltas += 1
    return tuple(due)


@settings(max_examples=200, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(list(Act)), max_size=30),
    latency=st.sampled_from([0.0, 0.25, 1e-9, 3.0]),
    interval=st.sampled_from([0.0, 0.05, 0.1, 1e-7]),
)
def test_the_schedule_is_the_plain_walks(kinds: list[Act], latency: float, interval: float) -> None:
    actions = [Action(kind) for kind in kinds]
    assert _schedule(actions, latency, interval) == reference_schedule(actions, latency, interval)


@settings(max_examples=100, deadline=None)
@given(n_t=st.integers(0, 40), n_a=st.integers(0, 40))
def test_interleaving_is_the_keyed_sorts(n_t: int, n_a: int) -> None:
    transcript = [Action(Act.TRANSCRIPT, 0, str(i)) for i in range(n_t)]
    audio = [Action(Act.AUDIO, 0, "", i, i + 1) for i in range(n_a)]
    keyed = [(i / max(n_t, 1), 0, i, a) for i, a in enumerate(transcript)]
    keyed += [(i / max(n_a, 1), 1, i, a) for i, a in enumerate(audio)]
    keyed.sort(key=lambda k: (k[0], k[1], k[2]))
    assert _interleave(transcript, audio) == [a for *_, a in keyed]


class SilentVoice:
    """A plain ``Voice`` (not streaming)."""

    def synthesize(self, text: str, voice: str, audio_format: str) -> bytes:
        return bytes(len(text))


@attrs.frozen
class Unstreamed(SyntheticVoice):
    """A ``SyntheticVoice`` subclass that cannot speak a piece at a time."""

    utterance = None  # type: ignore[assignment]


def test_streams_is_the_protocol_check() -> None:
    for voice in (SyntheticVoice(), SyntheticVoice(kind="noise"), SilentVoice(), Unstreamed()):
        assert audio_module.streams(voice) == isinstance(voice, audio_module.StreamingVoice)
    assert audio_module.streams(SyntheticVoice()) and not audio_module.streams(SilentVoice())
