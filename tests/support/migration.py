"""Producing and reading test records on either cluster of a migration test."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from callstream.migrate.links import Link
from support.reading import read_to_end


def create(link: Link, topic: str, partitions: int = 3) -> None:
    admin = link.admin()
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    futures[topic].result(timeout=30)


def produce(link: Link, topic: str, count: int, *, start: int = 0, transactional: bool = False, abort_every: int = 0) -> list[str]:
    """``count`` keyed records with a header; with ``transactional``, batches of 50 in
    transactions, every ``abort_every``-th aborted (its records are not returned)."""
    conf = {**link.config, "linger.ms": "5", "partitioner": "murmur2_random"}
    if transactional:
        conf["transactional.id"] = f"test-{uuid.uuid4().hex[:8]}"
    producer = Producer(conf)
    kept: list[str] = []
    if transactional:
        producer.init_transactions(30)
    for batch_start in range(start, start + count, 50):
        batch = [f"r{i}" for i in range(batch_start, min(batch_start + 50, start + count))]
        abort = transactional and abort_every and (batch_start // 50) % abort_every == abort_every - 1
        if transactional:
            producer.begin_transaction()
        for value in batch:
            producer.produce(topic, value.encode(), key=f"k{hash(value) % 17}".encode(),
                             headers=[("trace", value.encode())], timestamp=int(time.time() * 1000))
        if transactional:
            producer.flush(30)
            (producer.abort_transaction if abort else producer.commit_transaction)(30)
        if not abort:
            kept += batch
    producer.flush(30)
    return kept


def read_all(link: Link, topic: str, timeout_s: float = 30.0) -> list[tuple[int, int, str, dict[str, bytes]]]:
    """``(partition, offset, value, headers)`` of every committed record of ``topic``."""
    return [(m.partition(), m.offset(), m.value().decode(), dict(m.headers() or []))
            for m in read_to_end(link.config, topic, timeout_s=timeout_s)]
