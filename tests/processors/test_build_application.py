"""Building a processor's Quix application survives Quix not seeing a topic it just made."""

from __future__ import annotations

import time
import types

import pytest

#: fresh builds in a row on a new cluster (the headroom issue asks for at least 20)
BUILDS = 20


def test_a_new_internal_topic_quix_does_not_see_yet_is_found_on_the_next_attempt(monkeypatch):
    from quixstreams.models.topics.exceptions import TopicNotFoundError

    from callstream.processors import runtime

    attempts: list[int] = []

    def build(*args, **kwargs):
        attempts.append(1)
        if len(attempts) < 3:
            raise TopicNotFoundError('Topic "changelog__callstream-analytics--x--default" not found on the broker')
        return "built"

    monkeypatch.setattr(runtime, "_build", build)
    monkeypatch.setattr(runtime.time, "sleep", lambda s: None)
    analytics = types.SimpleNamespace(name="analytics")
    assert runtime.build_application(analytics, {}, None, None) == "built" and len(attempts) == 3

    def missing_input(*args, **kwargs):
        raise TopicNotFoundError('Topic "callstream.transcript.raw" not found on the broker')

    monkeypatch.setattr(runtime, "_build", missing_input)
    with pytest.raises(TopicNotFoundError, match="callstream.transcript.raw"):
        runtime.build_application(analytics, {}, None, None)  # a real missing topic is not retried


@pytest.mark.slow
def test_fresh_stateful_and_windowed_workers_start_twenty_times_on_a_new_cluster(second_cluster, tmp_path, caplog):
    """Every start of the analytics worker (per-call state, a group_by and windows) creates new
    changelog and repartition topics (a new group each time), and Quix looks them up at once:
    on a secured cluster where no processor ran before, none of the 20 builds may fail, and
    each internal topic exists with the input's partition count when the build returns. (A
    3-node run of the same loop is recorded in NOTES.md; the retry itself is checked above
    without a broker.) The builds' topics are deleted after: the cluster is shared with the
    migration tests."""
    from confluent_kafka.admin import AdminClient, NewTopic

    from callstream.contract.catalog import load_catalog
    from callstream.kafka.topics import delete_topics
    from callstream.processors.registry import load_processor
    from callstream.processors.runtime import build_application

    conf = second_cluster.client_config()
    admin = AdminClient(conf)
    catalog = load_catalog()
    analytics = load_processor("analytics")
    suffix = f"builds{time.time_ns()}"
    names = {t: f"{t}.{suffix}" for t in (*analytics.inputs, *analytics.outputs, "callstream.deadletter")}
    for future in admin.create_topics([NewTopic(n, 6, 1) for n in names.values()]).values():
        future.result(30)
    created: list[str] = list(names.values())
    try:
        for attempt in range(BUILDS):
            group = f"callstream-analytics-{suffix}-start{attempt}"
            build_application(analytics, conf, catalog, tmp_path / group, group=group, topic_names=names)
            internal = {t: m for t, m in admin.list_topics(timeout=10).topics.items()
                        if group in t and (t.startswith("changelog__") or t.startswith("repartition__"))}
            created += internal
            assert {t.split("__")[0] for t in internal} == {"changelog", "repartition"}, f"start {attempt}: {sorted(internal)}"
            assert all(len(m.partitions) == 6 for m in internal.values()), internal
    finally:
        delete_topics(conf, created)
    retried = [r for r in caplog.records if "trying again" in r.getMessage()]
    print(f"\n{BUILDS} builds, {len(retried)} retried after Quix missed a topic it had just created")


def test_internal_topic_names_stay_within_kafkas_limit_and_keep_their_prefix():
    from callstream.processors.runtime import KAFKA_MAX_TOPIC_NAME, bounded_name

    inputs = "--".join(f"callstream.{t}.8a021cbd8a" for t in
                       ("agent.actions", "call.lifecycle", "crm.updates", "signals.churn", "signals.fraud",
                        "signals.sentiment", "transcript.redacted"))
    name = f"changelog__callstream-signals-8a021cbd8a--{inputs}--default"
    long = bounded_name(name, KAFKA_MAX_TOPIC_NAME)
    assert len(long) == KAFKA_MAX_TOPIC_NAME and long.startswith("changelog__callstream-signals-8a021cbd8a--")
    assert long == bounded_name(name, KAFKA_MAX_TOPIC_NAME)  # the same at every start
    assert long != bounded_name(name.replace("default", "other"), KAFKA_MAX_TOPIC_NAME)
    short = "changelog__callstream-signals--callstream.call.lifecycle--default"
    assert bounded_name(short, KAFKA_MAX_TOPIC_NAME) == short  # as Quix makes it


def test_every_catalog_processors_stream_keeps_quixs_own_name():
    """The bound only shortens names that could not work: a deployment's existing state
    directories and changelog topics keep their names."""
    from quixstreams.models.topics import Topic, TopicAdmin

    from callstream.processors.registry import BUNDLES, load_processor, processor_names
    from callstream.processors.runtime import BoundedNameTopicManager

    manager = BoundedNameTopicManager(TopicAdmin("127.0.0.1:9"), "callstream-x")
    for name in [*processor_names(), *BUNDLES]:
        topics = [Topic(t) for t in load_processor(name).inputs]
        assert manager.stream_id_from_topics(topics) == "--".join(sorted(t.name for t in topics)), name


def test_a_created_internal_topic_is_in_the_metadata_when_creation_returns(kafka_config, unique_name):
    """The admin behind every worker (``PromptTopicAdmin``) returns from creating a state
    topic only once the cluster shows all its partitions with a leader; a topic that exists
    is left alone, and a creation the broker refuses says why."""
    from confluent_kafka.admin import AdminClient
    from quixstreams.kafka.configuration import ConnectionConfig
    from quixstreams.models.topics import Topic, TopicConfig
    from quixstreams.models.topics.exceptions import CreateTopicFailure

    from callstream.kafka.topics import delete_topics
    from callstream.processors.internal_topics import PromptTopicAdmin

    quix = PromptTopicAdmin(ConnectionConfig.from_librdkafka_dict(dict(kafka_config), ignore_extras=True))
    name = unique_name("changelog__callstream-prompt")
    topic = Topic(name, create_config=TopicConfig(num_partitions=3, replication_factor=1))
    try:
        quix.create_topics([topic])
        shown = AdminClient(kafka_config).list_topics(timeout=10).topics[name]
        assert len(shown.partitions) == 3 and all(p.leader >= 0 for p in shown.partitions.values())
        quix.create_topics([topic])  # already there: nothing to do, no error
        assert quix.inspect_topics([name])[name].num_partitions == 3
        too_many = Topic(unique_name("changelog__callstream-refused"),
                         create_config=TopicConfig(num_partitions=1, replication_factor=9))
        with pytest.raises(CreateTopicFailure, match="replication factor|INVALID_REPLICATION_FACTOR|brokers"):
            quix.create_topics([too_many])
    finally:
        delete_topics(kafka_config, [name])
