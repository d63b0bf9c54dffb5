"""A warm start: the run opens on calls already in progress, not on an empty contact center."""

from __future__ import annotations

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
