"""What the conversation is about: customer intent, the phrases that signal escalation,
social-engineering urgency, churn, failed verification and QA moments, and the built-in
knowledge base that turns an intent into an agent-assist prompt.

Everything is phrase lists (data, below) matched on word boundaries in normalized text
(lowercase, no punctuation, apostrophes optional), so it works on speech-to-text output
and every result can be explained by the phrases that matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import msgspec

# --- intents: phrase -> weight (specific phrases weigh more than single words) -------------

INTENT_PHRASES: dict[str, dict[str, float]] = {
    "billing_dispute": {
        "overcharged": 3, "over charged": 3, "double charged": 3, "charged twice": 3,
        "charged me twice": 3, "wrong charge": 3, "dispute": 3, "dispute the charge": 4,
        "billing error": 3, "mistake on my bill": 3, "bill went up": 2, "bill is higher": 2,
        "higher than usual": 2, "higher than last month": 2, "extra charge": 2, "extra fee": 2,
        "late fee": 2, "hidden fee": 2, "refund": 2, "credit back": 2, "charge on my bill": 2,
        "price increase": 2, "promotional rate": 2, "promo": 1, "my bill": 1, "charged": 1,
        "charge": 1, "fee": 1, "fees": 1, "statement": 1, "invoice": 1, "discount": 1,
    },
    "cancellation": {
        "cancel": 2, "cancel my account": 4, "cancel my service": 4, "cancel my subscription": 4,
        "cancel the service": 3, "close my account": 4, "terminate": 2, "end my contract": 3,
        "switch providers": 3, "switching providers": 3, "switch to another provider": 3,
        "port my number": 3, "discontinue": 3, "stop my service": 3, "no longer need": 2,
        "don't want the service anymore": 3, "competitor": 2, "better offer": 2, "better deal": 2,
        "leaving": 1, "not renewing": 3,
    },
    "fraud_report": {
        "fraud": 4, "fraudulent": 4, "scam": 3, "scammed": 3, "stolen": 3, "identity theft": 4,
        "hacked": 3, "unauthorized": 3, "i didn't make": 3, "didn't authorize": 3,
        "don't recognize": 2, "someone used my card": 4, "someone used my account": 4,
        "lost my card": 3, "card was stolen": 4, "suspicious": 2, "phishing": 3, "compromised": 3,
    },
    "technical_support": {
        "not working": 3, "doesn't work": 3, "stopped working": 3, "won't turn on": 3,
        "keeps dropping": 3, "dropped calls": 3, "no signal": 3, "outage": 3, "slow internet": 3,
        "can't connect": 3, "cannot connect": 3, "error message": 3, "no service": 2,
        "internet": 1, "wifi": 2, "wi fi": 2, "router": 2, "modem": 2, "reboot": 2, "restart": 1,
        "reset": 1, "crashes": 2, "crashing": 2, "error": 1, "connection": 1, "slow": 1,
        "log in": 1, "login": 1, "password": 1, "set up": 1, "setup": 1,
    },
    "payment": {
        "make a payment": 4, "pay my bill": 4, "payment plan": 3, "payment arrangement": 3,
        "autopay": 3, "auto pay": 3, "payment method": 3, "update my card": 3,
        "pay the balance": 3, "card on file": 2, "due date": 2, "past due": 2, "pay off": 2,
        "payment": 2, "pay": 1, "balance": 1,
    },
    "address_change": {
        "change my address": 5, "update my address": 5, "change of address": 5,
        "address change": 5, "new address": 4, "i moved": 3, "we moved": 3, "relocating": 3,
        "mailing address": 3, "moving": 2, "moved": 2, "billing address": 2,
        "shipping address": 2, "address": 1,
    },
    "general_inquiry": {
        "question about": 1, "i was wondering": 1, "wondering": 1, "information": 1,
        "how do i": 1, "can you tell me": 1, "what are your hours": 2, "plan details": 1,
        "upgrade": 1,
    },
}
INTENTS = tuple(INTENT_PHRASES)
FALLBACK_INTENT = "general_inquiry"
#: Confidence reported when no phrase matched at all (the fallback is a guess).
NO_MATCH_CONFIDENCE = 0.25
#: Score mass of "none of the above": one single-word match gives confidence 0.5, several
#: specific phrases approach 1.
PRIOR_MASS = 1.0
#: Weight of each older segment relative to the next newer one.
RECENCY_DECAY = 0.85
#: A phrase preceded (at most two words between) by one of these does not count: "I don't want to cancel".
NEGATIONS = ("don't", "do not", "not", "never", "no")

# --- agent assist: intent -> next best action and knowledge article ------------------------

KNOWLEDGE_BASE: dict[str, dict[str, str]] = {
    "billing_dispute": {
        "next_best_action": "Review the last two statements with the customer and open a billing dispute for charges they do not recognize",
        "knowledge_title": "Disputing a charge",
        "knowledge_snippet": "Compare the current and previous statement line by line. Duplicate or incorrect charges can be credited up to $100 at agent level; larger amounts need a billing dispute case (resolution within 2 billing cycles).",
    },
    "cancellation": {
        "next_best_action": "Acknowledge, ask the reason for leaving, and present the retention offer before processing the cancellation",
        "knowledge_title": "Retention offers",
        "knowledge_snippet": "Eligible customers (12+ months, no retention offer in the last 6 months) can receive 20% off for 12 months or a free plan upgrade. Record the cancellation reason in the case even if the customer stays.",
    },
    "fraud_report": {
        "next_best_action": "Lock the account, verify identity with step-up authentication, and transfer to the fraud team",
        "knowledge_title": "Suspected fraud and account takeover",
        "knowledge_snippet": "Do not change contact details or payment methods during a fraud report. Lock the account, list the disputed transactions, and warm-transfer to the fraud queue; never read card or account numbers aloud.",
    },
    "technical_support": {
        "next_best_action": "Check the outage map for the customer's area, then run the remote line test and guided restart",
        "knowledge_title": "Connectivity troubleshooting",
        "knowledge_snippet": "1) Check for a known outage. 2) Run the remote line test. 3) Guide a restart of modem then router (wait 60 s). 4) If the test still fails, book a technician visit and offer a service credit.",
    },
    "payment": {
        "next_best_action": "Send a secure payment link instead of taking card details over the phone",
        "knowledge_title": "Taking a payment",
        "knowledge_snippet": "Use the secure payment link (SMS or email) so card numbers never enter the call recording. Customers past due can be offered a payment arrangement of up to 3 instalments.",
    },
    "address_change": {
        "next_best_action": "Verify identity first, then update the service and billing address and confirm by email",
        "knowledge_title": "Changing an address",
        "knowledge_snippet": "An address change requires a passed identity verification. Update service and billing addresses separately; a service move may need a new installation date. A confirmation is sent to the old and new email on file.",
    },
    "general_inquiry": {
        "next_best_action": "Ask an open question to find the reason for the call and search the knowledge base",
        "knowledge_title": "Handling general questions",
        "knowledge_snippet": "Confirm the reason for the call in the customer's words, check the account summary, and use knowledge search. Offer the self-service app for plan details and opening hours.",
    },
}

# --- phrase detectors: reasons a signal fired -------------------------------------------

ESCALATION_PHRASES = (
    "supervisor", "manager", "escalate", "speak to someone else", "speak to someone in charge",
    "cancel my account", "this is ridiculous", "ridiculous", "unacceptable", "absurd", "lawyer",
    "attorney", "sue", "legal action", "complaint", "file a complaint", "better business bureau",
    "bbb", "report you", "worst service", "fed up", "sick of", "waste of time",
    "third time calling", "called multiple times", "nobody helps", "no one helps",
)
URGENCY_PHRASES = (
    "right now", "immediately", "asap", "as soon as possible", "urgent", "urgently", "emergency",
    "i'm traveling", "i'm travelling", "out of the country", "overseas", "my boss needs",
    "my boss", "the ceo", "just change it", "just do it", "just update it", "skip the verification",
    "skip verification", "don't have time", "no time for this", "hurry", "quickly",
    "before the deadline", "wire transfer", "gift cards", "locked out", "bypass",
)
CANCELLATION_PHRASES = (
    "cancel", "cancel my account", "cancel my service", "cancel my subscription", "close my account",
    "terminate", "discontinue", "switch providers", "switching providers", "switch to another provider",
    "port my number", "won't renew", "not renewing", "going with another company",
    "competitor", "better offer", "better deal", "leaving",
)
DISSATISFACTION_PHRASES = (
    "unhappy", "not happy", "disappointed", "frustrated", "frustrating", "terrible", "awful",
    "horrible", "worst", "useless", "unacceptable", "ridiculous", "fed up", "waste of money",
    "too expensive", "overpriced", "not worth", "poor service", "bad service", "keeps happening",
    "never works", "sick of",
)
VERIFICATION_FAILURE_PHRASES = (
    "that's not my", "i don't remember", "i don't know my", "can't remember", "cannot remember",
    "doesn't match", "does not match", "unable to verify", "couldn't verify", "could not verify",
    "failed verification", "i don't have that", "that's incorrect", "that is incorrect",
    "that's not right", "not the account holder", "my husband's account", "my wife's account",
    "my mom's account", "my dad's account",
)
GREETING_PHRASES = (
    "thank you for calling", "thanks for calling", "welcome to", "my name is", "how can i help",
    "how may i help", "how can i assist", "good morning", "good afternoon", "good evening",
    "hello", "hi",
)
CLOSING_PHRASES = (
    "is there anything else", "anything else i can help", "thank you for calling",
    "thanks for calling", "have a great day", "have a good day", "have a nice day",
    "have a great evening", "goodbye", "bye", "take care", "thanks for your patience",
    "appreciate your patience",
)
DISCLOSURE_PHRASES = (
    "this call may be recorded", "call may be recorded", "call may be monitored",
    "may be monitored or recorded", "monitored or recorded", "monitored and recorded",
    "recorded for quality", "recorded for quality and training", "for quality assurance",
    "for training purposes", "this call is being recorded", "call is recorded", "calls are recorded",
)

# --- normalization and matching ---------------------------------------------------------

_NON_WORD_RE = re.compile(r"[^a-z0-9' ]+")
_SPACES_RE = re.compile(r"\s+")


@lru_cache(maxsize=2048)
def normalize(text: str) -> str:
    """Lowercase, curly apostrophes straightened, punctuation to spaces, spaces collapsed."""
    lowered = text.lower().replace("\u2019", "'")
    return _SPACES_RE.sub(" ", _NON_WORD_RE.sub(" ", lowered)).strip()


class _PhraseMatcher:
    """One compiled word-boundary regex over a phrase list; apostrophes are optional."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self.canonical: dict[str, str] = {}
        for phrase in phrases:
            key = normalize(phrase)
            self.canonical.setdefault(key, phrase)
            self.canonical.setdefault(key.replace("'", ""), phrase)
        alternation = "|".join(re.escape(p) for p in sorted(self.canonical, key=len, reverse=True))
        self.regex = re.compile(rf"(?<![a-z0-9'])(?:{alternation})(?![a-z0-9'])")

    def matches(self, normalized: str) -> Iterable[re.Match[str]]:
        return self.regex.finditer(normalized)

    def reasons(self, text: str) -> list[str]:
        """The canonical phrases found in ``text``, in order of first appearance."""
        found: list[str] = []
        for m in self.regex.finditer(normalize(text)):
            phrase = self.canonical[m.group()]
            if phrase not in found:
                found.append(phrase)
        return found


