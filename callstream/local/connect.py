"""Kafka Connect: a real distributed-mode worker for the connectors contact centers already run.

Kafka's own ``connect-runtime`` and ``connect-file`` (from Maven Central, like the broker)
run as one worker process callstream starts and tracks by PID. The worker connects as the
catalog's ``connect`` principal: it reads what the catalog lets it read (the redacted
transcript, for a sink), writes what it may write (CRM updates, for a source), and keeps
its own state in ``callstream-connect.*`` topics and ``callstream-connect*`` groups, which
the ACL compiler grants it. Its settings (passwords included) sit in an owner-only file;
its REST API listens on loopback only (Connect's REST API has no authentication here).

Sink connectors get their group as ``callstream-connect-<connector>`` (Connect's default
``connect-<connector>`` is outside the principal's groups), so the observer, ``status`` and
the dashboard show their lag like any other callstream group.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from callstream.errors import LocalKafkaError
from callstream.governance.acls import CONNECT_TOPIC_PREFIX
from callstream.local import maven
from callstream.local.broker import LOG4J2, LOGGING_ARTIFACTS, free_ports
from callstream.local.credentials import java_properties, write_private
from callstream.local.service import LocalService, ServiceState

#: the newest Connect release whose file and mirror plugins are on Maven Central (4.4.0's are
#: not); Connect 4.3 talks to 4.4 brokers like any client
CONNECT_VERSION = "4.3.1"
CONNECT_ARTIFACTS = [maven.Artifact("org.apache.kafka", "connect-runtime", CONNECT_VERSION),
                     maven.Artifact("org.apache.kafka", "connect-file", CONNECT_VERSION), *LOGGING_ARTIFACTS]
WORKER_GROUP = "callstream-connect"
_CLIENTS = ("producer.", "consumer.", "admin.")


def connect_libs() -> Path:
    return maven.resolve(f"connect-{CONNECT_VERSION}", CONNECT_ARTIFACTS) / "lib"


def sink_group(connector: str) -> str:
    return f"{WORKER_GROUP}-{connector}"


def worker_properties(client: dict[str, str], rest_port: int, replication: int) -> str:
    """The distributed worker's settings; ``client`` is a librdkafka config of the ``connect``
    principal (its Java form goes to the worker and to every producer, consumer and admin of
    its connectors, which Connect configures separately)."""
    java = java_properties(client)
    lines = [f"{k} = {v}" for k, v in sorted(java.items())]
    lines += [f"{prefix}{k} = {v}" for prefix in _CLIENTS for k, v in sorted(java.items()) if k != "bootstrap.servers"]
    lines += [
        f"group.id = {WORKER_GROUP}",
        *(f"{kind}.storage.topic = {CONNECT_TOPIC_PREFIX}{kind}s" for kind in ("config", "offset", "status")),
        *(f"{kind}.storage.replication.factor = {replication}" for kind in ("config", "offset", "status")),
        "key.converter = org.apache.kafka.connect.storage.StringConverter",
        "value.converter = org.apache.kafka.connect.storage.StringConverter",
        f"listeners = http://127.0.0.1:{rest_port}",
        # lets a sink take its group under the principal's prefix (consumer.override.group.id)
        "connector.client.config.override.policy = All",
        "offset.flush.interval.ms = 1000",
        # sinks see what callstream's exactly-once processors (quality, analytics) committed, never an aborted batch
        "consumer.isolation.level = read_committed",
    ]
    return "\n".join(lines) + "\n"


class ConnectWorker(LocalService):
    """The worker of one state dir: ``<state>/connect/`` holds its settings, log and PID."""

    directory = "connect"
    what = "the Kafka Connect worker"

    def start(self, client: dict[str, str], *, replication: int = 1, rest_port: int | None = None,
              timeout_s: float = 120.0) -> tuple[ServiceState, bool]:
        """Start the worker (or find it running) and wait until its REST API answers; the state
        and whether it was started now."""
        running = self.state()
        if running is not None:
            return running, False
        self.home.mkdir(parents=True, exist_ok=True)
        port = rest_port or free_ports(1)[0]
        config = self.home / "worker.properties"
        write_private(config, worker_properties(client, port, replication))  # holds the principal's password
        (self.home / "log4j2.properties").write_text(LOG4J2)
        argv = [maven.java_executable(), "-Xmx384m", f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
                "-cp", f"{connect_libs()}/*", "org.apache.kafka.connect.cli.ConnectDistributed", str(config)]
        return self.launch(argv, port, "/connectors", timeout_s=timeout_s), True

    def request(self, method: str, path: str, body: dict | None = None, timeout_s: float = 30.0) -> object:
        """One call to the worker's REST API; its JSON answer."""
        state = self.state()
        if state is None:
            raise LocalKafkaError("no Kafka Connect worker is running for this state dir",
                                  "run `callstream connect start`")
        data = None if body is None else json.dumps(body).encode()
        call = urllib.request.Request(state.url + path, data=data, method=method,
                                      headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(call, timeout=timeout_s) as answer:
                text = answer.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise LocalKafkaError(f"Kafka Connect refused {method} {path}: HTTP {exc.code} {detail}",
                                  f"read {self.log_path}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise LocalKafkaError(f"Kafka Connect did not answer {method} {path} ({exc})",
                                  f"read {self.log_path}") from None
        return json.loads(text) if text else None

    def put_connector(self, name: str, config: dict[str, str]) -> object:
        """Create or update a connector; a sink's group is put under the principal's prefix."""
        if "topics" in config or "topics.regex" in config:
            config = {"consumer.override.group.id": sink_group(name), **config}
        return self.request("PUT", f"/connectors/{name}/config", {"name": name, **config})

    def connector_states(self) -> dict[str, dict]:
        """Every connector's state and its tasks' states."""
        answer = self.request("GET", "/connectors?expand=status")
        if not isinstance(answer, dict):
            raise LocalKafkaError(f"Kafka Connect answered the connector list with {answer!r}", f"read {self.log_path}")
        return {name: {"state": info["status"]["connector"]["state"],
                       "tasks": [t["state"] for t in info["status"]["tasks"]]} for name, info in answer.items()}
