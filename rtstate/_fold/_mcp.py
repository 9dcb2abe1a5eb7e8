"""GA's MCP items: a tool listing that finishes when the listing ends, call arguments
streaming into an ``mcp_call`` item, and the calls' progress."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .. import machines
from .._fast import evolve_item, evolve_root
from ..events import server as s
from ..state import ItemState, SessionState
from ..transitions import (
    McpCallArgumentsAppended,
    McpCallArgumentsDone,
    McpCallCompleted,
    McpCallFailed,
    McpToolsListed,
    McpToolsListFailed,
)
from ._base import _active, _check, _item_phase, _open, _Out, _Rejected
from ._calls import _arguments_appended, _arguments_final


def _mcp_call_item(state: SessionState, e: Any) -> ItemState:
    """The ``mcp_call`` item an MCP call event names (its phase unchanged: the table
    keeps it; ``response.output_item.done`` finishes the item)."""
    _open(state, e)
    item, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    assert item is not None  # the table has no (None, mcp call event) pair
    if item.type != "mcp_call":
        raise _Rejected("INV-10", f"{e.type} for {item.type} item {e.item_id}")
    return item


def _mcp_arguments_delta(
    state: SessionState, e: s.ResponseMcpCallArgumentsDelta, out: _Out
) -> SessionState:
    _open(state, e)
    _active(state, e, e.response_id)
    item = _mcp_call_item(state, e)
    out.transitions.append(
        McpCallArgumentsAppended(item_id=e.item_id, delta=e.delta, response_id=e.response_id)
    )
    return _arguments_appended(state, item, e.delta)


def _mcp_arguments_done(
    state: SessionState, e: s.ResponseMcpCallArgumentsDone, out: _Out
) -> SessionState:
    _open(state, e)
    _active(state, e, e.response_id)
    item = _mcp_call_item(state, e)
    out.transitions.append(
        McpCallArgumentsDone(item_id=e.item_id, arguments=e.arguments, response_id=e.response_id)
    )
    return _arguments_final(state, item, e.arguments, out)


_MCP_CALL_ENDED: Final[Mapping[type, type[McpCallCompleted | McpCallFailed]]] = {
    s.ResponseMcpCallCompleted: McpCallCompleted,
    s.ResponseMcpCallFailed: McpCallFailed,
}


def _mcp_call_status(
    state: SessionState,
    e: s.ResponseMcpCallInProgress | s.ResponseMcpCallCompleted | s.ResponseMcpCallFailed,
    out: _Out,
) -> SessionState:
    _mcp_call_item(state, e)
    ended = _MCP_CALL_ENDED.get(type(e))
    if ended is not None:
        out.transitions.append(ended(item_id=e.item_id, output_index=e.output_index))
    return state


_MCP_LISTED: Final[Mapping[type, type[McpToolsListed | McpToolsListFailed]]] = {
    s.McpListToolsCompleted: McpToolsListed,
    s.McpListToolsFailed: McpToolsListFailed,
}


def _mcp_list_tools(
    state: SessionState,
    e: s.McpListToolsInProgress | s.McpListToolsCompleted | s.McpListToolsFailed,
    out: _Out,
) -> SessionState:
    """An ``mcp_list_tools`` item's listing: it is done when the listing ends."""
    _open(state, e)
    item, phase = _item_phase(state, e.item_id)
    next_phase = _check(machines.ITEM, phase, e)
    if item is not None and item.type != "mcp_list_tools":
        raise _Rejected("INV-10", f"{e.type} for {item.type} item {e.item_id}")
    ended = _MCP_LISTED.get(type(e))
    if ended is not None:
        out.transitions.append(ended(item_id=e.item_id))
    if item is None or next_phase is phase or next_phase is None:
        return state
    new = evolve_item(item, phase=next_phase)
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item.id, new), revision=state.revision + 1
    )
