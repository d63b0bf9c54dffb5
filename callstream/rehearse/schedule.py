"""Rehearsal scenarios as data: traffic phases, fault injections, bounds and checks.

A scenario is a YAML file (the built-in ones live in ``callstream/rehearse/scenarios/``) validated here as a
whole, in two passes: the shape with pydantic, then the meaning (a restart names a broker
an earlier fault took down, a killed processor is one the scenario runs, the traffic fits
its bounds). Any problem raises ``ScenarioError`` naming the file, the entry and the
reason. Fault times are wall-clock seconds since the traffic started; traffic phases are
in simulated seconds, run ``speedup`` times faster than real time.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from callstream.contract.catalog import Catalog, load_catalog
from callstream.errors import ScenarioError, SimulationError
from callstream.scaling.policy import ScalingPolicy
from callstream.simulate.curves import expected_calls, make_curve

#: Hard ceilings, whatever a scenario says: a rehearsal must stay bounded on a laptop.
MAX_EVENTS = 2_000_000
MAX_WALL_S = 900.0
MAX_DRAIN_S = 600.0
MAX_FAULTS = 50

STAGE_OF_PROCESSOR = {
    "redactor": "redaction", "sentiment": "sentiment", "assist": "assist", "escalation": "escalation",
    "fraud": "fraud", "churn": "churn", "routing": "routing", "quality": "quality", "analytics": "analytics",
}

#: the producer's acknowledgement latency (acks=all), measured like a stage
PRODUCE_STAGE = "produce"

#: Metrics a check may name; ``per`` says whether the value is per group, per stage, or one number.
METRICS: dict[str, Literal["run", "group", "stage"]] = {
    "acked_events": "run",
    "producer_errors": "run",
    "producer_retries": "run",
    "acknowledged_lost": "run",
    "redaction_missing_segments": "run",
    "archive_missing_offsets": "run",
    "quality_missing_contacts": "run",
    "exactly_once_duplicates": "run",
    "archive_duplicate_offsets": "run",
    "recovery_time_s": "run",
    "unexpected_exits": "run",
    "faults_failed": "run",
    "replay_p99_ratio": "run",
    "replayed_events": "run",
    "scale_out_events": "run",
    "scale_in_events": "run",
    "scale_out_to_consuming_s": "run",
    "running_brokers_fenced": "run",
    "drain_time_s": "group",
    "final_lag_messages": "group",
    "peak_lag_messages": "group",
    "latency_p50_ms": "stage",
    "latency_p99_ms": "stage",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Phase(_Strict):
    """A stretch of traffic: a curve at a base rate for a simulated duration."""

    name: str = Field(min_length=1)
    curve: str = "steady"
    rate_per_min: float = Field(gt=0, le=100_000)
    duration_s: float = Field(gt=0, le=86_400)
    #: simulated seconds per wall-clock second; defaults to the traffic's
    speedup: float | None = Field(default=None, gt=0, le=1000)
    #: the phase ``callstream rehearse --curve`` replaces
    surge: bool = False


class Traffic(_Strict):
    seed: int = 7
    speedup: float = Field(default=10.0, gt=0, le=1000)
    phases: list[Phase] = Field(min_length=1, max_length=20)
    #: after the last phase: ``cut`` stops producing (calls in progress never end),
    #: ``drain`` lets the calls in progress run to their end
    tail: Literal["cut", "drain"] = "cut"

    def speedup_of(self, phase: Phase) -> float:
        return phase.speedup or self.speedup

    def phase_bounds(self) -> list[tuple[Phase, float, float, float, float]]:
        """``(phase, sim_start, sim_end, wall_start, wall_end)`` for each phase."""
        bounds, sim, wall = [], 0.0, 0.0
        for phase in self.phases:
            wall_len = phase.duration_s / self.speedup_of(phase)
            bounds.append((phase, sim, sim + phase.duration_s, wall, wall + wall_len))
            sim += phase.duration_s
            wall += wall_len
        return bounds

    @property
    def simulated_s(self) -> float:
        return sum(p.duration_s for p in self.phases)

    @property
    def wall_s(self) -> float:
        return sum(p.duration_s / self.speedup_of(p) for p in self.phases)

    def wall_of(self, sim_s: float) -> float:
        """Wall-clock seconds since the start at which simulated second ``sim_s`` is due."""
        for phase, sim_start, sim_end, wall_start, _ in self.phase_bounds():
            if sim_s < sim_end:
                return wall_start + (sim_s - sim_start) / self.speedup_of(phase)
        last = self.phases[-1]
        return self.wall_s + (sim_s - self.simulated_s) / self.speedup_of(last)

    def sim_of(self, wall_s: float) -> float:
        """The inverse of ``wall_of``."""
        for phase, sim_start, _, wall_start, wall_end in self.phase_bounds():
            if wall_s < wall_end:
                return sim_start + (wall_s - wall_start) * self.speedup_of(phase)
        return self.simulated_s + (wall_s - self.wall_s) * self.speedup_of(self.phases[-1])

    def phase_at_wall(self, wall_s: float) -> str | None:
        for phase, _, _, wall_start, wall_end in self.phase_bounds():
            if wall_start <= wall_s < wall_end:
                return phase.name
        return None


class ClusterSpec(_Strict):
    """The local cluster the runner starts in the run's own state dir."""

    brokers: Literal[1, 3] = 1
    heap: str = Field(default="512m", pattern=r"^\d+[mg]$")


