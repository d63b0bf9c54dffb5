"""``callstream up``: the whole platform on this machine (the README's first command)."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.markup import escape

from callstream.cli import CliContext, pass_context
from callstream.cli.scale_cmd import policy_from, scaling_options
from callstream.contract.catalog import Catalog, load_catalog
from callstream.errors import CallstreamError, MigrationError
from callstream.governance.acls import OBSERVER, grant_catalog
from callstream.governance.audit import AuditLog
from callstream.governance.protection import ProducerSeal, open_audit
from callstream.governance.shipping import SHIPPER, AuditTopic, ship_to
from callstream.kafka import topics as topic_admin
from callstream.kafka.config import static_member_id
from callstream.local import broker
from callstream.local.pids import interrupt_on_signals
from callstream.local.processes import Child, ProcessGroup, RestartBudget, standbys_waiting, wait_for_args, waits
from callstream.migrate.handover import Handover
from callstream.migrate.links import settings_on
from callstream.observe.client_metrics import worker_metrics_env
from callstream.observe.lag import OffsetReader
from callstream.observe.live import LiveMonitor
from callstream.processors.base import Processor
from callstream.processors.registry import deployment, load_processor
from callstream.processors.watchdog import RESTART_EXIT
from callstream.scaling.controller import (
    ClusterScaler,
    ScalingController,
    StableMembers,
    scaled_processors,
)
from callstream.scaling.host import HostCpu
from callstream.scaling.instances import LocalInstances
from callstream.scaling.policy import ScalingPolicy
from callstream.settings import DashboardSection, Settings, child_process_environment, client_config
from callstream.simulate.conversation import ConversationProfile
from callstream.simulate.simulator import ProducerGate, SimulationSettings, mean_call_seconds, run_simulation


@click.command()
@click.option("--duration", type=click.FloatRange(min=1), help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--curve", default="daily", show_default=True, help="Simulator traffic curve.")
@click.option("--rate", "rate_per_min", type=float, default=60, show_default=True, help="Base calls per minute.")
@click.option("--speedup", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--no-simulator", is_flag=True, help="Run the processors and archiver only (your own producers feed them).")
@click.option("--no-archive", is_flag=True, help="Do not start the archiver.")
@click.option("--bundled", is_flag=True, help="Run the bundles (`run --list`): the redactor with assist, and the rule "
              "processors together, each as one consumer: less CPU per event and one hop less to an assist prompt; "
              "a bundle's group replaces its members' groups (ADR 0007, ADR 0010).")
@click.option("--autoscale", is_flag=True, help="Add processor instances while a group lags and remove them once the "
              "surge has passed (policy options as for `callstream scale`).")
@scaling_options
@click.option("--insecure", is_flag=True, help="Start the local Kafka without authentication or ACLs (see `kafka start --insecure`).")
@click.option("--dashboard-port", type=click.IntRange(1024, 65535), help="Port of the web dashboard (default: settings, 8765).")
@pass_context
def up(ctx: CliContext, duration: float | None, curve: str, rate_per_min: float, speedup: float, seed: int, no_simulator: bool,
       no_archive: bool, bundled: bool, autoscale: bool, insecure: bool, dashboard_port: int | None,
       **policy_options: Any) -> None:
    """Start Kafka (unless a cluster is configured), the catalog, every processor, the archiver
    and the simulator; print a live summary until Ctrl-C or --duration, then stop cleanly."""
    # Ctrl-C and a service manager's SIGTERM both stop `up` the orderly way: the processes
    # stopped by PID, the simulator's key use flushed, the audit log shipped, a migration's
    # handover withdrawn. An interrupt rather than a stop event: `up`'s start-up (the broker,
    # the catalog, the ACLs) checks no event, and an interrupt stops it there too.
    interrupt_on_signals()
    console = Console()
    settings = ctx.settings
    if dashboard_port:
        settings = settings.model_copy(update={"dashboard": DashboardSection(host=settings.dashboard.host, port=dashboard_port)})
    cluster = None
    if settings.kafka.is_local:
        cluster, started = broker.start(settings.state_dir, 1, security="insecure" if insecure else "sasl",
                                        version=settings.kafka.local_kafka_version)
        console.print(f"[bold]Kafka[/] {cluster.version} {'started' if started else 'already running'} at {cluster.bootstrap_servers} (data {cluster.home})")
        console.print(cluster.security_summary(), soft_wrap=True)
    conf = ctx.client_config()
    catalog = load_catalog()
    env_name, env = catalog.environment_for_brokers(topic_admin.broker_count(AdminClient(conf)))
    changes = topic_admin.apply(conf, catalog, env)
    console.print(f"[bold]catalog[/] {len(catalog.topics)} topics ({env_name}), {len([c for c in changes if c.fixable])} change(s) applied")
    if cluster is not None and cluster.secured:
        acls = grant_catalog(conf, catalog, state_dir=cluster.state_dir)
        console.print(f"[bold]ACLs[/] every service runs as its own principal: {len(acls.missing)} grant(s) added, "
                      f"{acls.kept} kept, {len(acls.stale)} stale removed")

    policy = policy_from(policy_options) if autoscale else None
    processes = PlatformProcesses(settings, catalog, no_archive, bundled=bundled, scaling=policy)
    processes.start()
    group = processes.group
    console.print(f"[bold]processes[/] {', '.join(f'{n} (pid {c.pid})' for n, c in group.children.items())}")
    console.print(f"[bold]where to look[/]: dashboard [link]http://{settings.dashboard.host}:{settings.dashboard.port}/[/link] (metrics at /metrics), "
                  f"logs {group.log_dir}/, archive {Path(settings.state_dir) / 'archive'}; "
                  "`callstream status`, `callstream kafka status`, `callstream archive query SQL`, `callstream replay call CONTACT_ID`")

    stop = threading.Event()
    seal = None
    gate = ProducerGate()
    if not no_simulator:
        _wait_for_processors(processes, ctx.client_config("dashboard"), console)
        # a warm start: the contact center is mid-morning, not empty, so calls, alerts and
        # prompts show within seconds instead of after the first calls' first minutes; its
        # past goes out over a few seconds, not as one burst the processors queue behind
        sim = SimulationSettings(curve=curve, rate_per_min=rate_per_min, duration_s=duration * speedup if duration else 86_400,
                                 speedup=speedup, seed=seed, ground_truth_path=Path(settings.state_dir) / "ground-truth.jsonl",
                                 warm_start_s=mean_call_seconds(ConversationProfile()), warm_release_s=WARM_RELEASE_S)
        seal = ctx.producer_seal("simulator")
        thread = threading.Thread(target=_simulate, args=(sim, ctx.client_config("simulator"), stop, console, seal, gate),
                                  daemon=True, name="simulator")
        thread.start()
    monitor = LiveMonitor(ctx.client_config("dashboard"))
    deadline = time.monotonic() + duration if duration else None
    auditor = AuditShipper(open_audit(settings), ctx.client_config("auditor"), console)
    handover = Handover(settings.state_dir)
    handover.announce()  # `callstream migrate cutover` beside this asks it to switch itself
    crashed = None
    try:
        while deadline is None or time.monotonic() < deadline:
            line_due = time.monotonic() + STATUS_EVERY_S
            while (request := handover.pending()) is None and (left := line_due - time.monotonic()) > 0:
                monitor.read(min(left, HANDOVER_CHECK_S))
            summary = monitor.sample()
            console.print(summary.line(), soft_wrap=True)
            auditor.maybe_ship()
            if request is not None:
                monitor = _switch_step(request, handover, processes, gate, monitor, auditor, console,
                                       simulating=not no_simulator)
            for line in processes.scale():
                console.print(f"[bold]autoscale[/] {line}", soft_wrap=True)
            for child in processes.restart_those_asking():
                console.print(f"[yellow]{child.name}: a checkpoint commit was stuck or failed; restarted it "
                              f"(see {child.log_path})[/]")
            crashed = _first_crashed(processes, console)
            if crashed is not None:
                break
    except KeyboardInterrupt:
        console.print("stopping ...")
    finally:
        handover.withdraw()
        stop.set()
        monitor.close()
        if not no_simulator and crashed is None and processes.group.children:
            _drain(processes, gate, console)
            crashed = _first_crashed(processes, console)  # one that died while the others caught up
        else:
            gate.release()
        processes.close()
        if seal is not None:
            seal.flush()
        auditor.maybe_ship(force=True)  # the workers' last unwrap windows, written as they stopped
        auditor.close()
    console.print("stopped the processors, the archiver and the dashboard; Kafka keeps running (`callstream kafka stop` stops it)")
    if crashed is not None:
        # not a clean stop: a service manager restarts on failure, a script sees it
        raise click.exceptions.Exit(1)


@dataclass
class Standby:
    """The platform's processes readied on a migration's joining cluster, not yet consuming."""

    cluster: str
    group: ProcessGroup
    #: the file whose creation releases them (``--wait-for``)
    go: Path


class PlatformProcesses:
    """The processes `up` runs (every processor, the archiver, the dashboard) on one cluster."""

    def __init__(self, settings: Settings, catalog: Catalog, no_archive: bool, *, bundled: bool = False,
                 scaling: ScalingPolicy | None = None) -> None:
        #: the settings `up` started with; a migration moves the processes to one of its clusters
        self.original = settings
        self.settings, self.catalog, self.no_archive = settings, catalog, no_archive
        self.bundled = bundled
        self.scaling = scaling
        self.group = ProcessGroup(settings.state_dir / "logs")
        self.instances: LocalInstances | None = None
        self.scaler: ClusterScaler | None = None
        self.restart_budget = RestartBudget()
        #: a migration's warm standby on the joining cluster, between its prepare and start steps
        self.standby: Standby | None = None

    def _child_env(self, settings: Settings, *, fresh_metrics: bool) -> dict[str, str]:
        # a local cluster's children find it (and their own credentials) in the state dir;
        # workers write their client metrics to <state dir>/metrics, the dashboard adds them up
        metrics = worker_metrics_env(Path(settings.state_dir) / "metrics", fresh=fresh_metrics)
        return child_process_environment(settings) | metrics

    def start(self) -> None:
        self.group = ProcessGroup(self.settings.state_dir / "logs", self._child_env(self.settings, fresh_metrics=True))
        names = deployment(self.bundled)
        # with autoscaling, each processor's next instance waits started (a scale-out only joins)
        self.instances = LocalInstances(
            self.group, standby_dir=self.settings.state_dir / "standby" if self.scaling else None,
            standby_limits={n: self.scaling.max_instances for n in names} if self.scaling else None)
        if self.scaling is not None:
            admin = client_config(self.settings)
            controller = ScalingController(scaled_processors(names, self.catalog), self.scaling, self.instances, admin,
                                           host_idle_cores=HostCpu().idle_cores)
            controller.start_initial()
            self.scaler = ClusterScaler(controller, admin)
        else:
            for name in names:
                self.instances.start(name, load_processor(name).consumer_group, 0)
        self._spawn_archiver(self.group)
        self._spawn_services()

    def _spawn_archiver(self, group: ProcessGroup, wait_for: Path | None = None) -> None:
        if self.no_archive:
            return
        topic_args = [arg for t in self.catalog.topics for arg in ("--topic", t.name)]
        group.spawn("archiver", "callstream.archive.archiver", "--instance-id", static_member_id("archiver"),
                    *topic_args, *wait_for_args(wait_for))

    def _spawn_services(self) -> None:
        """What needs nothing warm and holds a port or the archive's maintenance: started with the processors."""
        if not self.no_archive:
            self.group.spawn("archive-maintenance", "callstream.archive.maintainer")
        self.group.spawn("dashboard", "callstream.observe.dashboard")

    def prepare(self, cluster: str) -> str | None:
        """Start the processors and the archiver on ``cluster`` as a warm standby while these
        still serve: imports, access and topic checks done there, joining their groups only
        when ``move_to`` releases them, so the switch's start pays a join and a state restore
        instead of ten Python start-ups. One that does not get ready refuses the switch before
        any write pauses. With autoscaling nothing is readied (its instances start on the move)."""
        self.discard_standby()
        if self.scaling is not None:
            return None
        settings = settings_on(self.original, cluster)
        go = Path(settings.state_dir) / "migration" / f"release-{cluster}"
        go.unlink(missing_ok=True)
        # logs of their own: the processes they replace still write theirs
        group = ProcessGroup(settings.state_dir / "logs" / cluster, self._child_env(settings, fresh_metrics=False))
        instances = LocalInstances(group)
        for name in deployment(self.bundled):
            instances.spawn(name, load_processor(name).consumer_group, 0, wait_for=go)
        self._spawn_archiver(group, go)
        self.standby = Standby(cluster, group, go)
        waiting, _ = standbys_waiting(group, go, STANDBY_READY_S)
        if waiting < len(group.children):
            not_ready = [c for c in group.children.values() if not waits(c, go)]
            self.discard_standby()
            raise MigrationError(f"{', '.join(c.name for c in not_ready)} did not get ready on '{cluster}' within "
                                 f"{STANDBY_READY_S:.0f} s (see {not_ready[0].log_path})",
                                 f"fix what the log says about '{cluster}' (grants, topics), then run the switch again")
        return f"{waiting} processes ready on '{cluster}', waiting to be released"

    def discard_standby(self) -> None:
        standby, self.standby = self.standby, None
        if standby is not None:
            standby.group.stop_all()

    def processors(self) -> list[Processor]:
        """The processors (or bundles) this deployment runs."""
        return [load_processor(name) for name in deployment(self.bundled)]

    def scale(self) -> list[str]:
        """With autoscaling: read the groups' lag when due and add or remove instances (what
        it did, a line each)."""
        return self.scaler.tick() if self.scaler is not None else []

    def restart_those_asking(self) -> list[Child]:
        """Restart workers that ended themselves for a restart (``RESTART_EXIT``: a commit
        stuck past its deadline, or a transaction a leader change made abortable): the
        restart fences the open transaction and resumes from the last committed offsets.
        One that asks more often than ``restart_budget`` allows is left exited: `up` then
        stops as for a crash."""
        asking = [c for c in self.crashed() if c.returncode == RESTART_EXIT and self.restart_budget.allows(c.name)]
        for child in asking:
            self.group.restart(child.name)
        return asking

    def crashed(self) -> list[Child]:
        """Processes that exited, except instances the autoscaler stopped on purpose."""
        retired = self.instances.retired if self.instances is not None else set()
        return [c for c in self.group.dead() if c.name not in retired]

    def stop(self) -> None:
        """Stop every process (they commit what they processed); none is then running or
        dead. A migration's warm standby stays (``close`` stops it too)."""
        if self.scaler is not None:
            self.scaler.close()
            self.scaler = None
        self.group.stop_all()
        self.group = ProcessGroup(self.settings.state_dir / "logs")

    def close(self) -> None:
        self.stop()
        self.discard_standby()

    def move_to(self, cluster: str) -> str:
        """Run on ``cluster`` from now on, with processor state rebuilt from its changelogs:
        its warm standby released, or the processes started; which of the two."""
        self.settings = settings_on(self.original, cluster)
        # this host's state came from the leaving cluster's changelogs, whose offsets mean
        # nothing on the other; a standby opens its state only once released
        shutil.rmtree(Path(self.settings.state_dir) / "processors", ignore_errors=True)
        if self.standby is None or self.standby.cluster != cluster:
            self.discard_standby()  # a refused switch: the platform goes back where it was
            self.start()
            return "started"
        standby, self.standby = self.standby, None
        self.group, self.instances = standby.group, LocalInstances(standby.group)
        standby.go.touch()
        self._spawn_services()
        return "warm standby released"


