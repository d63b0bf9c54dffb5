"""ACLs verified, not declared: every topic probed as every principal with real clients.

For each principal (each service the catalog names) ``verify_catalog`` connects with that
principal's own credentials and tries, on every catalog topic:

* **write**: it produces one record larger than any topic accepts. The broker checks
  authorization first: an unauthorized producer gets TOPIC_AUTHORIZATION_FAILED, an
  authorized one MESSAGE_TOO_LARGE, and nothing is ever written to the topic;
* **read**: it fetches partition 0 from its end. An unauthorized consumer gets
  TOPIC_AUTHORIZATION_FAILED, an authorized one reaches the end of the partition.

A probe is as the catalog says when the principal was allowed exactly where it is listed
as producer (write) or consumer (read). The matrix is the evidence the readiness scorecard
reads for "least privilege verified".
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from rich import box
from rich.table import Table

from callstream.contract.catalog import Catalog
from callstream.errors import CallstreamError, KafkaOperationError
from callstream.governance.acls import GROUP_PREFIX, services
from callstream.local.credentials import write_private
from callstream.settings import Settings, client_config

Operation = Literal["read", "write"]
#: larger than any topic's max.message.bytes, so an authorized write is refused by size
PROBE_BYTES = 2 * 1024 * 1024
PROBE_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Probe:
    principal: str
    topic: str
    operation: Operation
    expected: bool
    #: ``None`` when the probe could not tell (a timeout, another error)
    allowed: bool | None
    detail: str

    @property
    def as_expected(self) -> bool:
        return self.allowed is self.expected


@dataclass
class VerifyResult:
    topics: list[str]
    principals: list[str]
    probes: list[Probe] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    finished_at: str = ""

    @property
    def surprises(self) -> list[Probe]:
        return [p for p in self.probes if not p.as_expected]

    @property
    def passed(self) -> bool:
        return bool(self.probes) and not self.surprises

    def counts(self) -> dict[str, int]:
        return {
            "probes": len(self.probes),
            "refused_as_expected": sum(1 for p in self.probes if p.as_expected and not p.expected),
            "allowed_as_expected": sum(1 for p in self.probes if p.as_expected and p.expected),
            "surprises": len(self.surprises),
            "principals_skipped": len(self.skipped),
        }

    def summary(self) -> str:
        c = self.counts()
        verdict = "PASSED" if self.passed else "FAILED"
        return (f"{verdict}: {c['probes']} probes on {len(self.topics)} topics as {len(self.principals)} principals: "
                f"{c['refused_as_expected']} refused and {c['allowed_as_expected']} allowed as the catalog says, "
                f"{c['surprises']} surprise(s)" + (f", {c['principals_skipped']} principal(s) skipped" if self.skipped else ""))

    def table(self) -> Table:
        """Principals down, topics across (numbered, see the legend): R read, W write allowed,
        - refused, ! where the cluster disagrees with the catalog."""
        table = Table(title="ACL probe matrix: R read, W write, - refused, ! not as the catalog says",
                      title_justify="left", caption="  ".join(f"{i}={t}" for i, t in enumerate(self.topics, 1)),
                      caption_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True)
        table.add_column("principal", no_wrap=True, max_width=18)
        for i in range(1, len(self.topics) + 1):
            table.add_column(str(i), justify="center", no_wrap=True, min_width=2)
        by_key: dict[tuple[str, str, str], Probe] = {(p.principal, p.topic, p.operation): p for p in self.probes}
        for principal in self.principals:
            cells = []
            for topic in self.topics:
                cell = ""
                for operation, letter in (("read", "R"), ("write", "W")):
                    probe = by_key.get((principal, topic, operation))
                    cell += "?" if probe is None else "!" if not probe.as_expected else letter if probe.allowed else "-"
                cells.append(cell)
            table.add_row(principal, *cells)
        return table

    def to_json(self) -> dict[str, Any]:
        return {"scenario": "acls-verify", "passed": self.passed, "run": {"finished_at": self.finished_at},
                "counts": self.counts(), "topics": self.topics, "principals": self.principals,
                "skipped": self.skipped, "verdicts": [{"check": f"{p.principal} {p.operation} {p.topic}",
                                                       "passed": p.as_expected, "detail": p.detail}
                                                      for p in self.surprises],
                "probes": [asdict(p) for p in self.probes]}

    def write(self, directory: Path) -> Path:
        path = Path(directory) / "report.json"
        write_private(path, json.dumps(self.to_json(), indent=1))
        return path


def _write_probes(conf: dict[str, str], topics: list[str]) -> dict[str, tuple[bool | None, str]]:
    outcome: dict[str, tuple[bool | None, str]] = {}

    def delivered(error: KafkaError | None, message: Any) -> None:
        topic = message.topic()
        if error is None:
            outcome[topic] = (None, "a probe record was written (the topic accepts 2 MiB records?)")
        elif error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
            outcome[topic] = (False, "TOPIC_AUTHORIZATION_FAILED")
        elif error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            outcome[topic] = (True, "authorized (refused only by size: nothing written)")
        else:
            outcome[topic] = (None, error.name())

    producer = Producer(conf | {"message.max.bytes": str(PROBE_BYTES * 2), "compression.type": "none",
                                "message.timeout.ms": str(int(PROBE_TIMEOUT_S * 1000)), "log_level": "0",
                                "acks": "all", "retries": "0"})
    payload = bytes(PROBE_BYTES)
    for topic in topics:
        try:
            producer.produce(topic, payload, partition=0, on_delivery=delivered)
        except KafkaException as exc:  # librdkafka already knows from the topic's metadata
            error = exc.args[0]
            refused = error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
            outcome[topic] = (False, "TOPIC_AUTHORIZATION_FAILED") if refused else (None, error.name())
    producer.flush(PROBE_TIMEOUT_S + 5)
    return outcome


def _read_probes(conf: dict[str, str], topics: list[str], group: str) -> dict[str, tuple[bool | None, str]]:
    """READ implies DESCRIBE in Kafka's ACLs: a topic whose metadata is refused is refused;
    the others are fetched from the end of partition 0 (an assign-only consumer: the group
    is never joined, and a principal without one only gets its refusal, ignored here)."""
    outcome: dict[str, tuple[bool | None, str]] = {}
    consumer = Consumer(conf | {"group.id": group, "enable.auto.commit": "false",
                                "enable.partition.eof": "true", "log_level": "0"})
    try:
        described = []
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=PROBE_TIMEOUT_S).topics.get(topic)
            if meta is not None and meta.error is not None and meta.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                outcome[topic] = (False, "TOPIC_AUTHORIZATION_FAILED (metadata)")
            else:
                described.append(topic)
        consumer.assign([TopicPartition(topic, 0, OFFSET_END) for topic in described])
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        while len(outcome) < len(topics) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or not message.topic():
                continue
            error = message.error()
            if error is None or error.code() == KafkaError._PARTITION_EOF:
                outcome.setdefault(message.topic(), (True, "read to the end of partition 0"))
            elif error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED:
                outcome[message.topic()] = (False, "TOPIC_AUTHORIZATION_FAILED (fetch)")
    finally:
        consumer.close()
    return outcome


#: an ACL reaches the broker's authorizer a moment after it was created: a probe that
#: disagrees is asked again this many times, a second apart, before it counts
RECHECKS = 2

Outcome = dict[tuple[str, str], tuple[bool | None, str]]


def _probe(conf: dict[str, str], group: str, reads: list[str], writes: list[str]) -> Outcome:
    """``(operation, topic) -> (allowed, detail)`` for every read and write asked for."""
    found: Outcome = {("write", t): v for t, v in _write_probes(conf, writes).items()} if writes else {}
    if reads:
        found |= {("read", t): v for t, v in _read_probes(conf, reads, group).items()}
    missing = [("read", t) for t in reads] + [("write", t) for t in writes]
    return {key: found.get(key, (None, "no answer within the probe timeout")) for key in missing}


def _probe_confirmed(conf: dict[str, str], group: str, reads: list[str], writes: list[str],
                     expected: dict[tuple[str, str], bool] | None = None) -> Outcome:
    """``_probe``, with every answer other than the expected one (other than "allowed" without
    expectations) probed again, so an ACL still on its way is not taken for a missing one."""
    found = _probe(conf, group, reads, writes)
    for _ in range(RECHECKS):
        doubtful = [key for key, (allowed, _) in found.items()
                    if allowed is not (expected.get(key, True) if expected else True)]
        if not doubtful:
            break
        time.sleep(1.0)
        found |= _probe(conf, group, [t for op, t in doubtful if op == "read"], [t for op, t in doubtful if op == "write"])
    return found


def verify_catalog(settings: Settings, catalog: Catalog, names: dict[str, str] | None = None) -> VerifyResult:
    """Probe every catalog topic (``names``: their actual names) as every catalog principal."""
    actual = {t.name: (names or {}).get(t.name, t.name) for t in catalog.topics}
    result = VerifyResult(topics=list(actual), principals=[])
    for service in services(catalog):
        try:
            conf = client_config(settings, service)
        except CallstreamError as exc:
            result.skipped[service] = exc.message
            continue
        result.principals.append(service)
        expected = {(op, actual[t.name]): service in (t.producers if op == "write" else t.consumers)
                    for t in catalog.topics for op in ("read", "write")}
        found = _probe_confirmed(conf, f"{GROUP_PREFIX}{service}-acls-verify", list(actual.values()),
                                 list(actual.values()), expected)
        for topic in catalog.topics:
            for operation in ("write", "read"):
                allowed, detail = found[(operation, actual[topic.name])]
                result.probes.append(Probe(service, topic.name, operation, expected[(operation, actual[topic.name])],
                                           allowed, detail))
    result.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    return result


def check_access(conf: dict[str, str], principal: str, *, reads: list[str], writes: list[str]) -> None:
    """Refuse to start a component whose principal lacks an ACL it needs, naming each
    missing operation and topic (a processor would otherwise fail later with an opaque
    "authorization failed" from deep inside its consumer)."""
    found = _probe_confirmed(conf, f"{GROUP_PREFIX}{principal}-preflight", reads, writes)
    refused = sorted(f"{operation.upper()} on topic {topic}" for (operation, topic), (allowed, _) in found.items()
                     if allowed is False)
    if refused:
        raise KafkaOperationError(
            f"principal {principal} is not authorized to {'; '.join(refused)}",
            f"grant it: list {principal} among the topic's producers or consumers in the catalog and run "
            "`callstream acls apply` (or ask the cluster's administrators)", code="TOPIC_AUTHORIZATION_FAILED")
