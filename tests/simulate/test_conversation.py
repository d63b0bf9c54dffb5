"""Generated calls are valid call-center conversations whose ground truth matches their events."""

from __future__ import annotations

import gc
import itertools
import re
from collections import Counter, defaultdict

import pytest

from callstream.contract.codec import encode_event
from callstream.contract.events import (
    AgentAction,
    CallConnected,
    CallDisposition,
    CallEnded,
    CallHeartbeat,
    CallHeld,
    CallInitiated,
    CallQueued,
    CallResumed,
    CallTransferred,
    TranscriptSegment,
    event_type_of,
)
from callstream.errors import SimulationError
from callstream.simulate.conversation import (
    INTENTS,
    LONG_HOLD_MS,
    QUEUES,
    ConversationProfile,
    GeneratedCall,
    generate_call,
)
from callstream.simulate.lines import DISCLOSURE_PHRASE
from callstream.simulate.speech import luhn_valid

START_MS = 1_767_261_600_000  # 2026-01-01 10:00 UTC
#: shares raised so every path (fraud, transfers, disorder) shows up in a small sample
BUSY = ConversationProfile(fraud_share=0.2, transfer_share=0.2, disorder_share=0.05, long_hold_share=0.1)


@pytest.fixture(scope="module")
def calls() -> list[GeneratedCall]:
    return [generate_call(i, START_MS + i * 7_000, seed=42, profile=BUSY) for i in range(300)]


def by_contact(call: GeneratedCall) -> dict[str, list]:
    contacts: dict[str, list] = defaultdict(list)
    for timed in call.events:
        contacts[timed.event.contact_id].append(timed)
    return contacts


def disordered_ids(call: GeneratedCall) -> set[str]:
    return {d.segment_id for d in call.truth.disorder}


def test_every_contact_runs_initiated_queued_connected_then_ended_and_disposition(calls) -> None:
    for call in calls:
        for contact_id, timed in by_contact(call).items():
            kinds = [type(t.event) for t in timed]
            lifecycle = [
                k for k in kinds if k in (CallInitiated, CallQueued, CallConnected, CallEnded, CallDisposition)
            ]
            assert lifecycle == [CallInitiated, CallQueued, CallConnected, CallEnded, CallDisposition], contact_id
            assert kinds[0] is CallInitiated and kinds[-1] is CallDisposition
            ended = next(t for t in timed if isinstance(t.event, CallEnded))
            # everything but the disposition happens while the contact is live
            assert all(t.release_ms <= ended.release_ms for t in timed if not isinstance(t.event, CallDisposition))
            assert ended.event.duration_ms == ended.release_ms - timed[0].release_ms


def test_events_are_in_release_order_and_valid_against_the_contract(calls) -> None:
    ids = Counter()
    for call in calls:
        releases = [t.release_ms for t in call.events]
        assert releases == sorted(releases)
        for timed in call.events:
            event = timed.event
            encode_event(event, validate=True)  # every constraint of the contract holds
            assert event.producer == "simulator"
            assert event.produced_at_ms == timed.release_ms
            ids[event.event_id] += 1
            if not (isinstance(event, TranscriptSegment) and event.segment_id in disordered_ids(call)):
                assert event.event_time_ms == timed.release_ms
    assert max(ids.values()) == 1  # event ids are unique, re-sent segments included


def test_queues_intents_agents_and_dispositions(calls) -> None:
    intents = Counter(call.truth.intent for call in calls)
    assert set(intents) == set(INTENTS)
    for call in calls:
        for timed in call.events:
            event = timed.event
            if isinstance(event, CallQueued):
                assert event.queue in QUEUES
            if isinstance(event, CallConnected):
                assert event.agent_id.startswith(f"agent-{event.queue}-")
        assert {leg.disposition for leg in call.truth.legs} <= {
            "resolved",
            "follow_up",
            "cancelled",
            "escalated",
            "fraud_review",
            "transferred",
        }


def test_transfers_open_a_linked_contact(calls) -> None:
    transferred = [call for call in calls if len(call.truth.linked_contact_ids) > 1]
    assert len(transferred) > 20
    for call in transferred:
        contacts = by_contact(call)
        chain = call.truth.linked_contact_ids
        initial = chain[0]
        assert contacts[initial][0].event.previous_contact_id is None
        for n, (previous, current) in enumerate(itertools.pairwise(chain), start=1):
            transfer = next(t for t in contacts[previous] if isinstance(t.event, CallTransferred))
            assert transfer.event.new_contact_id == current and transfer.event.initial_contact_id == initial
            initiated = contacts[current][0]
            assert isinstance(initiated.event, CallInitiated) and initiated.release_ms == transfer.release_ms
            assert (initiated.event.previous_contact_id, initiated.event.initial_contact_id) == (previous, initial)
            ended = next(t.event for t in contacts[previous] if isinstance(t.event, CallEnded))
            assert ended.ended_by == "transfer"
            queued = next(t.event for t in contacts[current] if isinstance(t.event, CallQueued))
            assert queued.queue == transfer.event.to_queue == call.truth.legs[n].queue
            assert call.truth.legs[n - 1].disposition == "transferred"
    assert all(not c.truth.legs[0].disposition == "transferred" for c in calls if len(c.truth.legs) == 1)


