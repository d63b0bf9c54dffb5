"""Shared plumbing for benchmarks: a throwaway local Kafka with the catalog applied,
processor workers as child processes, and waiting until consumer groups have drained.

Benchmarks import it as ``from harness import BenchCluster`` (bench/ is their directory).
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient

from callstream.contract.catalog import load_catalog
from callstream.errors import KafkaOperationError
from callstream.governance.acls import grant_catalog
from callstream.governance.protection import ProducerSeal, open_protection
from callstream.kafka import topics as topic_admin
from callstream.kafka.config import static_member_id
from callstream.kafka.produce import produce_patiently
from callstream.local import broker
from callstream.local.processes import ProcessGroup
from callstream.observe.lag import OffsetReader
from callstream.processors.registry import load_processor
from callstream.settings import child_process_environment, load_settings
from callstream.simulate.simulator import SimulationSettings

#: the archiver's process name (and its group's suffix)
ARCHIVER = "archiver"

# A native crash in a Kafka client must leave a stack, not a bare exit code 139.
faulthandler.enable()


#: a drain that reads nothing for this long has lost its input: it stops and says so
IDLE_LIMIT_S = 60.0

#: (topic, key, value, headers) of a message to produce
Record = tuple[str, bytes | None, bytes | None, list]


@dataclass(frozen=True)
class Drain:
    """A backlog drained: how many messages, over how long, for how much CPU."""

    messages: int
    seconds: float
    cpu_seconds: float

    @property
    def msgs_per_s(self) -> float:
        return self.messages / max(self.seconds, 1e-9)

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu_seconds / max(self.messages, 1) * 1e6


def produce_backlog(conf: Mapping[str, str], records: list[Record]) -> None:
    """Write ``records`` in their order and wait until all are delivered."""
    producer = Producer({**conf, "linger.ms": 5})
    for topic, key, value, headers in records:
        produce_patiently(producer, topic, value, key, headers)
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("a benchmark's backlog was not delivered within 60 s")


def consume_produce(conf: Mapping[str, str], source: str, count: int, handle: Callable[[Message], list[tuple]],
                    producer_config: Mapping[str, str | int] | None = None,
                    consumer_config: Mapping[str, str | int] | None = None, checkpoint_s: float = 1.0,
                    per_message: bool = False, before_checkpoint: Callable[[Producer], None] | None = None) -> Drain:
    """Drain ``count`` messages of ``source`` in a plain confluent-kafka loop: ``consume(1000)``,
    ``handle(message)`` gives the (topic, key, value, headers) records to produce, and every
    ``checkpoint_s`` the producer is flushed and the offsets committed (what a worker's
    checkpoint does: outputs are delivered before their inputs count as done). Timed, and the
    CPU of this process (librdkafka's threads included) counted, from the first batch to the
    last delivery.

    ``per_message`` runs it the way Quix Streams' loop calls the client instead: one
    message a ``poll``, and after each ``produce`` a ``poll(0)`` serving a Python delivery
    callback (which records the delivered offset, as Quix's does). ``before_checkpoint(producer)``
    runs before each checkpoint's flush (and the last one): where a loop writes its state."""
    producer = Producer({**conf, "linger.ms": 5, **(producer_config or {})})
    consumer = Consumer({**conf, "group.id": f"bench-drain-{time.time_ns()}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, **(consumer_config or {})})
    consumer.subscribe([source])
    delivered: dict[tuple[str, int], int] = {}

    def on_delivery(err, message) -> None:
        if err is None:
            delivered[(message.topic(), message.partition())] = message.offset()

    done, started, cpu_started, checkpoint_at = 0, 0.0, 0.0, 0.0
    progress_at = time.monotonic()
    try:
        while done < count:
            if per_message:
                one = consumer.poll(1.0)
                batch = [one] if one is not None else []
            else:
                batch = consumer.consume(1000, 1.0)
            if batch:
                progress_at = time.monotonic()
            elif time.monotonic() - progress_at > IDLE_LIMIT_S:
                raise TimeoutError(f"{source}: {done:,} of {count:,} messages read, nothing more for {IDLE_LIMIT_S:.0f} s")
            if batch and not started:
                started, cpu_started = time.perf_counter(), time.process_time()
                checkpoint_at = started + checkpoint_s
            for message in batch:
                if message.error():
                    continue
                for topic, key, value, headers in handle(message):
                    if per_message:
                        producer.produce(topic, value, key=key, headers=headers, on_delivery=on_delivery)
                        producer.poll(0)
                    else:
                        producer.produce(topic, value, key=key, headers=headers)
                done += 1
            producer.poll(0)
            if started and time.perf_counter() >= checkpoint_at:
                if before_checkpoint is not None:
                    before_checkpoint(producer)
                producer.flush(60)
                consumer.commit(asynchronous=False)
                checkpoint_at = time.perf_counter() + checkpoint_s
        if before_checkpoint is not None:
            before_checkpoint(producer)
        if producer.flush(60):
            raise RuntimeError(f"the output of {source}'s drain was not delivered within 60 s")
        return Drain(done, time.perf_counter() - started, time.process_time() - cpu_started)
    finally:
        consumer.close()


def bare_copy(conf: Mapping[str, str], source: str, target: str, payloads: list) -> Drain:
    """The baseline: ``payloads`` ((key, value, headers)) written to ``source``, then copied to
    ``target`` by a plain consume->produce loop that does nothing else."""
    produce_backlog(conf, [(source, *payload) for payload in payloads])
    return consume_produce(conf, source, len(payloads),
                           lambda message: [(target, message.key(), message.value(), message.headers())])


def backlog_simulation(seed: int) -> SimulationSettings:
    """The simulator at full speed over an hour of calls: the events benchmarks drain as a backlog."""
    return SimulationSettings(rate_per_min=600, duration_s=3600, max_speed=True, seed=seed,
                              start_time_ms=1_700_000_000_000)


def group_lag(reader: OffsetReader, group: str, topics: list[str]) -> int:
    """Messages of ``topics`` that ``group`` has not committed."""
    ends = reader.log_offsets(reader.partitions(topics))
    committed = reader.committed(group, topics)
    return sum(end - committed.get(tp, start) for tp, (start, end) in ends.items())


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class BenchCluster:
    """A local broker in a temporary state dir (or ``bootstrap`` of an existing cluster).

    The local broker is secured as `callstream kafka start` makes it (SASL/SCRAM, ACLs from
    the catalog, every worker its own principal; the benchmark's own clients are its admin)
    unless ``insecure``: the plaintext baseline that shows what authentication costs."""

    def __init__(self, bootstrap: str | None = None, brokers: int = 1, heap: str = "1g", insecure: bool = False) -> None:
        self.bootstrap = bootstrap
        self.brokers = brokers
        self.heap = heap
        self.insecure = insecure
        self._conf: dict[str, str] = {}
        self.state_dir = Path(tempfile.mkdtemp(prefix="callstream-bench-"))
        self.processes = ProcessGroup(self.state_dir / "logs")
        self._offsets: OffsetReader | None = None
        self._catalog_topics = [t.name for t in load_catalog().topics]

    def __enter__(self) -> BenchCluster:
        catalog = load_catalog()
        settings = load_settings().with_state_dir(self.state_dir)
        if self.bootstrap:
            self._conf = {"bootstrap.servers": self.bootstrap}
            settings = settings.with_cluster(self.bootstrap)
        else:
            cluster, _ = broker.start(self.state_dir, self.brokers, ports=broker.free_ports(2 * self.brokers),
                                      heap=self.heap, security="insecure" if self.insecure else "sasl")
            self.bootstrap = cluster.bootstrap_servers
            self._conf = cluster.client_config()
        _, env = catalog.environment_for_brokers(topic_admin.broker_count(AdminClient(self.conf)))
        topic_admin.apply(self.conf, catalog, env)
        if not self.insecure and not settings.kafka.bootstrap_servers:
            grant_catalog(self.conf, catalog, state_dir=self.state_dir)
        # a local cluster's workers find it, and their own credentials, in the state dir
        self.processes.env = child_process_environment(settings)
        self.settings = settings
        return self

    def producer_seal(self) -> ProducerSeal:
        """How the benchmark's producers seal restricted fields, with the keystore the
        workers open (the state dir's), as the simulator does under `callstream up`."""
        protection = open_protection(self.settings, "simulator", force=True)
        assert protection is not None
        return ProducerSeal(protection)

    @property
    def security(self) -> str:
        return "plaintext" if self.insecure else "SASL/SCRAM + ACLs"

    @property
    def conf(self) -> dict[str, str]:
        return dict(self._conf)

    def start_processors(self, names: list[str], instances: int = 1) -> None:
        for name in names:
            for i in range(instances):
                self.processes.spawn(f"{name}-{i}", "callstream.processors.worker", name, "--instance", str(i))

    def start_archiver(self) -> None:
        """The archiver on every catalog topic, as `callstream up` runs it (its Iceberg
        warehouse in the bench's state dir)."""
        topic_args = [arg for t in self._catalog_topics for arg in ("--topic", t)]
        self.processes.spawn(ARCHIVER, "callstream.archive.archiver", "--instance-id", static_member_id(ARCHIVER),
                             *topic_args)

    def archiver_lag(self) -> int:
        """Messages of every catalog topic the archiver has not committed (into Iceberg) yet."""
        return self._group_lag(f"callstream-{ARCHIVER}", self._catalog_topics)

    def stop_processors(self, names: list[str], instances: int = 1) -> None:
        """Stop these workers by PID (SIGTERM: they commit and leave their groups) and forget them."""
        for name in names:
            for i in range(instances):
                self.processes.kill(f"{name}-{i}", signal.SIGTERM)
                del self.processes.children[f"{name}-{i}"]

    def cpu_seconds(self, helpers: Mapping[str, int | None] | None = None) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each worker, each broker, this
        benchmark process (simulator and lag sampling) and its ``helpers`` (name -> pid, e.g.
        the latency probe's process): where the machine's cores go."""
        pids = {child.name: child.pid for child in self.processes.children.values() if child.alive() and child.pid}
        pids |= {name: pid for name, pid in (helpers or {}).items() if pid}
        cluster = broker.LocalCluster.load(self.state_dir)
        for node in cluster.nodes if cluster else []:
            if node.pid:
                pids[f"broker-{node.node_id}"] = node.pid
        pids["bench"] = os.getpid()
        return {name: seconds for name, pid in pids.items() if (seconds := _cpu_seconds(pid)) is not None}

    def worker_drain(self, name: str, records: list[Record], start: bool = True, timeout_s: float = 600) -> Drain:
        """The ``name`` worker (instance 0, started unless running) draining ``records``
        produced to its inputs first: timed by its group's committed lag (sampled every 0.25 s)
        and CPU-counted from /proc, from its first progress, so start-up and the group's
        join are left out."""
        produce_backlog(self.conf, records)
        if start:
            self.start_processors([name])
        first: tuple[float, float, int] | None = None
        deadline = time.monotonic() + timeout_s
        while True:
            self.raise_if_dead()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not drain {len(records):,} messages within {timeout_s:.0f} s")
            backlog = self.message_lag([name])
            consumed = len(records) - backlog
            if consumed > 0 and first is None:
                first = (time.perf_counter(), self.cpu_seconds()[f"{name}-0"], consumed)
            if backlog == 0:
                break
            time.sleep(0.25)
        if first is None or first[2] >= len(records):  # drained between two lag samples: nothing to time
            raise SystemExit(f"{name} drained all {len(records):,} messages before a second lag sample; "
                             f"give it {2 * len(records):,} or more")
        started, cpu_started, done_at_start = first
        return Drain(len(records) - done_at_start, time.perf_counter() - started,
                     self.cpu_seconds()[f"{name}-0"] - cpu_started)

    def message_lag(self, processors: list[str]) -> int:
        """Messages the processors' groups have not committed yet, over all their inputs
        (offsets only: cheap enough to sample every second under load)."""
        return sum(self.lag_by_processor(processors).values())

    def lag_by_processor(self, processors: list[str]) -> dict[str, int]:
        """Each processor group's uncommitted messages over all its inputs."""
        lags = {}
        for name in processors:
            spec = load_processor(name)
            lags[name] = self._group_lag(spec.consumer_group, list(spec.inputs))
        return lags

    def messages_in(self, topics: list[str]) -> int:
        """Messages written to ``topics`` so far (the sum of their partitions' end offsets)."""
        reader = self._offset_reader()
        return sum(end for _, end in reader.log_offsets(reader.partitions(topics)).values())

    def _group_lag(self, group: str, topics: list[str]) -> int:
        return group_lag(self._offset_reader(), group, topics)

    def _offset_reader(self) -> OffsetReader:
        if self._offsets is None:
            # one long-lived reader: a new admin client and group readers per sample would
            # load the broker (and this process) more than what is being measured
            self._offsets = OffsetReader(self.conf, timeout_s=20)
        return self._offsets

    def wait_drained(self, processors: list[str], timeout_s: float = 300, settle_s: float = 3.0) -> float:
        """Seconds until every processor's group has committed all its input (held ``settle_s``)."""
        started = time.monotonic()
        calm_since = None
        while time.monotonic() - started < timeout_s:
            self.raise_if_dead()
            try:
                backlog = self.message_lag(processors)
            except KafkaOperationError:  # leadership still settling right after start-up
                time.sleep(1.0)
                continue
            if backlog == 0:
                calm_since = calm_since or time.monotonic()
                if time.monotonic() - calm_since >= settle_s:
                    return time.monotonic() - started
            else:
                calm_since = None
            time.sleep(1.0)
        raise TimeoutError(f"processors {processors} did not drain within {timeout_s}s")

    def raise_if_dead(self) -> None:
        dead = self.processes.dead()
        if dead:
            tail = dead[0].log_path.read_text(errors="replace")[-3000:] if dead[0].log_path.exists() else ""
            raise RuntimeError(f"{dead[0].name} died (its log is removed with the bench's state dir):\n{tail}")

    def __exit__(self, *exc: object) -> None:
        if self._offsets is not None:
            self._offsets.close()
        self.processes.stop_all()
        if broker.LocalCluster.load(self.state_dir):
            broker.stop(self.state_dir)
        shutil.rmtree(self.state_dir, ignore_errors=True)
