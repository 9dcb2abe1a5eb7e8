"""A response's delta events, written and folded by the server without the general paths.

A response writes hundreds of deltas of one part (text, transcript, audio, arguments)
whose fields are the same but for three: ``event_id``, ``delta`` and (GA)
``obfuscation``. ``DeltaWriter`` has the codec encode one event of the stream with a
marker in each of those fields, once, and then writes each delta's frame by putting the
JSON strings of its values where the markers were: the codec's own key order, spelling
and null table, without building the JSON object again. It also builds the event
itself (the server folds it), by position, with its ``obfuscation()``.

``fold_streamed`` folds such a delta into the server's state through the fold's own
fast path for the part being streamed, without the Step ``fold`` wraps it in (the
server keeps the state and the transition only).

``ItemFrames`` writes the events that carry an item (and ``response.done``) around
the item's JSON that the codec wrote once, in another event's frame.

tests/server/test_server_wire.py holds every frame written here equal, byte for byte,
to the codec's checked ``encode`` of the same event, ``fold_streamed`` to ``fold``, and
whole sessions to the same sessions through the plain paths.
"""

from __future__ import annotations

from collections.abc import Callable
from hashlib import blake2b
from typing import Any, Final

import attrs
import orjson

from .._build import positional
from .._fast import streamed
from .._fold._deltas import _STREAMED
from ..config import Config
from ..events import server as s
from ..events.payloads import ContentPart, Item, ResponseInfo
from ..state import SessionState
from ..transitions import Transition

__all__ = ["DeltaWriter", "ItemFrames", "fold_streamed", "obfuscation"]

_MARKED: Final = ("event_id", "delta", "obfuscation")
"""The fields a delta's frame fills in; the template holds a marker in each
(``_marks``)."""


def _marks(fixed: tuple[Any, ...]) -> tuple[str, ...]:
    """The markers of ``_MARKED``: each name between runs of more NUL characters than
    the ``fixed`` values hold in all, so that no fixed value can contain one."""
    nul = "\x00" * (1 + sum(str(value).count("\x00") for value in fixed))
    return tuple(nul + name + nul for name in _MARKED)


_OBFUSCATION_BLOCK: Final = 16
_OBFUSCATION_CHARS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_OBFUSCATION_TABLE: Final = bytes(
    ord(_OBFUSCATION_CHARS[b % len(_OBFUSCATION_CHARS)]) for b in range(256)
)
"""A byte of the digest -> its character (``bytes.translate``: one C call a delta)."""


def obfuscation(event_id: str, delta: str) -> str:
    """A GA delta's ``obfuscation``: letters and digits that pad the delta to a multiple
    of 16 characters, as the real service's do; derived from the event id, so the same
    session writes the same bytes."""
    size = _OBFUSCATION_BLOCK - len(delta) % _OBFUSCATION_BLOCK
    digest = blake2b(event_id.encode(), digest_size=_OBFUSCATION_BLOCK).digest()
    return digest[:size].translate(_OBFUSCATION_TABLE).decode("ascii")


_B64_SAFE: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


_BUILDERS: Final[dict[type, Callable[..., Any]]] = {}


def _builder(cls: type[s.ServerEvent]) -> Callable[..., Any]:
    """``cls`` built by position (``rtstate._build.positional``), made once per class."""
    build = _BUILDERS.get(cls)
    if build is None:
        build = _BUILDERS[cls] = positional(cls)
    return build


def _json_str(text: str) -> str:
    """``text`` as a JSON string, as orjson writes it (raises what orjson raises)."""
    return orjson.dumps(text).decode("utf-8")


