"""``callstream migrate``: move the platform to another cluster, and back, exactly.

    callstream migrate plan --to b        what moves, and what would stop it
    callstream migrate start --to b       create the target's topics, replicate in the background
    callstream migrate status             replication lag, and every group's position on both sides
    callstream migrate cutover            the staged switch to the target (rollback armed)
    callstream migrate rollback           the same switch back to the source
    callstream migrate verify             receipts: both sides hold the same records
    callstream migrate finish             stop replicating; the source is retired (its fences stay)
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from callstream.cli import CliContext, pass_context
from callstream.contract.catalog import load_catalog
from callstream.errors import MigrationError
from callstream.governance.audit import operator
from callstream.governance.protection import open_audit
from callstream.migrate.cutover import DRAIN_TIMEOUT_S, Clients, SwitchOptions, SwitchReport, platform_of, switch
from callstream.migrate.handover import Handover, PlatformClients
from callstream.migrate.links import CURRENT, Link, open_link
from callstream.migrate.plan import (
    STATE_PREFIXES,
    MigrationPlan,
    group_positions,
    make_plan,
    prepare_target,
    target_transaction_problems,
)
from callstream.migrate.positions import translate_positions
from callstream.migrate.receipts import compare, watermarks
from callstream.migrate.replicator import Replicator, backlog, committed_positions, read_offset_map
from callstream.migrate.service import ReplicationProcesses
from callstream.migrate.state import MigrationState, migration_dir
from callstream.settings import Settings, child_process_environment


@click.group()
def migrate() -> None:
    """Move the platform to another Kafka cluster with exact consumer positions, cutover and rollback."""


def _plan(ctx: CliContext, source: str, target: str, topics: tuple[str, ...], *,
          check_target: bool = False) -> tuple[Link, Link, MigrationPlan]:
    """The migration's plan; ``check_target`` (`plan` and `start`, once per migration, not for
    every command that needs the topic list) also runs compat's transaction probes on it."""
    source_link, target_link = open_link(ctx.settings, source), open_link(ctx.settings, target)
    migration = make_plan(source_link, target_link, load_catalog(ctx.settings.deployment.catalog), list(topics) or None)
    if check_target and source_link.cluster_id != target_link.cluster_id:
        migration.problems += target_transaction_problems(target_link)
    return source_link, target_link, migration


def _replication(settings: Settings, topics: list[str]) -> ReplicationProcesses:
    return ReplicationProcesses(settings.state_dir, child_process_environment(settings), topics)


def _topic_names(ctx: CliContext, state: MigrationState) -> list[str]:
    """The replicated topics: the state's, or the platform's as they exist on the active cluster."""
    if state.topics:
        return state.topics
    _, _, plan = _plan(ctx, state.active, state.standby, ())
    return [t.name for t in plan.topics]


@migrate.command()
@click.option("--to", "target", required=True, help="The cluster to move to (a name under clusters: in the settings).")
@click.option("--from", "source", default=CURRENT, show_default=True, help="The cluster to move from.")
@click.option("--topic", "topics", multiple=True, help="Move only these topics (default: the catalog's and the processors' state).")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def plan(ctx: CliContext, target: str, source: str, topics: tuple[str, ...], as_json: bool) -> None:
    """Show what would move, in order, and refuse what cannot work."""
    _, _, migration = _plan(ctx, source, target, topics, check_target=True)
    if as_json:
        click.echo(json.dumps(migration.to_json()))
    else:
        console = Console()
        table = Table(title=f"{source} ({migration.source_cluster}) -> {target} ({migration.target_cluster})")
        for column in ("topic", "partitions", "configs", "on the target"):
            table.add_column(column, overflow="fold")
        for t in migration.topics:
            table.add_row(t.name, str(t.partitions), ", ".join(f"{k}={v}" for k, v in sorted(t.configs.items())), t.action)
        console.print(table)
        console.print(f"{len(migration.groups)} consumer groups move with exact positions: {', '.join(sorted(migration.groups)) or 'none yet'}")
        console.print(f"fenced at cutover: {', '.join(migration.fenced_principals)}", soft_wrap=True)
        for problem in migration.problems:
            console.print(f"[red]cannot migrate:[/] {problem}", soft_wrap=True)
    if migration.problems:
        click.get_current_context().exit(1)


