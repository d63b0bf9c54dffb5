"""`callstream compat` against the test broker (Apache Kafka 4.4, secured): every behaviour
callstream depends on passes; the probes clean up after themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from callstream.kafka.compat import PROBES, run_probes


def test_every_probe_but_compaction_passes_on_apache_kafka(kafka_config) -> None:
    areas = {area for area, _, _ in PROBES} - {"compaction"}  # the cleaner's 15 s backoff: run by the CLI test
    probes = run_probes(kafka_config, only=areas)
    assert {p.name for p in probes} == {name for area, name, _ in PROBES if area in areas}
    assert [(p.name, p.detail) for p in probes if p.status != "pass"] == []
    by_name = {p.name: p for p in probes}
    assert by_name["max message size"].measured["max_message_bytes"] > 0
    assert 0.3 <= by_name["fetch.min.bytes / fetch.wait.max.ms"].measured["waited_s"] < 2.5
    leftovers = [t for t in AdminClient(kafka_config).list_topics(timeout=10).topics if t.startswith("callstream.compat.")]
    assert leftovers == []


@pytest.fixture
def prompt_cleaner(session_cluster, kafka_config) -> Iterator[None]:
    """The session brokers' log cleaners look for work every 0.5 s instead of Kafka's 15 s
    while the test runs (a dynamic per-broker setting, removed after; librdkafka cannot
    address the cluster-wide default): the compaction probe needs two cleaner passes, ~30 s
    at the default. Other clusters keep theirs."""
    if session_cluster is None:
        yield
        return
    admin = AdminClient(kafka_config)

    def alter(operation: AlterConfigOpType) -> None:
        entry = ConfigEntry("log.cleaner.backoff.ms", "500", incremental_operation=operation)
        brokers = admin.list_topics(timeout=10).brokers
        resources = [ConfigResource(ResourceType.BROKER, str(node), incremental_configs=[entry]) for node in brokers]
        for future in admin.incremental_alter_configs(resources).values():
            future.result(timeout=30)

    alter(AlterConfigOpType.SET)
    try:
        yield
    finally:
        alter(AlterConfigOpType.DELETE)


def test_the_compat_command_reports_json_and_exits_zero(cli_env, prompt_cleaner, tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "callstream", "compat", "--area", "compaction", "--json",
                           "--report", str(tmp_path), "--label", "test broker"],
                          env=cli_env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(done.stdout)
    assert document["passed"] and document["counts"] == {"pass": 1, "fail": 0, "unsupported": 0}
    assert json.loads((tmp_path / "report.json").read_text())["label"] == "test broker"
