"""Benchmark: a stateful worker's memory over hours of traffic, drained in minutes.

`bench/soak.py` runs `callstream up` in real time: its 30 minutes carry ~30,000 calls, when a
worker's call-state cache (20,000 calls) has just filled and long before its state store
holds the 6 hours its state lives (``Processor.state_ttl``), so a worker still growing at the
end of a soak may be filling a bounded store or leaking. This answers which, for a worker
that reads redacted transcripts or call lifecycles (every processor but the redactor, and
the ``signals`` bundle): it writes ``--hours`` of calls (``--rate`` new calls a minute; each one's lifecycle from
initiated to disposition around ``--finals`` customer finals spread over the call as live
traffic is; every message stamped with its event time, so state expires on the same clock as
live) to those of the worker's inputs, on a local broker (secured as `callstream kafka start`
makes it), lets the worker (`callstream run NAME`) drain them, and samples its resident
memory (VmRSS) every ``--interval`` seconds against the hours of traffic it has consumed (its
group's committed offsets; messages are written in event-time order). A call's heartbeats
(every 10 s) are written only for processors that read them; inputs the bench does not write
(signals, agent actions, CRM updates) are named in its output.

Baseline, from the same run: the worker's memory once it holds its partitions and before
the first message (its floor). The figures are its memory after each hour of traffic, its
growth over the floor, and its least-squares slope in MB per hour of traffic over the whole
drain and over the last third alone: a store that fills to its bound levels off (late slope
near 0), a leak keeps its slope to the end.

    python bench/state_memory.py [--processor assist] [--hours 8] [--rate 1000] [--finals 8]

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import functools
import heapq
import itertools
import json
import random
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Producer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BenchCluster, backlog_simulation  # noqa: E402
from soak import read_process, slope_per_hour  # noqa: E402

from callstream.contract.codec import encode_event  # noqa: E402
from callstream.contract.events import (  # noqa: E402
    CallConnected,
    CallDisposition,
    CallEnded,
    CallHeartbeat,
    CallInitiated,
    CallQueued,
    Envelope,
    RedactedSegment,
    TranscriptSegment,
)
from callstream.kafka.produce import produce_patiently  # noqa: E402
from callstream.processors.base import Processor  # noqa: E402
from callstream.processors.registry import BUNDLES, load_processor, processor_names  # noqa: E402
from callstream.scaling.controller import StableMembers  # noqa: E402
from callstream.simulate.conversation import DIALED_NUMBER, PRODUCER  # noqa: E402
from callstream.simulate.simulator import generate_events  # noqa: E402

REDACTED = "callstream.transcript.redacted"
LIFECYCLE = "callstream.call.lifecycle"
#: seconds between a call's arrival and its first customer final, and between its finals
FINAL_EVERY_MS = 30_000
#: how far a final may land after its slot (so calls interleave as live ones do)
FINAL_JITTER_MS = 5_000
#: a call's lifecycle: queued and connected this long after it arrives; it ends this long
#: after its last final's slot (past any jitter), its disposition follows its end
QUEUED_AFTER_MS, CONNECTED_AFTER_MS, ENDS_AFTER_MS, DISPOSED_AFTER_MS = 1_000, 20_000, 10_000, 15_000
#: a live call's heartbeat period (the simulator's)
HEARTBEAT_EVERY_MS = 10_000
#: the caller of every bench call (a number no one has: the bench seals nothing)
BENCH_CALLER = "+15555550100"
#: the consumed event time is looked up every this many messages
TIME_INDEX_STEP = 1_000


def drivable_processors() -> list[str]:
    """Processors and bundles reading the redacted transcript or the call lifecycle: what this
    bench drives (``frontline`` reads raw transcripts, which it does not write)."""
    return [name for name in [*processor_names(), *BUNDLES] if {REDACTED, LIFECYCLE} & set(load_processor(name).inputs)]


@functools.cache
def customer_texts(count: int = 60_000) -> tuple[str, ...]:
    """Customer finals' texts from the simulator (what assist's intents and sentiment read)."""
    events = (simulated.event for simulated in itertools.islice(generate_events(backlog_simulation(1)), count))
    return tuple(event.text for event in events
                 if isinstance(event, TranscriptSegment) and event.is_final and event.participant == "customer")


@dataclass(frozen=True)
class Traffic:
    """What one call carries, on the topics a processor reads."""

    finals: int
    transcripts: bool
    lifecycle: bool
    heartbeats: bool

    @classmethod
    def for_processor(cls, processor: Processor, finals: int) -> Traffic:
        lifecycle = LIFECYCLE in processor.inputs
        return cls(finals=finals, transcripts=REDACTED in processor.inputs, lifecycle=lifecycle,
                   heartbeats=lifecycle and not issubclass(CallHeartbeat, processor.ignores))

    def per_call(self) -> int:
        """Messages a call writes."""
        lifecycle = 5 + len(self._beats(0)) if self.lifecycle else 0
        return lifecycle + (self.finals if self.transcripts else 0)

    def _ends_ms(self) -> int:
        return (self.finals + 1) * FINAL_EVERY_MS + ENDS_AFTER_MS

    def _beats(self, begins: int) -> range:
        return range(begins + HEARTBEAT_EVERY_MS, begins + self._ends_ms(), HEARTBEAT_EVERY_MS) if self.heartbeats else range(0)

    def call(self, call: int, begins: int, rng: random.Random, texts: tuple[str, ...]) -> list[tuple[str, Envelope]]:
        """Call ``call``'s messages (topic, event), arriving at ``begins`` (epoch ms), unordered."""
        contact = f"contact-{call:08d}"

        def envelope(kind: str, at_ms: int) -> dict:
            return {"event_id": f"bench-{call}-{kind}", "contact_id": contact, "event_time_ms": at_ms,
                    "produced_at_ms": at_ms, "source_time_ms": at_ms}

        out: list[tuple[str, Envelope]] = []
        if self.transcripts:
            for k in range(self.finals):
                at_ms = begins + (k + 1) * FINAL_EVERY_MS + rng.randint(0, FINAL_JITTER_MS)
                out.append((REDACTED, RedactedSegment(
                    **envelope(f"final-{k}", at_ms), producer="redactor", segment_id=f"segment-{call}-{k}",
                    sequence=k, participant="customer", start_offset_ms=k * FINAL_EVERY_MS,
                    end_offset_ms=k * FINAL_EVERY_MS + 4_000, text=rng.choice(texts), is_final=True,
                    provisional=False)))
        if self.lifecycle:
            agent, queue, ends = f"agent-{call % 500:03d}", "general", begins + self._ends_ms()
            out += [(LIFECYCLE, event) for event in (
                CallInitiated(**envelope("initiated", begins), producer=PRODUCER, caller_number=BENCH_CALLER,
                              dialed_number=DIALED_NUMBER),
                CallQueued(**envelope("queued", begins + QUEUED_AFTER_MS), producer=PRODUCER, queue=queue),
                CallConnected(**envelope("connected", begins + CONNECTED_AFTER_MS), producer=PRODUCER,
                              agent_id=agent, queue=queue, wait_ms=CONNECTED_AFTER_MS - QUEUED_AFTER_MS),
                CallEnded(**envelope("ended", ends), producer=PRODUCER, ended_by="customer", duration_ms=ends - begins,
                          agent_id=agent, queue=queue),
                CallDisposition(**envelope("disposition", ends + DISPOSED_AFTER_MS), producer=PRODUCER,
                                agent_id=agent, disposition="resolved"))]
            out += [(LIFECYCLE, CallHeartbeat(**envelope(f"beat-{n}", at_ms), producer=PRODUCER,
                                              state="queued" if at_ms < begins + CONNECTED_AFTER_MS else "connected",
                                              sequence=n))
                    for n, at_ms in enumerate(self._beats(begins))]
        return out