#: how long a migration's warm standby may take to get ready on the joining cluster (ten
#: Python start-ups beside the running platform: 5-10 s on two idle cores)
STANDBY_READY_S = 120.0
#: seconds between the status lines `up` prints
STATUS_EVERY_S = 2.0
#: how soon `up` sees a migration's request: the quiesce and stop it answers fall inside the
#: switch's write pause, which waited ~1 s on average for each when requests were read once
#: per status line (NOTES.md, stop 67)
HANDOVER_CHECK_S = 0.1


def _switch_step(request: dict, handover: Handover, processes: PlatformProcesses, gate: ProducerGate,
                 monitor: LiveMonitor, auditor: AuditShipper, console: Console, *, simulating: bool) -> LiveMonitor:
    """One step a migration's switch asks of `up`; returns the live monitor to use from now on."""
    step, cluster = request["step"], request["cluster"]
    console.print(f"[bold]migration[/] {step} ({cluster})")
    ok = True
    try:
        if step == "quiesce":
            auditor.hold()
            ok = gate.hold(60) if simulating else True
            detail = "simulator and audit shipping held" if ok else "the simulator did not stop within 60 s"
        elif step == "stop":
            processes.stop()
            detail = f"processes stopped on '{cluster}'"
        elif step == "prepare":
            detail = processes.prepare(cluster) or ""
        elif step == "start":
            how = processes.move_to(cluster)
            settings = processes.settings
            gate.release(client_config(settings, "simulator"))
            monitor.close()  # it read the leaving cluster until now (reading is never fenced)
            monitor = LiveMonitor(client_config(settings, "dashboard"))
            auditor.move_to(client_config(settings, "auditor"))
            detail = (f"processes ({how}) and simulator on '{cluster}' "
                      f"(pids {', '.join(str(c.pid) for c in processes.group.children.values())})")
        else:
            ok, detail = False, f"unknown step {step}"
    except CallstreamError as exc:
        ok, detail = False, str(exc)
    handover.answer(request, ok, detail)
    if detail:
        console.print(f"[bold]migration[/] {step} ({cluster}) {'done' if ok else '[red]refused[/]'}: {escape(detail)}", soft_wrap=True)
    return monitor


