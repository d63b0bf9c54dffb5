"""The pipeline benchmark's rule for a growing lag: a commit sawtooth is not growth, a
backlog is, and the archiver's slow flush sawtooth is judged over its own period."""

from __future__ import annotations

import random
import statistics

import pytest
from bench_scripts import load_bench


@pytest.fixture(scope="module")
def pipeline():
    yield from load_bench("pipeline")


def samples(window_s: float, every_s: float, lag) -> list[tuple[float, int]]:
    """Lag read every ``every_s`` (the benchmark sleeps 1 s plus the offset query) over the window."""
    return [(t, int(lag(t))) for t in (i * every_s for i in range(int(window_s / every_s)))]


def jittered(seed: int, lag, window_s: float = 45.0) -> list[tuple[float, int]]:
    """Lag read as ``run_step`` reads it: pauses of 0.5-1.5 s, plus the offset query."""
    pauses, t, out = random.Random(seed), 0.0, []
    while t < window_s:
        out.append((t, int(lag(t))))
        t += pauses.uniform(0.5, 1.5) + 0.04
    return out


def judge(pipeline, lags: list[tuple[float, int]], period_s: float, window_s: float = 45.0) -> bool:
    mean = statistics.fmean(lag for _, lag in lags)
    return pipeline.lag_growing(pipeline.lag_floor_trend(lags, period_s), mean, window_s)


@pytest.mark.parametrize("every_s", [1.03, 1.05, 1.1])
def test_a_one_second_commit_sawtooth_is_not_growth(pipeline, every_s):
    # one second of input (1,600 messages) committed each second, read a little slower than that
    sawtooth = samples(45, every_s, lambda t: 1600 * (t % 1.0))
    assert pipeline.lag_slope(sawtooth) * 45 > 0  # the fitted line does see a trend in the aliasing
    assert not judge(pipeline, sawtooth, period_s=1.0)


@pytest.mark.parametrize("rate", [100, 681])
def test_a_backlog_under_the_sawtooth_is_growth(pipeline, rate):
    growing = samples(45, 1.05, lambda t: rate * t + 1600 * (t % 1.0))
    assert judge(pipeline, growing, period_s=1.0)


def test_jittered_reads_tell_a_sawtooth_from_a_backlog(pipeline):
    for seed in range(50):
        assert not judge(pipeline, jittered(seed, lambda t: 1600 * (t % 1.0)), period_s=1.0), seed
        assert judge(pipeline, jittered(seed, lambda t: 50 * t + 1600 * (t % 1.0)), period_s=1.0), seed
        phase = seed % 20  # where in its 20 s flush cycle the archiver is when the window opens
        assert not judge(pipeline, jittered(seed, lambda t, phase=phase: 55_000 * ((t + phase) % 20) / 20), period_s=20.0), seed


def test_a_steady_backlog_is_not_growth(pipeline):
    steady = samples(45, 1.05, lambda t: 20_000 + 1600 * (t % 1.0))
    assert not judge(pipeline, steady, period_s=1.0)


def test_the_archivers_flush_sawtooth_is_judged_over_its_period(pipeline):
    # 55k rows flushed every 20 s: a 15 s third may hold no trough, a 20 s chunk always does
    flushes = samples(45, 1.05, lambda t: 55_000 * ((t + 12) % 20) / 20)
    assert not judge(pipeline, flushes, period_s=20.0)
    assert judge(pipeline, samples(45, 1.05, lambda t: 2_000 * t + 55_000 * ((t + 12) % 20) / 20), period_s=20.0)


def test_a_window_shorter_than_two_periods_falls_back_to_the_fitted_trend(pipeline):
    short = samples(30, 1.0, lambda t: 1_000 * t)
    assert pipeline.lag_floor_trend(short, period_s=20.0) == pytest.approx(pipeline.lag_slope(short))
