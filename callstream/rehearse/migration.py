"""``callstream rehearse migration``: move the whole live platform between two clusters and back.

Cluster A (one node) and cluster B (three nodes, replication 3) run on this machine, each
secured as ``callstream kafka start`` makes it. The platform (every processor and the
archiver) runs on A with simulated traffic at an elevated rate; the replicator copies A
to B; in the middle of the traffic the platform is cut over to B, later rolled back to A
under traffic, then cut over to B again (``callstream.migrate.cutover.switch`` each time).

The traffic keeps an acknowledgement ledger and stamps each event with the moment it was
due, so the time an event waited while producers were held counts in every latency. After
the traffic the run drains the platform on B and reads B from the beginning, which holds
everything (A's records were replicated to it, the rollback's were replicated back): the
acknowledged events must all be there, every exactly-once output once, and the
at-least-once outputs are counted for repeats. The report has the switches' stages and
receipts, the assist latency around each switch, verdicts and plots.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import msgspec
from confluent_kafka import Producer
from rich.console import Console

from callstream.archive.query import parquet_source
from callstream.archive.tables import Archive, data_files
from callstream.contract.catalog import DEADLETTER_TOPIC, load_catalog
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.events import CallDisposition, CallEnded, TranscriptSegment
from callstream.errors import CallstreamError, DecodeError
from callstream.governance.acls import grant_catalog
from callstream.kafka import topics as topic_admin
from callstream.kafka.config import KafkaSettings, build_settings
from callstream.kafka.produce import produce_patiently
from callstream.local import broker
from callstream.local.credentials import ADMIN, Credentials, credentials_path
from callstream.local.processes import ProcessGroup, standbys_waiting, wait_for_args
from callstream.migrate.cutover import (
    Platform,
    Stage,
    SwitchOptions,
    SwitchReport,
    drain,
    platform_of,
    switch,
    wait_clients_stopped,
)
from callstream.migrate.fence import fence
from callstream.migrate.links import Link, cluster_id_of
from callstream.migrate.mirrormaker import MIRRORMAKER_VERSION, SYNC_INTERVAL_S, MirrorCluster, MirrorMaker
from callstream.migrate.plan import group_positions, make_plan, prepare_target
from callstream.migrate.positions import set_archive_positions
from callstream.migrate.receipts import watermarks
from callstream.migrate.replicator import backlog, committed_positions
from callstream.migrate.service import ReplicationProcesses
from callstream.observe.stream import StreamTap
from callstream.processors.registry import available
from callstream.rehearse.analysis import percentile
from callstream.rehearse.observer import OutputObserver
from callstream.rehearse.traffic import REHEARSAL_TOPICS_HINT, SIMULATED_TOPICS, TrafficThread
from callstream.settings import ArchiveSection, ProtectionSection, Settings, child_process_environment
from callstream.simulate.simulator import ProducerGate, SimulationSettings, generate_events, producer_settings

SCENARIO = "migration"
#: the platform's groups must have members within this long after their processes start
READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class MigrationSchedule:
    """When each switch starts (seconds after the traffic starts) and how hard the traffic runs."""

    #: twice the traffic of `callstream up` (60 calls a minute in real time)
    rate_per_min: float = 60.0
    speedup: float = 2.0
    #: calls already in progress at the start (simulated seconds of arrivals before it)
    warm_start_s: float = 120.0
    cutover_at_s: float = 60.0
    rollback_at_s: float = 130.0
    cutover_again_at_s: float = 200.0
    traffic_s: float = 260.0
    seed: int = 31
    target_brokers: int = 3
    #: "callstream" (cutover, rollback, cutover again) or "mirrormaker2": the baseline, one
    #: cutover (MirrorMaker 2 with topic names kept cannot replicate back without a loop)
    replicator: str = "callstream"
    #: a switch window for the stall figures: from its start to this long after it ended
    settle_s: float = 20.0


@dataclass
class MigrationOptions:
    report_dir: Path
    work_dir: Path
    schedule: MigrationSchedule = field(default_factory=MigrationSchedule)
    console: Console | None = None
    keep_work_dir: bool = False


class SwitchableTraffic(TrafficThread):
    """Simulated calls paced in real time (times ``speedup``) into whichever cluster is
    active; ``hold`` stops producing (nothing in flight), ``resume`` continues on another."""

    thread_name = "migration-traffic"

    def __init__(self, schedule: MigrationSchedule, conf: dict[str, str]) -> None:
        super().__init__()
        self.schedule = schedule
        self.gate = ProducerGate()
        self._producer = self._new_producer(conf)

    @staticmethod
    def _new_producer(conf: dict[str, str]) -> Producer:
        return Producer(producer_settings(conf) | {"acks": "all", "enable.idempotence": "true",
                                                   "client.id": "callstream-rehearsal-traffic", "log_level": "0"})

    def hold(self, timeout_s: float = 60.0) -> None:
        if not self.gate.hold(timeout_s) and not self.finished.is_set():
            raise CallstreamError(f"the rehearsal traffic did not stop within {timeout_s:.0f} s")

    def resume(self, conf: dict[str, str]) -> None:
        self.gate.release(conf)

    def stop(self) -> None:
        super().stop()
        self.gate.release()
        self.join(120)

    def _finish(self) -> None:
        super()._finish()
        self.gate.done()

    def _produce_all(self) -> None:
        schedule = self.schedule
        settings = SimulationSettings(curve="steady", rate_per_min=schedule.rate_per_min, duration_s=schedule.traffic_s * schedule.speedup,
                                      speedup=schedule.speedup, seed=schedule.seed, start_time_ms=self.start_ms, drain=False,
                                      warm_start_s=schedule.warm_start_s)
        for sim_s, topic, event in generate_events(settings):
            due = max(0.0, sim_s / schedule.speedup)
            if self._stop.is_set() or due >= schedule.traffic_s:
                break
            while (wait := self.t0 + due - time.monotonic()) > 0 and not self._stop.is_set():
                self._producer.poll(min(wait, 0.1))
            if (moved_to := self.gate.passage(self._producer)) is not None:
                self._producer = self._new_producer(dict(moved_to))
            # stamped with when it was due: time spent held counts in every latency
            value, headers = encode_event(msgspec.structs.replace(event, produced_at_ms=self.start_ms + int(due * 1000)),
                                          validate=False)
            produce_patiently(self._producer, topic, value, event.contact_id.encode(), headers,
                              hint=REHEARSAL_TOPICS_HINT, on_delivery=self.ledger.callback_for(topic, event, due))
            self.produced += 1
            if self.produced & 0xFF == 0:
                self._producer.poll(0)
        self._producer.flush(120)


@dataclass
class ClusterSide:
    """One cluster of the rehearsal: its broker(s), admin link and the platform's settings on it."""

    name: str
    cluster: broker.LocalCluster
    link: Link
    kafka: KafkaSettings


