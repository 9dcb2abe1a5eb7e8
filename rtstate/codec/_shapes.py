"""The null tables: which empty fields a server event writes as ``null``, per dialect.

The real service writes some fields of its events as an explicit ``null`` rather than
leaving them out (``"transcript": null`` on an ``input_audio`` part, ``previous_item_id:
null`` before the first item, ``usage: null`` on ``response.created``, ...), and clients
that validate frames with a schema (pydantic, zod) rely on the keys being there. These
tables are the one place that says so: the codec's server-direction converter
(``Converters.server``) leaves a ``None`` field out unless its class's entry names it,
and then writes ``null``. Each entry maps a class to ``{type value: fields}``, ``"*"``
standing for any ``type`` (for a class with no ``type``, only ``"*"`` applies).

Only server events are encoded this way: what a client sends (``session.update``,
``conversation.item.create``, ...) keeps leaving ``None`` fields out, as real clients do.

Source: the real captures in ``tests/data/corpus`` (``tests/server/test_server_shapes.py``
checks the fake server's frames carry every key path they carry). A field the captures
write as a value (``conversation_id``, ``truncation: "auto"``) is the server's to fill;
these tables only cover nulls.
"""

from __future__ import annotations

from typing import Final

from ..events import server as s
from ..events.payloads import (
    ContentPart,
    ErrorInfo,
    InputAudioTranscription,
    ResponseInfo,
    SessionConfig,
    TurnDetection,
)
from ._converter import NullTable

__all__ = ["BETA_NULLS", "GA_NULLS"]

_COMMON: Final[NullTable] = {
    # {"type": "input_audio", "transcript": null} until the transcription completes
    ContentPart: {"input_audio": ("transcript",)},
    # the first item follows nothing: previous_item_id is null, not absent
    s.ConversationItemAdded: {"*": ("previous_item_id",)},
    s.ConversationItemCreated: {"*": ("previous_item_id",)},
    s.InputAudioBufferCommitted: {"*": ("previous_item_id",)},
    s.ConversationItemDone: {"*": ("previous_item_id",)},
    # response.created: no details, no usage yet; metadata null unless the client gave some;
    # conversation_id null for an out-of-band response (conversation "none", as the
    # openai-python RealtimeResponse documents it)
    ResponseInfo: {"*": ("status_details", "usage", "metadata", "conversation_id")},
    # conversation.item.input_audio_transcription.failed (Azure GA capture)
    ErrorInfo: {"*": ("param",)},
    InputAudioTranscription: {"*": ("language", "prompt")},
}

GA_NULLS: Final[NullTable] = {
    **_COMMON,
    SessionConfig: {
        "*": (
            "input_audio_transcription",
            "input_audio_noise_reduction",
            "include",
            "tracing",
            "prompt",
        )
    },
    TurnDetection: {"server_vad": ("idle_timeout_ms",)},
}
"""GA: every real ``session.created`` / ``.updated`` (OpenAI, Azure, the gateway) writes
``audio.input.transcription``, ``audio.input.noise_reduction``, ``include``, ``tracing``
and ``prompt`` as null when they are off."""

BETA_NULLS: Final[NullTable] = {
    **_COMMON,
    SessionConfig: {"*": ("input_audio_transcription", "input_audio_noise_reduction")},
    ResponseInfo: {"*": (*_COMMON[ResponseInfo]["*"], "temperature")},
}
"""Beta: as the beta captures show (OpenAI 2025, Azure Voice Live), but for what only
Azure writes and the OpenAI beta protocol has no field for (``include``,
``turn_detection.idle_timeout_ms``): left out."""
