"""The Prometheus metrics: stable names and labels, rendered from one ``Snapshot``.

A custom collector (prometheus-client's pattern for exporters) rather than gauges set in
place: every scrape shows one consistent sample, and a group, stage or topic that went
away disappears instead of freezing at its last value. ``METRICS`` is the documented
contract (docs/metrics.md is checked against it by the tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from callstream.observe.snapshot import LATENCY_BUCKETS, Snapshot


class MetricSpec(NamedTuple):
    name: str
    kind: str  # gauge | counter | histogram
    labels: tuple[str, ...]
    help: str


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("callstream_consumer_lag_messages", "gauge", ("group", "topic", "partition"),
               "Messages in the partition the group has not consumed (log end - committed offset)"),
    MetricSpec("callstream_consumer_lag_seconds", "gauge", ("group", "topic", "partition"),
               "Age of the oldest message the group has not consumed (0 when caught up)"),
    MetricSpec("callstream_consumer_group_members", "gauge", ("group", "state"),
               "Members of the consumer group, labelled with the group's state"),
    MetricSpec("callstream_partition_skew_ratio", "gauge", ("topic", "measure"),
               "max/mean across a topic's partitions of retained messages (measure=size) or produce rate (measure=rate)"),
    MetricSpec("callstream_topic_end_offset", "gauge", ("topic",),
               "Sum of the partitions' log end offsets: every message ever appended (rate() it)"),
    MetricSpec("callstream_produce_messages_per_second", "gauge", ("topic",),
               "Messages appended per second between the last two samples"),
    MetricSpec("callstream_consume_messages_per_second", "gauge", ("group", "topic"),
               "Committed offsets advanced per second between the last two samples"),
    MetricSpec("callstream_stage_latency_seconds", "histogram", ("stage",),
               "End-to-end latency of events a processor stage emitted: produced_at - source_time (lineage)"),
    MetricSpec("callstream_stage_latency_window_seconds", "gauge", ("stage", "quantile"),
               "Exact p50/p99/max of the stage latency over the sliding window"),
    MetricSpec("callstream_dead_letters_total", "counter", ("processor", "reason"),
               "Records in the dead-letter topic by processor and reason class"),
    MetricSpec("callstream_dead_letters_per_minute", "gauge", ("processor", "reason"),
               "Dead letters that failed within the sliding window, per minute"),
    MetricSpec("callstream_client_errors_total", "counter", ("source", "client", "error"),
               "librdkafka errors (error callback) by process (processor name or observer), client and error name"),
    MetricSpec("callstream_processor_events_total", "counter", ("processor",),
               "Events processor instances decoded and processed (summed over instances); event types a "
               "processor ignores (heartbeats for quality, analytics and routing run alone) leave unread and "
               "are not counted"),
    MetricSpec("callstream_processor_dead_letters_total", "counter", ("processor", "reason"),
               "Messages processor instances sent to the dead-letter topic"),
    MetricSpec("callstream_processor_step_seconds", "histogram", ("processor",),
               "Time a processor instance spends on one event"),
    MetricSpec("callstream_processor_rebalance_seconds", "histogram", ("processor", "phase"),
               "Time processor instances spent in a phase of a consumer-group rebalance (revoke, lost, join, assign, recovery)"),
    MetricSpec("callstream_processor_checkpoint_seconds", "histogram", ("processor",),
               "Time processor instances stopped reading to commit a checkpoint (state, changelogs, flush, offsets)"),
    MetricSpec("callstream_archive_freshness_seconds", "gauge", ("topic",),
               "Age of the newest archived message of the topic (Kafka timestamp)"),
    MetricSpec("callstream_archive_lag_messages", "gauge", ("topic",),
               "Messages in Kafka the archive has not committed yet"),
    MetricSpec("callstream_archive_lag_seconds", "gauge", ("topic",),
               "Age of the oldest message the archive has not committed yet"),
    MetricSpec("callstream_cluster_reachable", "gauge", (), "1 if the cluster answered the last metadata request"),
    MetricSpec("callstream_brokers", "gauge", ("state",),
               "Brokers answering (state=up) and expected (state=expected: local node count or most seen)"),
    MetricSpec("callstream_under_replicated_partitions", "gauge", ("topic",),
               "Partitions whose in-sync replicas are fewer than their replicas"),
    MetricSpec("callstream_offline_partitions", "gauge", ("topic",), "Partitions without a leader"),
    MetricSpec("callstream_calls_in_progress", "gauge", ("queue",), "Calls between initiated and ended, by queue"),
    MetricSpec("callstream_open_escalations", "gauge", ("queue",), "Escalations opened and not closed, by queue"),
    MetricSpec("callstream_observer_sample_timestamp_seconds", "gauge", (),
               "When the snapshot behind this scrape was taken (Unix seconds)"),
)
SPECS = {spec.name: spec for spec in METRICS}

def _family(name: str) -> Any:
    # Any: the gauge, counter and histogram families share ``add_metric`` by name, not by signature
    spec = SPECS[name]
    base = name.removesuffix("_total") if spec.kind == "counter" else name
    cls = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily, "histogram": HistogramMetricFamily}[spec.kind]
    return cls(base, spec.help, labels=list(spec.labels))


def _seconds(ms: float | None) -> float:
    return ms / 1000.0 if ms is not None else float("nan")


def snapshot_families(s: Snapshot) -> list[Metric]:
    """Every metric family of one snapshot."""
    f: dict[str, Any] = {spec.name: _family(spec.name) for spec in METRICS}
    for group in s.groups:
        f["callstream_consumer_group_members"].add_metric([group.group, group.state], group.members)
        for p in group.partitions:
            labels = [group.group, p.topic, str(p.partition)]
            f["callstream_consumer_lag_messages"].add_metric(labels, p.lag)
            f["callstream_consumer_lag_seconds"].add_metric(labels, p.lag_seconds)
    for skew in s.skew:
        f["callstream_partition_skew_ratio"].add_metric([skew.topic, "size"], skew.size_skew)
        if skew.rate_skew is not None:
            f["callstream_partition_skew_ratio"].add_metric([skew.topic, "rate"], skew.rate_skew)
    for topic in s.topics:
        f["callstream_topic_end_offset"].add_metric([topic.topic], topic.end_offset)
        if topic.produce_per_s is not None:
            f["callstream_produce_messages_per_second"].add_metric([topic.topic], topic.produce_per_s)
    for rate in s.consume:
        f["callstream_consume_messages_per_second"].add_metric([rate.group, rate.topic], rate.consume_per_s)
    for stage in s.latency:
        buckets = [(str(bound), count) for bound, count in zip(LATENCY_BUCKETS, stage.buckets, strict=False)]
        buckets.append(("+Inf", stage.count))
        f["callstream_stage_latency_seconds"].add_metric([stage.stage], buckets, stage.sum_seconds)
        if stage.window_count:
            for quantile, ms in (("0.5", stage.p50_ms), ("0.99", stage.p99_ms), ("max", stage.max_ms)):
                f["callstream_stage_latency_window_seconds"].add_metric([stage.stage, quantile], _seconds(ms))
    for dead in s.dead_letters:
        f["callstream_dead_letters_total"].add_metric([dead.processor, dead.reason], dead.total)
        f["callstream_dead_letters_per_minute"].add_metric([dead.processor, dead.reason], dead.per_minute)
    for key, count in s.client_errors.items():
        f["callstream_client_errors_total"].add_metric(key.split("/", 2), count)
    _worker_families(s, f)
    for a in s.archive or []:
        if a.freshness_seconds is not None:
            f["callstream_archive_freshness_seconds"].add_metric([a.topic], a.freshness_seconds)
        f["callstream_archive_lag_messages"].add_metric([a.topic], a.lag)
        f["callstream_archive_lag_seconds"].add_metric([a.topic], a.lag_seconds)
    c = s.cluster
    f["callstream_cluster_reachable"].add_metric([], 1 if c.reachable else 0)
    f["callstream_brokers"].add_metric(["up"], c.brokers_up)
    f["callstream_brokers"].add_metric(["expected"], c.brokers_expected)
    for topic_name, count in sorted(c.under_replicated.items()):
        f["callstream_under_replicated_partitions"].add_metric([topic_name], count)
    for topic_name, count in sorted(c.offline_partitions.items()):
        f["callstream_offline_partitions"].add_metric([topic_name], count)
    for queue, count in sorted(s.calls_in_progress.items()):
        f["callstream_calls_in_progress"].add_metric([queue], count)
    for queue, count in sorted(s.open_escalations.items()):
        f["callstream_open_escalations"].add_metric([queue], count)
    f["callstream_observer_sample_timestamp_seconds"].add_metric([], s.sampled_at_ms / 1000)
    return list(f.values())


def _worker_families(s: Snapshot, f: dict[str, Metric]) -> None:
    """Re-emit the workers' own families (summed over processes) sample for sample."""
    names = {"callstream_processor_events": "callstream_processor_events_total",
             "callstream_processor_dead_letters": "callstream_processor_dead_letters_total",
             "callstream_processor_step_seconds": "callstream_processor_step_seconds",
             "callstream_processor_rebalance_seconds": "callstream_processor_rebalance_seconds",
             "callstream_processor_checkpoint_seconds": "callstream_processor_checkpoint_seconds"}
    for sample in s.workers:
        target = names.get(sample.family)
        if target is None or sample.name.endswith("_created"):
            continue
        f[target].samples.append(Sample(sample.name, dict(sample.labels), sample.value))


class SnapshotCollector(Collector):
    """Renders whatever snapshot ``latest()`` returns at scrape time."""

    def __init__(self, latest: Callable[[], Snapshot | None]) -> None:
        self.latest = latest

    def collect(self) -> Iterator[Metric]:
        snapshot = self.latest()
        if snapshot is None:
            return iter(())
        return iter(snapshot_families(snapshot))


def render(snapshot: Snapshot) -> bytes:
    """The Prometheus text exposition of one snapshot."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: snapshot))
    return generate_latest(registry)


def metrics_table() -> str:
    """The Markdown table of ``METRICS`` (docs/metrics.md)."""
    rows = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for spec in METRICS:
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "-"
        rows.append(f"| `{spec.name}` | {spec.kind} | {labels} | {spec.help} |")
    return "\n".join(rows)
