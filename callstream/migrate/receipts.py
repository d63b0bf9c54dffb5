"""Receipts: proof that two clusters hold the same records, partition by partition.

A receipt is the record count and a SHA-256 digest over every committed record of a
partition range, in order: key, value, headers (without the replicator's origin header and
Quix's processed-offset header, which the replicator rewrites) and the CreateTime. Two
clusters that took turns accepting writes (a cutover, a rollback, a cutover again) hold
the same sequence per partition, so their receipts over the mapped ranges are equal.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from confluent_kafka import TIMESTAMP_CREATE_TIME

from callstream.migrate.links import Link
from callstream.migrate.offsets import ORIGIN_HEADER, OffsetMap
from callstream.migrate.replicator import PROCESSED_HEADER
from callstream.migrate.scan import scan
from callstream.observe.lag import OffsetReader

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
    bounded: dict[tuple[str, int], tuple[int, int | None]] = dict(ranges)
    for message in scan(link, bounded, what="reading receipts", timeout_s=timeout_s):
        tp = (message.topic(), message.partition())
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
    return {tp: Receipt(tp[0], tp[1], start, end, counts[tp], digests[tp].hexdigest()[:32])
            for tp, (start, end) in ranges.items()}


def watermarks(link: Link, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
    """``(log start, log end)`` of each partition, in two batched requests."""
    with OffsetReader(link.config) as reader:
        return reader.log_offsets(partitions)


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