def traffic(calls: int, rate_per_min: float, shape: Traffic, start_ms: int, seed: int) -> Iterator[tuple[str, Envelope]]:
    """``calls`` calls' messages (topic, event) in event-time order: call ``i`` arrives at
    ``i / rate`` minutes, its finals every ``FINAL_EVERY_MS`` after that (jittered), its
    lifecycle around them."""
    rng = random.Random(seed)
    texts = customer_texts()
    due: list[tuple[int, int, int, str, Envelope]] = []  # (event time, call, n, topic, event)
    arrival = 0
    while arrival < calls or due:
        # a call that arrives before the earliest message still due has its messages join the heap
        while arrival < calls and (not due or start_ms + arrival * 60_000 / rate_per_min <= due[0][0]):
            begins = start_ms + int(arrival * 60_000 / rate_per_min)
            for n, (topic, event) in enumerate(shape.call(arrival, begins, rng, texts)):
                heapq.heappush(due, (event.event_time_ms, arrival, n, topic, event))
            arrival += 1
        _, _, _, topic, event = heapq.heappop(due)
        yield topic, event


def write_traffic(conf: dict[str, str], messages: Iterator[tuple[str, Envelope]]) -> list[int]:
    """Produce ``messages`` (each timestamped with its event time); the event time of every
    ``TIME_INDEX_STEP``-th message, to tell how many hours of traffic a position is."""
    producer = Producer({**conf, "linger.ms": 20, "compression.type": "lz4"})
    times = []
    for n, (topic, event) in enumerate(messages):
        value, headers = encode_event(event, validate=False)
        produce_patiently(producer, topic, value, event.contact_id.encode(), headers, timestamp=event.event_time_ms)
        if n % TIME_INDEX_STEP == 0:
            times.append(event.event_time_ms)
            producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("the benchmark's traffic was not delivered within 120 s")
    return times


