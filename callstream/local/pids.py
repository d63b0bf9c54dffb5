"""Processes callstream launched (brokers, the S3 server), handled by PID only."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from callstream.errors import LocalKafkaError


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


def stop_on_signals() -> threading.Event:
    """An event SIGTERM or SIGINT sets, for a long-running loop that finishes the unit of
    work in hand (a maintenance round, a replicated batch) before it returns. Call it from
    the main thread."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def interrupt_on_signals() -> None:
    """SIGTERM and SIGINT raise ``KeyboardInterrupt``, for a command whose every step, not
    only a loop, must stop the way Ctrl-C stops it. Python's default SIGTERM ends the process
    without its ``finally`` blocks, and a shell starts background jobs with SIGINT ignored,
    which Python keeps: both are replaced. Call it from the main thread."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


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


def wait_until_ready(process: subprocess.Popen[bytes], ready: Callable[[], bool], *, what: str, log_path: Path,
                     timeout_s: float, poll_s: float = 0.5) -> None:
    """Poll ``ready`` until it is true while ``process`` (just launched) runs; stop it by PID and
    raise a ``LocalKafkaError`` naming ``what`` and its log if it exits or does not answer in time.
    ``ready`` may raise while the service boots: the last error is reported."""
    deadline, last = time.monotonic() + timeout_s, "no answer yet"
    while True:
        if process.poll() is not None:
            raise LocalKafkaError(f"{what} exited during start-up (exit {process.returncode})", f"read {log_path}")
        try:
            if ready():
                return
        except Exception as exc:  # clients raise their own errors while the service boots
            last = str(exc)
        if time.monotonic() > deadline:
            signal_and_wait([process.pid], signal.SIGTERM, 15.0)
            raise LocalKafkaError(f"{what} was not ready within {timeout_s:.0f} s ({last})", f"read {log_path}")
        time.sleep(poll_s)
