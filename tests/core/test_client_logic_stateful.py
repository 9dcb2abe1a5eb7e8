"""The client protocol logic under random interleavings.

A strict ``ClientConnection`` talks to the fake server (``rtstate.server``) over an
ordered in-memory wire (``server_harness.Loop(ordered=True)``). The rules mix client
actions -- ``response.create`` with and without parameters, user text items (with and
without a client id), input audio (speech or silence, so server VAD starts
responses and barges in), commits, playback reports, ``interrupt()``, cancels,
function-call outputs for the calls the server made -- with the passing of time (the
server's responses are paced, so they are in progress when client actions land) and
with a slow network: ``hold`` keeps the server's frames on the wire, ``deliver`` hands
the client a few of them, ``release`` the rest.

After every step:

1. never two ``response.create`` in flight: at most one in flight in the ledger, and
   every ``conversation_already_has_active_response`` the server sends is a genuine
   race (see ``_explain_active_response_error``);
2. every frame the client sends has an ``event_id`` unique over the run, and the
   ledger knows it right after the call that sent it;
3. the ledger stays within ``Config.max_in_flight`` / ``max_recent_events``;
4. no ``conversation.item.truncate`` cuts past the audio the client had received;

and the client reported informational diagnostics only (expected races).

The races met are recorded in ``races`` (``--hypothesis-show-statistics`` counts the
runs with one). The machine found four core bugs, fixed since; each keeps a minimal
reproduction at the end of the file: the ``.done`` events of an interrupted response
"differed from their deltas" (a strict client raised), a create retried after
``conversation_already_has_active_response`` reused its ``event_id``, and a full
ledger evicted an in-flight create. The fourth, such a retry queued past
``max_in_flight`` beside an identical queued create, is reproduced in
``test_client_logic.py`` (``test_a_refused_create_retried_*``).
"""

from __future__ import annotations

import json

import attrs
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from support.server_harness import FlatVoice, Loop, silence, speech

from rtstate import ClientConnection, Config, Step
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import ContentPart, Item, ResponseParams, Tool
from rtstate.server import (
    DEFAULT_SESSION,
    FunctionCall,
    Message,
    Output,
    Reply,
    Responder,
    ScriptedResponder,
    ServerConfig,
    ServerConnection,
    ToolCallingResponder,
    sequential_ids,
)
from rtstate.state import SessionPhase
from rtstate.step import Tick
from rtstate.testing import check_stream, format_violations
from rtstate.transitions import ClientEventTimedOut

ACTIVE = "conversation_already_has_active_response"
TOOLS = (Tool(name="lookup"),)

SCRIPT: list[str | Reply | Output] = [
    "Sure, here is a short answer.",
    Reply(outputs=(Message(text="First, this."), Message(text="Then that, at length."))),
    FunctionCall(name="lookup", arguments='{"q":"x"}'),
    Reply(
        outputs=(
            FunctionCall(name="lookup", arguments='{"q":"a"}'),
            FunctionCall(name="lookup", arguments='{"q":"b"}'),
        )
    ),
    "A somewhat longer answer, there to be interrupted halfway through.",
]

CLIENT_CONFIGS = [
    Config(strict=True),
    # small enough for the bounds to bite: held frames pile up in-flight events
    Config(strict=True, max_in_flight=3, max_recent_events=2, ack_timeout=3.0),
]

RESPONSE_PARAMS = [
    None,
    ResponseParams(modalities=("text",)),
    ResponseParams(instructions="Be brief."),
]


def _event_id(frame: str) -> str | None:
    value = json.loads(frame).get("event_id")
    return value if isinstance(value, str) else None


