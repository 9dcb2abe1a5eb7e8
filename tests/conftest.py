"""Shared pytest configuration: hypothesis profiles.

``default`` for local runs; ``ci`` (chosen when the ``CI`` environment variable is set)
is the same but derandomized, so a CI failure reproduces, and prints the reproduction blob.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("default", deadline=None, max_examples=100)
settings.register_profile("ci", deadline=None, max_examples=100, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")
