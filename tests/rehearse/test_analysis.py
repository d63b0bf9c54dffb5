"""What samples mean: latency windows, recovery after a fault, drain after a surge, loss."""

from __future__ import annotations

import pytest

from callstream.rehearse import analysis


def test_latency_windows_split_outputs_by_when_they_were_produced() -> None:
    produced = [0.5, 0.9, 1.2, 1.4, 1.6, 3.5]
    latency = [10, 20, 100, 200, 300, 7]
    p50, p99, counts = analysis.latency_windows(produced, latency, [1.0, 2.0, 3.0, 4.0])
    assert counts == [2, 3, 0, 1]
    assert p50 == [15.0, 200.0, None, 7.0]
    assert p99[1] == pytest.approx(298.0)
    with pytest.raises(ValueError):
        analysis.latency_windows([1.0], [], [1.0])


def test_rates_from_cumulative_counts_skip_unknowns() -> None:
    assert analysis.rates([0, 1, 2, 4, 5], [0, 100, None, 500, 500]) == [None, 100.0, None, None, 0.0]


T = [float(i) for i in range(1, 21)]  # samples at 1..20 s, each covering the second before it


def series(values: dict[int, float | None], default: float | None) -> list[float | None]:
    return [values.get(i, default) for i in range(1, 21)]


def test_recovery_is_the_start_of_the_healthy_stretch_that_lasts() -> None:
    # fault at 5 s; lag bad from 6 to 11 s, healthy from 12 s on
    lag = {"redactor": series({i: 30.0 for i in range(6, 12)}, 0.5)}
    found = analysis.recovery_after(5.0, T, {"redaction": series({}, 50.0)}, lag,
                                    latency_bound_ms=1000, lag_bound_s=5, stable_samples=3)
    assert found.recovered_at_s == 11.0 and found.recovery_time_s == 6.0
    assert found.worst_lag_s == 30.0 and found.out_of_bounds_samples == 6


def test_a_late_effect_is_not_mistaken_for_no_effect() -> None:
    # the fault at 5 s shows only from 9 s (a session timeout): healthy 6..8 does not count
    lag = {"g": series({i: 20.0 for i in range(9, 14)}, 0.0)}
    found = analysis.recovery_after(5.0, T, {}, lag, latency_bound_ms=1000, lag_bound_s=5, stable_samples=2)
    assert found.recovery_time_s == 8.0


def test_unknown_lag_is_not_healthy_and_missing_latency_is() -> None:
    lag = {"g": series({6: None, 7: None}, 1.0)}
    p99 = {"assist": series({i: None for i in range(1, 21)}, None)}
    found = analysis.recovery_after(5.0, T, p99, lag, latency_bound_ms=1000, lag_bound_s=5, stable_samples=3)
    assert found.recovered_at_s == 7.0


def test_latency_above_bound_keeps_it_unrecovered() -> None:
    p99 = {"assist": series({i: 5000.0 for i in range(6, 16)}, 100.0)}
    found = analysis.recovery_after(5.0, T, p99, {}, latency_bound_ms=1000, lag_bound_s=5, stable_samples=3)
    assert found.recovery_time_s == 10.0 and found.worst_p99_ms == 5000.0


def test_never_recovered_or_too_few_stable_samples_gives_no_time() -> None:
    bad = {"g": series({}, 99.0)}
    assert analysis.recovery_after(5.0, T, {}, bad, latency_bound_ms=1, lag_bound_s=5, stable_samples=3).recovery_time_s is None
    late = {"g": series({i: 99.0 for i in range(1, 19)}, 0.0)}  # healthy only at 19, 20
    assert analysis.recovery_after(5.0, T, {}, late, latency_bound_ms=1, lag_bound_s=5, stable_samples=3).recovery_time_s is None


def test_a_dip_before_the_horizon_means_not_recovered_yet() -> None:
    lag = {"g": series({7: 50.0, 15: 50.0}, 0.0)}
    within = analysis.recovery_after(5.0, T, {}, lag, latency_bound_ms=1, lag_bound_s=5, stable_samples=2, horizon_s=12.0)
    assert within.recovery_time_s == 2.0  # the dip at 15 s is after the next fault
    whole = analysis.recovery_after(5.0, T, {}, lag, latency_bound_ms=1, lag_bound_s=5, stable_samples=2)
    assert whole.recovery_time_s == 10.0


