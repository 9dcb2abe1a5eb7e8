"""``Tools``: Python callables as Realtime function tools.

Register functions (sync or async); each gets a JSON schema derived from its type
hints (``str``, ``int``, ``float``, ``bool``, ``list[...]``, ``tuple[...]``,
``dict[str, ...]``, ``X | None``, ``Literal[...]``, enums, ``TypedDict``,
``Annotated[X, "description"]``), or the one you give. ``session_update()`` puts them
into a ``session.update``. As a plugin it queues each ``FunctionCallReady`` as a
``Call``; running it is the adapter's job (it may await): ``await
tools.execute(call)`` (anyio: asyncio or trio; sync functions in a worker thread;
a timeout) or ``tools.invoke(call)`` (sync functions, inline), then
``tools.answer(call, result)`` gives the events to send: the
``function_call_output`` item and, once every call of that response is answered,
a ``response.create`` (the core coalesces equal creates, and holds one back while a
response is active). A tool that raises, times out, is unknown or gets arguments
that do not fit answers with an error payload: ``{"error": {"type": ..., "message":
...}}``, so the model hears what went wrong.

Arguments are checked before the function runs, against its declared parameter types
(the schema ``schema_of`` gives each hint, ``null`` also allowed where the default is
``None``; no argument the signature lacks, unless it takes ``**kwargs``; none it
requires missing) and, when ``parameters=`` was given, against that schema too
(``rtstate_plugins._jsonschema`` says which keywords are checked). A mismatch answers
``invalid_arguments``, naming each argument and what was expected, and the function
is not called. JSON Schema's ``integer`` is the rule for ``int``: ``2.0`` passes (as
``2``), ``true`` does not; an ``int`` passes for ``float`` (as a ``float``). Checked
values reach the function as the declared types: enum members, the ``Literal``'s own
value, tuples, sets, at any depth.

Over a transport (``rtstate.connect(..., plugins=[tools])``) all of that is done for
you: the ``connected`` hook runs each queued call as it becomes ready (concurrently,
each with the timeout) and sends its answer through the connection.
"""

from __future__ import annotations

import collections
import enum
import functools
import inspect
import json
import types
import typing
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import attrs

import rtstate
from rtstate import events as ev
from rtstate import transitions as tr
from rtstate.plugins import PluginError

from ._jsonschema import json_equal, problems

if TYPE_CHECKING:
    from rtstate.transport import AsyncConnection

__all__ = [
    "Call",
    "SchemaError",
    "ToolResult",
    "ToolSpec",
    "Tools",
    "schema_of",
    "signature_schema",
]

F = TypeVar("F", bound=Callable[..., Any])
"""A function a ``Tools`` decorator (``register``, ``tool``) returns unchanged."""


class SchemaError(TypeError):
    """A type hint has no JSON schema equivalent (give ``parameters=`` explicitly)."""


# --- schemas from type hints -------------------------------------------------------------