@migrate.command()
@click.option("--to", "target", required=True, help="The cluster to move to (a name under clusters: in the settings).")
@click.option("--from", "source", default=CURRENT, show_default=True)
@click.option("--topic", "topics", multiple=True, help="Replicate only these topics.")
@click.option("--foreground", is_flag=True, help="Replicate in this process until Ctrl-C (default: a background process).")
@pass_context
def start(ctx: CliContext, target: str, source: str, topics: tuple[str, ...], foreground: bool) -> None:
    """Create the target's topics and start replicating (resumable: a restart continues exactly)."""
    source_link, target_link, migration = _plan(ctx, source, target, topics, check_target=True)
    migration.refuse_if_impossible()
    created = prepare_target(migration, target_link)
    existing = MigrationState.load_if_any(ctx.settings.state_dir)
    if existing is not None and existing.phase != "finished" and {existing.source, existing.target} != {source, target}:
        raise MigrationError(f"a migration from '{existing.source}' to '{existing.target}' is in progress",
                             "finish it (`callstream migrate finish`) before starting another")
    state = existing if existing is not None and existing.phase != "finished" else MigrationState(source, target, active=source)
    state.topics = list(topics)
    state.save(ctx.settings.state_dir)
    click.echo(f"created {len(created)} topic(s) on '{target}'; replicating {len(migration.topics)} topics "
               f"'{source}' -> '{target}'")
    if foreground:
        from callstream.local.pids import stop_on_signals

        stop = stop_on_signals()  # Ctrl-C too ends at a batch's end, its transaction done
        replicator = Replicator(source_link, target_link, [t.name for t in migration.topics])
        try:
            replicator.run(stop)
        finally:
            replicator.close()
        click.echo(f"copied {replicator.stats.copied:,} records in {replicator.stats.transactions:,} transactions")
        return
    replication = _replication(ctx.settings, list(topics))
    replication.start(source_link, target_link)
    running = replication.running()
    click.echo(f"replicator running (pid {running['pid'] if running else '?'}); "
               f"log {running['log'] if running else '?'}; `callstream migrate status` shows the lag")


@migrate.command()
@click.option("--json", "as_json", is_flag=True)
@pass_context
def status(ctx: CliContext, as_json: bool) -> None:
    """Replication lag per partition (records and seconds) and every group's position on both sides."""
    state = MigrationState.load(ctx.settings.state_dir)
    source, target = open_link(ctx.settings, state.active), open_link(ctx.settings, state.standby)
    topics = _topic_names(ctx, state)
    metadata = source.admin().list_topics(timeout=10)
    partitions = [(t, p) for t in topics if t in metadata.topics for p in sorted(metadata.topics[t].partitions)]
    positions = committed_positions(source, target, partitions)
    ends = watermarks(source, partitions)
    behind = {tp: positions[tp] for tp in partitions if ends[tp][1] > positions[tp]}
    waiting = backlog(source, behind) if behind else {}
    now_ms = time.time() * 1000
    lag = {f"{t}/{p}": {"records": waiting[(t, p)].records,
                        "seconds": round((now_ms - (waiting[(t, p)].first_timestamp_ms or now_ms)) / 1000, 1)}
           for t, p in behind if waiting[(t, p)].records}
    groups = group_positions(source.config, set(topics))
    translated = translate_positions(groups, read_offset_map(target, source.cluster_id), target)
    running = _replication(ctx.settings, state.topics).running()
    both = {g: {k: {"source": groups[g][k], "target": translated[g][k]} for k in groups[g]} for g in groups}
    lag_records = sum(int(v["records"]) for v in lag.values())
    report = {"phase": state.phase, "active": state.active, "replicating": f"{state.active} -> {state.standby}",
              "replicator": running, "lag": lag, "lag_records": lag_records, "groups": both}
    if as_json:
        click.echo(json.dumps(report))
        return
    console = Console()
    console.print(f"phase {state.phase}: clients on '{state.active}', replicating '{state.active}' -> '{state.standby}' "
                  f"({'pid ' + str(running['pid']) if running else '[red]no replicator running[/]'})")
    if lag:
        table = Table(title=f"replication lag: {lag_records:,} records")
        for column in ("partition", "records", "seconds"):
            table.add_column(column)
        for key, value in sorted(lag.items(), key=lambda kv: -kv[1]["records"])[:20]:
            table.add_row(key, f"{value['records']:,}", f"{value['seconds']:.1f}")
        console.print(table)
    else:
        console.print("replication caught up: nothing left to copy")
    table = Table(title="consumer groups: position on the source -> exact position on the target")
    for column in ("group", "partition", state.active, state.standby):
        table.add_column(column)
    for group, keys in sorted(both.items()):
        for key, pair in sorted(keys.items()):
            table.add_row(group, key, str(pair["source"]), str(pair["target"]))
    console.print(table)


