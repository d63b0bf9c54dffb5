"""How long a worker's consumer-group rebalances keep its partitions from being processed.

When an instance joins or leaves a processor's group (the autoscaler, a restart, a crash),
every member of the group stops. Quix assigns with Kafka's eager ``range`` strategy: each
member commits its checkpoint and gives up all its partitions (*revoke*), waits until
every member has rejoined and the leader's plan comes back (*join*), takes its new
partitions and reads their committed offsets (*assign*), then restores the state of
partitions it did not hold from their changelogs (*recovery*) before it processes again.
A scale-in stalled the live path for seconds (`rehearse autoscale`, ADR 0008); this splits
that stall into those phases for each instance.

Each phase is observed in ``callstream_processor_rebalance_seconds{processor, phase}`` and
logged: at INFO, or at WARNING when it took longer than ``SLOW_PHASE_S`` (workers log
warnings only, so a slow rebalance shows in their output and in a rehearsal's kept logs).
The hooks wrap Quix's rebalance callbacks and its recovery on the ``Application``
instance: internals, pinned by the lock and by ``tests/processors/test_rebalance_timing.py``.

``prompt_recovery`` shortens the recovery phase. Quix's revoke does not flush a store (its
last checkpoint is in the changelog), so the next owner of a partition always replays at
least that checkpoint, and its recovery loop then took at least a second however little
there was to read: it looks whether a partition is complete only after a poll that waited
a whole second for nothing, and it reads positions through a 1 s cache, so a position
read before the last records arrived hid the end for up to a second more (1.01-1.06 s were
the shortest of a short autoscale run's recoveries). Its loop now polls for at most
``RECOVERY_POLL_S`` and reads positions afresh after a poll that read nothing (0.12-0.36 s
in the same run). Completion is still judged by each partition's position against its
changelog's end, so this changes when a recovery ends, never whether it is complete; Quix
gives up on a position that stays invalid after a number of checks, which is scaled so
that it still takes the same minute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from callstream.observe.client_metrics import ProcessorMetrics

log = logging.getLogger(__name__)

#: a phase longer than this is logged as a warning: a healthy one takes a few hundred ms
SLOW_PHASE_S = 1.0
#: the longest a recovery loop's poll waits before it looks whether recovery is complete
RECOVERY_POLL_S = 0.1

Callback = Callable[[Any, list[Any]], None]


class RebalanceTimer:
    """Times one worker's rebalance phases (see the module's docstring)."""

    def __init__(self, name: str, metrics: ProcessorMetrics, clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.metrics, self._clock = name, metrics, clock
        #: when the last revoke (or loss) ended: the group's join starts there
        self._revoked_at: float | None = None

    def hook(self, app: Any) -> None:
        """Wrap ``app``'s rebalance callbacks and its state recovery (before ``app.run()``,
        which hands the callbacks to the consumer)."""
        app._on_revoke = self._revoking(app._on_revoke, "revoke")  # noqa: SLF001
        app._on_lost = self._revoking(app._on_lost, "lost")  # noqa: SLF001
        app._on_assign = self._assigning(app._on_assign)  # noqa: SLF001
        manager = app._state_manager  # noqa: SLF001
        manager.do_recovery = self._timed(manager.do_recovery)

    def _revoking(self, callback: Callback, phase: str) -> Callback:
        def timed(consumer: Any, partitions: list[Any]) -> None:
            started = self._clock()
            try:
                callback(consumer, partitions)
            finally:
                self._revoked_at = self._clock()
                self.observe(phase, self._revoked_at - started, f"{len(partitions)} partitions")
        return timed

    def _assigning(self, callback: Callback) -> Callback:
        def timed(consumer: Any, partitions: list[Any]) -> None:
            started = self._clock()
            if partitions and self._revoked_at is not None:
                # from giving up the old partitions to being handed the new ones: the
                # group waited for every member to rejoin and for the leader's plan
                self.observe("join", started - self._revoked_at, "waiting for the group")
                self._revoked_at = None
            try:
                callback(consumer, partitions)
            finally:
                if partitions:  # librdkafka also calls it empty, e.g. for a new epoch
                    self.observe("assign", self._clock() - started, f"{len(partitions)} partitions")
        return timed

    def _timed(self, recovery: Callable[[], None]) -> Callable[[], None]:
        def timed() -> None:
            started = self._clock()
            try:
                recovery()
            finally:
                self.observe("recovery", self._clock() - started, "state restored from changelogs")
        return timed

    def observe(self, phase: str, seconds: float, what: str) -> None:
        self.metrics.rebalance_seconds(phase, seconds)
        level = logging.WARNING if seconds > SLOW_PHASE_S else logging.INFO
        log.log(level, "%s: rebalance %s took %.2f s (%s)", self.name, phase, seconds, what)


class _BriefPoll:
    """A Quix consumer whose ``poll`` waits at most ``RECOVERY_POLL_S`` and calls ``on_idle``
    when it returned nothing; the rest is the consumer's own."""

    def __init__(self, consumer: Any, on_idle: Callable[[], None]) -> None:
        self._consumer, self._on_idle = consumer, on_idle

    def poll(self, timeout: float | None = None) -> Any:
        message = self._consumer.poll(RECOVERY_POLL_S if timeout is None else min(timeout, RECOVERY_POLL_S))
        if message is None:
            self._on_idle()
        return message

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def prompt_recovery(app: Any) -> None:
    """Make ``app``'s state recovery (when it has one) end as soon as it is complete."""
    recovery = app._state_manager._recovery_manager  # noqa: SLF001
    if recovery is None:
        return
    # after a poll that read nothing, Quix looks at the positions: read them afresh
    recovery._consumer = _BriefPoll(recovery._consumer, on_idle=recovery._position_cache.clear)  # noqa: SLF001
    recovery.MAX_INVALID_OFFSET_ATTEMPTS = round(type(recovery).MAX_INVALID_OFFSET_ATTEMPTS / RECOVERY_POLL_S)
