"""Replay from the archive: one call's timeline, re-drive of a window, rewind of a group.

``call_timeline`` joins what the archive holds with the tail still in Kafka (from each
partition's archived offset to its end; only the partition the call's key hashes to), so
a call that is still going on is complete too; rows are de-duplicated at the seam by
(topic, partition, offset). ``redrive_window`` re-produces archived events with a producer
of its own; ``rewind_group`` moves a stopped group's offsets. None of them joins or
commits for a live consumer group.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table as RichTable

from callstream.archive.body import payloads
from callstream.archive.partitioning import Partitioner, partition_for_key
from callstream.archive.query import parquet_source, rebuild_inputs
from callstream.archive.rows import read_envelope
from callstream.archive.tables import Archive, archived_offsets, current_files, holds_bodies, table_name
from callstream.errors import ArchiveError, KafkaOperationError
from callstream.kafka.config import KEY_PARTITIONER

#: Fields of lifecycle events that link the contacts of one transferred call.
LINK_FIELDS = ("previous_contact_id", "initial_contact_id", "new_contact_id")
LINKING_EVENTS = frozenset({"call.initiated", "call.transferred"})
REDRIVE_HEADER = "callstream.redrive.source"
_MAX_LINK_HOPS = 16


# --- scope: which topics, which of them restricted ------------------------------------------

@dataclass(frozen=True)
class ReplayScope:
    """The topics replay reads, and which hold restricted data (raw text) shown only on request."""

    topics: tuple[str, ...]
    restricted: frozenset[str] = frozenset()

    @classmethod
    def from_catalog(cls, catalog) -> ReplayScope:
        """From a ``callstream.contract.catalog.Catalog``: every topic, restricted ones marked."""
        return cls(topics=tuple(t.name for t in catalog.topics),
                   restricted=frozenset(t.name for t in catalog.topics if t.classification == "restricted"))

    def visible(self, include_raw: bool) -> tuple[str, ...]:
        return self.topics if include_raw else tuple(t for t in self.topics if t not in self.restricted)


def _default_scope() -> ReplayScope:
    from callstream.contract.catalog import load_catalog

    return ReplayScope.from_catalog(load_catalog())


# --- the archive side, read at one snapshot per table ---------------------------------------

@dataclass
class ArchiveView:
    """The archive's tables pinned at their current snapshots: files and archived offsets.

    Build once and reuse for many lookups (the benchmark does); ``refresh`` re-pins.
    """

    archive: Archive
    topics: tuple[str, ...]
    files: dict[str, list[str]] = field(default_factory=dict)
    offsets: dict[str, dict[int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import duckdb

        self.con = duckdb.connect()
        # Parquet footers are read once per file, not once per lookup.
        self.con.execute("SET parquet_metadata_cache = true")
        self.con.execute("SET enable_progress_bar = false")
        self.refresh()

    def refresh(self) -> None:
        self.files, self.offsets = {}, {}
        sources = {}
        for topic in self.topics:
            table = self.archive.table(topic, create=False)
            if table is None:
                continue
            current = current_files(table)
            self.files[topic] = [data_file.file_path for data_file in current]
            self.offsets[topic] = archived_offsets(table)
            if self.files[topic]:
                sources[parquet_source(self.archive.settings, self.files[topic], self.con,
                                       f"{table_name(topic)}__files")] = holds_bodies(table, current)
        inputs = rebuild_inputs(self.con, sources, envelopes=True)
        union = " UNION ALL ".join(f"SELECT kafka_topic, kafka_partition, kafka_offset, kafka_timestamp_ms, {inputs[s]} "
                                   f"FROM {s}" for s in sources)
        self.con.execute("DROP VIEW IF EXISTS timeline_rows")
        if union:
            self.con.execute(f"CREATE VIEW timeline_rows AS {union}")
        self._has_rows = bool(union)

    def rows_for(self, contact_ids: Collection[str]) -> list[TimelineEvent]:
        if not self._has_rows or not contact_ids:
            return []
        placeholders = ", ".join("?" for _ in contact_ids)
        rows = self.con.sql(f"SELECT * FROM timeline_rows WHERE contact_id IN ({placeholders})",
                            params=list(contact_ids)).to_arrow_table()
        return [TimelineEvent(topic=topic, partition=partition, offset=offset, kafka_timestamp_ms=timestamp,
                              event_type=event_type, contact_id=contact_id, event_time_ms=event_time,
                              payload=payload, source="archive")
                for topic, partition, offset, timestamp, event_type, contact_id, event_time, payload in zip(
                    *(rows[c].to_pylist() for c in ("kafka_topic", "kafka_partition", "kafka_offset",
                                                    "kafka_timestamp_ms", "event_type", "contact_id",
                                                    "event_time_ms")),
                    payloads(rows).to_pylist(), strict=True)]

    def close(self) -> None:
        self.con.close()


# --- the timeline ---------------------------------------------------------------------------

@dataclass(frozen=True)
class TimelineEvent:
    topic: str
    partition: int
    offset: int
    event_type: str | None
    contact_id: str | None
    event_time_ms: int | None
    kafka_timestamp_ms: int | None
    payload: bytes | None
    source: str  # "archive" | "kafka"

    @property
    def sort_key(self) -> tuple:
        return (self.event_time_ms if self.event_time_ms is not None else self.kafka_timestamp_ms or 0,
                self.topic, self.partition, self.offset)

    def event(self) -> dict:
        """The event's JSON body as a dict (empty if the payload is not JSON)."""
        try:
            decoded = msgspec.json.decode(self.payload) if self.payload else {}
        except msgspec.DecodeError:
            return {}
        return decoded if isinstance(decoded, dict) else {}


