"""Intent detection, the agent-assist knowledge base, and the phrase detectors."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from callstream.contract.events import AssistPrompt
from callstream.detectors import language
from callstream.detectors.language import (
    INTENTS,
    KNOWLEDGE_BASE,
    NO_MATCH_CONFIDENCE,
    assist_for,
    cancellation_intent,
    closing,
    detect_intent,
    disclosure,
    dissatisfaction,
    escalation_phrases,
    explain_intent,
    greeting,
    normalize,
    urgency_phrases,
    verification_failure,
)

# Recent customer final segments (oldest first) -> the intent a human would label.
LABELLED_CONVERSATIONS: list[tuple[list[str], str]] = [
    (["hi I was charged twice on my bill this month", "can you refund the extra charge"], "billing_dispute"),
    (["why did my bill go up", "there's a late fee I never agreed to, I want to dispute it"], "billing_dispute"),
    (["i think i was overcharged", "the statement shows a fee i dont understand"], "billing_dispute"),
    (["my promotional rate ended and now my bill is higher than usual"], "billing_dispute"),
    (["I want to cancel my service", "your competitor has a better deal"], "cancellation"),
    (["please close my account", "i'm switching providers next week"], "cancellation"),
    (["how do I port my number out", "I'm not renewing my contract"], "cancellation"),
    (["i no longer need the second line so discontinue it"], "cancellation"),
    (["someone used my card", "I didn't make these purchases"], "fraud_report"),
    (["my card was stolen yesterday", "there are transactions I don't recognize"], "fraud_report"),
    (["i think my account was hacked", "I got a phishing email too"], "fraud_report"),
    (["there's a suspicious unauthorized login on my account"], "fraud_report"),
    (["my internet is not working again", "the router keeps restarting"], "technical_support"),
    (["I can't connect to wifi", "I already did a reboot of the modem"], "technical_support"),
    (["the app keeps crashing with an error message"], "technical_support"),
    (["is there an outage, I have no signal at all"], "technical_support"),
    (["I want to make a payment", "whatever the balance is"], "payment"),
    (["can I set up autopay with a new payment method"], "payment"),
    (["I'm past due, can we do a payment plan"], "payment"),
    (["I need to update my card on file so I can pay my bill"], "payment"),
    (["I moved last week", "so I need to update my address"], "address_change"),
    (["we're relocating, what's the process for a change of address"], "address_change"),
    (["please use my new address for the mailing address"], "address_change"),
    (["i'm moving next month and need to change my address"], "address_change"),
    (["I was wondering about the plan details"], "general_inquiry"),
    (["can you tell me what are your hours"], "general_inquiry"),
    (["hello", "yes hi"], "general_inquiry"),
    (["I don't want to cancel, I have a question about my plan"], "general_inquiry"),
]


def test_labelled_conversations_accuracy():
    wrong = []
    for texts, label in LABELLED_CONVERSATIONS:
        intent, confidence = detect_intent(texts)
        assert 0.0 <= confidence <= 1.0
        if intent != label:
            wrong.append((texts, label, intent))
    per_label = Counter(label for _, label in LABELLED_CONVERSATIONS)
    assert set(per_label) == set(INTENTS)
    accuracy = 1 - len(wrong) / len(LABELLED_CONVERSATIONS)
    print(f"\nintent accuracy on {len(LABELLED_CONVERSATIONS)} labelled conversations: {accuracy:.3f}")
    assert accuracy >= 0.95, wrong


def test_evidence_explains_the_score():
    result = explain_intent(["I was charged twice", "and there is a late fee"])
    assert result.intent == "billing_dispute"
    phrases = [(e.phrase, e.segment_index) for e in result.evidence]
    assert phrases == [("charged twice", 0), ("late fee", 1)]
    # older segment weighs RECENCY_DECAY less: 3 * 0.85 + 2
    assert result.scores["billing_dispute"] == pytest.approx(3 * language.RECENCY_DECAY + 2)
    assert result.confidence == pytest.approx(result.scores["billing_dispute"] / (result.scores["billing_dispute"] + 1.0), abs=1e-4)


def test_newer_segments_weigh_more():
    assert detect_intent(["I want to cancel", "actually I just need to make a payment"])[0] == "payment"
    assert detect_intent(["I need to make a payment", "actually I want to cancel my service"])[0] == "cancellation"


def test_negated_phrases_do_not_count():
    result = explain_intent(["i'm not going to cancel, i'm not leaving"])
    assert result.scores["cancellation"] == 0.0
    assert detect_intent(["no, I want to cancel"])[0] == "cancellation"


def test_no_match_falls_back_to_general_inquiry_with_low_confidence():
    assert detect_intent([]) == ("general_inquiry", NO_MATCH_CONFIDENCE)
    assert detect_intent(["okay", "sure"]) == ("general_inquiry", NO_MATCH_CONFIDENCE)


def test_more_evidence_means_more_confidence():
    _, weak = detect_intent(["there's a charge"])
    _, strong = detect_intent(["I was double charged", "I want to dispute the charge and get a refund"])
    assert weak < strong and strong > 0.8


def test_every_intent_has_a_knowledge_entry_that_fits_an_assist_prompt():
    assert set(KNOWLEDGE_BASE) == set(INTENTS)
    for intent in INTENTS:
        card = assist_for(intent)
        assert card.intent == intent and card.next_best_action and card.knowledge_title and card.knowledge_snippet
        AssistPrompt(
            event_id="e", contact_id="c", event_time_ms=1, produced_at_ms=1, producer="test",
            intent=card.intent, confidence=0.9, next_best_action=card.next_best_action,
            knowledge_title=card.knowledge_title, knowledge_snippet=card.knowledge_snippet,
        )


def test_unknown_intent_gets_the_general_entry():
    assert assist_for("time_travel").intent == "general_inquiry"


@pytest.mark.parametrize(
    ("detector", "text", "expected"),
    [
        (escalation_phrases, "This is RIDICULOUS, get me your supervisor!", ["this is ridiculous", "supervisor"]),
        (escalation_phrases, "i'm going to call my lawyer and file a complaint", ["lawyer", "file a complaint"]),
        (escalation_phrases, "i want to cancel my account", ["cancel my account"]),
        (urgency_phrases, "im traveling and my boss needs this right now, just change it",
         ["i'm traveling", "my boss needs", "right now", "just change it"]),
        (urgency_phrases, "I need it done immediately, I don't have time for verification",
         ["immediately", "don't have time"]),
        (cancellation_intent, "I want to switch providers and port my number", ["switch providers", "port my number"]),
        (dissatisfaction, "honestly I'm disappointed, it's too expensive and not worth it",
         ["disappointed", "too expensive", "not worth"]),
        (verification_failure, "i dont remember, thats not my old address", ["i don't remember", "that's not my"]),
        (greeting, "Good morning, thank you for calling Acme, how can I help?",
         ["good morning", "thank you for calling", "how can i help"]),
        (closing, "Is there anything else? Great, have a great day, bye!",
         ["is there anything else", "have a great day", "bye"]),
        (disclosure, "Before we begin, this call may be recorded for quality and training purposes.",
         ["this call may be recorded"]),
        (disclosure, "calls are recorded for quality", ["calls are recorded"]),
    ],
)
def test_detectors_report_matched_phrases(detector, text, expected):
    assert detector(text) == expected


@pytest.mark.parametrize(
    ("detector", "text"),
    [
        (escalation_phrases, "I have an issue with the management portal"),  # no "sue", no "manager"
        (urgency_phrases, "no rush, whenever you get a chance"),
        (cancellation_intent, "I'm not going to cancel"),
        (cancellation_intent, "I never want to cancel, I love it"),
        (dissatisfaction, "that was great, thank you"),
        (verification_failure, "yes that's my address and it matches"),
        (greeting, "this is the thing"),  # "hi" only as a word
        (closing, "we need to bypass the modem"),  # "bye" only as a word
        (disclosure, "I recorded the game last night"),
    ],
)
def test_detectors_ignore_look_alikes(detector, text):
    assert detector(text) == []


def test_detectors_repeat_a_reason_once():
    assert escalation_phrases("supervisor. supervisor! SUPERVISOR") == ["supervisor"]


def test_normalize_handles_case_punctuation_and_curly_apostrophes():
    assert normalize("I\u2019M   Traveling!!  Right-now.") == "i'm traveling right now"


def test_detectors_are_fast():
    texts = ["this is ridiculous I want a supervisor right now, I'm traveling",
             "thank you for calling how can I help you today"] * 500
    start = time.perf_counter()
    for i, text in enumerate(texts):
        escalation_phrases(text + str(i))  # defeat the normalize cache
        detect_intent([text])
    rate = len(texts) / (time.perf_counter() - start)
    print(f"\nescalation_phrases + detect_intent: {rate:,.0f} segments/s")
    assert rate > 2_000
