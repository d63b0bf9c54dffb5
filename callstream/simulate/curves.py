"""Traffic curves: the call arrival rate (calls per minute) at simulated time t, and
seeded Poisson arrivals under a curve.

A curve is a plain object with ``rate_at(t_s)`` and ``peak_rate``; arrivals are a
non-homogeneous Poisson process drawn by thinning (Lewis and Shedler): candidates at the
peak rate, each kept with probability ``rate_at(t) / peak_rate``.
"""

from __future__ import annotations

import bisect
import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from callstream.errors import SimulationError

CURVE_NAMES = ("steady", "daily", "campaign", "outage")

CSV_COLUMNS = ("time_s", "calls_per_minute")


@runtime_checkable
class TrafficCurve(Protocol):
    """Calls per minute as a function of simulated seconds since the start of the run."""

    @property
    def name(self) -> str: ...

    @property
    def peak_rate(self) -> float:
        """An upper bound of ``rate_at`` over the run (calls per minute)."""
        ...

    def rate_at(self, t_s: float) -> float: ...


@dataclass(frozen=True)
class SteadyCurve:
    """The same rate all run long."""

    rate: float
    name: str = "steady"

    @property
    def peak_rate(self) -> float:
        return self.rate

    def rate_at(self, t_s: float) -> float:
        return self.rate


@dataclass(frozen=True)
class PiecewiseLinearCurve:
    """Rates at given times, linearly interpolated; held flat before the first point and
    after the last. Backs both the business-day profile and CSV curves."""

    times_s: tuple[float, ...]
    rates: tuple[float, ...]
    name: str = "piecewise"

    @property
    def peak_rate(self) -> float:
        return max(self.rates)

    def rate_at(self, t_s: float) -> float:
        times = self.times_s
        if t_s <= times[0]:
            return self.rates[0]
        if t_s >= times[-1]:
            return self.rates[-1]
        i = bisect.bisect_right(times, t_s)
        t0, t1 = times[i - 1], times[i]
        r0, r1 = self.rates[i - 1], self.rates[i]
        return r0 + (r1 - r0) * (t_s - t0) / (t1 - t0)


# A business day 08:00-20:00 as (hour, relative load): a quiet morning, a mid-morning
# peak, a lunch dip, an after-lunch peak and an evening tail. Shape only; it is rescaled so
# the mean over the day equals the requested rate.
BUSINESS_DAY: tuple[tuple[float, float], ...] = (
    (8.0, 0.25),
    (9.0, 0.70),
    (10.0, 1.45),
    (10.75, 1.70),
    (11.5, 1.35),
    (12.25, 0.85),
    (13.0, 0.80),
    (14.0, 1.35),
    (14.75, 1.50),
    (15.5, 1.20),
    (16.5, 0.95),
    (17.5, 0.60),
    (18.5, 0.35),
    (20.0, 0.15),
)


def daily_curve(rate: float, duration_s: float) -> PiecewiseLinearCurve:
    """The business-day profile compressed into ``duration_s``; ``rate`` is the day's mean."""
    _check_rate(rate, "rate")
    _check_duration(duration_s)
    first, last = BUSINESS_DAY[0][0], BUSINESS_DAY[-1][0]
    times = tuple((hour - first) / (last - first) * duration_s for hour, _ in BUSINESS_DAY)
    shape = tuple(load for _, load in BUSINESS_DAY)
    mean = _trapezoid_mean(times, shape)
    return PiecewiseLinearCurve(times, tuple(rate * s / mean for s in shape), name="daily")


@dataclass(frozen=True)
class CampaignCurve:
    """A marketing or billing campaign: the base rate, a ramp up to ``surge_factor`` times
    the base, a plateau, a ramp back down, then the base again."""

    base_rate: float
    surge_factor: float
    surge_start_s: float
    ramp_s: float
    plateau_s: float
    name: str = "campaign"

    @property
    def peak_rate(self) -> float:
        return self.base_rate * max(1.0, self.surge_factor)

    def rate_at(self, t_s: float) -> float:
        up_end = self.surge_start_s + self.ramp_s
        down_start = up_end + self.plateau_s
        down_end = down_start + self.ramp_s
        surge = self.base_rate * self.surge_factor
        if t_s < self.surge_start_s or t_s >= down_end:
            return self.base_rate
        if t_s < up_end:
            return self.base_rate + (surge - self.base_rate) * (t_s - self.surge_start_s) / self.ramp_s
        if t_s < down_start:
            return surge
        return surge + (self.base_rate - surge) * (t_s - down_start) / self.ramp_s


