"""``callstream archive ...`` and ``callstream replay ...``: history in object storage."""

from __future__ import annotations

import datetime as dt
import json

import click
from rich.console import Console
from rich.table import Table

from callstream.archive.archiver import archive_topics
from callstream.archive.maintainer import MaintenanceRound, maintain
from callstream.archive.maintenance import apply_retention, compact, retention_days_by_topic
from callstream.archive.query import query
from callstream.archive.replay import CallTimeline, ReplayScope, call_timeline, redrive_window, rewind_group
from callstream.archive.tables import Archive
from callstream.cli import CliContext, pass_context
from callstream.contract.catalog import load_catalog
from callstream.errors import ConfigError, KafkaOperationError
from callstream.governance.audit import operator
from callstream.governance.protection import keystore_session, reveal_timeline
from callstream.kafka.config import static_member_id
from callstream.local.pids import stop_on_signals


def parse_time(value: str, option: str) -> int:
    """Epoch milliseconds from ``1735732800000`` or an ISO-8601 time (UTC unless it says)."""
    if value.isdigit():
        return int(value)
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} {value!r} is not a time", "use epoch milliseconds or ISO-8601, e.g. 2026-11-25T09:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def open_archive(ctx: CliContext) -> Archive:
    return Archive.open(ctx.settings.archive_settings())


@click.group()
def archive() -> None:
    """Archive every catalog topic to Iceberg tables and query or maintain them."""


@archive.command("run")
@click.option("--flush-rows", type=click.IntRange(1), help="Rows per table commit (default from settings).")
@click.option("--flush-age", "flush_age_s", type=click.FloatRange(0.5), help="Seconds before a partial batch is committed (freshness).")
@pass_context
def archive_run(ctx: CliContext, flush_rows: int | None, flush_age_s: float | None) -> None:
    """Run the exactly-once archiver (consumer group callstream-archiver) until Ctrl-C."""
    overrides = {k: v for k, v in {"flush_max_rows": flush_rows, "flush_max_age_s": flush_age_s}.items() if v is not None}
    settings = ctx.settings.archive_settings(**overrides)
    topics = [t.name for t in load_catalog().topics]
    click.echo(f"archiving {len(topics)} topics into {settings.warehouse}; Ctrl-C stops after a final commit")
    stats = archive_topics(settings, ctx.client_config("archiver"), topics, instance_id=static_member_id("archiver"))
    click.echo(f"archived {stats.archived:,} of {stats.consumed:,} consumed events")


@archive.command("query")
@click.argument("sql")
@click.option("--json", "as_json", is_flag=True, help="Rows as JSON lines.")
@pass_context
def archive_query(ctx: CliContext, sql: str, as_json: bool) -> None:
    """Run SQL (DuckDB) over the archive; tables are named like topics with '_' for '.'."""
    result = query(open_archive(ctx), sql)
    rows = result.to_pylist()
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
        return
    table = Table(*result.column_names)
    for row in rows[:200]:
        table.add_row(*(str(v) for v in row.values()))
    Console().print(table)
    if len(rows) > 200:
        click.echo(f"({len(rows)} rows; first 200 shown, use --json for all)")


@archive.command("compact")
@click.option("--topic", "topics", multiple=True, help="Only these topics (default all).")
@pass_context
def archive_compact(ctx: CliContext, topics: tuple[str, ...]) -> None:
    """Rewrite small files into larger ones and expire old snapshots."""
    for result in compact(open_archive(ctx), list(topics) or None):
        click.echo(f"{result.topic}: {result.files_before} -> {result.files_after} files, {result.rows_after:,} rows, {result.files_purged} purged")


