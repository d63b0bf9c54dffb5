"""The runner's once-a-second look at the cluster: committed offsets per group, log ends
per partition, and from them lag in messages and (interpolated) seconds.

Cheap on purpose, and safe while a broker is down. Committed offsets are read the way
``kafka-consumer-groups`` reads them, through a consumer that carries the group's id but
never joins it; group states come from ListGroups. Describing groups through the admin
client (DescribeGroups) is avoided: with librdkafka 2.12 on a 3-broker cluster whose
groups are still joining it tripped an assertion inside librdkafka
(``rd_kafka_enq_once_del_source_return``) that aborts the whole process, cleanup included.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from callstream.rehearse.analysis import EndOffsetHistory
from callstream.rehearse.figures import Sample

REQUEST_TIMEOUT_S = 3.0


class ClusterUnanswered(Exception):
    """The cluster did not answer this tick (a broker down, a leader being elected)."""


class OffsetSampler:
    def __init__(self, client_config: Mapping[str, str], groups: Mapping[str, str],
                 group_topics: Mapping[str, list[str]], transactional_topics: set[str]) -> None:
        #: logical name -> consumer group id, and the topics it reads
        self.groups = dict(groups)
        self.group_topics = {g: set(ts) for g, ts in group_topics.items()}
        self.transactional_topics = set(transactional_topics)
        # leaders move when a broker dies: refresh metadata every second rather than every
        # five minutes (librdkafka's default), or offset queries keep going to the dead one
        self.client_config = dict(client_config) | {"topic.metadata.refresh.interval.ms": "1000"}
        self.admin = AdminClient(self.client_config)
        self._readers: dict[str, Consumer] = {}
        # the consumer path, not admin ListOffsets: with a broker down, admin ListOffsets
        # blocked for its whole request timeout on every call, and after the broker came
        # back it kept failing with FENCED_LEADER_EPOCH (librdkafka 2.12)
        self._watermarks: Consumer | None = None
        self.history = EndOffsetHistory()
        self.partitions: list[tuple[str, int]] = []

    def discover(self) -> list[tuple[str, int]]:
        topics = sorted({t for ts in self.group_topics.values() for t in ts})
        metadata = self.admin.list_topics(timeout=30)
        self.partitions = [(t, p) for t in topics if t in metadata.topics for p in sorted(metadata.topics[t].partitions)]
        return self.partitions

    def committed(self, logical: str) -> dict[tuple[str, int], int]:
        """The group's committed offsets on its input partitions (absent: never committed)."""
        reader = self._readers.get(logical)
        if reader is None:
            # assign/committed only: this consumer never joins the group or commits for it
            reader = Consumer(self.client_config | {"group.id": self.groups[logical], "enable.auto.commit": "false"})
            self._readers[logical] = reader
        wanted = [TopicPartition(t, p) for t, p in self.partitions if t in self.group_topics[logical]]
        try:
            found = reader.committed(wanted, timeout=REQUEST_TIMEOUT_S)
        except KafkaException as exc:
            reader.close()  # the next tick looks the coordinator up afresh
            del self._readers[logical]
            raise ClusterUnanswered(str(exc)) from None
        return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset != OFFSET_INVALID and tp.offset >= 0}

    def log_bounds(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(topic, partition) -> (log start, log end), asked of each partition's leader."""
        if self._watermarks is None:
            self._watermarks = Consumer(self.client_config | {"group.id": f"callstream-observer-{uuid.uuid4().hex[:8]}"})
        bounds = {}
        for topic, partition in self.partitions:
            try:
                bounds[(topic, partition)] = self._watermarks.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=REQUEST_TIMEOUT_S, cached=False)
            except KafkaException as exc:
                self._watermarks.close()  # the next tick starts from fresh metadata
                self._watermarks = None
                raise ClusterUnanswered(str(exc)) from None
        return bounds

    def group_states(self) -> dict[str, str]:
        """group id -> state (STABLE, PREPARING_REBALANCE, ...) for the groups that exist."""
        try:
            listed = self.admin.list_consumer_groups(request_timeout=REQUEST_TIMEOUT_S).result()
        except KafkaException as exc:
            raise ClusterUnanswered(str(exc)) from None
        ours = set(self.groups.values())
        return {g.group_id: getattr(g.state, "name", str(g.state)) for g in listed.valid if g.group_id in ours}

    def close(self) -> None:
        for reader in [*self._readers.values(), *([self._watermarks] if self._watermarks else [])]:
            reader.close()
        self._readers.clear()
        self._watermarks = None

    def sample(self, t: float, acked: int, failed: int, retries: int, client_errors: int) -> Sample:
        """One tick; lag fields stay empty (unknown, not zero) if the cluster did not answer."""
        sample = Sample(t=round(t, 3), acked=acked, failed=failed, retries=retries, client_errors=client_errors)
        try:
            # committed positions first, then log ends: a commit landing in between can then
            # only make the lag look larger, never negative
            committed = {g: self.committed(g) for g in self.groups}
            bounds = self.log_bounds()
        except ClusterUnanswered as exc:
            sample.error = str(exc)[:300]
            return sample
        self.history.record(t, {tp: end for tp, (_, end) in bounds.items()})
        for logical, topics in self.group_topics.items():
            lag_messages, lag_s, consumed, arrived = 0, 0.0, 0, 0
            for tp, (start, end) in bounds.items():
                if tp[0] not in topics:
                    continue
                position = max(committed[logical].get(tp, start), start)
                # an exactly-once producer's last commit marker is never consumed: not lag
                behind = end - position - (1 if tp[0] in self.transactional_topics else 0)
                lag_messages += max(0, behind)
                if behind > 0:
                    lag_s = max(lag_s, self.history.lag_seconds(tp, position, t))
                consumed += committed[logical].get(tp, 0)
                arrived += end
            sample.lag_messages[logical] = lag_messages
            sample.lag_s[logical] = round(lag_s, 3)
            sample.consumed[logical] = consumed
            sample.arrived[logical] = arrived
        return sample