@dataclass(frozen=True)
class CallTimeline:
    contact_id: str
    #: the call and every contact linked to it by transfer, in first-seen order
    contact_ids: tuple[str, ...]
    events: tuple[TimelineEvent, ...]

    @property
    def from_archive(self) -> int:
        return sum(1 for e in self.events if e.source == "archive")

    @property
    def from_kafka(self) -> int:
        return sum(1 for e in self.events if e.source == "kafka")

    def to_json(self) -> bytes:
        return msgspec.json.encode({
            "contact_id": self.contact_id,
            "contact_ids": list(self.contact_ids),
            "events": [{"topic": e.topic, "partition": e.partition, "offset": e.offset, "source": e.source,
                        "event_type": e.event_type, "contact_id": e.contact_id,
                        "event_time_ms": e.event_time_ms, "event": e.event()} for e in self.events],
        })

    def to_rich(self) -> RichTable:
        """A readable table (one row per event) for the CLI."""
        import datetime as dt

        table = RichTable(title=f"call {self.contact_id} ({len(self.events)} events, "
                                f"{len(self.contact_ids)} contact(s); {self.from_kafka} not yet archived)")
        for column in ("time (UTC)", "contact", "event", "detail", "from"):
            table.add_column(column)
        for e in self.events:
            when = (dt.datetime.fromtimestamp(e.sort_key[0] / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3])
            body = e.event()
            detail = str(body.get("text") or body.get("queue") or body.get("action") or body.get("disposition")
                         or body.get("score", ""))
            table.add_row(when, e.contact_id or "", e.event_type or "(undecodable)", detail[:80],
                          f"{e.source} {e.topic}/{e.partition}@{e.offset}")
        return table


def linked_contacts(events: Iterable[TimelineEvent]) -> set[str]:
    """Contact ids named by transfer links in these events."""
    found: set[str] = set()
    for e in events:
        if e.event_type in LINKING_EVENTS:
            body = e.event()
            found.update(v for f in LINK_FIELDS if isinstance(v := body.get(f), str) and v)
    return found


