"""Warm standbys say when they are ready: a supervisor waits for their start-up before it
pauses anything (the migration rehearsal readies the joining platform this way)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from callstream.local.processes import Child, ProcessGroup, release_standbys, standbys_waiting, waiting_marker

# a standby with a start-up of its own: it sleeps before it waits, as imports would take,
# and lingers once released
STANDBY = "import sys, time; from pathlib import Path; from callstream.local.processes import wait_for_go; " \
          "time.sleep(float(sys.argv[2])); wait_for_go(Path(sys.argv[1])); time.sleep(float(sys.argv[3]))"
SCHED_IDLE, SCHED_OTHER = 5, 0


def _standby(group: ProcessGroup, name: str, go: Path, start_up_s: float, *, linger_s: float = 0.0,
             idle_start: bool = False) -> Child:
    child = Child(name, [sys.executable, "-c", STANDBY, str(go), str(start_up_s), str(linger_s)],
                  group.log_dir / f"{name}.log", group.env, idle_start=idle_start)
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


def _scheduling(pid: int) -> tuple[set[int], str]:
    """The scheduling policies of ``pid``'s threads, and its session group's nice value."""
    policies = {int(Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[38])
                for tid in os.listdir(f"/proc/{pid}/task")}
    return policies, Path(f"/proc/{pid}/autogroup").read_text().split()[-1]


def test_an_idle_started_standby_waits_idle_and_runs_normally_once_released(tmp_path: Path):
    group, go = ProcessGroup(tmp_path / "logs"), tmp_path / "go"
    child = _standby(group, "idle", go, 0.0, linger_s=30.0, idle_start=True)
    try:
        assert standbys_waiting(group, go, timeout_s=60) == (1, 1)
        assert child.pid is not None
        assert _scheduling(child.pid) == ({SCHED_IDLE}, "19")
        release_standbys(group, go)
        assert _scheduling(child.pid) == ({SCHED_OTHER}, "0")
        assert child.alive()
    finally:
        group.stop_all()


def test_a_standby_released_by_its_go_file_alone_ends_its_idle_scheduling_itself(tmp_path: Path):
    group, go = ProcessGroup(tmp_path / "logs"), tmp_path / "go"
    child = _standby(group, "idle", go, 0.0, linger_s=30.0, idle_start=True)
    try:
        assert standbys_waiting(group, go, timeout_s=60) == (1, 1) and child.pid is not None
        go.touch()  # no supervisor call: wait_for_go sees the file and resumes by itself
        deadline = time.monotonic() + 10
        while waiting_marker(go, child.pid).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert _scheduling(child.pid) == ({SCHED_OTHER}, "0")
    finally:
        group.stop_all()