class DeltaWriter:
    """The frames and events of one stream of deltas (one event class, the same fields
    but for ``event_id``, ``delta`` and ``obfuscation``).

    ``fixed`` are the other fields' values, in the class's field order (after
    ``event_id``, before ``delta``); ``obfuscated``: the stream's events carry an
    ``obfuscation`` (GA text-bearing deltas), else it is left ``None``. ``encode`` is
    the codec's (``Codec.encode_unchecked``): it writes the template, once.
    """

    __slots__ = ("_build", "_field", "_fixed", "_head", "_mid", "_middle", "_obfuscated", "_tail")

    def __init__(
        self,
        encode: Callable[[s.ServerEvent], str],
        cls: type[s.ServerEvent],
        fixed: tuple[Any, ...],
        *,
        obfuscated: bool,
    ) -> None:
        self._build = _builder(cls)
        self._fixed = fixed
        self._obfuscated = obfuscated
        self._field = "obfuscation" in attrs.fields_dict(cls)  # left None unless obfuscated
        if obfuscated and not self._field:
            raise TypeError(f"{cls.__name__} has no obfuscation")
        marks = _marks(fixed) if obfuscated else _marks(fixed)[:2]
        template = encode(self.event(marks[0], marks[1], marks[2] if obfuscated else None))
        pieces: list[str] = []
        rest = template
        for mark in marks:  # the codec writes fields in definition order
            before, found, rest = rest.partition(_json_str(mark))
            if not found or _json_str(mark) in rest:
                raise ValueError(f"{cls.__name__}: no single {mark!r} in its frame {template!r}")
            pieces.append(before)
        self._head = pieces[0]  # ... "event_id":
        self._mid = pieces[1]  # ... "delta":
        self._middle = pieces[2] if obfuscated else ""  # ,"obfuscation":
        self._tail = rest

    def event(self, event_id: str, delta: str, obfuscation: str | None) -> Any:
        """The delta event (built by position: the class has no validators)."""
        if self._field:
            return self._build(event_id, *self._fixed, delta, obfuscation)
        return self._build(event_id, *self._fixed, delta)

    def frame(self, event_id: str, delta: str, obfuscation: str | None) -> str:
        """The codec's frame of ``event(event_id, delta, obfuscation)``.

        ``obfuscation`` is letters and digits (as ``obfuscation()`` makes it): it is
        written as it is.

        Raises:
            orjson.JSONEncodeError: a value cannot be written (a lone surrogate).
        """
        head = self._head + _json_str(event_id) + self._mid + _json_str(delta)
        if self._obfuscated:
            assert obfuscation is not None
            return head + self._middle + '"' + obfuscation + '"' + self._tail
        return head + self._tail

    def write(self, event_id: str, delta: str) -> tuple[Any, str | None]:
        """The event of a text-bearing delta (its ``obfuscation`` derived, if the stream
        has one: ``obfuscation()``) and its frame, ``None`` if it cannot be written
        (the caller has the codec say why). ``event`` and ``frame`` in one call."""
        if self._obfuscated:
            obfuscated = obfuscation(event_id, delta)
            event = self._build(event_id, *self._fixed, delta, obfuscated)
            try:
                text = _json_str(delta)
            except orjson.JSONEncodeError:
                return event, None
            # obfuscation() encoded event_id already: it writes (the delta is copied once)
            head = self._head + _json_str(event_id) + self._mid
            return event, f'{head}{text}{self._middle}"{obfuscated}"{self._tail}'
        event = self.event(event_id, delta, None)
        try:
            return event, self.frame(event_id, delta, None)
        except orjson.JSONEncodeError:
            return event, None

    def write_audio(self, event_id: str, delta: str) -> tuple[Any, str | None]:
        """``write`` of an audio delta whose ``delta`` is base64 text (as
        ``rtstate.server.audio`` renders it: nothing in it is escaped in JSON, so it is
        written as it is)."""
        event = self._build(event_id, *self._fixed, delta)
        try:
            head = self._head + _json_str(event_id)
        except orjson.JSONEncodeError:
            return event, None
        return event, f'{head}{self._mid}"{delta}"{self._tail}'  # one copy of the delta


def is_base64_text(text: str) -> bool:
    """``text`` holds base64 characters only (what ``DeltaWriter.write_audio`` takes
    as it is). For tests and assertions: the renderer's output always does."""
    return _B64_SAFE.issuperset(text)


