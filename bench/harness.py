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
from collections.abc import Mapping
from pathlib import Path

from confluent_kafka.admin import AdminClient

from callstream.contract.catalog import load_catalog
from callstream.errors import KafkaOperationError
from callstream.governance.acls import grant_catalog
from callstream.governance.protection import ProducerSeal, open_protection
from callstream.kafka import topics as topic_admin
from callstream.kafka.config import static_member_id
from callstream.local import broker
from callstream.local.processes import ProcessGroup
from callstream.observe.lag import OffsetReader
from callstream.processors.registry import load_processor
from callstream.settings import child_process_environment, load_settings

#: the archiver's process name (and its group's suffix)
ARCHIVER = "archiver"

# A native crash in a Kafka client must leave a stack, not a bare exit code 139.
faulthandler.enable()


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
        """Messages of ``topics`` that ``group`` has not committed."""
        reader = self._offset_reader()
        ends = reader.log_offsets(reader.partitions(topics))
        committed = reader.committed(group, topics)
        return sum(end - committed.get(tp, start) for tp, (start, end) in ends.items())

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
            dead = self.processes.dead()
            if dead:
                tail = dead[0].log_path.read_text(errors="replace")[-3000:] if dead[0].log_path.exists() else ""
                raise RuntimeError(f"{dead[0].name} died (its log is removed with the bench's state dir):\n{tail}")
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

    def __exit__(self, *exc: object) -> None:
        if self._offsets is not None:
            self._offsets.close()
        self.processes.stop_all()
        if broker.LocalCluster.load(self.state_dir):
            broker.stop(self.state_dir)
        shutil.rmtree(self.state_dir, ignore_errors=True)
