"""The `live` bundle as a real worker: the redactor, assist and the rule processors in one
consumer on a broker, each redacted segment handed to its readers in the step that made it."""

from __future__ import annotations

from collections import Counter

from support.calls import START_MS

from callstream.contract.catalog import load_catalog
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.events import RoutingDecision, TranscriptSegment, event_type_of
from callstream.processors.base import KeyedMemoryState
from callstream.processors.registry import load_processor
from callstream.processors.runtime import ProcessorStep
from callstream.simulate.simulator import SimulationSettings, generate_events


def test_the_live_bundle_worker_gives_its_members_outputs(pipeline, workers) -> None:
    catalog = load_catalog()
    by_topic: dict[str, list] = {}
    for simulated in generate_events(SimulationSettings(seed=5, duration_s=240, rate_per_min=15, start_time_ms=START_MS,
                                                        max_speed=True)):
        by_topic.setdefault(catalog.topic_for(event_type_of(simulated.event)), []).append(simulated.event)
    bundle = load_processor("live")
    fed = {topic: events for topic, events in by_topic.items() if topic in bundle.inputs}
    # what the bundle makes of the transcript alone, in memory: redacted segments, and the
    # sentiment scores and assist prompts of those (each call's segments keep their order
    # on the broker, so these do not depend on how topics interleave)
    step, states = ProcessorStep(bundle, catalog), KeyedMemoryState()
    expected: dict[str, set[str]] = {}
    for segment in fed["callstream.transcript.raw"]:
        assert isinstance(segment, TranscriptSegment)
        value, headers = encode_event(segment)
        for out in step(value, segment.contact_id.encode(), 0, headers, states.for_key(segment.contact_id)):
            expected.setdefault(out.topic, set()).add(decode_event(out.value, out.headers).event_id)
    lifecycle = Counter(event_type_of(e) for e in fed["callstream.call.lifecycle"])
    decisions_expected = lifecycle["call.queued"] + lifecycle["call.transferred"]
    assert decisions_expected and all(expected.get(t) for t in
                                      ("callstream.transcript.redacted", "callstream.signals.sentiment", "callstream.assist.prompts"))

    workers("live")
    for topic, events in fed.items():
        pipeline.produce(topic, events)

    for topic in ("callstream.transcript.redacted", "callstream.signals.sentiment", "callstream.assist.prompts"):
        wanted = len(expected[topic])
        made = pipeline.read(topic, lambda ms, n=wanted: len({m.value() for m in ms}) >= n, timeout_s=120)
        got = {decode_event(m.value(), m.headers()).event_id for m in made}
        assert got == expected[topic], topic
    decisions = pipeline.read_events("callstream.routing.decisions", lambda ms: len(ms) >= decisions_expected,
                                     timeout_s=60)
    assert len({d.caused_by for d in decisions if isinstance(d, RoutingDecision)}) == decisions_expected
    assert pipeline.read("callstream.signals.fraud", lambda ms: len(ms) > 0, timeout_s=30)
    assert pipeline.read("callstream.signals.churn", lambda ms: len(ms) > 0, timeout_s=30)
