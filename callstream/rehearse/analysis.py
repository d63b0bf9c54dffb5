"""What a rehearsal's samples mean: latency windows, recovery after a fault, drain after a
surge, and what was lost or duplicated. Pure functions over recorded data, no Kafka.

Time is seconds since the traffic started (``t``); samples are the runner's ~1 s ticks,
and a value at sample ``i`` covers the window ``(t[i-1], t[i]]``.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100, linear interpolation) or ``None`` without values."""
    if len(values) == 0:
        return None
    return float(np.percentile(np.asarray(values, dtype=float), q))


def latency_windows(
    produced_s: Sequence[float], latency_ms: Sequence[float], bounds: Sequence[float],
) -> tuple[list[float | None], list[float | None], list[int]]:
    """p50, p99 and count of the latencies whose output was produced in each window
    ``(bounds[i-1], bounds[i]]`` (the first window starts at ``-inf``)."""
    if len(produced_s) != len(latency_ms):
        raise ValueError("produced_s and latency_ms must have the same length")
    order = np.argsort(np.asarray(produced_s, dtype=float), kind="stable")
    times = np.asarray(produced_s, dtype=float)[order]
    values = np.asarray(latency_ms, dtype=float)[order]
    p50: list[float | None] = []
    p99: list[float | None] = []
    counts: list[int] = []
    start = 0
    for bound in bounds:
        end = int(np.searchsorted(times, bound, side="right"))
        window = values[start:end]
        counts.append(int(window.size))
        p50.append(float(np.percentile(window, 50)) if window.size else None)
        p99.append(float(np.percentile(window, 99)) if window.size else None)
        start = end
    return p50, p99, counts


def rates(t: Sequence[float], counts: Sequence[float | None]) -> list[float | None]:
    """Per-second rates from cumulative counts sampled at ``t`` (``None`` where unknown)."""
    out: list[float | None] = []
    for i, (now, count) in enumerate(zip(t, counts, strict=False)):
        before = counts[i - 1] if i > 0 else None
        if count is None or before is None or now <= t[i - 1]:
            out.append(None)
            continue
        out.append(max(0.0, (count - before) / (now - t[i - 1])))
    return out


@dataclass(frozen=True)
class Recovery:
    """How one fault played out: when the system was back within bounds, and how bad it got."""

    fault_at_s: float
    #: start of the in-bounds stretch that lasted until ``horizon_s``; ``None``: never recovered
    recovered_at_s: float | None
    horizon_s: float
    worst_p99_ms: float | None
    worst_lag_s: float | None
    out_of_bounds_samples: int

    @property
    def recovery_time_s(self) -> float | None:
        if self.recovered_at_s is None:
            return None
        return round(max(0.0, self.recovered_at_s - self.fault_at_s), 3)


def in_bounds(
    i: int,
    p99_by_stage: Mapping[str, Sequence[float | None]],
    lag_s_by_group: Mapping[str, Sequence[float | None]],
    latency_bound_ms: float,
    lag_bound_s: float,
) -> bool:
    """Sample ``i`` is healthy: every group's lag known and within bound, every stage's p99
    within bound (a stage with no output in the window is judged by its lag alone)."""
    for series in lag_s_by_group.values():
        lag = series[i]
        if lag is None or lag > lag_bound_s:
            return False
    return all((p99 := series[i]) is None or p99 <= latency_bound_ms for series in p99_by_stage.values())


