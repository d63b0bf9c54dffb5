"""One call, start to finish: lifecycle events, transcript segments, agent actions and CRM
updates, with the ground truth of what happened in it.

Everything is drawn from one ``random.Random`` per call, so a call depends only on the run's
seed and its index: the same seed gives the same calls, whatever the speed-up or Kafka does.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, NamedTuple

import msgspec

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
    CrmUpdate,
    Envelope,
    TranscriptSegment,
)
from callstream.errors import SimulationError
from callstream.simulate import lines as L
from callstream.simulate import speech
from callstream.simulate.customers import Customer, agent_id, agent_name, e164, make_customer, random_phone
from callstream.simulate.groundtruth import (
    CallTruth,
    Disorder,
    LegTruth,
    PiiSpan,
    SegmentTruth,
    Signal,
)

PRODUCER = "simulator"
DIALED_NUMBER = "+18005550100"

INTENTS = ("billing_dispute", "cancellation", "fraud_report", "technical_support", "payment", "address_change")
QUEUES = ("billing", "retention", "fraud", "tech_support", "payments", "general")
QUEUE_FOR_INTENT = {
    "billing_dispute": "billing",
    "cancellation": "retention",
    "fraud_report": "fraud",
    "technical_support": "tech_support",
    "payment": "payments",
    "address_change": "general",
}
DEFAULT_INTENT_MIX = (
    ("billing_dispute", 0.22),
    ("cancellation", 0.12),
    ("fraud_report", 0.08),
    ("technical_support", 0.26),
    ("payment", 0.19),
    ("address_change", 0.13),
)
SENTIMENT_ARCS = ("calm", "frustrated", "angry_then_relieved", "angry")
#: the customer's mood in each phase of the call, per arc
ARC_MOODS = {
    "calm": {"opening": "calm", "body": "calm", "resolution": "calm", "closing": "calm"},
    "frustrated": {"opening": "frustrated", "body": "frustrated", "resolution": "calm", "closing": "calm"},
    "angry_then_relieved": {"opening": "angry", "body": "angry", "resolution": "relieved", "closing": "relieved"},
    "angry": {"opening": "angry", "body": "angry", "resolution": "angry", "closing": "angry"},
}
#: a hold longer than this should raise an escalation
LONG_HOLD_MS = 120_000
ACCOUNT_CHANGES = (
    "update_address",
    "update_phone",
    "update_email",
    "issue_refund",
    "apply_credit",
    "cancel_service",
    "block_card",
    "order_replacement_card",
)


@dataclass(frozen=True)
class ConversationProfile:
    """How the population of calls looks: the mix of intents and how often each
    behavior (fraud, transfers, QA lapses, feed disorder) occurs. Shares are 0..1."""

    intent_mix: tuple[tuple[str, float], ...] = DEFAULT_INTENT_MIX
    fraud_share: float = 0.05
    transfer_share: float = 0.10
    disorder_share: float = 0.01
    heartbeat_interval_s: float = 10.0
    omit_greeting_share: float = 0.05
    omit_disclosure_share: float = 0.10
    omit_closing_share: float = 0.08
    skip_verification_share: float = 0.05
    abrupt_hold_share: float = 0.15
    long_hold_share: float = 0.06
    spoken_number_share: float = 0.5  # numbers said in words rather than written by the STT

    def __post_init__(self) -> None:
        for name in (
            "fraud_share",
            "transfer_share",
            "disorder_share",
            "omit_greeting_share",
            "omit_disclosure_share",
            "omit_closing_share",
            "skip_verification_share",
            "abrupt_hold_share",
            "long_hold_share",
            "spoken_number_share",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SimulationError(f"{name} must be between 0 and 1, got {value!r}", "shares are fractions of calls")
        if self.disorder_share > 0.5:
            raise SimulationError(
                f"disorder_share {self.disorder_share} is above 0.5",
                "real feeds duplicate or reorder about 1% of segments",
            )
        if self.heartbeat_interval_s <= 0:
            raise SimulationError(
                f"heartbeat interval must be positive, got {self.heartbeat_interval_s!r}", "pass e.g. 10 seconds"
            )
        unknown = [name for name, _ in self.intent_mix if name not in QUEUE_FOR_INTENT]
        if unknown or not self.intent_mix:
            raise SimulationError(f"unknown intents {unknown} in intent_mix", f"use {', '.join(INTENTS)}")
        if any(w < 0 for _, w in self.intent_mix) or sum(w for _, w in self.intent_mix) <= 0:
            raise SimulationError("intent_mix weights must be >= 0 with a positive sum", "e.g. (('payment', 1.0),)")


class TimedEvent(msgspec.Struct, frozen=True, gc=False):
    """An event and the simulated moment (epoch ms) it is delivered; a delayed transcript
    segment is delivered after its ``event_time_ms``.

    Not tracked by the garbage collector (nor are events): at speed-up 1 the simulator holds
    every call in progress pre-generated, ~600k of these at 10,000 calls, and full
    collections over them paused it up to 211 ms at a time."""

    release_ms: int
    event: Envelope


class GeneratedCall(NamedTuple):
    call_index: int
    events: list[TimedEvent]  # sorted by release_ms
    truth: CallTruth


def call_rng(seed: int, index: int) -> random.Random:
    """The random stream of call ``index`` in a run seeded ``seed``."""
    return random.Random(f"callstream-call/{seed}/{index}")


def generate_call(index: int, arrival_ms: int, seed: int, profile: ConversationProfile) -> GeneratedCall:
    """Call number ``index`` of a run, arriving at ``arrival_ms`` (epoch ms)."""
    return _CallWriter(index, arrival_ms, call_rng(seed, index), profile).write()


# --- internals --------------------------------------------------------------------------


@dataclass
class _Leg:
    """One contact: the events and truth of a single agent's part of the call."""

    contact_id: str
    queue: str
    agent_id: str
    initiated_ms: int
    now: int
    events: list[TimedEvent] = field(default_factory=list)
    segments: list[SegmentTruth] = field(default_factory=list)
    states: list[tuple[int, str]] = field(default_factory=list)  # (ms, heartbeat state)
    sequence: int = 0
    connected_ms: int = 0
    hold_ms: int = 0
    greeting: bool = False
    disclosure: bool = False
    closing: bool | None = None
    holds_asked: list[bool] = field(default_factory=list)
    verified: bool = False
    changed_before_verified: bool = False
    changed: bool = False
    disposition: str = "resolved"
    ended_ms: int = 0