class ProcessorSpec(_Strict):
    name: str
    instances: int = Field(default=1, ge=1, le=4)


class AutoscaleSpec(_Strict):
    """Scale these processors by their lag while the rehearsal runs (``callstream.scaling``);
    their ``instances`` is where each starts. With ``baseline``, ``callstream rehearse``
    first runs the same scenario with fixed workers and puts both side by side."""

    processors: list[str] = Field(min_length=1)
    policy: ScalingPolicy = Field(default_factory=ScalingPolicy)
    baseline: bool = True
    #: keep the next instance of each scaled processor started and waiting (``LocalInstances``)
    warm_standby: bool = True


class ProducerSpec(_Strict):
    """The traffic producer; ``acks=all`` and idempotence are what the loss checks assume."""

    acks: Literal["all", "1", "0"] = "all"
    idempotence: bool = True
    librdkafka: dict[str, str] = Field(default_factory=dict)


class Limits(_Strict):
    max_events: int = Field(default=300_000, ge=1, le=MAX_EVENTS)
    #: traffic stops here even if its phases are longer
    max_wall_s: float = Field(default=240.0, gt=0, le=MAX_WALL_S)
    #: after the traffic, how long groups and the archive may take to catch up
    drain_timeout_s: float = Field(default=120.0, gt=0, le=MAX_DRAIN_S)


class RecoverySpec(_Strict):
    """When a fault counts as recovered: latency and lag back within these bounds for
    ``stable_samples`` samples in a row."""

    latency_p99_ms: float = Field(default=1000.0, gt=0)
    lag_s: float = Field(default=5.0, ge=0)
    #: the archiver commits in batches (every few seconds), so its lag is judged looser
    archiver_lag_s: float = Field(default=10.0, ge=0)
    stable_samples: int = Field(default=3, ge=1, le=60)
    #: stages whose p99 counts (default: every stage measured except quality, which waits
    #: for a transaction commit by design)
    stages: list[str] | None = None
    #: processor groups whose lag counts (default: every processor; the archiver batches)
    groups: list[str] | None = None


class Repeat(_Strict):
    """faust's killer.py idea, bounded: do the fault ``count`` times, a seeded random gap apart."""

    count: int = Field(ge=1, le=20)
    min_gap_s: float = Field(gt=0)
    max_gap_s: float = Field(gt=0)


class _FaultBase(_Strict):
    at_s: float = Field(ge=0, le=MAX_WALL_S)
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")


class BrokerDown(_FaultBase):
    """Take a broker down by PID: ``kill`` is SIGKILL (a crash), ``stop`` SIGTERM (a
    controlled shutdown). ``broker`` is a node id or ``leader``: the node leading
    ``partition`` of catalog topic ``topic`` at that moment."""

    action: Literal["kill-broker", "stop-broker"]
    broker: int | Literal["leader"]
    topic: str | None = None
    partition: int = Field(default=0, ge=0)
    #: bring it back this many seconds later (omit to keep it down, or restart explicitly)
    restart_after_s: float | None = Field(default=None, gt=0)


class BrokerRestart(_FaultBase):
    """Start a stopped broker again: a node id, or the ``id`` of the fault that stopped it."""

    action: Literal["restart-broker"]
    broker: int | str


