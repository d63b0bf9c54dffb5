"""The supervisor's board: calls in progress by queue, open escalations and fraud alerts
with their reasons, sentiment, quality and per-agent / per-queue figures, folded from the
event stream.

``SupervisorBoard.apply(event)`` is pure bookkeeping over typed events (no Kafka), so it is
unit-tested with hand-built calls; the observer feeds it what it reads from the topics.
Lifecycle events may be re-sent, so every update is an idempotent upsert keyed by contact.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from callstream.contract.events import (
    AnalyticsWindow,
    AssistPrompt,
    CallConnected,
    CallDisposition,
    CallEnded,
    CallHeld,
    CallInitiated,
    CallQueued,
    CallResumed,
    CallTransferred,
    Envelope,
    EscalationClosed,
    EscalationOpened,
    FraudScored,
    QualityScored,
    RoutingDecision,
    SentimentScored,
    SupervisorAlert,
    event_tag,
)

#: contacts remembered for search and drill-down after they end
RECENT_CONTACTS = 2000
RECENT_ALERTS = 100
UNASSIGNED = "(unassigned)"


@dataclass
class _Mean:
    total: float = 0.0
    n: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.n += 1

    @property
    def value(self) -> float | None:
        return round(self.total / self.n, 3) if self.n else None


@dataclass
class _Figures:
    """Per-agent or per-queue running figures."""

    in_progress: int = 0
    handled: int = 0
    handle_ms: _Mean = field(default_factory=_Mean)
    wait_ms: _Mean = field(default_factory=_Mean)
    sentiment: _Mean = field(default_factory=_Mean)
    quality: _Mean = field(default_factory=_Mean)
    escalations: int = 0
    fraud_alerts: int = 0

    def view(self) -> dict[str, Any]:
        return {"in_progress": self.in_progress, "handled": self.handled, "avg_handle_s": _seconds(self.handle_ms.value),
                "avg_wait_s": _seconds(self.wait_ms.value), "avg_sentiment": self.sentiment.value,
                "sentiment_samples": self.sentiment.n, "avg_quality": self.quality.value,
                "quality_samples": self.quality.n, "escalations": self.escalations, "fraud_alerts": self.fraud_alerts}


def _seconds(ms: float | None) -> float | None:
    return round(ms / 1000, 1) if ms is not None else None


@dataclass
class _Contact:
    contact_id: str
    state: str = "initiated"  # initiated | queued | connected | held | ended
    started_ms: int = 0
    queue: str | None = None
    agent_id: str | None = None
    sentiment: float | None = None  # the customer's latest rolling score
    fraud_level: str | None = None
    escalated: bool = False
    ended_ms: int | None = None
    disposition: str | None = None
    quality: float | None = None
    #: figures this contact was counted under as in progress (undone when it moves or ends)
    counted: tuple[str | None, str | None] = (None, None)

    def view(self) -> dict[str, Any]:
        return {"contact_id": self.contact_id, "state": self.state, "started_ms": self.started_ms,
                "queue": self.queue, "agent_id": self.agent_id, "sentiment": self.sentiment,
                "fraud_level": self.fraud_level, "escalated": self.escalated, "ended_ms": self.ended_ms,
                "disposition": self.disposition, "quality": self.quality}


class SupervisorBoard:
    """What a supervisor sees, updated one event at a time."""

    def __init__(self) -> None:
        self.contacts: OrderedDict[str, _Contact] = OrderedDict()
        self.queues: dict[str, _Figures] = {}
        self.agents: dict[str, _Figures] = {}
        self.open_escalations: dict[str, dict[str, Any]] = {}
        self.alerts: deque[dict[str, Any]] = deque(maxlen=RECENT_ALERTS)
        self._alert_ids: set[str] = set()  # of the alerts kept: re-sent alerts are dropped
        self.alert_kinds: Counter[str] = Counter()
        self.fraud: dict[str, dict[str, Any]] = {}
        self.quality_recent: deque[dict[str, Any]] = deque(maxlen=50)
        self.assist_intents: Counter[str] = Counter()
        self.routing_recent: deque[dict[str, Any]] = deque(maxlen=50)
        self.windows: dict[tuple[str, str], dict[str, Any]] = {}
        self.events = 0

    # --- bookkeeping --------------------------------------------------------------------

    def _contact(self, contact_id: str, at_ms: int) -> _Contact:
        contact = self.contacts.get(contact_id)
        if contact is None:
            contact = self.contacts[contact_id] = _Contact(contact_id, started_ms=at_ms)
            while len(self.contacts) > RECENT_CONTACTS:
                _, old = self.contacts.popitem(last=False)
                self._uncount(old)
        else:
            self.contacts.move_to_end(contact_id)
        return contact

    @staticmethod
    def _figures_of(table: dict[str, _Figures], key: str) -> _Figures:
        return table.setdefault(key, _Figures())

    def _figures(self, table: dict[str, _Figures], key: str | None) -> _Figures | None:
        return None if key is None else self._figures_of(table, key)

    def _uncount(self, contact: _Contact) -> None:
        queue, agent = contact.counted
        for table, key in ((self.queues, queue), (self.agents, agent)):
            if key is not None and key in table:
                table[key].in_progress -= 1
        contact.counted = (None, None)

    def _recount(self, contact: _Contact) -> None:
        """Count a live contact under its current queue and agent (idempotently)."""
        self._uncount(contact)
        if contact.state == "ended":
            return
        queue = contact.queue or UNASSIGNED
        self._figures_of(self.queues, queue).in_progress += 1
        if contact.agent_id:
            self._figures_of(self.agents, contact.agent_id).in_progress += 1
        contact.counted = (queue, contact.agent_id)

    def apply(self, event: Envelope) -> None:
        self.events += 1
        handler = self._HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _initiated(self, e: CallInitiated) -> None:
        contact = self._contact(e.contact_id, e.event_time_ms)
        contact.started_ms = min(contact.started_ms or e.event_time_ms, e.event_time_ms)
        if contact.state != "ended":
            self._recount(contact)

    def _queued(self, e: CallQueued) -> None:
        contact = self._contact(e.contact_id, e.event_time_ms)
        if contact.state in ("initiated", "queued"):
            contact.state, contact.queue = "queued", e.queue
            self._recount(contact)

    def _connected(self, e: CallConnected) -> None:
        contact = self._contact(e.contact_id, e.event_time_ms)
        if contact.state == "ended":
            return
        first = contact.state in ("initiated", "queued")
        contact.state, contact.queue, contact.agent_id = "connected", e.queue, e.agent_id
        if first:
            self._figures_of(self.queues, e.queue).wait_ms.add(e.wait_ms)
        self._recount(contact)

    def _held(self, e: CallHeld) -> None:
        contact = self._contact(e.contact_id, e.event_time_ms)
        if contact.state != "ended":
            contact.state = "held"

    def _resumed(self, e: CallResumed) -> None:
        contact = self._contact(e.contact_id, e.event_time_ms)
        if contact.state != "ended":
            contact.state = "connected"

    def _transferred(self, e: CallTransferred) -> None:
        self.routing_recent.appendleft({"contact_id": e.contact_id, "at_ms": e.event_time_ms, "target_queue": e.to_queue,
                                        "reason": f"transfer: {e.reason}" if e.reason else "transfer"})

    def _ended(self, e: CallEnded) -> None:
        contact = self._contact(e.contact_id, e.event_time_ms)
        if contact.state == "ended":
            return  # a re-sent end
        self._uncount(contact)
        contact.state, contact.ended_ms = "ended", e.event_time_ms
        queue = e.queue or contact.queue
        agent = e.agent_id or contact.agent_id
        for figures in (self._figures(self.queues, queue), self._figures(self.agents, agent)):
            if figures is not None:
                figures.handled += 1
                figures.handle_ms.add(e.duration_ms)

    def _disposition(self, e: CallDisposition) -> None:
        self._contact(e.contact_id, e.event_time_ms).disposition = e.disposition

    def _sentiment(self, e: SentimentScored) -> None:
        if e.participant != "customer":
            return
        contact = self._contact(e.contact_id, e.event_time_ms)
        contact.sentiment = round(e.rolling_score, 3)
        for figures in (self._figures(self.queues, contact.queue), self._figures(self.agents, contact.agent_id)):
            if figures is not None:
                figures.sentiment.add(e.score)

    def _escalation_opened(self, e: EscalationOpened) -> None:
        if e.escalation_id in self.open_escalations:
            return
        contact = self._contact(e.contact_id, e.event_time_ms)
        contact.escalated = True
        queue, agent = e.queue or contact.queue, e.agent_id or contact.agent_id
        self.open_escalations[e.escalation_id] = {
            "escalation_id": e.escalation_id, "contact_id": e.contact_id, "reasons": list(e.reasons),
            "queue": queue, "agent_id": agent, "opened_ms": e.event_time_ms}
        for figures in (self._figures(self.queues, queue), self._figures(self.agents, agent)):
            if figures is not None:
                figures.escalations += 1

    def _escalation_closed(self, e: EscalationClosed) -> None:
        self.open_escalations.pop(e.escalation_id, None)

    def _alert(self, e: SupervisorAlert) -> None:
        if e.alert_id in self._alert_ids:
            return
        if len(self.alerts) == self.alerts.maxlen:
            self._alert_ids.discard(self.alerts[-1]["alert_id"])  # the oldest, about to drop out
        self._alert_ids.add(e.alert_id)
        self.alert_kinds[e.kind] += 1
        contact = self.contacts.get(e.contact_id)
        queue = e.queue or (contact.queue if contact else None)
        agent = e.agent_id or (contact.agent_id if contact else None)
        self.alerts.appendleft({"alert_id": e.alert_id, "contact_id": e.contact_id, "kind": e.kind,
                                "severity": e.severity, "message": e.message, "queue": queue,
                                "agent_id": agent, "at_ms": e.event_time_ms})
        if e.kind == "fraud":
            for figures in (self._figures(self.queues, queue), self._figures(self.agents, agent)):
                if figures is not None:
                    figures.fraud_alerts += 1

    def _fraud(self, e: FraudScored) -> None:
        contact = self._contact(e.contact_id, e.event_time_ms)
        contact.fraud_level = e.level
        if e.level in ("medium", "high", "critical"):
            self.fraud[e.contact_id] = {"contact_id": e.contact_id, "score": round(e.score, 3), "level": e.level,
                                        "reasons": list(e.reasons), "at_ms": e.event_time_ms}
        else:
            self.fraud.pop(e.contact_id, None)

    def _quality(self, e: QualityScored) -> None:
        contact = self._contact(e.contact_id, e.event_time_ms)
        if contact.quality is not None:
            return  # re-sent
        contact.quality = e.score
        agent = e.agent_id or contact.agent_id
        for figures in (self._figures(self.agents, agent), self._figures(self.queues, contact.queue)):
            if figures is not None:
                figures.quality.add(e.score)
        self.quality_recent.appendleft({"contact_id": e.contact_id, "agent_id": agent, "score": e.score,
                                        "failed": [c.name for c in e.checks if not c.passed], "at_ms": e.event_time_ms})

    def _assist(self, e: AssistPrompt) -> None:
        self.assist_intents[e.intent] += 1

    def _routing(self, e: RoutingDecision) -> None:
        self.routing_recent.appendleft({"contact_id": e.contact_id, "at_ms": e.event_time_ms,
                                        "target_queue": e.target_queue, "reason": e.reason})

    def _window(self, e: AnalyticsWindow) -> None:
        key = (e.dimension, e.key)
        current = self.windows.get(key)
        if current is None or current["window_end_ms"] <= e.window_end_ms:
            self.windows[key] = {"dimension": e.dimension, "key": e.key, "window_start_ms": e.window_start_ms,
                                 "window_end_ms": e.window_end_ms, "calls_handled": e.calls_handled,
                                 "avg_handle_s": round(e.avg_handle_ms / 1000, 1), "avg_sentiment": e.avg_sentiment,
                                 "escalations": e.escalations}

    _HANDLERS: dict[type, Any] = {
        CallInitiated: _initiated, CallQueued: _queued, CallConnected: _connected, CallHeld: _held,
        CallResumed: _resumed, CallTransferred: _transferred, CallEnded: _ended, CallDisposition: _disposition,
        SentimentScored: _sentiment, EscalationOpened: _escalation_opened, EscalationClosed: _escalation_closed,
        SupervisorAlert: _alert, FraudScored: _fraud, QualityScored: _quality, AssistPrompt: _assist,
        RoutingDecision: _routing, AnalyticsWindow: _window,
    }
    #: the event types the board reads (the observer decodes only these in full)
    EVENT_TYPES = frozenset(event_tag(cls) for cls in _HANDLERS)

    # --- views ------------------------------------------------------------------------------

    def calls_in_progress(self) -> dict[str, int]:
        return {q: f.in_progress for q, f in sorted(self.queues.items()) if f.in_progress > 0}

    def live_sentiment(self) -> dict[str, dict[str, float | None]]:
        """Mean of the latest rolling customer score of the calls in progress, by queue and agent."""
        by: dict[str, dict[str, _Mean]] = {"queue": {}, "agent": {}}
        for c in self.contacts.values():
            if c.state == "ended" or c.sentiment is None:
                continue
            by["queue"].setdefault(c.queue or UNASSIGNED, _Mean()).add(c.sentiment)
            if c.agent_id:
                by["agent"].setdefault(c.agent_id, _Mean()).add(c.sentiment)
        return {dim: {k: m.value for k, m in sorted(values.items())} for dim, values in by.items()}

    def search(self, text: str, limit: int = 20) -> list[dict[str, Any]]:
        """Contacts whose id contains ``text``, most recent first."""
        needle = text.strip().lower()
        found = []
        for contact in reversed(self.contacts.values()):
            if needle in contact.contact_id.lower():
                found.append(contact.view())
                if len(found) >= limit:
                    break
        return found

    def view(self) -> dict[str, Any]:
        """Everything the supervisor view shows, as JSON-ready data."""
        escalations = sorted(self.open_escalations.values(), key=lambda e: e["opened_ms"], reverse=True)
        fraud = sorted(self.fraud.values(), key=lambda f: f["score"], reverse=True)[:50]
        return {
            "events": self.events,
            "calls_in_progress": self.calls_in_progress(),
            "calls_in_progress_total": sum(self.calls_in_progress().values()),
            "open_escalations": escalations,
            "alerts": list(self.alerts),
            "alert_kinds": dict(self.alert_kinds),
            "fraud": fraud,
            "sentiment": self.live_sentiment(),
            "queues": {k: f.view() for k, f in sorted(self.queues.items())},
            "agents": {k: f.view() for k, f in sorted(self.agents.items())},
            "quality_recent": list(self.quality_recent)[:20],
            "assist_intents": dict(self.assist_intents.most_common(10)),
            "routing_recent": list(self.routing_recent)[:20],
            "analytics_windows": sorted(self.windows.values(), key=lambda w: (w["dimension"], w["key"])),
        }