class RehearsalClients:
    """The platform's own clients: the traffic, every processor and the archiver. Before
    writes pause, a warm standby of the platform starts on the joining cluster (imports,
    ACL checks, topic checks done), released once the positions are set there."""

    def __init__(self, rehearsal: MigrationRehearsal) -> None:
        self.rehearsal = rehearsal
        self.standby: tuple[str, ProcessGroup, Path] | None = None

    def prepare(self, cluster: Link) -> str:
        # Readied while the platform still serves: ten Python start-ups (~1 s of CPU each)
        # inside the pause slowed the leaving workers' own stop on two cores (NOTES, stop 65)
        go = self.rehearsal.work_dir / f"go-{self.rehearsal.starts + 1}"
        group = self.rehearsal.spawn_platform(self.rehearsal.side(cluster.name), go)
        self.standby = (cluster.name, group, go)
        waiting, alive = standbys_waiting(group, go, READY_TIMEOUT_S)
        return f"{waiting} of {alive} processes ready on '{cluster.name}', waiting to be released"

    def quiesce(self, cluster: Link) -> None:
        self.rehearsal.traffic.hold()

    def stop(self, cluster: Link) -> None:
        self.rehearsal.stop_platform()

    def start(self, cluster: Link) -> None:
        side = self.rehearsal.side(cluster.name)
        # producers first, as a contact center would re-point them; the processors catch up
        self.rehearsal.traffic.resume(side.cluster.client_config("simulator"))
        standby, self.standby = self.standby, None
        if standby is not None and standby[0] == cluster.name:
            name, group, go = standby
            go.touch()
            self.rehearsal.processes, self.rehearsal.active = group, name
            self.rehearsal.wait_ready(side, group)
            return
        if standby is not None:  # a refused switch: the platform goes back where it was
            standby[1].stop_all()
        self.rehearsal.start_platform(side)