class ProcessorFault(_FaultBase):
    action: Literal["kill-processor", "stop-processor", "restart-processor"]
    processor: str
    instance: int = Field(default=0, ge=0)
    restart_after_s: float | None = Field(default=None, gt=0)
    repeat: Repeat | None = None


class ArchiverFault(_FaultBase):
    action: Literal["kill-archiver", "stop-archiver", "restart-archiver"]
    restart_after_s: float | None = Field(default=None, gt=0)
    repeat: Repeat | None = None


class Redrive(_FaultBase):
    """Re-drive the archived window ``[from_s, to_s)`` (wall seconds since the start) into a
    rehearsal topic at ``rate_per_s`` (unlimited when omitted), as its own process."""

    action: Literal["redrive"]
    from_s: float = Field(ge=0)
    to_s: float = Field(gt=0)
    rate_per_s: float | None = Field(default=None, gt=0)
    #: catalog topics to re-drive (default: every simulated topic except restricted ones)
    topics: list[str] | None = None


Fault = Annotated[BrokerDown | BrokerRestart | ProcessorFault | ArchiverFault | Redrive, Field(discriminator="action")]


class Check(_Strict):
    """A verdict: ``metric`` must be at most ``max`` and/or at least ``min``.

    Per-group metrics take ``group`` (a processor name, ``archiver``, or ``*`` for every
    group); per-stage metrics take ``stage`` (``*`` for every stage).
    """

    metric: str
    max: float | None = None
    min: float | None = None
    group: str | None = None
    stage: str | None = None
    name: str | None = None
    #: the window a per-run latency or ratio metric covers: a phase name (default: the whole run)
    phase: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        selector = self.group or self.stage
        bound = " and ".join(part for part in (
            f"<= {self.max:g}" if self.max is not None else "", f">= {self.min:g}" if self.min is not None else "") if part)
        return f"{self.metric}{f'[{selector}]' if selector else ''} {bound}"


class ReplayComparison(_Strict):
    """``replay_p99_ratio``: the live path's p99 in ``replay_phase`` (a re-drive running)
    over its p99 in ``baseline_phase`` (the same surge without one)."""

    baseline_phase: str
    replay_phase: str
    stage: str = "assist"


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = Field(min_length=1)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    #: ``uuid``: fresh uuid-suffixed copies of the catalog topics; ``catalog``: the catalog's names
    topics: Literal["uuid", "catalog"] = "uuid"
    processors: list[ProcessorSpec] = Field(default_factory=list, max_length=9)
    archiver: bool = False
    producer: ProducerSpec = Field(default_factory=ProducerSpec)
    traffic: Traffic
    faults: list[Fault] = Field(default_factory=list, max_length=MAX_FAULTS)
    checks: list[Check] = Field(default_factory=list)
    recovery: RecoverySpec = Field(default_factory=RecoverySpec)
    limits: Limits = Field(default_factory=Limits)
    replay_comparison: ReplayComparison | None = None
    autoscale: AutoscaleSpec | None = None
    #: restart a processor or the archiver that exits on its own (as an orchestrator
    #: would); each such exit counts in ``unexpected_exits`` either way
    supervise: bool = True
    sample_interval_s: float = Field(default=1.0, ge=0.25, le=10)
    source: str = "<memory>"

    @property
    def processor_names(self) -> list[str]:
        return [p.name for p in self.processors]

    @property
    def needs_process_control(self) -> bool:
        """Broker faults need the runner's own local cluster."""
        return any(isinstance(f, (BrokerDown, BrokerRestart)) for f in self.faults)

    def instances_of(self, processor: str) -> int:
        return next((p.instances for p in self.processors if p.name == processor), 0)

    def surge_phase(self) -> Phase | None:
        return next((p for p in self.traffic.phases if p.surge), None)


# --- expanded faults: what the runner actually does, in time order -----------------------

class PlannedFault(_Strict):
    """One action at one time, after ``restart_after_s`` and ``repeat`` are expanded."""

    at_s: float
    action: str
    index: int  # the entry in the scenario's ``faults`` it comes from
    id: str | None = None
    broker: int | str | None = None
    topic: str | None = None
    partition: int = 0
    processor: str | None = None
    instance: int = 0
    from_s: float | None = None
    to_s: float | None = None
    rate_per_s: float | None = None
    topics: list[str] | None = None

    @property
    def label(self) -> str:
        if self.kind == "broker":
            target = f"broker {self.broker}" + (f" (leader of {self.topic}[{self.partition}])" if self.broker == "leader" else "")
        elif self.kind == "processor":
            target = f"{self.processor}-{self.instance}"
        elif self.kind == "redrive":
            target = f"window {self.from_s:g}-{self.to_s:g} s at {f'{self.rate_per_s:g}' if self.rate_per_s else 'full speed'}/s"
        else:
            target = "archiver"
        return f"{self.action} {target}"

    @property
    def kind(self) -> str:
        if self.action == "redrive":
            return "redrive"
        return self.action.split("-", 1)[1]


