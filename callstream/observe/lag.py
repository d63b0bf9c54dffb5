"""Consumer lag per group and partition, in messages and in seconds, and partition skew.

Lag in messages is the log end offset minus the group's committed offset. Lag in seconds
is the age of the oldest message the group has not consumed yet: ``now`` minus the Kafka
timestamp of the message *at* the committed offset, which is fetched (one message per
lagging partition) by a consumer that only assigns, so it never joins or commits for the
group it measures. A partition whose only unconsumed offsets are transaction markers
(what an exactly-once producer leaves at the end of a topic) has lag 0: nothing is left
to read there.

``OffsetReader`` keeps its clients for repeated sampling (the observer); ``group_lag``,
``all_group_lags`` and ``topic_skew`` are the one-shot forms.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import msgspec
from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

from callstream.errors import KafkaOperationError

#: groups callstream's own tools create for a moment (live summaries, replay, probes):
#: never worth a lag row
EPHEMERAL_GROUP_PREFIXES = ("callstream-live-", "callstream-observer-", "callstream-replay-reader",
                            "callstream-lag-probe", "reader-")


class PartitionLag(msgspec.Struct, frozen=True, kw_only=True):
    topic: str
    partition: int
    #: the next offset the group will read; ``None``: the group never committed here
    committed: int | None
    log_start: int
    log_end: int
    lag: int
    lag_seconds: float
    #: Kafka timestamp of the oldest unconsumed message (``None`` when there is none)
    oldest_unconsumed_ms: int | None = None


class GroupLag(msgspec.Struct, frozen=True, kw_only=True):
    group: str
    sampled_at_ms: int
    partitions: list[PartitionLag]
    #: the group coordinator's view: Stable, Empty, PreparingRebalance, ... or Unknown
    state: str = "Unknown"
    members: int = 0

    @property
    def total_lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def max_lag(self) -> int:
        return max((p.lag for p in self.partitions), default=0)

    @property
    def max_lag_seconds(self) -> float:
        return max((p.lag_seconds for p in self.partitions), default=0.0)

    def by_topic(self) -> dict[str, tuple[int, float]]:
        """topic -> (lag in messages, lag in seconds of its most behind partition)."""
        out: dict[str, tuple[int, float]] = {}
        for p in self.partitions:
            lag, seconds = out.get(p.topic, (0, 0.0))
            out[p.topic] = (lag + p.lag, max(seconds, p.lag_seconds))
        return out

    def partition(self, topic: str, partition: int) -> PartitionLag:
        for p in self.partitions:
            if (p.topic, p.partition) == (topic, partition):
                return p
        raise KeyError((topic, partition))


class TopicSkew(msgspec.Struct, frozen=True, kw_only=True):
    """How unevenly a topic's partitions are loaded: ``max / mean`` (1.0 is perfectly even)."""

    topic: str
    partitions: int
    #: retained messages per partition (log end - log start), by partition number
    messages: list[int]
    size_skew: float
    #: produce rate per partition (messages/s) between two samples, when measured
    rates: list[float] | None = None
    rate_skew: float | None = None


def skew(values: Sequence[float]) -> float:
    """``max / mean`` of ``values``; 1.0 when they are all equal, 0.0 when all are zero."""
    if not values:
        return 0.0
    mean = sum(values) / len(values)
    return max(values) / mean if mean > 0 else 0.0


def skew_of(topic: str, offsets: Mapping[int, tuple[int, int]],
            previous: Mapping[int, tuple[int, int]] | None = None, interval_s: float | None = None) -> TopicSkew:
    """A ``TopicSkew`` from ``partition -> (log start, log end)``; with an earlier sample
    and the seconds between them, the produce-rate skew too."""
    parts = sorted(offsets)
    messages = [offsets[p][1] - offsets[p][0] for p in parts]
    rates = None
    if previous is not None and interval_s and interval_s > 0:
        rates = [max(0, offsets[p][1] - previous.get(p, offsets[p])[1]) / interval_s for p in parts]
    return TopicSkew(topic=topic, partitions=len(parts), messages=messages, size_skew=round(skew(messages), 4),
                     rates=rates, rate_skew=round(skew(rates), 4) if rates is not None else None)


