"""Replay: a call's timeline across archive and Kafka tail, re-drive, rewind."""

from __future__ import annotations

import os
import threading
import time

import msgspec
import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from callstream.archive.archiver import archive_topics
from callstream.archive.maintenance import compact
from callstream.archive.partitioning import partition_for_key
from callstream.archive.query import query
from callstream.archive.replay import (
    PACE_CATCH_UP_S,
    PACE_SLACK_S,
    PACED_NICENESS,
    REDRIVE_HEADER,
    ArchiveView,
    KafkaTail,
    ReplayScope,
    _niced,
    _pace,
    call_timeline,
    redrive_window,
    rewind_group,
)
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive
from callstream.contract.codec import encode_event
from callstream.errors import ArchiveError

from .conftest import new_producer, now_ms, produce_events, queued, segment, transferred_call


def archive_all(settings: ArchiveSettings, kafka_config, topics) -> None:
    stats = archive_topics(settings, kafka_config, topics, idle_exit_s=1.5, max_seconds=60)
    assert stats.archived > 0


def consume_all(kafka_config, topic: str, expected: int, group: str | None = None, timeout_s: float = 30) -> list:
    consumer = Consumer(kafka_config | {"group.id": group or f"reader-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    messages, deadline = [], time.monotonic() + timeout_s
    while len(messages) < expected and time.monotonic() < deadline:
        messages += [m for m in consumer.consume(1000, 0.5) if not m.error()]
    consumer.close()
    return messages


@pytest.fixture
def call_topics(make_topics):
    lifecycle, raw, redacted = make_topics("lifecycle", "raw", "redacted", partitions=3)
    return ReplayScope(topics=(lifecycle, raw, redacted), restricted=frozenset({raw}))


def test_a_paced_redrive_holds_its_rate_in_few_sleeps(monkeypatch) -> None:
    """A sleep per event is thousands of wakeups a second beside the live path."""
    sleeps: list[float] = []
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(time, "sleep", lambda s: (sleeps.append(s), clock.__setitem__(0, clock[0] + s)))
    wait = _pace(10_000)
    for sent in range(1, 20_001):  # two seconds of events, produced in no time
        wait(sent)
    assert clock[0] >= 2.0 - 0.011  # never more than the slack ahead of the rate
    assert 150 <= len(sleeps) <= 200  # a sleep per ~10 ms, not per event


def test_a_paced_redrive_makes_up_no_stall_at_full_speed(monkeypatch) -> None:
    """The rate is a ceiling over short spans too: time before the first event and a stall
    later are not made up by a burst at the unthrottled rate (beyond PACE_CATCH_UP_S)."""
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    wait = _pace(10_000)
    clock[0] = 3.0  # the limiter was made 3 s before the first event
    for sent in range(1, 10_001):  # a second's worth of events, produced in no time
        wait(sent)
    assert clock[0] >= 3.0 + 1.0 - PACE_SLACK_S - 0.001
    clock[0] += 2.0  # then a 2 s stall (the CPU went to the live path)
    resumed = clock[0]
    for sent in range(10_001, 20_001):
        wait(sent)
    assert clock[0] >= resumed + 1.0 - PACE_CATCH_UP_S - PACE_SLACK_S - 0.001


def test_timeline_joins_archive_kafka_tail_and_transfers(kafka_config, call_topics, archive_settings, unique_name) -> None:
    lifecycle, raw, redacted = call_topics.topics
    settings = archive_settings.model_copy(update={"consumer_group": unique_name("archiver")})
    t0 = now_ms() - 60_000
    a, b = "call-A", "call-B"
    a_events, b_events = transferred_call(a, b, t0)
    producer = new_producer(kafka_config)
    produce_events(producer, lifecycle, a_events[:2])
    produce_events(producer, raw, [segment(a, 0, t0 + 5, "my card is 4111 1111 1111 1111")])
    produce_events(producer, redacted, queued(a, 3, t0 + 6))
    for noise in range(30):  # other calls share the partitions
        produce_events(producer, lifecycle, queued(f"noise-{noise}", 5, t0))
    assert producer.flush(30) == 0
    archive_all(settings, kafka_config, list(call_topics.topics))

    # Not archived yet: the tail that only Kafka holds (including the whole transferred leg).
    produce_events(producer, lifecycle, a_events[2:] + b_events)
    produce_events(producer, redacted, queued(b, 2, t0 + 40))
    assert producer.flush(30) == 0

    archive = Archive.open(settings)
    timeline = call_timeline(archive, a, kafka_conf=kafka_config, scope=call_topics)

    assert timeline.contact_ids == (a, b)
    ids = [e.event().get("event_id") for e in timeline.events]
    expected = [e.event_id for e in a_events[:2]] + [f"{a}-q{i}" for i in range(3)] + \
        [e.event_id for e in a_events[2:] + b_events] + [f"{b}-q{i}" for i in range(2)]
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    times = [e.event_time_ms for e in timeline.events]
    assert times == sorted(times)
    assert timeline.from_archive == 5 and timeline.from_kafka == 6
    assert all(e.topic != raw for e in timeline.events)  # restricted text only on request
    assert msgspec.json.decode(timeline.to_json())["contact_ids"] == [a, b]

    with_raw = call_timeline(archive, a, kafka_conf=kafka_config, scope=call_topics, include_raw=True)
    assert [e.event()["text"] for e in with_raw.events if e.topic == raw] == ["my card is 4111 1111 1111 1111"]
    alone = call_timeline(archive, a, kafka_conf=kafka_config, scope=call_topics, include_linked=False)
    assert {e.contact_id for e in alone.events} == {a}
    from_b = call_timeline(archive, b, kafka_conf=kafka_config, scope=call_topics)  # links work backwards too
    assert set(from_b.contact_ids) == {a, b} and len(from_b.events) == len(timeline.events)


def test_timeline_seam_has_no_duplicates_even_if_tail_overlaps(kafka_config, call_topics, archive_settings, unique_name) -> None:
    lifecycle = call_topics.topics[0]
    settings = archive_settings.model_copy(update={"consumer_group": unique_name("archiver")})
    producer = new_producer(kafka_config)
    t0 = now_ms()
    produce_events(producer, lifecycle, queued("call-S", 10, t0))
    assert producer.flush(30) == 0
    archive_all(settings, kafka_config, [lifecycle])
    produce_events(producer, lifecycle, queued("call-S", 4, t0 + 100, seq=10))
    assert producer.flush(30) == 0

    archive = Archive.open(settings)
    view = ArchiveView(archive, (lifecycle,))
    view.offsets = {}  # as if the archive moved on after the view was pinned: the tail re-reads it all
    timeline = call_timeline(archive, "call-S", kafka_conf=kafka_config, scope=call_topics, view=view)
    coordinates = [(e.topic, e.partition, e.offset) for e in timeline.events]
    assert len(coordinates) == len(set(coordinates)) == 14
    assert (timeline.from_archive, timeline.from_kafka) == (10, 4)
    partition = partition_for_key("call-S", 3)
    assert {e.partition for e in timeline.events} == {partition}  # murmur2 matches the producer


def archived_call(kafka_config, archive_settings, unique_name, topic: str, contact_id: str):
    """Three queued events of ``contact_id`` produced to ``topic`` and archived by a new
    archiver group: its settings, the producer (for more events) and the first event's time."""
    settings = archive_settings.model_copy(update={"consumer_group": unique_name("archiver")})
    t0 = now_ms()
    producer = new_producer(kafka_config)
    produce_events(producer, topic, queued(contact_id, 3, t0))
    assert producer.flush(30) == 0
    archive_all(settings, kafka_config, [topic])
    return settings, producer, t0


def test_a_kept_kafka_reader_serves_many_lookups(kafka_config, call_topics, archive_settings, unique_name) -> None:
    """The dashboard keeps one view and one Kafka reader per drill-down: each lookup reads the
    tail again (new messages appear), a transactional tail ends at its commit marker without
    waiting out the timeout, and an archived offset retention already deleted starts at the
    earliest one left."""
    lifecycle = call_topics.topics[0]
    settings, producer, t0 = archived_call(kafka_config, archive_settings, unique_name, lifecycle, "call-K")
    archive = Archive.open(settings)
    view, tail = ArchiveView(archive, (lifecycle,)), KafkaTail(kafka_config)
    try:
        first = call_timeline(archive, "call-K", scope=call_topics, view=view, tail=tail)
        assert (first.from_archive, first.from_kafka) == (3, 0)

        transactional = Producer(kafka_config | {"partitioner": "murmur2_random", "transactional.id": unique_name("tx")})
        transactional.init_transactions(30)
        transactional.begin_transaction()
        produce_events(transactional, lifecycle, queued("call-K", 2, t0 + 10, seq=3))
        transactional.commit_transaction(30)
        partition = partition_for_key("call-K", 3)
        # the commit returns before its markers are written: read until a committed reader sees both
        committed = Consumer(kafka_config | {"group.id": unique_name("marker"), "enable.auto.commit": "false"})
        committed.assign([TopicPartition(lifecycle, partition, 3)])
        seen, deadline = 0, time.monotonic() + 30
        while seen < 2 and time.monotonic() < deadline:
            seen += sum(1 for m in committed.consume(10, 0.2) if not m.error())
        committed.close()
        assert seen == 2
        started = time.monotonic()
        tail.forget()  # a new lookup
        second = call_timeline(archive, "call-K", scope=call_topics, view=view, tail=tail)
        assert (second.from_archive, second.from_kafka) == (3, 2)
        assert time.monotonic() - started < 5  # EOF after the commit marker, not the 10 s timeout

        admin = AdminClient(kafka_config)
        for future in admin.delete_records([TopicPartition(lifecycle, partition, 4)]).values():
            future.result(30)  # retention took the archived rows and the first tail message
        view.offsets = {lifecycle: {partition: 1}}  # an archived offset below the log start now
        tail.forget()
        third = call_timeline(archive, "call-K", scope=call_topics, view=view, tail=tail)
        assert [e.offset for e in third.events if e.source == "kafka"] == [4]
    finally:
        tail.close()
        view.close()


def test_the_drill_down_keeps_its_view_until_it_ages_or_its_files_go(kafka_config, call_topics, archive_settings,
                                                                     unique_name) -> None:
    """The dashboard's lookups share one pinned archive view and one Kafka reader between
    requests: events archived or produced after the pin still show (the tail starts at the
    view's offsets); a view whose files compaction deleted, or an aged one, is pinned again."""
    from callstream.contract.catalog import load_catalog
    from callstream.observe.dashboard.timeline import CallDrillDown

    lifecycle = call_topics.topics[0]
    settings, producer, t0 = archived_call(kafka_config, archive_settings, unique_name, lifecycle, "call-D")
    lookups = CallDrillDown(settings, kafka_config, load_catalog(), {"callstream.call.lifecycle": lifecycle},
                            max_age_s=600)
    try:
        def sources() -> list[str]:
            document = lookups.timeline("call-D")
            assert [r["event"]["event_id"] for r in document["events"]] == [f"call-D-q{i}" for i in range(len(document["events"]))]
            assert {r["topic"] for r in document["events"]} == {"callstream.call.lifecycle"}  # the catalog's name
            return [r["source"] for r in document["events"]]

        assert sources() == ["archive"] * 3
        produce_events(producer, lifecycle, queued("call-D", 2, t0 + 10, seq=3))
        assert producer.flush(30) == 0
        assert sources() == ["archive"] * 3 + ["kafka"] * 2 and lookups.pins == 1  # the same view

        archive_all(settings, kafka_config, [lifecycle])  # a second file
        assert sources() == ["archive"] * 3 + ["kafka"] * 2 and lookups.pins == 1  # pinned before it
        assert sum(r.files_purged for r in compact(Archive.open(settings), [lifecycle])) >= 2  # and deleted them
        assert sources() == ["archive"] * 5 and lookups.pins == 2

        lookups.max_age_s = 0
        assert sources() == ["archive"] * 5 and lookups.pins == 3
    finally:
        lookups.close()


def test_query_and_redrive_window(kafka_config, make_topics, archive_settings, unique_name) -> None:
    lifecycle, redacted, into = make_topics("lifecycle", "redacted", "redrive", partitions=3)
    settings = archive_settings.model_copy(update={"consumer_group": unique_name("archiver")})
    producer = new_producer(kafka_config)
    t0 = now_ms() - 10_000
    for half in (range(10), range(10, 20)):  # two archiver runs: files for compaction to merge
        for c in half:
            produce_events(producer, lifecycle, queued(f"call-{c}", 50, t0))  # event times t0 .. t0+49
        assert producer.flush(30) == 0
        archive_all(settings, kafka_config, [lifecycle])
    archive = Archive.open(settings)
    compact(archive)  # cold rows hold their events as typed columns: re-drive rebuilds the bytes
    assert archive.table(lifecycle).scan(selected_fields=("payload",)).to_arrow()["payload"].null_count == 1000
    recent = [segment(f"call-{c}", 0, t0 + 15, f"segment {c}") for c in range(10)]  # archived after compaction
    produce_events(producer, redacted, recent)
    assert producer.flush(30) == 0
    archive_all(settings, kafka_config, [redacted])

    view = lifecycle.replace(".", "_").replace("-", "_")
    counts = query(archive, f"SELECT count(*) AS n, count(DISTINCT contact_id) AS calls FROM {view}").to_pylist()
    assert counts == [{"n": 1000, "calls": 20}]
    in_window = query(archive, f"SELECT count(*) AS n FROM {view} WHERE event_time_ms >= {t0 + 10} "
                               f"AND event_time_ms < {t0 + 30}").to_pylist()[0]["n"]
    assert in_window == 400
    with pytest.raises(ArchiveError, match="views named like the table"):
        query(archive, "SELECT * FROM no_such_table")

    started = time.monotonic()
    report = redrive_window(archive, kafka_config, from_ms=t0 + 10, to_ms=t0 + 30, into_topic=into,
                            topics=[lifecycle, redacted], rate_per_s=2000, progress=False)
    elapsed = time.monotonic() - started
    assert report.events == 410 and report.per_topic == {lifecycle: 400, redacted: 10}
    assert elapsed >= 410 / 2000 * 0.9  # the rate limit held
    messages = consume_all(kafka_config, into, 410)
    assert len(messages) == 410
    # byte for byte what the producers wrote, from compacted rows and from rows as archived
    sent = {encode_event(e)[0] for c in range(20) for e in queued(f"call-{c}", 50, t0)}
    assert sorted(m.value() for m in messages if m.value() not in sent) == sorted(encode_event(e)[0] for e in recent)
    messages = [m for m in messages if m.value() in sent]
    event_times = [msgspec.json.decode(m.value())["event_time_ms"] for m in messages]
    assert min(event_times) == t0 + 10 and max(event_times) == t0 + 29
    assert all(dict(m.headers())[REDRIVE_HEADER].startswith(lifecycle.encode()) for m in messages)
    with pytest.raises(ArchiveError, match="empty"):
        redrive_window(archive, kafka_config, from_ms=t0, to_ms=t0, into_topic=into, topics=[lifecycle])


def test_rewind_refuses_active_group_then_moves_offsets(kafka_config, make_topics, unique_name) -> None:
    [topic] = make_topics("lifecycle", partitions=2)
    group = unique_name("live")
    producer = new_producer(kafka_config)
    base = now_ms() - 100_000
    for i in range(100):  # message i has timestamp base + i*1000
        producer.produce(topic, value=b"{}", key=f"k{i % 7}", timestamp=base + i * 1000)
    assert producer.flush(30) == 0

    member = Consumer(kafka_config | {"group.id": group, "auto.offset.reset": "earliest"})
    member.subscribe([topic])
    deadline = time.monotonic() + 30
    seen = 0
    while seen < 100 and time.monotonic() < deadline:
        seen += len([m for m in member.consume(500, 0.5) if not m.error()])
    member.commit(asynchronous=False)
    with pytest.raises(ArchiveError, match="active member"):
        rewind_group(kafka_config, group, base + 50_000)
    member.close()

    moves = rewind_group(kafka_config, group, base + 50_000)

    assert {m.topic for m in moves} == {topic} and len(moves) == 2
    admin = AdminClient(kafka_config)
    committed = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    probe = Consumer(kafka_config | {"group.id": unique_name("probe")})
    expected = probe.offsets_for_times([TopicPartition(topic, p, base + 50_000) for p in (0, 1)], timeout=10)
    probe.close()
    assert {(tp.partition, tp.offset) for tp in committed.topic_partitions} == {(tp.partition, tp.offset) for tp in expected}
    assert all(m.from_offset is not None and m.to_offset < m.from_offset for m in moves)
    resumed = consume_all(kafka_config, topic, 50, group=group)
    # The group resumes with exactly the messages at or after the rewind time.
    assert sorted(m.timestamp()[1] for m in resumed) == [base + i * 1000 for i in range(50, 100)]


def test_a_paced_redrive_runs_niced_and_leaves_its_caller_as_it_was() -> None:
    """A paced re-drive is background work: its thread (and the query and producer threads it
    starts, which inherit it) runs PACED_NICENESS lower; the caller's priority is unchanged
    and an error reaches the caller."""
    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = priority()
    inside = _niced(priority)  # type: ignore[arg-type]
    assert inside == min(19, before + PACED_NICENESS)
    assert priority() == before

    def fails() -> None:
        raise ArchiveError("the window is empty")

    with pytest.raises(ArchiveError, match="the window is empty"):
        _niced(fails)  # type: ignore[arg-type]
