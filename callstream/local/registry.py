"""A real Confluent-compatible schema registry on loopback: Apicurio Registry, in memory.

Apicurio publishes its application on Maven Central as a thin Quarkus jar, which must go
through Quarkus's build step before it runs. ``registry_runtime`` does that once with the
project under ``callstream/local/apicurio/`` (two dependency substitutions, explained in its
POM) and caches the runnable jar; ``SchemaRegistryServer`` starts it by PID for a state dir
and serves the Confluent API at ``<url>/apis/ccompat/v6``, which ``callstream schemas
register`` talks to like any other registry. Storage is in memory: the registry forgets its
subjects when it stops (a production registry keeps them in Kafka or a database).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.request
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from callstream.errors import LocalKafkaError
from callstream.local import maven
from callstream.local.broker import free_ports
from callstream.local.pids import pid_alive, signal_and_wait, wait_until_ready

APICURIO_VERSION = "2.4.2.Final"
#: Apicurio's Confluent-compatible API, under the registry's root
CCOMPAT_PATH = "/apis/ccompat/v6"
_BUILD_FLAGS = ["-DskipTests", "-Dcheckstyle.skip", "-Denforcer.skip", "-Dlicense.skip", "-Dmaven.javadoc.skip",
                "-Dmaven.source.skip"]


def registry_runtime() -> Path:
    """The directory holding the built registry (``runner.jar`` and ``lib/``), built once."""
    target = maven.cache_root() / f"apicurio-registry-{APICURIO_VERSION}"
    marker = target / ".built"
    if marker.exists():
        return target
    mvn = shutil.which("mvn")
    if not mvn:
        raise LocalKafkaError("Maven (mvn) is needed once to build Apicurio Registry but was not found",
                              "install it (apt-get install maven) or run `make setup`")
    work = maven.cache_root() / f"apicurio-registry-{APICURIO_VERSION}.build"
    shutil.rmtree(work, ignore_errors=True)
    project = resources.files("callstream.local") / "apicurio"
    with resources.as_file(project) as source:
        shutil.copytree(source, work)
    log = work / "mvn.log"
    with log.open("w") as handle:
        result = subprocess.run([mvn, "-B", "package", *_BUILD_FLAGS], cwd=work, stdout=handle,
                                stderr=subprocess.STDOUT, check=False)
    runner = next(iter((work / "target").glob("*-runner.jar")), None) if result.returncode == 0 else None
    if runner is None:
        raise LocalKafkaError(f"Maven could not build Apicurio Registry {APICURIO_VERSION} (exit {result.returncode})",
                              f"read {log}; Maven Central must be reachable")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.move(str(runner), target / "runner.jar")
    shutil.move(str(work / "target" / "lib"), target / "lib")
    marker.write_text(APICURIO_VERSION)
    shutil.rmtree(work, ignore_errors=True)
    return target


@dataclass
class RegistryState:
    pid: int
    port: int

    @property
    def url(self) -> str:
        """The Confluent-compatible API's URL: what ``schema_registry_url`` should be."""
        return f"http://127.0.0.1:{self.port}{CCOMPAT_PATH}"


class SchemaRegistryServer:
    """The registry of one state dir: ``<state>/registry/`` holds its PID file and log."""

    def __init__(self, state_dir: Path) -> None:
        self.home = Path(state_dir) / "registry"

    @property
    def log_path(self) -> Path:
        return self.home / "registry.log"

    @property
    def state_path(self) -> Path:
        return self.home / "registry.json"

    def state(self) -> RegistryState | None:
        """The running registry, or ``None``."""
        if not self.state_path.exists():
            return None
        state = RegistryState(**json.loads(self.state_path.read_text()))
        return state if pid_alive(state.pid) else None

    def start(self, *, port: int | None = None, timeout_s: float = 90.0) -> tuple[RegistryState, bool]:
        """Start the registry (or find it running) and wait until its API answers; the state
        and whether it was started now. Builds the registry first if this machine never did."""
        running = self.state()
        if running is not None:
            return running, False
        runtime = registry_runtime()
        self.home.mkdir(parents=True, exist_ok=True)
        state = RegistryState(0, port or free_ports(1)[0])
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                [maven.java_executable(), "-Xmx256m", "-Dquarkus.profile=prod", "-Dquarkus.http.host=127.0.0.1",
                 f"-Dquarkus.http.port={state.port}", "-jar", str(runtime / "runner.jar")],
                cwd=self.home, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        state.pid = process.pid
        self.state_path.write_text(json.dumps(asdict(state)))
        try:
            wait_until_ready(process, lambda: _answers(state.url + "/subjects"), what="the schema registry",
                             log_path=self.log_path, timeout_s=timeout_s)
        except LocalKafkaError:
            self.state_path.unlink(missing_ok=True)
            raise
        return state, True

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """Stop the registry by PID; the PID stopped, if one ran."""
        if not self.state_path.exists():
            return None
        pid = RegistryState(**json.loads(self.state_path.read_text())).pid
        self.state_path.unlink()
        if pid_alive(pid):
            signal_and_wait([pid], signal.SIGTERM, timeout_s)
            return pid
        return None


def _answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=3) as answer:  # noqa: S310 (loopback http)
        return bool(answer.status == 200)
