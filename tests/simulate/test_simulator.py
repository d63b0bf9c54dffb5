"""The event stream of a whole run: settings, ordering, topics, determinism, load."""

from __future__ import annotations

import statistics
import time
from collections import Counter

import pytest
import yaml

from callstream.contract.catalog import BUILTIN_CATALOG
from callstream.contract.events import CallEnded, CallInitiated, event_type_of
from callstream.errors import ConfigError, SimulationError
from callstream.simulate.conversation import ConversationProfile
from callstream.simulate.simulator import (
    PRODUCER_REQUIRED,
    SIMULATED_EVENT_TYPES,
    SimulationSettings,
    calls_in_progress,
    content_hash,
    generate_calls,
    generate_events,
    mean_call_seconds,
    producer_settings,
    topic_routes,
)

CATALOG = BUILTIN_CATALOG
START_MS = 1_767_261_600_000


def settings(**overrides) -> SimulationSettings:
    base = dict(curve="steady", rate_per_min=20, duration_s=120, seed=7, start_time_ms=START_MS, catalog_path=CATALOG)
    return SimulationSettings(**{**base, **overrides})


def test_events_come_out_in_time_order_across_concurrent_calls() -> None:
    stream = list(generate_events(settings(rate_per_min=60)))
    times = [sim.sim_time_s for sim in stream]
    assert times == sorted(times)
    contacts = {sim.event.contact_id for sim in stream}
    assert len(contacts) > 50
    # calls overlap: the first call is still live when later ones start
    first_end = next(s.sim_time_s for s in stream if isinstance(s.event, CallEnded))
    assert sum(isinstance(s.event, CallInitiated) and s.sim_time_s < first_end for s in stream) > 5
    for sim in stream:
        assert sim.sim_time_s * 1000 + START_MS == sim.event.produced_at_ms


def test_topics_follow_the_catalog() -> None:
    catalog = yaml.safe_load(CATALOG.read_text())
    carrier = {event_type: topic["name"] for topic in catalog["topics"] for event_type in topic["event_types"]}
    routes = topic_routes(settings())
    assert routes == {event_type: carrier[event_type] for event_type in SIMULATED_EVENT_TYPES}
    assert set(routes.values()) == {
        "callstream.call.lifecycle",
        "callstream.transcript.raw",
        "callstream.agent.actions",
        "callstream.crm.updates",
    }
    for sim in generate_events(settings(duration_s=30)):
        assert sim.topic == carrier[event_type_of(sim.event)]


def test_topic_overrides_redirect_whole_topics() -> None:
    overrides = {"callstream.transcript.raw": "test-raw-1234", "callstream.call.lifecycle": "test-life-1234"}
    topics = Counter(sim.topic for sim in generate_events(settings(duration_s=30, topic_overrides=overrides)))
    assert set(topics) == {"test-raw-1234", "test-life-1234", "callstream.agent.actions", "callstream.crm.updates"}
    with pytest.raises(ConfigError, match="does not write"):
        topic_routes(settings(topic_overrides={"callstream.signals.fraud": "x"}))


def test_same_seed_and_start_give_the_same_hash_and_anything_else_does_not() -> None:
    reference = content_hash(generate_events(settings()))
    assert content_hash(generate_events(settings())) == reference
    assert content_hash(generate_events(settings(speedup=50, max_speed=True))) == reference  # pacing is not content
    assert content_hash(generate_events(settings(seed=8))) != reference
    assert content_hash(generate_events(settings(start_time_ms=START_MS + 1))) != reference


def test_unset_start_time_means_now() -> None:
    resolved = settings(start_time_ms=None).resolved()
    assert abs(resolved.start_time_ms - time.time() * 1000) < 5_000
    assert resolved.resolved() is resolved


def test_calls_arrive_within_the_duration_and_drain_after_it() -> None:
    stream = list(generate_events(settings(duration_s=60)))
    starts = [
        s.sim_time_s for s in stream if isinstance(s.event, CallInitiated) and s.event.previous_contact_id is None
    ]
    assert max(starts) < 60
    assert stream[-1].sim_time_s > 60  # calls run to their end
    assert sum(isinstance(s.event, CallInitiated) for s in stream) == sum(
        isinstance(s.event, CallEnded) for s in stream
    )


def test_without_drain_the_run_stops_at_the_duration_and_marks_cut_calls() -> None:
    seen = []
    stream = list(generate_events(settings(duration_s=60, drain=False), on_call=seen.append))
    assert stream[-1].sim_time_s <= 60
    assert any(not call.truth.complete for call in seen)
    assert all(call.truth.complete == (call.events[-1].release_ms <= START_MS + 60_000) for call in seen)


