"""``callstream kafka start|stop|status|client-config``: the local Apache Kafka broker."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from callstream.cli import CliContext, pass_context
from callstream.contract.catalog import load_catalog
from callstream.errors import KafkaOperationError
from callstream.governance.acls import grant_catalog
from callstream.local import broker
from callstream.local.credentials import write_client_properties
from callstream.local.librdkafka import tool_library_dir


@click.group()
def kafka() -> None:
    """Start, stop and inspect the local Apache Kafka (KRaft) broker."""


@kafka.command()
@click.option("--brokers", type=click.Choice(["1", "3"]), default="1", show_default=True, help="1 combined node, or a 3-voter KRaft quorum.")
@click.option("--port-base", type=click.IntRange(1024, 65000), default=broker.DEFAULT_PORT_BASE, show_default=True, help="First port; node i listens on base+2(i-1) (clients) and base+2(i-1)+1 (controller).")
@click.option("--timeout", type=click.FloatRange(5, 600), default=90, show_default=True, help="Seconds to wait for readiness.")
@click.option("--insecure", is_flag=True, help="Plaintext, no authentication, no ACLs: anyone on this machine may read and change everything.")
@click.option("--tls", is_flag=True, help="Encrypt client connections (SASL_SSL) with a certificate from a local CA that clients verify.")
@pass_context
def start(ctx: CliContext, brokers: str, port_base: int, timeout: float, insecure: bool, tls: bool) -> None:
    """Start the local broker (idempotent: a running one is reported, not duplicated).

    By default clients authenticate (SASL/SCRAM-SHA-512) and the catalog's ACLs decide what
    each callstream service may do; passwords stay in an owner-only file in the state dir."""
    cluster, started = broker.start(ctx.settings.state_dir, int(brokers), port_base=port_base, timeout_s=timeout,
                                    security="insecure" if insecure else "sasl", tls=tls,
                                    version=ctx.settings.kafka.local_kafka_version)
    verb = "started" if started else "already running"
    click.echo(f"local Kafka {cluster.version} {verb}: {len(cluster.nodes)} broker(s) at {cluster.bootstrap_servers}")
    if cluster.secured:
        plan = grant_catalog(cluster.client_config(), load_catalog(), state_dir=cluster.state_dir)
        click.echo(f"  {cluster.security_summary()}; ACLs from the catalog: {len(plan.missing)} added, {plan.kept} kept")
    else:
        click.echo(f"  {cluster.security_summary()}")
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
        info = broker.describe(ctx.client_config())
    except Exception as exc:  # the admin client raises KafkaException when nothing answers
        if isinstance(exc, KafkaOperationError) or "KafkaException" in type(exc).__name__ or "Timeout" in type(exc).__name__:
            raise KafkaOperationError(f"the cluster did not answer: {exc}", "is it running? try `callstream kafka start`") from None
        raise
    info["version"] = cluster.version if cluster else "unknown (external cluster)"
    info["security"] = cluster.security_summary() if cluster else f"as configured ({settings.kafka.security_protocol})"
    if cluster:
        info["local_nodes"] = [{"node_id": n.node_id, "pid": n.pid, "alive": n.is_alive(), "address": n.address} for n in cluster.nodes]
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    console = Console()
    console.print(f"cluster {info['cluster_id']}  Kafka {info['version']}  controller node {info['controller']}")
    console.print(info["security"], soft_wrap=True)
    table = Table("broker", "pid", "alive")
    pids = {f"{n['node_id']}@{n['address']}": n for n in info.get("local_nodes", [])}
    for address in info["brokers"]:
        node = pids.get(address, {})
        table.add_row(address, str(node.get("pid", "-")), str(node.get("alive", "-")))
    console.print(table)
    console.print(f"{len(info['topics'])} topic(s): " + (", ".join(info["topics"]) or "none"))


@kafka.command("client-config")
@click.argument("principal")
@click.option("--output", "output_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for PRINCIPAL.librdkafka.properties (kcat -F) and PRINCIPAL.java.properties (Kafka's tools).")
@pass_context
def client_config_cmd(ctx: CliContext, principal: str, output_dir: Path) -> None:
    """Write one principal's client settings for third-party tools (files readable by their owner only)."""
    conf = ctx.client_config(principal)
    written = write_client_properties(conf, principal, output_dir)
    for path in written:
        click.echo(f"wrote {path}")
    library_dir = tool_library_dir()
    if library_dir is not None and "sasl.mechanism" in conf:
        click.echo(f"kcat: LD_LIBRARY_PATH={library_dir} kcat -F {written[0]} -L   (a librdkafka older than "
                   "2.6.1, such as Debian's 2.0.2, fails SCRAM against Kafka 4.x; this one is callstream's own)")
