"""Benchmark: how fast the traffic simulator feeds Kafka, and how many concurrent calls it
can play in real time on this machine.

1. Max-speed: ``run_simulation(max_speed=True)`` events/s, against a bare confluent-kafka
   producer sending the same run's pre-encoded payloads (same count, same sizes, same
   producer settings) in the same process: the ratio is the simulator's overhead.
2. Real time: runs paced by the wall clock at rising load. A run at speed-up S and
   C calls in progress produces the event rate of C x S calls in real time; a level is
   sustained when no event is more than 1 s behind schedule and under 1% are 100 ms late.

Starts a throwaway local Kafka (``callstream.local.broker``) unless --bootstrap is given.

    python bench/simulator.py [--bootstrap HOST:PORT] [--rate 300] [--duration 600]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

from callstream.contract.codec import encode_event
from callstream.errors import LocalKafkaError
from callstream.kafka.produce import produce_patiently
from callstream.local import broker
from callstream.simulate.simulator import (
    SimulationSettings,
    generate_events,
    mean_call_seconds,
    producer_settings,
    run_simulation,
)

CATALOG_TOPICS = (
    "callstream.call.lifecycle",
    "callstream.transcript.raw",
    "callstream.agent.actions",
    "callstream.crm.updates",
)
START_MS = 1_767_261_600_000


def create_topics(conf: dict[str, str], prefix: str) -> dict[str, str]:
    names = {topic: f"{prefix}-{topic.split('.', 1)[1].replace('.', '-')}" for topic in CATALOG_TOPICS}
    admin = AdminClient(conf)
    futures = admin.create_topics([NewTopic(n, num_partitions=6, replication_factor=1) for n in names.values()])
    for future in futures.values():
        future.result(timeout=30)
    return names


def delete_topics(conf: dict[str, str], names: list[str]) -> None:
    admin = AdminClient(conf)
    for future in admin.delete_topics(names).values():
        try:
            future.result(timeout=30)
        except Exception:  # noqa: BLE001 - best-effort cleanup of bench topics
            pass


def bare_producer_rate(conf: dict[str, str], settings: SimulationSettings, topics: dict[str, str]) -> tuple[float, int, int]:
    """events/s of a plain produce loop over the run's pre-encoded messages."""
    messages = [
        (
            topics[_catalog_topic(sim.topic, topics)],
            sim.event.contact_id.encode(),
            *encode_event(sim.event, validate=False),
        )
        for sim in generate_events(settings)
    ]
    size = sum(len(m[2]) for m in messages)
    producer = Producer(producer_settings(conf))
    producer.list_topics(timeout=10)  # connect before timing, as run_simulation does
    started = time.perf_counter()
    for topic, key, value, headers in messages:
        produce_patiently(producer, topic, value, key, headers)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    return len(messages) / elapsed, len(messages), size


def _catalog_topic(topic: str, topics: dict[str, str]) -> str:
    return next(catalog for catalog, actual in topics.items() if actual == topic)


def generation_rate(settings: SimulationSettings) -> float:
    started = time.perf_counter()
    n = sum(1 for _ in generate_events(settings))
    return n / (time.perf_counter() - started)


