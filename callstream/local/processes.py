"""Child processes callstream starts (processor instances, the archiver, the dashboard),
tracked by PID: started, watched, stopped gracefully, killed on purpose in rehearsals.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux), so a crashed or
    killed supervisor never leaves orphan processors consuming in the background.

    Linux sends it when the *thread* that forked exits, not the process: spawn children
    from the main thread (or another thread that lives as long as they should)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def wait_for_go(path: Path | None, poll_s: float = 0.05) -> None:
    """A warm standby: block until ``path`` exists (the supervisor creates it to release
    the process). A process started this way has done its imports and checks already, so
    it joins its group as soon as it is released; SIGTERM meanwhile ends it as usual. While
    it waits, ``waiting_marker(path, pid)`` exists (``standbys_waiting`` reads them)."""
    if path is None or path.exists():
        return
    marker = waiting_marker(path, os.getpid())
    marker.touch()
    try:
        while not path.exists():
            time.sleep(poll_s)
    finally:
        marker.unlink(missing_ok=True)


def waiting_marker(go: Path, pid: int) -> Path:
    """The file that says process ``pid`` is ready and waits for ``go``."""
    return go.with_name(f"{go.name}.waiting-{pid}")


def wait_for_args(go: Path | None) -> list[str]:
    """The arguments that start a worker or the archiver as a warm standby released by ``go``."""
    return ["--wait-for", str(go)] if go is not None else []


def waits(child: Child, go: Path) -> bool:
    """Whether ``child`` is ready and waits for ``go``."""
    return child.pid is not None and waiting_marker(go, child.pid).exists()


def standbys_waiting(group: ProcessGroup, go: Path, timeout_s: float, poll_s: float = 0.1) -> tuple[int, int]:
    """Wait until every live child of ``group`` waits for ``go`` (``wait_for_go``), at most
    ``timeout_s``: how many wait, of how many live."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [c for c in group.children.values() if c.alive()]
        waiting = sum(1 for c in alive if waits(c, go))
        if waiting == len(alive) or time.monotonic() > deadline:
            return waiting, len(alive)
        time.sleep(poll_s)


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    restarts: int = 0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has ended (``None`` while it runs or before it starts)."""
        return self.process.poll() if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
            start_new_session=True,  # our Ctrl-C is handled by us, then passed on as SIGTERM
            preexec_fn=_die_with_parent,
        )
        log.close()


@dataclass
class ProcessGroup:
    """A set of named children sharing one environment and one log directory."""

    log_dir: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: dict[str, Child] = field(default_factory=dict)

    def spawn(self, name: str, module: str, *args: str) -> Child:
        child = Child(name, [sys.executable, "-m", module, *args], self.log_dir / f"{name}.log", self.env)
        child.start()
        self.children[name] = child
        return child

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int | None:
        """Signal one child by PID (a rehearsal's crash); returns the PID signalled."""
        child = self.children[name]
        process = child.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, sig)
            process.wait(timeout=30)
        return child.pid

    def restart(self, name: str) -> Child:
        child = self.children[name]
        if child.alive():
            self.kill(name, signal.SIGTERM)
        child.restarts += 1
        child.start()
        return child

    def dead(self) -> list[Child]:
        return [c for c in self.children.values() if c.process is not None and not c.alive()]

    def stop_all(self, timeout_s: float = 20.0) -> None:
        """SIGTERM every child (Quix apps commit and leave their group), then SIGKILL stragglers."""
        running = [c.process for c in self.children.values() if c.process is not None and c.process.poll() is None]
        for process in running:
            try:
                os.kill(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout_s
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


class RestartBudget:
    """How often a supervisor restarts a child that asked for it (exit 75) before it takes
    the exit for a crash: a worker that keeps asking is not getting past what stops it (a
    retriable error that never clears), and restarting it forever would hide that."""

    def __init__(self, restarts: int = 5, window_s: float = 300.0) -> None:
        self.restarts, self.window_s = restarts, window_s
        self._times: dict[str, list[float]] = {}

    def allows(self, name: str, now: float | None = None) -> bool:
        """Whether ``name`` may be restarted now (and if so, count the restart)."""
        now = time.monotonic() if now is None else now
        recent = [t for t in self._times.get(name, []) if now - t < self.window_s]
        if len(recent) >= self.restarts:
            self._times[name] = recent
            return False
        self._times[name] = [*recent, now]
        return True
