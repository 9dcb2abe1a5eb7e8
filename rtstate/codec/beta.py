"""The beta (``OpenAI-Beta: realtime=v1``, ``2024-10-01``) wire codec.

``decode_server(frame)`` and ``decode_client(frame)`` turn one WebSocket text message
into an event value; ``encode(event)`` turns an event back into one message.

A tagged union on ``type``: ``SERVER_TAGS`` / ``CLIENT_TAGS`` map every wire type to
its class, and one strict cattrs converter does the rest. An unknown ``type`` decodes
to ``UnknownServerEvent`` / ``UnknownClientEvent`` holding the raw object. Unknown
fields are ignored. Anything else that is wrong with a frame raises
``RemoteProtocolError`` (with the event type, the field path and an excerpt); encoding
an event that could not be decoded again raises ``LocalProtocolError``. No other
exception escapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..events.client import CLIENT_EVENT_TYPES, ClientEvent
from ..events.server import SERVER_EVENT_TYPES, ServerEvent
from ._converter import make_converters
from ._dialect import AnyEvent, make_codec
from ._shapes import BETA_NULLS

__all__ = [
    "CLIENT_TAGS",
    "CODEC",
    "SERVER_TAGS",
    "AnyEvent",
    "decode_client",
    "decode_server",
    "encode",
    "to_wire",
]

SERVER_TAGS: Final[Mapping[str, type[ServerEvent]]] = {c.type: c for c in SERVER_EVENT_TYPES}
"""Wire ``type`` -> server event class."""

CLIENT_TAGS: Final[Mapping[str, type[ClientEvent]]] = {c.type: c for c in CLIENT_EVENT_TYPES}
"""Wire ``type`` -> client event class."""

CODEC: Final = make_codec("beta", SERVER_TAGS, CLIENT_TAGS, make_converters(nulls=BETA_NULLS))
"""The beta dialect as a ``Codec`` value (what ``Config(dialect="beta")`` selects)."""

decode_server: Final = CODEC.decode_server
decode_client: Final = CODEC.decode_client
to_wire: Final = CODEC.to_wire
encode: Final = CODEC.encode
