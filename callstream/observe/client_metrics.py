"""Per-instance metrics of a processor worker: events processed, dead letters by reason,
client errors by type (librdkafka's error callback) and processing time per event.

A worker is one process of many, so its metrics must be collected somewhere. Two ways,
both prometheus-client's own:

* ``PROMETHEUS_MULTIPROC_DIR`` set in the worker's environment (``callstream up`` and the
  tests do this): every worker writes its values to memory-mapped files in that directory
  and the observer, on the same machine, adds them up (``read_worker_metrics``);
* ``CALLSTREAM_METRICS_PORT`` set: the worker also serves its own ``/metrics`` on that
  port (for a Prometheus that scrapes each instance, e.g. on other hosts), bound to
  ``CALLSTREAM_METRICS_HOST`` (default 127.0.0.1).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

PROCESSED = "callstream_processor_events_total"
DEAD_LETTERS = "callstream_processor_dead_letters_total"
CLIENT_ERRORS = "callstream_client_errors_total"
STEP_SECONDS = "callstream_processor_step_seconds"
REBALANCE_SECONDS = "callstream_processor_rebalance_seconds"
CHECKPOINT_SECONDS = "callstream_processor_checkpoint_seconds"

#: per-event processing time: most steps take well under a millisecond
STEP_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)

#: a rebalance phase (processors/rebalance.py): tens of milliseconds to the session timeout
REBALANCE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

#: a checkpoint's stop (processors/checkpoints.py): milliseconds idle, ~100 ms under load,
#: seconds when a broker is slow to acknowledge
CHECKPOINT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_SLUG = re.compile(r"[^a-z]+")


def reason_class(reason: str) -> str:
    """A dead-letter reason as a bounded label: the words before its first colon, slugged
    ("undecodable: not valid JSON: ..." -> ``undecodable``; "processing failed in sentiment:
    ..." -> ``processing_failed_in_sentiment``)."""
    head = reason.split(":", 1)[0].strip().lower()
    return _SLUG.sub("_", head).strip("_")[:48] or "unknown"


class _Families:
    """The metric families, created once per registry (a registry refuses duplicates)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.processed = Counter(PROCESSED.removesuffix("_total"), "Events a processor instance decoded and processed (not the types it skips unread)",
                                 ["processor"], registry=registry)
        self.dead_letters = Counter(DEAD_LETTERS.removesuffix("_total"),
                                    "Messages a processor sent to the dead-letter topic, by reason class",
                                    ["processor", "reason"], registry=registry)
        self.client_errors = Counter(CLIENT_ERRORS.removesuffix("_total"),
                                     "Errors reported by librdkafka's error callback, by client and error name",
                                     ["source", "client", "error"], registry=registry)
        self.step_seconds = Histogram(STEP_SECONDS, "Time a processor spends on one event (decode, process, encode)",
                                      ["processor"], buckets=STEP_BUCKETS, registry=registry)
        self.rebalance_seconds = Histogram(REBALANCE_SECONDS,
                                           "Time a processor instance spent in one phase of a consumer-group "
                                           "rebalance (revoke, lost, join, assign, recovery)",
                                           ["processor", "phase"], buckets=REBALANCE_BUCKETS, registry=registry)
        self.checkpoint_seconds = Histogram(CHECKPOINT_SECONDS,
                                            "Time a processor instance stopped reading to commit a checkpoint "
                                            "(state hand-over, changelogs, flush, offsets or transaction)",
                                            ["processor"], buckets=CHECKPOINT_BUCKETS, registry=registry)


#: keyed by the registry itself, weakly: keyed by ``id()``, a registry collected after one
#: test handed its id, and its dead families, to the next test's new registry
_FAMILIES: weakref.WeakKeyDictionary[CollectorRegistry, _Families] = weakref.WeakKeyDictionary()


class ProcessorMetrics:
    """The counters one processor instance updates. With no ``registry``, the default
    one, so multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) applies when it is set."""

    def __init__(self, processor: str, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import REGISTRY

        self.processor = processor
        self.registry = registry if registry is not None else REGISTRY
        families = _FAMILIES.get(self.registry)
        if families is None:
            families = _FAMILIES[self.registry] = _Families(self.registry)
        self._families = families
        self.processed = families.processed.labels(processor)
        self.step_seconds = families.step_seconds.labels(processor)
        self.checkpoint_seconds = families.checkpoint_seconds.labels(processor)

    def dead_letter(self, reason: str) -> None:
        self._families.dead_letters.labels(self.processor, reason_class(reason)).inc()

    def rebalance_seconds(self, phase: str, seconds: float) -> None:
        self._families.rebalance_seconds.labels(self.processor, phase).observe(seconds)

    def client_error(self, client: str, error: Any) -> None:
        """Count one librdkafka error (a ``KafkaError``) by its name (``_TRANSPORT``, ...)."""
        name = error.name() if hasattr(error, "name") else type(error).__name__
        self._families.client_errors.labels(self.processor, client, name).inc()

    def error_callback(self, client: str, chained: Callable[[Any], None] | None = None) -> Callable[[Any], None]:
        """An ``error_cb`` that counts, then calls the one it replaces (which logs)."""
        def on_error(error: Any) -> None:
            self.client_error(client, error)
            if chained is not None:
                chained(error)
        return on_error


def hook_quix_error_callbacks(app: Any, metrics: ProcessorMetrics) -> bool:
    """Count the librdkafka errors of a Quix ``Application``'s consumer and producer.

    Quix Streams builds its clients with its own ``error_cb`` and has no option to pass
    one, but each client calls a replaceable ``_user_error_cb``; we chain onto it. Returns
    False (and logs) if this Quix version lacks the hook, so a Quix upgrade loses the
    error counts, never the processor (tests/observe/test_client_metrics.py pins it).
    """
    hooked = False
    for client_name, attr in (("consumer", "_consumer"), ("producer", "_producer")):
        client = getattr(app, attr, None)
        inner = getattr(client, "_producer", client) if client_name == "producer" else client
        for candidate in (client, inner):
            if candidate is not None and hasattr(candidate, "_user_error_cb"):
                # private: the only hook Quix offers (pinned by callstream.dependencies)
                chained = candidate._user_error_cb  # noqa: SLF001
                candidate._user_error_cb = metrics.error_callback(client_name, chained)  # noqa: SLF001
                hooked = True
                break
    if not hooked:
        log.warning("this Quix Streams version offers no error callback hook: client errors are not counted")
    return hooked


def serve_if_configured(registry: CollectorRegistry | None = None) -> int | None:
    """Serve ``/metrics`` on ``$CALLSTREAM_METRICS_PORT`` if set; returns the port."""
    port = os.environ.get("CALLSTREAM_METRICS_PORT")
    if not port:
        return None
    host = os.environ.get("CALLSTREAM_METRICS_HOST", "127.0.0.1")
    from prometheus_client import REGISTRY

    start_http_server(int(port), addr=host, registry=registry or REGISTRY)
    return int(port)


def worker_metrics_env(directory: Path, *, fresh: bool = True) -> dict[str, str]:
    """An empty ``directory`` for the workers about to start, and the environment that has
    them write their metrics there (``read_worker_metrics`` adds them up): values left by
    an earlier run's processes would be added to theirs. ``fresh=False`` keeps what is
    there: a warm standby starting beside the workers it replaces (workers keep only
    counters and histograms, so the platform's counts go on adding up across the switch)."""
    if fresh:
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(directory)}


