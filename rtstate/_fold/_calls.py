"""Function calls: the arguments of a ``function_call`` item, streamed
(``response.function_call_arguments.delta``) and final (``.done``).
"""

from __future__ import annotations

from typing import Any, Final

from .. import machines
from .._fast import (
    call_record_with,
    delta_step,
    evolve_item,
    evolve_root,
    new_arguments_appended,
    new_call_record,
    streamed,
)
from ..config import Config
from ..events import server as s
from ..logs import TextLog
from ..state import ItemPhase, ItemState, ResponsePhase, SessionPhase, SessionState
from ..step import Step
from ..transitions import FunctionCallArgumentsAppended
from ._base import _active, _check, _item_phase, _open, _Out, _Rejected


def _call_item(state: SessionState, e: Any) -> ItemState:
    _open(state, e)
    _active(state, e, e.response_id)
    item, phase = _item_phase(state, e.item_id)
    _check(machines.ITEM, phase, e)
    assert item is not None
    if item.type != "function_call":
        raise _Rejected("INV-10", f"{e.type} for {item.type} item {e.item_id}")
    if item.call_id is not None and item.call_id != e.call_id:
        raise _Rejected("INV-10", f"{e.type} call_id {e.call_id} != the item's {item.call_id}")
    return item


def _arguments_delta(
    state: SessionState, e: s.ResponseFunctionCallArgumentsDelta, out: _Out
) -> SessionState:
    item = _call_item(state, e)
    out.transitions.append(
        FunctionCallArgumentsAppended(item_id=e.item_id, call_id=e.call_id, delta=e.delta)
    )
    return _arguments_appended(state, item, e.delta)


def _arguments_appended(state: SessionState, item: ItemState, delta: str) -> SessionState:
    """``state`` with ``delta`` appended to the arguments of ``item`` (a function or
    MCP call)."""
    new = evolve_item(item, arguments_log=item.arguments_log.append(delta))
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item.id, new), revision=state.revision + 1
    )


_Phases = tuple[frozenset[ResponsePhase | None], frozenset[ItemPhase | None]]

_ARGUMENTS_PHASES: Final[_Phases] = (
    frozenset(p for p, i in machines.RESPONSE if i is s.ResponseFunctionCallArgumentsDelta),
    frozenset(p for p, i in machines.ITEM if i is s.ResponseFunctionCallArgumentsDelta),
)
"""The response and item phases the tables accept an arguments delta in."""

_SESSION_OPEN: Final = SessionPhase.OPEN


def _arguments_streamed(
    state: SessionState, e: s.ResponseFunctionCallArgumentsDelta, config: Config, phases: _Phases
) -> Step | None:
    """The Step of an arguments delta in the common case, else ``None`` (``fold``
    goes on to ``_arguments_delta``, which reports why): the session open, the
    response in progress and the item in phases the tables accept the delta in, a
    function call with this ``call_id`` (or none yet). ``fold``'s fast path, beside the
    deltas' (``_deltas._streamed``); tests/core/test_properties.py checks it agrees
    with the handler.

    Like the deltas', it keeps what it grew (the arguments log) in the root's record
    (``state.CallHot``), so the item and ``items_by_id`` are built on first read. A
    state this path made for the same item and response passed the checks, and
    nothing they test has changed since (any other fold drops the record, or changes
    nothing: ``_fast.confirmed``): only the ``call_id`` is checked again."""
    hot = state._hot
    if hot is not None and hot[1] is None and hot[0] == e.item_id and hot[2] == e.response_id:
        call_id = hot[3].call_id
        if call_id is not None and call_id != e.call_id:
            return None
        record = hot
    else:
        response_phases, item_phases = phases
        response = state.responses.get(e.response_id)
        if state.phase is not _SESSION_OPEN or response is None:
            return None
        items = state.items_by_id
        item = items.get(e.item_id)
        if (
            response.phase not in response_phases
            or item is None
            or item.phase not in item_phases
            or item.type != "function_call"
            or (item.call_id is not None and item.call_id != e.call_id)
        ):
            return None
        record = new_call_record(item, e.response_id, items)
    transition = new_arguments_appended(e.item_id, e.call_id, e.delta)
    grown = call_record_with(record, record[5].append(e.delta))
    return delta_step(e, state, streamed(state, grown, None), transition)


def _arguments_done(
    state: SessionState, e: s.ResponseFunctionCallArgumentsDone, out: _Out
) -> SessionState:
    item = _call_item(state, e)
    return _arguments_final(state, item, e.arguments, out)


def _arguments_final(
    state: SessionState, item: ItemState, arguments: str, out: _Out
) -> SessionState:
    """``state`` with the final ``arguments`` of ``item`` (a function or MCP call);
    INV-9 is noted when they differ from the deltas that came."""
    if arguments == item.arguments_log.value:  # joined once: remembered for the item's end
        return evolve_root(state, revision=state.revision + 1)
    if item.arguments_log.chunk_count:
        out.note("INV-9", f"arguments of {item.id} differ from their deltas")
    new = evolve_item(item, arguments_log=TextLog.of(arguments))
    return evolve_root(
        state, items_by_id=state.items_by_id.set(item.id, new), revision=state.revision + 1
    )
