"""Lag and skew against the real broker, checked against what the test itself produced."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from callstream.observe.lag import OffsetReader, group_lag, skew, skew_of, topic_skew


def test_skew_is_max_over_mean() -> None:
    assert skew([10, 10, 10]) == 1.0
    assert skew([30, 0, 0]) == 3.0
    assert skew([0, 0]) == 0.0 and skew([]) == 0.0
    s = skew_of("t", {0: (0, 100), 1: (50, 150), 2: (0, 400)}, {0: (0, 90), 1: (0, 140), 2: (0, 300)}, 2.0)
    assert s.messages == [100, 100, 400] and s.size_skew == 2.0
    assert s.rates == [5.0, 5.0, 50.0] and s.rate_skew == 2.5


def _produce(config: dict, topic: str, count: int, partition: int | None = None) -> dict[int, list[int]]:
    """Produce ``count`` messages; returns partition -> Kafka timestamps (from delivery reports)."""
    delivered: dict[int, list[int]] = {}

    def on_delivery(err, msg) -> None:
        assert err is None, err
        delivered.setdefault(msg.partition(), []).append(msg.timestamp()[1])

    producer = Producer({**config, "linger.ms": 5})
    for i in range(count):
        kwargs = {"partition": partition} if partition is not None else {}
        producer.produce(topic, f"v{i}".encode(), key=f"k{i}".encode(), on_delivery=on_delivery, **kwargs)
    assert producer.flush(30) == 0
    return delivered


def _consume_all(config: dict, group: str, topic: str, expected: int, isolation: str = "read_uncommitted") -> None:
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "isolation.level": isolation})
    consumer.subscribe([topic])
    seen, deadline = 0, time.monotonic() + 60
    try:
        while seen < expected and time.monotonic() < deadline:
            seen += sum(1 for m in consumer.consume(500, 0.5) if not m.error())
        assert seen == expected
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def test_stopped_group_lags_by_what_was_produced_then_drains(kafka_config, create_topic, unique_name) -> None:
    topic, group = create_topic(unique_name("lag"), partitions=3), unique_name("group")
    _produce(kafka_config, topic, 30)
    _consume_all(kafka_config, group, topic, 30)  # caught up, then stopped ("paused")
    caught_up = group_lag(kafka_config, group, [topic])
    assert caught_up.total_lag == 0 and caught_up.max_lag_seconds == 0.0

    n = 120
    delivered = _produce(kafka_config, topic, n)
    first = group_lag(kafka_config, group, [topic])
    assert first.total_lag == n
    for partition, stamps in delivered.items():
        row = first.partition(topic, partition)
        assert row.lag == len(stamps)  # independent count: delivery reports per partition
        assert row.oldest_unconsumed_ms == min(stamps)  # the first new message, not any other
    time.sleep(1.5)
    second = group_lag(kafka_config, group, [topic])
    assert second.total_lag == n
    oldest = min(min(s) for s in delivered.values())
    assert second.max_lag_seconds == pytest.approx((second.sampled_at_ms - oldest) / 1000, abs=0.01)
    assert second.max_lag_seconds >= first.max_lag_seconds + 1.4  # grows while nobody consumes

    _consume_all(kafka_config, group, topic, n)  # resumed: the group drains
    drained = group_lag(kafka_config, group, [topic])
    assert drained.total_lag == 0 and drained.max_lag_seconds == 0.0
    assert drained.by_topic() == {topic: (0, 0.0)}


def test_transaction_markers_are_not_lag(kafka_config, create_topic, unique_name) -> None:
    topic, group = create_topic(unique_name("txn"), partitions=1), unique_name("group")
    producer = Producer({**kafka_config, "transactional.id": unique_name("tx")})
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic, f"v{i}".encode(), partition=0)
    producer.commit_transaction(30)
    _consume_all(kafka_config, group, topic, 10, isolation="read_committed")
    # librdkafka commits its position past the marker; Quix Streams commits last offset + 1,
    # in front of it: commit that way, as a processor would
    consumer = Consumer({**kafka_config, "group.id": group})
    consumer.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)
    consumer.close()
    lag = group_lag(kafka_config, group, [topic])
    row = lag.partition(topic, 0)
    assert row.log_end == 11 and row.committed == 10  # the commit marker sits at offset 10
    assert row.lag == 0 and row.lag_seconds == 0.0


def test_never_committed_group_counts_from_log_start_and_skew(kafka_config, create_topic, unique_name) -> None:
    topic = create_topic(unique_name("skew"), partitions=4)
    _produce(kafka_config, topic, 40, partition=2)
    lag = group_lag(kafka_config, unique_name("fresh"), [topic])
    assert lag.total_lag == 40 and lag.partition(topic, 2).committed is None
    [measured] = topic_skew(kafka_config, [topic])
    assert measured.messages == [0, 0, 40, 0] and measured.size_skew == 4.0
    with OffsetReader(kafka_config) as reader:
        assert reader.partitions([topic, "no-such-topic"]) == [(topic, p) for p in range(4)]


def test_timestamps_found_through_offsets_equal_the_messages_own(kafka_config, create_topic, unique_name) -> None:
    """The observer may not read a restricted topic: it finds the oldest unconsumed
    message's timestamp by bisecting ListOffsets (DESCRIBE only) instead of reading it."""
    topic = create_topic(unique_name("searched"), partitions=1)
    timestamps = []
    for _ in range(5):
        timestamps += _produce(kafka_config, topic, 20, partition=0)[0]
        time.sleep(0.05)
    reader = OffsetReader(kafka_config)
    try:
        for offset in (0, 37, 99):
            searched = reader.searched_timestamps({(topic, 0): offset})
            read = reader.first_timestamps({(topic, 0): offset})
            assert searched == read == {(topic, 0): timestamps[offset]}
        assert reader.searched_timestamps({(topic, 0): 100}) == {(topic, 0): None}  # past the end
    finally:
        reader.close()


def test_many_readers_positions_are_read_in_rounds_and_remembered(kafka_config, create_topic, unique_name) -> None:
    topic = create_topic(unique_name("lag-rounds"), partitions=2)
    times = _produce(kafka_config, topic, 10, partition=0) | _produce(kafka_config, topic, 10, partition=1)
    readers = [{(topic, p): n for p in (0, 1)} for n in (0, 3, 6)]  # three groups at different positions
    with OffsetReader(kafka_config) as reader:
        rounds = []
        read = reader._read_timestamps  # noqa: SLF001 (counting the reads the cache saves)
        reader._read_timestamps = lambda positions: rounds.append(dict(positions)) or read(positions)  # noqa: SLF001
        reader.prefetch_timestamps(readers)
        assert len(rounds) == 3  # one per distinct position on a partition, not one per reader and partition
        for positions in readers:
            found = reader.first_timestamps(positions)
            assert found == {(topic, p): times[p][n] for (_, p), n in positions.items()}
        assert len(rounds) == 3  # every later question was answered from what was read
