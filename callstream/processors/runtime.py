"""Run a ``Processor`` on Quix Streams: decode, process with per-call state, route outputs.

One Quix ``Application`` per processor instance, in its own consumer group. Every input
message is decoded here (not in a Quix deserializer) so an undecodable one becomes a
dead-letter record with its reason, source topic, partition and offset, produced through
the same producer (and so inside the same transaction for exactly-once processors)
instead of stopping the stream. Outputs are encoded once and routed to the catalog topic
of their event type.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import msgspec
from quixstreams import Application, message_context
from quixstreams.dataframe import StreamingDataFrame
from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.models.serializers import SerializationContext, Serializer
from quixstreams.models.topics import Topic, TopicManager
from quixstreams.state.rocksdb import RocksDBOptions

from callstream.contract.catalog import DEADLETTER_TOPIC, Catalog
from callstream.contract.codec import decode_event, encode_event, encoded_prefix
from callstream.contract.deadletter import dead_letter
from callstream.contract.events import Envelope, event_type_of
from callstream.dependencies import require_supported
from callstream.errors import CatalogError, DecodeError
from callstream.governance.encryption import SealError, StateSeal
from callstream.governance.keystore import KeyShredded, KeyUnavailable
from callstream.governance.protection import Protection
from callstream.kafka.config import KEY_PARTITIONER
from callstream.observe.client_metrics import ProcessorMetrics, hook_quix_error_callbacks
from callstream.processors.base import CallState, Processor, WindowSpec
from callstream.processors.bundle import ProcessorBundle
from callstream.processors.checkpoints import time_checkpoints
from callstream.processors.internal_topics import PromptTopicAdmin
from callstream.processors.rebalance import RebalanceTimer, prompt_recovery
from callstream.processors.state_cache import CallStateCache
from callstream.processors.watchdog import guard_commits

log = logging.getLogger(__name__)


LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]


class _Stateless:
    """The state handed to a processor that declared ``stateful = False``: using it is a bug."""

    def _refuse(self, *args: Any) -> Any:
        raise TypeError("this processor is declared stateless (stateful = False) but used per-call state")

    get = set = delete = exists = _refuse


STATELESS: CallState = _Stateless()
#: no value under a key (None may be a value)
_ABSENT = object()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record a processor step emits: already encoded, with its destination."""

    topic: str
    key: bytes | None
    #: ``None`` only for a dead-lettered tombstone, which stays a tombstone
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]


class _OutgoingSerializer(Serializer):
    """Outputs are encoded in the step (once, with their own headers); pass the bytes on."""

    def __call__(self, value: Outgoing, ctx: SerializationContext) -> bytes | None:  # type: ignore[override]
        return value.value


