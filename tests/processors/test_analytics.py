"""Analytics: nothing until a call is over, then one unit window per queue and agent;
``window_aggregates`` folds units into tumbling windows with weighted averages."""

from __future__ import annotations

import json
import time

import pytest
from support.calls import T0, CallBuilder, run_processor

from callstream.contract.events import (
    AnalyticsWindow,
    CallConnected,
    CallDisposition,
    CallEnded,
    CallHeartbeat,
    CallQueued,
    Envelope,
    EscalationOpened,
)
from callstream.processors.analytics import (
    GRACE_MS,
    AnalyticsAggregator,
    window_aggregates,
    window_initializer,
    window_key,
    window_reducer,
    window_result,
)
from callstream.processors.base import MemoryState


class Call(CallBuilder):
    step_ms = 1_000


def run(events: list[Envelope], state: MemoryState | None = None) -> list[AnalyticsWindow]:
    return run_processor(AnalyticsAggregator(), events, state)


def handled_call(c: Call) -> tuple[list[Envelope], CallEnded, CallDisposition]:
    events = [
        c.event(CallQueued, queue="billing"),
        c.event(CallConnected, agent_id="agent-5", queue="billing"),  # connected at T0 + 2 s
        c.sentiment(-0.4, segment_id="s1"),
        c.sentiment(0.9, segment_id="s2", participant="agent"),  # the agent's mood is not the customer's
        c.event(EscalationOpened, escalation_id="e1", reasons=["anger"]),
        c.sentiment(-0.4, segment_id="s1"),  # a re-delivered score counts once
        c.sentiment(0.6, segment_id="s3"),
    ]
    ended = c.event(CallEnded, step_ms=60_000, ended_by="agent", duration_ms=65_000)
    late = c.sentiment(0.7, segment_id="s4")  # the last line's score arrives after the end
    disposition = c.event(CallDisposition, step_ms=5_000, agent_id="agent-5", disposition="resolved")
    return [*events, ended, late], ended, disposition


def test_a_handled_call_emits_one_unit_per_queue_and_agent_after_its_wrap_up() -> None:
    c, state = Call(), MemoryState()
    events, ended, disposition = handled_call(c)
    assert run(events, state) == []  # nothing until the call is over
    units = run([disposition], state)
    assert [(u.dimension, u.key) for u in units] == [("queue", "billing"), ("agent", "agent-5")]
    for unit in units:
        assert unit.calls_handled == 1 and unit.escalations == 1
        assert unit.avg_sentiment == pytest.approx((-0.4 + 0.6 + 0.7) / 3)
        assert unit.window_start_ms == T0 + 2_000 and unit.window_end_ms == ended.event_time_ms
        assert unit.avg_handle_ms == disposition.event_time_ms - (T0 + 2_000)  # talk + hold + wrap-up
        assert unit.event_time_ms == ended.event_time_ms and unit.caused_by == disposition.event_id
        assert unit.contact_id == "call-1"
    assert run([disposition, c.sentiment(1.0, segment_id="s9")], state) == []  # counted once
    assert state.data == {"analytics": {"done": True}}


def test_without_a_disposition_the_first_event_past_the_grace_closes_the_call() -> None:
    c, state = Call(), MemoryState()
    events, ended, _ = handled_call(c)
    run(events, state)
    heartbeat = c.event(CallHeartbeat, step_ms=GRACE_MS, state="connected", sequence=9)
    units = run([heartbeat], state)
    assert len(units) == 2 and units[0].avg_handle_ms == ended.event_time_ms - (T0 + 2_000)


def test_an_abandoned_call_is_not_a_handled_call() -> None:
    c = Call()
    assert run([c.event(CallQueued, queue="billing"), c.event(CallEnded, ended_by="customer", duration_ms=9_000),
                c.event(CallDisposition, agent_id="ivr", disposition="abandoned")]) == []


def unit(key: str, end_ms: int, handle_ms: float, sentiment: float | None, escalations: int = 0,
         dimension: str = "queue") -> AnalyticsWindow:
    return AnalyticsWindow(event_id=f"u-{key}-{end_ms}", contact_id="c", event_time_ms=end_ms, produced_at_ms=end_ms,
                           producer="test", dimension=dimension, key=key, window_start_ms=end_ms - 1, window_end_ms=end_ms,
                           calls_handled=1, avg_handle_ms=handle_ms, avg_sentiment=sentiment, escalations=escalations)


def test_window_aggregates_groups_by_key_and_end_time_with_weighted_averages() -> None:
    minute = 60_000
    units = [
        unit("billing", T0 + 10_000, 100_000.0, 0.5, escalations=1),
        unit("billing", T0 + 50_000, 200_000.0, None),  # no customer line scored: not in the sentiment average
        unit("billing", T0 + 70_000, 400_000.0, -0.5),
        unit("general", T0 + 20_000, 50_000.0, 0.1),
        unit("agent-1", T0 + 30_000, 80_000.0, 0.2, dimension="agent"),
    ]
    windows = window_aggregates(units, minute)
    summary = [(w.window_start_ms - T0, w.dimension, w.key, w.calls_handled, w.avg_handle_ms, w.avg_sentiment, w.escalations)
               for w in windows]
    assert summary == [
        (0, "agent", "agent-1", 1, 80_000.0, 0.2, 0),
        (0, "queue", "billing", 2, 150_000.0, 0.5, 1),
        (0, "queue", "general", 1, 50_000.0, 0.1, 0),
        (minute, "queue", "billing", 1, 400_000.0, -0.5, 0),
    ]
    assert all(w.window_end_ms - w.window_start_ms == minute and w.contact_id == "" for w in windows)
    assert windows[1].event_id == f"analytics:queue:billing:{T0}"


