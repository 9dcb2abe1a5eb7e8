"""Shared test support: event-stream builders, the in-memory server harness, raw clients
and peers for the transports, SDK checks and codec strategies.

Modules: ``helpers`` (``Server``, the one builder of valid beta server event streams, and
``fold_all`` / ``diagnostics`` / ``transitions``), ``server_harness`` (``Loop``: a client
and the fake server over an in-memory wire), ``server_clients`` (raw WebSocket clients
for ``serve()``), ``transport_helpers`` (a raw server peer for ``connect()``),
``sdk_checks`` (strict checks of frames against the OpenAI SDK's models),
``strategies_codec`` (a hypothesis strategy for every event class) and ``dialects``
(the property tests' dialect draw).

``DATA`` is ``tests/data``; ``CORPUS`` its real captured traffic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

DATA: Final = Path(__file__).resolve().parent.parent / "data"
"""``tests/data``."""

CORPUS: Final = DATA / "corpus"
"""``tests/data/corpus``: real captured traffic (``beta/`` and ``ga/``)."""

__all__ = ["CORPUS", "DATA"]
