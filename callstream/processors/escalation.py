"""Escalation detection: open an escalation when a call turns bad, tell a supervisor, and
close it when the customer recovers or the call ends or is transferred.

Triggers (each a reason in ``EscalationOpened.reasons``):

* ``supervisor_request``: the customer asks for a supervisor or manager;
* ``anger``: hostile language from the customer ("you people", "this is ridiculous");
* ``falling_sentiment``: the customer's rolling sentiment (from the sentiment processor)
  falls to ``FALLING_ROLLING`` or below, at least ``FALLING_DROP`` under its best in the call;
* ``long_hold``: the customer has been on hold for ``LONG_HOLD_MS`` (seen on a heartbeat
  during the hold, or on the resume);
* ``failed_verification``: ``FAILED_VERIFICATIONS`` failed identity checks in the call while
  the customer's rolling sentiment is negative (a calm caller failing checks is a matter
  for the fraud processor, an upset one stuck in the loop is an escalation).

At most one escalation is open per call. It closes as ``resolved`` when the customer's
sentiment recovers (a clearly positive segment lifting the rolling score to
``RECOVERED_ROLLING``), as ``transferred`` on a transfer and as ``call_ended`` at the end.
After a resolution only a reason not seen before in the call opens a new one, so a
customer whose mood hovers near a threshold does not flap the flag.

Per-call state is one small dict plus the sequence gate's; at the end of the call only a
tombstone stays (late segments must not re-open a finished call), and it is deleted when
the disposition arrives.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from callstream.contract.events import (
    AgentAction,
    CallConnected,
    CallEnded,
    CallHeartbeat,
    CallHeld,
    CallQueued,
    CallResumed,
    CallTransferred,
    Envelope,
    EscalationClosed,
    EscalationOpened,
    RedactedSegment,
    SentimentScored,
    SupervisorAlert,
)
from callstream.detectors.language import escalation_phrases, normalize
from callstream.detectors.sentiment import NEUTRAL_BAND
from callstream.processors.base import CallRecord, CallState, Processor, derive
from callstream.processors.ordering import Segment, SequenceGate

LONG_HOLD_MS = 120_000
#: the customer's rolling sentiment is "falling" at or below this, and at least
#: FALLING_DROP below its best so far in the call (a customer frustrated from the first
#: word is not a call turning bad)
FALLING_ROLLING = -0.4
FALLING_DROP = 0.6
RECOVERED_ROLLING = 0.15
#: a single segment at least this positive is the turn that marks a recovery
RECOVERED_SEGMENT = 0.5
FAILED_VERIFICATIONS = 3

#: escalation_phrases() results that are a request to escalate rather than hostility
SUPERVISOR_PHRASES = frozenset({"supervisor", "manager", "escalate", "speak to someone else", "speak to someone in charge"})
#: escalation_phrases() results that are no sign of anger on their own (churn's business)
NOT_HOSTILE = frozenset({"cancel my account"})
#: Hostility cues language.py's escalation list lacks (its list targets explicit threats).
ANGER_PHRASES = (
    "you people", "unbelievable", "are you serious", "are you kidding", "can't believe", "cant believe",
    "done with you", "nobody has", "no one has", "still not working", "still doesn't work",
    "three times", "third time", "third month", "fourth time", "how did this even happen",
    "this is a joke", "outrageous", "unacceptable", "sick and tired",
)
_ANGER_RE = re.compile(r"(?<![a-z0-9'])(?:" + "|".join(re.escape(normalize(p)) for p in ANGER_PHRASES) + r")(?![a-z0-9'])")

CRITICAL_REASONS = frozenset({"supervisor_request", "long_hold"})


def anger_cues(text: str) -> list[str]:
    """Hostile phrases in a customer's segment (our own list plus language.py's non-request
    escalation phrases such as "this is ridiculous" or "lawyer")."""
    found = [m.group() for m in _ANGER_RE.finditer(normalize(text))]
    found += [p for p in escalation_phrases(text) if p not in SUPERVISOR_PHRASES and p not in NOT_HOSTILE]
    return list(dict.fromkeys(found))


def supervisor_request(text: str) -> list[str]:
    return [p for p in escalation_phrases(text) if p in SUPERVISOR_PHRASES]


class OpenEscalation(msgspec.Struct):
    id: str
    #: event time it opened at
    at: int


class EscalationCall(msgspec.Struct):
    """What the escalation detector keeps about one call."""

    open: OpenEscalation | None = None
    #: escalations opened on this call so far (numbers their ids)
    opened: int = 0
    reasons_seen: list[str] = msgspec.field(default_factory=list)
    failed_verifications: int = 0
    held_since: int | None = None
    agent_id: str | None = None
    queue: str | None = None
    #: the customer's best and latest rolling sentiment (``None`` until a non-neutral line)
    peak: float | None = None
    rolling: float = 0.0


class EscalationDetector(Processor):
    name = "escalation"
    description = "Escalation opened/closed pairs from customer language, sentiment, holds and failed verification, with supervisor alerts"
    inputs = (
        "callstream.transcript.redacted", "callstream.call.lifecycle",
        "callstream.agent.actions", "callstream.signals.sentiment",
    )
    outputs = ("callstream.signals.escalation", "callstream.supervisor.alerts")
    guarantee = "at-least-once"
    niceness = 10  # a supervisor alert within a second is in time: the live path goes first

    def __init__(self) -> None:
        self.gate = SequenceGate("escalation_gate")
        self.record = CallRecord("escalation", EscalationCall, self.gate)

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        call = self.record.load(event, state)
        if call is None:
            return []
        out: list[Envelope] = []
        ended = False
        if isinstance(event, RedactedSegment):
            for admitted in self.gate.admit(event, state):
                self._segment(admitted.segment, call, out)
        elif isinstance(event, SentimentScored):
            self._sentiment(event, call, out)
        elif isinstance(event, AgentAction):
            if event.action == "verify_identity" and not event.success:
                call.failed_verifications += 1
                # a calm caller failing checks is a fraud question (the fraud processor's),
                # an upset one stuck in the loop is an escalation
                if call.failed_verifications >= FAILED_VERIFICATIONS and call.rolling < 0.0:
                    self._trigger(event, call, ["failed_verification"],
                                  f"{call.failed_verifications} failed identity checks", out)
        elif isinstance(event, CallQueued):
            call.queue = event.queue
        elif isinstance(event, CallConnected):
            call.agent_id, call.queue = event.agent_id, event.queue
        elif isinstance(event, CallHeld):
            call.held_since = event.event_time_ms
        elif isinstance(event, CallHeartbeat):
            # a gap in the transcript that never fills must not hold later lines back
            for admitted in self.gate.expire(state, event.event_time_ms):
                self._segment(admitted.segment, call, out)
            held_since = call.held_since
            if event.state == "held" and held_since is not None and event.event_time_ms - held_since >= LONG_HOLD_MS:
                self._trigger(event, call, ["long_hold"],
                              f"on hold for {(event.event_time_ms - held_since) // 1000} s", out)
        elif isinstance(event, CallResumed):
            call.held_since = None
            if event.hold_ms >= LONG_HOLD_MS:
                self._trigger(event, call, ["long_hold"], f"was on hold for {event.hold_ms // 1000} s", out)
        elif isinstance(event, CallTransferred):
            self._close(event, call, "transferred", out)
            ended = True
        elif isinstance(event, CallEnded):
            self._close(event, call, "call_ended", out)
            ended = True
        if ended:
            self.record.end(state)
        else:
            self.record.save(state, call)
        return out

    # --- signals ----------------------------------------------------------------------

    def _segment(self, segment: Segment, call: EscalationCall, out: list[Envelope]) -> None:
        if segment.participant != "customer":
            return
        reasons, said = [], []
        asked = supervisor_request(segment.text)
        if asked:
            reasons.append("supervisor_request")
            said += asked
        hostile = anger_cues(segment.text)
        if hostile:
            reasons.append("anger")
            said += hostile
        if reasons:
            self._trigger(segment, call, reasons, "customer said " + ", ".join(f'"{p}"' for p in said), out)

    def _sentiment(self, event: SentimentScored, call: EscalationCall, out: list[Envelope]) -> None:
        if event.participant != "customer":
            return
        if call.peak is None and abs(event.score) < NEUTRAL_BAND:
            return  # neutral segments leave the rolling score unset: no baseline yet
        peak = max(call.peak if call.peak is not None else event.rolling_score, event.rolling_score)
        call.peak = peak
        call.rolling = event.rolling_score
        if event.rolling_score <= FALLING_ROLLING and peak - event.rolling_score >= FALLING_DROP:
            self._trigger(event, call, ["falling_sentiment"],
                          f"customer sentiment fell from {peak:+.2f} to {event.rolling_score:+.2f}", out)
        opened = call.open
        if (opened is not None and event.event_time_ms > opened.at
                and event.score >= RECOVERED_SEGMENT and event.rolling_score >= RECOVERED_ROLLING):
            self._close(event, call, "resolved", out)

    # --- the open/closed pair -----------------------------------------------------------

    def _trigger(self, source: Envelope, call: EscalationCall, reasons: list[str], why: str, out: list[Envelope]) -> None:
        new = [r for r in reasons if r not in call.reasons_seen]
        call.reasons_seen.extend(new)
        if call.open is not None or not new:
            return
        call.opened += 1
        escalation_id = f"{source.contact_id}:escalation:{call.opened}"
        call.open = OpenEscalation(id=escalation_id, at=source.event_time_ms)
        out.append(derive(EscalationOpened, source, self.name, "escalation.opened",
                          escalation_id=escalation_id, reasons=new,
                          agent_id=call.agent_id, queue=call.queue))
        critical = any(r in CRITICAL_REASONS for r in new)
        out.append(derive(SupervisorAlert, source, self.name, "alert.escalation",
                          alert_id=escalation_id, kind="escalation",
                          severity="critical" if critical else "warning",
                          message=f"Escalation on call {source.contact_id} ({', '.join(new)}): {why}",
                          agent_id=call.agent_id, queue=call.queue))

    def _close(self, source: Envelope, call: EscalationCall, resolution: str, out: list[Envelope]) -> None:
        opened = call.open
        if opened is None:
            return
        call.open = None
        out.append(derive(EscalationClosed, source, self.name, "escalation.closed",
                          escalation_id=opened.id, resolution=resolution, opened_at_ms=opened.at,
                          duration_ms=max(0, source.event_time_ms - opened.at)))
