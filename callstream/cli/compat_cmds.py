"""``callstream compat``: probe a Kafka-compatible cluster before trusting it with calls."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from callstream.cli import CliContext, pass_context
from callstream.kafka.compat import AT_STAKE, PROBES, run_probes

AREAS = sorted({area for area, _, _ in PROBES})


@click.command()
@click.option("--area", "areas", multiple=True, type=click.Choice(AREAS), help="Probe only this area (repeat).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write report.json there (the compatibility matrix is built from these).")
@click.option("--label", default="", help="What the cluster is, for the report (e.g. 'Apache Kafka 3.9, 1 node').")
@pass_context
def compat(ctx: CliContext, areas: tuple[str, ...], as_json: bool, report_dir: Path | None, label: str) -> None:
    """Probe the configured cluster for the Kafka behaviours callstream and its users rely on:
    records, partitioning, idempotence, transactions, consumer groups, admin APIs and limits.
    Exits 1 when a behaviour fails; an unsupported one is reported, not failed."""
    conf = ctx.client_config()
    console = Console(stderr=True)
    with console.status("probing ...") as status:
        probes = run_probes(conf, only=set(areas) or None, progress=lambda step: status.update(f"probing {step} ..."))
    counts = {s: sum(1 for p in probes if p.status == s) for s in ("pass", "fail", "unsupported")}
    document: dict[str, object] = {
        "label": label, "bootstrap_servers": conf.get("bootstrap.servers"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version(),
        "passed": all(p.status != "fail" for p in probes),
        "counts": counts,
        "probes": [p.to_dict() for p in probes],
    }
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "report.json").write_text(json.dumps(document, indent=1) + "\n")
    if as_json:
        click.echo(json.dumps(document))
    else:
        table = Table("area", "behaviour", "result", "measured", "s", title=f"compatibility of {label or conf.get('bootstrap.servers')}")
        colour = {"pass": "green", "fail": "red", "unsupported": "yellow"}
        for p in probes:
            table.add_row(p.area, p.name, f"[{colour[p.status]}]{p.status}[/]", p.detail, f"{p.seconds:.1f}")
        Console().print(table)
        for p in probes:
            if p.status != "pass":
                click.echo(f"{p.status}: {p.name}: at stake: {AT_STAKE.get(p.name, 'see docs/compatibility.md')}")
        click.echo(f"{counts['pass']} pass, {counts['fail']} fail, {counts['unsupported']} unsupported")
    if not document["passed"]:
        raise click.exceptions.Exit(1)
