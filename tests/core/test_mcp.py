"""GA MCP items in the client's state: the fields every snapshot brings are kept on
``ItemState`` (tools listed, a call's output or error, an approval's decision), and
``mcp_approval_response`` builds the answer to an approval request."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from rtstate import ClientConnection, Config, SessionState, Step
from rtstate.codec import ga
from rtstate.events.client import ConversationItemCreate, mcp_approval_response
from rtstate.state import ItemPhase, SessionPhase
from rtstate.transitions import (
    ItemFinished,
    McpApprovalRequested,
    McpCallCompleted,
    McpCallFailed,
    McpToolsListed,
    McpToolsListFailed,
)

STRICT_GA = Config(dialect="ga", strict=True)
TOOLS = [{"name": "forecast", "input_schema": {"type": "object"}, "description": "Weather"}]


class Session:
    """A strict GA client fed JSON frames; every step kept."""

    def __init__(self) -> None:
        self.conn = ClientConnection(config=STRICT_GA, state=SessionState(phase=SessionPhase.OPEN))
        self.steps: list[Step] = []
        self._ids: Iterator[int] = itertools.count(1)

    def feed(self, kind: str, **fields: Any) -> Step:
        frame = json.dumps({"type": kind, "event_id": f"event_{next(self._ids)}", **fields})
        step = self.conn.receive(frame)
        assert step.diagnostics == ()
        self.steps.append(step)
        return step

    def transitions(self, cls: type) -> list[Any]:
        return [t for step in self.steps for t in step.transitions if isinstance(t, cls)]

    def output(self, index: int, item: dict[str, Any], *middle: tuple[str, dict[str, Any]]) -> None:
        """Output item ``index`` of response r1: added, placed, ``middle``, done."""
        opening = {k: v for k, v in item.items() if k not in ("output", "error")}
        if item["type"] == "mcp_call":
            opening = {**opening, "arguments": ""}
        self.feed("response.output_item.added", response_id="r1", output_index=index, item=opening)
        self.feed("conversation.item.added", previous_item_id=None, item=opening)
        for kind, fields in middle:
            self.feed(kind, **fields)
        self.feed("conversation.item.done", previous_item_id=None, item=item)
        self.feed("response.output_item.done", response_id="r1", output_index=index, item=item)


def response(status: str = "in_progress") -> dict[str, Any]:
    return {"id": "r1", "object": "realtime.response", "status": status, "output": []}


def test_a_tool_listing_keeps_its_server_and_tools() -> None:
    session = Session()
    for item_id, ending in (("l1", "completed"), ("l2", "failed")):
        listing = {"type": "mcp_list_tools", "id": item_id, "server_label": "weather", "tools": []}
        session.feed("conversation.item.added", previous_item_id=None, item=listing)
        session.feed("mcp_list_tools.in_progress", item_id=item_id)
        session.feed(f"mcp_list_tools.{ending}", item_id=item_id)
        tools = TOOLS if ending == "completed" else []
        session.feed(
            "conversation.item.done", previous_item_id=None, item={**listing, "tools": tools}
        )
    state = session.conn.state
    listed, failed = state.item("l1"), state.item("l2")
    assert listed is not None and failed is not None
    assert (listed.server_label, listed.phase) == ("weather", ItemPhase.DONE)
    assert listed.tools == tuple(TOOLS)
    assert failed.tools == () and failed.phase is ItemPhase.DONE
    assert [t.item_id for t in session.transitions(McpToolsListed)] == ["l1"]
    assert [t.item_id for t in session.transitions(McpToolsListFailed)] == ["l2"]


def mcp_call(item_id: str, index: int, **result: Any) -> tuple[dict[str, Any], list[Any]]:
    item = {
        "type": "mcp_call",
        "id": item_id,
        "server_label": "weather",
        "name": "forecast",
        "arguments": '{"city":"Paris"}',
        **result,
    }
    at = {"item_id": item_id, "output_index": index}
    ending = "failed" if "error" in result else "completed"
    middle = [
        ("response.mcp_call_arguments.delta", {"response_id": "r1", **at, "delta": '{"city":'}),
        ("response.mcp_call_arguments.delta", {"response_id": "r1", **at, "delta": '"Paris"}'}),
        (
            "response.mcp_call_arguments.done",
            {"response_id": "r1", **at, "arguments": '{"city":"Paris"}'},
        ),
        ("response.mcp_call.in_progress", at),
        (f"response.mcp_call.{ending}", at),
    ]
    return item, middle


def test_a_calls_output_and_error_are_on_its_item_when_it_finishes() -> None:
    session = Session()
    session.feed("response.created", response=response())
    ok, ok_events = mcp_call("m1", 0, output="sunny", approval_request_id="apr_1")
    error = {"type": "tool_execution_error", "message": "no such city"}
    bad, bad_events = mcp_call("m2", 1, error=error)
    session.output(0, ok, *ok_events)
    session.output(1, bad, *bad_events)
    session.feed("response.done", response={**response("completed"), "output": [ok, bad]})
    state = session.conn.state
    done, failed = state.item("m1"), state.item("m2")
    assert done is not None and failed is not None
    assert (done.output, done.error, done.approval_request_id) == ("sunny", None, "apr_1")
    assert (done.name, done.arguments, done.server_label) == (
        "forecast",
        '{"city":"Paris"}',
        "weather",
    )
    assert (failed.output, failed.error) == (None, error)
    assert [t.item_id for t in session.transitions(McpCallCompleted)] == ["m1"]
    assert [t.item_id for t in session.transitions(McpCallFailed)] == ["m2"]
    # where the output is read: the ItemFinished of the call, not its completed event
    finished = [
        (t.item_id, step.after.item(t.item_id).output)  # type: ignore[union-attr]
        for step in session.steps
        for t in step.transitions
        if isinstance(t, ItemFinished)
    ]
    assert finished == [("m1", "sunny"), ("m2", None)]


@pytest.mark.parametrize("approve", [True, False])
def test_an_approval_round_keeps_the_request_and_the_decision(approve: bool) -> None:
    session = Session()
    session.feed("response.created", response=response())
    request = {
        "type": "mcp_approval_request",
        "id": "apr_1",
        "server_label": "weather",
        "name": "forecast",
        "arguments": "{}",
    }
    session.output(0, request)
    session.feed("response.done", response={**response("completed"), "output": [request]})
    (asked,) = session.transitions(McpApprovalRequested)
    assert (asked.item_id, asked.server_label, asked.name) == ("apr_1", "weather", "forecast")

    answer = mcp_approval_response("apr_1", approve=approve, reason="ok by me", item_id="ar_1")
    sent = session.conn.send(answer)
    in_flight = sent.after.item("ar_1")
    assert in_flight is not None and in_flight.phase is ItemPhase.PENDING
    assert (in_flight.approval_request_id, in_flight.approve) == ("apr_1", approve)
    echoed = {
        "type": "mcp_approval_response",
        "id": "ar_1",
        "approval_request_id": "apr_1",
        "approve": approve,
        "reason": "ok by me",
    }
    session.feed("conversation.item.added", previous_item_id="apr_1", item=echoed)
    session.feed("conversation.item.done", previous_item_id="apr_1", item=echoed)
    item = session.conn.state.item("ar_1")
    assert item is not None
    assert (item.phase, item.approval_request_id, item.approve, item.reason) == (
        ItemPhase.DONE,
        "apr_1",
        approve,
        "ok by me",
    )
    assert session.conn.state.item("apr_1").server_label == "weather"  # type: ignore[union-attr]
    assert session.conn.state.ledger.in_flight == ()


def test_the_approval_builder_writes_the_sdk_shape() -> None:
    event = mcp_approval_response("apr_9", approve=False, reason="too risky")
    assert isinstance(event, ConversationItemCreate)
    frame = json.loads(ga.encode(event))
    assert frame == {
        "type": "conversation.item.create",
        "item": {
            "type": "mcp_approval_response",
            "approval_request_id": "apr_9",
            "approve": False,
            "reason": "too risky",
        },
    }
    bare = json.loads(ga.encode(mcp_approval_response("apr_9", approve=True)))
    assert bare["item"] == {
        "type": "mcp_approval_response",
        "approval_request_id": "apr_9",
        "approve": True,
    }
