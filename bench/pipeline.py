"""The intelligence pipeline under increasing load: throughput, lag and end-to-end latency.

Every processor runs as its own worker process on a local Kafka. For each step the
simulator holds a target number of calls in progress; the bench measures events/s, the
total consumer lag of every processor group, and the end-to-end latency from a raw
transcript segment being produced to (a) its redacted segment and (b) an assist prompt
being readable by a consumer. A step is sustained when assist p99 < 250 ms and the lag
does not grow over the measured window.

Calls in progress are simulated with a speed-up (default 10): 500 simulated calls at 10x
produce the event rate of 5,000 real-time calls, so each step reaches its steady state in
seconds instead of minutes. Reported concurrency is that real-time equivalent.

Baseline (same run, same broker): a bare confluent-kafka consume->produce loop copying
pre-built segments, against the redactor draining the same backlog.

    python bench/pipeline.py [--steps 1000,2500,5000,7500,10000] [--speedup 10] [--measure 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BenchCluster  # noqa: E402

from callstream.contract.codec import decode_event, encode_event  # noqa: E402
from callstream.contract.events import AssistPrompt, RedactedSegment, TranscriptSegment  # noqa: E402
from callstream.kafka.topics import delete_topics  # noqa: E402
from callstream.observe.stream import percentile  # noqa: E402
from callstream.processors.registry import processor_names  # noqa: E402
from callstream.simulate.simulator import SimulationSettings, generate_events, mean_call_seconds, run_simulation  # noqa: E402
from callstream.simulate.conversation import ConversationProfile  # noqa: E402

ASSIST_P99_TARGET_MS = 250.0


def raw_segments(count: int, seed: int) -> list[tuple[bytes, bytes, list]]:
    """Pre-encoded raw transcript segments from the simulator (realistic text and PII)."""
    out = []
    settings = SimulationSettings(rate_per_min=600, duration_s=3600, max_speed=True, seed=seed, start_time_ms=1_700_000_000_000)
    for item in generate_events(settings):
        if isinstance(item.event, TranscriptSegment):
            value, headers = encode_event(item.event, validate=False)
            out.append((item.event.contact_id.encode(), value, headers))
            if len(out) >= count:
                break
    return out


def bare_copy_loop(conf: dict, payloads: list, source: str, target: str) -> float:
    """msgs/s of a plain confluent-kafka consume->produce loop over the same payloads."""
    producer = Producer({**conf, "linger.ms": 5})
    for key, value, headers in payloads:
        producer.produce(source, value, key=key, headers=headers)
        producer.poll(0)
    producer.flush(60)
    consumer = Consumer({**conf, "group.id": f"bare-{time.time_ns()}", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([source])
    copied, started = 0, None
    while copied < len(payloads):
        batch = consumer.consume(1000, 1.0)
        if batch and started is None:
            started = time.perf_counter()
        for message in batch:
            if message.error():
                continue
            producer.produce(target, message.value(), key=message.key(), headers=message.headers())
            copied += 1
        producer.poll(0)
        if batch:
            consumer.commit(asynchronous=True)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    consumer.close()
    return copied / elapsed


def redactor_drain_rate(bench: BenchCluster, payloads: list) -> float:
    """msgs/s of the redactor worker draining the same backlog from the raw topic."""
    producer = Producer({**bench.conf, "linger.ms": 5})
    for key, value, headers in payloads:
        producer.produce("callstream.transcript.raw", value, key=key, headers=headers)
        producer.poll(0)
    producer.flush(60)
    bench.start_processors(["redactor"])
    started = time.perf_counter()
    first_progress = None
    while True:
        backlog = bench.message_lag(["redactor"])
        consumed = len(payloads) - backlog
        if consumed > 0 and first_progress is None:
            first_progress = (time.perf_counter(), consumed)  # exclude process start and group join
        if backlog == 0:
            break
        time.sleep(0.25)
    t0, done_at_start = first_progress or (started, 0)
    return (len(payloads) - done_at_start) / max(1e-3, time.perf_counter() - t0)


class LatencyProbe(threading.Thread):
    """Reads the redacted and assist topics from their end; records receive time - origin time."""

    def __init__(self, conf: dict) -> None:
        super().__init__(daemon=True, name="latency-probe")
        self.consumer = Consumer({**conf, "group.id": f"latency-{time.time_ns()}", "auto.offset.reset": "latest",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        self.consumer.subscribe(["callstream.transcript.redacted", "callstream.assist.prompts"])
        self.samples: list[tuple[float, str, float]] = []  # (receive wall s, stage, latency ms)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            # poll(), not consume(n, timeout): a batch call waits its whole timeout for n
            # messages at low rates, which would add up to that timeout to every sample.
            message = self.consumer.poll(0.05)
            if message is not None:
                if message.error():
                    continue
                received = time.time()
                event = decode_event(message.value(), message.headers())
                if event is None or event.source_time_ms is None:
                    continue
                stage = "assist" if isinstance(event, AssistPrompt) else "redacted" if isinstance(event, RedactedSegment) else None
                if stage:
                    self.samples.append((received, stage, received * 1000 - event.source_time_ms))
        self.consumer.close()

    def window(self, since: float, stage: str) -> list[float]:
        return [ms for t, s, ms in self.samples if t >= since and s == stage]


def run_step(bench: BenchCluster, probe: LatencyProbe, processors: list[str], concurrency: int, speedup: float,
             measure_s: float, seed: int, ramp_s: float) -> dict:
    sim = SimulationSettings(curve="steady", concurrency=concurrency / speedup, speedup=speedup,
                             duration_s=(ramp_s + measure_s + 5) * speedup, drain=False, seed=seed)
    summary: dict = {}
    thread = threading.Thread(target=lambda: summary.setdefault("s", run_simulation(sim, bench.conf, progress=False)), daemon=True)
    thread.start()
    time.sleep(ramp_s)
    window_start = time.time()
    lags: list[tuple[float, int]] = []
    while time.time() - window_start < measure_s:
        lags.append((time.time(), bench.message_lag(processors)))
        time.sleep(2.0)
    thread.join()
    events = summary["s"].events if "s" in summary else 0
    wall = summary["s"].wall_s if "s" in summary else 1
    assist, redacted = probe.window(window_start, "assist"), probe.window(window_start, "redacted")
    first, last = lags[0][1], lags[-1][1]
    growing = last > max(200, 2 * first)
    assist, redacted = sorted(assist), sorted(redacted)
    assist_p99 = percentile(assist, 0.99)
    return {
        "concurrency": concurrency, "simulated_concurrency": round(concurrency / speedup), "speedup": speedup,
        "events_per_s": round(events / wall, 1), "lag_start": first, "lag_end": last, "lag_max": max(l[1] for l in lags),
        "lag_growing": growing,
        "redacted_p50_ms": percentile(redacted, 0.5), "redacted_p99_ms": percentile(redacted, 0.99), "redacted_samples": len(redacted),
        "assist_p50_ms": percentile(assist, 0.5), "assist_p99_ms": assist_p99, "assist_samples": len(assist),
        "sustained": bool(assist and assist_p99 is not None and assist_p99 < ASSIST_P99_TARGET_MS and not growing),
        "max_behind_schedule_s": summary["s"].max_lag_s if "s" in summary else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="1000,2500,5000,7500,10000", help="real-time-equivalent calls in progress")
    parser.add_argument("--speedup", type=float, default=10.0)
    parser.add_argument("--measure", type=float, default=30.0, help="measured seconds per step")
    parser.add_argument("--baseline-messages", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--bootstrap")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    console = Console()
    with BenchCluster(args.bootstrap) as bench:
        payloads = raw_segments(args.baseline_messages, args.seed)
        bench_topics = [f"bench.copy.in.{time.time_ns()}", f"bench.copy.out.{time.time_ns()}"]
        admin = AdminClient(bench.conf)  # keep a reference: a collected client cancels its futures
        for future in admin.create_topics([NewTopic(t, 6, 1) for t in bench_topics]).values():
            future.result(30)
        bare = bare_copy_loop(bench.conf, payloads, *bench_topics)
        delete_topics(bench.conf, bench_topics)
        redactor = redactor_drain_rate(bench, payloads)
        console.print(f"baseline: bare consume->produce {bare:,.0f} msgs/s; redactor worker {redactor:,.0f} msgs/s (ratio {redactor / bare:.3f})")
        others = [n for n in processor_names() if n != "redactor"]
        bench.start_processors(others)
        processors = processor_names()
        bench.wait_drained(processors, timeout_s=300)
        probe = LatencyProbe(bench.conf)
        probe.start()
        ramp_s = mean_call_seconds(ConversationProfile()) / args.speedup
        results = []
        for concurrency in steps:
            console.print(f"step: {concurrency:,} calls in progress ({concurrency / args.speedup:,.0f} simulated at {args.speedup:g}x) ...")
            result = run_step(bench, probe, processors, concurrency, args.speedup, args.measure, args.seed, ramp_s)
            try:
                result["drain_after_s"] = round(bench.wait_drained(processors, timeout_s=240, settle_s=2), 1)
            except TimeoutError:
                result["drain_after_s"] = None
            results.append(result)
            console.print(f"  {result['events_per_s']:,.0f} events/s, assist p99 {result['assist_p99_ms']} ms, lag {result['lag_start']} -> {result['lag_end']}, sustained {result['sustained']}")
            if result["drain_after_s"] is None:
                console.print("  the pipeline did not drain after this step; stopping")
                break
        probe.stop.set()
    table = Table("calls in progress", "events/s", "lag start->end (max)", "redacted p50/p99 ms", "assist p50/p99 ms", "sustained", title="callstream pipeline (all 9 processors)")
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    for r in results:
        table.add_row(f"{r['concurrency']:,}", f"{r['events_per_s']:,.0f}", f"{r['lag_start']} -> {r['lag_end']} ({r['lag_max']})",
                      f"{fmt(r['redacted_p50_ms'])} / {fmt(r['redacted_p99_ms'])}", f"{fmt(r['assist_p50_ms'])} / {fmt(r['assist_p99_ms'])}",
                      "yes" if r["sustained"] else "NO")
    console.print(table)
    sustained = [r["concurrency"] for r in results if r["sustained"]]
    highest = max(sustained) if sustained else 0
    console.print(f"highest sustained concurrency: {highest:,}; bare loop {bare:,.0f} msgs/s, redactor {redactor:,.0f} msgs/s, ratio {redactor / bare:.3f}")
    print(json.dumps({"baseline_bare_copy_msgs_per_s": round(bare, 1), "redactor_msgs_per_s": round(redactor, 1),
                      "redactor_vs_bare_ratio": round(redactor / bare, 4), "highest_sustained_concurrency": highest,
                      "assist_p99_target_ms": ASSIST_P99_TARGET_MS, "steps": results,
                      "latency_stats": {"samples": len(probe.samples), "median_all_ms": statistics.median([s[2] for s in probe.samples]) if probe.samples else None}}))


if __name__ == "__main__":
    main()
