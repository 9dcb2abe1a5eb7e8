"""The fake GA server's MCP servers, back to back with a strict GA client (zero
diagnostics, a valid stream, every frame valid against the OpenAI SDK's types):
listing (and a failed listing), a call that completes or fails, approval asked then
granted (the call runs, its output on the item) or denied (no call), and the refusals
of malformed MCP tools and of answers to unknown approval requests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson
import pytest
from openai.types.realtime import RealtimeServerEvent
from support.helpers import user_text
from support.sdk_checks import GA_DELTA_EXTRAS, Checker
from support.server_harness import Loop

from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.client import mcp_approval_response
from rtstate.events.payloads import ExtensionTool, SessionConfig
from rtstate.server import ServerConfig
from rtstate.server.mcp import McpServer, McpTool, McpToolError, needs_approval
from rtstate.server.responders import McpCall, McpResponder, ScriptedResponder
from rtstate.state import ItemPhase
from rtstate.transitions import McpApprovalRequested

SDK: Final = Checker[Any](
    RealtimeServerEvent,
    frozenset(
        {
            ("RealtimeSessionCreateRequest", "id"),
            ("RealtimeSessionCreateRequest", "object"),
            ("RealtimeSessionCreateRequest", "expires_at"),
        }
    )
    | GA_DELTA_EXTRAS,
)


def forecast(arguments: Mapping[str, Any]) -> str:
    city = arguments.get("city")
    if city == "Atlantis":
        raise McpToolError("no forecast for Atlantis")
    return f"sunny in {city}"


WEATHER: Final = McpServer(
    tools=(
        McpTool(
            name="forecast",
            run=forecast,
            input_schema={"type": "object", "properties": {"city": {"type": "string"}}},
            annotations={"readOnlyHint": True},
        ),
        McpTool(name="book_trip", run=lambda _: "booked"),
    )
)
SERVERS: Final = {"weather": WEATHER, "broken": McpServer(list_error="connection refused")}


def mcp_tool(label: str = "weather", **config: Any) -> ExtensionTool:
    return ExtensionTool(
        type="mcp", config={"server_label": label, "server_url": "https://x.test/mcp", **config}
    )


def city(name: str) -> Any:
    return lambda label, tool, request: orjson.dumps({"city": name}).decode()


def loop_with(*tools: ExtensionTool, responder: Any = None) -> Loop:
    loop = Loop(
        dialect="ga",
        config=ServerConfig(mcp_servers=SERVERS),
        responder=responder if responder is not None else McpResponder(arguments=city("Paris")),
    ).start()
    loop.send(c.SessionUpdate(session=SessionConfig(modalities=("text",), tools=tools)))
    return loop


def finish(loop: Loop) -> None:
    loop.check()
    for frame in loop.frames:
        SDK.check(frame.encode())


def test_tools_are_listed_once_per_server_and_a_failed_listing_is_reported() -> None:
    loop = loop_with(
        mcp_tool(allowed_tools=["forecast"], require_approval="never"), mcp_tool("broken")
    )
    assert loop.types()[-9:] == [
        "session.updated",
        "conversation.item.added",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "conversation.item.done",
        "conversation.item.added",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.failed",
        "conversation.item.done",
    ]
    listed, failed = loop.client.state.items
    assert (listed.type, listed.server_label, listed.phase) == (
        "mcp_list_tools",
        "weather",
        ItemPhase.DONE,
    )
    assert [t["name"] for t in listed.tools or ()] == ["forecast"]  # allowed_tools
    assert (failed.server_label, failed.tools) == ("broken", ())
    again = loop.send(
        c.SessionUpdate(session=SessionConfig(tools=(mcp_tool(), mcp_tool("broken"))))
    )
    assert [e.type for e in again] == ["session.updated"]  # listed already
    finish(loop)


def test_a_call_without_approval_runs_and_its_output_is_on_the_item() -> None:
    loop = loop_with(mcp_tool(require_approval="never"))
    loop.send(user_text("Weather in Paris?"))
    events = loop.send(c.ResponseCreate())
    assert [e.type for e in events if "mcp_call" in e.type] == [
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
    ]
    call, said = loop.client.state.items[-2:]
    assert (call.type, call.name, call.arguments) == ("mcp_call", "forecast", '{"city":"Paris"}')
    assert (call.output, call.error, call.phase) == ("sunny in Paris", None, ItemPhase.DONE)
    assert said.text == "forecast returned sunny in Paris"
    finish(loop)


def test_a_failing_tool_fails_the_call_with_its_error() -> None:
    loop = loop_with(
        mcp_tool(require_approval="never"), responder=McpResponder(arguments=city("Atlantis"))
    )
    loop.send(user_text("Weather in Atlantis?"))
    events = loop.send(c.ResponseCreate())
    assert "response.mcp_call.failed" in [e.type for e in events]
    assert "response.mcp_call.completed" not in [e.type for e in events]
    call = loop.client.state.items[-2]
    assert call.output is None
    assert call.error == {"type": "tool_execution_error", "message": "no forecast for Atlantis"}
    assert loop.client.state.items[-1].text == "forecast failed: no forecast for Atlantis"
    finish(loop)


def ask(loop: Loop) -> str:
    """A response that asks approval; the request's item id."""
    loop.send(user_text("Weather in Paris?"))
    mark = len(loop.client_steps)
    events = loop.send(c.ResponseCreate())
    assert "response.mcp_call.in_progress" not in [e.type for e in events]
    (asked,) = [
        t
        for step in loop.client_steps[mark:]
        for t in step.transitions
        if isinstance(t, McpApprovalRequested)
    ]
    assert (asked.server_label, asked.name, asked.arguments) == (
        "weather",
        "forecast",
        '{"city":"Paris"}',
    )
    request = loop.client.state.item(asked.item_id)
    assert request is not None and request.type == "mcp_approval_request"
    assert loop.client.state.active_response is None  # the response ended with the question
    return asked.item_id


