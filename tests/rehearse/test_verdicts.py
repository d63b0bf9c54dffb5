"""Verdict logic: numbers within bounds pass, anything unmeasured fails, selectors fan out."""

from __future__ import annotations

from callstream.rehearse.schedule import Check
from callstream.rehearse.verdicts import all_passed, evaluate, evaluate_one

METRICS = {
    "acknowledged_lost": 0,
    "exactly_once_duplicates": 2,
    "recovery_time_s": 41.5,
    "replay_p99_ratio": None,
    "acked_events": 12_000,
    "drain_time_s": {"redactor": 30.0, "quality": 12.0, "archiver": None},
    "final_lag_messages": {"redactor": 0, "quality": 0},
    "latency_p99_ms": {"assist": 180.0, "redaction": 95.0},
    "phases": {"cool-down": {"latency_p99_ms": {"assist": 2500.0}}},
}


def test_run_metrics_pass_within_and_fail_outside_their_bounds() -> None:
    ok = evaluate_one(Check(metric="acknowledged_lost", max=0), METRICS)
    assert ok.passed and ok.observed == 0 and ok.detail == "0 within <= 0"
    bad = evaluate_one(Check(metric="exactly_once_duplicates", max=0), METRICS)
    assert not bad.passed and bad.detail == "2 outside <= 0"
    assert evaluate_one(Check(metric="recovery_time_s", max=60), METRICS).passed
    assert not evaluate_one(Check(metric="recovery_time_s", max=30), METRICS).passed
    assert evaluate_one(Check(metric="acked_events", min=10_000), METRICS).passed
    between = Check(metric="recovery_time_s", min=45, max=60)
    assert not evaluate_one(between, METRICS).passed and "outside >= 45" not in evaluate_one(between, METRICS).detail


def test_an_unmeasured_metric_never_passes() -> None:
    verdict = evaluate_one(Check(metric="replay_p99_ratio", max=3), METRICS)
    assert not verdict.passed and verdict.observed is None and verdict.detail == "not measured in this run"
    assert not evaluate_one(Check(metric="unexpected_exits", max=0), METRICS).passed
    assert not evaluate_one(Check(metric="drain_time_s", group="archiver", max=60), METRICS).passed
    assert not evaluate_one(Check(metric="latency_p99_ms", stage="quality", max=1e9), METRICS).passed


def test_star_selector_needs_every_group_to_pass_and_names_the_offenders() -> None:
    verdict = evaluate_one(Check(metric="drain_time_s", group="*", max=20), METRICS)
    assert not verdict.passed
    assert verdict.detail.startswith("outside <= 20 for archiver, redactor")
    assert verdict.observed == {"redactor": 30.0, "quality": 12.0, "archiver": None}
    assert evaluate_one(Check(metric="final_lag_messages", group="*", max=0), METRICS).passed
    assert not evaluate_one(Check(metric="peak_lag_messages", group="*", max=0), METRICS).passed  # none measured


def test_single_group_and_stage_selectors() -> None:
    assert evaluate_one(Check(metric="drain_time_s", group="quality", max=20), METRICS).passed
    verdict = evaluate_one(Check(metric="latency_p99_ms", stage="assist", max=150), METRICS)
    assert not verdict.passed and verdict.detail == "assist: 180 outside <= 150"


def test_phase_scoped_checks_read_that_phase() -> None:
    whole = evaluate_one(Check(metric="latency_p99_ms", stage="assist", max=2000), METRICS)
    phase = evaluate_one(Check(metric="latency_p99_ms", stage="assist", max=2000, phase="cool-down"), METRICS)
    assert whole.passed and not phase.passed and phase.observed == 2500.0
    assert not evaluate_one(Check(metric="latency_p99_ms", stage="assist", max=2000, phase="nope"), METRICS).passed


def test_a_run_passes_only_when_every_verdict_does_and_there_is_one() -> None:
    checks = [Check(metric="acknowledged_lost", max=0), Check(metric="recovery_time_s", max=60)]
    assert all_passed(evaluate(checks, METRICS))
    assert not all_passed(evaluate(checks + [Check(metric="exactly_once_duplicates", max=0)], METRICS))
    assert not all_passed([])


def test_labels_name_the_check() -> None:
    assert Check(metric="drain_time_s", group="*", max=90).label == "drain_time_s[*] <= 90"
    assert Check(metric="acked_events", min=5, name="enough traffic").label == "enough traffic"
