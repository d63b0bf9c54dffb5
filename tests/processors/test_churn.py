"""Churn risk on hand-built calls: a customer set on cancelling goes high, one who takes
the retention offer comes back down, a calm call only gets its final low score."""

from __future__ import annotations

from support.calls import CallBuilder, run_processor

from callstream.contract.events import (
    CallDisposition,
    CallInitiated,
    CallQueued,
    ChurnRiskScored,
    Envelope,
)
from callstream.processors.base import MemoryState
from callstream.processors.churn import ChurnScorer, accepts_retention, churn_level, churn_score


class Call(CallBuilder):
    def start(self, queue: str = "general") -> list[Envelope]:
        return [self.event(CallInitiated, caller_number="+12025550101", dialed_number="+18005550100", customer_id="cust-9"),
                self.event(CallQueued, queue=queue)]


def run(events: list[Envelope], state: MemoryState | None = None) -> list[ChurnRiskScored]:
    return run_processor(ChurnScorer(), events, state)


def test_a_customer_set_on_cancelling_goes_high_and_ends_high() -> None:
    c = Call()
    events = [*c.start(), c.customer("I want to cancel. The service has been unreliable for weeks."),
              c.sentiment(-0.2), c.customer("No thanks, please just cancel it."), c.ended()]
    out = run(events)
    assert [(churn_level(e.score), e.event_id.rsplit("/", 1)[1]) for e in out] == [
        ("medium", "churn"), ("high", "churn"), ("high", "churn.final")]
    assert out[-1].reasons == ["cancellation_intent", "insists_on_cancelling"]
    assert out[-1].score == 0.65 and out[-1].customer_id == "cust-9"
    assert out[1].caused_by == events[4].event_id


def test_choosing_the_retention_line_adds_to_the_risk() -> None:
    c = Call()
    out = run([*c.start("retention"), c.customer("I'd like to close my account."), c.ended()])
    assert [(churn_level(e.score), e.reasons) for e in out] == [
        ("high", ["retention_queue", "cancellation_intent"]), ("high", ["retention_queue", "cancellation_intent"])]


def test_a_customer_who_takes_the_offer_comes_back_down() -> None:
    c = Call()
    out = run([*c.start(), c.customer("I'd like to cancel my service, please."),
               c.customer("Okay, that's actually a good deal, I'll stay."), c.ended()])
    assert [churn_level(e.score) for e in out] == ["medium", "low", "low"]
    assert out[-1].reasons == ["cancellation_intent", "retention_accepted"]


def test_dissatisfaction_and_sour_sentiment_are_medium_risk_without_intent() -> None:
    c = Call()
    out = run([*c.start(), c.customer("This is the worst service I have ever had."), c.sentiment(-0.5), c.ended()])
    assert [churn_level(e.score) for e in out] == ["medium", "medium"]
    assert out[-1].reasons == ["dissatisfaction", "negative_sentiment"]


def test_a_calm_call_gets_only_its_final_low_score() -> None:
    c = Call()
    out = run([*c.start(), c.customer("I'd like to make a payment on my account."), c.sentiment(0.4), c.ended()])
    assert len(out) == 1 and out[0].score == 0.0 and out[0].reasons == []


def test_negated_intent_and_duplicates_do_not_count() -> None:
    c = Call()
    said = c.customer("I don't want to cancel, I just have a question.")
    assert [e.score for e in run([*c.start(), said, said, c.ended()])] == [0.0]


def test_the_call_is_forgotten_after_its_disposition() -> None:
    c, state = Call(), MemoryState()
    run([*c.start(), c.customer("Cancel my account."), c.ended()], state)
    assert state.data == {"churn": {"ended": True}}
    assert run([c.customer("cancel cancel cancel")], state) == []
    run([c.event(CallDisposition, agent_id="a", disposition="cancelled")], state)
    assert state.data == {}


def test_score_helpers() -> None:
    assert churn_score(["retention_accepted"]) == 0.0  # never below zero
    assert churn_level(0.3) == "medium" and churn_level(0.6) == "high" and churn_level(0.29) == "low"
    assert accepts_retention("Alright, if you can do that I'll keep it.")
    assert not accepts_retention("No, I just want to cancel.")
