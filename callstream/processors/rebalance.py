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

