"""From a recorded run to figures, metrics and the report directory (no Kafka)."""

from __future__ import annotations

import json
import struct

from callstream.rehearse import analysis, figures, report
from callstream.rehearse.faults import FaultRecord
from callstream.rehearse.schedule import parse_scenario
from callstream.rehearse.verdicts import evaluate
from callstream.scaling.controller import ScalingEvent
from callstream.scaling.policy import ScalingDecision, ScalingPolicy

SCENARIO = parse_scenario({
    "name": "synthetic", "description": "a recorded run made up for tests",
    "processors": [{"name": "redactor"}, {"name": "quality"}], "archiver": True,
    "traffic": {"speedup": 10, "phases": [
        {"name": "warm-up", "rate_per_min": 60, "duration_s": 100},
        {"name": "surge", "rate_per_min": 240, "duration_s": 100, "surge": True},
        {"name": "cool-down", "rate_per_min": 60, "duration_s": 100}]},
    "faults": [{"at_s": 12, "action": "kill-processor", "processor": "redactor", "restart_after_s": 3}],
    "recovery": {"latency_p99_ms": 1000, "lag_s": 5, "stable_samples": 3},
    "checks": [{"metric": "acknowledged_lost", "max": 0}, {"metric": "recovery_time_s", "max": 10},
               {"metric": "drain_time_s", "group": "*", "max": 15},
               {"metric": "latency_p99_ms", "stage": "redaction", "phase": "cool-down", "max": 1000}],
    "limits": {"max_wall_s": 60},
}, "synthetic.yaml")


def recorded_run() -> figures.RunRecord:
    samples = []
    for i in range(41):
        t = float(i)
        backlog = max(0, (i - 12) * 300) if i < 20 else max(0, 2400 - (i - 20) * 400)
        samples.append(figures.Sample(
            t=t, acked=i * 500, failed=0, retries=2 if i > 12 else 0, client_errors=0,
            lag_messages={"redactor": backlog, "quality": 10, "archiver": 50 if i < 35 else 0},
            lag_s={"redactor": backlog / 200, "quality": 0.5, "archiver": 2.0 if i < 35 else 0.0},
            consumed={"redactor": i * 250 - backlog, "quality": i * 100, "archiver": i * 500},
            arrived={"redactor": i * 250, "quality": i * 100, "archiver": i * 500}))
    produced = [i / 10 for i in range(400)]
    latency = [3000.0 if 12 < t < 20 else 40.0 for t in produced]
    faults = [FaultRecord(12.0, "kill-processor", "kill-processor redactor-0", 0, 12.0, 12.1, {"pid": 4242}),
              FaultRecord(15.0, "restart-processor", "restart-processor redactor-0", 0, 15.0, 15.2, {"pid": 4243})]
    delivery = analysis.delivery(acked_segments={"a", "b"}, redacted_segments={"a", "b"},
                                 acked_offsets={("raw", 0): [0, 1]}, archived_offsets={("raw", 0): [0, 1]},
                                 expected_quality_contacts={"c"}, quality_contacts=["c"])
    return figures.RunRecord(
        scenario=SCENARIO, samples=samples, latency={"redaction": (produced, latency), "produce": (produced, [5.0] * 400)},
        faults=faults, traffic={"produced": 20_000, "acked": 20_000, "failed": 0, "retries": 56, "calls": 300},
        delivery=delivery, traffic_end_s=30.0, groups=["redactor", "quality", "archiver"],
        run={"started_at": "2026-11-25T10:00:00+00:00", "finished_at": "2026-11-25T10:01:00+00:00", "drained": True})


def test_figures_carry_recovery_drain_latency_and_metrics() -> None:
    data = figures.build(recorded_run())
    metrics = data["metrics"]
    assert metrics["acknowledged_lost"] == 0 and metrics["exactly_once_duplicates"] == 0
    [recovery] = data["recovery"]
    assert recovery["fault"] == "kill-processor redactor-0" and recovery["recovery_time_s"] == 11.0
    assert data["groups"]["redactor"]["peak_lag_messages"] == 2400 and data["groups"]["redactor"]["drain_time_s"] == 4.0
    assert data["recovery_bounds"]["stages"] == ["redaction"]  # quality waits for commits by design
    assert data["latency_by_phase"]["surge"]["redaction"]["p99_ms"] == 3000.0
    assert data["latency_by_phase"]["cool-down"]["redaction"]["p99_ms"] == 40.0
    assert metrics["phases"]["cool-down"]["latency_p99_ms"]["redaction"] == 40.0
    assert len(data["series"]["t"]) == len(data["series"]["lag_messages"]["redactor"]) == 41
    assert data["series"]["processed_per_s"]["quality"][5] == 100.0
    verdicts = {v.metric: v.passed for v in evaluate(SCENARIO.checks, metrics)}
    assert verdicts == {"acknowledged_lost": True, "recovery_time_s": False, "drain_time_s": True, "latency_p99_ms": True}


