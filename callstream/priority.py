"""A process's CPU priority as the kernel applies it, not only as ``os.nice`` sets it.

A nice value orders the threads of one scheduling group. With the kernel's automatic
grouping on (``/proc/sys/kernel/sched_autogroup_enabled``, the default of most
distributions' kernels) every session is such a group, and the CPU is shared between
groups first. ``callstream up``, the benchmarks and the rehearsals start each worker in a
session of its own (so a Ctrl-C reaches them only through callstream), so a worker that only
lowered its own nice value still took a whole group's share: on two busy cores the frontline
worker's thread waited in the run queue 57% of the time beside niced peers, 22% once their
groups were niced too (`bench/pipeline.py`, 10,000 calls; NOTES.md, stop 37). Where the
process leads its session, its group's nice value is set to match; a process inside
someone else's session (a worker started from a shell) never changes that session's.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

#: the nice value of this process's session group (``man 7 sched``, "The autogroup feature")
AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(niceness: int, autogroup: Path = AUTOGROUP) -> int:
    """Raise this process's nice value by ``niceness`` (>= 0) and, where it leads its
    session, its session group's to the same value; returns the nice value now."""
    nice = os.nice(niceness)
    if os.getsid(0) == os.getpid():
        try:
            autogroup.write_text(f"{nice}\n")
        except OSError as exc:  # no session groups here (not Linux, or a kernel without them)
            logger.debug("session group priority not set (%s): the nice value orders this process's threads only", exc)
    return nice
