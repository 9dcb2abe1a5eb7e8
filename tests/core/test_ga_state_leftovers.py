"""GA-complete state, the leftovers of issue 18: user images kept and replayed by
``plan_reconnect``, the idle-timeout windows of the input buffer, the session's expiry.
"""

from __future__ import annotations

from typing import Final

from support.helpers import Server, fold_all, transitions
from support.server_harness import Loop

import rtstate
from rtstate import ClientConnection, Config, plan_reconnect
from rtstate.codec import codec_for
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import ContentPart, Item
from rtstate.server import ScriptedResponder, sequential_ids
from rtstate.state import ItemPhase, PartState, SessionState, TimeoutWindow
from rtstate.transitions import InputTimeoutTriggered

# built at run time: a string object of its own, so ``is`` tells a copy from a reference
IMAGE: Final = "data:image/png;base64," + "iVBORw0KGgo" * 64


def image_message(item_id: str | None = None) -> c.ConversationItemCreate:
    """A user message of a question and an image."""
    item = Item(
        id=item_id,
        type="message",
        role="user",
        content=(
            ContentPart(type="input_text", text="What is this?"),
            ContentPart(type="input_image", image_url=IMAGE, detail="low"),
        ),
    )
    return c.ConversationItemCreate(item=item)


# --- images -----------------------------------------------------------------------------


def test_an_image_part_keeps_its_url_and_detail_by_reference_through_the_echo() -> None:
    for item_id in ("msg_img", None):  # named (pending first) or named by the server
        loop = Loop(dialect="ga", responder=ScriptedResponder([])).start()
        answered = loop.send(image_message(item_id))
        added = answered[0]
        assert isinstance(added, s.ConversationItemAdded) and added.item.content is not None
        assert added.item.content[1].image_url is None  # the echo leaves the data URI out
        (item,) = loop.client.state.items
        assert item.phase is ItemPhase.DONE
        text, image = item.parts
        assert text.text == "What is this?" and text.image_url is None
        assert image.type == "input_image" and image.detail == "low"
        assert image.image_url is IMAGE  # the create's own string, never a copy
        loop.check()


def test_an_echo_that_carries_the_image_is_kept_as_the_server_wrote_it() -> None:
    server = Server()
    item = Item(
        id="item_1",
        type="message",
        role="user",
        content=(ContentPart(type="input_image", image_url=IMAGE, detail="high"),),
    )
    state, steps = fold_all([server.session_created(), server.item_created(item)])
    assert not [d for step in steps for d in step.diagnostics]
    (part,) = state.items[0].parts
    assert (part.image_url, part.detail) == (IMAGE, "high")


def test_an_image_the_state_never_saw_is_still_removed_by_the_plan() -> None:
    server = Server()
    item = Item(
        id="item_1",
        type="message",
        role="user",
        content=(
            ContentPart(type="input_text", text="Look:"),
            ContentPart(type="input_image", detail="low"),  # another client's image
        ),
    )
    state, _ = fold_all([server.session_created(), server.item_created(item)])
    plan = plan_reconnect(state)
    (create,) = [e for e in plan.events if isinstance(e, c.ConversationItemCreate)]
    assert create.item.content == (ContentPart(type="input_text", text="Look:"),)
    assert [(d.reason, d.content_index) for d in plan.dropped] == [("unsupported_part", 1)]


def test_plan_reconnect_recreates_a_user_image_and_a_fresh_ga_server_accepts_it() -> None:
    old = Loop(dialect="ga", responder=ScriptedResponder(["A pixel."])).start()
    old.send(image_message())
    old.send(c.ResponseCreate())
    old.check()
    state = old.client.state
    assert [i.role for i in state.items] == ["user", "assistant"]

    plan = plan_reconnect(state)
    assert plan.dropped == ()
    creates = [e for e in plan.events if isinstance(e, c.ConversationItemCreate)]
    user = creates[0].item
    assert user.role == "user" and user.content is not None
    text, image = user.content
    assert text == ContentPart(type="input_text", text="What is this?")
    assert image == ContentPart(type="input_image", image_url=IMAGE, detail="low")
    assert image.image_url is IMAGE  # replayed by reference

    # a fresh GA session: the plan's frames fold on the fake server without complaint
    server = rtstate.server.ServerConnection(
        dialect="ga", ids=sequential_ids(), responder=ScriptedResponder([])
    )
    client = ClientConnection(config=Config(strict=True, dialect="ga"))
    ga = codec_for("ga")
    for frame in server.start(now=0.0).to_send:
        client.receive(frame)
    for event in plan.events:
        for frame in client.send(event).to_send:
            answer = server.receive(frame)
            assert answer.diagnostics == ()
            for reply in answer.to_send:
                assert not isinstance(ga.decode_server(reply), s.Error), reply
                assert client.receive(reply).diagnostics == ()
    rebuilt = client.state.items[0]
    assert rebuilt.id == plan.id_map[state.items[0].id]
    assert [(p.type, p.image_url, p.detail) for p in rebuilt.parts] == [
        ("input_text", None, None),
        ("input_image", IMAGE, "low"),
    ]
    assert [p.type for p in server.state.items[0].parts] == ["input_text", "input_image"]