def plan_faults(scenario: Scenario) -> list[PlannedFault]:
    """Every action of the schedule, in time order (repeats drawn from the traffic seed)."""
    rng = random.Random(f"callstream-faults/{scenario.traffic.seed}")
    planned: list[PlannedFault] = []
    for index, fault in enumerate(scenario.faults):
        base = fault.model_dump(exclude={"restart_after_s", "repeat"})
        times = [fault.at_s]
        repeat = getattr(fault, "repeat", None)
        if repeat is not None:
            for _ in range(repeat.count - 1):
                times.append(times[-1] + rng.uniform(repeat.min_gap_s, repeat.max_gap_s))
        restart = getattr(fault, "restart_after_s", None)
        for n, at in enumerate(times):
            planned.append(PlannedFault(**(base | {"at_s": at, "index": index, "id": fault.id if n == 0 else None})))
            if restart is not None:
                action = "restart-" + fault.action.split("-", 1)[1]
                extra = {"broker": fault.id or f"#{index}"} if isinstance(fault, BrokerDown) else {}
                planned.append(PlannedFault(**(base | {"at_s": at + restart, "index": index, "action": action, "id": None} | extra)))
    return sorted(planned, key=lambda f: (f.at_s, f.index))


# --- loading and validation -------------------------------------------------------------

#: the scenarios that ship with callstream (package data, so a wheel install has them)
BUILTIN_SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


def scenario_dirs() -> list[Path]:
    """Where scenarios are looked up by name, first match wins: ``$CALLSTREAM_SCENARIOS``,
    ``./scenarios`` (a deployment's own), then the ones that ship with callstream."""
    dirs = []
    if os.environ.get("CALLSTREAM_SCENARIOS"):
        dirs.append(Path(os.environ["CALLSTREAM_SCENARIOS"]))
    dirs.append(Path("scenarios"))
    dirs.append(BUILTIN_SCENARIO_DIR)
    return dirs


def builtin_scenarios() -> dict[str, Path]:
    """Scenario name -> file, first directory wins."""
    found: dict[str, Path] = {}
    for directory in scenario_dirs():
        if directory.is_dir():
            for path in sorted(directory.glob("*.yaml")):
                found.setdefault(path.stem, path)
    return found


def find_scenario(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise ScenarioError(f"scenario file {path} not found", "pass an existing .yaml file or a scenario name")
        return path
    known = builtin_scenarios()
    if name_or_path not in known:
        raise ScenarioError(f"no scenario named {name_or_path!r}",
                            f"choose one of {', '.join(known) or '(none found)'}, or pass a path to a .yaml file")
    return known[name_or_path]


def load_scenario(name_or_path: str | Path, catalog: Catalog | None = None) -> Scenario:
    path = find_scenario(str(name_or_path))
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}".replace("\n", " "), "fix the YAML syntax") from None
    return parse_scenario(document, str(path), catalog)


def parse_scenario(document: object, source: str, catalog: Catalog | None = None) -> Scenario:
    """Validate a scenario document; ``source`` names it in every error."""
    if not isinstance(document, dict):
        raise ScenarioError(f"{source}: a scenario must be a mapping with at least 'name', 'description' and 'traffic'",
                            f"see {BUILTIN_SCENARIO_DIR / 'burst.yaml'} for the format")
    try:
        scenario = Scenario(**(document | {"source": source}))
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise ScenarioError(f"{source}: {_entry(document, tuple(err['loc']))}: {_message(err)}{more}",
                            f"fix that entry (see {BUILTIN_SCENARIO_DIR}/*.yaml for working examples)") from None
    _check_meaning(scenario, source, catalog or load_catalog())
    return scenario