_NEGATION_RE = re.compile(
    r"(?:^|\s)(?:" + "|".join(re.escape(n) for n in {*NEGATIONS, *(n.replace("'", "") for n in NEGATIONS)})
    + r")(?:\s+\S+){0,2}\s*$"
)
_INTENT_MATCHER = _PhraseMatcher(p for phrases in INTENT_PHRASES.values() for p in phrases)
_INTENT_WEIGHTS: dict[str, list[tuple[str, float]]] = {}
for _intent, _phrases in INTENT_PHRASES.items():
    for _phrase, _weight in _phrases.items():
        _INTENT_WEIGHTS.setdefault(_phrase, []).append((_intent, float(_weight)))

_ESCALATION = _PhraseMatcher(ESCALATION_PHRASES)
_URGENCY = _PhraseMatcher(URGENCY_PHRASES)
_CANCELLATION = _PhraseMatcher(CANCELLATION_PHRASES)
_DISSATISFACTION = _PhraseMatcher(DISSATISFACTION_PHRASES)
_VERIFICATION_FAILURE = _PhraseMatcher(VERIFICATION_FAILURE_PHRASES)
_GREETING = _PhraseMatcher(GREETING_PHRASES)
_CLOSING = _PhraseMatcher(CLOSING_PHRASES)
_DISCLOSURE = _PhraseMatcher(DISCLOSURE_PHRASES)


