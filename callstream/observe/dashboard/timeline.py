"""One call's timeline for the drill-down: replay's events with a one-line summary each.

The events come from ``callstream.archive.replay.call_timeline`` (archive plus the Kafka
tail). Raw transcripts are never included: the drill-down shows the redacted segments.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from callstream.archive.settings import ArchiveSettings
from callstream.contract.catalog import Catalog
from callstream.governance.acls import OBSERVER

if TYPE_CHECKING:
    from callstream.archive.replay import ArchiveView, KafkaTail
    from callstream.archive.tables import Archive

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


#: how long the drill-down keeps one pinned archive view. Events archived after the pin
#: are read from the Kafka tail, which starts at the view's archived offsets, so an older
#: view gives the same timeline, with a longer tail to read.
VIEW_MAX_AGE_S = 10.0


class CallDrillDown:
    """The dashboard's call lookups, sharing one archive catalog, one pinned archive view and
    one Kafka reader between requests, one request at a time.

    A new view and reader cost each drill-down ~230-290 ms at 10M archived events (opening
    the catalog and tables, and the reader's first authenticated connection; ADR 0013),
    where a lookup on kept ones takes ~60 ms. The view is re-pinned when it is older than
    ``max_age_s``, or at once when a file it names is gone (compaction, retention and
    erasure delete the files of the snapshots they replace)."""

    def __init__(self, archive_settings: ArchiveSettings, kafka_conf: Mapping[str, str], catalog: Catalog,
                 topic_names: Mapping[str, str] | None = None, *, max_age_s: float = VIEW_MAX_AGE_S) -> None:
        from callstream.archive.replay import ReplayScope

        rename = dict(topic_names or {})
        self.logical = {rename.get(t.name, t.name): t.name for t in catalog.topics}
        readable = catalog.readable_by(OBSERVER)
        self.scope = ReplayScope(topics=tuple(actual for actual, name in self.logical.items() if name in readable),
                                 restricted=frozenset(rename.get(t.name, t.name) for t in catalog.topics
                                                      if t.classification == "restricted"))
        self.archive_settings = archive_settings
        self.kafka_conf = dict(kafka_conf)
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        self._archive: Archive | None = None
        self._view: ArchiveView | None = None
        self._tail: KafkaTail | None = None
        self._pinned_at = 0.0
        #: views pinned so far (the first, the aged and the ones whose files went away)
        self.pins = 0

    def timeline(self, contact_id: str) -> dict[str, Any]:
        """The drill-down of one call (and the calls transferred to or from it)."""
        import duckdb

        with self._lock:
            try:
                return self._lookup(contact_id)
            except duckdb.IOException:  # a file of the pinned snapshots was deleted since
                self._unpin()
                return self._lookup(contact_id)

    def close(self) -> None:
        with self._lock:
            self._unpin()
            if self._tail is not None:
                self._tail.close()
                self._tail = None

    def _lookup(self, contact_id: str) -> dict[str, Any]:
        from callstream.archive.replay import call_timeline

        view, tail = self._pinned(), self._reader()
        tail.forget()  # a new request reads the tail afresh
        # Producers differ in partitioner (Java-compatible murmur2 in Quix, librdkafka's CRC32
        # by default): look in both partitions a key can be in, and merge.
        seen: dict[tuple[str, int, int], Any] = {}
        contact_ids: list[str] = []
        for partitioner in ("murmur2_random", "consistent_random"):
            timeline = call_timeline(view.archive, contact_id, scope=self.scope, partitioner=partitioner,
                                     view=view, tail=tail)
            contact_ids += [c for c in timeline.contact_ids if c not in contact_ids]
            for e in timeline.events:
                seen.setdefault((e.topic, e.partition, e.offset), e)
        return self._document(contact_id, contact_ids, list(seen.values()))

    def _pinned(self) -> ArchiveView:
        from callstream.archive.replay import ArchiveView
        from callstream.archive.tables import Archive

        if self._view is not None and time.monotonic() - self._pinned_at > self.max_age_s:
            self._unpin()
        if self._view is None:
            if self._archive is None:
                self._archive = Archive.open(self.archive_settings)
            self._view = ArchiveView(self._archive, self.scope.visible(False))
            self._pinned_at = time.monotonic()
            self.pins += 1
        return self._view

    def _reader(self) -> KafkaTail:
        from callstream.archive.replay import KafkaTail

        if self._tail is None:
            self._tail = KafkaTail(self.kafka_conf)
        return self._tail

    def _unpin(self) -> None:
        if self._view is not None:
            self._view.close()
            self._view = None

    def _document(self, contact_id: str, contact_ids: list[str], events: list[Any]) -> dict[str, Any]:
        rows = []
        for e in events:
            body = e.event()
            rows.append({"t_ms": e.sort_key[0], "contact_id": e.contact_id, "event_type": e.event_type,
                         "kind": KINDS.get(e.event_type or "", "lifecycle"), "topic": self.logical.get(e.topic, e.topic),
                         "source": e.source, "summary": summarize(e.event_type, body), "event": body})
        rows.sort(key=lambda r: (r["t_ms"], KIND_ORDER[r["kind"]]))
        return {"contact_id": contact_id, "contact_ids": contact_ids, "events": rows,
                "from_archive": sum(1 for e in events if e.source == "archive"),
                "from_kafka": sum(1 for e in events if e.source == "kafka")}
