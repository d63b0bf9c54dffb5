"""Churn risk per call: cancellation intent, dissatisfaction and sentiment, scored as the
call goes, with a final score when it ends.

Evidence (each counted once, weights in ``WEIGHTS``; ``retention_accepted`` subtracts):

* ``cancellation_intent``: the customer says they want to cancel or leave;
* ``insists_on_cancelling``: says it again later (e.g. turning down a retention offer);
* ``dissatisfaction``: phrases of dissatisfaction ("worst", "sick of", "too expensive");
* ``negative_sentiment``: the customer's rolling sentiment at or below ``NEGATIVE_ROLLING``;
* ``retention_queue``: the caller chose the retention (cancellation) line in the IVR or
  was transferred there;
* ``retention_accepted``: the customer accepts an offer and stays.

A ``ChurnRiskScored`` is emitted whenever the level (``low`` / ``medium`` / ``high``)
changes, and once more, final, when the contact ends. ``customer_id`` comes from the
call's ``call.initiated``. The state is per contact: a per-customer view joins these
scores by ``customer_id`` downstream (the topic is keyed by contact).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from callstream.contract.events import (
    CallEnded,
    CallHeartbeat,
    CallInitiated,
    CallQueued,
    CallTransferred,
    ChurnRiskScored,
    Envelope,
    RedactedSegment,
    SentimentScored,
)
from callstream.detectors.language import cancellation_intent, dissatisfaction, normalize
from callstream.processors.base import CallRecord, CallState, Processor, derive
from callstream.processors.ordering import SequenceGate

WEIGHTS: dict[str, float] = {
    "cancellation_intent": 0.45,
    "insists_on_cancelling": 0.2,
    "dissatisfaction": 0.15,
    "negative_sentiment": 0.15,
    "retention_queue": 0.15,
    "retention_accepted": -0.35,
}
MEDIUM_AT = 0.3
HIGH_AT = 0.6
NEGATIVE_ROLLING = -0.3
RETENTION_QUEUES = frozenset({"retention"})
#: a customer taking the offer (language.py has no detector for it)
_STAYS = re.compile(r"\b(?:i ?ll stay|i will stay|i ?ll keep (?:it|the service|my plan)|that ?s (?:actually )?a good deal|i ?ll take (?:the|that) offer|i ?ll take it)\b")


def churn_level(score: float) -> str:
    return "high" if score >= HIGH_AT else "medium" if score >= MEDIUM_AT else "low"


def churn_score(reasons: Iterable[str]) -> float:
    return round(max(0.0, min(1.0, sum(WEIGHTS[r] for r in set(reasons)))), 4)


def accepts_retention(text: str) -> bool:
    return _STAYS.search(normalize(text).replace("'", "")) is not None


class ChurnCall(msgspec.Struct):
    """What the churn scorer keeps about one call."""

    reasons: list[str] = msgspec.field(default_factory=list)
    level: str = "low"
    customer_id: str | None = None


class ChurnScorer(Processor):
    name = "churn"
    description = "Churn risk per call from cancellation intent, dissatisfaction, sentiment and the retention line"
    inputs = ("callstream.transcript.redacted", "callstream.signals.sentiment", "callstream.call.lifecycle")
    outputs = ("callstream.signals.churn",)
    guarantee = "at-least-once"
    niceness = 10  # scores feed alerts and routing, seconds away: the live path goes first

    def __init__(self) -> None:
        self.gate = SequenceGate("churn_gate")
        self.record = CallRecord("churn", ChurnCall, self.gate)

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        call = self.record.load(event, state)
        if call is None:
            return []
        out: list[Envelope] = []
        if isinstance(event, (RedactedSegment, CallHeartbeat)):
            # a heartbeat releases lines held back by a transcript gap that never fills
            admitted = (self.gate.admit(event, state) if isinstance(event, RedactedSegment)
                        else self.gate.expire(state, event.event_time_ms))
            for segment, _late in admitted:
                if segment.participant == "customer":
                    self._evidence(segment, call, self._said(segment.text, call), out)
        elif isinstance(event, SentimentScored):
            if event.participant == "customer" and event.rolling_score <= NEGATIVE_ROLLING:
                self._evidence(event, call, ["negative_sentiment"], out)
        elif isinstance(event, CallInitiated):
            call.customer_id = event.customer_id
        elif isinstance(event, CallQueued):
            if event.queue in RETENTION_QUEUES:
                self._evidence(event, call, ["retention_queue"], out)
        elif isinstance(event, CallTransferred):
            if event.to_queue in RETENTION_QUEUES:
                self._evidence(event, call, ["retention_queue"], out)
        elif isinstance(event, CallEnded):
            score = churn_score(call.reasons)
            out.append(derive(ChurnRiskScored, event, self.name, "churn.final",
                              customer_id=call.customer_id, score=score, reasons=list(call.reasons)))
            self.record.end(state)
            return out
        self.record.save(state, call)
        return out

    @staticmethod
    def _said(text: str, call: ChurnCall) -> list[str]:
        reasons: list[str] = []
        if cancellation_intent(text):
            reasons.append("insists_on_cancelling" if "cancellation_intent" in call.reasons else "cancellation_intent")
        if dissatisfaction(text):
            reasons.append("dissatisfaction")
        if accepts_retention(text):
            reasons.append("retention_accepted")
        return reasons

    def _evidence(self, source: Envelope, call: ChurnCall, reasons: list[str], out: list[Envelope]) -> None:
        new = [r for r in reasons if r not in call.reasons]
        if not new:
            return
        call.reasons.extend(new)
        score = churn_score(call.reasons)
        level = churn_level(score)
        if level != call.level:
            call.level = level
            out.append(derive(ChurnRiskScored, source, self.name, "churn",
                              customer_id=call.customer_id, score=score, reasons=list(call.reasons)))