def test_report_directory_has_json_pngs_and_an_html_page_with_everything(tmp_path) -> None:
    data = figures.build(recorded_run())
    data["verdicts"] = [v.to_json() for v in evaluate(SCENARIO.checks, data["metrics"])]
    data["passed"] = False
    paths = report.write(tmp_path / "run", data)
    assert json.loads(paths["json"].read_text())["recovery"][0]["recovery_time_s"] == 11.0
    assert "scaling" not in paths  # only an autoscaled run plots instances
    for name in ("rates", "lag", "latency"):
        png = paths[name].read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", png[16:24])
        assert width >= 800 and height >= 300
    page = paths["html"].read_text()
    assert "FAILED" in page and "kill-processor redactor-0" in page and "recovery_time_s &lt;= 10" in page
    assert page.count("data:image/png;base64,") == 3
    assert "redactor" in page and "drain time (s)" in page


def test_recovery_is_measured_per_episode_and_broker_restarts_on_their_own() -> None:
    record = recorded_run()
    record.faults = [
        FaultRecord(5.0, "kill-broker", "kill-broker broker 2", 0, 5.0, 5.2, {"node_id": 2}),
        FaultRecord(8.0, "restart-broker", "restart-broker broker 2", 1, 8.0, 8.5, {"node_id": 2}),
        FaultRecord(12.0, "kill-processor", "kill-processor redactor-0", 2, 12.0, 12.1, {}),
        FaultRecord(14.0, "kill-archiver", "kill-archiver archiver", 3, 14.0, 14.1, {}),
        FaultRecord(15.0, "restart-processor", "restart-processor redactor-0", 2, 15.0, 15.1, {}),
    ]
    recoveries = figures.build(record)["recovery"]
    assert [(r["at_s"], r["faults"], r["recovery_time_s"]) for r in recoveries] == [(5.0, 1, 0.0), (8.0, 1, 0.0), (12.0, 2, 11.0)]
    assert recoveries[2]["fault"] == "kill-processor redactor-0; kill-archiver archiver"
    assert figures.build(record)["metrics"]["recovery_time_s"] == 11.0


