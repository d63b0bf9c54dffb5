"""A warm start: the run opens on calls already in progress, not on an empty contact center."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from callstream.contract.events import CallInitiated, TranscriptSegment
from callstream.errors import SimulationError
from callstream.simulate.simulator import (
    SimulationSettings,
    arrivals_ms,
    calls_in_progress,
    content_hash,
    generate_events,
)

T0 = 1_790_000_000_000


def test_a_warm_start_opens_with_calls_mid_conversation():
    cold = SimulationSettings(rate_per_min=30, duration_s=60, seed=4, start_time_ms=T0)
    warm = SimulationSettings(rate_per_min=30, duration_s=60, seed=4, start_time_ms=T0, warm_start_s=180)
    cold_events, warm_events = list(generate_events(cold)), list(generate_events(warm))
    # cold: nothing is said in the first seconds; warm: speech from calls that began earlier
    assert not [e for e in cold_events if e.sim_time_s < 5 and isinstance(e.event, TranscriptSegment)]
    early_speech = [e for e in warm_events if 0 <= e.sim_time_s < 5 and isinstance(e.event, TranscriptSegment)]
    assert len({e.event.contact_id for e in early_speech}) >= 3
    backlog = [e for e in warm_events if e.sim_time_s < 0]
    assert backlog and all(e.event.event_time_ms < T0 for e in backlog)
    # every call still starts with its call.initiated, before the start for the warm ones
    first = {}
    for e in warm_events:
        first.setdefault(e.event.contact_id, e.event)
    assert all(isinstance(ev, CallInitiated) for ev in first.values())
    at_start = [n for s, n in calls_in_progress(warm_events) if s >= 0][0]
    assert at_start >= 5
    # the arrivals after the start are the cold run's; the warm ones all come before it
    cold_arrivals, warm_arrivals = arrivals_ms(cold.resolved()), arrivals_ms(warm.resolved())
    assert warm_arrivals[len(warm_arrivals) - len(cold_arrivals):] == cold_arrivals
    assert all(t < T0 for t in warm_arrivals[: len(warm_arrivals) - len(cold_arrivals)])
    assert content_hash(generate_events(warm)) == content_hash(warm_events)


def test_a_negative_warm_start_is_refused():
    with pytest.raises(SimulationError, match="warm start must be"):
        SimulationSettings(warm_start_s=-1)


def test_a_warm_release_sends_the_past_first_in_order_then_the_run_on_its_clock():
    warm = SimulationSettings(rate_per_min=30, duration_s=60, seed=4, start_time_ms=T0, warm_start_s=180,
                              warm_release_s=5, speedup=2)
    events = list(generate_events(warm))
    due = [warm.due_s(e.sim_time_s) for e in events]
    past = [d for e, d in zip(events, due, strict=True) if e.sim_time_s < 0]
    # the past is spread over the release, not sent as one burst, and never out of order
    assert past and min(past) >= 0 and max(past) < 5 and max(past) - min(past) > 2.5
    # at an even rate: each second of the release within a fifth of its mean (a linear
    # squeeze sent 82 in the first second and 744 in the last)
    per_second = Counter(int(d) for d in past)
    assert len(per_second) == 5 and max(per_second.values()) < 1.2 * len(past) / 5 < 1.44 * min(per_second.values())
    assert due == sorted(due)
    # the run's own events keep its clock, shifted by the release
    assert [d for e, d in zip(events, due, strict=True) if e.sim_time_s >= 0][:3] == [
        5 + e.sim_time_s / 2 for e in events if e.sim_time_s >= 0][:3]
    # without a release (or at max speed) the past goes out at once
    assert SimulationSettings(warm_start_s=180).due_s(-30) is None
    assert SimulationSettings(warm_start_s=180, warm_release_s=5, max_speed=True).due_s(-30) is None


def test_a_warm_release_moves_the_start_to_when_the_release_ends():
    before_ms = time.time_ns() // 1_000_000
    resolved = SimulationSettings(warm_start_s=180, warm_release_s=5).resolved()
    assert before_ms + 5000 <= resolved.start_time_ms <= time.time() * 1000 + 5000
    # without a warm start there is nothing to release
    assert SimulationSettings(warm_release_s=5).due_s(1.0) == 1.0


def test_a_negative_warm_release_is_refused():
    with pytest.raises(SimulationError, match="warm release must be"):
        SimulationSettings(warm_start_s=60, warm_release_s=-1)