class KafkaTail:
    """Reads, per (topic, partition), the messages after the archived offset.

    One consumer serves many lookups (the dashboard's drill-down, the benchmark): its first
    request opens and authenticates a connection (~65 ms of a lookup on a secured broker),
    later lookups reuse it. A partition is read once until ``forget`` (its owner's next
    lookup); partition counts are looked up again after ``METADATA_MAX_AGE_S``."""

    #: how long a topic's partition count is trusted (partitions can be added)
    METADATA_MAX_AGE_S = 60.0

    def __init__(self, kafka_conf: Mapping[str, str], timeout_s: float = 10.0) -> None:
        # A consumer that only assigns never joins its group or commits. Partition EOF tells
        # when the tail is read: on a transactional topic the last offsets are commit
        # markers, which no message ever reaches. A fetch at the end of a partition comes
        # back (and says EOF) after fetch.wait.max.ms: 10 ms, not librdkafka's 500.
        self.consumer = Consumer(dict(kafka_conf) | {
            "group.id": "callstream-replay-reader", "enable.auto.commit": "false", "enable.partition.eof": "true",
            "auto.offset.reset": "earliest", "fetch.wait.max.ms": "10"})
        self.timeout_s = timeout_s
        self._partitions: dict[str, int] = {}
        self._partitions_at = 0.0
        self._read: dict[tuple[str, int], list[TimelineEvent]] = {}

    def forget(self) -> None:
        """Start a new lookup: partitions are read again from their archived offsets."""
        self._read = {}

    def _partition_count(self, topics: Sequence[str]) -> dict[str, int]:
        """Partitions per topic, from one metadata request for all of them (0: not visible)."""
        if time.monotonic() - self._partitions_at > self.METADATA_MAX_AGE_S:
            self._partitions = {}
        missing = [t for t in topics if t not in self._partitions]
        if missing:
            try:
                metadata = self.consumer.list_topics(timeout=self.timeout_s).topics
            except KafkaException as exc:
                raise KafkaOperationError(f"Kafka is not reachable ({exc.args[0].str()})",
                                          "check the bootstrap servers and that the brokers are up") from None
            for topic in missing:
                found = metadata.get(topic)
                self._partitions[topic] = len(found.partitions) if found and not found.error else 0
            self._partitions_at = time.monotonic()
        return {t: self._partitions[t] for t in topics}

    def events_for(self, topics: Sequence[str], contact_ids: Collection[str], offsets: Mapping[str, Mapping[int, int]],
                   partitioner: Partitioner) -> list[TimelineEvent]:
        """The messages of ``contact_ids`` after the ``offsets`` archived, in the partitions
        their keys hash to under ``partitioner``."""
        wanted: set[tuple[str, int]] = set()
        for topic, count in self._partition_count(topics).items():
            if count:
                wanted.update((topic, partition_for_key(cid, count, partitioner)) for cid in contact_ids)
        self._read_partitions([tp for tp in wanted if tp not in self._read], offsets)
        ids = set(contact_ids)
        return [e for tp in wanted for e in self._read[tp] if e.contact_id in ids]

    def _read_partitions(self, partitions: list[tuple[str, int]], offsets: Mapping[str, Mapping[int, int]]) -> None:
        """Read each partition from its archived offset to its end, all at once.

        No watermarks are asked for first (a round trip per partition, ~20 ms each on a
        secured broker): the consumer starts at the archived offset (an offset retention
        already deleted restarts at the earliest one) and partition EOF says where the end
        is. Fetched messages are taken as soon as they are there: a ``consume`` that waits
        for a full batch held every lookup its whole timeout."""
        if not partitions:
            return
        assignment = []
        for topic, partition in partitions:
            self._read[(topic, partition)] = []
            archived = offsets.get(topic, {}).get(partition)
            assignment.append(TopicPartition(topic, partition, OFFSET_BEGINNING if archived is None else archived))
        unread = set(partitions)
        self.consumer.assign(assignment)
        deadline = time.monotonic() + self.timeout_s
        while unread and time.monotonic() < deadline:
            messages = self.consumer.consume(num_messages=5000, timeout=0)
            if not messages:
                first = self.consumer.poll(min(0.1, max(0.0, deadline - time.monotonic())))
                messages = [first] if first is not None else []
            for message in messages:
                tp = (message.topic(), message.partition())
                if message.error():
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        unread.discard(tp)
                    continue
                if tp not in unread:
                    continue  # past the end this read saw: the next lookup's
                envelope = read_envelope(message.value())
                _, timestamp = message.timestamp()
                self._read[tp].append(TimelineEvent(
                    topic=tp[0], partition=tp[1], offset=message.offset(),
                    event_type=envelope.event_type if envelope else None,
                    contact_id=envelope.contact_id if envelope else (message.key() or b"").decode(errors="replace") or None,
                    event_time_ms=envelope.event_time_ms if envelope else None,
                    kafka_timestamp_ms=timestamp, payload=message.value(), source="kafka"))
        self.consumer.unassign()
        if unread:
            raise ArchiveError(f"reading the Kafka tail of {sorted(unread)} did not finish within {self.timeout_s:.0f}s",
                               "the broker is slow or unreachable; retry, or run without the Kafka tail")

    def close(self) -> None:
        self.consumer.close()