def _message(err: Mapping[str, Any]) -> str:
    if err["type"] == "union_tag_invalid":
        return (f"unknown action {err['input'].get('action')!r}; one of kill-broker, stop-broker, restart-broker, "
                "kill-processor, stop-processor, restart-processor, kill-archiver, stop-archiver, restart-archiver, redrive")
    if err["type"] == "union_tag_not_found":
        return "every fault needs an 'action'"
    return err["msg"]


def _entry(document: dict, loc: tuple) -> str:
    """``('faults', 1, 'restart-broker', 'broker')`` -> ``faults[1] (restart-broker): broker``."""
    if len(loc) >= 2 and loc[0] in ("faults", "checks", "processors") and isinstance(loc[1], int):
        items = document.get(loc[0]) or []
        item = items[loc[1]] if loc[1] < len(items) and isinstance(items[loc[1]], dict) else {}
        label = item.get("action") or item.get("metric") or item.get("name") or "?"
        rest = [str(p) for p in loc[2:] if p != label]
        return f"{loc[0]}[{loc[1]}] ({label})" + (f": {'.'.join(rest)}" if rest else "")
    if len(loc) >= 3 and loc[:2] == ("traffic", "phases") and isinstance(loc[2], int):
        phases = (document.get("traffic") or {}).get("phases") or []
        item = phases[loc[2]] if loc[2] < len(phases) and isinstance(phases[loc[2]], dict) else {}
        path = ".".join(str(p) for p in loc[3:])
        return f"traffic.phases[{loc[2]}] ({item.get('name', '?')})" + (f": {path}" if path else "")
    return ".".join(str(p) for p in loc) or "scenario"