def test_an_unaffected_system_recovers_at_once() -> None:
    found = analysis.recovery_after(5.0, T, {}, {"g": series({}, 0.0)}, latency_bound_ms=1, lag_bound_s=5, stable_samples=3)
    assert found.recovery_time_s == 0.0 and found.out_of_bounds_samples == 0


def test_drain_runs_from_the_peak_to_caught_up_for_good() -> None:
    messages = series({8: 500, 9: 900, 10: 700, 11: 300, 12: 40}, 0)
    seconds = series({8: 12.0, 9: 20.0, 10: 15.0, 11: 7.0, 12: 2.0}, 0.2)
    drained = analysis.drain(T, messages, seconds, lag_bound_s=5, stable_samples=3)
    assert (drained.peak_lag_messages, drained.peak_at_s, drained.drained_at_s) == (900, 9.0, 12.0)
    assert drained.drain_time_s == 3.0 and drained.final_lag_messages == 0


def test_a_group_that_fell_behind_for_good_has_no_drain_time() -> None:
    messages = [i * 100 for i in range(20)]
    seconds = [float(i) for i in range(20)]
    drained = analysis.drain(T, messages, seconds, lag_bound_s=5, stable_samples=3)
    assert drained.drain_time_s is None and drained.final_lag_messages == 1900
    assert analysis.drain(T, [None] * 20, [None] * 20, lag_bound_s=5, stable_samples=3).peak_lag_messages is None


def test_delivery_counts_missing_and_duplicated_against_acknowledged() -> None:
    found = analysis.delivery(
        acked_segments={"s1", "s2", "s3"}, redacted_segments={"s1", "s3", "s9"},
        acked_offsets={("raw", 0): [0, 1, 2, 3], ("raw", 1): [0, 1]},
        archived_offsets={("raw", 0): [0, 1, 1, 2, 3, 4], ("raw", 1): [1]},
        expected_quality_contacts={"c1", "c2"}, quality_contacts=["c1", "c1", "c1", "c3"],
    )
    assert found.redaction_missing_segments == 1
    assert found.archive_missing_offsets == 1 and found.archive_duplicate_offsets == 1
    assert found.quality_missing_contacts == 1 and found.exactly_once_duplicates == 2
    assert found.acknowledged_lost == 3
    assert found.examples["redaction_missing_segments"] == ["s2"]
    assert found.examples["archive_missing_offsets"] == ["raw[1]@0"]
    assert found.examples["exactly_once_duplicates"] == ["c1 x3"]


def test_delivery_of_consumers_that_did_not_run_is_unknown_not_zero() -> None:
    found = analysis.delivery(acked_segments=None, redacted_segments=None, acked_offsets=None, archived_offsets=None,
                              expected_quality_contacts=None, quality_contacts=None)
    assert found.acknowledged_lost is None and found.exactly_once_duplicates is None


def test_lag_seconds_are_interpolated_from_sampled_log_ends() -> None:
    history = analysis.EndOffsetHistory()
    tp = ("raw", 0)
    history.record(0.0, {tp: 0})
    history.record(1.0, {tp: 100})
    history.record(2.0, {tp: 100})  # nothing new until after 2 s
    history.record(3.0, {tp: 300})
    history.record(3.5, {tp: 250})  # a stale answer never moves time back
    assert history.appeared_at(tp, 0) == pytest.approx(0.01)
    assert history.appeared_at(tp, 49) == pytest.approx(0.5)
    assert history.appeared_at(tp, 199) == pytest.approx(2.5)
    assert history.appeared_at(tp, 300) is None
    assert history.lag_seconds(tp, 49, now=10.0) == pytest.approx(9.5)
    assert history.lag_seconds(tp, 300, now=10.0) == 0.0
    assert history.lag_seconds(("other", 0), 0, now=10.0) == 0.0