def call_timeline(
    archive: Archive,
    contact_id: str,
    *,
    kafka_conf: Mapping[str, str] | None = None,
    scope: ReplayScope | None = None,
    include_linked: bool = True,
    include_raw: bool = False,
    partitioner: Partitioner = "murmur2_random",
    view: ArchiveView | None = None,
    tail: KafkaTail | None = None,
) -> CallTimeline:
    """Every event of one call (and, with ``include_linked``, of the calls transferred to or
    from it) from the archive plus the Kafka tail, ordered by event time. Restricted topics
    (raw transcripts) only with ``include_raw``. Without ``kafka_conf`` only the archive.
    ``view`` and ``tail`` may be kept for many lookups (their owner closes them); a kept
    ``tail`` answers from what it read until its owner calls ``forget`` (a new lookup)."""
    scope = scope or _default_scope()
    topics = scope.visible(include_raw)
    own_view = view is None
    view = view or ArchiveView(archive, topics)
    own_tail = tail is None
    if tail is None and kafka_conf:
        tail = KafkaTail(kafka_conf)
    try:
        ids: list[str] = [contact_id]
        events: dict[tuple[str, int, int], TimelineEvent] = {}
        pending = {contact_id}
        for _ in range(_MAX_LINK_HOPS):
            found = [e for e in view.rows_for(pending) if e.topic in topics]
            if tail:
                found += tail.events_for(topics, pending, view.offsets, partitioner)
            for e in found:  # archive rows come first, so the seam keeps the archived copy
                events.setdefault((e.topic, e.partition, e.offset), e)
            if not include_linked:
                break
            pending = linked_contacts(found) - set(ids)
            if not pending:
                break
            ids.extend(sorted(pending))
    finally:
        if tail and own_tail:
            tail.close()
        if own_view:
            view.close()
    ordered = sorted(events.values(), key=lambda e: e.sort_key)
    return CallTimeline(contact_id=contact_id, contact_ids=tuple(ids), events=tuple(ordered))


# --- re-drive -------------------------------------------------------------------------------

@dataclass(frozen=True)
class RedriveReport:
    into_topic: str
    events: int
    per_topic: dict[str, int]
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


#: how far ahead of its rate a paced re-drive gets before it sleeps: a sleep per event cost
#: 0.43 s of CPU and ~10,000 wakeups per 2 s at 10,000 events/s, beside the live path; in
#: steps of 10 ms, 0.006 s and ~200 (the producer's 20 ms linger batches them anyway)
PACE_SLACK_S = 0.010
#: how far behind its rate a paced re-drive may fall and still make it up at full speed. A
#: stall (a CPU busy with the live path, a slow batch) was followed by the unthrottled
#: rate, ~100,000 events a second, until the schedule was met again: `--rate` held on
#: average, not over short spans (NOTES.md, stop 47: the isolation ratio did not move)
PACE_CATCH_UP_S = 0.05


