"""Routing decisions: the requested queue by default, overflow by depth and skill, the
fraud desk for high fraud risk and retention for high churn risk."""

from __future__ import annotations

from support.calls import CallBuilder, run_processor

from callstream.contract.events import (
    CallDisposition,
    CallEnded,
    CallQueued,
    CallTransferred,
    ChurnRiskScored,
    Envelope,
    FraudScored,
    RoutingDecision,
)
from callstream.processors.base import MemoryState
from callstream.processors.routing import OVERFLOW_DEPTH, RoutingDecider, choose_queue


class Call(CallBuilder):
    step_ms = 1_000

    def queued(self, queue: str, depth: int = 2, priority: int = 0) -> CallQueued:
        return self.event(CallQueued, queue=queue, skills=[queue, "en"], queue_depth=depth, priority=priority)

    def transferred(self, to_queue: str) -> CallTransferred:
        return self.event(CallTransferred, from_agent_id="agent-1", to_queue=to_queue, new_contact_id="call-2",
                          initial_contact_id=self.contact_id)

    def fraud(self, level: str, score: float) -> FraudScored:
        return self.event(FraudScored, score=score, level=level, reasons=["failed_verification"])

    def churn(self, score: float) -> ChurnRiskScored:
        return self.event(ChurnRiskScored, score=score, reasons=["cancellation_intent"])


def run(events: list[Envelope], state: MemoryState | None = None) -> list[RoutingDecision]:
    return run_processor(RoutingDecider(), events, state)


def test_a_queued_call_goes_where_it_asked_with_the_depth_as_reason() -> None:
    c = Call()
    queued = c.queued("tech_support", depth=3, priority=1)
    [decision] = run([queued])
    assert (decision.target_queue, decision.priority, decision.skills) == ("tech_support", 1, ["tech_support", "en"])
    assert decision.reason == "tech_support queue depth 3: as requested"
    assert decision.caused_by == queued.event_id and decision.contact_id == "call-1"


def test_a_deep_queue_overflows_to_a_queue_with_the_skill() -> None:
    [decision] = run([Call().queued("billing", depth=OVERFLOW_DEPTH)])
    assert decision.target_queue == "payments"
    assert decision.reason == f"billing queue depth {OVERFLOW_DEPTH} >= {OVERFLOW_DEPTH}: overflow to payments"
    [decision] = run([Call().queued("tech_support", depth=30)])
    assert decision.target_queue == "tech_support" and "no queue with the skill" in decision.reason


def test_high_fraud_risk_sends_a_transfer_to_the_fraud_desk_first() -> None:
    c = Call()
    decisions = run([c.queued("general"), c.fraud("medium", 0.5), c.transferred("billing"),
                     c.fraud("high", 0.8), c.churn(0.9), c.transferred("retention")])
    assert [(d.target_queue, d.priority) for d in decisions] == [("general", 0), ("billing", 0), ("fraud", 2)]
    assert decisions[2].reason == "fraud risk high: to the fraud desk (new contact call-2)"


def test_high_churn_risk_goes_to_retention() -> None:
    c = Call()
    decisions = run([c.churn(0.7), c.queued("billing"), c.churn(0.2), c.transferred("billing")])
    assert [(d.target_queue, d.priority) for d in decisions] == [("retention", 1), ("billing", 0)]
    assert decisions[0].reason == "churn risk 0.70: to retention"


def test_a_fraud_level_never_goes_back_down() -> None:
    c = Call()
    [decision] = run([c.fraud("high", 0.9), c.fraud("medium", 0.5), c.transferred("general")])
    assert decision.target_queue == "fraud"


def test_the_call_is_forgotten_after_its_disposition() -> None:
    c, state = Call(), MemoryState()
    run([c.queued("general"), c.fraud("high", 0.9), c.event(CallEnded, ended_by="agent", duration_ms=1)], state)
    assert state.data == {"routing": {"ended": True}}
    assert run([c.queued("general")], state) == []
    run([c.event(CallDisposition, agent_id="a", disposition="resolved")], state)
    assert state.data == {}


def test_choose_queue_is_pure() -> None:
    assert choose_queue("fraud", 20, "low", 0.99) == ("fraud", "fraud queue depth 20, no queue with the skill to overflow to")
    assert choose_queue("general", None, "low", 0.0) == ("general", "transfer to general as requested")
