"""Scenario schedules: the built-in ones are valid; invalid ones fail naming file, entry and reason."""

from __future__ import annotations

import copy
from itertools import pairwise

import pytest
import yaml

from callstream.errors import ScenarioError
from callstream.rehearse.schedule import (
    BrokerDown,
    builtin_scenarios,
    find_scenario,
    load_scenario,
    parse_scenario,
    plan_faults,
    with_curve,
)

SOURCE = "scenarios/test.yaml"
BASE = {
    "name": "test",
    "description": "a scenario for tests",
    "cluster": {"brokers": 3},
    "processors": [{"name": "redactor", "instances": 2}, {"name": "quality"}],
    "archiver": True,
    "traffic": {"speedup": 10, "phases": [
        {"name": "warm-up", "curve": "steady", "rate_per_min": 60, "duration_s": 300},
        {"name": "surge", "curve": "campaign", "rate_per_min": 60, "duration_s": 600, "surge": True},
    ]},
    "faults": [
        {"id": "leader-down", "at_s": 40, "action": "kill-broker", "broker": "leader",
         "topic": "callstream.transcript.raw", "partition": 0},
        {"at_s": 70, "action": "restart-broker", "broker": "leader-down"},
        {"at_s": 50, "action": "kill-processor", "processor": "redactor", "instance": 1, "restart_after_s": 5},
    ],
    "checks": [{"metric": "acknowledged_lost", "max": 0}, {"metric": "drain_time_s", "group": "*", "max": 60}],
    "limits": {"max_wall_s": 120, "drain_timeout_s": 60},
}


