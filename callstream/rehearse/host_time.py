"""Where the host's cores went during a run: each process's time on a core, and its threads'
time ready to run but waiting for one.

A recovery measured on a saturated host says as much about the host as about callstream.
On two cores, a broker-failure rehearsal's surge kept the host at 1.9-2.0 busy cores while
the quality scorer (niced, off the live path) ran 0.04-0.16 cores and its threads waited
2-4.6 s per second for one: how fast it caught up was its share of the host. The report
shows both, per phase (NOTES.md, 2026-12-07).

Linux keeps both times per thread in ``/proc/<pid>/task/<tid>/schedstat`` (nanoseconds on a
CPU, nanoseconds runnable on a run queue); a process's figure is the sum over its threads.
Elsewhere nothing is measured and the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PROC = Path("/proc")
_NS = 1e9


def thread_times(pid: int, proc: Path = PROC) -> dict[int, tuple[float, float]] | None:
    """tid -> (seconds on a core, seconds waiting for one) of ``pid``'s live threads;
    ``None`` when the process is gone or the kernel keeps no schedstat."""
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return None
    times = {}
    for task in tasks:
        try:
            on_cpu, waiting = (task / "schedstat").read_text().split()[:2]
            times[int(task.name)] = (int(on_cpu) / _NS, int(waiting) / _NS)
        except (OSError, ValueError):
            continue  # a thread that ended between the listing and the read
    return times or None


class HostTime:
    """Per named process, cores used and threads waiting for a core between one ``sample``
    and the next. A process seen for the first time (or under a new pid, as a restarted
    broker) gives its figures from its second sample on."""

    def __init__(self, proc: Path = PROC) -> None:
        self.proc = proc
        self._last: dict[int, tuple[float, dict[int, tuple[float, float]]]] = {}  # pid -> (at, its threads)

    def sample(self, pids: Mapping[str, int], now: float) -> tuple[dict[str, float], dict[str, float]]:
        """``(cores, waiting)``: name -> cores on a CPU, and name -> threads waiting for one,
        each averaged over the time since that pid's previous sample."""
        cores: dict[str, float] = {}
        waiting: dict[str, float] = {}
        seen: dict[int, tuple[float, dict[int, tuple[float, float]]]] = {}
        for name, pid in pids.items():
            threads = thread_times(pid, self.proc)
            if threads is None:
                continue
            seen[pid] = (now, threads)
            last = self._last.get(pid)
            if last is None or now <= last[0]:
                continue
            # thread by thread: one that ended since takes only its last interval with it, and
            # one that started since counts from its start
            before = last[1]
            ran = sum(t[0] - before.get(tid, (0.0, 0.0))[0] for tid, t in threads.items())
            waited = sum(t[1] - before.get(tid, (0.0, 0.0))[1] for tid, t in threads.items())
            elapsed = now - last[0]
            cores[name] = round(ran / elapsed, 3)
            waiting[name] = round(waited / elapsed, 3)
        self._last = seen
        return cores, waiting


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 3) if present else None


def by_phase(phases: Sequence[str], cores: Mapping[str, Sequence[float | None]],
             waiting: Mapping[str, Sequence[float | None]],
             host_busy: Sequence[float | None]) -> dict[str, dict[str, Any]]:
    """phase -> {"host_busy_cores", "processes": name -> {"cores", "waiting"}}: the means over
    the phase's samples (``phases`` names each sample's phase, in order)."""
    out: dict[str, dict[str, Any]] = {}
    for phase in dict.fromkeys(phases):
        at = [i for i, p in enumerate(phases) if p == phase]
        processes = {name: {"cores": _mean([series[i] for i in at]), "waiting": _mean([waiting[name][i] for i in at])}
                     for name, series in sorted(cores.items())}
        out[phase] = {"host_busy_cores": _mean([host_busy[i] for i in at]),
                      "processes": {n: f for n, f in processes.items() if f["cores"] is not None}}
    return out


def busiest_phase_line(host: Mapping[str, Mapping[str, Any]], cores: int) -> str | None:
    """One line for the terminal: the phase the host was busiest in, what used it, and
    whether it was saturated (90% of its cores or more). None when nothing was measured."""
    measured = {phase: f for phase, f in host.items() if f["host_busy_cores"] is not None}
    if not measured:
        return None
    phase = max(measured, key=lambda p: measured[p]["host_busy_cores"])
    busy = measured[phase]["host_busy_cores"]
    users = sorted(measured[phase]["processes"].items(), key=lambda item: -item[1]["cores"])[:3]
    line = (f"host: {busy:.2f} of {cores} cores busy in the {phase} phase ("
            + ", ".join(f"{name} {f['cores']:.2f}" for name, f in users) + ")")
    if busy >= 0.9 * cores:
        line += "; saturated: lag and recovery measured the host as much as callstream"
    return line