#: wall seconds over which `up`'s warm start (~100 calls' past, ~2,500 events) goes out
WARM_RELEASE_S = 10.0

#: how long `up` waits for its processors to hold their partitions before starting traffic
JOIN_WAIT_S = 90.0

#: how long a stopping `up` waits for its processors to work through the traffic it sent
DRAIN_WAIT_S = 30.0
DRAIN_POLL_S = 0.25


def _wait_for_processors(processes: PlatformProcesses, conf: dict[str, str], console: Console) -> None:
    """Start the simulator once every processor holds its partitions: events sent before a
    worker joined wait for it, and the first minute's assist latency read ~4 s (a fresh
    clone's `make up`) where the platform answers in ~20 ms."""
    groups = [processor.consumer_group for processor in processes.processors()]
    members = StableMembers(conf)
    waiting = set(groups)
    started = time.monotonic()
    with console.status("waiting for the processors to join their consumer groups ...") as status:
        while waiting and time.monotonic() - started < JOIN_WAIT_S and not processes.crashed():
            waiting = {group for group in waiting if not members(group)}
            status.update(f"waiting for the processors to join their consumer groups: "
                          f"{len(groups) - len(waiting)} of {len(groups)} consuming")
            if waiting:
                time.sleep(0.5)
    if not waiting:
        console.print(f"[bold]ready[/] every processor holds its partitions (waited {time.monotonic() - started:.1f} s "
                      "for them); starting the simulator")
    elif not processes.crashed():
        console.print(f"[yellow]{', '.join(sorted(waiting))} not consuming after {JOIN_WAIT_S:.0f} s; starting "
                      f"the simulator anyway (see {processes.group.log_dir}/)[/]")