class CallStateValue:
    """A processor's whole per-call state kept as one Quix state value, written at most once
    per message, and expiring ``ttl`` after its record's timestamp (Quix evicts expired keys
    at checkpoints and tombstones them in the changelog).

    Processors keep several keys per call (a record, a sequence gate, seen ids). A Quix
    state operation has a fixed cost in Python (the key's serialisation, the transaction's
    caches, the TTL stamp) whatever the value's size: the escalation worker spent 41% of its
    CPU in two reads and two writes per message (ADR 0007). One read when first needed and
    one write after the message (only if something changed) replace them. Values stay
    plain JSON, as Quix keeps them. A call whose values did not change is not rewritten,
    so its state expires ``ttl`` after its last change (6 h by default: calls last minutes).

    With a ``CallStateCache`` (as workers run), the read and the write go through it: the
    values this worker wrote last are read back without Quix, and a changed call reaches
    Quix's state once per checkpoint (``state_cache.py``)."""

    #: the state key holding the call's values
    KEY = "call"
    __slots__ = ("_cache", "_changed", "_message_key", "_state", "_timestamp_ms", "_ttl", "_values")

    def __init__(self, state: Any, ttl: timedelta, cache: CallStateCache | None = None, message_key: Any = None,
                 timestamp_ms: int = 0) -> None:
        self._state = state
        self._ttl = ttl
        self._cache = cache
        self._message_key = message_key
        self._timestamp_ms = timestamp_ms
        self._values: dict[str, Any] | None = None
        self._changed = False

    def _load(self) -> dict[str, Any]:
        if self._values is None:
            if self._cache is not None:
                self._values = self._cache.load(self._message_key, self._state, self._timestamp_ms)
            else:
                self._values = self._state.get(self.KEY) or {}
        return self._values

    def get(self, key: Any, default: Any = None) -> Any:
        return self._load().get(key, default)

    def set(self, key: Any, value: Any) -> None:
        values = self._load()
        stored = values.get(key, _ABSENT)
        # A record rebuilt equal to the stored one (a heartbeat or a partial that changed
        # nothing a scorer keeps) is not a change, so the call is not rewritten: Quix's
        # write (serialising the whole call, the store, the changelog) cost more than the
        # comparison. The same object is always a change: it may have been mutated in place.
        if stored is not value and stored == value:
            return
        values[key] = value
        self._changed = True

    def delete(self, key: Any) -> None:
        values = self._load()
        if key in values:
            del values[key]
            self._changed = True

    def exists(self, key: Any) -> bool:
        return key in self._load()

    def save(self) -> None:
        """Write the call's values back once (delete them when none are left)."""
        if not self._changed:
            return
        if self._cache is not None:
            self._cache.save(self._message_key, self._state, self._timestamp_ms, self._values or {})
        elif self._values:
            self._state.set(self.KEY, self._values, ttl=self._ttl)
        else:
            self._state.delete(self.KEY)
        self._changed = False


