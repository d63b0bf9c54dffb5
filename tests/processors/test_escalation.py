"""Escalation detection on hand-built calls: an escalating call opens then closes exactly
once, a calm call never opens, and each trigger (anger, supervisor request, falling
sentiment, long hold, failed verification) does what the module says."""

from __future__ import annotations

from support.calls import CallBuilder, run_processor

from callstream.contract.events import (
    AgentAction,
    CallDisposition,
    CallHeartbeat,
    CallHeld,
    CallResumed,
    CallTransferred,
    Envelope,
    EscalationClosed,
    EscalationOpened,
    SentimentScored,
    SupervisorAlert,
)
from callstream.processors.base import MemoryState
from callstream.processors.escalation import EscalationDetector, anger_cues


class Call(CallBuilder):
    def sentiment(self, score: float, rolling: float | None = None, participant: str = "customer", **fields) -> SentimentScored:
        return super().sentiment(score, rolling, participant, step_ms=50, **fields)


def run(detector: EscalationDetector, events: list[Envelope], state: MemoryState | None = None) -> list[Envelope]:
    return run_processor(detector, events, state)


def kinds(out: list[Envelope]) -> list[str]:
    return [type(e).__name__ for e in out]


def test_an_angry_call_opens_once_alerts_and_closes_once_when_the_customer_recovers() -> None:
    c = Call()
    events = [
        c.connected(),
        c.says("agent", "Thank you for calling, how can I help?"),
        c.says("customer", "You people charged me again! I told you last month to stop this."),
        c.sentiment(-0.51, -0.51),
        c.says("customer", "This is ridiculous, I pay for this service every month!"),
        c.sentiment(-0.49, -0.50),
        c.says("agent", "I've reversed that charge."),
        c.says("customer", "Great, I really appreciate your help."),
        c.sentiment(0.88, 0.20),
        c.says("customer", "Okay, thanks."),
        c.sentiment(0.59, 0.32),
        c.ended(),
    ]
    out = run(EscalationDetector(), events)
    assert kinds(out) == ["EscalationOpened", "SupervisorAlert", "EscalationClosed"]
    opened, alert, closed = out
    assert isinstance(opened, EscalationOpened) and opened.reasons == ["anger"]
    assert opened.agent_id == "agent-7" and opened.queue == "billing"
    assert opened.event_time_ms == events[2].event_time_ms and opened.caused_by == events[2].event_id
    assert isinstance(alert, SupervisorAlert) and alert.alert_id == opened.escalation_id
    assert alert.kind == "escalation" and alert.severity == "warning" and '"you people"' in alert.message
    assert isinstance(closed, EscalationClosed) and closed.escalation_id == opened.escalation_id
    assert closed.resolution == "resolved"
    assert closed.duration_ms == events[8].event_time_ms - events[2].event_time_ms


def test_a_calm_call_never_opens() -> None:
    c = Call()
    events = [
        c.connected(),
        c.says("agent", "Thank you for calling, my name is Ana. How can I help you today?"),
        c.says("customer", "I'd like to make a payment on my account."),
        c.sentiment(0.36, 0.36),
        c.says("customer", "Okay, thanks."),
        c.sentiment(0.59, 0.43),
        c.says("customer", "No, that's everything."),
        c.sentiment(0.0, 0.43),
        c.ended(),
    ]
    assert run(EscalationDetector(), events) == []


def test_an_unresolved_escalation_closes_when_the_call_ends() -> None:
    c = Call()
    opening = [c.connected(), c.says("customer", "Let me speak to your supervisor.")]
    end = c.ended()
    out = run(EscalationDetector(), [*opening, end])
    assert kinds(out) == ["EscalationOpened", "SupervisorAlert", "EscalationClosed"]
    assert out[0].reasons == ["supervisor_request"] and out[1].severity == "critical"
    assert out[2].resolution == "call_ended" and out[2].duration_ms == end.event_time_ms - opening[1].event_time_ms


def test_a_transfer_closes_the_open_escalation() -> None:
    c = Call()
    events = [
        c.connected(),
        c.says("customer", "I can't believe how long this is taking!"),
        c.event(CallTransferred, from_agent_id="agent-7", to_queue="retention", new_contact_id="call-2",
                 initial_contact_id="call-1"),
        c.ended(),
    ]
    out = run(EscalationDetector(), events)
    assert kinds(out) == ["EscalationOpened", "SupervisorAlert", "EscalationClosed"]
    assert out[2].resolution == "transferred"


def test_a_long_hold_opens_during_the_hold_once() -> None:
    c = Call()
    events = [c.connected(), c.event(CallHeld, agent_id="agent-7")]
    held_at = c.now
    for _ in range(20):  # a heartbeat every 10 s for 200 s
        events.append(c.event(CallHeartbeat, step_ms=10_000, state="held", sequence=len(events)))
    events.append(c.event(CallResumed, agent_id="agent-7", hold_ms=c.now - held_at))
    events.append(c.ended())
    out = run(EscalationDetector(), events)
    assert kinds(out) == ["EscalationOpened", "SupervisorAlert", "EscalationClosed"]
    assert out[0].reasons == ["long_hold"]
    assert out[0].event_time_ms - held_at == 120_000  # the first heartbeat past two minutes
    assert out[1].severity == "critical"