_SCALARS: dict[Any, dict[str, str]] = {
    Any: {},
    object: {},
    None: {"type": "null"},
    type(None): {"type": "null"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
}
"""The hints with a fixed schema (copied on use: callers may add a description)."""


def schema_of(hint: Any) -> dict[str, Any]:
    """The JSON schema of a type hint.

    Raises:
        SchemaError: the hint has no JSON schema equivalent.
    """
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        schema = schema_of(args[0])
        notes = [a for a in args[1:] if isinstance(a, str)]
        if notes:
            schema["description"] = " ".join(notes)
        return schema
    scalar = _SCALARS.get(hint) if isinstance(hint, Hashable) else None
    if scalar is not None:
        return dict(scalar)
    if origin is Literal:
        return _enum_schema(list(args))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _enum_schema([m.value for m in hint])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        schemas = [schema_of(a) for a in members]
        if len(members) < len(args):
            schemas.append({"type": "null"})
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    if hint in (list, tuple, collections.abc.Sequence) and not args:
        return {"type": "array"}
    if origin in (list, collections.abc.Sequence, set, frozenset):
        return {"type": "array", "items": schema_of(args[0])} if args else {"type": "array"}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": schema_of(args[0])}
        return {
            "type": "array",
            "prefixItems": [schema_of(a) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if hint in (dict, collections.abc.Mapping) and not args:
        return {"type": "object"}
    if origin in (dict, collections.abc.Mapping):
        if args and args[0] is not str:
            raise SchemaError(f"JSON object keys are strings, not {args[0]!r}")
        return (
            {"type": "object", "additionalProperties": schema_of(args[1])}
            if args
            else {"type": "object"}
        )
    if typing.is_typeddict(hint):
        hints = typing.get_type_hints(hint, include_extras=True)
        declared = getattr(hint, "__required_keys__", frozenset(hints))
        required = [
            k
            for k, v in hints.items()
            if typing.get_origin(v) is typing.Required
            or (k in declared and typing.get_origin(v) is not typing.NotRequired)
        ]
        return {
            "type": "object",
            "properties": {k: schema_of(_strip_required(v)) for k, v in hints.items()},
            "required": required,
            "additionalProperties": False,
        }
    raise SchemaError(f"no JSON schema for {hint!r}; give parameters= explicitly")


def _strip_required(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Required, typing.NotRequired):
        return typing.get_args(hint)[0]
    return hint


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    kinds = {type(v) for v in values}
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    schema: dict[str, Any] = {"enum": values}
    if len(kinds) == 1 and (kind := kinds.pop()) in names:
        schema = {"type": names[kind], "enum": values}
    return schema


def signature_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The ``parameters`` schema of ``fn``: an object with one property per
    parameter (those without a default are required).

    Raises:
        SchemaError: a parameter has no type hint, is ``*args`` / ``**kwargs``, or
            its hint has no JSON schema equivalent.
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, param in inspect.signature(fn).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise SchemaError(f"{fn.__qualname__}: *args / **kwargs have no schema")
        if param.kind is param.POSITIONAL_ONLY:
            raise SchemaError(f"{fn.__qualname__}: {name} is positional-only")
        if name not in hints:
            raise SchemaError(f"{fn.__qualname__}: parameter {name!r} has no type hint")
        hint = hints[name]
        if param.default is not inspect.Parameter.empty and param.default is None:
            hint = _without_none(hint)
        properties[name] = schema_of(hint)
        if param.default is inspect.Parameter.empty:
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


def _without_none(hint: Any) -> Any:
    """``X | None`` with a ``None`` default: the model may leave it out, so ``X``."""
    if typing.get_origin(hint) is typing.Annotated:
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = tuple(a for a in typing.get_args(hint) if a is not type(None))
        if len(members) == 1:
            return members[0]
    return hint


# --- from checked JSON to the declared types --------------------------------------------


Convert = Callable[[Any], Any]
"""Turns a JSON value that fits a hint's schema into a value of the hint's type."""


def _same(value: Any) -> Any:
    return value


def _to_int(value: Any) -> Any:
    return int(value) if isinstance(value, float) else value


def _to_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _pick(options: tuple[Any, ...], value: Any) -> Any:
    """The option (a ``Literal``'s value, an enum member) whose JSON value ``value`` is."""
    for option in options:
        if json_equal(option.value if isinstance(option, enum.Enum) else option, value):
            return option
    return value


def _first_fit(branches: tuple[tuple[dict[str, Any], Convert], ...], value: Any) -> Any:
    """A union: converted by its first member whose schema ``value`` fits."""
    for schema, convert in branches:
        if not problems(schema, value):
            return convert(value)
    return value


def _each(build: Callable[[Any], Any], item: Convert, value: Any) -> Any:
    return build(map(item, value))


def _positions(items: tuple[Convert, ...], value: Any) -> tuple[Any, ...]:
    return tuple(convert(x) for convert, x in zip(items, value, strict=False))


def _values(fields: Mapping[str, Convert], value: Any) -> dict[str, Any]:
    return {k: fields.get(k, _same)(v) for k, v in value.items()}


_COLLECTIONS: dict[Any, Callable[[Any], Any]] = {
    list: list,
    collections.abc.Sequence: list,
    set: set,
    frozenset: frozenset,
    tuple: tuple,
}
"""The array hints and what each is built as (``tuple[X, ...]`` included)."""


def _converter(hint: Any) -> Convert:
    """How a JSON value that fits ``schema_of(hint)`` becomes the type ``hint`` declares
    (``_same`` where nothing changes): the table mirrors ``schema_of``'s cases."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Annotated, typing.Required, typing.NotRequired):
        return _converter(args[0])
    simple: dict[Any, Convert] = {int: _to_int, float: _to_float, tuple: tuple}
    if isinstance(hint, Hashable) and hint in simple:
        return simple[hint]
    if origin is Literal:
        return functools.partial(_pick, args)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return functools.partial(_pick, tuple(hint))
    if origin in (typing.Union, types.UnionType):
        return functools.partial(_first_fit, tuple((schema_of(a), _converter(a)) for a in args))
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        return functools.partial(_positions, tuple(_converter(a) for a in args))
    if origin in _COLLECTIONS:
        build, item = _COLLECTIONS[origin], _converter(args[0]) if args else _same
        return _same if build is list and item is _same else functools.partial(_each, build, item)
    if origin in (dict, collections.abc.Mapping) and args:
        value = _converter(args[1])
        return _same if value is _same else functools.partial(_each_value, value)
    if typing.is_typeddict(hint):
        fields = {k: _converter(h) for k, h in typing.get_type_hints(hint).items()}
        changed = {k: f for k, f in fields.items() if f is not _same}
        return functools.partial(_values, changed) if changed else _same
    return _same


def _each_value(value: Convert, mapping: Any) -> dict[str, Any]:
    return {k: value(v) for k, v in mapping.items()}


_MAX_PROBLEMS = 10
"""The problems one error payload lists (the rest are counted)."""


@attrs.frozen
class _Arguments:
    """How one tool's arguments are checked and converted before it runs.

    ``schemas``: the explicit ``parameters`` (if given), then the schema of the
    signature's declared types; ``convert``: per parameter, to its declared type;
    ``signature``: what the converted arguments must bind to (``None``: the callable
    has none to inspect).
    """

    schemas: tuple[Mapping[str, Any], ...]
    convert: Mapping[str, Convert]
    signature: inspect.Signature | None

    def prepare(self, args: dict[str, Any]) -> dict[str, Any] | str:
        """The keyword arguments to call with, or what is wrong with them."""
        found = list(dict.fromkeys(p for s in self.schemas for p in problems(s, args)))
        if found:
            shown = "; ".join(found[:_MAX_PROBLEMS])
            more = len(found) - _MAX_PROBLEMS
            return f"{shown}; and {more} more" if more > 0 else shown
        kwargs: dict[str, Any] = {}
        for name, value in args.items():
            try:
                kwargs[name] = self.convert.get(name, _same)(value)
            except (TypeError, ValueError, ArithmeticError) as exc:
                return f"argument {name}: {exc}"
        if self.signature is not None:
            try:  # what the schemas do not say: a positional-only parameter, say
                self.signature.bind(**kwargs)
            except TypeError as exc:
                return str(exc)
        return kwargs


def _arguments(fn: Callable[..., Any], explicit: Mapping[str, Any] | None) -> _Arguments:
    """The checks of ``fn``'s arguments. Each parameter's schema is ``schema_of`` its
    hint, with ``null`` kept where the default is ``None``; with ``explicit`` given, a
    parameter without a hint, or whose hint has no schema, is not checked by type."""
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable hints: only an explicit schema can get here
        hints = {}
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a callable without a signature
        only = (explicit,) if explicit is not None else ()
        return _Arguments(schemas=only, convert={}, signature=None)
    parameters = list(signature.parameters.values())
    properties: dict[str, Any] = {}
    required: list[str] = []
    convert: dict[str, Convert] = {}
    keywords = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    for param in parameters:
        if param.kind not in keywords:
            continue
        hint = hints.get(param.name, Any)
        try:
            properties[param.name] = schema_of(hint)
            convert[param.name] = _converter(hint)
        except SchemaError:
            properties[param.name] = {}
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
    own: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
    if all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters):
        own["additionalProperties"] = False
    schemas = (explicit, own) if explicit is not None else (own,)
    return _Arguments(schemas=schemas, convert=convert, signature=signature)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


# --- registry ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ToolSpec:
    """A registered tool: its wire definition and the function behind it."""

    name: str
    description: str | None
    parameters: Mapping[str, Any]
    fn: Callable[..., Any] = attrs.field(repr=False)
    is_async: bool

    @property
    def definition(self) -> ev.Tool:
        """The tool as ``session.update`` carries it."""
        return ev.Tool(name=self.name, description=self.description, parameters=self.parameters)


@attrs.frozen(kw_only=True)
class Call:
    """A function call the model made, waiting to be run."""

    call_id: str
    name: str
    arguments: str
    item_id: str
    response_id: str | None


@attrs.frozen(kw_only=True)
class ToolResult:
    """What running a call gave: ``output`` for the ``function_call_output`` item.

    ``error`` is ``None`` on success, else the error type (``"exception"``,
    ``"timeout"``, ``"unknown_tool"``, ``"invalid_arguments"``); ``output`` then holds
    the error payload.
    """

    call_id: str
    output: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the tool ran and returned."""
        return self.error is None


def _error(call: Call, kind: str, message: str) -> ToolResult:
    payload = {"error": {"type": kind, "message": message}}
    return ToolResult(call_id=call.call_id, output=json.dumps(payload), error=kind)


def _output(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


class Tools:
    """A registry of tools and a plugin that queues the model's calls to them.

    Args:
        timeout: the default time limit of ``execute``, in seconds.
        response: the ``response.create`` sent once a response's calls are all
            answered (default: a bare one; give ``ResponseCreate(response=...)`` for
            e.g. text-only answers).
        on_call: called with each ``Call`` as it is queued (inside the connection's
            call: hand it to a task, do not run it there).
        autorun: over a transport, whether ``connected`` runs and answers the calls
            (``False``: they stay queued for ``take()``).
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        response: ev.ResponseCreate | None = None,
        on_call: Callable[[Call], None] | None = None,
        autorun: bool = True,
    ) -> None:
        self.timeout = timeout
        self.autorun = autorun
        self.results: list[ToolResult] = []
        """The results ``connected`` sent, in the order they were answered."""
        self._wake: anyio.Event | None = None
        self._response = response if response is not None else ev.ResponseCreate()
        self._on_call = on_call
        self._specs: dict[str, ToolSpec] = {}
        self._arguments: dict[str, _Arguments] = {}
        self._pending: collections.deque[Call] = collections.deque()
        self._open: dict[str, str | None] = {}  # call_id -> response_id, unanswered

    # --- registering -------------------------------------------------------------------

    def register(
        self,
        fn: F,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> F:
        """Register ``fn`` and return it (so it also works as a bare decorator).

        ``name`` defaults to the function's name, ``description`` to the first
        paragraph of its docstring, ``parameters`` to ``signature_schema(fn)``.

        Raises:
            SchemaError: no ``parameters`` given and the hints have no schema.
            ValueError: a tool of that name is already registered.
        """
        tool_name = name or fn.__name__
        if tool_name in self._specs:
            raise ValueError(f"a tool named {tool_name!r} is already registered")
        doc = inspect.getdoc(fn)
        summary = doc.split("\n\n", 1)[0].replace("\n", " ") if doc else None
        self._specs[tool_name] = ToolSpec(
            name=tool_name,
            description=description if description is not None else summary,
            parameters=dict(parameters) if parameters is not None else signature_schema(fn),
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
        )
        self._arguments[tool_name] = _arguments(fn, parameters)
        return fn

    def tool(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Callable[[F], F]:
        """A decorator that registers with these options: ``@tools.tool(name="x")``."""
        return functools.partial(
            self.register, name=name, description=description, parameters=parameters
        )

    @property
    def specs(self) -> Mapping[str, ToolSpec]:
        """The registered tools by name (read-only view)."""
        return types.MappingProxyType(self._specs)

    @property
    def definitions(self) -> tuple[ev.Tool, ...]:
        """The tools as ``SessionConfig.tools`` carries them, in registration order."""
        return tuple(spec.definition for spec in self._specs.values())

    def session_update(self, session: ev.SessionConfig | None = None) -> ev.SessionUpdate:
        """A ``session.update`` with these tools (and ``tool_choice="auto"`` unless
        ``session`` sets one), on top of ``session``'s other fields. These replace the
        function tools of ``session``; its other tools (``ExtensionTool``: a GA MCP
        server, say) are kept, after these."""
        base = session if session is not None else ev.SessionConfig()
        choice = base.tool_choice if base.tool_choice is not None else "auto"
        others = tuple([t for t in base.tools or () if not isinstance(t, ev.Tool)])
        return ev.SessionUpdate(
            session=attrs.evolve(base, tools=(*self.definitions, *others), tool_choice=choice)
        )

    # --- the plugin -------------------------------------------------------------------

    def on_function_call_ready(self, t: tr.FunctionCallReady, step: rtstate.Step) -> None:
        """Queue the call (``pending``, ``take()``, ``on_call``); nothing is sent yet."""
        call = Call(
            call_id=t.call_id,
            name=t.name,
            arguments=t.arguments,
            item_id=t.item_id,
            response_id=t.response_id,
        )
        self._pending.append(call)
        self._open[call.call_id] = call.response_id
        if self._on_call is not None:
            self._on_call(call)
        if self._wake is not None:
            self._wake.set()

    async def connected(self, connection: AsyncConnection) -> None:
        """Run and answer calls over ``connection`` while it is open (the transport
        calls this in a task of its own and cancels it at close).

        Each queued call runs in its own task with ``execute(call)`` (the timeout
        applies), then ``answer()``'s events go out with ``connection.send``: the
        ``function_call_output`` item and, after a response's last call, one
        ``response.create``. A call whose answer finds the connection closed is
        dropped (a reconnect plan leaves out calls without output).
        """
        if not self.autorun:
            return
        async with anyio.create_task_group() as tasks:
            while True:
                self._wake = anyio.Event()
                for call in self.take():
                    tasks.start_soon(self._run_and_answer, connection, call)
                await self._wake.wait()

    async def _run_and_answer(self, connection: AsyncConnection, call: Call) -> None:
        result = await self.execute(call)
        try:
            for event in self.answer(call, result):
                await connection.send(event)
        except rtstate.ConnectionClosed:
            return
        self.results.append(result)

    @property
    def pending(self) -> tuple[Call, ...]:
        """Calls queued and not yet taken, oldest first."""
        return tuple(self._pending)

    def take(self) -> list[Call]:
        """Take every queued call (the adapter runs them)."""
        calls = list(self._pending)
        self._pending.clear()
        return calls

    # --- running ----------------------------------------------------------------------

    def _prepare(self, call: Call) -> tuple[ToolSpec, dict[str, Any]] | ToolResult:
        """The tool and the keyword arguments to call it with (checked against the
        declared types, and the explicit schema, then converted), or the error result."""
        spec = self._specs.get(call.name)
        if spec is None:
            return _error(call, "unknown_tool", f"no tool named {call.name!r}")
        try:
            args = json.loads(call.arguments or "{}", parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            return _error(call, "invalid_arguments", f"arguments are not JSON: {exc}")
        if not isinstance(args, dict):
            return _error(call, "invalid_arguments", "arguments are not a JSON object")
        kwargs = self._arguments[spec.name].prepare(args)
        if isinstance(kwargs, str):
            return _error(call, "invalid_arguments", kwargs)
        return spec, kwargs

    def invoke(self, call: Call) -> ToolResult:
        """Run a sync tool inline, without a time limit (sans-IO loops, tests).

        Raises:
            PluginError: the tool is async (use ``execute``).
        """
        prepared = self._prepare(call)
        if isinstance(prepared, ToolResult):
            return prepared
        spec, kwargs = prepared
        if spec.is_async:
            raise PluginError(f"tool {spec.name!r} is async: use execute()")
        try:
            value = spec.fn(**kwargs)
        except Exception as exc:
            return _error(call, "exception", f"{type(exc).__name__}: {exc}")
        return ToolResult(call_id=call.call_id, output=_output(value))

    async def execute(self, call: Call, timeout: float | None = None) -> ToolResult:
        """Run ``call`` under anyio (asyncio or trio) with a time limit.

        Async tools are awaited; sync ones run in a worker thread (abandoned, not
        killed, when the time is up). An exception, a timeout (``timeout`` seconds,
        default ``self.timeout``), an unknown tool or bad arguments give an error
        result; cancellation from outside propagates.
        """
        prepared = self._prepare(call)
        if isinstance(prepared, ToolResult):
            return prepared
        spec, kwargs = prepared
        limit = self.timeout if timeout is None else timeout
        try:
            with anyio.fail_after(limit):
                if spec.is_async:
                    value = await typing.cast("Callable[..., Awaitable[Any]]", spec.fn)(**kwargs)
                else:
                    value = await anyio.to_thread.run_sync(
                        functools.partial(spec.fn, **kwargs), abandon_on_cancel=True
                    )
        except TimeoutError:
            return _error(call, "timeout", f"{spec.name} did not finish within {limit:g} s")
        except Exception as exc:
            return _error(call, "exception", f"{type(exc).__name__}: {exc}")
        return ToolResult(call_id=call.call_id, output=_output(value))

    def answer(self, call: Call, result: ToolResult) -> tuple[ev.ClientEvent, ...]:
        """The events that answer ``call``: its ``function_call_output`` item, and a
        ``response.create`` once no other call of the same response is unanswered.
        Send them in order with ``conn.send``."""
        self._open.pop(call.call_id, None)
        output = ev.ConversationItemCreate(
            item=ev.Item(type="function_call_output", call_id=call.call_id, output=result.output)
        )
        if call.response_id is not None and call.response_id in self._open.values():
            return (output,)
        return (output, self._response)
