"""Keep the archive lean and lawful: compact small files, expire snapshots, enforce retention.

Every commit made here carries the table's current ``callstream.offsets`` forward, so the
newest snapshot always tells the archiver where to resume. Commits race the archiver by
compare-and-swap; a lost race is redone on the fresh table (see ``commit_with_retry``).
Expiring snapshots also deletes the files that only expired snapshots referenced: data
past retention is gone from storage, not just hidden from the current snapshot.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysTrue, LessThan
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFile, ManifestFile
from pyiceberg.table import Table

from callstream.archive.body import shred
from callstream.archive.datafiles import write_data_files
from callstream.archive.settings import DEFAULT_MAX_ROWS_PER_REWRITE
from callstream.archive.tables import (
    Archive,
    bodied_rows,
    commit_with_retry,
    recorded_positions,
)
from callstream.errors import ArchiveError

DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class CompactionResult:
    topic: str
    partitions_rewritten: int
    files_before: int
    files_after: int
    rows_before: int
    rows_after: int
    #: files deleted from storage after the old snapshots expired
    files_purged: int


@dataclass(frozen=True)
class RetentionResult:
    topic: str
    classification: str
    retention_days: int
    #: rows with an event date before this day are removed
    cutoff: dt.date
    rows_removed: int
    files_removed: int
    bytes_removed: int
    files_purged: int


def _current_files(table: Table) -> list:
    return list(table.scan().plan_files()) if table.current_snapshot() else []


def _partition_day(task) -> dt.date:
    # Identity partition on event_date: the partition value is days since the epoch.
    value = task.file.partition[0]
    return value if isinstance(value, dt.date) else dt.date(1970, 1, 1) + dt.timedelta(days=int(value))


def _rewrite_units(tasks: list, max_rows: int) -> list[list]:
    """A partition's small files in runs of at most ``max_rows`` rows, oldest first."""
    units: list[list] = [[]]
    rows = 0
    for task in sorted(tasks, key=lambda t: t.file.file_path):
        if units[-1] and rows + task.file.record_count > max_rows:
            units.append([])
            rows = 0
        units[-1].append(task)
        rows += task.file.record_count
    return units


def _in_archiver_layout(table: Table) -> Callable[[Any], bool]:
    """Whether a data file is as the archiver wrote it: events in it, none with a body.

    Told from the manifest's null counts (every event has ``produced_at_ms``). A file that
    compaction wrote with only rows whose payload had to stay (written by another producer
    in another JSON layout) looks the same and is rewritten, unchanged, on each run.
    """
    schema = table.schema()
    ids = {name: schema.find_field(name).field_id for name in ("event_type", "payload")}
    bodies = bodied_rows(table)

    def as_archived(task: Any) -> bool:
        rows, nulls = task.file.record_count, task.file.null_value_counts or {}
        has_events = nulls.get(ids["event_type"], 0) < rows and nulls.get(ids["payload"], 0) < rows
        return has_events and bodies(task.file) == 0

    return as_archived


class _FilesChanged(Exception):
    """Files a rewrite replaced left the table before it could swap them (an erasure,
    retention or another compaction): its rewrite is stale and must not be committed."""


@dataclass(frozen=True)
class Rewrite:
    """What ``rewrite_table`` swapped: the runs of files it replaced, the files out and in,
    and the table's file and row counts just before the swap."""

    runs: list[list]
    removed: list[DataFile]
    added: list[DataFile]
    files_before: int
    rows_before: int
    rows_dropped: int


def rewrite_runs(table: Table, runs: list[list], zstd_level: int,
                 without_contacts: frozenset[str] = frozenset()) -> list[tuple[list, list[DataFile], int]]:
    """Each run's rows (without those of ``without_contacts``) sorted and written in the cold
    layout: per run rewritten, the new files (not yet in the table) and the rows dropped. A
    run holding none of ``without_contacts`` is left out when there are some to drop."""
    metadata, counter, write_uuid = table.metadata, itertools.count(0), uuid.uuid4()
    rewritten: list[tuple[list, list[DataFile], int]] = []
    try:
        for run in runs:
            expected = sum(t.file.record_count for t in run)
            rows = _read_run(table, run, expected, without_contacts)
            kept = rows.num_rows
            if without_contacts and kept == expected:
                continue
            if not kept:  # every row of the run erased
                rewritten.append((run, [], expected))
                continue
            # written slice by slice as they are sorted: the run's rows as read and one
            # slice of its output are held at once
            files = write_data_files(metadata, _sorted_cold(rows), table.io, write_uuid=write_uuid, counter=counter,
                                     zstd_level=zstd_level, cold=True)
            rewritten.append((run, files, expected - kept))
    except BaseException:
        _delete_quietly(table, [f for _, files, _ in rewritten for f in files])
        raise
    return rewritten


