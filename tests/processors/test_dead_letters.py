"""A malformed event on every processor input topic lands in the dead-letter topic with a
reason, while every processor keeps running and still processes good events."""

from __future__ import annotations

import time

import pytest

from callstream.contract.codec import decode_event
from callstream.contract.deadletter import read_dead_letter
from callstream.contract.events import TranscriptSegment
from callstream.processors.registry import available

pytestmark = pytest.mark.slow


def test_malformed_input_to_every_topic_is_dead_lettered(pipeline, workers) -> None:
    processors = available()
    inputs = sorted({t for p in processors.values() for t in p.inputs})
    for name in processors:
        workers(name)
    for topic in inputs:
        pipeline.produce_raw(topic, b'{"event_type": "call.ended", "contact_id": ["not", "a", "string"]}', key=f"bad-{topic}".encode())
        pipeline.produce_raw(topic, b"\x00\x01 not json at all", key=f"garbage-{topic}".encode())

    expected = {(p.name, t) for p in processors.values() for t in p.inputs}
    seen: set[tuple[str, str]] = set()
    reverse = {v: k for k, v in pipeline.names.items()}

    def until(messages: list) -> bool:
        seen.update((read_dead_letter(m).processor, reverse[read_dead_letter(m).source_topic]) for m in messages)
        return expected <= seen

    letters = pipeline.read("callstream.deadletter", until, timeout_s=150)
    assert expected <= seen, f"missing dead letters for {sorted(expected - seen)}"
    reasons = {read_dead_letter(m).reason for m in letters}
    assert any("not valid JSON" in r for r in reasons) and any("contact_id" in r for r in reasons)

    now = int(time.time() * 1000)
    good = TranscriptSegment(
        event_id="after-bad", contact_id="call-after", event_time_ms=now, produced_at_ms=now, producer="test",
        segment_id="seg-after", sequence=1, participant="customer", start_offset_ms=0, end_offset_ms=500,
        text="I was charged twice on my bill, please refund it", is_final=True,
    )
    pipeline.produce("callstream.transcript.raw", [good])
    for topic in ("callstream.transcript.redacted", "callstream.signals.sentiment"):
        # these topics also hold the malformed messages injected above: read past them
        messages = pipeline.read(topic, lambda ms: any(m.key() == b"call-after" for m in ms), timeout_s=60)
        produced = [decode_event(m.value(), m.headers()) for m in messages if m.key() == b"call-after"]
        assert [e.segment_id for e in produced] == ["seg-after"], topic
    assert not workers.group.dead(), [c.name for c in workers.group.dead()]