def test_segment_sequences_increase_per_contact_apart_from_injected_disorder(calls) -> None:
    for call in calls:
        disordered = disordered_ids(call)
        for contact_id, timed in by_contact(call).items():
            segments = [t.event for t in timed if isinstance(t.event, TranscriptSegment)]
            clean = [s.sequence for s in segments if s.segment_id not in disordered]
            assert clean == sorted(set(clean)), contact_id
            every = sorted({s.sequence for s in segments})
            assert every == list(range(1, len(every) + 1))  # no gaps, from 1
            for s in segments:
                assert 0 <= s.start_offset_ms <= s.end_offset_ms


def test_partials_link_to_their_final_and_precede_it(calls) -> None:
    partial_counts = Counter()
    for call in calls:
        segments = {t.event.segment_id: t.event for t in call.events if isinstance(t.event, TranscriptSegment)}
        partials_of: dict[str, list] = defaultdict(list)
        for segment in segments.values():
            if segment.is_final:
                assert segment.final_segment_id is None
            else:
                final = segments[segment.final_segment_id]
                assert final.is_final and final.contact_id == segment.contact_id
                assert final.text.startswith(segment.text)  # a partial is what was heard so far
                assert segment.sequence < final.sequence and segment.start_offset_ms == final.start_offset_ms
                assert segment.event_time_ms < final.event_time_ms
                partials_of[final.segment_id].append(segment)
        for segment in segments.values():
            if segment.is_final:
                partial_counts[len(partials_of[segment.segment_id])] += 1
    assert set(partial_counts) == {0, 1, 2}


def test_duplicates_resend_the_same_segment_and_reorders_arrive_late(calls) -> None:
    kinds = Counter()
    visibly_late = 0
    for call in calls:
        deliveries: dict[str, list] = defaultdict(list)
        order: dict[str, list[int]] = defaultdict(list)
        for timed in call.events:
            if isinstance(timed.event, TranscriptSegment):
                deliveries[timed.event.segment_id].append(timed.event)
                order[timed.event.contact_id].append(timed.event.sequence)
        for disorder in call.truth.disorder:
            kinds[disorder.kind] += 1
            copies = deliveries[disorder.segment_id]
            if disorder.kind == "duplicate":
                assert len(copies) >= 2
                first, again = copies[0], copies[1]
                assert again.event_id != first.event_id
                assert msg_body(again) == msg_body(first)
            else:
                assert len(copies) == 1
                sequence = order[disorder.contact_id]
                position = sequence.index(copies[0].sequence)
                visibly_late += any(earlier > copies[0].sequence for earlier in sequence[:position])
        assert all(len(v) == 1 for k, v in deliveries.items() if k not in disordered_ids(call))
    assert kinds["duplicate"] > 5 and kinds["reorder"] > 5
    assert visibly_late >= 0.8 * kinds["reorder"]  # (two neighbours both delayed may end in order)


def msg_body(segment: TranscriptSegment) -> tuple:
    return (segment.segment_id, segment.sequence, segment.text, segment.event_time_ms, segment.is_final)


def test_default_disorder_is_about_one_percent() -> None:
    segments = disorder = 0
    for i in range(200):
        call = generate_call(i, START_MS, seed=5, profile=ConversationProfile())
        segments += sum(isinstance(t.event, TranscriptSegment) for t in call.events)
        disorder += len(call.truth.disorder)
    assert 0.004 < disorder / segments < 0.02


def test_pii_spans_in_the_ground_truth_match_the_text_exactly(calls) -> None:
    entity_types = Counter()
    forms = Counter()
    national_id_lengths = set()
    for call in calls:
        texts = {t.event.segment_id: t.event.text for t in call.events if isinstance(t.event, TranscriptSegment)}
        for segment in call.truth.segments:
            text = texts[segment.segment_id]
            for span in segment.pii:
                assert text[span.start : span.end] == span.text, (text, span)
                assert span.text and span.text == span.text.strip()
                entity_types[span.entity_type] += 1
                forms[(span.entity_type, span.spoken)] += 1
                if span.entity_type == "CARD_NUMBER":
                    assert luhn_valid(span.value), span
                if span.entity_type == "NATIONAL_ID":
                    national_id_lengths.add(len(span.value))
                if not span.fragment and span.entity_type in ("PHONE_NUMBER", "CARD_NUMBER", "ACCOUNT_NUMBER"):
                    assert re.sub(r"\D", "", span.text) == span.value or span.spoken
    assert set(entity_types) == {
        "CARD_NUMBER",
        "PHONE_NUMBER",
        "EMAIL",
        "DATE_OF_BIRTH",
        "NATIONAL_ID",
        "ACCOUNT_NUMBER",
        "STREET_ADDRESS",
        "PERSON_NAME",
    }
    assert national_id_lengths == {4, 9}  # last four, and the whole social security number
    for entity in ("CARD_NUMBER", "PHONE_NUMBER", "EMAIL", "DATE_OF_BIRTH", "ACCOUNT_NUMBER"):
        assert forms[(entity, True)] and forms[(entity, False)], entity  # both spoken and typed


