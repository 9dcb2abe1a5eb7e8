"""Plugins: checked registration, ordered dispatch, cascades, isolation of broken plugins.

The central property: plugins observe, they cannot change the fold. Whatever plugins
that return nothing do (run quietly, raise, return junk), the sequence of states a
connection goes through is equal to the one without them.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import inspect
import itertools
import json
import types
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.helpers import Server

import rtstate
from rtstate import ClientConnection, Config, RtStateError, SessionState, Step, fold, transitions
from rtstate.codec import beta
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import SessionConfig
from rtstate.plugins import HOOK_NAMES, PluginError, Plugins, _accepts
from rtstate.transitions import (
    TRANSITION_TYPES,
    FunctionCallReady,
    ItemFinished,
    ResponseStarted,
    SessionStarted,
    TextAppended,
    Transition,
    hook_name,
)

BETA = Config(dialect="beta")
"""These tests feed beta frames: their connections say so (GA is the default)."""


def ids(prefix: str = "p") -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


def audio(n_bytes: int) -> str:
    return base64.b64encode(bytes(n_bytes)).decode()


# A call on a connection: receive a frame, send a client event, or close.
Call = tuple[str, Any]


def run(conn: ClientConnection, calls: Sequence[Call]) -> list[Step]:
    steps = []
    for kind, arg in calls:
        if kind == "receive":
            steps.append(conn.receive(arg))
        elif kind == "send":
            steps.append(conn.send(arg))
        else:
            steps.append(conn.transport_closed(1000, "bye"))
    return steps


@st.composite
def sessions(draw: st.DrawFn) -> list[Call]:
    """A session as connection calls: responses, turns, sends, junk, maybe a close."""
    srv = Server()
    calls: list[Call] = [("receive", beta.encode(srv.session_created()))]
    words = st.lists(st.sampled_from(["a", "b", "cd", " ", "{", "}"]), min_size=1, max_size=4)
    previous: str | None = None
    for n in range(draw(st.integers(min_value=0, max_value=4))):
        kind = draw(st.sampled_from(["text", "call", "turn", "rate", "send", "junk", "unknown"]))
        events: list[s.ServerEvent] = []
        if kind == "text":
            events = srv.text_response(
                draw(words), response_id=f"resp_{n}", item_id=f"it_{n}", previous_item_id=previous
            )
            previous = f"it_{n}"
        elif kind == "call":
            events = srv.function_call_response(
                "lookup",
                draw(words),
                response_id=f"resp_{n}",
                item_id=f"it_{n}",
                call_id=f"call_{f'it_{n}'}",
                previous_item_id=previous,
            )
            previous = f"it_{n}"
        elif kind == "turn":
            events = srv.vad_turn(
                100, 900, item_id=f"it_{n}", previous_item_id=previous, transcript="hi"
            )
            previous = f"it_{n}"
        elif kind == "rate":
            events = [srv.rate_limits(("requests", 1000, 9, 1.5))]
        elif kind == "send":
            calls.append(("send", c.InputAudioBufferAppend(audio=audio(96))))
            calls.append(("send", c.ResponseCreate()))
        elif kind == "junk":
            calls.append(("receive", "{not json"))
        else:
            calls.append(("receive", '{"type": "x.y", "event_id": "e"}'))
        calls += [("receive", beta.encode(e)) for e in events]
    if len(calls) > 2 and draw(st.booleans()):  # a perturbation: one event repeated
        i = draw(st.integers(min_value=1, max_value=len(calls) - 1))
        calls.insert(draw(st.integers(min_value=i, max_value=len(calls))), calls[i])
    if draw(st.booleans()):
        calls.append(("close", None))
    return calls


# --- plugin factories --------------------------------------------------------------------


class Recorder:
    """Has every hook; records ``(label, hook, transition)`` into a shared log."""

    def __init__(self, label: str, log: list[tuple[str, str, object]]) -> None:
        self.label = label
        self.log = log

    def _record(self, hook: str, t: object, step: Step) -> None:
        assert isinstance(step, Step)
        if t is not None:
            assert t in step.transitions
        self.log.append((self.label, hook, t))


def _with_every_hook(
    cls: type[Any], body: Callable[[Any, str, Transition | None, Step], object]
) -> type[Any]:
    """A subclass of ``cls`` with every hook of ``HOOK_NAMES``, each calling ``body``."""
    ns: dict[str, Any] = {}
    for name in sorted(HOOK_NAMES):
        if name == "on_step":

            def on_step(self: Any, step: Step) -> object:
                return body(self, "on_step", None, step)

            ns[name] = on_step
        else:

            def hook(self: Any, t: Transition, step: Step, _name: str = name) -> object:
                return body(self, _name, t, step)

            ns[name] = hook
    return type(f"Every{cls.__name__}", (cls,), ns)


FullRecorder = _with_every_hook(Recorder, lambda self, name, t, step: self._record(name, t, step))


class NoOp:
    def __init__(self, result: object) -> None:
        self.result = result


FullNoOp = _with_every_hook(NoOp, lambda self, name, t, step: self.result)


class Boom(Exception):
    pass


class Exploding:
    """Raises (or returns junk) on the ``after``-th call of hook ``trigger``."""

    def __init__(self, trigger: str, after: int, junk: object = None) -> None:
        self.trigger = trigger
        self.after = after
        self.junk = junk
        self.calls = 0
        self.raised: BaseException | None = None
        self.detached_with: list[tuple[ClientConnection, BaseException]] = []
        self.calls_after_raise = 0

    def fire(self, name: str) -> object:
        if self.raised is not None:
            self.calls_after_raise += 1
        if name != self.trigger:
            return None
        self.calls += 1
        if self.calls < self.after:
            return None
        if self.junk is not None:
            self.raised = PluginError("junk")
            return self.junk
        self.raised = Boom(f"{name} #{self.calls}")
        raise self.raised

    def detached(self, conn: ClientConnection, error: BaseException) -> None:
        self.detached_with.append((conn, error))


FullExploding = _with_every_hook(Exploding, lambda self, name, t, step: self.fire(name))


# --- registration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("on_text_apended", "on_text_appended"),
        ("on_fuction_call_ready", "on_function_call_ready"),
        ("on_steps", "on_step"),
        ("on_response_finish", "on_response_finished"),
        ("on_speech_start", "on_speech_started"),
        ("on_transport_close", "on_transport_closed"),
    ],
)
def test_a_typo_in_a_hook_name_is_an_error_with_a_suggestion(typo: str, suggestion: str) -> None:
    def hook(self: object, t: object, step: object) -> None:
        return None

    plugin = type("Typo", (), {typo: hook})()
    with pytest.raises(PluginError, match=f"did you mean '{suggestion}'") as info:
        ClientConnection(config=BETA, plugins=[plugin])
    assert typo in str(info.value)
    assert isinstance(info.value, RtStateError)


def test_an_unknown_hook_name_is_an_error() -> None:
    class Weird:
        def on_xyzzy_frobnicate_quux(self, t: object, step: object) -> None:
            return None

    with pytest.raises(PluginError, match="on_xyzzy_frobnicate_quux is not a plugin hook"):
        ClientConnection(config=BETA, plugins=[Weird()])


class _Sig:
    pass


def _plugin(**attributes: Any) -> object:
    return type("P", (_Sig,), attributes)()


@pytest.mark.parametrize(
    "plugin",
    [
        _plugin(on_text_appended=lambda self, t: None),
        _plugin(on_text_appended=lambda self, t, step, extra: None),
        _plugin(on_text_appended=lambda self, *, t, step: None),
        _plugin(on_step=lambda self: None),
        _plugin(on_step=lambda self, step, extra: None),
        _plugin(on_step=3),
        _plugin(on_function_call_ready="not callable"),
        _plugin(attached=lambda self: None),
        _plugin(attached=lambda self, conn, extra: None),
        _plugin(detached=lambda self, conn: None),
        _plugin(detached=lambda self: None),
    ],
    ids=[
        "too-few",
        "too-many",
        "keyword-only",
        "on_step-none",
        "on_step-two",
        "not-callable",
        "string",
        "attached-none",
        "attached-two",
        "detached-one",
        "detached-none",
    ],
)
def test_a_wrong_signature_is_an_error(plugin: object) -> None:
    with pytest.raises(PluginError, match="argument"):
        ClientConnection(config=BETA, plugins=[plugin])
    with pytest.raises(PluginError):
        Plugins([plugin])


def test_flexible_signatures_are_accepted() -> None:
    log: list[str] = []

    class Flexible:
        def on_text_appended(self, *args: object) -> None:
            log.append("varargs")

        def on_response_started(self, t: object, step: object = None, extra: int = 1) -> None:
            log.append("defaults")

        def on_response_finished(self, t: object, step: object, **kw: object) -> None:
            log.append("kwargs")

        @staticmethod
        def on_item_added(t: object, step: object) -> None:
            log.append("static")

    plugin = Flexible()
    plugin.on_step = lambda step: log.append("instance")  # type: ignore[attr-defined]
    conn = ClientConnection(config=BETA, plugins=[plugin])
    srv = Server()
    for event in [srv.session_created(), *srv.text_response(["x"], response_id="r", item_id="i")]:
        conn.receive_event(event)
    assert {"varargs", "defaults", "kwargs", "static", "instance"} <= set(log)
    assert conn.plugins == (plugin,)


@st.composite
def _functions(draw: st.DrawFn) -> tuple[str, Callable[..., Any]]:
    """A plain function with a generated signature, and its source."""
    names = iter(f"p{i}" for i in range(20))
    positional_only = [next(names) for _ in range(draw(st.integers(0, 2)))]
    positional = [next(names) for _ in range(draw(st.integers(0, 3)))]
    defaults = draw(st.integers(0, len(positional_only) + len(positional)))
    params = [*positional_only, *positional]
    params = [
        *params[: len(params) - defaults],
        *(f"{p}=None" for p in params[len(params) - defaults :]),
    ]
    if positional_only:
        params.insert(len(positional_only), "/")
    star = draw(st.sampled_from(["", "*args", "*"]))
    keyword_only = [
        f"{next(names)}=None" if has_default else next(names)
        for has_default in draw(st.lists(st.booleans(), max_size=2))
    ]
    if keyword_only and not star:
        star = "*"
    if star and (star != "*" or keyword_only):
        params += [star, *keyword_only]
    if draw(st.booleans()):
        params.append("**kwargs")
    source = f"def f({', '.join(params)}): pass"
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    return source, namespace["f"]


def _binds(fn: Callable[..., Any], count: int) -> bool | None:
    """What ``inspect.signature`` says (``None``: it cannot tell)."""
    try:
        inspect.signature(fn).bind(*([None] * count))
    except TypeError:
        return False
    except ValueError:
        return None
    return True


@settings(max_examples=300, deadline=None)
@given(_functions())
def test_signature_checks_agree_with_inspect(function: tuple[str, Callable[..., Any]]) -> None:
    source, fn = function
    method = types.MethodType(fn, object())
    for count in range(5):
        assert _accepts(fn, count) is _binds(fn, count), (source, count)
        expected = _binds(method, count)
        # a method with no parameter for its instance: inspect cannot tell, no call binds
        assert _accepts(method, count) is (False if expected is None else expected), (source, count)


def test_plain_hooks_are_checked_without_inspect_signature(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Plain:
        def on_text_appended(self, t: object, step: object) -> None: ...
        def on_step(self, step: object) -> None: ...
        def attached(self, conn: object) -> None: ...

    def refuse(fn: object) -> None:
        raise AssertionError(f"inspect.signature({fn!r}) on a plain hook")

    monkeypatch.setattr(inspect, "signature", refuse)
    assert Plugins([Plain()]).count == 1


def test_decorated_hooks_are_checked_by_their_wrapped_signature() -> None:
    def passthrough(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)

        return wrapper

    class Wrapped:
        @passthrough
        def on_text_appended(self, t: object) -> None: ...

    with pytest.raises(PluginError, match="argument"):
        Plugins([Wrapped()])


def test_registration_is_all_or_nothing() -> None:
    attached: list[object] = []

    class Good:
        def attached(self, conn: object) -> None:
            attached.append(conn)

    class Bad:
        def on_text_apended(self, t: object, step: object) -> None:
            return None

    with pytest.raises(PluginError):
        ClientConnection(config=BETA, plugins=[Good(), Bad()])
    assert attached == []


def test_hook_names_are_the_transitions() -> None:
    assert {hook_name(t) for t in TRANSITION_TYPES} | {"on_step"} == HOOK_NAMES
    assert rtstate.plugins.HOOK_NAMES is HOOK_NAMES
    assert len({hook_name(t) for t in TRANSITION_TYPES}) == len(TRANSITION_TYPES)
    # every transition class of the module is listed, so it has a hook
    defined = {
        v
        for v in vars(transitions).values()
        if isinstance(v, type) and issubclass(v, Transition) and v is not Transition
    }
    assert defined == set(TRANSITION_TYPES)
    for name in HOOK_NAMES:
        assert name.startswith("on_")
        assert name == name.lower()
        assert name.isidentifier()
    assert hook_name(FunctionCallReady) == "on_function_call_ready"
    assert hook_name(TextAppended) == "on_text_appended"
    assert hook_name(transitions.InputCleared) == "on_input_cleared"
    assert hook_name(transitions.ServerErrorReceived) == "on_server_error_received"


def test_attached_is_called_at_construction_in_order() -> None:
    seen: list[tuple[str, ClientConnection, tuple[object, ...]]] = []

    class Attaching:
        def __init__(self, label: str) -> None:
            self.label = label

        def attached(self, conn: ClientConnection) -> None:
            seen.append((self.label, conn, conn.plugins))

    a, b = Attaching("a"), Attaching("b")
    conn = ClientConnection(config=BETA, plugins=[a, b])
    assert [(label, got) for label, got, _ in seen] == [("a", conn), ("b", conn)]
    assert all(plugins == (a, b) for _, _, plugins in seen)


def test_a_plugin_without_hooks_is_fine() -> None:
    class Helper:
        on = 1  # not a hook: no "on_" prefix
        online = True

        def onion(self) -> None:
            raise AssertionError("never called")

    srv = Server()
    plain = ClientConnection(config=BETA)
    conn = ClientConnection(config=BETA, plugins=[object(), Helper()])
    for event in [
        srv.session_created(),
        *srv.text_response(["x", "y"], response_id="r", item_id="i"),
    ]:
        assert conn.receive_event(event) == plain.receive_event(event)
    assert conn.state == plain.state
    assert len(conn.plugins) == 2


# --- dispatch ----------------------------------------------------------------------------


def test_hooks_run_in_registration_order_with_transition_and_step() -> None:
    log: list[tuple[str, str, object]] = []

    class Watcher(Recorder):
        def on_item_finished(self, t: ItemFinished, step: Step) -> None:
            self._record("on_item_finished", t, step)

        def on_function_call_ready(self, t: FunctionCallReady, step: Step) -> None:
            self._record("on_function_call_ready", t, step)

        def on_step(self, step: Step) -> None:
            self._record("on_step", None, step)

    srv = Server()
    events = [
        srv.session_created(),
        *srv.function_call_response(
            "lookup", ['{"a":', "1}"], response_id="r", item_id="call", call_id="call_call"
        ),
    ]
    conn = ClientConnection(config=BETA, plugins=[Watcher("A", log), Watcher("B", log)])
    for event in events[:-2]:
        conn.receive_event(event)
    log.clear()
    step = conn.receive_event(events[-2])  # response.output_item.done
    done, ready = step.transitions
    assert isinstance(done, ItemFinished)
    assert isinstance(ready, FunctionCallReady)
    assert ready.arguments == '{"a":1}'
    assert log == [
        ("A", "on_item_finished", done),
        ("B", "on_item_finished", done),
        ("A", "on_function_call_ready", ready),
        ("B", "on_function_call_ready", ready),
        ("A", "on_step", None),
        ("B", "on_step", None),
    ]


def test_on_step_is_called_once_per_call_with_that_step() -> None:
    seen: list[Step] = []

    class Stepper:
        def on_step(self, step: Step) -> None:
            seen.append(step)

    conn = ClientConnection(config=BETA, plugins=[Stepper()])
    srv = Server()
    returned = [conn.receive(beta.encode(srv.session_created()))]
    returned += [
        conn.receive_event(e) for e in srv.text_response(["x"], response_id="r", item_id="i")
    ]
    returned.append(conn.receive("garbage"))
    returned.append(conn.send(c.ResponseCreate()))
    returned.append(conn.tick(1.0))
    returned.append(conn.transport_closed())
    assert len(seen) == len(returned)
    for got, step in zip(seen, returned, strict=True):
        assert got == step
        assert got.before is step.before
        assert got.after is step.after


def test_a_plugin_is_only_called_for_its_own_hooks() -> None:
    log: list[tuple[str, str, object]] = []

    class OnlyStarts(Recorder):
        def on_response_started(self, t: ResponseStarted, step: Step) -> None:
            self._record("on_response_started", t, step)

    class OnlyText(Recorder):
        def on_text_appended(self, t: TextAppended, step: Step) -> None:
            self._record("on_text_appended", t, step)

    srv = Server()
    starts, text = OnlyStarts("starts", log), OnlyText("text", log)
    conn = ClientConnection(config=BETA, plugins=[starts, text])
    conn.receive_event(srv.session_created())
    for n in range(3):
        for event in srv.text_response(
            ["a", "b"],
            response_id=f"r{n}",
            item_id=f"i{n}",
            previous_item_id=f"i{n - 1}" if n else None,
        ):
            conn.receive_event(event)
    assert [(label, hook) for label, hook, _ in log if label == "starts"] == [
        ("starts", "on_response_started")
    ] * 3
    assert [t for label, _, t in log if label == "text"] == [
        TextAppended(item_id=f"i{n}", content_index=0, delta=d, response_id=f"r{n}")
        for n in range(3)
        for d in "ab"
    ]
    # the dispatch index holds exactly the hooked transition types
    index = Plugins([starts, text])._index
    assert set(index) == {ResponseStarted, TextAppended}
    assert [p for p, _ in index[ResponseStarted]] == [starts]


# --- events returned by hooks ------------------------------------------------------------


def test_returned_events_are_folded_and_encoded_in_the_same_call() -> None:
    update = c.SessionUpdate(session=SessionConfig(instructions="short answers"))
    append = c.InputAudioBufferAppend(audio=audio(960))

    class Greeter:
        def on_session_started(self, t: SessionStarted, step: Step) -> list[c.ClientEvent]:
            return [update, append]

    conn = ClientConnection(config=BETA, plugins=[Greeter()], id_factory=ids())
    before = conn.state
    created = Server().session_created()
    step = conn.receive_event(created)
    assert step.input == created
    assert step.before is before
    assert step.after is conn.state
    stamped = [
        c.SessionUpdate(event_id="p1", session=update.session),
        c.InputAudioBufferAppend(event_id="p2", audio=append.audio),
    ]
    assert step.to_send == tuple(beta.encode(e) for e in stamped)
    assert [json.loads(f)["event_id"] for f in step.to_send] == ["p1", "p2"]
    assert conn.state.input_buffer.appended_ms == pytest.approx(20.0)
    # the Step is the main fold followed by the folds of the returned events
    chain = [fold(before, created)]
    for event in stamped:
        chain.append(fold(chain[-1].after, event))
    assert step.after == chain[-1].after
    assert step.transitions == tuple(t for sub in chain for t in sub.transitions)
    assert step.diagnostics == tuple(d for sub in chain for d in sub.diagnostics)


@pytest.mark.parametrize(
    "shape",
    [
        lambda e: e,
        lambda e: [e],
        lambda e: (e,),
        lambda e: iter([e]),
        lambda e: (x for x in [e]),
    ],
    ids=["single", "list", "tuple", "iterator", "generator"],
)
def test_hooks_may_return_one_event_or_an_iterable(
    shape: Callable[[c.ClientEvent], object],
) -> None:
    class Once:
        done = False

        def on_step(self, step: Step) -> object:
            if self.done:
                return None
            self.done = True
            return shape(c.ResponseCreate())

    conn = ClientConnection(config=BETA, plugins=[Once()], id_factory=ids())
    step = conn.send(c.InputAudioBufferCommit())
    assert step.to_send == (
        beta.encode(c.InputAudioBufferCommit(event_id="p1")),
        beta.encode(c.ResponseCreate(event_id="p2")),
    )
    assert step.diagnostics == ()


def test_diagnostics_of_the_cascade_are_in_the_step() -> None:
    class Stubborn:
        def on_transport_closed(self, t: object, step: Step) -> c.ClientEvent:
            return c.ResponseCreate()  # folded after the close: rejected, not written

    conn = ClientConnection(config=BETA, plugins=[Stubborn()])
    conn.receive_event(Server().session_created())
    step = conn.transport_closed()
    assert step.to_send == ()
    assert [d.code for d in step.diagnostics] == ["closed"]
    assert step.after is conn.state


def test_cascades_are_bounded() -> None:
    class Chatty:
        def on_step(self, step: Step) -> c.ClientEvent:
            return c.InputAudioBufferClear()  # answers every step, its own included

    for limit in (0, 1, 3, 8):
        conn = ClientConnection(
            plugins=[Chatty()], config=Config(max_cascade_rounds=limit), id_factory=ids()
        )
        step = conn.receive_event(Server().session_created())
        assert [json.loads(f)["event_id"] for f in step.to_send] == [
            f"p{n}" for n in range(1, limit + 1)
        ]
        assert [d.code for d in step.diagnostics] == ["cascade"]
        assert str(limit) in step.diagnostics[0].message
        # the bound is per call: the next call cascades again, as far
        step = conn.tick(0.0)
        assert len(step.to_send) == limit
        assert [d.code for d in step.diagnostics] == ["cascade"]
    default = ClientConnection(config=BETA, plugins=[Chatty()])
    assert (
        len(default.receive_event(Server().session_created()).to_send)
        == Config(dialect="beta").max_cascade_rounds
    )


def test_ping_pong_between_plugins_is_bounded() -> None:
    class Ping:
        def on_step(self, step: Step) -> c.ClientEvent | None:
            commit = isinstance(step.input, c.InputAudioBufferCommit)
            return c.InputAudioBufferClear() if commit else None

    class Pong:
        def on_step(self, step: Step) -> c.ClientEvent | None:
            clear = isinstance(step.input, c.InputAudioBufferClear)
            return c.InputAudioBufferCommit() if clear else None

    conn = ClientConnection(
        plugins=[Ping(), Pong()], config=Config(dialect="beta", max_cascade_rounds=5)
    )
    step = conn.send(c.InputAudioBufferCommit())
    types = [json.loads(f)["type"] for f in step.to_send]
    assert types == [
        "input_audio_buffer.commit",
        *["input_audio_buffer.clear", "input_audio_buffer.commit"] * 2,
        "input_audio_buffer.clear",
    ]
    assert [d.code for d in step.diagnostics] == ["cascade"]


def test_an_unencodable_returned_event_is_a_plugin_error() -> None:
    class Sloppy:
        def on_session_started(self, t: object, step: Step) -> list[c.ClientEvent]:
            return [
                c.InputAudioBufferAppend(audio=123),  # type: ignore[arg-type]
                c.ResponseCreate(),
            ]

    conn = ClientConnection(config=BETA, plugins=[Sloppy()], id_factory=ids())
    plain = ClientConnection(config=BETA)
    created = Server().session_created()
    step = conn.receive_event(created)
    assert [d.code for d in step.diagnostics] == ["plugin_error"]
    assert [json.loads(f)["type"] for f in step.to_send] == ["response.create"]
    # the good event is folded (it waits in the ledger); the bad one left no trace
    assert [p.event.type for p in conn.state.ledger.in_flight] == ["response.create"]
    assert conn.state.ledger.recent == ()
    assert conn.state.items == plain.receive_event(created).after.items

    strict = ClientConnection(
        plugins=[Sloppy()], config=Config(dialect="beta", plugin_errors="raise")
    )
    before = strict.state
    with pytest.raises(rtstate.LocalProtocolError):
        strict.receive_event(created)
    assert strict.state is before


# --- broken plugins ----------------------------------------------------------------------


def test_a_raising_plugin_is_detached_and_reported() -> None:
    log: list[tuple[str, str, object]] = []
    before_boom, after_boom = FullRecorder("before", log), FullRecorder("after", log)
    boom = FullExploding("on_text_appended", 2)
    conn = ClientConnection(config=BETA, plugins=[before_boom, boom, after_boom])
    srv = Server()
    conn.receive_event(srv.session_created())
    steps = [
        conn.receive_event(e)
        for e in srv.text_response(["a", "b", "c"], response_id="r", item_id="i")
    ]
    failing = [step for step in steps if step.diagnostics]
    assert len(failing) == 1
    (diagnostic,) = failing[0].diagnostics
    assert diagnostic.code == "plugin_error"
    assert "Boom" in diagnostic.message
    assert "detached" in diagnostic.message
    assert failing[0].transitions[0] == TextAppended(
        item_id="i", content_index=0, delta="b", response_id="r"
    )
    assert boom.detached_with == [(conn, boom.raised)]
    assert boom.calls_after_raise == 0  # not even its own on_step of that step
    assert conn.plugins == (before_boom, after_boom)
    # the others saw everything, the failing step included
    hooks = [(label, hook) for label, hook, _ in log]
    assert hooks.count(("before", "on_text_appended")) == 3
    assert hooks.count(("after", "on_text_appended")) == 3
    assert hooks.count(("after", "on_step")) == len(steps) + 1
    item = conn.state.item("i")
    assert item is not None
    assert item.text == "abc"


@pytest.mark.parametrize("junk", [42, "text", b"bytes", [c.ResponseCreate(), 3], object()])
def test_a_hook_returning_junk_is_a_plugin_error(junk: object) -> None:
    boom = FullExploding("on_session_started", 1, junk=junk)
    conn = ClientConnection(config=BETA, plugins=[boom])
    step = conn.receive_event(Server().session_created())
    assert [d.code for d in step.diagnostics] == ["plugin_error"]
    assert step.to_send == ()  # nothing from a plugin that returned junk
    assert conn.plugins == ()
    assert len(boom.detached_with) == 1
    assert isinstance(boom.detached_with[0][1], PluginError)
    assert step.after == fold(SessionState(), step.input).after

    raising = ClientConnection(
        plugins=[FullExploding("on_session_started", 1, junk=junk)],
        config=Config(plugin_errors="raise"),
    )
    before = raising.state
    with pytest.raises(PluginError, match=r"not (a client event|client events)"):
        raising.receive_event(Server().session_created())
    assert raising.state is before  # an rtstate error leaves the connection as it was


def test_plugin_errors_raise_reraises_the_plugins_exception() -> None:
    boom = FullExploding("on_text_appended", 1)
    conn = ClientConnection(plugins=[boom], config=Config(dialect="beta", plugin_errors="raise"))
    srv = Server()
    events = [srv.session_created(), *srv.text_response(["a", "b"], response_id="r", item_id="i")]
    for event in events[:5]:
        conn.receive_event(event)
    before = conn.state
    with pytest.raises(Boom) as info:
        conn.receive_event(events[5])  # the first text delta
    assert info.value is boom.raised
    assert boom.detached_with == []  # re-raised, not detached
    assert conn.state is before  # the failed call changed nothing: it can be retried
    assert conn.plugins == (boom,)


def test_a_raising_detached_hook_is_contained() -> None:
    class Fragile:
        def on_session_started(self, t: object, step: Step) -> None:
            raise Boom("first")

        def detached(self, conn: object, error: BaseException) -> None:
            raise Boom("second")

    log: list[tuple[str, str, object]] = []
    witness = FullRecorder("w", log)
    conn = ClientConnection(config=BETA, plugins=[Fragile(), witness])
    created = Server().session_created()
    step = conn.receive_event(created)
    assert step.after == fold(SessionState(), created).after
    assert step.after is conn.state
    assert {d.code for d in step.diagnostics} == {"plugin_error"}
    assert conn.plugins == (witness,)
    assert ("w", "on_step", None) in log


def test_detaching_one_of_two_equal_plugins_detaches_that_one() -> None:
    @dataclasses.dataclass
    class Flaky:
        broken: bool = dataclasses.field(compare=False)
        calls: int = dataclasses.field(default=0, compare=False)

        def on_step(self, step: Step) -> None:
            self.calls += 1
            if self.broken:
                raise Boom("broken")

    good, bad = Flaky(broken=False), Flaky(broken=True)
    assert good == bad  # equal values, different plugins
    conn = ClientConnection(config=BETA, plugins=[good, bad])
    conn.tick(0.0)
    conn.tick(1.0)
    assert len(conn.plugins) == 1
    assert conn.plugins[0] is good
    assert (good.calls, bad.calls) == (2, 1)


def test_a_plugin_registered_twice_is_detached_entirely() -> None:
    class Once:
        calls = 0

        def on_step(self, step: Step) -> None:
            self.calls += 1
            raise Boom("once")

    once = Once()
    conn = ClientConnection(config=BETA, plugins=[once, once])
    step = conn.tick(0.0)
    assert [d.code for d in step.diagnostics] == ["plugin_error"]
    conn.tick(1.0)
    assert once.calls == 1
    assert conn.plugins == ()


# --- plugins cannot change the fold (properties) -----------------------------------------


def _states(plugins: Sequence[object], calls: Sequence[Call]) -> tuple[list[Any], ClientConnection]:
    conn = ClientConnection(config=BETA, plugins=plugins, id_factory=ids())
    steps = run(conn, calls)
    assert [st.before for st in steps[1:]] == [st.after for st in steps[:-1]]
    trace = [(st.after, st.transitions, st.to_send) for st in steps]
    return trace, conn


@settings(max_examples=60)
@given(calls=sessions(), data=st.data(), junk=st.booleans())
def test_a_raising_plugin_leaves_the_states_identical(
    calls: list[Call], data: st.DataObject, junk: bool
) -> None:
    # pick a hook that this session really calls, and one of its calls, to fail on
    log_without: list[tuple[str, str, object]] = []
    without, _ = _states([FullRecorder("a", log_without), FullRecorder("b", log_without)], calls)
    called = [hook for label, hook, _ in log_without if label == "a"]
    trigger = data.draw(st.sampled_from(sorted(set(called))), label="trigger")
    after = data.draw(st.integers(min_value=1, max_value=called.count(trigger)), label="after")
    boom = FullExploding(trigger, after, junk=7 if junk else None)
    log_with: list[tuple[str, str, object]] = []
    with_boom, conn = _states(
        [FullRecorder("a", log_with), boom, FullRecorder("b", log_with)], calls
    )
    assert with_boom == without
    assert log_with == log_without  # the others kept running, unaffected
    assert boom.raised is not None
    assert boom not in conn.plugins
    ((got_conn, error),) = boom.detached_with
    assert got_conn is conn
    if junk:
        assert isinstance(error, PluginError)
    else:
        assert error is boom.raised
    assert boom.calls_after_raise == 0


@settings(max_examples=60)
@given(calls=sessions())
def test_plugins_that_return_nothing_do_not_change_the_fold(calls: list[Call]) -> None:
    quiet = [FullNoOp(None), FullNoOp([]), FullNoOp(())]
    with_plugins, conn = _states(quiet, calls)
    without, _ = _states([], calls)
    assert with_plugins == without
    assert conn.plugins == tuple(quiet)


def test_async_hooks_are_refused_at_registration() -> None:
    # a hook must return events; an async one would return a coroutine, be detached at
    # its first call and leave a "never awaited" warning behind
    class Awaiting:
        async def on_response_started(self, t: object, step: object) -> None:
            return None

    class Streaming:
        async def on_step(self, step: object) -> Any:
            yield c.ResponseCreate()

    class LateAttach:
        async def attached(self, conn: object) -> None:
            return None

    for plugin in (Awaiting(), Streaming(), LateAttach()):
        with pytest.raises(PluginError, match="async"):
            ClientConnection(config=BETA, plugins=[plugin])


class _FanOut:
    """Answers every step with ``k`` more events: exponential without an event bound."""

    def __init__(self, k: int) -> None:
        self.k = k

    def on_step(self, step: Step) -> list[c.ClientEvent]:
        return [c.InputAudioBufferClear() for _ in range(self.k)]


def test_cascade_fan_out_is_bounded_by_total_events() -> None:
    config = Config(max_cascade_rounds=8, max_cascade_events=50)
    conn = ClientConnection(config=config, plugins=[_FanOut(10)])
    step = conn.tick(0.0)
    assert len(step.to_send) == 50
    assert [d.code for d in step.diagnostics].count("cascade") == 1


def test_zero_history_limits_keep_nothing_and_negative_limits_are_refused() -> None:
    conn = ClientConnection(config=Config(max_finished_responses=0, max_input_buffer_history=0))
    conn.receive_event(s.SessionCreated(event_id="e0", session=SessionConfig(id="s")))
    conn.receive_event(
        s.InputAudioBufferCommitted(event_id="e1", item_id="i1", previous_item_id=None)
    )
    assert conn.state.input_buffer.committed == ()
    with pytest.raises(ValueError, match="max_input_buffer_history"):
        Config(max_input_buffer_history=-1)


def test_detach_removes_a_plugin_and_tells_it_once() -> None:
    seen: list[str] = []
    told: list[BaseException | None] = []

    class Watcher:
        def on_session_started(self, t: object, step: Step) -> None:
            seen.append("started")

        def detached(self, connection: object, error: BaseException | None) -> None:
            told.append(error)

    watcher = Watcher()
    conn = ClientConnection(config=BETA, plugins=[watcher])
    error = RuntimeError("outside the fold")
    conn.detach(watcher, error)
    conn.detach(watcher, error)  # no longer attached: nothing happens
    assert conn.plugins == ()
    assert told == [error]
    conn.receive(beta.encode(s.SessionCreated(event_id="e1", session=SessionConfig(id="s1"))))
    assert seen == []
