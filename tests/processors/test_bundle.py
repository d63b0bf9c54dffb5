"""A bundle of rule processors in one consumer gives what its members give on their own."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from support.calls import START_MS, redaction_stand_in

from callstream.contract.catalog import DEADLETTER_TOPIC, load_catalog
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.deadletter import PROCESSOR_HEADER
from callstream.contract.events import TranscriptSegment, event_type_of
from callstream.errors import ConfigError
from callstream.governance.acls import compile_grants
from callstream.processors import runtime
from callstream.processors.base import KeyedMemoryState
from callstream.processors.bundle import ProcessorBundle
from callstream.processors.registry import BUNDLES, deployment, load_processor, processor_names
from callstream.processors.runtime import ProcessorStep
from callstream.simulate.conversation import ConversationProfile
from callstream.simulate.simulator import SimulationSettings, generate_events

CATALOG = load_catalog()


def stream() -> list[tuple[bytes, bytes, list]]:
    """A seeded simulated stream as the bundle's inputs carry it (segments already redacted)."""
    settings = SimulationSettings(seed=11, duration_s=600, rate_per_min=20, start_time_ms=START_MS, max_speed=True,
                                  profile=ConversationProfile(fraud_share=0.2, disorder_share=0.05))
    out = []
    for simulated in generate_events(settings):
        event = simulated.event
        if isinstance(event, TranscriptSegment):
            event = redaction_stand_in(event)
        value, headers = encode_event(event)
        out.append((event.contact_id.encode(), value, headers))
    return out


def run_step(step: ProcessorStep, records: list[tuple[bytes, bytes, list]], readers: tuple[str, ...]) -> Counter:
    """Every output of ``step`` over the records of the topics it reads: (topic, key, event id) counts."""
    states = KeyedMemoryState()
    produced: Counter = Counter()
    for key, value, headers in records:
        if CATALOG.topic_for(event_type_of(decode_event(value, headers))) not in readers:
            continue
        for out in step(value, key, 0, headers, states.for_key(key.decode())):
            produced[(out.topic, out.key, decode_event(out.value, out.headers).event_id)] += 1
    return produced


def test_a_bundle_reads_what_its_members_read_and_takes_their_tightest_settings():
    bundle = load_processor("signals")
    members = [load_processor(name) for name in BUNDLES["signals"]]
    assert isinstance(bundle, ProcessorBundle) and bundle.consumer_group == "callstream-signals"
    assert set(bundle.inputs) == {t for m in members for t in m.inputs}
    assert set(bundle.outputs) == {t for m in members for t in m.outputs}
    assert bundle.guarantee == "at-least-once"
    assert bundle.commit_interval == min(m.commit_interval for m in members) == 0.2  # routing's
    assert bundle.batch_ms == min(m.batch_ms for m in members) == 50
    assert deployment(bundled=True) == ["redactor", "assist", "quality", "analytics", "signals"]
    assert deployment() == processor_names()


@pytest.mark.parametrize(("members", "reason"), [
    (["redactor", "sentiment"], "cannot run in bundle"),
    (["analytics", "sentiment"], "cannot run in bundle"),
    (["quality", "sentiment"], "mixes delivery guarantees"),
    (["sentiment"], "at least two"),
])
def test_what_a_bundle_may_not_hold_is_refused(members, reason):
    with pytest.raises(ConfigError, match=reason):
        ProcessorBundle("b", [load_processor(m) for m in members])


def test_the_bundle_gives_exactly_its_members_outputs_on_simulated_calls():
    records = stream()
    bundle = load_processor("signals")
    together = run_step(ProcessorStep(bundle, CATALOG), records, bundle.inputs)
    alone: Counter = Counter()
    for name in BUNDLES["signals"]:
        member = load_processor(name)
        alone += run_step(ProcessorStep(member, CATALOG), records, member.inputs)
    assert together == alone
    by_topic = Counter(topic for topic, _, _ in together.elements())
    assert {t for m in BUNDLES["signals"] for t in load_processor(m).outputs} <= set(by_topic), by_topic


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


def test_a_failing_member_dead_letters_for_itself_and_the_others_still_produce(monkeypatch):
    bundle = load_processor("signals")
    sentiment = next(m for m in bundle.members if m.name == "sentiment")

    def broken(event: Any, state: Any):
        raise ValueError("scorer broke")

    monkeypatch.setattr(sentiment, "process", broken)
    monkeypatch.setattr(runtime, "message_context", lambda: _Context())
    step = ProcessorStep(bundle, CATALOG)
    states = KeyedMemoryState()
    outputs = []
    for key, value, headers in stream()[:600]:
        outputs += step(value, key, 0, headers, states.for_key(key.decode()))
    dead = [o for o in outputs if o.topic == DEADLETTER_TOPIC]
    assert dead and all(dict(o.headers)[PROCESSOR_HEADER] == b"sentiment" for o in dead)
    assert any(o.topic == "callstream.signals.escalation" or o.topic == "callstream.signals.fraud" for o in outputs)
    assert not any(o.topic == "callstream.signals.sentiment" for o in outputs)


def test_the_bundle_principal_may_do_exactly_what_its_members_may():
    grants = compile_grants(CATALOG)

    def on_catalog_topics(principal: str) -> set[tuple[str, str]]:
        return {(g.name, g.operation) for g in grants if g.principal == f"User:{principal}" and g.resource == "topic"
                and g.name in {t.name for t in CATALOG.topics}}

    union = set().union(*(on_catalog_topics(m) for m in BUNDLES["signals"]))
    assert on_catalog_topics("signals") == union
