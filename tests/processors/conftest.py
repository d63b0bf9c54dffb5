"""Fixtures for running real processor workers on uuid copies of the catalog topics."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from callstream.contract.catalog import load_catalog
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.events import Envelope
from callstream.process_group import ProcessGroup


class PipelineTopics:
    """Every catalog topic renamed with one uuid suffix, created on the test broker."""

    def __init__(self, kafka_config: dict[str, str], create_topic, suffix: str) -> None:
        self.kafka_config = kafka_config
        catalog = load_catalog()
        self.names = {t.name: f"{t.name}.{suffix}" for t in catalog.topics}
        for topic in catalog.topics:
            create_topic(self.names[topic.name], partitions=topic.partitions)
        self.producer = Producer({**kafka_config, "linger.ms": 5})

    def __getitem__(self, catalog_name: str) -> str:
        return self.names[catalog_name]

    @property
    def topic_map(self) -> str:
        return json.dumps(self.names)

    def produce(self, catalog_topic: str, events: list[Envelope]) -> None:
        for event in events:
            value, headers = encode_event(event)
            self.producer.produce(self[catalog_topic], value, key=event.contact_id.encode(), headers=headers)
        self.producer.flush(30)

    def produce_raw(self, catalog_topic: str, value: bytes, key: bytes = b"bad") -> None:
        self.producer.produce(self[catalog_topic], value, key=key)
        self.producer.flush(30)

    def read(self, catalog_topic: str, until: Callable[[list], bool], timeout_s: float = 60, committed_only: bool = False) -> list:
        """Messages of a topic from the start until ``until(messages)`` or the timeout."""
        consumer = Consumer({
            **self.kafka_config, "group.id": f"reader-{time.monotonic_ns()}", "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "isolation.level": "read_committed" if committed_only else "read_uncommitted",
        })
        consumer.subscribe([self[catalog_topic]])
        messages: list = []
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline and not until(messages):
                messages.extend(m for m in consumer.consume(500, 0.5) if not m.error())
        finally:
            consumer.close()
        return messages

    def read_events(self, catalog_topic: str, until: Callable[[list], bool], **kwargs) -> list[Envelope]:
        return [decode_event(m.value(), m.headers()) for m in self.read(catalog_topic, lambda ms: until(ms), **kwargs)]


@pytest.fixture
def pipeline(kafka_config, create_topic, unique_name) -> PipelineTopics:
    return PipelineTopics(kafka_config, create_topic, unique_name("p").split("-")[-1])


@pytest.fixture
def workers(kafka_bootstrap: str, tmp_path: Path, pipeline: PipelineTopics) -> Iterator[Callable[..., object]]:
    """``workers("redactor")`` starts a real worker process on the pipeline's topics."""
    env = {**os.environ, "CALLSTREAM_BOOTSTRAP_SERVERS": kafka_bootstrap, "CALLSTREAM_STATE_DIR": str(tmp_path / "state")}
    group = ProcessGroup(tmp_path / "logs", env)
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
            if child.log_path.exists() and child.process.returncode not in (0, -15, -9, None):
                sys.stderr.write(child.log_path.read_text()[-3000:])