def test_an_autoscaled_run_reports_its_changes_and_the_fixed_baseline_beside_it(tmp_path) -> None:
    fixed = figures.build(recorded_run()) | {"passed": True}
    record = recorded_run()
    t = [s.t for s in record.samples]
    out = ScalingEvent(ScalingDecision("g-redactor", 16.0, 1, 2, "lag 8.0 s above 2 s for 3 s"), lag_crossed_at_s=13.0,
                       applied_at_s=16.2, started="redactor-1 (pid 1)", settled_at_s=21.0)
    back = ScalingEvent(ScalingDecision("g-redactor", 33.0, 2, 1, "lag 0.5 s below 1.2 s for 5 s"), lag_crossed_at_s=None,
                        applied_at_s=34.0, removed_members=["g-redactor-host-1"], settled_at_s=36.0)
    record.scaling = {"policy": ScalingPolicy(lag_bound_s=2, in_below_s=1.2).model_dump(),
                      "events": [out.to_json(), back.to_json()],
                      "holds": [{"processor_group": "g-redactor", "since_s": 14.0, "until_s": 16.0, "checks": 2,
                                 "reason": "lag 4.0 s above 2 s for 3 s, but this host has 0.20 idle cores"}],
                      "instances": {"t": t, "redactor": [1] * 16 + [2] * 17 + [1] * 8}}
    data = figures.build(record)
    assert (data["metrics"]["scale_out_events"], data["metrics"]["scale_in_events"]) == (1, 1)
    assert data["metrics"]["scale_out_to_consuming_s"] == 8.0  # lag crossed at 13 s, the new member held partitions at 21 s
    assert data["series"]["instances"]["redactor"][20] == 2
    data["baseline"] = figures.baseline_summary(fixed, ["redactor"], {"redactor": 1}, "fixed/report.html")
    data["verdicts"], data["passed"] = [], True
    paths = report.write(tmp_path / "run", data)
    assert paths["scaling"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths["html"].read_text()
    assert page.count("data:image/png;base64,") == 4
    assert "Against fixed workers" in page and "fixed/report.html" in page and "g-redactor-host-1" in page
    assert "Out only while the host has 0.5 idle cores" in page
    assert "Scale-outs held for want of CPU" in page and "this host has 0.20 idle cores" in page
    assert "<td>redactor</td><td>peak lag (msgs)</td><td>2,400</td><td>2,400</td>" in page


def test_the_workers_rebalance_phases_reach_the_report_in_the_order_a_member_goes_through_them(tmp_path) -> None:
    from prometheus_client import CollectorRegistry

    from callstream.observe.client_metrics import ProcessorMetrics, rebalance_phases

    registry = CollectorRegistry()  # what the workers of a run wrote, as the runner reads it back
    redactor = ProcessorMetrics("redactor", registry)
    for phase, seconds in (("recovery", 0.2), ("revoke", 0.3), ("join", 0.02), ("assign", 0.4), ("recovery", 1.5)):
        redactor.rebalance_seconds(phase, seconds)
    ProcessorMetrics("sentiment", registry).rebalance_seconds("lost", 75.0)
    record = recorded_run()
    record.rebalances = rebalance_phases(list(registry.collect()))
    data = figures.build(record)
    assert data["rebalances"]["redactor"]["recovery"] == {"count": 2, "total_s": 1.7, "mean_s": 0.85, "all_within_s": 2.0}
    assert data["rebalances"]["sentiment"]["lost"]["all_within_s"] is None  # past the last bucket
    data["verdicts"], data["passed"] = [], True
    page = report.write(tmp_path / "run", data)["html"].read_text()
    section = page[page.index("<h2>Rebalances</h2>"):]
    rows = [section.index(f"<td>{phase}</td>") for phase in ("revoke", "join", "assign", "recovery")]
    assert rows == sorted(rows)
    assert "<td>0.85</td>" in section and "longer than 60" in section
    assert "<h2>Rebalances</h2>" not in report.write(tmp_path / "quiet", figures.build(recorded_run()) | {"verdicts": [], "passed": True})["html"].read_text()


def test_the_workers_checkpoint_stops_reach_the_report(tmp_path) -> None:
    from prometheus_client import CollectorRegistry

    from callstream.observe.client_metrics import ProcessorMetrics, checkpoint_stops

    registry = CollectorRegistry()  # what the workers of a run wrote, as the runner reads it back
    frontline = ProcessorMetrics("frontline", registry)
    for seconds in [0.02] * 98 + [0.08, 3.5]:  # a broker lost: one checkpoint waited 3.5 s
        frontline.checkpoint_seconds.observe(seconds)
    ProcessorMetrics("quality", registry).checkpoint_seconds.observe(40.0)
    ProcessorMetrics("analytics", registry)  # started, never committed anything
    record = recorded_run()
    record.checkpoints = checkpoint_stops(list(registry.collect()))
    for sample in record.samples[1:]:  # second by second, from the second sample on
        sample.checkpoint_ms_per_s = {"frontline": 900.0 if 12 <= sample.t < 15 else 30.0, "quality": 45.0}
    data = figures.build(record)
    stops = data["series"]["checkpoint_ms_per_s"]
    assert set(stops) == {"frontline", "quality"} and stops["frontline"][0] is None
    assert stops["frontline"][12:16] == [900.0, 900.0, 900.0, 30.0]
    assert data["checkpoints"]["frontline"] == {"count": 100, "total_s": 5.54, "mean_ms": 55.4, "p99_within_ms": 100.0,
                                                "all_within_s": 5.0}
    assert data["checkpoints"]["quality"]["all_within_s"] is None and data["checkpoints"]["quality"]["p99_within_ms"] is None
    assert "analytics" not in data["checkpoints"]
    data["verdicts"], data["passed"] = [], True
    written = report.write(tmp_path / "run", data)
    assert written["checkpoints"].stat().st_size > 0 and "checkpoints.png" in written["html"].read_text()
    page = written["html"].read_text()
    section = page[page.index("<h2>Checkpoints</h2>"):]
    assert "<td>frontline</td><td>100</td><td>55.4</td><td>&lt;= 100 ms</td><td>&lt;= 5 s</td><td>5.54</td>" in section
    assert "longer than 30 s" in section
    quiet = report.write(tmp_path / "quiet", figures.build(recorded_run()) | {"verdicts": [], "passed": True})
    assert "<h2>Checkpoints</h2>" not in quiet["html"].read_text() and "checkpoints" not in quiet


def test_each_process_cores_and_wait_reach_the_report_per_phase(tmp_path) -> None:
    record = recorded_run()
    for sample in record.samples[1:]:
        surge = 10 <= sample.t < 20
        sample.cores = {"quality-0": 0.05 if surge else 0.3, "kafka-node-1": 0.5}
        sample.waiting = {"quality-0": 3.0 if surge else 0.1, "kafka-node-1": 1.0}
        sample.host_busy_cores = 1.96 if surge else 1.1
    data = figures.build(record)
    assert data["series"]["cores"]["quality-0"][0] is None and data["series"]["waiting_for_core"]["quality-0"][12] == 3.0
    assert data["host"]["surge"]["processes"]["quality-0"] == {"cores": 0.05, "waiting": 3.0}
    assert data["host"]["surge"]["host_busy_cores"] == 1.96 and data["host"]["warm-up"]["host_busy_cores"] == 1.1
    page = report.write(tmp_path / "run", data | {"verdicts": [], "passed": True})["html"].read_text()
    section = page[page.index("<h2>Cores</h2>"):]
    assert "<td>quality-0</td><td>0.30 (0.10)</td><td>0.05 (3.00)</td>" in section
    assert "<td>host, busy cores</td><td>1.10</td><td>1.96</td>" in section
    unmeasured = report.write(tmp_path / "elsewhere", figures.build(recorded_run()) | {"verdicts": [], "passed": True})
    assert "Not measured here" in unmeasured["html"].read_text()


def test_a_broker_fenced_while_running_is_told_from_one_fenced_while_down(tmp_path) -> None:
    record = recorded_run()
    record.faults = [FaultRecord(50.0, "kill-broker", "kill-broker broker leader", 0, 50.0, 50.3, {"node_id": 2, "pid": 1}),
                     FaultRecord(95.0, "restart-broker", "restart-broker broker leader-down", 1, 95.0, 122.1,
                                 {"node_id": 2, "pid": 2})]
    record.broker_sessions = [
        {"at_s": 54.6, "broker": 2, "change": "fenced"},    # dead: has to be fenced
        {"at_s": 116.9, "broker": 2, "change": "fenced"},   # back, still loading its logs: late heartbeats
        {"at_s": 121.9, "broker": 2, "change": "unfenced"},
        {"at_s": 130.0, "broker": 3, "change": "fenced"},   # never touched by a fault
    ]
    data = figures.build(record)
    assert [(c["at_s"], c["broker_down"]) for c in data["broker_sessions"]] == [(54.6, True), (116.9, False), (121.9, False),
                                                                                 (130.0, False)]
    assert data["metrics"]["running_brokers_fenced"] == 2
    [verdict] = evaluate(parse_scenario({**SCENARIO.model_dump(mode="json", exclude_none=True),
                                         "checks": [{"metric": "running_brokers_fenced", "max": 0}]}, "s.yaml").checks,
                         data["metrics"])
    assert not verdict.passed and verdict.observed == 2
    data["verdicts"], data["passed"] = [], False
    page = report.write(tmp_path / "run", data)["html"].read_text()
    section = page[page.index("<h2>Broker sessions</h2>"):]
    assert "fenced while running (late heartbeats): <b>2</b>" in section
    assert "<td>54.6</td><td>2</td><td>fenced</td><td>down (a fault)</td>" in section
    assert "<td>116.9</td><td>2</td><td>fenced</td><td>running</td>" in section

    # a configured cluster's logs are not read: no section, and no number a check could pass on
    elsewhere = figures.build(recorded_run())
    assert elsewhere["broker_sessions"] is None and elsewhere["metrics"]["running_brokers_fenced"] is None
    page = report.write(tmp_path / "configured", elsewhere | {"verdicts": [], "passed": True})["html"].read_text()
    assert "<h2>Broker sessions</h2>" not in page
