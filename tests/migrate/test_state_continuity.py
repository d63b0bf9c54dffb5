"""A stateful processor across a cutover: the same outputs as without one.

The sentiment processor keeps a rolling score per call and speaker in Quix state. Half of
every call goes through a worker on A, the platform is cut over to B mid-call, and the other
half through a worker on B whose state is rebuilt from B's copy of the changelog (its
processed-offset headers rewritten through the offset map). Every rolling score must equal
the one the processor computes over the whole call in one piece: a lost, skipped or
doubled state change would move them.
"""

from __future__ import annotations

import os
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from support.calls import CallBuilder

from callstream.contract.catalog import load_catalog
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.events import SentimentScored
from callstream.governance.acls import grant_catalog
from callstream.local.credentials import credentials_path
from callstream.local.processes import ProcessGroup
from callstream.migrate.cutover import SwitchOptions, platform_of, switch
from callstream.migrate.plan import make_plan, prepare_target
from callstream.migrate.service import ReplicationThreads
from callstream.processors.base import MemoryState
from callstream.processors.sentiment import SentimentScorer

REDACTED, SENTIMENT = "callstream.transcript.redacted", "callstream.signals.sentiment"
LINES = ["hello, I have a problem with my bill", "this is terrible, I was charged twice", "I am really angry about it",
         "ok, thank you for checking", "that is still not acceptable", "fine, what can you do",
         "great, thank you so much", "wonderful, I appreciate it", "no, wait, this is wrong again", "ok thanks, bye"]


class _Stopped:
    """The test stops and starts the workers itself."""

    def prepare(self, cluster) -> None: ...  # noqa: ANN001
    def quiesce(self, cluster) -> None: ...  # noqa: ANN001
    def stop(self, cluster) -> None: ...  # noqa: ANN001
    def start(self, cluster) -> None: ...  # noqa: ANN001


def _calls(count: int) -> list[list]:
    calls = []
    for n in range(count):
        call = CallBuilder(f"state-call-{n}")
        calls.append([call.customer(LINES[(i + n) % len(LINES)]) for i in range(len(LINES))])
    return calls


def _produce(link, topic: str, events: list, aborted_first: int = 0) -> None:
    """``events`` in one committed transaction, after ``aborted_first`` records in an aborted
    one: those hold offsets on this cluster that its copy will not have, so source and
    target offsets of the same record differ (as they do wherever transactions ran)."""
    producer = Producer({**link.config, "partitioner": "murmur2_random", "transactional.id": f"state-{time.monotonic_ns()}"})
    producer.init_transactions(30)
    if aborted_first:
        producer.begin_transaction()
        for n in range(aborted_first):
            value, headers = encode_event(events[n % len(events)])
            producer.produce(topic, value, f"aborted-{n}".encode(), headers=headers)
        producer.flush(30)
        producer.abort_transaction(30)
    producer.begin_transaction()
    for event in events:
        value, headers = encode_event(event)
        producer.produce(topic, value, event.contact_id.encode(), headers=headers)
    producer.commit_transaction(30)


def _scores(link, topic: str, wanted: int, timeout_s: float = 90.0) -> list[SentimentScored]:
    consumer = Consumer({**link.config, "group.id": f"read-{os.getpid()}-{time.monotonic_ns()}", "enable.auto.commit": "false",
                         "auto.offset.reset": "earliest", "enable.partition.eof": "false"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    found, deadline = [], time.monotonic() + timeout_s
    while len(found) < wanted and time.monotonic() < deadline:
        for message in consumer.consume(500, 0.5):
            if message.error() is None or message.error().code() != KafkaError._PARTITION_EOF:
                event = decode_event(message.value(), message.headers())
                if isinstance(event, SentimentScored):
                    found.append(event)
    time.sleep(2.0)  # anything beyond what was wanted (a duplicate) has time to arrive
    found += [e for m in consumer.consume(500, 1.0) if m.error() is None
              if isinstance(e := decode_event(m.value(), m.headers()), SentimentScored)]
    consumer.close()
    return found


def _worker(env: dict[str, str], logs, pipeline, group: str) -> ProcessGroup:
    processes = ProcessGroup(logs, env)
    processes.spawn("sentiment", "callstream.processors.worker", "sentiment", "--group", group, "--topic-map", pipeline.topic_map)
    return processes


def test_a_stateful_processor_gives_the_same_outputs_with_a_cutover_mid_call(
        source_link, target_link, target_cluster, pipeline, child_env, tmp_path):
    calls = _calls(6)
    half = len(LINES) // 2
    group = f"callstream-sentiment-{pipeline[REDACTED].rsplit('.', 1)[-1]}"
    _produce(source_link, pipeline[REDACTED], [e for call in calls for e in call[:half]], aborted_first=120)
    on_a = _worker(child_env(tmp_path / "state-a"), tmp_path / "logs-a", pipeline, group)
    try:
        assert len(_scores(source_link, pipeline[SENTIMENT], 6 * half)) == 6 * half
    finally:
        on_a.stop_all()  # SIGTERM: Quix commits what it processed

    changelogs = [t for t in source_link.admin().list_topics(timeout=10).topics if t.startswith(f"changelog__{group}")]
    topics = [pipeline[REDACTED], pipeline[SENTIMENT], pipeline["callstream.deadletter"], *changelogs]
    assert changelogs, "the worker kept no state"
    prepare_target(make_plan(source_link, target_link, load_catalog(), topics), target_link)
    grant_catalog(target_link.config, load_catalog(), names=pipeline.names, state_dir=target_cluster.state_dir,
                  delete_stale=False)
    replication = ReplicationThreads(topics)
    replication.start(source_link, target_link)
    try:
        report = switch(source_link, target_link, platform_of(topics, load_catalog()), _Stopped(), replication,
                        SwitchOptions(stable_s=1.0, drain_timeout_s=0, clients_timeout_s=30))
    finally:
        replication.stop_all()
    assert report.verified

    env_b = child_env(tmp_path / "state-b") | {
        "CALLSTREAM_BOOTSTRAP_SERVERS": target_cluster.bootstrap_servers,
        "CALLSTREAM_CREDENTIALS_FILE": str(credentials_path(target_cluster.state_dir))}
    on_b = _worker(env_b, tmp_path / "logs-b", pipeline, group)  # a fresh state dir: rebuilt from B's changelog
    try:
        _produce(target_link, pipeline[REDACTED], [e for call in calls for e in call[half:]])
        scored = _scores(target_link, pipeline[SENTIMENT], 6 * len(LINES))
    finally:
        on_b.stop_all()

    expected = {}
    for call in calls:
        state, scorer = MemoryState(), SentimentScorer()
        for segment in call:
            [score] = scorer.process(segment, state)
            expected[score.event_id] = round(score.rolling_score, 9)
    got = {s.event_id: round(s.rolling_score, 9) for s in scored}
    assert len(scored) == len(got), "a score was produced twice"
    assert got == expected
