"""Broker health and archive health: the two things lag alone does not show.

Broker health comes from one metadata request: brokers answering, the controller,
partitions whose in-sync replicas fell below their replicas (under-replicated) or that
have no leader (offline). Archive health compares each archive table's committed offsets
(recorded in its Iceberg snapshot) with the topic's log end (archive lag), and reads the
newest archived Kafka timestamp from the data files' column statistics (freshness), so no
data file is opened.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from pyiceberg.conversions import from_bytes
from pyiceberg.types import LongType

from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive
from callstream.observe.lag import OffsetReader
from callstream.observe.snapshot import ArchiveTopic, ClusterHealth

#: field id of ``kafka_timestamp_ms`` in callstream.archive.tables.ARCHIVE_SCHEMA
KAFKA_TIMESTAMP_FIELD_ID = 4


def cluster_health(admin: AdminClient, *, expected_brokers: int = 0, timeout_s: float = 5.0,
                   topics: Mapping[str, str] | None = None) -> ClusterHealth:
    """Brokers up, controller, under-replicated and offline partitions per topic.

    ``topics`` (actual name -> name to report) limits and renames the per-topic counts;
    by default every non-internal topic is reported by its own name."""
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        return ClusterHealth(reachable=False, brokers_expected=expected_brokers, error=str(exc.args[0]))
    under, offline = {}, {}
    for name, topic in metadata.topics.items():
        if name.startswith("__"):
            continue
        label = name if topics is None else topics.get(name)
        if label is None or topic.error is not None:
            continue
        urp = sum(1 for p in topic.partitions.values() if len(p.isrs) < len(p.replicas))
        down = sum(1 for p in topic.partitions.values() if p.leader < 0)
        under[label], offline[label] = urp, down
    up = len(metadata.brokers)
    return ClusterHealth(reachable=True, brokers_up=up, brokers_expected=max(expected_brokers, up),
                         controller_id=metadata.controller_id if metadata.controller_id >= 0 else None,
                         under_replicated=under, offline_partitions=offline)


def local_broker_count(state_dir: Path) -> int:
    """Nodes of the local cluster callstream started in ``state_dir`` (0 if none)."""
    from callstream.local.broker import LocalCluster

    cluster = LocalCluster.load(Path(state_dir))
    return len(cluster.nodes) if cluster else 0


class ArchiveHealth:
    """Freshness and lag of the archive tables of some topics."""

    def __init__(self, settings: ArchiveSettings) -> None:
        self.settings = settings
        self._archive: Archive | None = None
        #: (topic, snapshot id) -> newest archived Kafka timestamp
        self._newest: dict[tuple[str, int], int | None] = {}

    @property
    def available(self) -> bool:
        return self.settings.catalog_created  # no archiver has run yet otherwise

    def _open(self):
        if self._archive is None:
            self._archive = Archive.open(self.settings)
        return self._archive

    def newest_archived_ms(self, table) -> int | None:
        snapshot = table.current_snapshot()
        if snapshot is None:
            return None
        key = (table.name(), snapshot.snapshot_id)
        if key not in self._newest:
            newest = None
            for manifest in snapshot.manifests(table.io):
                for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                    bound = (entry.data_file.upper_bounds or {}).get(KAFKA_TIMESTAMP_FIELD_ID)
                    if bound is not None:
                        value = int(from_bytes(LongType(), bound))
                        newest = value if newest is None else max(newest, value)
            self._newest[key] = newest
        return self._newest[key]

    def positions(self, topics: Mapping[str, str]) -> dict[str, tuple[dict[int, int], int | None, int]]:
        """actual topic -> (archived next offset per partition, newest archived Kafka
        timestamp, when it was read in ms). Read these *before* the log end offsets they
        are compared with, so the archive is never ahead of the log it archives."""
        if not self.available:
            return {}
        from callstream.archive.tables import archived_offsets

        archive = self._open()
        out = {}
        for actual in topics:
            table = archive.table(actual, create=False)
            if table is None:
                continue
            table = table.refresh()
            out[actual] = (archived_offsets(table), self.newest_archived_ms(table), time.time_ns() // 1_000_000)
        return out

    def measure(self, reader: OffsetReader, topics: Mapping[str, str],
                positions: Mapping[str, tuple[dict[int, int], int | None, int]],
                log_offsets: Mapping[tuple[str, int], tuple[int, int]], now_ms: int | None = None) -> list[ArchiveTopic]:
        """Freshness and lag per archived topic (``topics``: actual name -> name to report)."""
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        out = []
        for actual, (recorded, newest, read_at) in positions.items():
            partitions = {tp: offsets for tp, offsets in log_offsets.items() if tp[0] == actual}
            lag = reader.lag_from_positions("archive", {tp: recorded.get(tp[1]) for tp in partitions}, partitions,
                                            now_ms=now) if partitions else None
            out.append(ArchiveTopic(
                topic=topics[actual], newest_archived_ms=newest,
                # against the moment the table was read: a commit that landed after the
                # sample started is fresh, not from the future
                freshness_seconds=round(max(0.0, (max(now, read_at) - newest) / 1000), 3) if newest is not None else None,
                lag=lag.total_lag if lag else 0, lag_seconds=lag.max_lag_seconds if lag else 0.0))
        return out