def _pace(rate_per_s: float) -> Callable[[int], None]:
    """A limiter: call with the count sent so far; sleeps to stay under ``rate_per_s``
    (averaged over ``PACE_SLACK_S``). Its clock starts with the first event, and it makes up
    at most ``PACE_CATCH_UP_S`` of falling behind: the rate is a ceiling, so after a stall
    the re-drive goes on at its rate instead of at full speed until back on schedule."""
    started: float | None = None

    def wait(sent: int) -> None:
        nonlocal started
        now = time.monotonic()
        if started is None:
            started = now - sent / rate_per_s
        ahead = sent / rate_per_s - (now - started)
        if ahead > PACE_SLACK_S:
            time.sleep(ahead)
        elif ahead < -PACE_CATCH_UP_S:
            started = now - sent / rate_per_s - PACE_CATCH_UP_S

    return wait


#: how much lower than its caller's the CPU priority of a paced re-drive is (``nice``): it is
#: background work, like the scorers and the archiver (ADR 0010), and the live path goes first
PACED_NICENESS = 10


def redrive_window(
    archive: Archive,
    kafka_conf: Mapping[str, str],
    *,
    from_ms: int,
    to_ms: int,
    into_topic: str,
    topics: Sequence[str] | None = None,
    rate_per_s: float | None = None,
    progress: bool = True,
    scope: ReplayScope | None = None,
) -> RedriveReport:
    """Re-produce archived events with ``from_ms <= event time < to_ms`` into ``into_topic``.

    Events go out in event-time order with their original key, value and headers, plus
    ``callstream.redrive.source = topic/partition/offset``. ``topics`` defaults to every
    non-restricted topic of ``scope``. Live consumer groups are not touched. A paced
    re-drive (``rate_per_s``) runs in a thread of its own at ``PACED_NICENESS`` (its query
    and producer threads too, which inherit it), so the caller's priority is unchanged.
    """
    if to_ms <= from_ms:
        raise ArchiveError(f"the window [{from_ms}, {to_ms}) is empty", "pass --from earlier than --to")
    if rate_per_s is not None and rate_per_s <= 0:
        raise ArchiveError(f"--rate must be positive, not {rate_per_s}")
    if topics is None:
        topics = (scope or _default_scope()).visible(include_raw=False)
    run = functools.partial(_redrive, archive, kafka_conf, from_ms, to_ms, into_topic, topics, rate_per_s, progress)
    return _niced(run) if rate_per_s else run()