def document(**changes) -> dict:
    doc = copy.deepcopy(BASE)
    for path, value in changes.items():
        target = doc
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        last = keys[-1]
        if value is DELETE:
            del target[int(last) if last.isdigit() else last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value
    return doc


DELETE = object()


def test_every_builtin_scenario_is_valid_and_bounded() -> None:
    found = builtin_scenarios()
    assert {"burst", "broker-failure", "broker-failure-stays-down", "consumer-crash", "replay-under-load"} <= set(found)
    for name, path in found.items():
        scenario = load_scenario(path)
        assert scenario.name == name == path.stem
        # five minutes of traffic at most: autoscale's settled phase needs 120 s for its
        # scale-ins to land while traffic flows (ADR 0008), the others fit in four
        assert scenario.traffic.wall_s <= scenario.limits.max_wall_s <= (300 if name == "autoscale" else 240)
        assert scenario.checks, f"{name} judges nothing"


def test_broker_failure_is_what_the_issue_asks_for() -> None:
    scenario = load_scenario("broker-failure")
    assert scenario.cluster.brokers == 3 and scenario.producer.acks == "all" and scenario.producer.idempotence
    kill, restart = plan_faults(scenario)
    surge = next(b for b in scenario.traffic.phase_bounds() if b[0].surge)
    assert kill.action == "kill-broker" and kill.broker == "leader" and surge[3] <= kill.at_s <= surge[4]
    assert restart.action == "restart-broker" and restart.broker == "leader-down" and restart.at_s > kill.at_s
    stays_down = load_scenario("broker-failure-stays-down")
    assert [f.action for f in plan_faults(stays_down)] == ["kill-broker"]


def test_valid_document_parses_with_typed_faults() -> None:
    scenario = parse_scenario(document(), SOURCE)
    assert isinstance(scenario.faults[0], BrokerDown)
    assert scenario.traffic.wall_s == 90 and scenario.needs_process_control
    assert scenario.traffic.phase_at_wall(35) == "surge"


def test_wall_and_simulated_time_map_back_and_forth_across_phases() -> None:
    traffic = parse_scenario(document(traffic__phases__1__speedup=20), SOURCE).traffic
    assert traffic.wall_of(300) == 30 and traffic.wall_of(600) == 45 and traffic.wall_s == 60
    for sim in (0, 150, 299, 300, 777, 900, 1000):
        assert traffic.sim_of(traffic.wall_of(sim)) == pytest.approx(sim)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"traffic__phases": []}, r"scenarios/test.yaml: traffic.phases: List should have at least 1 item"),
        ({"traffic__phases__1__rate_per_min": -5}, r"traffic.phases\[1\] \(surge\): rate_per_min: Input should be greater than 0"),
        ({"traffic__phases__1__curve": "tsunami"}, r"traffic.phases\[1\] \(surge\): curve: unknown traffic curve 'tsunami'"),
        ({"traffic__phases__0__name": "surge"}, r"traffic.phases\[1\] \(surge\): phase names must be unique"),
        ({"traffic__phases__0__surge": True}, r"traffic.phases: more than one phase is marked surge"),
        ({"traffic__speedup": 1}, r"traffic: the phases take 900 s of wall-clock time, above limits.max_wall_s 120"),
        ({"limits__max_events": 1000}, r"traffic: the phases would produce about [\d,]+ events, above limits.max_events 1,000"),
        ({"limits__max_wall_s": 5000}, r"limits.max_wall_s: Input should be less than or equal to 900"),
        ({"faults__0__action": "explode-broker"}, r"faults\[0\] \(explode-broker\): unknown action 'explode-broker'"),
        ({"faults__0__at_s": 200}, r"faults\[0\] \(kill-broker\): at_s 200 is after the traffic stops"),
        ({"faults__0__topic": "callstream.nope"}, r"faults\[0\] \(kill-broker\): topic 'callstream.nope' is not a catalog topic"),
        ({"faults__0__partition": 6}, r"faults\[0\] \(kill-broker\): partition 6 does not exist \(callstream.transcript.raw has 6\)"),
        ({"faults__0__broker": 4}, r"faults\[0\] \(kill-broker\): broker 4 is not a node of the cluster \(nodes \[1, 2, 3\]\)"),
        ({"faults__1__broker": "leader-dwn"}, r"faults\[1\] \(restart-broker\): broker 'leader-dwn' is neither a node id nor the id of an earlier"),
        ({"cluster__brokers": 1}, r"faults\[0\] \(kill-broker\): a broker fault needs cluster.brokers: 3"),
        ({"cluster__brokers": 2}, r"cluster.brokers: Input should be 1 or 3"),
        ({"faults__2__processor": "sentiment"}, r"faults\[2\] \(kill-processor\): processor 'sentiment' is not one the scenario runs"),
        ({"faults__2__instance": 2}, r"faults\[2\] \(kill-processor\): instance 2 does not exist \(redactor runs 2\)"),
        ({"faults__2__signal": "HUP"}, r"faults\[2\] \(kill-processor\): signal: Extra inputs are not permitted"),
        ({"processors__1__name": "teleporter"}, r"processors\[1\] \(teleporter\): no processor named 'teleporter'"),
        ({"archiver": False}, None),  # no archiver fault here: still valid
        ({"checks__0__metric": "happiness"}, r"checks\[0\] \(happiness\): unknown metric 'happiness'"),
        ({"checks__0__max": DELETE}, r"checks\[0\] \(acknowledged_lost\): a check needs max or min"),
        ({"checks__1__group": "sentiment"}, r"checks\[1\] \(drain_time_s\): group 'sentiment' is not a group of this scenario"),
        ({"checks__0__group": "redactor"}, r"checks\[0\] \(acknowledged_lost\): acknowledged_lost is one number per run"),
        ({"autoscale": {"processors": ["redactor"]}}, None),
        ({"autoscale": {"processors": ["sentiment"]}},
         r"autoscale.processors \(sentiment\): not a processor the scenario runs"),
        ({"autoscale": {"processors": ["redactor"], "policy": {"min_instances": 3, "max_instances": 4}}},
         r"autoscale.processors \(redactor\): starts with 2 instance\(s\), below policy.min_instances 3"),
        ({"autoscale": {"processors": ["redactor"], "policy": {"in_below_s": 9}}},
         r"autoscale.policy: Value error, in_below_s \(9\) must be below lag_bound_s \(5\)"),
        ({"name": "Has Spaces"}, r"scenarios/test.yaml: name: String should match pattern"),
        ({"description": DELETE}, r"scenarios/test.yaml: description: Field required"),
    ],
)
def test_invalid_schedule_names_file_entry_and_reason(changes: dict, expected: str | None) -> None:
    if expected is None:
        parse_scenario(document(**changes), SOURCE)
        return
    with pytest.raises(ScenarioError, match=expected) as info:
        parse_scenario(document(**changes), SOURCE)
    assert info.value.hint  # every rejection says what to do


def test_two_brokers_down_at_once_is_refused() -> None:
    doc = document()
    doc["faults"][1] = {"at_s": 60, "action": "kill-broker", "broker": 2}
    with pytest.raises(ScenarioError, match=r"faults\[1\] \(kill-broker\): a second broker would go down at 60 s"):
        parse_scenario(doc, SOURCE)


