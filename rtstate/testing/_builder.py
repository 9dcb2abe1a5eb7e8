"""The stream builder of ``rtstate.testing.strategies``, and the values a flow hands on.

``ConversationEntry``, ``Context`` and ``Flow`` are public (through
``rtstate.testing.strategies``): what a flow strategy gives, and what the next flow
continues from. ``_B`` is the mutable state while one flow or session is drawn: it
makes the ids, records the events (``emit``, ``client``), delivers deferred events at
drawn positions (``settle``) and tracks the conversation; ``freeze`` turns it into a
``Context``. The flows that drive it are in ``rtstate.testing._flows``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from hypothesis import strategies as st

from ..config import Dialect
from ..events.payloads import (
    FinalStatus,
    InputAudioTranscription,
    Item,
    SessionConfig,
    StatusReason,
    TurnDetection,
)
from ..events.server import (
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemDone,
    ServerEvent,
)
from .compact import events_repr, repr_pretty
from .script import AnyClientEvent, AnyServerEvent, Directed, Script

__all__ = ["Context", "ConversationEntry", "Flow"]

E = TypeVar("E", bound=ServerEvent)

# --- public values ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ConversationEntry:
    """One item of the conversation as the generators track it.

    ``kind`` is ``user_text``, ``user_audio``, ``system_text``, ``assistant_text``
    (client-created history), ``assistant`` (a response's message without an audio
    part), ``assistant_audio`` (with one, ``audio_ms`` long: what a truncate may
    keep), ``function_call`` (with its ``call_id``) or ``function_call_output``.
    """

    id: str
    kind: str
    audio_ms: int = 0
    call_id: str | None = None


@attrs.frozen(kw_only=True)
class Context:
    """Where a session stands after some flows: what the next flow continues from.

    ``dialect`` is the protocol the session speaks (``"ga"`` or ``"beta"``): every
    flow that continues it emits that dialect's events in its order. ``salt`` and
    ``serial`` make the next ids; ``session`` is the effective config (``None``
    before ``session.created``); ``conversation`` the items in order;
    ``audio_clock_ms`` the input audio appended so far (the time base of
    ``speech_started``); ``deferred``: server events that are due but not yet sent
    (late input transcriptions), which the next flow may deliver anywhere.
    """

    dialect: Dialect = "ga"
    salt: str = "A"
    serial: int = 0
    session: SessionConfig | None = None
    conversation_id: str | None = None
    conversation: tuple[ConversationEntry, ...] = ()
    audio_clock_ms: int = 0
    deferred: tuple[ServerEvent, ...] = ()
    answered_calls: frozenset[str] = frozenset()
    audio_produced: bool = False
    late_fields: bool = False

    @property
    def started(self) -> bool:
        """Whether ``session.created`` was sent."""
        return self.session is not None

    @property
    def server_vad(self) -> bool:
        """Whether server voice activity detection is on."""
        return self.session is not None and isinstance(self.session.turn_detection, TurnDetection)

    @property
    def transcription(self) -> bool:
        """Whether input audio transcription is on."""
        return self.session is not None and isinstance(
            self.session.input_audio_transcription, InputAudioTranscription
        )


@attrs.frozen(repr=False)
class Flow:
    """One generated flow: its script (both directions) and the context after it.

    The repr is the script's lines and a one-line summary of the context."""

    script: Script
    context: Context

    def __repr__(self) -> str:
        ctx = self.context
        summary = (
            f"\n  context: {ctx.dialect}, {len(ctx.conversation)} items, "
            f"{len(ctx.deferred)} deferred, {'started' if ctx.started else 'not started'}"
        )
        return events_repr("Flow", self.script.events, tail=summary)

    _repr_pretty_ = repr_pretty

    @property
    def server_events(self) -> list[AnyServerEvent]:
        """The server side of the flow, in arrival order."""
        return self.script.server_events

    @property
    def client_events(self) -> list[AnyClientEvent]:
        """The client side of the flow, in send order."""
        return self.script.client_events


# --- the builder --------------------------------------------------------------------------


@attrs.define
class _Cut:
    """How a response ends early: its status, reason, and what interrupts it."""

    status: FinalStatus
    reason: StatusReason | None = None
    interrupt: Callable[[], None] | None = None


