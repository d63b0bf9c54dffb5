"""Copy topics from a source cluster to a target, partition for partition, exactly once.

Each batch is one transaction on the target holding three things: the copied records
(key, value, headers, CreateTime; an origin header ``<source cluster id>:<offset>`` added),
the offset map of those records (``callstream.migration.offsets``), and the replicator's
source positions, committed with ``sendOffsetsToTransaction`` as the offsets of the group
``callstream-migrate-<source cluster id>`` on the target. A replicator killed at any point
resumes from the last committed transaction: the records, the map and the position
commit or vanish together, and the transactional id fences a zombie. The source is read
``read_committed``, so aborted records are never copied.

Loop guard: a record whose origin header names the target came from the target (a
rollback's reverse direction replicates back); it is not copied again, and its map pair
points at the original.

Processor state: a Quix changelog record names the source-topic offset it was built at
(``__processed_tp_offsets__``); the replicator rewrites it through the map, so a processor
recovering from the target's changelog compares it with its translated committed offset.
A changelog record whose source record is not yet mapped by a committed transaction waits
in memory (in order, its partition paused past 20,000 waiting) until a later batch maps it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from callstream.errors import MigrationError
from callstream.migrate.links import Link
from callstream.migrate.offsets import MAP_TOPIC, ORIGIN_HEADER, OffsetMap, encode_runs, origin_of, runs_of
from callstream.migrate.scan import scan

logger = logging.getLogger(__name__)

PROCESSED_HEADER = "__processed_tp_offsets__"  # quixstreams.state.metadata
CHANGELOG_PREFIX = "changelog__"


class UndeliveredRecords(Exception):
    """The target did not acknowledge every record of a transaction."""


def replicator_group(source: Link) -> str:
    """The group on the target whose offsets are the replicator's positions on the source."""
    return f"callstream-migrate-{source.cluster_id}"


def transactional_id(source: Link, target: Link) -> str:
    return f"callstream-migrate-{source.cluster_id}-to-{target.cluster_id}"