def resident_mb(pid: int, name: str, bench: BenchCluster) -> float:
    """The worker's resident MB now; the run ends, pointing at its log, if it has exited."""
    read = read_process(pid)
    if read is None:
        raise SystemExit(f"{name} exited; see {bench.processes.log_dir}")
    return read[1]


def memory_figures(floor_mb: float, samples: list[tuple[float, float]], hours: float) -> dict:
    """Figures of ``samples`` (hours of traffic consumed, resident MB) over a ``floor_mb`` baseline."""
    by_hour = {}
    for hour in range(1, int(hours) + 1):
        reached = [mb for h, mb in samples if h >= hour]
        if reached:
            by_hour[str(hour)] = round(reached[0], 1)
    points = [(h * 3600, mb) for h, mb in samples]  # slope_per_hour takes seconds
    late = [p for p in points if p[0] >= points[-1][0] * 2 / 3] if points else []
    return {
        "floor_mb": round(floor_mb, 1),
        "end_mb": round(samples[-1][1], 1) if samples else None,
        "max_mb": round(max(mb for _, mb in samples), 1) if samples else None,
        "growth_mb": round(samples[-1][1] - floor_mb, 1) if samples else None,
        "mb_by_hour_of_traffic": by_hour,
        "slope_mb_per_traffic_h": round(slope_per_hour(points), 1),
        "late_slope_mb_per_traffic_h": round(slope_per_hour(late), 1),
    }


