"""Benchmark: events per second through each rule processor on one core, and the size of
the per-call state each keeps.

A seeded simulated stream (transcripts through a redaction stand-in and the real sentiment
scorer, so every processor sees its real inputs) is generated once; then each processor
runs over the events of its input topics with in-memory per-contact state. The baseline
is a processor that only reads and writes its per-call state once per event: the floor any
stateful processor pays. The state size is the largest JSON value (what Quix keeps in
RocksDB) any one contact reached.

    python bench/rules.py [--minutes 10] [--rate 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable

from callstream.contract.catalog import load_catalog
from callstream.contract.events import Envelope, RedactedSegment, TranscriptSegment, event_type_of
from callstream.processors.analytics import AnalyticsAggregator
from callstream.processors.base import CallState, KeyedMemoryState, Processor
from callstream.processors.churn import ChurnScorer
from callstream.processors.escalation import EscalationDetector
from callstream.processors.fraud import FraudScorer
from callstream.processors.quality import QualityScorer
from callstream.processors.routing import RoutingDecider
from callstream.processors.sentiment import SentimentScorer
from callstream.simulate.simulator import SimulationSettings, generate_events


class StateTouch(Processor):
    """The baseline: one state read and write per event, no rules."""

    name = "baseline"
    description = "reads and writes the per-call state once per event"
    inputs = ("callstream.transcript.redacted", "callstream.call.lifecycle", "callstream.agent.actions",
              "callstream.signals.sentiment", "callstream.crm.updates")
    outputs = ()

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        state.set("n", state.get("n", 0) + 1)
        return ()


def redacted(segment: TranscriptSegment) -> RedactedSegment:
    return RedactedSegment(
        event_id=f"{segment.event_id}/redacted", contact_id=segment.contact_id, event_time_ms=segment.event_time_ms,
        produced_at_ms=segment.produced_at_ms, producer="redaction-stand-in", segment_id=segment.segment_id,
        sequence=segment.sequence, participant=segment.participant, start_offset_ms=segment.start_offset_ms,
        end_offset_ms=segment.end_offset_ms, text=segment.text, is_final=segment.is_final,
        provisional=not segment.is_final, final_segment_id=segment.final_segment_id)


def simulated_stream(minutes: float, rate: float) -> list[tuple[str, Envelope]]:
    """(topic, event) in delivery order, derived signals included, upstream of each rule processor."""
    topic_of = load_catalog().topic_of_event
    settings = SimulationSettings(seed=21, duration_s=minutes * 60, rate_per_min=rate,
                                  start_time_ms=1_767_225_600_000, max_speed=True)
    upstream = [SentimentScorer(), EscalationDetector(), FraudScorer(), ChurnScorer()]
    states = {p.name: KeyedMemoryState() for p in upstream}
    stream: list[tuple[str, Envelope]] = []

    def deliver(event: Envelope) -> None:
        topic = topic_of[event_type_of(event)]
        stream.append((topic, event))
        for processor in upstream:
            if topic in processor.inputs:
                for out in processor.process(event, states[processor.name].for_key(event.contact_id)):
                    deliver(out)

    for simulated in generate_events(settings):
        event = simulated.event
        deliver(redacted(event) if isinstance(event, TranscriptSegment) else event)
    return stream


def measure(processor: Processor, stream: list[tuple[str, Envelope]], rounds: int) -> tuple[float, int, int]:
    """(best events/s, events, largest per-contact state in JSON bytes)."""
    events = [e for topic, e in stream if topic in processor.inputs]
    best = 0.0
    for _ in range(rounds):
        states = KeyedMemoryState()
        start = time.perf_counter()
        for event in events:
            processor.process(event, states.for_key(event.contact_id))
        best = max(best, len(events) / (time.perf_counter() - start))
    states, largest = KeyedMemoryState(), 0
    for event in events:
        state = states.for_key(event.contact_id)
        processor.process(event, state)
        largest = max(largest, len(json.dumps(state.data)))
    return best, len(events), largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="simulated minutes of traffic")
    parser.add_argument("--rate", type=float, default=30.0, help="calls per minute")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per processor; the best counts (shared machine)")
    args = parser.parse_args()

    stream = simulated_stream(args.minutes, args.rate)
    contacts = len({e.contact_id for _, e in stream})
    processors = [StateTouch(), EscalationDetector(), FraudScorer(), ChurnScorer(), RoutingDecider(),
                  QualityScorer(), AnalyticsAggregator()]
    results = {p.name: measure(p, stream, args.rounds) for p in processors}
    baseline_rate = results["baseline"][0]

    print(f"stream: {len(stream):,} events of {contacts:,} contacts ({args.minutes:g} simulated min at "
          f"{args.rate:g} calls/min), one core, best of {args.rounds} rounds\n")
    print(f"{'processor':<12} {'events in':>10} {'events/s':>11} {'us/event':>9} {'x baseline':>11} {'max state B':>12}")
    for name, (rate, count, largest) in results.items():
        print(f"{name:<12} {count:>10,} {rate:>11,.0f} {1e6 / rate:>9.1f} {rate / baseline_rate:>11.3f} {largest:>12,}")
    slowest = min((r for n, r in results.items() if n != "baseline"), key=lambda r: r[0])
    print(f"\nthe slowest rule processor runs at {slowest[0] / baseline_rate:.3f}x the baseline's speed")
    print(json.dumps({
        "bench": "rules",
        "events": len(stream),
        "contacts": contacts,
        "baseline_events_per_s": round(baseline_rate),
        "processors": {name: {"events": count, "events_per_s": round(rate), "ratio_to_baseline": round(rate / baseline_rate, 4),
                              "max_state_bytes": largest}
                       for name, (rate, count, largest) in results.items() if name != "baseline"},
    }))


if __name__ == "__main__":
    main()
