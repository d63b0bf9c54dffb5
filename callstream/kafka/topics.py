"""Make a cluster's topics match the catalog, or report how they drift from it.

``plan`` compares the catalog with the cluster and lists changes; ``apply`` carries out
the ones Kafka allows (create, raise partitions, alter configs) and reports the rest
(fewer partitions, another replication factor) as drift it cannot fix in place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from callstream.contract.catalog import Catalog, Environment
from callstream.errors import KafkaOperationError


@dataclass(frozen=True)
class TopicChange:
    topic: str
    action: str  # create | alter-config | add-partitions | unfixable
    detail: str
    fixable: bool = True

    def __str__(self) -> str:
        return f"{self.action:<15} {self.topic}: {self.detail}"


def _admin(conf: dict[str, str]) -> AdminClient:
    return AdminClient(conf)


def broker_count(admin: AdminClient, timeout_s: float = 10.0) -> int:
    return len(admin.list_topics(timeout=timeout_s).brokers)


def _kafka_call(what: str, future, timeout_s: float = 30.0):
    try:
        return future.result(timeout=timeout_s)
    except KafkaException as exc:
        error = exc.args[0]
        raise KafkaOperationError(f"{what} failed: {error.str()}", "check the cluster and the catalog", code=error.name()) from None


def plan(conf: dict[str, str], catalog: Catalog, environment: Environment) -> list[TopicChange]:
    """What would have to change on the cluster for it to match the catalog."""
    admin = _admin(conf)
    metadata = admin.list_topics(timeout=15)
    catalog.check_fits(environment, len(metadata.brokers))
    changes: list[TopicChange] = []
    existing = [t for t in catalog.topics if t.name in metadata.topics]
    for topic in catalog.topics:
        if topic.name not in metadata.topics:
            changes.append(TopicChange(
                topic.name, "create",
                f"partitions={topic.partitions} replication={topic.replication_for(environment)} "
                + " ".join(f"{k}={v}" for k, v in topic.kafka_configs(environment).items()),
            ))
            continue
        live = metadata.topics[topic.name]
        count = len(live.partitions)
        if count < topic.partitions:
            changes.append(TopicChange(topic.name, "add-partitions", f"{count} -> {topic.partitions}"))
        elif count > topic.partitions:
            changes.append(TopicChange(topic.name, "unfixable", f"has {count} partitions, catalog says {topic.partitions} (Kafka cannot remove partitions)", fixable=False))
        replicas = {len(p.replicas) for p in live.partitions.values()}
        wanted = topic.replication_for(environment)
        if replicas and replicas != {wanted}:
            changes.append(TopicChange(topic.name, "unfixable", f"replication factor {sorted(replicas)} differs from {wanted} (needs a partition reassignment)", fixable=False))
    if existing:
        resources = [ConfigResource(ConfigResource.Type.TOPIC, t.name) for t in existing]
        described = admin.describe_configs(resources)
        for topic, resource in zip(existing, resources, strict=False):
            live_configs = _kafka_call(f"describing configs of {topic.name}", described[resource])
            for key, wanted_value in topic.kafka_configs(environment).items():
                live_value = live_configs[key].value if key in live_configs else None
                if live_value != wanted_value:
                    changes.append(TopicChange(topic.name, "alter-config", f"{key}: {live_value} -> {wanted_value}"))
    return changes


def apply(conf: dict[str, str], catalog: Catalog, environment: Environment) -> list[TopicChange]:
    """Carry out the fixable changes; returns every change found (fixable or not)."""
    changes = plan(conf, catalog, environment)
    admin = _admin(conf)
    creates = [catalog.topic(c.topic) for c in changes if c.action == "create"]
    if creates:
        futures = admin.create_topics([
            NewTopic(t.name, num_partitions=t.partitions, replication_factor=t.replication_for(environment), config=t.kafka_configs(environment))
            for t in creates
        ], operation_timeout=30)
        for name, future in futures.items():
            try:
                future.result(timeout=40)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent apply won the race
                    raise KafkaOperationError(f"creating topic {name} failed: {exc.args[0].str()}", code=exc.args[0].name()) from None
    grows = [catalog.topic(c.topic) for c in changes if c.action == "add-partitions"]
    if grows:
        for name, future in admin.create_partitions([NewPartitions(t.name, t.partitions) for t in grows]).items():
            _kafka_call(f"adding partitions to {name}", future)
    altered = sorted({c.topic for c in changes if c.action == "alter-config"})
    if altered:
        resources = []
        for name in altered:
            entries = [
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in catalog.topic(name).kafka_configs(environment).items()
            ]
            resources.append(ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries))
        for resource, future in admin.incremental_alter_configs(resources).items():
            _kafka_call(f"altering configs of {resource.name}", future)
    if any(c.fixable for c in changes):
        _wait_until_visible(conf, catalog, environment)
    return changes


def _wait_until_visible(conf: dict[str, str], catalog: Catalog, environment: Environment, timeout_s: float = 20.0) -> None:
    """Metadata and configs reach every broker a moment after a change: return once the
    cluster shows it, so an `apply` followed by a `check` agrees."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not [c for c in plan(conf, catalog, environment) if c.fixable]:
            return
        time.sleep(0.25)


def delete_topics(conf: dict[str, str], names: list[str]) -> None:
    if not names:
        return
    admin = _admin(conf)  # keep a reference: a collected client cancels its futures
    for name, future in admin.delete_topics(names, operation_timeout=30).items():
        try:
            future.result(timeout=40)
        except KafkaException as exc:
            if exc.args[0].name() != "UNKNOWN_TOPIC_OR_PART":
                raise KafkaOperationError(f"deleting topic {name} failed: {exc.args[0].str()}") from None
