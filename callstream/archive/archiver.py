"""The exactly-once archiver: Kafka topics into Iceberg tables, offsets in the same commit.

One consumer group (``callstream-archiver``) reads every archived topic in batches and
buffers rows per topic. A buffer is flushed when it is big enough or old enough; the flush
is ONE Iceberg commit that appends the rows and records, in the snapshot summary, the next
offset per partition. On assignment the archiver seeks to the offsets in the latest
snapshot, not to the group's committed offsets (those are committed afterwards, only for
lag metrics). A crash at any point therefore neither loses nor repeats a message: either
the commit happened (rows and offsets) or it did not (neither). Before committing, rows at
offsets the table already holds are dropped, so even a stale second archiver (a zombie
after a rebalance) cannot write duplicates. See docs/decisions/0002-archive-exactly-once.md.

Run as a process: ``python -m callstream.archive.archiver --topic T [--topic T ...]`` with
the cluster, the state dir and the warehouse (S3 credentials included) from callstream's
settings (``CALLSTREAM_*``, as every child gets them); SIGTERM flushes and exits, SIGKILL
loses nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import operator
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from pyiceberg.table import Table

from callstream.archive.datafiles import write_data_files
from callstream.archive.maintenance import expire_snapshots
from callstream.archive.rows import TopicBuffer
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive, archived_cluster, archived_offsets, commit_with_retry, offsets_property
from callstream.collector import PacedCollection
from callstream.entry import run_entry_point
from callstream.errors import ArchiveError, KafkaOperationError
from callstream.priority import lower_priority

logger = logging.getLogger(__name__)

#: the archiver process's CPU niceness: the archive is fresh within its flush age anyway, so
#: on a busy machine it yields the CPU to the live agent-assist path (ADR 0010)
NICENESS = 10
#: the topic of a consumed message, as a C-level call for itertools.groupby
_TOPIC_OF = operator.methodcaller("topic")


@dataclass(frozen=True)
class FlushReport:
    """One commit of one table."""

    topic: str
    rows: int
    #: rows dropped because the table already held their offsets (a stale writer's replay)
    skipped: int
    offsets: dict[int, int]
    reason: str  # rows | bytes | age | revoke | stop | manual
    seconds: float
    #: age of the oldest row at commit: the archive's freshness for this flush
    oldest_row_age_s: float


@dataclass
class ArchiverStats:
    consumed: int = 0
    archived: int = 0
    skipped: int = 0
    flushes: int = 0
    per_topic: dict[str, int] = field(default_factory=dict)
    max_freshness_s: float = 0.0
    #: "topic/partition" -> messages Kafka deleted (retention) before the archive had them
    expired_before_archived: dict[str, int] = field(default_factory=dict)


class Archiver:
    """Consumes ``topics`` as the archiver group and commits them to the archive tables."""

    def __init__(
        self,
        settings: ArchiveSettings,
        kafka_conf: Mapping[str, str],
        topics: Sequence[str],
        *,
        on_flush: Callable[[FlushReport], None] | None = None,
        instance_id: str | None = None,
    ) -> None:
        """``instance_id`` makes the archiver a static group member: a restarted archiver
        with the same id takes its partitions back at once instead of waiting for the dead
        member's session to time out (45 s by default)."""
        if not topics:
            raise ArchiveError("the archiver was given no topics", "pass the catalog topics to archive")
        self.settings = settings
        self.topics = list(topics)
        self.archive = Archive.open(settings)
        self.tables: dict[str, Table] = {t: self.archive.table(t) for t in self.topics}  # type: ignore[misc]
        self.buffers: dict[str, TopicBuffer] = {t: TopicBuffer(t) for t in self.topics}
        self.stats = ArchiverStats()
        self.on_flush = on_flush
        self._stop = threading.Event()
        self._assigned_at: float | None = None
        self._consumer_conf = dict(kafka_conf) | {
            "group.id": settings.consumer_group,
            # Offsets come from the archive; group commits are advisory, so never auto-commit
            # and never let librdkafka pick a start position on its own.
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "auto.offset.reset": "earliest",
            "fetch.min.bytes": "65536",
            "fetch.wait.max.ms": "200",
            "queued.max.messages.kbytes": "131072",
        }
        if instance_id:
            self._consumer_conf["group.instance.id"] = instance_id
        self.consumer: Consumer | None = None
        #: the Kafka cluster this archiver reads (its commits record it beside the offsets)
        self.cluster_id: str | None = None

    # --- assignment: the archive decides where to start -------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.cluster_id is None:
            self.cluster_id = consumer.list_topics(timeout=10).cluster_id or None
        topics = {tp.topic for tp in partitions}
        for topic in topics:
            recorded_on = archived_cluster(self.tables[topic].refresh())
            if recorded_on and self.cluster_id and recorded_on != self.cluster_id:
                raise ArchiveError(
                    f"the archive of {topic} recorded its positions on Kafka cluster {recorded_on}, not on this one "
                    f"({self.cluster_id}): its offsets mean nothing here",
                    "move the platform with `callstream migrate cutover`, which translates the archive's positions")
        recorded = {topic: archived_offsets(self.tables[topic]) for topic in topics}
        for tp in partitions:
            tp.offset = recorded[tp.topic].get(tp.partition, OFFSET_BEGINNING)
            if tp.offset >= 0:
                self._check_not_expired(consumer, tp)
        consumer.assign(partitions)
        self._assigned_at = time.monotonic()

    def _check_not_expired(self, consumer: Consumer, tp: TopicPartition) -> None:
        # If Kafka's retention deleted messages the archive never got, say so loudly: it is
        # the one way to lose data (the archiver was down longer than the topic's retention).
        try:
            low, _ = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
        except KafkaException:
            return
        if low > tp.offset:
            self.stats.expired_before_archived[f"{tp.topic}/{tp.partition}"] = low - tp.offset
            logger.error("%s partition %d: offsets %d..%d expired from Kafka before they were archived",
                         tp.topic, tp.partition, tp.offset, low - 1)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Still the owner during the callback: commit what is buffered rather than redo it.
        self.flush_all("revoke")
        consumer.unassign()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Ownership is gone: someone else may archive these now; the offset fence covers a
        # late commit of ours, but dropping the rows avoids the wasted write.
        by_topic: dict[str, set[int]] = {}
        for tp in partitions:
            by_topic.setdefault(tp.topic, set()).add(tp.partition)
        for topic, parts in by_topic.items():
            self.buffers[topic].drop_partitions(parts)
        consumer.unassign()

    # --- the loop -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run`` to flush and return (safe from a signal handler or another thread)."""
        self._stop.set()

    def run(self, *, idle_exit_s: float | None = None, max_seconds: float | None = None,
            max_messages: int | None = None) -> ArchiverStats:
        """Archive until ``stop()``, idle for ``idle_exit_s``, ``max_seconds``, or ``max_messages`` read."""
        try:
            self.consumer = Consumer(self._consumer_conf)
        except KafkaException as exc:
            raise KafkaOperationError(f"could not create the archiver consumer: {exc}",
                                      "check the Kafka connection settings") from exc
        self.consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                on_lost=self._on_lost)
        started = last_message = time.monotonic()
        # The buffers hold up to flush_max_rows messages each: collector passes over them
        # cost more than consuming (collector.py).
        try:
            with PacedCollection() as collection:
                while not self._stop.is_set():
                    messages = self.consumer.consume(num_messages=self.settings.consume_batch, timeout=0.25)
                    now = time.monotonic()
                    if messages:
                        last_message = now
                        self.add_batch(messages, now)
                    self._flush_due(now)
                    collection.tick(now)
                    # Idle counts only once partitions are assigned (joining the group takes time).
                    idle_since = max(last_message, self._assigned_at or now)
                    if idle_exit_s is not None and now - idle_since >= idle_exit_s:
                        break
                    if max_seconds is not None and now - started >= max_seconds:
                        break
                    if max_messages is not None and self.stats.consumed >= max_messages:
                        break
                self.flush_all("stop")
        finally:
            self.consumer.close()
            self.consumer = None
        return self.stats

    def add_batch(self, messages: list, now: float) -> None:
        """Buffer a consumed batch by topic; stop on an error the consumer cannot recover from."""
        good = [m for m in messages if m.error() is None]
        if len(good) < len(messages):  # rare: an event or an error among the messages
            for error in filter(None, (m.error() for m in messages)):
                if error.code() != KafkaError._PARTITION_EOF and (error.fatal() or not error.retriable()):
                    raise KafkaOperationError(f"the archiver consumer failed: {error.str()}",
                                              "check the broker and the topic ACLs for the archiver",
                                              code=error.name())
        # A batch holds runs of one partition's messages: group the runs, not each message.
        by_topic: dict[str, list] = {}
        for topic, run in itertools.groupby(good, key=_TOPIC_OF):
            by_topic.setdefault(topic, []).extend(run)
        for topic, batch in by_topic.items():
            self.buffers[topic].add_messages(batch, now)
        self.stats.consumed += len(good)

    def _flush_due(self, now: float) -> None:
        s = self.settings
        for topic, buffer in self.buffers.items():
            if not len(buffer):
                continue
            if len(buffer) >= s.flush_max_rows:
                self.flush(topic, "rows")
            elif buffer.payload_bytes >= s.flush_max_bytes:
                self.flush(topic, "bytes")
            elif buffer.first_at is not None and now - buffer.first_at >= s.flush_max_age_s:
                self.flush(topic, "age")

    def flush_all(self, reason: str) -> list[FlushReport]:
        return [r for topic in self.topics if (r := self.flush(topic, reason)) is not None]

    def flush(self, topic: str, reason: str = "manual") -> FlushReport | None:
        """Commit one topic's buffer to its table with the covered offsets, exactly once."""
        buffer = self.buffers[topic]
        if not len(buffer):
            return None
        started = time.monotonic()
        oldest_age = started - (buffer.first_at or started)
        rows = buffer.to_arrow(archived_at_ms=int(time.time() * 1000))
        our_offsets = dict(buffer.next_offsets)

        def commit(table: Table) -> tuple[int, dict[int, int]]:
            recorded = archived_offsets(table)
            fresh = rows
            # The fence: rows below the recorded offset of their partition are already in
            # the table (a stale writer's replay); keep only what the table lacks.
            stale = {p: o for p, o in recorded.items() if p in our_offsets}
            if stale:
                keep = None
                for partition in our_offsets:
                    floor = stale.get(partition, 0)
                    cond = pc.and_(pc.equal(rows["kafka_partition"], partition),
                                   pc.greater_equal(rows["kafka_offset"], floor))
                    keep = cond if keep is None else pc.or_(keep, cond)
                fresh = rows.filter(keep)
            offsets = recorded | {p: max(o, recorded.get(p, 0)) for p, o in our_offsets.items()}
            if fresh.num_rows:
                with table.transaction() as tx:
                    properties = offsets_property(offsets, self.cluster_id)
                    with tx.update_snapshot(snapshot_properties=properties).merge_append() as append:
                        for data_file in write_data_files(table.metadata, fresh, table.io, write_uuid=append.commit_uuid,
                                                          counter=itertools.count(0)):
                            append.append_data_file(data_file)
            return fresh.num_rows, offsets

        archived, offsets = commit_with_retry(self.tables[topic], commit, what=f"archiving {topic}")
        buffer.clear()
        self._commit_group_offsets(topic, our_offsets)
        self._expire_old_snapshots(topic)
        report = FlushReport(topic=topic, rows=archived, skipped=len(rows) - archived, offsets=offsets,
                             reason=reason, seconds=time.monotonic() - started,
                             oldest_row_age_s=oldest_age + time.monotonic() - started)
        self.stats.archived += archived
        self.stats.skipped += report.skipped
        self.stats.flushes += 1
        self.stats.per_topic[topic] = self.stats.per_topic.get(topic, 0) + archived
        self.stats.max_freshness_s = max(self.stats.max_freshness_s, report.oldest_row_age_s)
        if self.on_flush:
            self.on_flush(report)
        return report

    def _expire_old_snapshots(self, topic: str) -> None:
        """Keep a table's snapshot list short: without it every flush added a snapshot and
        every commit copied them all (56 ms a commit at 50 snapshots, 260 ms at 300). The
        newest ``snapshots_kept`` stay, for a reader that pinned one and for a rollback."""
        table, kept = self.tables[topic], self.settings.snapshots_kept
        if len(table.metadata.snapshots) <= 2 * kept:
            return
        keep_from = sorted(s.timestamp_ms for s in table.metadata.snapshots)[-kept]
        try:
            expire_snapshots(table, older_than_ms=keep_from)
        except ArchiveError as exc:  # archiving goes on; the next flush tries again
            logger.warning("could not expire old snapshots of %s: %s", table.name(), exc)

    def _commit_group_offsets(self, topic: str, offsets: dict[int, int]) -> None:
        # Advisory only (lag metrics, `kafka-consumer-groups`); failures must not stop archiving.
        if self.consumer is None:
            return
        try:
            self.consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                                 asynchronous=True)
        except KafkaException:
            pass


