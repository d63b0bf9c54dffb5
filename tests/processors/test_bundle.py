"""A bundle of rule processors in one consumer gives what its members give on their own."""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

import pytest
from support.calls import START_MS, redaction_stand_in

from callstream.contract.catalog import DEADLETTER_TOPIC, load_catalog
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.deadletter import PROCESSOR_HEADER, REASON_HEADER
from callstream.contract.events import RedactedSegment, TranscriptSegment, event_type_of
from callstream.errors import ConfigError
from callstream.governance.acls import compile_grants
from callstream.processors import runtime
from callstream.processors.base import KeyedMemoryState, Processor
from callstream.processors.bundle import ProcessorBundle
from callstream.processors.registry import BUNDLES, deployment, load_processor, processor_names
from callstream.processors.runtime import ProcessorStep
from callstream.simulate.conversation import ConversationProfile
from callstream.simulate.simulator import SimulationSettings, generate_events

CATALOG = load_catalog()


def stream(raw: bool = False) -> list[tuple[bytes, bytes, list]]:
    """A seeded simulated stream as a bundle's inputs carry it: the raw transcript for a bundle
    with the redactor, else segments already redacted."""
    settings = SimulationSettings(seed=11, duration_s=600, rate_per_min=20, start_time_ms=START_MS, max_speed=True,
                                  profile=ConversationProfile(fraud_share=0.2, disorder_share=0.05))
    out = []
    for simulated in generate_events(settings):
        event = simulated.event
        if isinstance(event, TranscriptSegment) and not raw:
            event = redaction_stand_in(event)
        value, headers = encode_event(event)
        out.append((event.contact_id.encode(), value, headers))
    return out


def topic_of(value: bytes | None, headers: Any) -> str:
    return CATALOG.topic_for(event_type_of(decode_event(value, headers)))


def run_step(step: ProcessorStep, records: list[tuple[bytes, bytes, list]], readers: tuple[str, ...]) -> Counter:
    """Every output of ``step`` over the records of the topics it reads: (topic, key, event id) counts."""
    states = KeyedMemoryState()
    produced: Counter = Counter()
    for key, value, headers in records:
        if topic_of(value, headers) not in readers:
            continue
        for out in step(value, key, 0, headers, states.for_key(key.decode())):
            produced[(out.topic, out.key, decode_event(out.value, out.headers).event_id)] += 1
    return produced


def run_alone(names: tuple[str, ...], records: list[tuple[bytes, bytes, list]]) -> Counter:
    """Every output of the processors ``names``, each its own step with its own state, where a
    processor reading another's output gets it right after the record that caused it (as a
    bundle hands it over)."""
    steps = [(ProcessorStep(load_processor(name), CATALOG), KeyedMemoryState()) for name in names]
    produced: Counter = Counter()
    for key, value, headers in records:
        queue = deque([(value, headers)])
        while queue:
            current, current_headers = queue.popleft()
            topic = topic_of(current, current_headers)
            for step, states in steps:
                if topic not in step.processor.inputs:
                    continue
                for out in step(current, key, 0, current_headers, states.for_key(key.decode())):
                    produced[(out.topic, out.key, decode_event(out.value, out.headers).event_id)] += 1
                    if out.topic != DEADLETTER_TOPIC and any(out.topic in s.processor.inputs for s, _ in steps):
                        queue.append((out.value, out.headers))
    return produced


def test_a_bundle_reads_what_its_members_read_and_takes_their_tightest_settings():
    bundle = load_processor("signals")
    members = [load_processor(name) for name in BUNDLES["signals"]]
    assert isinstance(bundle, ProcessorBundle) and bundle.consumer_group == "callstream-signals"
    assert bundle.handed_over == {"callstream.signals.sentiment", "callstream.signals.fraud", "callstream.signals.churn"}
    # what one member hands another is not read back from Kafka
    assert set(bundle.inputs) == {t for m in members for t in m.inputs} - bundle.handed_over
    assert set(bundle.outputs) == {t for m in members for t in m.outputs}
    assert bundle.guarantee == "at-least-once" and not bundle.reads_restricted
    assert bundle.commit_interval == min(m.commit_interval for m in members)
    assert bundle.batch_ms == min(m.batch_ms for m in members) == 50
    live = load_processor("frontline")
    assert live.reads_restricted and live.batch_ms == 5  # the redactor's and assist's
    assert live.handed_over == {"callstream.transcript.redacted"} and live.inputs == ("callstream.transcript.raw",)
    assert deployment(bundled=True) == ["quality", "analytics", "frontline", "signals"]
    assert deployment(bundles=["signals"]) == ["redactor", "assist", "quality", "analytics", "signals"]
    assert deployment() == processor_names()
    with pytest.raises(ConfigError, match="shares processors"):
        deployment(bundles=["signals", "signals"])


class _Relay(Processor):
    """A stand-in member that reads one topic and writes another (for the cycle check)."""

    def __init__(self, name: str, reads: str, writes: str) -> None:
        self.name, self.inputs, self.outputs = name, (reads,), (writes,)  # type: ignore[misc]