def _check_meaning(scenario: Scenario, source: str, catalog: Catalog) -> None:
    def fail(entry: str, reason: str, hint: str = "fix that entry") -> NoReturn:
        raise ScenarioError(f"{source}: {entry}: {reason}", hint)

    from callstream.processors.registry import processor_names

    known_processors = processor_names()
    seen: set[str] = set()
    for i, spec in enumerate(scenario.processors):
        if spec.name not in known_processors:
            fail(f"processors[{i}] ({spec.name})", f"no processor named {spec.name!r}", f"choose from {', '.join(known_processors)}")
        if spec.name in seen:
            fail(f"processors[{i}] ({spec.name})", "listed twice", "give one entry per processor with 'instances'")
        seen.add(spec.name)
    if scenario.autoscale is not None:
        for name in scenario.autoscale.processors:
            if name not in seen:
                fail(f"autoscale.processors ({name})", "not a processor the scenario runs", "add it to processors:")
            if scenario.instances_of(name) < scenario.autoscale.policy.min_instances:
                fail(f"autoscale.processors ({name})", f"starts with {scenario.instances_of(name)} instance(s), below "
                     f"policy.min_instances {scenario.autoscale.policy.min_instances}", "raise its instances:")

    traffic = scenario.traffic
    names = [p.name for p in traffic.phases]
    for i, phase in enumerate(traffic.phases):
        entry = f"traffic.phases[{i}] ({phase.name})"
        if phase.name in names[:i]:
            fail(entry, f"phase names must be unique (first used by traffic.phases[{names.index(phase.name)}])")
        try:
            make_curve(phase.curve, rate=phase.rate_per_min, duration_s=phase.duration_s)
        except SimulationError as exc:
            fail(entry, f"curve: {exc.message}", exc.hint or "fix the curve")
    if sum(p.surge for p in traffic.phases) > 1:
        fail("traffic.phases", "more than one phase is marked surge: true", "mark the one --curve should replace")
    if traffic.wall_s > scenario.limits.max_wall_s:
        fail("traffic", f"the phases take {traffic.wall_s:.0f} s of wall-clock time, above limits.max_wall_s {scenario.limits.max_wall_s:g}",
             "shorten the phases, raise their speedup, or raise limits.max_wall_s")
    estimate = estimated_events(scenario)
    if estimate > scenario.limits.max_events:
        fail("traffic", f"the phases would produce about {estimate:,.0f} events, above limits.max_events {scenario.limits.max_events:,}",
             "lower the rates or durations, or raise limits.max_events")

    broker_ids = set(range(1, scenario.cluster.brokers + 1))
    down_ids: dict[str, float] = {}
    for i, fault in enumerate(scenario.faults):
        entry = f"faults[{i}] ({fault.action})"
        if fault.at_s >= scenario.limits.max_wall_s:
            fail(entry, f"at_s {fault.at_s:g} is after the traffic stops (limits.max_wall_s {scenario.limits.max_wall_s:g})")
        if fault.id is not None:
            if fault.id in down_ids or any(f.id == fault.id for f in scenario.faults[:i]):
                fail(entry, f"id {fault.id!r} is used twice")
        if isinstance(fault, (BrokerDown, BrokerRestart)) and scenario.cluster.brokers < 3:
            fail(entry, "a broker fault needs cluster.brokers: 3 (with one broker, losing it stops everything and tests nothing)",
                 "set cluster.brokers: 3")
        if isinstance(fault, BrokerDown):
            if fault.broker == "leader":
                if not fault.topic:
                    fail(entry, "broker: leader needs the topic (and partition) whose leader to take down")
                if fault.topic not in catalog.by_name:
                    fail(entry, f"topic {fault.topic!r} is not a catalog topic", f"one of {', '.join(catalog.by_name)}")
                partitions = catalog.topic(fault.topic).partitions
                if fault.partition >= partitions:
                    fail(entry, f"partition {fault.partition} does not exist ({fault.topic} has {partitions})")
            elif fault.broker not in broker_ids:
                fail(entry, f"broker {fault.broker} is not a node of the cluster (nodes {sorted(broker_ids)})")
            down_ids[fault.id or f"#{i}"] = fault.at_s
        if isinstance(fault, BrokerRestart):
            if isinstance(fault.broker, int):
                if fault.broker not in broker_ids:
                    fail(entry, f"broker {fault.broker} is not a node of the cluster (nodes {sorted(broker_ids)})")
            elif fault.broker not in down_ids or down_ids[fault.broker] >= fault.at_s:
                fail(entry, f"broker {fault.broker!r} is neither a node id nor the id of an earlier kill-broker/stop-broker fault",
                     f"known ids: {', '.join(k for k in down_ids if not k.startswith('#')) or 'none (give the fault an id)'}")
        if isinstance(fault, ProcessorFault):
            if fault.processor not in scenario.processor_names:
                fail(entry, f"processor {fault.processor!r} is not one the scenario runs",
                     f"add it to processors, or choose from {', '.join(scenario.processor_names) or 'none'}")
            if fault.instance >= scenario.instances_of(fault.processor):
                fail(entry, f"instance {fault.instance} does not exist ({fault.processor} runs {scenario.instances_of(fault.processor)})")
        if isinstance(fault, ArchiverFault) and not scenario.archiver:
            fail(entry, "the scenario runs no archiver", "set archiver: true")
        if isinstance(fault, Redrive):
            if not scenario.archiver:
                fail(entry, "a re-drive replays the archive, but the scenario runs no archiver", "set archiver: true")
            if fault.from_s >= fault.to_s:
                fail(entry, f"the window from_s {fault.from_s:g} .. to_s {fault.to_s:g} is empty")
            if fault.to_s > fault.at_s:
                fail(entry, f"the window ends at {fault.to_s:g} s, after the re-drive starts at {fault.at_s:g} s",
                     "re-drive only what the archive can already hold")
            for topic in fault.topics or []:
                if topic not in catalog.by_name:
                    fail(entry, f"topic {topic!r} is not a catalog topic")
        for field in ("restart_after_s",):
            delay = getattr(fault, field, None)
            if delay is not None and fault.at_s + delay >= scenario.limits.max_wall_s + scenario.limits.drain_timeout_s:
                fail(entry, f"the restart at {fault.at_s + delay:g} s would come after the run ends")
        repeat = getattr(fault, "repeat", None)
        if repeat is not None:
            if repeat.min_gap_s > repeat.max_gap_s:
                fail(entry, f"repeat.min_gap_s {repeat.min_gap_s:g} is above repeat.max_gap_s {repeat.max_gap_s:g}")
            restart = getattr(fault, "restart_after_s", None)
            if restart is not None and restart >= repeat.min_gap_s:
                fail(entry, f"restart_after_s {restart:g} is not shorter than repeat.min_gap_s {repeat.min_gap_s:g}",
                     "a repeated crash must restart before the next one")
            if fault.at_s + (repeat.count - 1) * repeat.max_gap_s >= scenario.limits.max_wall_s:
                fail(entry, f"{repeat.count} repeats up to {repeat.max_gap_s:g} s apart may run past limits.max_wall_s")
    _check_brokers_down(scenario, source)

    stages = {STAGE_OF_PROCESSOR[p] for p in scenario.processor_names} | {PRODUCE_STAGE}
    groups = set(scenario.processor_names) | ({"archiver"} if scenario.archiver else set())
    for i, check in enumerate(scenario.checks):
        entry = f"checks[{i}] ({check.metric})"
        per = METRICS.get(check.metric)
        if per is None:
            fail(entry, f"unknown metric {check.metric!r}", f"one of {', '.join(METRICS)}")
        if check.max is None and check.min is None:
            fail(entry, "a check needs max or min")
        if per == "group" and check.group not in groups | {"*"}:
            fail(entry, f"group {check.group!r} is not a group of this scenario", f"one of {', '.join(sorted(groups))} or '*'")
        if per == "stage" and check.stage not in stages | {"*"}:
            fail(entry, f"stage {check.stage!r} is not measured in this scenario", f"one of {', '.join(sorted(stages))} or '*'")
        if per == "run" and (check.group or check.stage):
            fail(entry, f"{check.metric} is one number per run; it takes no group or stage")
        if check.phase is not None and check.phase not in names:
            fail(entry, f"phase {check.phase!r} is not a traffic phase", f"one of {', '.join(names)}")
    comparison = scenario.replay_comparison
    if comparison is not None:
        for field_name in ("baseline_phase", "replay_phase"):
            if getattr(comparison, field_name) not in names:
                fail(f"replay_comparison.{field_name}", f"{getattr(comparison, field_name)!r} is not a traffic phase",
                     f"one of {', '.join(names)}")
        if comparison.stage not in stages:
            fail("replay_comparison.stage", f"stage {comparison.stage!r} is not measured in this scenario",
                 f"one of {', '.join(sorted(stages))}")
    elif any(c.metric == "replay_p99_ratio" for c in scenario.checks):
        fail("checks", "replay_p99_ratio needs a replay_comparison (which phases to compare)")
    for stage in scenario.recovery.stages or []:
        if stage not in stages:
            fail("recovery.stages", f"stage {stage!r} is not measured in this scenario", f"one of {', '.join(sorted(stages))}")
    for group in scenario.recovery.groups or []:
        if group not in groups:
            fail("recovery.groups", f"group {group!r} is not a group of this scenario", f"one of {', '.join(sorted(groups))}")


