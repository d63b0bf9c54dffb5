"""``callstream acls plan|apply|check|verify``: least-privilege ACLs compiled from the catalog."""

from __future__ import annotations

import json
from pathlib import Path

import click
from confluent_kafka.admin import AdminClient
from rich.console import Console

from callstream.cli import CliContext, pass_context
from callstream.contract.catalog import load_catalog
from callstream.errors import ConfigError
from callstream.governance import acls as catalog_acls
from callstream.governance.audit import operator
from callstream.governance.protection import open_audit
from callstream.local import broker

catalog_option = click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False, path_type=Path),
                              help="Catalog file (default ./catalog/topics.yaml if present, else the built-in one).")


@click.group()
def acls() -> None:
    """Compile least-privilege ACLs from the topic catalog, apply them, and verify them live."""


def _plan(ctx: CliContext, catalog_path: Path | None) -> tuple[AdminClient, catalog_acls.AclPlan]:
    catalog = load_catalog(catalog_path)
    desired = catalog_acls.compile_grants(catalog, principals=ctx.settings.kafka.principals)
    admin = AdminClient(ctx.client_config())
    return admin, catalog_acls.plan(admin, desired, {g.principal for g in desired})


def _show(plan: catalog_acls.AclPlan) -> None:
    for grant in plan.missing:
        click.echo(f"  + {grant}")
    for grant in plan.stale:
        click.echo(f"  - {grant}")
    for grant in plan.undeclared:
        click.echo(f"  ? {grant} (not in the catalog: left alone)")
    click.echo(f"{len(plan.missing)} to add, {len(plan.stale)} stale to remove, {plan.kept} in place"
               + (f"; {len(plan.undeclared)} grant(s) to principals the catalog does not name reach its topics or "
                  "groups: declare them as consumers or producers, or remove them (docs/runbooks/consumer-ownership.md)"
                  if plan.undeclared else ""))


@acls.command("plan")
@catalog_option
@pass_context
def plan_cmd(ctx: CliContext, catalog_path: Path | None) -> None:
    """Show what `apply` would change (the diff of the catalog's grants with the cluster)."""
    _show(_plan(ctx, catalog_path)[1])


@acls.command("apply")
@catalog_option
@pass_context
def apply_cmd(ctx: CliContext, catalog_path: Path | None) -> None:
    """Create the missing grants and delete stale ones of callstream's principals; other
    principals' bindings are left alone. On the local cluster, also creates the principals."""
    settings = ctx.settings
    cluster = broker.LocalCluster.load(settings.state_dir) if settings.kafka.is_local else None
    if cluster is not None and not cluster.secured:
        raise ConfigError("the local cluster runs without authentication (--insecure): ACLs would not be enforced",
                          "run `callstream kafka stop --fresh` and `callstream kafka start` without --insecure")
    plan = catalog_acls.grant_catalog(ctx.client_config(), load_catalog(catalog_path),
                                      principals=settings.kafka.principals,
                                      state_dir=cluster.state_dir if cluster is not None else None)
    _show(plan)
    open_audit(settings).append("acls.apply", operator("admin"), {
        "added": len(plan.missing), "removed": len(plan.stale), "kept": plan.kept})


@acls.command("check")
@catalog_option
@pass_context
def check_cmd(ctx: CliContext, catalog_path: Path | None) -> None:
    """Exit 1 when the cluster's ACLs drift from the catalog's grants."""
    plan = _plan(ctx, catalog_path)[1]
    _show(plan)
    if not plan.in_sync:
        raise click.exceptions.Exit(1)


@acls.command("verify")
@catalog_option
@click.option("--json", "as_json", is_flag=True, help="The matrix as JSON.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write report.json there (evidence for the scorecard; default <state dir>/reports/acls-verify).")
@pass_context
def verify_cmd(ctx: CliContext, catalog_path: Path | None, as_json: bool, report_dir: Path | None) -> None:
    """Probe every topic as every principal with real clients: unlisted ones must be refused
    reading and writing, listed ones allowed. Exits 1 on any surprise."""
    from callstream.governance.verify import verify_catalog

    catalog = load_catalog(catalog_path)
    result = verify_catalog(ctx.settings, catalog)
    report = report_dir or Path(ctx.settings.state_dir) / "reports" / "acls-verify"
    result.write(report)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=1))
    else:
        Console().print(result.table())
        click.echo(result.summary())
        click.echo(f"report: {report / 'report.json'}")
    if not result.passed:
        raise click.exceptions.Exit(1)