@dataclass
class ReplicationStats:
    copied: int = 0
    #: records that came from the target (loop guard)
    looped: int = 0
    #: changelog records held back until their source record is mapped
    deferred: int = 0
    #: changelog records naming a topic outside the replicated set (header left as it was)
    untranslated_state: int = 0
    transactions: int = 0
    per_partition: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def committed(consumer: Consumer, partitions: list[TopicPartition], timeout_s: float = 60.0) -> list[TopicPartition]:
    """``consumer.committed`` that waits out a coordinator still loading or moving (a fresh
    or restarted cluster answers NOT_COORDINATOR for a while)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return consumer.committed(partitions, timeout=30)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            retriable = error is not None and (error.retriable() or error.code() in (
                KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE))
            if not retriable or time.monotonic() > deadline:
                raise MigrationError(f"reading committed offsets failed: {error}", "check the cluster's health") from None
            time.sleep(0.5)


def read_offset_map(target: Link, source_id: str, timeout_s: float = 30.0) -> OffsetMap:
    """The committed map of the direction ``source_id`` -> ``target``, read whole."""
    offset_map = OffsetMap(source_id)
    admin = target.admin()
    topic = admin.list_topics(MAP_TOPIC, timeout=10).topics[MAP_TOPIC]
    if topic.error is not None:
        return offset_map
    ranges: dict[tuple[str, int], tuple[int, int | None]] = {(MAP_TOPIC, p): (OFFSET_BEGINNING, None) for p in topic.partitions}
    for message in scan(target, ranges, what=f"reading {MAP_TOPIC}", timeout_s=timeout_s):
        offset_map.absorb(message.key(), message.value())
    return offset_map


def _rewrite_processed(headers: list[tuple[str, bytes]], partition: int, offset_map: OffsetMap,
                       replicated: set[str]) -> tuple[list[tuple[str, bytes]] | None, bool]:
    """The headers with Quix's processed offsets translated: ``(headers, translated)``, or
    ``(None, _)`` when a named source record is not mapped yet."""
    out, translated = [], True
    for name, value in headers:
        if name == PROCESSED_HEADER and value not in (None, b"null"):
            processed: dict[str, int] = json.loads(value)
            rewritten = {}
            for topic, offset in processed.items():
                if topic not in replicated:
                    rewritten[topic], translated = offset, False
                    continue
                partition_map = offset_map.of(topic, partition)
                if not partition_map.covers(offset):
                    return None, False
                rewritten[topic] = partition_map.translate(offset)
            value = json.dumps(rewritten, separators=(",", ":")).encode()
        out.append((name, value))
    return out, translated


class Replicator:
    """One direction, source -> target, of the topics in ``topics``."""

    def __init__(self, source: Link, target: Link, topics: list[str], *, batch: int = 20_000) -> None:
        if source.cluster_id == target.cluster_id:
            raise MigrationError(f"'{source.name}' and '{target.name}' are the same cluster ({source.cluster_id})",
                                 "migrate between two different clusters")
        self.source, self.target, self.topics, self.batch = source, target, sorted(topics), batch
        self.stats = ReplicationStats()
        self._producer = Producer({**target.config, "transactional.id": transactional_id(source, target),
                                   "linger.ms": "5", "compression.type": "lz4", "transaction.timeout.ms": "60000"})
        opening = time.monotonic()
        # first: fence a killed predecessor and abort its open transaction, so the map and
        # the positions read next are its last committed ones
        self._producer.init_transactions(60)
        fenced = time.monotonic()
        self.offset_map = read_offset_map(target, source.cluster_id)
        mapped = time.monotonic()
        self._group = Consumer({**target.config, "group.id": replicator_group(source), "enable.auto.commit": "false"})
        self._consumer = Consumer({**source.config, "group.id": replicator_group(source),
                                   "enable.auto.commit": "false", "isolation.level": "read_committed",
                                   "fetch.wait.max.ms": "100", "queued.max.messages.kbytes": "65536"})
        self._positions: dict[tuple[str, int], int] = {}
        #: changelog records fetched but not yet copied, in order, per partition
        self._waiting: dict[tuple[str, int], deque[Message]] = defaultdict(deque)
        self._paused: set[tuple[str, int]] = set()
        self._assign()
        #: where opening took its time (a switch opens one inside its write pause)
        self.opening_s = {"transactions": fenced - opening, "offset map": mapped - fenced,
                          "positions": time.monotonic() - mapped}

    def _assign(self) -> None:
        metadata = self._consumer.list_topics(timeout=10)
        on_target = self._producer.list_topics(timeout=10).topics
        partitions = []
        for topic in self.topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                raise MigrationError(f"topic {topic} does not exist on '{self.source.name}'",
                                     "replicate topics that exist; `callstream migrate plan` lists them")
            there = on_target.get(topic)
            if there is None or there.error is not None or len(there.partitions) != len(info.partitions):
                raise MigrationError(f"topic {topic} is missing on '{self.target.name}' or has other partitions",
                                     "run `callstream migrate start`, which creates the target's topics first")
            partitions += [TopicPartition(topic, p) for p in sorted(info.partitions)]
        positions = committed(self._group, partitions)
        for tp in positions:
            if tp.error is not None:
                raise MigrationError(f"reading the replicator's position of {tp.topic}/{tp.partition}: {tp.error}")
            position = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            self._positions[(tp.topic, tp.partition)] = max(tp.offset, 0)
            tp.offset = position
        self._consumer.assign(positions)

    @property
    def positions(self) -> dict[tuple[str, int], int]:
        """The next source offset to copy, per partition (as last committed)."""
        return dict(self._positions)

    def step(self, timeout_s: float = 0.5) -> int:
        """Copy one batch in one transaction; the number of source records it copied or skipped."""
        fetched = [m for m in self._consumer.consume(self.batch, timeout_s) if not self._skip_error(m)]
        records = [(m, m.headers() or []) for m in fetched if not m.topic().startswith(CHANGELOG_PREFIX)]
        for message in fetched:
            if message.topic().startswith(CHANGELOG_PREFIX):
                self._waiting[(message.topic(), message.partition())].append(message)
        # changelog records whose source records earlier transactions mapped go with this
        # one: one flush per transaction, a changelog record at most one batch behind
        ready = self._ready_changelogs()
        if not records and not ready:
            return 0
        pairs: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
        next_positions: dict[tuple[str, int], int] = {}
        self._producer.begin_transaction()
        try:
            self._copy(records + ready, pairs, next_positions)
            self._absorb(pairs)
            for tp, tp_pairs in pairs.items():
                self._producer.produce(MAP_TOPIC, encode_runs(runs_of(sorted(tp_pairs))),
                                       self.offset_map.record_key(*tp), partition=0)
            offsets = [TopicPartition(t, p, o) for (t, p), o in next_positions.items()]
            if offsets:
                self._producer.send_offsets_to_transaction(offsets, self._group.consumer_group_metadata(), 30)
            self._producer.commit_transaction(60)
        except (KafkaException, UndeliveredRecords) as exc:
            self._abort(exc)
        self._positions.update(next_positions)
        self.stats.transactions += 1
        self._flow_control()
        return len(records) + len(ready)

    def _ready_changelogs(self) -> list[tuple[Message, list[tuple[str, bytes]]]]:
        """The waiting changelog records whose source records are mapped, in order, with
        their processed offsets translated."""
        ready = []
        replicated = set(self.topics)
        for (_, partition), waiting in self._waiting.items():
            while waiting:
                message = waiting[0]
                headers = message.headers() or []
                origin = origin_of(headers)
                if origin is None or origin[0] != self.target.cluster_id:
                    rewritten, translated = _rewrite_processed(headers, partition, self.offset_map, replicated)
                    if rewritten is None:
                        self.stats.deferred += 1
                        break
                    headers = rewritten
                    self.stats.untranslated_state += 0 if translated else 1
                ready.append((waiting.popleft(), headers))
        return ready

    def _flow_control(self, high: int = 20_000, low: int = 2_000) -> None:
        """Stop fetching a changelog partition whose records pile up waiting for their sources."""
        for tp, waiting in self._waiting.items():
            if tp not in self._paused and len(waiting) > high:
                self._consumer.pause([TopicPartition(*tp)])
                self._paused.add(tp)
            elif tp in self._paused and len(waiting) < low:
                self._consumer.resume([TopicPartition(*tp)])
                self._paused.discard(tp)

    def _skip_error(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return False
        if error.code() == KafkaError._PARTITION_EOF:
            return True
        raise MigrationError(f"reading {message.topic()} on '{self.source.name}': {error}")

    def _copy(self, items: list[tuple[Message, list[tuple[str, bytes]]]], pairs: dict[tuple[str, int], list[tuple[int, int]]],
              next_positions: dict[tuple[str, int], int]) -> None:
        delivered: list[tuple[tuple[str, int], int, int]] = []
        failures: list[str] = []

        def on_delivery(tp: tuple[str, int], src: int, error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(f"{tp[0]}/{tp[1]}@{src}: {error}")
            else:
                delivered.append((tp, src, message.offset()))

        for message, headers in items:
            tp, offset = (message.topic(), message.partition()), message.offset()
            origin = origin_of(headers)
            if origin is not None and origin[0] == self.target.cluster_id:
                pairs[tp].append((offset, origin[1]))  # the loop guard: it is the target's own record
                self.stats.looped += 1
                next_positions[tp] = offset + 1
                continue
            kind, timestamp = message.timestamp()
            self._producer.produce(
                tp[0], message.value(), message.key(), partition=tp[1],
                headers=[*[(k, v) for k, v in headers if k != ORIGIN_HEADER],
                         (ORIGIN_HEADER, f"{self.source.cluster_id}:{offset}".encode())],
                timestamp=timestamp if kind == TIMESTAMP_CREATE_TIME else 0,
                on_delivery=partial(on_delivery, tp, offset))
            next_positions[tp] = offset + 1
            self.stats.copied += 1
            self.stats.per_partition[f"{tp[0]}/{tp[1]}"] += 1
        remaining = self._producer.flush(60)
        if remaining or failures:
            raise UndeliveredRecords(f"{remaining} records undelivered, failures: {failures[:3]}")
        for tp, src, dst in delivered:
            pairs[tp].append((src, dst))

    def _absorb(self, pairs: dict[tuple[str, int], list[tuple[int, int]]]) -> None:
        for tp, tp_pairs in pairs.items():
            partition_map = self.offset_map.of(*tp)
            for src, dst in sorted(tp_pairs):
                partition_map.add(src, dst)

    def _abort(self, exc: Exception) -> None:
        error = exc.args[0] if exc.args else exc
        try:  # a fatal error (fenced by a newer replicator) cannot abort: the newer one did
            self._producer.abort_transaction(30)
        except KafkaException:
            pass
        raise MigrationError(f"a replication transaction to '{self.target.name}' failed: {error}",
                             "restart `callstream migrate start`; it resumes from the last committed transaction") from None

    def run(self, stop: threading.Event, *, until: Callable[[], bool] | None = None,
            max_seconds: float | None = None, on_batch: Callable[[Replicator], Any] | None = None) -> None:
        """Copy batches until ``stop`` is set, ``until()`` holds or ``max_seconds`` pass."""
        deadline = time.monotonic() + max_seconds if max_seconds else None
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            copied = self.step()
            if on_batch is not None:
                on_batch(self)
            if copied == 0 and until is not None and until():
                return

    def close(self) -> None:
        self._consumer.close()
        self._group.close()
        self._producer.flush(10)


def committed_positions(source: Link, target: Link, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The replicator's committed source positions (its group's offsets on the target)."""
    consumer = Consumer({**target.config, "group.id": replicator_group(source), "enable.auto.commit": "false"})
    try:
        offsets = committed(consumer, [TopicPartition(t, p) for t, p in partitions])
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): max(tp.offset, 0) for tp in offsets}