def recovery_after(
    fault_at_s: float,
    t: Sequence[float],
    p99_by_stage: Mapping[str, Sequence[float | None]],
    lag_s_by_group: Mapping[str, Sequence[float | None]],
    *,
    latency_bound_ms: float,
    lag_bound_s: float,
    stable_samples: int,
    horizon_s: float | None = None,
) -> Recovery:
    """When the system got back within bounds after a fault, for good.

    Recovered means: from some sample on, every sample up to ``horizon_s`` (the next fault,
    or the end of the run) is in bounds, and there are at least ``stable_samples`` of them.
    A fault whose effect shows a few seconds late is therefore not mistaken for a harmless
    one, and a system that dips again before the horizon has not recovered yet.
    """
    horizon = horizon_s if horizon_s is not None else (t[-1] if t else fault_at_s)
    # windows (t[i-1], t[i]] that end after the fault and start before the horizon
    first = bisect.bisect_right(t, fault_at_s)
    last = bisect.bisect_left(t, horizon)
    indices = [i for i in range(first, min(last + 1, len(t)))]
    ok = [in_bounds(i, p99_by_stage, lag_s_by_group, latency_bound_ms, lag_bound_s) for i in indices]
    worst_p99 = _worst(p99_by_stage[s][i] for s in p99_by_stage for i in indices)
    worst_lag = _worst(lag_s_by_group[g][i] for g in lag_s_by_group for i in indices)
    recovered_at = None
    run = 0
    for i, healthy in zip(reversed(indices), reversed(ok), strict=False):
        if not healthy:
            break
        run += 1
        recovered_at = t[i - 1] if i > 0 else 0.0
    if run < stable_samples:
        recovered_at = None
    elif recovered_at is not None:
        recovered_at = max(recovered_at, fault_at_s)
    return Recovery(fault_at_s=fault_at_s, recovered_at_s=recovered_at, horizon_s=horizon,
                    worst_p99_ms=worst_p99, worst_lag_s=worst_lag, out_of_bounds_samples=ok.count(False))


