"""Warm standbys say when they are ready: a supervisor waits for their start-up before it
pauses anything (the migration rehearsal readies the joining platform this way)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from callstream.local.processes import Child, ProcessGroup, standbys_waiting, waiting_marker

# a standby with a start-up of its own: it sleeps before it waits, as imports would take
STANDBY = "import sys, time; from pathlib import Path; from callstream.local.processes import wait_for_go; " \
          "time.sleep(float(sys.argv[2])); wait_for_go(Path(sys.argv[1]))"


def _standby(group: ProcessGroup, name: str, go: Path, start_up_s: float) -> Child:
    child = Child(name, [sys.executable, "-c", STANDBY, str(go), str(start_up_s)], group.log_dir / f"{name}.log", group.env)
    child.start()
    group.children[name] = child
    return child


def test_standbys_waiting_returns_once_every_standby_waits_and_release_clears_the_markers(tmp_path: Path):
    group, go = ProcessGroup(tmp_path / "logs"), tmp_path / "go"
    children = [_standby(group, f"w{n}", go, start_up_s) for n, start_up_s in enumerate((0.0, 1.5))]
    try:
        started = time.monotonic()
        assert standbys_waiting(group, go, timeout_s=60) == (2, 2)
        assert time.monotonic() - started >= 1.4  # it waited for the slower start-up
        assert all(waiting_marker(go, c.pid).exists() for c in children if c.pid is not None)
        go.touch()
        for child in children:
            assert child.process is not None and child.process.wait(30) == 0
        assert not list(tmp_path.glob("go.waiting-*"))  # released standbys leave no marker
    finally:
        group.stop_all()


def test_standbys_waiting_gives_up_at_its_timeout_and_says_how_many_wait(tmp_path: Path):
    group, go = ProcessGroup(tmp_path / "logs"), tmp_path / "go"
    _standby(group, "quick", go, 0.0)
    _standby(group, "slow", go, 30.0)
    try:
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("go.waiting-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert standbys_waiting(group, go, timeout_s=0.5) == (1, 2)
    finally:
        group.stop_all()
