"""Re-drive's header lists: looked up by fingerprint, each row gets exactly its own."""

from __future__ import annotations

import pyarrow as pa

from callstream.archive.replay import _header_lists, _sources
from callstream.archive.rows import headers_array

# Lists a naive join would confuse: separators and digits inside keys and values, an empty
# value against a missing one, an empty list against a missing one.
LISTS = [
    [("a", b"1"), ("b", None)],
    [("a", b"1"), ("b", b"")],
    [("a:1", b":")],
    [("a", b"1:"), ("", None)],
    [("1", b"a"), ("b", None)],
    [],
    None,
    [("a", b"1"), ("b", None)],
    [("a", b"\x00\xff:2:")],
]


def test_each_row_gets_its_own_headers_however_alike_the_lists_look() -> None:
    column = headers_array(LISTS)
    expected = [tuple(hs or ()) for hs in LISTS]
    assert _header_lists(column) == expected
    assert _header_lists(column.slice(2, 5)) == expected[2:7]  # a slice: offsets into the whole child
    assert _header_lists(pa.chunked_array([column.slice(2, 5), column.slice(7)])) == expected[2:]


def test_source_header_names_topic_partition_and_offset() -> None:
    batch = pa.RecordBatch.from_pydict({"kafka_topic": ["t.a", "t.b"], "kafka_partition": pa.array([0, 11], pa.int32()),
                                        "kafka_offset": pa.array([7, 123456789012], pa.int64())})
    assert _sources(batch) == [b"t.a/0/7", b"t.b/11/123456789012"]
