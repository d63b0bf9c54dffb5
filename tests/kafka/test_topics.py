"""`topics apply` is idempotent and `plan` reports drift, against the real broker."""

import copy
import time

import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from callstream.contract.catalog import default_catalog_path, parse_catalog
from callstream.kafka import topics
from callstream.observe.lag import group_lag


@pytest.fixture
def small_catalog(unique_name):
    document = yaml.safe_load(default_catalog_path().read_text())
    chosen = copy.deepcopy(document["topics"][:3])
    for topic in chosen:
        topic["name"] = unique_name(topic["name"])
    document["topics"] = chosen
    return parse_catalog(document, "test-catalog")


def test_apply_is_idempotent_and_check_reports_drift(kafka_config, small_catalog, eventually) -> None:
    env = small_catalog.environment("single-broker")
    first = topics.apply(kafka_config, small_catalog, env)
    assert [c.action for c in first] == ["create"] * 3
    assert eventually(lambda: topics.apply(kafka_config, small_catalog, env) == [])
    assert topics.plan(kafka_config, small_catalog, env) == []

    drifted = small_catalog.topics[0].name
    admin = AdminClient(kafka_config)
    resource = ConfigResource(ConfigResource.Type.TOPIC, drifted, incremental_configs=[ConfigEntry("retention.ms", "1234", incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(30)
    drift = eventually(lambda: topics.plan(kafka_config, small_catalog, env))
    assert [(c.topic, c.action) for c in drift] == [(drifted, "alter-config")]
    assert "retention.ms: 1234 -> " in drift[0].detail

    fixed = topics.apply(kafka_config, small_catalog, env)
    assert [c.action for c in fixed] == ["alter-config"]
    assert eventually(lambda: topics.plan(kafka_config, small_catalog, env) == [])


def test_partition_growth_is_applied_and_shrink_reported(kafka_config, small_catalog, eventually) -> None:
    env = small_catalog.environment("single-broker")
    topics.apply(kafka_config, small_catalog, env)
    document = small_catalog.model_dump(exclude={"source"})
    document["topics"][0]["partitions"] += 2
    document["topics"][1]["partitions"] -= 1
    changed = parse_catalog(document, "changed")
    plan = {c.topic: c for c in topics.plan(kafka_config, changed, env)}
    assert plan[changed.topics[0].name].action == "add-partitions"
    assert not plan[changed.topics[1].name].fixable
    topics.apply(kafka_config, changed, env)
    admin = AdminClient(kafka_config)
    grown = eventually(lambda: len(admin.list_topics(timeout=10).topics[changed.topics[0].name].partitions) == changed.topics[0].partitions)
    assert grown


def test_broker_stamped_topic_lags_by_its_reader_not_its_windows_age(kafka_config, unique_name, eventually) -> None:
    """A window result carries its window's time; on a topic the catalog has the broker
    stamp, lag in seconds is the time since the write, not the window's age."""
    document = yaml.safe_load(default_catalog_path().read_text())
    [windows] = [t for t in document["topics"] if t["name"] == "callstream.analytics.windows"]
    assert windows["timestamps"] == "broker"
    stamped_by = {"broker": unique_name("windows"), "producer": unique_name("windows-as-produced")}
    document["topics"] = [{**windows, "name": name, "timestamps": who, "event_types": []} for who, name in stamped_by.items()]
    catalog = parse_catalog(document, "test-catalog")
    env = catalog.environment("single-broker")
    topics.apply(kafka_config, catalog, env)
    assert eventually(lambda: topics.plan(kafka_config, catalog, env) == [])

    written_ms = int(time.time() * 1000)
    window_ms = written_ms - 600_000  # a window that closed ten minutes before its result
    producer = Producer(kafka_config)
    for name in stamped_by.values():
        producer.produce(name, b"{}", key=b"queue:billing", timestamp=window_ms)
    assert producer.flush(30) == 0
    seconds = {who: group_lag(kafka_config, unique_name("archiver"), [name]).max_lag_seconds
               for who, name in stamped_by.items()}
    assert 0 <= seconds["broker"] < 60, seconds
    assert seconds["producer"] >= 600, seconds
