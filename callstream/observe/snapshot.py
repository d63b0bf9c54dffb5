"""One observation of the platform at one moment: what ``/metrics``, ``callstream status``
and the dashboard all show, so they can never disagree about the same sample."""

from __future__ import annotations

import msgspec

from callstream.observe.lag import GroupLag, TopicSkew

#: end-to-end latency histogram bounds, in seconds (Prometheus ``le`` labels)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class ClusterHealth(msgspec.Struct, frozen=True, kw_only=True):
    reachable: bool
    brokers_up: int = 0
    #: brokers the cluster should have: the local cluster's node count, else the most seen
    brokers_expected: int = 0
    controller_id: int | None = None
    #: topic -> partitions whose in-sync replicas are fewer than their replicas
    under_replicated: dict[str, int] = {}
    #: topic -> partitions without a leader
    offline_partitions: dict[str, int] = {}
    error: str | None = None

    @property
    def under_replicated_total(self) -> int:
        return sum(self.under_replicated.values())

    @property
    def offline_total(self) -> int:
        return sum(self.offline_partitions.values())


class TopicRate(msgspec.Struct, frozen=True, kw_only=True):
    topic: str
    #: sum of the partitions' log end offsets: every message ever appended
    end_offset: int
    #: appended messages per second since the previous sample (``None`` on the first)
    produce_per_s: float | None = None


class GroupRate(msgspec.Struct, frozen=True, kw_only=True):
    group: str
    topic: str
    consume_per_s: float


class StageLatency(msgspec.Struct, frozen=True, kw_only=True):
    """End-to-end latency of one processor stage: ``produced_at_ms - source_time_ms`` of
    the events it emitted (from the lineage in each envelope)."""

    stage: str
    #: events observed since the observer started (the histogram's count)
    count: int
    sum_seconds: float
    #: cumulative counts per ``LATENCY_BUCKETS`` bound (``le``), Prometheus style
    buckets: list[int]
    #: events in the sliding window, and their exact percentiles (nearest rank), in ms
    window_count: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None


class DeadLetterCount(msgspec.Struct, frozen=True, kw_only=True):
    processor: str
    reason: str
    #: records in the dead-letter topic (read from its start)
    total: int
    #: records that failed within the window, per minute
    per_minute: float = 0.0


class ArchiveTopic(msgspec.Struct, frozen=True, kw_only=True):
    topic: str
    #: Kafka timestamp of the newest archived message
    newest_archived_ms: int | None = None
    #: age of that message: how stale the archive's view of this topic is
    freshness_seconds: float | None = None
    #: messages in Kafka the archive has not committed yet, and the age of the oldest one
    lag: int = 0
    lag_seconds: float = 0.0


class WorkerSample(msgspec.Struct, frozen=True, array_like=True):
    """One sample of a worker-side metric family, summed over worker processes."""

    family: str
    kind: str  # counter | histogram | gauge
    name: str
    labels: dict[str, str]
    value: float


class ProcessorTime(msgspec.Struct, frozen=True, kw_only=True):
    """One processor's time over the last window, summed over its instances
    (``observe/processor_time.py``)."""

    processor: str
    #: seconds between the two samples the figures are the difference of
    over_seconds: float
    events_per_s: float
    #: mean time per event (decode, process, encode), in microseconds
    step_mean_us: float | None = None
    #: checkpoints that committed something, their mean stop and its p99's bucket bound
    checkpoints: int = 0
    checkpoint_mean_ms: float | None = None
    checkpoint_p99_bound_ms: float | None = None
    #: the p99 lies beyond the largest bucket (30 s): a checkpoint stuck on the broker
    checkpoint_p99_beyond_buckets: bool = False
    #: milliseconds per second the loops stood still for checkpoints (instances add up)
    stopped_ms_per_s: float = 0.0


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    sampled_at_ms: int
    #: seconds of the sliding window used for latency percentiles and dead-letter rates
    window_seconds: float
    cluster: ClusterHealth
    groups: list[GroupLag] = []
    skew: list[TopicSkew] = []
    topics: list[TopicRate] = []
    consume: list[GroupRate] = []
    latency: list[StageLatency] = []
    dead_letters: list[DeadLetterCount] = []
    #: librdkafka errors by (source, client, error): the workers' and the observer's own
    client_errors: dict[str, int] = {}
    #: ``None``: no archive in this state dir
    archive: list[ArchiveTopic] | None = None
    workers: list[WorkerSample] = []
    #: per processor over the window: empty until the observer has two samples
    processors: list[ProcessorTime] = []
    #: from the supervisor board: calls in progress per queue, open escalations per queue
    calls_in_progress: dict[str, int] = {}
    open_escalations: dict[str, int] = {}

    def group(self, name: str) -> GroupLag:
        for g in self.groups:
            if g.group == name:
                return g
        raise KeyError(name)

    def stage(self, name: str) -> StageLatency:
        for s in self.latency:
            if s.stage == name:
                return s
        raise KeyError(name)


def client_error_key(source: str, client: str, error: str) -> str:
    """``client_errors`` keys are ``source/client/error`` (JSON objects need string keys)."""
    return f"{source}/{client}/{error}"


def snapshot_json(snapshot: Snapshot) -> bytes:
    return msgspec.json.encode(snapshot)


def snapshot_from_json(data: bytes) -> Snapshot:
    return msgspec.json.decode(data, type=Snapshot)
