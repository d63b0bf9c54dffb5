"""Fraud scoring on hand-built calls: an account-takeover pattern scores high with the right
reasons and one alert, an ordinary call stays low and silent, levels are emitted only
when they rise."""

from __future__ import annotations

from support.calls import CallBuilder, run_processor

from callstream.contract.events import (
    AgentAction,
    CallDisposition,
    CallEnded,
    CallHeartbeat,
    CallInitiated,
    CrmUpdate,
    Envelope,
    FraudScored,
    RedactedSegment,
    SupervisorAlert,
)
from callstream.processors.base import MemoryState
from callstream.processors.fraud import WEIGHTS, FraudScorer, fraud_level, fraud_score


class Call(CallBuilder):
    step_ms = 5_000
    agent_id = "agent-1"

    def initiated(self, recognized: bool = True) -> CallInitiated:
        return self.event(CallInitiated, caller_number="+12025550101", dialed_number="+18005550100",
                          customer_id="cust-1" if recognized else None)

    def action(self, action: str, success: bool = True, detail: str = "", step_ms: int = 5_000) -> AgentAction:
        return self.event(AgentAction, step_ms=step_ms, agent_id=self.agent_id, action=action, success=success, detail=detail)

    def verify(self, success: bool, ani_match: bool = True) -> AgentAction:
        return self.action("verify_identity", success, f"method=dob;attempt=1;ani_match={str(ani_match).lower()}")

    def says(self, text: str, participant: str = "customer") -> RedactedSegment:  # type: ignore[override]
        return super().says(participant, text)

    def crm(self, change: str) -> CrmUpdate:
        return self.event(CrmUpdate, step_ms=500, customer_id="cust-1", entity="customer", change=change)

    def ended(self, by: str = "agent", **fields) -> CallEnded:
        return super().ended(by, **fields)


def run(events: list[Envelope], state: MemoryState | None = None) -> list[Envelope]:
    return run_processor(FraudScorer(), events, state)


def test_an_account_takeover_scores_high_with_its_reasons_and_one_alert() -> None:
    c = Call()
    events = [
        c.initiated(recognized=False),
        c.says("I need to change the address on my account, I just moved."),
        c.verify(success=False, ani_match=False),
        c.says("Look, I need this done right now."),
        c.verify(success=True, ani_match=False),
        c.action("update_address"),
        c.crm("address"),
        c.action("update_phone"),
        c.action("order_replacement_card"),
        c.ended(),
    ]
    out = run(events)
    scores = [e for e in out if isinstance(e, FraudScored)]
    alerts = [e for e in out if isinstance(e, SupervisorAlert)]
    assert [s.level for s in scores] == ["medium", "high"]
    high = scores[-1]
    assert high.caused_by == events[5].event_id  # the address change tipped it
    assert high.reasons == ["caller_id_mismatch", "failed_verification", "urgency",
                            "change_after_weak_verification", "change_soon_after_verification"]
    assert high.score == 0.9
    assert len(alerts) == 1 and alerts[0].kind == "fraud" and alerts[0].severity == "critical"
    assert "change_after_weak_verification" in alerts[0].message


def test_an_ordinary_call_stays_low_and_silent() -> None:
    c = Call()
    events = [
        c.initiated(),
        c.says("I'm calling about my bill. There's a charge I don't recognize."),
        c.verify(success=True),
        c.action("lookup_account"),
        c.action("issue_refund", detail="amount=$12.00"),
        c.says("Okay, thanks."),
        c.ended(),
    ]
    assert run(events) == []


def test_an_honest_move_long_after_verification_stays_low() -> None:
    c = Call()
    events = [c.initiated(), c.verify(success=True), c.action("update_address", step_ms=120_000), c.ended()]
    assert run(events) == []


def test_a_flagged_caller_who_never_verified_is_high() -> None:
    c = Call()
    events = [c.initiated(), c.verify(success=False), c.says("This is urgent, I'm about to board a flight."),
              c.verify(success=False), c.action("flag_account", detail="reason=failed_verification"), c.ended()]
    scores = [e for e in run(events) if isinstance(e, FraudScored)]
    assert [s.level for s in scores] == ["medium", "high"]
    assert scores[-1].reasons == ["failed_verification", "urgency", "failed_verification_loop", "flagged_by_agent"]


def test_crm_updates_alone_reveal_contact_changes() -> None:
    c = Call()
    events = [c.initiated(), c.verify(success=False), c.verify(success=True), c.crm("phone"), c.crm("email"), c.ended()]
    scores = [e for e in run(events) if isinstance(e, FraudScored)]
    assert [s.level for s in scores] == ["medium", "high"]
    assert "multiple_contact_changes" in scores[-1].reasons


def test_a_change_before_any_verification_counts_as_unverified() -> None:
    c = Call()
    scores = [e for e in run([c.initiated(recognized=False), c.action("update_email"), c.ended()])
              if isinstance(e, FraudScored)]
    assert [(s.level, s.reasons) for s in scores] == [("medium", ["caller_id_mismatch", "change_without_verification"])]


def test_a_level_is_emitted_once_however_often_its_patterns_repeat() -> None:
    c = Call()
    events = [c.initiated(recognized=False), *[c.verify(success=False, ani_match=False) for _ in range(5)], c.ended()]
    scores = [e for e in run(events) if isinstance(e, FraudScored)]
    assert [(s.level, s.score) for s in scores] == [("medium", 0.55)]


def test_the_call_is_forgotten_after_its_disposition() -> None:
    c, state = Call(), MemoryState()
    run([c.initiated(), c.verify(success=False), c.says("hello", "agent"), c.ended()], state)
    assert state.data == {"fraud": {"ended": True}}
    assert run([c.action("update_address")], state) == []  # late events do not re-score
    run([c.event(CallDisposition, agent_id="agent-1", disposition="resolved")], state)
    assert state.data == {}


def test_score_and_level() -> None:
    assert fraud_score([]) == 0.0 and fraud_level(0.0) == "low"
    assert fraud_score(["urgency", "urgency"]) == 0.15
    assert fraud_level(0.4) == "medium" and fraud_level(0.69) == "medium" and fraud_level(0.7) == "high"
    assert fraud_score(WEIGHTS) == 1.0  # capped


def test_a_heartbeat_releases_an_urgent_line_held_back_by_a_transcript_gap() -> None:
    c, state = Call(), MemoryState()
    c.sequence = 1  # segment 1 never arrives
    assert run([c.initiated(recognized=False), c.verify(success=False), c.says("I need this fixed immediately.")], state) == []
    [score] = run([c.event(CallHeartbeat, step_ms=10_000, state="connected", sequence=1)], state)
    assert score.level == "medium" and score.reasons == ["caller_id_mismatch", "failed_verification", "urgency"]
