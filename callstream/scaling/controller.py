"""The scaling loop: lag per processor in, instances started and stopped out.

``ScalingController.step`` takes each processor's lag in seconds (from the rehearsal's
sampler, or ``read_lag_s`` against the cluster), asks its ``Autoscaler`` and applies the
decision through ``Instances``. After a scale-in it removes the stopped static members
from the group (``callstream.kafka.members``) so their partitions move at once. It also
watches the group after each change until the new size holds every partition, which is
what the rehearsal reports as the time to consuming (scale-out) and the hand-over (in).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from callstream.contract.catalog import Catalog
from callstream.errors import CallstreamError
from callstream.kafka.members import MemberRemoval, StaticMemberRemover
from callstream.observe.lag import OffsetReader
from callstream.processors.registry import load_processor
from callstream.scaling.instances import Instances
from callstream.scaling.policy import Autoscaler, ScalingDecision, ScalingPolicy


class MemberRemover(Protocol):
    def start(self) -> None: ...

    def remove(self, group: str, stop: Callable[[], list[str]]) -> MemberRemoval: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ScaledProcessor:
    processor: str
    group: str
    #: input topic -> partitions
    topics: dict[str, int]

    @property
    def ceiling(self) -> int:
        """Members past the largest input's partition count would get nothing to read."""
        return max(self.topics.values(), default=1)


@dataclass
class ScalingEvent:
    """One change and what followed it, in the controller's seconds."""

    decision: ScalingDecision
    #: when the lag went out of bounds for the change (scale-out only)
    lag_crossed_at_s: float | None
    applied_at_s: float | None = None
    started: str | None = None
    removed_members: list[str] = field(default_factory=list)
    #: when the group next held every partition across the new number of members
    settled_at_s: float | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {"processor_group": d.group, "direction": d.direction, "at_s": d.at_s, "from": d.instances_from,
                "to": d.instances_to, "reason": d.reason, "lag_crossed_at_s": self.lag_crossed_at_s,
                "applied_at_s": self.applied_at_s, "started": self.started, "removed_members": self.removed_members,
                "settled_at_s": self.settled_at_s,
                "crossing_to_consuming_s": (round(self.settled_at_s - self.lag_crossed_at_s, 3)
                                            if self.settled_at_s is not None and self.lag_crossed_at_s is not None else None),
                "settle_s": (round(self.settled_at_s - self.applied_at_s, 3)
                             if self.settled_at_s is not None and self.applied_at_s is not None else None),
                "error": self.error}


@dataclass
class HeldScaleOut:
    """A scale-out the policy asked for and the host could not afford (``min_idle_cores``)."""

    group: str
    since_s: float
    reason: str
    #: when the hold ended: the group scaled out, or its lag came back under the bound
    until_s: float | None = None
    #: lag readings it was held for
    checks: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"processor_group": self.group, "since_s": self.since_s, "until_s": self.until_s,
                "checks": self.checks, "reason": self.reason}


