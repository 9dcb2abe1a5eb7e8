"""Responders: what the server says. The server asks one for each response's content.

A responder is any object with ``respond(request) -> Reply`` (the ``Responder``
protocol). The server turns the ``Reply`` into the legal event sequence: it picks text
or audio parts from the response's modalities, synthesises audio for messages that
bring none, cuts deltas, counts usage, and honours ``max_response_output_tokens``.

Built-ins:

* ``ScriptedResponder``: a list of replies played in order, or a callable.
* ``EchoResponder``: says back the last user message (text, or its transcript).
* ``ToolCallingResponder``: calls a session tool, then reports its output.
* ``McpResponder``: calls a tool of a GA MCP server (``McpCall``), asking approval
  first when the tool's ``require_approval`` says so (``rtstate.server.mcp``).

Audio comes from a ``Voice`` (``rtstate.server.audio.SyntheticVoice`` by default).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeAlias

import attrs

from ..events.payloads import (
    ErrorInfo,
    ExtensionTool,
    ResponseParams,
    SessionConfig,
    Tool,
    ToolChoiceMcp,
)
from ..state import ItemState, SessionState

__all__ = [
    "EchoResponder",
    "FunctionCall",
    "McpCall",
    "McpResponder",
    "Message",
    "Output",
    "Reply",
    "Responder",
    "ResponseRequest",
    "ScriptedResponder",
    "ToolCallingResponder",
]


@attrs.frozen(kw_only=True)
class Message:
    """An assistant message: its ``text`` (the transcript, when spoken).

    ``audio`` (bytes in the response's output format) is used as the message's audio
    when the response has the audio modality; ``None`` lets the server's voice speak
    ``text``.
    """

    text: str
    audio: bytes | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class FunctionCall:
    """A function call: ``name`` and its JSON ``arguments``; ``call_id`` is made if ``None``."""

    name: str
    arguments: str = "{}"
    call_id: str | None = None


@attrs.frozen(kw_only=True)
class McpCall:
    """A call of tool ``name`` of the GA MCP server ``server_label`` (an ``mcp`` tool of
    the session or response) with JSON ``arguments``. The server runs the scripted tool
    (``ServerConfig.mcp_servers``) and writes an ``mcp_call`` item with its output or
    error, or, when ``require_approval`` covers the tool and ``approval_request_id``
    names no approval, an ``mcp_approval_request`` item that ends the response.
    ``say``: the message said after the call, from its output and error (``None``: no
    message)."""

    server_label: str
    name: str
    arguments: str = "{}"
    approval_request_id: str | None = None
    say: Callable[[str | None, Mapping[str, Any] | None], str] | None = attrs.field(
        default=None, eq=False, repr=False
    )


Output: TypeAlias = Message | FunctionCall | McpCall
"""One output item of a reply."""


@attrs.frozen(kw_only=True)
class Reply:
    """A response's content: its output items in order, or a failure.

    With ``failure`` set the response ends ``failed`` with that error in
    ``status_details`` and no output (what a real server does on, e.g., a rate limit).
    """

    outputs: tuple[Output, ...] = ()
    failure: ErrorInfo | None = None

    @classmethod
    def text(cls, text: str) -> Reply:
        """A reply of one message."""
        return cls(outputs=(Message(text=text),))


@attrs.frozen(kw_only=True)
class ResponseRequest:
    """What a responder knows when asked for a response.

    ``state``: the server's conversation so far (items in order, the session).
    ``session``: the effective settings of this response (the session config with the
    ``response.create`` overrides applied). ``params``: the overrides as sent (``None``
    for a bare ``response.create`` or a response server VAD started). ``trigger``:
    ``"client"`` (``response.create``), ``"turn_detected"`` (server VAD) or
    ``"idle_timeout"`` (GA ``idle_timeout_ms`` ran out with no speech).
    ``transcripts``: item id -> the transcript of a user turn the server made but has
    not sent yet (a GA server streams it after the response it triggered began).
    ``context``: the items of the request's ``response.input`` (inline items and the
    conversation items it references, in its order), which replace the conversation as
    this response's context; ``None`` when it has none. ``items`` (and so
    ``last_user_text``) reads them instead of the conversation.
    """

    response_id: str
    state: SessionState
    session: SessionConfig
    params: ResponseParams | None = None
    trigger: str = "client"
    transcripts: Mapping[str, str] = attrs.field(factory=dict)
    context: tuple[ItemState, ...] | None = None

    @property
    def items(self) -> tuple[ItemState, ...]:
        """The response's context in order: ``context`` if the request gave one, else
        the conversation's items."""
        return self.state.items if self.context is None else self.context

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The function tools this response may call (an ``ExtensionTool``, such as a
        GA MCP server, is left out: the service calls those itself)."""
        return tuple([t for t in self.session.tools or () if isinstance(t, Tool)])

    def last_user_text(self) -> str | None:
        """The text (or transcript) of the last user message, if any."""
        for item in reversed(self.items):
            if item.type == "message" and item.role == "user":
                for part in item.parts:
                    if part.type == "input_text" and part.text:
                        return part.text
                    if part.type == "input_audio" and part.transcript:
                        return part.transcript
                return self.transcripts.get(item.id)
        return None


class Responder(Protocol):
    """Decides a response's content."""

    def respond(self, request: ResponseRequest) -> Reply:
        """The content of the response ``request`` describes."""
        ...


