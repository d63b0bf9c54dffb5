"""Ship the audit log off the host: its entries and signed heads, in order, into the
``callstream.governance.audit`` topic (which the archiver archives like any other).

The local log is where entries are chained and signed; the topic is the copy someone who
can edit this host's files cannot quietly shorten. Records are keyed ``<log>/entry/<seq>`` and
``<log>/head/<size>`` and carry the exact bytes of the local line, so the copy verifies with the
same code (``verify_records``), and ``trusted_head`` turns its newest head into the pin that
``AuditLog.verify`` checks the local log against. Keys start with the fingerprint of the
log's signing key, so the logs of several hosts or deployments can share one topic and
each is read back on its own.

Shipping resumes from the topic itself (its last record says how far it got), so a lost
local bookmark never duplicates or skips anything.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path

import msgspec
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from callstream.errors import KafkaOperationError
from callstream.governance.audit import AuditLog, Head, Verification, verify_log

AUDIT_TOPIC = "callstream.governance.audit"


class AuditTopic:
    """The audit topic as one service reads and writes it, its Kafka clients kept between uses:
    `up` ships every ten seconds, and a consumer made and closed each time was often closed
    during its coordinator's SASL handshake (librdkafka printed an authentication error into
    `up`'s console) and an idempotent producer asked the broker for a new id each time."""

    def __init__(self, conf: Mapping[str, str], service: str, topic: str = AUDIT_TOPIC) -> None:
        self.conf, self.service, self.topic = dict(conf), service, topic
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None

    def records(self, timeout_s: float = 10.0) -> list[tuple[bytes, bytes]]:
        """(key, value) of every record in the topic, in order."""
        if self._consumer is None:
            # assign() joins no group, but librdkafka still looks up the group's coordinator: the
            # group id must be one the reader's ACLs allow (``callstream-<service>...``)
            self._consumer = Consumer({**self.conf, "group.id": f"callstream-{self.service}-audit-reader",
                                       "enable.auto.commit": "false", "enable.partition.eof": "true"})
        consumer = self._consumer
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=timeout_s)
            if high <= low:
                return []
            consumer.assign([TopicPartition(self.topic, 0, low)])
            out: list[tuple[bytes, bytes]] = []
            while len(out) < high - low:
                message = consumer.poll(timeout_s)
                if message is None:
                    break
                if message.error():
                    if message.error().code() == -191:  # partition EOF
                        break
                    raise KafkaOperationError(f"reading {self.topic} failed: {message.error().str()}")
                out.append((message.key() or b"", message.value() or b""))
            return out
        except KafkaException as exc:
            raise KafkaOperationError(f"reading {self.topic} failed: {exc.args[0].str()}",
                                      "check the connection and that the principal may read the audit topic") from None

    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({**self.conf, "enable.idempotence": "true", "acks": "all", "linger.ms": 5})
        return self._producer

    def drop_producer(self) -> None:
        """Forget what the producer still holds: a kept queue delivered after the next ship
        read the topic's end would duplicate what that ship sends again."""
        if self._producer is not None:
            self._producer.purge(in_queue=True, in_flight=False)
            self._producer.poll(0)  # serves the purged messages' reports: nothing is left
            self._producer = None

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        if self._producer is not None:
            self._producer.flush(30)
            self._producer = None


def _records(conf: Mapping[str, str], topic: str, reader: str) -> list[tuple[bytes, bytes]]:
    with closing(AuditTopic(conf, reader, topic)) as audit_topic:
        return audit_topic.records()


def log_id(log: AuditLog) -> str:
    """The fingerprint of the log's signing key: which log a shipped record belongs to."""
    from cryptography.hazmat.primitives import serialization

    raw = log.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _of_log(records: list[tuple[bytes, bytes]], log: AuditLog) -> list[tuple[str, int, bytes]]:
    """(kind, number, value) of this log's records, in topic order."""
    prefix = f"{log_id(log)}/"
    out = []
    for key, value in records:
        text = key.decode(errors="replace")
        if text.startswith(prefix):
            kind, _, number = text[len(prefix):].partition("/")
            out.append((kind, int(number), value))
    return out


def _shipped(records: list[tuple[str, int, bytes]]) -> tuple[int, int]:
    """(entries shipped, size of the newest head shipped), from this log's last record."""
    if not records:
        return 0, 0
    kind, number, _ = records[-1]
    heads = [n for k, n, _ in records if k == "head"]
    return (number + 1 if kind == "entry" else number), max(heads, default=0)


#: the service that ships the log, and the one that reads it back to verify
SHIPPER, VERIFIER = "auditor", "replay-privileged"


def ship(log: AuditLog, conf: Mapping[str, str], topic: str = AUDIT_TOPIC) -> tuple[int, int]:
    """Produce what the topic lacks; returns (entries, heads) shipped now. ``conf`` connects
    as the ``auditor`` service (it reads the topic to resume where it stopped)."""
    with closing(AuditTopic(conf, SHIPPER, topic)) as audit_topic:
        return ship_to(log, audit_topic)


def ship_to(log: AuditLog, audit_topic: AuditTopic) -> tuple[int, int]:
    """``ship`` through clients the caller keeps (a shipper running beside `up`)."""
    if not log.heads_path.exists():
        return 0, 0
    topic = audit_topic.topic
    entries_done, head_done = _shipped(_of_log(audit_topic.records(), log))
    prefix = log_id(log)
    lines = [line for line in log.log_path.read_bytes().splitlines() if line] if log.log_path.exists() else []
    producer = audit_topic.producer()
    sent_entries = sent_heads = 0
    position = entries_done
    for head_line in (line for line in log.heads_path.read_bytes().splitlines() if line):
        head = msgspec.json.decode(head_line, type=Head)
        if head.size <= head_done:
            continue
        for seq in range(position, min(head.size, len(lines))):
            producer.produce(topic, lines[seq], key=f"{prefix}/entry/{seq}".encode(), partition=0)
            sent_entries += 1
        position = max(position, head.size)
        producer.produce(topic, head_line, key=f"{prefix}/head/{head.size}".encode(), partition=0)
        sent_heads += 1
        producer.poll(0)
    if producer.flush(30):
        audit_topic.drop_producer()  # the next ship resumes from the topic, not from this queue
        raise KafkaOperationError(f"the audit log could not be shipped to {topic} within 30 s",
                                  "check the brokers and that the auditor may write the audit topic")
    return sent_entries, sent_heads


def shipped_heads(log: AuditLog, conf: Mapping[str, str], topic: str = AUDIT_TOPIC,
                  reader: str = VERIFIER) -> list[Head]:
    return [msgspec.json.decode(value, type=Head) for kind, _, value in _of_log(_records(conf, topic, reader), log)
            if kind == "head"]


def trusted_head(log: AuditLog, conf: Mapping[str, str], topic: str = AUDIT_TOPIC,
                 reader: str = VERIFIER) -> Head | None:
    """The newest head of ``log`` shipped off the host: what the local log must still reach."""
    heads = shipped_heads(log, conf, topic, reader)
    return max(heads, key=lambda h: h.size) if heads else None


def verify_records(log: AuditLog, conf: Mapping[str, str], topic: str = AUDIT_TOPIC,
                   reader: str = VERIFIER) -> Verification:
    """Verify the shipped copy on its own, with the deployment's public key."""
    records = _of_log(_records(conf, topic, reader), log)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "log.jsonl"
        copy.write_bytes(b"".join(value + b"\n" for kind, _, value in records if kind == "entry"))
        heads = [msgspec.json.decode(value, type=Head) for kind, _, value in records if kind == "head"]
        return verify_log(copy, heads, log.public_key())
