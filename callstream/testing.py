"""Stand-ins for Kafka records, for tests and benchmarks of code that reads messages.

A ``RecordedMessage`` answers the reader methods of ``confluent_kafka.Message`` (which
cannot be constructed with content from Python), so taps, decoders and dead-letter
routing can be exercised on hand-made records without a broker.
"""

from __future__ import annotations

from collections.abc import Sequence

Headers = Sequence[tuple[str, bytes | None]] | None

#: confluent-kafka's TIMESTAMP_CREATE_TIME
CREATE_TIME = 1


class RecordedMessage:
    """One record as a consumer would hand it over."""

    __slots__ = ("_topic", "_value", "_key", "_headers", "_timestamp_ms", "_partition", "_offset")

    def __init__(self, topic: str, value: bytes | None, *, key: bytes | None = b"k", headers: Headers = None,
                 timestamp_ms: int = 0, partition: int = 0, offset: int = 0) -> None:
        self._topic, self._value, self._key, self._headers = topic, value, key, headers
        self._timestamp_ms, self._partition, self._offset = timestamp_ms, partition, offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def headers(self) -> Headers:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return CREATE_TIME, self._timestamp_ms

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset
