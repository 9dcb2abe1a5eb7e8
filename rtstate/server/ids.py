"""Id factories for the server role: where every ``event_``, ``item_``, ``resp_`` id comes from.

An id factory is any callable ``(kind) -> str``, ``kind`` being one of ``"event"``,
``"item"``, ``"resp"``, ``"sess"`` and ``"call"``. The server never makes an id any
other way, so the same factory (and the same client frames) always give the same
server frames.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Final, TypeAlias

__all__ = ["ID_KINDS", "IdFactory", "seeded_ids", "sequential_ids"]

IdFactory: TypeAlias = Callable[[str], str]
"""``(kind) -> id``: makes the next id of one kind (``"event"``, ``"item"``, ...)."""

ID_KINDS: Final = ("event", "item", "resp", "sess", "call")
"""The kinds of id the server asks for."""

_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_TABLE: Final = bytes(ord(_ALPHABET[b % len(_ALPHABET)]) for b in range(256))
"""A random byte -> a letter or digit (``bytes.translate``)."""
_LENGTHS: Final = {"call": 16}
_DEFAULT_LENGTH: Final = 21
_BATCH: Final = 4096
"""Random characters drawn at a time: one ``randbytes`` call serves about 200 ids."""


def seeded_ids(seed: int | str = 0) -> IdFactory:
    """Ids shaped like the real service's (``event_`` + 21 letters and digits, ``call_`` + 16).

    Pseudo-random but reproducible: the same ``seed`` gives the same sequence. The
    characters are drawn in batches from one seeded stream, so an id costs a slice.
    """
    rng = random.Random(f"rtstate.server.ids:{seed}")
    pool = ""
    at = 0

    def make(kind: str) -> str:
        nonlocal pool, at
        end = at + _LENGTHS.get(kind, _DEFAULT_LENGTH)
        if end > len(pool):
            pool = rng.randbytes(_BATCH).translate(_TABLE).decode("ascii")
            end -= at
            at = 0
        chars = pool[at:end]
        at = end
        return f"{kind}_{chars}"

    return make


def sequential_ids() -> IdFactory:
    """Readable ids for tests and examples: ``event_1``, ``item_1``, ``resp_1``, ..."""
    counters: dict[str, itertools.count[int]] = {}

    def make(kind: str) -> str:
        counter = counters.get(kind)
        if counter is None:
            counter = counters[kind] = itertools.count(1)
        return f"{kind}_{next(counter)}"

    return make