def _first_crashed(processes: PlatformProcesses, console: Console) -> Child | None:
    """The first process that exited unasked, said in red with where its log is."""
    dead = processes.crashed()
    if dead:
        budget = processes.restart_budget
        again = (f", asking for a restart more than {budget.restarts} times in {budget.window_s:.0f} s"
                 if dead[0].returncode == RESTART_EXIT else "")
        console.print(f"[red]{dead[0].name} exited ({dead[0].returncode}{again}); read {dead[0].log_path}[/]")
    return dead[0] if dead else None


def _drain(processes: PlatformProcesses, gate: ProducerGate, console: Console) -> None:
    """Stop the simulator, then wait until every processor has committed all of its input
    (at most ``DRAIN_WAIT_S``; Ctrl-C again stops at once): a run that ends, by --duration
    or Ctrl-C, leaves no event unprocessed until the next start. Stopping the processors
    with the simulator still sending left the last ~1 s of traffic behind."""
    unreadable = processes.catalog.unreadable_by(OBSERVER)
    inputs = {processor.consumer_group: list(processor.inputs) for processor in processes.processors()}
    started, behind = time.monotonic(), None
    try:
        if not gate.hold(DRAIN_WAIT_S):
            console.print("[yellow]the simulator did not stop; stopping the processors without waiting for them[/]")
            return
        with OffsetReader(client_config(processes.settings, OBSERVER), unreadable=unreadable) as reader, \
                console.status("the processors are working through the traffic sent ...") as status:
            while time.monotonic() - started < DRAIN_WAIT_S and not processes.crashed():
                # the group's state is not asked for: lag in messages is all this needs
                was_behind = behind
                behind = sum(reader.group_lag(group, topics, state=("Unknown", 0)).total_lag
                             for group, topics in inputs.items())
                # twice: a processor read as caught up may get input from one read after it
                if behind == 0 and was_behind == 0:
                    break
                status.update(f"the processors are working through the traffic sent: {behind:,} message(s) to go "
                              "(Ctrl-C stops them now; they resume at the next start)")
                time.sleep(DRAIN_POLL_S)
    except KeyboardInterrupt:
        console.print("stopping without waiting for the processors (they resume at the next start)")
        return
    except CallstreamError as exc:
        console.print(f"[yellow]could not read the processors' lag ({exc}); stopping them without waiting[/]")
        return
    waited = time.monotonic() - started
    if behind == 0:
        console.print(f"[bold]drained[/] every processor has processed all the traffic sent (waited {waited:.1f} s)")
    elif behind is not None:
        console.print(f"[yellow]{behind:,} message(s) not yet processed after {waited:.0f} s; the processors "
                      "resume them at the next start[/]")


