"""A worker that yields the CPU yields it across processes too: its session's scheduling
group is niced with it, and a session it does not lead is left alone. The machines
callstream is built and tested on group sessions (``/proc/self/autogroup`` exists); the
first two tests read the kernel's own record of it, each in a session the test starts (a
process that never started one, such as CI's test runner, is in the kernel's default group,
whose record is empty)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from callstream.priority import lower_priority

#: Python that reads this process's session group's nice value (the record's last field)
GROUP_NICE = "Path('/proc/self/autogroup').read_text().split()[-1]"
CHILD = ("from pathlib import Path; from callstream.priority import lower_priority; "
         f"print(lower_priority(7)); print({GROUP_NICE})")


def run_child(new_session: bool) -> tuple[int, int]:
    """(the child's nice value, its session group's nice value) after ``lower_priority(7)``."""
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
                         start_new_session=new_session, timeout=60).stdout.split()
    return int(out[0]), int(out[1])


def test_a_session_leader_nices_its_session_group():
    nice, group_nice = run_child(new_session=True)
    assert nice >= 7
    assert group_nice == nice


LEADER = (f"import subprocess, sys; from pathlib import Path; before = {GROUP_NICE}; "
          f"subprocess.run([sys.executable, '-c', {CHILD!r}], check=True, timeout=60); "
          f"print(before, {GROUP_NICE})")


def test_a_process_in_another_session_leaves_that_session_alone():
    # A session of the test's own: the runner's may be the kernel's default group, which
    # has no nice value to read (CI's runner does: its /proc/self/autogroup is empty).
    out = subprocess.run([sys.executable, "-c", LEADER], capture_output=True, text=True, check=True,
                         start_new_session=True, timeout=120).stdout.split()
    child_nice, child_group_nice, before, after = (int(v) for v in out)
    assert child_nice >= 7
    assert child_group_nice == before == after  # the leader's group, unchanged by its child


def test_without_session_groups_the_nice_value_still_applies(tmp_path: Path):
    missing = tmp_path / "no-such-dir" / "autogroup"
    out = subprocess.run(
        [sys.executable, "-c", f"from pathlib import Path; from callstream.priority import lower_priority; "
                               f"print(lower_priority(3, Path({str(missing)!r})))"],
        capture_output=True, text=True, check=True, start_new_session=True, timeout=60)
    assert int(out.stdout) >= 3
    assert not missing.exists()


def test_lower_priority_returns_the_nice_value_now(monkeypatch, tmp_path: Path):
    calls: list[int] = []
    monkeypatch.setattr("os.nice", lambda n: calls.append(n) or 12)
    monkeypatch.setattr("os.getsid", lambda pid: 1)
    monkeypatch.setattr("os.getpid", lambda: 1)
    group = tmp_path / "autogroup"
    assert lower_priority(2, group) == 12
    assert calls == [2]
    assert group.read_text() == "12\n"
