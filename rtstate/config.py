"""``Config``: the knobs of the core, one frozen value shared by every call."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Literal

import attrs

__all__ = ["AudioRetention", "Config", "Dialect"]

Dialect = Literal["beta", "ga"]
"""The wire dialects: ``"beta"`` (``OpenAI-Beta: realtime=v1``, ``2024-10-01``) and
``"ga"`` (what OpenAI and Azure OpenAI endpoints speak since May 2026)."""


class AudioRetention(enum.Enum):
    """What the core keeps of the assistant's output audio.

    ``NONE`` counts bytes and milliseconds only (the default: an hour-long session
    stays flat). ``PER_ITEM`` keeps every item's audio. ``LAST_SECONDS`` keeps the
    most recent ``Config.audio_retention_window`` of audio across the session.
    """

    NONE = "none"
    PER_ITEM = "per_item"
    LAST_SECONDS = "last_seconds"


def _at_least(low: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    """A validator: the int field must be ``>= low``."""

    def check(_: object, attribute: attrs.Attribute[int], value: int) -> None:
        if value < low:
            raise ValueError(f"Config.{attribute.name} must be >= {low}, not {value}")

    return check


_not_negative = _at_least(0)
_at_least_one = _at_least(1)


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"Config.{attribute.name} must be > 0, not {value}")


@attrs.frozen(kw_only=True)
class Config:
    """How the core folds events.

    Bounds are named ``max_<what is counted>``; durations are in seconds and carry no
    unit in their name (the glossary in ``rtstate.state``).

    Attributes:
        strict: raise ``RemoteProtocolError`` for a server event that breaks the
            protocol (and leave the state unchanged), instead of recording a
            ``Diagnostic`` and going on.
        audio_retention: see ``AudioRetention``.
        audio_retention_window: seconds of audio ``AudioRetention.LAST_SECONDS``
            keeps.
        max_finished_responses: how many finished responses the state keeps.
        plugin_errors: ``"detach"`` (a raising plugin is detached and reported as a
            diagnostic) or ``"raise"`` (re-raised: for tests).
        max_cascade_rounds: how many rounds of plugin-returned events one call may fold
            before the rest is dropped with a diagnostic.
        max_cascade_events: how many plugin-returned events one call may fold in
            all (a bound on fan-out, which rounds alone do not bound).
        max_input_buffer_history: how many speech windows, and how many committed
            item ids, the input-buffer state keeps.
        max_in_flight: how many sent events may await an answer at once; past it
            the oldest is dropped (``ClientEventTimedOut``). Also the bound on
            queued ``response.create`` events.
        max_recent_events: how many settled events the ledger remembers, so that a
            late ``error`` still finds the event it names.
        max_transcripts: how many input transcripts ``SessionState.transcripts``
            keeps (the oldest is evicted first); also bounds the early
            transcriptions, which are kept only while their transcript is.
        ack_timeout: seconds (on the ``tick`` clock) a sent event may wait for its
            acknowledgement before ``ClientEventTimedOut``.
        dialect: the wire protocol ``ClientConnection`` decodes and encodes:
            ``"beta"`` (the default) or ``"ga"``. The state is the same for both.
    """

    strict: bool = False
    audio_retention: AudioRetention = AudioRetention.NONE
    audio_retention_window: float = attrs.field(default=30.0, validator=_positive)
    max_finished_responses: int = attrs.field(default=16, validator=_not_negative)
    plugin_errors: Literal["detach", "raise"] = attrs.field(
        default="detach", validator=attrs.validators.in_(("detach", "raise"))
    )
    max_cascade_rounds: int = attrs.field(default=8, validator=_not_negative)
    max_cascade_events: int = attrs.field(default=256, validator=_not_negative)
    max_input_buffer_history: int = attrs.field(default=64, validator=_not_negative)
    max_in_flight: int = attrs.field(default=256, validator=_at_least_one)
    max_recent_events: int = attrs.field(default=64, validator=_not_negative)
    max_transcripts: int = attrs.field(default=128, validator=_at_least_one)
    ack_timeout: float = attrs.field(default=15.0, validator=_positive)
    dialect: Dialect = attrs.field(default="ga", validator=attrs.validators.in_(("beta", "ga")))

    @property
    def audio_limit_ms(self) -> float | None:
        """The retention window in ms (``None``: keep everything)."""
        if self.audio_retention is AudioRetention.LAST_SECONDS:
            return self.audio_retention_window * 1000.0
        return None


DEFAULT_CONFIG = Config()
