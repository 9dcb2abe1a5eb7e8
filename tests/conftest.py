"""Shared pytest configuration: hypothesis profiles.

``default`` for local runs; ``ci`` (chosen when the ``CI`` environment variable is set)
is the same but derandomized, so a CI failure reproduces, and prints the reproduction blob.
``thorough`` is for a long local hunt: ``pytest --hypothesis-profile=thorough``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("default", deadline=None, max_examples=100)
settings.register_profile("ci", deadline=None, max_examples=100, derandomize=True, print_blob=True)
settings.register_profile("thorough", deadline=None, max_examples=2000)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every ``@pytest.mark.anyio`` test runs on both anyio backends."""
    return str(request.param)