class OperatorClients:
    """Clients the operator moves: this command says what to do and when (a `callstream up`
    running on the same state dir moves its own, ``PlatformClients``)."""

    def __init__(self, console: Console, options: SwitchOptions) -> None:
        self.console, self.options = console, options

    def prepare(self, cluster: Link) -> str | None:
        """Nothing: the operator starts the clients when told to."""
        return None

    def quiesce(self, cluster: Link) -> None:
        self.console.print(f"fencing the producers of '{cluster.name}': their writes are refused from now on")

    def stop(self, cluster: Link) -> None:
        self.console.print(f"[bold]stop every consumer of '{cluster.name}' now[/] (callstream's workers, the archiver, the "
                           f"dashboard, your own consumers); waiting up to {self.options.clients_timeout_s:.0f} s until their "
                           "groups are empty or their positions stop moving")

    def start(self, cluster: Link) -> None:
        self.console.print(f"[bold]start the clients on '{cluster.name}' now[/]: their groups' positions are set there; "
                           "point producers and consumers at its bootstrap servers (callstream components: set "
                           f"--bootstrap-servers or the kafka: section to the cluster '{cluster.name}')")


def _switch(ctx: CliContext, kind: str, given: dict[str, Any], as_json: bool) -> SwitchReport:
    """A cutover (clients on the source move to the target) or a rollback (back again)."""
    state = MigrationState.load(ctx.settings.state_dir)
    expected = state.source if kind == "cutover" else state.target
    if state.active != expected or state.phase == "finished":
        raise MigrationError(f"no {kind} to do: the clients are on '{state.active}' (phase {state.phase})",
                             "a cutover moves them to the target, a rollback back to the source, until "
                             "`callstream migrate finish`")
    console = Console(quiet=as_json)
    leaving, joining = open_link(ctx.settings, state.active), open_link(ctx.settings, state.standby)
    topics = _topic_names(ctx, state)
    platform = platform_of(topics, load_catalog(ctx.settings.deployment.catalog), leaving.principals, _archive(ctx.settings))
    handover = Handover(ctx.settings.state_dir)
    up_running = handover.platform_running()
    # `up`'s processes commit what they processed as they stop, so a drain would only hold
    # producers longer: 4.8-7.3 s more per switch in the rehearsal (NOTES.md, stop 67)
    drain_timeout_s = given.pop("drain_timeout_s")
    options = SwitchOptions(**given, drain_timeout_s=(0.0 if up_running else DRAIN_TIMEOUT_S)
                            if drain_timeout_s is None else drain_timeout_s)
    clients: Clients = (PlatformClients(handover, say=lambda line: console.print(line, soft_wrap=True))
                        if up_running else OperatorClients(console, options))
    report = switch(leaving, joining, platform, clients, _replication(ctx.settings, state.topics),
                    options, log=lambda line: console.print(f"  {line}", soft_wrap=True))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = migration_dir(ctx.settings.state_dir) / f"{kind}-{stamp}.json"
    path.write_text(json.dumps(report.to_json(), indent=1))
    state.active = joining.name
    state.phase = "cut-over" if kind == "cutover" else "rolled-back"
    state.switches.append(path.name)
    state.save(ctx.settings.state_dir)
    open_audit(ctx.settings).append(f"migration.{kind}", operator("admin"), {
        "from": leaving.name, "to": joining.name, "verified": report.verified, "report": str(path),
        "receipts": [{"topic": c.source.topic, "partition": c.source.partition, "count": c.source.count,
                      "digest": c.source.digest, "equal": c.equal} for c in report.receipts]})
    if as_json:
        click.echo(json.dumps(report.to_json()))
    else:
        table = Table(title=f"positions set on '{joining.name}' (each group resumes at the copy of its next record)")
        for column in ("group", "partition", "offset"):
            table.add_column(column)
        for group, positions in sorted(report.positions.items()):
            for key, offset in sorted(positions.items()):
                table.add_row(group, key, str(offset))
        console.print(table)
        console.print(f"{kind} '{leaving.name}' -> '{joining.name}' {'verified' if report.verified else '[red]NOT verified[/]'}: "
                      f"producers held {report.write_pause_s:.1f} s; report {path}; "
                      f"`callstream migrate rollback` returns to '{leaving.name}' exactly")
    if not report.verified:
        click.get_current_context().exit(1)
    return report


