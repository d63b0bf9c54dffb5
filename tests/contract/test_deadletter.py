"""The dead-letter record and router: unit tests, then the path through a real broker."""

from __future__ import annotations

import gc
import logging
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from callstream.contract.codec import EventDeserializer, decode_event, encode_event
from callstream.contract.deadletter import (
    DEADLETTER_TOPIC,
    MAX_REASON_CHARS,
    DeadLetterRouter,
    dead_letter,
    read_dead_letter,
)
from callstream.contract.events import TranscriptSegment
from callstream.errors import DecodeError, EncodeError, KafkaOperationError
from callstream.testing import RecordedMessage

LOG = logging.getLogger("test")


def raw_message(value: bytes, key: bytes | None = None, headers=None, *, topic: str = "callstream.transcript.raw",
                partition: int = 2, offset: int = 41) -> RecordedMessage:
    """A record of the raw transcript topic, as the dead-letter code reads it."""
    return RecordedMessage(topic, value, key=key, headers=headers, partition=partition, offset=offset)


class FakeProducer:
    def __init__(self, fail: str | None = None):
        self.records: list[dict] = []
        self.fail = fail
        self.flushes = 0

    def produce(self, topic, value=None, key=None, headers=None, on_delivery=None):
        self.records.append({"topic": topic, "key": key, "value": value, "headers": headers})
        self._pending = (on_delivery, self.fail)

    def flush(self, timeout=None):
        self.flushes += 1
        callback, fail = self._pending
        callback(fail, None)
        return 0


def test_dead_letter_keeps_the_original_bytes_and_adds_the_failure():
    headers = [("traceparent", b"00-ab"), ("callstream.event_type", b"transcript.segment")]
    key, value, out = dead_letter(b"\xffnot json", b"c-1", headers, "not valid JSON: boom",
                                  "callstream.transcript.raw", 2, 41, "redactor", failed_at_ms=1_700_000_000_000)
    assert (key, value) == (b"c-1", b"\xffnot json")
    assert out == [
        *headers,
        ("callstream.dlq.reason", b"not valid JSON: boom"),
        ("callstream.dlq.source_topic", b"callstream.transcript.raw"),
        ("callstream.dlq.source_partition", b"2"),
        ("callstream.dlq.source_offset", b"41"),
        ("callstream.dlq.processor", b"redactor"),
        ("callstream.dlq.failed_at_ms", b"1700000000000"),
    ]


def test_read_dead_letter_round_trips_and_redrives_the_original():
    original_headers = [("traceparent", b"00-ab")]
    key, value, headers = dead_letter(b"{oops", b"c-1", original_headers, "not valid JSON",
                                      "callstream.transcript.raw", 2, 41, "redactor", failed_at_ms=5)
    record = read_dead_letter(raw_message(value, key, headers, topic=DEADLETTER_TOPIC, partition=0, offset=9))
    assert (record.reason, record.source_topic, record.source_partition, record.source_offset) == (
        "not valid JSON", "callstream.transcript.raw", 2, 41)
    assert (record.processor, record.failed_at_ms, record.partition, record.offset) == ("redactor", 5, 0, 9)
    assert record.redrive() == ("callstream.transcript.raw", b"c-1", b"{oops", original_headers)


def test_a_redriven_message_that_fails_again_carries_only_its_latest_failure():
    _, _, first = dead_letter(b"x", None, None, "first", "t", 0, 1, "redactor", failed_at_ms=1)
    _, _, second = dead_letter(b"x", None, first, "second", "t", 0, 7, "sentiment", failed_at_ms=2)
    record = read_dead_letter(raw_message(b"x", None, second))
    assert (record.reason, record.source_offset, record.processor) == ("second", 7, "sentiment")
    assert record.headers == ()


def test_long_reasons_are_truncated():
    _, _, headers = dead_letter(b"x", None, None, "y" * 5000, "t", 0, 1, "p")
    reason = dict(headers)["callstream.dlq.reason"].decode()
    assert len(reason) == MAX_REASON_CHARS and reason.endswith("…")


def test_reading_a_record_that_is_not_a_dead_letter_is_a_decode_error():
    with pytest.raises(DecodeError, match="not a dead-letter record: header callstream.dlq.reason is missing"):
        read_dead_letter(raw_message(b"{}", headers=[("traceparent", b"x")]))
    _, _, headers = dead_letter(b"x", None, None, "r", "t", 0, 1, "p")
    bad = [(k, b"NaN" if k == "callstream.dlq.source_offset" else v) for k, v in headers]
    with pytest.raises(DecodeError, match="source_offset is 'NaN', not a number"):
        read_dead_letter(raw_message(b"x", headers=bad))


def test_router_waits_for_the_ack_and_raises_when_the_broker_refuses():
    producer = FakeProducer()
    router = DeadLetterRouter(producer, "redactor")
    router.route(raw_message(b"{oops", b"c-1"), "not valid JSON")
    assert producer.records[0]["topic"] == DEADLETTER_TOPIC and producer.flushes == 1 and router.routed == 1
    refusing = DeadLetterRouter(FakeProducer(fail="TOPIC_AUTHORIZATION_FAILED"), "redactor")
    with pytest.raises(KafkaOperationError, match="could not write 1 record.*TOPIC_AUTHORIZATION_FAILED"):
        refusing.route(raw_message(b"{oops"), "not valid JSON")


