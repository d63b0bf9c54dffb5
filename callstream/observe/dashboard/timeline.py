"""One call's timeline for the drill-down: replay's events with a one-line summary each.

The events come from ``callstream.archive.replay.call_timeline`` (archive plus the Kafka
tail). Raw transcripts are never included: the drill-down shows the redacted segments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callstream.archive.settings import ArchiveSettings
from callstream.contract.catalog import Catalog
from callstream.governance.acls import OBSERVER

#: the kinds the page colours and filters by
KINDS = {
    "transcript.redacted": "segment", "signal.sentiment": "signal", "signal.fraud": "signal",
    "signal.churn": "signal", "escalation.opened": "escalation", "escalation.closed": "escalation",
    "alert.supervisor": "alert", "routing.decision": "routing", "assist.prompt": "assist",
    "quality.scored": "quality", "analytics.window": "analytics",
}


#: at the same instant, what was said comes before what was derived from it
KIND_ORDER = {"lifecycle": 0, "segment": 1, "signal": 2, "assist": 3, "escalation": 4, "alert": 5, "routing": 6,
              "quality": 7, "analytics": 8}


def summarize(event_type: str | None, body: Mapping[str, Any]) -> str:
    """A readable line for one event of the timeline."""
    b = body
    match event_type:
        case "transcript.redacted":
            mark = " (partial)" if not b.get("is_final", True) else ""
            return f"{b.get('participant', '?')}: {b.get('text', '')}{mark}"
        case "signal.sentiment":
            return f"{b.get('participant')} sentiment {b.get('score', 0):+.2f} (rolling {b.get('rolling_score', 0):+.2f})"
        case "signal.fraud":
            return f"fraud {b.get('level')} {b.get('score', 0):.2f}: {', '.join(b.get('reasons') or []) or 'no reasons'}"
        case "signal.churn":
            return f"churn risk {b.get('score', 0):.2f}: {', '.join(b.get('reasons') or [])}"
        case "escalation.opened":
            return f"escalation opened: {', '.join(b.get('reasons') or [])}"
        case "escalation.closed":
            return f"escalation closed ({b.get('resolution')}) after {b.get('duration_ms', 0) / 1000:.0f} s"
        case "alert.supervisor":
            return f"{b.get('severity')} {b.get('kind')} alert: {b.get('message')}"
        case "routing.decision":
            return f"route to {b.get('target_queue')}: {b.get('reason')}"
        case "assist.prompt":
            return f"assist [{b.get('intent')}] {b.get('next_best_action')}"
        case "quality.scored":
            failed = [c.get("name") for c in b.get("checks") or [] if not c.get("passed")]
            return f"quality {b.get('score', 0):.0f}/100" + (f", failed: {', '.join(failed)}" if failed else ", all checks passed")
        case "call.initiated":
            return f"call initiated ({b.get('direction')} {b.get('channel')})"
        case "call.queued":
            return f"queued in {b.get('queue')} (depth {b.get('queue_depth', 0)})"
        case "call.connected":
            return f"connected to {b.get('agent_id')} in {b.get('queue')} after {b.get('wait_ms', 0) / 1000:.0f} s"
        case "call.held":
            return f"on hold: {b.get('reason') or 'no reason'}"
        case "call.resumed":
            return f"resumed after {b.get('hold_ms', 0) / 1000:.0f} s"
        case "call.transferred":
            return f"transferred to {b.get('to_queue')} as {b.get('new_contact_id')}: {b.get('reason')}"
        case "call.ended":
            return f"ended by {b.get('ended_by')} after {b.get('duration_ms', 0) / 1000:.0f} s"
        case "call.disposition":
            return f"disposition {b.get('disposition')}" + (f" ({b.get('intent')})" if b.get("intent") else "")
        case "call.heartbeat":
            return f"heartbeat ({b.get('state')})"
        case "agent.action":
            return f"agent {b.get('action')}" + ("" if b.get("success", True) else " FAILED")
        case "crm.update":
            return f"CRM {b.get('entity')} {b.get('change')}"
    return event_type or "(undecodable message)"


def call_timeline_view(contact_id: str, archive_settings: ArchiveSettings, kafka_conf: Mapping[str, str], catalog: Catalog,
                       topic_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The drill-down of one call (and the calls transferred to or from it)."""
    from callstream.archive.replay import ArchiveView, KafkaTail, ReplayScope, call_timeline
    from callstream.archive.tables import Archive

    rename = dict(topic_names or {})
    logical = {rename.get(t.name, t.name): t.name for t in catalog.topics}
    readable = {t.name for t in catalog.topics if OBSERVER in t.consumers}  # what its ACLs allow
    scope = ReplayScope(topics=tuple(actual for actual, name in logical.items() if name in readable),
                        restricted=frozenset(rename.get(t.name, t.name) for t in catalog.topics
                                             if t.classification == "restricted"))
    archive = Archive.open(archive_settings)
    # Producers differ in partitioner (Java-compatible murmur2 in Quix, librdkafka's CRC32
    # by default): look in both partitions a key can be in, and merge.
    # Both lookups share one pinned archive view and one Kafka reader (each partition read once).
    seen: dict[tuple[str, int, int], Any] = {}
    contact_ids: list[str] = []
    view, tail = ArchiveView(archive, scope.visible(False)), KafkaTail(kafka_conf)
    try:
        for partitioner in ("murmur2_random", "consistent_random"):
            timeline = call_timeline(archive, contact_id, scope=scope, partitioner=partitioner, view=view, tail=tail)
            contact_ids += [c for c in timeline.contact_ids if c not in contact_ids]
            for e in timeline.events:
                seen.setdefault((e.topic, e.partition, e.offset), e)
    finally:
        tail.close()
        view.close()
    events = list(seen.values())
    rows = []
    for e in events:
        body = e.event()
        rows.append({"t_ms": e.sort_key[0], "contact_id": e.contact_id, "event_type": e.event_type,
                     "kind": KINDS.get(e.event_type or "", "lifecycle"), "topic": logical.get(e.topic, e.topic),
                     "source": e.source, "summary": summarize(e.event_type, body), "event": body})
    rows.sort(key=lambda r: (r["t_ms"], KIND_ORDER[r["kind"]]))
    return {"contact_id": contact_id, "contact_ids": contact_ids, "events": rows,
            "from_archive": sum(1 for e in events if e.source == "archive"),
            "from_kafka": sum(1 for e in events if e.source == "kafka")}
