"""Every Realtime event as a frozen value, and the payloads they share.

``rtstate.events.SessionUpdate``, ``rtstate.events.ResponseTextDelta``, ... are the
event classes; ``rtstate.events.Item``, ``SessionConfig``, ... their payloads.
"""

from __future__ import annotations

from .client import *  # noqa: F403
from .client import __all__ as _client_all
from .payloads import *  # noqa: F403
from .payloads import __all__ as _payloads_all
from .server import *  # noqa: F403
from .server import __all__ as _server_all

__all__ = [*_client_all, *_server_all, *_payloads_all]  # noqa: PLE0604
