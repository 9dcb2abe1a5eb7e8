"""Wire codecs: JSON text frames <-> event values. One module per dialect."""

from __future__ import annotations

from . import beta

__all__ = ["beta"]
