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

import shutil
import subprocess
from importlib import resources
from pathlib import Path

from callstream.errors import LocalKafkaError
from callstream.local import maven
from callstream.local.broker import free_ports
from callstream.local.service import LocalService, ServiceState

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


class SchemaRegistryServer(LocalService):
    """The registry of one state dir: ``<state>/registry/`` holds its PID file and log."""

    directory = "registry"
    what = "the schema registry"

    @staticmethod
    def api_url(state: ServiceState) -> str:
        """The Confluent-compatible API's URL: what ``schema_registry_url`` should be."""
        return state.url + CCOMPAT_PATH

    def start(self, *, port: int | None = None, timeout_s: float = 90.0) -> tuple[ServiceState, bool]:
        """Start the registry (or find it running) and wait until its API answers; the state
        and whether it was started now. Builds the registry first if this machine never did."""
        running = self.state()
        if running is not None:
            return running, False
        runtime = registry_runtime()
        port = port or free_ports(1)[0]
        argv = [maven.java_executable(), "-Xmx256m", "-Dquarkus.profile=prod", "-Dquarkus.http.host=127.0.0.1",
                f"-Dquarkus.http.port={port}", "-jar", str(runtime / "runner.jar")]
        return self.launch(argv, port, CCOMPAT_PATH + "/subjects", timeout_s=timeout_s), True