def fold_streamed(
    state: SessionState, event: Any, config: Config
) -> tuple[SessionState, Transition] | None:
    """``fold(state, event, config)``'s state and only transition for a text,
    transcript or audio delta of the part ``state`` streams (its record,
    ``state.Hot``, is of the event's part, response and delta group): the fold's own
    fast path (``rtstate._fold._deltas._streamed``), without its Step. ``None``: any
    other case (the caller folds it).

    The server folds every delta it writes; it reads the Step's state and transitions
    only. tests/server/test_server_wire.py holds it to ``fold``.
    """
    stream = _STREAMED.get(event.__class__)
    hot = state._hot
    if (
        stream is None
        or hot is None
        or hot[1] is None  # a function call's record
        or hot[0] != event.item_id
        or hot[1] != event.content_index
        or hot[2] != event.response_id
        or hot[3] is not stream[4]
    ):
        return None
    transition, grown, audio = stream[1](event, hot, state, config)
    return streamed(state, grown, audio), transition


# --- events that carry an item: the item's JSON written once ---------------------------

_ITEM_EVENTS: Final = (
    s.ConversationItemAdded,
    s.ConversationItemDone,
    s.ConversationItemCreated,
    s.ResponseOutputItemAdded,
    s.ResponseOutputItemDone,
)
"""The events whose frame ``ItemFrames`` cuts an item's JSON out of, or writes around it."""

_PROBES: Final = (
    Item(
        id="item_\x00probe",
        object="realtime.item",
        type="message",
        status="completed",
        role="assistant",
        content=(ContentPart(type="text", text='a "probe" \u00e9'), ContentPart(type="audio")),
    ),
    Item(id="item_2", type="function_call", call_id="call_1", name="f", arguments="{}"),
)


