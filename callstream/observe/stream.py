"""The one tap on callstream's output topics, and what the observer keeps from it.

Three readers watch the outputs: the observer behind ``status`` and the dashboard, the live
line of ``callstream up``, and the rehearsal's loss and latency checks. They share this
``StreamTap``: it assigns partitions itself (no consumer group, nothing committed), in one
of three modes (``TapStart``): from ``lookback_s`` before now (the observer; the dead-letter
topic from its start, so totals are totals), from the latest offsets (the live line), or
from the beginning reading committed data only (the rehearsal, which counts what a
``read_committed`` consumer sees). Each hands the batches to its own figures.

Latency is ``produced_at_ms - source_time_ms`` of an event's lineage (``Lineage``): the
time from the first event of the chain being produced to this stage producing its result,
the same clock a processor sees. Restricted topics (raw transcripts) are never read by the
observer: it has no business with raw customer speech, and dead letters are counted from
their headers only.
"""

from __future__ import annotations

import bisect
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition

from callstream.contract.catalog import DEADLETTER_TOPIC, Catalog
from callstream.contract.codec import decode_event
from callstream.contract.deadletter import read_dead_letter
from callstream.errors import DecodeError
from callstream.governance.acls import OBSERVER
from callstream.observe.client_metrics import reason_class
from callstream.observe.lag import OffsetReader
from callstream.observe.snapshot import LATENCY_BUCKETS, DeadLetterCount, StageLatency
from callstream.observe.supervisor import SupervisorBoard

TapStart = Literal["lookback", "latest", "beginning"]


class Lineage(msgspec.Struct):
    """The envelope fields latency needs; msgspec skips the rest of the body."""

    event_type: str | None = None
    producer: str | None = None
    produced_at_ms: int | None = None
    source_time_ms: int | None = None

    @property
    def latency_ms(self) -> int | None:
        """How long after its source event this event was produced (``None``: no lineage)."""
        if self.source_time_ms is None or self.produced_at_ms is None or not self.producer:
            return None
        return max(0, self.produced_at_ms - self.source_time_ms)


_LINEAGE = msgspec.json.Decoder(Lineage)


