"""How much CPU this host has left: the scaling controller's check before it starts another
instance beside the ones already here.

On one host a new instance of a lagging processor adds no CPU: when every core is busy it
only takes time from the others, and its rebalance and state restore cost more (ADR 0008:
on two cores, scaling out made a surge's lag worse). Where the instances run elsewhere
(``callstream scale --exec``) there is no such check.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the kernel's CPU time counters (Linux); elsewhere the check is not made
PROC_STAT = Path("/proc/stat")


def _idle_and_total(stat: str) -> tuple[int, int]:
    """(idle + iowait, all) jiffies from the ``cpu`` line of ``/proc/stat``."""
    fields = stat.split("\n", 1)[0].split()
    if not fields or fields[0] != "cpu":
        raise ValueError(f"not a /proc/stat cpu line: {stat[:60]!r}")
    ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal (guest counts in user)
    return ticks[3] + ticks[4], sum(ticks)


class HostCpu:
    """Idle cores of this host between one call of ``idle_cores`` and the next."""

    def __init__(self, stat_path: Path = PROC_STAT, cores: int | None = None) -> None:
        self.stat_path = stat_path
        self.cores = cores or os.cpu_count() or 1
        self._last = self._read()

    def _read(self) -> tuple[int, int] | None:
        try:
            return _idle_and_total(self.stat_path.read_text())
        except (OSError, ValueError):
            return None

    def idle_cores(self) -> float | None:
        """Cores left idle since the previous call (``None``: not measurable here, or no time passed)."""
        now, last = self._read(), self._last
        self._last = now
        if now is None or last is None or now[1] <= last[1]:
            return None
        return round(self.cores * (now[0] - last[0]) / (now[1] - last[1]), 3)
