"""Metric rendering, the documented names, thresholds and the one-screen status (no Kafka)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from callstream.errors import ConfigError
from callstream.observe.dashboard.timeline import summarize
from callstream.observe.lag import GroupLag, PartitionLag
from callstream.observe.metrics import METRICS, metrics_table, render
from callstream.observe.snapshot import (
    ArchiveTopic,
    ClusterHealth,
    DeadLetterCount,
    Snapshot,
    StageLatency,
    WorkerSample,
)
from callstream.observe.status import BREACH_EXIT_CODE, Thresholds, evaluate, load_thresholds
from callstream.observe.status import render as render_status
from callstream.observe.stream import percentile

DOCS = Path(__file__).parents[2] / "docs" / "metrics.md"


def snapshot(lag: int = 40, p99: float = 120.0) -> Snapshot:
    return Snapshot(
        sampled_at_ms=1_767_225_600_000, window_seconds=60,
        cluster=ClusterHealth(reachable=True, brokers_up=1, brokers_expected=1, controller_id=1,
                              under_replicated={"callstream.call.lifecycle": 0}),
        groups=[GroupLag(group="callstream-redactor", sampled_at_ms=0, state="Stable", members=2, partitions=[
            PartitionLag(topic="callstream.transcript.raw", partition=0, committed=10, log_start=0, log_end=10 + lag,
                         lag=lag, lag_seconds=12.5)])],
        latency=[StageLatency(stage="redactor", count=4, sum_seconds=0.4, buckets=[0, 0, 0, 2, 4] + [4] * 9,
                              window_count=4, p50_ms=50.0, p99_ms=p99, max_ms=p99)],
        dead_letters=[DeadLetterCount(processor="redactor", reason="undecodable", total=3, per_minute=1.0)],
        client_errors={"redactor/consumer/_TRANSPORT": 2},
        archive=[ArchiveTopic(topic="callstream.call.lifecycle", newest_archived_ms=1, freshness_seconds=8.0, lag=5, lag_seconds=2.0)],
        workers=[WorkerSample("callstream_processor_events", "counter", "callstream_processor_events_total",
                              {"processor": "redactor"}, 99.0)],
        calls_in_progress={"billing": 3},
    )


def parsed(text: bytes) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text.decode()) for s in family.samples}


def test_render_exposes_every_figure_under_its_documented_name() -> None:
    values = parsed(render(snapshot()))
    lag_labels = (("group", "callstream-redactor"), ("partition", "0"), ("topic", "callstream.transcript.raw"))
    assert values[("callstream_consumer_lag_messages", lag_labels)] == 40
    assert values[("callstream_consumer_lag_seconds", lag_labels)] == 12.5
    assert values[("callstream_stage_latency_seconds_count", (("stage", "redactor"),))] == 4
    assert values[("callstream_stage_latency_seconds_bucket", (("le", "0.05"), ("stage", "redactor")))] == 2
    assert values[("callstream_stage_latency_window_seconds", (("quantile", "0.99"), ("stage", "redactor")))] == 0.12
    assert values[("callstream_dead_letters_total", (("processor", "redactor"), ("reason", "undecodable")))] == 3
    assert values[("callstream_client_errors_total", (("client", "consumer"), ("error", "_TRANSPORT"), ("source", "redactor")))] == 2
    assert values[("callstream_processor_events_total", (("processor", "redactor"),))] == 99
    assert values[("callstream_archive_freshness_seconds", (("topic", "callstream.call.lifecycle"),))] == 8.0
    assert values[("callstream_brokers", (("state", "up"),))] == 1
    assert values[("callstream_calls_in_progress", (("queue", "billing"),))] == 3
    exposed = {name.removesuffix("_total").removesuffix("_bucket").removesuffix("_count").removesuffix("_sum")
               for name, _ in values}
    for spec in METRICS:  # every name that had data is one the contract documents
        if spec.name.removesuffix("_total") in exposed:
            assert spec.name in {s.name for s in METRICS}


def test_docs_list_every_metric() -> None:
    assert metrics_table() in DOCS.read_text(), "regenerate the table in docs/metrics.md from metrics_table()"


def test_thresholds_breach_and_exit_code() -> None:
    assert evaluate(snapshot(), Thresholds()) == []
    breaches = evaluate(snapshot(lag=500, p99=9000.0), Thresholds(max_lag_messages=100))
    assert {b.check for b in breaches} == {"lag_messages", "latency_p99_ms"}
    assert str(breaches[0]) == "lag_messages callstream-redactor: 500 > 100"
    down = Snapshot(sampled_at_ms=0, window_seconds=60, cluster=ClusterHealth(reachable=False, error="no brokers"))
    assert [b.check for b in evaluate(down, Thresholds())] == ["cluster_unreachable"]
    assert BREACH_EXIT_CODE not in (0, 1, 2)


def test_thresholds_from_config_file_then_options(tmp_path: Path) -> None:
    config = tmp_path / "callstream.yaml"
    config.write_text("kafka: {}\nobserve:\n  thresholds:\n    max_lag_seconds: 5\n    max_client_errors: 0\n")
    limits = load_thresholds(config, max_lag_seconds=9.0, max_lag_messages=None)
    assert (limits.max_lag_seconds, limits.max_client_errors, limits.max_latency_p99_ms) == (9.0, 0, 5000.0)
    config.write_text("observe:\n  thresholds:\n    max_lag_secnds: 5\n")
    with pytest.raises(ConfigError, match="max_lag_secnds"):
        load_thresholds(config)


def test_one_screen_status_mentions_the_figures() -> None:
    console = Console(record=True, width=140)
    console.print(render_status(snapshot(lag=500), evaluate(snapshot(lag=500), Thresholds(max_lag_messages=100))))
    text = console.export_text()
    for expected in ("callstream-redactor", "500", "redactor", "120 ms", "dead letters 3", "thresholds breached",
                     "1/1 brokers", "archive: 1 tables"):
        assert expected in text


def test_nearest_rank_percentiles() -> None:
    values = list(range(1, 101))
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (50, 99, 100)
    assert percentile([], 0.5) is None


def test_timeline_summaries_are_readable() -> None:
    assert summarize("transcript.redacted", {"participant": "customer", "text": "my card is [CARD_NUMBER]", "is_final": True}) \
        == "customer: my card is [CARD_NUMBER]"
    assert summarize("escalation.opened", {"reasons": ["anger", "supervisor_request"]}) == "escalation opened: anger, supervisor_request"
    assert summarize("quality.scored", {"score": 72.0, "checks": [{"name": "closing", "passed": False}]}) \
        == "quality 72/100, failed: closing"
    assert summarize(None, {}) == "(undecodable message)"