class ProcessorStep:
    """The per-message function: bytes in, ``Outgoing`` records out, never an exception."""

    def __init__(self, processor: Processor, catalog: Catalog, protection: Protection | None = None) -> None:
        self.processor = processor
        self.catalog = catalog
        #: opens sealed restricted fields for a processor that reads them (the redactor)
        self.protection = protection if processor.reads_restricted else None
        #: a bundle dispatches each event to its members that read the event's catalog topic
        self._bundle = processor if isinstance(processor, ProcessorBundle) else None
        if self.protection is not None:
            for reader in self._bundle.restricted_readers() if self._bundle else (processor,):
                reader.state_seal = StateSeal(self.protection.cipher, reader.name)
        #: records of erased contacts, dropped: their key is gone
        self.erased = 0
        self._topic_of: dict[type, str] = {}
        for output in processor.outputs:
            catalog.topic(output)  # fail at start, not mid-stream, on a topic the catalog lacks
        self.dead_letters = 0
        self.processed = 0
        #: the same counts (and timings, and client errors) for Prometheus: see observe.client_metrics
        self.metrics = ProcessorMetrics(processor.name)

    def topic_for(self, event: Envelope) -> str:
        cls = type(event)
        topic = self._topic_of.get(cls)
        if topic is None:
            topic = self.catalog.topic_for(event_type_of(event))
            if topic not in self.processor.outputs:
                raise CatalogError(
                    f"processor {self.processor.name} emitted {event_type_of(event)} for {topic}, which is not one of its outputs",
                    "add the topic to the processor's outputs and the catalog's producers",
                )
            self._topic_of[cls] = topic
        return topic

    def __call__(self, value: bytes, key: Any, timestamp: int, headers: Any, state: CallState | None) -> list[Outgoing]:
        started = time.perf_counter()
        try:
            return self._handle(value, key, headers, state)
        finally:
            self.metrics.step_seconds.observe(time.perf_counter() - started)

    def _handle(self, value: bytes, key: Any, headers: Any, state: CallState | None) -> list[Outgoing]:
        try:
            event = decode_event(value, headers)
        except DecodeError as exc:
            return [self._dead_letter(value, key, headers, f"undecodable: {exc}")]
        if event is None:
            return []  # an event type this reader does not know: ignored by contract
        if self.protection is not None:
            try:
                event = self.protection.cipher.open(event)
            except KeyShredded:
                self.erased += 1
                return []  # its customer was erased: nothing of it may be read or derived again
            except (SealError, KeyUnavailable) as exc:
                return [self._dead_letter(value, key, headers, f"restricted field cannot be opened: {exc}")]
        self.processed += 1
        self.metrics.processed.inc()
        out: list[Outgoing] = []
        # the consumed event, then (in a bundle) the members' outputs other members read,
        # in the order they were produced
        pending: deque[tuple[Envelope, bytes, Any]] = deque([(event, value, headers)])
        while pending:
            current, current_value, current_headers = pending.popleft()
            for processor, view in self._readers(current, state):
                if isinstance(current, processor.ignores):
                    continue
                try:
                    produced = [(o, Outgoing(self.topic_for(o), o.contact_id.encode() if o.contact_id else key,
                                             *encode_event(o, validate=False)))
                                for o in processor.process(current, view)]
                except Exception as exc:  # one bad event must not stop a call center's stream
                    log.exception("processor %s failed on event %s", processor.name, current.event_id)
                    reason = f"processing failed in {processor.name}: {exc!r}"
                    if current is not event:
                        reason += f" (on {self.topic_for(current)} {current.event_id}, handed over in the bundle)"
                    out.append(self._dead_letter(current_value, key, current_headers, reason, processor.name))
                    continue
                for derived, record in produced:
                    out.append(record)
                    if self._bundle is not None and record.topic in self._bundle.handed_over:
                        if record.key != key:  # its readers' state is another call's: never mix them
                            out.append(self._dead_letter(record.value or b"", key, record.headers,
                                                         f"{processor.name} produced {derived.event_id} for another "
                                                         "contact than its source; a bundle hands over only the same call's events",
                                                         processor.name))
                            continue
                        pending.append((derived, record.value or b"", record.headers))
        return out

    def _readers(self, event: Envelope, state: CallState | None) -> list[tuple[Processor, CallState]]:
        """Who processes ``event``: the processor, or the members of a bundle that read its topic."""
        view = state if state is not None else STATELESS
        if self._bundle is None:
            return [(self.processor, view)]
        return self._bundle.readers(self.catalog.topic_for(event_type_of(event)), view, STATELESS)

    def _dead_letter(self, value: bytes, key: Any, headers: Any, reason: str, failed_in: str | None = None) -> Outgoing:
        ctx = message_context()
        self.dead_letters += 1
        self.metrics.dead_letter(reason)
        dl_key, dl_value, dl_headers = dead_letter(
            value, key, list(headers or []), reason, ctx.topic, ctx.partition, ctx.offset, failed_in or self.processor.name
        )
        return Outgoing(DEADLETTER_TOPIC, dl_key, dl_value, dl_headers)


#: Kafka refuses longer topic names (Quix checks 255, so Kafka's refusal surfaced later as a
#: topic "not found")
KAFKA_MAX_TOPIC_NAME = 249
#: Quix names a stream by its input topics joined; it is also a directory of the state
#: store, and a file name has at most 255 bytes. Every catalog processor's is shorter.
MAX_STREAM_ID = 200


