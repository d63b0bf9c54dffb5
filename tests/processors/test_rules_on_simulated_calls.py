"""All six rule processors over a seeded simulated stream, compared with the simulator's
ground truth.

The stream comes from the simulator's pure generator, in delivery order, with its
re-sent and reordered segments. Transcript segments pass a redaction stand-in (the raw
text as a ``RedactedSegment``) and the real sentiment processor; like the live pipeline,
each hop adds a delay, so transcript-derived events reach the rule processors after the
lifecycle and agent events of the same moment (the closing lines after ``call.ended``).
Every processor reads only its catalog inputs and keeps one state per contact id.
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec
import pytest
from support.calls import START_MS, redaction_stand_in

from callstream.contract.catalog import load_catalog
from callstream.contract.events import (
    ChurnRiskScored,
    Envelope,
    EscalationClosed,
    EscalationOpened,
    FraudScored,
    QualityScored,
    TranscriptSegment,
    event_type_of,
)
from callstream.processors.analytics import AnalyticsAggregator, window_aggregates
from callstream.processors.base import KeyedMemoryState, Processor
from callstream.processors.churn import ChurnScorer, churn_level
from callstream.processors.escalation import EscalationDetector
from callstream.processors.evaluation import score_calls
from callstream.processors.fraud import FraudScorer
from callstream.processors.quality import QualityScorer
from callstream.processors.routing import RoutingDecider
from callstream.processors.sentiment import SentimentScorer
from callstream.simulate.conversation import ConversationProfile
from callstream.simulate.groundtruth import CallTruth
from callstream.simulate.simulator import SimulationSettings, generate_events

#: delay each hop adds: redaction of a raw segment, then every processor's output
REDACTION_LAG_MS = 700
STAGE_LAG_MS = 40


@dataclass
class PipelineRun:
    truths: list[CallTruth]
    outputs: dict[str, list[Envelope]]
    states: dict[str, KeyedMemoryState]
    delivered: Counter = field(default_factory=Counter)  # events by type


def run_pipeline(settings: SimulationSettings, processors: Iterable[Processor], *, honour_ignores: bool = True) -> PipelineRun:
    """Deliver the simulated stream through the processors by topic, in delivery-time order;
    like the runtime, an event type a processor ``ignores`` does not reach it (unless
    ``honour_ignores`` is off: the check that the declaration changes nothing)."""
    processors = [SentimentScorer(), *processors]
    topic_of = load_catalog().topic_of_event
    run = PipelineRun([], {p.name: [] for p in processors}, {p.name: KeyedMemoryState() for p in processors})
    tie = itertools.count()
    pending: list[tuple[int, int, Envelope]] = []

    def deliver(event: Envelope, at_ms: int) -> None:
        event_type = event_type_of(event)
        topic = topic_of[event_type]
        run.delivered[event_type] += 1
        for processor in processors:
            if topic in processor.inputs and not (honour_ignores and isinstance(event, processor.ignores)):
                state = run.states[processor.name].for_key(event.contact_id)
                for out in processor.process(event, state):
                    run.outputs[processor.name].append(out)
                    heapq.heappush(pending, (at_ms + STAGE_LAG_MS, next(tie), out))

    def drain(until_ms: float) -> None:
        while pending and pending[0][0] <= until_ms:
            at_ms, _, event = heapq.heappop(pending)
            deliver(event, at_ms)

    for simulated in generate_events(settings, on_call=lambda call: run.truths.append(call.truth)):
        now = START_MS + int(simulated.sim_time_s * 1000)
        drain(now)
        event = simulated.event
        if isinstance(event, TranscriptSegment):
            heapq.heappush(pending, (now + REDACTION_LAG_MS, next(tie), redaction_stand_in(event)))
        else:
            deliver(event, now)
    drain(float("inf"))
    return run


@pytest.fixture(scope="module")
def simulated() -> PipelineRun:
    settings = SimulationSettings(
        seed=7, duration_s=1_800, rate_per_min=20, start_time_ms=START_MS, max_speed=True,
        # more fraud and feed disorder than a normal day, so both are measured on enough calls
        profile=ConversationProfile(fraud_share=0.1, disorder_share=0.05),
    )
    processors = [EscalationDetector(), FraudScorer(), ChurnScorer(), RoutingDecider(), QualityScorer(),
                  AnalyticsAggregator()]
    return run_pipeline(settings, processors)


def flagged(outputs: list[Envelope], cls: type, accept=lambda e: True) -> set[str]:
    return {e.contact_id for e in outputs if isinstance(e, cls) and accept(e)}


def test_escalations_match_the_ground_truth(simulated: PipelineRun) -> None:
    truths, out = simulated.truths, simulated.outputs["escalation"]
    score = score_calls(truths, flagged(out, EscalationOpened), "should_escalate")
    precision, recall = score.precision, score.recall
    print(f"\nescalation over {len(truths)} calls: precision {precision:.3f} recall {recall:.3f}")
    # measured 1.000 / 1.000 on this seed and seeds 1-6: the anger cues were written from the same
    # phrase book the simulator speaks, so this bounds wiring and ordering errors, not real-call accuracy
    assert precision >= 0.95 and recall >= 0.95
    opened = Counter(e.escalation_id for e in out if isinstance(e, EscalationOpened))
    closed = Counter(e.escalation_id for e in out if isinstance(e, EscalationClosed))
    assert opened == closed and set(opened.values()) == {1}  # every escalation opens and closes exactly once


def test_fraud_scores_match_the_ground_truth(simulated: PipelineRun) -> None:
    truths, out = simulated.truths, simulated.outputs["fraud"]
    score = score_calls(truths, flagged(out, FraudScored, lambda e: e.level == "high"), "is_fraud")
    precision, recall = score.precision, score.recall
    fraudulent = sum(t.is_fraud for t in truths)
    print(f"\nfraud over {len(truths)} calls ({fraudulent} fraudulent): precision {precision:.3f} recall {recall:.3f}")
    # measured 0.985 / 1.000 on this seed (0.91-1.00 / 1.000 on seeds 1-6): honest callers who fail
    # a check and then change their contact details look like account takeovers
    assert precision >= 0.85 and recall >= 0.95


def test_quality_checks_match_the_ground_truth_once_per_contact(simulated: PipelineRun) -> None:
    scores = [e for e in simulated.outputs["quality"] if isinstance(e, QualityScored)]
    by_contact = {s.contact_id: s for s in scores}
    legs = [leg for t in simulated.truths for leg in t.legs]
    assert len(scores) == len(by_contact) == len(legs)  # exactly one score per contact
    agree, checks = 0, 0
    for leg in legs:
        got = {c.name: c.passed for c in by_contact[leg.contact_id].checks}
        for name, expected in leg.qa.items():
            checks += 1
            agree += got.get(name) == expected  # a check that does not apply is absent (None)
    print(f"\nquality: {agree}/{checks} checks agree with the ground truth over {len(legs)} contacts")
    assert agree / checks >= 0.99  # measured 1.000


def test_churn_is_high_when_the_customer_cancels_and_low_for_ordinary_calls(simulated: PipelineRun) -> None:
    finals = {e.contact_id: e for e in simulated.outputs["churn"]
              if isinstance(e, ChurnRiskScored) and e.event_id.endswith("/churn.final")}
    assert len(finals) == sum(len(t.legs) for t in simulated.truths)  # a final score for every contact
    cancelled = [t for t in simulated.truths if t.legs[-1].disposition == "cancelled"]
    other = [t for t in simulated.truths if t.intent != "cancellation"]
    high = lambda t: any(churn_level(finals[c].score) == "high" for c in t.linked_contact_ids)  # noqa: E731
    cancelled_high = sum(map(high, cancelled)) / len(cancelled)
    other_high = sum(map(high, other)) / len(other)
    print(f"\nchurn high: {cancelled_high:.3f} of {len(cancelled)} cancelled calls, {other_high:.3f} of other intents")
    assert cancelled_high >= 0.95 and other_high <= 0.02  # measured 1.000 and 0.000


def test_routing_decides_every_queued_and_transferred_contact(simulated: PipelineRun) -> None:
    decisions = simulated.outputs["routing"]
    assert len({d.caused_by for d in decisions}) == len(decisions)
    assert len(decisions) == simulated.delivered["call.queued"] + simulated.delivered["call.transferred"]
    fraud_desk = [d for d in decisions if d.reason.startswith("fraud risk high")]
    print(f"\nrouting: {len(decisions)} decisions, {len(fraud_desk)} to the fraud desk on fraud risk")
    assert fraud_desk and all(d.target_queue == "fraud" and d.priority == 2 for d in fraud_desk)


def test_analytics_counts_every_handled_contact_and_escalation(simulated: PipelineRun) -> None:
    units = simulated.outputs["analytics"]
    handled = sum(len(t.legs) for t in simulated.truths)  # every simulated contact reaches an agent
    assert Counter(u.dimension for u in units) == {"queue": handled, "agent": handled}
    opened = sum(isinstance(e, EscalationOpened) for e in simulated.outputs["escalation"])
    windows = window_aggregates(units, 15 * 60_000)
    assert sum(w.calls_handled for w in windows if w.dimension == "queue") == handled
    assert sum(w.escalations for w in windows if w.dimension == "queue") == opened


def test_state_is_json_and_nothing_but_tombstones_is_left(simulated: PipelineRun) -> None:
    tombstones = {"escalation": {}, "fraud": {}, "churn": {}, "routing": {},
                  "quality": {"quality": {"scored": True}}, "analytics": {"analytics": {"done": True}}}
    for name, leftover in tombstones.items():
        states = simulated.states[name].by_key.values()
        json.dumps([s.data for s in states])
        assert all(s.data == leftover for s in states), name


def test_what_a_processor_ignores_changes_none_of_its_outputs() -> None:
    """``Processor.ignores`` lets the runtime skip a call's state for those events; the
    same stream with and without them must give every processor the same outputs."""
    settings = SimulationSettings(seed=11, duration_s=900, rate_per_min=20, start_time_ms=START_MS, max_speed=True,
                                  profile=ConversationProfile(fraud_share=0.1, disorder_share=0.05))

    def processors() -> list[Processor]:
        return [EscalationDetector(), FraudScorer(), ChurnScorer(), RoutingDecider(), QualityScorer(),
                AnalyticsAggregator()]

    ignoring = {p.name: p.ignores for p in processors() if p.ignores}
    assert set(ignoring) == {"routing", "quality", "analytics"}
    skipped, full = (run_pipeline(settings, processors(), honour_ignores=h) for h in (True, False))
    assert skipped.delivered["call.heartbeat"] > 1000

    def wall_clock_free(events: list[Envelope]) -> list[bytes]:
        return [msgspec.json.encode(msgspec.structs.replace(e, produced_at_ms=0)) for e in events]

    for name in full.outputs:
        assert full.outputs[name], name
        assert wall_clock_free(skipped.outputs[name]) == wall_clock_free(full.outputs[name]), name
