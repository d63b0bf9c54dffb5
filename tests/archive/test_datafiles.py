"""The archive's own split of rows by partition: the same partitions and rows as pyiceberg's."""

from __future__ import annotations

from callstream.archive.datafiles import _determine_partitions, _partitions
from callstream.archive.rows import build_rows
from callstream.archive.tables import ARCHIVE_SCHEMA, PARTITION_SPEC
from callstream.contract.codec import encode_event

from .conftest import queued

DAY_MS = 86_400_000


def _rows(days: int):
    events = [e for d in range(days) for e in queued(f"call-{d}", 5, 1_700_000_000_000 + d * DAY_MS + 1)]
    encoded = [encode_event(e) for e in events]
    n = len(encoded)
    return build_rows("t", [0] * n, list(range(n)), [None] * n, [e.contact_id.encode() for e in events],
                      [v for v, _ in encoded], [h for _, h in encoded], 1_700_000_000_000)


def _split(pairs) -> dict:
    return {key.partition: sorted(table["kafka_offset"].to_pylist()) for key, table in pairs}


def test_contiguous_partitions_are_sliced_like_pyiceberg_splits_them() -> None:
    rows = _rows(3)  # build_rows sorts by event date first: three runs
    expected = _split((p.partition_key, p.arrow_table_partition)
                      for p in _determine_partitions(spec=PARTITION_SPEC, schema=ARCHIVE_SCHEMA, arrow_table=rows))
    sliced = list(_partitions(PARTITION_SPEC, ARCHIVE_SCHEMA, rows))
    assert _split(sliced) == expected and len(expected) == 3
    assert all(len(set(table["event_date"].to_pylist())) == 1 for _, table in sliced)  # one date per slice


def test_partitions_out_of_order_fall_back_to_pyiceberg() -> None:
    rows = _rows(3)
    shuffled = rows.take([0, 5, 10, 1, 6, 11, 2, 7, 12, 3, 8, 13, 4, 9, 14])  # each day in several runs
    expected = _split((p.partition_key, p.arrow_table_partition)
                      for p in _determine_partitions(spec=PARTITION_SPEC, schema=ARCHIVE_SCHEMA, arrow_table=shuffled))
    assert _split(_partitions(PARTITION_SPEC, ARCHIVE_SCHEMA, shuffled)) == expected