def test_the_reducer_parts_compose_like_window_aggregates() -> None:
    units = [unit("billing", T0 + i * 1_000, 1_000.0 * i, i / 10) for i in range(1, 6)]
    acc = window_initializer(units[0])
    for u in units[1:]:
        acc = window_reducer(acc, u)
    json.dumps(acc)  # Quix keeps window state as JSON
    [expected] = window_aggregates(units, 3_600_000)
    got = window_result(acc, expected.window_start_ms, expected.window_end_ms)
    assert comparable(got) == comparable(expected)


def comparable(window: AnalyticsWindow) -> tuple:
    return (window.key, window.calls_handled, window.avg_handle_ms, window.avg_sentiment, window.escalations,
            window.window_start_ms, window.window_end_ms, window.event_id)


def test_window_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="window_ms"):
        window_aggregates([], 0)


def test_the_runtime_windows_units_by_dimension_and_key() -> None:
    spec = AnalyticsAggregator.windowing
    assert spec is not None and spec.unit_type is AnalyticsWindow
    assert spec.key is window_key and window_key(unit("billing", T0, 1.0, None)) == "queue:billing"
    assert spec.grace_ms >= 30_000  # units come after the wrap-up, up to ~30 s after their timestamp


def test_worker_windows_match_window_aggregates(pipeline, workers) -> None:
    """The runtime's tumbling-window stage with this processor's windowing spec produces the
    same windows as the pure ``window_aggregates`` (lifecycle only: no sentiment, no escalations)."""
    from callstream.contract.codec import decode_event
    from callstream.contract.events import LIFECYCLE_EVENTS
    from callstream.processors.analytics import WINDOW_GRACE_MS, WINDOW_MS
    from callstream.processors.base import KeyedMemoryState
    from callstream.simulate.conversation import ConversationProfile, generate_call

    # Calls twenty minutes apart, each produced once the previous one is processed: the units
    # then reach the window stage in event-time order whichever partition they come from (a
    # backlog read partition by partition would not). Recent times: the window stage writes
    # units to its repartition topic stamped with their event time, and Kafka deletes records
    # older than the topic's retention. Twelve calls close seven windows whatever the minute's
    # alignment (seed 3), each costing 1.5 s below.
    start_ms = int(time.time() * 1000) - 6 * 3_600_000
    calls = [[t.event for t in generate_call(index, start_ms + index * 20 * 60_000, seed=3, profile=ConversationProfile()).events
              if isinstance(t.event, LIFECYCLE_EVENTS)] for index in range(12)]
    aggregator, states = AnalyticsAggregator(), KeyedMemoryState()
    units = [u for call in calls for e in call for u in aggregator.process(e, states.for_key(e.contact_id))]
    expected = {(w.dimension, w.key, w.window_start_ms): w for w in window_aggregates(units, WINDOW_MS)}
    # Quix closes a window when a later unit of the same key passes its end + grace
    last_end: dict[str, int] = {}
    for u in units:
        last_end[window_key(u)] = max(last_end.get(window_key(u), 0), u.window_end_ms)
    must_close = {slot for slot, w in expected.items() if last_end[window_key(w)] > w.window_end_ms + WINDOW_GRACE_MS}
    assert len(must_close) >= 5

    workers("analytics")
    # running end to end once an unreadable message comes out on the dead-letter topic
    pipeline.produce_raw("callstream.call.lifecycle", b"not an event", key=b"warm-up")
    assert pipeline.read("callstream.deadletter", lambda ms: len(ms) >= 1, timeout_s=90, committed_only=True)
    for call in calls:
        pipeline.produce("callstream.call.lifecycle", call)
        time.sleep(1.5)  # more than a commit interval: the call's units are through the stage
    messages = pipeline.read("callstream.analytics.windows", lambda ms: len(ms) >= len(must_close),
                             timeout_s=60, committed_only=True)
    windows = {(w.dimension, w.key, w.window_start_ms): (w, m) for m in messages
               for w in [decode_event(m.value(), m.headers())]}
    print(f"\n{len(windows)} of {len(expected)} windows closed, {len(must_close)} had to")
    assert len(windows) == len(messages)  # each window once
    assert must_close <= set(windows)
    for slot, (window, message) in windows.items():
        want = expected[slot]
        assert (window.calls_handled, window.avg_handle_ms, window.window_end_ms) == (
            want.calls_handled, want.avg_handle_ms, want.window_end_ms)
        assert window.avg_sentiment is None and window.escalations == 0 and window.contact_id == ""
        assert message.key() == window_key(window).encode()
