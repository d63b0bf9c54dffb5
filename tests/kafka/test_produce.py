"""Producing through a full local queue loses nothing; a refused record names its topic."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer

from callstream.errors import KafkaOperationError
from callstream.kafka.produce import produce_patiently


def test_a_full_local_queue_waits_for_deliveries_and_loses_nothing(kafka_config, create_topic, unique_name):
    topic = create_topic(unique_name("produce"), partitions=1)
    # a queue of 10 records: the 11th plain write is refused, 500 patient ones overflow it fifty times
    producer = Producer({**kafka_config, "queue.buffering.max.messages": 10, "linger.ms": 20})
    with pytest.raises(BufferError):  # what produce_patiently absorbs
        for _ in range(11):
            producer.produce(topic, b"burst")
    sent = [f"{i}".encode() for i in range(500)]
    for value in sent:
        produce_patiently(producer, topic, value, None, [("n", value)])
    assert producer.flush(30) == 0
    consumer = Consumer({**kafka_config, "group.id": unique_name("g"), "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    read: list[bytes] = []
    for _ in range(60):  # bounded: 30 s at most
        if len(read) >= 510:
            break
        read += [m.value() for m in consumer.consume(510, 0.5) if m.error() is None]
    consumer.close()
    assert read[:10] == [b"burst"] * 10
    assert read[10:] == sent  # every patient write, once, in order


def test_a_refused_record_names_its_topic_and_the_hint(kafka_config):
    producer = Producer({**kafka_config, "message.max.bytes": 1000})
    with pytest.raises(KafkaOperationError, match="cannot produce to callstream.nowhere") as refused:
        produce_patiently(producer, "callstream.nowhere", b"x" * 5000, b"k", hint="check the rehearsal topics")
    assert refused.value.hint == "check the rehearsal topics"
