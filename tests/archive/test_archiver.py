"""The archiver: offsets in the table commit, no duplicates, no gaps, even after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from callstream.archive.archiver import Archiver, archive_topics
from callstream.archive.maintenance import compact
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive, archived_offsets, data_files
from callstream.contract.codec import encode_event
from callstream.errors import ArchiveError, KafkaOperationError

from .conftest import new_producer, now_ms, produce_events, queued

UNREACHABLE = {"bootstrap.servers": "127.0.0.1:9", "socket.timeout.ms": "1000", "log_level": "0"}


def fill(archiver: Archiver, topic: str, partition: int, offsets: range) -> None:
    for offset in offsets:
        value, headers = encode_event(queued(f"c{offset % 5}", 1, now_ms(), seq=offset)[0])
        archiver.buffers[topic].add(partition, offset, now_ms(), b"k", value, headers, time.monotonic())


def test_flush_records_offsets_and_a_stale_writer_cannot_duplicate(archive_settings: ArchiveSettings) -> None:
    topic = "callstream.call.lifecycle"
    first = Archiver(archive_settings, UNREACHABLE, [topic])
    stale = Archiver(archive_settings, UNREACHABLE, [topic])  # e.g. a zombie after a rebalance
    fill(first, topic, 0, range(0, 100))
    fill(first, topic, 1, range(0, 40))
    report = first.flush(topic)
    assert report is not None and report.rows == 140 and report.offsets == {0: 100, 1: 40}

    fill(stale, topic, 0, range(50, 120))  # 50..99 are archived already, 100..119 are new
    report = stale.flush(topic)
    assert report is not None and (report.rows, report.skipped) == (20, 50)

    table = Archive.open(archive_settings).table(topic)
    assert archived_offsets(table) == {0: 120, 1: 40}
    rows = table.scan().to_arrow()
    by_partition = {p: sorted(o for q, o in zip(rows["kafka_partition"].to_pylist(), rows["kafka_offset"].to_pylist(), strict=False)
                              if q == p) for p in (0, 1)}
    assert by_partition == {0: list(range(120)), 1: list(range(40))}
    # The archiver's files hold its own columns; the table's ``body`` (compaction's) reads as null.
    schemas = [pq.read_schema(path.removeprefix("file://")) for path in data_files(table)]
    assert len(schemas) == 2 and all("body" not in s.names and "payload" in s.names for s in schemas)
    assert rows["body"].null_count == rows.num_rows == 160
    assert all(task.file.lower_bounds and task.file.null_value_counts for task in table.scan().plan_files())


def test_a_flush_after_maintenance_expired_the_snapshot_it_knew_commits(archive_settings: ArchiveSettings) -> None:
    """`up`'s maintainer compacts and then expires every snapshot but its own: the manifest
    list of the snapshot the archiver last committed is deleted under it. The archiver's next
    flush read it and died (FileNotFoundError), and `up` stopped everything ~15 min after
    start (bench/soak.py, NOTES.md stop 48); it reloads the table and commits instead."""
    topic = "callstream.call.lifecycle"
    archiver = Archiver(archive_settings, UNREACHABLE, [topic])
    for flush in range(3):
        fill(archiver, topic, 0, range(flush * 30, flush * 30 + 30))
        archiver.flush(topic)
    archive = Archive.open(archive_settings)
    [result] = compact(archive, [topic])
    assert result.partitions_rewritten == 1 and result.files_purged  # the archiver's snapshots are gone

    fill(archiver, topic, 0, range(90, 120))
    report = archiver.flush(topic)

    assert report is not None and (report.rows, report.skipped) == (30, 0)
    table = archive.table(topic)
    assert archived_offsets(table) == {0: 120}
    assert sorted(table.scan().to_arrow().column("kafka_offset").to_pylist()) == list(range(120))


def test_many_flushes_keep_the_snapshot_and_manifest_lists_short_and_lose_no_row(tmp_path: Path) -> None:
    # Each commit copies the table's metadata and lists its manifests: kept forever, a
    # flush every 20 s made the archiver slower by the hour.
    settings = ArchiveSettings.for_state_dir(tmp_path, snapshots_kept=3)
    topic = "callstream.call.lifecycle"
    archiver = Archiver(settings, UNREACHABLE, [topic])
    for n in range(40):
        fill(archiver, topic, n % 2, range(n // 2 * 10, n // 2 * 10 + 10))
        archiver.flush(topic)
        time.sleep(0.002)  # snapshots a millisecond apart: expiry keeps by commit time
    table = Archive.open(settings).table(topic)
    assert 3 <= len(table.metadata.snapshots) <= 6
    manifests = table.current_snapshot().manifests(table.io)
    assert len(manifests) < 16
    assert archived_offsets(table) == {0: 200, 1: 200}
    rows = table.scan().to_arrow()
    assert sorted(zip(rows["kafka_partition"].to_pylist(), rows["kafka_offset"].to_pylist(), strict=True)) == \
        [(p, o) for p in (0, 1) for o in range(200)]
    # The expired snapshots' manifest lists and the merged-away manifests left storage.
    metadata_dir = Path(table.location().removeprefix("file://")) / "metadata"
    listed = {Path(s.manifest_list.removeprefix("file://")).name for s in table.metadata.snapshots}
    assert {p.name for p in metadata_dir.glob("snap-*.avro")} == listed
    assert len(list(metadata_dir.glob("*-m*.avro"))) <= len(manifests) * 3


def test_archiver_needs_topics(archive_settings: ArchiveSettings) -> None:
    with pytest.raises(ArchiveError, match="no topics"):
        Archiver(archive_settings, UNREACHABLE, [])


class _Consumed:
    """What the archiver reads of a consumed message (or an event/error in its place)."""

    def __init__(self, topic: str, offset: int, error: KafkaError | None = None) -> None:
        self._topic, self._offset, self._error = topic, offset, error
        self._value, self._headers = encode_event(queued("c1", 1, now_ms(), seq=offset)[0])

    def error(self) -> KafkaError | None:
        return self._error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, now_ms())

    def key(self) -> bytes:
        return b"c1"

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list:
        return self._headers


def test_buffer_groups_runs_of_topics_skips_eof_and_stops_on_a_fatal_error(archive_settings: ArchiveSettings) -> None:
    lifecycle, redacted = "callstream.call.lifecycle", "callstream.transcript.redacted"
    archiver = Archiver(archive_settings, UNREACHABLE, [lifecycle, redacted])
    eof = KafkaError(KafkaError._PARTITION_EOF)
    batch = [_Consumed(lifecycle, 0), _Consumed(lifecycle, 1), _Consumed(redacted, 0), _Consumed(lifecycle, 2, eof),
             _Consumed(lifecycle, 2), _Consumed(redacted, 1)]
    archiver.add_batch(batch, time.monotonic())
    assert archiver.buffers[lifecycle].offsets == [0, 1, 2] and archiver.buffers[redacted].offsets == [0, 1]
    assert archiver.stats.consumed == 5

    denied = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, fatal=False, retriable=False)
    with pytest.raises(KafkaOperationError, match="the archiver consumer failed") as failed:
        archiver.add_batch([_Consumed(lifecycle, 3), _Consumed(lifecycle, 4, denied)], time.monotonic())
    assert failed.value.code == "TOPIC_AUTHORIZATION_FAILED"

def offsets_by_partition(settings: ArchiveSettings, topic: str) -> dict[int, list[int]]:
    table = Archive.open(settings).table(topic)
    rows = table.scan(selected_fields=("kafka_partition", "kafka_offset")).to_arrow()
    found: dict[int, list[int]] = {}
    for partition, offset in zip(rows["kafka_partition"].to_pylist(), rows["kafka_offset"].to_pylist(), strict=False):
        found.setdefault(partition, []).append(offset)
    return {p: sorted(o) for p, o in found.items()}


def high_watermarks(kafka_config: dict[str, str], topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer(kafka_config | {"group.id": "watermarks"})
    try:
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    finally:
        consumer.close()


def test_archived_rows_equal_produced_per_partition(kafka_config, make_topics, archive_settings, unique_name) -> None:
    lifecycle, raw = make_topics("lifecycle", "raw", partitions=3)
    producer = new_producer(kafka_config)
    t0 = now_ms()
    for c in range(40):
        produce_events(producer, lifecycle, queued(f"call-{c}", 30, t0))
        produce_events(producer, raw, queued(f"call-{c}", 20, t0))
    producer.produce(raw, value=b"\x00 not an event", key=b"call-0")  # undecodable still archives
    assert producer.flush(30) == 0
    settings = archive_settings.model_copy(update={"consumer_group": unique_name("archiver")})

    stats = archive_topics(settings, kafka_config, [lifecycle, raw], idle_exit_s=2.0, max_seconds=60)

    assert stats.archived == stats.consumed == 1200 + 801 and stats.skipped == 0
    for topic in (lifecycle, raw):
        marks = high_watermarks(kafka_config, topic, 3)
        assert offsets_by_partition(settings, topic) == {p: list(range(n)) for p, n in marks.items() if n}
        assert archived_offsets(Archive.open(settings).table(topic)) == {p: n for p, n in marks.items() if n}


def test_sigkill_during_burst_loses_and_repeats_nothing(kafka_config, make_topics, tmp_path: Path, unique_name,
                                                        child_env, grant) -> None:
    topics = make_topics("lifecycle", "signals", partitions=3)
    group = unique_name("archiver")
    grant("archiver", reads=tuple(topics), groups=(group,))  # the child archiver runs as its own principal
    env = child_env(tmp_path)
    command = [sys.executable, "-m", "callstream.archive.archiver", "--group", group, "--instance-id", "archiver-1", "--flush-rows", "250", "--flush-age-s", "0.2",
               *[arg for t in topics for arg in ("--topic", t)]]
    settings = ArchiveSettings.for_state_dir(tmp_path)
    per_burst = 200
    killed = threading.Event()
    produced = {"before_kill": 0, "total": 0}

    def burst_traffic() -> None:
        # Bursts go on until the archiver is killed, and for a while after: the kill lands
        # mid-burst and the restarted archiver has a backlog to catch up on.
        producer = new_producer(kafka_config)
        t0 = now_ms()
        after_kill = 0
        for b in range(400):
            for topic in topics:
                produce_events(producer, topic, queued(f"burst-{b}-{topic[-4:]}", per_burst // 2, t0 + b))
            producer.flush(10)
            produced["total"] += per_burst
            if killed.is_set():
                after_kill += 1
                if after_kill >= 10:
                    break
            else:
                produced["before_kill"] += per_burst
            time.sleep(0.02)

    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        traffic = threading.Thread(target=burst_traffic)
        traffic.start()
        flushes = 0
        while flushes < 3:  # several commits in, while the burst is still being produced
            line = first.stdout.readline()
            assert line, f"archiver exited early: {first.stderr.read()}"
            flushes += '"rows"' in line
        os.kill(first.pid, signal.SIGKILL)
        killed.set()
        first.wait(10)
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGKILL)
            first.wait(10)
    traffic.join(60)
    archived_before = sum(len(o) for t in topics for o in offsets_by_partition(settings, t).values())
    assert 0 < archived_before

    second = subprocess.run([*command, "--idle-exit-s", "2"], capture_output=True, text=True, timeout=120, env=env)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout.strip().splitlines()[-1])

    total = 0
    for topic in topics:
        marks = high_watermarks(kafka_config, topic, 3)
        total += sum(marks.values())
        offsets = offsets_by_partition(settings, topic)
        assert offsets == {p: list(range(n)) for p, n in marks.items() if n}, f"gap or repeat in {topic}"
    assert total == produced["total"] and produced["total"] > produced["before_kill"] > 0
    # The restart resumed from the archive's offsets, not from scratch or the group's commits.
    assert summary["skipped"] == 0 and summary["consumed"] == total - archived_before


def test_messages_expired_before_archiving_are_reported(kafka_config, make_topics, archive_settings, unique_name) -> None:
    [topic] = make_topics("lifecycle", partitions=1)
    settings = archive_settings.model_copy(update={"consumer_group": unique_name("archiver")})
    producer = new_producer(kafka_config)
    produce_events(producer, topic, queued("call-1", 100, now_ms()))
    assert producer.flush(30) == 0
    earlier = Archiver(settings, UNREACHABLE, [topic])  # the archive holds offsets 0..9
    fill(earlier, topic, 0, range(10))
    earlier.flush(topic)
    admin = AdminClient(kafka_config)  # Kafka's retention removes 0..49 while the archiver is down
    for future in admin.delete_records([TopicPartition(topic, 0, 50)]).values():
        future.result(30)

    stats = archive_topics(settings, kafka_config, [topic], idle_exit_s=1.5, max_seconds=60)

    assert stats.expired_before_archived == {f"{topic}/0": 40}
    assert stats.archived == 50
    assert offsets_by_partition(settings, topic) == {0: list(range(10)) + list(range(50, 100))}
