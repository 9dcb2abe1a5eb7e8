"""The server role: a sans-IO Realtime server with scripted responders and a simulated VAD.

``ServerConnection`` reads client frames and writes the server frames a real Realtime
server (beta ``2024-10-01``) would: ``session.created`` first, answers to every client
event or an ``error`` with the real code, whole responses (text, audio, function
calls) from a pluggable ``Responder``, server VAD on pcm16 input, input transcription,
``session_expired``. It is the fake Realtime server for tests, demos and load tests:
no I/O, no clock reads, no randomness but the seeded id factory.

Quick start::

    server = ServerConnection(responder=ScriptedResponder(["Hello!"]), seed=1)
    frames = server.start(now=0.0).to_send        # session.created
    frames = server.receive('{"type": "response.create"}').to_send

See ``rtstate.server.connection`` for the pacing model (responses released by time).
"""

from __future__ import annotations

from .audio import (
    BYTES_PER_MS,
    SyntheticTranscriber,
    SyntheticVoice,
    Transcriber,
    Voice,
)
from .config import DEFAULT_SESSION, ServerConfig
from .connection import ServerConnection
from .ids import IdFactory, seeded_ids, sequential_ids
from .mcp import McpServer, McpTool, McpToolError
from .responders import (
    EchoResponder,
    FunctionCall,
    McpCall,
    McpResponder,
    Message,
    Output,
    Reply,
    Responder,
    ResponseRequest,
    ScriptedResponder,
    ToolCallingResponder,
)
from .response import Chunking
from .vad import VadSettings

__all__ = [
    "BYTES_PER_MS",
    "DEFAULT_SESSION",
    "Chunking",
    "EchoResponder",
    "FunctionCall",
    "IdFactory",
    "McpCall",
    "McpResponder",
    "McpServer",
    "McpTool",
    "McpToolError",
    "Message",
    "Output",
    "Reply",
    "Responder",
    "ResponseRequest",
    "ScriptedResponder",
    "ServerConfig",
    "ServerConnection",
    "SyntheticTranscriber",
    "SyntheticVoice",
    "ToolCallingResponder",
    "Transcriber",
    "VadSettings",
    "Voice",
    "seeded_ids",
    "sequential_ids",
]