class MigrationRehearsal:
    def __init__(self, options: MigrationOptions) -> None:
        self.options = options
        self.schedule = options.schedule
        self.console = options.console or Console(quiet=True)
        self.work_dir = Path(options.work_dir)
        self.catalog = load_catalog()
        self.sides: dict[str, ClusterSide] = {}
        self.processes: ProcessGroup | None = None
        self.active = "a"
        self.starts = 0
        self.restarts: list[dict[str, Any]] = []
        self.switches: list[tuple[str, float, float, SwitchReport | None, str | None]] = []
        self.samples: list[dict[str, Any]] = []
        self._traffic: SwitchableTraffic | None = None
        self.t0 = 0.0
        #: (topics, source, target) of the replication direction running now
        self._replicated: tuple[list[str], Link, Link] = ([], Link("a", {}, ""), Link("b", {}, ""))
        self._partitions: dict[str, int] = {}
        self.clients: RehearsalClients | None = None
        self.mirror: MirrorMaker | None = None

    @property
    def traffic(self) -> SwitchableTraffic:
        if self._traffic is None:
            raise RuntimeError("the traffic was used before it started")
        return self._traffic

    def side(self, link_name: str) -> ClusterSide:
        return self.sides[link_name]

    def _say(self, text: str) -> None:
        self.console.print(text, soft_wrap=True)

    # --- clusters and the platform ----------------------------------------------------------

    def _start_side(self, name: str, brokers: int) -> ClusterSide:
        started = time.monotonic()
        directory = self.work_dir / f"cluster-{name}"
        cluster, _ = broker.start(directory, brokers, ports=broker.free_ports(2 * brokers), timeout_s=180)
        conf = cluster.client_config()
        kafka = build_settings({"bootstrap_servers": cluster.bootstrap_servers, "security_protocol": "SASL_PLAINTEXT",
                                "sasl_mechanism": "SCRAM-SHA-512", "credentials_file": credentials_path(directory)},
                               source=f"rehearsal cluster {name}", env_prefix="CALLSTREAM_REHEARSAL_UNUSED_")
        grant_catalog(conf, self.catalog, state_dir=directory)
        side = ClusterSide(name, cluster, Link(name, conf, cluster_id_of(conf, name)), kafka)
        self._say(f"[bold]cluster {name}[/] {brokers} node(s) Kafka {cluster.version} at {cluster.bootstrap_servers} "
                  f"(pids {', '.join(str(n.pid) for n in cluster.nodes)}) in {time.monotonic() - started:.0f} s")
        return side

    def settings_for(self, side: ClusterSide, start: int) -> Settings:
        """The platform's settings on ``side`` for its ``start``-th start: a fresh state dir
        (processor state is rebuilt from the cluster's changelogs), the shared keys, audit
        log and archive."""
        archive = self.work_dir / "archive"
        return Settings(state_dir=self.work_dir / "platform" / f"{start}-{side.name}", kafka=side.kafka,
                        protection=ProtectionSection(keys_dir=self.work_dir / "keys", audit_dir=self.work_dir / "audit"),
                        archive=ArchiveSection(warehouse=str(archive / "warehouse"), catalog_uri=f"sqlite:///{archive / 'catalog.db'}"))

    def spawn_platform(self, side: ClusterSide, go: Path | None = None) -> ProcessGroup:
        """Every processor and the archiver on ``side``; with ``go``, as a warm standby."""
        self.starts += 1
        settings = self.settings_for(side, self.starts)
        group = ProcessGroup(self.work_dir / "logs" / f"{self.starts}-{side.name}", child_process_environment(settings))
        for name in available():
            group.spawn(name, "callstream.processors.worker", name, *wait_for_args(go))
        group.spawn("archiver", "callstream.archive.archiver", "--flush-age-s", "2", *wait_for_args(go),
                    *[a for t in self.catalog.topics for a in ("--topic", t.name)])
        return group

    def start_platform(self, side: ClusterSide) -> None:
        group = self.spawn_platform(side)
        self.processes, self.active = group, side.name
        self.wait_ready(side, group)

    def wait_ready(self, side: ClusterSide, group: ProcessGroup) -> None:
        expected = [f"callstream-{name}" for name in available()] + ["callstream-archiver"]
        admin = side.link.admin()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for child in group.dead():
                if child.restarts >= 2:
                    raise CallstreamError(f"{child.name} exited during start-up {child.restarts + 1} times", f"read {child.log_path}")
                self.restarts.append({"process": child.name, "returncode": child.returncode, "cluster": side.name})
                group.restart(child.name)
            try:
                described = {g: f.result(timeout=10) for g, f in admin.describe_consumer_groups(expected).items()}
            except Exception:  # noqa: BLE001 - a coordinator still loading answers late: ask again
                described = {}
            if described and all(d.members for d in described.values()):
                return
            time.sleep(0.5)
        raise CallstreamError(f"the platform's groups did not all get members on cluster {side.name} within {READY_TIMEOUT_S:.0f} s",
                              f"read the logs in {self.work_dir / 'logs'}")

    def stop_platform(self) -> None:
        if self.processes is not None:
            self.processes.stop_all()

    # --- the run ----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started_at = datetime.now(UTC)
        self.options.report_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        replication: ReplicationProcesses | None = None
        sampler_stop = threading.Event()
        try:
            a = self.sides["a"] = self._start_side("a", 1)
            b = self.sides["b"] = self._start_side("b", self.schedule.target_brokers)
            environment_name, environment = self.catalog.environment_for_brokers(1)
            topic_admin.apply(a.link.config, self.catalog, environment)
            self.start_platform(a)
            plan = make_plan(a.link, b.link, self.catalog)
            plan.refuse_if_impossible()
            prepare_target(plan, b.link)
            topics = [t.name for t in plan.topics]
            self._partitions = {t.name: t.partitions for t in plan.topics}
            platform = self._platform(topics)
            self._say(f"[bold]plan[/] {len(topics)} topics ({len(platform.catalog_topics)} catalog, "
                      f"{len(topics) - len(platform.catalog_topics)} processor state), {len(plan.groups)} groups")
            self._replicated = (topics, a.link, b.link)
            if self.schedule.replicator == "mirrormaker2":
                mirror = self.mirror = self._start_mirrormaker(a, b)
                alive = mirror.alive
            else:
                # the replicator runs as its own process, as `callstream migrate start` runs it
                ours = replication = ReplicationProcesses(self.work_dir / "replication", self._replicator_env(), topics)
                ours.start(a.link, b.link)
                alive = lambda: ours.running() is not None  # noqa: E731
            self._traffic = SwitchableTraffic(self.schedule, a.cluster.client_config("simulator"))
            self.t0 = time.monotonic()
            t0_ms = time.time_ns() // 1_000_000
            self.traffic.start(self.t0, t0_ms)
            sampler = threading.Thread(target=self._sample, args=(sampler_stop,), daemon=True)
            sampler.start()
            clients = self.clients = RehearsalClients(self)
            if self.mirror is not None:
                self._wait_until(self.schedule.cutover_at_s, alive)
                self._mirrormaker_cutover(a, b, platform, clients)
            else:
                for label, at_s, leaving, joining in (("cutover", self.schedule.cutover_at_s, a, b),
                                                      ("rollback", self.schedule.rollback_at_s, b, a),
                                                      ("cutover again", self.schedule.cutover_again_at_s, a, b)):
                    self._wait_until(at_s, alive)
                    if not self._switch(label, leaving, joining, platform, clients, ours):
                        break  # refused: the platform serves where it was; the report says why
                    self._replicated = (topics, joining.link, leaving.link)
            self._wait_until(self.schedule.traffic_s, lambda: True)
            self.traffic.stop()
            if self.traffic.error is not None:
                raise CallstreamError(f"the rehearsal traffic failed: {self.traffic.error}")
            final = self.sides[self.active]
            drained, _ = drain(final.link, platform.catalog_topics, timeout_s=180, poll_s=2.0)
            sampler_stop.set()
            self.stop_platform()
            if replication is not None:
                replication.stop()
            if self.mirror is not None:
                self.mirror.stop()
            findings = self._read_final(final, t0_ms)
            findings["archived"] = self._read_archive()
            data = self._figures(started_at, plan.to_json(), findings, drained)
        finally:
            sampler_stop.set()
            if replication is not None:
                replication.stop()
            if self.mirror is not None:
                self.mirror.stop()
            if self._traffic is not None:
                self._traffic.stop()
            self.stop_platform()
            if self.clients is not None and self.clients.standby is not None:
                self.clients.standby[1].stop_all()
            for side in self.sides.values():
                broker.stop(side.cluster.state_dir)
        from callstream.rehearse import migration_report

        migration_report.write(self.options.report_dir, data)
        if not self.options.keep_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        return data

    def _platform(self, topics: list[str]) -> Platform:
        return platform_of(topics, self.catalog, archive=Archive.open(self.settings_for(self.sides["a"], 0).archive_settings()))

    def _replicator_env(self) -> dict[str, str]:
        clusters = {name: {"bootstrap_servers": side.cluster.bootstrap_servers, "security_protocol": "SASL_PLAINTEXT",
                           "sasl_mechanism": "SCRAM-SHA-512", "credentials_file": str(credentials_path(side.cluster.state_dir))}
                    for name, side in self.sides.items()}
        env = child_process_environment(Settings(state_dir=self.work_dir / "replication", kafka=self.sides["a"].kafka))
        return env | {"CALLSTREAM_CLUSTERS": json.dumps(clusters)}

    def _wait_until(self, at_s: float, replicating: Callable[[], bool]) -> None:
        while time.monotonic() - self.t0 < at_s and not self.traffic.finished.is_set():
            if not replicating():
                raise CallstreamError("the replicator process exited", f"read its log under {self.work_dir}")
            if self.processes is not None and self.processes.dead():
                child = self.processes.dead()[0]
                raise CallstreamError(f"{child.name} exited during the rehearsal ({child.returncode})", f"read {child.log_path}")
            time.sleep(0.2)

    def _switch(self, label: str, leaving: ClusterSide, joining: ClusterSide, platform: Platform, clients: RehearsalClients,
                replication: ReplicationProcesses) -> bool:
        """One switch, recorded with its stages or its error; whether it went through. A
        refused switch leaves the platform serving where it was (the switch lifts its fences
        and restarts what it stopped), so the run goes on to its report, which fails it."""
        self._say(f"[bold]{label}[/] {leaving.name} -> {joining.name} at {time.monotonic() - self.t0:.0f} s")
        started = time.monotonic() - self.t0
        report, error = None, None
        try:
            report = switch(leaving.link, joining.link, platform, clients, replication,
                            SwitchOptions(stable_s=1.0, drain_timeout_s=0, clients_timeout_s=60),
                            log=lambda line: self._say(f"  {line}"))
        except CallstreamError as exc:
            error = str(exc)
            self._say(f"[red]{label} failed: {exc}[/]")
        self.switches.append((label, started, time.monotonic() - self.t0, report, error))
        return error is None

    def _start_mirrormaker(self, a: ClusterSide, b: ClusterSide) -> MirrorMaker:
        def mirror_cluster(side: ClusterSide) -> MirrorCluster:
            password = Credentials.load(side.cluster.state_dir).password(ADMIN)
            return MirrorCluster(side.name, side.cluster.bootstrap_servers, ADMIN, password, len(side.cluster.nodes))

        topics = r"callstream\..*|changelog__callstream-.*|repartition__callstream-.*"
        mirror = MirrorMaker(self.work_dir / "mirrormaker", mirror_cluster(a), mirror_cluster(b), topics)
        pid = mirror.start()
        self._say(f"[bold]MirrorMaker 2[/] {MIRRORMAKER_VERSION} replicating a -> b (pid {pid}; checkpoints and group "
                  f"offset sync every {SYNC_INTERVAL_S} s)")
        return mirror

    def _mirrormaker_cutover(self, a: ClusterSide, b: ClusterSide, platform: Platform, clients: RehearsalClients) -> None:
        """The cutover as MirrorMaker 2's documentation has it: stop producers and consumers
        on A, wait until everything is copied and the group offsets are synced to B from
        the checkpoints, start the clients on B. The same fences and warm standby as ours."""
        label = "cutover"
        self._say(f"[bold]{label} with MirrorMaker 2[/] a -> b at {time.monotonic() - self.t0:.0f} s")
        started = time.monotonic() - self.t0
        report = SwitchReport(a.name, b.name)
        clock = paused_at = time.monotonic()

        def stage(name: str, detail: str) -> None:
            nonlocal clock
            now = time.monotonic()
            report.stages.append(Stage(name, round(now - clock, 3), detail))
            self._say(f"  {name}: {detail} ({now - clock:.1f} s)")
            clock = now

        clients.quiesce(a.link)
        fence(a.link, platform.ingest_principals, platform.catalog_topics)
        stage("ingest-fenced", f"{len(platform.ingest_principals)} principals denied WRITE on 'a'")
        clients.stop(a.link)
        stopped = wait_clients_stopped(a.link, platform, SwitchOptions(stable_s=1.0), [])
        stage("clients-stopped", stopped.detail if stopped is not None else "positions kept moving")
        fence(a.link, platform.processor_principals, platform.topics)
        stage("writers-fenced", f"{len(platform.processor_principals)} processor principals denied WRITE")
        partitions = [(t, p) for t in platform.topics for p in range(self._partitions[t])]
        deadline = time.monotonic() + 300
        while (behind := _records_behind(a.link, b.link, partitions)) and time.monotonic() < deadline:
            time.sleep(2.0)
        stage("replicated", "record counts equal on every partition" if not behind else f"{behind} records still missing on b")
        groups = group_positions(a.link.config, set(platform.topics))
        synced, previous = {}, None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            synced = {g: p for g, p in group_positions(b.link.config, set(platform.topics)).items() if g in groups}
            if set(synced) == set(groups) and all(set(synced[g]) >= set(groups[g]) for g in groups) and synced == previous:
                break
            previous = synced
            time.sleep(SYNC_INTERVAL_S + 1)
        report.positions = synced
        archiver = synced.get("callstream-archiver", {})
        report.archive = set_archive_positions(
            platform.archive, lambda tables: {topic: positions for topic, _ in tables if (positions := {
                int(k.rpartition("/")[2]): o for k, o in archiver.items() if k.rpartition("/")[0] == topic})}, b.link)
        stage("positions-synced", f"{len(synced)}/{len(groups)} groups' offsets synced to b by MirrorMaker 2 checkpoints; "
                                  f"the archive's positions taken from the archiver group's")
        report.write_pause_s = time.monotonic() - paused_at
        clients.start(b.link)
        stage("clients-started", "clients on 'b'")
        self.switches.append((label, started, time.monotonic() - self.t0, report, None))

    def _sample(self, stop: threading.Event) -> None:
        last_lag = 0.0
        while not stop.wait(1.0):
            ledger = self.traffic.ledger
            sample: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 2), "acked": ledger.acked,
                                      "failed": ledger.failed, "active": self.active}
            if sample["t"] - last_lag >= 5:
                last_lag = sample["t"]
                sample["replication_lag"] = self._replication_lag()
                self._say(f"{sample['t']:6.0f} s on {self.active}: acked {ledger.acked:,}, "
                          f"replication {self._replicated[1].name}->{self._replicated[2].name} "
                          f"{sample['replication_lag'] if sample['replication_lag'] is not None else '?'} records behind")
            self.samples.append(sample)

    def _replication_lag(self) -> int | None:
        if self.mirror is not None:
            return None  # MirrorMaker 2 keeps its source positions in Connect's offsets topic
        topics, source, target = self._replicated
        try:
            partitions = [(t, p) for t in topics for p in range(self._partitions[t])]
            ends = watermarks(source, partitions)
            positions = committed_positions(source, target, partitions)
        except CallstreamError:
            return None
        return sum(max(0, ends[tp][1] - positions[tp]) for tp in partitions)

    def _read_final(self, side: ClusterSide, t0_ms: int) -> dict[str, Any]:
        """Everything on the final cluster, from the beginning."""
        processors = available()
        outputs = {t: t for p in processors.values() for t in p.outputs} | {DEADLETTER_TOPIC: DEADLETTER_TOPIC}
        exactly_once = {t for p in processors.values() if p.guarantee == "exactly-once" for t in p.outputs}
        quiet = side.link.config | {"log_level": "0"}
        # on a migration's target every topic was (also) written in the replicator's
        # transactions: any partition may end with a commit marker
        observer = OutputObserver(quiet, outputs, t0_ms, set(outputs))
        observer.start()
        inputs = _InputTally.read(quiet)
        caught_up = observer.finish(timeout_s=300)
        return {"observer": observer, "caught_up": caught_up, "inputs": inputs,
                "exactly_once": sorted(exactly_once), "at_least_once": sorted(set(outputs) - exactly_once - {DEADLETTER_TOPIC})}

    def _read_archive(self) -> Counter[str]:
        """How often each simulated event's id is in the archive (read after the last switch)."""
        archive = Archive.open(self.settings_for(self.sides["a"], 0).archive_settings())
        counts: Counter[str] = Counter()
        con = duckdb.connect()
        try:
            for topic in SIMULATED_TOPICS:
                table = archive.table(topic, create=False)
                files = data_files(table) if table is not None else []
                if files:
                    source = parquet_source(archive.settings, files, con, "rows")
                    counts.update(row[0] for row in con.execute(f"SELECT event_id FROM {source}").fetchall())
        finally:
            con.close()
        return counts

    def _figures(self, started_at: datetime, plan: dict[str, Any], findings: dict[str, Any], drained: bool) -> dict[str, Any]:
        ledger = self.traffic.ledger
        observer: OutputObserver = findings["observer"]
        inputs: _InputTally = findings["inputs"]
        lost_segments = len(ledger.segments - inputs.segments)
        lost_ends = len((ledger.ended - inputs.ended) | (ledger.disposed - inputs.disposed))
        unredacted = len(ledger.segments - observer.redacted_segments)
        expected_quality = ledger.expected_quality_contacts()
        quality_missing = len(expected_quality - set(observer.quality_contacts))
        eos_repeats = {t: observer.repeats.get(t, 0) for t in findings["exactly_once"]}
        alo_repeats = {t: observer.repeats.get(t, 0) for t in findings["at_least_once"]}
        archived = findings["archived"]
        archive_missing = len(inputs.event_ids - set(archived))
        archive_duplicates = sum(n - 1 for n in archived.values() if n > 1)
        times, latencies = observer.latency.get("assist", ([], []))
        switches = []
        for label, start_s, end_s, report, error in self.switches:
            window = [v for t, v in zip(times, latencies, strict=True) if start_s <= t <= end_s + self.schedule.settle_s]
            before = [v for t, v in zip(times, latencies, strict=True) if start_s - 30 <= t < start_s]
            switches.append({
                "label": label, "start_s": round(start_s, 1), "end_s": round(end_s, 1), "seconds": round(end_s - start_s, 1),
                "error": error, "verified": bool(report and report.verified),
                "write_pause_s": round(report.write_pause_s, 1) if report else None,
                "assist_p99_ms": percentile(window, 99), "assist_max_ms": max(window) if window else None,
                "assist_p99_before_ms": percentile(before, 99), "assist_prompts_in_window": len(window),
                "receipts_equal": sum(1 for c in report.receipts if c.equal) if report else 0,
                "receipts": len(report.receipts) if report else 0,
                "stages": [{"name": s.name, "seconds": s.seconds, "detail": s.detail} for s in report.stages] if report else [],
            })
        metrics = {
            "acked_events": ledger.acked, "producer_failures": ledger.failed, "produced": self.traffic.produced,
            "acked_segments_lost": lost_segments, "acked_call_ends_lost": lost_ends,
            "acked_segments_without_redaction": unredacted, "quality_scores_missing": quality_missing,
            "exactly_once_duplicates": sum(eos_repeats.values()), "exactly_once_duplicates_by_topic": eos_repeats,
            "at_least_once_duplicates": sum(alo_repeats.values()), "at_least_once_duplicates_by_topic": alo_repeats,
            "input_duplicates": inputs.repeats, "dead_letters": observer.dead_letters,
            "archived_events": sum(archived.values()), "archive_missing_events": archive_missing,
            "archive_duplicate_events": archive_duplicates,
            "drained": drained, "final_read_caught_up": findings["caught_up"],
            "assist_p99_ms": percentile(latencies, 99), "assist_p50_ms": percentile(latencies, 50),
            "startup_restarts": self.restarts,
        }
        checks = [
            ("acknowledged segments lost", lost_segments, 0), ("acknowledged call ends lost", lost_ends, 0),
            ("acknowledged segments without a redacted segment", unredacted, 0),
            ("producer failures (refused or lost writes)", ledger.failed, 0),
            ("exactly-once duplicates", sum(eos_repeats.values()), 0),
            ("at-least-once duplicates and re-reads", sum(alo_repeats.values()), 0),
            ("quality scores missing", quality_missing, 0),
            ("simulated events missing from the archive", archive_missing, 0),
            ("events archived twice", archive_duplicates, 0),
            ("platform drained on the final cluster", 0 if drained else 1, 0),
        ]
        if self.mirror is None:  # MirrorMaker 2 keeps no offset map to compare receipts through
            checks.append(("switches verified (receipts equal)", sum(1 for s in switches if not s["verified"]), 0))
        verdicts = [{"check": name, "observed": observed, "bound": f"<= {bound}", "passed": observed <= bound,
                     "detail": f"observed {observed}, bound <= {bound}"} for name, observed, bound in checks]
        baseline = self.mirror is not None
        return {"scenario": f"{SCENARIO}-baseline-mirrormaker2" if baseline else SCENARIO,
                "replicator": f"MirrorMaker 2 {MIRRORMAKER_VERSION}" if baseline else "callstream", "passed": all(v["passed"] for v in verdicts),
                "run": {"started_at": started_at.isoformat(), "finished_at": datetime.now(UTC).isoformat(),
                        "kafka": broker.KAFKA_VERSION, "clusters": {n: {"brokers": len(s.cluster.nodes), "cluster_id": s.link.cluster_id}
                                                                    for n, s in self.sides.items()}},
                "schedule": asdict(self.schedule), "plan": {"topics": len(plan["topics"]), "groups": len(plan["groups"])},
                "verdicts": verdicts, "metrics": metrics, "switches": switches, "samples": self.samples,
                "assist_latency": {"t": [round(t, 2) for t in times], "ms": latencies}}


