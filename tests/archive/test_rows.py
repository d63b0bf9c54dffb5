"""Archive rows: envelope columns, original bytes, undecodable messages, ordering."""

from __future__ import annotations

import datetime as dt

import msgspec

from callstream.archive.rows import TopicBuffer, build_rows, read_envelope
from callstream.contract.codec import encode_event
from callstream.contract.events import CallQueued

T0 = 1_790_000_000_000  # 2026-09-21


def _queued(cid: str, t: int, eid: str = "e") -> bytes:
    value, _ = encode_event(CallQueued(event_id=eid, contact_id=cid, event_time_ms=t, produced_at_ms=t,
                                       producer="sim", queue="q"))
    return value


def test_envelope_is_read_and_unknown_fields_survive_in_payload() -> None:
    body = msgspec.json.decode(_queued("c1", T0))
    body |= {"event_type": "call.future_kind", "new_field": {"nested": [1, 2]}}
    value = msgspec.json.encode(body)
    rows = build_rows("t", [0], [7], [T0], [b"c1"], [value], [[("h", b"v")]], archived_at_ms=T0)
    row = rows.to_pylist()[0]
    assert row["event_type"] == "call.future_kind"
    assert row["contact_id"] == "c1" and row["event_time_ms"] == T0
    assert row["payload"] == value
    assert row["headers"] == [{"key": "h", "value": b"v"}]
    assert row["event_date"] == dt.date(2026, 9, 21)


def test_undecodable_message_archives_with_null_envelope_and_kafka_day() -> None:
    kafka_ts = T0 - 3 * 86_400_000
    rows = build_rows("t", [1], [3], [kafka_ts], [None], [b"\xff not json"], [None], archived_at_ms=T0)
    row = rows.to_pylist()[0]
    assert row["event_type"] is None and row["contact_id"] is None
    assert row["payload"] == b"\xff not json"
    assert row["event_date"] == dt.date(2026, 9, 18)
    assert read_envelope(b"{}") is None and read_envelope(None) is None


def test_tombstone_without_timestamp_takes_archive_day() -> None:
    rows = build_rows("t", [0], [0], [None], [b"k"], [None], [None], archived_at_ms=T0)
    assert rows.to_pylist()[0]["event_date"] == dt.date(2026, 9, 21)


def test_rows_are_sorted_by_contact_then_event_time() -> None:
    buffer = TopicBuffer("t")
    inputs = [("c2", T0 + 5), ("c1", T0 + 9), ("c2", T0 + 1), ("c1", T0 + 2)]
    for offset, (cid, t) in enumerate(inputs):
        buffer.add(offset % 2, offset, t, cid.encode(), _queued(cid, t, f"e{offset}"), None, now=0.0)
    rows = buffer.to_arrow(archived_at_ms=T0).to_pylist()
    assert [(r["contact_id"], r["event_time_ms"]) for r in rows] == sorted(inputs)
    assert buffer.next_offsets == {0: 3, 1: 4}


def test_buffer_drops_lost_partitions_and_tracks_size() -> None:
    buffer = TopicBuffer("t")
    for offset in range(6):
        buffer.add(offset % 3, offset, T0, None, b"x" * 10, None, now=1.0)
    assert len(buffer) == 6 and buffer.payload_bytes == 60 and buffer.first_at == 1.0
    buffer.drop_partitions({0, 1})
    assert buffer.offsets == [2, 5] and buffer.payload_bytes == 20 and buffer.next_offsets == {2: 6}
    buffer.drop_partitions({2})
    assert len(buffer) == 0 and buffer.first_at is None


def test_headers_keep_each_rows_own_list_when_lists_repeat() -> None:
    lists = [[("a", b"1"), ("b", None)], None, [("a", b"1"), ("b", None)], [], [("a", b"2")], None]
    n = len(lists)
    rows = build_rows("t", [0] * n, list(range(n)), [T0] * n, [None] * n, [None] * n, lists, archived_at_ms=T0)
    by_offset = {r["kafka_offset"]: r["headers"] for r in rows.to_pylist()}
    assert [by_offset[i] for i in range(n)] == [
        None if hs is None else [{"key": k, "value": v} for k, v in hs] for hs in lists]
