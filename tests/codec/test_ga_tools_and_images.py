"""GA traffic the first GA codec lost: MCP tools in a session or a response, a
``tool_choice`` naming an MCP server, and ``input_image`` content in user messages.

The hand-written frames follow the OpenAI SDK's GA types; each is first validated
strictly against them (``sdk_checks.Checker``), then decoded and encoded again.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Final

import attrs
import orjson
import pytest
from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
from rtstate_plugins import Tools
from support import DATA
from support.helpers import user_text
from support.sdk_checks import GA_DELTA_EXTRAS, Checker
from support.server_harness import Loop

from rtstate import (
    ClientConnection,
    Config,
    LocalProtocolError,
    RemoteProtocolError,
    plan_reconnect,
)
from rtstate.codec import beta, ga
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    ExtensionTool,
    Item,
    ResponseParams,
    SessionConfig,
    Tool,
    ToolChoiceFunction,
    ToolChoiceMcp,
)
from rtstate.server import ScriptedResponder, ToolCallingResponder

KNOWN_EXTRAS: Final = frozenset(
    {  # as in test_transport_sdk_ga: the real service sends these, the SDK never declared them
        ("RealtimeSessionCreateRequest", "id"),
        ("RealtimeSessionCreateRequest", "object"),
        ("RealtimeSessionCreateRequest", "expires_at"),
    }
    | GA_DELTA_EXTRAS
)
SERVER_CHECK: Final = Checker[Any](RealtimeServerEvent, KNOWN_EXTRAS)
CLIENT_CHECK: Final = Checker[Any](RealtimeClientEvent, frozenset())

MCP: Final[dict[str, Any]] = {
    "type": "mcp",
    "server_label": "deepwiki",
    "server_url": "https://mcp.deepwiki.com/mcp",
    "allowed_tools": ["ask_question", "read_wiki_structure"],
    "require_approval": "never",
    "headers": {"X-Trace": "abc"},
}
MCP_FILTERED: Final[dict[str, Any]] = {
    "type": "mcp",
    "server_label": "calendar",
    "connector_id": "connector_googlecalendar",
    "authorization": "ya29.token",
    "allowed_tools": {"read_only": True},
    "require_approval": {"never": {"tool_names": ["list_events"]}},
    "server_description": "The user's calendar.",
}
LISTING: Final = [  # GA: the fake server lists a new MCP server's tools (test_server_mcp.py)
    s.ConversationItemAdded,
    s.McpListToolsInProgress,
    s.McpListToolsCompleted,
    s.ConversationItemDone,
]
WEATHER: Final[dict[str, Any]] = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
IMAGE: Final = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAC"
    "hwGA60e6kgAAAABJRU5ErkJggg=="
)
"""A 1x1 PNG as a data URI."""

REAL_SESSION_UPDATED: Final = (
    DATA / "corpus/ga/pydantic-ai/test_openai_ws/test_text_in_audio_out_turn.server.jsonl"
)


def real_session_frames() -> tuple[dict[str, Any], dict[str, Any]]:
    """The real ``session.created`` and ``session.updated`` of a GA capture."""
    lines = [json.loads(line) for line in REAL_SESSION_UPDATED.read_text().splitlines()]
    created = next(f for f in lines if f["type"] == "session.created")
    updated = next(f for f in lines if f["type"] == "session.updated")
    return created, updated


def session_updated_with(*tools: dict[str, Any]) -> dict[str, Any]:
    _, updated = real_session_frames()
    frame = copy.deepcopy(updated)
    frame["session"]["tools"] = list(tools)
    return frame


def round_trip(frame: dict[str, Any], *, server: bool) -> tuple[Any, dict[str, Any]]:
    """``frame`` checked strictly against the SDK, decoded, and encoded again: the
    event and the JSON object it encodes to (which decodes to the same event)."""
    raw = orjson.dumps(frame)
    (SERVER_CHECK if server else CLIENT_CHECK).check(raw)
    decode = ga.decode_server if server else ga.decode_client
    event = decode(raw)
    encoded = ga.encode(event)
    assert decode(encoded) == event
    return event, orjson.loads(encoded)


# --- the codec -------------------------------------------------------------------------


def test_a_session_update_with_mcp_tools_round_trips() -> None:
    frame = {
        "type": "session.update",
        "session": {"type": "realtime", "tools": [WEATHER, MCP, MCP_FILTERED]},
    }
    event, wire = round_trip(frame, server=False)
    assert wire == frame
    assert isinstance(event, c.SessionUpdate)
    tools = event.session.tools
    assert tools is not None
    assert tools[0] == Tool(
        name="get_weather", description=WEATHER["description"], parameters=WEATHER["parameters"]
    )
    mcp = {k: v for k, v in MCP.items() if k != "type"}
    assert tools[1] == ExtensionTool(type="mcp", config=mcp)
    assert isinstance(tools[2], ExtensionTool)
    assert tools[2].config["require_approval"] == {"never": {"tool_names": ["list_events"]}}


def test_a_session_updated_with_an_mcp_tool_round_trips() -> None:
    frame = session_updated_with(MCP, WEATHER)
    event, wire = round_trip(frame, server=True)
    assert wire["session"]["tools"] == [MCP, WEATHER]
    assert isinstance(event, s.SessionUpdated)
    assert event.session.tools is not None
    assert [type(t) for t in event.session.tools] == [ExtensionTool, Tool]
    assert event.session.tools[0].type == "mcp"


def test_a_response_create_with_an_mcp_tool_round_trips() -> None:
    frame = {
        "type": "response.create",
        "response": {"output_modalities": ["text"], "tools": [MCP_FILTERED, WEATHER]},
    }
    event, wire = round_trip(frame, server=False)
    assert wire == frame
    assert isinstance(event, c.ResponseCreate) and event.response is not None
    assert event.response.tools is not None
    assert event.response.tools[0] == ExtensionTool(
        type="mcp", config={k: v for k, v in MCP_FILTERED.items() if k != "type"}
    )


def test_a_user_image_round_trips() -> None:
    frame = {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_image", "image_url": IMAGE, "detail": "auto"},
                {"type": "input_text", "text": "What is in this picture?"},
            ],
        },
    }
    event, wire = round_trip(frame, server=False)
    assert wire == frame
    assert isinstance(event, c.ConversationItemCreate) and event.item.content is not None
    image, text = event.item.content
    assert image == ContentPart(type="input_image", image_url=IMAGE, detail="auto")
    # encoded only where given
    assert text == ContentPart(type="input_text", text="What is in this picture?")
    bare = ga.to_wire(c.ConversationItemCreate(item=Item(type="message", content=(text,))))
    assert bare["item"]["content"] == [{"type": "input_text", "text": "What is in this picture?"}]


def test_the_beta_protocol_has_function_tools_only() -> None:
    with pytest.raises(RemoteProtocolError, match="function tools only") as info:
        beta.decode_client(orjson.dumps(session_update(WEATHER, MCP, ga_shape=False)))
    assert info.value.path == "session.tools[1].type"
    event = ga.decode_client(orjson.dumps(session_update(WEATHER, MCP)))
    with pytest.raises(LocalProtocolError, match="function tools only") as local:
        beta.encode(event)
    assert local.value.path == "session.tools[1].type"
    # function tools are what they were
    decoded = beta.decode_client(orjson.dumps(session_update(WEATHER, ga_shape=False)))
    assert isinstance(decoded, c.SessionUpdate)
    assert decoded.session.tools == (
        Tool(
            name="get_weather", description=WEATHER["description"], parameters=WEATHER["parameters"]
        ),
    )


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        (ExtensionTool(type="function", config={"name": "f"}), "use Tool"),
        (ExtensionTool(type="mcp", config={"type": "x"}), "cannot hold 'type'"),
        (ExtensionTool(type="mcp", config={"f": float("nan")}), "finite"),
    ],
)
def test_an_extension_tool_that_would_not_read_back_is_refused(
    tool: ExtensionTool, message: str
) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        ga.encode(c.SessionUpdate(session=SessionConfig(tools=(tool,))))


def test_a_tool_type_that_is_not_a_string_is_a_decode_error() -> None:
    frame = {"type": "session.update", "session": {"type": "realtime", "tools": [{"type": 5}]}}
    with pytest.raises(RemoteProtocolError, match="expected a string") as info:
        ga.decode_client(orjson.dumps(frame))
    assert info.value.path == "session.tools[0].type"


# --- the client --------------------------------------------------------------------------


def test_a_client_folds_a_session_with_an_mcp_tool() -> None:
    created, _ = real_session_frames()
    conn = ClientConnection(config=Config(dialect="ga", strict=True))
    conn.receive(orjson.dumps(created).decode())
    step = conn.receive(orjson.dumps(session_updated_with(WEATHER, MCP)).decode())
    assert not step.diagnostics
    session = conn.state.session
    assert session is not None and session.tools is not None
    assert session.tools[1] == ExtensionTool(
        type="mcp", config={k: v for k, v in MCP.items() if k != "type"}
    )
    # and a reconnect carries it over, unchanged on the GA wire
    plan = plan_reconnect(conn.state)
    update = plan.events[0]
    assert isinstance(update, c.SessionUpdate)
    assert update.session.tools == session.tools
    assert ga.to_wire(update)["session"]["tools"] == [WEATHER, MCP]
    # the plan speaks GA, the default; beta-spelled frames cannot hold it, and say so
    assert plan.frames[0] == ga.encode(update)
    with pytest.raises(LocalProtocolError, match="function tools only"):
        attrs.evolve(plan, dialect="beta").frames  # noqa: B018


# --- the fake server -------------------------------------------------------------------


def check_server_frames(loop: Loop) -> None:
    """Every frame the GA server wrote validates strictly against the SDK."""
    for frame in loop.frames:
        SERVER_CHECK.check(frame.encode())


def test_the_ga_server_accepts_an_mcp_tool_and_calls_only_functions() -> None:
    loop = Loop(dialect="ga", responder=ToolCallingResponder()).start()
    frame = {"type": "session.update", "session": {"type": "realtime", "tools": [MCP, WEATHER]}}
    decoded = ga.decode_client(orjson.dumps(frame))
    assert isinstance(decoded, c.SessionUpdate)
    tools = decoded.session.tools
    answered = loop.send(c.SessionUpdate(session=SessionConfig(tools=tools, modalities=("text",))))
    assert [type(e) for e in answered] == [s.SessionUpdated, *LISTING]
    assert loop.server.state.session is not None and loop.client.state.session is not None
    assert loop.server.state.session.tools == loop.client.state.session.tools == tools
    loop.send(user_text("Weather in Paris?"))
    loop.send(c.ResponseCreate())
    call = loop.client.state.items[-1]
    assert call.type == "function_call" and call.name == "get_weather"  # the MCP tool skipped
    loop.check()
    check_server_frames(loop)


def test_the_ga_server_accepts_a_user_image() -> None:
    loop = Loop(dialect="ga", responder=ScriptedResponder(["A pixel."])).start()
    loop.send(c.SessionUpdate(session=SessionConfig(modalities=("text",))))
    item = Item(
        type="message",
        role="user",
        content=(
            ContentPart(type="input_image", image_url=IMAGE, detail="low"),
            ContentPart(type="input_text", text="What is this?"),
        ),
    )
    answered = loop.send(c.ConversationItemCreate(item=item))
    assert [type(e) for e in answered] == [s.ConversationItemAdded, s.ConversationItemDone]
    added = answered[0]
    assert isinstance(added, s.ConversationItemAdded) and added.item.content is not None
    # echoed without the image bytes, as audio parts are echoed without theirs
    assert added.item.content[0] == ContentPart(type="input_image", detail="low")
    assert [p.type for p in loop.client.state.items[-1].parts] == ["input_image", "input_text"]
    loop.send(c.ResponseCreate())
    assert loop.client.state.items[-1].text == "A pixel."
    loop.check()
    check_server_frames(loop)


def rejected(loop: Loop, frame: dict[str, Any]) -> tuple[str | None, str | None]:
    (error,) = loop.send_raw(orjson.dumps(frame).decode())
    assert isinstance(error, s.Error)
    return error.error.code, error.error.param


def message(*content: dict[str, Any], role: str = "user") -> dict[str, Any]:
    item = {"type": "message", "role": role, "content": list(content)}
    return {"type": "conversation.item.create", "item": item}


def session_update(*tools: dict[str, Any], ga_shape: bool = True) -> dict[str, Any]:
    session: dict[str, Any] = {"type": "realtime"} if ga_shape else {}
    return {"type": "session.update", "session": {**session, "tools": list(tools)}}


def test_the_servers_refuse_what_their_protocol_does_not_have() -> None:
    image = {"type": "input_image", "image_url": IMAGE}
    ga_loop = Loop(dialect="ga").start()
    assert rejected(ga_loop, message({"type": "input_image"})) == (
        "missing_required_parameter",
        "item.content[0].image_url",
    )
    assert rejected(ga_loop, message({**image, "detail": "ultra"})) == (
        "invalid_value",
        "item.content[0].detail",
    )
    assert rejected(ga_loop, message(image, role="system")) == (
        "invalid_value",
        "item.content[0].type",
    )
    no_label = {"type": "mcp", "server_url": "https://example.com/mcp"}
    assert rejected(ga_loop, session_update(no_label)) == (
        "missing_required_parameter",
        "session.tools[0].server_label",
    )
    assert rejected(ga_loop, session_update(WEATHER, {"type": "web_search"})) == (
        "invalid_value",
        "session.tools[1].type",
    )
    assert ga_loop.server.state.session is not None and not ga_loop.server.state.session.tools

    beta_loop = Loop().start()
    assert rejected(beta_loop, message(image)) == ("invalid_value", "item.content[0].type")
    assert rejected(beta_loop, session_update(MCP, ga_shape=False)) == (
        "invalid_type",
        "session.tools[0].type",
    )


# --- what reads session.tools --------------------------------------------------------------


def test_the_tools_plugin_keeps_the_sessions_other_tools() -> None:
    tools = Tools()

    @tools.register
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    mcp = ExtensionTool(type="mcp", config={"server_label": "deepwiki"})
    old = Tool(name="old_function")
    update = tools.session_update(SessionConfig(tools=(old, mcp)))
    assert update.session.tools == (*tools.definitions, mcp)


def test_a_tool_choice_names_a_function_among_mixed_tools() -> None:
    loop = Loop(dialect="ga", responder=ToolCallingResponder()).start()
    mcp = ExtensionTool(type="mcp", config={"server_label": "deepwiki", "server_url": "https://x"})
    weather = Tool(name="get_weather")
    choice = ToolChoiceFunction(name="get_weather")
    params = ResponseParams(tools=(mcp, weather), tool_choice=choice, modalities=("text",))
    loop.send(user_text("Weather?"))
    loop.send(c.ResponseCreate(response=params))
    assert loop.client.state.items[-1].name == "get_weather"
    loop.check()


# --- tool_choice naming an MCP server ------------------------------------------------------

MCP_CHOICE: Final[dict[str, Any]] = {
    "type": "mcp",
    "server_label": "deepwiki",
    "name": "ask_question",
}
"""A ``tool_choice`` forcing one tool of the ``MCP`` server (the SDK's ``ToolChoiceMcp``)."""


def test_a_session_update_with_an_mcp_tool_choice_round_trips() -> None:
    frame = {
        "type": "session.update",
        "session": {"type": "realtime", "tools": [MCP, WEATHER], "tool_choice": MCP_CHOICE},
    }
    event, wire = round_trip(frame, server=False)
    assert wire == frame
    assert isinstance(event, c.SessionUpdate)
    assert event.session.tool_choice == ToolChoiceMcp(server_label="deepwiki", name="ask_question")


def test_an_mcp_tool_choice_without_a_name_round_trips() -> None:
    choice = {"type": "mcp", "server_label": "calendar"}  # any tool of the server
    frame = {
        "type": "response.create",
        "response": {"output_modalities": ["text"], "tools": [MCP_FILTERED], "tool_choice": choice},
    }
    event, wire = round_trip(frame, server=False)
    assert wire == frame
    assert isinstance(event, c.ResponseCreate) and event.response is not None
    assert event.response.tool_choice == ToolChoiceMcp(server_label="calendar")
    assert event.response.tool_choice.name is None


def test_a_session_updated_with_an_mcp_tool_choice_round_trips() -> None:
    frame = session_updated_with(MCP, WEATHER)
    frame["session"]["tool_choice"] = MCP_CHOICE
    event, wire = round_trip(frame, server=True)
    assert wire["session"]["tool_choice"] == MCP_CHOICE
    assert isinstance(event, s.SessionUpdated)
    assert event.session.tool_choice == ToolChoiceMcp(server_label="deepwiki", name="ask_question")
    # a function choice is what it was
    frame["session"]["tool_choice"] = {"type": "function", "name": "get_weather"}
    event, wire = round_trip(frame, server=True)
    assert isinstance(event, s.SessionUpdated)
    assert event.session.tool_choice == ToolChoiceFunction(name="get_weather")
    assert wire["session"]["tool_choice"] == {"type": "function", "name": "get_weather"}


@pytest.mark.parametrize(
    ("choice", "path", "message"),
    [
        ({"type": "mcp", "name": "ask_question"}, "session.tool_choice.server_label", "missing"),
        ({"type": "mcp", "server_label": 5}, "session.tool_choice.server_label", "a string"),
        ({"type": "mcp", "server_label": "d", "name": 5}, "session.tool_choice.name", "a string"),
        ({"type": "web_search"}, "session.tool_choice.type", "'function' or 'mcp'"),
    ],
)
def test_a_malformed_ga_tool_choice_names_its_fault(
    choice: dict[str, Any], path: str, message: str
) -> None:
    frame = {"type": "session.update", "session": {"type": "realtime", "tool_choice": choice}}
    with pytest.raises(RemoteProtocolError, match=message) as info:
        ga.decode_client(orjson.dumps(frame))
    assert info.value.path == path


def test_the_beta_protocol_has_function_tool_choices_only() -> None:
    update = {"type": "session.update", "session": {"tool_choice": MCP_CHOICE}}
    with pytest.raises(RemoteProtocolError, match="function tool choices only") as info:
        beta.decode_client(orjson.dumps(update))
    assert info.value.path == "session.tool_choice.type"
    create = {"type": "response.create", "response": {"tool_choice": MCP_CHOICE}}
    with pytest.raises(RemoteProtocolError, match="function tool choices only") as info:
        beta.decode_client(orjson.dumps(create))
    assert info.value.path == "response.tool_choice.type"
    event = c.SessionUpdate(session=SessionConfig(tool_choice=ToolChoiceMcp(server_label="d")))
    with pytest.raises(LocalProtocolError, match="function tool choices only") as local:
        beta.encode(event)
    assert local.value.path == "session.tool_choice.type"
    # function choices are what they were
    function = {
        "type": "session.update",
        "session": {"tool_choice": {"type": "function", "name": "f"}},
    }
    decoded = beta.decode_client(orjson.dumps(function))
    assert isinstance(decoded, c.SessionUpdate)
    assert decoded.session.tool_choice == ToolChoiceFunction(name="f")


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        (ToolChoiceMcp(server_label="d", type="function"), "ToolChoiceMcp's type"),  # type: ignore[arg-type]
        (ToolChoiceFunction(name="f", type="mcp"), "ToolChoiceFunction's type"),  # type: ignore[arg-type]
    ],
)
def test_a_tool_choice_of_the_wrong_type_is_not_encoded(choice: Any, message: str) -> None:
    """It would decode as the other class (or not at all)."""
    with pytest.raises(LocalProtocolError, match=message):
        ga.encode(c.SessionUpdate(session=SessionConfig(tool_choice=choice)))


