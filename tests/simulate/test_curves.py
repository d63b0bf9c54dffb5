"""Traffic curves: their shapes, CSV curves and their errors, and Poisson arrivals."""

from __future__ import annotations

import math
import random
import statistics
from pathlib import Path

import pytest

from callstream.errors import SimulationError
from callstream.simulate.curves import (
    arrival_times,
    campaign_curve,
    daily_curve,
    expected_calls,
    load_curve_csv,
    make_curve,
    outage_curve,
)

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "examples" / "curves" / "holiday.csv"


def mean_rate(curve, duration_s: float) -> float:
    return expected_calls(curve, 0, duration_s) * 60 / duration_s


# --- shapes -------------------------------------------------------------------------------


def test_steady_is_flat() -> None:
    curve = make_curve("steady", rate=42, duration_s=100)
    assert {curve.rate_at(t) for t in (0, 10, 99.9, 500)} == {42}
    assert curve.peak_rate == 42


def test_daily_profile_has_the_business_day_shape_and_the_requested_mean() -> None:
    day = 12 * 3600.0  # 08:00-20:00 in simulated seconds, one per real second
    curve = make_curve("daily", rate=60, duration_s=day)
    at = lambda hour: curve.rate_at((hour - 8) * 3600)  # noqa: E731
    assert mean_rate(curve, day) == pytest.approx(60, rel=0.01)
    assert at(8) < at(9.5) < at(10.75)  # quiet morning building to the mid-morning peak
    assert at(12.75) < at(10.75) and at(12.75) < at(14.75)  # lunch dip between two peaks
    assert at(14.75) > 60 and at(10.75) > 60  # both peaks above the mean
    assert at(19.5) < 0.3 * at(10.75)  # evening tail
    assert curve.peak_rate == pytest.approx(max(curve.rate_at(t) for t in range(0, int(day), 60)))


def test_daily_profile_is_compressed_into_the_run() -> None:
    long, short = daily_curve(30, 43_200), daily_curve(30, 600)
    for fraction in (0.0, 0.2, 0.5, 0.9):
        assert short.rate_at(fraction * 600) == pytest.approx(long.rate_at(fraction * 43_200))


def test_campaign_surges_to_several_times_the_base_and_comes_back() -> None:
    curve = campaign_curve(20, 1000, surge_factor=4)
    assert curve.rate_at(100) == 20  # before
    assert curve.rate_at(275) == pytest.approx(50)  # half-way up the ramp
    assert curve.rate_at(450) == 80  # plateau
    assert curve.rate_at(900) == 20  # after
    assert curve.peak_rate == 80


def test_outage_spikes_sharply_then_decays_to_the_base() -> None:
    curve = outage_curve(10, 1000, spike_factor=8)
    assert curve.rate_at(399) == 10
    assert curve.rate_at(400) == 80  # no ramp: everyone calls at once
    assert curve.rate_at(425) == 80  # holding
    decaying = [curve.rate_at(t) for t in (440, 480, 520, 600)]
    assert decaying == sorted(decaying, reverse=True) and decaying[0] < 80
    assert curve.rate_at(1000) == pytest.approx(10, abs=0.1)
    assert curve.peak_rate == 80


# --- CSV curves ---------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "curve.csv"
    path.write_text(text)
    return path


def test_csv_curve_interpolates_linearly_and_holds_its_ends(tmp_path: Path) -> None:
    path = write(tmp_path, "time_s,calls_per_minute\n10,20\n20,40\n40,0\n")
    curve = load_curve_csv(path)
    assert curve.rate_at(0) == 20  # before the first point: held
    assert curve.rate_at(15) == pytest.approx(30)
    assert curve.rate_at(30) == pytest.approx(20)
    assert curve.rate_at(100) == 0  # after the last point: held
    assert curve.peak_rate == 40
    assert curve.name == "curve"


def test_csv_curve_accepts_reordered_and_extra_columns_and_comments(tmp_path: Path) -> None:
    path = write(tmp_path, "# holiday weekend\ncalls_per_minute, note ,time_s\n5,quiet,0\n\n15,busy,60\n")
    curve = make_curve(str(path), rate=999, duration_s=60)  # the file's rates are absolute
    assert curve.rate_at(30) == pytest.approx(10)


