"""The archive's Iceberg tables: one per catalog topic, one schema, offsets in snapshots.

Every table has the same layout: Kafka coordinates, the event envelope as columns, the
original message bytes (``payload``) so nothing is lost and fields added later survive, and
``event_date`` as the partition. Compaction moves the rest of each event into ``body``, one
typed column per contract field, where that gives the payload back exactly
(``callstream.archive.body``). Each commit records in its snapshot summary, under
``callstream.offsets``, the next Kafka offset to read per partition: the archive itself is
the archiver's source of truth for where to resume.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    StructType,
)

from callstream.archive.body import BODY_FIELDS, BODY_TYPE
from callstream.archive.settings import ArchiveSettings
from callstream.errors import ArchiveError

#: snapshot summary key: JSON {"<partition>": <next offset to archive>}
OFFSETS_PROPERTY = "callstream.offsets"
#: the Kafka cluster (its cluster id) the recorded offsets belong to; a migration's cutover
#: moves them to the new cluster in a snapshot of its own
CLUSTER_PROPERTY = "callstream.kafka-cluster"
#: table property naming the Kafka topic a table archives
TOPIC_PROPERTY = "callstream.topic"
FORMAT_VERSION_PROPERTY = "callstream.archive-format"
#: pyiceberg re-applies a conflicting append on the new table state with the snapshot
#: properties computed before the conflict: stale offsets, and no re-check of which rows
#: the winner already archived. Every archive commit retries itself (``commit_with_retry``).
NO_BLIND_RETRIES = ("commit.retry.num-retries", "0")
#: Parquet dictionaries only where they pay: pyarrow tries one for every column and gives up
#: when it passes this size. Payloads, event ids and times never fit, so the default 2 MiB
#: was spent hashing them; at 64 KiB the low-cardinality columns (topic, type, producer,
#: headers, a row group's contact ids) keep theirs and the files come out ~10% smaller for
#: ~10% less write CPU (measured on the benchmark's rows, ADR 0009).
DICTIONARY_LIMIT = ("write.parquet.dict-size-bytes", str(64 * 1024))
#: Appends merge manifests once 16 are listed (Iceberg's default is 100, and off for
#: pyiceberg's fast append): one manifest per flush made every commit and scan plan read
#: one more file, and an expiry read them all (ADR 0014).
MERGED_MANIFESTS = (("commit.manifest-merge.enabled", "true"), ("commit.manifest.min-count-to-merge", "16"))
#: 1: every row holds its payload; 2: compacted rows may hold their ``body`` instead
ARCHIVE_FORMAT_VERSION = "2"
#: properties every archive table is kept at, also tables made by an older callstream
MAINTAINED_PROPERTIES = dict([NO_BLIND_RETRIES, DICTIONARY_LIMIT, *MERGED_MANIFESTS,
                              (FORMAT_VERSION_PROPERTY, ARCHIVE_FORMAT_VERSION)])
_ICEBERG_KIND = {"string": StringType(), "int": LongType(), "float": DoubleType(), "bool": BooleanType(),
                 "json": StringType()}

ARCHIVE_SCHEMA = Schema(
    NestedField(1, "kafka_topic", StringType(), required=True),
    NestedField(2, "kafka_partition", IntegerType(), required=True),
    NestedField(3, "kafka_offset", LongType(), required=True),
    NestedField(4, "kafka_timestamp_ms", LongType(), required=False),
    NestedField(5, "key", BinaryType(), required=False),
    NestedField(6, "event_type", StringType(), required=False),
    NestedField(7, "event_id", StringType(), required=False),
    NestedField(8, "contact_id", StringType(), required=False),
    NestedField(9, "event_time_ms", LongType(), required=False),
    NestedField(10, "event_date", DateType(), required=True),
    NestedField(11, "schema_version", IntegerType(), required=False),
    NestedField(12, "producer", StringType(), required=False),
    NestedField(13, "caused_by", StringType(), required=False),
    NestedField(14, "payload", BinaryType(), required=False),
    NestedField(
        15, "headers",
        ListType(16, StructType(
            NestedField(17, "key", StringType(), required=True),
            NestedField(18, "value", BinaryType(), required=False),
        ), element_required=True),
        required=False,
    ),
    NestedField(19, "archived_at_ms", LongType(), required=True),
    NestedField(20, "body", StructType(*(
        NestedField(21 + i, name, _ICEBERG_KIND[kind], required=False) for i, (name, kind) in enumerate(BODY_FIELDS.items())
    )), required=False),
)

#: The archiver's rows as Arrow, for building commits (nullability must match ``required``;
#: ``body`` is left out: only compaction fills it).
ARROW_SCHEMA = pa.schema([
    pa.field("kafka_topic", pa.string(), nullable=False),
    pa.field("kafka_partition", pa.int32(), nullable=False),
    pa.field("kafka_offset", pa.int64(), nullable=False),
    pa.field("kafka_timestamp_ms", pa.int64()),
    pa.field("key", pa.binary()),
    pa.field("event_type", pa.string()),
    pa.field("event_id", pa.string()),
    pa.field("contact_id", pa.string()),
    pa.field("event_time_ms", pa.int64()),
    pa.field("event_date", pa.date32(), nullable=False),
    pa.field("schema_version", pa.int32()),
    pa.field("producer", pa.string()),
    pa.field("caused_by", pa.string()),
    pa.field("payload", pa.binary()),
    pa.field("headers", pa.list_(pa.field("element", pa.struct([
        pa.field("key", pa.string(), nullable=False),
        pa.field("value", pa.binary()),
    ]), nullable=False))),
    pa.field("archived_at_ms", pa.int64(), nullable=False),
])
#: what a data file may hold: the archiver's rows, and ``body`` once compacted
STORED_SCHEMA = ARROW_SCHEMA.append(pa.field("body", BODY_TYPE))

PARTITION_SPEC = PartitionSpec(
    PartitionField(source_id=10, field_id=1000, transform=IdentityTransform(), name="event_date"),
)
# Declared so other engines know the layout; the archiver sorts each commit itself.
SORT_ORDER = SortOrder(
    SortField(source_id=8, transform=IdentityTransform()),
    SortField(source_id=9, transform=IdentityTransform()),
)


def table_name(topic: str) -> str:
    """``callstream.call.lifecycle`` -> ``callstream_call_lifecycle`` (also the DuckDB view name)."""
    return topic.replace(".", "_").replace("-", "_")


@dataclass
class Archive:
    """The opened Iceberg catalog of the archive, handing out one table per topic."""

    settings: ArchiveSettings
    catalog: SqlCatalog

    @classmethod
    def open(cls, settings: ArchiveSettings) -> Archive:
        if settings.sqlite_catalog is not None:
            settings.sqlite_catalog.parent.mkdir(parents=True, exist_ok=True)
        if not settings.is_s3:
            Path(settings.warehouse).mkdir(parents=True, exist_ok=True)
        try:
            catalog = SqlCatalog("callstream", **settings.catalog_properties())
            catalog.create_namespace_if_not_exists(settings.namespace)
        except Exception as exc:  # SQLAlchemy/OS errors surface as many types; one message for all
            raise ArchiveError(
                f"could not open the archive catalog {settings.catalog_uri}: {exc}",
                "check the catalog URI and that its directory is writable",
            ) from exc
        return cls(settings=settings, catalog=catalog)

    def identifier(self, topic: str) -> str:
        return f"{self.settings.namespace}.{table_name(topic)}"

    def table(self, topic: str, *, create: bool = True) -> Table | None:
        """The table archiving ``topic``; created on first use unless ``create`` is False."""
        try:
            table = self.catalog.load_table(self.identifier(topic))
        except NoSuchTableError:
            if not create:
                return None
            try:
                table = self.catalog.create_table_if_not_exists(
                    self.identifier(topic), schema=ARCHIVE_SCHEMA, partition_spec=PARTITION_SPEC,
                    sort_order=SORT_ORDER, properties=self._properties(topic),
                )
            except Exception as exc:
                raise ArchiveError(f"could not create the archive table for {topic}: {exc}",
                                   f"check that the warehouse {self.settings.warehouse} is writable") from exc
        outdated = any(table.properties.get(k) != v for k, v in MAINTAINED_PROPERTIES.items())
        if outdated or _missing_body_fields(table):
            try:
                with table.transaction() as tx:
                    tx.set_properties(MAINTAINED_PROPERTIES)
                    if _missing_body_fields(table):  # older tables, or a contract with new fields
                        with tx.update_schema() as schema:
                            schema.union_by_name(ARCHIVE_SCHEMA)
            except CommitFailedException:
                # After an upgrade every process opens the older tables at once: another one
                # brought this table up to date first, and its properties are the same.
                table = table.refresh()
        return table

    def _properties(self, topic: str) -> dict[str, str]:
        return {
            TOPIC_PROPERTY: topic,
            FORMAT_VERSION_PROPERTY: ARCHIVE_FORMAT_VERSION,
            "write.parquet.row-group-limit": str(self.settings.row_group_rows),
            "write.parquet.compression-codec": "zstd",
            # Old metadata files list expired snapshots; don't keep them around forever.
            "write.metadata.delete-after-commit.enabled": "true",
            "write.metadata.previous-versions-max": "20",
            **MAINTAINED_PROPERTIES,
        }

    def tables(self) -> list[tuple[str, Table]]:
        """Every archive table with the topic it archives (its ``callstream.topic`` property)."""
        found = []
        for identifier in self.catalog.list_tables(self.settings.namespace):
            table = self.catalog.load_table(identifier)
            found.append((table.properties.get(TOPIC_PROPERTY, identifier[-1]), table))
        return sorted(found, key=lambda pair: pair[0])

    def topics(self) -> list[str]:
        """Topics that have an archive table."""
        return [topic for topic, _ in self.tables()]


def bodied_rows(table: Table) -> Callable[[DataFile], int]:
    """How many rows of a data file hold their event as a body, read from the manifest's null
    counts of ``body.produced_at_ms`` (a field every event has)."""
    try:
        field_id = table.schema().find_field("body.produced_at_ms").field_id
    except ValueError:  # a table from before bodies existed
        return lambda data_file: 0
    return lambda data_file: data_file.record_count - (data_file.null_value_counts or {}).get(
        field_id, data_file.record_count)


def holds_bodies(table: Table, files: list[DataFile]) -> bool:
    """Whether any row in ``files`` (the table's current ones) holds its event as a body."""
    bodies = bodied_rows(table)
    return any(bodies(data_file) for data_file in files)


def _missing_body_fields(table: Table) -> bool:
    names = {f.name for f in table.schema().fields}
    if "body" not in names:
        return True
    body = table.schema().find_field("body").field_type
    return isinstance(body, StructType) and not set(BODY_FIELDS) <= {f.name for f in body.fields}


def archived_offsets(table: Table) -> dict[int, int]:
    """Next offset to archive per partition, from the table's current snapshot."""
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return {}
    raw = snapshot.summary.get(OFFSETS_PROPERTY)
    if not raw:
        return {}
    try:
        return {int(partition): int(offset) for partition, offset in json.loads(raw).items()}
    except (ValueError, AttributeError) as exc:
        raise ArchiveError(
            f"snapshot {snapshot.snapshot_id} of {table.name()} has an unreadable {OFFSETS_PROPERTY}: {raw!r}",
            "the table was written by something other than the callstream archiver; restore a good snapshot",
        ) from exc


def offsets_property(offsets: dict[int, int], cluster_id: str | None = None) -> dict[str, str]:
    """Snapshot properties carrying ``offsets`` and the cluster they belong to (to pass as
    ``snapshot_properties``)."""
    properties = {OFFSETS_PROPERTY: json.dumps({str(p): o for p, o in sorted(offsets.items())})}
    return properties | ({CLUSTER_PROPERTY: cluster_id} if cluster_id else {})


def recorded_positions(table: Table) -> dict[str, str]:
    """The table's recorded offsets and cluster, as properties for a snapshot that changes
    rows but not positions (compaction, retention, erasure)."""
    return offsets_property(archived_offsets(table), archived_cluster(table))


def archived_cluster(table: Table) -> str | None:
    """The cluster id the table's recorded offsets belong to (``None``: not recorded)."""
    snapshot = table.current_snapshot()
    return snapshot.summary.get(CLUSTER_PROPERTY) if snapshot is not None and snapshot.summary is not None else None


def current_files(table: Table) -> list[DataFile]:
    """The current snapshot's data files.

    The archive never writes delete files (pyiceberg deletes copy-on-write), so these files
    are exactly the table's rows; that is what lets DuckDB read them directly.
    """
    if table.current_snapshot() is None:
        return []
    tasks = table.scan().plan_files()
    if any(task.delete_files for task in tasks):
        raise ArchiveError(f"{table.name()} has delete files, which the archive never writes",
                           "run `callstream archive compact` to rewrite them away")
    return [task.file for task in tasks]


def data_files(table: Table) -> list[str]:
    """Paths of the current snapshot's data files (see ``current_files``)."""
    return [data_file.file_path for data_file in current_files(table)]


T = TypeVar("T")


def commit_with_retry(table: Table, attempt: Callable[[Table], T], *, what: str, tries: int = 8) -> T:
    """Run ``attempt`` (which commits) and retry on a concurrent commit, on a fresh table.

    Iceberg commits are compare-and-swap: a writer that lost the race reloads and redoes
    its work against the new state (and the new offsets), it never overwrites the winner.
    A writer can also find the snapshot it last saw gone: another writer committed and then
    expired every older snapshot (compaction does, ADR 0014), deleting the manifest list the
    commit reads first. That is the same lost race, told by a missing file of this table's
    metadata and a newer current snapshot; a file missing with no newer commit is not.
    """
    for n in range(tries):
        seen = table.metadata.current_snapshot_id
        try:
            return attempt(table)
        except (CommitFailedException, FileNotFoundError) as exc:
            time.sleep(min(0.05 * 2**n, 1.0))
            table = table.refresh()
            if isinstance(exc, FileNotFoundError) and table.metadata.current_snapshot_id == seen:
                raise
    raise ArchiveError(f"{what} on {table.name()} kept conflicting with concurrent commits ({tries} tries)",
                       "another writer is committing continuously; retry later")
