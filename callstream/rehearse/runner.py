"""Runs a scenario end to end and always cleans up what it started.

Order of a run: a local 1- or 3-broker cluster in the run's own work dir on free
loopback ports (or a configured cluster, when no broker is to be touched); uuid-suffixed
copies of the catalog topics; processors and the archiver as processes (by PID, via
``ProcessGroup``) in uuid groups; then the traffic, the fault schedule and a sample about
every second (acknowledged arrivals, lag and consumption per group); then a drain until
every group caught up; then the loss and duplicate checks against the acknowledged
events, the figures and the verdicts. Whatever happens, every process the run started is
stopped by PID in ``finally``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console

from callstream.archive.query import parquet_source
from callstream.archive.tables import Archive, data_files
from callstream.contract.catalog import DEADLETTER_TOPIC, load_catalog
from callstream.errors import CallstreamError, KafkaOperationError, ScenarioError
from callstream.governance.acls import add as add_grants
from callstream.governance.acls import grant_catalog, topic_grants
from callstream.local import broker
from callstream.local.processes import ProcessGroup
from callstream.local.sessions import session_changes
from callstream.observe.client_metrics import (
    checkpoint_stops,
    read_worker_metrics,
    rebalance_phases,
    worker_metrics_env,
)
from callstream.observe.processor_time import ProcessorClock, read_worker_samples
from callstream.processors.registry import load_processor
from callstream.processors.watchdog import RESTART_EXIT
from callstream.rehearse import analysis, figures, report
from callstream.rehearse.faults import FaultInjector
from callstream.rehearse.host_time import HostTime
from callstream.rehearse.observer import OutputObserver
from callstream.rehearse.sampling import ClusterUnanswered, OffsetSampler
from callstream.rehearse.schedule import PlannedFault, Scenario, plan_faults
from callstream.rehearse.traffic import SIMULATED_TOPICS, TrafficDriver, write_curve_csv
from callstream.rehearse.verdicts import Verdict, all_passed, evaluate
from callstream.scaling.controller import ScaledProcessor, ScalingController
from callstream.scaling.host import HostCpu
from callstream.scaling.instances import LocalInstances
from callstream.settings import Settings, child_process_environment, client_config

REDRIVE_TOPIC = "callstream.rehearsal.redrive"
GROUP_READY_TIMEOUT_S = 120.0

_Part = TypeVar("_Part")


@dataclass
class RunOptions:
    report_dir: Path
    #: the run's own state: cluster data, processor state, archive, logs
    work_dir: Path
    #: callstream's settings; with a configured cluster the rehearsal runs there (uuid-named
    #: topics), otherwise it starts a local cluster of its own
    settings: Settings = field(default_factory=Settings)
    console: Console | None = None
    keep_work_dir: bool = False
    #: print a progress line every this many seconds (0: quiet)
    progress_every_s: float = 5.0
    #: the same scenario on fixed workers (``figures.baseline_summary``), shown beside an autoscaled run
    baseline: dict[str, Any] | None = None

    @property
    def uses_configured_cluster(self) -> bool:
        return not self.settings.kafka.is_local


@dataclass
class RunResult:
    report_dir: Path
    passed: bool
    verdicts: list[Verdict]
    figures: dict[str, Any] = field(repr=False)


def stop_leftover_clusters(rehearsals_dir: Path) -> list[int]:
    """Stop (by PID) local clusters of earlier rehearsals under ``rehearsals_dir`` that are
    still running: a run killed hard (SIGKILL, a crash) cannot clean up after itself."""
    stopped: list[int] = []
    for state in sorted(Path(rehearsals_dir).rglob("kafka/cluster.json")):
        work_dir = state.parent.parent
        cluster = broker.LocalCluster.load(work_dir)
        if cluster is not None and cluster.running_nodes():
            stopped += broker.stop(work_dir)
    return stopped


def _node_name(node_id: int) -> str:
    """A local broker's name in the report: its log beside it and its row of the Cores table."""
    return f"kafka-node-{node_id}"


def _started(part: _Part | None, name: str) -> _Part:
    if part is None:
        raise RuntimeError(f"the rehearsal's {name} were used before they were started")
    return part


def run_scenario(scenario: Scenario, options: RunOptions) -> RunResult:
    """Run ``scenario`` and write its report; raises ``CallstreamError`` if it cannot run."""
    return Rehearsal(scenario, options).run()


