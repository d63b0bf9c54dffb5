"""``callstream kafka start|stop|status``: the local Apache Kafka broker."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from callstream.cli import CliContext, pass_context
from callstream.errors import KafkaOperationError
from callstream.local import broker


@click.group()
def kafka() -> None:
    """Start, stop and inspect the local Apache Kafka (KRaft) broker."""


@kafka.command()
@click.option("--brokers", type=click.Choice(["1", "3"]), default="1", show_default=True, help="1 combined node, or a 3-voter KRaft quorum.")
@click.option("--port-base", type=click.IntRange(1024, 65000), default=broker.DEFAULT_PORT_BASE, show_default=True, help="First port; node i listens on base+2(i-1) (clients) and base+2(i-1)+1 (controller).")
@click.option("--timeout", type=click.FloatRange(5, 600), default=90, show_default=True, help="Seconds to wait for readiness.")
@pass_context
def start(ctx: CliContext, brokers: str, port_base: int, timeout: float) -> None:
    """Start the local broker (idempotent: a running one is reported, not duplicated)."""
    cluster, started = broker.start(ctx.settings.state_dir, int(brokers), port_base=port_base, timeout_s=timeout)
    verb = "started" if started else "already running"
    click.echo(f"local Kafka {broker.KAFKA_VERSION} {verb}: {len(cluster.nodes)} broker(s) at {cluster.bootstrap_servers}")
    click.echo(f"  data and logs: {cluster.home}")


@kafka.command()
@click.option("--fresh", is_flag=True, help="Also delete the broker data (topics and offsets).")
@pass_context
def stop(ctx: CliContext, fresh: bool) -> None:
    """Stop the local broker by PID and wait for it to exit."""
    pids = broker.stop(ctx.settings.state_dir, fresh=fresh)
    click.echo(f"stopped local Kafka (pids {', '.join(map(str, pids))})" if pids else "local Kafka was not running")


@kafka.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@pass_context
def status(ctx: CliContext, as_json: bool) -> None:
    """Brokers, controller, Kafka version and topics of the configured cluster."""
    settings = ctx.settings
    cluster = broker.LocalCluster.load(settings.state_dir) if settings.kafka.is_local else None
    try:
        info = broker.describe(ctx.client_config()["bootstrap.servers"])
    except Exception as exc:  # the admin client raises KafkaException when nothing answers
        if isinstance(exc, KafkaOperationError) or "KafkaException" in type(exc).__name__ or "Timeout" in type(exc).__name__:
            raise KafkaOperationError(f"the cluster did not answer: {exc}", "is it running? try `callstream kafka start`") from None
        raise
    info["version"] = broker.KAFKA_VERSION if cluster else "unknown (external cluster)"
    if cluster:
        info["local_nodes"] = [{"node_id": n.node_id, "pid": n.pid, "alive": n.is_alive(), "address": n.address} for n in cluster.nodes]
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    console = Console()
    console.print(f"cluster {info['cluster_id']}  Kafka {info['version']}  controller node {info['controller']}")
    table = Table("broker", "pid", "alive")
    pids = {f"{n['node_id']}@{n['address']}": n for n in info.get("local_nodes", [])}
    for address in info["brokers"]:
        node = pids.get(address, {})
        table.add_row(address, str(node.get("pid", "-")), str(node.get("alive", "-")))
    console.print(table)
    console.print(f"{len(info['topics'])} topic(s): " + (", ".join(info["topics"]) or "none"))