class HistogramTotals:
    """One histogram's cumulative figures for one label set, as the workers' files add up."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self, count: float = 0.0, total: float = 0.0, buckets: dict[float, float] | None = None) -> None:
        self.count = count
        self.sum = total
        #: upper bound (seconds; ``inf`` last) -> cumulative count, Prometheus ``le`` style
        self.buckets: dict[float, float] = buckets if buckets is not None else {}

    def minus(self, earlier: HistogramTotals) -> HistogramTotals:
        """What was observed since ``earlier``; totals that shrank (the workers' metrics
        files removed, a new run) count from zero again."""
        if self.count < earlier.count:
            return self
        return HistogramTotals(self.count - earlier.count, self.sum - earlier.sum,
                               {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()})

    def within(self, q: float) -> float | None:
        """The smallest finite bucket bound with at least ``q`` of the observations at or
        below it; ``None`` without observations or when they lie beyond the largest bound."""
        if self.count <= 0:
            return None
        bound = min((le for le, below in self.buckets.items() if below >= q * self.count), default=float("inf"))
        return None if bound == float("inf") else bound


def histogram_totals(samples: Iterable[tuple[str, Any]], family: str,
                     keys: tuple[str, ...]) -> dict[tuple[str, ...], HistogramTotals]:
    """``family``'s totals per value of the ``keys`` labels, from ``(family name, sample)``
    pairs (a prometheus-client sample, or anything with its ``name``, ``labels``, ``value``)."""
    out: dict[tuple[str, ...], HistogramTotals] = {}
    for name, sample in samples:
        if name != family:
            continue
        totals = out.setdefault(tuple(sample.labels.get(k, "") for k in keys), HistogramTotals())
        if sample.name.endswith("_count"):
            totals.count = sample.value
        elif sample.name.endswith("_sum"):
            totals.sum = sample.value
        elif sample.name.endswith("_bucket"):
            totals.buckets[float(sample.labels["le"])] = sample.value
    return out


def rebalance_phases(families: list[Any]) -> dict[str, dict[str, dict[str, float | int | None]]]:
    """``processor -> phase -> {count, total_s, mean_s, all_within_s}`` from the workers'
    ``REBALANCE_SECONDS`` histograms; ``all_within_s`` is the smallest bucket bound that
    holds every observation (None: some took longer than the last bound)."""
    totals = histogram_totals(((f.name, s) for f in families for s in f.samples), REBALANCE_SECONDS,
                              ("processor", "phase"))
    phases: dict[str, dict[str, dict[str, float | int | None]]] = {}
    for (processor, phase), t in sorted(totals.items()):
        if not t.count:
            continue
        phases.setdefault(processor, {})[phase] = {
            "count": int(t.count), "total_s": round(t.sum, 3), "mean_s": round(t.sum / t.count, 3),
            "all_within_s": t.within(1.0)}
    return phases


def checkpoint_stops(families: list[Any]) -> dict[str, dict[str, float | int | None]]:
    """``processor -> {count, total_s, mean_ms, p99_within_ms, all_within_s}`` from the
    workers' ``CHECKPOINT_SECONDS`` histograms: how often and how long each processor's
    loops stood still to commit (``p99_within_ms`` and ``all_within_s`` are bucket bounds;
    None: beyond the last, 30 s)."""
    totals = histogram_totals(((f.name, s) for f in families for s in f.samples), CHECKPOINT_SECONDS, ("processor",))
    stops: dict[str, dict[str, float | int | None]] = {}
    for (processor,), t in sorted(totals.items()):
        if not t.count:
            continue
        p99 = t.within(0.99)
        stops[processor] = {
            "count": int(t.count), "total_s": round(t.sum, 3), "mean_ms": round(t.sum / t.count * 1000, 1),
            "p99_within_ms": None if p99 is None else round(p99 * 1000, 3), "all_within_s": t.within(1.0)}
    return stops


def read_worker_metrics(directory: Path) -> list[Any]:
    """Every worker's metrics in ``directory`` (a ``PROMETHEUS_MULTIPROC_DIR``), summed
    across processes, as prometheus-client metric families."""
    if not Path(directory).is_dir():
        return []
    from prometheus_client.multiprocess import MultiProcessCollector

    # A worker creates its file empty and then sizes it: read at that moment, prometheus-
    # client's reader raised struct.error and killed the dashboard's observer (stop 58).
    # Such a file holds nothing yet; it is read next time. Files only grow after that.
    files = [str(path) for path in Path(directory).glob("*.db") if _holds_values(path)]
    return list(MultiProcessCollector.merge(files, accumulate=True))


def _holds_values(path: Path) -> bool:
    try:
        return path.stat().st_size >= _MMAP_HEADER_BYTES
    except FileNotFoundError:  # a worker's live gauge file, removed as it exited
        return False


#: the used-bytes counter and padding at the start of every multiprocess file
_MMAP_HEADER_BYTES = 8
