"""Shared fixtures: one real local Kafka broker per test session, uuid names per test.

Set CALLSTREAM_TEST_BOOTSTRAP=host:port to run the Kafka tests against an existing
cluster instead of starting one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from callstream.kafka import local


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real Kafka 4.x broker started once for the session."""
    external = os.environ.get("CALLSTREAM_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    state_dir = tmp_path_factory.mktemp("kafka-state")
    cluster, _ = local.start(state_dir, 1, ports=local.free_ports(2), timeout_s=120)
    try:
        yield cluster.bootstrap_servers
    finally:
        local.stop(state_dir)


@pytest.fixture(scope="session")
def kafka_config(kafka_bootstrap: str) -> dict[str, str]:
    return {"bootstrap.servers": kafka_bootstrap}


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
