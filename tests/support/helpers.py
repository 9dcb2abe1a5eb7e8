"""Builders of valid beta (``2024-10-01``) server sequences, as event values.

One ``Server`` builds the events a real server would send in one session, with
deterministic ids from counters (``event_1``, ``item_1``, ``resp_1``, ``call_1``) and the
``previous_item_id`` of every ``conversation.item.created`` taken from the conversation
it has built so far (override it with ``previous_item_id=``)::

    srv = Server()
    events = [
        srv.session_created(),
        srv.user_message("Hi"),
        *srv.text_response(["Hel", "lo"]),
    ]
    state, steps = fold_all(events)

Single events come back as one value; flows (a whole response, a VAD turn) as a
list, in the canonical order a real server writes them. Reorder or
``attrs.evolve`` the list to build disorders and violations. A response is either one
call (``text_response``, ``audio_response``, ``function_call_response``) or built from
pieces: ``response_created()``, then ``text_item`` / ``audio_item`` /
``function_call_item`` (each with ``finish=False`` to leave the item open), then
``response_done()``.

Audio is pcm16 (24 kHz mono, 48 bytes per ms): ``pcm16(ms)`` makes deterministic
bytes and ``b64`` encodes them as deltas carry them.

``fold_all`` folds a list of inputs with ``rtstate.fold`` and returns the final state
and every Step; ``diagnostics`` / ``transitions`` flatten those.

For the client side: ``user_text`` (a user's text message, as sent) and ``WEATHER``
(a function tool).
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar, overload

import attrs

from rtstate import Config, Diagnostic, SessionState, Step, fold
from rtstate.events import client as c
from rtstate.events import server as s
from rtstate.events.payloads import (
    ContentPart,
    Conversation,
    ErrorInfo,
    FinalStatus,
    InputAudioTranscription,
    InputTokenDetails,
    Item,
    OutputTokenDetails,
    RateLimit,
    ResponseInfo,
    SessionConfig,
    StatusDetails,
    StatusReason,
    Tool,
    TurnDetection,
    Usage,
)
from rtstate.step import Input
from rtstate.transitions import Transition

__all__ = [
    "DEFAULT",
    "WEATHER",
    "Server",
    "append",
    "b64",
    "diagnostics",
    "fold_all",
    "pcm16",
    "transitions",
    "usage",
    "user_text",
]

T = TypeVar("T", bound=Transition)


class _Default:
    """Marker: "use the builder's default" (``None`` is a meaningful value)."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()
"""Pass nothing (or this) to take the builder's default for an argument."""

PCM16_BYTES_PER_MS = 48