def archive_topics(
    settings: ArchiveSettings,
    kafka_conf: Mapping[str, str],
    topics: Sequence[str],
    *,
    idle_exit_s: float | None = None,
    max_seconds: float | None = None,
    on_flush: Callable[[FlushReport], None] | None = None,
    instance_id: str | None = None,
) -> ArchiverStats:
    """Run an archiver in this thread; SIGTERM/SIGINT flush and return."""
    archiver = Archiver(settings, kafka_conf, topics, on_flush=on_flush, instance_id=instance_id)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: archiver.stop())
    try:
        return archiver.run(idle_exit_s=idle_exit_s, max_seconds=max_seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    """Process entry point (used by tests and process supervisors; the CLI wraps the same)."""
    parser = argparse.ArgumentParser(prog="python -m callstream.archive.archiver", description=__doc__.split("\n")[0])
    parser.add_argument("--topic", action="append", required=True, dest="topics")
    parser.add_argument("--group", help="consumer group (default callstream-archiver)")
    parser.add_argument("--instance-id", help="static group membership id (fast takeover on restart)")
    parser.add_argument("--flush-rows", type=int)
    parser.add_argument("--flush-age-s", type=float)
    parser.add_argument("--idle-exit-s", type=float)
    parser.add_argument("--wait-for", type=Path, help="a warm standby: start consuming only once this file exists")
    args = parser.parse_args(argv)
    from callstream.local.processes import wait_for_go
    from callstream.settings import client_config, load_settings

    settings = load_settings()
    overrides = {"consumer_group": args.group, "flush_max_rows": args.flush_rows, "flush_max_age_s": args.flush_age_s}
    archive_settings = settings.archive_settings(**{k: v for k, v in overrides.items() if v is not None})

    def report(flush: FlushReport) -> None:
        print(json.dumps({"topic": flush.topic, "rows": flush.rows, "skipped": flush.skipped,
                          "reason": flush.reason, "offsets": flush.offsets}), flush=True)

    wait_for_go(args.wait_for)
    lower_priority(NICENESS)
    stats = archive_topics(archive_settings, client_config(settings, "archiver"), args.topics,
                           idle_exit_s=args.idle_exit_s, on_flush=report, instance_id=args.instance_id)
    print(json.dumps({"consumed": stats.consumed, "archived": stats.archived, "skipped": stats.skipped}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