def main() -> None:
    choices = drivable_processors()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processor", default="assist", choices=choices)
    parser.add_argument("--hours", type=float, default=8, help="hours of traffic (state lives 6 h)")
    parser.add_argument("--rate", type=float, default=1000, help="new calls a minute")
    parser.add_argument("--finals", type=int, default=8, help="customer finals a call")
    parser.add_argument("--interval", type=float, default=5, help="seconds between memory samples")
    parser.add_argument("--timeout", type=float, default=1800, help="give up on a drain after this many seconds")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.hours <= 0 or args.rate <= 0 or args.finals < 1:
        parser.error("--hours and --rate must be positive and --finals at least 1")
    console = Console()
    calls = int(args.hours * 60 * args.rate)
    name = args.processor
    spec = load_processor(name)
    shape = Traffic.for_processor(spec, args.finals)
    unwritten = [topic for topic in spec.inputs if topic not in (REDACTED, LIFECYCLE)]
    with BenchCluster() as bench:
        bench.start_processors([name])
        members = StableMembers(bench.conf)
        deadline = time.monotonic() + 120
        while members(spec.consumer_group) != 1:
            bench.raise_if_dead()
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not join its group within 120 s; see {bench.processes.log_dir}")
            time.sleep(0.5)
        time.sleep(2 * args.interval)  # past its first assignment's recovery
        pid = bench.processes.children[f"{name}-0"].pid
        assert pid is not None
        idle = []
        for _ in range(3):
            idle.append(resident_mb(pid, name, bench))
            time.sleep(1)
        floor = statistics.median(idle)
        total = calls * shape.per_call()
        console.print(f"{name} (pid {pid}) joined, {floor:,.0f} MB resident; writing {args.hours:g} h of traffic: "
                      f"{calls:,} calls, {total:,} messages ({shape.per_call()} a call"
                      f"{'' if not shape.heartbeats else ' with heartbeats'}); not written: {', '.join(unwritten) or 'none'}")
        start_ms = int(time.time() * 1000) - int(args.hours * 3_600_000) - 600_000  # ends 10 min ago: inside retention
        written = time.monotonic()
        times = write_traffic(bench.conf, traffic(calls, args.rate, shape, start_ms, args.seed))
        console.print(f"  written in {time.monotonic() - written:.0f} s")
        samples: list[tuple[float, float]] = []
        began = time.monotonic()
        while True:
            time.sleep(args.interval)
            bench.raise_if_dead()
            consumed = total - bench.message_lag([name])
            resident = resident_mb(pid, name, bench)
            at_ms = times[min(len(times) - 1, consumed // TIME_INDEX_STEP)]
            hours_in = (at_ms - start_ms) / 3_600_000 if consumed else 0.0
            samples.append((hours_in, resident))
            console.print(f"  {time.monotonic() - began:5.0f} s  {hours_in:4.1f} h of traffic  {consumed:>10,} messages  "
                          f"{resident:7,.1f} MB")
            if consumed >= total or time.monotonic() - began > args.timeout:
                break
        drained_s = time.monotonic() - began
    figures = {"processor": name, "hours": args.hours, "rate_calls_per_min": args.rate, "finals_per_call": args.finals,
               "messages_per_call": shape.per_call(), "heartbeats": shape.heartbeats, "inputs_not_written": unwritten,
               "calls": calls, "messages": total, "drained": consumed >= total, "drain_s": round(drained_s),
               "msgs_per_s": round(consumed / drained_s), **memory_figures(floor, samples, args.hours)}
    _print(console, figures)
    print(json.dumps(figures), flush=True)


def _print(console: Console, figures: dict) -> None:
    table = Table(title=f"{figures['processor']}: resident memory over {figures['hours']:g} h of traffic "
                        f"({figures['calls']:,} calls at {figures['rate_calls_per_min']:g} a minute), drained in "
                        f"{figures['drain_s']} s")
    table.add_column("after")
    table.add_column("MB", justify="right")
    table.add_column("over the floor", justify="right")
    table.add_row("joined, idle (baseline)", f"{figures['floor_mb']:,.1f}", "")
    for hour, mb in figures["mb_by_hour_of_traffic"].items():
        table.add_row(f"{hour} h of traffic", f"{mb:,.1f}", f"{mb - figures['floor_mb']:+,.1f}")
    console.print(table)
    console.print(f"slope {figures['slope_mb_per_traffic_h']:+,.1f} MB per hour of traffic over the drain, "
                  f"{figures['late_slope_mb_per_traffic_h']:+,.1f} over its last third; "
                  f"max {figures['max_mb']:,.1f} MB; drained {figures['drained']}")


if __name__ == "__main__":
    main()
