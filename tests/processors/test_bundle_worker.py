"""The bundled deployment's workers on a broker: `frontline` (the redactor with assist, each
redacted segment handed to assist in the step that made it) and `signals` (the rule
processors, churn and routing handed the others' signals)."""

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


def test_the_bundle_workers_give_their_members_outputs(pipeline, workers) -> None:
    catalog = load_catalog()
    by_topic: dict[str, list] = {}
    for simulated in generate_events(SimulationSettings(seed=5, duration_s=240, rate_per_min=15, start_time_ms=START_MS,
                                                        max_speed=True)):
        by_topic.setdefault(catalog.topic_for(event_type_of(simulated.event)), []).append(simulated.event)
    # what the bundles make of the transcript alone, in memory: redacted segments, their
    # assist prompts and sentiment scores (each call's segments keep their order on the
    # broker, so these do not depend on how topics interleave)
    live, signals = (ProcessorStep(load_processor(name), catalog) for name in ("frontline", "signals"))
    live_states, signals_states = KeyedMemoryState(), KeyedMemoryState()
    expected: dict[str, set[str]] = {}
    for segment in by_topic["callstream.transcript.raw"]:
        assert isinstance(segment, TranscriptSegment)
        value, headers = encode_event(segment)
        for out in live(value, segment.contact_id.encode(), 0, headers, live_states.for_key(segment.contact_id)):
            expected.setdefault(out.topic, set()).add(decode_event(out.value, out.headers).event_id)
            if out.topic == "callstream.transcript.redacted":
                for scored in signals(out.value, out.key, 0, out.headers, signals_states.for_key(segment.contact_id)):
                    if scored.topic == "callstream.signals.sentiment":
                        expected.setdefault(scored.topic, set()).add(decode_event(scored.value, scored.headers).event_id)
    lifecycle = Counter(event_type_of(e) for e in by_topic["callstream.call.lifecycle"])
    decisions_expected = lifecycle["call.queued"] + lifecycle["call.transferred"]
    assert decisions_expected and all(expected.get(t) for t in
                                      ("callstream.transcript.redacted", "callstream.signals.sentiment", "callstream.assist.prompts"))

    workers("frontline")
    workers("signals")
    for topic, events in by_topic.items():
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
