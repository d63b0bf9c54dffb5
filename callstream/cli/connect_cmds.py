"""``callstream connect start|put|status|stop``: a Kafka Connect worker beside the platform."""

from __future__ import annotations

import json
from pathlib import Path

import click

from callstream.cli import CliContext, pass_context, stop_command
from callstream.errors import ConfigError
from callstream.governance.acls import CONNECT_SERVICE
from callstream.local.connect import CONNECT_VERSION, ConnectWorker


@click.group()
def connect() -> None:
    """Run Apache Kafka Connect (distributed mode) as the catalog's `connect` principal."""


@connect.command()
@click.option("--rest-port", type=click.IntRange(1024, 65535), help="Port of its REST API on 127.0.0.1 (default: a free one).")
@click.option("--replication", type=click.IntRange(1, 5), default=1, show_default=True, help="Replication of its config, offset and status topics.")
@click.option("--timeout", type=click.FloatRange(10, 600), default=120, show_default=True, help="Seconds to wait for its REST API.")
@pass_context
def start(ctx: CliContext, rest_port: int | None, replication: int, timeout: float) -> None:
    """Start the worker (idempotent: a running one is reported, not duplicated)."""
    worker = ConnectWorker(ctx.settings.state_dir)
    state, started = worker.start(ctx.client_config(CONNECT_SERVICE), replication=replication, rest_port=rest_port,
                                  timeout_s=timeout)
    click.echo(f"Kafka Connect {CONNECT_VERSION} {'started' if started else 'already running'} (pid {state.pid}), "
               f"REST API {state.url}, principal {CONNECT_SERVICE}")
    click.echo(f"  log: {worker.log_path}")


def _read_config(path: Path) -> dict[str, str]:
    """A connector's settings from a ``.json`` object or a ``.properties`` file."""
    text = path.read_text()
    if path.suffix == ".json":
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc})", "give a JSON object of connector settings") from None
        if not isinstance(document, dict):
            raise ConfigError(f"{path} holds no JSON object", "give a JSON object of connector settings")
        return {str(k): str(v) for k, v in document.get("config", document).items()}
    config: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number} is not `key=value`: {line!r}", "one setting per line, as key=value")
        config[key.strip()] = value.strip()
    return config


@connect.command()
@click.argument("name")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The connector's settings: a .properties or .json file (connector.class, topics, ...).")
@pass_context
def put(ctx: CliContext, name: str, config_path: Path) -> None:
    """Create or update connector NAME (a sink's group becomes callstream-connect-NAME)."""
    config = _read_config(config_path)
    if "connector.class" not in config:
        raise ConfigError(f"{config_path} has no connector.class", "name the connector's class, e.g. "
                          "org.apache.kafka.connect.file.FileStreamSinkConnector")
    ConnectWorker(ctx.settings.state_dir).put_connector(name, config)
    click.echo(f"connector {name} submitted; `callstream connect status` shows its tasks")


@connect.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def status(ctx: CliContext, as_json: bool) -> None:
    """The worker and every connector's state."""
    worker = ConnectWorker(ctx.settings.state_dir)
    state = worker.state()
    connectors = worker.connector_states() if state else {}
    if as_json:
        click.echo(json.dumps({"running": state is not None, "pid": state.pid if state else None,
                               "rest": state.url if state else None, "connectors": connectors}, indent=2))
        return
    if state is None:
        click.echo("no Kafka Connect worker runs for this state dir (`callstream connect start`)")
        return
    click.echo(f"Kafka Connect {CONNECT_VERSION} pid {state.pid}, REST API {state.url}")
    for name, info in sorted(connectors.items()):
        click.echo(f"  {name}: {info['state']}, tasks {', '.join(info['tasks']) or 'none'}")


connect.add_command(stop_command(ConnectWorker, "Stop the worker by its PID."))
