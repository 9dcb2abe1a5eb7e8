"""``Tools`` checks the model's arguments before calling: against the declared types
and, when given, the explicit schema (``rtstate_plugins._jsonschema``). A mismatch is
an ``invalid_arguments`` payload naming the argument and what was expected, and the
function is never called; valid arguments reach it as the declared types."""

from __future__ import annotations

import collections
import enum
import json
from collections.abc import Callable
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rtstate_plugins import Call, ToolResult, Tools, signature_schema
from rtstate_plugins._jsonschema import describe, json_equal, problems


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Place(TypedDict):
    city: str
    unit: NotRequired[Unit]


calls: collections.Counter[str] = collections.Counter()
"""How often each tool below ran (reset by ``make_tools``)."""
received: dict[str, dict[str, Any]] = {}
"""The keyword arguments each tool below last ran with."""


def text(s: str) -> None:
    _note_call("text", s=s)


def double(n: int) -> int:
    _note_call("double", n=n)
    return n * 2


def ratio(x: float) -> None:
    _note_call("ratio", x=x)


def flag(b: bool) -> None:
    _note_call("flag", b=b)


def nothing(v: None) -> None:
    _note_call("nothing", v=v)


def maybe(n: int | None) -> None:
    _note_call("maybe", n=n)


def choose(m: Literal["a", "b"], k: Literal[1, "x"] = 1) -> None:
    _note_call("choose", m=m, k=k)


def convert(u: Unit, level: Level = Level.LOW) -> None:
    _note_call("convert", u=u, level=level)


def numbers(xs: list[int]) -> None:
    _note_call("numbers", xs=xs)


def pair(p: tuple[int, str]) -> None:
    _note_call("pair", p=p)


def names(t: tuple[str, ...]) -> None:
    _note_call("names", t=t)


def scores(d: dict[str, int]) -> None:
    _note_call("scores", d=d)


def visit(place: Place, tags: set[str] | None = None) -> None:
    _note_call("visit", place=place, tags=tags)


def weather(city: Annotated[str, "The city"], days: int | None = None) -> None:
    _note_call("weather", city=city, days=days)


def _note_call(name: str, **kwargs: Any) -> None:
    calls[name] += 1
    received[name] = kwargs


SEARCH = {
    "type": "object",
    "properties": {
        "q": {"type": "string", "minLength": 2},
        "limit": {"type": "integer", "minimum": 1, "maximum": 50, "nullable": True},
        "sort": {"enum": ["new", "top"]},
        "filters": {
            "type": "array",
            "items": {"$ref": "#/$defs/filter"},
            "maxItems": 2,
        },
    },
    "required": ["q"],
    "additionalProperties": False,
    "$defs": {
        "filter": {
            "type": "object",
            "properties": {"field": {"type": "string"}, "value": {"type": ["string", "number"]}},
            "required": ["field", "value"],
        }
    },
}


def search(**kwargs: Any) -> dict[str, Any]:
    _note_call("search", **kwargs)
    return kwargs


def half(n: int) -> float:
    """Declared ``int``, while its explicit schema says ``number``: both are checked."""
    _note_call("half", n=n)
    return n / 2


async def slow_double(n: int) -> int:
    _note_call("slow_double", n=n)
    await anyio.sleep(0)
    return n * 2


def make_tools() -> Tools:
    calls.clear()
    received.clear()
    tools = Tools(timeout=5.0)
    derived: list[Callable[..., Any]] = [text, double, ratio, flag, nothing, maybe, choose]
    derived += [convert, numbers, pair, names, scores, visit, weather, slow_double]
    for fn in derived:
        tools.register(fn)
    tools.register(search, parameters=SEARCH)
    tools.register(half, parameters={"type": "object", "properties": {"n": {"type": "number"}}})
    return tools


def call(name: str, arguments: str) -> Call:
    return Call(
        call_id=f"call_{name}", name=name, arguments=arguments, item_id="i", response_id="r"
    )


def refused(result: ToolResult) -> str:
    """The message of an ``invalid_arguments`` result (the payload's whole shape checked)."""
    assert result.error == "invalid_arguments" and not result.ok
    payload = json.loads(result.output)
    assert set(payload) == {"error"} and set(payload["error"]) == {"type", "message"}
    assert payload["error"]["type"] == "invalid_arguments"
    return str(payload["error"]["message"])