def bounded_name(name: str, limit: int) -> str:
    """``name``, or its head and a hash of the whole when longer than ``limit``: unique, and
    the same at every start."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[:limit - len(digest) - 2]}--{digest}"


class BoundedNameTopicManager(TopicManager):
    """Quix's topic manager with names Kafka and the file system accept.

    Quix names a stream after all its input topics and a state or repartition topic
    ``changelog__<group>--<stream>--<store>``: a bundle's seven inputs, or inputs renamed for
    a test or a rehearsal, made the state directory's name too long for the file system and
    the topic's for Kafka. Longer names keep their head (``changelog__<group>``, which the
    ACL prefix grants and the migration matches) and end in a hash; shorter ones are Quix's."""

    def stream_id_from_topics(self, topics: Sequence[Topic]) -> str:
        return bounded_name(super().stream_id_from_topics(topics), MAX_STREAM_ID)

    def _internal_name(self, topic_type: Literal["changelog", "repartition"], topic_name: str | None,
                       suffix: str) -> str:
        return bounded_name(super()._internal_name(topic_type, topic_name, suffix), KAFKA_MAX_TOPIC_NAME)


#: librdkafka's ``connections.max.idle.ms`` for an exactly-once worker's producer (0, never,
#: by default). librdkafka 2.12 can wait for good in ``send_offsets_to_transaction`` when the
#: broker coordinating the worker's group dies (issue #5511): the offset commit waits for
#: that broker, which is decommissioned once the controller fences it, and the wait is only
#: looked at again when one of the producer's broker connections goes up or down. While a
#: commit waits nothing is produced, so idle connections close after this long; each close
#: re-runs the lookup, and the connection reopened to ask finds the new coordinator. In
#: normal running a connection closes only after 5 s without a request, and reopening it
#: costs a SASL handshake. ADR 0011.
IDLE_CONNECTION_CLOSE_MS = 5_000

#: librdkafka's ``heartbeat.interval.ms`` for a worker's consumer (3 s by default). A member
#: hears that its group is rebalancing only in the answer to its next heartbeat, and the
#: group waits for every member to rejoin, so an instance added or removed by the
#: autoscaler left its peers consuming the old assignment (or nothing, once revoked) for up
#: to a whole interval each: about 2 s of the ~6 s a redactor scale-in stalled the live path
#: (`rehearse autoscale`, ADR 0008). At 0.5 s each member sends two small requests a second.
HEARTBEAT_INTERVAL_MS = 500


#: How a worker opens a partition's state store (RocksDB). The instances of a processor on
#: one host share one state directory: a partition's store is a directory of its own, held
#: by whichever instance owns the partition (RocksDB's lock file keeps it to one), so an
#: instance taking a partition over from one on the same host (an autoscaler's scale-in or
#: scale-out, a restart) finds its state current up to the previous owner's last checkpoint
#: instead of restoring everything since it last held the partition from the changelog.
#: Measured in short autoscale runs (processors/rebalance.py logs each phase): sentiment's
#: recoveries took 1.2-5.0 s with a directory per instance, 1.0-2.5 s shared (most of the
#: rest was Quix's recovery loop waiting: ``rebalance.prompt_recovery``). One checkpoint is
#: always replayed: Quix's revoke does not flush the store, its changelog holds it.
#: In a rebalance every member gives its partitions up before any is handed out, so a store
#: is normally free when its new owner opens it; it is held only by an instance that was
#: removed and has not noticed yet, until it does. Quix retries a held lock every 3 s by
#: default: here every 0.25 s, for the same 30 s, within Quix's own budget for a rebalance.
#:
#: Each partition's store is a RocksDB of its own, and RocksDB keeps writes in memory until
#: a write buffer is full: at Quix's 64 MiB a worker holding six partitions kept up to ~380
#: MiB resident for state of tens of MiB at most (the calls of the last hours), growing for
#: as long as the buffers took to fill: about half of what a long `up` showed each stateful
#: worker grow by (bench/soak.py, NOTES.md stop 48). At 8 MiB a buffer is written out eight
#: times as often, small files RocksDB compacts in the background; the workers' CPU did not
#: change.
#:
#: Reads rarely reach RocksDB (``CallStateCache`` holds the calls of the last minutes); the
#: one steady reader is Quix's TTL sweep, which from the state's 6 h on reads every expired
#: call's cold value once to evict it, and each block it reads stays in the block cache
#: (Quix's 1 GiB ceiling a process): an assist worker draining 16 h of traffic grew 21 MB
#: an hour of traffic from hour 8 on, and +2 MB an hour with this 32 MiB cache, drained as
#: fast (bench/state_memory.py, NOTES.md stop 52).
STATE_WRITE_BUFFER_BYTES = 8 * 1024 * 1024
STATE_BLOCK_CACHE_BYTES = 32 * 1024 * 1024
SHARED_STATE = RocksDBOptions(open_retry_backoff=0.25, open_max_retries=120,
                              write_buffer_size=STATE_WRITE_BUFFER_BYTES, block_cache_size=STATE_BLOCK_CACHE_BYTES)


