"""``callstream status`` (one-screen summary, ``--json``, non-zero exit on a breached
threshold) and ``callstream dashboard`` (the live web dashboard)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import click
import msgspec
from rich.console import Console

from callstream.cli import CliContext, pass_context
from callstream.errors import ConfigError, KafkaOperationError
from callstream.observe.snapshot import Snapshot
from callstream.observe.status import (
    BREACH_EXIT_CODE,
    Thresholds,
    evaluate,
    load_thresholds,
    render,
    status_document,
)


def _observer_options(command):
    for option in reversed([
        click.option("--group", "groups", multiple=True, help="Consumer group to report (repeat); default every callstream-* group."),
        click.option("--topic-map", help="JSON object renaming catalog topics (uuid copies in tests and rehearsals)."),
        click.option("--window", type=click.FloatRange(min=1), default=60, show_default=True,
                     help="Seconds of the sliding window for latency percentiles and dead-letter rates."),
        click.option("--lookback", type=click.FloatRange(min=1), default=900, show_default=True,
                     help="Seconds of the output topics read back at start (supervisor figures)."),
        click.option("--worker-metrics-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="The workers' PROMETHEUS_MULTIPROC_DIR (default <state-dir>/metrics)."),
    ]):
        command = option(command)
    return command


def _observer(ctx: CliContext, groups, topic_map, window, lookback, worker_metrics_dir, interval=2.0):
    from callstream.observe.observer import Observer, ObserverSettings

    try:
        names = json.loads(topic_map) if topic_map else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--topic-map is not a JSON object: {exc}", 'pass e.g. {"callstream.call.lifecycle": "lc-test"}') from None
    conf = ctx.client_config("dashboard")
    observer = Observer(conf, ObserverSettings(
        topic_names=names, groups=list(groups) or None, window_s=window, lookback_s=lookback, interval_s=interval,
        state_dir=ctx.settings.state_dir, archive=ctx.settings.archive_settings(), worker_metrics_dir=worker_metrics_dir))
    return observer, conf


def _threshold_options(command):
    for option in reversed([
        click.option("--max-lag", "max_lag_messages", type=int, help="Most unconsumed messages per group."),
        click.option("--max-lag-seconds", type=float, help="Oldest unconsumed message per group, seconds [config default 60]."),
        click.option("--max-p99-ms", "max_latency_p99_ms", type=float, help="p99 end-to-end latency per stage, ms [5000]."),
        click.option("--max-dead-letters-per-min", "max_dead_letters_per_minute", type=float),
        click.option("--max-client-errors", type=int),
        click.option("--max-checkpoint-p99-ms", type=float,
                     help="Bucket bound of a processor's checkpoint p99 (its loop's stop), ms."),
        click.option("--max-archive-freshness", "max_archive_freshness_seconds", type=float, help="Seconds."),
        click.option("--max-archive-lag-seconds", type=float),
    ]):
        command = option(command)
    return command


def _snapshot_from(url: str, token: str | None = None, timeout_s: float = 10.0) -> Snapshot:
    """The latest snapshot of a running dashboard (``--from-dashboard``, or this deployment's)."""
    request = urllib.request.Request(url.rstrip("/") + "/api/snapshot",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (user's URL)
            document = json.loads(response.read())
    except OSError as exc:
        raise KafkaOperationError(f"the dashboard at {url} did not answer: {exc}",
                                  "start it with `callstream dashboard`, or drop --from-dashboard to sample directly") from None
    return msgspec.convert(document["snapshot"], Snapshot)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: ok, breaches, summary, snapshot.")
@click.option("--interval", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Seconds between the two offset samples rates are measured over (0: no rates).")
@click.option("--from-dashboard", metavar="URL", help="Report the latest sample of a running dashboard instead of sampling.")
@click.option("--sample", "force_sample", is_flag=True,
              help="Sample the cluster now even when this deployment's dashboard is running.")
@_observer_options
@_threshold_options
@pass_context
def status(ctx: CliContext, as_json: bool, interval: float, from_dashboard: str | None, force_sample: bool, groups,
           topic_map, window, lookback, worker_metrics_dir, **limits) -> int:
    """Lag, latency p50/p99, each processor's time per event and checkpoint stops, error and
    dead-letter rates, archive freshness and broker health on one screen. When this
    deployment's dashboard runs, its observer's latest sample answers at once; otherwise
    the cluster is sampled now. Exits 3 when a threshold is
    breached (thresholds: options, or the config file's observe.thresholds)."""
    thresholds: Thresholds = load_thresholds(ctx.config_file or _default_config(), **limits)
    err = Console(stderr=True)
    snapshot = None
    if from_dashboard:
        snapshot = _snapshot_from(from_dashboard)
    elif not (force_sample or groups or topic_map):
        snapshot = _running_dashboard_snapshot(ctx, err)
    if snapshot is None:
        with err.status("no dashboard of this deployment is running: sampling lag, brokers, dead letters, "
                        "archive and recent latency ..."):
            snapshot = _sample(ctx, interval, groups, topic_map, window, lookback, worker_metrics_dir)
    breaches = evaluate(snapshot, thresholds)
    if as_json:
        click.echo(json.dumps(status_document(snapshot, breaches), indent=2, allow_nan=False, default=str))
    else:
        Console().print(render(snapshot, breaches))
    return BREACH_EXIT_CODE if breaches else 0


def _running_dashboard_snapshot(ctx: CliContext, err: Console) -> Snapshot | None:
    """The latest sample of this deployment's running dashboard, or None (none runs, or it
    did not answer in time: then status samples the cluster itself)."""
    from callstream.observe.dashboard.access import operations_token, running_endpoint

    settings = ctx.settings
    url = running_endpoint(settings.state_dir)
    if url is None:
        return None
    try:
        snapshot = _snapshot_from(url, operations_token(settings.dashboard, settings.state_dir), timeout_s=2.0)
    except KafkaOperationError:
        return None
    age_s = max(0.0, time.time() - snapshot.sampled_at_ms / 1000)
    err.print(f"from the running dashboard's observer at {url}, sampled {age_s:.1f} s ago (--sample samples now)")
    return snapshot


def _sample(ctx: CliContext, interval: float, groups, topic_map, window, lookback, worker_metrics_dir) -> Snapshot:
    observer, _ = _observer(ctx, groups, topic_map, window, lookback, worker_metrics_dir)
    try:
        observer.tap.catch_up()
        if interval > 0:
            observer.sample()
            time.sleep(interval)
            observer.tap.catch_up()
        return observer.sample()
    finally:
        observer.close()


def _default_config() -> Path | None:
    path = Path("callstream.yaml")
    return path if path.exists() else None


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (keep 127.0.0.1 unless behind a proxy).")
@click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True, help="Seconds between samples.")
@_observer_options
@_threshold_options
@pass_context
def dashboard(ctx: CliContext, port: int, host: str, interval: float, groups, topic_map, window, lookback,
              worker_metrics_dir, **limits) -> None:
    """Serve the live dashboard (operations, supervisor, call drill-down) and /metrics."""
    from callstream.governance.audit import AuditLog
    from callstream.observe.dashboard import serve
    from callstream.observe.dashboard.access import access_from_settings, describe, record_endpoint

    thresholds = load_thresholds(ctx.config_file or _default_config(), **limits)
    observer, conf = _observer(ctx, groups, topic_map, window, lookback, worker_metrics_dir, interval)
    access, where = access_from_settings(ctx.settings.dashboard, ctx.settings.state_dir, host)
    click.echo(f"dashboard on http://{host}:{port}/ (metrics at /metrics), {describe(access, where)}; Ctrl-C stops it")
    record_endpoint(ctx.settings.state_dir, host, port)
    serve(observer, conf, host=host, port=port, thresholds=thresholds, access=access, tokens_hint=where,
          audit=AuditLog(ctx.settings.audit_dir))