def _read_run(table: Table, run: list, expected: int, without_contacts: frozenset[str]) -> pa.Table:
    """A run's rows (its files declare ``expected``), without those of ``without_contacts``,
    each column in one piece (the sort takes from it slice by slice) and the payload with
    64-bit offsets (a day's payloads pass 2 GiB, past what ``binary`` can take in one piece)."""
    metadata = table.metadata
    schema = metadata.schema()
    if not any(map(bodied_rows(table), (task.file for task in run))):
        # The scan fills a column its files lack with nulls: a body's 70 fields took 0.84 GB
        # for a 1.6M-row run as the archiver wrote it, only for shred to replace it (stop 49).
        schema = schema.select(*(f.name for f in schema.fields if f.name != "body"))
    rows = ArrowScan(table_metadata=metadata, io=table.io, projected_schema=schema, row_filter=AlwaysTrue()).to_table(run)
    if rows.num_rows != expected:
        raise ArchiveError(f"rewriting {table.name()} read {rows.num_rows} rows from files "
                           f"that declare {expected}", "the table's files may be damaged; nothing was changed")
    if without_contacts:
        erased = pc.fill_null(pc.is_in(rows["contact_id"], value_set=pa.array(sorted(without_contacts))), False)
        rows = rows.filter(pc.invert(erased))
    # A column at a time: each column's scanned chunks are freed as its one-piece copy is
    # made, where the whole table's combine_chunks held both copies of every column.
    for i, field in enumerate(rows.schema):
        if field.name == "payload":
            field = field.with_type(pa.large_binary())
        rows = rows.set_column(i, field, rows.column(i).cast(field.type).combine_chunks())
    return rows


#: rows taken into the cold layout and written at once: decoding an event makes Python
#: objects of its fields, and the output is held a slice at a time. Four of the archive's
#: default 32,768-row row groups: each slice is written as it comes, so a slice that is not
#: a multiple of a row group leaves a short one behind it.
SHRED_SLICE_ROWS = 4 * 32_768


def _sorted_cold(rows: pa.Table) -> Iterator[pa.Table]:
    """``rows`` (each column in one piece) sorted so one call's events sit together, in the
    cold layout (their events as typed columns, ADR 0012), a slice at a time."""
    order = pc.sort_indices(rows, sort_keys=[("contact_id", "ascending"), ("event_time_ms", "ascending"),
                                             ("kafka_partition", "ascending"), ("kafka_offset", "ascending")])
    for start in range(0, rows.num_rows, SHRED_SLICE_ROWS):
        yield shred(rows.take(order.slice(start, SHRED_SLICE_ROWS)))


def swap_files(table: Table, removed: list[DataFile], added: list[DataFile], what: str) -> tuple[int, int]:
    """Replace ``removed`` by ``added`` in one snapshot that carries the archiver's current
    offsets forward; the files and the row count before it."""
    tasks = _current_files(table)
    present = {t.file.file_path for t in tasks}
    if any(f.file_path not in present for f in removed):
        raise _FilesChanged
    with table.transaction() as tx:
        # pyiceberg has no REPLACE snapshot yet; the OVERWRITE names what rewrote the files.
        properties = recorded_positions(table) | {"callstream.maintenance": what}
        with tx.update_snapshot(snapshot_properties=properties).overwrite() as rewrite:
            for data_file in removed:
                rewrite.delete_data_file(data_file)
            for data_file in added:
                rewrite.append_data_file(data_file)
    return len(tasks), sum(t.file.record_count for t in tasks)


def _delete_quietly(table: Table, files: list[DataFile]) -> None:
    for data_file in files:
        try:
            table.io.delete(data_file.file_path)
        except OSError:
            pass  # an orphan file is harmless: no snapshot lists it


