"""Processes callstream launched (brokers, the S3 server), handled by PID only."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a child that exited is reaped here (a zombie is not alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:  # not our child: read its state instead
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except (OSError, IndexError):
            return False


def signal_and_wait(pids: list[int], sig: int, timeout_s: float) -> None:
    """Send ``sig`` to every PID, wait up to ``timeout_s``, then SIGKILL what is left."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    while any(pid_alive(p) for p in pids):
        time.sleep(0.05)
