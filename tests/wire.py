"""``Wire``: small builders of valid server events, shared by the connection and plugin tests."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from rtstate.events import server as s
from rtstate.events.payloads import ContentPart, Item, RateLimit, ResponseInfo, SessionConfig


class Wire:
    """Valid server events with deterministic event ids."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def eid(self) -> str:
        return f"event_{next(self._ids)}"

    def session(self, **config: Any) -> s.SessionCreated:
        return s.SessionCreated(event_id=self.eid(), session=SessionConfig(id="sess_1", **config))

    def text_response(
        self, rid: str, item_id: str, deltas: Sequence[str], previous: str | None = None
    ) -> list[s.ServerEvent]:
        text = "".join(deltas)
        item = Item(id=item_id, type="message", role="assistant", status="in_progress", content=())
        final = Item(
            id=item_id,
            type="message",
            role="assistant",
            status="completed",
            content=(ContentPart(type="text", text=text),),
        )
        part: dict[str, Any] = {
            "response_id": rid,
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
        }
        return [
            s.ResponseCreated(
                event_id=self.eid(), response=ResponseInfo(id=rid, status="in_progress")
            ),
            s.ResponseOutputItemAdded(
                event_id=self.eid(), response_id=rid, output_index=0, item=item
            ),
            s.ConversationItemCreated(event_id=self.eid(), item=item, previous_item_id=previous),
            s.ResponseContentPartAdded(
                event_id=self.eid(), part=ContentPart(type="text", text=""), **part
            ),
            *(s.ResponseTextDelta(event_id=self.eid(), delta=d, **part) for d in deltas),
            s.ResponseTextDone(event_id=self.eid(), text=text, **part),
            s.ResponseContentPartDone(
                event_id=self.eid(), part=ContentPart(type="text", text=text), **part
            ),
            s.ResponseOutputItemDone(
                event_id=self.eid(), response_id=rid, output_index=0, item=final
            ),
            s.ResponseDone(
                event_id=self.eid(),
                response=ResponseInfo(id=rid, status="completed", output=(final,)),
            ),
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
        final = Item(
            id=item_id,
            type="function_call",
            status="completed",
            name="lookup",
            call_id=f"call_{item_id}",
            arguments=args,
        )
        call: dict[str, Any] = {
            "response_id": rid,
            "item_id": item_id,
            "output_index": 0,
            "call_id": item.call_id,
        }
        return [
            s.ResponseCreated(
                event_id=self.eid(), response=ResponseInfo(id=rid, status="in_progress")
            ),
            s.ResponseOutputItemAdded(
                event_id=self.eid(), response_id=rid, output_index=0, item=item
            ),
            s.ConversationItemCreated(event_id=self.eid(), item=item, previous_item_id=previous),
            *(
                s.ResponseFunctionCallArgumentsDelta(event_id=self.eid(), delta=d, **call)
                for d in deltas
            ),
            s.ResponseFunctionCallArgumentsDone(event_id=self.eid(), arguments=args, **call),
            s.ResponseOutputItemDone(
                event_id=self.eid(), response_id=rid, output_index=0, item=final
            ),
            s.ResponseDone(
                event_id=self.eid(),
                response=ResponseInfo(id=rid, status="completed", output=(final,)),
            ),
        ]

    def user_turn(self, item_id: str, previous: str | None) -> list[s.ServerEvent]:
        item = Item(
            id=item_id,
            type="message",
            role="user",
            status="completed",
            content=(ContentPart(type="input_audio", transcript=None),),
        )
        return [
            s.InputAudioBufferSpeechStarted(event_id=self.eid(), audio_start_ms=0, item_id=item_id),
            s.InputAudioBufferSpeechStopped(event_id=self.eid(), audio_end_ms=500, item_id=item_id),
            s.InputAudioBufferCommitted(
                event_id=self.eid(), item_id=item_id, previous_item_id=previous
            ),
            s.ConversationItemCreated(event_id=self.eid(), item=item, previous_item_id=previous),
            s.ConversationItemInputAudioTranscriptionCompleted(
                event_id=self.eid(), item_id=item_id, content_index=0, transcript="hi"
            ),
        ]

    def rate_limits(self) -> s.RateLimitsUpdated:
        return s.RateLimitsUpdated(
            event_id=self.eid(), rate_limits=(RateLimit(name="requests", limit=10, remaining=9),)
        )
