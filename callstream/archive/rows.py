"""Turn Kafka messages into archive rows: envelope columns read, original bytes kept.

Only the envelope is decoded (a light Struct; unknown fields and unknown event types are
fine), so a message from a newer producer still archives whole. A message that is not a
callstream envelope at all still archives, with null envelope columns and its event date
taken from the Kafka timestamp, so retention still applies to it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import msgspec
import pyarrow as pa

from callstream.archive.tables import ARROW_SCHEMA

_EPOCH = dt.date(1970, 1, 1)
_MS_PER_DAY = 86_400_000


class EnvelopeView(msgspec.Struct):
    """The envelope fields the archive keeps as columns; everything else stays in payload."""

    event_type: str
    event_id: str
    contact_id: str
    event_time_ms: int
    schema_version: int = 1
    producer: str | None = None
    caused_by: str | None = None


_decode_envelope = msgspec.json.Decoder(EnvelopeView).decode


def read_envelope(value: bytes | None) -> EnvelopeView | None:
    """The envelope of a message value, or None if it is not a callstream event."""
    if not value:
        return None
    try:
        return _decode_envelope(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def event_day(time_ms: int) -> int:
    """Days since the epoch (the Arrow ``date32`` value) of a millisecond timestamp."""
    return time_ms // _MS_PER_DAY


def day_to_date(day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=day)


@dataclass
class TopicBuffer:
    """Messages of one topic waiting to be archived, column by column.

    Appending is the hot path of the archiver, so it stores raw Kafka fields in lists and
    leaves decoding and Arrow building to ``to_arrow`` at flush time.
    """

    topic: str
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    timestamps: list[int | None] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    headers: list[list[tuple[str, bytes | None]] | None] = field(default_factory=list)
    payload_bytes: int = 0
    #: monotonic time the oldest buffered row arrived (None while empty)
    first_at: float | None = None
    #: next offset to read per partition, once these rows are archived
    next_offsets: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.offsets)

    def add(self, partition: int, offset: int, timestamp_ms: int | None, key: bytes | None,
            value: bytes | None, headers: list[tuple[str, bytes | None]] | None, now: float) -> None:
        if self.first_at is None:
            self.first_at = now
        self.partitions.append(partition)
        self.offsets.append(offset)
        self.timestamps.append(timestamp_ms)
        self.keys.append(key)
        self.values.append(value)
        self.headers.append(headers)
        self.payload_bytes += len(value) if value else 0
        self.next_offsets[partition] = offset + 1

    def drop_partitions(self, partitions: set[int]) -> None:
        """Forget rows of partitions this archiver no longer owns (after a lost assignment)."""
        keep = [i for i, p in enumerate(self.partitions) if p not in partitions]
        for name in ("partitions", "offsets", "timestamps", "keys", "values", "headers"):
            column = getattr(self, name)
            setattr(self, name, [column[i] for i in keep])
        self.payload_bytes = sum(len(v) for v in self.values if v)
        self.next_offsets = {p: o for p, o in self.next_offsets.items() if p not in partitions}
        if not self.offsets:
            self.first_at = None

    def clear(self) -> None:
        self.__init__(self.topic)  # type: ignore[misc]

    def to_arrow(self, archived_at_ms: int) -> pa.Table:
        """The buffered rows as an Arrow table, sorted by (contact_id, event_time_ms)."""
        return build_rows(self.topic, self.partitions, self.offsets, self.timestamps, self.keys,
                          self.values, self.headers, archived_at_ms)


def build_rows(
    topic: str,
    partitions: list[int],
    offsets: list[int],
    timestamps: list[int | None],
    keys: list[bytes | None],
    values: list[bytes | None],
    headers: list[list[tuple[str, bytes | None]] | None],
    archived_at_ms: int,
) -> pa.Table:
    """Archive rows for one topic's messages, sorted so one call's events sit together."""
    n = len(offsets)
    event_types: list[str | None] = [None] * n
    event_ids: list[str | None] = [None] * n
    contact_ids: list[str | None] = [None] * n
    event_times: list[int | None] = [None] * n
    versions: list[int | None] = [None] * n
    producers: list[str | None] = [None] * n
    causes: list[str | None] = [None] * n
    days: list[int] = [0] * n
    fallback_day = event_day(archived_at_ms)
    for i, value in enumerate(values):
        envelope = read_envelope(value)
        if envelope is not None:
            event_types[i] = envelope.event_type
            event_ids[i] = envelope.event_id
            contact_ids[i] = envelope.contact_id
            event_times[i] = envelope.event_time_ms
            versions[i] = envelope.schema_version
            producers[i] = envelope.producer
            causes[i] = envelope.caused_by
            days[i] = event_day(envelope.event_time_ms)
        else:
            timestamp = timestamps[i]
            days[i] = event_day(timestamp) if timestamp is not None and timestamp >= 0 else fallback_day
    header_rows = [
        None if hs is None else [{"key": k, "value": v} for k, v in hs] for hs in headers
    ]
    columns = [
        pa.array([topic] * n, pa.string()),
        pa.array(partitions, pa.int32()),
        pa.array(offsets, pa.int64()),
        pa.array(timestamps, pa.int64()),
        pa.array(keys, pa.binary()),
        pa.array(event_types, pa.string()),
        pa.array(event_ids, pa.string()),
        pa.array(contact_ids, pa.string()),
        pa.array(event_times, pa.int64()),
        pa.array(days, pa.int32()).cast(pa.date32()),
        pa.array(versions, pa.int32()),
        pa.array(producers, pa.string()),
        pa.array(causes, pa.string()),
        pa.array(values, pa.binary()),
        pa.array(header_rows, ARROW_SCHEMA.field("headers").type),
        pa.array([archived_at_ms] * n, pa.int64()),
    ]
    rows = pa.Table.from_arrays(columns, schema=ARROW_SCHEMA)
    return rows.sort_by([("contact_id", "ascending"), ("event_time_ms", "ascending"),
                         ("kafka_partition", "ascending"), ("kafka_offset", "ascending")])