class _CallWriter:
    """Writes one call as a script: each method appends what happens next to the current leg."""

    def __init__(self, index: int, arrival_ms: int, rng: random.Random, profile: ConversationProfile) -> None:
        self.index = index
        self.rng = rng
        self.profile = profile
        self.arrival_ms = arrival_ms
        self.customer: Customer = make_customer(rng)
        self.is_fraud = rng.random() < profile.fraud_share
        names, weights = zip(*profile.intent_mix, strict=True)
        self.intent = "address_change" if self.is_fraud else rng.choices(names, weights)[0]
        self.arc = self._pick_arc()
        self.phase = "opening"
        mismatch = rng.random() < (0.85 if self.is_fraud else 0.08)
        self.caller_number = random_phone(rng) if mismatch else self.customer.phone
        self.fraud_signals: list[Signal] = []
        self.escalation_signals: list[Signal] = []
        self.disorder: list[Disorder] = []
        self.legs: list[_Leg] = []
        self.wants_supervisor = rng.random() < {"angry": 0.6, "angry_then_relieved": 0.5, "frustrated": 0.1}.get(
            self.arc, 0.0
        )
        self.long_hold = rng.random() < profile.long_hold_share
        self.verified_at: int | None = None
        hour = dt.datetime.fromtimestamp(arrival_ms / 1000, tz=dt.UTC).hour
        self.daypart = "morning" if hour < 12 else "afternoon" if hour < 17 else "evening"

    @cached_property
    def new_details(self) -> Customer:
        """Where a moving (or impersonating) caller wants things sent; made on first use."""
        return make_customer(self.rng)

    def _pick_arc(self) -> str:
        weights = {
            "billing_dispute": (4, 3, 2, 1),
            "cancellation": (3, 3, 2, 2),
            "fraud_report": (4, 3, 2, 1),
            "technical_support": (4, 3, 2, 1),
            "payment": (7, 2, 1, 0.5),
            "address_change": (8, 1, 0.5, 0.3),
        }[self.intent]
        if self.is_fraud:
            weights = (6, 2, 0, 0)
        return self.rng.choices(SENTIMENT_ARCS, weights)[0]

    # ------------------------------------------------------------------ the call's story
    def write(self) -> GeneratedCall:
        rng = self.rng
        home_queue = QUEUE_FOR_INTENT[self.intent]
        misrouted = rng.random() < self.profile.transfer_share
        first_queue = ("billing" if home_queue == "general" else "general") if misrouted else home_queue
        leg = self._start_leg(self.arrival_ms, first_queue, previous=None)
        if self.caller_number != self.customer.phone:
            self.fraud_signals.append(Signal("caller_id_mismatch", leg.contact_id, leg.initiated_ms))
        self._greet(leg)
        self._opening(leg)
        if misrouted:
            leg = self._transfer(leg, home_queue, reason="misrouted")
            self._greet(leg, transferred=True)
        if not self._verify(leg):
            leg = self._fraud_hand_off(leg)
        else:
            self.phase = "body"
            self._body(leg)
            self._close(leg)
        self._end_leg(
            leg,
            ended_by="customer" if leg.closing is False and self.arc == "angry" else rng.choice(("customer", "agent")),
        )
        return self._finish()

    # ------------------------------------------------------------------ legs and lifecycle
    def _start_leg(self, at_ms: int, queue: str, previous: _Leg | None, contact_id: str | None = None) -> _Leg:
        rng = self.rng
        contact_id = contact_id or self._uuid()
        leg = _Leg(contact_id=contact_id, queue=queue, agent_id=agent_id(queue, rng), initiated_ms=at_ms, now=at_ms)
        initial = self.legs[0].contact_id if self.legs else None
        recognized = self.caller_number == self.customer.phone or previous is not None
        self._emit(
            leg,
            CallInitiated,
            at_ms,
            caller_number=e164(self.caller_number),
            dialed_number=DIALED_NUMBER,
            customer_id=self.customer.customer_id if recognized else None,
            previous_contact_id=previous.contact_id if previous else None,
            initial_contact_id=initial,
        )
        self.legs.append(leg)
        leg.states.append((at_ms, "queued"))
        # IVR menu (or the transfer's hand-over), then the queue
        leg.now += rng.randint(1_500, 4_000) if previous else rng.randint(4_000, 20_000)
        priority = 2 if queue == "fraud" else 1 if self.arc == "angry" else 0
        self._emit(
            leg,
            CallQueued,
            leg.now,
            queue=queue,
            skills=[queue, "en"],
            priority=priority,
            queue_depth=rng.randint(0, 12),
        )
        queued_ms = leg.now
        leg.now += min(int(rng.expovariate(1 / 25_000)), 240_000)
        leg.connected_ms = leg.now
        self._emit(leg, CallConnected, leg.now, agent_id=leg.agent_id, queue=queue, wait_ms=leg.now - queued_ms)
        leg.states.append((leg.now, "connected"))
        leg.now += rng.randint(300, 1_200)
        return leg

    def _transfer(self, leg: _Leg, to_queue: str, reason: str) -> _Leg:
        self._say(leg, "agent", L.TRANSFER_ANNOUNCE, team=L.TEAM_NAMES[to_queue])
        new_contact = self._uuid()
        initial = self.legs[0].contact_id
        self._emit(
            leg,
            CallTransferred,
            leg.now,
            from_agent_id=leg.agent_id,
            to_queue=to_queue,
            new_contact_id=new_contact,
            initial_contact_id=initial,
            reason=reason,
        )
        leg.disposition = "transferred"
        leg.closing = None  # a transferred contact has no closing to check
        at = leg.now
        self._end_leg(leg, ended_by="transfer")
        return self._start_leg(at, to_queue, previous=leg, contact_id=new_contact)

    def _end_leg(self, leg: _Leg, ended_by: str) -> None:
        rng = self.rng
        leg.ended_ms = leg.now
        self._emit(
            leg,
            CallEnded,
            leg.now,
            ended_by=ended_by,
            duration_ms=leg.now - leg.initiated_ms,
            talk_ms=max(0, leg.now - leg.connected_ms - leg.hold_ms),
            hold_ms=leg.hold_ms,
            agent_id=leg.agent_id,
            queue=leg.queue,
        )
        self._emit(
            leg,
            CallDisposition,
            leg.now + rng.randint(3_000, 30_000),
            agent_id=leg.agent_id,
            disposition=leg.disposition,
            intent=self.intent,
            notes=f"{self.intent.replace('_', ' ')}: {leg.disposition}",
        )
        self._heartbeats(leg)
        self._disorder(leg)

    def _heartbeats(self, leg: _Leg) -> None:
        interval = int(self.profile.heartbeat_interval_s * 1000)
        states = leg.states
        i, seq = 0, 0
        t = leg.initiated_ms + interval
        while t < leg.ended_ms:
            while i + 1 < len(states) and states[i + 1][0] <= t:
                i += 1
            seq += 1
            self._emit(leg, CallHeartbeat, t, state=states[i][1], sequence=seq)
            t += interval

    def _disorder(self, leg: _Leg) -> None:
        """Re-send or delay a few segments, as speech-to-text feeds do; every copy still
        arrives before the contact's ``call.ended``."""
        share = self.profile.disorder_share
        if share <= 0:
            return
        rng = self.rng
        segment_positions = [i for i, te in enumerate(leg.events) if isinstance(te.event, TranscriptSegment)]
        segment_positions.sort(key=lambda i: leg.events[i].release_ms)
        extra: list[TimedEvent] = []
        for n, pos in enumerate(segment_positions):
            if rng.random() >= share:
                continue
            timed = leg.events[pos]
            seg = timed.event
            if not isinstance(seg, TranscriptSegment):  # positions were chosen as segments
                continue
            kind: Literal["duplicate", "reorder"]
            if rng.random() < 0.5 or n + 1 == len(segment_positions):
                again = min(timed.release_ms + rng.randint(50, 1_500), leg.ended_ms - 1)
                extra.append(
                    TimedEvent(again, msgspec.structs.replace(seg, event_id=self._uuid(), produced_at_ms=again))
                )
                kind = "duplicate"
            else:
                following = leg.events[segment_positions[n + 1]].release_ms
                late = min(following + rng.randint(20, 400), leg.ended_ms - 1)
                leg.events[pos] = TimedEvent(late, msgspec.structs.replace(seg, produced_at_ms=late))
                kind = "reorder"
            self.disorder.append(Disorder(seg.segment_id, leg.contact_id, kind))
        leg.events.extend(extra)

    # ------------------------------------------------------------------ conversation parts
    def _greet(self, leg: _Leg, transferred: bool = False) -> None:
        rng = self.rng
        name = speech.person_name(agent_name(leg.agent_id))
        if rng.random() < self.profile.omit_greeting_share:
            self._say(leg, "agent", L.NO_GREETING)
        elif transferred:
            self._say(leg, "agent", L.TRANSFER_GREETINGS, agent=name, team=L.TEAM_NAMES[leg.queue])
            leg.greeting = True
        else:
            self._say(leg, "agent", L.GREETINGS, agent=name, company=L.COMPANY, daypart=self.daypart)
            leg.greeting = True
        if rng.random() >= self.profile.omit_disclosure_share:
            self._say(leg, "agent", L.DISCLOSURES)
            self._action(leg, "read_disclosure")
            leg.disclosure = True

    def _opening(self, leg: _Leg) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            self._say(leg, "customer", L.NAME_INTROS, name=speech.person_name(self.customer.full_name))
        self._say(leg, "customer", L.OPENINGS[self.intent][self._mood()], amount=self._amount())
        if self.is_fraud and rng.random() < 0.5:
            self._urgency(leg)
        if self._mood() in ("frustrated", "angry"):
            self._say(leg, "agent", L.EMPATHY)

    def _verify(self, leg: _Leg) -> bool:
        """Identity verification; False when the caller never passes (the fraud path)."""
        rng = self.rng
        if not self.is_fraud and rng.random() < self.profile.skip_verification_share:
            return True  # the agent forgets to verify: QA identity_verified_first catches the changes
        legit_failures = 2 if rng.random() < 0.02 else 1 if rng.random() < 0.08 else 0
        failures = rng.randint(1, 3) if self.is_fraud else legit_failures
        gives_up = self.is_fraud and rng.random() < 0.3
        methods = ["dob", "phone", "ssn", "email", "ssn_full"]
        rng.shuffle(methods)
        attempts = failures + (0 if gives_up else 1)
        for attempt in range(1, attempts + 1):
            method = methods[(attempt - 1) % len(methods)]
            success = attempt > failures
            self._say(leg, "agent", L.VERIFY_ASKS[method])
            self._say(leg, "customer", L.VERIFY_ANSWERS[method], **self._credentials(method, correct=success))
            self._pause(leg, 800, 4_000)
            ani = "true" if self.caller_number == self.customer.phone else "false"
            self._action(
                leg, "verify_identity", success=success, detail=f"method={method};attempt={attempt};ani_match={ani}"
            )
            if success:
                leg.verified = True
                self.verified_at = leg.now
                self._say(leg, "agent", L.VERIFY_OK, first=speech.person_name(self.customer.first_name))
                return True
            self._say(leg, "agent", L.VERIFY_FAIL)
            if attempt == 2:
                self.fraud_signals.append(Signal("failed_verification_loop", leg.contact_id, leg.now))
            if self.is_fraud and attempt == 1:
                self._urgency(leg)
        return False

    def _credentials(self, method: str, correct: bool) -> dict[str, Any]:
        rng, c = self.rng, self.customer
        spoken = rng.random() < self.profile.spoken_number_share
        if method == "dob":
            born = c.born if correct else c.born + dt.timedelta(days=rng.choice((-400, -31, 2, 30, 365)))
            return {"name": speech.person_name(c.full_name), "dob": speech.date_of_birth(born, rng, spoken)}
        if method == "phone":
            return {"phone": speech.phone_number(c.phone if correct else random_phone(rng), rng, spoken)}
        if method in ("ssn", "ssn_full"):
            ssn = c.ssn if correct else f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
            return {
                "account": speech.account_number(c.account_number, rng, spoken),
                "ssn": speech.national_id(ssn, spoken, last_four_only=method == "ssn"),
            }
        address = c.email if correct else self.new_details.email
        return {"email": speech.email(address, spoken)}

    def _fraud_hand_off(self, leg: _Leg) -> _Leg:
        """The caller could not verify: refuse, and often send them to fraud prevention."""
        leg.disposition = "fraud_review"
        self._say(leg, "agent", L.VERIFY_GIVE_UP)
        self._action(leg, "flag_account", detail="reason=failed_verification")
        self._crm(leg, entity="case", change="opened", status="fraud_review", category="account_takeover")
        if leg.queue != "fraud" and self.rng.random() < 0.5:
            leg = self._transfer(leg, "fraud", reason="failed_verification")
            self._greet(leg, transferred=True)
            self._say(leg, "agent", L.VERIFY_ASKS["ssn"])
            self._say(leg, "customer", L.VERIFY_ANSWERS["ssn"], **self._credentials("ssn", correct=False))
            self._action(leg, "verify_identity", success=False, detail="method=ssn;attempt=1;ani_match=false")
            self._say(leg, "agent", L.VERIFY_GIVE_UP)
            leg.disposition = "fraud_review"
        leg.closing = False
        self._say(leg, "agent", L.ABRUPT_ENDINGS)
        return leg

    def _body(self, leg: _Leg) -> None:
        if self.wants_supervisor:
            self._supervisor(leg)
        {
            "billing_dispute": self._billing_dispute,
            "cancellation": self._cancellation,
            "fraud_report": self._fraud_report,
            "technical_support": self._technical_support,
            "payment": self._payment,
            "address_change": self._address_change,
        }[self.intent](leg)

    def _billing_dispute(self, leg: _Leg) -> None:
        amount = self._amount()
        self._action(leg, "lookup_account")
        self._crm(leg, entity="case", change="opened", status="open", category="billing_dispute")
        self._maybe_hold(leg, "researching the charge")
        self._say(leg, "agent", L.BILLING_LOOKUP, amount=amount, when=self._when())
        self._react(leg)
        self.phase = "resolution"
        if self.rng.random() < 0.7:
            self._account_change(leg, "issue_refund", f"amount={amount}")
            self._say(leg, "agent", L.BILLING_REFUND, amount=amount)
        else:
            self._account_change(leg, "apply_credit", f"amount={amount}")
            self._say(leg, "agent", L.BILLING_CREDIT, amount=amount)
        self._react(leg)
        self._crm(leg, entity="case", change="closed", status="resolved", category="billing_dispute")

    def _cancellation(self, leg: _Leg) -> None:
        rng = self.rng
        self._action(leg, "lookup_account")
        self._say(leg, "agent", L.RETENTION_OFFER, pct=str(rng.choice((15, 20, 25, 30))))
        self.phase = "resolution"
        if self.arc != "angry" and rng.random() < 0.45:
            self._say(leg, "customer", L.RETENTION_ACCEPT)
            self._account_change(leg, "apply_credit", "retention_offer")
            self._say(leg, "agent", L.OFFER_APPLIED)
            self._crm(leg, entity="customer", change="plan", status="retained")
        else:
            self._say(leg, "customer", L.RETENTION_REFUSE)
            self._maybe_hold(leg, "processing the cancellation")
            self._account_change(leg, "cancel_service")
            self._say(leg, "agent", L.CANCEL_DONE, when=self._when())
            self._crm(leg, entity="customer", change="status", status="cancelled")
            leg.disposition = "cancelled"
        self._react(leg)

    def _fraud_report(self, leg: _Leg) -> None:
        rng, c = self.rng, self.customer
        amount = self._amount()
        self._say(leg, "agent", L.FRAUD_CARD_ASK)
        self._card(leg, L.FRAUD_CARD_GIVE)
        self._crm(leg, entity="case", change="opened", status="open", category="fraud_report")
        self._maybe_hold(leg, "reviewing transactions")
        self.phase = "resolution"
        self._account_change(leg, "block_card", f"last4={c.card_number[-4:]}")
        self._say(leg, "agent", L.FRAUD_BLOCKED, amount=amount)
        self._react(leg)
        if rng.random() < 0.5:
            self._account_change(leg, "order_replacement_card")
        self._crm(leg, entity="case", change="status", status="investigating", category="fraud_report")

    def _technical_support(self, leg: _Leg) -> None:
        rng, c = self.rng, self.customer
        self._action(leg, "knowledge_lookup", detail="connectivity")
        self._say(leg, "agent", L.TECH_TROUBLESHOOT)
        self._say(leg, "customer", L.TECH_CUSTOMER_STEPS)
        self._maybe_hold(leg, "running a line test")
        self.phase = "resolution"
        if rng.random() < 0.65:
            self._say(leg, "agent", L.TECH_RESOLVED)
            self._react(leg)
        else:
            spoken = rng.random() < self.profile.spoken_number_share
            self._say(leg, "agent", L.TECH_VISIT)
            self._say(
                leg,
                "customer",
                L.TECH_VISIT_ADDRESS,
                address=speech.street_address(c.house_number, c.street, c.unit, rng, spoken),
            )
            self._say(leg, "agent", L.TECH_CALLBACK)
            self._say(leg, "customer", L.TECH_CALLBACK_GIVE, phone=speech.phone_number(c.phone, rng, spoken))
            self._crm(leg, entity="case", change="opened", status="technician_visit", category="technical_support")
            leg.disposition = "follow_up"

    def _payment(self, leg: _Leg) -> None:
        rng = self.rng
        amount = self._amount()
        self.phase = "resolution"
        if rng.random() < 0.2:
            self._say(leg, "agent", L.PAYMENT_LINK)
            self._action(leg, "send_payment_link", detail=f"amount={amount}")
        else:
            self._say(leg, "agent", L.PAYMENT_ASK)
            self._card(leg, L.PAYMENT_GIVE)
            self._pause(leg, 2_000, 6_000)
            self._action(leg, "take_payment", detail=f"amount={amount}")
            self._say(leg, "agent", L.PAYMENT_DONE, amount=amount)
        self._crm(leg, entity="customer", change="status", status="paid", category="payment")
        self._react(leg)
        if rng.random() < 0.3:
            self._say(
                leg,
                "customer",
                L.CONFIRMATION_EMAIL,
                email=speech.email(self.customer.email, rng.random() < self.profile.spoken_number_share),
            )

    def _address_change(self, leg: _Leg) -> None:
        rng, new = self.rng, self.new_details
        spoken = rng.random() < self.profile.spoken_number_share
        if self.is_fraud and rng.random() < 0.5:
            self._urgency(leg)
        self._say(leg, "agent", L.ADDRESS_ASK)
        self._say(
            leg,
            "customer",
            L.ADDRESS_GIVE,
            address=speech.street_address(new.house_number, new.street, new.unit, rng, spoken),
        )
        self.phase = "resolution"
        self._account_change(leg, "update_address")
        self._crm(leg, entity="customer", change="address")
        self._say(leg, "agent", L.ADDRESS_DONE)
        if self.is_fraud:
            if rng.random() < 0.7:
                self._say(leg, "customer", L.ALSO_CHANGE_PHONE, phone=speech.phone_number(new.phone, rng, spoken))
                self._account_change(leg, "update_phone")
                self._crm(leg, entity="customer", change="phone")
                self._say(leg, "agent", L.PHONE_DONE)
            if rng.random() < 0.5:
                self._say(leg, "customer", L.ALSO_CHANGE_EMAIL, email=speech.email(new.email, spoken))
                self._account_change(leg, "update_email")
                self._crm(leg, entity="customer", change="email")
                self._say(leg, "agent", L.EMAIL_DONE)
            if rng.random() < 0.4:
                self._say(leg, "customer", L.NEW_CARD_TO_NEW_ADDRESS)
                self._account_change(leg, "order_replacement_card")
        elif rng.random() < 0.15:
            self._say(leg, "customer", L.ALSO_CHANGE_PHONE, phone=speech.phone_number(new.phone, rng, spoken))
            self._account_change(leg, "update_phone")
            self._crm(leg, entity="customer", change="phone")
            self._say(leg, "agent", L.PHONE_DONE)
        self._react(leg)

    def _supervisor(self, leg: _Leg) -> None:
        self._say(leg, "customer", L.SUPERVISOR_REQUESTS)
        self._escalation("supervisor_request", leg, leg.now)
        self._say(leg, "agent", L.SUPERVISOR_ACKS)
        if self.rng.random() < 0.6:
            supervisor = speech.person_name(agent_name(f"supervisor-{leg.queue}-{self.rng.randint(1, 4)}"))
            self._say(leg, "supervisor", L.SUPERVISOR_JOINS, supervisor=supervisor)
            self._react(leg)
        leg.disposition = "escalated" if leg.disposition == "resolved" else leg.disposition

    def _close(self, leg: _Leg) -> None:
        self.phase = "closing"
        if self.rng.random() < self.profile.omit_closing_share or (self.arc == "angry" and self.rng.random() < 0.5):
            leg.closing = False
            if self.arc == "angry":
                self._say(leg, "customer", L.CUSTOMER_REACTIONS["angry"])
            else:
                self._say(leg, "agent", L.ABRUPT_ENDINGS)
            return
        self._say(leg, "agent", L.CLOSING_ASKS)
        self._say(leg, "customer", L.CLOSING_DONE[self._mood()])
        self._say(leg, "agent", L.CLOSINGS, company=L.COMPANY, daypart=self.daypart)
        leg.closing = True

    def _maybe_hold(self, leg: _Leg, reason: str) -> None:
        rng = self.rng
        if not self.long_hold and rng.random() >= 0.35:
            return
        asked = rng.random() >= self.profile.abrupt_hold_share
        if asked:
            self._say(leg, "agent", L.HOLD_ASKS)
            self._say(leg, "customer", L.HOLD_ACCEPTS)
        else:
            self._say(leg, "agent", L.HOLD_ABRUPT)
        leg.holds_asked.append(asked)
        held_ms = rng.randint(150_000, 420_000) if self.long_hold else rng.randint(15_000, 90_000)
        self.long_hold = False
        start = leg.now
        self._emit(leg, CallHeld, start, agent_id=leg.agent_id, reason=reason)
        leg.states.append((start, "held"))
        leg.now += held_ms
        leg.hold_ms += held_ms
        self._emit(leg, CallResumed, leg.now, agent_id=leg.agent_id, hold_ms=held_ms)
        leg.states.append((leg.now, "connected"))
        leg.now += rng.randint(300, 1_000)
        if held_ms > LONG_HOLD_MS:
            self._escalation("long_hold", leg, start + LONG_HOLD_MS)
        self._say(leg, "agent", L.HOLD_RETURNS if asked else L.HOLD_RETURNS_ABRUPT)
        if held_ms > LONG_HOLD_MS:
            self._say(leg, "customer", L.LONG_HOLD_COMPLAINTS, mood="frustrated")

    def _card(self, leg: _Leg, templates: tuple[str, ...]) -> None:
        rng, number = self.rng, self.customer.card_number
        spoken = rng.random() < self.profile.spoken_number_share
        if spoken and rng.random() < 0.25:
            head, tail = speech.card_number_in_two(number)
            self._say(leg, "customer", L.PAYMENT_HALF, card=head)
            self._say(leg, "customer", L.PAYMENT_REST, card=tail)
        else:
            self._say(leg, "customer", templates, card=speech.card_number(number, rng, spoken))

    def _urgency(self, leg: _Leg) -> None:
        self._say(leg, "customer", L.URGENCY)
        if not any(s.name == "urgency" for s in self.fraud_signals):
            self.fraud_signals.append(Signal("urgency", leg.contact_id, leg.now))

    def _react(self, leg: _Leg) -> None:
        self._say(leg, "customer", L.CUSTOMER_REACTIONS[self._mood()])

    def _account_change(self, leg: _Leg, action: str, detail: str = "") -> None:
        if not leg.verified:
            leg.changed_before_verified = True
        leg.changed = True
        if (
            action in ("update_address", "update_phone", "update_email")
            and self.verified_at is not None
            and leg.now - self.verified_at < 90_000
            and not any(s.name == "change_after_verification" for s in self.fraud_signals)
        ):
            self.fraud_signals.append(Signal("change_after_verification", leg.contact_id, leg.now))
        self._action(leg, action, detail=detail)

    # ------------------------------------------------------------------ primitive events
    def _mood(self) -> str:
        return ARC_MOODS[self.arc][self.phase]

    def _say(
        self, leg: _Leg, participant: str, templates: tuple[str, ...], mood: str | None = None, **slots: Any
    ) -> None:
        """One turn: 0-2 partials, then the final, then a pause before the next turn."""
        rng = self.rng
        utterance = speech.render(rng.choice(templates), slots)
        n_words = utterance.text.count(" ") + 1
        speaking_ms = int(n_words / rng.uniform(2.2, 3.1) * 1000) + 250
        start_offset = leg.now - leg.initiated_ms
        n_partials = self._partials(n_words)
        final_id = f"{leg.contact_id}:s{leg.sequence + n_partials + 1}"  # partials come first
        sentiment = (mood or self._mood()) if participant == "customer" else None
        confidence_floor = 0.55 if participant == "customer" and sentiment == "angry" else 0.7
        for j in range(1, n_partials + 1):
            cut = max(1, n_words * j // (n_partials + 1))
            partial = speech.prefix(utterance, cut)
            end_offset = start_offset + speaking_ms * j // (n_partials + 1)
            self._segment(
                leg,
                participant,
                partial,
                start_offset,
                end_offset,
                at=leg.initiated_ms + end_offset + rng.randint(120, 350),
                is_final=False,
                final_id=final_id,
                confidence=rng.uniform(confidence_floor, 0.85),
                sentiment=sentiment,
            )
        end_offset = start_offset + speaking_ms
        at = leg.initiated_ms + end_offset + rng.randint(400, 900)
        self._segment(
            leg,
            participant,
            utterance,
            start_offset,
            end_offset,
            at=at,
            is_final=True,
            final_id=final_id,
            confidence=rng.uniform(max(confidence_floor, 0.8), 0.99),
            sentiment=sentiment,
        )
        if sentiment == "angry" and not any(s.name == "anger" for s in self.escalation_signals):
            self._escalation("anger", leg, at)
        leg.now = at + rng.randint(150, 1_200)

    def _partials(self, n_words: int) -> int:
        if n_words < 3:
            return 0
        return self.rng.choices((0, 1, 2), (0.25, 0.4, 0.35))[0]

    def _segment(
        self,
        leg: _Leg,
        participant: str,
        utterance: speech.Utterance,
        start_offset: int,
        end_offset: int,
        at: int,
        is_final: bool,
        final_id: str,
        confidence: float,
        sentiment: str | None,
    ) -> None:
        leg.sequence += 1
        segment_id = f"{leg.contact_id}:s{leg.sequence}"
        self._emit(
            leg,
            TranscriptSegment,
            at,
            segment_id=segment_id,
            sequence=leg.sequence,
            participant=participant,
            start_offset_ms=start_offset,
            end_offset_ms=end_offset,
            text=utterance.text,
            is_final=is_final,
            final_segment_id=None if is_final else final_id,
            confidence=round(confidence, 3),
        )
        leg.segments.append(
            SegmentTruth(
                segment_id=segment_id,
                contact_id=leg.contact_id,
                participant=participant,
                is_final=is_final,
                final_segment_id=None if is_final else final_id,
                sentiment=sentiment,
                pii=[
                    PiiSpan(s.start, s.end, s.pii.entity_type, s.pii.spoken, s.pii.text, s.pii.value, s.pii.fragment)
                    for s in utterance.spans
                ],
            )
        )

    def _action(self, leg: _Leg, action: str, success: bool = True, detail: str = "") -> None:
        # the agent types and reads the screen before and after each desktop action
        leg.now += self.rng.randint(1_000, 6_000)
        self._emit(leg, AgentAction, leg.now, agent_id=leg.agent_id, action=action, success=success, detail=detail)
        leg.now += self.rng.randint(1_000, 8_000)

    def _crm(self, leg: _Leg, entity: str, change: str, status: str | None = None, category: str | None = None) -> None:
        case_id = f"case-{leg.contact_id[:8]}" if entity == "case" else None
        self._emit(
            leg,
            CrmUpdate,
            leg.now + self.rng.randint(200, 1_500),
            customer_id=self.customer.customer_id,
            case_id=case_id,
            entity=entity,
            change=change,
            status=status,
            category=category,
        )

    def _pause(self, leg: _Leg, low_ms: int, high_ms: int) -> None:
        leg.now += self.rng.randint(low_ms, high_ms)

    def _escalation(self, reason: str, leg: _Leg, at_ms: int) -> None:
        self.escalation_signals.append(Signal(reason, leg.contact_id, at_ms))

    def _emit(self, leg: _Leg, cls: type[Envelope], at_ms: int, **fields: Any) -> None:
        event = cls(
            event_id=self._uuid(),
            contact_id=leg.contact_id,
            event_time_ms=at_ms,
            produced_at_ms=at_ms,
            producer=PRODUCER,
            **fields,
        )
        leg.events.append(TimedEvent(at_ms, event))

    def _uuid(self) -> str:
        # a version-4 UUID from the call's stream; formatted by hand, uuid.UUID is slow here
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"

    def _amount(self) -> str:
        return f"${self.rng.randint(9, 320)}.{self.rng.randrange(100):02d}"

    def _when(self) -> str:
        month = self.rng.choice(
            (
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            )
        )
        return f"{month} {self.rng.randint(1, 28)}"

    # ------------------------------------------------------------------ truth
    def _finish(self) -> GeneratedCall:
        events = [te for leg in self.legs for te in leg.events]
        events.sort(key=lambda te: te.release_ms)  # stable: same-ms events keep script order
        reasons = sorted({s.name for s in self.escalation_signals})
        legs = [
            LegTruth(
                contact_id=leg.contact_id,
                queue=leg.queue,
                agent_id=leg.agent_id,
                initiated_ms=leg.initiated_ms,
                ended_ms=leg.ended_ms,
                disposition=leg.disposition,
                qa={
                    "greeting": leg.greeting,
                    "disclosure": leg.disclosure,
                    "identity_verified_first": (not leg.changed_before_verified) if leg.changed else None,
                    "hold_etiquette": all(leg.holds_asked) if leg.holds_asked else None,
                    "closing": leg.closing,
                },
            )
            for leg in self.legs
        ]
        truth = CallTruth(
            call_index=self.index,
            contact_id=self.legs[0].contact_id,
            linked_contact_ids=[leg.contact_id for leg in self.legs],
            customer_id=self.customer.customer_id,
            intent=self.intent,
            caller_number=e164(self.caller_number),
            number_on_file=e164(self.customer.phone),
            caller_id_mismatch=self.caller_number != self.customer.phone,
            is_fraud=self.is_fraud,
            fraud_pattern="account_takeover" if self.is_fraud else None,
            fraud_signals=self.fraud_signals,
            should_escalate=bool(reasons),
            escalation_reasons=reasons,
            escalation_signals=self.escalation_signals,
            sentiment_arc=self.arc,
            legs=legs,
            segments=[seg for leg in self.legs for seg in leg.segments],
            disorder=self.disorder,
        )
        return GeneratedCall(self.index, events, truth)
