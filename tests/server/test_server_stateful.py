"""Random client action sequences against the server role (hypothesis ``RuleBasedStateMachine``).

A strict ``ClientConnection`` drives a ``ServerConnection`` with any mix of the nine
client events (valid or not, naming items that exist or not), raw junk frames, input
audio (speech and silence, so server VAD fires and barges in) and the passing of time
(so paced responses stream, get cancelled and the session may expire). After every
step: the client folded everything with zero diagnostics and both sides hold the same
conversation. At the end: the whole server stream passes the invariant checkers, and
a fresh server with the same seed fed the same frames writes the same bytes.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from support.server_harness import FlatVoice, Loop, replay, silence, speech

from rtstate.events import client as c
from rtstate.events.payloads import (
    ContentPart,
    ContentType,
    InputAudioTranscription,
    Item,
    Modality,
    ResponseParams,
    Role,
    SessionConfig,
    Tool,
    TurnDetection,
)
from rtstate.server import (
    FunctionCall,
    Message,
    Output,
    Reply,
    ScriptedResponder,
    ServerConfig,
    ServerConnection,
)

REPLIES: list[str | Reply | Output] = [
    "Sure.",
    Reply(
        outputs=(Message(text="Let me look."), FunctionCall(name="lookup", arguments='{"q":"x"}'))
    ),
    "A somewhat longer answer, to be interrupted.",
    FunctionCall(name="lookup", arguments="{}"),
]


SESSIONS = st.sampled_from(
    [
        SessionConfig(modalities=("text",)),
        SessionConfig(modalities=("audio", "text")),
        SessionConfig(turn_detection=None),
        SessionConfig(turn_detection=TurnDetection(silence_duration_ms=100)),
        SessionConfig(turn_detection=TurnDetection(create_response=False)),
        SessionConfig(input_audio_transcription=InputAudioTranscription(model="whisper-1")),
        SessionConfig(input_audio_transcription=None),
        SessionConfig(tools=(Tool(name="lookup"),), tool_choice="auto"),
        SessionConfig(voice="sage"),
        SessionConfig(temperature=3.0),  # refused
        SessionConfig(modalities=("audio",)),  # refused
        SessionConfig(max_response_output_tokens=3),
        SessionConfig(max_response_output_tokens="inf"),
    ]
)


class ClientAgainstServer(RuleBasedStateMachine):
    loop: Loop
    seed: int
    config: ServerConfig

    @initialize(
        interval=st.sampled_from([0.0, 0.05, 0.2, 0.2]),
        duration=st.sampled_from([None, 3.0, 30.0]),
        seed=st.integers(0, 3),
    )
    def open(self, interval: float, duration: float | None, seed: int) -> None:
        self.seed = seed
        self.config = ServerConfig(delta_interval=interval, session_duration=duration)
        self.loop = Loop(self.server()).start()

    def server(self) -> ServerConnection:
        return ServerConnection(
            config=self.config,
            responder=ScriptedResponder(REPLIES, cycle=True),
            voice=FlatVoice(),
            seed=self.seed,
            dialect="beta",  # written against the beta wire
        )

    def open_(self) -> bool:
        return not self.loop.server.closed

    def known(self, data: st.DataObject, *, kind: str | None = None) -> str:
        items = [
            i.id
            for i in self.loop.client.state.items
            if kind is None or (i.role if kind in ("assistant", "user") else i.type) == kind
        ]
        return data.draw(st.sampled_from([*items, "item_unknown"]))

    # --- client events -------------------------------------------------------------------

    @precondition(open_)
    @rule(session=SESSIONS)
    def session_update(self, session: SessionConfig) -> None:
        self.loop.send(c.SessionUpdate(session=session))

    @precondition(open_)
    @rule(
        data=st.data(),
        role=st.sampled_from(["user", "system", "assistant"]),
        text=st.text(max_size=12),
    )
    def item_create(self, data: st.DataObject, role: Role, text: str) -> None:
        kind: ContentType = "text" if role == "assistant" else "input_text"
        previous = data.draw(st.sampled_from([None, "root", "known", "item_unknown"]))
        if previous == "known":
            previous = self.known(data)
        item = Item(type="message", role=role, content=(ContentPart(type=kind, text=text),))
        self.loop.send(c.ConversationItemCreate(item=item, previous_item_id=previous))

    @precondition(open_)
    @rule(data=st.data())
    def call_output(self, data: st.DataObject) -> None:
        calls = [i.call_id for i in self.loop.client.state.items if i.type == "function_call"]
        call_id = data.draw(st.sampled_from([*calls, "call_unknown"]))
        item = Item(type="function_call_output", call_id=call_id, output='{"ok":true}')
        self.loop.send(c.ConversationItemCreate(item=item))

    @precondition(open_)
    @rule(ms=st.sampled_from([60, 150, 300, 600]), loud=st.booleans())
    def append(self, ms: int, loud: bool) -> None:
        self.loop.append(speech(ms) if loud else silence(ms))

    @precondition(open_)
    @rule()
    def append_junk(self) -> None:
        self.loop.send(c.InputAudioBufferAppend(audio="not base64!"))

    @precondition(open_)
    @rule()
    def commit(self) -> None:
        self.loop.send(c.InputAudioBufferCommit())

    @precondition(open_)
    @rule()
    def clear(self) -> None:
        self.loop.send(c.InputAudioBufferClear())

    @precondition(open_)
    @rule(
        data=st.data(),
        index=st.sampled_from([0, 0, 1]),
        fraction=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    )
    def truncate(self, data: st.DataObject, index: int, fraction: float) -> None:
        item_id = self.known(data, kind="assistant")
        item = self.loop.client.state.item(item_id)
        end = int((item.audio_ms if item is not None else 100) * fraction)
        self.loop.send(
            c.ConversationItemTruncate(item_id=item_id, content_index=index, audio_end_ms=end)
        )

    @precondition(open_)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        self.loop.send(c.ConversationItemDelete(item_id=self.known(data)))

    @precondition(open_)
    @rule(modalities=st.sampled_from([None, ("text",), ("audio", "text")]))
    def response_create(self, modalities: tuple[Modality, ...] | None) -> None:
        params = None if modalities is None else ResponseParams(modalities=modalities)
        self.loop.send(c.ResponseCreate(response=params))

    @precondition(open_)
    @rule(named=st.booleans())
    def response_cancel(self, named: bool) -> None:
        rid = self.loop.server.response_in_progress if named else None
        state = self.loop.client.state
        if state.active_response is None and not state.ledger.response_requested:
            # the client holds back a cancel with nothing to cancel; ask the server anyway
            self.loop.send_raw('{"type": "response.cancel"}')
            return
        self.loop.send(c.ResponseCancel(response_id=rid))

    @precondition(open_)
    @rule(
        frame=st.sampled_from(
            ["nope", "[]", '{"type": 1}', '{"type": "x.y"}', '{"type": "response.create", "x": 1}']
        )
    )
    def junk(self, frame: str) -> None:
        self.loop.send_raw(frame)

    @rule(seconds=st.sampled_from([0.01, 0.05, 0.2, 1.0]))
    def wait(self, seconds: float) -> None:
        self.loop.advance(seconds)

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def client_is_clean(self) -> None:
        assert self.loop.client_diagnostics == []

    @invariant()
    def one_conversation(self) -> None:
        assert [i.id for i in self.loop.client.state.items] == [
            i.id for i in self.loop.server.state.items
        ]
        server_active = self.loop.server.response_in_progress
        client_active = self.loop.client.state.active_response
        assert server_active == (None if client_active is None else client_active.id)

    def teardown(self) -> None:
        loop = getattr(self, "loop", None)
        if loop is None:
            return
        if not loop.server.closed:
            loop.drain()
        loop.check()
        assert replay(self.server(), loop.inputs) == loop.frames


ClientAgainstServer.TestCase.settings = settings(
    stateful_step_count=40,  # examples: the profile's
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestClientAgainstServer = ClientAgainstServer.TestCase


def test_the_machine_reaches_the_interesting_flows() -> None:
    """A fixed walk through the machine's rules hits barge-in, cancel and expiry."""
    machine = ClientAgainstServer()
    machine.open(interval=0.1, duration=3.0, seed=0)
    machine.response_create(None)
    machine.wait(0.2)
    machine.append(300, True)  # barge-in
    machine.append(300, False)
    machine.wait(1.0)
    machine.response_create(("text",))
    machine.response_cancel(True)
    machine.wait(1.0)
    machine.wait(1.0)
    types: list[Any] = machine.loop.types()
    reasons = [
        e.response.status_details.reason  # type: ignore[attr-defined]
        for e in machine.loop.server_events
        if e.type == "response.done" and e.response.status == "cancelled"  # type: ignore[attr-defined]
    ]
    assert "turn_detected" in reasons and "client_cancelled" in reasons
    assert types[-1] == "error" and machine.loop.server.closed
    machine.client_is_clean()
    machine.one_conversation()
    machine.teardown()
