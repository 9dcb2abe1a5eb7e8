"""Hypothesis strategies for valid server streams, flow by flow or whole sessions.

Every strategy here builds event values (``rtstate.events``) the way a real server
emits them, in arrival order, with the client events they answer, in one of the two
dialects (``dialect="ga"``, the default, as every live endpoint speaks it, or
``"beta"``). A generated session encoded with its dialect's codec
(``Script.frames(dialect)``) decodes back to the same events and folds with no
diagnostic in a ``ClientConnection(Config(dialect=...))``.

The flows follow the canonical orders of the protocol; where real traffic
(tests/data/corpus) differs from its documents, they follow real traffic:
``response.output_item.added`` comes *before* the item joins the conversation, the
first item's ``previous_item_id`` is ``null``, ``rate_limits.updated`` comes between
flows and sometimes with an empty list, and input transcription may arrive late, in
the middle of a later response.

What differs by dialect (the event classes are shared; the codecs spell them):

* **beta** (2024-10-01): an item joins with ``conversation.item.created``;
  ``conversation.created`` may come; ``rate_limits.updated`` (requests and tokens)
  also at the start of a response; sessions carry ``temperature``; Oct 2024 error
  codes may be null; input transcription is ``completed`` (or ``failed``) alone.
* **GA**: an item joins with ``conversation.item.added``; a client's item, a committed
  user item, gets ``conversation.item.done`` right after it, a response's output item
  just before its ``response.output_item.done`` (with its ``previous_item_id`` or
  null, as real servers vary); no ``conversation.created``; ``rate_limits.updated``
  (tokens only) after ``response.done`` or between flows; the GA session defaults
  (``gpt-realtime``, audio output with its transcript, no temperature, ``truncation``
  ``auto``) and response objects with their conversation, modalities and audio
  output; input transcription streams ``.delta`` events, then ``completed`` with its
  ``usage``.

Not generated yet (either dialect): out-of-band responses (``conversation: "none"``),
attached (``call_id``) and transcription sessions, MCP tools and calls, images,
semantic VAD and idle timeouts, ``conversation.item.retrieve``, GA transcription
deltas before the commit (real servers stream them while the user speaks),
transcription segments, and the WebRTC-only ``output_audio_buffer.*`` events.

Shape of the results:

* a **flow strategy** (``text_responses``, ``vad_turns``, ...) gives a :class:`Flow`:
  the :class:`~rtstate.testing.script.Script` of that flow and the :class:`Context`
  after it. Without a context, a flow starts a new session (its script begins with
  ``session.created``), so its server side is a whole valid stream on its own. Given a
  context (from an earlier flow), the script holds just that flow's events and
  continues the session: same ids, same conversation.
* :func:`sessions` composes several flows into one session :class:`Script`;
  :func:`streams` gives its server events only.

Ids are made from a per-session salt drawn by hypothesis and a counter (no ``uuid``,
no ``random``), in the real shapes (``event_`` + 21 characters, ``item_`` + 21,
``resp_`` + 21, ``call_`` + 16), so equal draws give equal streams and shrinking
works. Every generated stream passes :func:`~rtstate.testing.invariants.check_stream`
(server and client side) with no violation.

A flow that needs something the session lacks does first what a client would do to
get it: ``vad_turns`` on a session without voice activity detection sends a
``session.update`` that turns it on; ``truncates`` on a conversation without assistant
audio first asks for an audio response; and so on. Each docstring says what it emits.

This module holds the public strategies; the builder they draw with is
``rtstate.testing._builder`` (with ``Context``, ``ConversationEntry`` and ``Flow``), the
flows themselves ``rtstate.testing._flows`` (with ``rate_limit_lists``).
"""

from __future__ import annotations

try:
    from hypothesis import strategies as st
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "rtstate.testing.strategies needs hypothesis, which is not installed; "
        "install the test extra: pip install 'rtstate[test]'"
    ) from _exc

from collections.abc import Callable, Mapping
from typing import Final