def test_a_client_folds_an_mcp_tool_choice_and_a_reconnect_keeps_it() -> None:
    created, _ = real_session_frames()
    conn = ClientConnection(config=Config(dialect="ga", strict=True))
    conn.receive(orjson.dumps(created).decode())
    frame = session_updated_with(MCP, WEATHER)
    frame["session"]["tool_choice"] = MCP_CHOICE
    SERVER_CHECK.check(orjson.dumps(frame))
    step = conn.receive(orjson.dumps(frame).decode())
    assert not step.diagnostics
    session = conn.state.session
    assert session is not None
    choice = ToolChoiceMcp(server_label="deepwiki", name="ask_question")
    assert session.tool_choice == choice
    plan = plan_reconnect(conn.state)
    update = plan.events[0]
    assert isinstance(update, c.SessionUpdate)
    assert update.session.tool_choice == choice
    wire = ga.to_wire(update)
    assert wire["session"]["tool_choice"] == MCP_CHOICE
    CLIENT_CHECK.check(orjson.dumps(wire))
    assert plan.frames[0] == ga.encode(update)
    with pytest.raises(LocalProtocolError, match="function tools only"):
        attrs.evolve(plan, dialect="beta").frames  # noqa: B018


def test_the_ga_server_accepts_an_mcp_tool_choice_and_calls_no_tool() -> None:
    loop = Loop(dialect="ga", responder=ToolCallingResponder()).start()
    frame = {
        "type": "session.update",
        "session": {"type": "realtime", "tools": [MCP, WEATHER], "tool_choice": MCP_CHOICE},
    }
    CLIENT_CHECK.check(orjson.dumps(frame))
    answered = loop.send_raw(orjson.dumps(frame).decode())
    assert [type(e) for e in answered] == [s.SessionUpdated, *LISTING]
    choice = ToolChoiceMcp(server_label="deepwiki", name="ask_question")
    assert loop.server.state.session is not None and loop.client.state.session is not None
    assert loop.server.state.session.tool_choice == choice
    assert loop.client.state.session.tool_choice == choice
    loop.send(c.SessionUpdate(session=SessionConfig(modalities=("text",))))
    loop.send(user_text("What does the wiki say?"))
    loop.send(c.ResponseCreate())
    # the service would call the MCP tool (not modelled); the fake calls no function instead
    assert [i.type for i in loop.client.state.items] == ["mcp_list_tools", "message", "message"]
    assert loop.client.state.items[-1].text == "I have no tool to call."
    # likewise for one response, over the session's function choice
    loop.send(c.SessionUpdate(session=SessionConfig(tool_choice="required")))
    params = ResponseParams(tool_choice=ToolChoiceMcp(server_label="deepwiki"))
    loop.send(c.ResponseCreate(response=params))
    assert [i.type for i in loop.client.state.items] == ["mcp_list_tools", *["message"] * 3]
    loop.check()
    check_server_frames(loop)


