"""Fixtures of tests/processors (uuid pipeline topics, real worker processes), reused here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "callstream_tests_processors_conftest", Path(__file__).parent.parent / "processors" / "conftest.py")
_processors = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_processors)

PipelineTopics = _processors.PipelineTopics
pipeline = _processors.pipeline
workers = _processors.workers