class AuditShipper:
    """Ships the audit log to its topic every ``interval_s`` while `up` runs."""

    def __init__(self, log: AuditLog, conf: dict[str, str], console: Console, interval_s: float = 10.0) -> None:
        self.log, self.console, self.interval_s = log, console, interval_s
        self.topic = AuditTopic(conf, SHIPPER)
        self._last = 0.0
        #: while a migration's switch holds the platform's producers (the shipper is one of them)
        self.held = False

    def hold(self) -> None:
        self.held = True

    def move_to(self, conf: dict[str, str]) -> None:
        self.close()
        self.topic, self.held = AuditTopic(conf, SHIPPER), False

    def maybe_ship(self, force: bool = False) -> None:
        if self.held or (not force and time.monotonic() - self._last < self.interval_s):
            return
        self._last = time.monotonic()
        if not self.log.heads_path.exists():
            return
        try:
            ship_to(self.log, self.topic)
        except (CallstreamError, KafkaException) as exc:  # the platform keeps running; say why the copy lags
            self.console.print(f"[yellow]audit log not shipped: {exc}[/]")

    def close(self) -> None:
        try:
            self.topic.close()
        except KafkaException as exc:
            self.console.print(f"[yellow]audit shipper: {exc}[/]")


def _simulate(settings: SimulationSettings, conf: dict[str, str], stop: threading.Event, console: Console,
              seal: ProducerSeal | None, gate: ProducerGate) -> None:
    try:
        run_simulation(settings, conf, progress=False, console=console, seal=seal, gate=gate)
    except Exception as exc:  # the live loop must keep reporting; say why traffic stopped
        if not stop.is_set():
            console.print(f"[red]simulator stopped: {exc}[/]")