ReplyLike: TypeAlias = "str | Output | Reply | Sequence[Output]"


def as_reply(value: ReplyLike) -> Reply:
    """A ``Reply`` from a string, one output, a ``Reply`` or a sequence of outputs."""
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply.text(value)
    if isinstance(value, Message | FunctionCall | McpCall):
        return Reply(outputs=(value,))
    return Reply(outputs=tuple(value))


class ScriptedResponder:
    """Plays scripted replies in order, or asks a callable.

    Args:
        script: a sequence of replies (each a string, a ``Message`` / ``FunctionCall``,
            a ``Reply`` or a sequence of outputs), or a callable taking the
            ``ResponseRequest`` and returning one.
        cycle: start again from the first reply when the list runs out. Otherwise a
            response past the end fails (status ``failed``, code ``script_exhausted``)
            so that a test notices.
    """

    def __init__(
        self,
        script: Sequence[ReplyLike] | Callable[[ResponseRequest], ReplyLike],
        *,
        cycle: bool = False,
    ) -> None:
        self._call: Callable[[ResponseRequest], ReplyLike] | None = None
        self._replies: tuple[Reply, ...] = ()
        if callable(script):
            self._call = script
        else:
            self._replies = tuple(as_reply(r) for r in script)
        self._cycle = cycle
        self._next = 0

    @property
    def played(self) -> int:
        """How many replies were asked for so far."""
        return self._next

    def respond(self, request: ResponseRequest) -> Reply:
        """The next scripted reply."""
        index = self._next
        self._next += 1
        if self._call is not None:
            return as_reply(self._call(request))
        replies = self._replies
        if replies and self._cycle:
            return replies[index % len(replies)]
        if index < len(replies):
            return replies[index]
        return Reply(
            failure=ErrorInfo(
                type="server_error",
                code="script_exhausted",
                message=f"ScriptedResponder has no reply #{index + 1} ({len(replies)} scripted)",
            )
        )


@attrs.frozen(kw_only=True)
class EchoResponder:
    """Says back the last user message: ``prefix`` + its text or transcript.

    Without a user message, or with audio whose transcript is unknown (input
    transcription off), it says ``fallback``.
    """

    prefix: str = "You said: "
    fallback: str = "I heard you, but I have no transcript of what you said."

    def respond(self, request: ResponseRequest) -> Reply:
        """The echo."""
        text = request.last_user_text()
        return Reply.text(self.fallback if text is None else f"{self.prefix}{text}")


def example_arguments(tool: Tool) -> str:
    """JSON arguments for ``tool`` with a placeholder value for each required property."""
    schema: Mapping[str, Any] = tool.parameters or {}
    properties = schema.get("properties")
    required = schema.get("required")
    if not isinstance(properties, Mapping):
        return "{}"
    names = [n for n in (required if isinstance(required, list) else properties) if n]
    placeholders: Mapping[str, Any] = {
        "string": "example",
        "number": 1,
        "integer": 1,
        "boolean": True,
        "array": [],
        "object": {},
    }
    args: dict[str, Any] = {}
    for name in names:
        spec = properties.get(name)
        kind = spec.get("type") if isinstance(spec, Mapping) else None
        enum = spec.get("enum") if isinstance(spec, Mapping) else None
        if isinstance(enum, list) and enum:
            args[str(name)] = enum[0]
        else:
            args[str(name)] = placeholders.get(kind if isinstance(kind, str) else "", "example")
    return json.dumps(args, separators=(",", ":"), sort_keys=True)


def _last_call_output(request: ResponseRequest) -> tuple[str, str] | None:
    """(function name, output) when the conversation ends with a function call's output."""
    items = request.items
    if not items or items[-1].type != "function_call_output":
        return None
    output = items[-1]
    for item in reversed(items):
        if item.type == "function_call" and item.call_id == output.call_id:
            return item.name or "the function", output.output or ""
    return "the function", output.output or ""


