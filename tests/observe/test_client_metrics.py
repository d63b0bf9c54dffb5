"""Per-instance processor metrics: reason labels, the Quix error-callback hook, and
multiprocess collection (what the observer reads from many workers)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from confluent_kafka import KafkaError
from prometheus_client import CollectorRegistry

from callstream.contract.catalog import load_catalog
from callstream.observe.client_metrics import (
    ProcessorMetrics,
    hook_quix_error_callbacks,
    read_worker_metrics,
    reason_class,
)
from callstream.processors.redactor import Redactor
from callstream.processors.runtime import build_application


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_reason_class_is_a_bounded_label() -> None:
    assert reason_class("undecodable: not valid JSON: expected ',' at 12") == "undecodable"
    assert reason_class("processing failed in sentiment: ValueError('x')") == "processing_failed_in_sentiment"
    assert reason_class("DecodeError: 42") == "decodeerror"
    assert reason_class("") == "unknown"


def test_each_new_registry_gets_its_own_families_after_an_old_one_is_collected() -> None:
    # a CI run failed when a collected registry's id() was reused by the next test's
    seen_ids: set[int] = set()
    for attempt in range(200):
        registry = CollectorRegistry()
        reused = id(registry) in seen_ids
        seen_ids.add(id(registry))
        ProcessorMetrics("redactor", registry).rebalance_seconds("revoke", 0.5)
        labels = {"processor": "redactor", "phase": "revoke"}
        assert sample(registry, "callstream_processor_rebalance_seconds_count", **labels) == 1.0, attempt
        del registry
        gc.collect()
        if reused:
            return
    raise AssertionError("no registry reused a collected one's id in 200 tries: the case is not exercised")


def test_counts_processed_dead_letters_and_client_errors() -> None:
    registry = CollectorRegistry()
    metrics = ProcessorMetrics("redactor", registry)
    metrics.processed.inc(3)
    metrics.dead_letter("undecodable: not valid JSON")
    metrics.dead_letter("undecodable: no event_type")
    chained = []
    callback = metrics.error_callback("consumer", chained.append)
    callback(KafkaError(KafkaError._TRANSPORT))
    assert sample(registry, "callstream_processor_events_total", processor="redactor") == 3
    assert sample(registry, "callstream_processor_dead_letters_total", processor="redactor", reason="undecodable") == 2
    assert sample(registry, "callstream_client_errors_total", source="redactor", client="consumer", error="_TRANSPORT") == 1
    assert len(chained) == 1  # Quix's own callback (which logs) still runs
    assert ProcessorMetrics("redactor", registry).processed is metrics.processed  # one family per registry


def test_quix_application_error_callbacks_are_counted(tmp_path: Path, kafka_config, pipeline) -> None:
    built = build_application(Redactor(), kafka_config, load_catalog(), tmp_path, group=f"g-{tmp_path.name}",
                              topic_names=pipeline.names)
    app, step = built.app, built.step
    assert hook_quix_error_callbacks(app, step.metrics)  # this Quix version still has the hook
    registry = step.metrics.registry

    def client_errors(client: str, error: str) -> float:
        return sample(registry, "callstream_client_errors_total", source="redactor", client=client, error=error) or 0.0

    before = client_errors("consumer", "_ALL_BROKERS_DOWN")
    # what librdkafka calls on Quix's clients (the private API callstream.dependencies pins)
    app._consumer._error_cb(KafkaError(KafkaError._ALL_BROKERS_DOWN))  # noqa: SLF001
    app._producer._producer._error_cb(KafkaError(KafkaError._TRANSPORT))  # noqa: SLF001
    assert client_errors("consumer", "_ALL_BROKERS_DOWN") >= before + 1
    assert client_errors("producer", "_TRANSPORT") >= 1


_WORKER = """
from callstream.observe.client_metrics import ProcessorMetrics
m = ProcessorMetrics("sentiment")
m.processed.inc({n})
m.dead_letter("undecodable: bad")
m.step_seconds.observe(0.002)
"""


def test_worker_processes_are_summed_from_the_multiprocess_dir(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in (5, 7):  # two worker processes
        subprocess.run([sys.executable, "-c", _WORKER.format(n=n)], env=env, check=True, timeout=60)
    families = {f.name: f for f in read_worker_metrics(tmp_path)}
    processed = [s for s in families["callstream_processor_events"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in processed] == [({"processor": "sentiment"}, 12.0)]
    dead = [s for s in families["callstream_processor_dead_letters"].samples if s.name.endswith("_total")]
    assert dead[0].labels == {"processor": "sentiment", "reason": "undecodable"} and dead[0].value == 2
    count = [s for s in families["callstream_processor_step_seconds"].samples if s.name.endswith("_count")]
    assert count[0].value == 2
    assert read_worker_metrics(tmp_path / "missing") == []
    # a worker starting up has created its file and not sized it yet: the others are read
    (tmp_path / "histogram_424242.db").touch()
    families = {f.name: f for f in read_worker_metrics(tmp_path)}
    processed = [s for s in families["callstream_processor_events"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in processed] == [({"processor": "sentiment"}, 12.0)]
