"""A worker times each phase of its group's rebalances: revoke, join, assign, recovery."""
# ruff: noqa: SLF001 - the timer wraps Quix's private callbacks; the fake application has the same names

from __future__ import annotations

import logging
import types

import pytest
from prometheus_client import CollectorRegistry

from callstream.contract.catalog import load_catalog
from callstream.observe.client_metrics import REBALANCE_SECONDS, ProcessorMetrics
from callstream.processors.rebalance import RECOVERY_POLL_S, RebalanceTimer, prompt_recovery
from callstream.processors.registry import load_processor
from callstream.processors.runtime import build_application


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _app(clock: _Clock, costs: dict[str, float]) -> types.SimpleNamespace:
    """An application whose callbacks take ``costs[name]`` seconds of the fake clock."""
    def costing(name: str):
        def callback(*args: object) -> None:
            clock.now += costs[name]
        return callback

    manager = types.SimpleNamespace(do_recovery=costing("recovery"))
    return types.SimpleNamespace(_on_revoke=costing("revoke"), _on_lost=costing("lost"),
                                 _on_assign=costing("assign"), _state_manager=manager)


def _observed(registry: CollectorRegistry, phase: str) -> tuple[float | None, float | None]:
    labels = {"processor": "redactor", "phase": phase}
    return (registry.get_sample_value(f"{REBALANCE_SECONDS}_count", labels),
            registry.get_sample_value(f"{REBALANCE_SECONDS}_sum", labels))


def test_each_phase_is_observed_and_a_slow_one_is_a_warning(caplog) -> None:
    registry, clock = CollectorRegistry(), _Clock()
    app = _app(clock, {"revoke": 0.3, "lost": 0.1, "assign": 0.2, "recovery": 1.5})
    RebalanceTimer("redactor", ProcessorMetrics("redactor", registry), clock).hook(app)
    with caplog.at_level(logging.INFO, logger="callstream.processors.rebalance"):
        app._on_revoke(None, ["raw-0", "raw-1"])
        clock.now += 2.5  # the group waits for its other members to rejoin
        app._on_assign(None, ["raw-0"])
        app._on_assign(None, [])  # librdkafka's empty call: no phase
        app._state_manager.do_recovery()
    assert _observed(registry, "revoke") == pytest.approx((1.0, 0.3))
    assert _observed(registry, "join") == pytest.approx((1.0, 2.5))
    assert _observed(registry, "assign") == pytest.approx((1.0, 0.2))
    assert _observed(registry, "recovery") == pytest.approx((1.0, 1.5))
    levels = {r.getMessage(): r.levelno for r in caplog.records}
    assert levels == {
        "redactor: rebalance revoke took 0.30 s (2 partitions)": logging.INFO,
        "redactor: rebalance join took 2.50 s (waiting for the group)": logging.WARNING,
        "redactor: rebalance assign took 0.20 s (1 partitions)": logging.INFO,
        "redactor: rebalance recovery took 1.50 s (state restored from changelogs)": logging.WARNING,
    }
    # a first assignment (nothing revoked before) has no join phase to report
    app._on_assign(None, ["raw-1"])
    assert _observed(registry, "join") == pytest.approx((1.0, 2.5))
    # a lost assignment is timed too, and the join after it counts from its end
    app._on_lost(None, ["raw-0"])
    clock.now += 0.4
    app._on_assign(None, ["raw-0"])
    assert _observed(registry, "lost")[0] == 1.0
    assert _observed(registry, "join") == pytest.approx((2.0, 2.9))


def test_a_callback_that_raises_is_still_timed_and_raises() -> None:
    registry, clock = CollectorRegistry(), _Clock()
    app = _app(clock, {"revoke": 0.0, "lost": 0.0, "assign": 0.0, "recovery": 0.0})

    def failing(*args: object) -> None:
        clock.now += 0.7
        raise RuntimeError("commit failed")

    app._on_revoke = failing
    RebalanceTimer("redactor", ProcessorMetrics("redactor", registry), clock).hook(app)
    with pytest.raises(RuntimeError, match="commit failed"):
        app._on_revoke(None, ["raw-0"])
    assert _observed(registry, "revoke") == pytest.approx((1.0, 0.7))


class _Recovery:
    """What ``prompt_recovery`` touches of Quix's recovery manager."""

    MAX_INVALID_OFFSET_ATTEMPTS = 60

    def __init__(self, consumer: object) -> None:
        self._consumer = consumer
        self._position_cache = {"changelog:0": (100.0, "a position read before the last records arrived")}


def test_a_recovery_polls_briefly_and_reads_positions_afresh_when_idle() -> None:
    polls: list[float | None] = []
    arriving = ["record", None, None]

    def poll(timeout: float | None = None) -> str | None:
        polls.append(timeout)
        return arriving.pop(0)

    recovery = _Recovery(types.SimpleNamespace(poll=poll, assignment=lambda: ["changelog-0"]))
    prompt_recovery(types.SimpleNamespace(_state_manager=types.SimpleNamespace(_recovery_manager=recovery)))
    assert recovery._consumer.poll(1) == "record"  # what Quix's loop waits before it looks whether recovery is complete
    assert recovery._position_cache  # a poll that read something leaves the cache alone
    assert recovery._consumer.poll(0.01) is None
    assert recovery._position_cache == {}  # Quix looks at the positions next: they are read afresh
    recovery._consumer.poll()
    assert polls == [RECOVERY_POLL_S, 0.01, RECOVERY_POLL_S]
    assert recovery._consumer.assignment() == ["changelog-0"]  # everything else is the consumer's own
    # Quix gives up on a position that stays invalid after as long as before: more checks, each sooner
    assert recovery.MAX_INVALID_OFFSET_ATTEMPTS * RECOVERY_POLL_S == pytest.approx(60 * 1.0)
    stateless = types.SimpleNamespace(_state_manager=types.SimpleNamespace(_recovery_manager=None))
    prompt_recovery(stateless)  # no changelogs, no recovery: nothing to change
    assert stateless._state_manager._recovery_manager is None


def test_built_workers_time_the_quix_callbacks(kafka_config, pipeline, tmp_path) -> None:
    # catches a Quix release that renames the callbacks or the recovery the timer wraps
    options = {"topic_names": pipeline.names, "group": f"rebalance-{tmp_path.name}"}
    built = build_application(load_processor("assist"), kafka_config, load_catalog(), tmp_path / "a", **options)
    app = built.app
    for callback in (app._on_assign, app._on_revoke, app._on_lost, app._state_manager.do_recovery):
        assert callback.__qualname__.startswith("RebalanceTimer."), callback.__qualname__
    # its recovery polls briefly through the application's consumer and clears Quix's own
    # position cache (a release that renames either fails here)
    recovery = app._state_manager._recovery_manager
    assert type(recovery._consumer).__name__ == "_BriefPoll" and recovery._consumer._consumer is app._consumer
    assert recovery._consumer._on_idle == recovery._position_cache.clear
    assert type(recovery).MAX_INVALID_OFFSET_ATTEMPTS == 60
