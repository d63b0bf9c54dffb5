"""The dead-letter record: a message a processor could not handle, kept byte for byte.

The value and key are the original bytes, unchanged, so a fixed consumer can re-drive
the record to its source topic exactly as it was. What went wrong and where the message
came from travel in headers, after the original headers:

    callstream.dlq.reason            why it failed (e.g. the ``DecodeError`` message)
    callstream.dlq.source_topic      where it was read
    callstream.dlq.source_partition  ... which partition (decimal)
    callstream.dlq.source_offset     ... which offset (decimal)
    callstream.dlq.processor         who failed to read it
    callstream.dlq.failed_at_ms      when (ms since the epoch, decimal)

``DeadLetterRouter`` sends such records, from a plain consume loop (``route``) or as the
Quix Streams ``on_consumer_error`` / ``on_processing_error`` callbacks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from callstream.contract.catalog import DEADLETTER_TOPIC
from callstream.contract.codec import encode_event
from callstream.errors import DecodeError, EncodeError, KafkaOperationError

DLQ_PREFIX = "callstream.dlq."
REASON_HEADER = DLQ_PREFIX + "reason"
SOURCE_TOPIC_HEADER = DLQ_PREFIX + "source_topic"
SOURCE_PARTITION_HEADER = DLQ_PREFIX + "source_partition"
SOURCE_OFFSET_HEADER = DLQ_PREFIX + "source_offset"
PROCESSOR_HEADER = DLQ_PREFIX + "processor"
FAILED_AT_HEADER = DLQ_PREFIX + "failed_at_ms"
#: A reason is for a person; an exception dump would dwarf the message it describes.
MAX_REASON_CHARS = 1000

HeaderList = list[tuple[str, bytes | None]]

__all__ = [
    "DEADLETTER_TOPIC", "DeadLetter", "DeadLetterRouter", "dead_letter", "read_dead_letter",
]


class KafkaMessage(Protocol):
    """What we read from a consumed message (``confluent_kafka.Message`` has it)."""

    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def headers(self) -> Sequence[tuple[str, bytes | None]] | None: ...
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...


def dead_letter(
    message_value: bytes | None,
    key: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] | None,
    reason: str,
    source_topic: str,
    partition: int,
    offset: int,
    processor: str,
    *,
    failed_at_ms: int | None = None,
) -> tuple[bytes | None, bytes | None, HeaderList]:
    """``(key, value, headers)`` of the dead-letter record for one failed message.

    Earlier ``callstream.dlq.*`` headers are dropped: a re-driven message that fails
    again carries its latest failure, not a pile of old ones.
    """
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    kept: HeaderList = [(k, v) for k, v in (headers or ()) if not k.startswith(DLQ_PREFIX)]
    failed_at = failed_at_ms if failed_at_ms is not None else int(time.time() * 1000)
    kept += [
        (REASON_HEADER, reason.encode("utf-8")),
        (SOURCE_TOPIC_HEADER, source_topic.encode("utf-8")),
        (SOURCE_PARTITION_HEADER, str(partition).encode()),
        (SOURCE_OFFSET_HEADER, str(offset).encode()),
        (PROCESSOR_HEADER, processor.encode("utf-8")),
        (FAILED_AT_HEADER, str(failed_at).encode()),
    ]
    return key, message_value, kept


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A dead-letter record as read back: the failure, its origin, the original message."""

    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    processor: str
    failed_at_ms: int
    key: bytes | None
    value: bytes | None
    #: the original message's headers, without the ``callstream.dlq.*`` ones
    headers: tuple[tuple[str, bytes | None], ...] = ()
    #: where this record itself sits in the dead-letter topic
    partition: int | None = None
    offset: int | None = None

    def redrive(self) -> tuple[str, bytes | None, bytes | None, HeaderList]:
        """``(topic, key, value, headers)`` to produce the original message again."""
        return self.source_topic, self.key, self.value, list(self.headers)


def read_dead_letter(msg: KafkaMessage) -> DeadLetter:
    """Read a record of the dead-letter topic; ``DecodeError`` if it is not one."""
    original: list[tuple[str, bytes | None]] = []
    dlq: dict[str, bytes | None] = {}
    for name, value in msg.headers() or ():
        if name.startswith(DLQ_PREFIX):
            dlq[name] = value
        else:
            original.append((name, value))

    def text(name: str) -> str:
        raw = dlq.get(name)
        if raw is None:
            raise DecodeError(
                f"not a dead-letter record: header {name} is missing "
                f"(topic {msg.topic()} partition {msg.partition()} offset {msg.offset()})",
                hint=f"read only {DEADLETTER_TOPIC}; records there are written by callstream.contract.deadletter",
            )
        return raw.decode("utf-8", "replace")

    def number(name: str) -> int:
        raw = text(name)
        try:
            return int(raw)
        except ValueError:
            raise DecodeError(f"dead-letter header {name} is {raw!r}, not a number") from None

    return DeadLetter(
        reason=text(REASON_HEADER),
        source_topic=text(SOURCE_TOPIC_HEADER),
        source_partition=number(SOURCE_PARTITION_HEADER),
        source_offset=number(SOURCE_OFFSET_HEADER),
        processor=text(PROCESSOR_HEADER),
        failed_at_ms=number(FAILED_AT_HEADER),
        key=msg.key(),
        value=msg.value(),
        headers=tuple(original),
        partition=msg.partition(),
        offset=msg.offset(),
    )


