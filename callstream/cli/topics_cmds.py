"""``callstream topics apply|check``: the topic catalog against a cluster."""

from __future__ import annotations

from pathlib import Path

import click
from confluent_kafka.admin import AdminClient

from callstream.cli import CliContext, pass_context
from callstream.contract.catalog import Catalog, Environment, load_catalog
from callstream.kafka import topics as topic_admin

catalog_option = click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False, path_type=Path), help="Catalog file (default ./catalog/topics.yaml if present, else the one that ships with callstream).")
environment_option = click.option("--environment", help="Catalog environment (default: chosen from the cluster's broker count).")


def _target(ctx: CliContext, catalog_path: Path | None, environment: str | None) -> tuple[dict, Catalog, str, Environment]:
    catalog = load_catalog(catalog_path)
    conf = ctx.client_config()
    if environment:
        env = catalog.environment(environment)
    else:
        environment, env = catalog.environment_for_brokers(topic_admin.broker_count(AdminClient(conf)))
    return conf, catalog, environment, env


@click.group()
def topics() -> None:
    """Validate the topic catalog and make a cluster match it."""


@topics.command()
@catalog_option
@environment_option
@pass_context
def apply(ctx: CliContext, catalog_path: Path | None, environment: str | None) -> None:
    """Create missing topics and alter drifted configs (idempotent); print what changed."""
    conf, catalog, env_name, env = _target(ctx, catalog_path, environment)
    changes = topic_admin.apply(conf, catalog, env)
    fixed = [c for c in changes if c.fixable]
    click.echo(f"catalog {catalog.source} ({len(catalog.topics)} topics, environment {env_name}): {len(fixed)} change(s) applied")
    for change in changes:
        click.echo(f"  {'applied ' if change.fixable else 'NOT FIXED'} {change}")


@topics.command()
@catalog_option
@environment_option
@click.option("--offline", is_flag=True, help="Only validate the catalog file; do not contact a cluster.")
@pass_context
def check(ctx: CliContext, catalog_path: Path | None, environment: str | None, offline: bool) -> None:
    """Validate the catalog and report drift against the cluster without changing it.

    Exits 1 when the cluster drifts from the catalog.
    """
    if offline:
        catalog = load_catalog(catalog_path)
        click.echo(f"catalog {catalog.source} is valid: {len(catalog.topics)} topics")
        return
    conf, catalog, env_name, env = _target(ctx, catalog_path, environment)
    changes = topic_admin.plan(conf, catalog, env)
    if not changes:
        click.echo(f"catalog {catalog.source} is valid and the cluster matches it ({len(catalog.topics)} topics, environment {env_name})")
        return
    click.echo(f"catalog {catalog.source} is valid; the cluster drifts from it in {len(changes)} place(s):")
    for change in changes:
        click.echo(f"  {change}")
    click.get_current_context().exit(1)
