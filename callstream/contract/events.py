"""Typed models for every callstream event, sharing one envelope.

Each event is a frozen msgspec Struct tagged by ``event_type`` (a dotted name such as
``transcript.segment``). Times are integer milliseconds since the Unix epoch (UTC);
offsets inside a call are milliseconds from the call's start.

Field classification (public / internal / confidential / restricted) is declared on the
field's type with the aliases below; it is exported into the JSON Schemas as
``x-classification`` and read by governance (encryption, retention, access). A field with
no alias is ``internal``.

Compatibility habits: every field added after version 1 must have a default, so old
producers stay readable; consumers ignore unknown fields (msgspec does by default) and
unknown event types (see ``callstream.contract.codec``). Open vocabularies (actions,
dispositions, reasons) are plain strings so a new value never breaks an old reader.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

# --- classification aliases -------------------------------------------------------------

def _classified(level: str, pii: str | None = None) -> msgspec.Meta:
    extra: dict[str, str] = {"x-classification": level}
    if pii:
        extra["x-pii"] = pii
    return msgspec.Meta(extra_json_schema=extra)


Public = Annotated[str, _classified("public")]
Confidential = Annotated[str, _classified("confidential", "identifier")]
ConfidentialOpt = Annotated[str | None, _classified("confidential", "identifier")]
#: Raw customer speech: may hold card numbers, phone numbers, names (PCI + PII).
RestrictedText = Annotated[str, _classified("restricted", "free-text")]
#: A restricted identifier of a person (the caller's phone number): sealed like raw speech.
RestrictedIdentifier = Annotated[str, _classified("restricted", "phone-number")]
#: Text that passed redaction: safe for agents, analytics and long retention.
RedactedText = Annotated[str, _classified("confidential", "redacted-free-text")]

Participant = Literal["agent", "customer", "system", "bot", "supervisor"]
EPOCH_MS = Annotated[int, msgspec.Meta(ge=0, description="milliseconds since the Unix epoch (UTC)")]
OFFSET_MS = Annotated[int, msgspec.Meta(ge=0, description="milliseconds from the start of the call")]
Score01 = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
SignedScore = Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)]


# gc=False: events are frozen and built from values, so they cannot form a cycle; untracked,
# the simulator's pre-generated calls (~570k events at 10,000 calls) cost no collections.
class Envelope(msgspec.Struct, frozen=True, kw_only=True, tag_field="event_type", gc=False):
    """Fields every event carries.

    ``caused_by`` is the event id a derived event was computed from (lineage), and
    ``source_time_ms`` the time the *first* event of that chain was produced, so any
    stage measures end-to-end latency as ``produced_at_ms - source_time_ms`` without a
    lookup.
    """

    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: int = 1
    event_id: str
    contact_id: str
    event_time_ms: EPOCH_MS
    produced_at_ms: EPOCH_MS
    producer: str
    caused_by: str | None = None
    source_time_ms: EPOCH_MS | None = None


# --- call lifecycle: topic callstream.call.lifecycle ------------------------------------

class CallInitiated(Envelope, tag="call.initiated", frozen=True, kw_only=True):
    channel: str = "voice"
    direction: str = "inbound"
    caller_number: RestrictedIdentifier
    dialed_number: Public
    customer_id: ConfidentialOpt = None
    #: Set when this contact was created by a transfer: the contact it came from and the
    #: first contact of the chain.
    previous_contact_id: str | None = None
    initial_contact_id: str | None = None


class CallQueued(Envelope, tag="call.queued", frozen=True, kw_only=True):
    queue: str
    skills: list[str] = []
    priority: int = 0
    queue_depth: int = 0


class CallConnected(Envelope, tag="call.connected", frozen=True, kw_only=True):
    agent_id: str
    queue: str
    wait_ms: int = 0


class CallHeld(Envelope, tag="call.held", frozen=True, kw_only=True):
    agent_id: str
    reason: str = ""


class CallResumed(Envelope, tag="call.resumed", frozen=True, kw_only=True):
    agent_id: str
    hold_ms: int = 0


class CallTransferred(Envelope, tag="call.transferred", frozen=True, kw_only=True):
    from_agent_id: str
    to_queue: str
    new_contact_id: str
    initial_contact_id: str
    reason: str = ""


class CallEnded(Envelope, tag="call.ended", frozen=True, kw_only=True):
    ended_by: str  # customer | agent | system | transfer
    duration_ms: int
    talk_ms: int = 0
    hold_ms: int = 0
    agent_id: str | None = None
    queue: str | None = None


class CallDisposition(Envelope, tag="call.disposition", frozen=True, kw_only=True):
    agent_id: str
    disposition: str  # resolved | follow_up | cancelled | escalated | fraud_review | transferred
    intent: str | None = None
    notes: RedactedText = ""


class CallHeartbeat(Envelope, tag="call.heartbeat", frozen=True, kw_only=True):
    """Liveness of an ongoing call: silence (no heartbeat) is detectable."""

    state: str  # queued | connected | held
    sequence: int


# --- transcripts: callstream.transcript.raw (restricted), callstream.transcript.redacted

class TranscriptSegment(Envelope, tag="transcript.segment", frozen=True, kw_only=True):
    """One speech-to-text segment. Partials are superseded by the final named in
    ``final_segment_id``; a final has ``is_final=True`` and no ``final_segment_id``."""

    segment_id: str
    sequence: int
    participant: Participant
    start_offset_ms: OFFSET_MS
    end_offset_ms: OFFSET_MS
    text: RestrictedText
    is_final: bool
    final_segment_id: str | None = None
    confidence: Score01 = 1.0
    language: str = "en-US"


class RedactionSpan(msgspec.Struct, frozen=True):
    """A redacted range in the *original* text, ``[start, end)`` in characters."""

    start: int
    end: int
    entity_type: str  # CARD_NUMBER | PHONE_NUMBER | EMAIL | DATE_OF_BIRTH | NATIONAL_ID | ACCOUNT_NUMBER | STREET_ADDRESS | PERSON_NAME


class RedactedSegment(Envelope, tag="transcript.redacted", frozen=True, kw_only=True):
    """A transcript segment with PII/PCI replaced; ``redactions`` lists what was removed.
    ``provisional`` marks a redacted partial (its final may redact more)."""

    segment_id: str
    sequence: int
    participant: Participant
    start_offset_ms: OFFSET_MS
    end_offset_ms: OFFSET_MS
    text: RedactedText
    is_final: bool
    provisional: bool
    redactions: list[RedactionSpan] = []
    final_segment_id: str | None = None
    confidence: Score01 = 1.0
    language: str = "en-US"


# --- agent actions and CRM: callstream.agent.actions, callstream.crm.updates ------------

class AgentAction(Envelope, tag="agent.action", frozen=True, kw_only=True):
    """Something the agent did in the desktop: verify identity, update an address, ..."""

    agent_id: str
    action: str  # verify_identity | lookup_account | update_address | update_phone | update_email | issue_refund | apply_credit | cancel_service | read_disclosure | send_payment_link | knowledge_lookup
    success: bool = True
    detail: str = ""


class CrmUpdate(Envelope, tag="crm.update", frozen=True, kw_only=True):
    """A change to a customer record or a case, as the CRM reports it."""

    customer_id: Confidential
    case_id: str | None = None
    entity: str  # case | customer
    change: str  # opened | status | address | phone | email | plan | closed
    status: str | None = None
    category: str | None = None


# --- derived signals --------------------------------------------------------------------

class SentimentScored(Envelope, tag="signal.sentiment", frozen=True, kw_only=True):
    segment_id: str
    participant: Participant
    score: SignedScore
    #: exponentially weighted score of this participant over the call so far
    rolling_score: SignedScore


class ChurnRiskScored(Envelope, tag="signal.churn", frozen=True, kw_only=True):
    customer_id: ConfidentialOpt = None
    score: Score01
    reasons: list[str] = []


class FraudScored(Envelope, tag="signal.fraud", frozen=True, kw_only=True):
    score: Score01
    level: str  # low | medium | high
    reasons: list[str] = []


class EscalationOpened(Envelope, tag="escalation.opened", frozen=True, kw_only=True):
    escalation_id: str
    reasons: list[str]
    agent_id: str | None = None
    queue: str | None = None


class EscalationClosed(Envelope, tag="escalation.closed", frozen=True, kw_only=True):
    escalation_id: str
    resolution: str  # resolved | call_ended | transferred
    opened_at_ms: EPOCH_MS
    duration_ms: int


class RoutingDecision(Envelope, tag="routing.decision", frozen=True, kw_only=True):
    target_queue: str
    reason: str
    skills: list[str] = []
    priority: int = 0


class AssistPrompt(Envelope, tag="assist.prompt", frozen=True, kw_only=True):
    """A next-best-action prompt for the agent: the latency-critical output."""

    intent: str
    confidence: Score01
    next_best_action: str
    knowledge_title: str = ""
    knowledge_snippet: str = ""
    segment_id: str | None = None


class QualityCheck(msgspec.Struct, frozen=True):
    name: str  # greeting | identity_verified_first | disclosure | hold_etiquette | closing
    passed: bool
    detail: str = ""


class QualityScored(Envelope, tag="quality.scored", frozen=True, kw_only=True):
    agent_id: str | None
    score: Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
    checks: list[QualityCheck]


class SupervisorAlert(Envelope, tag="alert.supervisor", frozen=True, kw_only=True):
    alert_id: str
    kind: str  # escalation | fraud | churn | silence | long_hold
    severity: str  # info | warning | critical
    message: str
    agent_id: str | None = None
    queue: str | None = None


class AnalyticsWindow(Envelope, tag="analytics.window", frozen=True, kw_only=True):
    """A tumbling-window aggregate for one queue or agent. ``contact_id`` is empty:
    the aggregate belongs to no single contact; ``key`` names the queue or agent."""

    dimension: str  # queue | agent
    key: str
    window_start_ms: EPOCH_MS
    window_end_ms: EPOCH_MS
    calls_handled: int
    avg_handle_ms: float
    avg_sentiment: SignedScore | None = None
    escalations: int = 0


LIFECYCLE_EVENTS = (
    CallInitiated, CallQueued, CallConnected, CallHeld, CallResumed,
    CallTransferred, CallEnded, CallDisposition, CallHeartbeat,
)
SIGNAL_EVENTS = (
    SentimentScored, ChurnRiskScored, FraudScored, EscalationOpened, EscalationClosed,
    RoutingDecision, AssistPrompt, QualityScored, SupervisorAlert, AnalyticsWindow,
)
ALL_EVENTS: tuple[type[Envelope], ...] = (
    *LIFECYCLE_EVENTS, TranscriptSegment, RedactedSegment, AgentAction, CrmUpdate, *SIGNAL_EVENTS,
)

def event_tag(cls: type[Envelope]) -> str:
    """The dotted ``event_type`` tag of an event class."""
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):
        raise TypeError(f"{cls.__name__} is not a tagged callstream event (tag {tag!r})")
    return tag


#: event_type tag -> Struct class
EVENT_TYPES: dict[str, type[Envelope]] = {event_tag(cls): cls for cls in ALL_EVENTS}

AnyEvent = (
    CallInitiated | CallQueued | CallConnected | CallHeld | CallResumed | CallTransferred
    | CallEnded | CallDisposition | CallHeartbeat | TranscriptSegment | RedactedSegment
    | AgentAction | CrmUpdate | SentimentScored | ChurnRiskScored | FraudScored
    | EscalationOpened | EscalationClosed | RoutingDecision | AssistPrompt | QualityScored
    | SupervisorAlert | AnalyticsWindow
)


def event_type_of(event: Envelope) -> str:
    """The dotted ``event_type`` tag of an event instance."""
    return event_tag(type(event))
