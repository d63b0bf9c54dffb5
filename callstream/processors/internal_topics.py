"""Creating a worker's state and repartition topics: at once, and only done when visible.

Quix's ``TopicAdmin.create_topics`` sleeps a whole second before it first looks at the
creation futures, once per topic it creates, so each start of a stateful or windowed worker
on a new cluster paid 3-4 s of sleeps (the 20 fresh analytics builds in the tests: 4.3 s
each). It then fetches the new topic's metadata, which a broker may answer before the topic
reached its cache (the ``TopicNotFoundError`` that ``build_application`` tries again on).
This admin waits on the futures themselves and returns once the cluster's metadata shows
every created partition with a leader, or its deadline passed.
"""

from __future__ import annotations

import concurrent.futures
import time

from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic, TopicMetadata
from quixstreams.models.topics import Topic, TopicAdmin
from quixstreams.models.topics.exceptions import CreateTopicFailure, CreateTopicTimeout

#: the first look at the cluster's metadata after a creation, doubled up to a quarter second
FIRST_LOOK_S = 0.02


class PromptTopicAdmin(TopicAdmin):
    """Quix's admin with a ``create_topics`` that does not sleep in whole seconds."""

    def create_topics(self, topics: list[Topic], timeout: float = 30, finalize_timeout: float = 60) -> None:
        existing = self.list_topics(timeout=timeout)
        missing = [topic for topic in topics if topic.name not in existing]
        if not missing:
            return
        deadline = time.monotonic() + finalize_timeout
        futures = self.admin_client.create_topics([_new_topic(t) for t in missing], request_timeout=timeout)
        _, pending = concurrent.futures.wait(list(futures.values()), timeout=finalize_timeout)
        failures = {}
        for name, future in futures.items():
            if future in pending:
                continue
            try:
                future.result()
            except KafkaException as exc:
                # TOPIC_ALREADY_EXISTS: another instance of the same processor created it first
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    failures[name] = exc.args[0].str()
        if failures:
            raise CreateTopicFailure(f"Failed to create topics: {failures}")
        if pending:
            late = sorted(name for name, future in futures.items() if future in pending)
            raise CreateTopicTimeout(f"Timed out waiting for creation status for topics: {late}")
        self._await_metadata({t.name: _partitions(t) for t in missing}, deadline)

    def _await_metadata(self, partitions: dict[str, int | None], deadline: float) -> None:
        """Return once each topic shows its partitions (all of them, when the count is
        known) with a leader; past ``deadline`` return anyway and let the caller's own
        lookup report what is missing."""
        pause = FIRST_LOOK_S
        while time.monotonic() < deadline:
            cluster = self.list_topics(timeout=max(0.1, deadline - time.monotonic()))
            if all(_ready(cluster.get(name), count) for name, count in partitions.items()):
                return
            time.sleep(pause)
            pause = min(0.25, pause * 2)


def _partitions(topic: Topic) -> int | None:
    return topic.create_config.num_partitions if topic.create_config is not None else None


def _ready(metadata: TopicMetadata | None, count: int | None) -> bool:
    if metadata is None or metadata.error is not None or not metadata.partitions:
        return False
    if count is not None and len(metadata.partitions) < count:
        return False
    return all(p.leader >= 0 for p in metadata.partitions.values())


def _new_topic(topic: Topic) -> NewTopic:
    config = topic.create_config
    if config is None:
        return NewTopic(topic=topic.name)
    return NewTopic(topic=topic.name, num_partitions=config.num_partitions,
                    replication_factor=config.replication_factor, config=config.extra_config)