def rewrite_table(table: Table, plan: Callable[[Table], list[list]], *, what: str, zstd_level: int,
                  without_contacts: frozenset[str] = frozenset()) -> Rewrite | None:
    """Rewrite the runs of files ``plan`` picks (see ``rewrite_runs``) and swap them in; None
    when there was nothing to rewrite.

    The rewrite is done once and only the swap is retried when a running archiver commits
    meanwhile (its appends leave the rewritten files in place): redoing the rewrite on each
    lost race never finished beside an archiver flushing every second (ADR 0014). When the
    files themselves went (an erasure, retention), the stale rewrite is dropped and planned
    again: committing it would bring back rows they removed."""
    for _ in range(3):
        runs = plan(table)
        rewritten = rewrite_runs(table, runs, zstd_level, without_contacts) if runs else []
        if not rewritten:
            return None
        removed = [t.file for run, _, _ in rewritten for t in run]
        added = [f for _, files, _ in rewritten for f in files]
        dropped = sum(d for _, _, d in rewritten)
        if sum(f.record_count for f in added) != sum(f.record_count for f in removed) - dropped:
            _delete_quietly(table, added)
            raise ArchiveError(f"{what} of {table.name()} wrote {sum(f.record_count for f in added)} rows for "
                               f"{sum(f.record_count for f in removed) - dropped}", "report this; nothing was changed")
        try:
            # The rewrite took a while: swap on the table as it is now, not as it was planned.
            files_before, rows_before = commit_with_retry(
                table.refresh(), functools.partial(swap_files, removed=removed, added=added, what=what), what=what)
        except _FilesChanged:
            _delete_quietly(table, added)
            table = table.refresh()
            continue
        except BaseException:
            _delete_quietly(table, added)
            raise
        return Rewrite(runs=[run for run, _, _ in rewritten], removed=removed, added=added,
                       files_before=files_before, rows_before=rows_before, rows_dropped=dropped)
    raise ArchiveError(f"{what} of {table.name()} kept finding its files removed by another writer",
                       f"another erasure, retention or compaction is in progress; run the {what} again after it")


def _compaction_runs(target_file_bytes: int, min_files: int, max_rows: int) -> Callable[[Table], list[list]]:
    def plan(table: Table) -> list[list]:
        as_archived = _in_archiver_layout(table)
        candidates: dict[dt.date, list] = {}
        for task in _current_files(table):
            if task.file.file_size_in_bytes < target_file_bytes // 2 or as_archived(task):
                candidates.setdefault(_partition_day(task), []).append(task)
        # A lone file the archiver wrote is rewritten too: cold rows end in the compact layout
        # however few flushes made them.
        return [chunk for group in candidates.values() if len(group) >= min_files or any(map(as_archived, group))
                for chunk in _rewrite_units(group, max_rows) if len(chunk) >= 2 or any(map(as_archived, chunk))]
    return plan


def compact_table(table: Table, topic: str, *, target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES,
                  min_files: int = 2, expire: bool = True, zstd_level: int = 9,
                  max_rows: int = DEFAULT_MAX_ROWS_PER_REWRITE) -> CompactionResult:
    """Rewrite each event-date partition's small files, and those still as the archiver wrote
    them, into few sorted ones (same rows) in the cold layout: bodies as typed columns, and
    zstd at ``zstd_level`` (cold files are read far less than written). A partition is read,
    sorted and written in runs of at most ``max_rows`` rows: what bounds its memory."""
    done = rewrite_table(table, _compaction_runs(target_file_bytes, min_files, max_rows), what="compaction",
                         zstd_level=zstd_level)
    if done is None:
        tasks = _current_files(table.refresh())
        rows = sum(t.file.record_count for t in tasks)
        return CompactionResult(topic=topic, partitions_rewritten=0, files_before=len(tasks), files_after=len(tasks),
                                rows_before=rows, rows_after=rows, files_purged=0)
    purged = expire_snapshots(table) if expire else 0
    return CompactionResult(topic=topic, partitions_rewritten=len({_partition_day(run[0]) for run in done.runs}),
                            files_before=done.files_before,
                            files_after=done.files_before - len(done.removed) + len(done.added),
                            rows_before=done.rows_before, rows_after=done.rows_before, files_purged=purged)


