"""``callstream rehearse SCENARIO`` and ``callstream scorecard``: the rehearsal lab's commands."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from callstream.cli import CliContext, pass_context
from callstream.rehearse.host_time import busiest_phase_line
from callstream.rehearse.schedule import Scenario, builtin_scenarios, load_scenario, plan_faults, with_curve
from callstream.settings import Settings


@click.command()
@click.argument("scenario", required=False)
@click.option("--curve", help="Replace the surge phase's traffic curve: steady, daily, campaign, outage or a CSV file.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Report directory (default <state dir>/reports/<scenario>-<UTC time>).")
@click.option("--list", "list_only", is_flag=True, help="List the built-in scenarios and exit.")
@click.option("--check", "check_only", is_flag=True, help="Validate the scenario and show its schedule, without running it.")
@click.option("--keep-work-dir", is_flag=True, help="Keep the run's Kafka data, processor state and archive.")
@click.option("--replicator", type=click.Choice(["callstream", "mirrormaker2"]), default="callstream", show_default=True,
              help="migration only: callstream's replicator, or MirrorMaker 2 as the baseline.")
@pass_context
def rehearse(ctx: CliContext, scenario: str | None, curve: str | None, report_dir: Path | None, list_only: bool,
             check_only: bool, keep_work_dir: bool, replicator: str) -> None:
    """Run a rehearsal SCENARIO (a built-in name or a .yaml file) end to end and write its
    report (report.html, report.json, PNG plots). Exits 1 when a verdict fails.

    Broker faults run on a local cluster the rehearsal starts in its own directory; other
    scenarios use the configured cluster when one is set (uuid-named topics and groups).
    """
    console = Console()
    if list_only:
        for name, path in builtin_scenarios().items():
            loaded = load_scenario(path)
            console.print(f"[bold]{name:<26}[/] {loaded.description}", soft_wrap=True)
        return
    if not scenario:
        raise click.UsageError("name a scenario (see `callstream rehearse --list`) or pass a .yaml file")
    if scenario == "migration":
        _rehearse_migration(ctx, console, report_dir, keep_work_dir, check_only, replicator)
        return
    loaded = load_scenario(scenario)
    if curve:
        loaded = with_curve(loaded, curve)
    if check_only:
        console.print(f"[bold]{loaded.name}[/] is valid: {len(loaded.traffic.phases)} phase(s), "
                      f"{loaded.traffic.wall_s:.0f} s of traffic, {len(loaded.checks)} check(s)")
        console.print(f"  file: {loaded.source}", soft_wrap=True)
        for fault in plan_faults(loaded):
            console.print(f"  {fault.at_s:7.1f} s  {fault.label}")
        return
    from callstream.rehearse.runner import RunOptions, run_scenario, stop_leftover_clusters

    settings = ctx.settings
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report_dir = report_dir or Path(settings.state_dir) / "reports" / f"{loaded.name}-{stamp}"
    work_dir = Path(settings.state_dir) / "rehearsals" / f"{loaded.name}-{stamp}"
    leftovers = stop_leftover_clusters(work_dir.parent)
    if leftovers:
        console.print(f"stopped a local cluster left running by an earlier, interrupted rehearsal (pids {leftovers})")
    baseline = None
    if loaded.autoscale is not None and loaded.autoscale.baseline:
        baseline = _fixed_baseline(loaded, report_dir, work_dir, settings, console, keep_work_dir)
    console.print(f"[bold]rehearsal[/] {loaded.name}: report in {report_dir}")
    result = run_scenario(loaded, RunOptions(report_dir=report_dir, work_dir=work_dir, settings=settings,
                                             console=console, keep_work_dir=keep_work_dir, baseline=baseline))
    console.print(verdict_table(result.figures))
    if (host := busiest_phase_line(result.figures.get("host") or {}, os.cpu_count() or 1)) is not None:
        console.print(host, soft_wrap=True)
    console.print(f"report: {result.report_dir / 'report.html'}")
    if not result.passed:
        click.get_current_context().exit(1)


def _fixed_baseline(scenario: Scenario, report_dir: Path, work_dir: Path, settings: Settings, console: Console,
                    keep_work_dir: bool) -> dict[str, Any]:
    """Run an autoscaling scenario on fixed workers first (its report in ``fixed/``), for
    the autoscaled run's report to compare against."""
    from callstream.rehearse.figures import baseline_summary
    from callstream.rehearse.runner import RunOptions, run_scenario

    if scenario.autoscale is None:
        raise ValueError("only an autoscaling scenario has a fixed-worker baseline")
    scaled = scenario.autoscale.processors
    fixed = scenario.model_copy(update={"autoscale": None,
                                        "checks": [c for c in scenario.checks if not c.metric.startswith("scale_")]})
    console.print(f"[bold]baseline[/] {scenario.name} on fixed workers first: report in {report_dir / 'fixed'}")
    result = run_scenario(fixed, RunOptions(report_dir=report_dir / "fixed", work_dir=work_dir.with_name(f"{work_dir.name}-fixed"),
                                            settings=settings, console=console, keep_work_dir=keep_work_dir))
    console.print(f"[bold]baseline[/] {'passed' if result.passed else 'failed'}; now the autoscaled run")
    return baseline_summary(result.figures, scaled, {p: scenario.instances_of(p) for p in scaled}, "fixed/report.html")


