"""Fixtures for archive tests: a local warehouse per test, a real s3proxy per session, events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from callstream.archive.settings import ArchiveSettings, S3Settings
from callstream.archive.tables import Archive
from callstream.contract.codec import encode_event
from callstream.contract.events import (
    CallConnected,
    CallEnded,
    CallInitiated,
    CallQueued,
    CallTransferred,
    Envelope,
    TranscriptSegment,
)
from callstream.local import s3server

DAY_MS = 86_400_000


@pytest.fixture
def archive_settings(tmp_path: Path) -> ArchiveSettings:
    return ArchiveSettings.for_state_dir(tmp_path, flush_max_rows=400, flush_max_age_s=0.5)


@pytest.fixture
def archive(archive_settings: ArchiveSettings) -> Archive:
    return Archive.open(archive_settings)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3server.LocalS3Server]:
    """A real s3proxy (Maven Central, filesystem backend) on 127.0.0.1, stopped by PID."""
    home = tmp_path_factory.mktemp("s3proxy")
    server = s3server.start(home)
    try:
        yield server
    finally:
        s3server.stop(home)


@pytest.fixture
def s3_settings(s3_server: s3server.LocalS3Server, tmp_path: Path) -> ArchiveSettings:
    bucket = f"archive-{uuid.uuid4().hex[:12]}"  # S3 bucket names: lowercase, digits, dashes
    s3_server.create_bucket(bucket)
    return ArchiveSettings(
        warehouse=f"s3://{bucket}/warehouse",
        catalog_uri=f"sqlite:///{tmp_path / 'catalog.db'}",
        s3=S3Settings(endpoint=s3_server.endpoint_url, access_key_id=s3_server.access_key_id,
                      secret_access_key=s3_server.secret_access_key, region=s3_server.region),
        flush_max_rows=400, flush_max_age_s=0.5,
    )


# --- Kafka helpers -------------------------------------------------------------------------

@pytest.fixture
def make_topics(kafka_config: dict[str, str], unique_name) -> Callable[..., list[str]]:
    """``make_topics("lifecycle", "raw", partitions=3)`` -> created uuid topic names."""
    admin = AdminClient(kafka_config)

    def make(*prefixes: str, partitions: int = 3) -> list[str]:
        names = [unique_name(p) for p in prefixes]
        futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names])
        for future in futures.values():
            future.result(timeout=30)
        return names

    return make


def new_producer(kafka_config: dict[str, str]) -> Producer:
    # murmur2_random: the Java-compatible partitioner replay computes partitions with.
    return Producer(kafka_config | {"linger.ms": "5", "partitioner": "murmur2_random", "enable.idempotence": "true"})


def produce_events(producer: Producer, topic: str, events: list[Envelope], timestamp_ms: int | None = None) -> None:
    for event in events:
        value, headers = encode_event(event)
        kwargs = {"timestamp": timestamp_ms} if timestamp_ms is not None else {}
        while True:
            try:
                producer.produce(topic, value=value, key=event.contact_id, headers=headers, **kwargs)
                break
            except BufferError:
                producer.poll(0.05)
    producer.poll(0)


def queued(contact_id: str, n: int, t0: int, seq: int = 0) -> list[Envelope]:
    return [CallQueued(event_id=f"{contact_id}-q{seq + i}", contact_id=contact_id, event_time_ms=t0 + i,
                       produced_at_ms=t0 + i, producer="test", queue="billing", queue_depth=i) for i in range(n)]


def segment(contact_id: str, i: int, t: int, text: str) -> TranscriptSegment:
    return TranscriptSegment(event_id=f"{contact_id}-s{i}", contact_id=contact_id, event_time_ms=t, produced_at_ms=t,
                             producer="test", segment_id=f"{contact_id}-seg{i}", sequence=i, participant="customer",
                             start_offset_ms=i * 1000, end_offset_ms=i * 1000 + 900, text=text, is_final=True)


def transferred_call(a: str, b: str, t0: int) -> tuple[list[Envelope], list[Envelope]]:
    """Lifecycle events of call ``a`` transferred to ``b`` (split: a's events, b's events)."""
    a_events: list[Envelope] = [
        CallInitiated(event_id=f"{a}-init", contact_id=a, event_time_ms=t0, produced_at_ms=t0, producer="test",
                      caller_number="+15550100", dialed_number="+18005550000"),
        CallConnected(event_id=f"{a}-conn", contact_id=a, event_time_ms=t0 + 10, produced_at_ms=t0 + 10,
                      producer="test", agent_id="agent-1", queue="billing"),
        CallTransferred(event_id=f"{a}-xfer", contact_id=a, event_time_ms=t0 + 20, produced_at_ms=t0 + 20,
                        producer="test", from_agent_id="agent-1", to_queue="fraud", new_contact_id=b,
                        initial_contact_id=a),
        CallEnded(event_id=f"{a}-end", contact_id=a, event_time_ms=t0 + 21, produced_at_ms=t0 + 21, producer="test",
                  ended_by="transfer", duration_ms=21),
    ]
    b_events: list[Envelope] = [
        CallInitiated(event_id=f"{b}-init", contact_id=b, event_time_ms=t0 + 22, produced_at_ms=t0 + 22,
                      producer="test", caller_number="+15550100", dialed_number="+18005550000",
                      previous_contact_id=a, initial_contact_id=a),
        CallConnected(event_id=f"{b}-conn", contact_id=b, event_time_ms=t0 + 30, produced_at_ms=t0 + 30,
                      producer="test", agent_id="agent-2", queue="fraud"),
    ]
    return a_events, b_events


def now_ms() -> int:
    return int(time.time() * 1000)
