"""Ship the audit log off the host: its entries and signed heads, in order, into the
``callstream.governance.audit`` topic (which the archiver archives like any other).

The local log is where entries are chained and signed; the topic is the copy someone who
can edit this host's files cannot quietly shorten. Records are keyed ``entry:<seq>`` and
``head:<size>`` and carry the exact bytes of the local line, so the copy verifies with the
same code (``verify_records``), and ``trusted_head`` turns its newest head into the pin that
``AuditLog.verify`` checks the local log against.

Shipping resumes from the topic itself (its last record says how far it got), so a lost
local bookmark never duplicates or skips anything.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

import msgspec
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from callstream.errors import KafkaOperationError
from callstream.governance.audit import AuditLog, Head, Verification, verify_log

AUDIT_TOPIC = "callstream.governance.audit"


def _records(conf: Mapping[str, str], topic: str, timeout_s: float = 10.0) -> list[tuple[bytes, bytes]]:
    consumer = Consumer({**conf, "group.id": "callstream-audit-reader", "enable.auto.commit": "false",
                         "enable.partition.eof": "true"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=timeout_s)
        if high <= low:
            return []
        consumer.assign([TopicPartition(topic, 0, low)])
        out: list[tuple[bytes, bytes]] = []
        while len(out) < high - low:
            message = consumer.poll(timeout_s)
            if message is None:
                break
            if message.error():
                if message.error().code() == -191:  # partition EOF
                    break
                raise KafkaOperationError(f"reading {topic} failed: {message.error().str()}")
            out.append((message.key() or b"", message.value() or b""))
        return out
    except KafkaException as exc:
        raise KafkaOperationError(f"reading {topic} failed: {exc.args[0].str()}",
                                  "check the connection and that the principal may read the audit topic") from None
    finally:
        consumer.close()


def _shipped(records: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """(entries shipped, size of the newest head shipped), from the topic's last record."""
    if not records:
        return 0, 0
    key = records[-1][0].decode()
    kind, _, number = key.partition(":")
    heads = [int(k.decode().split(":")[1]) for k, _ in records if k.startswith(b"head:")]
    return (int(number) + 1 if kind == "entry" else int(number)), max(heads, default=0)


def ship(log: AuditLog, conf: Mapping[str, str], topic: str = AUDIT_TOPIC) -> tuple[int, int]:
    """Produce what the topic lacks; returns (entries, heads) shipped now."""
    entries_done, head_done = _shipped(_records(conf, topic))
    lines = [line for line in log.log_path.read_bytes().splitlines() if line] if log.log_path.exists() else []
    producer = Producer({**conf, "enable.idempotence": "true", "acks": "all", "linger.ms": 5})
    sent_entries = sent_heads = 0
    position = entries_done
    for head_line in (line for line in log.heads_path.read_bytes().splitlines() if line) if log.heads_path.exists() else []:
        head = msgspec.json.decode(head_line, type=Head)
        if head.size <= head_done:
            continue
        for seq in range(position, min(head.size, len(lines))):
            producer.produce(topic, lines[seq], key=f"entry:{seq}".encode(), partition=0)
            sent_entries += 1
        position = max(position, head.size)
        producer.produce(topic, head_line, key=f"head:{head.size}".encode(), partition=0)
        sent_heads += 1
        producer.poll(0)
    if producer.flush(30):
        raise KafkaOperationError(f"the audit log could not be shipped to {topic} within 30 s",
                                  "check the brokers and that the auditor may write the audit topic")
    return sent_entries, sent_heads


def shipped_heads(conf: Mapping[str, str], topic: str = AUDIT_TOPIC) -> list[Head]:
    return [msgspec.json.decode(value, type=Head) for key, value in _records(conf, topic) if key.startswith(b"head:")]


def trusted_head(conf: Mapping[str, str], topic: str = AUDIT_TOPIC) -> Head | None:
    """The newest head shipped off the host: what the local log must still reach."""
    heads = shipped_heads(conf, topic)
    return max(heads, key=lambda h: h.size) if heads else None


def verify_records(log: AuditLog, conf: Mapping[str, str], topic: str = AUDIT_TOPIC) -> Verification:
    """Verify the shipped copy on its own, with the deployment's public key."""
    records = _records(conf, topic)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "log.jsonl"
        copy.write_bytes(b"".join(value + b"\n" for key, value in records if key.startswith(b"entry:")))
        heads = [msgspec.json.decode(value, type=Head) for key, value in records if key.startswith(b"head:")]
        return verify_log(copy, heads, log.public_key())