def test_quix_consumer_error_callback_dead_letters_decode_errors_only():
    producer = FakeProducer()
    router = DeadLetterRouter(producer, "redactor")
    message = raw_message(b"{oops", b"c-1", [("traceparent", b"1")])
    with pytest.raises(DecodeError) as err:
        decode_event(message.value())
    assert router.on_consumer_error(err.value, message, LOG) is True
    record = read_dead_letter(raw_message(producer.records[0]["value"], producer.records[0]["key"], producer.records[0]["headers"]))
    assert record.reason.startswith("not valid JSON") and record.value == b"{oops" and record.source_offset == 41
    # A broker failure is not the message's fault: the app must stop, not skip it.
    assert router.on_consumer_error(RuntimeError("broker down"), None, LOG) is False
    assert len(producer.records) == 1


def test_quix_processing_error_callback_dead_letters_contract_errors(sample_event):
    class Row:  # quixstreams.models.Row's readable surface
        value = sample_event(TranscriptSegment)
        key, headers, topic, partition, offset = "c-1", [("traceparent", b"1")], "callstream.transcript.raw", 1, 5

    producer = FakeProducer()
    router = DeadLetterRouter(producer, "redactor")
    assert router.on_processing_error(EncodeError("derived event broke its contract"), Row, LOG) is True
    sent = producer.records[0]
    assert sent["key"] == b"c-1" and decode_event(sent["value"]) == Row.value
    assert dict(sent["headers"])["callstream.dlq.reason"] == b"EncodeError: derived event broke its contract"
    assert router.on_processing_error(ZeroDivisionError("bug"), Row, LOG) is False  # a bug stops the app


# --- through a real broker -------------------------------------------------------------------

def _consume(conf: dict, topic: str, count: int, timeout_s: float = 30.0) -> list:
    consumer = Consumer({**conf, "group.id": f"reader-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    found, deadline = [], time.monotonic() + timeout_s
    try:
        while len(found) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                found.append(msg)
    finally:
        consumer.close()
    return found


def _produce_inputs(conf: dict, topic: str, event) -> list[tuple]:
    good_value, good_headers = encode_event(event)
    unknown = good_value.replace(b'"transcript.segment"', b'"transcript.summary"')
    inputs = [
        (b"c-1", good_value, good_headers),
        (b"c-2", b'{"event_type": "transcript.segment", "text": "my card is 4111', [("traceparent", b"00-7f")]),
        (b"c-3", unknown, None),
        (b"c-4", good_value, good_headers),
    ]
    producer = Producer(conf)
    for key, value, headers in inputs:
        producer.produce(topic, key=key, value=value, headers=headers, partition=0)
    assert producer.flush(30) == 0
    return inputs


def test_consume_loop_sends_an_undecodable_message_to_the_dead_letter_topic(
        kafka_config, create_topic, unique_name, sample_event):
    source = create_topic(unique_name("callstream.transcript.raw"), partitions=1)
    dlq = create_topic(unique_name("callstream.deadletter"), partitions=1)
    event = sample_event(TranscriptSegment)
    inputs = _produce_inputs(kafka_config, source, event)

    # A processor's loop: decode, handle, dead-letter what cannot be read, commit.
    router = DeadLetterRouter(Producer(kafka_config), "redactor", topic=dlq)
    consumer = Consumer({**kafka_config, "group.id": unique_name("redactor"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([source])
    handled, seen, deadline = [], 0, time.monotonic() + 30
    try:
        while seen < len(inputs) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            seen += 1
            try:
                decoded = decode_event(msg.value(), msg.headers())
            except DecodeError as exc:
                router.route(msg, exc.message)
            else:
                if decoded is not None:  # unknown event types are skipped, not dead-lettered
                    handled.append(decoded)
            consumer.commit(msg, asynchronous=False)
    finally:
        consumer.close()
    assert handled == [event, event]

    [record] = [read_dead_letter(m) for m in _consume(kafka_config, dlq, 1)]
    assert record.value == inputs[1][1] and record.key == b"c-2"  # byte for byte
    assert record.reason == "not valid JSON: Input data was truncated"
    assert (record.source_topic, record.source_partition, record.source_offset) == (source, 0, 1)
    assert record.processor == "redactor" and record.headers == (("traceparent", b"00-7f"),)
    assert abs(record.failed_at_ms - time.time() * 1000) < 60_000


def test_quix_application_dead_letters_through_on_consumer_error(
        kafka_config, create_topic, unique_name, sample_event, tmp_path):
    from quixstreams import Application
    from quixstreams.kafka.configuration import ConnectionConfig

    source = create_topic(unique_name("callstream.transcript.raw"), partitions=1)
    dlq = create_topic(unique_name("callstream.deadletter"), partitions=1)
    event = sample_event(TranscriptSegment)
    inputs = _produce_inputs(kafka_config, source, event)

    router = DeadLetterRouter(Producer(kafka_config), "redactor", topic=dlq)
    app = Application(
        broker_address=ConnectionConfig.from_librdkafka_dict(kafka_config), consumer_group=unique_name("redactor"),
        auto_offset_reset="earliest", state_dir=tmp_path / "state", use_changelog_topics=False,
        on_consumer_error=router.on_consumer_error, on_processing_error=router.on_processing_error,
        loglevel="WARNING",
    )
    topic = app.topic(source, value_deserializer=EventDeserializer(), key_deserializer="str")
    seen: list = []
    sdf = app.dataframe(topic).update(seen.append)
    app.run(count=2, timeout=30)
    assert seen == [event, event]  # the unknown type skipped, the garbage routed
    del app, sdf, topic, router
    gc.collect()  # the app's clients hold reference cycles; close them while the broker is up

    [record] = [read_dead_letter(m) for m in _consume(kafka_config, dlq, 1)]
    assert record.value == inputs[1][1] and record.source_offset == 1
    assert record.reason == "not valid JSON: Input data was truncated"
