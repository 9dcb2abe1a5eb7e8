"""``Wire``: small builders of valid server events, shared by the state, connection and
plugin tests."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Sequence
from typing import Any

import attrs

from rtstate.events import server as s
from rtstate.events.payloads import ContentPart, Item, RateLimit, ResponseInfo, SessionConfig


class Wire:
    """Valid server events with deterministic event ids (``previous``: the item before)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def eid(self) -> str:
        return f"event_{next(self._ids)}"

    def session(self, **config: Any) -> s.SessionCreated:
        return s.SessionCreated(event_id=self.eid(), session=SessionConfig(id="sess_1", **config))

    def user_text(self, item_id: str, previous: str | None, text: str) -> s.ConversationItemCreated:
        item = Item(
            id=item_id,
            type="message",
            role="user",
            status="completed",
            content=(ContentPart(type="input_text", text=text),),
        )
        return s.ConversationItemCreated(event_id=self.eid(), item=item, previous_item_id=previous)

    def user_audio_turn(self, item_id: str, previous: str | None) -> list[s.ServerEvent]:
        item = Item(
            id=item_id,
            type="message",
            role="user",
            status="completed",
            content=(ContentPart(type="input_audio", transcript=None),),
        )
        return [
            s.InputAudioBufferSpeechStarted(
                event_id=self.eid(), audio_start_ms=100, item_id=item_id
            ),
            s.InputAudioBufferSpeechStopped(event_id=self.eid(), audio_end_ms=900, item_id=item_id),
            s.InputAudioBufferCommitted(
                event_id=self.eid(), item_id=item_id, previous_item_id=previous
            ),
            s.ConversationItemCreated(event_id=self.eid(), item=item, previous_item_id=previous),
        ]

    def user_turn(self, item_id: str, previous: str | None) -> list[s.ServerEvent]:
        """A user's audio turn under server VAD, transcribed as "hi"."""
        return [*self.user_audio_turn(item_id, previous), self.transcribed(item_id, "hi")]

    def transcribed(self, item_id: str, transcript: str) -> s.ServerEvent:
        return s.ConversationItemInputAudioTranscriptionCompleted(
            event_id=self.eid(), item_id=item_id, content_index=0, transcript=transcript
        )

    def _start(
        self, rid: str, item: Item, previous: str | None, created: bool = True
    ) -> list[s.ServerEvent]:
        events: list[s.ServerEvent] = [
            s.ResponseCreated(
                event_id=self.eid(), response=ResponseInfo(id=rid, status="in_progress")
            ),
            s.ResponseOutputItemAdded(
                event_id=self.eid(), response_id=rid, output_index=0, item=item
            ),
        ]
        if created:
            events.append(
                s.ConversationItemCreated(event_id=self.eid(), item=item, previous_item_id=previous)
            )
        return events

    def _finish(self, rid: str, final: Item) -> list[s.ServerEvent]:
        return [
            s.ResponseOutputItemDone(
                event_id=self.eid(), response_id=rid, output_index=0, item=final
            ),
            s.ResponseDone(
                event_id=self.eid(),
                response=ResponseInfo(id=rid, status="completed", output=(final,)),
            ),
        ]

    @staticmethod
    def _message(item_id: str) -> Item:
        """An assistant message, in progress, with no content yet."""
        return Item(id=item_id, type="message", role="assistant", status="in_progress", content=())

    @staticmethod
    def _part_ids(rid: str, item_id: str) -> dict[str, Any]:
        """The ids every event of the message's one content part carries."""
        return {"response_id": rid, "item_id": item_id, "output_index": 0, "content_index": 0}

    def text_response(
        self, rid: str, item_id: str, deltas: Sequence[str], previous: str | None = None
    ) -> list[s.ServerEvent]:
        text = "".join(deltas)
        item, part = self._message(item_id), self._part_ids(rid, item_id)
        final = attrs.evolve(
            item, status="completed", content=(ContentPart(type="text", text=text),)
        )
        return [
            *self._start(rid, item, previous),
            s.ResponseContentPartAdded(
                event_id=self.eid(), part=ContentPart(type="text", text=""), **part
            ),
            *(s.ResponseTextDelta(event_id=self.eid(), delta=d, **part) for d in deltas),
            s.ResponseTextDone(event_id=self.eid(), text=text, **part),
            s.ResponseContentPartDone(
                event_id=self.eid(), part=ContentPart(type="text", text=text), **part
            ),
            *self._finish(rid, final),
        ]

    def audio_response(
        self,
        rid: str,
        item_id: str,
        transcript: Sequence[str],
        audio: Sequence[bytes],
        previous: str | None = None,
    ) -> list[s.ServerEvent]:
        full = "".join(transcript)
        item, part = self._message(item_id), self._part_ids(rid, item_id)
        final = attrs.evolve(
            item, status="completed", content=(ContentPart(type="audio", transcript=full),)
        )
        deltas: list[s.ServerEvent] = []
        for d, chunk in itertools.zip_longest(transcript, audio):
            if chunk is not None:
                b64 = base64.b64encode(chunk).decode()
                deltas.append(s.ResponseAudioDelta(event_id=self.eid(), delta=b64, **part))
            if d is not None:
                deltas.append(s.ResponseAudioTranscriptDelta(event_id=self.eid(), delta=d, **part))
        return [
            *self._start(rid, item, previous),
            s.ResponseContentPartAdded(
                event_id=self.eid(), part=ContentPart(type="audio", transcript=""), **part
            ),
            *deltas,
            s.ResponseAudioDone(event_id=self.eid(), **part),
            s.ResponseAudioTranscriptDone(event_id=self.eid(), transcript=full, **part),
            s.ResponseContentPartDone(
                event_id=self.eid(), part=ContentPart(type="audio", transcript=full), **part
            ),
            *self._finish(rid, final),
        ]

    def function_call(
        self, rid: str, item_id: str, deltas: Sequence[str], previous: str | None = None
    ) -> list[s.ServerEvent]:
        args = "".join(deltas)
        item = Item(
            id=item_id,
            type="function_call",
            status="in_progress",
            name="lookup",
            call_id=f"call_{item_id}",
            arguments="",
        )
        call: dict[str, Any] = {
            "response_id": rid,
            "item_id": item_id,
            "output_index": 0,
            "call_id": item.call_id,
        }
        return [
            *self._start(rid, item, previous),
            *(
                s.ResponseFunctionCallArgumentsDelta(event_id=self.eid(), delta=d, **call)
                for d in deltas
            ),
            s.ResponseFunctionCallArgumentsDone(event_id=self.eid(), arguments=args, **call),
            *self._finish(rid, attrs.evolve(item, status="completed", arguments=args)),
        ]

    def rate_limits(self, **remaining: int) -> s.RateLimitsUpdated:
        limits = tuple(
            RateLimit(name=name, limit=1000, remaining=left, reset_seconds=1.5)
            for name, left in remaining.items()
        )
        return s.RateLimitsUpdated(event_id=self.eid(), rate_limits=limits)
