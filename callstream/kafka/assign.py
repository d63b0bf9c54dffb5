"""Assigning partitions to a consumer without librdkafka's start-up wait."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition


def assign_known(consumer: Consumer, partitions: list[TopicPartition], timeout_s: float = 10.0) -> None:
    """``consumer.assign(partitions)`` once the client knows each topic's leaders.

    A partition assigned at a logical offset (the beginning, the end) before the client has
    its metadata looks that offset up only after librdkafka's fixed 500 ms retry, and every
    short read paid it. Raises ``KafkaException`` when the metadata cannot be read.
    """
    for topic in sorted({tp.topic for tp in partitions}):
        consumer.list_topics(topic, timeout=timeout_s)
    consumer.assign(partitions)
