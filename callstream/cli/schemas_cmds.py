"""``callstream schemas export|check|register``: the event contract's JSON Schemas."""

from __future__ import annotations

from pathlib import Path

import click

from callstream.cli import CliContext, pass_context
from callstream.contract import schemas as contract_schemas
from callstream.contract.registry import SchemaRegistrySync
from callstream.errors import ConfigError, SchemaCompatibilityError
from callstream.local.registry import SchemaRegistryServer

directory_option = click.option("--directory", type=click.Path(file_okay=False, path_type=Path), default=contract_schemas.DEFAULT_DIRECTORY, show_default=True)


@click.group()
def schemas() -> None:
    """Export event schemas and check that changes stay compatible."""


@schemas.command()
@directory_option
def export(directory: Path) -> None:
    """Write every event type's JSON Schema; refuses an incompatible change."""
    written = contract_schemas.export_schemas(directory)
    click.echo(f"{len(written)} schema file(s) written under {directory}")
    for path in written:
        click.echo(f"  {path}")


@schemas.command()
@directory_option
def check(directory: Path) -> None:
    """Check the code's events against the stored schemas (backward and forward). Exits 1 on a problem."""
    problems = [str(v) for v in contract_schemas.check_compatibility(directory)] + contract_schemas.schema_drift(directory)
    for problem in problems:
        click.echo(problem)
    if problems:
        raise SchemaCompatibilityError(f"{len(problems)} schema problem(s) under {directory}", "see the lines above; run `callstream schemas export` for compatible changes")
    click.echo("ok: schemas compatible and up to date")


@schemas.command()
@pass_context
def register(ctx: CliContext) -> None:
    """Check and register every schema in the configured Confluent-compatible schema registry
    (or the state dir's own, from `callstream registry start`, when none is configured)."""
    local = SchemaRegistryServer(ctx.settings.state_dir).state()
    url = ctx.settings.kafka.schema_registry_url or (SchemaRegistryServer.api_url(local) if local else None)
    if not url:
        raise ConfigError("no schema registry is configured", "set CALLSTREAM_SCHEMA_REGISTRY_URL or schema_registry_url "
                          "in the config file, or run `callstream registry start` for a local one")
    result = SchemaRegistrySync(url).sync()
    click.echo(f"schema registry {url}: {result}")