@dataclass(frozen=True)
class Backlog:
    """Committed records at or after a position, and the timestamp of the first of them."""

    records: int
    first_timestamp_ms: int | None


def backlog(source: Link, positions: dict[tuple[str, int], int], limit: int = 1_000_000,
            timeout_s: float = 60.0) -> dict[tuple[str, int], Backlog]:
    """Per partition, the committed records at or after ``positions`` on ``source`` (exact:
    transaction markers are not records), counting at most about ``limit`` in all."""
    counts = dict.fromkeys(positions, 0)
    first: dict[tuple[str, int], int] = {}
    ranges: dict[tuple[str, int], tuple[int, int | None]] = {tp: (o, None) for tp, o in positions.items()}
    for n, message in enumerate(scan(source, ranges, what="counting unreplicated records", timeout_s=timeout_s)):
        tp = (message.topic(), message.partition())
        counts[tp] += 1
        first.setdefault(tp, message.timestamp()[1])
        if n + 1 >= limit:
            break
    return {tp: Backlog(counts[tp], first.get(tp)) for tp in positions}


def unreplicated(source: Link, positions: dict[tuple[str, int], int], limit: int = 1_000_000,
                 timeout_s: float = 60.0) -> dict[tuple[str, int], int]:
    """Committed records on the source at or after ``positions``, per partition."""
    return {tp: b.records for tp, b in backlog(source, positions, limit, timeout_s).items()}
