"""Producing when librdkafka's local queue may be full.

``Producer.produce`` raises ``BufferError`` at once when ``queue.buffering.max.messages``
records wait for delivery; everything that writes faster than the broker takes (the
simulator, rehearsal traffic, benchmark backlogs) must wait for deliveries and try again
rather than lose the record or stop.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException, Producer

from callstream.errors import KafkaOperationError


def produce_patiently(producer: Producer, topic: str, value: bytes | None, key: bytes | str | None,
                      headers: list | None = None, *, hint: str = "check the topic and the producer settings",
                      **options: Any) -> None:
    """``producer.produce(topic, value, key, headers=headers, **options)``, serving delivery
    callbacks while the local queue is full; a refusal other than a full queue is a
    ``KafkaOperationError`` that names the topic and ends with ``hint``."""
    while True:
        try:
            producer.produce(topic, value, key, headers=headers, **options)
            return
        except BufferError:
            producer.poll(0.05)  # local queue full: let deliveries drain
        except KafkaException as exc:
            raise KafkaOperationError(f"cannot produce to {topic}: {exc}", hint) from exc
