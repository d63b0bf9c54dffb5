"""Routing decisions: where a queued or transferred call should go, and why.

For ``call.queued`` and ``call.transferred`` the target is, in order:

1. the fraud desk (``FRAUD_QUEUE``) when the call's fraud level is ``high``;
2. the retention desk (``RETENTION_QUEUE``) when its churn risk is at least ``CHURN_HIGH``;
3. for a queued call whose queue holds ``OVERFLOW_DEPTH`` or more calls, the first queue in
   ``OVERFLOW`` whose agents have the call's skill (``QUEUE_SKILLS``);
4. otherwise the queue asked for.

Fraud and churn signals are this contact's (state is per contact): the decision at a
transfer sees everything said before it; a contact created by a transfer starts with no
signals of its own, so its ``call.queued`` decision rests on skills and depth.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from callstream.contract.events import (
    CallEnded,
    CallHeartbeat,
    CallQueued,
    CallTransferred,
    ChurnRiskScored,
    Envelope,
    FraudScored,
    RoutingDecision,
)
from callstream.processors.base import CallRecord, CallState, Processor, derive

FRAUD_QUEUE = "fraud"
RETENTION_QUEUE = "retention"
CHURN_HIGH = 0.6
OVERFLOW_DEPTH = 10
#: queue -> skills its agents have (the queue's own name is its main skill)
QUEUE_SKILLS: dict[str, frozenset[str]] = {
    "billing": frozenset({"billing", "payments"}),
    "payments": frozenset({"payments", "billing"}),
    "general": frozenset({"general", "billing", "payments"}),
    "retention": frozenset({"retention", "billing"}),
    "tech_support": frozenset({"tech_support"}),
    "fraud": frozenset({"fraud"}),
}
#: queue -> queues that may take its calls when it is deep, in order of preference
OVERFLOW: dict[str, tuple[str, ...]] = {
    "billing": ("payments", "general"),
    "payments": ("billing", "general"),
    "general": ("billing",),
    "retention": ("billing",),
}
PRIORITY_FRAUD = 2
PRIORITY_CHURN = 1


def choose_queue(requested: str, depth: int | None, fraud_level: str, churn_score: float) -> tuple[str, str]:
    """``(target queue, reason)`` for a call asking for ``requested``."""
    if fraud_level == "high":
        return FRAUD_QUEUE, "fraud risk high: to the fraud desk"
    if churn_score >= CHURN_HIGH and requested != FRAUD_QUEUE:
        return RETENTION_QUEUE, f"churn risk {churn_score:.2f}: to retention"
    if depth is not None and depth >= OVERFLOW_DEPTH:
        for queue in OVERFLOW.get(requested, ()):
            if requested in QUEUE_SKILLS.get(queue, ()):
                return queue, f"{requested} queue depth {depth} >= {OVERFLOW_DEPTH}: overflow to {queue}"
        return requested, f"{requested} queue depth {depth}, no queue with the skill to overflow to"
    if depth is not None:
        return requested, f"{requested} queue depth {depth}: as requested"
    return requested, f"transfer to {requested} as requested"


class RoutingCall(msgspec.Struct):
    """What the router keeps about one call: the latest risk signals and its priority."""

    fraud: str = "low"
    churn: float = 0.0
    priority: int = 0


class RoutingDecider(Processor):
    name = "routing"
    description = "Target queue for queued and transferred calls from skills, queue depth, fraud and churn signals"
    inputs = ("callstream.call.lifecycle", "callstream.signals.fraud", "callstream.signals.churn")
    outputs = ("callstream.routing.decisions",)
    guarantee = "at-least-once"
    batch_ms = 50
    niceness = 5  # behind the live path, ahead of the scores
    #: routing decides when a call queues or transfers; liveness changes neither
    ignores = (CallHeartbeat,)

    record = CallRecord("routing", RoutingCall)

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        call = self.record.load(event, state)
        if call is None:
            return []
        out: list[Envelope] = []
        if isinstance(event, FraudScored):
            if _LEVELS.index(event.level) > _LEVELS.index(call.fraud):
                call.fraud = event.level
        elif isinstance(event, ChurnRiskScored):
            call.churn = event.score
        elif isinstance(event, CallQueued):
            call.priority = event.priority
            target, reason = choose_queue(event.queue, event.queue_depth, call.fraud, call.churn)
            out.append(self._decision(event, call, target, reason, event.skills))
        elif isinstance(event, CallTransferred):
            target, reason = choose_queue(event.to_queue, None, call.fraud, call.churn)
            reason += f" (new contact {event.new_contact_id})"
            out.append(self._decision(event, call, target, reason, [event.to_queue]))
        elif isinstance(event, CallEnded):
            self.record.end(state)
            return out
        self.record.save(state, call)
        return out

    def _decision(self, source: Envelope, call: RoutingCall, target: str, reason: str, skills: list[str]) -> RoutingDecision:
        priority = call.priority
        if target == FRAUD_QUEUE and call.fraud == "high":
            priority = max(priority, PRIORITY_FRAUD)
        elif target == RETENTION_QUEUE and call.churn >= CHURN_HIGH:
            priority = max(priority, PRIORITY_CHURN)
        return derive(RoutingDecision, source, self.name, "routing", target_queue=target, reason=reason,
                      skills=list(skills), priority=priority)


_LEVELS = ("low", "medium", "high")