def read_lineage(value: bytes) -> Lineage | None:
    """The lineage of a message value, or ``None`` if it is not a JSON event."""
    try:
        return _LINEAGE.decode(value)
    except msgspec.DecodeError:
        return None


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, -(-int(q * 1000) * len(sorted_values) // 1000))  # ceil(q * n) without float error
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class _StageStats:
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    count: int = 0
    total_s: float = 0.0
    #: (Kafka timestamp ms, latency ms) inside the sliding window
    window: deque = field(default_factory=deque)

    def observe(self, latency_ms: float, at_ms: int) -> None:
        seconds = latency_ms / 1000.0
        self.count += 1
        self.total_s += seconds
        index = bisect.bisect_left(LATENCY_BUCKETS, seconds)
        if index < len(self.buckets):
            self.buckets[index] += 1
        self.window.append((at_ms, latency_ms))


def default_topics(catalog: Catalog, reader: str = OBSERVER) -> list[str]:
    """Catalog topics the tap reads: those the catalog lets ``reader`` consume (its ACLs
    allow no more), never a restricted one but the dead letters (read from headers only)."""
    return [t.name for t in catalog.topics if reader in t.consumers
            and (t.classification != "restricted" or t.name == DEADLETTER_TOPIC)]


class TapFigures:
    """What the tap keeps from the messages it read (no Kafka client: benchmarked and
    unit-tested on its own)."""

    def __init__(self, logical: Mapping[str, str], window_s: float = 60.0, board: SupervisorBoard | None = None) -> None:
        #: actual topic name -> catalog name
        self.logical = dict(logical)
        self.window_s = window_s
        self.board = board if board is not None else SupervisorBoard()
        self.lock = threading.Lock()
        self.stages: dict[str, _StageStats] = {}
        self.dead: dict[tuple[str, str], int] = {}
        self.dead_window: deque = deque()  # (failed_at_ms, processor, reason)
        self.messages = 0
        self.undecodable = 0

    def handle(self, messages: list) -> int:
        """Account for a batch of consumed messages; returns how many were not errors."""
        read = 0
        with self.lock:
            for message in messages:
                if message.error() is not None:
                    continue
                read += 1
                self.messages += 1
                logical = self.logical.get(message.topic())
                if logical == DEADLETTER_TOPIC:
                    self._dead_letter(message)
                    continue
                value = message.value()
                if not value:
                    continue
                lineage = read_lineage(value)
                if lineage is None:
                    self.undecodable += 1
                    continue
                _, timestamp = message.timestamp()
                latency = lineage.latency_ms
                if latency is not None and lineage.producer:
                    stats = self.stages.get(lineage.producer)
                    if stats is None:
                        stats = self.stages[lineage.producer] = _StageStats()
                    stats.observe(latency, timestamp)
                if lineage.event_type in SupervisorBoard.EVENT_TYPES:
                    try:
                        event = decode_event(value)
                    except DecodeError:
                        self.undecodable += 1
                        continue
                    if event is not None:
                        self.board.apply(event)
        return read

    def _dead_letter(self, message) -> None:
        try:
            letter = read_dead_letter(message)
        except DecodeError:
            processor, reason, failed_at = "unknown", "not_a_dead_letter", message.timestamp()[1]
        else:
            processor, reason, failed_at = letter.processor, reason_class(letter.reason), letter.failed_at_ms
        key = (processor, reason)
        self.dead[key] = self.dead.get(key, 0) + 1
        self.dead_window.append((failed_at, processor, reason))

    # --- figures ----------------------------------------------------------------------------

    def latency(self, now_ms: int) -> list[StageLatency]:
        """Per stage: the cumulative histogram and exact window percentiles at ``now_ms``."""
        horizon = now_ms - int(self.window_s * 1000)
        out = []
        with self.lock:
            for stage, stats in sorted(self.stages.items()):
                while stats.window and stats.window[0][0] < horizon:
                    stats.window.popleft()
                values = sorted(v for at, v in stats.window if at <= now_ms)
                cumulative, running = [], 0
                for count in stats.buckets:
                    running += count
                    cumulative.append(running)
                out.append(StageLatency(
                    stage=stage, count=stats.count, sum_seconds=round(stats.total_s, 6), buckets=cumulative,
                    window_count=len(values), p50_ms=percentile(values, 0.5), p99_ms=percentile(values, 0.99),
                    max_ms=values[-1] if values else None))
        return out

    def dead_letters(self, now_ms: int) -> list[DeadLetterCount]:
        horizon = now_ms - int(self.window_s * 1000)
        with self.lock:
            recent: dict[tuple[str, str], int] = {}
            for at, processor, reason in self.dead_window:
                if horizon <= at <= now_ms:
                    recent[(processor, reason)] = recent.get((processor, reason), 0) + 1
            while self.dead_window and self.dead_window[0][0] < horizon:
                self.dead_window.popleft()
            per_minute = 60.0 / self.window_s
            return [DeadLetterCount(processor=p, reason=r, total=total,
                                    per_minute=round(recent.get((p, r), 0) * per_minute, 3))
                    for (p, r), total in sorted(self.dead.items())]

    def board_view(self) -> dict:
        with self.lock:
            return self.board.view()

    def search(self, text: str) -> list[dict]:
        with self.lock:
            return self.board.search(text)


class StreamTap:
    """Reads output topics into a ``handle(messages)`` callback, in one of the ``TapStart`` modes."""

    def __init__(self, client_config: Mapping[str, Any], topics: Mapping[str, str],
                 handle: Callable[[list], object], *, start: TapStart = "lookback", lookback_s: float = 900.0,
                 committed_only: bool = False, on_error: Callable[[str, KafkaError], None] | None = None) -> None:
        #: actual topic name -> catalog name
        self.logical = dict(topics)
        self.handle = handle
        self.start = start
        self.lookback_s = lookback_s
        conf: dict[str, Any] = dict(client_config) | {
            "group.id": f"callstream-tap-{uuid.uuid4().hex[:8]}",  # assign() only: never joined
            "enable.auto.commit": "false",
            "enable.partition.eof": "true",
            # the observer and the live line measure what was produced, committed or not yet;
            # a rehearsal counts what a read_committed consumer sees
            "isolation.level": "read_committed" if committed_only else "read_uncommitted",
            "fetch.wait.max.ms": "100",
        }
        if on_error is not None:
            conf["error_cb"] = lambda error: on_error("consumer", error)
        self.consumer = Consumer(conf)
        self._assigned = False
        self._client_config = dict(client_config)
        self._offsets: OffsetReader | None = None

    # --- assignment ---------------------------------------------------------------------

    def assign(self, now_ms: int | None = None, timeout_s: float = 10.0) -> list[TopicPartition]:
        """Assign every partition of the tapped topics where the mode starts."""
        metadata = self.consumer.list_topics(timeout=timeout_s)
        partitions = [(actual, logical, partition) for actual, logical in self.logical.items()
                      if (meta := metadata.topics.get(actual)) is not None and meta.error is None
                      for partition in meta.partitions]
        if self.start == "beginning":
            assignment = [TopicPartition(actual, p, OFFSET_BEGINNING) for actual, _, p in partitions]
        elif self.start == "latest":
            assignment = [TopicPartition(actual, p, OFFSET_END) for actual, _, p in partitions]
        else:
            now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
            since = now - int(self.lookback_s * 1000)
            by_time = [TopicPartition(actual, p, since) for actual, logical, p in partitions if logical != DEADLETTER_TOPIC]
            positions = self.consumer.offsets_for_times(by_time, timeout=timeout_s) if by_time else []
            # no message at or after the time: start at the end
            assignment = [TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_END)
                          for tp in positions]
            assignment += [TopicPartition(actual, p, OFFSET_BEGINNING)
                           for actual, logical, p in partitions if logical == DEADLETTER_TOPIC]
        self.consumer.assign(assignment)
        self._assigned = True
        return assignment

    def high_watermarks(self, timeout_s: float = 10.0) -> dict[tuple[str, int], int]:
        if self._offsets is None:
            self._offsets = OffsetReader(self._client_config, timeout_s=timeout_s)
        return self._offsets.end_offsets((tp.topic, tp.partition) for tp in self.consumer.assignment())

    # --- consuming ----------------------------------------------------------------------

    def poll(self, seconds: float, max_messages: int = 2000) -> int:
        """Consume for up to ``seconds``; returns the number of messages read."""
        if not self._assigned:
            self.assign()
        deadline = time.monotonic() + seconds
        read = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            messages = self.consumer.consume(num_messages=max_messages, timeout=min(remaining, 0.5))
            if messages:
                self.handle(messages)
                read += sum(1 for m in messages if m.error() is None)
        return read

    def catch_up(self, timeout_s: float = 30.0) -> int:
        """Read until every partition reached the end it had when called (one-shot status)."""
        if not self._assigned:
            self.assign()
        ends = self.high_watermarks()
        positions = {(tp.topic, tp.partition): tp.offset for tp in self.consumer.position(self.consumer.assignment())}
        pending = {tp for tp, end in ends.items() if positions.get(tp, 0) < end}
        read, deadline = 0, time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            messages = self.consumer.consume(num_messages=5000, timeout=0.2)
            self.handle(messages)
            for message in messages:
                tp = (message.topic(), message.partition())
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(tp)
                elif error is None:
                    read += 1
                    if message.offset() >= ends.get(tp, 0) - 1:
                        pending.discard(tp)
        return read

    def at_end(self, transactional: AbstractSet[str] = frozenset()) -> bool:
        """Whether every assigned partition has been read to its current end. In a topic
        written in transactions the position stops before the last commit marker, which no
        consumer reads: one offset short is the end there."""
        assignment = self.consumer.assignment()
        positions = {(tp.topic, tp.partition): tp.offset for tp in self.consumer.position(assignment)}
        for (topic, partition), high in self.high_watermarks().items():
            if high <= 0:
                continue  # an empty partition is at its end
            position = positions[(topic, partition)]
            slack = 1 if topic in transactional else 0
            if position < 0 or high - position > slack:
                return False
        return True

    def close(self) -> None:
        self.consumer.close()
        if self._offsets is not None:
            self._offsets.close()