from ..config import Dialect
from ..events.server import RateLimitsUpdated
from ._builder import _B, Context, ConversationEntry, Flow
from ._flows import (
    _ERROR_KINDS,
    _audio_response,
    _barge_in,
    _begin,
    _chance,
    _clear,
    _client_cancel,
    _delete,
    _error,
    _expire,
    _function_call,
    _item_create_flow,
    _manual_turn,
    _rate_limits,
    _session_update,
    _text_response,
    _truncate,
    _vad_turn,
    rate_limit_lists,
)
from .compact import events_repr, repr_pretty
from .script import AnyServerEvent, Script

__all__ = [
    "FLOW_NAMES",
    "Context",
    "ConversationEntry",
    "Flow",
    "any_flows",
    "audio_responses",
    "barge_ins",
    "clears",
    "client_cancels",
    "deletes",
    "error_flows",
    "function_call_responses",
    "item_creates",
    "manual_commit_turns",
    "rate_limit_lists",
    "rate_limits_updates",
    "session_starts",
    "session_updates",
    "sessions",
    "streams",
    "text_responses",
    "truncates",
    "vad_turns",
]


def rate_limits_updates(
    event_id: str = "event_RATELIMITS0000000001", *, dialect: Dialect = "ga"
) -> st.SearchStrategy[RateLimitsUpdated]:
    """One ``rate_limits.updated`` event with the given id (its list may be empty)."""
    return rate_limit_lists(dialect).map(
        lambda rl: RateLimitsUpdated(event_id=event_id, rate_limits=rl)
    )


# --- public flow strategies ---------------------------------------------------------------


_DIALECTS: Final = ("beta", "ga")


def _dialect(context: Context | None, dialect: Dialect | None) -> Dialect:
    """The dialect to generate: the one asked for, else the context's, else GA."""
    if dialect is not None and dialect not in _DIALECTS:
        raise ValueError(f"dialect must be 'beta' or 'ga', not {dialect!r}")
    if context is None:
        return dialect or "ga"
    if dialect is not None and dialect != context.dialect:
        raise ValueError(
            f"the context's session speaks {context.dialect!r}, not {dialect!r}; "
            "a session keeps its dialect"
        )
    return context.dialect


