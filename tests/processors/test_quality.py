"""QA scoring on hand-built calls: checks pass and fail as they should, a check that does
not apply is left out, late lines within the grace count, and each contact gets exactly
one score."""

from __future__ import annotations

import time

import pytest
from support.calls import T0, CallBuilder, run_processor

from callstream.contract.events import (
    AgentAction,
    CallDisposition,
    CallEnded,
    CallHeld,
    CallResumed,
    Envelope,
    QualityScored,
    RedactedSegment,
)
from callstream.processors.base import MemoryState
from callstream.processors.quality import GRACE_MS, QualityScorer, asks_to_hold, closes, greets


class Call(CallBuilder):
    agent_id = "agent-3"

    def action(self, action: str, success: bool = True) -> AgentAction:
        return self.event(AgentAction, agent_id=self.agent_id, action=action, success=success)

    def hold(self) -> list[Envelope]:
        return [self.event(CallHeld, agent_id=self.agent_id),
                self.event(CallResumed, step_ms=30_000, agent_id=self.agent_id, hold_ms=30_000)]

    def ended(self, by: str = "agent", **fields) -> CallEnded:
        return super().ended(by, agent_id=self.agent_id, **fields)

    def disposition(self) -> CallDisposition:
        return self.event(CallDisposition, step_ms=8_000, agent_id=self.agent_id, disposition="resolved")


def run(events: list[Envelope], state: MemoryState | None = None) -> list[QualityScored]:
    return run_processor(QualityScorer(), events, state)


def results(score: QualityScored) -> dict[str, bool]:
    return {c.name: c.passed for c in score.checks}


def model_call(c: Call) -> list[Envelope]:
    return [
        c.connected(),
        c.agent("Thank you for calling Northwind, my name is [PERSON_NAME]. How can I help you today?"),
        c.agent("Just so you know, this call may be recorded for quality purposes."),
        c.customer("I moved and I need to update my address."),
        c.action("verify_identity"),
        c.agent("May I place you on a brief hold while I look into that?"),
        c.customer("Sure."),
        *c.hold(),
        c.action("update_address"),
        c.agent("Is there anything else I can help you with today?"),
        c.customer("No, that's everything."),
        c.agent("Thank you for calling Northwind. Have a great day!"),
    ]


def test_a_model_call_passes_every_check_once_the_disposition_arrives() -> None:
    c = Call()
    state = MemoryState()
    assert run([*model_call(c), c.ended()], state) == []  # not yet: late lines may still come
    disposition = c.disposition()
    [score] = run([disposition], state)
    assert results(score) == {"greeting": True, "disclosure": True, "identity_verified_first": True,
                              "hold_etiquette": True, "closing": True}
    assert score.score == 100.0 and score.agent_id == "agent-3"
    assert score.caused_by == disposition.event_id and score.contact_id == "call-1"
    assert run([c.disposition(), c.agent("Have a great day!")], state) == []  # exactly one per contact
    assert state.data == {"quality": {"scored": True}}


def test_a_sloppy_call_fails_every_check() -> None:
    c = Call()
    events = [
        c.connected(),
        c.agent("Yes?"),
        c.customer("I'd like a refund for a charge."),
        c.action("issue_refund"),
        c.action("verify_identity"),
        c.agent("Hang on, I'm putting you on hold."),
        *c.hold(),
        c.agent("Okay. Bye."),
        c.ended(),
        c.disposition(),
    ]
    [score] = run(events)
    assert results(score) == {"greeting": False, "disclosure": False, "identity_verified_first": False,
                              "hold_etiquette": False, "closing": False}
    assert score.score == 0.0
    details = {c.name: c.detail for c in score.checks}
    assert details["identity_verified_first"] == "issue_refund before any passed identity check"
    assert details["hold_etiquette"] == "1 of 1 holds without asking"


def test_checks_that_do_not_apply_are_left_out_of_the_score() -> None:
    c = Call()
    events = [c.connected(), c.agent("Thanks for calling, this is [PERSON_NAME], how may I help you?"),
              c.customer("What's my balance?"), c.agent("Sure, let me check."), c.ended(by="transfer"), c.disposition()]
    [score] = run(events)
    assert results(score) == {"greeting": True, "disclosure": False}  # no change, no hold; transferred: no closing
    assert score.score == 37.5  # 15 of 40


def test_lines_arriving_after_the_end_count_within_the_grace() -> None:
    c = Call()
    events = model_call(c)
    closing_lines = events[-3:]
    ended = c.ended()
    # the redacted transcript lags the lifecycle: the closing lines come after call.ended
    [score] = run([*events[:-3], ended, *closing_lines, c.disposition()])
    assert results(score)["closing"] is True


