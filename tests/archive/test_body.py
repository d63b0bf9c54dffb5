"""Compacted rows keep their events as typed columns, and every reader gets the exact bytes back."""

from __future__ import annotations

import json

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from samples import build_sample

from callstream.archive.body import BODY_FIELDS, payloads, shred
from callstream.archive.maintenance import compact
from callstream.archive.query import query
from callstream.archive.replay import ArchiveView
from callstream.archive.rows import TopicBuffer, build_rows
from callstream.archive.tables import Archive, archived_offsets, data_files, offsets_property
from callstream.contract.codec import encode_event
from callstream.contract.events import EVENT_TYPES, CallInitiated
from callstream.governance.erasure import archived_contacts_of

from .conftest import now_ms, queued, segment

LIFECYCLE = "callstream.call.lifecycle"


def rows_of(values: list[bytes | None], topic: str = "t") -> pa.Table:
    n = len(values)
    return build_rows(topic, [0] * n, list(range(n)), [1] * n, [b"k"] * n, values, [None] * n, 5)


def all_kinds_of_events() -> list[bytes]:
    """Every event type twice: every optional field set, and each at its default."""
    values = []
    for cls in EVENT_TYPES.values():
        full = build_sample(cls)
        values.append(encode_event(full, validate=False)[0])
        required = {f.name: getattr(full, f.name) for f in msgspec.structs.fields(cls)
                    if f.required and f.name != "schema_version"}
        values.append(encode_event(cls(**required), validate=False)[0])
    return values


def test_every_event_type_is_stored_as_columns_and_rebuilt_byte_for_byte() -> None:
    values = all_kinds_of_events()
    rows = rows_of(values)
    shredded = shred(rows)
    assert shredded["payload"].null_count == len(values)  # no row needed its payload
    assert shredded["body"].null_count == 0
    assert payloads(shredded).to_pylist() == rows["payload"].to_pylist()
    texts = [b["text"] for b, t in zip(shredded["body"].to_pylist(), shredded["event_type"].to_pylist(), strict=True)
             if t == "transcript.segment"]
    assert texts and all(isinstance(t, str) for t in texts)  # typed: other engines read it without JSON


def test_strings_that_need_escaping_still_rebuild_exactly() -> None:
    tricky = ['she said "cancel it"', "C:\\path\\to", "line one\nline two\ttab\r", "bell\b form\f", "naïve 文字 😀"]
    values = [encode_event(segment("c", i, 1, text))[0] for i, text in enumerate(tricky)]
    rows = rows_of(values)
    shredded = shred(rows)
    assert shredded["payload"].null_count == len(values)
    assert payloads(shredded).to_pylist() == rows["payload"].to_pylist()


def test_rows_written_another_way_keep_their_payload() -> None:
    canonical = encode_event(build_sample(CallInitiated))[0]
    decoded = json.loads(canonical)
    reordered = json.dumps(dict(reversed(list(decoded.items())))).encode()
    spaced = json.dumps(decoded).encode()  # ", " and ": " between items
    extra = canonical[:-1] + b',"added_in_a_newer_version":1}'
    control = encode_event(segment("c", 0, 1, "unit \x01 separator"))[0]
    big_float = canonical.replace(b'"channel"', b'"ignored":1e15,"channel"')
    queued_at = encode_event(queued("c", 1, 1)[0])[0]
    past_64_bits = queued_at.replace(b'"queue_depth":0', b'"queue_depth":9223372036854775808')
    assert past_64_bits != queued_at
    values = [reordered, spaced, extra, control, big_float, past_64_bits, b"\xff not json", None,
              b'{"event_type":"from.elsewhere","event_id":"x","contact_id":"c","event_time_ms":1}', canonical]
    rows = rows_of(values)  # sorted by contact and time, as the archive stores them
    shredded = shred(rows)
    assert payloads(shredded).to_pylist() == rows["payload"].to_pylist()
    stored = dict(zip(rows["payload"].to_pylist(), zip(shredded["payload"].is_valid().to_pylist(),
                                                       shredded["body"].is_valid().to_pylist(), strict=True),
                      strict=True))
    assert [stored[v] for v in values] == [(True, False)] * 7 + [(False, False), (True, False), (False, True)]


