"""``rtstate_plugins.tools``: schemas from type hints, the session.update, calls queued
and answered against the fake server, and ``execute`` on asyncio and trio."""

from __future__ import annotations

import enum
import json
import threading
import time
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import anyio
import pytest
from rtstate_plugins import Call, SchemaError, Tools, schema_of, signature_schema
from support.server_harness import Loop

from rtstate import ClientConnection, Config
from rtstate.events import client as c
from rtstate.events.payloads import ResponseParams, SessionConfig
from rtstate.server import FunctionCall, Reply, ScriptedResponder, ToolCallingResponder

TEXT = ResponseParams(modalities=("text",))


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


class Place(TypedDict):
    city: str
    country: NotRequired[str]


def weather(
    city: Annotated[str, "The city"], unit: Unit = Unit.C, days: int | None = None
) -> dict[str, Any]:
    """The weather in a city.

    More text that is not the summary."""
    return {"city": city, "unit": unit.value, "days": days}


def test_schemas_from_type_hints() -> None:
    assert schema_of(str) == {"type": "string"}
    assert schema_of(bool) == {"type": "boolean"}
    assert schema_of(float) == {"type": "number"}
    assert schema_of(list[int]) == {"type": "array", "items": {"type": "integer"}}
    assert schema_of(tuple[str, ...]) == {"type": "array", "items": {"type": "string"}}
    assert schema_of(dict[str, float]) == {
        "type": "object",
        "additionalProperties": {"type": "number"},
    }
    assert schema_of(Literal["a", "b"]) == {"type": "string", "enum": ["a", "b"]}
    assert schema_of(Unit) == {"type": "string", "enum": ["celsius", "fahrenheit"]}
    assert schema_of(int | None) == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert schema_of(Place) == {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    assert signature_schema(weather) == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "The city"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
        },
        "required": ["city"],
    }
    with pytest.raises(SchemaError, match="keys are strings"):
        schema_of(dict[int, str])
    with pytest.raises(SchemaError, match="no type hint"):
        signature_schema(lambda x: x)
    with pytest.raises(SchemaError, match="no JSON schema"):
        schema_of(complex)


def test_registering_and_the_session_update() -> None:
    tools = Tools()
    assert tools.register(weather) is weather

    @tools.tool(name="add", description="Add two numbers.")
    def add_numbers(a: float, b: float) -> float:
        return a + b

    @tools.register
    async def ping() -> str:
        return "pong"

    explicit = {"type": "object", "properties": {"q": {"type": "string"}}}
    tools.register(lambda **kw: kw, name="search", parameters=explicit)
    assert [t.name for t in tools.definitions] == ["weather", "add", "ping", "search"]
    assert tools.definitions[0].description == "The weather in a city."
    assert tools.specs["ping"].is_async and not tools.specs["add"].is_async
    assert tools.definitions[3].parameters == explicit
    update = tools.session_update(SessionConfig(instructions="Be brief."))
    assert update.session.tools == tools.definitions
    assert update.session.tool_choice == "auto" and update.session.instructions == "Be brief."
    with pytest.raises(ValueError, match="already registered"):
        tools.register(weather)


def test_a_call_against_the_fake_server_is_queued_run_and_answered() -> None:
    seen: list[Call] = []
    tools = Tools(response=c.ResponseCreate(response=TEXT), on_call=seen.append)
    tools.register(weather)
    client = ClientConnection(config=Config(strict=True), plugins=[tools])
    responder = ToolCallingResponder(arguments=lambda tool, request: '{"city": "Oslo"}')
    loop = Loop(client=client, responder=responder).start()
    loop.send(tools.session_update())
    loop.send(c.ResponseCreate(response=TEXT))
    (call,) = tools.take()
    assert seen == [call] and tools.queued == ()
    assert (call.name, json.loads(call.arguments)) == ("weather", {"city": "Oslo"})
    result = tools.invoke(call)
    assert result.ok and json.loads(result.output) == {
        "city": "Oslo",
        "unit": "celsius",
        "days": None,
    }
    events = tools.answer(call, result)
    assert [e.type for e in events] == ["conversation.item.create", "response.create"]
    for event in events:
        loop.send(event)
    assert loop.client.state.items[-1].text.startswith("weather returned {")
    loop.check()


