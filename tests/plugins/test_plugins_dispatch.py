"""``Plugins.dispatch``'s fast loop and ``ClientConnection.receive``'s inlined path
against plain references, over generated sessions in both dialects.

``dispatch`` takes a fast loop for a step of one transition without ``on_step`` hooks
and hands over to the general loop at the first hook that returns something or
raises; ``receive`` folds without going through ``_run`` when nothing is to be sent
and no plugin is attached. Both must give what the plain loops give: the same hook
calls in the same order, the same events, diagnostics and detached plugins, the same
Steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support.dialects import in_dialects

from rtstate import ClientConnection, Config, SessionState, Step, fold
from rtstate.codec import codec_for
from rtstate.config import Dialect
from rtstate.events import client as c
from rtstate.events.client import UnknownClientEvent
from rtstate.plugins import Dispatched, Plugins, _events
from rtstate.step import Diagnostic, Tick
from rtstate.testing.script import Script
from rtstate.testing.strategies import sessions
from rtstate.transitions import TRANSITION_TYPES, TextAppended, hook_name

ACTIONS = ("none", "none", "none", "event", "events", "empty", "raise", "junk")
"""What a scripted hook does on a call (mostly nothing, as real plugins)."""

HOOKED = [hook_name(t) for t in TRANSITION_TYPES]


class Boom(Exception):
    pass


def scripted(
    name: str, hooks: list[str], on_step: bool, actions: list[str], log: list[Any]
) -> object:
    """A plugin with ``hooks`` (and ``on_step``) that logs each call and does the next
    of ``actions`` (cycling)."""
    calls = iter(range(10**9))

    def act(hook: str, args: tuple[object, ...]) -> object:
        n = next(calls)
        log.append((name, hook, id(args[0])))
        action = actions[n % len(actions)]
        if action == "event":
            return c.ResponseCreate(event_id=f"{name}_{n}")
        if action == "events":
            return [c.InputAudioBufferClear(event_id=f"{name}_{n}"), c.ResponseCancel()]
        if action == "empty":
            return []
        if action == "raise":
            raise Boom(f"{name} {n}")
        if action == "junk":
            return 42
        return None

    def make(hook: str) -> Callable[..., object]:
        return lambda *args: act(hook, args)

    namespace = {hook: staticmethod(make(hook)) for hook in hooks}
    if on_step:
        namespace["on_step"] = staticmethod(make("on_step"))
    return type(name, (), namespace)()


def reference(plugins: list[object], step: Step) -> tuple[list[Any], list[Diagnostic], list[int]]:
    """Dispatch as documented, plainly: each transition's hooks in registration order,
    then ``on_step``; a plugin that raised or returned junk is skipped afterwards."""
    events: list[Any] = []
    diagnostics: list[Diagnostic] = []
    failed: list[int] = []
    calls = [(t, hook_name(type(t))) for t in step.transitions] + [(None, "on_step")]
    for t, hook in calls:
        for i, plugin in enumerate(plugins):
            fn = getattr(plugin, hook, None)
            if fn is None or i in failed:
                continue
            try:
                result = fn(step) if t is None else fn(t, step)
                if result is not None:
                    events.extend(_events(result))
            except Exception as exc:
                failed.append(i)
                diagnostics.append(
                    Diagnostic(
                        code="plugin_error",
                        message=f"{type(plugin).__name__} raised {exc!r}; detached",
                    )
                )
    return events, diagnostics, failed


plugin_specs = st.lists(
    st.tuples(
        st.lists(st.sampled_from(HOOKED), max_size=6, unique=True),
        st.booleans(),
        st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=4,
)


def fold_steps(script: Script, dialect: Dialect) -> list[Step]:
    state = SessionState()
    steps = []
    for _, event in script.events:
        if isinstance(event, UnknownClientEvent):
            continue
        step = fold(state, event, Config(dialect=dialect))
        steps.append(step)
        state = step.after
    return steps


@settings(max_examples=80, deadline=None)
@given(in_dialects(sessions, max_flows=4), plugin_specs)
def test_dispatch_agrees_with_the_plain_loop(
    case: tuple[Dialect, Script], specs: list[tuple[list[str], bool, list[str]]]
) -> None:
    dialect, script = case
    fast_log: list[Any] = []
    slow_log: list[Any] = []
    fast_plugins = [scripted(f"P{i}", h, s, a, fast_log) for i, (h, s, a) in enumerate(specs)]
    slow_plugins = [scripted(f"P{i}", h, s, a, slow_log) for i, (h, s, a) in enumerate(specs)]
    registry = Plugins(fast_plugins)
    alive = list(range(len(slow_plugins)))
    for step in fold_steps(script, dialect):
        found = registry.dispatch(step)
        events, diagnostics, failed = reference([slow_plugins[i] for i in alive], step)
        assert fast_log == slow_log
        if found is None:
            # nothing allocated: no hook returned anything
            assert not events and not diagnostics
            continue
        assert isinstance(found, Dispatched)
        assert found.events == events
        assert found.diagnostics == diagnostics
        assert [fast_plugins.index(p) for p, _ in found.failed] == [alive[i] for i in failed]
        alive = [a for n, a in enumerate(alive) if n not in failed]
        assert [fast_plugins.index(p) for p in registry.active] == alive


def test_dispatch_resumes_after_the_hook_that_returned() -> None:
    """The fast loop's hand-over: the hooks before the one that returned are not
    called again, and those after it still run, in order."""
    log: list[Any] = []
    quiet = scripted("Q", ["on_text_appended"], False, ["none"], log)
    loud = scripted("L", ["on_text_appended"], False, ["event"], log)
    broken = scripted("B", ["on_text_appended"], False, ["raise"], log)
    registry = Plugins([quiet, loud, quiet, broken, quiet])
    appended = TextAppended(item_id="i", content_index=0, delta="x", response_id="r")
    step = Step(
        input=Tick(now=0.0), before=SessionState(), after=SessionState(), transitions=(appended,)
    )
    found = registry.dispatch(step)
    assert found is not None
    assert [name for name, _, _ in log] == ["Q", "L", "Q", "B", "Q"]
    assert [type(e) for e in found.events] == [c.ResponseCreate]
    assert [p for p, _ in found.failed] == [broken]
    assert registry.active == (quiet, loud, quiet, quiet)
    assert registry.dispatch(step) is not None  # still hooked: the loud one returns again
    assert [name for name, _, _ in log[5:]] == ["Q", "L", "Q", "Q"]


@settings(max_examples=60, deadline=None)
@given(in_dialects(sessions, max_flows=4), st.booleans())
def test_receive_gives_the_steps_of_the_general_path(
    case: tuple[Dialect, Script], with_plugins: bool
) -> None:
    """``receive`` (the inlined path) and ``receive_event`` of the decoded frame
    (through ``_run``) give equal Steps and states, with and without plugins."""
    dialect, script = case
    config = Config(dialect=dialect)
    decode = codec_for(dialect).decode_server

    def plugins() -> list[object]:
        if not with_plugins:
            return []
        return [
            scripted("N", HOOKED, True, ["none"], []),
            scripted("E", ["on_item_added"], False, ["event"], []),
        ]

    fast = ClientConnection(config=config, plugins=plugins())
    slow = ClientConnection(config=config, plugins=plugins())
    frames = script.frames(dialect)
    for (direction, event), (_, frame) in zip(script.events, frames, strict=True):
        if direction == "server":
            got = fast.receive(frame)
            want = slow.receive_event(decode(frame))
            assert got == want
        elif not isinstance(event, UnknownClientEvent):
            assert fast.send(event) == slow.send(event)  # type: ignore[arg-type]
        assert fast.state == slow.state