def test_spoken_card_numbers_are_said_digit_by_digit(calls) -> None:
    words = {
        "zero": "0",
        "one": "1",
        "two": "2",
        "three": "3",
        "four": "4",
        "five": "5",
        "six": "6",
        "seven": "7",
        "eight": "8",
        "nine": "9",
    }
    seen = 0
    for call in calls:
        for segment in call.truth.segments:
            for span in segment.pii:
                if span.entity_type == "CARD_NUMBER" and span.spoken and not span.fragment:
                    digits = "".join(words[w] for w in re.findall(r"[a-z]+", span.text))
                    assert digits == span.value
                    seen += 1
    assert seen > 5


def test_heartbeats_tick_while_the_contact_is_live(calls) -> None:
    interval = int(BUSY.heartbeat_interval_s * 1000)
    for call in calls[:60]:
        for timed in by_contact(call).values():
            start = timed[0].release_ms
            ended = next(t.release_ms for t in timed if isinstance(t.event, CallEnded))
            beats = [t for t in timed if isinstance(t.event, CallHeartbeat)]
            assert [b.event.sequence for b in beats] == list(range(1, len(beats) + 1))
            assert [b.release_ms for b in beats] == list(range(start + interval, ended, interval))
            held = [t.release_ms for t in timed if isinstance(t.event, (CallHeld, CallResumed))]
            for beat in beats:
                inside_hold = any(a <= beat.release_ms < b for a, b in zip(held[::2], held[1::2], strict=True))
                assert (beat.event.state == "held") == inside_hold


def test_qa_expectations_match_what_the_agent_did(calls) -> None:
    seen = Counter()
    for call in calls:
        contacts = by_contact(call)
        for leg in call.truth.legs:
            timed = contacts[leg.contact_id]
            agent_lines = [
                t.event.text.lower()
                for t in timed
                if isinstance(t.event, TranscriptSegment) and t.event.is_final and t.event.participant == "agent"
            ]
            actions = [t.event for t in timed if isinstance(t.event, AgentAction)]
            holds = [t.event for t in timed if isinstance(t.event, CallHeld)]
            assert leg.qa["disclosure"] == any(DISCLOSURE_PHRASE in line for line in agent_lines)
            assert leg.qa["disclosure"] == any(a.action == "read_disclosure" for a in actions)
            assert (leg.qa["hold_etiquette"] is None) == (not holds)
            if leg.qa["hold_etiquette"]:
                assert any("hold" in line and "?" in line for line in agent_lines)
            if leg.qa["identity_verified_first"] is not None:
                verified = [i for i, a in enumerate(actions) if a.action == "verify_identity" and a.success]
                changes = [
                    i
                    for i, a in enumerate(actions)
                    if a.action
                    in (
                        "update_address",
                        "update_phone",
                        "update_email",
                        "issue_refund",
                        "apply_credit",
                        "cancel_service",
                        "block_card",
                        "order_replacement_card",
                    )
                ]
                assert changes
                assert leg.qa["identity_verified_first"] == bool(verified and verified[0] < changes[0])
            for check, passed in leg.qa.items():
                seen[(check, passed)] += 1
    for check in ("greeting", "disclosure", "identity_verified_first", "hold_etiquette", "closing"):
        assert seen[(check, True)] and seen[(check, False)], check  # some agents pass, some fail