@pytest.mark.parametrize(("members", "reason"), [
    (["analytics", "sentiment"], "cannot run in bundle"),
    (["quality", "sentiment"], "mixes delivery guarantees"),
    (["sentiment"], "at least two"),
])
def test_what_a_bundle_may_not_hold_is_refused(members, reason):
    with pytest.raises(ConfigError, match=reason):
        ProcessorBundle("b", [load_processor(m) for m in members])


def test_members_whose_topics_form_a_cycle_are_refused():
    with pytest.raises(ConfigError, match="come back to it"):
        ProcessorBundle("b", [_Relay("a", "t1", "t2"), _Relay("b", "t2", "t3"), _Relay("c", "t3", "t1")])
    ProcessorBundle("b", [_Relay("a", "t1", "t2"), _Relay("b", "t2", "t3")])  # a chain is fine


@pytest.mark.parametrize("name", ["signals", "frontline"])
def test_the_bundle_gives_exactly_its_members_outputs_on_simulated_calls(name):
    records = stream(raw=name == "frontline")
    bundle = load_processor(name)
    together = run_step(ProcessorStep(bundle, CATALOG), records, bundle.inputs)
    alone = run_alone(BUNDLES[name], records)
    assert together == alone
    by_topic = Counter(topic for topic, _, _ in together.elements())
    assert {t for m in BUNDLES[name] for t in load_processor(m).outputs} <= set(by_topic), by_topic
    # outputs handed over reached their readers: prompts from redacted segments, churn and
    # routing from the others' signals
    handed_to = {"frontline": ["callstream.assist.prompts"], "signals": ["callstream.signals.churn", "callstream.routing.decisions"]}
    assert all(by_topic[topic] for topic in handed_to[name]), by_topic


def test_members_keep_their_state_apart():
    records = stream()[:400]
    step = ProcessorStep(load_processor("signals"), CATALOG)
    states = KeyedMemoryState()
    for key, value, headers in records:
        step(value, key, 0, headers, states.for_key(key.decode()))
    keys = {k for state in states.by_key.values() for k in state.data}
    assert keys and all(k.split(":", 1)[0] in BUNDLES["signals"] for k in keys), keys
    # every member's keys under its own name, whatever the member calls them
    assert {k.split(":", 1)[0] for k in keys} == set(BUNDLES["signals"])
    assert "sentiment:rolling:customer" in keys and "escalation:escalation_gate" in keys


class _Context:
    topic, partition, offset = "callstream.transcript.redacted", 0, 42


def outputs_with_a_broken_member(monkeypatch, bundle_name: str, member: str, raw: bool = False) -> list:
    """Every output of the bundle over 600 simulated records while ``member`` raises on each event."""
    bundle = load_processor(bundle_name)

    def broken(event: Any, state: Any):
        raise ValueError(f"{member} broke")

    monkeypatch.setattr(next(m for m in bundle.members if m.name == member), "process", broken)
    monkeypatch.setattr(runtime, "message_context", lambda: _Context())
    step, states = ProcessorStep(bundle, CATALOG), KeyedMemoryState()
    return [o for key, value, headers in stream(raw=raw)[:600] for o in step(value, key, 0, headers, states.for_key(key.decode()))]


def test_a_failing_member_dead_letters_for_itself_and_the_others_still_produce(monkeypatch):
    outputs = outputs_with_a_broken_member(monkeypatch, "signals", "sentiment")
    dead = [o for o in outputs if o.topic == DEADLETTER_TOPIC]
    assert dead and all(dict(o.headers)[PROCESSOR_HEADER] == b"sentiment" for o in dead)
    assert any(o.topic == "callstream.signals.escalation" or o.topic == "callstream.signals.fraud" for o in outputs)
    assert not any(o.topic == "callstream.signals.sentiment" for o in outputs)


def test_a_member_failing_on_a_handed_over_event_dead_letters_that_event(monkeypatch):
    outputs = outputs_with_a_broken_member(monkeypatch, "frontline", "assist", raw=True)
    dead = [o for o in outputs if o.topic == DEADLETTER_TOPIC]
    assert dead and all(dict(o.headers)[PROCESSOR_HEADER] == b"assist" for o in dead)
    assert all(b"handed over in the bundle" in dict(o.headers)[REASON_HEADER] for o in dead)
    # the record kept is the redacted segment assist failed on, not the raw one it came from
    assert all(isinstance(decode_event(o.value, o.headers), RedactedSegment) for o in dead)
    # the redactor went on: every segment redacted, and assist dead-lettered each one it failed on
    assert sum(o.topic == "callstream.transcript.redacted" for o in outputs) == len(dead)


@pytest.mark.parametrize("name", ["signals", "frontline"])
def test_the_bundle_principal_may_do_exactly_what_its_members_may(name):
    grants = compile_grants(CATALOG)

    def on_catalog_topics(principal: str) -> set[tuple[str, str]]:
        return {(g.name, g.operation) for g in grants if g.principal == f"User:{principal}" and g.resource == "topic"
                and g.name in {t.name for t in CATALOG.topics}}

    union = set().union(*(on_catalog_topics(m) for m in BUNDLES[name]))
    handed_over = load_processor(name).handed_over  # written by one member, read by another in the step
    assert on_catalog_topics(name) == {(topic, op) for topic, op in union if not (op == "READ" and topic in handed_over)}