@archive.command("retention")
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@pass_context
def archive_retention(ctx: CliContext, dry_run: bool) -> None:
    """Delete archived rows older than their classification's retention (the topic catalog)."""
    catalog = load_catalog()
    results = apply_retention(open_archive(ctx), retention_days_by_topic(catalog), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for r in results:
        click.echo(f"{r.topic} ({r.classification}, {r.retention_days} d, before {r.cutoff}): {verb} {r.rows_removed:,} rows, {r.files_removed} files, {r.bytes_removed:,} bytes")
    kept = {r.classification for r in results}
    for name, policy in sorted(catalog.classifications.items()):  # who answers for each period kept
        if name in kept:
            click.echo(f"{name} retention ({policy.archive_retention_days} d): {policy.owners_line()}")


@archive.command("maintain")
@click.option("--every", "every_s", type=click.FloatRange(1), help="Seconds between rounds (default archive.maintenance_every_s, 900).")
@click.option("--once", is_flag=True, help="One round, then exit (for a scheduler).")
@pass_context
def archive_maintain(ctx: CliContext, every_s: float | None, once: bool) -> None:
    """Retention, then compaction, now and every interval until Ctrl-C (`up` runs this itself)."""
    settings = ctx.settings.archive_settings()

    def report(result: MaintenanceRound) -> None:
        s = result.summary()
        click.echo(f"{s['rows_past_retention_removed']:,} rows past retention removed; {s['tables_compacted']} tables "
                   f"compacted, {s['files_before']} -> {s['files_after']} files, {s['files_purged']} purged "
                   f"({s['seconds']} s)")

    maintain(settings, stop_on_signals(), every_s=every_s or settings.maintenance_every_s, first_now=True, once=once,
             on_round=report)


@archive.command("spark-conf")
@pass_context
def archive_spark_conf(ctx: CliContext) -> None:
    """Arguments for spark-submit / pyspark that read the archive's Iceberg tables in place
    (tables are callstream.<namespace>.<table>; jars are fetched from Maven Central once)."""
    from callstream.archive.engines import spark_conf, spark_jars

    settings = ctx.settings.archive_settings()
    conf = spark_conf(settings)
    click.echo(f"--jars {','.join(str(j) for j in spark_jars(settings))} \\")
    click.echo(" \\\n".join(f"  --conf {k}={v}" for k, v in conf.items()))
    if settings.is_s3:
        click.echo("# S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in Spark's environment", err=True)


@click.group()
def replay() -> None:
    """Replay one call, re-drive a window of history, or rewind a consumer group."""


@replay.command("call")
@click.argument("contact_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--raw", "include_raw", is_flag=True, help="Include the restricted raw transcript (needs access to it).")
@click.option("--no-linked", is_flag=True, help="Do not follow transfers to linked contacts.")
@pass_context
def replay_call(ctx: CliContext, contact_id: str, as_json: bool, include_raw: bool, no_linked: bool) -> None:
    """The full timeline of one call across every event type: archive plus the Kafka tail.

    With no reachable cluster the archived timeline is still shown, with a note on stderr
    that Kafka's hot tail (the newest events, not archived yet) was not read."""
    archive, scope = open_archive(ctx), ReplayScope.from_catalog(load_catalog())

    def timeline_with(kafka_conf: dict[str, str] | None) -> CallTimeline:
        return call_timeline(archive, contact_id, kafka_conf=kafka_conf, scope=scope,
                             include_linked=not no_linked, include_raw=include_raw)

    try:
        # restricted data is read by the privileged replay principal only
        timeline = timeline_with(ctx.client_config("replay-privileged" if include_raw else "replay"))
    except (ConfigError, KafkaOperationError) as exc:
        click.echo(f"callstream: note: Kafka's hot tail was not read ({exc.message}); the archive alone follows",
                   err=True)
        timeline = timeline_with(None)
    if include_raw:
        timeline = _reveal(ctx, timeline)
    if as_json:
        click.echo(timeline.to_json().decode())
    else:
        Console().print(timeline.to_rich())


def _reveal(ctx: CliContext, timeline: CallTimeline) -> CallTimeline:
    with keystore_session(ctx.settings, "replay-privileged") as protection:
        return reveal_timeline(protection, timeline, operator("replay-privileged"))


@replay.command("window")
@click.option("--from", "from_", required=True, help="Start (epoch ms or ISO-8601).")
@click.option("--to", "to", required=True, help="End (epoch ms or ISO-8601).")
@click.option("--topics", help="Comma-separated source topics (default: all non-restricted).")
@click.option("--into", "into_topic", required=True, help="Topic to re-drive the events into.")
@click.option("--rate", type=click.FloatRange(min=1), help="Events per second at most.")
@pass_context
def replay_window(ctx: CliContext, from_: str, to: str, topics: str | None, into_topic: str, rate: float | None) -> None:
    """Re-drive archived events of a time window into a topic, rate-limited, with progress."""
    start, end = parse_time(from_, "--from"), parse_time(to, "--to")
    if end <= start:
        raise ConfigError(f"--to ({to}) must be after --from ({from_})")
    report = redrive_window(
        open_archive(ctx), ctx.client_config("replay"), from_ms=start, to_ms=end, into_topic=into_topic,
        topics=topics.split(",") if topics else None, rate_per_s=rate, scope=ReplayScope.from_catalog(load_catalog()),
    )
    click.echo(f"re-drove {report.events:,} events into {report.into_topic} in {report.seconds:.1f}s: {report.per_topic}")


@replay.command("rewind")
@click.option("--group", required=True, help="Consumer group to move.")
@click.option("--to", "to", required=True, help="Time to rewind to (epoch ms or ISO-8601).")
@click.option("--dry-run", is_flag=True)
@pass_context
def replay_rewind(ctx: CliContext, group: str, to: str, dry_run: bool) -> None:
    """Move a consumer group's offsets to a point in time (refused while it has members)."""
    moves = rewind_group(ctx.client_config(), group, parse_time(to, "--to"), dry_run=dry_run)
    for move in moves:
        click.echo(str(move))
    click.echo(f"{'would move' if dry_run else 'moved'} {len(moves)} partition(s) of {group}")
