"""Wire codecs: JSON text frames <-> event values. One module per dialect.

``beta`` speaks ``OpenAI-Beta: realtime=v1`` (``2024-10-01``), ``ga`` the GA protocol;
both decode into the same event classes. ``CODECS`` maps a ``Config.dialect`` to its
``Codec``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ..config import Dialect
from . import beta, ga
from ._dialect import Codec

__all__ = ["CODECS", "Codec", "beta", "codec_for", "ga"]

CODECS: Final[Mapping[Dialect, Codec]] = {"beta": beta.CODEC, "ga": ga.CODEC}
"""Dialect name -> its codec."""


def codec_for(dialect: Dialect) -> Codec:
    """The codec of ``dialect`` (``"beta"`` or ``"ga"``).

    Raises:
        ValueError: an unknown dialect.
    """
    codec = CODECS.get(dialect)
    if codec is None:
        raise ValueError(f"unknown dialect {dialect!r}: expected 'beta' or 'ga'")
    return codec
