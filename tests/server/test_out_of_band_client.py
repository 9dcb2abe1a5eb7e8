"""Out-of-band responses between rtstate's strict client and the fake server (GA).

The server (``rtstate.server``) runs an out-of-band response (``conversation:
"none"``) beside the default one: ``conversation_id: null``, metadata echoed, no
``conversation.item.*`` for its items, ``response.input`` as its context. The client
(``Config(strict=True)``, over the in-memory wire of ``server_harness.Loop``) folds both
with zero diagnostics, keeps both outputs, and its conversation holds only the
default response's items.
"""

from __future__ import annotations

from rtstate_plugins import BargeIn
from support.server_harness import Loop

from rtstate import ClientConnection, Config
from rtstate.events import client as c
from rtstate.events.payloads import ContentPart, Item, ResponseParams
from rtstate.server import ScriptedResponder, ServerConfig
from rtstate.transitions import ResponseFinished, ResponseStarted


def loop() -> Loop:
    return Loop(
        dialect="ga",
        config=ServerConfig(delta_interval=0.05),
        responder=ScriptedResponder(lambda request: f"Answer to {request.response_id}."),
    ).start()


def user(text: str, item_id: str | None = None) -> Item:
    return Item(
        id=item_id,
        type="message",
        role="user",
        content=(ContentPart(type="input_text", text=text),),
    )


def finish(lp: Loop, limit: float = 120.0) -> None:
    """Let time pass until every response (default and out of band) is done."""
    while lp.server.responses_in_progress:
        due = lp.server.next_deadline()
        assert due is not None and due <= lp.now + limit, "a response never finishes"
        lp.advance(due - lp.now)


def started(lp: Loop) -> list[ResponseStarted]:
    return [t for s in lp.client_steps for t in s.transitions if isinstance(t, ResponseStarted)]


def finished(lp: Loop) -> list[ResponseFinished]:
    return [t for s in lp.client_steps for t in s.transitions if isinstance(t, ResponseFinished)]


def test_an_out_of_band_response_alone() -> None:
    lp = loop()
    lp.send(c.ConversationItemCreate(item=user("The weather is fine.", "item_u1")))
    params = ResponseParams(
        conversation="none",
        metadata={"topic": "summary"},
        modalities=("text",),
        input=(Item(type="item_reference", id="item_u1"), user("Summarise it.")),
    )
    lp.send(c.ResponseCreate(response=params))
    state = lp.client.state
    (side,) = state.responses_in_progress
    assert side.out_of_band and side.metadata == {"topic": "summary"}
    assert state.active_response is None
    finish(lp)
    lp.check()  # zero client diagnostics, a valid stream
    state = lp.client.state
    assert state.ledger.in_flight == ()
    assert [i.id for i in state.items] == ["item_u1"]  # the conversation only
    (reply,) = state.response_items(side.id)
    assert reply.text == f"Answer to {side.id}." and reply.id not in state.order
    assert [t.out_of_band for t in started(lp)] == [True]
    assert [(t.out_of_band, t.status) for t in finished(lp)] == [(True, "completed")]


def test_an_out_of_band_response_overlapping_a_spoken_default_one() -> None:
    lp = loop()
    lp.send(c.ConversationItemCreate(item=user("Tell me a story.", "item_u1")))
    lp.send(c.ResponseCreate(response=ResponseParams(modalities=("audio",))))
    lp.advance(0.2)  # the spoken answer streams
    default = lp.client.state.active_response
    assert default is not None and not default.out_of_band
    side_params = ResponseParams(
        conversation="none", metadata={"kind": "classify"}, modalities=("text",)
    )
    sent = lp.send(c.ResponseCreate(response=side_params))
    assert [e.type for e in sent][:1] == ["response.created"]  # not queued behind it
    state = lp.client.state
    assert state.active_response == default
    assert len(state.responses_in_progress) == 2
    side = next(r for r in state.responses_in_progress if r.out_of_band)
    assert side.metadata == {"kind": "classify"}
    finish(lp)
    lp.check()
    state = lp.client.state
    spoken = state.response_items(default.id)
    aside = state.response_items(side.id)
    assert len(spoken) == 1 and spoken[0].audio_bytes > 0 and spoken[0].transcript
    assert [i.text for i in aside] == [f"Answer to {side.id}."]
    assert [i.id for i in state.items] == ["item_u1", spoken[0].id]  # default's items only
    assert all(i.id not in state.order for i in aside)
    assert {(r.id, r.out_of_band) for r in state.finished} == {
        (default.id, False),
        (side.id, True),
    }
    assert state.responses_in_progress == () and state.ledger.in_flight == ()
    # the two streams really overlapped: the side response began before the spoken one ended
    kinds = [
        (type(t).__name__, t.response_id)
        for s in lp.client_steps
        for t in s.transitions
        if isinstance(t, ResponseStarted | ResponseFinished)
    ]
    assert len(kinds) == 4
    assert kinds.index(("ResponseStarted", side.id)) < kinds.index(("ResponseFinished", default.id))


def test_the_barge_in_plugin_follows_the_default_response_only() -> None:
    barge = BargeIn()
    lp = Loop(
        client=ClientConnection(config=Config(strict=True, dialect="ga"), plugins=[barge]),
        dialect="ga",
        config=ServerConfig(delta_interval=0.05),
        responder=ScriptedResponder(lambda request: f"Answer to {request.response_id}."),
    ).start()
    lp.send(c.ResponseCreate(response=ResponseParams(modalities=("audio",))))
    lp.advance(0.2)
    default = lp.client.state.active_response
    assert default is not None and barge.response_id == default.id
    received = barge.received_ms
    side = ResponseParams(conversation="none", modalities=("audio",))
    lp.send(c.ResponseCreate(response=side))
    finish(lp)
    lp.check()
    assert barge.response_id == default.id  # the spoken out-of-band answer is not followed
    assert barge.received_ms > received
    spoken = lp.client.state.response_items(default.id)
    assert barge.received_ms == sum(i.audio_ms for i in spoken)
