"""A loopback service callstream launches for one state dir and tracks by PID (Kafka
Connect, the schema registry): ``<state>/<directory>/`` holds its PID file and its log."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from callstream.errors import LocalKafkaError
from callstream.local.pids import pid_alive, signal_and_wait, wait_until_ready


@dataclass
class ServiceState:
    """The running service: its PID and the loopback port it serves on."""

    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class LocalService:
    """One service of a state dir; subclasses name its directory, its log and what it is."""

    directory: ClassVar[str]
    what: ClassVar[str]

    def __init__(self, state_dir: Path) -> None:
        self.home = Path(state_dir) / self.directory

    @property
    def log_path(self) -> Path:
        return self.home / f"{self.directory}.log"

    @property
    def state_path(self) -> Path:
        return self.home / "service.json"

    def state(self) -> ServiceState | None:
        """The running service, or ``None``."""
        if not self.state_path.exists():
            return None
        state = ServiceState(**json.loads(self.state_path.read_text()))
        return state if pid_alive(state.pid) else None

    def launch(self, argv: list[str], port: int, ready_path: str, *, timeout_s: float) -> ServiceState:
        """Run ``argv`` (its output to the log), record its PID, and wait until ``ready_path``
        answers on its port; a service that exits or does not answer is stopped and forgotten."""
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(argv, cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        state = ServiceState(process.pid, port)
        self.state_path.write_text(json.dumps(asdict(state)))
        try:
            wait_until_ready(process, lambda: self.answers(state.url + ready_path), what=self.what,
                             log_path=self.log_path, timeout_s=timeout_s, poll_s=1.0)
        except LocalKafkaError:
            self.state_path.unlink(missing_ok=True)
            raise
        return state

    def answers(self, url: str) -> bool:
        """Whether the service answers ``url`` with HTTP 200 (raises while it boots)."""
        with urllib.request.urlopen(url, timeout=3) as answer:  # noqa: S310 (loopback http)
            return bool(answer.status == 200)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """Stop the service by PID; the PID stopped, if one ran."""
        if not self.state_path.exists():
            return None
        pid = ServiceState(**json.loads(self.state_path.read_text())).pid
        self.state_path.unlink()
        if pid_alive(pid):
            signal_and_wait([pid], signal.SIGTERM, timeout_s)
            return pid
        return None

