"""Waiting on a connection: ``wait_for`` with a timeout, ``request`` (send and wait,
failing with ``RequestRejected``), ``transitions()`` feeds, and the blocking facade's
counterparts; on asyncio and trio, against the in-memory and loopback fake server.
"""

from __future__ import annotations

import math

import anyio
import attrs
import pytest
from support.helpers import user_text
from support.transport_helpers import TEXT_ONLY, raw_server, session_created

import rtstate
from rtstate import Step
from rtstate import transitions as t
from rtstate.events import client as c
from rtstate.events.payloads import ErrorInfo, ResponseParams
from rtstate.server import ScriptedResponder, ServerConfig
from rtstate.state import SessionState
from rtstate.step import Tick
from rtstate.transport import (
    Server,
    connect,
    connect_blocking,
    connect_in_memory,
    serve_in_thread,
)
from rtstate.transport._watch import Waiter

BAD_VOICE = c.ResponseCreate(response=ResponseParams(voice="no-such-voice"))
LONG = " ".join(f"word{n}" for n in range(40))


def text_server(*replies: str, **config: float) -> Server:
    return Server(
        responder=lambda: ScriptedResponder(list(replies), cycle=True),
        config=ServerConfig(**config),  # type: ignore[arg-type]
    )


async def started(conn: rtstate.AsyncConnection) -> None:
    await conn.wait_for(t.SessionStarted, timeout=10)
    await conn.request(c.SessionUpdate(session=TEXT_ONLY), timeout=10)


# --- wait_for: timeout, backlog, concurrency --------------------------------------------


@pytest.mark.anyio
async def test_wait_for_times_out_with_the_builtin_timeout_error() -> None:
    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        before = conn.state
        with pytest.raises(TimeoutError, match=r"within 0\.2 s"):
            await conn.wait_for(t.ResponseFinished, timeout=0.2)
        assert conn.state is before and conn.closed is None  # nothing changed
        await conn.send(c.ResponseCreate())  # and the connection goes on
        step = await conn.wait_for(t.ResponseFinished, timeout=10)
        assert step.after.items[-1].text == "Hi."


@pytest.mark.anyio
async def test_a_step_folded_before_the_call_is_found_once() -> None:
    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        await conn.send(c.ResponseCreate())
        with anyio.fail_after(10):  # the answer is folded while nobody waits
            while not conn.state.items or conn.state.active_response is not None:
                await anyio.sleep(0.01)
        step = await conn.wait_for(t.ResponseFinished, timeout=1)
        assert any(isinstance(x, t.ResponseFinished) for x in step.transitions)
        with pytest.raises(TimeoutError):  # the Step a wait returned is not found again
            await conn.wait_for(t.ResponseFinished, timeout=0.2)


@pytest.mark.anyio
async def test_waiters_never_miss_their_step_when_nobody_reads_steps() -> None:
    # a one-Step buffer that nobody reads, a long streamed answer, and three tasks
    # waiting for three different Steps of it at once: each gets its own
    async with connect_in_memory(text_server(LONG), step_buffer=1) as conn:
        await started(conn)
        got: dict[str, Step] = {}

        async def wait(name: str, until: rtstate.transport.Until) -> None:
            got[name] = await conn.wait_for(until, timeout=10)

        def text(state: SessionState) -> str:
            return (state.items[-1].text or "") if state.items else ""

        def reaches(word: str) -> rtstate.transport.Until:  # the Step whose delta ends it
            return lambda s: word in text(s.after) and word not in text(s.before)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait, "first", t.ResponseStarted)
            tasks.start_soon(wait, "middle", reaches("word20 "))
            tasks.start_soon(wait, "also-first", t.ResponseStarted)
            tasks.start_soon(wait, "done", t.ResponseFinished)
            await anyio.sleep(0)
            await conn.send(c.ResponseCreate())
        assert conn.steps_dropped > 0
        assert got["first"] is got["also-first"]  # one Step may end several waits
        assert text(got["middle"].after).startswith(" ".join(LONG.split()[:21]) + " ")
        assert not text(got["first"].after)
        assert got["done"].after.items[-1].text == LONG