# (tool, arguments, the whole message): each kind of mismatch
MISMATCHES = [
    ("text", '{"s": 3}', "argument s: expected a string, got an integer (3)"),
    ("text", '{"s": null}', "argument s: expected a string, got null"),
    ("double", '{"n": "ab"}', 'argument n: expected an integer, got a string ("ab")'),
    ("double", '{"n": true}', "argument n: expected an integer, got a boolean (true)"),
    ("double", '{"n": 2.5}', "argument n: expected an integer, got a number (2.5)"),
    ("double", '{"n": 1e999}', "argument n: expected an integer, got a number (Infinity)"),
    ("double", '{"n": [1]}', "argument n: expected an integer, got an array"),
    ("double", "{}", "missing required argument n"),
    ("double", '{"n": 1, "m": 2}', "unexpected argument m"),
    ("ratio", '{"x": "1.5"}', 'argument x: expected a number, got a string ("1.5")'),
    ("ratio", '{"x": false}', "argument x: expected a number, got a boolean (false)"),
    ("ratio", '{"x": 1' + "0" * 400 + "}", "argument x: int too large to convert to float"),
    ("flag", '{"b": 1}', "argument b: expected a boolean, got an integer (1)"),
    ("flag", '{"b": "true"}', 'argument b: expected a boolean, got a string ("true")'),
    ("nothing", '{"v": 0}', "argument v: expected null, got an integer (0)"),
    ("maybe", '{"n": "x"}', 'argument n: expected an integer or null, got a string ("x")'),
    ("maybe", "{}", "missing required argument n"),
    ("choose", '{"m": "c"}', 'argument m: expected one of "a", "b", got a string ("c")'),
    ("choose", '{"m": "a", "k": true}', 'argument k: expected one of 1, "x", got a boolean (true)'),
    (
        "convert",
        '{"u": "kelvin"}',
        'argument u: expected one of "celsius", "fahrenheit", got a string ("kelvin")',
    ),
    (
        "convert",
        '{"u": "celsius", "level": 3}',
        "argument level: expected one of 1, 2, got an integer (3)",
    ),
    ("numbers", '{"xs": [1, "2"]}', 'argument xs[1]: expected an integer, got a string ("2")'),
    ("numbers", '{"xs": {"0": 1}}', "argument xs: expected an array, got an object"),
    ("pair", '{"p": [1]}', "argument p: expected at least 2 items, got 1"),
    ("pair", '{"p": [1, "a", 3]}', "argument p: expected at most 2 items, got 3"),
    ("pair", '{"p": [1, 2]}', "argument p[1]: expected a string, got an integer (2)"),
    ("names", '{"t": ["a", 1]}', "argument t[1]: expected a string, got an integer (1)"),
    ("scores", '{"d": {"a": "b"}}', 'argument d.a: expected an integer, got a string ("b")'),
    ("scores", '{"d": [1]}', "argument d: expected an object, got an array"),
    (
        "visit",
        '{"place": {"city": 1}}',
        "argument place.city: expected a string, got an integer (1)",
    ),
    ("visit", '{"place": {}}', "argument place: missing required property city"),
    ("visit", '{"place": {"city": "Oslo", "zip": 1}}', "argument place: unexpected property zip"),
    (
        "visit",
        '{"place": {"city": "Oslo", "unit": "K"}}',
        'argument place.unit: expected one of "celsius", "fahrenheit", got a string ("K")',
    ),
    (
        "visit",
        '{"place": {"city": "Oslo"}, "tags": "a"}',
        'argument tags: expected an array or null, got a string ("a")',
    ),
    (
        "weather",
        '{"city": "Oslo", "days": "2"}',
        'argument days: expected an integer or null, got a string ("2")',
    ),
    ("weather", '{"city": ["Oslo"]}', "argument city: expected a string, got an array"),
    # the explicit schema
    ("search", "{}", "missing required argument q"),
    ("search", '{"q": "x"}', "argument q: expected at least 2 characters, got 1"),
    ("search", '{"q": "xy", "page": 2}', "unexpected argument page"),
    (
        "search",
        '{"q": "xy", "limit": 0}',
        "argument limit: expected at least 1, got an integer (0)",
    ),
    (
        "search",
        '{"q": "xy", "limit": 51}',
        "argument limit: expected at most 50, got an integer (51)",
    ),
    (
        "search",
        '{"q": "xy", "sort": "old"}',
        'argument sort: expected one of "new", "top", got a string ("old")',
    ),
    (
        "search",
        '{"q": "xy", "filters": [{"field": "a"}]}',
        "argument filters[0]: missing required property value",
    ),
    (
        "search",
        '{"q": "xy", "filters": [{"field": "a", "value": null}]}',
        "argument filters[0].value: expected a string or a number, got null",
    ),
    (
        "search",
        json.dumps({"q": "xy", "filters": [{"field": f, "value": 1} for f in "abc"]}),
        "argument filters: expected at most 2 items, got 3",
    ),
    ("half", '{"n": 2.5}', "argument n: expected an integer, got a number (2.5)"),
    (
        "half",
        '{"n": "2"}',
        'argument n: expected a number, got a string ("2"); argument n: '
        'expected an integer, got a string ("2")',
    ),
    # not arguments at all
    ("double", "[1]", "arguments are not a JSON object"),
    ("double", '{"n": NaN}', "arguments are not JSON: NaN is not a JSON value"),
    ("double", '{"n": -Infinity}', "arguments are not JSON: -Infinity is not a JSON value"),
]