def test_a_short_hold_does_not_open() -> None:
    c = Call()
    events = [c.connected(), c.event(CallHeld, agent_id="agent-7"),
              c.event(CallHeartbeat, step_ms=10_000, state="held", sequence=1),
              c.event(CallResumed, step_ms=30_000, agent_id="agent-7", hold_ms=40_000), c.ended()]
    assert run(EscalationDetector(), events) == []


def test_falling_sentiment_opens_but_a_customer_negative_from_the_start_does_not() -> None:
    c = Call()
    falling = [c.connected(), c.sentiment(0.0, 0.0), c.sentiment(0.5, 0.5), c.sentiment(-0.4, 0.2),
               c.sentiment(-0.8, -0.1), c.sentiment(-0.9, -0.45)]
    out = run(EscalationDetector(), falling)
    assert kinds(out) == ["EscalationOpened", "SupervisorAlert"]
    assert out[0].reasons == ["falling_sentiment"] and "+0.50 to -0.45" in out[1].message

    c = Call("call-2")
    low_throughout = [c.connected(), c.sentiment(-0.6, -0.6), c.sentiment(-0.5, -0.57), c.sentiment(-0.4, -0.52)]
    assert run(EscalationDetector(), low_throughout) == []


def test_repeated_failed_verification_opens_only_for_an_upset_customer() -> None:
    def verification_loop(c: Call, rolling: float) -> list[Envelope]:
        failed = [c.event(AgentAction, agent_id="agent-7", action="verify_identity", success=False) for _ in range(3)]
        return [c.connected(), c.sentiment(rolling, rolling), *failed]

    upset = run(EscalationDetector(), verification_loop(Call("upset"), -0.3))
    assert kinds(upset) == ["EscalationOpened", "SupervisorAlert"]
    assert upset[0].reasons == ["failed_verification"] and "3 failed identity checks" in upset[1].message
    assert run(EscalationDetector(), verification_loop(Call("calm"), 0.4)) == []


def test_after_a_resolution_only_a_new_reason_reopens() -> None:
    c = Call()
    events = [
        c.connected(),
        c.says("customer", "This is unbelievable."),
        c.sentiment(0.8, 0.5),
        c.says("customer", "Are you serious?"),  # anger again: same reason, stays closed
        c.says("customer", "I want to talk to a manager, now."),  # a new reason: a second escalation
        c.ended(),
    ]
    out = run(EscalationDetector(), events)
    assert kinds(out) == ["EscalationOpened", "SupervisorAlert", "EscalationClosed",
                          "EscalationOpened", "SupervisorAlert", "EscalationClosed"]
    assert out[0].escalation_id != out[3].escalation_id
    assert [e.resolution for e in out if isinstance(e, EscalationClosed)] == ["resolved", "call_ended"]


def test_duplicates_late_segments_and_cleanup() -> None:
    detector, state, c = EscalationDetector(), MemoryState(), Call()
    angry = c.says("customer", "You people never fix anything!")
    assert kinds(run(detector, [c.connected(), angry, angry], state)) == ["EscalationOpened", "SupervisorAlert"]
    assert kinds(run(detector, [c.ended()], state)) == ["EscalationClosed"]
    late = c.says("customer", "Let me speak to your supervisor.")
    assert run(detector, [late], state) == []  # a finished call never re-opens
    assert state.data == {"escalation": {"ended": True}}
    run(detector, [c.event(CallDisposition, agent_id="agent-7", disposition="escalated")], state)
    assert state.data == {}


def test_reprocessing_the_same_input_gives_the_same_event_ids() -> None:
    c = Call()
    events = [c.connected(), c.says("customer", "This is ridiculous!"), c.ended()]
    first, second = run(EscalationDetector(), events), run(EscalationDetector(), events)
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert len({e.event_id for e in first}) == 3


def test_anger_cues_name_what_was_said() -> None:
    assert anger_cues("I've called three times and it is STILL not working!") == ["three times", "still not working"]
    assert anger_cues("Okay, but this has been going on for a while now.") == []
    assert anger_cues("I'd like to cancel my account, please.") == []  # leaving is not anger


def test_a_heartbeat_releases_lines_held_back_by_a_gap_that_never_fills() -> None:
    detector, state, c = EscalationDetector(), MemoryState(), Call()
    c.sequence = 1  # segment 1 (a partial) was lost: the angry line waits for it
    assert run(detector, [c.connected(), c.says("customer", "This is unbelievable.")], state) == []
    heartbeat = c.event(CallHeartbeat, step_ms=6_000, state="connected", sequence=1)
    out = run(detector, [heartbeat], state)
    assert kinds(out) == ["EscalationOpened", "SupervisorAlert"] and out[0].reasons == ["anger"]