def _flow(
    context: Context | None, body: Callable[[_B], None], dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    if context is not None and not context.started:
        raise ValueError("the context's session has not started; pass None to start one")
    chosen = _dialect(context, dialect)

    @st.composite
    def flow(draw: st.DrawFn) -> Flow:
        b = _begin(draw, context, chosen)
        body(b)
        b.settle(keep=False)
        return Flow(Script(b.events), b.freeze())

    return flow()


def session_starts(*, dialect: Dialect = "ga") -> st.SearchStrategy[Flow]:
    """The start of a session.

    ``session.created`` (the dialect's defaults: audio and text, server VAD, no
    transcription), then, drawn: in beta, ``conversation.created`` or not (real
    servers do not send it; GA never does), and a client ``session.update`` sent
    before ``session.created`` arrived (as the JS client does), answered by
    ``session.updated`` after it.
    """
    return _flow(None, lambda b: None, dialect)


def session_updates(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """A client ``session.update`` of a few drawn fields, then ``session.updated``.

    The ``session.updated`` carries the full effective config. Voice changes only
    before the first audio output.
    """
    return _flow(context, _session_update, dialect)


def item_creates(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """A client ``conversation.item.create`` and its ``conversation.item.created``.

    The item is a user or system ``input_text`` message, an assistant ``text``
    message (history) or, when a function call is unanswered, its
    ``function_call_output``. Its id is client-chosen or server-made; it is appended,
    or sometimes inserted after a drawn existing item (``previous_item_id``).
    """
    return _flow(context, _item_create_flow, dialect)


def text_responses(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """A text response, maybe after a user text item.

    Client ``response.create`` (with ``modalities: ["text"]`` if the session speaks),
    then ``response.created``, [``rate_limits.updated``], ``output_item.added``,
    ``conversation.item.created``, ``content_part.added``, ``text.delta`` +,
    ``text.done``, ``content_part.done``, ``output_item.done``, ``response.done``,
    [``rate_limits.updated``]. Mostly completed; sometimes ``incomplete``
    (max_output_tokens / content_filter: cut at a drawn point, open part and item
    closed, item ``incomplete``) or ``failed`` (no output, zero usage).
    """
    return _flow(context, _text_response, dialect)


def audio_responses(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """An audio response, maybe after a user text item.

    As ``text_responses`` but with one ``audio`` part: transcript deltas and 1 to 3
    ``audio.delta`` chunks of 20-100 ms of pcm16 (even byte lengths), interleaved in
    a drawn order, then ``audio.done`` and ``audio_transcript.done`` in a drawn order
    (the protocol fixes no order), ``content_part.done`` with the transcript.
    """
    return _flow(context, _audio_response, dialect)


def function_call_responses(
    context: Context | None = None,
    *,
    follow_up: bool | None = None,
    dialect: Dialect | None = None,
) -> st.SearchStrategy[Flow]:
    """A function call response, maybe preceded by an assistant message item.

    Sends a ``session.update`` with tools first if the session has none. The call
    item has ``call_id``, the tool's ``name``, and ``arguments`` (valid JSON) that its
    ``function_call_arguments.delta`` events concatenate to; ``.done`` may carry the
    ``name``. With ``follow_up`` (drawn when ``None``) the client then sends the
    ``function_call_output`` item and a ``response.create``, and the model answers.
    """
    return _flow(context, lambda b: _function_call(b, follow_up), dialect)


def vad_turns(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """A server VAD turn, turning VAD on first if it is off.

    Client ``input_audio_buffer.append`` events; ``speech_started(X)``,
    ``speech_stopped(X)`` (``audio_*_ms`` on the appended-audio clock),
    ``committed(X, previous)``, ``conversation.item.created(X)`` (user, one
    ``input_audio`` part, transcript null); then, unless ``create_response`` is false,
    a response (sometimes a function call when tools are set). With transcription on,
    ``input_audio_transcription.completed`` (or ``.failed``) arrives right after the
    item or later: in the middle of the response or after it (in ``sessions``, even
    during a later flow).
    """
    return _flow(context, _vad_turn, dialect)


def manual_commit_turns(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """A manual turn (VAD off; turned off first if on): append >= 100 ms, commit.

    ``input_audio_buffer.committed(X)``, ``conversation.item.created(X)``, the
    transcription if on (now or later), and maybe a client ``response.create`` and
    its response.
    """
    return _flow(context, _manual_turn, dialect)


def barge_ins(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """A barge-in: the user speaks while an audio response streams.

    Client ``response.create``; the response streams up to a drawn point;
    ``speech_started(Y)``; the remaining ``*.done`` events of what was open (the
    item ``incomplete``); ``response.done`` (``cancelled``, reason ``turn_detected``).
    Then maybe a client ``conversation.item.truncate`` of what was played (or a
    delete if no audio had arrived) and its acknowledgement, and the rest of the VAD
    turn for ``Y``.
    """
    return _flow(context, _barge_in, dialect)


def client_cancels(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """A client cancel.

    Usually the response streams up to a drawn point, the client sends
    ``response.cancel``, the open parts and item are closed and ``response.done`` is
    ``cancelled`` / ``client_cancelled``. Sometimes the race: the response completes
    first and the cancel gets an ``error`` ("no active response", code null as in Oct
    2024 or ``response_cancel_not_active``) naming the cancel's ``event_id``.
    """
    return _flow(context, _client_cancel, dialect)


def truncates(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """``conversation.item.truncate`` of assistant audio and ``conversation.item.truncated``.

    ``audio_end_ms`` is below the audio the item holds. Without an assistant audio
    item, an audio response is asked for first.
    """
    return _flow(context, _truncate, dialect)


def deletes(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """``conversation.item.delete`` of an existing item and ``conversation.item.deleted``.

    Creates an item first when the conversation is empty.
    """
    return _flow(context, _delete, dialect)


def clears(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """Maybe some appended audio, then ``input_audio_buffer.clear`` and ``.cleared``."""
    return _flow(context, _clear, dialect)


def error_flows(
    context: Context | None = None, *, kind: str | None = None, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """A client event the server rejects with ``error`` (or a server-side error).

    ``kind`` (drawn when ``None``) is one of: ``invalid_session_update`` (a tool
    description over 1024 characters; no ``session.updated``), ``active_response``
    (a ``response.create`` while a response streams; that response goes on),
    ``commit_empty``, ``cancel_inactive``, ``delete_unknown``, ``truncate_unknown``,
    ``unknown_previous_item``, ``unknown_event_type``, ``server_error`` (no client
    event). ``error.event_id`` names the client event when it has an id; ``code`` is
    sometimes null in a beta session, as in Oct 2024.
    """
    if kind is not None and kind not in _ERROR_KINDS:
        raise ValueError(f"unknown error kind {kind!r}; known: {', '.join(_ERROR_KINDS)}")
    return _flow(context, lambda b: _error(b, kind), dialect)


_FLOW_BODIES: Final[Mapping[str, Callable[[_B], None]]] = {
    "session_update": _session_update,
    "item_create": _item_create_flow,
    "text_response": _text_response,
    "audio_response": _audio_response,
    "function_call": _function_call,
    "vad_turn": _vad_turn,
    "manual_commit_turn": _manual_turn,
    "barge_in": _barge_in,
    "client_cancel": _client_cancel,
    "truncate": _truncate,
    "delete": _delete,
    "clear": _clear,
    "error": _error,
    "rate_limits": _rate_limits,
}

FLOW_NAMES: Final[tuple[str, ...]] = tuple(_FLOW_BODIES)
"""The names ``any_flows`` and ``sessions`` draw flows from."""


def _available(b: _B) -> list[str]:
    names = [
        "session_update",
        "item_create",
        "text_response",
        "audio_response",
        "function_call",
        "client_cancel",
        "clear",
        "error",
        "rate_limits",
    ]
    names += ["vad_turn", "vad_turn", "barge_in"] if b.vad is not None else ["manual_commit_turn"]
    if b.truncatable():
        names.append("truncate")
    if b.conversation:
        names.append("delete")
    return names


def any_flows(
    context: Context | None = None, *, dialect: Dialect | None = None
) -> st.SearchStrategy[Flow]:
    """One flow drawn among those that suit the context (see ``FLOW_NAMES``)."""

    def body(b: _B) -> None:
        _FLOW_BODIES[b.draw(st.sampled_from(_available(b)))](b)

    return _flow(context, body, dialect)


def sessions(
    *,
    min_flows: int = 1,
    max_flows: int = 6,
    context: Context | None = None,
    expiry: bool = True,
    dialect: Dialect | None = None,
) -> st.SearchStrategy[Script]:
    """A whole session: its start and ``min_flows``..``max_flows`` drawn flows.

    ``dialect``: ``"ga"`` (the default for a new session) or ``"beta"``; a
    ``context`` keeps its own (asking for another raises ``ValueError``).
    Ids are unique and consistent across flows; ``previous_item_id`` chains the
    conversation; late transcriptions may arrive during later flows (all arrive by
    the end). With ``expiry``, the session sometimes ends with the ``session_expired``
    error. Gives the :class:`Script` of both directions.
    """
    if not 0 <= min_flows <= max_flows:
        raise ValueError("need 0 <= min_flows <= max_flows")
    chosen = _dialect(context, dialect)

    @st.composite
    def session(draw: st.DrawFn) -> Script:
        b = _begin(draw, context, chosen)
        for _ in range(draw(st.integers(min_flows, max_flows))):
            _FLOW_BODIES[draw(st.sampled_from(_available(b)))](b)
            b.settle(keep=True)
        b.settle(keep=False)
        if expiry and _chance(draw, 8):
            _expire(b)
        return Script(b.events)

    return session()


def streams(
    *,
    min_flows: int = 1,
    max_flows: int = 6,
    context: Context | None = None,
    dialect: Dialect | None = None,
) -> st.SearchStrategy[list[AnyServerEvent]]:
    """The server side of :func:`sessions`: a valid server stream, in arrival order
    (a ``list`` whose repr is one line per event)."""
    return sessions(min_flows=min_flows, max_flows=max_flows, context=context, dialect=dialect).map(
        lambda s: _Stream(s.server_events)
    )


class _Stream(list[AnyServerEvent]):
    """A list of server events whose repr is one line per event (``compact``)."""

    def __repr__(self) -> str:
        return events_repr("Stream", [("server", e) for e in self])

    _repr_pretty_ = repr_pretty