class ScalingController:
    def __init__(self, processors: list[ScaledProcessor], policy: ScalingPolicy, instances: Instances,
                 conf: Mapping[str, str], *, initial: Mapping[str, int] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 remover: MemberRemover | None = None,
                 group_members: Callable[[str], int | None] | None = None,
                 host_idle_cores: Callable[[], float | None] | None = None) -> None:
        """``host_idle_cores`` (``HostCpu.idle_cores``) when the instances run on this host:
        a scale-out then waits for ``policy.min_idle_cores`` idle."""
        self.processors = {p.processor: p for p in processors}
        self.policy, self.instances, self.conf = policy, instances, dict(conf)
        self.clock = clock
        #: hands a stopped static member's partitions over (a JVM, started now: before any surge)
        self.remover = remover or StaticMemberRemover(self.conf)
        self.remover.start()
        self.count = {p.processor: (initial or {}).get(p.processor, policy.min_instances) for p in processors}
        self.scalers = {p.processor: Autoscaler(p.group, policy, p.ceiling) for p in processors}
        self.events: list[ScalingEvent] = []
        #: (seconds, processor -> instances) after every step
        self.history: list[tuple[float, dict[str, int]]] = []
        #: members holding partitions in a stable group (``None``: rebalancing or unknown)
        self.group_members = group_members or StableMembers(conf)
        #: when each group's lag went over the bound: unlike the autoscaler's clock, which
        #: restarts at every change, this one keeps the first crossing (what an operator waits from)
        self._above_since: dict[str, float] = {}
        self.host_idle_cores = host_idle_cores
        self.holds: list[HeldScaleOut] = []
        self._holding: dict[str, HeldScaleOut] = {}
        self._new_holds: list[HeldScaleOut] = []

    def start_initial(self) -> list[str]:
        """Start the initial instances of every processor; what was started."""
        return [self.instances.start(p.processor, p.group, i)
                for p in self.processors.values() for i in range(self.count[p.processor])]

    def step(self, lag_s: Mapping[str, float | None], now_s: float | None = None) -> list[ScalingEvent]:
        """One look at every processor's lag (seconds, by processor name); the changes made."""
        now = self.clock() if now_s is None else now_s
        made = []
        idle = self.host_idle_cores() if self.host_idle_cores is not None else None
        for name, scaled in self.processors.items():
            lag = lag_s.get(name)
            if lag is not None and lag > self.policy.lag_bound_s:
                self._above_since.setdefault(name, now)
            elif lag is not None:
                self._above_since.pop(name, None)
            decision = self.scalers[name].observe(now, lag, self.count[name], idle)
            if lag is not None:  # an unanswered reading neither begins nor ends a hold
                self._track_hold(scaled.group, name, self.scalers[name].held, now)
            if decision is not None:
                crossed = self._above_since.pop(name, None) if decision.direction == "out" else None
                made.append(self._apply(scaled, decision, crossed, now))
        self._watch_settling(now)
        self.history.append((round(now, 3), dict(self.count)))
        return made

    def _track_hold(self, group: str, name: str, reason: str | None, now: float) -> None:
        hold = self._holding.get(name)
        if reason is None:
            if hold is not None:
                hold.until_s = round(now, 3)
                del self._holding[name]
        elif hold is None:
            self._holding[name] = hold = HeldScaleOut(group, round(now, 3), reason)
            self.holds.append(hold)
            self._new_holds.append(hold)
        else:
            hold.checks += 1

    def take_new_holds(self) -> list[HeldScaleOut]:
        """Holds begun since the last call."""
        new, self._new_holds = self._new_holds, []
        return new

    def lines(self, events: list[ScalingEvent]) -> list[str]:
        """For an operator's console: a line per change in ``events`` and per hold begun
        since the last call."""
        return [describe_event(e) for e in events] + [describe_hold(h) for h in self.take_new_holds()]

    def _apply(self, scaled: ScaledProcessor, decision: ScalingDecision, crossed: float | None, now: float) -> ScalingEvent:
        began = self.clock()
        event = ScalingEvent(decision, lag_crossed_at_s=None if crossed is None else round(crossed, 3))
        self.events.append(event)
        try:
            if decision.direction == "out":
                for index in range(decision.instances_from, decision.instances_to):
                    event.started = self.instances.start(scaled.processor, scaled.group, index)
            else:
                def stop() -> list[str]:
                    return [member for index in range(decision.instances_from - 1, decision.instances_to - 1, -1)
                            for member in self.instances.stop(scaled.processor, scaled.group, index)]

                event.removed_members = list(self.remover.remove(scaled.group, stop).removed)
        except CallstreamError as exc:
            event.error = str(exc)  # the count still changes: the process was asked to start or stop
        self.count[scaled.processor] = decision.instances_to
        event.applied_at_s = round(now + (self.clock() - began), 3)
        return event

    def _watch_settling(self, now: float) -> None:
        """Mark the latest change of each group once the group is stable with its new
        number of members, each holding partitions (for a new member: consuming)."""
        latest = {e.decision.group: e for e in self.events}
        for group, event in latest.items():
            if event.settled_at_s is not None or event.error is not None:
                continue
            members = self.group_members(group)
            if members is not None and members == event.decision.instances_to:
                event.settled_at_s = round(now, 3)

    def close(self) -> None:
        self.remover.close()

    def report(self) -> dict[str, Any]:
        return {"policy": self.policy.model_dump(), "events": [e.to_json() for e in self.events],
                "holds": [h.to_json() for h in self.holds],
                "instances": {"t": [t for t, _ in self.history],
                              **{p: [c[p] for _, c in self.history] for p in self.processors}}}


