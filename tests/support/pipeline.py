"""Every catalog topic as a uuid-named copy on the test broker, with helpers to feed and read it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Producer

from callstream.contract.catalog import load_catalog
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.events import Envelope
from support.reading import read_to_end


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

    def read_to_end(self, catalog_topic: str, timeout_s: float = 30) -> list:
        """Every committed message of a topic up to each partition's end as it is now: what
        a fixed-time read gets, without waiting it out."""
        return read_to_end(self.kafka_config, self[catalog_topic], timeout_s=timeout_s)

    def read_events(self, catalog_topic: str, until: Callable[[list], bool], **kwargs) -> list[Envelope]:
        return [decode_event(m.value(), m.headers()) for m in self.read(catalog_topic, lambda ms: until(ms), **kwargs)]