def _niced(work: Callable[[], RedriveReport]) -> RedriveReport:
    """``work()`` in a thread whose CPU priority is ``PACED_NICENESS`` below the caller's
    (Linux gives each thread its own nice value; threads it starts inherit it)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        tid = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + PACED_NICENESS))
            outcome["report"] = work()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="callstream-paced-redrive")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["report"]


def _redrive(archive: Archive, kafka_conf: Mapping[str, str], from_ms: int, to_ms: int, into_topic: str,
             topics: Sequence[str], rate_per_s: float | None, progress: bool) -> RedriveReport:
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    if rate_per_s:
        # A paced re-drive is one kept off the live path: its window query gets one core, not all.
        con.execute("SET threads = 1")
    sources: dict[str, bool] = {}  # source -> whether any of its rows holds a body
    for topic in topics:
        table = archive.table(topic, create=False)
        current = current_files(table) if table is not None else []
        if table is not None and current:
            files = parquet_source(archive.settings, [f.file_path for f in current], con, f"{table_name(topic)}__files")
            sources[files] = holds_bodies(table, current)
    if not sources:
        raise ArchiveError(f"the archive holds nothing for {', '.join(topics)}", "check the topic names and that the archiver ran")
    when = "coalesce(event_time_ms, kafka_timestamp_ms)"
    inputs = rebuild_inputs(con, sources)
    union = " UNION ALL ".join(
        f"SELECT kafka_topic, kafka_partition, kafka_offset, key, headers, {inputs[s]}, {when} AS t FROM {s} "
        f"WHERE {when} >= {int(from_ms)} AND {when} < {int(to_ms)}" for s in sources)
    total = con.sql(f"SELECT count(*) FROM ({union})").fetchall()[0][0]
    # A paced re-drive rebuilds payloads in small batches: a 20,000-row batch is ~40 ms of
    # CPU at once, which the live path beside it felt in its p99 (ADR 0012). An unthrottled
    # one in large ones: Arrow's per-call cost is spread over more rows (1.6 -> 1.35 us per
    # row to rebuild, 0.9 -> 0.8 to convert).
    batch_rows = int(min(20_000, max(500, rate_per_s / 20))) if rate_per_s else 100_000
    reader = con.sql(f"SELECT * FROM ({union}) ORDER BY t, kafka_topic, kafka_partition, kafka_offset").to_arrow_reader(
        batch_rows)

    failures: list[str] = []

    def delivered(err, _msg) -> None:
        if err is not None:
            failures.append(err.str())

    # Only failed deliveries are reported (a Python callback per delivered event would
    # cost as much as producing it); a bigger batch and queue for a bulk re-send.
    producer = Producer(dict(kafka_conf) | KEY_PARTITIONER | {
        "linger.ms": "20", "compression.type": "lz4", "enable.idempotence": "true",
        "delivery.report.only.error": True, "on_delivery": delivered,
        "batch.size": "1000000", "queue.buffering.max.messages": "500000"})
    pace = _pace(rate_per_s) if rate_per_s else None
    per_topic: Counter[str] = Counter()
    sent = 0
    started = time.monotonic()
    bar = Progress(TextColumn(f"re-drive into {into_topic}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   disable=not progress, transient=False)
    with bar:
        task = bar.add_task("redrive", total=total)
        for batch in reader:
            values = payloads(pa.Table.from_batches([batch]))
            for key, payload, headers, source in zip(
                    batch.column("key").to_pylist(), values.to_pylist(),
                    _header_lists(batch.column("headers")), _sources(batch), strict=True):
                # produce_patiently inlined: this loop is the re-drive's whole core (~200k a second)
                while True:
                    try:
                        producer.produce(into_topic, value=payload, key=key,
                                         headers=[*headers, (REDRIVE_HEADER, source)])
                        break
                    except BufferError:  # local queue full: let deliveries drain
                        producer.poll(0.05)
                sent += 1
                if pace is not None:
                    pace(sent)
            for count in batch.column("kafka_topic").value_counts().to_pylist():
                per_topic[count["values"]] += count["counts"]
            producer.poll(0)
            bar.update(task, completed=sent)
        remaining = producer.flush(60)
    con.close()
    if remaining or failures:
        raise KafkaOperationError(
            f"re-drive into {into_topic}: {len(failures)} events failed and {remaining} were undelivered "
            f"({failures[0] if failures else 'flush timed out'})",
            "check the topic exists and the producer ACLs; the window can be re-driven again")
    return RedriveReport(into_topic=into_topic, events=sent, per_topic=dict(per_topic), seconds=time.monotonic() - started)


def _header_lists(column: pa.Array | pa.ChunkedArray) -> list[tuple[tuple[str, bytes | None], ...]]:
    """Each row's headers as (key, value) pairs, from the list<struct<key, value>> column.

    A topic's messages carry few distinct header lists, so each row's list is looked up by
    an exact fingerprint computed in Arrow (each header as ``len(key):key:len(value):value``,
    joined) and converted once per batch: slicing a Python list per row cost as much as
    producing the event. Rows share the returned tuples; callers copy. The lookup lives for
    one batch, so headers unique to each message (a trace id) cost a conversion per row
    and no more memory than the batch.
    """
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if column.offset:  # a slice: Arrow rebuilds a list with a null mask only from offset 0
        column = pa.concat_arrays([column])
    keys, values = column.values.field("key").cast(pa.binary()), column.values.field("value")
    each = pc.binary_join_element_wise(
        pc.cast(pc.binary_length(keys), pa.string()).cast(pa.binary()), keys,
        pc.cast(pc.coalesce(pc.binary_length(values), -1), pa.string()).cast(pa.binary()),
        pc.coalesce(values, pa.scalar(b"", pa.binary())), b":")
    fingerprints = pc.binary_join(pa.ListArray.from_arrays(column.offsets, each, mask=column.is_null()), b"").to_pylist()
    known: dict[bytes | None, tuple[tuple[str, bytes | None], ...]] = {None: ()}
    for row, fingerprint in enumerate(fingerprints):
        if fingerprint not in known:
            known[fingerprint] = tuple((h["key"], h["value"]) for h in column[row].as_py())
    return [known[f] for f in fingerprints]


def _sources(batch: pa.RecordBatch) -> list[bytes]:
    """The re-drive header's value per row: ``topic/partition/offset`` of the archived original."""
    return pc.binary_join_element_wise(
        batch.column("kafka_topic").cast(pa.binary()),
        *(pc.cast(batch.column(c), pa.string()).cast(pa.binary()) for c in ("kafka_partition", "kafka_offset")),
        b"/").to_pylist()