class ClientLogic(RuleBasedStateMachine):
    loop: Loop
    config: Config

    def __init__(self) -> None:
        super().__init__()
        self.ids_seen: set[str] = set()
        self.steps_checked = 0
        self.events_checked = 0
        self.outputs_sent: set[str] = set()
        self.items_made = 0
        self.races: list[str] = []  # the genuine races met (for the record)

    @initialize(
        client=st.sampled_from(CLIENT_CONFIGS),
        responder=st.sampled_from(["scripted", "tools"]),
        interval=st.sampled_from([0.05, 0.1, 0.2]),
        duration=st.sampled_from([None, None, 8.0]),
    )
    def open(self, client: Config, responder: str, interval: float, duration: float | None) -> None:
        self.config = client
        answer: Responder
        if responder == "tools":
            answer = ToolCallingResponder(preamble="One moment.")
        else:
            answer = ScriptedResponder(SCRIPT, cycle=True)
        server = ServerConnection(
            config=ServerConfig(
                session=attrs.evolve(DEFAULT_SESSION, tools=TOOLS),
                delta_interval=interval,
                session_duration=duration,
            ),
            responder=answer,
            voice=FlatVoice(),
            ids=sequential_ids(),
        )
        self.loop = Loop(server, client=ClientConnection(config=client), ordered=True).start()

    # --- preconditions -------------------------------------------------------------------

    def open_(self) -> bool:
        return not self.loop.server.closed and self.loop.client.state.phase is not (
            SessionPhase.CLOSED
        )

    def holding(self) -> bool:
        return self.loop.holding

    def has_held(self) -> bool:
        return self.loop.held > 0

    # --- client actions ------------------------------------------------------------------

    @precondition(open_)
    @rule(params=st.sampled_from(RESPONSE_PARAMS))
    def response_create(self, params: ResponseParams | None) -> None:
        self.loop.send(c.ResponseCreate(response=params))

    @precondition(open_)
    @rule(named=st.booleans())
    def user_text(self, named: bool) -> None:
        self.items_made += 1
        item = Item(
            id=f"item_client_{self.items_made}" if named else None,
            type="message",
            role="user",
            content=(ContentPart(type="input_text", text="What is the weather?"),),
        )
        self.loop.send(c.ConversationItemCreate(item=item))

    @precondition(open_)
    @rule(ms=st.sampled_from([100, 300, 600]), loud=st.booleans())
    def audio(self, ms: int, loud: bool) -> None:
        self.loop.append(speech(ms) if loud else silence(ms))

    @precondition(open_)
    @rule()
    def user_turn(self) -> None:
        """Speech then silence: server VAD commits and starts a response on its own."""
        self.loop.append(speech(300))
        self.loop.append(silence(400))

    @precondition(open_)
    @rule()
    def commit(self) -> None:
        self.loop.send(c.InputAudioBufferCommit())

    @precondition(open_)
    @rule(data=st.data(), fraction=st.sampled_from([0.0, 0.3, 0.5, 1.0, 1.5]))
    def playback(self, data: st.DataObject, fraction: float) -> None:
        """The user heard ``fraction`` of an item's received audio (past 1.0: the app
        reports more than arrived, which the core must clamp)."""
        audible = [
            i
            for i in self.loop.client.state.items_by_id.values()
            if any(p.type == "audio" for p in i.parts)
        ]
        if not audible:
            return
        item = data.draw(st.sampled_from(audible))
        self.loop.playback(item.id, int(item.audio_ms * fraction))

    @precondition(open_)
    @rule()
    def interrupt(self) -> None:
        """Barge in (the app's own, e.g. push-to-talk)."""
        self.loop.interrupt()

    @precondition(open_)
    @rule(fraction=st.sampled_from([0.0, 0.5, 1.0, 2.0]))
    def hear_then_interrupt(self, fraction: float) -> None:
        """The user heard part of the latest audio item (as reported), then barges in."""
        audible = [i for i in self.loop.client.state.items if i.audio_ms > 0]
        if audible:
            self.loop.playback(audible[-1].id, int(audible[-1].audio_ms * fraction))
        self.loop.interrupt()

    @precondition(open_)
    @rule()
    def cancel(self) -> None:
        self.loop.send(c.ResponseCancel())

    @precondition(open_)
    @rule(data=st.data(), then_create=st.booleans())
    def tool_output(self, data: st.DataObject, then_create: bool) -> None:
        """Answer a call the server made (once), and maybe ask for the next response."""
        calls = [
            i.call_id
            for i in self.loop.client.state.items
            if i.type == "function_call"
            and i.call_id is not None
            and i.call_id not in self.outputs_sent
            and i.arguments
        ]
        if not calls:
            return
        call_id = data.draw(st.sampled_from(calls))
        self.outputs_sent.add(call_id)
        item = Item(type="function_call_output", call_id=call_id, output='{"temp": 21}')
        self.loop.send(c.ConversationItemCreate(item=item))
        if then_create:
            self.loop.send(c.ResponseCreate())

    # --- time and the network ------------------------------------------------------------

    @rule(seconds=st.sampled_from([0.05, 0.2, 1.0, 4.0]))
    def wait(self, seconds: float) -> None:
        self.loop.advance(seconds)
        self.loop.tick_client()

    @precondition(lambda self: not self.holding())
    @rule()
    def hold(self) -> None:
        self.loop.hold()

    @precondition(has_held)
    @rule(count=st.integers(1, 6))
    def deliver(self, count: int) -> None:
        self.loop.deliver(count)

    @precondition(holding)
    @rule()
    def release(self) -> None:
        self.loop.release()

    # --- invariants ----------------------------------------------------------------------

    def _new_steps(self) -> list[Step]:
        steps = self.loop.client_steps[self.steps_checked :]
        self.steps_checked = len(self.loop.client_steps)
        return steps

    @invariant()
    def one_create_in_flight(self) -> None:
        state = self.loop.client.state
        creates = [p for p in state.ledger.in_flight if isinstance(p.event, c.ResponseCreate)]
        assert len(creates) <= 1, f"{len(creates)} response.create in flight"
        events = self.loop.server_events
        for index in range(self.events_checked, len(events)):
            event = events[index]
            if isinstance(event, s.Error) and event.error.code == ACTIVE:
                self._explain_active_response_error(index)
        self.events_checked = len(events)

    def _explain_active_response_error(self, index: int) -> None:
        """A ``conversation_already_has_active_response`` is allowed only as a race.

        The create it names reached a server busy with response R, whose
        ``response.created`` had to be still on the wire when the client sent it. And
        R was started by server VAD (it crossed the create), or answers an earlier
        create of this client that the client had stopped waiting for because it timed
        out, or because a crossing VAD response's ``response.created`` was taken for
        its answer (the protocol does not say which create a response answers).
        Anything else means the client sent a create while it knew (or should have
        known) a response was active or requested.
        """
        loop = self.loop
        error = loop.server_events[index]
        assert isinstance(error, s.Error)
        culprit = error.error.event_id
        assert culprit is not None, "the server names the create"
        answer = self._writer_of(index)
        assert isinstance(answer.input, c.ResponseCreate)
        assert answer.input.event_id == culprit
        busy = answer.before.active_response
        assert busy is not None
        created = next(
            i
            for i, e in enumerate(loop.server_events)
            if isinstance(e, s.ResponseCreated) and e.response.id == busy.id
        )
        (sending,) = [i for i, e in enumerate(loop.client_events) if e.event_id == culprit]
        seen = loop.seen_at[sending]
        assert created >= seen, (
            f"create {culprit} sent after the client had received {busy.id}'s "
            "response.created (it knew a response was active)"
        )
        origin = self._writer_of(created).input
        cause = origin.event_id if isinstance(origin, c.ResponseCreate) else None
        if cause is None:
            self.races.append(f"{culprit} crossed server-started {busy.id}")
            return
        # R answers this client's own create: the client must have stopped waiting for
        # it before sending another, and only for a reason it could not help
        settled = next(
            step
            for step in loop.client_steps
            if any(p.event.event_id == cause for p in step.before.ledger.in_flight)
            and not any(p.event.event_id == cause for p in step.after.ledger.in_flight)
        )
        why = settled.input
        if isinstance(why, c.ClientEvent) and any(
            isinstance(t, ClientEventTimedOut) and t.event.event_id == cause
            for t in settled.transitions
        ):
            raise AssertionError(f"in-flight create {cause} evicted by {why.type}")
        if isinstance(why, Tick):
            assert any(
                isinstance(t, ClientEventTimedOut) and t.event.event_id == cause
                for t in settled.transitions
            )
            self.races.append(f"{culprit} after {cause} timed out")
            return
        assert isinstance(why, s.ResponseCreated) and why.response.id != busy.id, (
            f"create {culprit} sent while this client's own create {cause} (answered by "
            f"{busy.id}) was still unanswered; it left the ledger on {type(why).__name__}"
        )
        # a server-started response's response.created crossed the create on the wire
        # and was taken for its answer (the protocol does not say which create it answers)
        self.races.append(f"{cause} taken as answered by crossing {why.response.id}")

    def _writer_of(self, frame: int) -> Step:
        """The server Step that wrote server frame number ``frame``."""
        written = 0
        for step in self.loop.server_steps:
            written += len(step.to_send)
            if written > frame:
                return step
        raise AssertionError("no server step wrote that frame")

    @invariant()
    def sent_frames_are_unique_and_known(self) -> None:
        for step in self._new_steps():
            for frame in step.to_send:
                event_id = _event_id(frame)
                assert event_id is not None, frame
                assert event_id not in self.ids_seen, f"event_id {event_id} sent twice"
                self.ids_seen.add(event_id)
                assert step.after.ledger.find(event_id) is not None, (
                    f"{event_id} not in the ledger right after it was sent"
                )
            self._check_truncates(step)

    def _check_truncates(self, step: Step) -> None:
        for sent in step.sent:
            if not isinstance(sent, c.ConversationItemTruncate):
                continue
            item = step.before.item(sent.item_id)
            assert item is not None, f"truncate of unknown item {sent.item_id}"
            part = item.parts[sent.content_index]
            assert sent.audio_end_ms <= part.audio_ms, (
                f"truncate {sent.item_id} at {sent.audio_end_ms} ms, "
                f"only {part.audio_ms} ms received"
            )

    @invariant()
    def ledger_bounded(self) -> None:
        ledger = self.loop.client.state.ledger
        config = self.config
        assert len(ledger.in_flight) <= config.max_in_flight
        assert len(ledger.recent) <= config.max_recent_events
        assert len(ledger.queued) <= config.max_in_flight

    @invariant()
    def only_informational_diagnostics(self) -> None:
        bad = [
            d for step in self.loop.client_steps for d in step.diagnostics if not d.informational
        ]
        assert bad == []

    def teardown(self) -> None:
        loop = getattr(self, "loop", None)
        if loop is None:
            return
        loop.release()
        if not loop.server.closed:
            loop.drain()
        self.one_create_in_flight()
        self.sent_frames_are_unique_and_known()
        self.only_informational_diagnostics()
        violations = check_stream(loop.server_events, client_events=loop.client_events)
        assert violations == [], format_violations(violations, loop.server_events)
        self._note_coverage()

    def _note_coverage(self) -> None:
        """Hypothesis events (``--hypothesis-show-statistics``): what the runs reached."""
        loop = self.loop
        sent = {type(e).__name__ for step in loop.client_steps for e in step.sent}
        done = {type(t).__name__ for step in loop.client_steps for t in step.transitions}
        for name in sorted(sent & {"ConversationItemTruncate", "ConversationItemDelete"}):
            event(f"sent {name}")
        for name in sorted(
            done
            & {
                "ClientEventQueued",
                "ClientEventCoalesced",
                "ClientEventRejected",
                "ClientEventTimedOut",
                "TruncationPlanned",
                "SessionExpired",
            }
        ):
            event(name)
        if self.races:
            event("a genuine race")
        if len(loop.client.state.ledger.in_flight) >= self.config.max_in_flight:
            event("ledger full at the end")


