"""Wire codecs: JSON text frames <-> event values. One module per dialect.

``beta`` speaks ``OpenAI-Beta: realtime=v1`` (``2024-10-01``), ``ga`` the GA protocol;
both decode into the same event classes. ``codec_for(dialect)`` gives a
``Config.dialect``'s ``Codec``. ``dialect_of_type`` / ``detect_dialect`` tell
which dialect an event type or a stream is in (``MARKERS``), without building a codec.

A codec is built the first time it is used, not when ``rtstate`` is imported: this
package imports neither dialect module nor cattrs. ``codec_for("ga")`` (or ``import
rtstate.codec.ga``, or ``rtstate.codec.ga`` as an attribute) imports the dialect's
module, which builds its converters once; ``CODECS`` builds both.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ..config import Dialect
from ._names import MARKERS, detect_dialect, dialect_of_type

if TYPE_CHECKING:
    from . import beta, ga
    from ._dialect import Codec

    CODECS: Mapping[Dialect, Codec]
    """Dialect name -> its codec (building it builds both codecs)."""

__all__ = [
    "CODECS",
    "MARKERS",
    "Codec",
    "beta",
    "codec_for",
    "detect_dialect",
    "dialect_of_type",
    "ga",
]

_MODULES: Final[Mapping[str, str]] = {"beta": ".beta", "ga": ".ga"}
"""Dialect name -> the module that defines its codec (``CODEC``)."""


def codec_for(dialect: Dialect) -> Codec:
    """The codec of ``dialect`` (``"beta"`` or ``"ga"``), built on the first call.

    Raises:
        ValueError: an unknown dialect.
    """
    module = _MODULES.get(dialect)
    if module is None:
        raise ValueError(f"unknown dialect {dialect!r}: expected 'beta' or 'ga'")
    codec: Codec = importlib.import_module(module, __name__).CODEC
    return codec


def __getattr__(name: str) -> Any:
    """``beta``, ``ga``, ``Codec`` and ``CODECS`` load on first use."""
    if name in _MODULES:
        return importlib.import_module(_MODULES[name], __name__)
    if name == "Codec":
        return importlib.import_module("._dialect", __name__).Codec
    if name == "CODECS":
        return {dialect: codec_for(dialect) for dialect in ("beta", "ga")}
    raise AttributeError(f"module 'rtstate.codec' has no attribute {name!r}")