# --- rewind ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RewindMove:
    topic: str
    partition: int
    from_offset: int | None
    to_offset: int


def _result(future, what: str, timeout_s: float = 30.0):
    try:
        return future.result(timeout=timeout_s)
    except KafkaException as exc:
        error = exc.args[0]
        raise KafkaOperationError(f"{what} failed: {error.str()}", "check the broker and the group's ACLs",
                                  code=error.name()) from None


def rewind_group(
    kafka_conf: Mapping[str, str],
    group: str,
    to_timestamp_ms: int,
    *,
    topics: Sequence[str] | None = None,
    dry_run: bool = False,
) -> list[RewindMove]:
    """Move ``group``'s offsets to the first message at or after ``to_timestamp_ms``.

    Refuses while the group has active members: their next commit would undo the move.
    ``topics`` defaults to the topics the group has committed offsets for.
    """
    admin = AdminClient(dict(kafka_conf))
    description = _result(admin.describe_consumer_groups([group])[group], f"describing group {group}")
    if description.members:
        clients = ", ".join(sorted({f"{m.client_id}@{m.host}" for m in description.members}))
        raise ArchiveError(
            f"consumer group {group} has {len(description.members)} active member(s) ({clients}); "
            "rewinding now would race their commits",
            "stop the group's consumers (or wait for their session to time out) and run the rewind again")
    committed_request = ConsumerGroupTopicPartitions(group)
    committed = _result(admin.list_consumer_group_offsets([committed_request])[group], f"reading offsets of {group}")
    current = {(tp.topic, tp.partition): tp.offset for tp in committed.topic_partitions or []}
    probe = Consumer(dict(kafka_conf) | {"group.id": f"{group}.rewind-probe", "enable.auto.commit": "false"})
    try:
        if topics:
            partitions = []
            for topic in topics:
                metadata = probe.list_topics(topic, timeout=10).topics.get(topic)
                if metadata is None or metadata.error or not metadata.partitions:
                    raise ArchiveError(f"topic {topic} does not exist", "check the name with `callstream topics list`")
                partitions += [(topic, p) for p in metadata.partitions]
        else:
            partitions = sorted(current)
        if not partitions:
            raise ArchiveError(f"consumer group {group} has no committed offsets to rewind",
                               "name the topics to rewind with --topics")
        found = probe.offsets_for_times([TopicPartition(t, p, to_timestamp_ms) for t, p in partitions], timeout=30)
        moves = []
        for tp in found:
            offset = tp.offset
            if offset < 0:  # nothing at or after that time: the end of the partition
                offset = probe.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)[1]
            moves.append(RewindMove(tp.topic, tp.partition, current.get((tp.topic, tp.partition)), offset))
    except KafkaException as exc:
        raise KafkaOperationError(f"looking up offsets for time {to_timestamp_ms} failed: {exc}",
                                  "check the broker connection") from None
    finally:
        probe.close()
    if not dry_run:
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(m.topic, m.partition, m.to_offset) for m in moves])
        try:
            _result(admin.alter_consumer_group_offsets([request])[group], f"moving the offsets of {group}")
        except KafkaOperationError as exc:
            if exc.code in {"UNKNOWN_MEMBER_ID", "REBALANCE_IN_PROGRESS", "NON_EMPTY_GROUP"}:
                raise ArchiveError(f"consumer group {group} became active during the rewind ({exc.code})",
                                   "stop its consumers and run the rewind again") from None
            raise
    return moves