def campaign_curve(rate: float, duration_s: float, surge_factor: float = 4.0) -> CampaignCurve:
    """Base rate, then from 25% of the run a surge (5% ramp, 30% plateau, 5% ramp down)."""
    _check_rate(rate, "rate")
    _check_duration(duration_s)
    _check_factor(surge_factor, "surge_factor")
    return CampaignCurve(
        base_rate=rate,
        surge_factor=surge_factor,
        surge_start_s=0.25 * duration_s,
        ramp_s=0.05 * duration_s,
        plateau_s=0.30 * duration_s,
    )


@dataclass(frozen=True)
class OutageCurve:
    """An outage elsewhere makes everyone call at once: the rate jumps to ``spike_factor``
    times the base, holds briefly, then decays exponentially back to the base."""

    base_rate: float
    spike_factor: float
    spike_start_s: float
    hold_s: float
    decay_s: float  # time constant of the exponential decay
    name: str = "outage"

    @property
    def peak_rate(self) -> float:
        return self.base_rate * max(1.0, self.spike_factor)

    def rate_at(self, t_s: float) -> float:
        if t_s < self.spike_start_s:
            return self.base_rate
        excess = self.base_rate * (self.spike_factor - 1.0)
        since_hold = t_s - self.spike_start_s - self.hold_s
        if since_hold <= 0:
            return self.base_rate + excess
        return self.base_rate + excess * math.exp(-since_hold / self.decay_s)


def outage_curve(rate: float, duration_s: float, spike_factor: float = 8.0) -> OutageCurve:
    """Base rate, a jump at 40% of the run held for 3% of it, decaying with a time
    constant of 5% of the run."""
    _check_rate(rate, "rate")
    _check_duration(duration_s)
    _check_factor(spike_factor, "spike_factor")
    return OutageCurve(
        base_rate=rate,
        spike_factor=spike_factor,
        spike_start_s=0.40 * duration_s,
        hold_s=0.03 * duration_s,
        decay_s=0.05 * duration_s,
    )


