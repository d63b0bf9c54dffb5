"""What observing costs: the observer's tap per message, and one /metrics scrape.

The tap reads every output topic, so its per-message cost bounds the traffic one observer
can follow. Per message it decodes the envelope's lineage fields, updates the latency
histogram and window, and fully decodes and folds into the supervisor board the event
types the board shows. Baseline, measured in the same run: the floor, a bare
``decode_event`` of every message into its typed event with nothing kept. The ratio is
what the bookkeeping costs on top of decoding. The message mix is a call center's output
stream (mostly redacted segments and sentiment, some lifecycle, a few alerts and dead
letters).

A scrape renders one snapshot of 12 groups x 15 topics x 6 partitions plus 10 stages.

Run: ``python bench/observe.py [--n 50000] [--repeats 5]``. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time

from rich.console import Console
from rich.table import Table

from callstream.contract.codec import decode_event, encode_event
from callstream.contract.deadletter import dead_letter
from callstream.contract.events import (
    AssistPrompt,
    CallConnected,
    CallQueued,
    RedactedSegment,
    SentimentScored,
    SupervisorAlert,
)
from callstream.observe.lag import GroupLag, PartitionLag
from callstream.observe.metrics import render
from callstream.observe.snapshot import LATENCY_BUCKETS, ClusterHealth, Snapshot, StageLatency
from callstream.observe.stream import TapFigures
from callstream.testing import RecordedMessage

T0 = 1_764_060_000_000


def message_mix(n: int, seed: int = 7) -> list[RecordedMessage]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        contact, now = f"c-{i % 500:04d}", T0 + i * 5
        common = {"event_id": f"e{i}", "contact_id": contact, "event_time_ms": now, "produced_at_ms": now + rng.randint(5, 400),
                  "caused_by": f"p{i}", "source_time_ms": now}
        roll = rng.random()
        if roll < 0.55:
            event, topic = RedactedSegment(producer="redactor", segment_id=f"s{i}", sequence=i, participant="customer",
                                           start_offset_ms=0, end_offset_ms=900, is_final=True, provisional=False,
                                           text="sure, my card is [CARD_NUMBER] and I was charged twice on my bill",
                                           **common), "redacted"
        elif roll < 0.80:
            event, topic = SentimentScored(producer="sentiment", segment_id=f"s{i}", participant="customer", score=-0.3,
                                           rolling_score=-0.2, **common), "sentiment"
        elif roll < 0.90:
            event, topic = (CallQueued(producer="simulator", queue="billing", **common) if i % 2 else
                            CallConnected(producer="simulator", agent_id="agent-7", queue="billing", **common)), "lifecycle"
        elif roll < 0.95:
            event, topic = AssistPrompt(producer="assist", intent="billing_dispute", confidence=0.8,
                                        next_best_action="open a billing dispute", **common), "assist"
        elif roll < 0.98:
            event, topic = SupervisorAlert(producer="escalation", alert_id=f"a{i}", kind="escalation", severity="warning",
                                           message="Escalation on call", **common), "alerts"
        else:
            _, value, headers = dead_letter(b"{bad", b"k", [], "undecodable: not valid JSON", "raw", 0, i, "redactor",
                                            failed_at_ms=now)
            out.append(RecordedMessage("dlq", value, timestamp_ms=now, headers=headers))
            continue
        out.append(RecordedMessage(topic, encode_event(event)[0], timestamp_ms=now + 1))
    return out


LOGICAL = {"redacted": "callstream.transcript.redacted", "sentiment": "callstream.signals.sentiment",
           "lifecycle": "callstream.call.lifecycle", "assist": "callstream.assist.prompts",
           "alerts": "callstream.supervisor.alerts", "dlq": "callstream.deadletter"}


def tap(messages: list[RecordedMessage]) -> None:
    TapFigures(LOGICAL).handle(messages)


def bare_decode(messages: list[RecordedMessage]) -> None:
    """The floor: every message decoded in full, latency read, nothing kept."""
    latencies: dict[str, list[int]] = {}
    for m in messages:
        if m.topic() == "dlq":
            continue
        event = decode_event(m.value())
        if event is not None and event.source_time_ms is not None:
            latencies.setdefault(event.producer, []).append(event.produced_at_ms - event.source_time_ms)


def big_snapshot() -> Snapshot:
    groups = [GroupLag(group=f"callstream-g{g}", sampled_at_ms=T0, state="Stable", members=2, partitions=[
        PartitionLag(topic=f"callstream.topic{t}", partition=p, committed=100, log_start=0, log_end=150, lag=50, lag_seconds=1.5)
        for t in range(15) for p in range(6)]) for g in range(12)]
    stages = [StageLatency(stage=f"stage{s}", count=1000, sum_seconds=50.0, buckets=[1000] * len(LATENCY_BUCKETS),
                           window_count=100, p50_ms=40.0, p99_ms=200.0, max_ms=300.0) for s in range(10)]
    return Snapshot(sampled_at_ms=T0, window_seconds=60, cluster=ClusterHealth(reachable=True, brokers_up=3, brokers_expected=3),
                    groups=groups, latency=stages)


def best_rate(fn, arg, n: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - started)
    return n / min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    messages = message_mix(args.n)
    tap_rate = best_rate(tap, messages, args.n, args.repeats)
    naive_rate = best_rate(bare_decode, messages, args.n, args.repeats)
    snapshot = big_snapshot()
    scrape_ms = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        body = render(snapshot)
        scrape_ms.append((time.perf_counter() - started) * 1000)
    series = body.count(b"\n") - body.count(b"\n#")

    table = Table(title=f"observer cost ({args.n:,} messages, best of {args.repeats})")
    table.add_column("what")
    table.add_column("msgs/s", justify="right")
    table.add_column("us/msg", justify="right")
    table.add_column("vs bare decode", justify="right")
    table.add_row("bare decode_event of every message  [baseline]", f"{naive_rate:,.0f}", f"{1e6 / naive_rate:.2f}", "1.00x")
    table.add_row("observer tap (latency + dead letters + board)", f"{tap_rate:,.0f}", f"{1e6 / tap_rate:.2f}",
                  f"{tap_rate / naive_rate:.2f}x")
    Console().print(table)
    Console().print(f"/metrics render of {series:,} series: median {statistics.median(scrape_ms):.1f} ms")
    print(json.dumps({
        "bench": "observe", "n": args.n, "repeats": args.repeats, "python": platform.python_version(),
        "tap_msgs_per_s": round(tap_rate), "bare_decode_msgs_per_s": round(naive_rate),
        "ratio_vs_bare_decode": round(tap_rate / naive_rate, 2),
        "scrape_series": series, "scrape_render_ms_median": round(statistics.median(scrape_ms), 2),
    }))


if __name__ == "__main__":
    main()
