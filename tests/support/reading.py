"""Reading topics to their partitions' ends as they are now: what a test wants when it asks
for "everything there is", without a group join and without waiting out a fixed time."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition


def read_partitions_to_end(conf: Mapping[str, str], starts: Mapping[tuple[str, int], int], *,
                           committed_only: bool = True, timeout_s: float = 30.0) -> list[Message]:
    """Every record of each ``(topic, partition)`` from its start offset up to the
    partition's end (its last stable offset with ``committed_only``); fails the test when a
    partition does not get there within ``timeout_s``."""
    consumer = Consumer({**conf, "group.id": f"reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                         "enable.partition.eof": True,
                         "isolation.level": "read_committed" if committed_only else "read_uncommitted"})
    consumer.assign([TopicPartition(t, p, offset) for (t, p), offset in starts.items()])
    pending, messages, deadline = set(starts), [], time.monotonic() + timeout_s
    try:
        while pending:
            assert time.monotonic() < deadline, f"partitions {sorted(pending)} did not reach their end in {timeout_s:.0f} s"
            # a batch returns when full or when its wait is up: a short wait, not a batch's worth
            for message in consumer.consume(1000, 0.05):
                error = message.error()
                if error is None:
                    messages.append(message)
                elif error.code() == KafkaError._PARTITION_EOF:
                    pending.discard((message.topic(), message.partition()))
    finally:
        consumer.close()
    return messages


def read_to_end(conf: Mapping[str, str], *topics: str, committed_only: bool = True,
                timeout_s: float = 30.0) -> list[Message]:
    """Every record of ``topics`` from the beginning to each partition's end."""
    probe = Consumer({**conf, "group.id": f"reader-{uuid.uuid4().hex[:8]}"})
    try:
        metadata = probe.list_topics(timeout=10).topics
    finally:
        probe.close()
    starts = {(t, p): OFFSET_BEGINNING for t in topics for p in metadata[t].partitions}
    return read_partitions_to_end(conf, starts, committed_only=committed_only, timeout_s=timeout_s)