def compact(archive: Archive, topics: Sequence[str] | None = None, *,
            target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES, min_files: int = 2) -> list[CompactionResult]:
    """Compact every archive table (or ``topics``) and expire the snapshots that rewrote."""
    results = []
    for topic, table in archive.tables():
        if topics is None or topic in topics:
            results.append(compact_table(table, topic, target_file_bytes=target_file_bytes, min_files=min_files,
                                         zstd_level=archive.settings.compacted_zstd_level,
                                         max_rows=archive.settings.compaction_max_rows))
    return results


def _reachable(table: Table) -> set[str]:
    """Every data file, manifest and manifest list some remaining snapshot refers to."""
    paths: set[str] = set()
    # Snapshots share most of their manifests: read each one once. Reading them per
    # snapshot made one expiry of an archiver's 40 snapshots take 19 s (ADR 0014).
    manifests: dict[str, ManifestFile] = {}
    for snapshot in table.metadata.snapshots:
        paths.add(snapshot.manifest_list)
        manifests.update((m.manifest_path, m) for m in snapshot.manifests(table.io))
    for path, manifest in manifests.items():
        paths.add(path)
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            paths.add(entry.data_file.file_path)
    return paths


def expire_snapshots(table: Table, *, older_than_ms: int | None = None) -> int:
    """Expire every snapshot but the current one (or those older than ``older_than_ms``),
    then delete the files only they referenced. Returns the number of files deleted.

    Only files reachable from an expired snapshot are candidates, so files a concurrent
    archiver has written but not yet committed are never touched.
    """
    table = table.refresh()
    current = table.current_snapshot()
    if current is None:
        return 0
    cutoff = older_than_ms if older_than_ms is not None else current.timestamp_ms + 1
    doomed = [s.snapshot_id for s in table.metadata.snapshots
              if s.snapshot_id != current.snapshot_id and s.timestamp_ms < cutoff]
    if not doomed:
        return 0
    before = _reachable(table)

    def attempt(table: Table) -> None:
        still_there = {s.snapshot_id for s in table.metadata.snapshots}
        current = table.current_snapshot()
        ids = [i for i in doomed if i in still_there and (current is None or i != current.snapshot_id)]
        if ids:
            table.maintenance.expire_snapshots().by_ids(ids).commit()

    commit_with_retry(table, attempt, what="snapshot expiry")
    after = _reachable(table.refresh())
    purged = 0
    for path in sorted(before - after):
        try:
            table.io.delete(path)
            purged += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ArchiveError(f"could not delete expired file {path}: {exc}",
                               "check the warehouse permissions, then run the command again") from exc
    return purged


def retention_days_by_topic(catalog) -> dict[str, tuple[str, int]]:
    """``{topic: (classification, archive_retention_days)}`` from a ``contract.catalog.Catalog``."""
    return {t.name: (t.classification, catalog.classifications[t.classification].archive_retention_days)
            for t in catalog.topics}


def apply_retention(archive: Archive, policy: Mapping[str, tuple[str, int]], *, now_ms: int | None = None,
                    dry_run: bool = False) -> list[RetentionResult]:
    """Delete rows whose event day is older than their topic's retention, and their files.

    ``policy`` maps topic -> (classification, days), see ``retention_days_by_topic``. An
    archive table whose topic the policy does not name is refused rather than kept forever.
    """
    today = dt.datetime.fromtimestamp((now_ms if now_ms is not None else time.time() * 1000) / 1000, dt.UTC).date()
    results = []
    for topic, table in archive.tables():
        if topic not in policy:
            raise ArchiveError(f"the archive has a table for {topic}, which the catalog does not list",
                               "add the topic to the catalog (with its classification) or drop the table")
        classification, days = policy[topic]
        cutoff = today - dt.timedelta(days=days)
        expired = [t for t in _current_files(table) if _partition_day(t) < cutoff]
        rows = sum(t.file.record_count for t in expired)
        size = sum(t.file.file_size_in_bytes for t in expired)
        purged = 0
        if expired and not dry_run:
            def attempt(table: Table, cutoff: dt.date = cutoff) -> None:
                # event_date is the identity partition: whole files drop, nothing is rewritten.
                table.delete(LessThan(term="event_date", value=cutoff.isoformat()),
                             snapshot_properties=recorded_positions(table))

            commit_with_retry(table, attempt, what="retention")
            purged = expire_snapshots(table)
        results.append(RetentionResult(topic=topic, classification=classification, retention_days=days,
                                       cutoff=cutoff, rows_removed=rows, files_removed=len(expired),
                                       bytes_removed=size, files_purged=purged))
    return results