#: librdkafka's prefetch bound for a worker's consumer (its default is 64 MiB)
PREFETCH_KBYTES = 8 * 1024


def fetch_config(batch_ms: int) -> dict[str, int | str]:
    """Consumer fetch settings for a processor that may wait ``batch_ms`` per fetch: the
    broker holds a fetch until 64 KiB arrived or ``batch_ms`` passed, so a consumer makes
    at most 1000/batch_ms fetches a second instead of one per message that arrives.

    A worker behind by a backlog (a restart, a burst) would prefetch up to librdkafka's
    64 MiB of it: capped at 8 MiB (over a second of a drain), the assist worker draining
    hours of traffic held 100 MB less after the first hour and drained as fast
    (bench/state_memory.py, NOTES.md stop 52). Live, with nothing behind, the cap is inert."""
    return {"fetch.wait.max.ms": max(1, batch_ms), "fetch.min.bytes": 65536, "queued.max.messages.kbytes": PREFETCH_KBYTES}


def poll_timeout(processor: Processor) -> float:
    """How long the worker's consumer may wait for a message, in seconds.

    Quix reads a stream of several topics in timestamp order (``concat`` asks it to): it
    fills a buffer with one ``consume`` call that waits this long for a batch, and calls it
    again whenever some partition holds records it has not fetched yet. At 0.1 s a bundle
    of seven processors on four topics held its redacted segments 332 ms at the median
    (ADR 0010). Such a stream waits at most its ``batch_ms``; a single topic is polled a
    message at a time and returns as soon as one arrives, so its timeout only paces an idle
    loop."""
    if len(processor.inputs) < 2:
        return 0.1
    return min(0.1, max(0.005, processor.batch_ms / 1000))


@dataclass(frozen=True)
class ProcessorApp:
    """A processor's Quix ``Application`` and the step inside it (its counters and metrics)."""

    app: Application
    step: ProcessorStep

    def run(self) -> None:
        self.app.run()


#: tries at building an application whose internal topics were just created (see below)
INTERNAL_TOPIC_ATTEMPTS = 6


def build_application(processor: Processor, client_config: dict[str, str], catalog: Catalog, state_dir: Path,
                      **options: Any) -> ProcessorApp:
    """``_build`` (below), again when Quix creates a state or repartition topic and does not
    see it yet: it fetches the new topic's metadata at once, and a broker (more so on three
    nodes, or with an authorizer filtering metadata) may answer before the topic reaches its
    cache. The topic exists by the next attempt, which only has to find it."""
    from quixstreams.models.topics.exceptions import TopicNotFoundError

    for attempt in range(INTERNAL_TOPIC_ATTEMPTS - 1):
        try:
            return _build(processor, client_config, catalog, state_dir, **options)
        except TopicNotFoundError as exc:
            if "changelog__" not in str(exc) and "repartition__" not in str(exc):
                raise  # an input or output topic that is really missing
            log.warning("%s: %s; trying again", processor.name, exc)
            time.sleep(0.5 * 2**attempt)
    return _build(processor, client_config, catalog, state_dir, **options)


