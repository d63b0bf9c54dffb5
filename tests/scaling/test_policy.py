"""The scaling policy as a pure function of lag over time."""

import re

import pytest
from pydantic import ValidationError

from callstream.scaling.policy import Autoscaler, ScalingPolicy

POLICY = ScalingPolicy(lag_bound_s=5, out_after_s=10, in_below_s=1, in_after_s=30, cooldown_s=20,
                       min_instances=1, max_instances=3)


def run(scaler: Autoscaler, lags: list[tuple[float, float | None]], instances: int = 1) -> list[tuple[float, int]]:
    """Feed (second, lag) samples, applying each decision; the (second, new size) of each change."""
    changes = []
    for now, lag in lags:
        decision = scaler.observe(now, lag, instances)
        if decision is not None:
            instances = decision.instances_to
            changes.append((now, instances))
    return changes


def test_scales_out_only_after_the_lag_stays_above_the_bound() -> None:
    scaler = Autoscaler("g", POLICY, partitions=6)
    # 9 s above the bound, one dip, then 10 s above: only the second stretch counts
    lags = [(float(t), 8.0) for t in range(0, 10)] + [(10.0, 2.0)] + [(float(t), 8.0) for t in range(11, 22)]
    assert run(scaler, lags) == [(21.0, 2)]


def test_one_instance_at_a_time_with_a_cooldown_and_never_past_the_ceiling() -> None:
    scaler = Autoscaler("g", POLICY, partitions=6)
    changes = run(scaler, [(float(t), 30.0) for t in range(0, 200)])
    assert changes == [(10.0, 2), (30.0, 3)]  # 20 s cooldown; max_instances 3 ends it


def test_the_partition_count_caps_the_instances() -> None:
    scaler = Autoscaler("g", POLICY.model_copy(update={"max_instances": 8}), partitions=2)
    changes = run(scaler, [(float(t), 30.0) for t in range(0, 200)])
    assert changes == [(10.0, 2)]


def test_scales_in_after_a_long_quiet_stretch_down_to_the_minimum() -> None:
    scaler = Autoscaler("g", POLICY, partitions=6)
    changes = run(scaler, [(float(t), 0.2) for t in range(0, 100)], instances=3)
    # the new size starts its own clock at the next sample
    assert changes == [(30.0, 2), (61.0, 1)]


def test_lag_between_the_bounds_holds_the_size() -> None:
    scaler = Autoscaler("g", POLICY, partitions=6)
    assert run(scaler, [(float(t), 3.0) for t in range(0, 300)], instances=2) == []


def test_an_unknown_lag_changes_nothing_and_does_not_reset_a_clock() -> None:
    scaler = Autoscaler("g", POLICY, partitions=6)
    lags = [(0.0, 8.0), (5.0, None), (10.0, 8.0)]
    assert run(scaler, lags) == [(10.0, 2)]


def test_below_the_minimum_is_restored_at_once() -> None:
    scaler = Autoscaler("g", POLICY.model_copy(update={"min_instances": 2}), partitions=6)
    assert run(scaler, [(0.0, 0.0)], instances=0) == [(0.0, 2)]


@pytest.mark.parametrize(("update", "message"), [
    ({"min_instances": 4, "max_instances": 2}, "max_instances (2) is below min_instances (4)"),
    ({"in_below_s": 5.0, "lag_bound_s": 5.0}, "in_below_s (5) must be below lag_bound_s (5)"),
])
def test_inconsistent_policies_are_refused_with_the_reason(update: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        ScalingPolicy(**update)


def test_a_host_without_idle_cores_holds_the_scale_out_until_it_has_them() -> None:
    scaler = Autoscaler("g", POLICY.model_copy(update={"min_idle_cores": 0.5}), partitions=6)
    busy = [scaler.observe(float(t), 8.0, 1, idle_cores=0.1) for t in range(0, 15)]
    assert busy == [None] * 15
    assert scaler.held is not None and "0.10 idle cores (a new instance needs 0.5)" in scaler.held
    # the lag clock kept running: the first sample with idle cores scales out at once
    decision = scaler.observe(15.0, 8.0, 1, idle_cores=0.9)
    assert decision is not None and decision.instances_to == 2 and scaler.held is None
    # where the instances run elsewhere there is no reading, and no hold
    elsewhere = Autoscaler("g", POLICY.model_copy(update={"min_idle_cores": 0.5}), partitions=6)
    assert run(elsewhere, [(float(t), 8.0) for t in range(0, 11)]) == [(10.0, 2)]


def test_a_scale_in_does_not_wait_for_idle_cores() -> None:
    scaler = Autoscaler("g", POLICY.model_copy(update={"min_idle_cores": 0.5}), partitions=6)
    changes = [(float(t), d.instances_to) for t in range(0, 31)
               if (d := scaler.observe(float(t), 0.2, 3, idle_cores=0.0)) is not None]
    assert changes == [(30.0, 2)]