def _worst(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


@dataclass(frozen=True)
class Drain:
    """A group's backlog: how high it got and how long it took to work it off."""

    peak_lag_messages: int | None
    peak_at_s: float | None
    #: first sample after the peak from which lag stays within the bound for good
    drained_at_s: float | None
    final_lag_messages: int | None

    @property
    def drain_time_s(self) -> float | None:
        if self.peak_at_s is None or self.drained_at_s is None:
            return None
        return round(max(0.0, self.drained_at_s - self.peak_at_s), 3)


def drain(
    t: Sequence[float],
    lag_messages: Sequence[int | None],
    lag_s: Sequence[float | None],
    *,
    lag_bound_s: float,
    stable_samples: int,
) -> Drain:
    """Peak lag (messages) and the time from the peak until the group is caught up again:
    its lag in seconds within ``lag_bound_s`` for ``stable_samples`` samples in a row (the
    drained time is the first of them). A peak whose oldest message is already within the
    bound drains in 0 s: a big but young backlog is no delay. No such stretch after the
    peak: not drained (``final_lag_messages`` then tells whether it fell behind for good)."""
    known = [(i, m) for i, m in enumerate(lag_messages) if m is not None]
    final = next((m for m in reversed(lag_messages) if m is not None), None)
    if not known:
        return Drain(None, None, None, final)
    peak_index, peak = max(known, key=lambda item: (item[1], -item[0]))
    drained_at = None
    run = 0
    for i in range(peak_index, len(t)):
        lag = lag_s[i]
        if lag is None or lag > lag_bound_s:
            run = 0
            continue
        run += 1
        if run >= stable_samples:
            drained_at = t[i - stable_samples + 1]
            break
    return Drain(peak_lag_messages=peak, peak_at_s=t[peak_index], drained_at_s=drained_at, final_lag_messages=final)


# --- delivery: what every consumer must have seen ------------------------------------------

@dataclass(frozen=True)
class Delivery:
    """Acknowledged events versus what reached their consumers."""

    redaction_missing_segments: int | None
    archive_missing_offsets: int | None
    archive_duplicate_offsets: int | None
    quality_missing_contacts: int | None
    exactly_once_duplicates: int | None
    #: examples for the report (at most a few of each)
    examples: dict[str, list[str]]

    @property
    def acknowledged_lost(self) -> int | None:
        parts = [self.redaction_missing_segments, self.archive_missing_offsets, self.quality_missing_contacts]
        known = [p for p in parts if p is not None]
        return sum(known) if known else None


def missing(expected: Iterable[str], seen: Iterable[str]) -> list[str]:
    return sorted(set(expected) - set(seen))


def repeated(values: Iterable[str]) -> dict[str, int]:
    """Values seen more than once, with their counts."""
    return {value: count for value, count in Counter(values).items() if count > 1}


def missing_offsets(acked: Mapping[tuple[str, int], Iterable[int]],
                    archived: Mapping[tuple[str, int], Iterable[int]]) -> dict[tuple[str, int], list[int]]:
    """Acknowledged offsets the archive lacks, per (topic, partition)."""
    out: dict[tuple[str, int], list[int]] = {}
    for tp, offsets in acked.items():
        lacking = sorted(set(offsets) - set(archived.get(tp, ())))
        if lacking:
            out[tp] = lacking
    return out


def delivery(
    *,
    acked_segments: set[str] | None,
    redacted_segments: set[str] | None,
    acked_offsets: Mapping[tuple[str, int], Iterable[int]] | None,
    archived_offsets: Mapping[tuple[str, int], Sequence[int]] | None,
    expected_quality_contacts: set[str] | None,
    quality_contacts: Sequence[str] | None,
) -> Delivery:
    """Compare acknowledged input with what each consumer produced or stored.

    ``None`` for a pair means that consumer did not run (the figure is then ``None``).
    ``archived_offsets`` lists every archived row's offset (repeats included), so a
    repeat is an exactly-once violation of the archive.
    """
    examples: dict[str, list[str]] = {}
    redaction = None
    if acked_segments is not None and redacted_segments is not None:
        lacking = missing(acked_segments, redacted_segments)
        redaction = len(lacking)
        examples["redaction_missing_segments"] = lacking[:5]
    archive_missing = archive_dupes = None
    if acked_offsets is not None and archived_offsets is not None:
        gaps = missing_offsets(acked_offsets, archived_offsets)
        archive_missing = sum(len(v) for v in gaps.values())
        examples["archive_missing_offsets"] = [f"{t}[{p}]@{o}" for (t, p), v in sorted(gaps.items()) for o in v[:2]][:5]
        dupes = {tp: repeated(str(o) for o in offsets) for tp, offsets in archived_offsets.items()}
        archive_dupes = sum(c - 1 for d in dupes.values() for c in d.values())
        examples["archive_duplicate_offsets"] = [f"{t}[{p}]@{o} x{c}" for (t, p), d in sorted(dupes.items()) for o, c in d.items()][:5]
    quality_missing = quality_dupes = None
    if expected_quality_contacts is not None and quality_contacts is not None:
        lacking = missing(expected_quality_contacts, quality_contacts)
        quality_missing = len(lacking)
        twice = repeated(quality_contacts)
        quality_dupes = sum(c - 1 for c in twice.values())
        examples["quality_missing_contacts"] = lacking[:5]
        examples["exactly_once_duplicates"] = [f"{c} x{n}" for c, n in sorted(twice.items())][:5]
    return Delivery(redaction_missing_segments=redaction, archive_missing_offsets=archive_missing,
                    archive_duplicate_offsets=archive_dupes, quality_missing_contacts=quality_missing,
                    exactly_once_duplicates=quality_dupes, examples={k: v for k, v in examples.items() if v})


# --- lag in seconds from sampled log ends ----------------------------------------------------

class EndOffsetHistory:
    """When each offset of each partition appeared, interpolated from sampled log ends.

    Lag in seconds is the age of the oldest unconsumed message. Rather than fetching that
    message every second (``callstream.observe.lag`` does, which takes seconds for a group
    reading 80 partitions), a rehearsal samples log-end offsets every tick anyway, so the
    time offset ``o`` appeared is interpolated between the two samples around it (the
    technique of kafka-lag-exporter). Accurate to about one sample interval.
    """

    def __init__(self) -> None:
        self._times: dict[tuple[str, int], list[float]] = {}
        self._ends: dict[tuple[str, int], list[int]] = {}

    def record(self, t: float, ends: Mapping[tuple[str, int], int]) -> None:
        for tp, end in ends.items():
            times = self._times.setdefault(tp, [])
            values = self._ends.setdefault(tp, [])
            if values and end < values[-1]:
                continue  # a stale answer from a lagging replica; offsets never go back
            # equal ends are kept: the last sample of a plateau bounds when the next offset came
            times.append(t)
            values.append(end)

    def appeared_at(self, tp: tuple[str, int], offset: int) -> float | None:
        """When ``offset`` was first in the log (``None`` if it is not there yet)."""
        values = self._ends.get(tp)
        if not values:
            return None
        i = bisect.bisect_right(values, offset)  # first sample whose end is past ``offset``
        if i == len(values):
            return None
        times = self._times[tp]
        if i == 0:
            return times[0]
        t0, e0, t1, e1 = times[i - 1], values[i - 1], times[i], values[i]
        return t0 + (offset + 1 - e0) / (e1 - e0) * (t1 - t0)

    def lag_seconds(self, tp: tuple[str, int], position: int, now: float) -> float:
        """Age of the message at ``position`` (the next one to consume); 0 when caught up."""
        appeared = self.appeared_at(tp, position)
        return 0.0 if appeared is None else max(0.0, now - appeared)
