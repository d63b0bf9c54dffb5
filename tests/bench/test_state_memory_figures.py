"""The state-memory benchmark tells a store filling to its bound from a leak, per hour of
traffic the worker consumed."""

from __future__ import annotations

import pytest
from bench_scripts import load_bench

from callstream.processors.registry import load_processor


@pytest.fixture(scope="module")
def state_memory():
    yield from load_bench("state_memory")


def samples(memory_mb) -> list[tuple[float, float]]:
    """A sample every 0.1 h of traffic over 8 h."""
    return [(h / 10, memory_mb(h / 10)) for h in range(81)]


def test_a_store_that_reaches_its_bound_levels_off(state_memory):
    figures = state_memory.memory_figures(90, samples(lambda h: 90 + 300 * min(h, 2) / 2), 8)
    assert figures["growth_mb"] == pytest.approx(300)
    assert figures["mb_by_hour_of_traffic"]["1"] == pytest.approx(240)
    assert figures["mb_by_hour_of_traffic"]["8"] == pytest.approx(390)
    assert abs(figures["late_slope_mb_per_traffic_h"]) < 1


def test_a_leak_keeps_its_slope_to_the_end(state_memory):
    figures = state_memory.memory_figures(90, samples(lambda h: 90 + 40 * h), 8)
    assert figures["slope_mb_per_traffic_h"] == pytest.approx(40, abs=0.5)
    assert figures["late_slope_mb_per_traffic_h"] == pytest.approx(40, abs=0.5)


@pytest.mark.parametrize("name", ["assist", "quality", "escalation", "routing", "signals"])
def test_traffic_is_in_event_time_order_on_the_processors_inputs(state_memory, name):
    processor = load_processor(name)
    shape = state_memory.Traffic.for_processor(processor, finals=3)
    messages = list(state_memory.traffic(40, 1000, shape, 1_700_000_000_000, seed=1))
    times = [event.event_time_ms for _, event in messages]
    assert times == sorted(times)
    assert len(messages) == 40 * shape.per_call()
    assert {topic for topic, _ in messages} == {state_memory.REDACTED, state_memory.LIFECYCLE} & set(processor.inputs)
    for contact in {event.contact_id for _, event in messages}:
        lifecycle = [type(e).__name__ for t, e in messages if e.contact_id == contact and t == state_memory.LIFECYCLE]
        if lifecycle:  # each call opens with its initiation and closes with its disposition
            assert (lifecycle[0], lifecycle[-1]) == ("CallInitiated", "CallDisposition")


def test_heartbeats_are_written_only_for_processors_that_read_them(state_memory):
    def shape(name):
        return state_memory.Traffic.for_processor(load_processor(name), finals=2)

    assert shape("escalation").heartbeats and shape("fraud").heartbeats  # their gates expire on a beat
    assert not any(shape(name).heartbeats for name in ("quality", "routing", "analytics", "assist"))
    # a beat every 10 s over a call of 2 finals (30 s apart) ending 10 s after the last slot
    assert shape("escalation").per_call() == shape("quality").per_call() + 9


def test_the_signals_bundle_is_driven_with_heartbeats_and_frontline_is_not(state_memory):
    # signals reads both topics the bench writes and holds members that read heartbeats;
    # frontline reads raw transcripts, which the bench does not write
    assert "signals" in state_memory.drivable_processors()
    assert "frontline" not in state_memory.drivable_processors()
    assert state_memory.Traffic.for_processor(load_processor("signals"), finals=2).heartbeats
