"""What moves besides topics: the archive's positions, across a cutover."""

from __future__ import annotations

from collections import Counter

import pytest
from confluent_kafka import Producer
from support.migration import create

from callstream.archive.archiver import archive_topics
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive, archived_cluster
from callstream.contract.catalog import load_catalog
from callstream.contract.codec import encode_event
from callstream.errors import ArchiveError
from callstream.migrate.cutover import Platform, SwitchOptions, switch
from callstream.migrate.plan import make_plan, prepare_target
from callstream.migrate.service import ReplicationThreads
from callstream.simulate.simulator import SimulationSettings, generate_events


class _Idle:
    def prepare(self, cluster) -> None: ...  # noqa: ANN001
    def quiesce(self, cluster) -> None: ...  # noqa: ANN001
    def stop(self, cluster) -> None: ...  # noqa: ANN001
    def start(self, cluster) -> None: ...  # noqa: ANN001


def _events(count: int) -> list[tuple[str, bytes, list]]:
    settings = SimulationSettings(rate_per_min=300, duration_s=3_600, max_speed=True, seed=5, drain=False)
    out = []
    for sim in generate_events(settings):
        if len(out) == count:
            break
        value, headers = encode_event(sim.event)
        out.append((sim.event.contact_id, value, headers))
    return out


def _produce(link, topic: str, events: list[tuple[str, bytes, list]]) -> None:
    producer = Producer({**link.config, "partitioner": "murmur2_random", "enable.idempotence": "true"})
    for key, value, headers in events:
        producer.produce(topic, value, key.encode(), headers=headers)
    producer.flush(30)


def test_the_archiver_continues_on_the_target_without_gap_or_duplicate(source_link, target_link, unique_name, tmp_path):
    topic = unique_name("callstream.call.lifecycle")
    create(source_link, topic)
    events = _events(600)
    settings = ArchiveSettings.for_state_dir(tmp_path, flush_max_rows=100, flush_max_age_s=0.5,
                                             consumer_group=unique_name("callstream-archiver"))
    _produce(source_link, topic, events[:350])
    archive_topics(settings, source_link.config, [topic], idle_exit_s=3)  # archives A's 350 and stops

    prepare_target(make_plan(source_link, target_link, load_catalog(), [topic]), target_link)
    replication = ReplicationThreads([topic])
    replication.start(source_link, target_link)
    archive = Archive.open(settings)
    try:
        report = switch(source_link, target_link, Platform([topic], [topic], [], [], archive), _Idle(), replication,
                        SwitchOptions(stable_s=1.0, drain_timeout_s=0, clients_timeout_s=10))
    finally:
        replication.stop_all()
    assert report.verified and set(report.archive) == {topic}

    _produce(target_link, topic, events[350:])
    archive_topics(settings, target_link.config, [topic], idle_exit_s=3)  # continues on B

    table = Archive.open(settings).table(topic, create=False)
    assert table is not None
    archived = Counter(table.scan(selected_fields=("event_id",)).to_arrow()["event_id"].to_pylist())
    assert len(archived) == 600 and max(archived.values()) == 1, "a gap or a duplicate across the cutover"
    assert archived_cluster(table) == target_link.cluster_id


def test_an_archiver_refuses_positions_recorded_on_another_cluster(source_link, target_link, unique_name, tmp_path):
    topic = unique_name("callstream.call.lifecycle")
    create(source_link, topic)
    create(target_link, topic)
    settings = ArchiveSettings.for_state_dir(tmp_path, flush_max_rows=100, flush_max_age_s=0.5,
                                             consumer_group=unique_name("callstream-archiver"))
    _produce(source_link, topic, _events(50))
    archive_topics(settings, source_link.config, [topic], idle_exit_s=2)
    with pytest.raises(ArchiveError, match="recorded its positions on Kafka cluster .* migrate cutover"):
        archive_topics(settings, target_link.config, [topic], idle_exit_s=2)