def _archive(settings: Settings) -> object | None:
    """The archive, when this deployment has one (its positions move with the switch)."""
    from callstream.archive.tables import Archive

    archive_settings = settings.archive_settings()
    if archive_settings.sqlite_catalog is not None and not archive_settings.sqlite_catalog.exists():
        return None
    return Archive.open(archive_settings)


def _switch_options(f):  # noqa: ANN001, ANN202 - a click decorator
    for option in reversed([
        click.option("--max-lag", type=click.IntRange(min=0), default=50_000, show_default=True,
                     help="Refuse while replication is more records behind than this."),
        click.option("--stable-seconds", "stable_s", type=click.FloatRange(min=0.5), default=3.0, show_default=True,
                     help="How long end offsets and positions must stand still."),
        click.option("--clients-timeout", "clients_timeout_s", type=click.FloatRange(min=1), default=300, show_default=True,
                     help="How long to wait for the leaving cluster's consumers to stop, and, before anything "
                          "pauses, for the joining cluster's groups to list no members."),
        click.option("--drain-timeout", "drain_timeout_s", type=click.FloatRange(min=0), default=None,
                     help="How long consumers may take to read what is left before they are asked to stop (0: no "
                          f"drain). Default: {DRAIN_TIMEOUT_S:.0f} s for consumers you stop yourself; none for a running "
                          "`callstream up`, whose processes commit what they processed as they stop."),
        click.option("--producers-stopped", is_flag=True,
                     help="The leaving cluster cannot fence (no authorizer): you stopped its producers yourself."),
        click.option("--json", "as_json", is_flag=True),
    ]):
        f = option(f)
    return f


@migrate.command()
@_switch_options
@pass_context
def cutover(ctx: CliContext, as_json: bool, **options: Any) -> None:
    """Switch the platform to the target, stage by stage, with a check before each; rollback armed."""
    _switch(ctx, "cutover", options, as_json)


@migrate.command()
@_switch_options
@pass_context
def rollback(ctx: CliContext, as_json: bool, **options: Any) -> None:
    """Switch the platform back to the source, as exactly as the cutover (until `finish`)."""
    _switch(ctx, "rollback", options, as_json)


@migrate.command()
@click.option("--json", "as_json", is_flag=True)
@pass_context
def verify(ctx: CliContext, as_json: bool) -> None:
    """Receipts per partition (record count and digest) on both sides of the running replication."""
    state = MigrationState.load(ctx.settings.state_dir)
    source, target = open_link(ctx.settings, state.active), open_link(ctx.settings, state.standby)
    topics = [t for t in _topic_names(ctx, state) if not t.startswith(STATE_PREFIXES)]  # state topics compact apart
    metadata = source.admin().list_topics(timeout=10)
    partitions = [(t, p) for t in topics if t in metadata.topics for p in sorted(metadata.topics[t].partitions)]
    comparisons = compare(source, target, read_offset_map(target, source.cluster_id), partitions)
    different = [c for c in comparisons if not c.equal]
    if as_json:
        click.echo(json.dumps({"equal": not different, "receipts": [c.to_json() for c in comparisons]}))
    else:
        console = Console()
        table = Table(title=f"receipts '{source.name}' -> '{target.name}': {len(comparisons) - len(different)}/{len(comparisons)} equal")
        for column in ("partition", f"{source.name} records", f"{target.name} records", "digest", "equal"):
            table.add_column(column)
        for c in comparisons:
            table.add_row(f"{c.source.topic}/{c.source.partition}", f"{c.source.count:,}", f"{c.target.count:,}",
                          c.source.digest[:16], "yes" if c.equal else "[red]no[/]")
        console.print(table)
        if different:
            console.print("partitions differ while replication runs behind; after a cutover's stable point they must not")
    if different:
        click.get_current_context().exit(1)


@migrate.command()
@pass_context
def finish(ctx: CliContext) -> None:
    """Stop replicating and retire the cluster the clients left (its fences stay)."""
    state = MigrationState.load(ctx.settings.state_dir)
    _replication(ctx.settings, state.topics).stop()
    state.phase = "finished"
    state.save(ctx.settings.state_dir)
    click.echo(f"migration finished: clients on '{state.active}'; '{state.standby}' no longer receives their writes")


@migrate.command()
@pass_context
def stop(ctx: CliContext) -> None:
    """Stop the background replicator (a later `migrate start` resumes exactly)."""
    state = MigrationState.load(ctx.settings.state_dir)
    _replication(ctx.settings, state.topics).stop()
    click.echo("replicator stopped")