def test_archiver_faults_and_redrives_need_an_archiver() -> None:
    doc = document(archiver=False)
    doc["faults"].append({"at_s": 60, "action": "kill-archiver"})
    with pytest.raises(ScenarioError, match=r"faults\[3\] \(kill-archiver\): the scenario runs no archiver"):
        parse_scenario(doc, SOURCE)
    doc = document()
    doc["faults"].append({"at_s": 60, "action": "redrive", "from_s": 10, "to_s": 70})
    with pytest.raises(ScenarioError, match=r"faults\[3\] \(redrive\): the window ends at 70 s, after the re-drive starts at 60 s"):
        parse_scenario(doc, SOURCE)


def test_replay_ratio_needs_a_comparison_of_existing_phases() -> None:
    doc = document()
    doc["checks"].append({"metric": "replay_p99_ratio", "max": 3})
    with pytest.raises(ScenarioError, match=r"checks: replay_p99_ratio needs a replay_comparison"):
        parse_scenario(doc, SOURCE)
    doc["replay_comparison"] = {"baseline_phase": "warm-up", "replay_phase": "later", "stage": "redaction"}
    with pytest.raises(ScenarioError, match=r"replay_comparison.replay_phase: 'later' is not a traffic phase"):
        parse_scenario(doc, SOURCE)


def test_repeats_are_bounded_seeded_and_restart_before_the_next_crash() -> None:
    doc = document()
    doc["faults"][2]["repeat"] = {"count": 3, "min_gap_s": 8, "max_gap_s": 12}
    planned = [f for f in plan_faults(parse_scenario(doc, SOURCE)) if f.kind == "processor"]
    assert [f.action for f in planned] == ["kill-processor", "restart-processor"] * 3
    kills = [f.at_s for f in planned if f.action == "kill-processor"]
    assert kills[0] == 50 and all(8 <= b - a <= 12 for a, b in pairwise(kills))
    assert kills == [f.at_s for f in plan_faults(parse_scenario(doc, SOURCE)) if f.action == "kill-processor"]
    doc["faults"][2]["restart_after_s"] = 9
    with pytest.raises(ScenarioError, match=r"restart_after_s 9 is not shorter than repeat.min_gap_s 8"):
        parse_scenario(doc, SOURCE)
    doc["faults"][2]["restart_after_s"] = 5
    doc["faults"][2]["repeat"]["count"] = 30
    with pytest.raises(ScenarioError, match=r"faults\[2\] \(kill-processor\): repeat.count"):
        parse_scenario(doc, SOURCE)


def test_restart_after_expands_to_the_same_broker_by_fault_id() -> None:
    doc = document()
    doc["faults"] = [{"id": "x", "at_s": 40, "action": "stop-broker", "broker": "leader",
                      "topic": "callstream.call.lifecycle", "restart_after_s": 20}]
    down, up = plan_faults(parse_scenario(doc, SOURCE))
    assert (down.action, down.at_s, up.action, up.at_s, up.broker) == ("stop-broker", 40, "restart-broker", 60, "x")


def test_curve_override_replaces_only_the_surge_phase_and_is_validated() -> None:
    scenario = parse_scenario(document(), SOURCE)
    changed = with_curve(scenario, "outage")
    assert [p.curve for p in changed.traffic.phases] == ["steady", "outage"]
    assert changed.faults == scenario.faults
    with pytest.raises(ScenarioError, match="unknown traffic curve 'nope'"):
        with_curve(scenario, "nope")
    doc = document()
    doc["traffic"]["phases"][1]["surge"] = False
    with pytest.raises(ScenarioError, match="has no phase marked surge: true"):
        with_curve(parse_scenario(doc, SOURCE), "outage")


def test_unknown_names_and_broken_files_are_clear(tmp_path) -> None:
    with pytest.raises(ScenarioError, match="no scenario named 'nope'") as info:
        find_scenario("nope")
    assert "burst" in info.value.hint
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match=rf"{broken}: not valid YAML"):
        load_scenario(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ScenarioError, match=rf"{listed}: a scenario must be a mapping"):
        load_scenario(listed)
    with pytest.raises(ScenarioError, match="scenario file .*missing.yaml not found"):
        load_scenario(tmp_path / "missing.yaml")