def _records_behind(source: Link, target: Link, partitions: list[tuple[str, int]]) -> int:
    """Committed records the source holds beyond the target's count, over all partitions
    (MirrorMaker 2 keeps no map: counting both sides is how its progress can be judged)."""
    on_source = backlog(source, {tp: 0 for tp in partitions})
    on_target = backlog(target, {tp: 0 for tp in partitions})
    return sum(max(0, on_source[tp].records - on_target[tp].records) for tp in partitions)


class _InputTally:
    """The simulated inputs found on the final cluster (ids, and ids seen twice)."""

    def __init__(self) -> None:
        self.segments: set[str] = set()
        self.ended: set[str] = set()
        self.disposed: set[str] = set()
        self.repeats = 0
        self.event_ids: set[str] = set()

    @classmethod
    def read(cls, conf: dict[str, str], timeout_s: float = 300.0) -> _InputTally:
        tally = cls()
        tap = StreamTap(conf, {t: t for t in SIMULATED_TOPICS}, tally.add_batch, start="beginning", committed_only=True)
        try:
            tap.assign(timeout_s=30)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if not tap.poll(0.5, max_messages=5000) and tap.at_end(set(SIMULATED_TOPICS)):
                    break
        finally:
            tap.close()
        return tally

    def add_batch(self, messages: list[Any]) -> None:
        for message in messages:
            if message.error() is None:
                self.add(message)

    def add(self, message: Any) -> None:
        try:
            event = decode_event(message.value(), message.headers())
        except DecodeError:
            return
        if event is None:
            return
        if event.event_id in self.event_ids:
            self.repeats += 1
        self.event_ids.add(event.event_id)
        if isinstance(event, TranscriptSegment):
            self.segments.add(event.segment_id)
        elif isinstance(event, CallEnded):
            self.ended.add(event.contact_id)
        elif isinstance(event, CallDisposition):
            self.disposed.add(event.contact_id)

