"""Waiting for a test's HTTP server by asking it, not by reading its log."""

from __future__ import annotations

import time
import urllib.request


def wait_http(url: str, timeout_s: float = 60.0, child=None) -> bytes:
    """GET ``url`` until it answers 200 (a health check over HTTP, not a log grep)."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise AssertionError(f"{child.name} exited: {child.log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError as exc:
            last = exc
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout_s}s: {last}")
