"""First-party rtstate plugins, built on the public ``rtstate`` API only.

* ``Transcript`` (``rtstate_plugins.transcript``): the conversation, live, in
  conversation order, as text or Markdown.
* ``Log`` (``rtstate_plugins.log``): transitions and diagnostics as stdlib logging
  records with structured ``extra=`` fields.
* ``Recorder`` (``rtstate_plugins.recorder``): a JSONL journal that
  ``rtstate.journal.replay`` turns back into the exact Steps.
* ``BargeIn`` (``rtstate_plugins.barge_in``): a "stop now" signal for the audio sink,
  tied to the core's truncation plan and to playback reports.
* ``Reconnect`` (``rtstate_plugins.reconnect``): capped exponential backoff with
  jitter; over a transport it redials (``AsyncConnection.redial``) and resumes the
  session from the reconnect plan, and gives up after ``max_attempts``.
* ``Tools`` (``rtstate_plugins.tools``): Python functions as function tools, schemas
  from type hints, calls run with a timeout (anyio) and answered; over a transport
  its ``connected`` hook does it all.
"""

from __future__ import annotations

from .barge_in import BargeIn, StopSignal
from .log import Log
from .reconnect import Backoff, Decision, GiveUp, Reconnect, Redial
from .recorder import Recorder
from .tools import Call, SchemaError, ToolResult, Tools, ToolSpec, schema_of, signature_schema
from .transcript import Entry, Transcript, entries, render_markdown, render_text

__all__ = [
    "Backoff",
    "BargeIn",
    "Call",
    "Decision",
    "Entry",
    "GiveUp",
    "Log",
    "Reconnect",
    "Recorder",
    "Redial",
    "SchemaError",
    "StopSignal",
    "ToolResult",
    "ToolSpec",
    "Tools",
    "Transcript",
    "entries",
    "render_markdown",
    "render_text",
    "schema_of",
    "signature_schema",
]