def read_lag_s(reader: OffsetReader, processors: list[ScaledProcessor]) -> dict[str, float | None]:
    """Each processor's lag in seconds (its most behind partition); ``None`` where the
    cluster did not answer."""
    out: dict[str, float | None] = {}
    for p in processors:
        try:
            out[p.processor] = reader.group_lag(p.group, list(p.topics)).max_lag_seconds
        except (CallstreamError, KafkaException):
            out[p.processor] = None
    return out


class StableMembers:
    """How many members of a group hold partitions, once the group is stable."""

    def __init__(self, conf: Mapping[str, str]) -> None:
        self.conf = dict(conf)
        self._admin: AdminClient | None = None

    def __call__(self, group: str) -> int | None:
        try:
            if self._admin is None:
                self._admin = AdminClient(self.conf)
            described = self._admin.describe_consumer_groups([group], request_timeout=5)[group].result(timeout=5)
        except (KafkaException, TimeoutError):  # a broker still loading its groups answers late
            return None  # asked again at the next step
        if getattr(described.state, "name", str(described.state)) != "STABLE":
            return None
        holding = [m for m in described.members if m.assignment and m.assignment.topic_partitions]
        return len(holding) if len(holding) == len(described.members) else None


class ClusterScaler:
    """A ``ScalingController`` fed from the cluster: every ``interval_s`` it reads each
    processor's lag (``read_lag_s``) and steps the controller. ``up --autoscale`` and
    ``callstream scale`` call ``tick`` from their main loops."""

    def __init__(self, controller: ScalingController, conf: Mapping[str, str], interval_s: float = 5.0) -> None:
        self.controller, self.interval_s = controller, interval_s
        self.reader = OffsetReader(conf)
        self._next = 0.0

    def tick(self) -> list[str]:
        """When due, one step; a line for an operator per change made and per scale-out held."""
        now = time.monotonic()
        if now < self._next:
            return []
        self._next = now + self.interval_s
        return self.controller.lines(self.controller.step(read_lag_s(self.reader, list(self.controller.processors.values()))))

    def close(self) -> None:
        self.reader.close()
        self.controller.close()


def scaled_processors(names: list[str], catalog: Catalog) -> list[ScaledProcessor]:
    """The scaling view of processors (or bundles): their groups and input partitions."""
    out = []
    for name in names:
        processor = load_processor(name)
        out.append(ScaledProcessor(name, processor.consumer_group,
                                   {t: catalog.topic(t).partitions for t in processor.inputs}))
    return out


def describe_hold(hold: HeldScaleOut) -> str:
    """One line for an operator."""
    return f"held a scale-out of {hold.group}: {hold.reason}"


def describe_event(event: ScalingEvent) -> str:
    """One line for an operator."""
    d = event.decision
    what = f"started {event.started}" if d.direction == "out" else \
        f"removed {', '.join(event.removed_members) or 'no member'} from the group"
    line = f"scaled {d.group} {d.instances_from} -> {d.instances_to} ({d.reason}): {what}"
    return f"{line}; failed: {event.error}" if event.error else line
