"""Reading topics to their partitions' ends as they are now: what a test wants when it asks
for "everything there is", without a group join and without waiting out a fixed time. The
loop is the product's own (``callstream.migrate.scan``): committed records only, which for a
topic written without transactions is every record."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message

from callstream.migrate.links import Link
from callstream.migrate.scan import scan


def read_partitions_to_end(conf: Mapping[str, str], starts: Mapping[tuple[str, int], int], *,
                           timeout_s: float = 30.0) -> list[Message]:
    """Every committed record of each ``(topic, partition)`` from its start offset up to the
    partition's last stable offset; fails when a partition does not get there within
    ``timeout_s``."""
    link = Link("the test cluster", dict(conf), "")
    return list(scan(link, {tp: (start, None) for tp, start in starts.items()}, what="reading to the end",
                     timeout_s=timeout_s))


def read_to_end(conf: Mapping[str, str], *topics: str, timeout_s: float = 30.0) -> list[Message]:
    """Every committed record of ``topics`` from the beginning to each partition's end."""
    probe = Consumer({**conf, "group.id": f"reader-{uuid.uuid4().hex[:8]}"})
    try:
        metadata = probe.list_topics(timeout=10).topics
    finally:
        probe.close()
    return read_partitions_to_end(conf, {(t, p): OFFSET_BEGINNING for t in topics for p in metadata[t].partitions},
                                  timeout_s=timeout_s)