class ToolCallingResponder:
    """Calls a tool of the session, then answers with what it returned.

    If the conversation ends with a ``function_call_output``, the reply is ``then``'s
    (by default a message quoting the output). Otherwise, when the response may call
    tools (some are set and ``tool_choice`` is not ``"none"``), it calls the tool
    ``tool_choice`` names, or the first one, with ``arguments(tool, request)``
    (by default a placeholder for every required parameter of the tool's schema),
    after an optional ``preamble`` message. Without tools it answers like ``then``,
    as it does when ``tool_choice`` names an MCP server (GA ``ToolChoiceMcp``): it
    never calls an MCP tool, nor a function in its place.
    """

    def __init__(
        self,
        *,
        arguments: Callable[[Tool, ResponseRequest], str] | None = None,
        preamble: str | None = None,
        then: Responder | None = None,
    ) -> None:
        self._arguments = arguments
        self._preamble = preamble
        self._then = then

    def respond(self, request: ResponseRequest) -> Reply:
        """A call, or the answer after one."""
        result = _last_call_output(request)
        tool = None if result is not None else self._pick(request)
        if tool is None:
            if self._then is not None:
                return self._then.respond(request)
            if result is None:
                return Reply.text("I have no tool to call.")
            name, output = result
            return Reply.text(f"{name} returned {output}")
        arguments = (
            self._arguments(tool, request)
            if self._arguments is not None
            else example_arguments(tool)
        )
        call = FunctionCall(name=tool.name, arguments=arguments)
        if self._preamble is None:
            return Reply(outputs=(call,))
        return Reply(outputs=(Message(text=self._preamble), call))

    @staticmethod
    def _pick(request: ResponseRequest) -> Tool | None:
        tools = request.tools
        choice = request.session.tool_choice
        if not tools or choice == "none" or isinstance(choice, ToolChoiceMcp):
            return None
        name = choice if isinstance(choice, str) else choice.name if choice is not None else None
        for tool in tools:
            if tool.name == name:
                return tool
        return tools[0]


def _said_after(name: str) -> Callable[[str | None, Mapping[str, Any] | None], str]:
    def say(output: str | None, error: Mapping[str, Any] | None) -> str:
        if error is not None:
            return f"{name} failed: {error.get('message', 'no message')}"
        return f"{name} returned {output}"

    return say


class McpResponder:
    """Calls a tool of the first listed GA MCP server, with approval when required.

    When the conversation ends with an ``mcp_approval_response``, it answers it: an
    approved request's call runs (``McpCall`` naming the approval, then a message with
    its output); a denied one does not (a message says so). Otherwise, when the
    conversation holds a completed ``mcp_list_tools`` item whose server is among the
    response's tools and tools may be called (``tool_choice`` not ``"none"``), it calls
    the first listed tool (or the one a ``ToolChoiceMcp`` names) with
    ``arguments(server_label, tool, request)`` (default: ``{"text": <the last user
    text>}`` when the tool takes a ``text``, else ``{}``), which the server turns into an
    approval request if ``require_approval`` covers it. Else it answers with ``then``
    (default: ``EchoResponder()``).
    """

    def __init__(
        self,
        *,
        arguments: Callable[[str, Mapping[str, Any], ResponseRequest], str] | None = None,
        then: Responder | None = None,
    ) -> None:
        self._arguments = arguments
        self._then: Responder = then if then is not None else EchoResponder()

    def respond(self, request: ResponseRequest) -> Reply:
        """An approved call, a denial, a new call, or ``then``'s answer."""
        items = request.items
        last = items[-1] if items else None
        if last is not None and last.type == "mcp_approval_response":
            return self._answered(request, last)
        picked = self._pick(request)
        if picked is None:
            return self._then.respond(request)
        label, tool = picked
        name = str(tool.get("name", ""))
        if self._arguments is not None:
            arguments = self._arguments(label, tool, request)
        else:
            schema = tool.get("input_schema")
            props = schema.get("properties") if isinstance(schema, Mapping) else None
            text = request.last_user_text() or ""
            takes_text = isinstance(props, Mapping) and "text" in props
            arguments = json.dumps({"text": text} if takes_text else {})
        return Reply(
            outputs=(
                McpCall(server_label=label, name=name, arguments=arguments, say=_said_after(name)),
            )
        )

    def _answered(self, request: ResponseRequest, answer: ItemState) -> Reply:
        asked = request.state.item(answer.approval_request_id or "")
        if asked is None or asked.type != "mcp_approval_request":
            return self._then.respond(request)
        name = asked.name or ""
        if not answer.approve:
            reason = f" ({answer.reason})" if answer.reason else ""
            return Reply.text(f"I did not call {name}: the call was not approved{reason}.")
        call = McpCall(
            server_label=asked.server_label or "",
            name=name,
            arguments=asked.arguments or "{}",
            approval_request_id=asked.id,
            say=_said_after(name),
        )
        return Reply(outputs=(call,))

    @staticmethod
    def _pick(request: ResponseRequest) -> tuple[str, Mapping[str, Any]] | None:
        choice = request.session.tool_choice
        if choice == "none":
            return None
        labels = [
            t.config.get("server_label")
            for t in request.session.tools or ()
            if isinstance(t, ExtensionTool) and t.type == "mcp"
        ]
        wanted = choice if isinstance(choice, ToolChoiceMcp) else None
        for item in request.state.items:
            if item.type != "mcp_list_tools" or item.server_label not in labels:
                continue
            if wanted is not None and item.server_label != wanted.server_label:
                continue
            for tool in item.tools or ():
                if wanted is None or wanted.name in (None, tool.get("name")):
                    return item.server_label or "", tool
        return None
