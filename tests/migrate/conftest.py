"""A second real Kafka cluster (the migration's target) beside the session's broker."""

from __future__ import annotations

import json

import pytest

from callstream.local import broker
from callstream.local.credentials import credentials_path
from callstream.migrate.links import Link, cluster_id_of


@pytest.fixture(scope="session")
def target_cluster(second_cluster: broker.LocalCluster) -> broker.LocalCluster:
    return second_cluster


@pytest.fixture(scope="session")
def source_link(session_cluster, kafka_config: dict[str, str]) -> Link:
    if session_cluster is None:
        pytest.fail("the migration tests need the local session broker (unset CALLSTREAM_TEST_BOOTSTRAP)")
    return Link("current", kafka_config, cluster_id_of(kafka_config, "current"))


@pytest.fixture(scope="session")
def target_link(target_cluster: broker.LocalCluster) -> Link:
    conf = target_cluster.client_config()
    return Link("b", conf, cluster_id_of(conf, "b"))


@pytest.fixture(scope="session")
def target_settings_env(target_cluster: broker.LocalCluster) -> dict[str, str]:
    """``CALLSTREAM_CLUSTERS`` naming the target cluster ``b`` for a child process."""
    return {"CALLSTREAM_CLUSTERS": json.dumps({"b": {
        "bootstrap_servers": target_cluster.bootstrap_servers, "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512", "credentials_file": str(credentials_path(target_cluster.state_dir))}})}
