"""``rtstate_plugins.reconnect`` (sans-IO part): the backoff policy and the redial
decision, against the fake server; the redial itself is the async adapter's."""

from __future__ import annotations

import itertools

import pytest
from rtstate_plugins import Backoff, GiveUp, Reconnect, Redial
from rtstate_plugins.reconnect import Decision
from support.server_harness import Loop

from rtstate import ClientConnection, Config
from rtstate.events import client as c
from rtstate.events.payloads import ResponseParams
from rtstate.server import ScriptedResponder, ServerConfig
from rtstate.state import SessionPhase


def test_backoff_is_capped_exponential_with_jitter() -> None:
    plain = Backoff(initial=1.0, factor=2.0, cap=10.0, jitter="none")
    assert [plain.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert plain.ceiling(10_000) == 10.0  # no overflow
    full = Backoff(initial=1.0, cap=10.0, jitter="full")
    assert full.delay(3, lambda: 0.5) == 2.0 and full.delay(3, lambda: 0.0) == 0.0
    equal = Backoff(initial=1.0, cap=10.0, jitter="equal")
    assert equal.delay(3, lambda: 0.0) == 2.0 and equal.delay(3, lambda: 0.999) < 4.0
    assert Backoff(max_attempts=2).allows(2) and not Backoff(max_attempts=2).allows(3)
    assert Backoff(max_attempts=None).allows(10**6)
    with pytest.raises(ValueError):
        Backoff(initial=0)
    with pytest.raises(ValueError):
        plain.ceiling(0)


def chat(plugin: Reconnect, config: ServerConfig | None = None) -> Loop:
    client = ClientConnection(config=Config(strict=True), plugins=[plugin])
    replies = ScriptedResponder(["Hello!"], cycle=True)
    loop = Loop(client=client, responder=replies, config=config or ServerConfig())
    loop.start()
    loop.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    return loop


def test_a_dropped_transport_gives_redials_with_growing_delays_then_give_up() -> None:
    decisions: list[Decision] = []
    clock = itertools.count(100.0, 1.0)
    plugin = Reconnect(
        Backoff(initial=1.0, jitter="none", max_attempts=3),
        on_decision=decisions.append,
        clock=lambda: next(clock),
        random=lambda: 0.0,
    )
    loop = chat(plugin)
    assert plugin.decision is None and plugin.attempt == 0
    loop.client.transport_closed(1006, "abnormal")
    first = plugin.decision
    assert isinstance(first, Redial)
    assert (first.reason, first.attempt, first.delay, first.at) == ("closed", 1, 1.0, 101.0)
    assert type(first.plan.events[0]).__name__ == "SessionUpdate"
    assert len(first.plan.id_map) == 1  # the assistant's answer is carried over
    second = plugin.failed()
    third = plugin.failed()
    assert isinstance(second, Redial) and isinstance(third, Redial)
    assert [second.delay, third.delay] == [2.0, 4.0] and third.plan is first.plan
    gave_up = plugin.failed()
    assert gave_up == GiveUp(reason="closed", attempts=3)
    assert decisions == [first, second, third, gave_up]
    with pytest.raises(Exception, match="without a redial"):
        plugin.failed()


def test_expiry_decides_once_and_a_resumed_session_resets_the_count() -> None:
    plugin = Reconnect(Backoff(jitter="none"), clock=lambda: 0.0)
    loop = chat(plugin, config=ServerConfig(session_duration=5.0))
    loop.advance(6.0)  # session_expired, then the server closes
    assert loop.client.state.phase is SessionPhase.CLOSED
    decision = plugin.decision
    assert isinstance(decision, Redial) and decision.reason == "expired"
    assert decision.attempt == 1  # the close after the expiry is the same loss

    # the adapter's part, by hand: a new transport, resume, the new session starts
    resumed = loop.client.resume(decision.plan)
    assert plugin.decision is None
    fresh = Loop(client=loop.client, responder=ScriptedResponder(["Welcome back."])).start()
    for frame in resumed.to_send:
        fresh.send_raw(frame)
    assert plugin.attempt == 0
    assert [i.text for i in loop.client.state.items] == ["Hello!"]
    fresh.send(c.ResponseCreate(response=ResponseParams(modalities=("text",))))
    assert loop.client.state.items[-1].text == "Welcome back."


def test_a_close_the_app_asked_for_is_not_redialled() -> None:
    plugin = Reconnect()
    loop = chat(plugin)
    plugin.closing()
    loop.client.transport_closed(1000, "bye")
    assert plugin.decision is None