def test_fraud_calls_show_account_takeover_patterns(calls) -> None:
    fraud = [c for c in calls if c.truth.is_fraud]
    honest = [c for c in calls if not c.truth.is_fraud]
    assert 30 < len(fraud) < 100
    for call in fraud:
        assert call.truth.fraud_pattern == "account_takeover"
        names = {s.name for s in call.truth.fraud_signals}
        assert names & {"failed_verification_loop", "urgency", "caller_id_mismatch", "change_after_verification"}
        verifications = [
            t.event for t in call.events if isinstance(t.event, AgentAction) and t.event.action == "verify_identity"
        ]
        assert verifications and not verifications[0].success  # the impostor fails first
    for call in calls:
        initiated = call.events[0].event
        assert call.truth.caller_id_mismatch == (call.truth.caller_number != call.truth.number_on_file)
        assert initiated.caller_number == call.truth.caller_number
        assert call.truth.caller_id_mismatch == any(s.name == "caller_id_mismatch" for s in call.truth.fraud_signals)
    mismatch_rate = lambda group: sum(c.truth.caller_id_mismatch for c in group) / len(group)  # noqa: E731
    assert mismatch_rate(fraud) > 0.6 > 0.2 > mismatch_rate(honest)
    # ATO: contact details changed right after verification
    changed = [c for c in fraud if any(s.name == "change_after_verification" for s in c.truth.fraud_signals)]
    assert changed
    for call in changed:
        actions = [t.event.action for t in call.events if isinstance(t.event, AgentAction)]
        assert "update_address" in actions


def test_escalation_truth_follows_anger_supervisor_requests_and_long_holds(calls) -> None:
    reasons = Counter()
    for call in calls:
        truth = call.truth
        assert truth.should_escalate == bool(truth.escalation_reasons)
        assert set(truth.escalation_reasons) == {s.name for s in truth.escalation_signals}
        reasons.update(truth.escalation_reasons)
        customer = [
            t.event.text
            for t in call.events
            if isinstance(t.event, TranscriptSegment) and t.event.is_final and t.event.participant == "customer"
        ]
        asked = any("supervisor" in line or "manager" in line for line in customer)
        assert asked == ("supervisor_request" in truth.escalation_reasons)
        long_holds = [
            t.event for t in call.events if isinstance(t.event, CallResumed) and t.event.hold_ms > LONG_HOLD_MS
        ]
        assert bool(long_holds) == ("long_hold" in truth.escalation_reasons)
        assert ("anger" in truth.escalation_reasons) == (truth.sentiment_arc in ("angry", "angry_then_relieved"))
        for signal in truth.escalation_signals:
            assert signal.contact_id in truth.linked_contact_ids
            assert truth.legs[0].initiated_ms <= signal.at_ms <= truth.legs[-1].ended_ms
    assert reasons["anger"] and reasons["supervisor_request"] and reasons["long_hold"]


def test_sentiment_arcs_shape_the_customer_lines(calls) -> None:
    for call in calls:
        moods = [s.sentiment for s in call.truth.segments if s.participant == "customer" and s.is_final]
        arc = call.truth.sentiment_arc
        if arc == "angry_then_relieved" and call.truth.legs[-1].disposition != "fraud_review":
            assert moods[0] == "angry" and "relieved" in moods
            assert moods.index("relieved") > moods.index("angry")
        if arc == "calm":
            assert "angry" not in moods
    assert {c.truth.sentiment_arc for c in calls} == {"calm", "frustrated", "angry_then_relieved", "angry"}


def test_a_call_depends_only_on_seed_and_index() -> None:
    a = generate_call(17, START_MS, seed=1, profile=BUSY)
    b = generate_call(17, START_MS, seed=1, profile=BUSY)
    c = generate_call(17, START_MS, seed=2, profile=BUSY)
    encode = lambda call: [encode_event(t.event)[0] for t in call.events]  # noqa: E731
    assert encode(a) == encode(b) and a.truth == b.truth
    assert encode(a) != encode(c)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fraud_share": 1.5}, "fraud_share must be between 0 and 1"),
        ({"disorder_share": 0.7}, "disorder_share 0.7 is above 0.5"),
        ({"heartbeat_interval_s": 0}, "heartbeat interval must be positive"),
        ({"intent_mix": (("weather", 1.0),)}, "unknown intents"),
        ({"intent_mix": (("payment", 0.0),)}, "positive sum"),
    ],
)
def test_impossible_profiles_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        ConversationProfile(**kwargs)


def test_event_type_mix_of_a_call_population(calls) -> None:
    kinds = Counter(event_type_of(t.event) for call in calls for t in call.events)
    for tag in (
        "call.initiated",
        "call.queued",
        "call.connected",
        "call.held",
        "call.resumed",
        "call.transferred",
        "call.ended",
        "call.disposition",
        "call.heartbeat",
        "transcript.segment",
        "agent.action",
        "crm.update",
    ):
        assert kinds[tag] > 0, tag
    assert kinds["transcript.segment"] > kinds["call.heartbeat"] > kinds["call.initiated"]


def test_generated_events_are_invisible_to_the_garbage_collector(calls) -> None:
    # At speed-up 1 the simulator holds every call in progress pre-generated (~600k timed
    # events at 10,000 calls); tracked, each full collection over them paused it ~0.2 s.
    timed = [t for call in calls for t in call.events]
    assert timed
    assert not any(gc.is_tracked(t) or gc.is_tracked(t.event) for t in timed)
