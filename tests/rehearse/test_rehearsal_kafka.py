"""One short rehearsal end to end on the test broker: real processes, traffic, checks, report."""

from __future__ import annotations

import json
import os

from confluent_kafka.admin import AdminClient

from callstream.rehearse.runner import RunOptions, run_scenario
from callstream.rehearse.schedule import parse_scenario
from callstream.settings import load_settings

SHORT_BURST = {
    "name": "short-burst",
    "description": "a 25-second burst through the redactor, the quality scorer and the archiver",
    "processors": [{"name": "redactor"}, {"name": "quality"}],
    "archiver": True,
    "traffic": {"seed": 3, "speedup": 20, "phases": [
        {"name": "warm-up", "curve": "steady", "rate_per_min": 60, "duration_s": 200},
        {"name": "surge", "curve": "steady", "rate_per_min": 240, "duration_s": 200, "surge": True},
        {"name": "after", "curve": "steady", "rate_per_min": 60, "duration_s": 100},
    ]},
    "recovery": {"latency_p99_ms": 5000, "lag_s": 10},
    "checks": [
        {"metric": "acknowledged_lost", "max": 0},
        {"metric": "exactly_once_duplicates", "max": 0},
        {"metric": "archive_duplicate_offsets", "max": 0},
        {"metric": "final_lag_messages", "group": "*", "max": 0},
        {"metric": "acked_events", "min": 2000},
        # impossible on purpose: a failing verdict must fail the run, with its number
        {"metric": "peak_lag_messages", "group": "redactor", "max": -1, "name": "impossible"},
    ],
    "limits": {"max_wall_s": 40, "drain_timeout_s": 90},
}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return open(f"/proc/{pid}/stat").read().split()[2] != "Z"
    except OSError:
        return False


def test_a_short_burst_runs_end_to_end_and_cleans_up(kafka_config, session_settings, tmp_path) -> None:
    scenario = parse_scenario(SHORT_BURST, "tests/rehearse/short-burst")
    result = run_scenario(scenario, RunOptions(report_dir=tmp_path / "report", work_dir=tmp_path / "work",
                                               settings=load_settings(None)))
    verdicts = {v.check: v for v in result.verdicts}
    failed = {name: v.detail for name, v in verdicts.items() if not v.passed}
    assert failed.keys() == {"impossible"}, failed
    assert not result.passed
    assert verdicts["impossible"].observed >= 0

    data = result.figures
    acked = data["traffic"]["acked"]
    assert acked == data["traffic"]["produced"] >= 2000
    assert data["delivery"]["redaction_missing_segments"] == 0
    assert data["delivery"]["archive_missing_offsets"] == 0 and data["delivery"]["quality_missing_contacts"] == 0
    assert data["observer"]["caught_up"] and data["run"]["drained"]
    assert data["latency"]["redaction"]["count"] > 0 and data["latency"]["quality"]["count"] > 0
    assert set(data["groups"]) == {"redactor", "quality", "archiver"}
    assert len(data["series"]["t"]) >= 20
    # each worker's own metrics reach the report: every one was handed its partitions
    assert {p: phases["assign"]["count"] >= 1 for p, phases in data["rebalances"].items()} == {"redactor": True, "quality": True}
    # ... and their checkpoints: over the run, and second by second beside the lag
    assert {p: c["count"] >= 1 for p, c in data["checkpoints"].items()} == {"redactor": True, "quality": True}
    assert set(data["series"]["checkpoint_ms_per_s"]) == {"redactor", "quality"}
    assert any(v for v in data["series"]["checkpoint_ms_per_s"]["redactor"])
    # where the cores went: every process it started and the runner itself, each phase;
    # the workers did work, and nothing used more than the host has
    cores = data["series"]["cores"]
    assert set(cores) == {*data["run"]["processes"], "runner"}, set(cores)
    assert sum(v or 0 for v in cores["redactor-0"]) > 0 and sum(v or 0 for v in cores["runner"]) > 0
    host = data["host"]["surge"]
    assert 0 < host["host_busy_cores"] <= os.cpu_count() and host["processes"]["redactor-0"]["waiting"] >= 0
    assert "<h2>Cores</h2>" in (tmp_path / "report" / "report.html").read_text()
    # the session's cluster is configured, not started by the run: its brokers' logs are not read
    assert data["broker_sessions"] is None and data["metrics"]["running_brokers_fenced"] is None

    # the report is on disk, and says the same
    on_disk = json.loads((tmp_path / "report" / "report.json").read_text())
    assert on_disk["passed"] is False and on_disk["metrics"]["acked_events"] == acked
    for name in ("report.html", "rates.png", "lag.png", "latency.png", "checkpoints.png", "traffic-curve.csv"):
        assert (tmp_path / "report" / name).stat().st_size > 0

    # every process it started is gone, its work dir removed, its uuid topics deleted
    assert not any(_alive(pid) for pid in data["run"]["processes"].values())
    assert not (tmp_path / "work").exists()
    suffix = data["run"]["topics"]["suffix"]
    assert not [t for t in AdminClient(kafka_config).list_topics(timeout=10).topics if suffix in t]