# --- idle-timeout windows ---------------------------------------------------------------


def timeout_triggered(server: Server, item_id: str, start: int, end: int) -> list[s.ServerEvent]:
    """What a GA server sends when its idle timeout runs out: the trigger, the commit."""
    return [
        s.InputAudioBufferTimeoutTriggered(
            event_id=server.event_id(), item_id=item_id, audio_start_ms=start, audio_end_ms=end
        ),
        server.committed(item_id),
    ]


def test_idle_timeout_windows_are_kept_and_bounded_like_speech_windows() -> None:
    server = Server()
    inputs: list[s.ServerEvent] = [server.session_created()]
    for n in range(3):
        inputs += timeout_triggered(server, f"item_t{n}", n * 6000, n * 6000 + 5000)
    state, steps = fold_all(inputs, config=Config(max_input_buffer_history=2))
    assert not [d for step in steps for d in step.diagnostics]
    assert state.input_buffer.timeouts == (
        TimeoutWindow(item_id="item_t1", start_ms=6000, end_ms=11000),
        TimeoutWindow(item_id="item_t2", start_ms=12000, end_ms=17000),
    )
    assert state.input_buffer.speech == ()
    assert len(transitions(steps, InputTimeoutTriggered)) == 3

    none, _ = fold_all(inputs, config=Config(max_input_buffer_history=0))
    assert none.input_buffer.timeouts == ()


def test_an_idle_timeout_commit_does_not_settle_a_commit_the_client_sent() -> None:
    server = Server()
    state, _ = fold_all([server.session_created(), c.InputAudioBufferCommit()])
    assert [p.event.type for p in state.ledger.in_flight] == ["input_audio_buffer.commit"]
    after, steps = fold_all(timeout_triggered(server, "item_t", 0, 5000), state)
    assert not [d for step in steps for d in step.diagnostics]
    # the server's own commit: the client's is still waiting for its answer
    assert [p.event.type for p in after.ledger.in_flight] == ["input_audio_buffer.commit"]
    assert after.input_buffer.committed == ("item_t",)


# --- session expiry ---------------------------------------------------------------------


def test_expires_at_and_seconds_left_read_the_session_config() -> None:
    assert SessionState().expires_at is None
    assert SessionState().seconds_left(1_700_000_000.0) is None
    server = Server()
    state, _ = fold_all([server.session_created(expires_at=1_700_001_800)])
    assert state.expires_at == 1_700_001_800.0
    assert state.seconds_left(1_700_000_000.0) == 1800.0
    assert state.seconds_left(1_700_002_000.0) == 0.0  # past: nothing left
    later, _ = fold_all([server.session_updated(expires_at=1_700_003_600)], state)
    assert later.expires_at == 1_700_003_600.0
    gone, _ = fold_all([server.session_updated(expires_at=None)], later)
    assert gone.expires_at is None and gone.seconds_left(0.0) is None


def test_expiry_adds_no_deadline_to_the_callers_clock() -> None:
    """``expires_at`` is the server's wall clock; ``tick``'s ``now`` is any clock."""
    client = ClientConnection(config=Config(strict=True))
    client.receive_event(Server().session_created(expires_at=1_700_001_800))
    assert client.state.expires_at == 1_700_001_800.0
    assert client.next_deadline() is None
    step = client.tick(1_700_009_999.0)  # past expires_at, read as unix time: nothing
    assert step.transitions == () and not client.state.expired


def test_a_parts_repr_cuts_a_long_data_uri() -> None:
    part = PartState(type="input_image", image_url=IMAGE, detail="low")
    text = repr(part)
    assert IMAGE not in text and f"({len(IMAGE)} chars)" in text
    assert IMAGE[:40] in text
    assert "image_url='https://x/y.png'" in repr(
        PartState(type="input_image", image_url="https://x/y.png")
    )
    assert "image_url=None" in repr(PartState(type="text"))