# --- intent ----------------------------------------------------------------------------

class IntentEvidence(msgspec.Struct, frozen=True):
    """One phrase that counted towards an intent, with its recency-weighted contribution."""

    intent: str
    phrase: str
    weight: float
    segment_index: int


class IntentResult(msgspec.Struct, frozen=True):
    """The detected intent, its confidence, each intent's score and the evidence behind it."""

    intent: str
    confidence: float
    scores: dict[str, float]
    evidence: list[IntentEvidence]


def explain_intent(texts: Sequence[str]) -> IntentResult:
    """Score every intent over a customer's recent final segments (oldest first).

    Each matched phrase adds its weight to its intent(s), scaled by ``RECENCY_DECAY`` per
    segment of age; a phrase negated just before ("I don't want to cancel") adds nothing.
    Confidence is the top score over (all scores + ``PRIOR_MASS``).
    """
    scores = dict.fromkeys(INTENTS, 0.0)
    evidence: list[IntentEvidence] = []
    newest = len(texts) - 1
    for index, text in enumerate(texts):
        normalized = normalize(text)
        recency = RECENCY_DECAY ** (newest - index)
        for m in _INTENT_MATCHER.matches(normalized):
            if _NEGATION_RE.search(normalized, 0, m.start()):
                continue
            phrase = _INTENT_MATCHER.canonical[m.group()]
            for intent, weight in _INTENT_WEIGHTS[phrase]:
                contribution = weight * recency
                scores[intent] += contribution
                evidence.append(IntentEvidence(intent, phrase, round(contribution, 4), index))
    total = sum(scores.values())
    if total == 0:
        return IntentResult(FALLBACK_INTENT, NO_MATCH_CONFIDENCE, scores, evidence)
    # ties go to the intent listed first in INTENT_PHRASES (max keeps the first maximum)
    intent = max(scores, key=scores.__getitem__)
    confidence = min(1.0, scores[intent] / (total + PRIOR_MASS))
    return IntentResult(intent, round(confidence, 4), scores, evidence)


