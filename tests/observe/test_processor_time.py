"""Each processor's time over the window, from real prometheus-client histograms: the
difference between samples, not the totals since the workers started."""

from __future__ import annotations

import io

import pytest
from prometheus_client import CollectorRegistry

from callstream.observe.client_metrics import ProcessorMetrics
from callstream.observe.processor_time import ProcessorClock
from callstream.observe.snapshot import Snapshot, WorkerSample


def samples(registry: CollectorRegistry) -> list[WorkerSample]:
    return [WorkerSample(f.name, f.type, s.name, dict(s.labels), float(s.value))
            for f in registry.collect() for s in f.samples]


def test_the_window_holds_only_what_the_workers_did_within_it() -> None:
    registry = CollectorRegistry()
    frontline, signals = ProcessorMetrics("frontline", registry), ProcessorMetrics("signals", registry)
    clock = ProcessorClock(window_s=60)
    # before the window: slow events and a stuck checkpoint that must not show
    for _ in range(1000):
        frontline.step_seconds.observe(0.002)
    frontline.checkpoint_seconds.observe(20.0)
    assert clock.update(0.0, samples(registry)) == []  # a difference needs two samples

    for _ in range(5000):
        frontline.step_seconds.observe(0.0004)
    for stop in [0.03] * 97 + [0.07, 0.2, 0.2]:  # 100 checkpoints: the 99th lies in (0.1, 0.25]
        frontline.checkpoint_seconds.observe(stop)
    signals.step_seconds.observe(0.001)
    by_processor = {p.processor: p for p in clock.update(50.0, samples(registry))}

    front = by_processor["frontline"]
    assert front.over_seconds == 50.0
    assert front.events_per_s == 100.0
    assert front.step_mean_us == pytest.approx(400.0)
    assert front.checkpoints == 100
    assert front.checkpoint_mean_ms == pytest.approx((97 * 30 + 70 + 400) / 100)
    assert front.checkpoint_p99_bound_ms == 250.0 and not front.checkpoint_p99_beyond_buckets
    assert front.stopped_ms_per_s == pytest.approx((97 * 0.03 + 0.07 + 0.4) / 50 * 1000)
    quiet = by_processor["signals"]
    assert quiet.events_per_s == 0.02 and quiet.checkpoints == 0
    assert quiet.checkpoint_mean_ms is None and quiet.checkpoint_p99_bound_ms is None and quiet.stopped_ms_per_s == 0


def test_old_samples_leave_the_window_and_a_stuck_checkpoint_reads_beyond_the_buckets() -> None:
    registry = CollectorRegistry()
    metrics = ProcessorMetrics("quality", registry)
    clock = ProcessorClock(window_s=10)
    clock.update(0.0, samples(registry))
    metrics.checkpoint_seconds.observe(0.004)
    clock.update(5.0, samples(registry))
    metrics.checkpoint_seconds.observe(45.0)  # longer than the last bound (30 s)
    clock.update(12.0, samples(registry))
    # at 20 s the window starts at 10 s: the sample at 5 s is its base, the one at 0 s is gone
    [quality] = clock.update(20.0, samples(registry))
    assert quality.over_seconds == 15.0 and quality.checkpoints == 1
    assert quality.checkpoint_p99_beyond_buckets and quality.checkpoint_p99_bound_ms is None
    assert quality.checkpoint_mean_ms == 45_000.0


def test_workers_whose_metrics_restart_count_from_zero() -> None:
    clock = ProcessorClock(window_s=60)
    before, after = CollectorRegistry(), CollectorRegistry()
    old, new = ProcessorMetrics("analytics", before), ProcessorMetrics("analytics", after)
    for _ in range(10):
        old.checkpoint_seconds.observe(0.01)
    clock.update(0.0, samples(before))
    new.checkpoint_seconds.observe(0.04)  # a new run: its files started empty
    [analytics] = clock.update(2.0, samples(after))
    assert analytics.checkpoints == 1 and analytics.checkpoint_mean_ms == 40.0


def test_status_shows_and_judges_the_processor_time() -> None:
    from rich.console import Console

    from callstream.observe.snapshot import ClusterHealth, ProcessorTime
    from callstream.observe.status import Thresholds, evaluate, render, summary

    frontline = ProcessorTime(processor="frontline", over_seconds=60, events_per_s=3000.5, step_mean_us=320.0,
                              checkpoints=60, checkpoint_mean_ms=70.5, checkpoint_p99_bound_ms=250.0,
                              stopped_ms_per_s=70.6)
    stuck = ProcessorTime(processor="quality", over_seconds=60, events_per_s=0.0, checkpoints=1,
                          checkpoint_mean_ms=45_000.0, checkpoint_p99_beyond_buckets=True, stopped_ms_per_s=750.0)
    snap = Snapshot(sampled_at_ms=0, window_seconds=60, cluster=ClusterHealth(reachable=True, brokers_up=1,
                                                                              brokers_expected=1),
                    processors=[frontline, stuck])
    breaches = evaluate(snap, Thresholds(max_checkpoint_p99_ms=100))
    assert {(b.check, b.subject) for b in breaches} == {("checkpoint_p99_ms", "frontline"),
                                                       ("checkpoint_p99_ms", "quality")}
    assert not evaluate(snap, Thresholds())  # no limit by default
    shown = summary(snap)["processors"]
    assert shown["frontline"]["checkpoint_p99_ms_at_most"] == 250.0 and shown["frontline"]["stopped_ms_per_s"] == 70.6
    assert shown["quality"]["checkpoint_p99_ms_at_most"] is None and shown["quality"]["checkpoints"] == 1
    assert shown["quality"]["checkpoint_p99_ms_beyond"] == 30_000 and shown["frontline"]["checkpoint_p99_ms_beyond"] is None

    console = Console(width=160, record=True, file=io.StringIO())
    console.print(render(snap, breaches))
    text = console.export_text()
    assert "processor time (last 60 s)" in text
    assert "<= 250 ms" in text and "> 30 s" in text and "71 ms/s" in text and "320 us" in text