@pytest.mark.parametrize("require", ["always", None, {"always": {"tool_names": ["forecast"]}}])
def test_an_approved_call_runs_in_the_next_response(require: Any) -> None:
    config = {} if require is None else {"require_approval": require}
    loop = loop_with(mcp_tool(**config))
    request_id = ask(loop)
    loop.send(mcp_approval_response(request_id, approve=True, reason="fine"))
    answer = loop.client.state.items[-1]
    assert (answer.type, answer.approve, answer.reason) == ("mcp_approval_response", True, "fine")
    assert answer.phase is ItemPhase.DONE
    loop.send(c.ResponseCreate())
    call, said = loop.client.state.items[-2:]
    assert (call.type, call.approval_request_id, call.output) == (
        "mcp_call",
        request_id,
        "sunny in Paris",
    )
    assert said.text == "forecast returned sunny in Paris"
    finish(loop)


def test_a_denied_call_never_runs() -> None:
    loop = loop_with(mcp_tool(require_approval="always"))
    request_id = ask(loop)
    loop.send(mcp_approval_response(request_id, approve=False, reason="not now"))
    events = loop.send(c.ResponseCreate())
    assert not [e for e in events if "mcp_call" in e.type]
    assert [i.type for i in loop.client.state.items].count("mcp_call") == 0
    last = loop.client.state.items[-1]
    assert last.text == "I did not call forecast: the call was not approved (not now)."
    finish(loop)


def test_approval_filters() -> None:
    forecast_tool, book = WEATHER.tools
    never_read_only = {"require_approval": {"never": {"read_only": True}}}
    assert not needs_approval(never_read_only, forecast_tool)
    assert needs_approval(never_read_only, book)
    assert not needs_approval({"require_approval": "never"}, book)
    assert needs_approval({}, book)  # approval is the default


def test_a_scripted_call_to_an_unknown_tool_is_a_protocol_error() -> None:
    script = ScriptedResponder([McpCall(server_label="weather", name="nope")])
    loop = loop_with(mcp_tool(require_approval="never"), responder=script)
    loop.send(c.ResponseCreate())
    call = loop.client.state.items[-1]
    assert call.error is not None and call.error["type"] == "protocol_error"
    finish(loop)


def test_the_default_server_echoes() -> None:
    loop = Loop(dialect="ga", responder=McpResponder()).start()
    loop.send(
        c.SessionUpdate(
            session=SessionConfig(
                modalities=("text",), tools=(mcp_tool("anything", require_approval="never"),)
            )
        )
    )
    loop.send(user_text("hello there"))
    loop.send(c.ResponseCreate())
    call = loop.client.state.items[-2]
    assert (call.name, call.output) == ("echo", "hello there")
    finish(loop)


def rejected(loop: Loop, frame: dict[str, Any]) -> tuple[str | None, str | None]:
    (error,) = loop.send_raw(orjson.dumps(frame).decode())
    assert isinstance(error, s.Error)
    return error.error.code, error.error.param


def update(**tool: Any) -> dict[str, Any]:
    mcp = {"type": "mcp", "server_label": "weather", "server_url": "https://x.test/mcp", **tool}
    return {"type": "session.update", "session": {"type": "realtime", "tools": [mcp]}}


@pytest.mark.parametrize(
    ("tool", "code", "param"),
    [
        ({"server_url": None}, "missing_required_parameter", "session.tools[0].server_url"),
        ({"require_approval": "sometimes"}, "invalid_value", "session.tools[0].require_approval"),
        (
            {"require_approval": {"maybe": {}}},
            "invalid_value",
            "session.tools[0].require_approval.maybe",
        ),
        (
            {"require_approval": {"never": {"tool_names": "forecast"}}},
            "invalid_type",
            "session.tools[0].require_approval.never.tool_names",
        ),
        ({"allowed_tools": "forecast"}, "invalid_type", "session.tools[0].allowed_tools"),
        (
            {"allowed_tools": {"names": ["x"]}},
            "unknown_parameter",
            "session.tools[0].allowed_tools.names",
        ),
    ],
)
def test_malformed_mcp_tools_are_refused(tool: dict[str, Any], code: str, param: str) -> None:
    loop = Loop(dialect="ga").start()
    frame = update(**tool)
    if tool.get("server_url", "") is None:
        del frame["session"]["tools"][0]["server_url"]
    assert rejected(loop, frame) == (code, param)
    assert loop.server.state.session is not None and not loop.server.state.session.tools


def test_answers_to_unknown_or_answered_requests_are_refused() -> None:
    loop = loop_with(mcp_tool(require_approval="always"))
    answer = {"type": "mcp_approval_response", "approval_request_id": "nope", "approve": True}
    frame = {"type": "conversation.item.create", "item": answer}
    assert rejected(loop, frame) == ("invalid_value", "item.approval_request_id")
    no_decision = {"type": "mcp_approval_response", "approval_request_id": "nope"}
    assert rejected(loop, {**frame, "item": no_decision}) == (
        "missing_required_parameter",
        "item.approve",
    )
    request_id = ask(loop)
    loop.send(mcp_approval_response(request_id, approve=True))
    twice = {**answer, "approval_request_id": request_id}
    assert rejected(loop, {**frame, "item": twice}) == ("invalid_value", "item.approval_request_id")
