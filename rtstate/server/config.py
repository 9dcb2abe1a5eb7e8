"""``ServerConfig``: the knobs of the server role, one frozen value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from ..config import Dialect
from ..events.payloads import UNSET, SessionConfig, Unset
from .mcp import McpServer
from .response import Chunking
from .vad import TURN_DETECTION_DEFAULTS

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "DEFAULT_SESSION",
    "DIALECT_DEFAULTS",
    "DialectDefaults",
    "ServerConfig",
]

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
    input_audio_noise_reduction=None,
    turn_detection=TURN_DETECTION_DEFAULTS["server_vad"],
    tools=(),
    tool_choice="auto",
    temperature=0.8,
    max_response_output_tokens="inf",
)
"""The session a real server starts with (its documented defaults, and the real
``session.created`` events in tests/data/corpus: server VAD with ``create_response``
and ``interrupt_response`` on, no idle timeout, no noise reduction, no transcription).
A GA session adds ``speed`` 1.0 and has no ``temperature``."""


@attrs.frozen(kw_only=True)
class DialectDefaults:
    """What a session of one dialect reports when ``ServerConfig`` leaves it ``UNSET``:
    its ``model`` and its maximum duration in seconds (``session_duration``)."""

    model: str
    session_duration: float


DIALECT_DEFAULTS: Final[Mapping[Dialect, DialectDefaults]] = {
    "beta": DialectDefaults(model="gpt-4o-realtime-preview-2024-10-01", session_duration=15 * 60.0),
    "ga": DialectDefaults(model="gpt-realtime", session_duration=60 * 60.0),
}
"""Dialect -> its defaults: the beta service as it launched (October 2024: the
preview model, 15-minute sessions); the GA service as it is today (``gpt-realtime``,
60-minute sessions)."""


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
        model: the model id the session reports (a client's ``?model=`` or
            ``session.update`` ``model`` replaces it, whatever the name); ``UNSET``: the
            dialect's (``DIALECT_DEFAULTS``: ``gpt-realtime`` for GA).
        session_duration: seconds until ``session_expired`` (then the server closes);
            ``None``: never; ``UNSET``: the dialect's (GA 60 minutes, beta 15).
        delta_interval: seconds between two delta events of a response. ``0`` writes
            a whole response in the Step of the request that started it.
        response_latency: seconds from ``response.created`` to its first output item.
        chunking: delta sizes (characters of text, transcript, arguments; ms of audio).
        rate_limits: send ``rate_limits.updated`` after each ``response.created``.
        requests_limit / tokens_limit: the limits ``rate_limits.updated`` reports.
        min_commit_ms: the least audio ``input_audio_buffer.commit`` accepts.
        max_finished_responses / max_input_buffer_history: passed to the fold's ``Config``.

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

    GA MCP (see ``rtstate.server.mcp``):

    Attributes:
        mcp_servers: server label -> the fake MCP server (``McpServer``: its tools, or
            a listing failure) an ``mcp`` tool with that ``server_label`` reaches; a
            label not in it reaches ``ECHO_SERVER`` (one ``echo`` tool).
    """

    session: SessionConfig = DEFAULT_SESSION
    model: str | Unset = UNSET
    session_duration: float | Unset | None = UNSET
    delta_interval: float = attrs.field(default=0.0, validator=_not_negative)
    response_latency: float = attrs.field(default=0.0, validator=_not_negative)
    chunking: Chunking = attrs.field(factory=Chunking)
    rate_limits: bool = True
    requests_limit: int = 5000
    tokens_limit: int = 20000
    min_commit_ms: float = 100.0
    max_finished_responses: int = 16
    max_input_buffer_history: int = 64
    max_output_tokens: int = attrs.field(default=4096, validator=_positive)
    max_input_audio_buffer_bytes: int = attrs.field(default=15 * 1024 * 1024, validator=_positive)
    max_conversation_items: int = attrs.field(default=4096, validator=_positive)
    max_conversation_chars: int = attrs.field(default=16 * 1024 * 1024, validator=_positive)
    mcp_servers: Mapping[str, McpServer] = attrs.field(factory=dict)

    def for_dialect(self, dialect: Dialect) -> ServerConfig:
        """This config with every ``UNSET`` replaced by ``dialect``'s default."""
        defaults = DIALECT_DEFAULTS[dialect]
        return attrs.evolve(
            self,
            model=defaults.model if self.model is UNSET else self.model,
            session_duration=(
                defaults.session_duration
                if self.session_duration is UNSET
                else self.session_duration
            ),
        )