def _check_brokers_down(scenario: Scenario, source: str) -> None:
    """RF 3 with min.insync.replicas 2 survives one broker down; two stop every acks=all write."""
    down: set[str] = set()
    for fault in plan_faults(scenario):
        if fault.action in ("kill-broker", "stop-broker"):
            key = str(fault.broker) if fault.broker != "leader" else f"leader:{fault.id or fault.index}"
            down.add(key)
            if len(down) > 1:
                raise ScenarioError(
                    f"{source}: faults[{fault.index}] ({fault.action}): a second broker would go down at {fault.at_s:g} s "
                    "while another is still down",
                    "with replication 3 and min.insync.replicas 2, two brokers down stop every acks=all producer; "
                    "restart the first one before taking down the next")
        elif fault.action == "restart-broker":
            down.clear()  # at most one is down, so a restart brings back that one


@lru_cache(maxsize=4)
def _events_per_call(seed: int) -> float:
    from callstream.simulate.conversation import ConversationProfile, generate_call

    sample = [len(generate_call(i, 0, seed, ConversationProfile()).events) for i in range(200)]
    return sum(sample) / len(sample)


def estimated_events(scenario: Scenario) -> float:
    """Expected events of the traffic (calls the curves bring times events per call)."""
    calls = 0.0
    for phase in scenario.traffic.phases:
        curve = make_curve(phase.curve, rate=phase.rate_per_min, duration_s=phase.duration_s)
        calls += expected_calls(curve, 0.0, phase.duration_s, steps=400)
    return calls * _events_per_call(-7)


def with_curve(scenario: Scenario, curve: str) -> Scenario:
    """The scenario with its surge phase's curve replaced (``callstream rehearse --curve``)."""
    if scenario.surge_phase() is None:
        raise ScenarioError(f"{scenario.source}: scenario {scenario.name} has no phase marked surge: true",
                            "--curve replaces the surge phase's curve; mark one phase surge: true")
    document = scenario.model_dump(exclude={"source"}, exclude_none=True)
    for phase in document["traffic"]["phases"]:
        if phase.get("surge"):
            phase["curve"] = curve
    return parse_scenario(document, f"{scenario.source} with --curve {curve}")
