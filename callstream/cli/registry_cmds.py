"""``callstream registry start|stop``: a real schema registry (Apicurio, in memory) on loopback."""

from __future__ import annotations

import click

from callstream.cli import CliContext, pass_context, stop_command
from callstream.local.registry import APICURIO_VERSION, SchemaRegistryServer


@click.group()
def registry() -> None:
    """Run a Confluent-compatible schema registry (Apicurio Registry, in memory) for this state dir."""


@registry.command()
@click.option("--port", type=click.IntRange(1024, 65535), help="Its port on 127.0.0.1 (default: a free one).")
@click.option("--timeout", type=click.FloatRange(10, 600), default=90, show_default=True, help="Seconds to wait for it to answer.")
@pass_context
def start(ctx: CliContext, port: int | None, timeout: float) -> None:
    """Start the registry (idempotent); builds it with Maven the first time."""
    server = SchemaRegistryServer(ctx.settings.state_dir)
    state, started = server.start(port=port, timeout_s=timeout)
    click.echo(f"Apicurio Registry {APICURIO_VERSION} {'started' if started else 'already running'} (pid {state.pid}), "
               f"Confluent-compatible API {server.api_url(state)}")
    click.echo("  `callstream schemas register` uses it while no schema_registry_url is configured")
    click.echo(f"  log: {server.log_path}")


registry.add_command(stop_command(SchemaRegistryServer, "Stop the registry by its PID (it keeps its subjects in memory: they are gone)."))