WEATHER = Tool(
    name="get_weather",
    description="The weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
"""A function tool with one required argument, ``city``."""


def user_text(text: str) -> c.ConversationItemCreate:
    """``conversation.item.create`` of a user message with one ``input_text`` part."""
    part = ContentPart(type="input_text", text=text)
    return c.ConversationItemCreate(item=Item(type="message", role="user", content=(part,)))


def pcm16(ms: float, seed: int = 0) -> bytes:
    """``ms`` milliseconds of deterministic pcm16 audio (48 bytes per ms, even length)."""
    n = round(ms * PCM16_BYTES_PER_MS)
    n -= n % 2
    pattern = bytes((seed + i) % 251 for i in range(251 * 2))
    return (pattern * (n // len(pattern) + 1))[:n]


def b64(data: bytes) -> str:
    """``data`` in base64, as audio deltas and ``input_audio_buffer.append`` carry it."""
    return base64.b64encode(data).decode("ascii")


def usage(input_tokens: int = 10, output_tokens: int = 5) -> Usage:
    """A plausible ``usage`` object."""
    return Usage(
        total_tokens=input_tokens + output_tokens,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        input_token_details=InputTokenDetails(
            cached_tokens=0, text_tokens=input_tokens, audio_tokens=0
        ),
        output_token_details=OutputTokenDetails(text_tokens=output_tokens, audio_tokens=0),
    )


class Server:
    """Builds the server side of one session with deterministic ids.

    It keeps what a server keeps to make its next events valid: the conversation
    order (for ``previous_item_id``), the active response and the final snapshots of
    its output items (for ``response.done``).
    """

    def __init__(self) -> None:
        self._events = itertools.count(1)
        self._items = itertools.count(1)
        self._responses = itertools.count(1)
        self._calls = itertools.count(1)
        self.head: str | None = None
        """The first item of the conversation as built so far."""
        self.tail: str | None = None
        """The last item of the conversation as built so far."""
        self._prev: dict[str, str | None] = {}
        self._next: dict[str, str | None] = {}
        self.response_id: str | None = None
        """The active response, between ``response_created`` and ``response_done``."""
        self._output: list[Item] = []

    # --- ids ---------------------------------------------------------------------------

    def event_id(self) -> str:
        """The next server ``event_id``: ``event_1``, ``event_2``, ..."""
        return f"event_{next(self._events)}"

    def new_item_id(self) -> str:
        """The next item id: ``item_1``, ``item_2``, ..."""
        return f"item_{next(self._items)}"

    def new_response_id(self) -> str:
        """The next response id: ``resp_1``, ..."""
        return f"resp_{next(self._responses)}"

    def new_call_id(self) -> str:
        """The next function call id: ``call_1``, ..."""
        return f"call_{next(self._calls)}"

    # --- session -----------------------------------------------------------------------

    def session_config(self, **overrides: Any) -> SessionConfig:
        """The default session at connect (Oct 2024), with ``overrides``."""
        fields: dict[str, Any] = {
            "id": "sess_1",
            "object": "realtime.session",
            "model": "gpt-4o-realtime-preview-2024-10-01",
            "modalities": ("text", "audio"),
            "instructions": "You are a helpful assistant.",
            "voice": "alloy",
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": None,
            "turn_detection": TurnDetection(
                type="server_vad", threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200
            ),
            "tools": (),
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
        }
        fields.update(overrides)
        return SessionConfig(**fields)

    def session_created(self, **overrides: Any) -> s.SessionCreated:
        """``session.created`` with the default session (``overrides`` change fields)."""
        return s.SessionCreated(event_id=self.event_id(), session=self.session_config(**overrides))

    def session_updated(self, **overrides: Any) -> s.SessionUpdated:
        """``session.updated`` with the default session changed by ``overrides``."""
        return s.SessionUpdated(event_id=self.event_id(), session=self.session_config(**overrides))

    def session_with_transcription(self) -> s.SessionUpdated:
        """``session.updated`` turning on whisper-1 input transcription."""
        return self.session_updated(
            input_audio_transcription=InputAudioTranscription(model="whisper-1")
        )

    def conversation_created(self, conversation_id: str = "conv_1") -> s.ConversationCreated:
        """``conversation.created`` (documented, never seen in real traffic)."""
        return s.ConversationCreated(
            event_id=self.event_id(),
            conversation=Conversation(id=conversation_id, object="realtime.conversation"),
        )

    # --- conversation items ------------------------------------------------------------

    def _place(self, item_id: str, previous: str | None) -> None:
        after = self._next.get(previous) if previous is not None else self.head
        self._prev[item_id] = previous
        self._next[item_id] = after
        if previous is not None:
            self._next[previous] = item_id
        else:
            self.head = item_id
        if after is not None:
            self._prev[after] = item_id
        if after is None:
            self.tail = item_id

    def item_created(
        self, item: Item, previous_item_id: str | None = DEFAULT
    ) -> s.ConversationItemCreated:
        """``conversation.item.created`` for ``item``, placed after ``previous_item_id``.

        By default the item goes at the end (``previous_item_id`` = the current tail,
        ``None`` for the first item).
        """
        assert item.id is not None
        previous = self.tail if previous_item_id is DEFAULT else previous_item_id
        self._place(item.id, previous)
        return s.ConversationItemCreated(
            event_id=self.event_id(), item=item, previous_item_id=previous
        )

    def user_message(
        self, text: str, *, item_id: str | None = None, previous_item_id: str | None = DEFAULT
    ) -> s.ConversationItemCreated:
        """The server's echo of a client-created user text message."""
        item = Item(
            id=item_id or self.new_item_id(),
            object="realtime.item",
            type="message",
            status="completed",
            role="user",
            content=(ContentPart(type="input_text", text=text),),
        )
        return self.item_created(item, previous_item_id)

    def system_message(self, text: str, *, item_id: str | None = None) -> s.ConversationItemCreated:
        """The server's echo of a client-created system message."""
        item = Item(
            id=item_id or self.new_item_id(),
            object="realtime.item",
            type="message",
            status="completed",
            role="system",
            content=(ContentPart(type="input_text", text=text),),
        )
        return self.item_created(item)

    def function_call_output(
        self, call_id: str, output: str, *, item_id: str | None = None
    ) -> s.ConversationItemCreated:
        """The server's echo of a client-created ``function_call_output`` item.

        Like real servers (OpenAI and Azure), it carries no ``status``.
        """
        item = Item(
            id=item_id or self.new_item_id(),
            object="realtime.item",
            type="function_call_output",
            call_id=call_id,
            output=output,
        )
        return self.item_created(item)

    def deleted(self, item_id: str) -> s.ConversationItemDeleted:
        """``conversation.item.deleted`` (the ack of a client delete)."""
        before, after = self._prev.pop(item_id, None), self._next.pop(item_id, None)
        if before is not None:
            self._next[before] = after
        if after is not None:
            self._prev[after] = before
        if self.tail == item_id:
            self.tail = before
        if self.head == item_id:
            self.head = after
        return s.ConversationItemDeleted(event_id=self.event_id(), item_id=item_id)

    def truncated(
        self, item_id: str, audio_end_ms: int, content_index: int = 0
    ) -> s.ConversationItemTruncated:
        """``conversation.item.truncated`` (the ack of a client truncate)."""
        return s.ConversationItemTruncated(
            event_id=self.event_id(),
            item_id=item_id,
            content_index=content_index,
            audio_end_ms=audio_end_ms,
        )

    # --- input audio buffer ------------------------------------------------------------

    def speech_started(self, item_id: str, audio_start_ms: int) -> s.InputAudioBufferSpeechStarted:
        """``input_audio_buffer.speech_started`` for the user item ``item_id`` to come."""
        return s.InputAudioBufferSpeechStarted(
            event_id=self.event_id(), item_id=item_id, audio_start_ms=audio_start_ms
        )

    def speech_stopped(self, item_id: str, audio_end_ms: int) -> s.InputAudioBufferSpeechStopped:
        """``input_audio_buffer.speech_stopped``."""
        return s.InputAudioBufferSpeechStopped(
            event_id=self.event_id(), item_id=item_id, audio_end_ms=audio_end_ms
        )

    def committed(
        self, item_id: str, previous_item_id: str | None = DEFAULT
    ) -> s.InputAudioBufferCommitted:
        """``input_audio_buffer.committed``; the item will go after ``previous_item_id``
        (by default at the end)."""
        previous = self.tail if previous_item_id is DEFAULT else previous_item_id
        return s.InputAudioBufferCommitted(
            event_id=self.event_id(), item_id=item_id, previous_item_id=previous
        )

    def input_audio_item(
        self, item_id: str, previous_item_id: str | None = DEFAULT
    ) -> s.ConversationItemCreated:
        """``conversation.item.created`` of a committed user audio item (transcript null)."""
        item = Item(
            id=item_id,
            object="realtime.item",
            type="message",
            status="completed",
            role="user",
            content=(ContentPart(type="input_audio", transcript=None),),
        )
        return self.item_created(item, previous_item_id)

    def cleared(self) -> s.InputAudioBufferCleared:
        """``input_audio_buffer.cleared`` (the ack of a client clear)."""
        return s.InputAudioBufferCleared(event_id=self.event_id())

    def transcription_completed(
        self, item_id: str, transcript: str, content_index: int = 0
    ) -> s.ConversationItemInputAudioTranscriptionCompleted:
        """``conversation.item.input_audio_transcription.completed``."""
        return s.ConversationItemInputAudioTranscriptionCompleted(
            event_id=self.event_id(),
            item_id=item_id,
            content_index=content_index,
            transcript=transcript,
        )

    def transcription_failed(
        self, item_id: str, message: str = "Audio unintelligible", content_index: int = 0
    ) -> s.ConversationItemInputAudioTranscriptionFailed:
        """``conversation.item.input_audio_transcription.failed``."""
        return s.ConversationItemInputAudioTranscriptionFailed(
            event_id=self.event_id(),
            item_id=item_id,
            content_index=content_index,
            error=ErrorInfo(
                type="transcription_error", code="audio_unintelligible", message=message
            ),
        )

    def vad_turn(
        self,
        start_ms: int = 1000,
        end_ms: int = 3000,
        *,
        item_id: str | None = None,
        transcript: str | None = None,
        previous_item_id: str | None = DEFAULT,
    ) -> list[s.ServerEvent]:
        """A server-VAD turn: started, stopped, committed, item created.

        The item goes after ``previous_item_id`` (by default at the end).

        With ``transcript``, the transcription result follows the item (move it to
        test other placements). No response: add one with ``text_response`` etc.
        """
        item_id = item_id or self.new_item_id()
        events: list[s.ServerEvent] = [
            self.speech_started(item_id, start_ms),
            self.speech_stopped(item_id, end_ms),
            self.committed(item_id, previous_item_id),
            self.input_audio_item(item_id, previous_item_id),
        ]
        if transcript is not None:
            events.append(self.transcription_completed(item_id, transcript))
        return events

    # --- responses ---------------------------------------------------------------------

    def response_created(self, response_id: str | None = None) -> s.ResponseCreated:
        """``response.created``: status in_progress, no output, no usage."""
        assert self.response_id is None, "a response is already active in this builder"
        rid = response_id or self.new_response_id()
        self.response_id = rid
        self._output = []
        info = ResponseInfo(
            id=rid, object="realtime.response", status="in_progress", output=(), usage=None
        )
        return s.ResponseCreated(event_id=self.event_id(), response=info)

    def response_done(
        self,
        status: FinalStatus = "completed",
        *,
        reason: StatusReason | None = None,
        error: ErrorInfo | None = None,
        usage_: Usage | None = DEFAULT,
    ) -> s.ResponseDone:
        """``response.done`` with every output item so far (open ones as incomplete)."""
        rid = self.response_id
        assert rid is not None, "no active response in this builder"
        self.response_id = None
        details = None
        if status != "completed":
            details = StatusDetails(type=status, reason=reason, error=error)
        output = tuple(
            _evolve_item(i, status="incomplete") if i.status == "in_progress" else i
            for i in self._output
        )
        info = ResponseInfo(
            id=rid,
            object="realtime.response",
            status=status,
            status_details=details,
            output=output,
            usage=usage() if usage_ is DEFAULT else usage_,
        )
        return s.ResponseDone(event_id=self.event_id(), response=info)

    def _start_item(
        self, item: Item, *, created: str, previous_item_id: str | None
    ) -> tuple[int, list[s.ServerEvent]]:
        rid = self.response_id
        assert rid is not None, "call response_created() first"
        index = len(self._output)
        self._output.append(item)
        added = s.ResponseOutputItemAdded(
            event_id=self.event_id(), response_id=rid, output_index=index, item=item
        )
        if created == "omit":
            return index, [added]
        made = self.item_created(item, previous_item_id)
        if created == "before_added":
            return index, [made, added]
        assert created == "after_added", created
        return index, [added, made]

    def _finish_item(self, index: int, item: Item) -> s.ResponseOutputItemDone:
        self._output[index] = item
        rid = self.response_id
        assert rid is not None
        return s.ResponseOutputItemDone(
            event_id=self.event_id(), response_id=rid, output_index=index, item=item
        )

    def _part(self, cls: type[Any], item_id: str, index: int, content_index: int, **kw: Any) -> Any:
        return cls(
            event_id=self.event_id(),
            response_id=self.response_id,
            item_id=item_id,
            output_index=index,
            content_index=content_index,
            **kw,
        )

    def text_item(
        self,
        chunks: Sequence[str],
        *,
        item_id: str | None = None,
        finish: bool = True,
        created: str = "after_added",
        previous_item_id: str | None = DEFAULT,
    ) -> list[s.ServerEvent]:
        """One assistant message with one ``text`` part streamed as ``chunks``.

        ``created`` places ``conversation.item.created``: ``"after_added"`` (the real
        order), ``"before_added"`` or ``"omit"``. ``finish=False`` stops after the
        deltas (no done events).
        """
        item_id = item_id or self.new_item_id()
        item = Item(
            id=item_id,
            object="realtime.item",
            type="message",
            status="in_progress",
            role="assistant",
            content=(),
        )
        index, events = self._start_item(item, created=created, previous_item_id=previous_item_id)
        events.append(
            self._part(s.ResponseContentPartAdded, item_id, index, 0, part=_text_part(""))
        )
        events.extend(self._part(s.ResponseTextDelta, item_id, index, 0, delta=d) for d in chunks)
        if not finish:
            return events
        text = "".join(chunks)
        events.append(self._part(s.ResponseTextDone, item_id, index, 0, text=text))
        events.append(
            self._part(s.ResponseContentPartDone, item_id, index, 0, part=_text_part(text))
        )
        final = _evolve_item(item, status="completed", content=(_text_part(text),))
        events.append(self._finish_item(index, final))
        return events

    def audio_item(
        self,
        transcript: Sequence[str],
        audio: Sequence[bytes],
        *,
        item_id: str | None = None,
        finish: bool = True,
        created: str = "after_added",
        previous_item_id: str | None = DEFAULT,
    ) -> list[s.ServerEvent]:
        """One assistant message with one ``audio`` part.

        Transcript and audio deltas interleave (one of each while both last). The
        audio done comes before the transcript done.
        """
        item_id = item_id or self.new_item_id()
        item = Item(
            id=item_id,
            object="realtime.item",
            type="message",
            status="in_progress",
            role="assistant",
            content=(),
        )
        index, events = self._start_item(item, created=created, previous_item_id=previous_item_id)
        events.append(
            self._part(s.ResponseContentPartAdded, item_id, index, 0, part=_audio_part(""))
        )
        for t, a in itertools.zip_longest(transcript, audio):
            if t is not None:
                events.append(
                    self._part(s.ResponseAudioTranscriptDelta, item_id, index, 0, delta=t)
                )
            if a is not None:
                events.append(self._part(s.ResponseAudioDelta, item_id, index, 0, delta=b64(a)))
        if not finish:
            return events
        full = "".join(transcript)
        events.append(self._part(s.ResponseAudioDone, item_id, index, 0))
        events.append(self._part(s.ResponseAudioTranscriptDone, item_id, index, 0, transcript=full))
        events.append(
            self._part(s.ResponseContentPartDone, item_id, index, 0, part=_audio_part(full))
        )
        final = _evolve_item(item, status="completed", content=(_audio_part(full),))
        events.append(self._finish_item(index, final))
        return events

    def function_call_item(
        self,
        name: str,
        arguments: Sequence[str],
        *,
        call_id: str | None = None,
        item_id: str | None = None,
        finish: bool = True,
        previous_item_id: str | None = DEFAULT,
    ) -> list[s.ServerEvent]:
        """One ``function_call`` item with its arguments streamed as ``arguments``."""
        item_id = item_id or self.new_item_id()
        call_id = call_id or self.new_call_id()
        item = Item(
            id=item_id,
            object="realtime.item",
            type="function_call",
            status="in_progress",
            name=name,
            call_id=call_id,
            arguments="",
        )
        index, events = self._start_item(
            item, created="after_added", previous_item_id=previous_item_id
        )
        rid = self.response_id
        assert rid is not None
        events.extend(
            s.ResponseFunctionCallArgumentsDelta(
                event_id=self.event_id(),
                response_id=rid,
                item_id=item_id,
                output_index=index,
                call_id=call_id,
                delta=d,
            )
            for d in arguments
        )
        if not finish:
            return events
        full = "".join(arguments)
        events.append(
            s.ResponseFunctionCallArgumentsDone(
                event_id=self.event_id(),
                response_id=rid,
                item_id=item_id,
                output_index=index,
                call_id=call_id,
                arguments=full,
                name=name,
            )
        )
        events.append(
            self._finish_item(index, _evolve_item(item, status="completed", arguments=full))
        )
        return events

    def text_response(
        self, chunks: Sequence[str], *, response_id: str | None = None, **item: Any
    ) -> list[s.ServerEvent]:
        """A whole text response: created, one text item, done."""
        return [
            self.response_created(response_id),
            *self.text_item(chunks, **item),
            self.response_done(),
        ]

    def audio_response(
        self,
        transcript: Sequence[str],
        audio: Sequence[bytes],
        *,
        response_id: str | None = None,
        **item: Any,
    ) -> list[s.ServerEvent]:
        """A whole audio response: created, one audio item, done."""
        return [
            self.response_created(response_id),
            *self.audio_item(transcript, audio, **item),
            self.response_done(),
        ]

    def function_call_response(
        self, name: str, arguments: Sequence[str], *, response_id: str | None = None, **item: Any
    ) -> list[s.ServerEvent]:
        """A whole function-call response: created, one function_call item, done."""
        return [
            self.response_created(response_id),
            *self.function_call_item(name, arguments, **item),
            self.response_done(),
        ]

    # --- anywhere ----------------------------------------------------------------------

    def rate_limits(self, *limits: tuple[str, int, int, float]) -> s.RateLimitsUpdated:
        """``rate_limits.updated``; ``(name, limit, remaining, reset_seconds)`` each.

        With no argument: ``requests`` and ``tokens`` with plausible values. For an
        empty list, use ``empty_rate_limits()``.
        """
        if not limits:
            limits = (("requests", 5000, 4999, 0.012), ("tokens", 20000, 19000, 3.0))
        return s.RateLimitsUpdated(
            event_id=self.event_id(),
            rate_limits=tuple(
                RateLimit(name=n, limit=lim, remaining=rem, reset_seconds=reset)
                for n, lim, rem, reset in limits
            ),
        )

    def empty_rate_limits(self) -> s.RateLimitsUpdated:
        """``rate_limits.updated`` with an empty list (seen in real traffic)."""
        return s.RateLimitsUpdated(event_id=self.event_id(), rate_limits=())

    def error(
        self,
        message: str = "Conversation already has an active response",
        *,
        code: str | None = None,
        type: str = "invalid_request_error",
        param: str | None = None,
        event_id: str | None = None,
    ) -> s.Error:
        """An ``error`` event; ``event_id`` names the client event that caused it."""
        return s.Error(
            event_id=self.event_id(),
            error=ErrorInfo(type=type, code=code, message=message, param=param, event_id=event_id),
        )

    def unknown(
        self, type: str = "output_audio_buffer.started", **fields: Any
    ) -> s.UnknownServerEvent:
        """A server event this codec does not know (as the codec decodes one)."""
        return s.UnknownServerEvent(
            type=type, raw={"type": type, "event_id": self.event_id(), **fields}
        )


def _text_part(text: str) -> ContentPart:
    return ContentPart(type="text", text=text)


def _audio_part(transcript: str) -> ContentPart:
    return ContentPart(type="audio", transcript=transcript)


def _evolve_item(item: Item, **changes: Any) -> Item:
    return attrs.evolve(item, **changes)


def append(ms: float, seed: int = 0) -> c.InputAudioBufferAppend:
    """A client ``input_audio_buffer.append`` of ``ms`` of pcm16 (fold it as sent)."""
    return c.InputAudioBufferAppend(audio=b64(pcm16(ms, seed)))


def fold_all(
    inputs: Iterable[Input],
    state: SessionState | None = None,
    config: Config | None = None,
) -> tuple[SessionState, list[Step]]:
    """Fold ``inputs`` in order from ``state`` (default: fresh): the last state, every Step."""
    current = state if state is not None else SessionState()
    steps: list[Step] = []
    for event in inputs:
        step = fold(current, event, config) if config is not None else fold(current, event)
        steps.append(step)
        current = step.after
    return current, steps


def diagnostics(steps: Iterable[Step]) -> list[Diagnostic]:
    """Every diagnostic of ``steps``, in order."""
    return [d for step in steps for d in step.diagnostics]


@overload
def transitions(steps: Iterable[Step]) -> list[Transition]: ...
@overload
def transitions(steps: Iterable[Step], kind: type[T]) -> list[T]: ...
def transitions(steps: Iterable[Step], kind: type[Any] | None = None) -> list[Any]:
    """Every transition of ``steps`` in order (only those of class ``kind`` if given)."""
    out = [t for step in steps for t in step.transitions]
    if kind is None:
        return out
    return [t for t in out if isinstance(t, kind)]