class _B:
    """Mutable state while drawing one flow or session; frozen into a Context after."""

    def __init__(self, draw: st.DrawFn, ctx: Context) -> None:
        self.draw = draw
        self.dialect: Dialect = ctx.dialect
        self.salt = ctx.salt
        self.serial = ctx.serial
        self.session = ctx.session
        self.conversation_id = ctx.conversation_id
        self.conversation: list[ConversationEntry] = list(ctx.conversation)
        self.audio_clock = ctx.audio_clock_ms
        self.answered: set[str] = set(ctx.answered_calls)
        self.audio_produced = ctx.audio_produced
        self.late_fields = ctx.late_fields
        self.events: list[Directed] = []
        self.deferred: list[tuple[ServerEvent, int]] = [(e, 0) for e in ctx.deferred]

    def freeze(self) -> Context:
        return Context(
            dialect=self.dialect,
            salt=self.salt,
            serial=self.serial,
            session=self.session,
            conversation_id=self.conversation_id,
            conversation=tuple(self.conversation),
            audio_clock_ms=self.audio_clock,
            deferred=tuple(e for e, _ in self.deferred),
            answered_calls=frozenset(self.answered),
            audio_produced=self.audio_produced,
            late_fields=self.late_fields,
        )

    # ids
    def make_id(self, prefix: str, width: int) -> str:
        self.serial += 1
        return f"{prefix}{self.salt}{self.serial:0{width - len(self.salt)}d}"

    def event_id(self) -> str:
        return self.make_id("event_", 21)

    def item_id(self) -> str:
        return self.make_id("item_", 21)

    def client_id(self) -> str:
        return self.make_id("evt_", 17)

    def maybe_client_id(self) -> str | None:
        """Client events may carry an id (JS) or not (the Python SDK)."""
        return self.client_id() if self.draw(st.booleans()) else None

    # emitting
    def emit(self, cls: type[E], **fields: Any) -> E:
        event = cls(event_id=self.event_id(), **fields)
        self.events.append(("server", event))
        return event

    def client(self, event: Any) -> None:
        self.events.append(("client", event))

    def defer(self, event: ServerEvent) -> None:
        """An event due from now on, delivered at a drawn later point."""
        self.deferred.append((event, len(self.events)))

    def settle(self, *, keep: bool) -> None:
        """Deliver deferred events at drawn positions (or, with ``keep``, maybe later).

        The deferred events of one item keep their order (GA's transcription deltas
        before its ``completed``): each goes no earlier than the one before it, and
        once one is kept for later, so are the ones after it.
        """
        if not self.deferred:
            return
        placed: list[tuple[int, int, ServerEvent]] = []
        kept: list[ServerEvent] = []
        floor: dict[str, int] = {}
        held: set[str] = set()
        for n, (event, lowest) in enumerate(self.deferred):
            key = getattr(event, "item_id", "")
            if key in held or (keep and self.draw(st.booleans())):
                kept.append(event)
                held.add(key)
            else:
                at = self.draw(st.integers(max(lowest, floor.get(key, 0)), len(self.events)))
                floor[key] = at
                placed.append((at, n, event))
        placed.sort(key=lambda p: (p[0], p[1]))
        events: list[Directed] = []
        k = 0
        for pos in range(len(self.events) + 1):
            while k < len(placed) and placed[k][0] == pos:
                events.append(("server", placed[k][2]))
                k += 1
            if pos < len(self.events):
                events.append(self.events[pos])
        self.events = events
        self.deferred = [(e, len(self.events)) for e in kept]

    # conversation
    @property
    def ga(self) -> bool:
        """Whether the session speaks GA (else beta)."""
        return self.dialect == "ga"

    def item_added(self, item: Item, previous: str | None, *, final: bool) -> None:
        """An item joined the conversation: beta ``conversation.item.created``; GA
        ``conversation.item.added``, then at once ``conversation.item.done`` if the item
        is ``final`` (a response's output item gets its ``.done`` when it closes)."""
        if not self.ga:
            self.emit(ConversationItemCreated, item=item, previous_item_id=previous)
            return
        self.emit(ConversationItemAdded, item=item, previous_item_id=previous)
        if final:
            self.emit(ConversationItemDone, item=item, previous_item_id=previous)

    def item_done(self, item: Item, previous: str | None) -> None:
        """GA only: a response's output item is final (``conversation.item.done``, sent
        before ``response.output_item.done``). Real servers give the item's
        ``previous_item_id`` there, or null: drawn."""
        if self.ga:
            previous = previous if self.draw(st.booleans()) else None
            self.emit(ConversationItemDone, item=item, previous_item_id=previous)

    @property
    def last_item(self) -> str | None:
        return self.conversation[-1].id if self.conversation else None

    def add_entry(self, entry: ConversationEntry, after: str | None = None) -> None:
        if after is None:
            self.conversation.append(entry)
            return
        at = next(n for n, e in enumerate(self.conversation) if e.id == after)
        self.conversation.insert(at + 1, entry)

    def replace_entry(self, item_id: str, **changes: Any) -> None:
        for n, e in enumerate(self.conversation):
            if e.id == item_id:
                self.conversation[n] = attrs.evolve(e, **changes)

    def deferred_items(self) -> set[str]:
        return {getattr(e, "item_id", "") for e, _ in self.deferred}

    # session
    @property
    def config(self) -> SessionConfig:
        assert self.session is not None, "the session has not started"
        return self.session

    @property
    def vad(self) -> TurnDetection | None:
        td = self.config.turn_detection
        return td if isinstance(td, TurnDetection) else None

    @property
    def transcribing(self) -> bool:
        return isinstance(self.config.input_audio_transcription, InputAudioTranscription)

    @property
    def speaks(self) -> bool:
        return "audio" in (self.config.modalities or ())

    def unanswered_calls(self) -> list[ConversationEntry]:
        return [
            e
            for e in self.conversation
            if e.kind == "function_call" and e.call_id not in self.answered
        ]

    def truncatable(self) -> list[ConversationEntry]:
        return [e for e in self.conversation if e.kind == "assistant_audio" and e.audio_ms > 0]
