"""Shared plumbing for benchmarks: a throwaway local Kafka with the catalog applied,
processor workers as child processes, and waiting until consumer groups have drained.

Benchmarks import it as ``from harness import BenchCluster`` (bench/ is their directory).
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import tempfile
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

from callstream.contract.catalog import load_catalog
from callstream.errors import KafkaOperationError
from callstream.kafka import local
from callstream.kafka import topics as topic_admin
from callstream.observe.lag import OffsetReader
from callstream.processors.registry import load_processor
from callstream.process_group import ProcessGroup

# A native crash in a Kafka client must leave a stack, not a bare exit code 139.
faulthandler.enable()


class BenchCluster:
    """A local broker in a temporary state dir (or ``bootstrap`` of an existing cluster)."""

    def __init__(self, bootstrap: str | None = None, brokers: int = 1, heap: str = "1g") -> None:
        self.bootstrap = bootstrap
        self.brokers = brokers
        self.heap = heap
        self.state_dir = Path(tempfile.mkdtemp(prefix="callstream-bench-"))
        self.processes = ProcessGroup(self.state_dir / "logs")

    def __enter__(self) -> BenchCluster:
        if not self.bootstrap:
            cluster, _ = local.start(self.state_dir, self.brokers, ports=local.free_ports(2 * self.brokers), heap=self.heap)
            self.bootstrap = cluster.bootstrap_servers
        catalog = load_catalog()
        _, env = catalog.environment_for_brokers(topic_admin.broker_count(AdminClient(self.conf)))
        topic_admin.apply(self.conf, catalog, env)
        self.processes.env = {**os.environ, "CALLSTREAM_BOOTSTRAP_SERVERS": self.bootstrap, "CALLSTREAM_STATE_DIR": str(self.state_dir)}
        return self

    @property
    def conf(self) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap}

    def start_processors(self, names: list[str], instances: int = 1) -> None:
        for name in names:
            for i in range(instances):
                self.processes.spawn(f"{name}-{i}", "callstream.processors.worker", name, "--instance", str(i))

    def message_lag(self, processors: list[str]) -> int:
        """Messages the processors' groups have not committed yet, over all their inputs
        (offsets only: cheap enough to sample every second under load)."""
        total = 0
        with OffsetReader(self.conf, timeout_s=20) as reader:
            for name in processors:
                spec = load_processor(name)
                ends = reader.log_offsets(reader.partitions(spec.inputs))
                committed = reader.committed(spec.consumer_group)
                total += sum(end - committed.get(tp, start) for tp, (start, end) in ends.items())
        return total

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
        self.processes.stop_all()
        if local.LocalCluster.load(self.state_dir):
            local.stop(self.state_dir)
        shutil.rmtree(self.state_dir, ignore_errors=True)
