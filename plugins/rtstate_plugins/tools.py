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

The schemas from type hints (``schema_of``, ``signature_schema``) and the conversion
of checked arguments to the declared types are in ``rtstate_plugins._schema``.
"""

from __future__ import annotations

import collections
import functools
import inspect
import json
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

import rtstate
from rtstate import events as ev
from rtstate import transitions as tr
from rtstate.plugins import PluginError

from ._jsonschema import problems
from ._schema import Convert, SchemaError, _converter, _same, schema_of, signature_schema

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
        self._queued: collections.deque[Call] = collections.deque()
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
        """Queue the call (``queued``, ``take()``, ``on_call``); nothing is sent yet."""
        call = Call(
            call_id=t.call_id,
            name=t.name,
            arguments=t.arguments,
            item_id=t.item_id,
            response_id=t.response_id,
        )
        self._queued.append(call)
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
    def queued(self) -> tuple[Call, ...]:
        """Calls queued and not yet taken, oldest first."""
        return tuple(self._queued)

    def take(self) -> list[Call]:
        """Take every queued call (the adapter runs them)."""
        calls = list(self._queued)
        self._queued.clear()
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
