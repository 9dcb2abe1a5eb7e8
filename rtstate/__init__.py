"""rtstate: a sans-IO state machine for the OpenAI Realtime API.

The three-step loop: ``step = conn.receive(frame)`` (or ``conn.send(event)``), write
``step.to_send`` in order, read ``step.transitions`` / ``conn.state``.
"""

from __future__ import annotations

from . import codec, events, server, transitions
from .config import AudioRetention, Config
from .connection import ClientConnection, counter_ids
from .errors import LocalProtocolError, RemoteProtocolError, RtStateError
from .fold import fold
from .plugins import HOOK_NAMES, PluginError
from .reconnect import Dropped, ReconnectPlan, plan_reconnect
from .server import ServerConnection
from .state import (
    InputBufferState,
    InputPhase,
    ItemPhase,
    ItemState,
    Ledger,
    PartPhase,
    PartState,
    Pending,
    RateLimitState,
    ResponsePhase,
    ResponseState,
    SessionPhase,
    SessionState,
    SpeechWindow,
)
from .step import (
    INFORMATIONAL,
    Closed,
    Diagnostic,
    Input,
    Interrupt,
    Malformed,
    Played,
    Resumed,
    Step,
    Tick,
)
from .transitions import Transition

__all__ = [
    "HOOK_NAMES",
    "INFORMATIONAL",
    "AudioRetention",
    "ClientConnection",
    "Closed",
    "Config",
    "Diagnostic",
    "Dropped",
    "Input",
    "InputBufferState",
    "InputPhase",
    "Interrupt",
    "ItemPhase",
    "ItemState",
    "Ledger",
    "LocalProtocolError",
    "Malformed",
    "PartPhase",
    "PartState",
    "Pending",
    "Played",
    "PluginError",
    "RateLimitState",
    "ReconnectPlan",
    "RemoteProtocolError",
    "ResponsePhase",
    "ResponseState",
    "Resumed",
    "RtStateError",
    "ServerConnection",
    "SessionPhase",
    "SessionState",
    "SpeechWindow",
    "Step",
    "Tick",
    "Transition",
    "codec",
    "counter_ids",
    "events",
    "fold",
    "plan_reconnect",
    "server",
    "transitions",
]

__version__ = "0.1.0.dev0"
