"""Shared fixtures: one real local Kafka broker per test session, uuid names per test.

The session's broker is secured as `callstream kafka start` makes it: SASL/SCRAM, the
authorizer on, the catalog's principals and ACLs applied. Test clients connect as its admin
(``kafka_config``); worker and other child processes as their own principals
(``child_env``), so every Kafka test exercises the ACLs. Set CALLSTREAM_TEST_BOOTSTRAP=
host:port to run the Kafka tests against an existing plaintext cluster instead.

Markers come from fixtures, not from hands: a test that uses ``kafka_installation`` (which
every broker fixture needs) is marked ``kafka``, one that uses ``s3_server`` is marked
``s3``; ``make test-unit`` (``-m "not kafka and not s3"``) therefore needs neither.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from support.pipeline import PipelineTopics

from callstream.contract.catalog import load_catalog
from callstream.governance.acls import add as add_grants
from callstream.governance.acls import grant_catalog, topic_grants
from callstream.local import broker
from callstream.local.credentials import credentials_path
from callstream.local.processes import ProcessGroup
from callstream.settings import child_process_environment, load_settings

#: fixture -> the marker every test using it (directly or through other fixtures) gets
MARKER_OF_FIXTURE = {"kafka_installation": "kafka", "s3_server": "s3"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in MARKER_OF_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


def session_kafka_version() -> str:
    """The release of the session's broker: CALLSTREAM_LOCAL_KAFKA_VERSION (as for `callstream
    kafka start`) runs the Kafka tests on another backbone release, e.g. 3.9.2."""
    return os.environ.get("CALLSTREAM_LOCAL_KAFKA_VERSION", broker.KAFKA_VERSION)


def session_brokers() -> int:
    """Nodes of the session's cluster: CALLSTREAM_TEST_BROKERS=3 runs the Kafka tests on a
    secured 3-voter quorum (scripts/backbone.py kafka-3-nodes --suite)."""
    value = os.environ.get("CALLSTREAM_TEST_BROKERS", "1")
    if value not in ("1", "3"):
        raise pytest.UsageError(f"CALLSTREAM_TEST_BROKERS must be 1 or 3, got {value!r}")
    return int(value)


@pytest.fixture(scope="session")
def kafka_installation() -> Path:
    """The Apache Kafka jars (resolved from Maven Central once, then cached): what every
    test that starts or talks to a broker needs."""
    return broker.kafka_libs(session_kafka_version())


@pytest.fixture(scope="session")
def session_cluster(kafka_installation: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[broker.LocalCluster | None]:
    """A real, secured Kafka 4.x broker started once for the session (``None`` with
    CALLSTREAM_TEST_BOOTSTRAP: an external cluster)."""
    if os.environ.get("CALLSTREAM_TEST_BOOTSTRAP"):
        yield None
        return
    state_dir = tmp_path_factory.mktemp("kafka-state")
    nodes = session_brokers()
    cluster, _ = broker.start(state_dir, nodes, ports=broker.free_ports(2 * nodes), timeout_s=180,
                              version=session_kafka_version())
    try:
        grant_catalog(cluster.client_config(), load_catalog(), state_dir=state_dir)
        yield cluster
    finally:
        broker.stop(state_dir)


@pytest.fixture(scope="session")
def second_cluster(kafka_installation: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[broker.LocalCluster]:
    """Another real, secured broker, started when a test first needs it: a migration's target,
    a cluster no other test created topics on yet."""
    state_dir = tmp_path_factory.mktemp("kafka-second")
    cluster, _ = broker.start(state_dir, 1, ports=broker.free_ports(2), timeout_s=120)
    try:
        yield cluster
    finally:
        broker.stop(state_dir)


@pytest.fixture(scope="session")
def kafka_bootstrap(session_cluster: broker.LocalCluster | None) -> str:
    """Bootstrap servers of the session's broker."""
    return session_cluster.bootstrap_servers if session_cluster else os.environ["CALLSTREAM_TEST_BOOTSTRAP"]


@pytest.fixture(scope="session")
def kafka_config(session_cluster: broker.LocalCluster | None, kafka_bootstrap: str) -> dict[str, str]:
    """Client settings of the session's broker as its admin (a super user)."""
    return session_cluster.client_config() if session_cluster else {"bootstrap.servers": kafka_bootstrap}


@pytest.fixture(scope="session")
def kafka_settings_env(session_cluster: broker.LocalCluster | None) -> dict[str, str]:
    """``CALLSTREAM_*`` variables that point a command at the session's broker, each
    component connecting as its own principal (the cluster's credentials file)."""
    if session_cluster is None:
        return {"CALLSTREAM_BOOTSTRAP_SERVERS": os.environ["CALLSTREAM_TEST_BOOTSTRAP"]}
    return {"CALLSTREAM_BOOTSTRAP_SERVERS": session_cluster.bootstrap_servers,
            "CALLSTREAM_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "CALLSTREAM_SASL_MECHANISM": "SCRAM-SHA-512",
            "CALLSTREAM_CREDENTIALS_FILE": str(credentials_path(session_cluster.state_dir))}


@pytest.fixture
def session_settings(kafka_settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process ``callstream`` commands (``cli.main``) reach the session's broker."""
    for name in [n for n in os.environ if n.startswith("CALLSTREAM_")]:
        monkeypatch.delenv(name)
    for name, value in kafka_settings_env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def cli_env(kafka_settings_env: dict[str, str]) -> dict[str, str]:
    """The environment of a ``callstream`` command run against the session's broker."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CALLSTREAM_")} | kafka_settings_env


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_name("orders")`` -> ``"orders-<test>-<uuid>"``: isolates topics and groups per test."""
    test = request.node.name.replace("[", "-").replace("]", "")[:40]

    def make(prefix: str) -> str:
        return f"{prefix}-{test}-{uuid.uuid4().hex[:10]}"

    return make


@pytest.fixture
def create_topic(kafka_config: dict[str, str]) -> Callable[..., str]:
    """``create_topic(name, partitions=3)`` creates a topic and waits until it exists."""
    admin = AdminClient(kafka_config)

    def create(name: str, partitions: int = 3, config: dict[str, str] | None = None) -> str:
        futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})])
        futures[name].result(timeout=30)
        return name

    return create


@pytest.fixture
def child_env(kafka_settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict[str, str]]:
    """``child_env(state_dir, **extra)``: the environment callstream gives its children
    (``child_process_environment``), for a child on the test broker as its own principal."""

    def make(state_dir: Path, **extra: str) -> dict[str, str]:
        with monkeypatch.context() as patched:
            for name in [n for n in os.environ if n.startswith("CALLSTREAM_")]:
                patched.delenv(name)
            for name, value in kafka_settings_env.items():
                patched.setenv(name, value)
            settings = load_settings(None, state_dir=state_dir)
        return child_process_environment(settings) | extra

    return make


@pytest.fixture
def grant(kafka_config: dict[str, str], session_cluster) -> Callable[..., None]:
    """``grant(service, reads=[...], writes=[...], groups=[...])``: ACLs for topics and
    groups outside the catalog (a test's own), as the catalog would grant them."""

    def allow(service: str, *, reads: tuple[str, ...] = (), writes: tuple[str, ...] = (),
              groups: tuple[str, ...] = ()) -> None:
        if session_cluster is None:
            return
        add_grants(kafka_config, topic_grants(service, reads=reads, writes=writes, groups=groups))

    return allow


@pytest.fixture
def pipeline(kafka_config, create_topic, unique_name, session_cluster) -> PipelineTopics:
    """Uuid copies of every catalog topic, granted to the catalog's principals."""
    topics = PipelineTopics(kafka_config, create_topic, unique_name("p").split("-")[-1])
    if session_cluster is not None:
        grant_catalog(kafka_config, load_catalog(), names=topics.names, delete_stale=False)
    return topics


@pytest.fixture
def worker_metrics_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Workers started after this fixture write their metrics here (prometheus multiprocess)."""
    directory = tmp_path / "worker-metrics"
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    return directory


@pytest.fixture
def workers(child_env, tmp_path: Path, pipeline: PipelineTopics) -> Iterator[Callable[..., object]]:
    """``workers("redactor")`` starts a real worker process on the pipeline's topics."""
    group = ProcessGroup(tmp_path / "logs", child_env(tmp_path / "state"))
    group_suffix = pipeline["callstream.deadletter"].rsplit(".", 1)[-1]

    def spawn(processor: str, instance: str = "0", *worker_args: str):
        return group.spawn(
            f"{processor}-{instance}", "callstream.processors.worker", processor,
            "--instance", instance, "--group", f"callstream-{processor}-{group_suffix}", "--topic-map", pipeline.topic_map,
            *worker_args,
        )

    spawn.group = group  # type: ignore[attr-defined]
    try:
        yield spawn
    finally:
        group.stop_all()
        for child in group.children.values():
            if child.log_path.exists() and child.returncode not in (0, -15, -9, None):
                sys.stderr.write(child.log_path.read_text()[-3000:])


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def eventually() -> Callable[..., object]:
    """``eventually(check)``: see ``wait_for``."""
    return wait_for


def wait_for(check: Callable[[], object], timeout_s: float = 30.0, interval_s: float = 0.25):
    """Call ``check`` until it returns a truthy value (returned) or the time runs out
    (the last value is returned). Kafka metadata and configs reach every broker a little
    after the change, so a test reading right after a change must allow for that."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)
