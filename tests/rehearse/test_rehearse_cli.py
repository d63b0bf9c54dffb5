"""The rehearse and scorecard commands: listing, checking, failing verdicts exit non-zero."""

from __future__ import annotations

import json
import os

import click
import pytest
from click.testing import CliRunner

from callstream.cli import CliContext
from callstream.cli.rehearse_cmds import rehearse, scorecard
from callstream.errors import ScenarioError
from callstream.rehearse import runner


@pytest.fixture
def cli() -> click.Group:
    group = click.Group("callstream")
    group.add_command(rehearse)
    group.add_command(scorecard)
    return group


def invoke(cli: click.Group, *args: str, state_dir=None):
    return CliRunner().invoke(cli, list(args), obj=CliContext(flags={"state_dir": state_dir}))


def test_list_names_every_builtin_scenario(cli) -> None:
    result = invoke(cli, "rehearse", "--list")
    assert result.exit_code == 0
    for name in ("burst", "broker-failure", "broker-failure-stays-down", "consumer-crash", "replay-under-load"):
        assert name in result.output


def test_check_shows_the_schedule_without_running(cli) -> None:
    result = invoke(cli, "rehearse", "broker-failure", "--check")
    assert result.exit_code == 0, result.output
    assert "is valid" in result.output and "kill-broker broker leader" in result.output
    assert "restart-broker broker leader-down" in result.output


def test_a_bad_scenario_or_curve_is_a_clear_error(cli, tmp_path) -> None:
    result = invoke(cli, "rehearse", "no-such-scenario")
    assert isinstance(result.exception, ScenarioError) and "no scenario named" in str(result.exception)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: x\ntraffic: {phases: [{name: a, rate_per_min: 0, duration_s: 10}]}\n")
    result = invoke(cli, "rehearse", str(bad), "--check")
    assert isinstance(result.exception, ScenarioError)
    assert f"{bad}: traffic.phases[0] (a): rate_per_min" in str(result.exception)
    result = invoke(cli, "rehearse", "burst", "--curve", "tsunami", "--check")
    assert "unknown traffic curve 'tsunami'" in str(result.exception)


def test_a_failing_verdict_exits_non_zero(cli, tmp_path, monkeypatch) -> None:
    seen = {}

    def fake_run(scenario, options):
        seen["scenario"], seen["options"] = scenario, options
        figures = {"scenario": scenario.name, "passed": False,
                   "verdicts": [{"check": "zero lost", "passed": False, "detail": "3 outside <= 0"}],
                   "host": {"surge": {"host_busy_cores": 0.95 * (os.cpu_count() or 1),
                                      "processes": {"redactor-0": {"cores": 0.4, "waiting": 2.0}}}}}
        return runner.RunResult(options.report_dir, False, [], figures)

    monkeypatch.setattr(runner, "run_scenario", fake_run)
    result = invoke(cli, "rehearse", "burst", "--curve", "outage", "--report", str(tmp_path / "r"), state_dir=tmp_path)
    assert result.exit_code == 1
    assert "FAIL" in result.output and "3 outside <= 0" in result.output
    # and whether the host had cores to spare: a failure on a saturated host says so
    assert "busy in the surge phase (redactor-0 0.40); saturated" in result.output
    assert seen["scenario"].surge_phase().curve == "outage" and seen["options"].report_dir == tmp_path / "r"
    assert not seen["options"].uses_configured_cluster  # no cluster configured: the rehearsal starts its own


def test_scorecard_json_has_every_area_with_evidence(cli) -> None:
    result = invoke(cli, "scorecard", "--json")
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    assert [a["area"] for a in card["areas"]][:2] == ["event model", "burst behavior"] and card["max"] == 14
    assert all(a["score"] in (0, 1, 2) for a in card["areas"])
    assert all(a["evidence"] or a["score"] == 0 for a in card["areas"])
