"""Consumer positions across clusters: translated exactly through the offset map.

A group's committed offset on the source is the next record it would read there; its
translation is the target offset of that same record (or, past the last replicated
record, just after that record's copy). ``apply_positions`` commits the translations as
the groups' offsets on the target, where the groups must not be active yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

from callstream.errors import MigrationError
from callstream.migrate.links import Link
from callstream.migrate.offsets import OffsetMap
from callstream.migrate.receipts import watermarks


def _split(key: str) -> tuple[str, int]:
    topic, _, partition = key.rpartition("/")
    return topic, int(partition)


def translate_positions(groups: dict[str, dict[str, int]], offset_map: OffsetMap,
                        target: Link) -> dict[str, dict[str, int]]:
    """``{group: {"topic/partition": offset}}`` on the source -> the same on the target."""
    partitions = sorted({_split(k) for positions in groups.values() for k in positions})
    starts = {tp: low for tp, (low, _) in watermarks(target, partitions).items()}
    return {group: {key: offset_map.translate(*_split(key), offset, starts[_split(key)])
                    for key, offset in positions.items()}
            for group, positions in groups.items()}


def apply_positions(target: Link, translated: dict[str, dict[str, int]], timeout_s: float = 90.0) -> None:
    """Commit ``translated`` as the groups' offsets on the target, every group's request in
    flight at once (one at a time, ten groups took ~10 round trips of the write pause). A
    group still listing members there (static members of an earlier switch, until their
    session times out) is retried until ``timeout_s``."""
    admin = target.admin()
    requests = {group: ConsumerGroupTopicPartitions(group, [TopicPartition(*_split(k), o) for k, o in sorted(positions.items())])
                for group, positions in translated.items()}
    deadline = time.monotonic() + timeout_s
    while requests:
        # the admin API takes one group a call; the calls run concurrently
        futures = {group: admin.alter_consumer_group_offsets([request])[group] for group, request in requests.items()}
        refused: dict[str, ConsumerGroupTopicPartitions] = {}
        for group, future in futures.items():
            try:
                result = future.result(timeout=30)
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise MigrationError(f"setting the positions of group {group} on '{target.name}' failed: {exc}",
                                         "stop the group's members on the target (it must be empty), then retry") from None
                refused[group] = requests[group]
                continue
            failed = [f"{tp.topic}/{tp.partition}: {tp.error}" for tp in result.topic_partitions if tp.error is not None]
            if failed:
                raise MigrationError(f"group {group} on '{target.name}' refused positions: {'; '.join(failed[:3])}")
        if refused:
            time.sleep(1.0)
        requests = refused


def translate_archive(archive: object, offset_map: OffsetMap, target: Link) -> dict[str, dict[int, int]]:
    """Move the archive's recorded positions onto the target through ``offset_map``: the
    archiver, started on the target, continues exactly where it stopped on the source."""
    from callstream.archive.tables import archived_offsets

    def translate(tables: list[tuple[str, object]]) -> dict[str, dict[int, int]]:
        recorded = {topic: offsets for topic, table in tables if (offsets := archived_offsets(table))}  # type: ignore[arg-type]
        # every table's partitions in one request: a client per table cost ~14 round trips
        starts = {tp: low for tp, (low, _) in watermarks(target, [(t, p) for t, r in recorded.items() for p in r]).items()}
        return {topic: {p: offset_map.translate(topic, p, o, starts[(topic, p)]) for p, o in offsets.items()}
                for topic, offsets in recorded.items()}

    return set_archive_positions(archive, translate, target)


def set_archive_positions(archive: object, positions_of: Callable[[list[tuple[str, object]]], dict[str, dict[int, int]]],
                          target: Link) -> dict[str, dict[int, int]]:
    """Record new Kafka positions in every archive table: one empty snapshot per table with
    the positions ``positions_of(tables)`` gives for it (a table it leaves out is left alone)
    and the target's cluster id. A table already tagged with the target's id is not offered
    (a switch resumed after this step)."""
    import pyarrow as pa

    from callstream.archive.tables import Archive, archived_cluster, commit_with_retry, offsets_property

    if not isinstance(archive, Archive):
        raise TypeError("set_archive_positions needs an opened callstream.archive.tables.Archive")
    tables = [(topic, table) for topic, table in archive.tables() if archived_cluster(table) != target.cluster_id]
    moved = positions_of(tables)  # type: ignore[arg-type]
    for topic, table in tables:
        if topic not in moved:
            continue

        def commit(fresh: object, offsets: dict[int, int] = moved[topic]) -> None:
            empty = pa.Table.from_pylist([], schema=fresh.schema().as_arrow())  # type: ignore[attr-defined]
            fresh.append(empty, snapshot_properties=offsets_property(offsets, target.cluster_id))  # type: ignore[attr-defined]

        commit_with_retry(table, commit, what=f"moving the archive positions of {topic} to '{target.name}'")
    return moved
