"""When to add or remove a processor instance, as a pure function of its group's lag (and
its host's idle CPU).

Scale out when the group's lag in seconds has stayed above ``lag_bound_s`` for
``out_after_s``; scale in when it has stayed below ``in_below_s`` for ``in_after_s``. One
instance at a time, never past the partition count (an extra member would sit idle) or
``max_instances``, never below ``min_instances``, never onto a host without
``min_idle_cores`` idle, and not again until ``cooldown_s`` after the last change: a new
member needs a rebalance and its state restored before it helps, and lag measured
meanwhile says nothing about it. An unknown lag (the cluster did not
answer) restarts neither clock and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ScalingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: scale out while the group is more than this many seconds behind ...
    lag_bound_s: float = Field(default=5.0, gt=0)
    #: ... for this long
    out_after_s: float = Field(default=10.0, ge=0)
    #: scale in while the group is less than this many seconds behind (a group committing
    #: every second is up to about a second behind when idle) ...
    in_below_s: float = Field(default=1.5, ge=0)
    #: ... for this long (longer than scaling out: a surge often comes back)
    in_after_s: float = Field(default=60.0, ge=0)
    #: no change until this long after the previous one
    cooldown_s: float = Field(default=30.0, ge=0)
    #: scale out only while the host the instances run on has this many idle cores (a new
    #: instance there adds no CPU when the cores are busy; ignored where instances run elsewhere)
    min_idle_cores: float = Field(default=0.5, ge=0)
    min_instances: int = Field(default=1, ge=1, le=64)
    max_instances: int = Field(default=3, ge=1, le=64)

    @model_validator(mode="after")
    def _consistent(self) -> ScalingPolicy:
        if self.max_instances < self.min_instances:
            raise ValueError(f"max_instances ({self.max_instances}) is below min_instances ({self.min_instances})")
        if self.in_below_s >= self.lag_bound_s:
            raise ValueError(f"in_below_s ({self.in_below_s:g}) must be below lag_bound_s ({self.lag_bound_s:g}), "
                             "or every sample between them would flap")
        return self


@dataclass(frozen=True)
class ScalingDecision:
    group: str
    at_s: float
    instances_from: int
    instances_to: int
    reason: str

    @property
    def direction(self) -> str:
        return "out" if self.instances_to > self.instances_from else "in"


class Autoscaler:
    """The scaling clocks of one consumer group."""

    def __init__(self, group: str, policy: ScalingPolicy, partitions: int) -> None:
        self.group, self.policy = group, policy
        #: an instance past the partition count would get no partition
        self.ceiling = max(policy.min_instances, min(policy.max_instances, partitions))
        self._above_since: float | None = None
        self._below_since: float | None = None
        self._last_change: float | None = None
        #: why the last ``observe`` held a scale-out back (``None``: it did not)
        self.held: str | None = None

    def observe(self, now_s: float, lag_s: float | None, instances: int,
                idle_cores: float | None = None) -> ScalingDecision | None:
        """The change to make at ``now_s`` given the group's lag, its running instances and
        (when they run on this host) the host's idle cores. A scale-out the host cannot
        afford is held, and ``held`` says why, until the cores are there or the lag is not."""
        policy = self.policy
        self.held = None
        if lag_s is None:
            return None
        if lag_s > policy.lag_bound_s:
            self._above_since = now_s if self._above_since is None else self._above_since
        else:
            self._above_since = None
        if lag_s < policy.in_below_s:
            self._below_since = now_s if self._below_since is None else self._below_since
        else:
            self._below_since = None
        if instances < policy.min_instances:
            return self._change(now_s, instances, policy.min_instances, f"below the minimum of {policy.min_instances}")
        if self._last_change is not None and now_s - self._last_change < policy.cooldown_s:
            return None
        if (self._above_since is not None and now_s - self._above_since >= policy.out_after_s
                and instances < self.ceiling):
            if idle_cores is not None and idle_cores < policy.min_idle_cores:
                self.held = (f"lag {lag_s:.1f} s above {policy.lag_bound_s:g} s for {now_s - self._above_since:.0f} s, "
                             f"but this host has {idle_cores:.2f} idle cores (a new instance needs {policy.min_idle_cores:g})")
                return None
            return self._change(now_s, instances, instances + 1,
                                f"lag {lag_s:.1f} s above {policy.lag_bound_s:g} s for {now_s - self._above_since:.0f} s")
        if (self._below_since is not None and now_s - self._below_since >= policy.in_after_s
                and instances > policy.min_instances):
            return self._change(now_s, instances, instances - 1,
                                f"lag {lag_s:.1f} s below {policy.in_below_s:g} s for {now_s - self._below_since:.0f} s")
        return None

    def _change(self, now_s: float, current: int, target: int, reason: str) -> ScalingDecision:
        self._last_change = now_s
        # the new size starts its own clocks: the lag must stay out of bounds again
        self._above_since = self._below_since = None
        return ScalingDecision(self.group, round(now_s, 3), current, target, reason)