class DeadLetterProducer(Protocol):
    """``confluent_kafka.Producer`` and Quix's ``Producer`` both fit."""

    def produce(self, topic: str, value: Any = None, key: Any = None, headers: Any = None, on_delivery: Any = None) -> None: ...
    def flush(self, timeout: float = ...) -> int: ...


class DeadLetterRouter:
    """Sends what a processor cannot handle to the dead-letter topic, then lets it go on.

    ``route`` waits for the broker's acknowledgement by default: a processor commits the
    source offset right after, and a dead letter lost in a crash would be a message lost.
    Dead letters are rare, so the wait costs little; a loop that may route many can pass
    ``wait=False`` and call ``flush()`` before committing.

    With Quix Streams::

        router = DeadLetterRouter(confluent_kafka.Producer(conf), processor="redactor")
        app = Application(..., on_consumer_error=router.on_consumer_error,
                          on_processing_error=router.on_processing_error)
        topic = app.topic(name, value_deserializer=EventDeserializer(), ...)
    """

    def __init__(
        self,
        producer: DeadLetterProducer,
        processor: str,
        *,
        topic: str = DEADLETTER_TOPIC,
        dead_letter_on: tuple[type[BaseException], ...] = (DecodeError, EncodeError),
        flush_timeout_s: float = 10.0,
    ) -> None:
        self.producer = producer
        self.processor = processor
        self.topic = topic
        #: exceptions in processing that mean "this message is bad", not "this code is bad"
        self.dead_letter_on = dead_letter_on
        self.flush_timeout_s = flush_timeout_s
        self.routed = 0
        self._failures: list[str] = []

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failures.append(str(err))

    def send(
        self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes | None]] | None,
        reason: str, source_topic: str, partition: int, offset: int, *, wait: bool = True,
    ) -> None:
        """Dead-letter one message given by its parts."""
        dl_key, dl_value, dl_headers = dead_letter(
            value, key, headers, reason, source_topic, partition, offset, self.processor)
        self.producer.produce(self.topic, value=dl_value, key=dl_key, headers=dl_headers, on_delivery=self._on_delivery)
        self.routed += 1
        if wait:
            self.flush()

    def route(self, message: KafkaMessage, reason: str, *, wait: bool = True) -> None:
        """Dead-letter a consumed message (e.g. one ``decode_event`` refused)."""
        self.send(message.key(), message.value(), message.headers(), reason,
                  message.topic() or "", message.partition() or 0, message.offset() or 0, wait=wait)

    def flush(self) -> None:
        """Wait until every routed record is acknowledged; raise if any was not."""
        remaining = self.producer.flush(self.flush_timeout_s)
        failures, self._failures = self._failures, []
        if remaining or failures:
            raise KafkaOperationError(
                f"could not write {remaining + len(failures)} record(s) to dead-letter topic {self.topic}: "
                + ("; ".join(failures[:3]) or f"not acknowledged within {self.flush_timeout_s}s"),
                hint=f"check that {self.topic} exists and {self.processor} may produce to it; "
                "the source offset was not committed, so the messages will be read again",
            )

    # -- Quix Streams callbacks (signatures of quixstreams.error_callbacks)
    def on_consumer_error(self, exc: Exception, message: KafkaMessage | None, logger: logging.Logger) -> bool:
        """Dead-letter a message the deserializer refused; any other consumer error stops the app."""
        if isinstance(exc, DecodeError) and message is not None:
            self.route(message, exc.message)
            logger.warning("dead-lettered %s[%s]@%s: %s", message.topic(), message.partition(), message.offset(), exc.message)
            return True
        logger.exception("consumer error in %s", self.processor, exc_info=exc)
        return False

    def on_processing_error(self, exc: Exception, row: Any, logger: logging.Logger) -> bool:
        """Dead-letter an event whose processing raised one of ``dead_letter_on``.

        Quix has already decoded the value, so the record holds it re-encoded (the same
        event, not necessarily the same bytes) with the row's original headers.
        """
        if row is None or not isinstance(exc, self.dead_letter_on):
            logger.exception("processing error in %s", self.processor, exc_info=exc)
            return False
        value = row.value
        if not isinstance(value, (bytes, type(None))):
            try:
                value = encode_event(value, validate=False)[0]
            except EncodeError:
                value = repr(value).encode("utf-8")
        key = row.key.encode("utf-8") if isinstance(row.key, str) else row.key
        reason = f"{type(exc).__name__}: {exc}"
        self.send(key, value, row.headers, reason, row.topic, row.partition, row.offset)
        logger.warning("dead-lettered %s[%s]@%s: %s", row.topic, row.partition, row.offset, reason)
        return True
