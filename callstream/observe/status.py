"""``callstream status``: one screen (or one JSON object) summarising a snapshot, and the
thresholds whose breach makes the command exit non-zero for scripts and alerting.

Thresholds come from options and/or the config file's ``observe.thresholds`` mapping::

    observe:
      thresholds:
        max_lag_seconds: 30
        max_latency_p99_ms: 2000
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgspec
import yaml
from rich.console import Group
from rich.table import Table
from rich.text import Text

from callstream.errors import ConfigError
from callstream.observe.client_metrics import CHECKPOINT_BUCKETS
from callstream.observe.snapshot import ProcessorTime, Snapshot

#: exit code of ``callstream status`` when a threshold is breached (1 is a CallstreamError)
BREACH_EXIT_CODE = 3


class Thresholds(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Limits; ``None`` disables a check."""

    max_lag_messages: int | None = None
    max_lag_seconds: float | None = 60.0
    max_latency_p99_ms: float | None = 5000.0
    max_dead_letters_per_minute: float | None = None
    max_client_errors: int | None = None
    #: the bucket bound of a processor's checkpoint p99 (its loop's longest regular stop)
    max_checkpoint_p99_ms: float | None = None
    max_archive_freshness_seconds: float | None = None
    max_archive_lag_seconds: float | None = None
    max_under_replicated: int | None = 0
    max_offline_partitions: int | None = 0
    #: every expected broker must answer (False: only "the cluster answers")
    require_all_brokers: bool = True


class Breach(msgspec.Struct, frozen=True):
    check: str
    subject: str
    value: float
    limit: float

    def __str__(self) -> str:
        return f"{self.check} {self.subject}: {self.value:g} > {self.limit:g}"


def load_thresholds(config_file: Path | None, **overrides: Any) -> Thresholds:
    """Defaults, then the config file's ``observe.thresholds``, then non-None ``overrides``."""
    values: dict[str, Any] = {}
    if config_file is not None and Path(config_file).exists():
        try:
            document = yaml.safe_load(Path(config_file).read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {config_file} is not valid YAML: {exc}".replace("\n", " ")) from None
        observe = document.get("observe") if isinstance(document, dict) else None
        values.update((observe or {}).get("thresholds") or {})
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(values, Thresholds)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid status thresholds ({config_file or 'options'}): {exc}",
                          f"use the fields {', '.join(Thresholds.__struct_fields__)}") from None


def evaluate(s: Snapshot, limits: Thresholds) -> list[Breach]:
    """Every threshold the snapshot breaches."""
    out: list[Breach] = []

    def over(check: str, subject: str, value: float | None, limit: float | None) -> None:
        if limit is not None and value is not None and value > limit:
            out.append(Breach(check, subject, float(value), float(limit)))

    c = s.cluster
    if not c.reachable:
        out.append(Breach("cluster_unreachable", c.error or "no answer", 1, 0))
        return out
    if limits.require_all_brokers:
        over("brokers_down", "cluster", c.brokers_expected - c.brokers_up, 0)
    over("under_replicated", "cluster", c.under_replicated_total, limits.max_under_replicated)
    over("offline_partitions", "cluster", c.offline_total, limits.max_offline_partitions)
    for g in s.groups:
        over("lag_messages", g.group, g.total_lag, limits.max_lag_messages)
        over("lag_seconds", g.group, g.max_lag_seconds, limits.max_lag_seconds)
    for stage in s.latency:
        over("latency_p99_ms", stage.stage, stage.p99_ms, limits.max_latency_p99_ms)
    for p in s.processors:
        beyond = math.inf if p.checkpoint_p99_beyond_buckets else None
        over("checkpoint_p99_ms", p.processor, beyond or p.checkpoint_p99_bound_ms, limits.max_checkpoint_p99_ms)
    over("dead_letters_per_minute", "all", sum(d.per_minute for d in s.dead_letters), limits.max_dead_letters_per_minute)
    over("client_errors", "all", sum(s.client_errors.values()), limits.max_client_errors)
    for a in s.archive or []:
        over("archive_freshness_seconds", a.topic, a.freshness_seconds, limits.max_archive_freshness_seconds)
        over("archive_lag_seconds", a.topic, a.lag_seconds, limits.max_archive_lag_seconds)
    return out


def summary(s: Snapshot) -> dict[str, Any]:
    """The figures of the one-screen view, as data (``status --json``'s ``summary``)."""
    freshness = [a.freshness_seconds for a in s.archive or [] if a.freshness_seconds is not None]
    return {
        "sampled_at_ms": s.sampled_at_ms,
        "cluster": {"reachable": s.cluster.reachable, "brokers_up": s.cluster.brokers_up,
                    "brokers_expected": s.cluster.brokers_expected, "controller_id": s.cluster.controller_id,
                    "under_replicated": s.cluster.under_replicated_total, "offline_partitions": s.cluster.offline_total},
        "groups": {g.group: {"state": g.state, "members": g.members, "lag": g.total_lag,
                             "lag_seconds": g.max_lag_seconds, "by_topic": {t: {"lag": lag, "lag_seconds": sec}
                                                                          for t, (lag, sec) in g.by_topic().items()}}
                   for g in s.groups},
        "latency_ms": {x.stage: {"p50": x.p50_ms, "p99": x.p99_ms, "max": x.max_ms, "events": x.window_count}
                       for x in s.latency},
        "dead_letters": {"total": sum(d.total for d in s.dead_letters),
                         "per_minute": round(sum(d.per_minute for d in s.dead_letters), 3),
                         "by_reason": {f"{d.processor}/{d.reason}": d.total for d in s.dead_letters}},
        "client_errors": {"total": sum(s.client_errors.values()), "by_type": s.client_errors},
        "produce_per_s": round(sum(t.produce_per_s or 0 for t in s.topics), 3),
        "archive": None if s.archive is None else {
            "max_freshness_seconds": max(freshness) if freshness else None,
            "lag": sum(a.lag for a in s.archive),
            "topics": {a.topic: {"freshness_seconds": a.freshness_seconds, "lag": a.lag, "lag_seconds": a.lag_seconds}
                       for a in s.archive}},
        "calls_in_progress": sum(s.calls_in_progress.values()),
        "open_escalations": sum(s.open_escalations.values()),
        "processors": {p.processor: {"events_per_s": p.events_per_s, "step_mean_us": p.step_mean_us,
                                     "checkpoints": p.checkpoints, "checkpoint_mean_ms": p.checkpoint_mean_ms,
                                     "checkpoint_p99_ms_at_most": None if p.checkpoint_p99_beyond_buckets
                                     else p.checkpoint_p99_bound_ms,
                                     # the page says "> 30 s" from this, not from a copy of the buckets
                                     "checkpoint_p99_ms_beyond": CHECKPOINT_BUCKETS[-1] * 1000
                                     if p.checkpoint_p99_beyond_buckets else None,
                                     "stopped_ms_per_s": p.stopped_ms_per_s, "over_seconds": p.over_seconds}
                       for p in s.processors},
    }


def status_document(s: Snapshot, breaches: list[Breach]) -> dict[str, Any]:
    """What ``status --json`` prints: verdict, summary and the full snapshot."""
    return {"ok": not breaches, "breaches": [msgspec.to_builtins(b) | {"text": str(b)} for b in breaches],
            "summary": summary(s), "snapshot": msgspec.to_builtins(s)}


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def _checkpoint_p99(p: ProcessorTime) -> str:
    if p.checkpoint_p99_beyond_buckets:
        return f"> {CHECKPOINT_BUCKETS[-1]:g} s"
    return "-" if p.checkpoint_p99_bound_ms is None else f"<= {p.checkpoint_p99_bound_ms:,.0f} ms"


def _processor_table(s: Snapshot) -> Table:
    """Each processor's time: events, time per event, and its loop's checkpoint stops."""
    table = Table("processor", "events/s", "per event", "checkpoints", "checkpoint mean", "checkpoint p99",
                  "stopped", title=f"processor time (last {s.processors[0].over_seconds:.0f} s)", title_justify="left")
    for p in s.processors:
        table.add_row(p.processor, _fmt(p.events_per_s, digits=1), _fmt(p.step_mean_us, " us"), f"{p.checkpoints:,}",
                      _fmt(p.checkpoint_mean_ms, " ms", 1), _checkpoint_p99(p), f"{p.stopped_ms_per_s:,.0f} ms/s")
    return table


def render(s: Snapshot, breaches: list[Breach]) -> Group:
    """The one-screen terminal view."""
    c = s.cluster
    parts: list[Any] = []
    health = (f"[green]cluster up[/]: {c.brokers_up}/{c.brokers_expected} brokers, controller {c.controller_id}, "
              f"{c.under_replicated_total} under-replicated, {c.offline_total} offline partitions") if c.reachable \
        else f"[red]cluster unreachable[/]: {c.error}"
    parts.append(Text.from_markup(health))
    lag = Table(title="consumer lag", title_justify="left")
    # a name cut short is a name you cannot act on: the other columns give way first
    lag.add_column("consumer group", no_wrap=True, min_width=max((len(g.group) for g in s.groups), default=14))
    for name in ("state", "lag (msgs)", "lag (s)", "consume/s"):
        lag.add_column(name, justify="right" if name != "state" else "left")
    rates: dict[str, float] = {}
    for r in s.consume:
        rates[r.group] = rates.get(r.group, 0.0) + r.consume_per_s
    for g in s.groups:
        lag.add_row(g.group, f"{g.state} ({g.members})", f"{g.total_lag:,}", _fmt(g.max_lag_seconds, digits=1),
                    _fmt(rates.get(g.group), digits=1))
    parts.append(lag)
    latency = Table("stage", "p50", "p99", "max", f"events ({s.window_seconds:.0f} s)",
                    title="end-to-end latency (produced_at - source_time)", title_justify="left")
    for x in s.latency:
        latency.add_row(x.stage, _fmt(x.p50_ms, " ms"), _fmt(x.p99_ms, " ms"), _fmt(x.max_ms, " ms"), f"{x.window_count:,}")
    parts.append(latency)
    if s.processors:
        parts.append(_processor_table(s))
    dead = sum(d.total for d in s.dead_letters)
    errors = sum(s.client_errors.values())
    produce = sum(t.produce_per_s or 0 for t in s.topics)
    parts.append(Text(f"throughput {produce:,.1f} msgs/s appended | dead letters {dead:,} "
                      f"({sum(d.per_minute for d in s.dead_letters):.1f}/min) | client errors {errors:,} | "
                      f"calls in progress {sum(s.calls_in_progress.values())} | "
                      f"open escalations {sum(s.open_escalations.values())}"))
    if s.archive is None:
        parts.append(Text("archive: none in this state dir"))
    else:
        fresh = [a.freshness_seconds for a in s.archive if a.freshness_seconds is not None]
        parts.append(Text(f"archive: {len(s.archive)} tables, newest data {_fmt(min(fresh) if fresh else None, ' s')} old, "
                          f"stalest table {_fmt(max(fresh) if fresh else None, ' s')}, "
                          f"{sum(a.lag for a in s.archive):,} msgs not archived yet"))
    if breaches:
        parts.append(Text.from_markup("[red bold]thresholds breached[/]: " + "; ".join(str(b) for b in breaches)))
    else:
        parts.append(Text.from_markup("[green]all thresholds met[/]"))
    return Group(*parts)
