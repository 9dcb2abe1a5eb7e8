"""``Transcript``: the conversation as text or Markdown, live, in conversation order.

Everything is derived from the state (``SessionState.items``: the conversation order
the server keeps, linked by ``previous_item_id``), so a user's input transcription
that arrives late, in the middle of the next response, shows at its item's place and
not at its arrival time; a deleted item disappears; a truncated one is marked.

``entries(state)`` and ``render_text`` / ``render_markdown`` work on any state
(a replay, a capture); the ``Transcript`` plugin keeps the latest state of its
connection and tells an ``on_change`` callback when the conversation changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import attrs

import rtstate
from rtstate.state import ItemPhase, ItemState

__all__ = ["Entry", "Kind", "Transcript", "entries", "render_markdown", "render_text"]

Kind = Literal["message", "function_call", "function_call_output", "other"]
"""What an ``Entry`` shows: a message, a function call, its output, or another item."""


@attrs.frozen(kw_only=True)
class Entry:
    """One conversation item as a transcript line.

    ``text``: a message's text, or the transcript of its audio (``audio`` is then
    true); a call's JSON arguments; an output's output. ``name``: the function of a
    call or of the call an output answers. ``in_progress``: still streaming.
    ``awaiting_transcript``: user audio whose transcription has not arrived (or was
    not asked for). ``transcription_failed``: it failed. ``truncated_ms``: where a
    barge-in cut the item's audio (``None``: not cut). ``status``: the item's final
    status (``"incomplete"`` for a cancelled response's item).
    """

    item_id: str
    kind: Kind
    role: str | None
    text: str
    name: str | None = None
    audio: bool = False
    in_progress: bool = False
    awaiting_transcript: bool = False
    transcription_failed: bool = False
    truncated_ms: int | None = None
    status: str | None = None


_Rendered = dict[str, tuple[ItemState, str | None, Entry]]
"""Item id -> (the item rendered, the call name used, its entry): ``Transcript``'s cache."""


def entries(state: rtstate.SessionState) -> tuple[Entry, ...]:
    """The transcript of ``state``'s conversation, in conversation order (O(items))."""
    return _entries(state, {}, {})


def _entries(state: rtstate.SessionState, old: _Rendered, new: _Rendered) -> tuple[Entry, ...]:
    """``entries(state)``, reusing ``old``'s entry of every item that is still the same
    ``ItemState`` object (and, for an output, answers a call of the same name); fills
    ``new`` with this state's items. Only new or changed items are rendered again."""
    out: list[Entry] = []
    names: dict[str, str] = {}
    for item in state.items:
        name: str | None = None
        if item.type == "function_call":
            if item.call_id is not None and item.name is not None:
                names[item.call_id] = item.name
        elif item.type == "function_call_output":
            name = names.get(item.call_id or "")
        seen = old.get(item.id)
        if seen is not None and seen[0] is item and seen[1] == name:
            entry = seen[2]
        else:
            entry = _entry(item, name)
        new[item.id] = (item, name, entry)
        out.append(entry)
    return tuple(out)


def _entry(item: ItemState, name: str | None) -> Entry:
    """One item's entry; ``name``: for an output, the function of the call it answers."""
    in_progress = item.phase is not ItemPhase.DONE
    if item.type == "message":
        return _message(item, in_progress)
    if item.type == "function_call":
        return Entry(
            item_id=item.id,
            kind="function_call",
            role=None,
            text=item.arguments or "",
            name=item.name,
            in_progress=in_progress,
            status=item.status,
        )
    if item.type == "function_call_output":
        return Entry(
            item_id=item.id,
            kind="function_call_output",
            role=None,
            text=item.output or "",
            name=name,
            status=item.status,
        )
    return Entry(item_id=item.id, kind="other", role=item.role, text=item.type)


def _message(item: ItemState, in_progress: bool) -> Entry:
    texts: list[str] = []
    audio = awaiting = False
    truncated: int | None = None
    for part in item.parts:
        if part.type in ("text", "input_text"):
            texts.append(part.text)
        elif part.type in ("audio", "input_audio"):
            audio = True
            if part.truncated_ms is not None:
                truncated = part.truncated_ms
            if part.transcript is not None:
                texts.append(part.transcript)
            elif part.type == "input_audio":
                awaiting = True
    failed = item.transcription_error is not None
    return Entry(
        item_id=item.id,
        kind="message",
        role=item.role,
        text="".join(texts),
        audio=audio,
        in_progress=in_progress,
        awaiting_transcript=awaiting and not failed,
        transcription_failed=failed,
        truncated_ms=truncated,
        status=item.status,
    )


def _notes(entry: Entry) -> list[str]:
    notes: list[str] = []
    if entry.awaiting_transcript:
        notes.append("audio, no transcript yet")
    if entry.transcription_failed:
        notes.append("audio, transcription failed")
    if entry.truncated_ms is not None:
        notes.append(f"interrupted at {entry.truncated_ms / 1000:.1f} s")
    elif entry.status == "incomplete":
        notes.append("incomplete")
    if entry.in_progress:
        notes.append("...")
    return notes


def _line(entry: Entry, markdown: bool) -> str:
    notes = _notes(entry)
    suffix = "".join(f" [{n}]" if not markdown else f" _({n})_" for n in notes)
    if entry.kind == "function_call":
        if markdown:
            return f"**Assistant** calls `{entry.name}` with `{entry.text}`{suffix}"
        return f"assistant -> {entry.name}({entry.text}){suffix}"
    if entry.kind == "function_call_output":
        name = entry.name or "function"
        if markdown:
            return f"**Tool** `{name}` returned `{entry.text}`{suffix}"
        return f"{name} -> {entry.text}{suffix}"
    role = entry.role or entry.kind
    text = entry.text
    if markdown:
        body = text.replace("\n", "  \n")
        return " ".join(p for p in (f"**{role.capitalize()}:**", body, suffix.strip()) if p)
    return " ".join(p for p in (f"{role}:", text, suffix.strip()) if p)


def render_text(items: Iterable[Entry]) -> str:
    """One line per entry: ``user: Hi``, ``assistant -> get_weather({...})``."""
    return "\n".join(_line(e, markdown=False) for e in items)


def render_markdown(items: Iterable[Entry]) -> str:
    """One paragraph per entry, roles in bold, calls and outputs as code."""
    return "\n\n".join(_line(e, markdown=True) for e in items)


class Transcript:
    """A plugin that keeps its connection's latest state and renders its transcript.

    Args:
        on_change: called with this plugin after every Step that changed the
            conversation (an item added, removed, or its content grown), e.g. to
            redraw a live view. It runs inside the connection's call: keep it quick.
    """

    def __init__(self, on_change: Callable[[Transcript], None] | None = None) -> None:
        self._state = rtstate.SessionState()
        self._on_change = on_change
        self._cache: tuple[rtstate.SessionState, tuple[Entry, ...]] | None = None
        self._rendered: _Rendered = {}

    def attached(self, conn: rtstate.ClientConnection) -> None:
        """Start from the connection's state."""
        self._state = conn.state

    def on_step(self, step: rtstate.Step) -> None:
        """Keep the new state; tell ``on_change`` if the conversation changed."""
        before, after = step.before, step.after
        self._state = after
        changed = after.items_by_id is not before.items_by_id or after.order is not before.order
        if changed and self._on_change is not None:
            self._on_change(self)

    @property
    def state(self) -> rtstate.SessionState:
        """The latest state seen."""
        return self._state

    @property
    def entries(self) -> tuple[Entry, ...]:
        """The transcript now (computed once per state; only the items that changed
        since the previous computation are rendered again)."""
        cache = self._cache
        if cache is not None and cache[0] is self._state:
            return cache[1]
        rendered: _Rendered = {}
        found = _entries(self._state, self._rendered, rendered)
        self._cache, self._rendered = (self._state, found), rendered
        return found

    def text(self) -> str:
        """The transcript as plain text."""
        return render_text(self.entries)

    def markdown(self) -> str:
        """The transcript as Markdown."""
        return render_markdown(self.entries)
