"""The soak benchmark tells a cache filling to its cap from a leak: both grow over the whole
run, only the leak still grows in its last third."""

from __future__ import annotations

import argparse

import pytest
from bench_scripts import load_bench


@pytest.fixture(scope="module")
def soak():
    yield from load_bench("soak")


def run(soak, memory_mb) -> dict:
    """Figures of one process sampled every 20 s for 30 min, 5 of them warm-up."""
    args = argparse.Namespace(minutes=30, warmup=300, rate=300, speedup=1, bundled=False)
    process = soak.Process(1, "worker")
    process.samples = [(t, memory_mb(t), t * 0.1) for t in range(0, 1801, 20)]
    return soak.soak_figures({1: process}, [], args, 0, 1800)["processes"]["worker"]


def test_a_cache_that_reaches_its_cap_levels_off_in_the_last_third(soak):
    # +100 MB an hour until 15 min in (the cap), then flat
    figures = run(soak, lambda t: 200 + 100 * min(t, 900) / 3600)
    assert figures["slope_mb_per_h"] > 30
    assert abs(figures["late_slope_mb_per_h"]) < 1


def test_a_leak_keeps_its_slope_to_the_end(soak):
    figures = run(soak, lambda t: 200 + 100 * t / 3600)
    assert figures["slope_mb_per_h"] == pytest.approx(100, abs=1)
    assert figures["late_slope_mb_per_h"] == pytest.approx(100, abs=1)