def _rehearse_migration(ctx: CliContext, console: Console, report_dir: Path | None, keep_work_dir: bool,
                        check_only: bool, replicator: str) -> None:
    from callstream.rehearse.migration import MigrationOptions, MigrationRehearsal, MigrationSchedule
    from callstream.rehearse.runner import stop_leftover_clusters

    schedule = MigrationSchedule(replicator=replicator)
    if check_only:
        console.print(f"[bold]migration[/] cutover at {schedule.cutover_at_s:.0f} s, rollback at {schedule.rollback_at_s:.0f} s, "
                      f"cutover again at {schedule.cutover_again_at_s:.0f} s, traffic {schedule.traffic_s:.0f} s "
                      f"({schedule.rate_per_min:g} calls/min at {schedule.speedup:g}x)")
        return
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    state_dir = Path(ctx.settings.state_dir)
    report_dir = report_dir or state_dir / "reports" / f"migration-{replicator}-{stamp}"
    work_dir = state_dir / "rehearsals" / f"migration-{stamp}"
    leftovers = stop_leftover_clusters(work_dir.parent)
    if leftovers:
        console.print(f"stopped local clusters left running by an earlier, interrupted rehearsal (pids {leftovers})")
    console.print(f"[bold]rehearsal[/] migration: report in {report_dir}")
    data = MigrationRehearsal(MigrationOptions(report_dir, work_dir, schedule, console=console, keep_work_dir=keep_work_dir)).run()
    console.print(verdict_table(data))
    console.print(f"report: {report_dir / 'report.html'}")
    if not data["passed"]:
        click.get_current_context().exit(1)


def verdict_table(figures: dict) -> Table:
    table = Table(title=f"{figures['scenario']}: {'PASSED' if figures['passed'] else 'FAILED'}")
    table.add_column("check")
    table.add_column("verdict")
    table.add_column("detail", overflow="fold")
    for v in figures["verdicts"]:
        table.add_row(v["check"], "[green]pass[/]" if v["passed"] else "[red]FAIL[/]", v["detail"])
    return table


@click.command()
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also read rehearsal reports here (the settings' deployment.reports_dirs and <state dir>/reports always count).")
@click.option("--runbooks", "runbooks_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The deployment's runbooks (default: deployment.runbooks_dir, docs/runbooks).")
@click.option("--schemas", "schemas_dir", type=click.Path(file_okay=False, path_type=Path),
              help="The deployment's exported schemas (default: deployment.schemas_dir, schemas).")
@click.option("--json", "as_json", is_flag=True, help="Print the scorecard as JSON.")
@pass_context
def scorecard(ctx: CliContext, reports_dir: Path | None, runbooks_dir: Path | None, schemas_dir: Path | None,
              as_json: bool) -> None:
    """The readiness scorecard of this deployment: each area 0/1/2 from evidence it can show
    (catalog, schemas, rehearsal reports, runbooks, live checks of its archive), with the
    evidence behind each score and what is missing for the next level."""
    from dataclasses import replace

    from callstream.rehearse.scorecard import Deployment, gather_evidence, render, score

    deployment = Deployment.from_settings(ctx.settings)
    if reports_dir:
        deployment = replace(deployment, reports=(reports_dir, *deployment.reports))
    if runbooks_dir:
        deployment = replace(deployment, runbooks=runbooks_dir)
    if schemas_dir:
        deployment = replace(deployment, schemas=schemas_dir)
    card = score(gather_evidence(deployment))
    if as_json:
        click.echo(json.dumps(card.to_json(), indent=1))
        return
    Console().print(render(card))
