"""The observer: one process that samples the cluster and taps the output topics, and
turns both into a ``Snapshot`` every few seconds (plus a short history for charts).

``Observer.sample()`` is also what ``callstream status`` calls once, so the terminal
summary, ``/metrics`` and the dashboard are the same computation. Run alone it serves
only ``/metrics``::

    python -m callstream.observe.observer --port 9464 [--state-dir DIR] [--group G ...]

(the dashboard, ``python -m callstream.observe.dashboard``, runs one inside itself).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from confluent_kafka import KafkaException

from callstream.archive.settings import ArchiveSettings
from callstream.contract.catalog import Catalog, load_catalog
from callstream.entry import run_entry_point
from callstream.errors import CallstreamError, KafkaOperationError
from callstream.governance.acls import OBSERVER
from callstream.observe.client_metrics import CLIENT_ERRORS
from callstream.observe.health import ArchiveHealth, cluster_health, local_broker_count
from callstream.observe.lag import GroupLag, OffsetReader, behind_positions, skew_of
from callstream.observe.processor_time import ProcessorClock, read_worker_samples
from callstream.observe.snapshot import (
    ClusterHealth,
    GroupRate,
    Snapshot,
    TopicRate,
    WorkerSample,
    client_error_key,
)
from callstream.observe.stream import StreamTap, TapFigures, default_topics
from callstream.settings import Settings, client_config, load_settings

log = logging.getLogger(__name__)

#: groups the observer watches when none are named: callstream's own long-lived groups
DEFAULT_GROUP_PREFIX = "callstream-"


@dataclass(frozen=True)
class ObserverSettings:
    """What to watch and how often."""

    #: catalog topic -> actual topic (uuid copies in tests and rehearsals)
    topic_names: Mapping[str, str] = field(default_factory=dict)
    #: consumer groups to report; ``None``: every group starting with ``group_prefix``
    groups: Sequence[str] | None = None
    group_prefix: str = DEFAULT_GROUP_PREFIX
    #: sliding window for latency percentiles and dead-letter rates
    window_s: float = 60.0
    #: how far back the tap starts reading when the observer starts
    lookback_s: float = 900.0
    interval_s: float = 2.0
    state_dir: Path = Path(".callstream")
    #: the archive to report on; default: the one under ``state_dir``
    archive: ArchiveSettings | None = None
    #: where workers write their metrics (``PROMETHEUS_MULTIPROC_DIR``); default <state_dir>/metrics
    worker_metrics_dir: Path | None = None
    #: chart points kept (at ``interval_s`` apart)
    history_points: int = 450

    @property
    def archive_settings(self) -> ArchiveSettings:
        return self.archive or ArchiveSettings.for_state_dir(self.state_dir)

    @property
    def metrics_dir(self) -> Path:
        return self.worker_metrics_dir or Path(self.state_dir) / "metrics"


class Observer:
    """Samples lag, skew, rates, broker and archive health, latency and dead letters."""

    def __init__(self, client_config: Mapping[str, str], settings: ObserverSettings | None = None,
                 catalog: Catalog | None = None, *, tap_topics: Sequence[str] | None = None,
                 lookback_s: float | None = None) -> None:
        self.settings = settings or ObserverSettings()
        self.catalog = catalog or load_catalog()
        rename = dict(self.settings.topic_names)
        #: actual topic name -> catalog name, for every catalog topic
        self.logical = {rename.get(t.name, t.name): t.name for t in self.catalog.topics}
        self.own_errors: Counter[tuple[str, str]] = Counter()
        conf = dict(client_config)
        # the observer reads data only where the catalog lets the dashboard consume; elsewhere
        # (the raw transcript above all) lag in seconds comes from offsets, never messages
        unreadable_names = self.catalog.unreadable_by(OBSERVER)
        unreadable = [actual for actual, name in self.logical.items() if name in unreadable_names]
        self.reader = OffsetReader(conf | {"error_cb": lambda e: self._on_error("admin", e)}, unreadable=unreadable)
        tapped = list(tap_topics) if tap_topics is not None else default_topics(self.catalog)
        self.figures = TapFigures({rename.get(t, t): t for t in tapped}, self.settings.window_s)
        self.tap = StreamTap(conf, self.figures.logical, self.figures.handle, start="lookback",
                             lookback_s=lookback_s if lookback_s is not None else self.settings.lookback_s,
                             on_error=self._on_error)
        self.archive = ArchiveHealth(self.settings.archive_settings)
        self.expected_brokers = local_broker_count(self.settings.state_dir)
        self.latest: Snapshot | None = None
        self.history: deque[dict[str, Any]] = deque(maxlen=self.settings.history_points)
        self.clock = ProcessorClock(self.settings.window_s)
        self._previous: tuple[float, dict[tuple[str, int], int], dict[tuple[str, str], int]] | None = None
        self._stop = threading.Event()

    def _on_error(self, client: str, error: Any) -> None:
        self.own_errors[(client, error.name() if hasattr(error, "name") else str(error))] += 1

    # --- sampling -------------------------------------------------------------------------

    def groups(self) -> list[str]:
        if self.settings.groups is not None:
            return list(self.settings.groups)
        return [g for g in self.reader.groups() if g.startswith(self.settings.group_prefix)]

    def sample(self, now_ms: int | None = None) -> Snapshot:
        """Take one snapshot (the tap's state is whatever it has read so far)."""
        now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
        cluster = cluster_health(self.reader.admin, expected_brokers=self.expected_brokers, topics=self.logical)
        self.expected_brokers = max(self.expected_brokers, cluster.brokers_up)
        board = self.figures.board_view()
        workers = read_worker_samples(self.settings.metrics_dir)
        common: dict[str, Any] = {
            "sampled_at_ms": now, "window_seconds": self.settings.window_s, "cluster": cluster,
            "latency": self.figures.latency(now), "dead_letters": self.figures.dead_letters(now),
            "client_errors": self._client_errors(workers), "workers": workers,
            "processors": self.clock.update(now / 1000, workers),
            "calls_in_progress": board["calls_in_progress"],
            "open_escalations": dict(Counter(e["queue"] or "(unassigned)" for e in board["open_escalations"])),
        }
        if not cluster.reachable:
            snapshot = Snapshot(**common)
        else:
            try:
                snapshot = Snapshot(**common, **self._kafka_figures(now))
            except KafkaOperationError as exc:
                snapshot = Snapshot(**common | {"cluster": msgspec.structs.replace(cluster, error=exc.message)})
        self.latest = snapshot
        self.history.append(history_point(snapshot))
        return snapshot

    def _kafka_figures(self, now: int) -> dict[str, Any]:
        reader = self.reader
        groups = self.groups()
        committed: dict[str, dict[tuple[str, int], int]] = {}
        for g in groups:
            try:
                committed[g] = reader.committed(g, list(self.logical))
            except KafkaOperationError:
                continue  # a coordinator still loading (a group just created): report the others now
        groups = [g for g in groups if g in committed]
        archived = self.archive.positions(self.logical) if self.archive.available else None
        catalog_partitions = reader.partitions(self.logical)
        wanted = set(catalog_partitions) | {tp for c in committed.values() for tp in c}
        offsets = reader.log_offsets(sorted(wanted))
        states = reader.group_states(groups)
        reader.prefetch_timestamps([behind_positions(committed[g], offsets) for g in groups] + (
            [behind_positions({tp: recorded.get(tp[1]) for tp in offsets if tp[0] == actual}, offsets)
             for actual, (recorded, _, _) in archived.items()] if archived else []))
        lags = [self._rename(reader.lag_from_positions(g, dict(committed[g]), offsets, now_ms=now, state=states.get(g)))
                for g in groups]

        previous = self._previous
        interval = (now / 1000 - previous[0]) if previous else None
        ends = {tp: offsets[tp][1] for tp in catalog_partitions}
        skews, topics = [], []
        for actual, logical in self.logical.items():
            parts = {p: offsets[(t, p)] for t, p in catalog_partitions if t == actual}
            if not parts:
                continue
            before = {p: (0, previous[1][(actual, p)]) for p in parts if (actual, p) in previous[1]} if previous else None
            skews.append(skew_of(logical, parts, before, interval))
            end = sum(e for _, e in parts.values())
            rate = None
            if previous and interval and before is not None and len(before) == len(parts):
                rate = round(max(0, end - sum(e for _, e in before.values())) / interval, 3)
            topics.append(TopicRate(topic=logical, end_offset=end, produce_per_s=rate))
        consumed: dict[tuple[str, str], int] = {}
        for g in groups:
            for (topic, _), offset in committed[g].items():
                key = (g, self.logical.get(topic, topic))
                consumed[key] = consumed.get(key, 0) + offset
        rates = []
        if previous and interval:
            for key, total in sorted(consumed.items()):
                if key in previous[2]:
                    rates.append(GroupRate(group=key[0], topic=key[1],
                                           consume_per_s=round(max(0, total - previous[2][key]) / interval, 3)))
        self._previous = (now / 1000, ends, consumed)
        archive = self.archive.measure(reader, self.logical, archived, offsets, now) if archived is not None else None
        return {"groups": lags, "skew": skews, "topics": topics, "consume": rates, "archive": archive}

    def _rename(self, lag: GroupLag) -> GroupLag:
        rows = [msgspec.structs.replace(p, topic=self.logical.get(p.topic, p.topic)) for p in lag.partitions]
        rows.sort(key=lambda p: (p.topic, p.partition))
        return msgspec.structs.replace(lag, partitions=rows)

    def _client_errors(self, workers: list[WorkerSample]) -> dict[str, int]:
        errors: dict[str, int] = {}
        for sample in workers:
            if sample.name == CLIENT_ERRORS:
                key = client_error_key(sample.labels.get("source", ""), sample.labels.get("client", ""),
                                       sample.labels.get("error", ""))
                errors[key] = errors.get(key, 0) + int(sample.value)
        for (client, error), count in self.own_errors.items():
            errors[client_error_key("observer", client, error)] = count
        return dict(sorted(errors.items()))

    # --- running ----------------------------------------------------------------------------

    def run(self, on_sample=None) -> None:
        """Tap and sample every ``interval_s`` until ``stop()``."""
        next_sample = time.monotonic()
        while not self._stop.is_set():
            try:
                self.tap.poll(max(0.05, next_sample - time.monotonic()))
            except KafkaException as exc:  # e.g. leaders still moving after topics were created
                self.own_errors[("tap", exc.args[0].name())] += 1
                self._stop.wait(1.0)
                continue
            if time.monotonic() >= next_sample:
                next_sample = time.monotonic() + self.settings.interval_s
                try:
                    snapshot = self.sample()
                except CallstreamError as exc:  # keep observing through a broker outage
                    snapshot = Snapshot(sampled_at_ms=time.time_ns() // 1_000_000,
                                        window_seconds=self.settings.window_s,
                                        cluster=ClusterHealth(reachable=False, error=str(exc)))
                    self.latest = snapshot
                except Exception as exc:  # noqa: BLE001 - a thread that died here froze the dashboard on its last sample
                    log.exception("observer: a sample failed; sampling again in %.1f s", self.settings.interval_s)
                    self.own_errors[("observer", f"sample_failed:{type(exc).__name__}")] += 1
                    continue
                if on_sample is not None:
                    on_sample(snapshot)

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.tap.close()
        self.reader.close()


def history_point(s: Snapshot) -> dict[str, Any]:
    """The figures the dashboard charts over time, from one snapshot."""
    freshness = [a.freshness_seconds for a in s.archive or [] if a.freshness_seconds is not None]
    return {
        "t": s.sampled_at_ms / 1000,
        "produce": {t.topic: t.produce_per_s for t in s.topics if t.produce_per_s is not None},
        "produce_total": round(sum(t.produce_per_s or 0 for t in s.topics), 3),
        "consume_total": round(sum(r.consume_per_s for r in s.consume), 3),
        "lag": {g.group: g.total_lag for g in s.groups},
        "lag_seconds": {g.group: g.max_lag_seconds for g in s.groups},
        "p50_ms": {x.stage: x.p50_ms for x in s.latency if x.p50_ms is not None},
        "p99_ms": {x.stage: x.p99_ms for x in s.latency if x.p99_ms is not None},
        "dead_letters": sum(d.total for d in s.dead_letters),
        "dead_letters_per_min": round(sum(d.per_minute for d in s.dead_letters), 3),
        "client_errors": sum(s.client_errors.values()),
        "archive_freshness_max_s": max(freshness) if freshness else None,
        "brokers_up": s.cluster.brokers_up,
        "calls_in_progress": sum(s.calls_in_progress.values()),
    }


def add_observer_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by the observer and the dashboard processes."""
    parser.add_argument("--state-dir", type=Path, help="callstream state dir (archive, local broker, worker metrics)")
    parser.add_argument("--group", action="append", dest="groups", help="consumer group to watch (repeat); default: every callstream-* group")
    parser.add_argument("--topic-map", help="JSON object renaming catalog topics (tests, rehearsals)")
    parser.add_argument("--worker-metrics-dir", type=Path, help="PROMETHEUS_MULTIPROC_DIR of the workers (default <state-dir>/metrics)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between samples")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of the latency / dead-letter window")
    parser.add_argument("--lookback", type=float, default=900.0, help="seconds of history read at start")
    parser.add_argument("--host", help="address to listen on (default: the dashboard section's host, 127.0.0.1)")


def observer_from_arguments(args: argparse.Namespace) -> tuple[Observer, dict[str, str], Settings]:
    """Settings from the environment (CALLSTREAM_*) and the shared options."""
    settings = load_settings(None, state_dir=args.state_dir)
    conf = client_config(settings, OBSERVER)
    observer = Observer(conf, ObserverSettings(
        topic_names=json.loads(args.topic_map) if args.topic_map else {}, groups=args.groups,
        window_s=args.window, lookback_s=args.lookback, interval_s=args.interval, state_dir=settings.state_dir,
        archive=settings.archive_settings(),
        worker_metrics_dir=args.worker_metrics_dir))
    return observer, conf, settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callstream.observe.observer", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9464)
    add_observer_arguments(parser)
    args = parser.parse_args(argv)
    observer, _, settings = observer_from_arguments(args)
    host = args.host or settings.dashboard.host
    from prometheus_client import CollectorRegistry, start_http_server

    from callstream.observe.metrics import SnapshotCollector

    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: observer.latest))
    # serve only once there is a sample: an answering /metrics always has figures
    observer.tap.catch_up()
    observer.sample()
    server, thread = start_http_server(args.port, addr=host, registry=registry)
    signal.signal(signal.SIGTERM, lambda *_: observer.stop())
    print(f"observer: /metrics on http://{host}:{args.port}/metrics", flush=True)
    try:
        observer.run()
    except KeyboardInterrupt:
        pass
    finally:
        observer.close()
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
