"""Post-call quality (QA) scoring: exactly one ``QualityScored`` per contact.

Checks, each weighted in ``CHECK_WEIGHTS``:

* ``greeting``: the agent's first line (lowest sequence) greets the customer: thanks for
  calling, a name, an offer to help; a bare "Hello?" or "Yes?" is not a greeting;
* ``disclosure``: the agent said the recording disclosure;
* ``identity_verified_first``: an identity check passed before the first account change
  (only when the agent changed something);
* ``hold_etiquette``: every hold was preceded by the agent asking ("May I place you on a
  brief hold?") (only when there was a hold);
* ``closing``: one of the agent's last ``CLOSING_TAIL`` lines offers more help or wishes
  the customer well; a bare "Bye" is not a closing (not checked on a contact that ended by
  transfer: the next agent closes the call).

A check that does not apply is left out of ``checks`` and out of the score, which is
100 x (weight passed) / (weight checked).

When: transcript segments travel through redaction and reach this processor after the
lifecycle's ``call.ended``, so the score is computed when the agent's ``call.disposition``
arrives (after the wrap-up, seconds after the end), or on the first event of the contact
``GRACE_MS`` past the end, whichever comes first. Segments arriving until then count; the
sequence gate drops duplicates. Afterwards a tombstone keeps the contact from being scored
twice (the processor runs exactly-once, so the score and the state change commit together).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from callstream.contract.events import (
    AgentAction,
    CallConnected,
    CallDisposition,
    CallEnded,
    CallHeartbeat,
    CallHeld,
    Envelope,
    QualityCheck,
    QualityScored,
    RedactedSegment,
)
from callstream.detectors.language import closing, disclosure, greeting, normalize
from callstream.processors.base import CallState, Processor, derive
from callstream.processors.ordering import Segment, SequenceGate

GRACE_MS = 10_000
CLOSING_TAIL = 3
CHECK_WEIGHTS = {
    "greeting": 15.0,
    "disclosure": 25.0,
    "identity_verified_first": 30.0,
    "hold_etiquette": 10.0,
    "closing": 20.0,
}
#: desktop actions that change the customer's account (and so need a verified identity)
ACCOUNT_CHANGES = frozenset({
    "update_address", "update_phone", "update_email", "issue_refund", "apply_credit",
    "cancel_service", "block_card", "order_replacement_card",
})
#: language.py phrases too weak to pass a QA check on their own
WEAK_GREETINGS = frozenset({"hello", "hi"})
WEAK_CLOSINGS = frozenset({"bye", "thanks for your patience", "appreciate your patience"})
#: greetings language.py's list lacks ("Customer care, Ana speaking. What can I do for you?")
_MORE_GREETINGS = re.compile(r"\b(?:speaking|what can i do for you|how can i help|you're speaking with|youre speaking with)\b")
_HOLD_ASK = re.compile(
    r"\b(?:(?:may|can|could) i (?:place|put) you on (?:a )?(?:brief |short |quick )?hold"
    r"|(?:would it be (?:alright|all right|ok|okay)|do you mind) if i (?:place|put) you on (?:a )?(?:brief |short |quick )?hold"
    r"|(?:would|do) you mind (?:holding|if i put you on hold))\b"
)


def greets(text: str) -> list[str]:
    found = [p for p in greeting(text) if p not in WEAK_GREETINGS]
    found += [m.group() for m in _MORE_GREETINGS.finditer(normalize(text)) if m.group() not in found]
    return found


def closes(text: str) -> list[str]:
    return [p for p in closing(text) if p not in WEAK_CLOSINGS]


def asks_to_hold(text: str) -> bool:
    return _HOLD_ASK.search(normalize(text)) is not None


class QualityCall(msgspec.Struct):
    """What the QA scorer keeps about one call until it scores it."""

    agent_id: str | None = None
    #: (sequence, greeting said or None) of the agent's first line
    first_agent: tuple[int, str | None] | None = None
    disclosure: str | None = None
    verified_at: int | None = None
    #: (event time, action) of the first account change
    first_change: tuple[int, str] | None = None
    holds: list[int] = msgspec.field(default_factory=list)
    hold_asks: list[int] = msgspec.field(default_factory=list)
    #: (sequence, closing said or None) of the agent's last lines
    agent_tail: list[tuple[int, str | None]] = msgspec.field(default_factory=list)
    ended_at: int | None = None
    ended_by: str | None = None
    disposed: bool = False


class QualityScorer(Processor):
    name = "quality"
    description = "One post-call QA score per contact: greeting, disclosure, identity first, hold etiquette, closing"
    inputs = ("callstream.call.lifecycle", "callstream.transcript.redacted", "callstream.agent.actions")
    outputs = ("callstream.quality.events",)
    guarantee = "exactly-once"
    # behind the live path, but not as far as the scorers: at 10 it caught up after a broker
    # loss only when the surge ended. At 0 it caught up after one twice as fast, but assist's
    # p99 at 10,000 calls in real time rose 1.4-1.7x in three seed-matched pairs: live
    # prompts go first (ADR 0010, 2026-12-07 addendum)
    niceness = 5
    #: liveness says nothing QA scores, and heartbeats stop at the call's end (never past its grace)
    ignores = (CallHeartbeat,)

    def __init__(self) -> None:
        self.gate = SequenceGate("quality_gate")

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        stored: dict[str, Any] | None = state.get("quality")
        if stored is not None and stored.get("scored"):
            return []
        call = QualityCall() if stored is None else msgspec.convert(stored, QualityCall)
        ended_at = call.ended_at
        past_grace = ended_at is not None and event.event_time_ms >= ended_at + GRACE_MS
        if not past_grace:
            self._observe(event, call, state)
        if isinstance(event, CallDisposition):
            call.disposed = True
        if call.ended_at is not None and (call.disposed or past_grace):
            for admitted in self.gate.flush(state):
                self._segment(admitted.segment, call)
            self.gate.clear(state)
            state.set("quality", {"scored": True})
            return [self._score(event, call)]
        state.set("quality", msgspec.to_builtins(call))
        return []

    def _observe(self, event: Envelope, call: QualityCall, state: CallState) -> None:
        if isinstance(event, RedactedSegment):
            for admitted in self.gate.admit(event, state):
                self._segment(admitted.segment, call)
        elif isinstance(event, AgentAction):
            if event.action == "verify_identity" and event.success and call.verified_at is None:
                call.verified_at = event.event_time_ms
            elif event.action in ACCOUNT_CHANGES and call.first_change is None:
                call.first_change = (event.event_time_ms, event.action)
        elif isinstance(event, CallHeld):
            call.holds.append(event.event_time_ms)
        elif isinstance(event, CallConnected):
            call.agent_id = event.agent_id
        elif isinstance(event, CallEnded):
            call.ended_at, call.ended_by = event.event_time_ms, event.ended_by
            call.agent_id = call.agent_id or event.agent_id

    def _segment(self, segment: Segment, call: QualityCall) -> None:
        if segment.participant != "agent":
            return
        first = call.first_agent
        if first is None or segment.sequence < first[0]:
            found = greets(segment.text)
            call.first_agent = (segment.sequence, found[0] if found else None)
        if call.disclosure is None and disclosure(segment.text):
            call.disclosure = disclosure(segment.text)[0]
        if asks_to_hold(segment.text):
            call.hold_asks.append(segment.event_time_ms)
        found = closes(segment.text)
        tail = call.agent_tail
        tail.append((segment.sequence, found[0] if found else None))
        tail.sort(key=lambda item: item[0])
        del tail[:-CLOSING_TAIL]

    def _score(self, source: Envelope, call: QualityCall) -> QualityScored:
        checks: list[QualityCheck] = []
        first = call.first_agent
        checks.append(QualityCheck("greeting", bool(first and first[1]),
                                   f'said "{first[1]}"' if first and first[1] else "no greeting in the agent's first line"))
        said = call.disclosure
        checks.append(QualityCheck("disclosure", said is not None,
                                   f'said "{said}"' if said else "recording disclosure not said"))
        change = call.first_change
        if change is not None:
            verified_at = call.verified_at
            ok = verified_at is not None and verified_at <= change[0]
            checks.append(QualityCheck("identity_verified_first", ok,
                                       f"verified before {change[1]}" if ok else f"{change[1]} before any passed identity check"))
        holds = call.holds
        if holds:
            unasked = _unasked_holds(holds, call.hold_asks)
            checks.append(QualityCheck("hold_etiquette", unasked == 0,
                                       f"asked before all {len(holds)} holds" if unasked == 0
                                       else f"{unasked} of {len(holds)} holds without asking"))
        if call.ended_by != "transfer":
            # the greeting ("Thank you for calling ...") is never also the closing
            opening = first[0] if first else None
            closing_phrase = next((phrase for sequence, phrase in reversed(call.agent_tail)
                                   if phrase and sequence != opening), None)
            checks.append(QualityCheck("closing", closing_phrase is not None,
                                       f'said "{closing_phrase}"' if closing_phrase else "no closing in the agent's last lines"))
        weight = sum(CHECK_WEIGHTS[c.name] for c in checks)
        passed = sum(CHECK_WEIGHTS[c.name] for c in checks if c.passed)
        return derive(QualityScored, source, self.name, "quality", agent_id=call.agent_id,
                      score=round(100.0 * passed / weight, 1), checks=checks)


def _unasked_holds(holds: list[int], asks: list[int]) -> int:
    """Holds with no ask of their own: each ask (before the hold, after the previous one)
    covers one hold."""
    asks = sorted(asks)
    unasked, i, previous = 0, 0, -1
    for held_at in sorted(holds):
        while i < len(asks) and asks[i] <= previous:
            i += 1
        if i < len(asks) and asks[i] <= held_at:
            i += 1
        else:
            unasked += 1
        previous = held_at
    return unasked