@pytest.mark.parametrize(("name", "arguments", "message"), MISMATCHES)
def test_a_mismatch_is_an_error_payload_and_the_function_never_runs(
    name: str, arguments: str, message: str
) -> None:
    tools = make_tools()
    assert refused(tools.invoke(call(name, arguments))) == message
    assert calls[name] == 0


def test_the_error_payload_lists_every_problem_up_to_ten() -> None:
    tools = make_tools()
    message = refused(tools.invoke(call("visit", '{"place": {"city": 1, "zip": 2}, "x": 3}')))
    assert message == (
        "argument place.city: expected a string, got an integer (1); "
        "argument place: unexpected property zip; unexpected argument x"
    )
    many = json.dumps({"xs": [str(i) for i in range(25)]})
    message = refused(tools.invoke(call("numbers", many)))
    assert message.count("expected an integer") == 10 and message.endswith("; and 15 more")
    assert calls["numbers"] == 0


@pytest.mark.anyio
async def test_execute_checks_before_awaiting_the_tool() -> None:
    tools = make_tools()
    bad = await tools.execute(call("slow_double", '{"n": "ab"}'))
    assert refused(bad) == 'argument n: expected an integer, got a string ("ab")'
    assert refused(await tools.execute(call("double", '{"n": 1.5}'))).startswith("argument n")
    assert calls["slow_double"] == calls["double"] == 0
    good = await tools.execute(call("slow_double", '{"n": 4.0}'))
    assert good.ok and good.output == "8" and calls["slow_double"] == 1


# (tool, arguments, what the function receives): valid calls, as the declared types
VALID: list[tuple[str, str, dict[str, Any]]] = [
    ("text", '{"s": "hi"}', {"s": "hi"}),
    ("double", '{"n": 3}', {"n": 3}),
    ("double", '{"n": 3.0}', {"n": 3}),  # JSON Schema: 3.0 is an integer
    ("ratio", '{"x": 2}', {"x": 2.0}),
    ("flag", '{"b": false}', {"b": False}),
    ("nothing", '{"v": null}', {"v": None}),
    ("maybe", '{"n": null}', {"n": None}),
    ("choose", '{"m": "b", "k": "x"}', {"m": "b", "k": "x"}),
    ("choose", '{"m": "a", "k": 1.0}', {"m": "a", "k": 1}),
    ("convert", '{"u": "fahrenheit", "level": 2}', {"u": Unit.F, "level": Level.HIGH}),
    ("numbers", '{"xs": []}', {"xs": []}),
    ("pair", '{"p": [1.0, "a"]}', {"p": (1, "a")}),
    ("names", '{"t": ["a", "b"]}', {"t": ("a", "b")}),
    ("scores", '{"d": {"a": 1}}', {"d": {"a": 1}}),
    (
        "visit",
        '{"place": {"city": "Oslo", "unit": "celsius"}, "tags": ["a", "a"]}',
        {"place": {"city": "Oslo", "unit": Unit.C}, "tags": {"a"}},
    ),
    (
        "visit",
        '{"place": {"city": "Oslo"}, "tags": null}',
        {"place": {"city": "Oslo"}, "tags": None},
    ),
    ("weather", '{"city": "Oslo"}', {"city": "Oslo", "days": None}),
    ("weather", '{"city": "Oslo", "days": null}', {"city": "Oslo", "days": None}),
    (
        "search",
        '{"q": "xy", "limit": null, "filters": [{"field": "a", "value": 1.5}]}',
        {"q": "xy", "limit": None, "filters": [{"field": "a", "value": 1.5}]},
    ),
    ("half", '{"n": 4}', {"n": 4}),
]


@pytest.mark.parametrize(("name", "arguments", "expected"), VALID)
def test_valid_arguments_reach_the_function_as_the_declared_types(
    name: str, arguments: str, expected: dict[str, Any]
) -> None:
    tools = make_tools()
    result = tools.invoke(call(name, arguments))
    assert result.ok, result.output
    assert calls[name] == 1
    got = received[name]
    assert got == expected
    assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]


