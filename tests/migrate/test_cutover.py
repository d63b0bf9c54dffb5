"""The cutover machine on two real clusters: refusals, exact positions, rollback, fences."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AclBindingFilter, AclOperation, AclPermissionType, ResourcePatternType, ResourceType
from support.migration import create, produce
from support.reading import read_partitions_to_end

from callstream.contract.catalog import load_catalog
from callstream.errors import MigrationError
from callstream.migrate.cutover import Platform, SwitchOptions, switch
from callstream.migrate.fence import fence, unfence
from callstream.migrate.links import Link
from callstream.migrate.plan import make_plan, prepare_target
from callstream.migrate.service import ReplicationThreads

FAST = SwitchOptions(stable_s=0.5, drain_timeout_s=0, clients_timeout_s=10, catch_up_timeout_s=60)


class NoClients:
    """The test stops and starts its own consumers."""

    def __init__(self) -> None:
        self.moves: list[tuple[str, str]] = []

    def prepare(self, cluster: Link) -> None:
        self.moves.append(("prepare", cluster.name))

    def quiesce(self, cluster: Link) -> None:
        self.moves.append(("quiesce", cluster.name))

    def stop(self, cluster: Link) -> None:
        self.moves.append(("stop", cluster.name))

    def start(self, cluster: Link) -> None:
        self.moves.append(("start", cluster.name))


def _platform(topic: str) -> Platform:
    return Platform(topics=[topic], catalog_topics=[topic], ingest_principals=["User:simulator"],
                    processor_principals=["User:redactor"])


def _consume(link: Link, topic: str, group: str, count: int) -> list[str]:
    """Read ``count`` records as ``group`` and commit; the values read."""
    consumer = Consumer({**link.config, "group.id": group, "enable.auto.commit": "false",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.subscribe([topic])
    values: list[str] = []
    deadline = time.monotonic() + 60
    while len(values) < count and time.monotonic() < deadline:
        values += [m.value().decode() for m in consumer.consume(count - len(values), 1.0) if not m.error()]
    consumer.commit(asynchronous=False)
    consumer.close()
    return values


def _remaining(link: Link, topic: str, group: str) -> dict[int, list[str]]:
    """What ``group`` would read next on ``link``, per partition (without committing)."""
    probe = Consumer({**link.config, "group.id": group, "enable.auto.commit": "false",
                      "isolation.level": "read_committed", "enable.partition.eof": "true"})
    partitions = list(probe.list_topics(topic, timeout=10).topics[topic].partitions)
    committed = probe.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
    probe.close()
    seen: dict[int, list[str]] = {p: [] for p in partitions}
    for m in read_partitions_to_end(link.config, {(topic, tp.partition): max(tp.offset, 0) for tp in committed}):
        seen[m.partition()].append(m.value().decode())
    return seen


def _denies(link: Link, topic: str) -> list[str]:
    admin = link.admin()
    flt = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, None, None,
                           AclOperation.ANY, AclPermissionType.DENY)
    return sorted(b.principal for b in admin.describe_acls(flt).result(timeout=30))


def test_cutover_rollback_and_cutover_again_keep_every_position_exact(source_link, target_link, unique_name):
    topic, group = unique_name("calls"), unique_name("callstream-assist")
    create(source_link, topic)
    produce(source_link, topic, 600, transactional=True, abort_every=3)  # gaps: markers, aborted batches
    read_on_a = _consume(source_link, topic, group, 150)
    prepare_target(make_plan(source_link, target_link, load_catalog(), [topic]), target_link)
    replication = ReplicationThreads([topic])
    clients = NoClients()
    try:
        replication.start(source_link, target_link)
        before = _remaining(source_link, topic, group)
        cut = switch(source_link, target_link, _platform(topic), clients, replication, FAST)
        assert cut.verified, cut.to_json()["receipts"]
        assert _remaining(target_link, topic, group) == before  # neither re-read nor skipped
        assert _denies(source_link, topic) == ["User:redactor", "User:simulator"]
        assert clients.moves == [("prepare", "b"), ("quiesce", "current"), ("stop", "current"), ("start", "b")]
        # nothing wrote while the groups stood still: that window proves the source stable
        assert {s.name: s.detail for s in cut.stages}["source-stable"].endswith("positions, and since the fence")

        produce(target_link, topic, 300, start=10_000, transactional=True)  # traffic on B after the cutover
        read_on_b = _consume(target_link, topic, group, 200)
        assert not set(read_on_a) & set(read_on_b), "records read on A were read again on B"
        before = _remaining(target_link, topic, group)
        back = switch(target_link, source_link, _platform(topic), clients, replication, FAST)
        assert back.verified, back.to_json()["receipts"]
        assert _remaining(source_link, topic, group) == before
        assert _denies(source_link, topic) == [] and _denies(target_link, topic) == ["User:redactor", "User:simulator"]

        produce(source_link, topic, 100, start=20_000)  # traffic on A after the rollback
        before = _remaining(source_link, topic, group)
        again = switch(source_link, target_link, _platform(topic), clients, replication, FAST)
        assert again.verified and _remaining(target_link, topic, group) == before
        assert [s.name for s in again.stages][-1] == "verified"
    finally:
        replication.stop_all()
        unfence(source_link, ["User:redactor", "User:simulator"], [topic])


def test_cutover_refused_while_replication_lags(source_link, target_link, unique_name):
    topic = unique_name("calls")
    create(source_link, topic)
    produce(source_link, topic, 3000)
    replication = ReplicationThreads([topic])
    with pytest.raises(MigrationError, match="3000 records behind"):
        switch(source_link, target_link, _platform(topic), NoClients(), replication, SwitchOptions(max_lag=100))
    assert _denies(source_link, topic) == []


def test_cutover_refused_before_anything_pauses_while_a_group_has_members_on_the_target(source_link, target_link,
                                                                                         unique_name):
    """A group's positions can only be set while it is empty: a member on the joining cluster
    (a consumer run there, or an earlier switch's static member until its session ends)
    refuses the switch before any client is asked to do anything or any fence is set."""
    topic, group = unique_name("calls"), unique_name("callstream-assist")
    create(source_link, topic)
    produce(source_link, topic, 100)
    _consume(source_link, topic, group, 50)
    prepare_target(make_plan(source_link, target_link, load_catalog(), [topic]), target_link)
    member = Consumer({**target_link.config, "group.id": group, "auto.offset.reset": "earliest"})
    member.subscribe([topic])
    clients = NoClients()
    try:
        deadline = time.monotonic() + 30
        while not member.assignment():
            assert time.monotonic() < deadline, "the target's consumer never joined its group"
            member.poll(0.5)
        with pytest.raises(MigrationError, match=rf"1 groups still list members on 'b' after 2 s \({group} \(1\)\)"):
            switch(source_link, target_link, _platform(topic), clients, ReplicationThreads([topic]),
                   SwitchOptions(stable_s=0.5, drain_timeout_s=0, clients_timeout_s=2))
    finally:
        member.close()
    assert clients.moves == [] and _denies(source_link, topic) == []


def test_a_failure_moving_positions_inside_the_pause_leaves_the_source_serving(source_link, target_link, unique_name,
                                                                                monkeypatch):
    """Past the fences, a failure setting the groups' positions on the joining cluster is
    undone like every refusal: the leaving cluster's fences lifted, its replication running
    again and its clients started there."""
    from callstream.migrate import cutover

    def refused(target: Link, translated: dict) -> None:
        raise MigrationError(f"group {next(iter(translated))} on '{target.name}' refused positions: a test's refusal")

    monkeypatch.setattr(cutover, "apply_positions", refused)
    topic, group = unique_name("calls"), unique_name("callstream-assist")
    create(source_link, topic)
    produce(source_link, topic, 100)
    _consume(source_link, topic, group, 50)
    prepare_target(make_plan(source_link, target_link, load_catalog(), [topic]), target_link)
    replication, clients = ReplicationThreads([topic]), NoClients()
    try:
        replication.start(source_link, target_link)
        with pytest.raises(MigrationError, match=r"refused: the positions could not be moved to 'b'.*a test's "
                                                 r"refusal.*fences lifted, 'current' keeps serving"):
            switch(source_link, target_link, _platform(topic), clients, replication, FAST)
        assert clients.moves == [("prepare", "b"), ("quiesce", "current"), ("stop", "current"), ("start", "current")]
        assert _denies(source_link, topic) == []
        produce(source_link, topic, 10, start=1_000)  # the source takes writes again, and they replicate
        deadline = time.monotonic() + 30
        while _remaining(target_link, topic, unique_name("probe")) != _remaining(source_link, topic, unique_name("probe")):
            assert time.monotonic() < deadline, "replication did not resume after the refused switch"
            time.sleep(0.5)
    finally:
        replication.stop_all()


def test_cutover_refused_while_the_source_still_accepts_writes(source_link, target_link, unique_name):
    topic = unique_name("calls")
    create(source_link, topic)
    produce(source_link, topic, 100)
    stop = threading.Event()

    def unfenced_writer() -> None:  # the admin is a super user: no fence stops it
        producer = Producer(source_link.config)
        for i in range(6_000):  # until the switch is refused (at most 2 minutes)
            if stop.is_set():
                break
            producer.produce(topic, f"late-{i}".encode())
            producer.poll(0)
            time.sleep(0.02)
        producer.flush(10)

    writer = threading.Thread(target=unfenced_writer)
    writer.start()
    try:
        with pytest.raises(MigrationError, match="still accepts writes.*fences lifted"):
            switch(source_link, target_link, _platform(topic), NoClients(), ReplicationThreads([topic]),
                   SwitchOptions(stable_s=2.0, drain_timeout_s=1))
    finally:
        stop.set()
        writer.join(30)
    assert _denies(source_link, topic) == []


def test_a_fence_refuses_the_producer_by_name_and_lifting_it_restores_writes(source_link, session_cluster, grant, unique_name):
    topic = unique_name("calls")
    create(source_link, topic)
    grant("simulator", writes=(topic,))
    producer_conf = session_cluster.client_config("simulator")

    def write() -> KafkaError | None:
        outcome: list[KafkaError | None] = []
        producer = Producer({**producer_conf, "message.timeout.ms": "5000"})
        producer.produce(topic, b"x", on_delivery=lambda err, _msg: outcome.append(err))
        producer.flush(10)
        return outcome[0]

    assert write() is None
    fence(source_link, ["User:simulator"], [topic])
    try:
        refused = write()
        assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        unfence(source_link, ["User:simulator"], [topic])
    deadline = time.monotonic() + 15
    while write() is not None:
        assert time.monotonic() < deadline, "writes stayed refused after the fence was lifted"