def _build(
    processor: Processor,
    client_config: dict[str, str],
    catalog: Catalog,
    state_dir: Path,
    *,
    group: str | None = None,
    topic_names: dict[str, str] | None = None,
    instance_id: str | None = None,
    state_ttl: timedelta | None = None,
    loglevel: LogLevel = "WARNING",
    protection: Protection | None = None,
) -> ProcessorApp:
    """A Quix ``Application`` running ``processor``; ``topic_names`` renames catalog topics
    (tests and rehearsals run on uuid-named copies); ``instance_id`` makes it a static
    group member (``static_member_id``), so a restarted instance resumes its partitions at
    once instead of after the 45 s session timeout; ``state_ttl`` overrides the processor's
    ``state_ttl``; ``protection`` opens sealed fields for a processor that ``reads_restricted``."""
    require_supported("quixstreams")
    rename = topic_names or {}
    consumer_config: dict[str, int | str] = fetch_config(processor.batch_ms)
    producer_config: dict[str, int | str] = {"linger.ms": max(2, processor.batch_ms // 4), **KEY_PARTITIONER}
    consumer_config["heartbeat.interval.ms"] = HEARTBEAT_INTERVAL_MS
    if instance_id:
        consumer_config["group.instance.id"] = instance_id
    if processor.guarantee == "exactly-once":
        producer_config["connections.max.idle.ms"] = IDLE_CONNECTION_CLOSE_MS
        if instance_id:
            # stable per group and instance (Quix's default is a new uuid per start): a
            # restarted instance fences its zombie, and a PREFIXED ACL on the group covers it
            producer_config["transactional.id"] = instance_id
    broker_address = ConnectionConfig.from_librdkafka_dict(dict(client_config), ignore_extras=True)
    consumer_group = group or processor.consumer_group
    app = Application(
        broker_address=broker_address,
        consumer_group=consumer_group,
        topic_manager=BoundedNameTopicManager(PromptTopicAdmin(broker_address, extra_config=producer_config), consumer_group),
        auto_offset_reset="earliest",
        processing_guarantee=processor.guarantee,
        commit_interval=processor.commit_interval,
        state_dir=str(state_dir),
        rocksdb_options=SHARED_STATE,
        loglevel=loglevel,
        consumer_extra_config=consumer_config,
        producer_extra_config=producer_config,
        consumer_poll_timeout=poll_timeout(processor),
    )
    step = ProcessorStep(processor, catalog, protection)
    inputs = [app.topic(rename.get(t, t), key_deserializer="bytes", value_deserializer="bytes") for t in processor.inputs]
    outputs = {
        t: app.topic(rename.get(t, t), key_serializer="bytes", value_serializer=_OutgoingSerializer())
        for t in (*processor.outputs, DEADLETTER_TOPIC)
    }
    sdf = app.dataframe(inputs[0])
    for topic in inputs[1:]:
        sdf = sdf.concat(app.dataframe(topic))
    worth_reading = read_filter(processor)
    if worth_reading is not None:
        sdf = sdf.filter(worth_reading)
    if processor.stateful:
        ttl = state_ttl or processor.state_ttl
        cache = CallStateCache(CallStateValue.KEY, ttl)
        cache.hook(app)  # before the rebalance timer and the watchdog wrap the same callbacks: they time it too

        def stateful_step(value: bytes, key: Any, ts: int, headers: Any, state: Any) -> list[Outgoing]:
            call = CallStateValue(state, ttl, cache, key, ts)
            try:
                return step(value, key, ts, headers, call)
            finally:
                call.save()

        sdf = sdf.apply(stateful_step, stateful=True, expand=True, metadata=True)
    else:
        sdf = sdf.apply(lambda value, key, ts, headers: step(value, key, ts, headers, None), expand=True, metadata=True)
    if processor.windowing is not None:
        sdf = _windowed(sdf, processor.windowing, step, outputs)
        sdf = sdf.set_headers(lambda value, key, ts, headers: value.headers)
        sdf.to_topic(lambda value, key, ts, headers: outputs[value.topic], key=lambda value: value.key)
    else:
        sdf.update(_producing(app, {name: topic.name for name, topic in outputs.items()}), metadata=True)
    hook_quix_error_callbacks(app, step.metrics)
    time_checkpoints(app, step.metrics)  # after the state cache's hook: its hand-over is part of the stop
    RebalanceTimer(processor.name, step.metrics).hook(app)
    prompt_recovery(app)
    if processor.guarantee == "exactly-once":
        guard_commits(app, processor.name)  # a commit stuck after a broker loss ends the worker (watchdog.py)
    return ProcessorApp(app, step)


def read_filter(processor: Processor) -> Callable[[bytes | None], bool] | None:
    """Whether a message is worth reading for ``processor``: false for an event of a type it
    ``ignores``, told by the first bytes as callstream writes them (``encoded_prefix``), so it
    leaves before Quix opens a state transaction and before it is decoded. Heartbeats are
    ~28% of all events and 70% of the lifecycle topic QA and analytics read (ADR 0016, stop
    63). One written with its keys in another order is read, and the step drops it. ``None``
    when the processor ignores nothing (a bundle's members decide in the step)."""
    skipped = tuple(encoded_prefix(cls) for cls in processor.ignores)
    if not skipped:
        return None
    return lambda value: value is None or not value.startswith(skipped)


def _producing(app: Application, topic_names: dict[str, str]) -> Callable[[Outgoing, Any, int, Any], None]:
    """Each ``Outgoing`` produced as it is, through the application's producer (the one its
    checkpoints flush, inside its transaction for exactly-once workers), stamped with its
    input's timestamp as ``to_topic`` does. ``set_headers`` then ``to_topic`` did the same
    through two more layers per record (a transform, a ``Row``, a serializer call)."""
    producer = app._producer  # noqa: SLF001  private: pinned by callstream.dependencies

    def produce(out: Outgoing, key: Any, timestamp: int, headers: Any) -> None:
        # a header may be None (librdkafka sends it as null); Quix's annotation leaves it out
        producer.produce(topic=topic_names[out.topic], key=out.key, value=out.value,
                         headers=out.headers, timestamp=timestamp)  # type: ignore[arg-type]
    return produce


def _windowed(sdf: StreamingDataFrame, spec: WindowSpec, step: ProcessorStep, outputs: dict) -> StreamingDataFrame:
    """Dead letters go straight out; unit results are re-keyed (a Quix repartition topic),
    timestamped by event time and folded into tumbling windows emitted when they close."""
    dead = sdf.filter(lambda out: out.topic == DEADLETTER_TOPIC)
    dead = dead.set_headers(lambda value, key, ts, headers: value.headers)
    dead.to_topic(outputs[DEADLETTER_TOPIC], key=lambda out: out.key)
    units = sdf.filter(lambda out: out.topic != DEADLETTER_TOPIC)
    units = units.apply(lambda out: msgspec.to_builtins(decode_event(out.value)))
    units = units.set_timestamp(lambda value, key, ts, headers: value["event_time_ms"])
    units = units.group_by(lambda unit: spec.key(msgspec.convert(unit, spec.unit_type)), name=f"{step.processor.name}-window-key")
    windows = units.tumbling_window(duration_ms=spec.window_ms, grace_ms=spec.grace_ms).reduce(
        reducer=lambda acc, unit: spec.reducer(acc, msgspec.convert(unit, spec.unit_type)),
        initializer=lambda unit: spec.initializer(msgspec.convert(unit, spec.unit_type)),
    ).final()

    def emit(window: dict, key: str | bytes | None, ts: int, headers: object) -> Outgoing:
        event = spec.result(window["value"], window["start"], window["end"])
        message_key = key.encode() if isinstance(key, str) else key  # the window's group key
        return Outgoing(step.topic_for(event), message_key, *encode_event(event, validate=False))

    return windows.apply(emit, metadata=True)
