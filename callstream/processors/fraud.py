"""Fraud scoring: account-takeover and social-engineering patterns in one call.

Each pattern found adds its weight once (``WEIGHTS``); the score is their sum, capped at 1,
and its level is ``low`` below ``MEDIUM_AT``, ``high`` from ``HIGH_AT``. A ``FraudScored``
with every reason so far is emitted each time the level rises (the score never falls
within a call), and a critical ``SupervisorAlert`` when it reaches ``high``.

Patterns, from the agent desktop, the CRM, the call and the customer's words:

* ``caller_id_mismatch``: the calling number is not the one on file (the telephony layer
  could not match it to a customer, or a verification reports ``ani_match=false``);
* ``failed_verification`` (one failed identity check) and ``failed_verification_loop``
  (two or more);
* ``flagged_by_agent``: the agent flagged the account;
* ``change_without_verification``: contact details changed before any passed check;
* ``change_after_weak_verification``: contact details changed after a check that passed
  only after failures;
* ``change_soon_after_verification``: contact details changed within
  ``SOON_AFTER_VERIFICATION_MS`` of the check (common in honest moves too, so light);
* ``multiple_contact_changes``: two or more of address, phone and e-mail changed;
* ``card_to_new_details``: a replacement card ordered after contact details changed;
* ``urgency``: pressure phrases from the customer ("right now", "I'm traveling").

Contact-detail changes are read from agent actions and CRM updates alike (whichever comes
first), so either source alone suffices.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from callstream.contract.events import (
    AgentAction,
    CallEnded,
    CallHeartbeat,
    CallInitiated,
    CrmUpdate,
    Envelope,
    FraudScored,
    RedactedSegment,
    SupervisorAlert,
)
from callstream.detectors.language import urgency_phrases
from callstream.processors.base import CallRecord, CallState, Processor, derive
from callstream.processors.ordering import SequenceGate

WEIGHTS: dict[str, float] = {
    "caller_id_mismatch": 0.2,
    "failed_verification": 0.15,
    "failed_verification_loop": 0.2,  # on top of failed_verification
    "flagged_by_agent": 0.4,
    "change_without_verification": 0.25,
    "change_after_weak_verification": 0.3,
    "change_soon_after_verification": 0.1,
    "multiple_contact_changes": 0.2,
    "card_to_new_details": 0.2,
    "urgency": 0.15,
}
MEDIUM_AT = 0.4
HIGH_AT = 0.7
SOON_AFTER_VERIFICATION_MS = 90_000
LEVELS = ("low", "medium", "high")

#: agent action / CRM change -> the contact detail it changes
CONTACT_CHANGES = {
    "update_address": "address", "update_phone": "phone", "update_email": "email",
    "address": "address", "phone": "phone", "email": "email",
}


def fraud_level(score: float) -> str:
    return "high" if score >= HIGH_AT else "medium" if score >= MEDIUM_AT else "low"


def fraud_score(reasons: Iterable[str]) -> float:
    return round(min(1.0, sum(WEIGHTS[r] for r in set(reasons))), 4)


class FraudCall(msgspec.Struct):
    """What the fraud scorer keeps about one call."""

    reasons: list[str] = msgspec.field(default_factory=list)
    level: str = "low"
    #: failed identity verifications so far, and how many came before the first success
    failures: int = 0
    failures_before_verified: int = 0
    verified_at: int | None = None
    #: contact details changed on this call (address, phone, email)
    changes: list[str] = msgspec.field(default_factory=list)


class FraudScorer(Processor):
    name = "fraud"
    description = "Account-takeover and social-engineering scoring from verification, contact changes, caller id and urgency"
    inputs = (
        "callstream.transcript.redacted", "callstream.call.lifecycle",
        "callstream.agent.actions", "callstream.crm.updates",
    )
    outputs = ("callstream.signals.fraud", "callstream.supervisor.alerts")
    guarantee = "at-least-once"
    niceness = 10  # a supervisor alert within a second is in time: the live path goes first

    def __init__(self) -> None:
        self.gate = SequenceGate("fraud_gate")
        self.record = CallRecord("fraud", FraudCall, self.gate)

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        call = self.record.load(event, state)
        if call is None:
            return []
        found: list[tuple[Envelope, list[str]]] = []
        ended = False
        if isinstance(event, (RedactedSegment, CallHeartbeat)):
            # a heartbeat releases lines held back by a transcript gap that never fills
            admitted = (self.gate.admit(event, state) if isinstance(event, RedactedSegment)
                        else self.gate.expire(state, event.event_time_ms))
            for segment, _late in admitted:
                if segment.participant == "customer" and urgency_phrases(segment.text):
                    found.append((segment, ["urgency"]))
        elif isinstance(event, CallInitiated):
            # The telephony layer names the customer only when the caller's number is on file;
            # a transferred contact inherits the customer from the first one.
            if event.customer_id is None and event.previous_contact_id is None:
                found.append((event, ["caller_id_mismatch"]))
        elif isinstance(event, AgentAction):
            found.append((event, self._action(event, call)))
        elif isinstance(event, CrmUpdate):
            if event.entity == "customer" and event.change in CONTACT_CHANGES:
                found.append((event, self._contact_change(CONTACT_CHANGES[event.change], event.event_time_ms, call)))
        elif isinstance(event, CallEnded):  # a transfer ends its contact too (ended_by="transfer")
            ended = True

        out: list[Envelope] = []
        for source, reasons in found:
            new = [r for r in reasons if r not in call.reasons]
            if not new:
                continue
            call.reasons.extend(new)
            score = fraud_score(call.reasons)
            level = fraud_level(score)
            if LEVELS.index(level) > LEVELS.index(call.level):
                call.level = level
                out.append(derive(FraudScored, source, self.name, "fraud", score=score, level=level,
                                  reasons=list(call.reasons)))
                if level == "high":
                    out.append(derive(SupervisorAlert, source, self.name, "alert.fraud",
                                      alert_id=f"{source.contact_id}:fraud", kind="fraud", severity="critical",
                                      message=f"Possible account takeover on call {source.contact_id} "
                                              f"(score {score:.2f}): {', '.join(call.reasons)}"))
        if ended:
            self.record.end(state)
        else:
            self.record.save(state, call)
        return out

    def _action(self, action: AgentAction, call: FraudCall) -> list[str]:
        reasons: list[str] = []
        if action.action == "verify_identity":
            if "ani_match=false" in action.detail.replace(" ", "").lower():
                reasons.append("caller_id_mismatch")
            if action.success:
                if call.verified_at is None:
                    call.verified_at = action.event_time_ms
                    call.failures_before_verified = call.failures
            else:
                call.failures += 1
                reasons.append("failed_verification")
                if call.failures >= 2:
                    reasons.append("failed_verification_loop")
        elif action.action == "flag_account":
            reasons.append("flagged_by_agent")
        elif action.action in CONTACT_CHANGES:
            reasons += self._contact_change(CONTACT_CHANGES[action.action], action.event_time_ms, call)
        elif action.action == "order_replacement_card" and call.changes:
            reasons.append("card_to_new_details")
        return reasons

    def _contact_change(self, detail: str, at_ms: int, call: FraudCall) -> list[str]:
        if detail not in call.changes:
            call.changes.append(detail)
        reasons: list[str] = []
        verified_at = call.verified_at
        if verified_at is None or verified_at > at_ms:
            reasons.append("change_without_verification")
        else:
            if call.failures_before_verified > 0:
                reasons.append("change_after_weak_verification")
            if at_ms - verified_at <= SOON_AFTER_VERIFICATION_MS:
                reasons.append("change_soon_after_verification")
        if len(call.changes) >= 2:
            reasons.append("multiple_contact_changes")
        return reasons
