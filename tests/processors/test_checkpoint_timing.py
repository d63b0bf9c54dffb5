"""A worker times each checkpoint it commits: the stop in its reading that a prompt may wait for."""
# ruff: noqa: SLF001 - the timer wraps Quix's private commit; the fake application has the same names

from __future__ import annotations

import types
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from callstream.observe.client_metrics import CHECKPOINT_SECONDS, ProcessorMetrics
from callstream.processors.checkpoints import time_checkpoints
from callstream.processors.runtime import CallStateValue
from callstream.processors.state_cache import CallStateCache


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Context:
    """Quix's processing context as far as the timer and the state cache use it."""

    def __init__(self, clock: _Clock, commit_s: float) -> None:
        self.clock, self.commit_s = clock, commit_s
        self.due, self.pending_offsets = False, True
        self.checkpoint = types.SimpleNamespace(expired=lambda: self.due, empty=lambda: not self.pending_offsets)
        self.commits: list[tuple[bool, bool]] = []

    def commit_checkpoint(self, force: bool = False, revoking: bool = False) -> None:
        if force or self.checkpoint.expired():
            self.clock.now += self.commit_s
            self.commits.append((force, revoking))


def _observed(registry: CollectorRegistry) -> tuple[float | None, float | None]:
    labels = {"processor": "frontline"}
    return (registry.get_sample_value(f"{CHECKPOINT_SECONDS}_count", labels),
            registry.get_sample_value(f"{CHECKPOINT_SECONDS}_sum", labels))


def _timed_app(commit_s: float) -> tuple[types.SimpleNamespace, _Context, CollectorRegistry]:
    registry, clock = CollectorRegistry(), _Clock()
    context = _Context(clock, commit_s)
    app = types.SimpleNamespace(_processing_context=context, _on_revoke=None, _on_lost=None, _on_assign=None)
    time_checkpoints(app, ProcessorMetrics("frontline", registry), clock)
    return app, context, registry


def test_only_a_due_checkpoint_with_offsets_is_timed() -> None:
    app, context, registry = _timed_app(0.04)
    app._processing_context.commit_checkpoint()  # after a message, not due: Quix is not asked to commit
    assert context.commits == [] and _observed(registry) == (0.0, 0.0)
    context.due = True
    app._processing_context.commit_checkpoint()
    # decided once: Quix commits without asking its clock again
    assert context.commits == [(True, False)]
    assert _observed(registry) == pytest.approx((1.0, 0.04))
    context.pending_offsets = False  # an idle worker's checkpoint only closes: not a stop worth a sample
    app._processing_context.commit_checkpoint()
    assert len(context.commits) == 2 and _observed(registry) == pytest.approx((1.0, 0.04))
    context.due, context.pending_offsets = False, True
    app._processing_context.commit_checkpoint(force=True, revoking=True)  # a revoke's commit is a stop too
    assert context.commits[-1] == (True, True) and _observed(registry) == pytest.approx((2.0, 0.08))


def test_the_state_caches_hand_over_is_part_of_the_timed_stop() -> None:
    registry, clock = CollectorRegistry(), _Clock()
    context = _Context(clock, 0.03)
    app = types.SimpleNamespace(_processing_context=context, _on_revoke=None, _on_lost=None, _on_assign=None)
    cache = CallStateCache(CallStateValue.KEY, timedelta(hours=6))
    cache.hook(app)  # as the worker builds it: the cache first, the timer around it
    time_checkpoints(app, ProcessorMetrics("frontline", registry), clock)

    class SlowState:
        def set_bytes(self, key: str, value: bytes, ttl: timedelta | None = None) -> None:
            clock.now += 0.002  # Quix's TTL write reads RocksDB for each call

    for n in range(10):
        cache.save(f"call-{n}".encode(), SlowState(), 1_000 + n, {"x": n})
    context.due = True
    app._processing_context.commit_checkpoint()
    assert context.commits == [(True, False)]
    assert _observed(registry) == pytest.approx((1.0, 0.03 + 10 * 0.002))