def test_a_kwargs_tool_gets_the_arguments_themselves() -> None:
    tools = make_tools()
    result = tools.invoke(call("search", '{"q": "xy", "sort": "top"}'))
    assert json.loads(result.output) == {"q": "xy", "sort": "top"}


def test_explicit_schemas_cover_what_hints_cannot() -> None:
    tools = make_tools()

    def positional(a: int, /, **rest: Any) -> int:
        _note_call("positional", a=a, **rest)
        return a

    def unresolved(x: Missing) -> str:  # type: ignore[name-defined]  # noqa: F821
        _note_call("unresolved", x=x)
        return str(x)

    explicit_a = {"type": "object", "properties": {"a": {"type": "integer"}}}
    tools.register(positional, parameters=explicit_a)
    tools.register(unresolved, parameters={"type": "object", "required": ["x"]})
    echo = {"type": "object", "additionalProperties": {"type": "integer"}}
    tools.register(dict, name="echo", parameters=echo)
    # a positional-only parameter cannot be given by name: the bind says so
    message = refused(tools.invoke(call("positional", '{"a": 1}')))
    assert "positional only" in message and calls["positional"] == 0
    # unresolvable hints: the explicit schema alone is checked
    assert refused(tools.invoke(call("unresolved", "{}"))) == "missing required argument x"
    assert tools.invoke(call("unresolved", '{"x": [1]}')).output == "[1]"
    # no signature to inspect (a builtin class): the explicit schema alone, then the call
    assert json.loads(tools.invoke(call("echo", '{"a": 1, "b": 2}')).output) == {"a": 1, "b": 2}
    assert refused(tools.invoke(call("echo", '{"a": "1"}'))).startswith("argument a: expected")


# --- the validator alone -----------------------------------------------------------------


# (schema, value, problems)
SCHEMA_CASES: list[tuple[Any, Any, list[str]]] = [
    ({}, {"any": [1]}, []),
    (True, 1, []),
    (False, 1, ["arguments: no value is allowed here, got an integer (1)"]),
    ({"type": ["string", "null"]}, None, []),
    ({"type": ["string", "null"]}, 1, ["arguments: expected a string or null, got an integer (1)"]),
    ({"type": "integer", "nullable": True}, None, []),
    ({"const": "x"}, "y", ['arguments: expected "x", got a string ("y")']),
    ({"const": 1}, 1.0, []),
    ({"enum": [1]}, True, ["arguments: expected 1, got a boolean (true)"]),
    (
        {"type": "number", "exclusiveMinimum": 0},
        0,
        ["arguments: expected more than 0, got an integer (0)"],
    ),
    (
        {"type": "number", "exclusiveMaximum": 1},
        1.0,
        ["arguments: expected less than 1, got a number (1.0)"],
    ),
    (
        {"type": "string", "maxLength": 2},
        "abc",
        ["arguments: expected at most 2 characters, got 3"],
    ),
    ({"type": "array", "minItems": 1}, [], ["arguments: expected at least 1 items, got 0"]),
    (
        {"type": "array", "prefixItems": [{"type": "string"}], "items": False},
        ["a", 1],
        ["arguments: expected at most 1 items, got 2"],
    ),
    (
        {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
        ["a", "b"],
        ['argument [1]: expected an integer, got a string ("b")'],
    ),
    (
        {"type": "object", "additionalProperties": {"type": "integer"}},
        {"a": 1, "b": None},
        ["argument b: expected an integer, got null"],
    ),
    (
        {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        None,
        ["arguments: expected an integer or a string, got null"],
    ),
    (
        {"anyOf": [{"type": "object", "required": ["a"]}, {"type": "null"}]},
        {},
        ["missing required argument a"],
    ),
    (
        {"oneOf": [{"type": "integer"}, {"type": "number"}]},
        1,
        ["arguments: expected exactly one of an integer or a number, got an integer (1)"],
    ),
    ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, "a", []),
    (
        {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        [],
        ["arguments: expected an integer or a string, got an array"],
    ),
    (
        {"allOf": [{"type": "integer"}, {"minimum": 2}]},
        1,
        ["arguments: expected at least 2, got an integer (1)"],
    ),
    (
        {"$ref": "#/$defs/n", "$defs": {"n": {"type": "integer"}}},
        "1",
        ['arguments: expected an integer, got a string ("1")'],
    ),
    ({"$ref": "https://example.com/s.json"}, "anything", []),
    ({"$ref": "#/$defs/missing"}, "anything", []),
    ({"$ref": "#"}, 1, ["arguments: nested too deeply to check"]),
    ({"type": "string", "format": "email", "pattern": "^x"}, "y", []),  # not checked
    (
        {"type": "integer", "maximum": 5},
        10**400,
        [f"arguments: expected at most 5, got an integer ({'1' + '0' * 36}...)"],
    ),
    (
        {"type": "object", "patternProperties": {"^x": {}}, "additionalProperties": False},
        {"xa": 1},
        [],
    ),
    ({"type": "strange"}, 1, ["arguments: expected 'strange', got an integer (1)"]),
]


@pytest.mark.parametrize(("schema", "value", "expected"), SCHEMA_CASES)
def test_the_validator_keyword_by_keyword(schema: Any, value: Any, expected: list[str]) -> None:
    assert problems(schema, value) == expected


def test_json_equality_and_descriptions() -> None:
    assert json_equal(1, 1.0) and not json_equal(True, 1) and not json_equal(0, False)
    assert json_equal([1, {"a": 2}], (1.0, {"a": 2})) and not json_equal({"a": 1}, {"b": 1})
    assert not json_equal("1", 1)
    assert describe({"enum": ["a"]}) == '"a"'
    assert describe({"type": "integer", "nullable": True}) == "an integer or null"
    assert describe({"minimum": 1}) == "a value matching the schema"


# --- property: what the plugin's own schema allows is accepted -----------------------------


def json_scalars() -> st.SearchStrategy[Any]:
    return st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=5)


def from_schema(schema: Any) -> st.SearchStrategy[Any]:
    """Values valid against the subset of JSON Schema ``schema_of`` emits."""
    if not isinstance(schema, dict) or not schema:
        return st.recursive(json_scalars(), lambda inner: st.lists(inner, max_size=3), max_leaves=5)
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([from_schema(s) for s in schema["anyOf"]])
    kinds: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
        "string": lambda: st.text(max_size=8),
        "integer": lambda: st.integers(-(2**53), 2**53) | st.integers(-(2**53), 2**53).map(float),
        "number": lambda: (
            st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53)
        ),
        "boolean": st.booleans,
        "null": st.none,
        "array": lambda: from_array(schema),
        "object": lambda: from_object(schema),
    }
    return kinds[schema["type"]]()


