"""The `signals` bundle as a real worker: one consumer for five rule processors on a broker."""

from __future__ import annotations

from collections import Counter

from support.calls import START_MS, redaction_stand_in

from callstream.contract.catalog import load_catalog
from callstream.contract.events import RoutingDecision, SentimentScored, TranscriptSegment, event_type_of
from callstream.processors.base import KeyedMemoryState
from callstream.processors.registry import load_processor
from callstream.simulate.simulator import SimulationSettings, generate_events


def test_the_bundle_worker_gives_its_members_outputs(pipeline, workers) -> None:
    catalog = load_catalog()
    by_topic: dict[str, list] = {}
    for simulated in generate_events(SimulationSettings(seed=5, duration_s=240, rate_per_min=15, start_time_ms=START_MS,
                                                        max_speed=True)):
        event = simulated.event
        if isinstance(event, TranscriptSegment):
            event = redaction_stand_in(event)
        by_topic.setdefault(catalog.topic_for(event_type_of(event)), []).append(event)
    bundle = load_processor("signals")
    fed = {topic: events for topic, events in by_topic.items() if topic in bundle.inputs}
    # what sentiment alone makes of the transcript (it reads nothing the bundle itself produces)
    sentiment, states = load_processor("sentiment"), KeyedMemoryState()
    expected_scores = {out.event_id for event in fed["callstream.transcript.redacted"]
                       for out in sentiment.process(event, states.for_key(event.contact_id))}
    lifecycle = Counter(event_type_of(e) for e in fed["callstream.call.lifecycle"])
    decisions_expected = lifecycle["call.queued"] + lifecycle["call.transferred"]
    assert expected_scores and decisions_expected

    workers("signals")
    for topic, events in fed.items():
        pipeline.produce(topic, events)

    scores = pipeline.read_events("callstream.signals.sentiment",
                                  lambda ms: len({m.value() for m in ms}) >= len(expected_scores), timeout_s=120)
    assert {e.event_id for e in scores if isinstance(e, SentimentScored)} == expected_scores
    decisions = pipeline.read_events("callstream.routing.decisions", lambda ms: len(ms) >= decisions_expected,
                                     timeout_s=60)
    assert len({d.caused_by for d in decisions if isinstance(d, RoutingDecision)}) == decisions_expected
    assert pipeline.read("callstream.signals.fraud", lambda ms: len(ms) > 0, timeout_s=30)
    assert pipeline.read("callstream.signals.churn", lambda ms: len(ms) > 0, timeout_s=30)
