"""The fake server's out-of-band and concurrent responses, sans IO (issue 18).

``response.create`` with ``response.conversation: "none"`` runs beside the default
conversation: ``conversation_id: null`` and ``metadata`` echoed on its
``response.created`` / ``.done``, output items announced with
``response.output_item.*`` only, never kept in the conversation; ``response.input``
replaces the conversation as its context. Several responses run at once (their frames
interleave); only default responses refuse each other; ``response.cancel`` picks its
response by id, or the default one; server VAD barge-in cancels only the default one.

The frames are read as JSON (the client's state model of concurrent responses is not
the subject here).
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Final

import pytest
from support.server_harness import b64, silence, tone

from rtstate.codec import codec_for
from rtstate.config import Dialect
from rtstate.server import (
    EchoResponder,
    ResponseRequest,
    ScriptedResponder,
    ServerConfig,
    ServerConnection,
)

DIALECTS: Final[tuple[Dialect, ...]] = ("ga", "beta")


def user(text: str, item_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }
    if item_id is not None:
        item["id"] = item_id
    return item


class Wire:
    """A ``ServerConnection`` fed JSON frames; every frame it wrote, decoded to dicts
    (and checked to decode with rtstate's codec of its dialect)."""

    def __init__(self, dialect: Dialect = "ga", **kwargs: Any) -> None:
        self.dialect = dialect
        self.codec = codec_for(dialect)
        self.server = ServerConnection(dialect=dialect, seed=1, **kwargs)
        self.frames: list[dict[str, Any]] = []
        self.took(self.server.start(now=0.0).to_send)

    def took(self, frames: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
        out = []
        for frame in frames:
            self.codec.decode_server(frame)  # rtstate reads it back
            out.append(json.loads(frame))
        self.frames.extend(out)
        return out

    def send(self, event: dict[str, Any], now: float = 0.0) -> list[dict[str, Any]]:
        return self.took(self.server.receive(json.dumps(event), now).to_send)

    def tick(self, now: float) -> list[dict[str, Any]]:
        return self.took(self.server.tick(now).to_send)

    def run_out(self, limit: float = 60.0) -> list[dict[str, Any]]:
        """Tick through every deadline (bounded)."""
        out: list[dict[str, Any]] = []
        while (due := self.server.next_deadline()) is not None and due <= limit:
            out.extend(self.tick(due))
        return out

    def create(self, now: float = 0.0, **response: Any) -> list[dict[str, Any]]:
        """``response.create`` (``modalities`` spelled as the dialect spells it)."""
        if self.dialect == "ga" and "modalities" in response:
            response["output_modalities"] = response.pop("modalities")
        return self.send({"type": "response.create", "response": response}, now)


def done(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """The last ``response.done`` of ``frames`` (GA writes ``rate_limits.updated`` after it)."""
    return [f for f in frames if f["type"] == "response.done"][-1]


def types(frames: list[dict[str, Any]]) -> list[str]:
    return [f["type"] for f in frames]


def created_item_ids(frames: list[dict[str, Any]]) -> set[str]:
    """Item ids announced to the conversation."""
    kinds = ("conversation.item.added", "conversation.item.created", "conversation.item.done")
    return {f["item"]["id"] for f in frames if f["type"] in kinds}


def of_response(frames: list[dict[str, Any]], response_id: str) -> list[dict[str, Any]]:
    out = []
    for f in frames:
        rid = f.get("response_id") or (f.get("response") or {}).get("id")
        if rid == response_id:
            out.append(f)
    return out


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_out_of_band_response_stays_out_of_the_conversation(dialect: Dialect) -> None:
    wire = Wire(dialect, responder=ScriptedResponder(["Beside.", "In it."]))
    wire.send({"type": "conversation.item.create", "item": user("Hello", "item_user")})
    frames = wire.create(conversation="none", metadata={"topic": "side"}, modalities=["text"])
    created = frames[0]
    assert created["type"] == "response.created"
    for event in (created, done(frames)):
        assert "conversation_id" in event["response"]
        assert event["response"]["conversation_id"] is None
        assert event["response"]["metadata"] == {"topic": "side"}
    assert done(frames)["response"]["status"] == "completed"
    added = [f for f in frames if f["type"] == "response.output_item.added"]
    assert len(added) == 1
    oob_item = added[0]["item"]["id"]
    assert "response.output_item.done" in types(frames)
    delta = "response.output_text.delta" if dialect == "ga" else "response.text.delta"
    assert delta in types(frames)
    assert not created_item_ids(frames)  # no conversation.item.* for its output
    assert oob_item not in wire.server.state.items_by_id
    assert [i.id for i in wire.server.state.items] == ["item_user"]
    # a later default response: its output joins the conversation, after the user item
    later = wire.create(modalities=["text"])
    assert later[0]["response"]["conversation_id"] is not None
    assert later[0]["response"]["metadata"] is None
    assert len(created_item_ids(later)) == 1
    assert len(wire.server.state.items) == 2


def test_an_out_of_band_item_cannot_be_retrieved() -> None:
    wire = Wire("ga", responder=ScriptedResponder(["Beside."]))
    frames = wire.create(conversation="none", modalities=["text"])
    item_id = next(f["item"]["id"] for f in frames if f["type"] == "response.output_item.added")
    error = wire.send({"type": "conversation.item.retrieve", "item_id": item_id})
    assert types(error) == ["error"]
    assert error[0]["error"]["code"] == "item_retrieve_invalid_item_id"
    assert item_id in error[0]["error"]["message"]


def test_a_later_default_response_does_not_see_out_of_band_output() -> None:
    """The responder of a later default response sees the conversation only."""
    seen: list[list[str]] = []

    def record(request: ResponseRequest) -> str:
        seen.append([item.text for item in request.items])
        return f"answer {len(seen)}"

    wire = Wire("ga", responder=ScriptedResponder(record))
    wire.send({"type": "conversation.item.create", "item": user("first")})
    wire.create(conversation="none", modalities=["text"])
    wire.create(modalities=["text"])
    assert seen == [["first"], ["first"]]  # "answer 1" never joined the conversation
    assert [i.text for i in wire.server.state.items] == ["first", "answer 2"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_response_input_replaces_the_conversation_as_context(dialect: Dialect) -> None:
    wire = Wire(dialect, responder=EchoResponder())
    wire.send({"type": "conversation.item.create", "item": user("in the conversation")})
    inline = wire.create(conversation="none", input=[user("inline")], modalities=["text"])
    assert done(inline)["response"]["output"][0]["content"][0]["text"] == "You said: inline"
    # an item_reference brings a conversation item as context
    wire.send({"type": "conversation.item.create", "item": user("referenced", "item_ref")})
    wire.send({"type": "conversation.item.create", "item": user("latest")})
    ref = wire.create(
        conversation="none",
        input=[{"type": "item_reference", "id": "item_ref"}],
        modalities=["text"],
    )
    assert done(ref)["response"]["output"][0]["content"][0]["text"] == "You said: referenced"
    # input applies to a default response too (its output still joins the conversation)
    default = wire.create(input=[user("as input")], modalities=["text"])
    assert done(default)["response"]["output"][0]["content"][0]["text"] == "You said: as input"
    assert len(created_item_ids(default)) == 1


@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_unknown_item_reference_is_refused_naming_the_id(dialect: Dialect) -> None:
    wire = Wire(dialect)
    frames = wire.create(
        conversation="none", input=[user("x"), {"type": "item_reference", "id": "item_nope"}]
    )
    assert types(frames) == ["error"]
    error = frames[0]["error"]
    assert "item_nope" in error["message"]
    assert error["param"] == "response.input[1].id"
    assert wire.server.responses_in_progress == ()


def test_an_unknown_conversation_is_refused() -> None:
    wire = Wire("ga")
    frames = wire.create(conversation="conv_other")
    assert types(frames) == ["error"]
    assert frames[0]["error"]["param"] == "response.conversation"


def streaming(dialect: Dialect = "ga", **kwargs: Any) -> Wire:
    return Wire(
        dialect,
        config=ServerConfig(delta_interval=0.05),
        responder=ScriptedResponder(lambda request: f"Answer to {request.response_id}."),
        **kwargs,
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_responses_run_concurrently_and_interleave(dialect: Dialect) -> None:
    wire = streaming(dialect)
    default = wire.create(modalities=["text"])
    default_id = default[0]["response"]["id"]
    wire.tick(0.1)
    side = wire.create(0.12, conversation="none", modalities=["text"])
    assert types(side)[0] == "response.created"
    side_id = side[0]["response"]["id"]
    assert wire.server.responses_in_progress == (default_id, side_id)
    assert wire.server.response_in_progress == default_id
    # a second default response is refused while the first streams
    refused = wire.create(0.13)
    assert types(refused) == ["error"]
    assert refused[0]["error"]["code"] == "conversation_already_has_active_response"
    # but a second out-of-band one is not
    other = wire.create(0.14, conversation="none", modalities=["text"])
    other_id = other[0]["response"]["id"]
    rest = wire.run_out()
    order = [f.get("response_id") or f.get("response", {}).get("id") for f in rest]
    owners = [rid for rid in order if rid in (default_id, side_id, other_id)]
    switches = sum(1 for a, b in itertools.pairwise(owners) if a != b)
    assert switches > 3  # interleaved, not one after the other
    for rid in (default_id, side_id, other_id):
        own = of_response(wire.frames, rid)
        assert own[0]["type"] == "response.created"
        assert done(own)["response"]["status"] == "completed"
    assert not wire.server.responses_in_progress
    # only the default response's item joined the conversation
    assert len(wire.server.state.items) == 1
    assert wire.server.state.items[0].response_id == default_id


def test_a_default_response_may_start_while_an_out_of_band_one_streams() -> None:
    wire = streaming()
    side = wire.create(conversation="none", modalities=["text"])
    side_id = side[0]["response"]["id"]
    default = wire.create(0.06, modalities=["text"])
    created = [f for f in default if f["type"] == "response.created"]
    assert len(created) == 1 and "error" not in types(default)
    assert wire.server.response_in_progress == created[0]["response"]["id"]
    assert side_id in wire.server.responses_in_progress


def test_cancel_by_id_cancels_that_response_and_a_bare_cancel_the_default_one() -> None:
    wire = streaming()
    default_id = wire.create(modalities=["text"])[0]["response"]["id"]
    side_id = wire.create(0.01, conversation="none", modalities=["text"])[0]["response"]["id"]
    wire.tick(0.1)
    cancelled = wire.send({"type": "response.cancel", "response_id": side_id}, 0.11)
    assert done(cancelled)["response"]["id"] == side_id
    assert done(cancelled)["response"]["status"] == "cancelled"
    assert done(cancelled)["response"]["status_details"]["reason"] == "client_cancelled"
    assert wire.server.responses_in_progress == (default_id,)
    # a bare cancel: the default response
    side2 = wire.create(0.12, conversation="none", modalities=["text"])[0]["response"]["id"]
    bare = wire.send({"type": "response.cancel"}, 0.13)
    assert done(bare)["response"]["id"] == default_id
    assert done(bare)["response"]["status"] == "cancelled"
    assert wire.server.responses_in_progress == (side2,)
    # with no default response, a bare cancel has nothing to cancel
    refused = wire.send({"type": "response.cancel"}, 0.14)
    assert types(refused) == ["error"]
    assert refused[0]["error"]["code"] == "response_cancel_not_active"
    unknown = wire.send({"type": "response.cancel", "response_id": "resp_nope"}, 0.15)
    assert unknown[0]["error"]["code"] == "response_cancel_not_active"
    wire.run_out()
    assert done(of_response(wire.frames, side2))["response"]["status"] == "completed"


def test_barge_in_cancels_only_the_default_response() -> None:
    wire = streaming()
    wire.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
            },
        }
    )
    default_id = wire.create(modalities=["text"])[0]["response"]["id"]
    side_id = wire.create(conversation="none", modalities=["text"])[0]["response"]["id"]
    frames = wire.send({"type": "input_audio_buffer.append", "audio": b64(tone(600))}, 0.05)
    assert "input_audio_buffer.speech_started" in types(frames)
    dones = [f for f in frames if f["type"] == "response.done"]
    assert [d["response"]["id"] for d in dones] == [default_id]
    assert dones[0]["response"]["status_details"]["reason"] == "turn_detected"
    assert wire.server.responses_in_progress == (side_id,)
    wire.send({"type": "input_audio_buffer.append", "audio": b64(silence(800))}, 0.1)
    wire.run_out()
    assert done(of_response(wire.frames, side_id))["response"]["status"] == "completed"


def test_session_expiry_fails_every_response_in_progress() -> None:
    wire = Wire(
        "ga",
        config=ServerConfig(delta_interval=0.05, session_duration=1.0),
        responder=ScriptedResponder(lambda request: "A long answer " * 20),
    )
    default_id = wire.create(modalities=["text"])[0]["response"]["id"]
    side_id = wire.create(conversation="none", modalities=["text"])[0]["response"]["id"]
    frames = wire.tick(1.0)
    statuses = {
        f["response"]["id"]: f["response"]["status"] for f in frames if f["type"] == "response.done"
    }
    assert statuses == {default_id: "failed", side_id: "failed"}
    assert [f["error"]["code"] for f in frames if f["type"] == "error"] == ["session_expired"]