class Rehearsal:
    """One run of one scenario; also the ``FaultTargets`` its injector acts on."""

    def __init__(self, scenario: Scenario, options: RunOptions) -> None:
        if options.uses_configured_cluster and scenario.needs_process_control:
            raise ScenarioError(
                f"scenario {scenario.name} stops brokers, which needs the local cluster the rehearsal starts itself",
                "run it without --bootstrap-servers / CALLSTREAM_BOOTSTRAP_SERVERS")
        if options.uses_configured_cluster and scenario.topics == "catalog":
            raise ScenarioError(f"scenario {scenario.name} writes to the catalog's own topics, which a rehearsal does "
                                "only on its own local cluster", "set topics: uuid, or run without a configured cluster")
        self.scenario = scenario
        self.options = options
        self.console = options.console or Console(quiet=True)
        self.suffix = uuid.uuid4().hex[:8]
        self.work_dir = Path(options.work_dir)
        self.catalog = load_catalog()
        self._cluster: broker.LocalCluster | None = None
        self.conf: dict[str, str] = {}
        self.child_settings = options.settings.with_state_dir(self.work_dir)
        self.worker_metrics_dir = self.work_dir / "worker-metrics"
        #: differences between ticks: the window is one sample interval
        self._checkpoint_clock = ProcessorClock(self.scenario.sample_interval_s)
        if scenario.topics == "uuid":
            self.names = {t.name: f"{t.name}.{self.suffix}" for t in self.catalog.topics}
        else:
            self.names = {t.name: t.name for t in self.catalog.topics}
        self.redrive_topic = f"{REDRIVE_TOPIC}.{self.suffix}"
        self.group_ids: dict[str, str] = {}
        self.group_topics: dict[str, list[str]] = {}
        self._processes: ProcessGroup | None = None
        self.down: set[str] = set()  # children a fault took down on purpose
        self.redrive_children: list[str] = []
        self.unexpected_exits: list[dict[str, Any]] = []
        self.startup_restarts: list[dict[str, Any]] = []
        self.broker_of: dict[str, int] = {}  # fault id -> node it took down
        self.lock = threading.RLock()
        self.samples: list[figures.Sample] = []
        self.t0 = 0.0
        self.t0_ms = 0
        self._traffic: TrafficDriver | None = None
        self._observer: OutputObserver | None = None
        self._injector: FaultInjector | None = None
        self._sampler: OffsetSampler | None = None
        self.run_info: dict[str, Any] = {}
        self._main_calls: queue.Queue = queue.Queue()
        self.transactional_topics: set[str] = set()
        self._scaling: ScalingController | None = None
        self._instances: LocalInstances | None = None
        self._host_time = HostTime()
        self._host_cpu = HostCpu()

    # The parts a run starts one after another; using one before it started is a bug.
    @property
    def processes(self) -> ProcessGroup:
        return _started(self._processes, "processes")

    @property
    def traffic(self) -> TrafficDriver:
        return _started(self._traffic, "traffic")

    @property
    def observer(self) -> OutputObserver:
        return _started(self._observer, "observer")

    @property
    def sampler(self) -> OffsetSampler:
        return _started(self._sampler, "sampler")

    @property
    def injector(self) -> FaultInjector:
        return _started(self._injector, "injector")

    @property
    def cluster(self) -> broker.LocalCluster:
        return _started(self._cluster, "cluster")

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> RunResult:
        scenario = self.scenario
        started_at = datetime.now(UTC)
        setup_started = time.monotonic()
        self.options.report_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_cluster()
            self._create_topics()
            self._start_processes()
            self._wait_for_groups()
            setup_s = time.monotonic() - setup_started
            traffic_end_s, drained = self._run_schedule()
            caught_up = self.observer.finish(timeout_s=60.0)
            if not drained:
                self._dump_stacks()
            self.processes.stop_all()  # SIGTERM: processors commit, the archiver flushes
            archived = self._read_archive() if scenario.archiver else None
            record = self._record(started_at, setup_s, traffic_end_s, drained, caught_up, archived)
        finally:
            self._clean_up()
        data = figures.build(record)
        verdicts = evaluate(scenario.checks, data["metrics"])
        passed = all_passed(verdicts)
        if self.options.baseline is not None:
            data["baseline"] = self.options.baseline
        data["verdicts"] = [v.to_json() for v in verdicts]
        data["passed"] = passed
        report.write(self.options.report_dir, data)
        if not self.options.keep_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        return RunResult(self.options.report_dir, passed, verdicts, data)

    @staticmethod
    def _quiet(conf: dict[str, str]) -> dict[str, str]:
        # a broker going down is the point of some rehearsals: count client errors
        # (error_cb), don't print librdkafka's connection-refused lines over the progress
        return conf | {"log_level": "0"}

    def _say(self, text: str) -> None:
        self.console.print(text, soft_wrap=True)

    def _start_cluster(self) -> None:
        if self.options.uses_configured_cluster:
            self.conf = client_config(self.options.settings)  # its admin where it has one per principal
            self.child_settings = self.options.settings.with_state_dir(self.work_dir)
            self.run_info["cluster"] = {"configured": True, "bootstrap": self.conf.get("bootstrap.servers")}
            self._say(f"[bold]cluster[/] configured: {self.conf.get('bootstrap.servers')}")
            return
        brokers = self.scenario.cluster.brokers
        started = time.monotonic()
        self._cluster, _ = broker.start(self.work_dir, brokers, ports=broker.free_ports(2 * brokers),
                                        heap=self.scenario.cluster.heap, timeout_s=180,
                                        version=self.options.settings.kafka.local_kafka_version)
        self.conf = self.cluster.client_config()  # the rehearsal's own clients act as the cluster's admin
        self.run_info["cluster"] = {"configured": False, "brokers": brokers, "kafka": self.cluster.version,
                                    "bootstrap": self.cluster.bootstrap_servers,
                                    "start_s": round(time.monotonic() - started, 1),
                                    "pids": {n.node_id: n.pid for n in self.cluster.nodes}}
        self._say(f"[bold]cluster[/] {brokers} broker(s) Kafka {self.cluster.version} at {self.cluster.bootstrap_servers} "
                  f"(pids {', '.join(str(n.pid) for n in self.cluster.nodes)}) in {time.monotonic() - started:.0f} s")

    def _create_topics(self) -> None:
        admin = AdminClient(self.conf)
        brokers = len(admin.list_topics(timeout=30).brokers)
        env_name, env = self.catalog.environment_for_brokers(brokers)
        new = [NewTopic(self.names[t.name], num_partitions=t.partitions, replication_factor=t.replication_for(env),
                        config=t.kafka_configs(env)) for t in self.catalog.topics]
        if any(f.action == "redrive" for f in self.scenario.faults):
            raw = self.catalog.topic("callstream.transcript.raw")
            new.append(NewTopic(self.redrive_topic, num_partitions=raw.partitions,
                                replication_factor=raw.replication_for(env), config=raw.kafka_configs(env)))
        for name, future in admin.create_topics(new, operation_timeout=60).items():
            try:
                future.result(timeout=90)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise KafkaOperationError(f"creating rehearsal topic {name} failed: {exc.args[0].str()}") from None
        per_principal = self.options.settings.kafka.credentials_file is not None
        if (self._cluster is not None and self._cluster.secured) or per_principal:
            # the run's processes connect as their own principals: grant them the copies
            # (adding only: the catalog's own topics keep their grants)
            acls = grant_catalog(self.conf, self.catalog, names=self.names, delete_stale=False,
                                 state_dir=self.work_dir if self._cluster is not None else None)
            extra = topic_grants("replay", writes=[self.redrive_topic])
            add_grants(self.conf, extra)
            self.run_info["acls"] = {"granted": len(acls.missing) + len(extra)}
        self.run_info["topics"] = {"environment": env_name, "replication_factor": env.replication_factor,
                                   "min_insync_replicas": env.min_insync_replicas,
                                   "suffix": self.suffix if self.scenario.topics == "uuid" else None}
        self._say(f"[bold]topics[/] {len(new)} ({env_name}: replication {env.replication_factor}, "
                  f"min.insync.replicas {env.min_insync_replicas})")

    def _group(self, logical: str) -> str:
        if self.scenario.topics == "catalog":
            return f"callstream-{logical}"
        return f"callstream-{logical}-{self.suffix}"

    def _worker_args(self, processor: str, group: str, instance: int) -> list[str]:
        return [processor, "--instance", str(instance), "--group", group, "--topic-map", json.dumps(self.names)]

    def _start_processes(self) -> None:
        # the workers' own metrics (rebalance phases among them), added up for the report
        env = child_process_environment(self.child_settings) | worker_metrics_env(self.worker_metrics_dir)
        self._processes = ProcessGroup(self.work_dir / "logs", env)
        autoscale = self.scenario.autoscale
        standby = autoscale is not None and autoscale.warm_standby
        self._instances = LocalInstances(
            self.processes, name_of=lambda p, i: f"{p}-{i}", worker_args=self._worker_args,
            standby_dir=self.work_dir / "standby" if standby else None,
            standby_limits={p: autoscale.policy.max_instances for p in autoscale.processors} if autoscale else None)
        for spec in self.scenario.processors:
            processor = load_processor(spec.name)
            self.group_ids[spec.name] = self._group(spec.name)
            self.group_topics[spec.name] = [self.names[t] for t in processor.inputs]
            for instance in range(spec.instances):
                self._instances.start(spec.name, self.group_ids[spec.name], instance)
        if autoscale is not None:
            scaled = [ScaledProcessor(p, self.group_ids[p], {self.names[t]: self.catalog.topic(t).partitions
                                                             for t in load_processor(p).inputs})
                      for p in autoscale.processors]
            self._scaling = ScalingController(scaled, autoscale.policy, self._instances, self.conf,
                                              initial={p: self.scenario.instances_of(p) for p in autoscale.processors},
                                              clock=lambda: time.monotonic() - self.t0,
                                              host_idle_cores=HostCpu().idle_cores)
        if self.scenario.archiver:
            self.group_ids["archiver"] = self._group("archiver")
            self.group_topics["archiver"] = [self.names[t.name] for t in self.catalog.topics]
            self.processes.spawn("archiver", "callstream.archive.archiver", *self._archiver_args())
        # topics written in transactions (exactly-once outputs, and the dead letters they share)
        self.transactional_topics = {self.names[t] for spec in self.scenario.processors
                                     if load_processor(spec.name).guarantee == "exactly-once"
                                     for t in (*load_processor(spec.name).outputs, DEADLETTER_TOPIC)}
        self._say("[bold]processes[/] " + ", ".join(f"{n} (pid {c.pid})" for n, c in self.processes.children.items()))

    def _archiver_args(self) -> list[str]:
        topics = [arg for t in self.group_topics["archiver"] for arg in ("--topic", t)]
        return ["--group", self.group_ids["archiver"], "--flush-age-s", "2", *topics]

    def _wait_for_groups(self) -> None:
        """Traffic starts once every group has all its members (so lag means something)."""
        self._sampler = OffsetSampler(self._quiet(self.conf), self.group_ids, self.group_topics, self.transactional_topics)
        self.sampler.discover()
        deadline = time.monotonic() + GROUP_READY_TIMEOUT_S
        stable_checks = 0
        waiting = list(self.group_ids.values())
        while time.monotonic() < deadline:
            for child in self.processes.dead():
                # Quix may create its changelog topic and not see it yet on a fresh 3-broker
                # cluster (TopicNotFoundError); a second start finds it. Twice at most.
                if child.restarts >= 2:
                    raise CallstreamError(f"{child.name} exited during start-up {child.restarts + 1} times "
                                          f"(code {child.returncode})", f"read {child.log_path}")
                self.startup_restarts.append({"process": child.name, "pid": child.pid, "returncode": child.returncode})
                self._say(f"[yellow]{child.name} (pid {child.pid}) exited during start-up (code {child.returncode}); starting it again[/]")
                self.processes.restart(child.name)
            try:
                states = self.sampler.group_states()
            except ClusterUnanswered:
                states = {}
            waiting = [g for g in self.group_ids.values() if states.get(g) != "STABLE"]
            # stable three checks in a row: later instances of a processor have joined too
            stable_checks = 0 if waiting else stable_checks + 1
            if stable_checks >= 3:
                return
            time.sleep(1.0)
        raise CallstreamError(f"consumer groups {', '.join(waiting)} did not become stable within {GROUP_READY_TIMEOUT_S:.0f} s",
                              f"read the logs in {self.work_dir / 'logs'}")

    def _run_schedule(self) -> tuple[float, bool]:
        scenario = self.scenario
        curve_csv = write_curve_csv(scenario.traffic, self.options.report_dir / "traffic-curve.csv")
        self._traffic = TrafficDriver(scenario.traffic, scenario.limits, scenario.producer, self._quiet(self.conf), self.names, curve_csv)
        outputs = {self.names[t]: t for spec in scenario.processors for t in load_processor(spec.name).outputs}
        outputs[self.names[DEADLETTER_TOPIC]] = DEADLETTER_TOPIC
        self._injector = FaultInjector(plan_faults(scenario), self)
        self.t0_ms = time.time_ns() // 1_000_000
        self.t0 = time.monotonic()
        self._observer = OutputObserver(self._quiet(self.conf), outputs, self.t0_ms, self.transactional_topics)
        self.observer.start()
        self.traffic.start(self.t0, self.t0_ms)
        self.injector.start(self.t0)
        last_progress = 0.0
        self._say(f"[bold]traffic[/] {len(scenario.traffic.phases)} phase(s), {scenario.traffic.wall_s:.0f} s; "
                  f"{len(self.injector.planned)} fault(s) scheduled")
        while not self.traffic.finished.is_set():
            last_progress = self._tick(last_progress)
        traffic_end_s = time.monotonic() - self.t0
        if self.traffic.error is not None:
            raise CallstreamError(f"the rehearsal traffic failed: {self.traffic.error}")
        self._say(f"[bold]drain[/] traffic ended at {traffic_end_s:.0f} s ({self.traffic.stopped_by}); "
                  f"waiting up to {scenario.limits.drain_timeout_s:.0f} s for every group to catch up")
        deadline = time.monotonic() + scenario.limits.drain_timeout_s
        caught_up_ticks = 0
        needed = scenario.recovery.stable_samples + 2  # enough quiet samples to measure drain and recovery
        while time.monotonic() < deadline:
            last_progress = self._tick(last_progress)
            latest = self.samples[-1]
            idle = all(latest.lag_messages.get(g) == 0 for g in self.group_ids)
            redrives_done = all(not self.processes.children[n].alive() for n in self.redrive_children)
            caught_up_ticks = caught_up_ticks + 1 if idle and redrives_done and self.injector.pending() == 0 else 0
            if caught_up_ticks >= needed:
                break
        self.injector.stop()
        return traffic_end_s, caught_up_ticks >= needed

    def _tick(self, last_progress: float) -> float:
        """One sample; sleeps the rest of the interval. Returns when progress was last shown."""
        tick_started = time.monotonic()
        self._supervise()
        ledger, health = self.traffic.ledger, self.traffic.health
        sample = self.sampler.sample(time.monotonic() - self.t0, ledger.acked, ledger.failed, health.retries, health.client_errors)
        sample.checkpoint_ms_per_s = self._checkpoint_stops(sample.t)
        sample.cores, sample.waiting = self._host_time.sample(self._process_pids(), time.monotonic())
        idle = self._host_cpu.idle_cores()
        sample.host_busy_cores = None if idle is None else round(self._host_cpu.cores - idle, 3)
        self.samples.append(sample)
        if self._scaling is not None:
            made = self._scaling.step({p: sample.lag_s.get(p) for p in self._scaling.processors}, now_s=sample.t)
            for line in self._scaling.lines(made):
                self._say(f"[cyan]autoscale[/] {line}")
        if self.options.progress_every_s and sample.t - last_progress >= self.options.progress_every_s:
            self._say(self._progress_line(sample))
            last_progress = sample.t
        self._serve_main_calls(tick_started + self.scenario.sample_interval_s)
        return last_progress

    def _process_pids(self) -> dict[str, int]:
        """Every process of the run by name: its children, the local cluster's brokers and
        this runner (the traffic, the output observer and the sampling)."""
        with self.lock:
            pids = {name: child.pid for name, child in self.processes.children.items() if child.pid and child.alive()}
        if self._cluster is not None:
            pids |= {_node_name(n.node_id): n.pid for n in self._cluster.nodes if n.pid}
        return pids | {"runner": os.getpid()}

    def _checkpoint_stops(self, t: float) -> dict[str, float]:
        """Per processor, the ms per second its loops stood still for checkpoints since the
        previous tick, from the workers' metrics files."""
        samples = read_worker_samples(self.worker_metrics_dir)
        return {p.processor: p.stopped_ms_per_s for p in self._checkpoint_clock.update(t, samples)}

    def _on_main_thread(self, call: Callable[[], Any], timeout_s: float = 120.0) -> Any:
        """Run ``call`` on the main thread and wait for it. Children must be started from a
        thread that outlives them: they get SIGTERM when their starting thread exits
        (PR_SET_PDEATHSIG, see ``callstream.process_group``), and fault threads are short-lived."""
        future: Future = Future()
        self._main_calls.put((call, future))
        return future.result(timeout=timeout_s)

    def _serve_main_calls(self, until: float) -> None:
        """Sleep until ``until`` (monotonic), running what fault threads hand over meanwhile."""
        while True:
            remaining = until - time.monotonic()
            try:
                call, future = self._main_calls.get(timeout=max(0.0, remaining)) if remaining > 0 else self._main_calls.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:  # handed back to the fault thread that asked
                    future.set_exception(exc)

    def _progress_line(self, sample: figures.Sample) -> str:
        phase = self.scenario.traffic.phase_at_wall(sample.t) or "drain"
        recent = self.samples[-6:]
        span = recent[-1].t - recent[0].t
        rate = (recent[-1].acked - recent[0].acked) / span if span > 0 else 0.0
        lags = ", ".join(f"{g} {sample.lag_messages[g]:,}" if sample.lag_messages.get(g) is not None else f"{g} ?"
                         for g in self.group_ids)
        faults = sum(1 for r in self.injector.records if r.started_at_s is not None)
        return (f"{sample.t:6.0f} s {phase:<10} acked {sample.acked:>9,} ({rate:,.0f}/s)  lag: {lags}  "
                f"faults {faults}/{len(self.injector.records)}  retries {sample.retries}")

    def _supervise(self) -> None:
        """A processor or archiver that exits by itself is a finding (and, with supervise,
        is restarted as an orchestrator would)."""
        with self.lock:
            for name, child in self.processes.children.items():
                retired = self._instances.retired if self._instances is not None else set()
                if (name in self.down or name in retired or name in self.redrive_children or child.alive()
                        or child.process is None):
                    continue
                self.unexpected_exits.append({"at_s": round(time.monotonic() - self.t0, 3), "process": name,
                                              "pid": child.pid, "returncode": child.returncode,
                                              "restart_asked": child.returncode == RESTART_EXIT,
                                              "log": str(child.log_path)})
                self._say(f"[red]{name} (pid {child.pid}) exited by itself with code {child.returncode}[/]")
                if self.scenario.supervise:
                    self.processes.restart(name)

    # --- FaultTargets -------------------------------------------------------------------------

    def execute(self, fault: PlannedFault) -> dict[str, Any]:
        action = fault.action
        if fault.kind == "broker":
            if action == "restart-broker":
                node_id = fault.broker if isinstance(fault.broker, int) else self.broker_of[str(fault.broker)]
                broker.start_node(self.cluster, node_id, heap=self.scenario.cluster.heap, timeout_s=120)
                self._say(f"[yellow]fault[/] restarted broker {node_id} (pid {self.cluster.node(node_id).pid})")
                return {"node_id": node_id, "pid": self.cluster.node(node_id).pid}
            if fault.broker is None:
                raise ScenarioError(f"{fault.label} names no broker", "set broker: to a node id or leader")
            node_id = self._leader(fault) if fault.broker == "leader" else int(fault.broker)
            pid = self.cluster.node(node_id).pid
            self.broker_of[fault.id or f"#{fault.index}"] = node_id
            took = broker.stop_node(self.cluster, node_id, kill=action == "kill-broker")
            self._say(f"[yellow]fault[/] {action} node {node_id} (pid {pid}) in {took:.1f} s")
            return {"node_id": node_id, "pid": pid, "signal": "SIGKILL" if action == "kill-broker" else "SIGTERM",
                    "stop_s": round(took, 3)}
        if fault.kind in ("processor", "archiver"):
            name = "archiver" if fault.kind == "archiver" else f"{fault.processor}-{fault.instance}"
            if action.startswith("restart-"):
                child = self._on_main_thread(lambda: self._restart_child(name))
                self._say(f"[yellow]fault[/] restarted {name} (pid {child.pid})")
                return {"process": name, "pid": child.pid}
            with self.lock:
                self.down.add(name)
            sig = signal.SIGKILL if action.startswith("kill-") else signal.SIGTERM
            pid = self.processes.kill(name, sig)
            self._say(f"[yellow]fault[/] {action} {name} (pid {pid})")
            return {"process": name, "pid": pid, "signal": sig.name}
        if fault.kind == "redrive":
            return self._start_redrive(fault)
        raise ScenarioError(f"unknown fault action {action}")

    def _restart_child(self, name: str):  # noqa: ANN202 - a process_group.Child
        with self.lock:
            child = self.processes.restart(name)
            self.down.discard(name)
            return child

    def _leader(self, fault: PlannedFault) -> int:
        if fault.topic is None:
            raise ScenarioError(f"{fault.label} asks for a leader but names no topic", "set topic: to a catalog topic")
        topic = self.names[fault.topic]
        metadata = AdminClient(self.conf).list_topics(topic, timeout=10)
        partition = metadata.topics[topic].partitions.get(fault.partition)
        if partition is None or partition.leader < 0:
            raise KafkaOperationError(f"{topic}[{fault.partition}] has no leader right now")
        return partition.leader

    def _start_redrive(self, fault: PlannedFault) -> dict[str, Any]:
        traffic = self.scenario.traffic
        start_ms = self.traffic.start_ms
        if fault.from_s is None or fault.to_s is None:
            raise ScenarioError(f"{fault.label} has no window", "set from_s and to_s")
        from_ms = start_ms + int(traffic.sim_of(fault.from_s) * 1000)
        to_ms = start_ms + int(traffic.sim_of(fault.to_s) * 1000)
        catalog_topics = fault.topics or [t for t in SIMULATED_TOPICS if self.catalog.topic(t).classification != "restricted"]
        name = f"redrive-{fault.index}"
        args = ["--from-ms", str(from_ms), "--to-ms", str(to_ms), "--into", self.redrive_topic,
                *[a for t in catalog_topics for a in ("--topic", self.names[t])]]
        if fault.rate_per_s:
            args += ["--rate", str(fault.rate_per_s)]
        with self.lock:
            self.redrive_children.append(name)
        child = self._on_main_thread(lambda: self.processes.spawn(name, "callstream.rehearse.redrive", *args))
        self._say(f"[yellow]fault[/] re-drive of {len(catalog_topics)} topic(s), simulated window "
                  f"{traffic.sim_of(fault.from_s):.0f}-{traffic.sim_of(fault.to_s):.0f} s, started (pid {child.pid})")
        return {"process": name, "pid": child.pid, "from_ms": from_ms, "to_ms": to_ms, "topics": catalog_topics}

    # --- after the traffic --------------------------------------------------------------------

    def _read_archive(self) -> dict[tuple[str, int], list[int]]:
        """Every archived (catalog topic, partition) -> offsets, repeats included."""
        archive = Archive.open(self.child_settings.archive_settings())
        con = duckdb.connect()
        out: dict[tuple[str, int], list[int]] = {}
        try:
            for catalog_topic in SIMULATED_TOPICS:
                table = archive.table(self.names[catalog_topic], create=False)
                files = data_files(table) if table is not None else []
                if not files:
                    continue
                source = parquet_source(archive.settings, files, con, "rows")
                for partition, offset in con.execute(f"SELECT kafka_partition, kafka_offset FROM {source}").fetchall():
                    out.setdefault((catalog_topic, partition), []).append(offset)
        finally:
            con.close()
        return out

    def _redrive_results(self) -> list[dict[str, Any]]:
        results = []
        for name in self.redrive_children:
            child = self.processes.children[name]
            lines = child.log_path.read_text().strip().splitlines() if child.log_path.exists() else []
            try:
                result = json.loads(lines[-1]) if lines else {"error": "no output"}
            except ValueError:
                result = {"error": lines[-1][:300]}
            results.append({"process": name, "pid": child.pid, "returncode": child.returncode} | result)
        return results

    def _record(self, started_at: datetime, setup_s: float, traffic_end_s: float, drained: bool,
                caught_up: bool, archived: dict[tuple[str, int], list[int]] | None) -> figures.RunRecord:
        scenario, ledger, observer = self.scenario, self.traffic.ledger, self.observer
        names = scenario.processor_names
        delivery = analysis.delivery(
            acked_segments=ledger.segments if "redactor" in names else None,
            redacted_segments=observer.redacted_segments if "redactor" in names else None,
            acked_offsets=dict(ledger.offsets) if archived is not None else None,
            archived_offsets=archived,
            expected_quality_contacts=ledger.expected_quality_contacts() if "quality" in names else None,
            quality_contacts=observer.quality_contacts if "quality" in names else None,
        )
        latency = {stage: (list(ts), list(vs)) for stage, (ts, vs) in observer.latency.items()}
        if ledger.ack_latency:
            latency["produce"] = ([t for t, _ in ledger.ack_latency], [v for _, v in ledger.ack_latency])
        worker_families = read_worker_metrics(self.worker_metrics_dir)
        by_topic: dict[str, int] = {}
        for (topic, _), offsets in ledger.offsets.items():
            by_topic[topic] = by_topic.get(topic, 0) + len(offsets)
        self.run_info.update({
            "started_at": started_at.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "setup_s": round(setup_s, 1),
            "drained": drained,
            "processes": {n: c.pid for n, c in self.processes.children.items()},
            "startup_restarts": self.startup_restarts,
            "groups": self.group_ids,
        })
        return figures.RunRecord(
            scenario=scenario, samples=self.samples, latency=latency, faults=self.injector.records,
            traffic={"produced": self.traffic.produced, "acked": ledger.acked, "failed": ledger.failed,
                     "first_error": ledger.first_error, "unsent": self.traffic.unsent, "calls": self.traffic.calls,
                     "retries": self.traffic.health.retries, "client_errors": self.traffic.health.client_errors,
                     "last_client_error": self.traffic.health.last_error, "stopped_by": self.traffic.stopped_by,
                     "acked_by_topic": dict(sorted(by_topic.items()))},
            delivery=delivery, traffic_end_s=traffic_end_s, groups=list(self.group_ids),
            unexpected_exits=self.unexpected_exits, redrives=self._redrive_results(),
            scaling=self._scaling.report() if self._scaling is not None else None,
            rebalances=rebalance_phases(worker_families), checkpoints=checkpoint_stops(worker_families),
            broker_sessions=self._broker_sessions(),
            observer={"caught_up": caught_up, "outputs": observer.outputs, "dead_letters": observer.dead_letters,
                      "undecodable": observer.undecodable, "error": str(observer.error) if observer.error else None},
            run=self.run_info,
        )

    def _broker_sessions(self) -> list[dict[str, Any]] | None:
        """The controller's session changes since the traffic started, from the logs of the
        cluster this run started (a configured cluster's logs are not ours to read)."""
        if self._cluster is None:
            return None
        return [{"at_s": round((c.at_ms - self.t0_ms) / 1000, 3), "broker": c.broker, "change": c.change}
                for c in session_changes(n.log_path for n in self._cluster.nodes) if c.at_ms >= self.t0_ms]

    def _clean_up(self) -> None:
        """Stop everything this run started, by PID, whatever state the run is in."""
        for part in (self._injector, self._traffic):
            if part is not None:
                part.stop()
        if self._injector is not None:
            self._injector.join(timeout_s=150)  # a broker restart in progress finishes first
        if self._traffic is not None:
            self._traffic.join(timeout=150)
        if self._observer is not None:
            self._observer.close()
        if self._sampler is not None:
            self._sampler.close()
        if self._scaling is not None:
            self._scaling.close()
        if self._processes is not None:
            self._processes.stop_all()
            self._keep_logs()
        if self._cluster is not None:
            broker.stop(self.work_dir)
        elif self.options.uses_configured_cluster and self.scenario.topics == "uuid":
            self._delete_rehearsal_topics()

    def _dump_stacks(self) -> None:
        """Ask every live processor for its threads' stacks (SIGUSR1, see the worker): the
        kept logs then show where a group that never drained was waiting."""
        for child in self.processes.children.values():
            if child.alive() and child.pid and child.argv[2:3] == ["callstream.processors.worker"]:
                os.kill(child.pid, signal.SIGUSR1)
        time.sleep(1.0)

    def _keep_logs(self) -> None:
        """Copy the tail of each process log beside the report (the work dir may be removed)."""
        target = self.options.report_dir / "logs"
        logs = {name: child.log_path for name, child in self.processes.children.items()}
        if self._cluster is not None:
            logs |= {_node_name(n.node_id): n.log_path for n in self._cluster.nodes}
        for name, path in logs.items():
            if path.exists():
                target.mkdir(parents=True, exist_ok=True)
                (target / f"{name}.log").write_bytes(path.read_bytes()[-20_000:])

    def _delete_rehearsal_topics(self) -> None:
        try:
            admin = AdminClient(self.conf)
            ours = [t for t in admin.list_topics(timeout=10).topics if self.suffix in t]
            if ours:
                for future in admin.delete_topics(ours, operation_timeout=30).values():
                    future.result(timeout=40)
        except KafkaException:
            pass  # uuid-named leftovers harm nothing; never fail the run over them