def load_curve_csv(path: str | Path) -> PiecewiseLinearCurve:
    """Read a ``time_s,calls_per_minute`` CSV (header row required, extra columns ignored).

    Times must start at or after 0 and strictly increase; rates must be finite and >= 0.
    Any problem raises ``SimulationError`` naming the file and line.
    """
    path = Path(path)
    hint = f"the file needs a header '{','.join(CSV_COLUMNS)}' and one row per point, times increasing"
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SimulationError(f"cannot read traffic curve {path}: {exc}", hint) from exc

    # Lines are numbered as a text editor shows them: the first line is 1.
    numbered = [(n, row) for n, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    numbered = [(n, row) for n, row in numbered if not row[0].lstrip().startswith("#")]
    if not numbered:
        raise SimulationError(f"traffic curve {path} is empty", hint)
    header_line, header = numbered[0]
    names = [cell.strip().lower() for cell in header]
    missing = [col for col in CSV_COLUMNS if col not in names]
    if missing:
        raise SimulationError(
            f"traffic curve {path} line {header_line}: missing column {', '.join(missing)} "
            f"(header is {','.join(header)!r})",
            hint,
        )
    t_col, r_col = names.index(CSV_COLUMNS[0]), names.index(CSV_COLUMNS[1])
    if len(numbered) == 1:
        raise SimulationError(f"traffic curve {path} is empty: a header but no rows", hint)

    times: list[float] = []
    rates: list[float] = []
    for line, row in numbered[1:]:
        if len(row) <= max(t_col, r_col):
            absent = CSV_COLUMNS[0] if len(row) <= t_col else CSV_COLUMNS[1]
            raise SimulationError(
                f"traffic curve {path} line {line}: missing column {absent} in {','.join(row)!r}", hint
            )
        t = _number(row[t_col], path, line, CSV_COLUMNS[0], hint)
        r = _number(row[r_col], path, line, CSV_COLUMNS[1], hint)
        if t < 0:
            raise SimulationError(f"traffic curve {path} line {line}: time_s {t:g} is negative", hint)
        if r < 0:
            raise SimulationError(f"traffic curve {path} line {line}: negative rate {r:g} calls per minute", hint)
        if times and t <= times[-1]:
            raise SimulationError(
                f"traffic curve {path} line {line}: time {t:g} s is not increasing "
                f"(previous row is at {times[-1]:g} s)",
                hint,
            )
        times.append(t)
        rates.append(r)
    if max(rates) == 0:
        raise SimulationError(f"traffic curve {path}: every rate is 0, no call would arrive", hint)
    return PiecewiseLinearCurve(tuple(times), tuple(rates), name=path.stem)


def make_curve(spec: str, *, rate: float, duration_s: float) -> TrafficCurve:
    """The curve named ``spec`` (steady, daily, campaign, outage) at base ``rate`` calls per
    minute, or, if ``spec`` ends in ``.csv``, the curve in that file (its rates are absolute
    and ``rate`` is not used)."""
    _check_duration(duration_s)
    if spec.lower().endswith(".csv"):
        return load_curve_csv(spec)
    name = spec.strip().lower()
    if name == "steady":
        _check_rate(rate, "rate")
        return SteadyCurve(rate)
    if name == "daily":
        return daily_curve(rate, duration_s)
    if name == "campaign":
        return campaign_curve(rate, duration_s)
    if name == "outage":
        return outage_curve(rate, duration_s)
    raise SimulationError(
        f"unknown traffic curve {spec!r}",
        f"use one of {', '.join(CURVE_NAMES)}, or a path to a .csv file of time_s,calls_per_minute",
    )


def arrival_times(curve: TrafficCurve, duration_s: float, rng: random.Random) -> list[float]:
    """Call arrival times (simulated seconds, ascending, in ``[0, duration_s)``) of a
    non-homogeneous Poisson process with the curve's rate, drawn by thinning."""
    _check_duration(duration_s)
    peak_per_s = curve.peak_rate / 60.0
    if peak_per_s <= 0:
        return []
    arrivals: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak_per_s)
        if t >= duration_s:
            return arrivals
        if rng.random() * curve.peak_rate < curve.rate_at(t):
            arrivals.append(t)


def expected_calls(curve: TrafficCurve, start_s: float, end_s: float, steps: int = 4000) -> float:
    """The expected number of arrivals in ``[start_s, end_s)``: the integral of the rate."""
    if end_s <= start_s:
        return 0.0
    width = (end_s - start_s) / steps
    total = 0.5 * (curve.rate_at(start_s) + curve.rate_at(end_s))
    total += sum(curve.rate_at(start_s + i * width) for i in range(1, steps))
    return total * width / 60.0


def _trapezoid_mean(times: tuple[float, ...], values: tuple[float, ...]) -> float:
    area = sum((times[i + 1] - times[i]) * (values[i] + values[i + 1]) / 2 for i in range(len(times) - 1))
    return area / (times[-1] - times[0])


def _number(cell: str, path: Path, line: int, column: str, hint: str) -> float:
    text = cell.strip()
    try:
        value = float(text)
    except ValueError:
        raise SimulationError(f"traffic curve {path} line {line}: {column} {text!r} is not a number", hint) from None
    if not math.isfinite(value):
        raise SimulationError(f"traffic curve {path} line {line}: {column} {text!r} is not finite", hint)
    return value


def _check_rate(rate: float, what: str) -> None:
    if not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
        raise SimulationError(
            f"{what} must be a positive number of calls per minute, got {rate!r}", "pass a rate above 0, e.g. --rate 30"
        )


def _check_duration(duration_s: float) -> None:
    if not isinstance(duration_s, (int, float)) or not math.isfinite(duration_s) or duration_s <= 0:
        raise SimulationError(
            f"duration must be a positive number of simulated seconds, got {duration_s!r}", "pass e.g. --duration 600"
        )


def _check_factor(factor: float, what: str) -> None:
    if not math.isfinite(factor) or factor < 1:
        raise SimulationError(f"{what} must be at least 1, got {factor!r}", "a surge multiplies the base rate")
