"""Who may see what on the dashboard: open on loopback, tokens beyond it, transcripts apart."""

from __future__ import annotations

import json
from pathlib import Path

from callstream.observe.dashboard.access import dashboard_access, tokens_path


def test_loopback_is_open_unless_tokens_are_configured(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        assert dashboard_access(host, None, None, tmp_path).permissions(None) == {"operations", "transcripts"}
    guarded = dashboard_access("127.0.0.1", "ops", None, tmp_path)
    assert guarded.permissions(None) == frozenset() and guarded.permissions("ops") == {"operations"}


def test_beyond_loopback_tokens_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = dashboard_access("0.0.0.0", None, None, tmp_path)
    assert not first.open and first.permissions(None) == frozenset() and first.permissions("guess") == frozenset()
    path = tokens_path(tmp_path)
    assert path.stat().st_mode & 0o777 == 0o600
    stored = json.loads(path.read_text())
    assert first.permissions(stored["operations"]) == {"operations"}
    assert first.permissions(stored["transcripts"]) == {"operations", "transcripts"}
    assert dashboard_access("10.1.2.3", None, None, tmp_path).tokens == first.tokens  # the same on restart
