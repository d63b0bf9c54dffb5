"""Receipts: proof that two clusters hold the same records, partition by partition.

A receipt is the record count and a SHA-256 digest over every committed record of a
partition range, in order: key, value, headers (without the replicator's origin header and
Quix's processed-offset header, which the replicator rewrites) and the CreateTime. Two
clusters that took turns accepting writes (a cutover, a rollback, a cutover again) hold
the same sequence per partition, so their receipts over the mapped ranges are equal.
"""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from confluent_kafka import TIMESTAMP_CREATE_TIME, Consumer, KafkaError, TopicPartition

from callstream.errors import MigrationError
from callstream.migrate.links import Link
from callstream.migrate.offsets import ORIGIN_HEADER, OffsetMap
from callstream.migrate.replicator import PROCESSED_HEADER

_UNCOMPARED_HEADERS = (ORIGIN_HEADER, PROCESSED_HEADER)


@dataclass(frozen=True)
class Receipt:
    topic: str
    partition: int
    start: int
    end: int
    count: int
    digest: str


def _field(h: hashlib._Hash, value: bytes | None) -> None:
    if value is None:
        h.update(b"\xff\xff\xff\xff")
    else:
        h.update(len(value).to_bytes(4, "big"))
        h.update(value)


def receipts(link: Link, ranges: dict[tuple[str, int], tuple[int, int]], timeout_s: float = 120.0) -> dict[tuple[str, int], Receipt]:
    """Receipts of ``{(topic, partition): (start, end)}`` on ``link``'s cluster."""
    digests = {tp: hashlib.sha256() for tp in ranges}
    counts = dict.fromkeys(ranges, 0)
    consumer = Consumer({**link.config, "group.id": "callstream-migrate-receipts", "enable.auto.commit": "false",
                         "isolation.level": "read_committed", "enable.partition.eof": "true"})
    try:
        todo = {tp for tp, (start, end) in ranges.items() if end > start}
        consumer.assign([TopicPartition(t, p, ranges[(t, p)][0]) for t, p in todo])
        deadline = time.monotonic() + timeout_s
        while todo:
            if time.monotonic() > deadline:
                raise MigrationError(f"reading receipts on '{link.name}' took over {timeout_s:.0f} s "
                                     f"({len(todo)} partitions unfinished)", "check the cluster's health")
            for message in consumer.consume(5000, 0.5):
                tp = (message.topic(), message.partition())
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        todo.discard(tp)
                        continue
                    raise MigrationError(f"reading {tp[0]}/{tp[1]} on '{link.name}': {message.error()}")
                if tp not in todo:
                    continue
                if message.offset() >= ranges[tp][1]:
                    todo.discard(tp)
                    continue
                h = digests[tp]
                _field(h, message.key())
                _field(h, message.value())
                for name, value in message.headers() or ():
                    if name not in _UNCOMPARED_HEADERS:
                        _field(h, name.encode())
                        _field(h, value)
                kind, timestamp = message.timestamp()
                h.update((timestamp if kind == TIMESTAMP_CREATE_TIME else -1).to_bytes(8, "big", signed=True))
                counts[tp] += 1
                if message.offset() + 1 >= ranges[tp][1]:
                    todo.discard(tp)
    finally:
        consumer.close()
    return {tp: Receipt(tp[0], tp[1], start, end, counts[tp], digests[tp].hexdigest()[:32])
            for tp, (start, end) in ranges.items()}


def watermarks(link: Link, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
    consumer = Consumer({**link.config, "group.id": "callstream-migrate-receipts"})
    try:
        return {(t, p): consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10) for t, p in partitions}
    finally:
        consumer.close()


@dataclass(frozen=True)
class Comparison:
    source: Receipt
    target: Receipt

    @property
    def equal(self) -> bool:
        return (self.source.count, self.source.digest) == (self.target.count, self.target.digest)

    def to_json(self) -> dict:
        return {"topic": self.source.topic, "partition": self.source.partition, "equal": self.equal,
                "source": asdict(self.source), "target": asdict(self.target)}


def compare(source: Link, target: Link, offset_map: OffsetMap, partitions: list[tuple[str, int]],
            source_ranges: dict[tuple[str, int], tuple[int, int]] | None = None) -> list[Comparison]:
    """Receipts of the source's partitions (whole, or ``source_ranges`` frozen at a cutover)
    and of the target's ranges they map to; both sides are read at once."""
    source_ranges = source_ranges or watermarks(source, partitions)
    target_marks = watermarks(target, partitions)
    target_ranges = {tp: (offset_map.translate(*tp, low, target_marks[tp][0]), offset_map.translate(*tp, high, target_marks[tp][0]))
                     for tp, (low, high) in source_ranges.items()}
    with ThreadPoolExecutor(2) as pool:  # librdkafka reads without the GIL
        on_source = pool.submit(receipts, source, source_ranges)
        on_target = pool.submit(receipts, target, target_ranges)
        return [Comparison(on_source.result()[tp], on_target.result()[tp]) for tp in partitions]
