"""The fake server's remote MCP servers (GA ``{"type": "mcp", ...}`` tools): scripted
tools it lists and calls as the real service calls a remote MCP server.

A session tool ``{"type": "mcp", "server_label": ..., "server_url" | "connector_id",
"allowed_tools", "require_approval", ...}`` names an MCP server by its label; the server
looks the label up in ``ServerConfig.mcp_servers`` (label -> ``McpServer``), and a label
it does not find gets ``ECHO_SERVER`` (one ``echo`` tool), so ``rtstate serve`` works
unscripted. Nothing is ever dialled: ``server_url``, ``headers`` and ``authorization``
are accepted and unused.

* Listing: when a ``session.update`` brings an MCP tool whose label was not listed yet,
  the server adds an ``mcp_list_tools`` item (``conversation.item.added``, then
  ``mcp_list_tools.in_progress``, ``.completed`` and ``conversation.item.done`` with
  the tools ``allowed_tools`` lets through), or ``mcp_list_tools.failed`` (and no tools)
  when the ``McpServer`` has a ``list_error``.
* Calls: a responder's ``McpCall`` output is run when the response is planned: the
  tool's ``run`` gets the parsed arguments; what it returns is the ``mcp_call`` item's
  ``output``; an ``McpToolError`` (or any exception) it raises is its ``error``
  (``tool_execution_error``), and an unknown tool or server a ``protocol_error``.
* Approval: a call that ``require_approval`` covers (``needs_approval``) and that no
  approval names is written as an ``mcp_approval_request`` item instead, which ends the
  response; see ``McpResponder`` (``rtstate.server.responders``) for the round trip.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeAlias

import attrs

from ..events.payloads import ExtensionTool, JSONObject, ToolConfig

__all__ = [
    "ECHO_SERVER",
    "McpOutcome",
    "McpServer",
    "McpServers",
    "McpTool",
    "McpToolError",
    "allowed",
    "mcp_tools",
    "needs_approval",
    "run_call",
]


class McpToolError(Exception):
    """Raised by an ``McpTool``'s ``run``: the call fails with this message
    (``{"type": "tool_execution_error", "message": ...}``)."""


@attrs.frozen(kw_only=True)
class McpTool:
    """One tool of a fake MCP server: ``run`` takes the call's parsed JSON arguments and
    returns the output text (or raises ``McpToolError`` to fail the call).
    ``annotations``: as an MCP server lists them (``{"readOnlyHint": True}`` is what
    a ``read_only`` filter of ``allowed_tools`` / ``require_approval`` matches)."""

    name: str
    run: Callable[[Mapping[str, Any]], str] = attrs.field(eq=False, repr=False)
    input_schema: JSONObject = attrs.field(factory=lambda: {"type": "object"})
    description: str | None = None
    annotations: JSONObject | None = None

    def listed(self) -> JSONObject:
        """The tool as an ``mcp_list_tools`` item lists it."""
        entry: dict[str, Any] = {"name": self.name, "input_schema": self.input_schema}
        if self.description is not None:
            entry["description"] = self.description
        if self.annotations is not None:
            entry["annotations"] = self.annotations
        return entry

    @property
    def read_only(self) -> bool:
        """The tool says it changes nothing (``annotations.readOnlyHint``)."""
        return bool((self.annotations or {}).get("readOnlyHint"))


@attrs.frozen(kw_only=True)
class McpServer:
    """A fake MCP server: its tools, and ``list_error`` to make listing them fail
    (``mcp_list_tools.failed``; its tools are then never called)."""

    tools: tuple[McpTool, ...] = ()
    list_error: str | None = None

    def tool(self, name: str) -> McpTool | None:
        """The tool called ``name``, if the server has one."""
        for tool in self.tools:
            if tool.name == name:
                return tool
        return None


McpServers: TypeAlias = Mapping[str, McpServer]
"""Server label -> the fake MCP server it names (``ServerConfig.mcp_servers``)."""


def _echo(arguments: Mapping[str, Any]) -> str:
    text = arguments.get("text")
    return text if isinstance(text, str) else json.dumps(arguments, sort_keys=True)


ECHO_SERVER: Final = McpServer(
    tools=(
        McpTool(
            name="echo",
            run=_echo,
            description="Says back its text.",
            input_schema={
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "required": ["text"],
            },
            annotations={"readOnlyHint": True},
        ),
    )
)
"""The server of a label ``ServerConfig.mcp_servers`` does not script: one read-only
``echo`` tool that returns its ``text`` argument."""


def mcp_tools(tools: Sequence[ToolConfig] | None) -> tuple[ExtensionTool, ...]:
    """The ``mcp`` tools among a session's or response's tools."""
    return tuple([t for t in tools or () if isinstance(t, ExtensionTool) and t.type == "mcp"])


def _matches(selector: object, tool: McpTool) -> bool:
    """``tool`` matches a filter ``{"tool_names": [...], "read_only": bool}``."""
    if not isinstance(selector, Mapping):
        return False
    names = selector.get("tool_names")
    if isinstance(names, list) and tool.name in names:
        return True
    read_only = selector.get("read_only")
    return isinstance(read_only, bool) and read_only == tool.read_only


def allowed(config: JSONObject, tool: McpTool) -> bool:
    """``allowed_tools`` lets ``tool`` through: absent, a list naming it, or a filter
    object it matches."""
    rule = config.get("allowed_tools")
    if rule is None:
        return True
    if isinstance(rule, list):
        return tool.name in rule
    return _matches(rule, tool)


def needs_approval(config: JSONObject, tool: McpTool) -> bool:
    """``require_approval`` covers a call of ``tool``: ``"always"`` (and, as for the
    service's remote MCP tools, an absent one: approval is the default), not
    ``"never"``; the object form asks for it unless its ``never`` filter matches the
    tool and its ``always`` filter does not."""
    rule = config.get("require_approval")
    if rule is None or rule == "always":
        return True
    if rule == "never" or not isinstance(rule, Mapping):
        return False
    if _matches(rule.get("always"), tool):
        return True
    return not _matches(rule.get("never"), tool)


@attrs.frozen(kw_only=True)
class McpOutcome:
    """What a planned MCP call turns into: an approval request, or a call that returned
    ``output`` or failed with ``error``."""

    approval: bool = False
    output: str | None = None
    error: JSONObject | None = None


def _protocol_error(message: str) -> McpOutcome:
    return McpOutcome(error={"type": "protocol_error", "code": -32602, "message": message})


def run_call(
    servers: McpServers,
    tools: Sequence[ToolConfig] | None,
    *,
    server_label: str,
    name: str,
    arguments: str,
    approved: bool,
) -> McpOutcome:
    """Plan the call of tool ``name`` of ``server_label`` with ``arguments`` (JSON),
    under the session's (or response's) ``tools``: an approval request if it needs one
    and is not ``approved``, else the call's output or error."""
    config = next(
        (t.config for t in mcp_tools(tools) if t.config.get("server_label") == server_label), None
    )
    if config is None:
        return _protocol_error(f"No MCP server labelled {server_label!r} in the tools.")
    server = servers.get(server_label, ECHO_SERVER)
    tool = server.tool(name)
    if server.list_error is not None or tool is None or not allowed(config, tool):
        return _protocol_error(f"Unknown tool: {name!r}.")
    if not approved and needs_approval(config, tool):
        return McpOutcome(approval=True)
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return _protocol_error("Invalid arguments: not JSON.")
    if not isinstance(parsed, dict):
        return _protocol_error("Invalid arguments: not a JSON object.")
    try:
        return McpOutcome(output=tool.run(parsed))
    except Exception as exc:  # a scripted tool's failure is the call's error
        return McpOutcome(error={"type": "tool_execution_error", "message": str(exc)})
