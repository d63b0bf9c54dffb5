"""``callstream erase`` and ``callstream audit``: erasure with a receipt, and the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from callstream.archive.tables import Archive
from callstream.cli import CliContext, pass_context
from callstream.errors import CallstreamError, ConfigError, KafkaOperationError
from callstream.governance import shipping
from callstream.governance.audit import AuditError, operator, read_head
from callstream.governance.erasure import erase as erase_subject
from callstream.governance.protection import keystore_session, open_audit
from callstream.observe.lag import OffsetReader

#: the archiver's consumer group, whose progress an erasure waits for
ARCHIVER_GROUP = "callstream-archiver"


@click.command()
@click.option("--customer", help="Erase this customer: every contact linked to them, everywhere.")
@click.option("--contact", help="Erase one contact (one leg of a call).")
@click.option("--archive-timeout", "archive_timeout_s", type=click.FloatRange(min=0), default=120, show_default=True,
              help="Seconds to wait for a running archiver to archive past the erasure point before purging.")
@click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON.")
@pass_context
def erase(ctx: CliContext, customer: str | None, contact: str | None, archive_timeout_s: float, as_json: bool) -> None:
    """Erase a customer or a contact: shred their keys, purge the archive, write a receipt.

    Exit code 3 when the subject is unknown (nothing is changed)."""
    if (customer is None) == (contact is None):
        raise click.UsageError("name exactly one subject to erase: --customer ID or --contact ID")
    archive = Archive.open(ctx.settings.archive_settings())
    with keystore_session(ctx.settings, "erasure") as protection:
        receipt = erase_subject(protection, archive, customer=customer, contact=contact,
                                end_offsets=_in_flight(ctx, archive), archive_timeout_s=archive_timeout_s)
    if as_json:
        click.echo(json.dumps(receipt.to_dict()))
        return
    what = f"customer {customer}" if customer else f"contact {contact}"
    if receipt.already_erased and not receipt.keys_shredded and not receipt.rows_purged:
        click.echo(f"{what} was already erased; nothing of theirs was left (receipt added to the audit log)")
        return
    rows = sum(receipt.rows_purged.values())
    click.echo(f"erased {what}: {receipt.contacts} contact(s), {receipt.keys_shredded} key(s) shredded, "
               f"{rows} archived row(s) purged from {len(receipt.rows_purged)} table(s), "
               f"{receipt.files_removed} file(s) removed, in {receipt.seconds:.1f} s; receipt in the audit log")


def _in_flight(ctx: CliContext, archive: Archive) -> dict[str, dict[int, int]] | None:
    """Kafka's end offsets of the archived topics when an archiver is running (its rows in
    flight must land before the purge); None when no archiver runs or Kafka is unreachable."""
    try:
        with OffsetReader(ctx.client_config()) as reader:
            state = reader.group_states([ARCHIVER_GROUP]).get(ARCHIVER_GROUP)
            if state is None or state[1] == 0:
                return None
            ends = reader.log_offsets(reader.partitions(archive.topics()))
    except (ConfigError, KafkaOperationError):
        return None
    out: dict[str, dict[int, int]] = {}
    for (topic, partition), (_, high) in ends.items():
        out.setdefault(topic, {})[partition] = high
    return out


@click.group()
def audit() -> None:
    """The tamper-evident audit log of restricted-data access and governance actions."""


@audit.command("verify")
@click.option("--trusted-head", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A signed head kept elsewhere (a line of heads.jsonl): also detects a cut that removed the newest heads.")
@click.option("--against-kafka", is_flag=True,
              help="Also verify the copy shipped to the audit topic, and check the local log against its newest head.")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def audit_verify(ctx: CliContext, trusted_head: Path | None, against_kafka: bool, as_json: bool) -> None:
    """Check the chain and the signed heads; name every edited, removed, reordered or
    out-of-band entry and a cut-off tail. Exit code 1 when anything is wrong."""
    log = open_audit(ctx.settings)
    pinned = read_head(trusted_head) if trusted_head else None
    shipped_problems: list[str] = []
    if against_kafka:
        conf = ctx.client_config(shipping.VERIFIER)
        copy = shipping.verify_records(log, conf)
        shipped_problems = [f"shipped copy: {p}" for p in copy.problems]
        newest = shipping.trusted_head(log, conf)
        if newest is not None and (pinned is None or newest.size > pinned.size):
            pinned = newest
    result = log.verify(pinned)
    result.problems += shipped_problems
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    elif result.ok:
        click.echo(f"audit log verified: {result.entries} entries, {result.heads} signed heads, "
                   f"{result.entries / max(result.seconds, 1e-9):,.0f} entries/s ({log.directory})")
    else:
        for problem in result.problems:
            click.echo(f"  {problem}")
    if not result.ok:
        reason = "; ".join(result.problems) or "the log is empty"
        raise AuditError(f"the audit log at {log.directory} does not verify: {reason}",
                         "restore the log from a copy you trust, and find out who changed it")


@audit.command("ship")
@pass_context
def audit_ship(ctx: CliContext) -> None:
    """Copy new entries and signed heads to the audit topic (the archiver keeps them)."""
    entries, heads = shipping.ship(open_audit(ctx.settings), ctx.client_config(shipping.SHIPPER))
    click.echo(f"shipped {entries} entries and {heads} signed heads to {shipping.AUDIT_TOPIC}")


@audit.command("show")
@click.option("--last", type=click.IntRange(min=1), default=20, show_default=True)
@pass_context
def audit_show(ctx: CliContext, last: int) -> None:
    """The newest entries."""
    entries = list(open_audit(ctx.settings).entries())[-last:]
    if not entries:
        raise CallstreamError("the audit log is empty", "audited actions (replay --raw, erase, acls apply) write to it")
    table = Table()
    for column in ("seq", "time (ms)", "kind", "actor", "detail"):
        table.add_column(column)
    for entry in entries:
        table.add_row(str(entry.seq), str(entry.time_ms), entry.kind, entry.actor, json.dumps(entry.detail)[:90])
    Console().print(table)


@click.group()
def keys() -> None:
    """The keystore of per-contact data keys and its key-encryption key."""


@keys.command("rotate")
@pass_context
def keys_rotate(ctx: CliContext) -> None:
    """Re-wrap every data key under a new key-encryption key and retire the old one."""
    with keystore_session(ctx.settings, "keys") as protection:
        version, rewrapped = protection.keystore.rotate_kek()
        protection.audit.append("keys.rotate", operator("admin"), {"kek_version": version, "data_keys_rewrapped": rewrapped})
    click.echo(f"key-encryption key rotated to version {version}: {rewrapped} data key(s) re-wrapped, "
               f"older versions retired; recorded in the audit log")


@keys.command("status")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def keys_status(ctx: CliContext, as_json: bool) -> None:
    """How many data keys, linked contacts and erased subjects the keystore holds."""
    with keystore_session(ctx.settings, "keys") as protection:
        figures = protection.keystore.status()
    if as_json:
        click.echo(json.dumps(figures))
    else:
        click.echo(", ".join(f"{name.replace('_', ' ')} {value}" for name, value in figures.items()))
