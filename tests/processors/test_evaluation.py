"""Scoring processors against ground truth: coverage rule, false positives, fragments, call chains."""

from callstream.contract.events import RedactionSpan
from callstream.processors.evaluation import score_calls, score_redaction
from callstream.simulate.groundtruth import CallTruth, PiiSpan, SegmentTruth


def truth(segments: list[SegmentTruth], contacts=("c1",), is_fraud=False) -> CallTruth:
    return CallTruth(
        call_index=0, contact_id=contacts[0], linked_contact_ids=list(contacts), customer_id="u", intent="payment",
        caller_number="1", number_on_file="1", caller_id_mismatch=False, is_fraud=is_fraud, fraud_pattern=None,
        fraud_signals=[], should_escalate=False, escalation_reasons=[], escalation_signals=[], sentiment_arc="calm",
        legs=[], segments=segments, disorder=[],
    )


def seg(sid: str, pii: list[PiiSpan], final: bool = True) -> SegmentTruth:
    return SegmentTruth(segment_id=sid, contact_id="c1", participant="customer", is_final=final, final_segment_id=None, sentiment=None, pii=pii)


def pii(start: int, end: int, kind: str, spoken=False, fragment=False) -> PiiSpan:
    return PiiSpan(start=start, end=end, entity_type=kind, spoken=spoken, text="x" * (end - start), value="", fragment=fragment)


def test_redaction_scoring_counts_coverage_type_and_extra_spans() -> None:
    calls = [truth([
        seg("s1", [pii(0, 19, "CARD_NUMBER"), pii(30, 42, "PHONE_NUMBER", spoken=True)]),
        seg("s2", [pii(0, 10, "EMAIL"), pii(20, 30, "CARD_NUMBER", fragment=True)]),
        seg("s3", [pii(0, 5, "PERSON_NAME")], final=False),  # partials are not scored
        seg("s4", [pii(0, 5, "PERSON_NAME")]),  # never arrived
    ])]
    predicted = {
        "s1": [RedactionSpan(0, 19, "CARD_NUMBER"), RedactionSpan(30, 35, "PHONE_NUMBER"), RedactionSpan(50, 55, "PERSON_NAME")],
        "s2": [RedactionSpan(0, 10, "PHONE_NUMBER"), RedactionSpan(20, 30, "CARD_NUMBER")],
    }
    report = score_redaction(calls, predicted)
    assert report.by_entity["CARD_NUMBER"].as_dict()["recall"] == 1.0
    assert report.by_entity["PHONE_NUMBER"].false_negatives == 1  # 5 of 12 characters is not caught
    assert report.by_entity["PHONE_NUMBER"].false_positives == 1  # the e-mail called a phone number
    assert report.by_entity["EMAIL"].recall == 0.0
    assert report.by_entity["PERSON_NAME"].false_positives == 1
    assert report.by_form["PHONE_NUMBER/spoken"].recall == 0.0
    assert (report.fragments, report.fragments_caught) == (1, 1)
    assert (report.segments_scored, report.segments_missing) == (2, 1)


def test_call_detection_counts_a_chain_once() -> None:
    calls = [truth([], contacts=("a1", "a2"), is_fraud=True), truth([], contacts=("b1",)), truth([], contacts=("c1",), is_fraud=True)]
    score = score_calls(calls, {"a2", "b1"}, "is_fraud")
    assert (score.true_positives, score.false_positives, score.false_negatives) == (1, 1, 1)
