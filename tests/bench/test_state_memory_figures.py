"""The state-memory benchmark tells a store filling to its bound from a leak, per hour of
traffic the worker consumed."""

from __future__ import annotations

import pytest
from bench_scripts import load_bench


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