def detect_intent(texts: Sequence[str]) -> tuple[str, float]:
    """The customer's intent over their recent final segments: ``(intent, confidence in [0, 1])``."""
    result = explain_intent(texts)
    return result.intent, result.confidence


# --- agent assist -----------------------------------------------------------------------

class AssistCard(msgspec.Struct, frozen=True):
    """What the agent should do next for an intent, and the article that explains it."""

    intent: str
    next_best_action: str
    knowledge_title: str
    knowledge_snippet: str


def assist_for(intent: str) -> AssistCard:
    """The knowledge-base entry for ``intent`` (the general one for an unknown intent)."""
    key = intent if intent in KNOWLEDGE_BASE else FALLBACK_INTENT
    return AssistCard(intent=key, **KNOWLEDGE_BASE[key])


# --- phrase detectors -------------------------------------------------------------------

def escalation_phrases(text: str) -> list[str]:
    """Phrases asking for escalation or threatening it ("supervisor", "lawyer", "complaint")."""
    return _ESCALATION.reasons(text)


def urgency_phrases(text: str) -> list[str]:
    """Social-engineering pressure ("right now", "I'm traveling", "just change it")."""
    return _URGENCY.reasons(text)


def cancellation_intent(text: str) -> list[str]:
    """Phrases saying the customer wants to leave; negated ones ("not cancelling") excluded."""
    normalized = normalize(text)
    found: list[str] = []
    for m in _CANCELLATION.matches(normalized):
        phrase = _CANCELLATION.canonical[m.group()]
        if not _NEGATION_RE.search(normalized, 0, m.start()) and phrase not in found:
            found.append(phrase)
    return found


def dissatisfaction(text: str) -> list[str]:
    """Phrases of dissatisfaction that raise churn risk ("disappointed", "too expensive")."""
    return _DISSATISFACTION.reasons(text)


def verification_failure(text: str) -> list[str]:
    """Phrases showing identity verification going wrong ("I don't remember", "doesn't match")."""
    return _VERIFICATION_FAILURE.reasons(text)


def greeting(text: str) -> list[str]:
    """Greeting phrases, for the QA greeting check."""
    return _GREETING.reasons(text)


def closing(text: str) -> list[str]:
    """Closing phrases, for the QA closing check."""
    return _CLOSING.reasons(text)


def disclosure(text: str) -> list[str]:
    """Recording-disclosure phrases ("this call may be recorded"), for the QA disclosure check."""
    return _DISCLOSURE.reasons(text)
