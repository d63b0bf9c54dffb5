"""Probe a Kafka-compatible cluster for the behaviours callstream and its users depend on.

``run_probes`` works on throwaway topics (``callstream.compat.<run id>.*``, deleted at the
end) and returns one ``Probe`` per behaviour: ``pass``, ``fail`` (the cluster answered
otherwise than Apache Kafka does) or ``unsupported`` (the API is missing or disabled, e.g.
no authorizer), each with what was measured. A platform team runs ``callstream compat``
against a candidate backbone before moving to it; every loop here is bounded.

Needs a principal that may create and delete topics and describe the cluster (the admin).
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
)

from callstream.archive.partitioning import partition_for_key
from callstream.kafka.assign import assign_known
from callstream.kafka.config import KEY_PARTITIONER

Status = Literal["pass", "fail", "unsupported"]
TIMEOUT_S = 15.0


@dataclass
class Probe:
    area: str
    name: str
    status: Status
    detail: str
    seconds: float = 0.0
    measured: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"at_stake": AT_STAKE.get(self.name, "")}


class ProbeFailed(Exception):
    """A behaviour differs from Apache Kafka's (the message says how)."""


class Unsupported(Exception):
    """The cluster does not offer the API or feature (the message says which)."""


class CompatRun:
    """One run's clients, throwaway topics and results."""

    def __init__(self, conf: dict[str, str]) -> None:
        self.conf = dict(conf)
        self.run_id = uuid.uuid4().hex[:8]
        self.admin = AdminClient(self.conf)
        self.topics: list[str] = []
        self.probes: list[Probe] = []

    # --- helpers ----------------------------------------------------------------------------

    def topic(self, name: str, partitions: int = 3, config: dict[str, str] | None = None) -> str:
        topic = f"callstream.compat.{self.run_id}.{name}"
        futures = self.admin.create_topics([NewTopic(topic, partitions, _replication(self.admin), config=config or {})],
                                           request_timeout=TIMEOUT_S)
        futures[topic].result(timeout=TIMEOUT_S + 5)
        self.topics.append(topic)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:  # a new topic reaches every broker's metadata a moment later
            metadata = self.admin.list_topics(topic, timeout=5).topics.get(topic)
            if metadata is not None and metadata.error is None and len(metadata.partitions) == partitions:
                return topic
            time.sleep(0.1)
        raise ProbeFailed(f"topic {topic} did not appear in metadata within {TIMEOUT_S:.0f} s")

    def producer(self, config: dict[str, Any] | None = None) -> Producer:
        return Producer({**self.conf, "linger.ms": 1, **KEY_PARTITIONER, **(config or {})})

    def consumer(self, group: str | None = None, config: dict[str, Any] | None = None) -> Consumer:
        return Consumer({**self.conf, "group.id": group or f"callstream-compat-{self.run_id}-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, **(config or {})})

    def read(self, topic: str, expected: int, timeout_s: float = TIMEOUT_S,
             isolation: str = "read_uncommitted") -> list[Any]:
        """Every message of ``topic`` from the start, until ``expected`` arrived or time ran out."""
        consumer = self.consumer(config={"isolation.level": isolation})
        metadata = self.admin.list_topics(topic, timeout=5).topics[topic]
        assign_known(consumer, [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions])
        messages: list[Any] = []
        deadline = time.monotonic() + timeout_s
        try:
            while len(messages) < expected and time.monotonic() < deadline:
                messages += [m for m in consumer.consume(500, 0.2) if m.error() is None]
        finally:
            consumer.close()
        return messages

    def check(self, area: str, name: str, probe: Callable[[], tuple[str, dict[str, Any]]]) -> None:
        started = time.perf_counter()
        try:
            detail, measured = probe()
            status: Status = "pass"
        except Unsupported as exc:
            status, detail, measured = "unsupported", str(exc), {}
        except (ProbeFailed, KafkaException, FutureTimeout, AssertionError) as exc:
            status, detail, measured = "fail", _reason(exc), {}
        except Exception as exc:  # an answer Apache Kafka never gives (a missing config, a malformed reply)
            status, detail, measured = "fail", f"unexpected answer: {type(exc).__name__}: {exc}", {}
        self.probes.append(Probe(area, name, status, detail, round(time.perf_counter() - started, 3), measured))

    def cleanup(self) -> None:
        if self.topics:
            for future in self.admin.delete_topics(self.topics, request_timeout=TIMEOUT_S).values():
                try:
                    future.result(timeout=TIMEOUT_S)
                except (KafkaException, FutureTimeout):
                    pass  # reported nowhere: a leftover throwaway topic is harmless


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return f"{exc.args[0].name()}: {exc.args[0].str()}"
    return str(exc) or type(exc).__name__


def _replication(admin: AdminClient) -> int:
    return min(3, len(admin.list_topics(timeout=10).brokers))


@contextmanager
def compat_run(conf: dict[str, str]) -> Iterator[CompatRun]:
    run = CompatRun(conf)
    try:
        yield run
    finally:
        run.cleanup()


# --- the probes ---------------------------------------------------------------------------


def _an_hour_ago_ms() -> int:
    """A CreateTime for probe records: in the past, so it differs from the append time, but
    well inside any retention.ms. Records stamped years back fall outside the default 7
    days, and the broker's next retention check deletes them between produce and read."""
    return time.time_ns() // 1_000_000 - 3_600_000


def probe_records(run: CompatRun) -> tuple[str, dict[str, Any]]:
    """Keys, headers and CreateTime timestamps come back as produced."""
    topic = run.topic("records")
    producer = run.producer()
    base = _an_hour_ago_ms()
    sent = [(f"key-{i}".encode(), f"value-{i}".encode(), [("h", f"{i}".encode()), ("dup", b"a"), ("dup", b"b")],
             base + i) for i in range(30)]
    for key, value, headers, ts in sent:
        producer.produce(topic, value, key, headers=headers, timestamp=ts)
    if producer.flush(TIMEOUT_S):
        raise ProbeFailed("produce did not complete")
    got = {m.key(): m for m in run.read(topic, len(sent))}
    for key, value, headers, ts in sent:
        m = got.get(key)
        if m is None:
            raise ProbeFailed(f"message {key!r} was not read back")
        if m.value() != value or list(m.headers() or []) != headers:
            raise ProbeFailed(f"message {key!r} came back as {m.value()!r} with headers {m.headers()!r}")
        kind, stamp = m.timestamp()
        if kind != 1 or stamp != ts:  # TIMESTAMP_CREATE_TIME
            raise ProbeFailed(f"CreateTime {ts} came back as type {kind}, {stamp}")
    return f"{len(sent)} records with keys, repeated headers and CreateTime timestamps intact", {"records": len(sent)}


def probe_log_append_time(run: CompatRun) -> tuple[str, dict[str, Any]]:
    topic = run.topic("append-time", 1, {"message.timestamp.type": "LogAppendTime"})
    producer = run.producer()
    before = time.time_ns() // 1_000_000
    producer.produce(topic, b"v", b"k", timestamp=1_000)
    producer.flush(TIMEOUT_S)
    [m] = run.read(topic, 1)
    kind, stamp = m.timestamp()
    if kind != 2 or stamp < before - 60_000:  # TIMESTAMP_LOG_APPEND_TIME, the broker's clock
        raise ProbeFailed(f"expected the broker's append time, got type {kind}, {stamp}")
    return "the broker stamps the append time over the producer's", {"skew_ms": stamp - before}


def probe_murmur2(run: CompatRun) -> tuple[str, dict[str, Any]]:
    """librdkafka's murmur2_random places keys where the Java client's default partitioner does."""
    topic = run.topic("murmur2", 6)
    producer = run.producer()
    keys = [f"contact-{i:05d}".encode() for i in range(200)]
    for key in keys:
        producer.produce(topic, b"x", key)
    producer.flush(TIMEOUT_S)
    wrong = [m.key() for m in run.read(topic, len(keys)) if m.partition() != partition_for_key(m.key(), 6)]
    if wrong:
        raise ProbeFailed(f"{len(wrong)} of {len(keys)} keys landed off the Java partitioner's choice, e.g. {wrong[0]!r}")
    return f"{len(keys)} keys on the partitions Java's murmur2 partitioner picks", {"keys": len(keys)}


def probe_idempotence(run: CompatRun) -> tuple[str, dict[str, Any]]:
    topic = run.topic("idempotent", 1)
    producer = run.producer({"enable.idempotence": True, "acks": "all", "max.in.flight.requests.per.connection": 5})
    for i in range(500):
        producer.produce(topic, f"{i}".encode(), b"k")
    if producer.flush(TIMEOUT_S):
        raise ProbeFailed("idempotent produce did not complete")
    values = [m.value() for m in run.read(topic, 500)]
    if values != [f"{i}".encode() for i in range(500)]:
        raise ProbeFailed(f"read back {len(values)} values, in order: {values[:3]}...")
    return "500 records, in order, exactly once, with enable.idempotence", {"records": 500}


def _transactional(run: CompatRun, tx_id: str) -> Producer:
    producer = run.producer({"transactional.id": tx_id})
    producer.init_transactions(TIMEOUT_S)
    return producer


def probe_transactions(run: CompatRun) -> tuple[str, dict[str, Any]]:
    topic = run.topic("transactions", 1)
    producer = _transactional(run, f"callstream-compat-{run.run_id}-tx")
    producer.begin_transaction()
    producer.produce(topic, b"committed", b"k")
    producer.commit_transaction(TIMEOUT_S)
    producer.begin_transaction()
    producer.produce(topic, b"aborted", b"k")
    producer.flush(TIMEOUT_S)
    producer.abort_transaction(TIMEOUT_S)
    committed = [m.value() for m in run.read(topic, 1, timeout_s=5, isolation="read_committed")]
    uncommitted = [m.value() for m in run.read(topic, 2, isolation="read_uncommitted")]
    if committed != [b"committed"]:
        raise ProbeFailed(f"read_committed saw {committed}, expected only the committed record")
    if b"aborted" not in uncommitted:
        raise ProbeFailed(f"read_uncommitted saw {uncommitted}, expected the aborted record too")
    return "commit visible, abort hidden from read_committed (and visible to read_uncommitted)", {}


def probe_fencing(run: CompatRun) -> tuple[str, dict[str, Any]]:
    topic = run.topic("fencing", 1)
    tx_id = f"callstream-compat-{run.run_id}-zombie"
    zombie = _transactional(run, tx_id)
    zombie.begin_transaction()
    zombie.produce(topic, b"zombie", b"k")
    zombie.flush(TIMEOUT_S)
    _transactional(run, tx_id)  # the restarted instance fences the old one
    try:
        zombie.commit_transaction(TIMEOUT_S)
    except KafkaException as exc:
        error = exc.args[0]
        if error.fatal() or error.name() in ("_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH"):
            return f"the older producer is fenced ({error.name()})", {}
        raise ProbeFailed(f"the zombie's commit failed, but not as fenced: {error.name()}") from None
    raise ProbeFailed("a zombie producer committed after a new one took its transactional.id")


def probe_send_offsets(run: CompatRun) -> tuple[str, dict[str, Any]]:
    """Consume, produce and commit the consumer's offsets in one transaction (exactly-once)."""
    source, sink = run.topic("eos-in", 1), run.topic("eos-out", 1)
    producer = run.producer()
    for i in range(10):
        producer.produce(source, f"{i}".encode(), b"k")
    producer.flush(TIMEOUT_S)
    group = f"callstream-compat-{run.run_id}-eos"
    consumer = run.consumer(group, {"isolation.level": "read_committed"})
    consumer.subscribe([source])
    tx = _transactional(run, f"callstream-compat-{run.run_id}-eos")
    copied: list[Any] = []
    deadline = time.monotonic() + TIMEOUT_S
    while len(copied) < 10 and time.monotonic() < deadline:
        copied += [m for m in consumer.consume(10, 0.5) if m.error() is None]
    if len(copied) < 10:
        consumer.close()
        raise ProbeFailed(f"the consumer read {len(copied)} of 10 records")
    tx.begin_transaction()
    for m in copied:
        tx.produce(sink, m.value(), m.key())
    tx.send_offsets_to_transaction(consumer.position(consumer.assignment()), consumer.consumer_group_metadata(),
                                   TIMEOUT_S)
    tx.commit_transaction(TIMEOUT_S)
    committed = consumer.committed([TopicPartition(source, 0)], timeout=TIMEOUT_S)[0].offset
    consumer.close()
    if committed != 10:
        raise ProbeFailed(f"the group's committed offset is {committed} after the transaction, expected 10")
    return "records and the group's offsets committed in one transaction", {"committed_offset": committed}


def _join_seconds(run: CompatRun, topic: str, group: str, extra: dict[str, Any] | None = None) -> tuple[float, Consumer]:
    consumer = run.consumer(group, extra)
    started = time.monotonic()
    consumer.subscribe([topic])
    while not consumer.assignment():
        consumer.poll(0.1)
        if time.monotonic() - started > 60:
            consumer.close()
            raise ProbeFailed(f"no partitions assigned within 60 s ({extra or 'classic protocol'})")
    return time.monotonic() - started, consumer


def probe_group_classic(run: CompatRun) -> tuple[str, dict[str, Any]]:
    topic = run.topic("groups", 4)
    group = f"callstream-compat-{run.run_id}-classic"
    first_s, first = _join_seconds(run, topic, group)
    second = run.consumer(group)
    started = time.monotonic()
    second.subscribe([topic])
    # the first member must be polled to rejoin: a classic rebalance waits for every member
    while len(first.assignment()) + len(second.assignment()) != 4 or not first.assignment() or not second.assignment():
        first.poll(0.05)
        second.poll(0.05)
        if time.monotonic() - started > 60:
            first.close()
            second.close()
            raise ProbeFailed("the two members did not share the 4 partitions within 60 s")
    rebalance_s = time.monotonic() - started
    first.commit(offsets=[TopicPartition(topic, p, 1) for p in range(4)], asynchronous=False)
    fetched = {tp.partition: tp.offset for tp in first.committed([TopicPartition(topic, p) for p in range(4)], timeout=10)}
    second.close()
    first.close()
    if fetched != {p: 1 for p in range(4)}:
        raise ProbeFailed(f"committed offsets 1 on 4 partitions, fetched {fetched}")
    return (f"join {first_s:.1f} s, a second member shares the partitions {rebalance_s:.1f} s later, "
            "offsets commit and fetch", {"join_s": round(first_s, 2), "rebalance_s": round(rebalance_s, 2)})


def probe_group_consumer_protocol(run: CompatRun) -> tuple[str, dict[str, Any]]:
    """KIP-848: the broker-driven group protocol (``group.protocol=consumer``)."""
    topic = run.topic("kip848", 2)
    try:
        join_s, consumer = _join_seconds(run, topic, f"callstream-compat-{run.run_id}-kip848",
                                         {"group.protocol": "consumer"})
    except ProbeFailed as exc:
        raise Unsupported(f"the new consumer group protocol did not assign partitions: {exc}") from None
    consumer.close()
    return f"join {join_s:.1f} s with group.protocol=consumer", {"join_s": round(join_s, 2)}


def probe_static_membership(run: CompatRun) -> tuple[str, dict[str, Any]]:
    topic = run.topic("static", 2)
    group = f"callstream-compat-{run.run_id}-static"
    extra = {"group.instance.id": f"{group}-0", "session.timeout.ms": 30000}
    _, first = _join_seconds(run, topic, group, extra)
    first.close()  # a static member leaves without a rebalance: its successor resumes at once
    rejoin_s, again = _join_seconds(run, topic, group, extra)
    again.close()
    if rejoin_s > 10:
        raise ProbeFailed(f"the restarted static member waited {rejoin_s:.1f} s for its partitions")
    return f"a restarted static member resumed in {rejoin_s:.1f} s", {"rejoin_s": round(rejoin_s, 2)}


def probe_offsets_for_times(run: CompatRun) -> tuple[str, dict[str, Any]]:
    topic = run.topic("rewind", 1)
    producer = run.producer()
    base = _an_hour_ago_ms()
    for i in range(10):
        producer.produce(topic, f"{i}".encode(), b"k", timestamp=base + i * 1000)
    producer.flush(TIMEOUT_S)
    consumer = run.consumer()
    [found] = consumer.offsets_for_times([TopicPartition(topic, 0, base + 4500)], timeout=TIMEOUT_S)
    consumer.close()
    if found.offset != 5:
        raise ProbeFailed(f"the first record at or after t+4.5 s is offset 5, the broker said {found.offset}")
    return "rewind by timestamp finds the first record at or after it", {}


def probe_topic_configs(run: CompatRun) -> tuple[str, dict[str, Any]]:
    """DescribeConfigs returns retention.ms and cleanup.policy (Quix reads them for state)."""
    topic = run.topic("configs", 1, {"retention.ms": "123456789", "cleanup.policy": "compact"})
    [future] = run.admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    configs = future.result(timeout=TIMEOUT_S)
    got = {name: configs[name].value if name in configs else None for name in ("retention.ms", "cleanup.policy")}
    if got != {"retention.ms": "123456789", "cleanup.policy": "compact"}:
        raise ProbeFailed(f"created with retention.ms=123456789, cleanup.policy=compact; described as {got}")
    return "topic created with configs; DescribeConfigs returns retention.ms and cleanup.policy", got


def probe_compaction(run: CompatRun) -> tuple[str, dict[str, Any]]:
    """The log cleaner keeps the last value per key and removes tombstoned keys."""
    topic = run.topic("compacted", 1, {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
                                       "delete.retention.ms": "100", "min.compaction.lag.ms": "0"})
    producer = run.producer()
    for i in range(50):
        producer.produce(topic, f"{i}".encode(), f"key-{i % 5}".encode())
    producer.produce(topic, None, b"key-0")  # a tombstone
    producer.flush(TIMEOUT_S)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(1)
        producer.produce(topic, b"roll", b"roller")  # rolls the active segment so the cleaner may take the rest
        producer.flush(TIMEOUT_S)
        keys = [m.key() for m in run.read(topic, 10_000, timeout_s=2)]
        if b"key-0" not in keys and all(keys.count(f"key-{k}".encode()) == 1 for k in range(1, 5)):
            return "duplicates compacted away and the tombstoned key removed", {"records_left": len(keys)}
    raise ProbeFailed("the log cleaner had not compacted the topic within 60 s")


def probe_list_offsets_and_delete_records(run: CompatRun) -> tuple[str, dict[str, Any]]:
    topic = run.topic("delete-records", 1)
    producer = run.producer()
    for i in range(20):
        producer.produce(topic, f"{i}".encode(), b"k")
    producer.flush(TIMEOUT_S)
    tp = TopicPartition(topic, 0)

    def offsets(spec: OffsetSpec) -> int:
        return int(run.admin.list_offsets({tp: spec}, request_timeout=TIMEOUT_S)[tp].result(timeout=TIMEOUT_S).offset)

    if (offsets(OffsetSpec.earliest()), offsets(OffsetSpec.latest())) != (0, 20):
        raise ProbeFailed("ListOffsets did not report 0..20 for 20 records")
    run.admin.delete_records([TopicPartition(topic, 0, 8)], request_timeout=TIMEOUT_S)[tp].result(timeout=TIMEOUT_S)
    start = offsets(OffsetSpec.earliest())
    if start != 8:
        raise ProbeFailed(f"DeleteRecords up to offset 8 left the log starting at {start}")
    return "ListOffsets earliest/latest; DeleteRecords moves the log start", {"log_start_after_delete": start}


def probe_acl_and_scram_apis(run: CompatRun) -> tuple[str, dict[str, Any]]:
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    try:
        acls = run.admin.describe_acls(everything, request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
    except KafkaException as exc:
        if exc.args[0].name() in ("SECURITY_DISABLED", "_UNSUPPORTED_FEATURE", "UNSUPPORTED_VERSION"):
            raise Unsupported(f"no authorizer: DescribeAcls answered {exc.args[0].name()}") from None
        raise
    try:
        users = run.admin.describe_user_scram_credentials(request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
    except KafkaException as exc:
        raise Unsupported(f"DescribeUserScramCredentials answered {exc.args[0].name()}") from None
    return f"{len(acls)} ACL bindings and {len(users)} SCRAM users described", {"acls": len(acls), "scram_users": len(users)}


def probe_message_size(run: CompatRun) -> tuple[str, dict[str, Any]]:
    topic = run.topic("size", 1)
    [future] = run.admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
    configs = future.result(timeout=TIMEOUT_S)
    if "max.message.bytes" not in configs:
        raise ProbeFailed(f"DescribeConfigs of a topic does not return max.message.bytes (it returned "
                          f"{', '.join(sorted(configs)) or 'nothing'})")
    limit = int(configs["max.message.bytes"].value)
    producer = run.producer({"message.max.bytes": max(limit * 2, 2_000_000), "compression.type": "none"})
    results: list[KafkaError | None] = []
    producer.produce(topic, b"x" * (limit // 2), b"fits", on_delivery=lambda err, _m: results.append(err))
    producer.produce(topic, b"x" * (limit + 1024), b"too-big", on_delivery=lambda err, _m: results.append(err))
    producer.flush(TIMEOUT_S)
    fits, too_big = results if len(results) == 2 else (None, None)
    if fits is not None:
        raise ProbeFailed(f"a record of half the limit ({limit // 2} bytes) was refused: {fits.name()}")
    if too_big is None:
        raise ProbeFailed(f"a record over max.message.bytes ({limit + 1024} > {limit}) was accepted")
    return f"max.message.bytes {limit:,}: half of it accepted, 1 KiB over refused ({too_big.name()})", {"max_message_bytes": limit}


def probe_fetch_min_bytes(run: CompatRun) -> tuple[str, dict[str, Any]]:
    """A fetch waits up to fetch.wait.max.ms for fetch.min.bytes (what processors batch on)."""
    topic = run.topic("fetch-wait", 1)
    producer = run.producer()
    producer.produce(topic, b"small", b"k")
    producer.flush(TIMEOUT_S)
    consumer = run.consumer(config={"fetch.min.bytes": 1_000_000, "fetch.wait.max.ms": 400})
    assign_known(consumer, [TopicPartition(topic, 0, OFFSET_BEGINNING)])
    consumer.poll(5)  # the first fetch after assignment answers at once with what is there
    producer.produce(topic, b"another", b"k")
    producer.flush(TIMEOUT_S)
    started = time.monotonic()
    message = consumer.poll(5)
    waited = time.monotonic() - started
    consumer.close()
    if message is None or message.error() is not None:
        raise ProbeFailed("the second small record was not fetched within 5 s")
    if waited > 2.5:
        raise ProbeFailed(f"the broker held the fetch {waited:.2f} s, beyond fetch.wait.max.ms (0.4 s)")
    return f"a fetch short of fetch.min.bytes returned after {waited:.2f} s (fetch.wait.max.ms 0.4 s)", {"waited_s": round(waited, 3)}


PROBES: tuple[tuple[str, str, Callable[[CompatRun], tuple[str, dict[str, Any]]]], ...] = (
    ("records", "keys, headers, CreateTime", probe_records),
    ("records", "LogAppendTime", probe_log_append_time),
    ("records", "murmur2 partitioning like Java", probe_murmur2),
    ("producer", "idempotent producer", probe_idempotence),
    ("transactions", "commit, abort, read_committed", probe_transactions),
    ("transactions", "zombie fencing", probe_fencing),
    ("transactions", "sendOffsetsToTransaction", probe_send_offsets),
    ("groups", "classic protocol: join, rebalance, commit, fetch", probe_group_classic),
    ("groups", "static membership", probe_static_membership),
    ("groups", "KIP-848 consumer protocol", probe_group_consumer_protocol),
    ("groups", "rewind by timestamp (offsets_for_times)", probe_offsets_for_times),
    ("admin", "create topics with configs, DescribeConfigs", probe_topic_configs),
    ("admin", "ListOffsets, DeleteRecords", probe_list_offsets_and_delete_records),
    ("admin", "ACL and SCRAM APIs", probe_acl_and_scram_apis),
    ("compaction", "log compaction with tombstones", probe_compaction),
    ("limits", "max message size", probe_message_size),
    ("limits", "fetch.min.bytes / fetch.wait.max.ms", probe_fetch_min_bytes),
)


#: what callstream (or its users' clients) relies on each behaviour for: what a fail costs
AT_STAKE: dict[str, str] = {
    "keys, headers, CreateTime": "every event: keyed by contact, typed by header, timed by its producer",
    "LogAppendTime": "lag in seconds of the readers of callstream.analytics.windows (the catalog has the broker stamp window results; stamped with their window, a reader looks minutes behind)",
    "murmur2 partitioning like Java": "a contact's events landing on one partition whoever produced them "
                                      "(Java producers, Kafka Connect, callstream)",
    "idempotent producer": "no duplicate from a retried send (every callstream producer is idempotent)",
    "commit, abort, read_committed": "the exactly-once outputs (quality scores, analytics windows) and the "
                                     "migration replicator: readers must never see an aborted batch",
    "zombie fencing": "a restarted exactly-once worker fencing its predecessor (no duplicates after a crash)",
    "sendOffsetsToTransaction": "exactly-once processors and the replicator committing their input positions "
                                "with their output",
    "classic protocol: join, rebalance, commit, fetch": "every processor, the archiver and the observer: join time "
                                                       "is time to first output after a start or a crash",
    "static membership": "a restarted worker getting its partitions back at once (workers set group.instance.id)",
    "KIP-848 consumer protocol": "nothing in callstream (it uses the classic protocol); users' newer clients",
    "rewind by timestamp (offsets_for_times)": "`replay rewind --to TIME`, the live tap's and lag probe's time lookups",
    "create topics with configs, DescribeConfigs": "`topics apply`; Quix sizing its changelog and repartition "
                                                   "topics from the input's retention.ms",
    "ListOffsets, DeleteRecords": "lag in `status` and the dashboard, migration receipts and watermarks",
    "ACL and SCRAM APIs": "`acls apply / verify` and the per-service principals",
    "log compaction with tombstones": "Quix state changelogs staying bounded; restore time after a restart",
    "max message size": "long transcript segments and dead letters that carry the whole bad message",
    "fetch.min.bytes / fetch.wait.max.ms": "processors' batching and the assist path's latency",
}


def run_probes(conf: dict[str, str], *, only: set[str] | None = None,
               progress: Callable[[str], None] | None = None) -> list[Probe]:
    """Run every probe (or those whose area is in ``only``) against the cluster of ``conf``."""
    with compat_run(conf) as run:
        for area, name, probe in PROBES:
            if only and area not in only:
                continue
            if progress is not None:
                progress(f"{area}: {name}")
            run.check(area, name, functools.partial(probe, run))
        return run.probes