def test_shipped_holiday_curve_loads() -> None:
    curve = make_curve(str(EXAMPLE_CSV), rate=1, duration_s=3600)
    assert curve.peak_rate > 3 * curve.rate_at(0)  # a real surge in it


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"curve\.csv is empty"),
        ("\n\n", r"curve\.csv is empty"),
        ("time_s,calls_per_minute\n", r"empty: a header but no rows"),
        ("time_s,rate\n0,1\n", r"line 1: missing column calls_per_minute"),
        ("0,10\n60,20\n", r"line 1: missing column time_s, calls_per_minute"),
        ("time_s,calls_per_minute\n0,10\n60\n", r"line 3: missing column calls_per_minute"),
        ("time_s,calls_per_minute\n0,10\nsixty,20\n", r"line 3: time_s 'sixty' is not a number"),
        ("time_s,calls_per_minute\n0,10\n\n60,lots\n", r"line 4: calls_per_minute 'lots' is not a number"),
        ("time_s,calls_per_minute\n0,10\n60,-5\n", r"line 3: negative rate -5"),
        ("time_s,calls_per_minute\n0,10\n60,5\n60,7\n", r"line 4: time 60 s is not increasing"),
        (
            "time_s,calls_per_minute\n0,10\n60,5\n30,7\n",
            r"line 4: time 30 s is not increasing \(previous row is at 60 s\)",
        ),
        ("time_s,calls_per_minute\n-1,10\n", r"line 2: time_s -1 is negative"),
        ("time_s,calls_per_minute\n0,nan\n", r"line 2: calls_per_minute 'nan' is not finite"),
        ("time_s,calls_per_minute\n0,0\n10,0\n", r"every rate is 0"),
    ],
)
def test_malformed_csv_names_the_file_the_line_and_the_reason(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SimulationError, match=message) as info:
        load_curve_csv(path)
    assert str(path) in info.value.message
    assert info.value.hint  # and says what to do


def test_unreadable_csv_is_a_simulation_error(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match=r"cannot read traffic curve .*missing\.csv"):
        make_curve(str(tmp_path / "missing.csv"), rate=1, duration_s=10)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(SimulationError, match="cannot read traffic curve"):
        load_curve_csv(binary)


# --- impossible options -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "rate", "duration", "message"),
    [
        ("steady", -1, 60, "rate must be a positive number"),
        ("campaign", 0, 60, "rate must be a positive number"),
        ("daily", float("nan"), 60, "rate must be a positive number"),
        ("steady", 10, 0, "duration must be a positive number"),
        ("outage", 10, -5, "duration must be a positive number"),
        ("tsunami", 10, 60, "unknown traffic curve 'tsunami'"),
    ],
)
def test_impossible_curve_options_raise(spec: str, rate: float, duration: float, message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        make_curve(spec, rate=rate, duration_s=duration)


def test_surge_factor_below_one_is_rejected() -> None:
    with pytest.raises(SimulationError, match="surge_factor must be at least 1"):
        campaign_curve(10, 60, surge_factor=0.5)


# --- non-homogeneous Poisson arrivals -----------------------------------------------------


def test_arrivals_are_sorted_inside_the_run_and_reproducible() -> None:
    curve = make_curve("outage", rate=30, duration_s=600)
    first = arrival_times(curve, 600, random.Random(5))
    assert first == sorted(first) and 0 <= first[0] and first[-1] < 600
    assert arrival_times(curve, 600, random.Random(5)) == first
    assert arrival_times(curve, 600, random.Random(6)) != first


@pytest.mark.parametrize("spec", ["steady", "daily", "campaign", "outage"])
def test_arrival_counts_are_poisson_around_the_integral_of_the_rate(spec: str) -> None:
    duration = 1200.0
    curve = make_curve(spec, rate=60, duration_s=duration)
    expected = expected_calls(curve, 0, duration)
    counts = [len(arrival_times(curve, duration, random.Random(seed))) for seed in range(30)]
    # the mean of 30 Poisson(expected) counts lies within 4 standard errors
    assert abs(statistics.fmean(counts) - expected) < 4 * math.sqrt(expected / 30)
    # and their spread is Poisson's (variance = mean), not a fixed schedule's
    assert 0.4 * expected < statistics.variance(counts) < 2.0 * expected


def test_arrivals_follow_the_curve_over_time() -> None:
    duration = 3000.0
    curve = campaign_curve(30, duration, surge_factor=4)
    arrivals = arrival_times(curve, duration, random.Random(1))
    windows = {"before": (0, 700), "plateau": (950, 1650), "after": (2100, 2800)}
    for name, (lo, hi) in windows.items():
        observed = sum(lo <= t < hi for t in arrivals)
        expected = expected_calls(curve, lo, hi)
        assert abs(observed - expected) < 4.5 * math.sqrt(expected), name
    plateau = sum(950 <= t < 1650 for t in arrivals)
    before = sum(0 <= t < 700 for t in arrivals)
    assert 3.0 < plateau / before < 5.3