@pytest.mark.anyio
async def test_wait_for_takes_nothing_from_steps() -> None:
    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        await conn.send(c.ResponseCreate())
        done = await conn.wait_for(t.ResponseFinished, timeout=10)
        seen: list[Step] = []
        with anyio.fail_after(10):
            async for step in conn.steps():
                seen.append(step)
                if step is done:
                    break
        assert any(isinstance(x, t.SessionStarted) for x in seen[0].transitions)


@pytest.mark.anyio
async def test_a_predicate_that_raises_fails_its_wait_only() -> None:
    class Broken(Exception):
        pass

    def broken(step: Step) -> bool:
        raise Broken

    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        with pytest.raises(Broken):
            await conn.request(c.ResponseCreate(), broken, timeout=10)
        await conn.wait_for(t.ResponseFinished, timeout=10)  # the reader went on
        assert conn.closed is None


@pytest.mark.anyio
async def test_wait_for_refuses_what_is_not_a_predicate_or_transition_classes() -> None:
    async with connect_in_memory() as conn:
        with pytest.raises(TypeError):
            await conn.wait_for(c.ResponseCreate, timeout=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await conn.wait_for(t.ResponseFinished, request=c.ResponseCreate(), timeout=1)


# --- request and rejection ----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_rejected_request_raises_request_rejected_with_the_servers_error() -> None:
    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        with pytest.raises(rtstate.RequestRejected) as info:
            await conn.request(BAD_VOICE, t.ResponseFinished, timeout=10)
        error = info.value
        assert isinstance(error.event, c.ResponseCreate) and error.event.event_id is not None
        assert error.event.response == BAD_VOICE.response
        assert error.error == conn.state.last_error
        assert error.error.param is not None and "voice" in error.error.param
        assert error.error.message and "no-such-voice" in error.error.message
        assert error.error.message in str(error) and error.event_type == "response.create"
        assert conn.closed is None  # the connection goes on
        await conn.request(c.ResponseCreate(), t.ResponseFinished, timeout=10)


@pytest.mark.anyio
async def test_a_refused_item_create_raises_and_an_accepted_one_returns_its_ack() -> None:
    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        orphan = attrs.evolve(user_text("lost"), previous_item_id="item_missing")
        with pytest.raises(rtstate.RequestRejected, match="item_missing") as info:
            await conn.request(orphan, timeout=10)
        assert info.value.path == "previous_item_id"
        assert not conn.state.items  # rolled back
        step = await conn.request(user_text("hello"), timeout=10)  # until=None: the ack
        assert [i.text for i in step.after.items] == ["hello"]
        assert not step.after.ledger.in_flight


@pytest.mark.anyio
async def test_wait_for_request_takes_the_step_send_returned() -> None:
    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        sent = await conn.send(BAD_VOICE)
        with pytest.raises(rtstate.RequestRejected):  # its error may already be folded
            await conn.wait_for(t.ResponseFinished, request=sent, timeout=10)
        with pytest.raises(rtstate.RequestRejected):  # the event as sent works too
            await conn.wait_for(t.ResponseFinished, request=sent.input, timeout=10)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_wait_for_a_request_ignores_steps_folded_before_it_was_sent() -> None:
    async with connect_in_memory(text_server("One.", "Two.")) as conn:
        await started(conn)
        await conn.send(c.ResponseCreate())  # nobody waits for this one
        with anyio.fail_after(10):
            while not conn.state.items or conn.state.active_response is not None:
                await anyio.sleep(0.01)
        sent = await conn.send(c.ResponseCreate())
        step = await conn.wait_for(t.ResponseFinished, request=sent, timeout=10)
        assert step.after.items[-1].text == "Two."  # not the first reply's Step


@pytest.mark.anyio
async def test_request_rejected_leaves_connect_as_itself() -> None:
    with pytest.raises(rtstate.RequestRejected) as info:
        async with connect_in_memory(text_server("Hi.")) as conn:
            await started(conn)
            await conn.request(BAD_VOICE, t.ResponseFinished, timeout=10)
    assert type(info.value) is rtstate.RequestRejected


@pytest.mark.anyio
async def test_request_of_an_event_never_acknowledged_returns_its_send() -> None:
    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        step = await conn.request(c.InputAudioBufferAppend(audio="AAAA"), timeout=1)
        assert step.input.__class__ is c.InputAudioBufferAppend


@pytest.mark.anyio
async def test_a_requested_response_waits_for_its_own_response_not_another() -> None:
    # a default response that ends first, and an out-of-band one asked for while it
    # runs: request(create, ResponseFinished) returns the out-of-band response's end
    async with connect_in_memory(text_server("Short.", LONG, delta_interval=0.01)) as conn:
        await started(conn)
        await conn.request(c.ResponseCreate(), timeout=10)  # the default one: "Short."
        aside = rtstate.build.response_create(conversation="none", metadata={"k": "v"})
        step = await conn.request(aside, t.ResponseFinished, timeout=10)
        (finished,) = [x for x in step.transitions if isinstance(x, t.ResponseFinished)]
        assert finished.out_of_band
        own = step.after.responses.get(finished.response_id) or step.after.finished[-1]
        assert own.metadata == {"k": "v"}
        default = [r for r in step.after.finished if not r.out_of_band]
        assert len(default) == 1  # the default one had ended before, and did not count
        assert step.after.response_items(finished.response_id)[-1].text == LONG


def rejection_step(event: c.ClientEvent, requeued: bool) -> Step:
    error = ErrorInfo(code="conversation_already_has_active_response", event_id=event.event_id)
    transitions: tuple[t.Transition, ...] = (t.ClientEventRejected(event=event, error=error),)
    if requeued:
        transitions += (t.ClientEventQueued(event=attrs.evolve(event, event_id=None)),)
    state = SessionState()
    return Step(input=Tick(now=0.0), before=state, after=state, transitions=transitions)


def test_a_requeued_create_is_followed_to_its_retry() -> None:
    # the core queues a create refused for a race with a response it did not ask for,
    # and sends it again under a new event_id: the waiter follows it there
    create = c.ResponseCreate(event_id="evt_1")
    waiter = Waiter(None)
    waiter.track(create)
    assert not waiter.offer(rejection_step(create, requeued=True))
    retry = attrs.evolve(create, event_id="evt_2")
    state = SessionState()
    assert not waiter.offer(Step(input=Tick(now=1.0), before=state, after=state, sent=(retry,)))
    assert not waiter.offer(rejection_step(create, requeued=False))  # the old id: not it
    assert waiter.offer(rejection_step(retry, requeued=False))
    assert isinstance(waiter.error, rtstate.RequestRejected)
    assert waiter.error.event.event_id == "evt_2"


def test_a_coalesced_request_is_followed_into_the_event_it_joined() -> None:
    mine = c.ResponseCreate(event_id="evt_mine")
    queued = c.ResponseCreate(event_id="evt_queued")
    waiter = Waiter(lambda step: False)
    waiter.track(mine)
    state = SessionState()
    joined = (t.ClientEventCoalesced(event=mine, into=queued),)
    assert not waiter.follow(Step(input=mine, before=state, after=state, transitions=joined))
    assert waiter.offer(rejection_step(queued, requeued=False))
    assert isinstance(waiter.error, rtstate.RequestRejected)
    assert waiter.error.event is queued


def test_a_create_dropped_on_a_full_queue_ends_its_wait_with_request_dropped() -> None:
    # max_in_flight=1: one create in flight, one queued, the third dropped unsent
    conn = rtstate.ClientConnection(config=rtstate.Config(max_in_flight=1))
    conn.receive(session_created())
    first, queued = (
        conn.send(c.ResponseCreate()),
        conn.send(c.ResponseCreate(response=ResponseParams(instructions="second"))),
    )
    assert first.sent and not queued.sent and conn.state.ledger.queued
    third = c.ResponseCreate(response=ResponseParams(instructions="third"))
    step = conn.send(third)
    assert [d.code for d in step.diagnostics] == ["queue_full"] and not step.sent
    waiter = Waiter(t.ResponseFinished)
    waiter.track(step.input)  # type: ignore[arg-type]
    assert waiter.follow(step)
    assert isinstance(waiter.error, rtstate.RequestDropped)
    assert waiter.error.event is step.input and waiter.error.reason == "queue_full"
    assert "already queued" in str(waiter.error)
    # the queued one is still queued, not dropped: its wait goes on
    other = Waiter(t.ResponseFinished)
    other.track(queued.input)  # type: ignore[arg-type]
    assert not other.follow(step) and other.error is None
    # and the one sent long ago is never taken for dropped
    sent = Waiter(t.ResponseFinished)
    sent.track(first.input)  # type: ignore[arg-type]
    assert not sent.follow(first) and not sent.offer(step) and sent.error is None


@pytest.mark.anyio
async def test_request_raises_request_dropped_at_once_when_the_queue_is_full() -> None:
    config = rtstate.Config(max_in_flight=1)
    async with connect_in_memory(text_server(LONG, delta_interval=0.01), config=config) as conn:
        await started(conn)
        await conn.request(c.ResponseCreate(), timeout=10)  # a response runs
        await conn.send(c.ResponseCreate(response=ResponseParams(instructions="2")))  # queued
        extra = c.ResponseCreate(response=ResponseParams(instructions="one too many"))
        with anyio.fail_after(5), pytest.raises(rtstate.RequestDropped) as dropped:
            await conn.request(extra, t.ResponseFinished, timeout=60)
        assert dropped.value.event == attrs.evolve(extra, event_id=dropped.value.event.event_id)
        assert conn.closed is None  # the connection goes on
        step = await conn.wait_for(t.ResponseFinished, timeout=10)
        assert step.after.items[-1].text == LONG


# --- the connection ending ----------------------------------------------------------------


@pytest.mark.anyio
async def test_a_wait_ends_with_connection_closed_when_the_server_closes() -> None:
    async with connect_in_memory(text_server("Hi.", session_duration=0.5)) as conn:
        await started(conn)
        with pytest.raises(rtstate.ConnectionClosed) as info:
            await conn.wait_for(lambda step: False, timeout=10)
        assert info.value.code == 1001
        with pytest.raises(rtstate.ConnectionClosed):  # and at once once closed
            await conn.wait_for(lambda step: False, timeout=10)
        closing = await conn.wait_for(t.TransportClosed, timeout=1)  # the close is a Step
        assert closing.after.phase is rtstate.state.SessionPhase.CLOSED


@pytest.mark.anyio
async def test_aclose_ends_every_waiter_and_feed() -> None:
    outcomes: list[BaseException] = []
    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        feed = conn.transitions(t.TextAppended)

        async def waiter() -> None:
            try:
                await conn.wait_for(t.ResponseFinished)
            except rtstate.ConnectionClosed as exc:
                outcomes.append(exc)

        async def reader() -> None:
            outcomes.extend([StopAsyncIteration()] if not [x async for x in feed] else [])

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(waiter)
            tasks.start_soon(waiter)
            tasks.start_soon(reader)
            await anyio.sleep(0.05)
            await conn.aclose()
    assert [type(x) for x in outcomes].count(rtstate.ConnectionClosed) == 2
    assert any(isinstance(x, StopAsyncIteration) for x in outcomes)


@pytest.mark.anyio
async def test_a_wait_goes_on_across_an_announced_redial() -> None:
    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        got: list[Step] = []

        async def wait() -> None:
            got.append(await conn.wait_for(t.SessionStarted, timeout=10))

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            await anyio.sleep(0)
            conn.expect_redial()
            await conn.redial()  # the old WebSocket closes: the waiter stays
        assert got and got[0].after.phase is not rtstate.state.SessionPhase.CLOSED
        assert conn.closed is None


@pytest.mark.anyio
async def test_a_request_the_server_never_answers_times_out() -> None:
    # the core gives the acknowledgement up after ack_timeout: request(until=None) says so
    config = rtstate.Config(dialect="beta", ack_timeout=0.2)
    async with (
        raw_server([session_created()], then="hang") as peer,
        connect(peer.url, config=config, ping_interval=None) as conn,
    ):
        await conn.wait_for(t.SessionStarted, timeout=10)
        with pytest.raises(TimeoutError, match="ack_timeout"):
            await conn.request(c.SessionUpdate(session=TEXT_ONLY), timeout=10)
        with pytest.raises(TimeoutError, match="within"):  # and the caller's own timeout
            await conn.request(c.SessionUpdate(session=TEXT_ONLY), t.ResponseFinished, timeout=0.3)


@pytest.mark.anyio
async def test_a_wait_raises_the_readers_error_in_strict_mode() -> None:
    config = rtstate.Config(dialect="beta", strict=True)
    async with raw_server([session_created(), "this is not json"], then="hang") as peer:
        with pytest.raises(rtstate.RemoteProtocolError, match="not valid JSON"):
            async with connect(peer.url, config=config, ping_interval=None) as conn:
                await conn.wait_for(t.ResponseFinished, timeout=10)


# --- transitions() ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_transitions_yields_only_the_given_classes_in_fold_order() -> None:
    async with connect_in_memory(text_server(LONG), step_buffer=1) as conn:
        await started(conn)
        feed = conn.transitions(t.TextAppended, t.ResponseFinished, buffer=math.inf)
        everything = conn.transitions(buffer=math.inf)
        await conn.send(c.ResponseCreate())
        got: list[t.Transition] = []
        with anyio.fail_after(10):
            async for x in feed:
                got.append(x)
                if isinstance(x, t.ResponseFinished):
                    break
            all_seen = []
            async for x in everything:
                all_seen.append(x)
                if isinstance(x, t.ResponseFinished):
                    break
        assert {type(x) for x in got} == {t.TextAppended, t.ResponseFinished}
        assert isinstance(got[-1], t.ResponseFinished)
        assert "".join(x.delta for x in got if isinstance(x, t.TextAppended)) == LONG
        # in the order they were folded: the same as among all transitions
        assert got == [x for x in all_seen if isinstance(x, t.TextAppended | t.ResponseFinished)]
        assert len(all_seen) > len(got) and feed.dropped == 0
        assert conn.steps_dropped > 0  # steps() lost Steps; the feeds lost nothing


@pytest.mark.anyio
async def test_a_feed_left_behind_stops_receiving() -> None:
    async with connect_in_memory(text_server("Hi.")) as conn:
        await started(conn)
        await conn.send(c.ResponseCreate())
        async for _ in conn.transitions(t.TextAppended):
            break  # nothing refers to the feed any more
        kept = conn.transitions(t.TextAppended)
        await kept.aclose()
        assert [x async for x in kept] == []
        await conn.wait_for(t.ResponseFinished, timeout=10)
        assert not conn._watch.listening  # neither is fed


@pytest.mark.anyio
async def test_transitions_ends_with_the_connection() -> None:
    async with connect_in_memory(text_server("Hi.", session_duration=0.5)) as conn:
        await started(conn)
        with anyio.fail_after(10):
            kinds = [type(x) async for x in conn.transitions(t.SessionExpired, t.TransportClosed)]
        assert kinds == [t.SessionExpired, t.TransportClosed]
        assert [x async for x in conn.transitions()] == []  # made after the end: empty


# --- the blocking facade ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_blocking_wait_for_request_and_transitions(backend: str) -> None:
    responder = ScriptedResponder(["One.", "Two."])
    with (
        serve_in_thread(backend=backend, responder=lambda: responder) as server,
        connect_blocking(server.url, backend=backend) as conn,
    ):
        conn.wait_for(t.SessionStarted, timeout=10)
        conn.request(c.SessionUpdate(session=TEXT_ONLY), timeout=10)
        with pytest.raises(TimeoutError):
            conn.wait_for(t.ResponseFinished, timeout=0.2)
        with pytest.raises(rtstate.RequestRejected, match="no-such-voice"):
            conn.request(BAD_VOICE, t.ResponseFinished, timeout=10)
        with conn.transitions(t.TextAppended, t.ResponseFinished) as feed:
            step = conn.request(c.ResponseCreate(), t.ResponseFinished, timeout=10)
            got: list[t.Transition] = []
            for x in feed:
                got.append(x)
                if isinstance(x, t.ResponseFinished):
                    break
        assert step.after.items[-1].text == "One."
        assert "".join(x.delta for x in got if isinstance(x, t.TextAppended)) == "One."


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_blocking_wait_for_ends_with_connection_closed(backend: str) -> None:
    config = ServerConfig(session_duration=0.5)
    with (
        serve_in_thread(backend=backend, config=config) as server,
        connect_blocking(server.url, backend=backend) as conn,
        pytest.raises(rtstate.ConnectionClosed),
    ):
        conn.wait_for(lambda step: False, timeout=10)
