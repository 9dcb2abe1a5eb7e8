"""Shared pytest configuration: hypothesis profiles.

``default`` for local runs: 50 examples per property, and the example database replays
what failed before, so a quick run still finds what earlier runs found. ``ci`` (chosen
when the ``CI`` environment variable is set, as ``.ci/run`` does) runs 100, derandomized
so a CI failure reproduces, and prints the reproduction blob. ``thorough`` is for a
long local hunt: ``pytest --hypothesis-profile=thorough``.

A test that needs more examples than most (a stateful test) asks for a multiple of the
profile's count (``settings().max_examples``), so every profile scales it.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("default", deadline=None, max_examples=50)
settings.register_profile("ci", deadline=None, max_examples=100, derandomize=True, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=2000)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every ``@pytest.mark.anyio`` test runs on both anyio backends."""
    return str(request.param)