def test_the_servers_refuse_an_mcp_tool_choice_they_cannot_honour() -> None:
    ga_loop = Loop(dialect="ga").start()
    other = {"type": "mcp", "server_label": "elsewhere"}

    def update(*tools: dict[str, Any], choice: dict[str, Any]) -> dict[str, Any]:
        frame = session_update(*tools)
        frame["session"]["tool_choice"] = choice
        return frame

    assert rejected(ga_loop, update(MCP, WEATHER, choice=other)) == (
        "invalid_value",
        "session.tool_choice",
    )
    assert rejected(ga_loop, update(WEATHER, choice=MCP_CHOICE)) == (
        "invalid_value",
        "session.tool_choice",
    )
    # a function's name is not a server_label
    by_name = {"type": "mcp", "server_label": "get_weather"}
    assert rejected(ga_loop, update(MCP, WEATHER, choice=by_name)) == (
        "invalid_value",
        "session.tool_choice",
    )
    assert rejected(ga_loop, update(MCP, choice={"type": "mcp"})) == (
        "missing_required_parameter",
        "session.tool_choice.server_label",
    )
    assert ga_loop.server.state.session is not None
    assert not ga_loop.server.state.session.tools
    assert ga_loop.server.state.session.tool_choice == "auto"
    # a response's choice is checked against its own tools, else the session's
    create = {
        "type": "response.create",
        "response": {"tools": [MCP_FILTERED], "tool_choice": other},
    }
    assert rejected(ga_loop, create) == ("invalid_value", "response.tool_choice")
    updated, *_ = ga_loop.send_raw(orjson.dumps(session_update(MCP_FILTERED)).decode())
    assert isinstance(updated, s.SessionUpdated)
    create = {"type": "response.create", "response": {"tool_choice": MCP_CHOICE}}
    assert rejected(ga_loop, create) == ("invalid_value", "response.tool_choice")
    # and naming the server that is there, it is accepted
    ga_loop.send(c.SessionUpdate(session=SessionConfig(modalities=("text",))))
    answered = ga_loop.send(
        c.ResponseCreate(
            response=ResponseParams(tool_choice=ToolChoiceMcp(server_label="calendar"))
        )
    )
    assert s.ResponseDone in [type(e) for e in answered]
    ga_loop.check()
    check_server_frames(ga_loop)

    beta_loop = Loop().start()
    assert rejected(
        beta_loop, {"type": "session.update", "session": {"tool_choice": MCP_CHOICE}}
    ) == (
        "invalid_type",
        "session.tool_choice.type",
    )