ClientLogic.TestCase.settings = settings(
    max_examples=2 * settings().max_examples,  # twice the profile's: 100 locally, 200 in CI
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestClientLogic = ClientLogic.TestCase


# --- interleavings the machine can reach, each as a minimal fixed case ----------------


def _paced_loop(client: Config | None = None) -> Loop:
    server = ServerConnection(
        config=ServerConfig(delta_interval=0.05, session_duration=None),
        responder=ScriptedResponder(["Sure, here is a short answer."], cycle=True),
        ids=sequential_ids(),
    )
    connection = ClientConnection(config=client or Config(strict=True))
    return Loop(server, client=connection, ordered=True).start()


def test_the_done_events_of_a_truncated_item_keep_its_transcript_dropped() -> None:
    """``interrupt()`` mid-response, after some audio was heard: the core truncates
    the item locally at once (dropping its transcript, as the server will); the
    cancelled response's ``response.audio_transcript.done`` then carries the transcript
    streamed so far: a strict client takes it with no INV-9 violation, and the part
    stays cut."""
    loop = _paced_loop()
    loop.send(c.ResponseCreate())
    loop.advance(0.05)  # the first transcript and audio deltas
    item = loop.client.state.items[-1]
    loop.playback(item.id, 30)
    loop.interrupt()
    loop.drain()
    part = loop.client.state.item(item.id).parts[0]  # type: ignore[union-attr]
    assert part.truncated_ms == 30 and part.transcript == ""
    loop.check()


def test_the_done_events_after_ignored_late_deltas_are_taken_quietly() -> None:
    """``interrupt()`` while the response's deltas are on the wire: the late deltas are
    ignored (informational), and the ``.done`` events that follow carry the server's
    whole text: a strict client takes them with no INV-9 violation."""
    loop = _paced_loop()
    loop.hold()
    loop.send(c.ResponseCreate())
    loop.deliver(1)  # response.created reaches the client; the rest stays on the wire
    loop.advance(0.3)
    loop.interrupt()  # response.cancel reaches the server, which closes the response
    loop.release()
    loop.drain()
    codes = {d.code for step in loop.client_steps for d in step.diagnostics}
    assert codes == {"interrupted"}


def test_a_retried_create_goes_out_under_a_new_event_id() -> None:
    """A create refused with ``conversation_already_has_active_response`` (it crossed a
    server VAD response on the wire) is queued and re-sent under a new ``event_id``:
    no two frames share an id, so no two errors can name one (INV-17)."""
    loop = _paced_loop()
    loop.hold()
    loop.append(speech(300))
    loop.append(silence(400))  # server VAD: speech, commit, a response (all held)
    loop.send(c.ResponseCreate())  # crosses that response: refused
    loop.release()
    loop.drain()
    assert [e.error.code for e in loop.server_events if isinstance(e, s.Error)] == [ACTIVE]
    ids = [e.event_id for e in loop.client_events]
    assert len(ids) == len(set(ids))


def test_a_full_ledger_never_evicts_an_in_flight_create() -> None:
    """A full ledger keeps a ``response.create`` still waiting for its
    ``response.created``: the client remembers a response was requested, so its next
    create waits instead of running into ``conversation_already_has_active_response``."""
    loop = _paced_loop(Config(strict=True, max_in_flight=2))
    loop.hold()
    loop.send(c.ResponseCreate())
    loop.send(c.InputAudioBufferClear())
    loop.send(c.InputAudioBufferClear())  # past the limit: the create must stay
    loop.send(c.ResponseCreate())
    loop.release()
    loop.drain()
    assert ACTIVE not in [e.error.code for e in loop.server_events if isinstance(e, s.Error)]
