"""The topic catalog: the shipped file is valid and complete; invalid ones fail precisely."""

import copy
from pathlib import Path

import pytest
import yaml

from callstream.contract.catalog import CLASSIFICATIONS, default_catalog_path, load_catalog, parse_catalog
from callstream.contract.events import EVENT_TYPES
from callstream.errors import CatalogError

DOCUMENT = yaml.safe_load(default_catalog_path().read_text())


def test_shipped_catalog_is_valid_and_owns_every_event_type() -> None:
    catalog = load_catalog()
    assert set(catalog.topic_of_event) == set(EVENT_TYPES)
    for topic in catalog.topics:
        assert topic.owner and topic.description and topic.classification in CLASSIFICATIONS
        assert topic.producers and topic.consumers
    assert catalog.topic("callstream.transcript.raw").classification == "restricted"
    assert catalog.topic_for("transcript.redacted") == "callstream.transcript.redacted"


def test_readable_by_is_what_a_principal_may_consume_and_unreadable_by_the_rest() -> None:
    catalog = load_catalog()
    readable = catalog.readable_by("dashboard")
    assert readable == {t.name for t in catalog.topics if "dashboard" in t.consumers}
    assert "callstream.transcript.redacted" in readable and "callstream.transcript.raw" not in readable
    assert catalog.readable_by("nobody") == frozenset()
    unreadable = catalog.unreadable_by("dashboard")
    assert "callstream.transcript.raw" in unreadable and not unreadable & readable
    assert unreadable | readable == {t.name for t in catalog.topics}
    assert catalog.unreadable_by("nobody") == {t.name for t in catalog.topics}


def test_restricted_data_is_archived_for_less_time_than_redacted() -> None:
    catalog = load_catalog()
    assert catalog.classifications["restricted"].archive_retention_days < catalog.classifications["confidential"].archive_retention_days


def test_environment_follows_broker_count() -> None:
    catalog = load_catalog()
    assert catalog.environment_for_brokers(1)[1].replication_factor == 1
    name, env = catalog.environment_for_brokers(3)
    assert (env.replication_factor, env.min_insync_replicas) == (3, 2)
    with pytest.raises(CatalogError, match="replication factor 3 is above the 1 broker"):
        catalog.check_fits(env, 1)


def _broken(mutate) -> dict:
    document = copy.deepcopy(DOCUMENT)
    mutate(document)
    return document


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["topics"][2].update(classification="secret"), r"topics\[2\] \(callstream.transcript.redacted\): classification"),
        (lambda d: d["topics"].append(copy.deepcopy(d["topics"][0])), r"duplicate topic, first declared at topics\[0\]"),
        (lambda d: d["topics"][1].update(partitions=0), r"topics\[1\] \(callstream.transcript.raw\): partitions"),
        (lambda d: d["topics"][0].update(retention="three days"), r"retention"),
        (lambda d: d["topics"][0]["event_types"].append("call.exploded"), r"unknown event type"),
        (lambda d: d["topics"][0].pop("owner"), r"topics\[0\] \(callstream.call.lifecycle\): owner"),
        (lambda d: d["topics"][3]["event_types"].append("call.ended"), r"already carried by callstream.call.lifecycle"),
    ],
)
def test_invalid_catalog_names_file_entry_and_reason(mutate, expected: str) -> None:
    with pytest.raises(CatalogError, match=expected) as info:
        parse_catalog(_broken(mutate), "catalog/topics.yaml")
    assert str(info.value).startswith("catalog/topics.yaml: ")


def test_replication_above_brokers_named_per_topic() -> None:
    document = _broken(lambda d: d["topics"][4].update(replication_factor=3))
    catalog = parse_catalog(document, "c.yaml")
    with pytest.raises(CatalogError, match="topic callstream.crm.updates: replication factor 3"):
        catalog.check_fits(catalog.environment("single-broker"), 1)


def test_unreadable_catalog_file(tmp_path: Path) -> None:
    bad = tmp_path / "topics.yaml"
    bad.write_text("topics: [\n")
    with pytest.raises(CatalogError, match="not valid YAML"):
        load_catalog(bad)


def test_window_results_are_stamped_by_the_broker_and_the_rest_by_their_producers() -> None:
    catalog = load_catalog()
    env = catalog.environment("single-broker")
    stamps = {t.name: t.kafka_configs(env)["message.timestamp.type"] for t in catalog.topics}
    assert stamps.pop("callstream.analytics.windows") == "LogAppendTime"
    assert set(stamps.values()) == {"CreateTime"}


def test_every_shipped_retention_names_its_cost_compliance_and_replay_owners() -> None:
    for name, policy in load_catalog().classifications.items():
        assert policy.cost_owner and policy.compliance_owner and policy.replay_owner, name
        assert policy.owners_line().count("?") == 0
    bare = parse_catalog({**DOCUMENT, "classifications": {c: {"archive_retention_days": 30} for c in CLASSIFICATIONS}}, "t")
    assert bare.classifications["public"].owners_line() == "cost ?, compliance ?, replay ?"
    with pytest.raises(CatalogError, match="cost_owner"):
        parse_catalog({**DOCUMENT, "classifications": {**DOCUMENT["classifications"], "public": {
            "archive_retention_days": 30, "cost_owner": ""}}}, "t")
