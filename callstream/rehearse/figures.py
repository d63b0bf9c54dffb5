"""From what a run recorded to every figure of its report: aligned time series, per-group
drain, per-fault recovery, latency per stage and phase, and the flat ``metrics`` the
checks judge. No Kafka here: a ``RunRecord`` in, plain data out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callstream.local.sessions import FENCED
from callstream.rehearse import analysis, host_time
from callstream.rehearse.faults import FaultRecord
from callstream.rehearse.schedule import PRODUCE_STAGE, Scenario

#: stages that wait for something by design (a transaction commit, a window close), so
#: they do not define "recovered" unless a scenario names them
SLOW_BY_DESIGN = frozenset({"quality", "analytics"})
DRAIN_PHASE = "drain"


@dataclass
class Sample:
    """One tick of the runner: counters and lag at ``t`` seconds since the traffic started."""

    t: float
    acked: int
    failed: int
    retries: int
    client_errors: int
    #: per group (logical name): ``None`` when the sample could not be taken
    lag_messages: dict[str, int | None] = field(default_factory=dict)
    lag_s: dict[str, float | None] = field(default_factory=dict)
    #: sum of the group's committed offsets / of its input partitions' end offsets
    consumed: dict[str, int | None] = field(default_factory=dict)
    arrived: dict[str, int | None] = field(default_factory=dict)
    #: why the lag fields are empty, when they are
    error: str | None = None
    #: per processor: milliseconds per second its loops stood still for checkpoints since
    #: the previous sample (``observe.processor_time``; empty until two samples were read)
    checkpoint_ms_per_s: dict[str, float] = field(default_factory=dict)
    #: per process (workers, archiver, brokers, the runner): cores on a CPU and threads
    #: waiting for one since the previous sample (``host_time``; empty off Linux)
    cores: dict[str, float] = field(default_factory=dict)
    waiting: dict[str, float] = field(default_factory=dict)
    #: the whole host's busy cores since the previous sample, whoever used them
    host_busy_cores: float | None = None


@dataclass
class RunRecord:
    scenario: Scenario
    samples: list[Sample]
    #: stage -> (seconds since t0 when the output was produced, latency ms)
    latency: dict[str, tuple[list[float], list[float]]]
    faults: list[FaultRecord]
    traffic: dict[str, Any]
    delivery: analysis.Delivery
    traffic_end_s: float
    groups: list[str]
    unexpected_exits: list[dict[str, Any]] = field(default_factory=list)
    redrives: list[dict[str, Any]] = field(default_factory=list)
    observer: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    #: the autoscaler's policy, changes and instance counts (``ScalingController.report``)
    scaling: dict[str, Any] | None = None
    #: each processor's consumer-group rebalance phases (``client_metrics.rebalance_phases``)
    rebalances: dict[str, Any] = field(default_factory=dict)
    #: how long each processor's loops stood still for checkpoints (``client_metrics.checkpoint_stops``)
    checkpoints: dict[str, Any] = field(default_factory=dict)
    #: the controller's fencings and unfencings during the run, ``{"at_s", "broker", "change"}``
    #: from the local brokers' logs (``callstream.local.sessions``); None on a configured cluster
    broker_sessions: list[dict[str, Any]] | None = None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def broker_sessions(changes: list[dict[str, Any]], faults: list[FaultRecord]) -> list[dict[str, Any]]:
    """Each session change with whether its broker's process was down then (killed or stopped
    by a fault and not yet restarted). A dead broker has to be fenced; a running one fenced
    lost its leaders because its heartbeats were late."""
    down: dict[int, list[tuple[float, float]]] = {}
    for fault in faults:
        node = fault.details.get("node_id")
        if not fault.ok or node is None or fault.started_at_s is None:
            continue
        if fault.is_down:
            down.setdefault(node, []).append((fault.started_at_s, float("inf")))
        elif fault.action == "restart-broker" and down.get(node):
            since, _ = down[node][-1]
            down[node][-1] = (since, fault.started_at_s)
    return [change | {"broker_down": any(since <= change["at_s"] < until for since, until in down.get(change["broker"], []))}
            for change in changes]


def _per_process(samples: list[Sample], figure: str) -> dict[str, list[float | None]]:
    """name -> one value per sample of ``Sample.<figure>`` (None where it was not measured)."""
    names = sorted({n for s in samples for n in getattr(s, figure)})
    return {n: [getattr(s, figure).get(n) for s in samples] for n in names}


def phase_of(scenario: Scenario, t: float, traffic_end_s: float) -> str:
    return scenario.traffic.phase_at_wall(t) or (DRAIN_PHASE if t >= min(traffic_end_s, scenario.traffic.wall_s) else "?")


def stage_latency(latency: dict[str, tuple[list[float], list[float]]], select=None) -> dict[str, dict[str, Any]]:  # noqa: ANN001
    """p50/p99/count per stage, optionally only for outputs whose time passes ``select``."""
    out = {}
    for stage, (times, values) in sorted(latency.items()):
        chosen = [v for t, v in zip(times, values, strict=False) if select is None or select(t)]
        out[stage] = {"p50_ms": _round(analysis.percentile(chosen, 50), 1),
                      "p99_ms": _round(analysis.percentile(chosen, 99), 1), "count": len(chosen)}
    return out


def build(record: RunRecord) -> dict[str, Any]:
    """Every figure of the run, JSON-ready; ``figures["metrics"]`` is what checks judge."""
    scenario, samples = record.scenario, record.samples
    t = [s.t for s in samples]
    groups = record.groups

    series: dict[str, Any] = {
        "t": t,
        "phase": [phase_of(scenario, x, record.traffic_end_s) for x in t],
        "arrival_per_s": analysis.rates(t, [s.acked for s in samples]),
        "producer_retries": [s.retries for s in samples],
        "producer_errors": [s.failed for s in samples],
        "client_errors": [s.client_errors for s in samples],
        #: why a sample has no lag figures (the cluster did not answer in time)
        "sample_error": [s.error for s in samples],
        "lag_messages": {g: [s.lag_messages.get(g) for s in samples] for g in groups},
        "lag_s": {g: [s.lag_s.get(g) for s in samples] for g in groups},
        "processed_per_s": {g: analysis.rates(t, [s.consumed.get(g) for s in samples]) for g in groups},
        "group_arrival_per_s": {g: analysis.rates(t, [s.arrived.get(g) for s in samples]) for g in groups},
        "latency_p50_ms": {}, "latency_p99_ms": {}, "latency_count": {},
        "checkpoint_ms_per_s": {p: [s.checkpoint_ms_per_s.get(p) for s in samples]
                                for p in sorted({p for s in samples for p in s.checkpoint_ms_per_s})},
        "host_busy_cores": [s.host_busy_cores for s in samples],
        "cores": _per_process(samples, "cores"),
        "waiting_for_core": _per_process(samples, "waiting"),
    }
    for stage, (times, values) in sorted(record.latency.items()):
        p50, p99, counts = analysis.latency_windows(times, values, t)
        series["latency_p50_ms"][stage] = [_round(v, 1) for v in p50]
        series["latency_p99_ms"][stage] = [_round(v, 1) for v in p99]
        series["latency_count"][stage] = counts

    recovery_spec = scenario.recovery
    measured = [s for s in series["latency_p99_ms"] if s != PRODUCE_STAGE]
    stages = recovery_spec.stages or [s for s in measured if s not in SLOW_BY_DESIGN]
    processor_groups = [g for g in groups if g != "archiver"]
    recovery_groups = recovery_spec.groups or processor_groups
    p99_for_recovery = {s: series["latency_p99_ms"].get(s, [None] * len(t)) for s in stages}
    lag_for_recovery = {g: series["lag_s"][g] for g in recovery_groups if g in series["lag_s"]}

    # A crash is recovered only once its process is back, so a processor or archiver
    # restart does not end the crash's window; a broker restart does: the cluster should
    # recover with the broker down, and its return is a disturbance measured on its own.
    # Faults that come before the system recovered from the previous one form one episode,
    # measured from its first fault until back within bounds after its last.
    measured = [f for f in record.faults if f.ok and (f.is_down or f.action == "restart-broker")]
    end = t[-1] if t else 0.0
    recoveries = []
    i = 0
    while i < len(measured):
        first, j = measured[i], i
        while True:
            horizon = measured[j + 1].started_at_s if j + 1 < len(measured) else end
            found = analysis.recovery_after(
                first.started_at_s, t, p99_for_recovery, lag_for_recovery,
                latency_bound_ms=recovery_spec.latency_p99_ms, lag_bound_s=recovery_spec.lag_s,
                stable_samples=recovery_spec.stable_samples, horizon_s=horizon)
            if found.recovered_at_s is not None or j + 1 >= len(measured):
                break
            j += 1
        episode = measured[i:j + 1]
        recoveries.append({
            "fault": "; ".join(f.label for f in episode), "faults": len(episode), "at_s": first.started_at_s,
            "recovery_time_s": found.recovery_time_s, "recovered_at_s": _round(found.recovered_at_s),
            "horizon_s": _round(found.horizon_s), "worst_p99_ms": _round(found.worst_p99_ms, 1),
            "worst_lag_s": _round(found.worst_lag_s), "out_of_bounds_samples": found.out_of_bounds_samples,
        })
        i = j + 1

    drains = {}
    for g in groups:
        bound = recovery_spec.archiver_lag_s if g == "archiver" else recovery_spec.lag_s
        d = analysis.drain(t, series["lag_messages"][g], series["lag_s"][g],
                           lag_bound_s=bound, stable_samples=recovery_spec.stable_samples)
        drains[g] = {"peak_lag_messages": d.peak_lag_messages, "peak_at_s": _round(d.peak_at_s),
                     "drained_at_s": _round(d.drained_at_s), "drain_time_s": d.drain_time_s,
                     "final_lag_messages": d.final_lag_messages,
                     "peak_lag_s": _round(max((v for v in series["lag_s"][g] if v is not None), default=None))}

    latency_run = stage_latency(record.latency)
    phases = [p.name for p in scenario.traffic.phases] + [DRAIN_PHASE]
    latency_by_phase = {
        phase: stage_latency(record.latency, lambda x, phase=phase: phase_of(scenario, x, record.traffic_end_s) == phase)
        for phase in phases
    }
    phase_bounds = [{"name": p.name, "curve": p.curve, "rate_per_min": p.rate_per_min, "speedup": scenario.traffic.speedup_of(p),
                     "start_s": round(ws, 3), "end_s": round(we, 3), "surge": p.surge}
                    for p, _, _, ws, we in scenario.traffic.phase_bounds()]

    replay_ratio = None
    comparison = scenario.replay_comparison
    if comparison is not None:
        base = latency_by_phase[comparison.baseline_phase].get(comparison.stage, {}).get("p99_ms")
        loaded = latency_by_phase[comparison.replay_phase].get(comparison.stage, {}).get("p99_ms")
        if base and loaded is not None:
            replay_ratio = round(loaded / base, 3)

    scaling = record.scaling
    if scaling is not None:
        # one count per sample: the controller steps once per tick, on the sample's clock
        series["instances"] = {p: counts for p, counts in scaling["instances"].items() if p != "t"}
    scale_outs = [e for e in (scaling or {}).get("events", []) if e["direction"] == "out"]
    delivery = record.delivery
    recovery_times = [r["recovery_time_s"] for r in recoveries]
    sessions = broker_sessions(record.broker_sessions, record.faults) if record.broker_sessions is not None else None
    metrics: dict[str, Any] = {
        "acked_events": record.traffic.get("acked"),
        "producer_errors": record.traffic.get("failed"),
        "producer_retries": record.traffic.get("retries"),
        "acknowledged_lost": delivery.acknowledged_lost,
        "redaction_missing_segments": delivery.redaction_missing_segments,
        "archive_missing_offsets": delivery.archive_missing_offsets,
        "quality_missing_contacts": delivery.quality_missing_contacts,
        "exactly_once_duplicates": delivery.exactly_once_duplicates,
        "archive_duplicate_offsets": delivery.archive_duplicate_offsets,
        # a fault that never recovered has no time, and so no number to pass
        "recovery_time_s": (max(recovery_times) if recovery_times and None not in recovery_times else None),
        "unexpected_exits": len(record.unexpected_exits),
        "faults_failed": sum(1 for f in record.faults if not f.ok),
        "replay_p99_ratio": replay_ratio,
        "scale_out_events": len(scale_outs) if scaling is not None else None,
        "scale_in_events": (len(scaling["events"]) - len(scale_outs)) if scaling is not None else None,
        # the slowest scale-out: lag out of bounds until the new instance held partitions
        "scale_out_to_consuming_s": max((e["crossing_to_consuming_s"] for e in scale_outs
                                         if e["crossing_to_consuming_s"] is not None), default=None),
        "replayed_events": sum(r.get("events", 0) for r in record.redrives) if record.redrives else None,
        "running_brokers_fenced": (sum(1 for c in sessions if c["change"] == FENCED and not c["broker_down"])
                                   if sessions is not None else None),
        "drain_time_s": {g: d["drain_time_s"] for g, d in drains.items()},
        "final_lag_messages": {g: d["final_lag_messages"] for g, d in drains.items()},
        "peak_lag_messages": {g: d["peak_lag_messages"] for g, d in drains.items()},
        "latency_p50_ms": {s: v["p50_ms"] for s, v in latency_run.items()},
        "latency_p99_ms": {s: v["p99_ms"] for s, v in latency_run.items()},
        "phases": {phase: {"latency_p50_ms": {s: v["p50_ms"] for s, v in by_stage.items()},
                           "latency_p99_ms": {s: v["p99_ms"] for s, v in by_stage.items()}}
                   for phase, by_stage in latency_by_phase.items()},
    }
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "source": scenario.source,
        "run": record.run,
        "traffic": record.traffic | {"phases": phase_bounds, "end_s": round(record.traffic_end_s, 3)},
        "faults": [f.to_json() for f in record.faults],
        "recovery": recoveries,
        "recovery_bounds": {"latency_p99_ms": recovery_spec.latency_p99_ms, "lag_s": recovery_spec.lag_s,
                            "archiver_lag_s": recovery_spec.archiver_lag_s,
                            "stable_samples": recovery_spec.stable_samples, "stages": stages, "groups": recovery_groups},
        "groups": drains,
        "latency": latency_run,
        "latency_by_phase": latency_by_phase,
        "delivery": {"acknowledged_lost": delivery.acknowledged_lost,
                     "redaction_missing_segments": delivery.redaction_missing_segments,
                     "archive_missing_offsets": delivery.archive_missing_offsets,
                     "archive_duplicate_offsets": delivery.archive_duplicate_offsets,
                     "quality_missing_contacts": delivery.quality_missing_contacts,
                     "exactly_once_duplicates": delivery.exactly_once_duplicates,
                     "examples": delivery.examples},
        "unexpected_exits": record.unexpected_exits,
        "redrives": record.redrives,
        "observer": record.observer,
        "autoscale": scaling,
        "rebalances": record.rebalances,
        "checkpoints": record.checkpoints,
        "broker_sessions": sessions,
        "host": host_time.by_phase(series["phase"], series["cores"], series["waiting_for_core"],
                                   series["host_busy_cores"]),
        "metrics": metrics,
        "series": series,
    }


def baseline_summary(fixed: dict[str, Any], groups: list[str], instances: dict[str, int], report: str) -> dict[str, Any]:
    """What an autoscaled run's report shows of the same scenario run on fixed workers."""
    return {"report": report, "passed": fixed.get("passed"), "instances": instances,
            "groups": {g: fixed["groups"][g] for g in groups if g in fixed["groups"]},
            "latency_by_phase": fixed["latency_by_phase"], "metrics": fixed["metrics"],
            "series": {"t": fixed["series"]["t"],
                       "lag_s": {g: fixed["series"]["lag_s"][g] for g in groups if g in fixed["series"]["lag_s"]},
                       "lag_messages": {g: fixed["series"]["lag_messages"][g] for g in groups
                                        if g in fixed["series"]["lag_messages"]}}}
