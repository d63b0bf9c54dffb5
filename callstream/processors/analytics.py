"""Per-queue and per-agent analytics: calls handled, average handle time, average customer
sentiment and escalations, in tumbling windows.

Two parts:

* ``AnalyticsAggregator.process`` follows one contact and, once it is over, emits two
  *unit windows* (``AnalyticsWindow`` with ``calls_handled=1``, one for the queue and one
  for the agent) whose ``window_start_ms``/``window_end_ms`` are the call's connect and
  end times, and whose ``event_time_ms`` is the end. A call never connected to an agent
  (abandoned in the queue) was not handled and emits nothing. Like QA, it waits for the
  agent's ``call.disposition`` (or the first event ``GRACE_MS`` past the end) so that the
  sentiment of the last lines, which arrive after ``call.ended``, counts; the handle time
  includes the wrap-up up to the disposition (talk + hold + after-call work).
* ``window_aggregates(units, window_ms)`` folds unit windows into tumbling windows per
  (dimension, key) by the call's end time. It is built from ``window_initializer``,
  ``window_reducer`` and ``window_result``, which also fit Quix Streams'
  ``tumbling_window(...).reduce(reducer, initializer)`` after a ``group_by`` on
  ``dimension`` and ``key``: ``AnalyticsAggregator.windowing`` hands them to the runtime's
  window stage (``WINDOW_MS`` windows keyed ``window_key``). Accumulators are plain dicts
  (Quix stores them as JSON).

Aggregated windows belong to no contact (``contact_id`` is empty); their event id is
``analytics:<dimension>:<key>:<window start>``, the same whenever the window is recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from callstream.contract.events import (
    AnalyticsWindow,
    CallConnected,
    CallDisposition,
    CallEnded,
    CallHeartbeat,
    CallQueued,
    Envelope,
    EscalationOpened,
    SentimentScored,
)
from callstream.processors.base import CallState, Processor, WindowSpec, derive, now_ms

GRACE_MS = 10_000
#: the runtime's tumbling windows: one minute keeps a supervisor's view live; longer
#: intervals (15 min for workforce planning) re-aggregate these with ``window_reducer``
WINDOW_MS = 60_000
#: a unit is emitted after the wrap-up (up to ~30 s after the call's end, its timestamp)
WINDOW_GRACE_MS = 60_000
PRODUCER = "analytics"
#: sentiment segment ids remembered per call, to count a re-delivered score once
SEEN_LIMIT = 256


# --- tumbling windows ----------------------------------------------------------------------

def window_initializer(unit: AnalyticsWindow) -> dict[str, Any]:
    """A window accumulator holding one unit (Quix ``reduce`` initializer)."""
    return window_reducer({"dimension": unit.dimension, "key": unit.key, "calls": 0, "handle_ms": 0.0,
                           "sentiment_sum": 0.0, "sentiment_calls": 0, "escalations": 0}, unit)


def window_reducer(acc: dict[str, Any], unit: AnalyticsWindow) -> dict[str, Any]:
    """``acc`` with one more unit (or an aggregated window) folded in."""
    calls = unit.calls_handled
    acc["calls"] += calls
    acc["handle_ms"] += unit.avg_handle_ms * calls
    if unit.avg_sentiment is not None:
        acc["sentiment_sum"] += unit.avg_sentiment * calls
        acc["sentiment_calls"] += calls
    acc["escalations"] += unit.escalations
    return acc


def window_result(acc: dict[str, Any], window_start_ms: int, window_end_ms: int) -> AnalyticsWindow:
    """The ``AnalyticsWindow`` an accumulator stands for."""
    calls = acc["calls"]
    return AnalyticsWindow(
        event_id=f"analytics:{acc['dimension']}:{acc['key']}:{window_start_ms}",
        contact_id="",
        event_time_ms=window_end_ms,
        produced_at_ms=now_ms(),
        producer=PRODUCER,
        dimension=acc["dimension"],
        key=acc["key"],
        window_start_ms=window_start_ms,
        window_end_ms=window_end_ms,
        calls_handled=calls,
        avg_handle_ms=acc["handle_ms"] / calls if calls else 0.0,
        avg_sentiment=_clamp(acc["sentiment_sum"] / acc["sentiment_calls"]) if acc["sentiment_calls"] else None,
        escalations=acc["escalations"],
    )


def window_aggregates(per_call_summaries: Iterable[AnalyticsWindow], window_ms: int) -> list[AnalyticsWindow]:
    """Tumbling windows of ``window_ms`` per (dimension, key), each call in the window of its
    end time; sorted by window start, dimension and key."""
    if window_ms <= 0:
        raise ValueError(f"window_ms must be positive, got {window_ms}")
    accumulators: dict[tuple[str, str, int], dict[str, Any]] = {}
    for unit in per_call_summaries:
        start = unit.window_end_ms - unit.window_end_ms % window_ms
        slot = (unit.dimension, unit.key, start)
        if slot in accumulators:
            window_reducer(accumulators[slot], unit)
        else:
            accumulators[slot] = window_initializer(unit)
    return [window_result(acc, start, start + window_ms)
            for (_, _, start), acc in sorted(accumulators.items(), key=lambda item: (item[0][2], item[0][0], item[0][1]))]


def window_key(unit: AnalyticsWindow) -> str:
    """The group (and message) key of a window: ``queue:billing``, ``agent:agent-billing-007``."""
    return f"{unit.dimension}:{unit.key}"


def _clamp(score: float) -> float:
    return max(-1.0, min(1.0, score))


# --- one contact ----------------------------------------------------------------------------

class AnalyticsCall(msgspec.Struct):
    """What the aggregator keeps about one call until its wrap-up ends."""

    queue: str | None = None
    agent_id: str | None = None
    connected_at: int | None = None
    ended_at: int | None = None
    sentiment_sum: float = 0.0
    #: customer segments already counted (a re-delivered score counts once)
    sentiment_segments: list[str] = msgspec.field(default_factory=list)
    escalations: list[str] = msgspec.field(default_factory=list)


class AnalyticsAggregator(Processor):
    name = "analytics"
    description = "Per-queue and per-agent calls handled, handle time, customer sentiment and escalations"
    inputs = ("callstream.call.lifecycle", "callstream.signals.sentiment", "callstream.signals.escalation")
    outputs = ("callstream.analytics.windows",)
    guarantee = "exactly-once"
    niceness = 10  # scores and aggregates for later: the live path goes first
    #: heartbeats stop at the call's end, so one is never the event past the grace
    ignores = (CallHeartbeat,)
    windowing = WindowSpec(
        window_ms=WINDOW_MS, key=window_key, initializer=window_initializer, reducer=window_reducer,
        result=window_result, unit_type=AnalyticsWindow, grace_ms=WINDOW_GRACE_MS,
    )

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        stored: dict[str, Any] | None = state.get("analytics")
        if stored is not None and stored.get("done"):
            return []
        call = AnalyticsCall() if stored is None else msgspec.convert(stored, AnalyticsCall)
        ended_at = call.ended_at
        past_grace = ended_at is not None and event.event_time_ms >= ended_at + GRACE_MS
        if isinstance(event, SentimentScored) and not past_grace:
            if event.participant == "customer" and event.segment_id not in call.sentiment_segments:
                call.sentiment_segments = [*call.sentiment_segments, event.segment_id][-SEEN_LIMIT:]
                call.sentiment_sum += event.score
        elif isinstance(event, EscalationOpened):
            if event.escalation_id not in call.escalations:
                call.escalations.append(event.escalation_id)
        elif isinstance(event, CallQueued):
            call.queue = event.queue
        elif isinstance(event, CallConnected):
            call.queue, call.agent_id, call.connected_at = event.queue, event.agent_id, event.event_time_ms
        elif isinstance(event, CallEnded):
            call.ended_at = event.event_time_ms
            call.queue = call.queue or event.queue
            call.agent_id = call.agent_id or event.agent_id
        if call.ended_at is not None and (isinstance(event, CallDisposition) or past_grace):
            state.set("analytics", {"done": True})  # a tombstone: the call is counted once
            wrap_up_end = event.event_time_ms if isinstance(event, CallDisposition) else call.ended_at
            return self._units(event, call, wrap_up_end)
        state.set("analytics", msgspec.to_builtins(call))
        return []

    def _units(self, source: Envelope, call: AnalyticsCall, handled_until: int) -> list[AnalyticsWindow]:
        if call.connected_at is None or call.agent_id is None:
            return []  # abandoned before an agent answered: not a handled call
        segments = len(call.sentiment_segments)
        fields = {
            "window_start_ms": call.connected_at,
            "window_end_ms": call.ended_at,
            "calls_handled": 1,
            "avg_handle_ms": float(max(0, handled_until - call.connected_at)),
            "avg_sentiment": _clamp(call.sentiment_sum / segments) if segments else None,
            "escalations": len(call.escalations),
        }
        units = []
        for dimension, key in (("queue", call.queue or "unknown"), ("agent", call.agent_id)):
            unit = derive(AnalyticsWindow, source, self.name, f"analytics.{dimension}",
                          dimension=dimension, key=key, **fields)
            units.append(msgspec.structs.replace(unit, event_time_ms=call.ended_at))
        return units