def realtime_levels(
    conf: dict[str, str], topics: dict[str, str], levels: list[int], speedup: float, duration_s: float
) -> list[dict]:
    results = []
    for level in levels:
        settings = SimulationSettings(
            concurrency=level / speedup,
            duration_s=duration_s,
            speedup=speedup,
            drain=False,
            seed=level,
            start_time_ms=START_MS,
            topic_overrides=topics,
        )
        summary = run_simulation(settings, conf, progress=False)
        late_share = summary.late_events / max(1, summary.events)
        sustained = summary.max_lag_s < 1.0 and late_share < 0.01
        # the load of the last third of the run, after the ramp-up of calls in progress
        tail = [n for t, n in summary.in_progress if t >= duration_s * 2 / 3]
        results.append(
            {
                "level": level,
                "speedup": speedup,
                "steady_calls_in_progress": round(sum(tail) / max(1, len(tail)) * speedup),
                "events_per_s": summary.events_per_s,
                "max_lag_s": summary.max_lag_s,
                "late_share": round(late_share, 4),
                "sustained": sustained,
            }
        )
        if not sustained:
            break
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", help="an existing Kafka; default: start a throwaway local one")
    parser.add_argument("--rate", type=float, default=300.0, help="calls per minute of the max-speed run")
    parser.add_argument("--duration", type=float, default=600.0, help="simulated seconds of the max-speed run")
    parser.add_argument(
        "--levels",
        default="5000,10000,20000,40000,80000,160000",
        help="real-time concurrency levels to try, in order, until one is not sustained",
    )
    parser.add_argument("--speedup", type=float, default=50.0, help="speed-up of the real-time runs")
    parser.add_argument("--realtime-duration", type=float, default=450.0, help="simulated seconds per real-time run")
    args = parser.parse_args()
    console = Console()

    state_dir = None
    bootstrap = args.bootstrap
    conf = {"bootstrap.servers": bootstrap} if bootstrap else {}
    if not bootstrap:
        for _ in range(2):  # a fresh state dir and ports on a failed start
            state_dir = Path(tempfile.mkdtemp(prefix="callstream-bench-kafka-"))
            try:
                # secured as `callstream kafka start` makes it; the benchmark produces as its admin
                cluster, _ = broker.start(state_dir, 1, ports=broker.free_ports(2), timeout_s=120)
                bootstrap = cluster.bootstrap_servers
                conf = cluster.client_config()
                break
            except LocalKafkaError as exc:
                console.print(f"[yellow]local Kafka did not start ({exc}); retrying once")
                broker.stop(state_dir)
                shutil.rmtree(state_dir, ignore_errors=True)
                state_dir = None
        if not bootstrap:
            raise SystemExit("could not start a local Kafka")
    prefix = f"bench-sim-{uuid.uuid4().hex[:8]}"
    sim_topics = create_topics(conf, prefix)
    bare_topics = create_topics(conf, prefix + "-bare")
    try:
        settings = SimulationSettings(
            rate_per_min=args.rate,
            duration_s=args.duration,
            max_speed=True,
            seed=1,
            start_time_ms=START_MS,
            topic_overrides=sim_topics,
        )
        generated = generation_rate(settings)
        summary = run_simulation(settings, conf, progress=False)
        bare_settings = SimulationSettings(
            rate_per_min=args.rate,
            duration_s=args.duration,
            seed=1,
            start_time_ms=START_MS,
            topic_overrides=bare_topics,
        )
        bare_rate, bare_events, bare_bytes = bare_producer_rate(conf, bare_settings, bare_topics)
        if bare_events != summary.events or bare_bytes != summary.bytes:
            raise SystemExit(
                f"baseline differs: {bare_events} events/{bare_bytes} B vs {summary.events}/{summary.bytes}"
            )
        levels = [int(x) for x in args.levels.split(",") if x.strip()]
        realtime = realtime_levels(conf, sim_topics, levels, args.speedup, args.realtime_duration)
    finally:
        delete_topics(conf, list(sim_topics.values()) + list(bare_topics.values()))
        if state_dir is not None:
            broker.stop(state_dir)
            shutil.rmtree(state_dir, ignore_errors=True)

    ratio = summary.events_per_s / bare_rate
    table = Table(title="simulator: max-speed throughput (one process, 2-core machine)")
    for column in ("producer", "events", "MB", "events/s", "ratio"):
        table.add_column(column, justify="right" if column != "producer" else "left")
    table.add_row(
        "bare confluent-kafka (pre-encoded)", f"{bare_events:,}", f"{bare_bytes / 1e6:.1f}", f"{bare_rate:,.0f}", "1.00"
    )
    table.add_row(
        "run_simulation max-speed",
        f"{summary.events:,}",
        f"{summary.bytes / 1e6:.1f}",
        f"{summary.events_per_s:,.0f}",
        f"{ratio:.2f}",
    )
    table.add_row(
        "generate_events only (no Kafka)",
        f"{summary.events:,}",
        "-",
        f"{generated:,.0f}",
        f"{generated / bare_rate:.2f}",
    )
    console.print(table)
    console.print(
        f"{summary.calls:,} calls, mean call {mean_call_seconds(settings.profile):.0f} s simulated, "
        f"peak {summary.peak_concurrency:,} calls in progress, hash {summary.content_hash[:12]}"
    )

    rt = Table(title=f"simulator: real-time pacing (speed-up {args.speedup:g}; level = calls in progress x speed-up)")
    for column in ("level", "steady calls (x speed-up)", "events/s", "max lag s", "late share", "sustained"):
        rt.add_column(column, justify="right")
    for row in realtime:
        rt.add_row(
            f"{row['level']:,}",
            f"{row['steady_calls_in_progress']:,}",
            f"{row['events_per_s']:,.0f}",
            f"{row['max_lag_s']:.3f}",
            f"{row['late_share']:.2%}",
            "yes" if row["sustained"] else "NO",
        )
    console.print(rt)
    sustained = [r["steady_calls_in_progress"] for r in realtime if r["sustained"]]
    best = max(sustained) if sustained else 0
    console.print(f"sustained real-time concurrency: about {best:,} calls in progress")
    print(
        json.dumps(
            {
                "bench": "simulator",
                "max_speed_events_per_s": summary.events_per_s,
                "bare_producer_events_per_s": round(bare_rate, 1),
                "ratio_vs_bare_producer": round(ratio, 3),
                "generate_only_events_per_s": round(generated, 1),
                "events": summary.events,
                "bytes": summary.bytes,
                "calls": summary.calls,
                "mean_value_bytes": round(summary.bytes / summary.events, 1),
                "realtime": realtime,
                "sustained_realtime_concurrency": best,
            }
        )
    )


if __name__ == "__main__":
    main()