def test_two_calls_of_one_response_give_one_response_create() -> None:
    tools = Tools(response=c.ResponseCreate(response=TEXT))
    tools.register(weather)
    client = ClientConnection(config=Config(strict=True), plugins=[tools])
    two = Reply(
        outputs=(
            FunctionCall(name="weather", arguments='{"city": "Oslo"}'),
            FunctionCall(name="nope", arguments="{}"),
        )
    )
    loop = Loop(client=client, responder=ScriptedResponder([two, "Done."])).start()
    loop.send(tools.session_update())
    loop.send(c.ResponseCreate(response=TEXT))
    first, second = tools.take()
    assert [e.type for e in tools.answer(first, tools.invoke(first))] == [
        "conversation.item.create"
    ]
    unknown = tools.invoke(second)
    assert unknown.error == "unknown_tool"
    assert json.loads(unknown.output)["error"]["type"] == "unknown_tool"
    answered = tools.answer(second, unknown)
    assert [e.type for e in answered] == ["conversation.item.create", "response.create"]


def test_invoke_reports_bad_arguments_and_exceptions_and_refuses_async_tools() -> None:
    tools = Tools()
    tools.register(weather)

    @tools.register
    def broken() -> None:
        raise ValueError("no data")

    @tools.register
    async def slow() -> None:
        return None

    def call(name: str, arguments: str = "{}") -> Call:
        return Call(call_id="call_1", name=name, arguments=arguments, item_id="i", response_id="r")

    assert tools.invoke(call("weather", "{not json")).error == "invalid_arguments"
    assert tools.invoke(call("weather", "[1]")).error == "invalid_arguments"
    assert tools.invoke(call("weather", '{"town": "x"}')).error == "invalid_arguments"
    failed = tools.invoke(call("broken"))
    assert failed.error == "exception"
    assert json.loads(failed.output) == {
        "error": {"type": "exception", "message": "ValueError: no data"}
    }
    with pytest.raises(Exception, match="async: use execute"):
        tools.invoke(call("slow"))


# --- execute, on asyncio and trio --------------------------------------------------------


def make_tools() -> Tools:
    tools = Tools(timeout=5.0)
    tools.register(weather)

    @tools.register
    async def lookup(key: str) -> dict[str, str]:
        await anyio.sleep(0)
        return {"key": key}

    @tools.register
    def thread_name() -> str:
        return threading.current_thread().name

    @tools.register
    async def forever() -> None:
        await anyio.sleep(60)

    @tools.register
    def blocking() -> str:
        time.sleep(0.5)
        return "late"

    @tools.register
    async def fails(n: int) -> None:
        raise RuntimeError(f"bad {n}")

    return tools


def call(name: str, arguments: str = "{}") -> Call:
    return Call(
        call_id=f"call_{name}", name=name, arguments=arguments, item_id="i", response_id="r"
    )


@pytest.mark.anyio
async def test_execute_runs_async_and_sync_tools() -> None:
    tools = make_tools()
    result = await tools.execute(call("lookup", '{"key": "k"}'))
    assert result.ok and json.loads(result.output) == {"key": "k"}
    result = await tools.execute(call("weather", '{"city": "Rome", "unit": "fahrenheit"}'))
    assert json.loads(result.output)["unit"] == "fahrenheit"
    name = await tools.execute(call("thread_name"))
    assert name.ok and name.output != threading.current_thread().name  # a worker thread


@pytest.mark.anyio
async def test_execute_turns_timeouts_and_exceptions_into_error_payloads() -> None:
    tools = make_tools()
    started = time.monotonic()
    timed_out = await tools.execute(call("forever"), timeout=0.05)
    assert timed_out.error == "timeout" and time.monotonic() - started < 1.0
    assert (
        json.loads(timed_out.output)["error"]["message"] == "forever did not finish within 0.05 s"
    )
    abandoned = await tools.execute(call("blocking"), timeout=0.05)
    assert abandoned.error == "timeout"
    failed = await tools.execute(call("fails", '{"n": 3}'))
    assert json.loads(failed.output) == {
        "error": {"type": "exception", "message": "RuntimeError: bad 3"}
    }
    assert (await tools.execute(call("missing"))).error == "unknown_tool"
    events = tools.answer(call("fails"), failed)
    assert events[0].item.output == failed.output  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_cancellation_from_outside_propagates() -> None:
    tools = make_tools()
    with anyio.move_on_after(0.05) as scope:
        await tools.execute(call("forever"))
    assert scope.cancelled_caught
