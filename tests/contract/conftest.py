"""Sample events for contract tests (``tests/samples.py`` builds them)."""

from __future__ import annotations

import pytest
from samples import build_sample


@pytest.fixture
def sample_event():
    return build_sample
