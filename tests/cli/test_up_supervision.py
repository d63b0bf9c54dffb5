"""`up`'s supervision of its children, on real processes (no Kafka): a worker that ends
itself for a restart (exit 75) is started again within its budget, and one that keeps asking
or exits any other way is taken for a crash."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

from rich.console import Console

from callstream.cli.up_cmd import PlatformProcesses, _first_crashed
from callstream.contract.catalog import load_catalog
from callstream.local.processes import Child, ProcessGroup, RestartBudget
from callstream.processors.watchdog import RESTART_EXIT
from callstream.settings import load_settings


def _exiting(group: ProcessGroup, name: str, status: int) -> Child:
    child = Child(name, [sys.executable, "-c", f"import sys; sys.exit({status})"], group.log_dir / f"{name}.log",
                  group.env)
    child.start()
    group.children[name] = child
    return child


def _wait_exited(*children: Child, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while any(c.alive() for c in children) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(c.alive() for c in children), [c.name for c in children if c.alive()]


def _said(console: Console) -> str:
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_a_worker_asking_for_restarts_is_restarted_until_its_budget_is_spent(tmp_path: Path) -> None:
    processes = PlatformProcesses(load_settings(None, state_dir=tmp_path / "state"), load_catalog(), no_archive=True)
    processes.restart_budget = RestartBudget(restarts=2, window_s=300.0)
    group = processes.group
    asking = _exiting(group, "quality-0", RESTART_EXIT)
    failing = _exiting(group, "routing-0", 1)
    console = Console(file=io.StringIO(), width=200)
    try:
        pids = [asking.pid]
        for _ in range(2):
            _wait_exited(asking, failing)
            assert processes.restart_those_asking() == [asking]  # never the one that exited 1
            pids.append(asking.pid)
        assert len(set(pids)) == 3 and asking.restarts == 2
        _wait_exited(asking)
        assert processes.restart_those_asking() == []  # a third request within 300 s: a crash
        assert {c.name for c in processes.crashed()} == {"quality-0", "routing-0"}
        assert _first_crashed(processes, console) is asking
        assert "quality-0 exited (75, asking for a restart more than 2 times in 300 s)" in _said(console)
        del group.children["quality-0"]
        assert _first_crashed(processes, console) is failing
        assert "routing-0 exited (1); read" in _said(console)
    finally:
        group.stop_all(timeout_s=5)
