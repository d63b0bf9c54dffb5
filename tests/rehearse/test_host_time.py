"""Each process's cores and its threads' wait for one, from Linux's per-thread schedstat."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from callstream.rehearse.host_time import HostTime, busiest_phase_line, by_phase, thread_times


def _threads(proc: Path, pid: int, times: dict[int, tuple[int, int]]) -> None:
    """A fake ``/proc/<pid>/task``: tid -> (ns on a CPU, ns waiting); a tid left out has ended."""
    task = proc / str(pid) / "task"
    if task.exists():
        for old in task.iterdir():
            (old / "schedstat").unlink()
            old.rmdir()
    for tid, (on_cpu, waiting) in times.items():
        (task / str(tid)).mkdir(parents=True)
        (task / str(tid) / "schedstat").write_text(f"{on_cpu} {waiting} 7\n")


def test_a_process_is_the_sum_of_its_threads_and_each_sample_the_difference_over_the_time_between(tmp_path) -> None:
    _threads(tmp_path, 10, {10: (1_000_000_000, 0), 11: (500_000_000, 2_000_000_000)})
    assert thread_times(10, tmp_path) == {10: (1.0, 0.0), 11: (0.5, 2.0)}
    assert thread_times(99, tmp_path) is None  # gone
    host = HostTime(tmp_path)
    assert host.sample({"quality-0": 10, "gone": 99}, now=100.0) == ({}, {})  # first sight: nothing to difference
    _threads(tmp_path, 10, {10: (1_400_000_000, 0), 11: (600_000_000, 6_000_000_000)})
    cores, waiting = host.sample({"quality-0": 10, "gone": 99}, now=102.0)
    assert cores == {"quality-0": 0.25} and waiting == {"quality-0": 2.0}  # 0.5 s of CPU, 4 s waited, over 2 s
    # thread by thread: one that ended (11) takes only its last second with it; one that
    # started (12) counts from its start
    _threads(tmp_path, 10, {10: (1_500_000_000, 0), 12: (200_000_000, 500_000_000)})
    assert host.sample({"quality-0": 10}, now=103.0) == ({"quality-0": 0.3}, {"quality-0": 0.5})
    # the same name under a new pid (a restarted broker) starts over
    _threads(tmp_path, 20, {20: (9_000_000_000, 0)})
    assert host.sample({"quality-0": 20}, now=104.0) == ({}, {})


def test_this_process_burning_cpu_shows_on_its_own_schedstat() -> None:
    # callstream runs on Linux, whose kernel keeps a schedstat per thread: none is a failure
    before = thread_times(os.getpid())
    assert before is not None, "no /proc/<pid>/task/*/schedstat on this host"
    started = time.process_time()
    while time.process_time() - started < 0.2:
        pass
    after = thread_times(os.getpid())
    assert after is not None
    this = after[threading.get_native_id()]  # the thread that burned it
    assert this[0] - before[threading.get_native_id()][0] >= 0.15


def test_by_phase_averages_each_process_over_its_phase_samples() -> None:
    phases = ["warm-up", "warm-up", "surge", "surge", "surge"]
    host = by_phase(phases, {"quality-0": [None, 0.2, 0.05, 0.05, 0.11], "archiver": [None, None, None, None, None]},
                    {"quality-0": [None, 0.1, 3.0, 4.0, 2.0], "archiver": [None] * 5}, [None, 1.2, 2.0, 1.9, 1.95])
    assert list(host) == ["warm-up", "surge"]
    assert host["warm-up"] == {"host_busy_cores": 1.2, "processes": {"quality-0": {"cores": 0.2, "waiting": 0.1}}}
    assert host["surge"] == {"host_busy_cores": 1.95, "processes": {"quality-0": {"cores": 0.07, "waiting": 3.0}}}


def test_the_terminal_line_names_the_busiest_phase_its_users_and_whether_the_host_was_saturated() -> None:
    host = by_phase(["warm-up", "surge", "surge"],
                    {"kafka-node-1": [0.4, 0.5, 0.5], "redactor-0": [0.2, 0.3, 0.3], "runner": [0.1, 0.4, 0.4],
                     "quality-0": [0.05, 0.05, 0.05]},
                    {n: [1.0, 2.0, 2.0] for n in ("kafka-node-1", "redactor-0", "runner", "quality-0")}, [1.2, 1.9, 1.9])
    assert busiest_phase_line(host, cores=2) == ("host: 1.90 of 2 cores busy in the surge phase (kafka-node-1 0.50, "
                                                 "runner 0.40, redactor-0 0.30); saturated: lag and recovery "
                                                 "measured the host as much as callstream")
    assert busiest_phase_line(host, cores=4).endswith("redactor-0 0.30)")  # 1.9 of 4: not saturated
    assert busiest_phase_line(by_phase(["surge"], {}, {}, [None]), cores=2) is None