def test_on_call_sees_every_call_with_its_truth_before_its_events() -> None:
    seen = []
    first_event: dict[str, int] = {}
    for n, sim in enumerate(generate_events(settings(), on_call=seen.append)):
        first_event.setdefault(sim.event.contact_id, n)
        assert any(sim.event.contact_id in c.truth.linked_contact_ids for c in seen)
    assert [c.call_index for c in seen] == list(range(len(seen)))
    assert [c.truth for c in seen] == [c.truth for c in generate_calls(settings())]


def test_calls_in_progress_over_time() -> None:
    stream = list(generate_events(settings(rate_per_min=60, duration_s=600)))
    samples = calls_in_progress(stream, step_s=10)
    assert samples[0] == (0.0, 0) and samples[-1][1] == 0
    assert [t for t, _ in samples] == [10.0 * i for i in range(len(samples))]
    live = 0
    for t, count in samples[1:20]:  # recount by hand at a few sample points
        live = sum(
            1 if isinstance(s.event, CallInitiated) else -1
            for s in stream
            if s.sim_time_s <= t and isinstance(s.event, (CallInitiated, CallEnded))
        )
        assert count == live


def test_target_concurrency_is_reached_in_the_steady_state() -> None:
    target = 40
    s = settings(concurrency=target, rate_per_min=None, duration_s=3600, seed=3)
    assert s.base_rate_per_min == pytest.approx(target * 60 / mean_call_seconds(s.profile))
    samples = calls_in_progress(generate_events(s), step_s=30)
    steady = [count for t, count in samples if 900 <= t <= 3600]  # after a few call lengths of warm-up
    assert abs(statistics.fmean(steady) - target) < 0.15 * target


def test_mean_call_length_is_a_few_minutes() -> None:
    assert 90 < mean_call_seconds(ConversationProfile()) < 400


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"rate_per_min": -3}, SimulationError, "rate must be a positive number"),
        ({"rate_per_min": 10, "concurrency": 5}, SimulationError, "not both"),
        ({"rate_per_min": None, "concurrency": 0}, SimulationError, "concurrency must be a positive number"),
        ({"duration_s": 0}, SimulationError, "duration must be a positive number"),
        ({"speedup": 0}, SimulationError, "speed-up must be a positive number"),
        ({"speedup": -2}, SimulationError, "speed-up must be a positive number"),
        ({"curve": "holiday"}, SimulationError, "unknown traffic curve 'holiday'"),
        ({"curve": "/nonexistent/curve.csv"}, SimulationError, "cannot read traffic curve"),
        ({"start_time_ms": -1}, SimulationError, "start time must be epoch milliseconds"),
        ({"seed": "abc"}, SimulationError, "seed must be an integer"),
    ],
)
def test_impossible_settings_raise(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        settings(**kwargs)


def test_producer_is_idempotent_with_acks_all_whatever_the_caller_says() -> None:
    conf = producer_settings({"bootstrap.servers": "127.0.0.1:1", "acks": "1", "linger.ms": "50"})
    assert conf["enable.idempotence"] == "true" and conf["acks"] == "all"
    assert conf["linger.ms"] == "50" and conf["bootstrap.servers"] == "127.0.0.1:1"
    assert PRODUCER_REQUIRED.items() <= conf.items()


class _Clocked:
    """A producer whose poll(t) moves a fake clock by at least a millisecond, as librdkafka's
    whole-millisecond poll does; ``polls`` records each timeout asked."""

    def __init__(self) -> None:
        self.now = 100.0
        self.polls: list[float] = []

    def poll(self, timeout: float) -> int:
        self.polls.append(timeout)
        self.now += max(timeout, 0.001)
        return 0


def test_pacing_sends_events_due_within_a_tick_now_and_waits_out_the_others_without_spinning() -> None:
    from callstream.simulate.simulator import PACING_TICK_S, wait_until_due

    producer = _Clocked()
    clock = lambda: producer.now  # noqa: E731
    assert wait_until_due(producer, 100.0 + PACING_TICK_S / 2, clock) == pytest.approx(PACING_TICK_S / 2)
    assert producer.polls == []  # due within the tick: it goes out now
    left = wait_until_due(producer, producer.now + 0.25, clock)
    # waited in polls of at most 0.1 s, never a loop of sub-millisecond polls
    assert 0 <= left < 0.001 and producer.polls[:2] == [0.1, 0.1] and len(producer.polls) <= 4
    producer.polls.clear()
    assert wait_until_due(producer, producer.now + 5.0, clock, stopped=lambda: True) == pytest.approx(5.0)
    assert producer.polls == []  # a stopped run does not wait