class ItemFrames:
    """The frames of the events that carry an item (``conversation.item.added`` /
    ``.done`` / ``.created``, ``response.output_item.added`` / ``.done``) and of
    ``response.done``, written around an item's JSON that the codec wrote once.

    The server writes each item two or three times: a user item in its ``.added`` and
    ``.done``, an output item in ``response.output_item.added`` and
    ``conversation.item.added``, its snapshot in ``conversation.item.done``,
    ``response.output_item.done`` and ``response.done``. The codec writes an item's
    JSON the same wherever it is (one hook per ``Item``, compact JSON), and each of
    these events as its other fields around it, in field order:
    ``{"type":T,"event_id":E,"item":ITEM,"previous_item_id":P}`` and
    ``{"type":T,"event_id":E,"response_id":R,"output_index":N,"item":ITEM}``.
    ``item_json`` cuts ``ITEM`` out of a frame the codec wrote, ``frame`` writes
    another event of the item around it, ``response_done`` puts the items of a
    response's output in the frame of its ``response.done`` written with no output.

    The layout is checked once, against the codec's own frames of probe items
    (``usable``); a frame that does not have it yields no JSON (``None``: the caller
    encodes). tests/server/test_server_wire.py holds every frame written here equal,
    byte for byte, to the codec's ``encode`` of the same event.
    """

    __slots__ = ("_tags", "usable")

    def __init__(self, encode: Callable[[s.ServerEvent], str], tags: dict[type, str]) -> None:
        self._tags = {cls: tags[cls] for cls in _ITEM_EVENTS if cls in tags}
        self.usable = False
        try:
            self.usable = all(self._layout_holds(encode, probe) for probe in _PROBES)
        except Exception:  # pragma: no cover - a codec that refuses a probe
            self.usable = False

    def _layout_holds(self, encode: Callable[[s.ServerEvent], str], probe: Item) -> bool:
        """The codec writes ``probe`` in each item event, and in ``response.done``, as
        ``frame`` and ``response_done`` do."""
        self.usable = True
        found: set[str] = set()
        for cls in self._tags:
            for previous in (None, "item_\x00prev"):
                if previous is not None and not _has_previous(cls):
                    continue
                event = _item_event(cls, probe, previous)
                written = encode(event)
                json = self.item_json(event, written)
                if json is None or self.frame(event, json) != written:
                    return False
                found.add(json)
        info = ResponseInfo(id="resp_\x00r", object="realtime.response", status="completed")
        done = s.ResponseDone(event_id="event_\x00e", response=attrs.evolve(info, output=()))
        full = s.ResponseDone(
            event_id="event_\x00e", response=attrs.evolve(info, output=(probe, probe))
        )
        (json,) = found
        return len(found) == 1 and self.response_done(encode(done), (json, json)) == encode(full)

    def _head(self, event: Any) -> str | None:
        """What the codec writes of ``event`` before its item (``None``: not an item
        event of this codec)."""
        tag = self._tags.get(event.__class__)
        if tag is None:
            return None
        head = f'{{"type":"{tag}","event_id":{_json_str(event.event_id)}'
        if _has_previous(event.__class__):
            return head + ',"item":'
        return (
            f'{head},"response_id":{_json_str(event.response_id)}'
            f',"output_index":{event.output_index!r},"item":'
        )

    @staticmethod
    def _tail(event: Any) -> str:
        """What the codec writes of ``event`` after its item."""
        if _has_previous(event.__class__):
            previous = event.previous_item_id
            return f',"previous_item_id":{"null" if previous is None else _json_str(previous)}}}'
        return "}"

    def item_json(self, event: Any, frame: str) -> str | None:
        """The JSON of ``event``'s item in ``frame``, the codec's frame of ``event``
        (``None``: not usable, not an item event, or not the layout)."""
        if not self.usable:
            return None
        try:
            head = self._head(event)
            if head is None:
                return None
            tail = self._tail(event)
        except orjson.JSONEncodeError:
            return None
        if not frame.startswith(head) or not frame.endswith(tail):
            return None
        return frame[len(head) : len(frame) - len(tail)]

    def frame(self, event: Any, item_json: str) -> str | None:
        """The codec's frame of ``event``, whose item the codec wrote as ``item_json``
        (``None``: not usable, or a value orjson cannot write: the caller encodes)."""
        if not self.usable:
            return None
        try:
            head = self._head(event)
            if head is None:
                return None
            return head + item_json + self._tail(event)
        except orjson.JSONEncodeError:
            return None

    def response_done(self, empty: str, item_jsons: tuple[str, ...]) -> str | None:
        """The frame of a ``response.done`` whose output are the items written as
        ``item_jsons``, from ``empty``: the codec's frame of the same event with no
        output (``None``: not usable, or ``empty`` holds no single empty output)."""
        if not self.usable:
            return None
        mark = '"output":[]'
        at = empty.find(mark)
        if at < 0 or empty.find(mark, at + 1) >= 0:
            return None
        return f'{empty[:at]}"output":[{",".join(item_jsons)}]{empty[at + len(mark) :]}'


def _has_previous(cls: type) -> bool:
    return cls is not s.ResponseOutputItemAdded and cls is not s.ResponseOutputItemDone


def _item_event(cls: type, item: Item, previous: str | None) -> Any:
    """A probe event of ``cls`` carrying ``item`` (its other fields: markers)."""
    if _has_previous(cls):
        return cls(event_id="event_\x00e", item=item, previous_item_id=previous)
    return cls(event_id="event_\x00e", response_id="resp_\x00r", output_index=3, item=item)


_ITEM_FRAMES: Final[dict[str, ItemFrames]] = {}


def item_frames(dialect: str) -> ItemFrames:
    """The ``ItemFrames`` of a dialect's codec (``codec_for``), checked once a process."""
    frames = _ITEM_FRAMES.get(dialect)
    if frames is None:
        from ..codec import codec_for  # noqa: PLC0415  # the codecs load on first use

        codec = codec_for(dialect)  # type: ignore[arg-type]  # a Dialect
        tags: dict[type, str] = {}
        for tag, cls in codec.server_tags.items():
            tags.setdefault(cls, tag)
        frames = _ITEM_FRAMES[dialect] = ItemFrames(codec.encode_unchecked, tags)
    return frames
