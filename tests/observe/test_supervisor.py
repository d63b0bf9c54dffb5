"""The supervisor board folded from hand-built calls (no Kafka)."""

from __future__ import annotations

from typing import Any

from callstream.contract.events import (
    CallConnected,
    CallEnded,
    CallInitiated,
    CallQueued,
    Envelope,
    EscalationClosed,
    EscalationOpened,
    FraudScored,
    QualityCheck,
    QualityScored,
    SentimentScored,
    SupervisorAlert,
)
from callstream.observe.supervisor import SupervisorBoard

T0 = 1_767_225_600_000


def ev(cls: type[Envelope], contact: str, at: int, **fields: Any) -> Any:
    return cls(event_id=f"{contact}-{cls.__name__}-{at}", contact_id=contact, event_time_ms=T0 + at,
               produced_at_ms=T0 + at, producer="test", **fields)


def start(board: SupervisorBoard, contact: str, queue: str, agent: str | None, at: int = 0) -> None:
    board.apply(ev(CallInitiated, contact, at, caller_number="+15550000", dialed_number="+18000"))
    board.apply(ev(CallQueued, contact, at + 1, queue=queue))
    if agent:
        board.apply(ev(CallConnected, contact, at + 2, agent_id=agent, queue=queue, wait_ms=30_000))


def test_calls_in_progress_by_queue_follow_the_lifecycle_and_resent_events() -> None:
    board = SupervisorBoard()
    start(board, "c1", "billing", "a1")
    start(board, "c2", "billing", None)
    start(board, "c3", "support", "a2")
    start(board, "c1", "billing", "a1")  # lifecycle re-sent: upserts, never double counts
    assert board.calls_in_progress() == {"billing": 2, "support": 1}
    board.apply(ev(CallEnded, "c1", 100_000, ended_by="customer", duration_ms=100_000, agent_id="a1", queue="billing"))
    board.apply(ev(CallEnded, "c1", 100_000, ended_by="customer", duration_ms=100_000, agent_id="a1", queue="billing"))
    view = board.view()
    assert view["calls_in_progress"] == {"billing": 1, "support": 1} and view["calls_in_progress_total"] == 2
    assert view["agents"]["a1"]["handled"] == 1 and view["agents"]["a1"]["avg_handle_s"] == 100.0
    assert view["queues"]["billing"]["avg_wait_s"] == 30.0 and view["agents"]["a1"]["in_progress"] == 0


def test_escalations_alerts_fraud_sentiment_and_quality() -> None:
    board = SupervisorBoard()
    start(board, "c1", "billing", "a1")
    start(board, "c2", "support", "a2")
    board.apply(ev(SentimentScored, "c1", 10, segment_id="s1", participant="customer", score=-0.8, rolling_score=-0.6))
    board.apply(ev(SentimentScored, "c1", 11, segment_id="s2", participant="agent", score=0.9, rolling_score=0.9))
    board.apply(ev(SentimentScored, "c2", 12, segment_id="s3", participant="customer", score=0.5, rolling_score=0.4))
    board.apply(ev(EscalationOpened, "c1", 20, escalation_id="c1:escalation:1", reasons=["anger", "supervisor_request"],
                   agent_id="a1", queue="billing"))
    board.apply(ev(SupervisorAlert, "c1", 20, alert_id="c1:escalation:1", kind="escalation", severity="critical",
                   message="Escalation on call c1 (anger)", agent_id="a1", queue="billing"))
    board.apply(ev(FraudScored, "c2", 30, score=0.91, level="high", reasons=["new_device", "address_change"]))
    board.apply(ev(SupervisorAlert, "c2", 31, alert_id="c2:fraud", kind="fraud", severity="critical", message="fraud"))
    board.apply(ev(QualityScored, "c2", 40, agent_id="a2", score=80.0,
                   checks=[QualityCheck("greeting", True), QualityCheck("closing", False)]))
    view = board.view()
    [escalation] = view["open_escalations"]
    assert escalation["contact_id"] == "c1" and escalation["reasons"] == ["anger", "supervisor_request"]
    assert [a["kind"] for a in view["alerts"]] == ["fraud", "escalation"]  # newest first
    assert view["alerts"][0]["queue"] == "support"  # filled in from the call when the alert lacks it
    assert view["fraud"][0]["reasons"] == ["new_device", "address_change"]
    assert view["sentiment"] == {"queue": {"billing": -0.6, "support": 0.4}, "agent": {"a1": -0.6, "a2": 0.4}}
    assert view["agents"]["a1"]["escalations"] == 1 and view["queues"]["support"]["fraud_alerts"] == 1
    assert view["agents"]["a2"]["avg_quality"] == 80.0 and view["quality_recent"][0]["failed"] == ["closing"]
    board.apply(ev(EscalationClosed, "c1", 50, escalation_id="c1:escalation:1", resolution="resolved",
                   opened_at_ms=T0 + 20, duration_ms=30))
    assert board.view()["open_escalations"] == []
    assert [c["contact_id"] for c in board.search("c")] == ["c2", "c1"]  # most recent first
