"""The intelligence pipeline under increasing load: throughput, lag and end-to-end latency.

Every processor runs as a worker process on a local Kafka, with the archiver writing every
topic to Iceberg as `callstream up` runs it, once per deployment: separate (one process per
processor), bundled (`callstream up --bundled`: the `frontline` bundle of the redactor and
assist, and `signals`, the rule processors in one consumer; ADR 0010) and signals (the rule
processors bundled, the redactor and assist alone; ADR 0007), each through the same steps.
For each step the simulator holds a target number of calls in progress; the bench measures
events/s (written to the source topics within the measured window), the total consumer lag
of every processor group, and the end-to-end latency from a raw transcript segment being
produced to (a) its redacted segment and (b) an assist prompt being readable by a
consumer, beside (c) the raw segment itself being readable by a consumer: Kafka's own
hop under the same load, the latency's baseline. A step is sustained when assist p99 < 100
ms (the headroom target; `--assist-p99-ms`) and the lag does not grow over the measured
window (its floor, the troughs of the commit sawtooth, rises by less than its mean again),
the archiver's lag included. Each step also reports the CPU each process used, in cores (on
one machine the broker, the simulator, the latency probe and the workers share them), and
the CPU per event of the workers (the archiver among them) and of the whole pipeline
(workers and broker) against the bare loop's per message.

Calls in progress are simulated with a speed-up (default 10): 500 simulated calls at 10x
produce the event rate of 5,000 real-time calls, so each step reaches its steady state in
seconds instead of minutes. Reported concurrency is that real-time equivalent: the target,
and beside it the mean the simulator counted over the measured window (the ramp lasts one
mean call, and with the profile's long-tailed call lengths the window holds ~95% of the
target at speed-up 10 and ~88% at speed-up 1).

Baseline (same run, same broker): a bare confluent-kafka consume->produce loop copying
pre-built segments, against the redactor draining the same backlog; then the redactor
draining backlogs of plaintext and of sealed segments (field encryption on, as `callstream
up` runs) in alternation, fresh segments each round, to report what encryption costs it.
The simulator seals restricted fields in every step unless ``--no-encryption``.

    python bench/pipeline.py [--steps 1000,2500,5000,7500,10000] [--deployments separate,bundled,signals]
                             [--speedup 10] [--measure 30] [--no-encryption] [--no-archiver]
                             [--only frontline]   (a subset of the workers: what the rest cost the live path)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BenchCluster, backlog_simulation, bare_copy  # noqa: E402

from callstream.archive.settings import ArchiveSettings  # noqa: E402
from callstream.contract.codec import decode_event, encode_event  # noqa: E402
from callstream.contract.events import AssistPrompt, RedactedSegment, TranscriptSegment  # noqa: E402
from callstream.kafka.topics import delete_topics  # noqa: E402
from callstream.observe.stream import percentile  # noqa: E402
from callstream.processors.registry import BUNDLED, deployment, load_processor  # noqa: E402
from callstream.simulate.conversation import ConversationProfile  # noqa: E402
from callstream.simulate.simulator import (  # noqa: E402
    SimulationSettings,
    generate_events,
    mean_call_seconds,
    run_simulation,
    topic_routes,
)

#: the headroom target: assist prompts within 100 ms at the 99th percentile (before 2026-11-30: 250 ms)
ASSIST_P99_TARGET_MS = 100.0
#: deployment -> the bundles it runs (``callstream.processors.registry.deployment``)
DEPLOYMENTS: dict[str, tuple[str, ...]] = {"separate": (), "bundled": BUNDLED, "signals": ("signals",)}
#: the archiver commits with each Iceberg flush, at the latest when its oldest row is this old
ARCHIVE_FLUSH_AGE_S = ArchiveSettings.model_fields["flush_max_age_s"].default


def raw_segments(count: int, seed: int, seal=None) -> list[tuple[bytes, bytes, list]]:
    """Pre-encoded raw transcript segments from the simulator (realistic text and PII),
    sealed by ``seal`` when given."""
    out = []
    for item in generate_events(backlog_simulation(seed)):
        if isinstance(item.event, TranscriptSegment):
            value, headers = encode_event(seal(item.event) if seal else item.event, validate=False)
            out.append((item.event.contact_id.encode(), value, headers))
            if len(out) >= count:
                break
    return out


def bare_copy_loop(conf: dict, payloads: list, source: str, target: str) -> float:
    """msgs/s of a plain confluent-kafka consume->produce loop over the same payloads."""
    return bare_copy(conf, source, target, payloads).msgs_per_s


def redactor_drain_rate(bench: BenchCluster, payloads: list, start: bool = True) -> float:
    """msgs/s of the redactor worker draining the same backlog from the raw topic (a
    running redactor when not ``start``: the backlog is produced, then drained)."""
    return bench.worker_drain("redactor", [("callstream.transcript.raw", *p) for p in payloads], start).msgs_per_s


class LatencyProbe:
    """Reads the redacted and assist topics from their end in its own process and records,
    per message, receive time - origin time (the raw segment's produce time). It reads the
    raw transcript topic too, as the latency's baseline: the same hop through the same
    broker under the same load with no processor in it (receive time - the raw message's
    produce timestamp), so a tail the broker or the machine puts on every message shows
    in the baseline and is not blamed on the pipeline.

    Its own process, because in the benchmark's process it would share one interpreter
    lock with the simulator: at 7,500 calls a probe thread fell behind and measured its
    own queueing, not the pipeline's. Samples go to a file, one per line."""

    def __init__(self, conf: dict, path: Path | None = None) -> None:
        self.path = path or Path(tempfile.mkstemp(prefix="callstream-latency-", suffix=".tsv")[1])
        context = multiprocessing.get_context("spawn")  # never fork a process holding Kafka clients
        self.stop = context.Event()
        self.process = context.Process(target=_probe_main, args=(conf, str(self.path), self.stop), daemon=True,
                                       name="latency-probe")

    def start(self) -> None:
        self.process.start()

    @property
    def helper(self) -> dict[str, int | None]:
        """Its process, for the CPU table: it shares the machine with the pipeline ("bench-"
        names are the benchmark's own load, outside the workers' CPU per event)."""
        return {"bench-probe": self.process.pid}

    def close(self) -> None:
        self.stop.set()
        self.process.join(10)
        self.path.unlink(missing_ok=True)

    @property
    def samples(self) -> list[tuple[float, str, float]]:
        """(receive wall s, stage, latency ms) so far."""
        out = []
        for line in self.path.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 3:  # the last line may be half written
                out.append((float(parts[0]), parts[1], float(parts[2])))
        return out

    def window(self, since: float, until: float) -> dict[str, list[float]]:
        """Each stage's latencies received within [since, until), sorted; the file is read once."""
        by_stage: dict[str, list[float]] = {"raw": [], "redacted": [], "assist": []}
        for t, stage, ms in self.samples:
            if since <= t < until:
                by_stage.setdefault(stage, []).append(ms)
        return {stage: sorted(values) for stage, values in by_stage.items()}


def _probe_main(conf: dict, path: str, stop) -> None:
    consumer = Consumer({**conf, "group.id": f"latency-{time.time_ns()}", "auto.offset.reset": "latest",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 5, "fetch.min.bytes": 65536})
    consumer.subscribe(["callstream.transcript.raw", "callstream.transcript.redacted", "callstream.assist.prompts"])
    with open(path, "a", buffering=1 << 16) as out:
        flushed = time.monotonic()
        while not stop.is_set():
            # poll(), not consume(n, timeout): a batch call waits its whole timeout for n
            # messages at low rates, which would add up to that timeout to every sample.
            message = consumer.poll(0.05)
            if message is not None and not message.error():
                received = time.time()
                if message.topic() == "callstream.transcript.raw":  # sealed fields stay unread: no decode
                    out.write(f"{received:.4f}\traw\t{received * 1000 - message.timestamp()[1]:.2f}\n")
                    continue
                event = decode_event(message.value(), message.headers())
                stage = "assist" if isinstance(event, AssistPrompt) else "redacted" if isinstance(event, RedactedSegment) else None
                if stage and event.source_time_ms is not None:
                    out.write(f"{received:.4f}\t{stage}\t{received * 1000 - event.source_time_ms:.2f}\n")
            if time.monotonic() - flushed > 0.5:
                out.flush()
                flushed = time.monotonic()
    consumer.close()


def lag_slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares trend of the lag, in messages per second."""
    if len(samples) < 2:
        return 0.0
    return statistics.linear_regression([t for t, _ in samples], [float(lag) for _, lag in samples]).slope


def lag_floor_trend(samples: list[tuple[float, int]], period_s: float) -> float:
    """How fast the lag's floor rises, in messages per second: the lowest sample near the
    window's end against the lowest near its start, each taken over at least one commit
    period (``period_s``) and a third of the window. Committed-offset lag is a sawtooth
    (each group commits every 0.2-1 s, the archiver with each Iceberg flush), and a sawtooth
    sampled about once a period aliases into a slow wave that a fitted line reads as a
    trend (``run_step`` also reads at jittered times, so the samples visit the troughs); a
    backlog raises the troughs, the sawtooth does not. A window shorter than two periods has
    no two troughs to compare: the fitted trend stands in."""
    if len(samples) < 3:
        return 0.0
    start, end = samples[0][0], samples[-1][0]
    chunk = max(period_s, (end - start) / 3)
    if 2 * chunk > end - start:
        return lag_slope(samples)
    first = [(t, lag) for t, lag in samples if t <= start + chunk]
    last = [(t, lag) for t, lag in samples if t >= end - chunk]
    span = statistics.fmean(t for t, _ in last) - statistics.fmean(t for t, _ in first)
    return (min(lag for _, lag in last) - min(lag for _, lag in first)) / span


def lag_growing(floor_trend_per_s: float, mean_lag: float, window_s: float) -> bool:
    """Growing means the floor's trend adds more than the window's mean lag again over the
    window (a backlog that doubles), and at least 500 messages."""
    return floor_trend_per_s * window_s > max(500.0, mean_lag)


def encryption_cost(bench: BenchCluster, count: int, seed: int, rounds: int) -> dict:
    """The running redactor draining fresh plaintext and sealed backlogs in alternation."""
    seal = bench.producer_seal()
    plain, sealed = [], []
    for n in range(rounds):
        plain.append(redactor_drain_rate(bench, raw_segments(count, seed + 100 + 2 * n), start=False))
        sealed.append(redactor_drain_rate(bench, raw_segments(count, seed + 101 + 2 * n, seal), start=False))
    ratios = [s / p for p, s in zip(plain, sealed, strict=True)]
    return {"plaintext_msgs_per_s": round(statistics.median(plain), 1), "sealed_msgs_per_s": round(statistics.median(sealed), 1),
            "sealed_vs_plaintext": round(statistics.median(ratios), 3), "ratio_min": round(min(ratios), 3),
            "ratio_max": round(max(ratios), 3), "rounds": rounds, "messages_per_round": count}


def cost_per_event(result: dict, bare_msgs_per_s: float) -> dict:
    """CPU per event of the workers (and with the broker) against the bare loop's per message,
    which ran on one core: how far the pipeline is from what Kafka itself costs."""
    cores = result["cpu_cores"]
    workers = sum(share for name, share in cores.items() if not name.startswith(("broker-", "bench")))
    broker_cores = sum(share for name, share in cores.items() if name.startswith("broker-"))
    per_event = lambda used: used / max(result["events_per_s"], 1e-9) * 1e6  # noqa: E731
    bare_us = 1e6 / bare_msgs_per_s
    return {"workers_us_per_event": round(per_event(workers), 1),
            "pipeline_us_per_event": round(per_event(workers + broker_cores), 1),
            "bare_us_per_message": round(bare_us, 2), "workers_vs_bare": round(per_event(workers) / bare_us, 2),
            "pipeline_vs_bare": round(per_event(workers + broker_cores) / bare_us, 2)}


def run_step(bench: BenchCluster, probe: LatencyProbe, processors: list[str], concurrency: int, speedup: float,
             measure_s: float, seed: int, ramp_s: float, seal=None, assist_p99_target_ms: float = ASSIST_P99_TARGET_MS,
             archiving: bool = True) -> dict:
    sim = SimulationSettings(curve="steady", concurrency=concurrency / speedup, speedup=speedup,
                             duration_s=(ramp_s + measure_s + 5) * speedup, drain=False, seed=seed)
    summary: dict = {}
    thread = threading.Thread(target=lambda: summary.setdefault("s", run_simulation(sim, bench.conf, progress=False, seal=seal)),
                              daemon=True)
    sim_started = time.time()
    thread.start()
    time.sleep(ramp_s)
    sources = sorted(set(topic_routes(sim).values()))
    window_start = time.time()
    cpu_before = bench.cpu_seconds(probe.helper)
    produced_before = bench.messages_in(sources)
    lags: list[tuple[float, int]] = []
    archiver_lags: list[tuple[float, int]] = []
    by_processor: list[dict[str, int]] = []
    # about once a second, at jittered times: read at a fixed period, a commit sawtooth of
    # nearly the same period aliases into a slow wave that looks like a trend
    pauses = random.Random(seed)
    while time.time() - window_start < measure_s:
        by_processor.append(bench.lag_by_processor(processors))
        lags.append((time.time(), sum(by_processor[-1].values())))
        if archiving:
            archiver_lags.append((time.time(), bench.archiver_lag()))
        time.sleep(pauses.uniform(0.5, 1.5))
    cpu_after = bench.cpu_seconds(probe.helper)
    produced_after = bench.messages_in(sources)
    window_end = time.time()
    measured_s = window_end - window_start
    # share of one core each process used over the window (2.0 = both cores of this machine)
    cpu = {name: round((cpu_after[name] - cpu_before[name]) / measured_s, 3) for name in cpu_after if name in cpu_before}
    thread.join()
    events = summary["s"].events if "s" in summary else 0
    wall = summary["s"].wall_s if "s" in summary else 1
    # The window's own rate: the run's average includes the ramp's thinner traffic, and
    # dividing the window's CPU by it overstated the CPU per event (most at speed-up 1).
    window_events_per_s = (produced_after - produced_before) / measured_s
    # calls actually in progress over the window (the ramp may not have reached the target)
    window_sim_s = ((window_start - sim_started) * speedup, (window_end - sim_started) * speedup)
    in_window = [calls for sim_s, calls in summary["s"].in_progress if window_sim_s[0] <= sim_s < window_sim_s[1]] \
        if "s" in summary else []
    latencies = probe.window(window_start, window_end)
    assist, redacted, kafka_hop = latencies["assist"], latencies["redacted"], latencies["raw"]
    first, last = lags[0][1], lags[-1][1]
    # the longest commit interval of the groups run: their summed lag's sawtooth period
    commit_period_s = max(load_processor(name).commit_interval for name in processors)
    growth_per_s, floor_growth_per_s = lag_slope(lags), lag_floor_trend(lags, commit_period_s)
    mean_lag = statistics.fmean(lag for _, lag in lags)
    growing = lag_growing(floor_growth_per_s, mean_lag, measure_s)
    archiver: dict = {}
    if archiver_lags:
        # the archiver commits with each Iceberg flush (rows or age), so its lag is a taller sawtooth
        archiver_mean, archiver_floor = statistics.fmean(lag for _, lag in archiver_lags), lag_floor_trend(archiver_lags, ARCHIVE_FLUSH_AGE_S)
        archiver = {"archiver_lag_mean": round(archiver_mean), "archiver_lag_trend_per_s": round(lag_slope(archiver_lags), 1),
                    "archiver_lag_floor_trend_per_s": round(archiver_floor, 1),
                    "archiver_lag_growing": lag_growing(archiver_floor, archiver_mean, measure_s)}
        growing = growing or archiver["archiver_lag_growing"]
    assist_p99 = percentile(assist, 0.99)
    return {
        "concurrency": concurrency, "simulated_concurrency": round(concurrency / speedup), "speedup": speedup,
        "measured_concurrency": round(statistics.fmean(in_window) * speedup) if in_window else None,
        "events_per_s": round(window_events_per_s, 1), "run_events_per_s": round(events / wall, 1), "lag_start": first, "lag_end": last, "lag_max": max(lag for _, lag in lags),
        "lag_mean": round(mean_lag), "lag_trend_per_s": round(growth_per_s, 1),
        "lag_floor_trend_per_s": round(floor_growth_per_s, 1), "lag_growing": growing,
        "lag_samples": [(round(t - window_start, 1), lag) for t, lag in lags],
        "lag_mean_by_processor": {name: round(statistics.fmean(sample[name] for sample in by_processor)) for name in processors},
        "redacted_p50_ms": percentile(redacted, 0.5), "redacted_p99_ms": percentile(redacted, 0.99), "redacted_samples": len(redacted),
        "assist_p50_ms": percentile(assist, 0.5), "assist_p99_ms": assist_p99, "assist_samples": len(assist),
        "kafka_hop_p50_ms": percentile(kafka_hop, 0.5), "kafka_hop_p99_ms": percentile(kafka_hop, 0.99),
        "sustained": bool(assist and assist_p99 is not None and assist_p99 < assist_p99_target_ms and not growing),
        "max_behind_schedule_s": summary["s"].max_lag_s if "s" in summary else None,
        "cpu_cores": cpu, "cpu_cores_total": round(sum(cpu.values()), 2), **archiver,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="1000,2500,5000,7500,10000", help="real-time-equivalent calls in progress")
    parser.add_argument("--speedup", type=float, default=10.0)
    parser.add_argument("--measure", type=float, default=30.0, help="measured seconds per step")
    parser.add_argument("--baseline-messages", type=int, default=30000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--bootstrap")
    parser.add_argument("--insecure", action="store_true",
                        help="a plaintext local broker (the baseline for what authentication and ACLs cost)")
    parser.add_argument("--no-encryption", action="store_true", help="the simulator does not seal restricted fields")
    parser.add_argument("--encryption-rounds", type=int, default=3, help="plaintext/sealed redactor drains (0: skip)")
    parser.add_argument("--deployments", default="separate,bundled",
                        help="run every step for each: separate (a process per processor), bundled (`up --bundled`: "
                             "the frontline and signals bundles), signals (the rule processors bundled, the redactor and assist alone)")
    parser.add_argument("--no-archiver", action="store_true", help="do not run the archiver (`up --no-archive`)")
    parser.add_argument("--scale", default="", metavar="NAME=N,...",
                        help="instances of these workers in their group (default one each), e.g. frontline=2")
    parser.add_argument("--only", default="", metavar="NAME,...",
                        help="run only these workers of each deployment, e.g. frontline (the live path alone, "
                             "to see what the others cost it); lag and CPU then cover these alone")
    parser.add_argument("--assist-p99-ms", type=float, default=ASSIST_P99_TARGET_MS,
                        help="a step is sustained when assist p99 stays under this and lag does not grow")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    deployments = args.deployments.split(",")
    only = {name for name in args.only.split(",") if name}
    try:
        scale = {name: int(n) for name, n in (item.split("=") for item in args.scale.split(",") if item)}
    except ValueError:
        parser.error(f"--scale takes NAME=N pairs separated by commas, got {args.scale!r}")
    if not set(deployments) <= set(DEPLOYMENTS):
        parser.error(f"--deployments takes {', '.join(DEPLOYMENTS)}, got {args.deployments!r}")
    for mode in deployments:
        workers = deployment(bundles=DEPLOYMENTS[mode])
        if not only <= set(workers):
            parser.error(f"--only {args.only}: the {mode} deployment runs {', '.join(workers)}; name some of those")
    console = Console()
    with BenchCluster(args.bootstrap, insecure=args.insecure) as bench:
        console.print(f"broker security: {bench.security}")
        security = bench.security
        payloads = raw_segments(args.baseline_messages, args.seed)
        bench_topics = [f"bench.copy.in.{time.time_ns()}", f"bench.copy.out.{time.time_ns()}"]
        admin = AdminClient(bench.conf)  # keep a reference: a collected client cancels its futures
        for future in admin.create_topics([NewTopic(t, 6, 1) for t in bench_topics]).values():
            future.result(30)
        bare = bare_copy_loop(bench.conf, payloads, *bench_topics)
        delete_topics(bench.conf, bench_topics)
        redactor = redactor_drain_rate(bench, payloads)
        console.print(f"baseline: bare consume->produce {bare:,.0f} msgs/s; redactor worker {redactor:,.0f} msgs/s (ratio {redactor / bare:.3f})")
        encryption = None
        if args.encryption_rounds:
            encryption = encryption_cost(bench, args.baseline_messages, args.seed, args.encryption_rounds)
            console.print(f"encryption: the redactor drains {encryption['plaintext_msgs_per_s']:,.0f} plaintext msgs/s, "
                          f"{encryption['sealed_msgs_per_s']:,.0f} sealed msgs/s (ratio {encryption['sealed_vs_plaintext']:.3f}, "
                          f"{encryption['ratio_min']:.3f}-{encryption['ratio_max']:.3f} over {encryption['rounds']} rounds)")
        seal = None if args.no_encryption else bench.producer_seal()
        running = ["redactor"]  # started by the drain baseline
        if not args.no_archiver:
            bench.start_archiver()  # after the baselines: they measure the redactor alone
        probe = LatencyProbe(bench.conf)
        probe.start()
        ramp_s = mean_call_seconds(ConversationProfile()) / args.speedup
        results = []
        for mode in deployments:
            processors = [name for name in deployment(bundles=DEPLOYMENTS[mode]) if not only or name in only]
            for name in running:
                if name not in processors:
                    bench.stop_processors([name], scale.get(name, 1))
            for name in processors:
                if name not in running:
                    bench.start_processors([name], scale.get(name, 1))
            running = processors
            # a group new to the cluster starts from the earliest record: the earlier steps' traffic
            bench.wait_drained(processors, timeout_s=600)
            for index, concurrency in enumerate(steps):
                console.print(f"{mode}: {concurrency:,} calls in progress ({concurrency / args.speedup:,.0f} simulated at {args.speedup:g}x) ...")
                # A seed per step (and another than the baseline's): the same seed repeats the same
                # contact ids, and every processor rightly drops a finished call's events as repeats.
                # So each deployment gets its own seeds too: the same traffic shape, other calls.
                result = run_step(bench, probe, processors, concurrency, args.speedup, args.measure,
                                  args.seed + 1 + index + 1000 * deployments.index(mode), ramp_s, seal=seal,
                                  assist_p99_target_ms=args.assist_p99_ms, archiving=not args.no_archiver)
                result["deployment"] = mode
                result.update(cost_per_event(result, bare))
                try:
                    result["drain_after_s"] = round(bench.wait_drained(processors, timeout_s=240, settle_s=2), 1)
                except TimeoutError:
                    result["drain_after_s"] = None
                results.append(result)
                console.print(f"  {result['events_per_s']:,.0f} events/s (run average {result['run_events_per_s']:,.0f}), assist p99 {result['assist_p99_ms']} ms, calls in progress {result['measured_concurrency'] or 0:,}, lag mean {result['lag_mean']:,} trend {result['lag_trend_per_s']:+,.0f}/s (floor {result['lag_floor_trend_per_s']:+,.0f}/s), sustained {result['sustained']}")
                console.print("  mean lag: " + ", ".join(f"{name} {lag:,}" for name, lag in sorted(result["lag_mean_by_processor"].items(), key=lambda kv: -kv[1])))
                if "archiver_lag_mean" in result:
                    console.print(f"  archiver lag mean {result['archiver_lag_mean']:,} trend {result['archiver_lag_trend_per_s']:+,.0f}/s (floor {result['archiver_lag_floor_trend_per_s']:+,.0f}/s)")
                console.print("  cores used: " + ", ".join(f"{name} {share:.2f}" for name, share in sorted(result["cpu_cores"].items(), key=lambda kv: -kv[1])))
                console.print(f"  CPU per event: workers {result['workers_us_per_event']:.0f} us, with the broker "
                              f"{result['pipeline_us_per_event']:.0f} us ({result['workers_vs_bare']:.1f}x and "
                              f"{result['pipeline_vs_bare']:.1f}x the bare loop's {result['bare_us_per_message']:.1f} us per message)")
                if result["drain_after_s"] is None:
                    console.print("  the pipeline did not drain after this step; stopping")
                    break
        latency_samples = probe.samples
        probe.close()
    table = Table("deployment", "calls in progress (measured)", "events/s", "lag mean (floor trend/s)", "Kafka hop p50/p99 ms", "redacted p50/p99 ms",
                  "assist p50/p99 ms",
                  "workers us/event", "x bare", "pipeline x bare", "sustained",
                  title=f"callstream pipeline ({'only ' + args.only if only else 'all 9 processors'}{'' if args.no_archiver else ', the archiver'}, broker {security})")
    fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    for r in results:
        table.add_row(r["deployment"], f"{r['concurrency']:,} ({r['measured_concurrency'] or 0:,})", f"{r['events_per_s']:,.0f}", f"{r['lag_mean']:,} ({r['lag_floor_trend_per_s']:+,.0f})",
                      f"{fmt(r['kafka_hop_p50_ms'])} / {fmt(r['kafka_hop_p99_ms'])}",
                      f"{fmt(r['redacted_p50_ms'])} / {fmt(r['redacted_p99_ms'])}", f"{fmt(r['assist_p50_ms'])} / {fmt(r['assist_p99_ms'])}",
                      f"{r['workers_us_per_event']:.0f}", f"{r['workers_vs_bare']:.1f}", f"{r['pipeline_vs_bare']:.1f}",
                      "yes" if r["sustained"] else "NO")
    console.print(table)
    highest = {mode: max([r["concurrency"] for r in results if r["sustained"] and r["deployment"] == mode], default=0)
               for mode in deployments}
    console.print(f"highest sustained concurrency (assist p99 < {args.assist_p99_ms:g} ms, no growing lag): "
                  + ", ".join(f"{mode} {level:,}" for mode, level in highest.items()) + f"; bare loop {bare:,.0f} msgs/s, redactor {redactor:,.0f} msgs/s, ratio {redactor / bare:.3f}")
    print(json.dumps({"broker_security": security, "encryption": not args.no_encryption, "encryption_cost": encryption,
                      "archiver": not args.no_archiver, "scale": scale, "only": sorted(only),
                      "baseline_bare_copy_msgs_per_s": round(bare, 1), "redactor_msgs_per_s": round(redactor, 1),
                      "redactor_vs_bare_ratio": round(redactor / bare, 4), "highest_sustained_concurrency": highest,
                      "assist_p99_target_ms": args.assist_p99_ms, "steps": results,
                      "latency_stats": {"samples": len(latency_samples), "median_all_ms": statistics.median(ms) if (ms := [s[2] for s in latency_samples if s[1] != "raw"]) else None}}))


if __name__ == "__main__":
    main()