def test_without_a_disposition_the_first_event_past_the_grace_scores_the_call() -> None:
    c = Call()
    events = model_call(c)[:-3]
    ended = c.ended()
    too_late = c.event(RedactedSegment, step_ms=GRACE_MS, segment_id="call-1:s99", sequence=99, participant="agent",
                        start_offset_ms=0, end_offset_ms=1, text="Have a great day!", is_final=True, provisional=False)
    state = MemoryState()
    assert run([*events, ended], state) == []
    [score] = run([too_late], state)
    assert results(score)["closing"] is False  # past the grace: not counted
    assert score.caused_by == too_late.event_id


def test_the_greeting_is_the_first_line_by_sequence_whatever_the_arrival_order() -> None:
    c = Call()
    connected, greeting, second = c.connected(), c.agent("Customer care, [PERSON_NAME] speaking."), c.agent("Yes?")
    [score] = run([connected, second, greeting, c.ended(), c.disposition()])
    assert results(score)["greeting"] is True


def test_each_hold_needs_its_own_ask() -> None:
    c = Call()
    events = [c.connected(), c.agent("May I place you on a brief hold?"), *c.hold(), c.agent("One sec."), *c.hold(),
              c.ended(), c.disposition()]
    [score] = run(events)
    assert {x.name: x.detail for x in score.checks}["hold_etiquette"] == "1 of 2 holds without asking"


def test_duplicate_segments_change_nothing() -> None:
    c = Call()
    events = model_call(c)
    with_resends = [e for e in events for _ in range(2 if isinstance(e, RedactedSegment) else 1)]
    assert run([*with_resends, c.ended(), c.disposition()])[0].checks == run([*events, c.ended(), c.disposition()])[0].checks


def test_phrase_helpers() -> None:
    assert greets("Hello? What's the issue?") == []
    assert closes("Okay. Bye.") == [] and closes("Thanks for your patience, I'm back.") == []
    assert closes("You're all set. Thank you for being a Northwind customer, goodbye.") == ["goodbye"]
    assert asks_to_hold("Would it be alright if I put you on a short hold while I check this?")
    assert not asks_to_hold("Hang on, I'm putting you on hold.")


# --- on a real broker, as a worker process ------------------------------------------------

def simulated_contacts(calls: range) -> tuple[dict[str, list[Envelope]], set[str]]:
    """Simulated calls as the quality worker's inputs, by catalog topic (transcripts passed
    through a redaction stand-in), and the contact ids they hold."""
    from callstream.contract.catalog import load_catalog
    from callstream.contract.events import TranscriptSegment, event_type_of
    from callstream.simulate.conversation import ConversationProfile, generate_call

    topic_for = load_catalog().topic_for
    by_topic: dict[str, list[Envelope]] = {}
    contacts: set[str] = set()
    for index in calls:
        call = generate_call(index, T0 + index * 20_000, seed=5, profile=ConversationProfile())
        contacts.update(leg.contact_id for leg in call.truth.legs)
        for timed in call.events:
            event = timed.event
            if isinstance(event, TranscriptSegment):
                event = RedactedSegment(
                    event_id=f"{event.event_id}/redacted", contact_id=event.contact_id, event_time_ms=event.event_time_ms,
                    produced_at_ms=event.produced_at_ms, producer="redaction-stand-in", segment_id=event.segment_id,
                    sequence=event.sequence, participant=event.participant, start_offset_ms=event.start_offset_ms,
                    end_offset_ms=event.end_offset_ms, text=event.text, is_final=event.is_final,
                    provisional=not event.is_final)
            by_topic.setdefault(topic_for(event_type_of(event)), []).append(event)
    return by_topic, contacts


@pytest.mark.slow
def test_worker_scores_each_contact_exactly_once_across_a_kill(pipeline, workers) -> None:
    from callstream.contract.codec import decode_event

    early, early_contacts = simulated_contacts(range(0, 100))
    late, late_contacts = simulated_contacts(range(100, 300))
    contacts = early_contacts | late_contacts
    worker = workers("quality")
    for topic in QualityScorer.inputs:
        pipeline.produce(topic, early[topic])
    first = pipeline.read("callstream.quality.events", lambda ms: len(ms) >= 5, timeout_s=120, committed_only=True)
    assert len(first) >= 5
    for topic in QualityScorer.inputs:
        pipeline.produce(topic, late[topic])
    workers.group.kill("quality-0")  # SIGKILL by PID while it works through the second batch
    assert not worker.alive()
    killed_at = len(pipeline.read_to_end("callstream.quality.events"))
    print(f"\nkilled with {killed_at} of {len(contacts)} scores committed")
    workers.group.restart("quality-0")
    messages = pipeline.read("callstream.quality.events", lambda ms: len(ms) >= len(contacts), timeout_s=180,
                             committed_only=True)
    scores = [decode_event(m.value(), m.headers()) for m in messages]
    assert sorted(s.contact_id for s in scores) == sorted(contacts)  # every contact, exactly once
    assert all(isinstance(s, QualityScored) and 0 <= s.score <= 100 for s in scores)
    time.sleep(3)  # anything still in flight (a replayed transaction) would show up now
    again = pipeline.read_to_end("callstream.quality.events")
    assert len(again) == len(contacts)
