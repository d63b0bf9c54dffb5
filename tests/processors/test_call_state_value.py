"""A processor's per-call state as one Quix value: one read, at most one write per message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from support.calls import CallBuilder

from callstream.contract.events import CallHeartbeat
from callstream.processors.analytics import AnalyticsAggregator
from callstream.processors.escalation import EscalationDetector
from callstream.processors.runtime import CallStateValue

TTL = timedelta(hours=6)


class CountingQuixState:
    """Quix's per-key state as far as CallStateValue uses it, counting every operation."""

    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}
        self.ops: list[str] = []
        self.ttls: list[timedelta | None] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.ops.append("get")
        return self.stored.get(key, default)

    def set(self, key: str, value: Any, ttl: timedelta | None = None) -> None:
        self.ops.append("set")
        self.ttls.append(ttl)
        self.stored[key] = value

    def delete(self, key: str) -> None:
        self.ops.append("delete")
        self.stored.pop(key, None)


def test_a_message_reads_once_and_writes_once_whatever_the_processor_touches():
    quix = CountingQuixState()
    detector = EscalationDetector()
    call_events = CallBuilder("call-1")
    events = [call_events.connected(), call_events.customer("this is ridiculous, I want a manager now"),
              call_events.sentiment(-0.9), call_events.customer("I am furious"), call_events.ended()]
    for event in events:
        call = CallStateValue(quix, TTL)
        list(detector.process(event, call))
        call.save()
        ops, quix.ops = quix.ops, []
        assert ops.count("get") <= 1 and ops.count("set") + ops.count("delete") <= 1, (event, ops)
    assert set(quix.stored) == {CallStateValue.KEY} and set(quix.ttls) == {TTL}
    assert "escalation" in quix.stored["call"]  # the detector's record (a tombstone after the call ended)


def test_nothing_is_written_when_nothing_changed_and_an_empty_call_is_deleted():
    quix = CountingQuixState()
    call = CallStateValue(quix, TTL)
    assert call.get("x", 5) == 5 and not call.exists("x")
    call.save()
    assert quix.ops == ["get"]
    call = CallStateValue(quix, TTL)
    call.set("x", [1])
    call.save()
    call = CallStateValue(quix, TTL)
    call.delete("x")
    call.save()
    assert quix.stored == {} and quix.ops[-1] == "delete"


def test_a_value_rebuilt_equal_is_not_written_and_one_mutated_in_place_is():
    quix = CountingQuixState()
    first = CallStateValue(quix, TTL)
    first.set("record", {"holds": [1], "agent": "a-7"})
    first.set("seen", ["s1"])
    first.save()
    quix.ops = []
    equal = CallStateValue(quix, TTL)
    equal.set("record", {"holds": [1], "agent": "a-7"})  # built anew, the same content
    equal.save()
    assert quix.ops == ["get"]
    mutated = CallStateValue(quix, TTL)
    seen = mutated.get("seen")
    seen.append("s2")  # in place: the stored object itself changed
    mutated.set("seen", seen)
    mutated.save()
    assert quix.ops[-1] == "set" and quix.stored["call"]["seen"] == ["s1", "s2"]


def test_a_heartbeat_does_not_rewrite_the_analytics_call_but_the_end_does():
    quix = CountingQuixState()
    aggregator = AnalyticsAggregator()
    call_events = CallBuilder("call-1")
    writes = []
    for event in [call_events.connected(), call_events.event(CallHeartbeat, state="connected", sequence=1),
                  call_events.event(CallHeartbeat, state="connected", sequence=2), call_events.ended()]:
        call = CallStateValue(quix, TTL)
        list(aggregator.process(event, call))
        call.save()
        writes.append(quix.ops.count("set"))
        quix.ops = []
    assert writes == [1, 0, 0, 1]
    assert quix.stored["call"]["analytics"]["ended_at"] is not None