def from_array(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "prefixItems" in schema:
        return st.tuples(*[from_schema(s) for s in schema["prefixItems"]]).map(list)
    return st.lists(from_schema(schema.get("items", {})), max_size=4)


def from_object(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "properties" not in schema:
        values = from_schema(schema.get("additionalProperties", {}))
        return st.dictionaries(st.text(max_size=4), values, max_size=3)
    properties = {k: from_schema(v) for k, v in schema["properties"].items()}
    required = schema.get("required", [])
    return st.fixed_dictionaries(
        {k: v for k, v in properties.items() if k in required},
        optional={k: v for k, v in properties.items() if k not in required},
    )


def everything(
    *,
    s: str,
    n: int,
    x: float,
    b: bool,
    m: Literal["a", "b", 3],
    u: Unit,
    level: Level,
    xs: list[tuple[int, str]],
    d: dict[str, float],
    place: Place,
    o: int | None = None,
    t: tuple[str, ...] = (),
    tags: set[int] | None = None,
    places: list[Place] | None = None,
    nothing: None = None,
    anything: Any = None,
) -> None:
    """A tool with a parameter of every kind the plugin derives a schema for."""
    _note_call("everything", **locals())


@given(data=st.data())
def test_arguments_generated_from_the_plugins_own_schema_are_accepted(data: st.DataObject) -> None:
    tools = make_tools()
    tools.register(everything)
    arguments = data.draw(from_schema(signature_schema(everything)))
    result = tools.invoke(call("everything", json.dumps(arguments)))
    assert result.ok, result.output
    assert calls["everything"] == 1
    got = received["everything"]
    assert type(got["n"]) is int and type(got["x"]) is float and type(got["b"]) is bool
    assert isinstance(got["u"], Unit) and isinstance(got["level"], Level)
    assert got["m"] in ("a", "b", 3) and all(type(p) is tuple for p in got["xs"])
    assert all(type(v) is float for v in got["d"].values())
    assert "unit" not in got["place"] or isinstance(got["place"]["unit"], Unit)
    assert type(got["t"]) is tuple and (got["tags"] is None or type(got["tags"]) is set)


@given(value=st.recursive(json_scalars() | st.floats(), lambda v: st.lists(v, max_size=2)))
def test_an_int_parameter_runs_exactly_for_integral_numbers(value: Any) -> None:
    tools = make_tools()
    result = tools.invoke(call("double", json.dumps({"n": value})))
    integral = (
        isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    )
    assert result.ok is integral and calls["double"] == int(integral)