def _kafka_error(what: str, exc: Exception) -> KafkaOperationError:
    if isinstance(exc, FutureTimeout):
        return KafkaOperationError(f"{what} got no answer in time", "the cluster is slow or a coordinator is loading; retry")
    error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
    detail = error.str() if error else str(exc)
    return KafkaOperationError(f"{what} failed: {detail}", "check that the cluster is reachable and the names exist",
                               code=error.name() if error else None)


#: what a group's coordinator answers while it is being elected or loading its offsets (a
#: new cluster's first group creates __consumer_offsets): worth asking again
COORDINATOR_MOVING = frozenset({"NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE"})


def _committed(consumer: Consumer, group: str, partitions: list[TopicPartition],
               timeout_s: float) -> dict[tuple[str, int], int]:
    """``group``'s committed offsets on ``partitions`` through ``consumer`` (carrying the
    group's id), asked again while its coordinator moves, until ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = consumer.committed(partitions, timeout=max(0.5, deadline - time.monotonic()))
            break
        except KafkaException as exc:
            code = exc.args[0].name() if exc.args and isinstance(exc.args[0], KafkaError) else None
            if code not in COORDINATOR_MOVING or time.monotonic() >= deadline:
                raise _kafka_error(f"reading the committed offsets of group {group}", exc) from None
            time.sleep(0.2)
    return {(tp.topic, tp.partition): tp.offset for tp in result
            if tp.error is None and tp.offset != OFFSET_INVALID and tp.offset >= 0}


#: how long a position found with nothing after it counts as empty (one sample's span)
EMPTY_FOR_S = 5.0


def effective_positions(positions: Mapping[tuple[str, int], int | None],
                        log_offsets: Mapping[tuple[str, int], tuple[int, int]]) -> dict[tuple[str, int], int]:
    """Below the log start (or never committed), the next readable message is the log start."""
    return {tp: log_offsets[tp][0] if position is None else max(position, log_offsets[tp][0])
            for tp, position in positions.items()}


def behind_positions(positions: Mapping[tuple[str, int], int | None],
                     log_offsets: Mapping[tuple[str, int], tuple[int, int]]) -> dict[tuple[str, int], int]:
    """The positions that have a message to read before the log end: the lagging ones."""
    return {tp: pos for tp, pos in effective_positions(positions, log_offsets).items() if pos < log_offsets[tp][1]}


class OffsetReader:
    """Reads offsets, committed positions and probe messages with long-lived clients."""

    def __init__(self, client_config: Mapping[str, Any], timeout_s: float = 10.0,
                 unreadable: Collection[str] = ()) -> None:
        self.client_config = dict(client_config)
        self.timeout_s = timeout_s
        #: topics whose messages this reader may not read (the observer and a restricted
        #: topic): their timestamps are found through ListOffsets, which needs DESCRIBE only
        self.unreadable = frozenset(unreadable)
        self.admin = AdminClient(self.client_config)
        self._probe: Consumer | None = None
        self._group_readers: dict[str, Consumer] = {}
        #: ((topic, partition), offset) -> timestamp of the message there
        self._timestamps: dict[tuple[tuple[str, int], int], int] = {}
        #: positions found with no message after them, and when
        self._ended: dict[tuple[tuple[str, int], int], float] = {}

    @property
    def probe(self) -> Consumer:
        if self._probe is None:
            self._probe = Consumer(self.client_config | {
                # assign() only: this group id is never joined and nothing is committed
                "group.id": f"callstream-lag-probe-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": "false",
                "enable.partition.eof": "true",
                "auto.offset.reset": "earliest",
                "isolation.level": "read_uncommitted",
                # one message per partition is all a probe needs
                "max.partition.fetch.bytes": "65536",
                "fetch.max.bytes": "1048576",
                "queued.min.messages": "1",
                # with a queue that full after one message, librdkafka waits this long before
                # fetching a partition again (1 s by default): every round of reading paid
                # 1-3 s, and an observer sample on a starting `up` 5-14 s (two failed at 10 s)
                "fetch.queue.backoff.ms": "5",
                # a round assigning a topic this consumer has not read yet waited 1.7 s for
                # it with the broker holding fetches 500 ms; 0.9 s with 10 ms
                "fetch.wait.max.ms": "10",
            })
        return self._probe

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        for consumer in self._group_readers.values():
            consumer.close()
        self._group_readers.clear()

    def __enter__(self) -> OffsetReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- metadata and offsets ---------------------------------------------------------

    def partitions(self, topics: Iterable[str]) -> list[tuple[str, int]]:
        """Every (topic, partition) of ``topics`` that exists on the cluster."""
        try:
            metadata = self.admin.list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            raise _kafka_error("reading cluster metadata", exc) from None
        found: list[tuple[str, int]] = []
        for topic in topics:
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                continue
            found.extend((topic, p) for p in sorted(meta.partitions))
        return found

    def log_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
        """``(topic, partition) -> (log start, log end)`` in two batched ListOffsets requests."""
        wanted = list(partitions)
        if not wanted:
            return {}
        ends = self._list_offsets(wanted, OffsetSpec.latest())
        starts = self._list_offsets(wanted, OffsetSpec.earliest())
        return {tp: (starts[tp], ends[tp]) for tp in wanted}

    def end_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """``(topic, partition) -> log end`` in one batched ListOffsets request (asking each
        partition's watermark in turn took 55 ms a partition: 6 s for the catalog)."""
        wanted = list(partitions)
        return self._list_offsets(wanted, OffsetSpec.latest()) if wanted else {}

    def _list_offsets(self, partitions: list[tuple[str, int]], spec: OffsetSpec) -> dict[tuple[str, int], int]:
        request = {TopicPartition(t, p): spec for t, p in partitions}
        try:
            futures = self.admin.list_offsets(request, isolation_level=IsolationLevel.READ_UNCOMMITTED,
                                              request_timeout=self.timeout_s)
            return {(tp.topic, tp.partition): f.result(timeout=self.timeout_s + 5).offset for tp, f in futures.items()}
        except (KafkaException, FutureTimeout) as exc:
            raise _kafka_error("listing partition offsets", exc) from None

    def committed(self, group: str, topics: Iterable[str] | None = None) -> dict[tuple[str, int], int]:
        """The group's committed offsets on ``topics`` (default: every non-internal topic);
        partitions it never committed are absent.

        Read through a consumer carrying the group's id that never subscribes (an
        OffsetFetch, no JoinGroup), not through ``AdminClient.list_consumer_group_offsets``:
        librdkafka 2.12's admin path crashes the process (SIGSEGV in
        ``rd_kafka_cgrp_op``) when that response arrives while the group's coordinator is
        moving or loading, which happens whenever groups start.
        """
        partitions = self.partitions(topics if topics is not None else self.topics())
        if not partitions:
            return {}
        return _committed(self._group_reader(group), group, [TopicPartition(t, p) for t, p in partitions],
                          self.timeout_s)

    def committed_of_groups(self, groups: Sequence[str], topics: Iterable[str],
                            workers: int = 8) -> dict[str, dict[tuple[str, int], int]]:
        """Each group's committed offsets on ``topics``, read as ``committed`` reads them but
        several groups at a time, each through a consumer closed right after (a cluster may
        hold hundreds of groups: one by one, or all kept open, is too slow or too many clients)."""
        partitions = [TopicPartition(t, p) for t, p in self.partitions(topics)]
        if not partitions or not groups:
            return {}

        def read(group: str) -> dict[tuple[str, int], int]:
            consumer = Consumer(self.client_config | {"group.id": group, "enable.auto.commit": "false",
                                                      "enable.auto.offset.store": "false"})
            try:
                return _committed(consumer, group, partitions, self.timeout_s)
            finally:
                consumer.close()

        with ThreadPoolExecutor(max(1, min(workers, len(groups)))) as pool:  # librdkafka waits without the GIL
            return dict(zip(groups, pool.map(read, groups), strict=True))

    def _group_reader(self, group: str) -> Consumer:
        consumer = self._group_readers.get(group)
        if consumer is None:
            consumer = self._group_readers[group] = Consumer(self.client_config | {
                "group.id": group, "enable.auto.commit": "false", "enable.auto.offset.store": "false"})
        return consumer

    def topics(self) -> list[str]:
        """Every topic on the cluster but Kafka's internal ones."""
        try:
            metadata = self.admin.list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            raise _kafka_error("reading cluster metadata", exc) from None
        return sorted(t for t in metadata.topics if not t.startswith("__"))

    def group_states(self, groups: Sequence[str]) -> dict[str, tuple[str, int]]:
        """group -> (state name, member count); groups that cannot be described are left out."""
        if not groups:
            return {}
        out = {}
        for group, future in self.admin.describe_consumer_groups(list(groups), request_timeout=self.timeout_s).items():
            try:
                description = future.result(timeout=self.timeout_s + 5)
            except (KafkaException, FutureTimeout):
                continue
            state = getattr(description.state, "name", str(description.state)).replace("_", " ").title().replace(" ", "")
            out[group] = (state, len(description.members))
        return out

    def groups(self, include_ephemeral: bool = False) -> list[str]:
        """Consumer groups the cluster knows, without callstream's short-lived tool groups."""
        try:
            listed = self.admin.list_consumer_groups(request_timeout=self.timeout_s).result(timeout=self.timeout_s + 5)
        except (KafkaException, FutureTimeout) as exc:
            raise _kafka_error("listing consumer groups", exc) from None
        names = sorted(g.group_id for g in listed.valid)
        if include_ephemeral:
            return names
        return [g for g in names if not g.startswith(EPHEMERAL_GROUP_PREFIXES)]

    def first_timestamps(self, positions: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int | None]:
        """Kafka timestamp of the first message at or after each position; ``None`` where
        the partition ends first (only transaction markers, or nothing, remain). A message's
        timestamp never changes, so found ones are remembered (``prefetch_timestamps``)."""
        found: dict[tuple[str, int], int | None] = {}
        missing = {}
        now = time.monotonic()
        for tp, offset in positions.items():
            known = self._timestamps.get((tp, offset))
            if known is not None:
                found[tp] = known
            elif now - self._ended.get((tp, offset), -EMPTY_FOR_S) < EMPTY_FOR_S:
                found[tp] = None
            else:
                missing[tp] = offset
        if missing:
            read = self._read_timestamps(missing)
            self._remember(missing, read)
            found |= read
        return found

    def prefetch_timestamps(self, position_maps: Iterable[Mapping[tuple[str, int], int]]) -> None:
        """Read the timestamps of many readers' positions in as few rounds as there are
        distinct positions on one partition, instead of one round per reader: nine groups
        reading one topic cost nine rounds of ~0.27 s each before."""
        wanted: dict[tuple[str, int], set[int]] = {}
        for positions in position_maps:
            for tp, offset in positions.items():
                if (tp, offset) not in self._timestamps and (tp, offset) not in self._ended:
                    wanted.setdefault(tp, set()).add(offset)
        ordered = {tp: sorted(offsets) for tp, offsets in wanted.items()}
        for round_ in range(max((len(o) for o in ordered.values()), default=0)):
            batch = {tp: offsets[round_] for tp, offsets in ordered.items() if round_ < len(offsets)}
            self._remember(batch, self._read_timestamps(batch))

    def _remember(self, positions: Mapping[tuple[str, int], int], found: Mapping[tuple[str, int], int | None]) -> None:
        if len(self._timestamps) > 100_000:
            self._timestamps.clear()
        self._timestamps.update({(tp, positions[tp]): ts for tp, ts in found.items() if ts is not None})
        # nothing there (only transaction markers): remembered briefly, a message may arrive
        now = time.monotonic()
        self._ended = {k: t for k, t in self._ended.items() if now - t < EMPTY_FOR_S}
        self._ended.update({(tp, positions[tp]): now for tp, ts in found.items() if ts is None})

    def _read_timestamps(self, positions: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int | None]:
        if not positions:
            return {}
        found = self.searched_timestamps({tp: o for tp, o in positions.items() if tp[0] in self.unreadable})
        pending = {tp: o for tp, o in positions.items() if tp[0] not in self.unreadable}
        if not pending:
            return found
        consumer = self.probe
        consumer.assign([TopicPartition(t, p, o) for (t, p), o in pending.items()])
        deadline = time.monotonic() + self.timeout_s
        try:
            while pending and time.monotonic() < deadline:
                for message in consumer.consume(num_messages=500, timeout=0.02):
                    tp = (message.topic(), message.partition())
                    if tp not in pending:
                        continue
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            found[tp] = None
                            del pending[tp]
                        continue
                    if message.offset() < pending[tp]:
                        continue  # fetched for an earlier round's position
                    _, timestamp = message.timestamp()
                    found[tp] = timestamp if timestamp > 0 else None
                    del pending[tp]
        finally:
            consumer.unassign()
        if pending:
            raise KafkaOperationError(
                f"could not read the oldest unconsumed message of {sorted(pending)[:3]} within {self.timeout_s:.0f}s",
                "the broker is slow or unreachable; retry, or raise the timeout")
        return found

    def searched_timestamps(self, positions: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int | None]:
        """The timestamp of the message at each position without reading it: the latest
        time whose ListOffsets answer (the first offset at or after that time) is still at
        or before the position, found by bisection to the millisecond for all partitions
        at once. Exact where timestamps grow with offsets, as they do for callstream's
        producers; ``None`` where no message at or after the position has a timestamp."""
        if not positions:
            return {}
        consumer = self.probe
        ends = {tp: consumer.get_watermark_offsets(TopicPartition(*tp), timeout=self.timeout_s)[1] for tp in positions}
        found: dict[tuple[str, int], int | None] = {tp: None for tp, end in ends.items() if positions[tp] >= end}
        positions = {tp: offset for tp, offset in positions.items() if tp not in found}
        low = {tp: 0 for tp in positions}
        high = {tp: time.time_ns() // 1_000_000 + 1 for tp in positions}
        while any(high[tp] - low[tp] > 1 for tp in positions):
            probes = {tp: (low[tp] + high[tp]) // 2 for tp in positions if high[tp] - low[tp] > 1}
            try:
                answers = consumer.offsets_for_times([TopicPartition(t, p, ts) for (t, p), ts in probes.items()],
                                                     timeout=self.timeout_s)
            except KafkaException as exc:
                raise _kafka_error("searching message timestamps", exc) from None
            for answer in answers:
                tp = (answer.topic, answer.partition)
                # offset -1: no message at or after the time (so the position's is earlier)
                if 0 <= answer.offset <= positions[tp]:
                    low[tp] = probes[tp]
                else:
                    high[tp] = probes[tp]
        return found | {tp: low[tp] if low[tp] > 0 else None for tp in positions}

    # --- lag ------------------------------------------------------------------------------

    def group_lag(self, group: str, topics: Sequence[str] | None = None, *,
                  now_ms: int | None = None, state: tuple[str, int] | None = None,
                  log_offsets: Mapping[tuple[str, int], tuple[int, int]] | None = None) -> GroupLag:
        """Lag of ``group`` on ``topics`` (default: every topic it has committed offsets for).

        A partition of ``topics`` the group never committed counts from its log start
        (what a group reading from the earliest offset would have to read)."""
        committed = self.committed(group, topics)
        if topics is None:
            partitions = sorted(committed)
        else:
            wanted = set(topics)
            partitions = sorted(set(self.partitions(topics)) | {tp for tp in committed if tp[0] in wanted})
        known = dict(log_offsets or {})
        missing = [tp for tp in partitions if tp not in known]
        known.update(self.log_offsets(missing))
        return self.lag_from_positions(group, {tp: committed.get(tp) for tp in partitions}, known,
                                       now_ms=now_ms, state=state or self.group_states([group]).get(group))

    def lag_from_positions(self, group: str, positions: Mapping[tuple[str, int], int | None],
                           log_offsets: Mapping[tuple[str, int], tuple[int, int]], *,
                           now_ms: int | None = None, state: tuple[str, int] | None = None) -> GroupLag:
        """Lag of any reader whose next offsets are ``positions`` (a consumer group, or the
        archive, whose positions are the offsets recorded in its snapshots)."""
        effective = effective_positions(positions, log_offsets)
        behind = behind_positions(positions, log_offsets)
        timestamps = self.first_timestamps(behind)
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        rows = []
        for tp in sorted(positions):
            start, end = log_offsets[tp]
            lag = end - effective[tp]
            oldest = timestamps.get(tp)
            if tp in behind and oldest is None:
                lag = 0  # only transaction markers remain
            rows.append(PartitionLag(
                topic=tp[0], partition=tp[1], committed=positions[tp], log_start=start, log_end=end, lag=lag,
                lag_seconds=round(max(0.0, (now - oldest) / 1000.0), 3) if oldest is not None else 0.0,
                oldest_unconsumed_ms=oldest))
        name, members = state or ("Unknown", 0)
        return GroupLag(group=group, sampled_at_ms=now, partitions=rows, state=name, members=members)

    def all_group_lags(self, groups: Sequence[str] | None = None, *, now_ms: int | None = None) -> list[GroupLag]:
        """Lag of every group in ``groups`` (default: every non-ephemeral group), sharing
        one ListOffsets round trip for all of them."""
        names = list(groups) if groups is not None else self.groups()
        topics = self.topics()
        committed = {g: self.committed(g, topics) for g in names}
        offsets = self.log_offsets(sorted({tp for c in committed.values() for tp in c}))
        states = self.group_states(names)
        self.prefetch_timestamps(behind_positions(committed[g], offsets) for g in names)
        return [self.lag_from_positions(g, dict(committed[g]), offsets, now_ms=now_ms, state=states.get(g))
                for g in names]

    def topic_skew(self, topics: Sequence[str], interval_s: float | None = None) -> list[TopicSkew]:
        """Skew of each topic's partitions by size; with ``interval_s``, offsets are sampled
        twice that far apart and the produce-rate skew is measured too."""
        partitions = self.partitions(topics)
        first = self.log_offsets(partitions)
        second = first
        if interval_s:
            time.sleep(interval_s)
            second = self.log_offsets(partitions)
        out = []
        for topic in topics:
            now = {p: second[(t, p)] for t, p in partitions if t == topic}
            if not now:
                continue
            before = {p: first[(t, p)] for t, p in partitions if t == topic} if interval_s else None
            out.append(skew_of(topic, now, before, interval_s))
        return out


def group_lag(client_config: Mapping[str, str], group: str, topics: list[str] | None = None) -> GroupLag:
    """Lag of one consumer group per partition, in messages and seconds (see the module doc)."""
    with OffsetReader(client_config) as reader:
        return reader.group_lag(group, topics)


def all_group_lags(client_config: Mapping[str, str], groups: Sequence[str] | None = None) -> list[GroupLag]:
    """Lag of several groups (default: every group but callstream's short-lived tool groups)."""
    with OffsetReader(client_config) as reader:
        return reader.all_group_lags(groups)


def topic_skew(client_config: Mapping[str, str], topics: Sequence[str], interval_s: float | None = None) -> list[TopicSkew]:
    """Partition skew per topic: ``max / mean`` of retained messages (and of produce rate
    over ``interval_s`` seconds, if given)."""
    with OffsetReader(client_config) as reader:
        return reader.topic_skew(topics, interval_s)
