"""Fixtures of the observer and dashboard tests: a dashboard child process."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.http import wait_http

from callstream.local.broker import free_ports
from callstream.local.processes import ProcessGroup


@pytest.fixture
def dashboard(child_env, tmp_path: Path, pipeline) -> Iterator[Callable[..., str]]:
    """``dashboard(groups=[...])`` starts ``python -m callstream.observe.dashboard`` (or, with
    ``module=``, the metrics-only observer) on the pipeline's topics and returns its base URL
    once /metrics answers."""
    # PYTHONFAULTHANDLER: a crash in a C extension leaves a Python traceback in the log
    env = child_env(tmp_path / "state", PYTHONFAULTHANDLER="1")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    group = ProcessGroup(tmp_path / "dashboard-logs", env)

    def start(groups: list[str], *extra: str, module: str = "callstream.observe.dashboard") -> str:
        port = free_ports(1)[0]
        args = ["--port", str(port), "--topic-map", json.dumps(pipeline.names), "--interval", "1", *extra]
        for name in groups:
            args += ["--group", name]
        child = group.spawn(module.rsplit(".", 1)[-1], module, *args)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/metrics", child=child)
        start.child = child  # type: ignore[attr-defined]
        return url

    try:
        yield start
    finally:
        group.stop_all()
