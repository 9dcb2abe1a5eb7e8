"""``ServerConfig``: the knobs of the server role, one frozen value."""

from __future__ import annotations

from typing import Final

import attrs

from ..events.payloads import SessionConfig, TurnDetection
from .response import Chunking

__all__ = ["DEFAULT_INSTRUCTIONS", "DEFAULT_SESSION", "ServerConfig"]

DEFAULT_INSTRUCTIONS: Final = (
    "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI. "
    "(This is rtstate's fake Realtime server: replies come from a scripted responder.)"
)

DEFAULT_SESSION: Final = SessionConfig(
    modalities=("audio", "text"),
    instructions=DEFAULT_INSTRUCTIONS,
    voice="alloy",
    input_audio_format="pcm16",
    output_audio_format="pcm16",
    input_audio_transcription=None,
    turn_detection=TurnDetection(
        type="server_vad", threshold=0.5, prefix_padding_ms=300, silence_duration_ms=200
    ),
    tools=(),
    tool_choice="auto",
    temperature=0.8,
    max_response_output_tokens="inf",
)
"""The session a real server started with in October 2024 (protocol reference section 2)."""


def _not_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"ServerConfig.{attribute.name} must be >= 0, not {value}")


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"ServerConfig.{attribute.name} must be >= 1, not {value}")


@attrs.frozen(kw_only=True)
class ServerConfig:
    """How the server behaves.

    Attributes:
        session: the session config ``session.created`` announces (``id`` and
            ``expires_at`` are filled in by the server).
        model: the model id the session reports.
        session_duration: seconds until ``session_expired`` (then the server closes);
            ``None``: never.
        delta_interval: seconds between two delta events of a response. ``0`` writes
            a whole response in the Step of the request that started it.
        response_latency: seconds from ``response.created`` to its first output item.
        chunking: delta sizes (characters of text, transcript, arguments; ms of audio).
        rate_limits: send ``rate_limits.updated`` after each ``response.created``.
        requests_limit / tokens_limit: the limits ``rate_limits.updated`` reports.
        min_commit_ms: the least audio ``input_audio_buffer.commit`` accepts.
        response_history / history_limit: passed to the fold's ``Config``.

    Bounds on what one client can make the server do (see "Bounds" in the README):

    Attributes:
        max_output_tokens: the output cap of a response whose
            ``max_response_output_tokens`` is ``"inf"`` (the 4096 of the 2024
            models); audio counts a token per 50 ms. Past it the response ends
            ``incomplete`` with reason ``max_output_tokens``.
        max_input_audio_buffer_bytes: the most audio the input buffer holds
            (default 15 MiB, what one append may carry). With server VAD the oldest
            audio is dropped past it; without, an append past it is refused with
            ``input_audio_buffer_too_large`` (rtstate's code: the service documents
            none) and the buffer is left as it was.
        max_conversation_items / max_conversation_chars: the most items, and
            characters of text (text, transcripts, arguments, outputs), the
            conversation holds. A ``conversation.item.create``, a commit or a
            ``response.create`` that would pass them is refused with
            ``conversation_too_large`` (rtstate's code); a server VAD turn then
            ends with that error and no commit.
    """

    session: SessionConfig = DEFAULT_SESSION
    model: str = "gpt-4o-realtime-preview-2024-10-01"
    session_duration: float | None = 15 * 60.0
    delta_interval: float = attrs.field(default=0.0, validator=_not_negative)
    response_latency: float = attrs.field(default=0.0, validator=_not_negative)
    chunking: Chunking = attrs.field(factory=Chunking)
    rate_limits: bool = True
    requests_limit: int = 5000
    tokens_limit: int = 20000
    min_commit_ms: float = 100.0
    response_history: int = 16
    history_limit: int = 64
    max_output_tokens: int = attrs.field(default=4096, validator=_positive)
    max_input_audio_buffer_bytes: int = attrs.field(default=15 * 1024 * 1024, validator=_positive)
    max_conversation_items: int = attrs.field(default=4096, validator=_positive)
    max_conversation_chars: int = attrs.field(default=16 * 1024 * 1024, validator=_positive)