def append(archive: Archive, topic: str, events: list, first_offset: int) -> None:
    table = archive.table(topic)
    buffer = TopicBuffer(topic)
    for i, event in enumerate(events):
        buffer.add(0, first_offset + i, now_ms(), event.contact_id.encode(), encode_event(event)[0], None, now=0.0)
    table.append(buffer.to_arrow(archived_at_ms=now_ms()),
                 snapshot_properties=offsets_property(archived_offsets(table) | buffer.next_offsets))


def test_compaction_moves_bodies_into_columns_and_every_reader_gets_the_same_events(archive: Archive) -> None:
    t0 = now_ms()
    calls = [("call-1", "cust-1"), ("call-2", "cust-2"), ("call-3", "cust-1")]
    offset = 0
    originals: dict[str, bytes] = {}
    for contact, customer in calls:
        events = [build_sample(CallInitiated, event_id=f"{contact}-i", contact_id=contact, event_time_ms=t0,
                               customer_id=customer), *queued(contact, 20, t0 + 1)]
        append(archive, LIFECYCLE, events, offset)
        offset += len(events)
        originals |= {e.event_id: encode_event(e)[0] for e in events}
    view = ArchiveView(archive, (LIFECYCLE,))
    before = {e.payload for e in view.rows_for(["call-1", "call-2", "call-3"])}
    view.close()

    compact(archive)
    files = data_files(archive.table(LIFECYCLE))
    stored = pa.concat_tables(pq.read_table(f.removeprefix("file://")) for f in files)
    assert stored.num_rows == len(originals) and stored["payload"].null_count == len(originals)
    assert set(BODY_FIELDS) <= set(stored.schema.field("body").type.names)
    footer = pq.ParquetFile(files[0].removeprefix("file://")).metadata.row_group(0)
    encodings = {footer.column(i).path_in_schema: footer.column(i).encodings for i in range(footer.num_columns)}
    assert "DELTA_BINARY_PACKED" in encodings["kafka_offset"] and "DELTA_BINARY_PACKED" in encodings["body.queue_depth"]
    assert "DELTA_BYTE_ARRAY" in encodings["event_id"] and "DELTA_BYTE_ARRAY" in encodings["contact_id"]
    assert "RLE_DICTIONARY" in encodings["body.queue"]

    view = ArchiveView(archive, (LIFECYCLE,))  # the timeline's rows
    assert {e.payload for e in view.rows_for(["call-1", "call-2", "call-3"])} == before == set(originals.values())
    view.close()
    table = archive.table(LIFECYCLE)  # a pyiceberg scan, as erasure and the scorecard read
    assert set(payloads(table.scan().to_arrow()).to_pylist()) == set(originals.values())
    assert archived_contacts_of(archive, "cust-1") == {"call-1", "call-3"}
    sql = query(archive, "SELECT event_id, payload_json FROM callstream_call_lifecycle")  # the DuckDB views
    assert {r["event_id"]: json.loads(r["payload_json"]) for r in sql.to_pylist()} == \
        {k: json.loads(v) for k, v in originals.items()}

    # A second compaction (new small files beside compacted ones) keeps the bodies it finds.
    more = queued("call-4", 5, t0 + 50)
    append(archive, LIFECYCLE, more, offset)
    append(archive, LIFECYCLE, queued("call-5", 5, t0 + 60), offset + 5)
    compact(archive, target_file_bytes=1 << 40)  # every file counts as small
    rows = archive.table(LIFECYCLE).scan().to_arrow()
    assert rows.num_rows == len(originals) + 10 and pc.all(rows["body"].is_valid()).as_py()
    assert set(payloads(rows).to_pylist()) >= set(originals.values()) | {encode_event(e)[0] for e in more}


@pytest.mark.parametrize("rows", [0, 1])
def test_tables_without_event_rows_pass_through(rows: int) -> None:
    shredded = shred(rows_of([b"\x00raw bytes"] * rows))
    assert shredded["payload"].to_pylist() == [b"\x00raw bytes"] * rows
    assert payloads(shredded).to_pylist() == [b"\x00raw bytes"] * rows


def test_a_lone_file_as_the_archiver_wrote_it_is_rewritten_once(archive: Archive) -> None:
    append(archive, LIFECYCLE, queued("call-1", 30, now_ms()), 0)
    [first] = compact(archive)
    [second] = compact(archive)
    assert (first.partitions_rewritten, second.partitions_rewritten) == (1, 0)  # then it is cold already
    rows = archive.table(LIFECYCLE).scan().to_arrow()
    assert rows["payload"].null_count == 30 and rows["body"].null_count == 0
