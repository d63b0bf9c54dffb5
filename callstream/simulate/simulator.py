"""The traffic simulator: calls arriving under a curve, their events merged in time order
and produced to the catalog's topics in (sped-up) wall-clock time.

``generate_events`` is the pure part (no Kafka): calls are generated as their arrival comes
due and a heap releases every event of every concurrent call in simulated-time order.
``run_simulation`` paces that stream against the wall clock (simulated time / speed-up, or
as fast as possible with ``max_speed``) into a confluent-kafka producer, writes the ground
truth, and returns a ``SimulationSummary`` whose ``content_hash`` is the same for the same
seed and start time.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import msgspec
from confluent_kafka import KafkaException, Producer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from callstream.contract.catalog import load_catalog
from callstream.contract.codec import encode_event
from callstream.contract.events import CallEnded, CallInitiated, Envelope, event_type_of
from callstream.errors import ConfigError, KafkaOperationError, SimulationError
from callstream.kafka.config import KEY_PARTITIONER
from callstream.kafka.produce import produce_patiently
from callstream.simulate.conversation import ConversationProfile, GeneratedCall, generate_call
from callstream.simulate.curves import TrafficCurve, arrival_times, make_curve
from callstream.simulate.groundtruth import GroundTruthWriter

DEFAULT_RATE_PER_MIN = 30.0

#: Every event type the simulator writes; the catalog says which topic carries each.
SIMULATED_EVENT_TYPES = (
    "call.initiated",
    "call.queued",
    "call.connected",
    "call.held",
    "call.resumed",
    "call.transferred",
    "call.ended",
    "call.disposition",
    "call.heartbeat",
    "transcript.segment",
    "agent.action",
    "crm.update",
)

#: Batching for throughput; callers may override these.
PRODUCER_DEFAULTS = {
    "client.id": "callstream-simulator",
    "allow.auto.create.topics": "false",  # topics come from the catalog, with its settings
    "linger.ms": "5",
    "batch.size": "1000000",
    "batch.num.messages": "10000",
    "compression.type": "lz4",
    "queue.buffering.max.messages": "1000000",
    "queue.buffering.max.kbytes": "1048576",
}
#: Real-time pacing granularity: an event may leave up to this much before its time. Each
#: tick's events reach the broker as one produce request per partition (librdkafka sends one
#: partition a request, ADR 0015), so the tick sets the broker's cost of the source: at 10,000
#: calls 25 ms used 0.06-0.10 fewer cores than 10 ms, assist latency no worse (ADR 0015,
#: stop 45). Latency is measured from the produce call, so leaving early adds none.
PACING_TICK_S = 0.025


def wait_until_due(producer: Producer, due: float, clock: Callable[[], float] = time.perf_counter,
                   stopped: Callable[[], bool] = lambda: False) -> float:
    """Serve ``producer``'s callbacks until ``due`` on ``clock``, unless the event is due
    within one ``PACING_TICK_S`` (or ``stopped`` says so): then it goes out now. Returns
    ``due`` minus the time it returns (negative: the event is late).

    Events due within one tick go out together: waking per event (every ~1 ms at 5,000
    calls) cost ten times the CPU of producing them. poll() takes whole milliseconds: under
    one it returns at once, so waiting that out was a loop of poll(0) calls (without it the
    simulator used 0.258 cores at 10,000 calls, 0.278 with; the rehearsal's traffic thread
    spun the same way until stop 61); an event goes out up to a millisecond early, as
    events within a tick do."""
    wait = due - clock()
    if wait > PACING_TICK_S:
        while wait >= 0.001 and not stopped():
            producer.poll(min(wait, 0.1))  # at most 0.1 s, so a stop is seen
            wait = due - clock()
    return wait


#: Not overridable: a re-sent batch must not duplicate events, and every replica must have them.
PRODUCER_REQUIRED = {"enable.idempotence": "true", "acks": "all", **KEY_PARTITIONER}


@dataclass(frozen=True)
class SimulationSettings:
    """What to simulate. Give ``rate_per_min`` (calls per minute at the curve's base) or
    ``concurrency`` (calls in progress at the base, turned into a rate by Little's law),
    not both; with neither the rate is 30 calls per minute.

    Calls arrive during ``duration_s`` simulated seconds and, with ``drain``, run to their
    end afterwards (a few simulated minutes); without it the run stops at ``duration_s``.
    ``start_time_ms`` (epoch ms) anchors event times; ``None`` means now. The same seed and
    start time give the same events.
    """

    curve: str = "steady"  # steady | daily | campaign | outage | path/to/curve.csv
    rate_per_min: float | None = None
    concurrency: float | None = None
    duration_s: float = 600.0
    speedup: float = 1.0
    max_speed: bool = False
    seed: int = 0
    start_time_ms: int | None = None
    ground_truth_path: Path | None = None
    #: catalog topic name -> topic to write instead (uuid topics for tests and rehearsals)
    topic_overrides: Mapping[str, str] = field(default_factory=dict)
    drain: bool = True
    profile: ConversationProfile = field(default_factory=ConversationProfile)
    catalog_path: Path | None = None
    #: calls already in progress at the start: arrivals during this many simulated seconds
    #: before it, at the curve's opening rate; their events due before the start go out first
    #: (with their past event times), so the run opens on a busy contact center
    warm_start_s: float = 0.0
    #: wall seconds over which those past events go out, in order, before the run's own clock
    #: starts (0: all at once). Sent at once, `up`'s ~2,500 made a burst its processors took a
    #: second to digest, and the first minute's assist latency read 0.4-1 s.
    warm_release_s: float = 0.0

    def __post_init__(self) -> None:
        if self.rate_per_min is not None and self.concurrency is not None:
            raise SimulationError(
                "give a rate or a target concurrency, not both",
                "pass --rate (calls per minute) or --concurrency (calls in progress)",
            )
        for name, value in (("rate", self.rate_per_min), ("concurrency", self.concurrency)):
            if value is not None and (not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0):
                raise SimulationError(f"{name} must be a positive number, got {value!r}", f"pass e.g. --{name} 30")
        if not isinstance(self.speedup, (int, float)) or not math.isfinite(self.speedup) or self.speedup <= 0:
            raise SimulationError(
                f"speed-up must be a positive number, got {self.speedup!r}",
                "1 is real time, 10 runs ten simulated seconds per second",
            )
        for name, seconds, fix in (
                ("warm start", self.warm_start_s, "pass e.g. 300 (about one mean call), or 0 to start with no call in progress"),
                ("warm release", self.warm_release_s, "pass e.g. 5, or 0 to send a warm start's past events at once")):
            if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
                raise SimulationError(f"{name} must be a number of seconds >= 0, got {seconds!r}", fix)
        if not isinstance(self.seed, int):
            raise SimulationError(f"seed must be an integer, got {self.seed!r}", "pass e.g. --seed 42")
        if self.start_time_ms is not None and (not isinstance(self.start_time_ms, int) or self.start_time_ms < 0):
            raise SimulationError(
                f"start time must be epoch milliseconds >= 0, got {self.start_time_ms!r}",
                "pass e.g. --start-time 1735732800000",
            )
        make_curve(self.curve, rate=self.rate_per_min or 1.0, duration_s=self.duration_s)  # names, CSV, duration

    @property
    def base_rate_per_min(self) -> float:
        if self.rate_per_min is not None:
            return float(self.rate_per_min)
        if self.concurrency is not None:
            return self.concurrency * 60.0 / mean_call_seconds(self.profile)
        return DEFAULT_RATE_PER_MIN

    def traffic_curve(self) -> TrafficCurve:
        return make_curve(self.curve, rate=self.base_rate_per_min, duration_s=self.duration_s)

    @property
    def warm_release(self) -> float:
        """Wall seconds before the run's own clock starts: the warm start's release."""
        return self.warm_release_s if self.warm_start_s > 0 and not self.max_speed else 0.0

    def resolved(self) -> SimulationSettings:
        """These settings with the start time fixed (now, or once a warm release is over, if unset)."""
        if self.start_time_ms is not None:
            return self
        return replace(self, start_time_ms=time.time_ns() // 1_000_000 + round(self.warm_release * 1000))

    def due_s(self, sim_s: float) -> float | None:
        """When an event at ``sim_s`` goes out, in wall seconds after producing starts;
        ``None``: at once (max speed, or a warm start's past without a release)."""
        if self.max_speed:
            return None
        release = self.warm_release
        if sim_s >= 0:
            return release + sim_s / self.speedup
        if not release:
            return None
        # The past squeezed into the release, in its order. Calls in progress grow linearly
        # across the warm window, so its events pile up towards the start (their count by
        # then ~ its square): squaring the window's elapsed part sends them at an even rate
        # (`up`'s 2,485: 19 in the first of 10 s and 508 in the last linearly, 186-271 a second).
        return release * max(0.0, 1 + sim_s / self.warm_start_s) ** 2


class SimulatedEvent(NamedTuple):
    sim_time_s: float  # when it is delivered, in simulated seconds since the run's start
    topic: str
    event: Envelope


class SimulationSummary(msgspec.Struct, frozen=True, kw_only=True):
    seed: int
    start_time_ms: int
    curve: str
    base_rate_per_min: float
    calls: int
    contacts: int
    events: int
    events_by_type: dict[str, int]
    events_by_topic: dict[str, int]
    bytes: int  # encoded values produced
    wall_s: float
    events_per_s: float
    simulated_s: float
    peak_concurrency: int
    #: sha256 over every (key, value) in production order, values encoded with produced_at_ms=0
    content_hash: str
    max_lag_s: float  # how far the producer fell behind the schedule (0 in max-speed mode)
    late_events: int  # events produced more than 100 ms behind the schedule
    ground_truth_path: str | None
    #: (simulated seconds, calls in progress), sampled along the run
    in_progress: list[tuple[float, int]]


# --- pure generation ----------------------------------------------------------------------


def topic_routes(settings: SimulationSettings) -> dict[str, str]:
    """event_type -> the topic it is written to: the catalog's, unless overridden."""
    catalog = load_catalog(settings.catalog_path)
    routes = {event_type: catalog.topic_for(event_type) for event_type in SIMULATED_EVENT_TYPES}
    unknown = set(settings.topic_overrides) - set(routes.values())
    if unknown:
        raise ConfigError(
            f"topic overrides name topics the simulator does not write: {sorted(unknown)}",
            f"override one of {sorted(set(routes.values()))}",
        )
    return {event_type: settings.topic_overrides.get(topic, topic) for event_type, topic in routes.items()}


def arrivals_ms(settings: SimulationSettings) -> list[int]:
    """Epoch-ms arrival times of every call of the run (settings must be resolved), the
    warm start's (before the start) first."""
    rng = random.Random(f"callstream-arrivals/{settings.seed}")
    start = settings.start_time_ms or 0
    curve = settings.traffic_curve()
    warm: list[int] = []
    if settings.warm_start_s > 0 and curve.rate_at(0.0) > 0:
        opening = make_curve("steady", rate=curve.rate_at(0.0), duration_s=settings.warm_start_s)
        warm_rng = random.Random(f"callstream-warm-start/{settings.seed}")
        warm = [start - int((settings.warm_start_s - t) * 1000)
                for t in arrival_times(opening, settings.warm_start_s, warm_rng)]
    return warm + [start + int(t * 1000) for t in arrival_times(curve, settings.duration_s, rng)]


def generate_calls(settings: SimulationSettings) -> Iterator[GeneratedCall]:
    """Every call of the run, in arrival order, each complete with its ground truth."""
    settings = settings.resolved()
    for index, arrival in enumerate(arrivals_ms(settings)):
        yield generate_call(index, arrival, settings.seed, settings.profile)


def generate_events(
    settings: SimulationSettings,
    *,
    on_call: Callable[[GeneratedCall], None] | None = None,
) -> Iterator[SimulatedEvent]:
    """Every event of the run in delivery order, without Kafka.

    Calls are generated lazily when their arrival comes due, so memory follows the number
    of concurrent calls, not the run's length. ``on_call`` sees each call (events and
    ground truth) as it starts. Ties in time keep arrival order, then script order.
    """
    settings = settings.resolved()
    routes = topic_routes(settings)
    start = settings.start_time_ms or 0
    end = start + int(settings.duration_s * 1000)
    pending = arrivals_ms(settings)
    heap: list[tuple[int, int, int, list]] = []
    next_call = 0
    while heap or next_call < len(pending):
        # admit every call that has arrived by the time of the earliest queued event
        while next_call < len(pending) and (not heap or pending[next_call] <= heap[0][0]):
            call = generate_call(next_call, pending[next_call], settings.seed, settings.profile)
            if not settings.drain and call.events[-1].release_ms > end:
                call = call._replace(truth=msgspec.structs.replace(call.truth, complete=False))
            if on_call is not None:
                on_call(call)
            heapq.heappush(heap, (call.events[0].release_ms, next_call, 0, call.events))
            next_call += 1
        release_ms, index, position, events = heap[0]
        if not settings.drain and release_ms > end:
            return
        event = events[position].event
        if position + 1 < len(events):
            heapq.heapreplace(heap, (events[position + 1].release_ms, index, position + 1, events))
        else:
            heapq.heappop(heap)
        yield SimulatedEvent((release_ms - start) / 1000.0, routes[event_type_of(event)], event)


class CallsInProgress:
    """Contacts between their ``call.initiated`` and ``call.ended``: the live load."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0

    def observe(self, event: Envelope) -> None:
        if isinstance(event, CallInitiated):
            self.current += 1
            self.peak = max(self.peak, self.current)
        elif isinstance(event, CallEnded):
            self.current -= 1


def calls_in_progress(events: Iterable[SimulatedEvent], step_s: float = 1.0) -> list[tuple[float, int]]:
    """``(t, calls in progress at t)`` every ``step_s`` simulated seconds of the stream."""
    tracker = CallsInProgress()
    samples: list[tuple[float, int]] = []
    next_t = 0.0
    for sim in events:
        while next_t < sim.sim_time_s:
            samples.append((next_t, tracker.current))
            next_t += step_s
        tracker.observe(sim.event)
    samples.append((next_t, tracker.current))
    return samples


class ContentHash:
    """sha256 over (key, value) pairs with produced_at_ms zeroed: wall-clock free."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def update(self, event: Envelope) -> None:
        value, _ = encode_event(msgspec.structs.replace(event, produced_at_ms=0), validate=False)
        key = event.contact_id.encode()
        self._hash.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def content_hash(events: Iterable[SimulatedEvent]) -> str:
    """The hash ``run_simulation`` reports, computed without Kafka."""
    hasher = ContentHash()
    for sim in events:
        hasher.update(sim.event)
    return hasher.hexdigest()


@lru_cache(maxsize=16)
def mean_call_seconds(profile: ConversationProfile) -> float:
    """Mean time a call is in progress (first initiated to last ended), measured on a fixed
    sample of calls so a target concurrency converts to a rate by Little's law."""
    durations = []
    for index in range(400):
        call = generate_call(index, 0, -1, profile)
        durations.append((call.truth.legs[-1].ended_ms - call.truth.legs[0].initiated_ms) / 1000)
    return statistics.fmean(durations)


# --- producing ----------------------------------------------------------------------------


def producer_settings(producer_config: Mapping[str, str]) -> dict[str, str]:
    """The simulator's producer config: defaults, then the caller's, then the required."""
    return {**PRODUCER_DEFAULTS, **producer_config, **PRODUCER_REQUIRED}


class ProducerGate:
    """Lets another thread hold a producing loop (what it sent is flushed first) and release
    it, on the same cluster or on another: a migration's switch moves the simulator this way."""

    def __init__(self) -> None:
        self._go = threading.Event()
        self._go.set()
        self._held = threading.Event()
        self._next_config: Mapping[str, str] | None = None

    def hold(self, timeout_s: float = 60.0) -> bool:
        """Ask the loop to stop producing; whether it did within ``timeout_s``."""
        self._go.clear()
        return self._held.wait(timeout_s)

    def release(self, producer_config: Mapping[str, str] | None = None) -> None:
        """Let the loop go on, with a producer for ``producer_config`` when given."""
        self._next_config = producer_config
        self._held.clear()
        self._go.set()

    def done(self) -> None:
        """The loop ended: nobody waits for it to hold."""
        self._held.set()

    def passage(self, producer: Producer) -> Mapping[str, str] | None:
        """In the loop, before each event: when a hold is asked, flush, wait for the release
        and return the configuration to produce with from then on (``None``: unchanged)."""
        if self._go.is_set():
            return None
        producer.flush(60)
        self._held.set()
        self._go.wait()
        config, self._next_config = self._next_config, None
        return config


def run_simulation(
    settings: SimulationSettings,
    producer_config: Mapping[str, str],
    *,
    progress: bool = True,
    console: Console | None = None,
    seal: Callable[[Envelope], Envelope | None] | None = None,
    gate: ProducerGate | None = None,
) -> SimulationSummary:
    """Produce the run's events to Kafka, keyed by contact id, and write the ground truth.

    ``seal`` (``callstream.governance.protection.ProducerSeal``) encrypts restricted fields
    before they leave the process; an event it returns ``None`` for is withheld. ``gate``
    lets another thread hold the producing and move it to another cluster.

    Raises ``ConfigError`` when a target topic does not exist and ``KafkaOperationError``
    when Kafka cannot be reached or rejects messages.
    """
    settings = settings.resolved()
    routes = topic_routes(settings)
    stats = _DeliveryStats()
    producer = stats.producer(producer_config)
    _require_topics(producer, sorted(set(routes.values())), producer_config.get("bootstrap.servers", "?"))

    writer = GroundTruthWriter(settings.ground_truth_path) if settings.ground_truth_path else None
    calls = 0

    def on_call(call: GeneratedCall) -> None:
        nonlocal calls
        calls += 1
        if writer is not None:
            writer.write(call.truth)

    hasher = ContentHash()
    tracker = CallsInProgress()
    by_type: Counter[str] = Counter()
    by_topic: Counter[str] = Counter()
    in_progress: list[tuple[float, int]] = []
    sample_s = max(1.0, settings.duration_s / 600)
    next_sample = 0.0
    produced_bytes = 0
    max_lag = 0.0
    late = 0
    events = 0
    last_sim_s = 0.0
    bar = _ProgressBar(settings, enabled=progress, console=console)
    started = time.perf_counter()
    try:
        with bar:
            for sim_s, topic, event in generate_events(settings, on_call=on_call):
                due_s = settings.due_s(sim_s)
                if due_s is not None:
                    wait = wait_until_due(producer, started + due_s)
                    if -wait > max_lag:
                        max_lag = -wait
                    if wait < -0.1:
                        late += 1
                while next_sample < sim_s:
                    in_progress.append((next_sample, tracker.current))
                    next_sample += sample_s
                if gate is not None and (moved_to := gate.passage(producer)) is not None:
                    producer = stats.producer(moved_to)
                tracker.observe(event)
                hasher.update(event)
                outgoing = msgspec.structs.replace(event, produced_at_ms=time.time_ns() // 1_000_000)
                if seal is not None:
                    sealed = seal(outgoing)
                    if sealed is None:
                        continue  # an erased contact: its restricted fields are never written again
                    outgoing = sealed
                value, headers = encode_event(outgoing, validate=False)
                produce_patiently(producer, topic, value, event.contact_id.encode(), headers)
                tag = event_type_of(event)
                by_type[tag] += 1
                by_topic[topic] += 1
                produced_bytes += len(value)
                events += 1
                last_sim_s = sim_s
                if events & 0x3FF == 0:
                    producer.poll(0)
                    bar.update(sim_s, events, tracker.current, calls)
                elif not settings.max_speed:
                    bar.update(sim_s, events, tracker.current, calls)  # sparse traffic: refresh by time
            bar.update(last_sim_s, events, tracker.current, calls, force=True)
            remaining = producer.flush(60)
    except KeyboardInterrupt:
        producer.flush(10)  # deliver what was already handed to the producer, then stop
        raise
    finally:
        if gate is not None:
            gate.done()
        if writer is not None:
            writer.close()
    wall_s = time.perf_counter() - started
    in_progress.append((next_sample, tracker.current))
    if remaining:
        raise KafkaOperationError(
            f"{remaining} of {events} simulated events were still unsent after 60 s",
            "check that the brokers are up and the topics writable",
        )
    if stats.failed:
        raise KafkaOperationError(
            f"Kafka rejected {stats.failed} of {events} simulated events: {stats.first_error}",
            "check the topics, ACLs and broker health",
            code=stats.first_code,
        )
    return SimulationSummary(
        seed=settings.seed,
        start_time_ms=settings.start_time_ms or 0,
        curve=settings.curve,
        base_rate_per_min=round(settings.base_rate_per_min, 3),
        calls=calls,
        contacts=by_type["call.initiated"],
        events=events,
        events_by_type=dict(sorted(by_type.items())),
        events_by_topic=dict(sorted(by_topic.items())),
        bytes=produced_bytes,
        wall_s=round(wall_s, 3),
        events_per_s=round(events / wall_s, 1) if wall_s > 0 else 0.0,
        simulated_s=round(last_sim_s, 3),
        peak_concurrency=tracker.peak,
        content_hash=hasher.hexdigest(),
        max_lag_s=round(max_lag, 3),
        late_events=late,
        ground_truth_path=str(settings.ground_truth_path) if settings.ground_truth_path else None,
        in_progress=in_progress,
    )


def summary_table(summary: SimulationSummary) -> Table:
    """The summary as a table for people."""
    table = Table(title=f"simulation (seed {summary.seed}, curve {summary.curve})", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    rows = [
        ("calls / contacts", f"{summary.calls:,} / {summary.contacts:,}"),
        ("events", f"{summary.events:,}"),
        ("bytes", f"{summary.bytes:,}"),
        ("simulated", f"{summary.simulated_s:,.1f} s"),
        ("wall clock", f"{summary.wall_s:,.1f} s"),
        ("events/s", f"{summary.events_per_s:,.0f}"),
        ("peak calls in progress", f"{summary.peak_concurrency:,}"),
        ("max lag behind schedule", f"{summary.max_lag_s:.3f} s ({summary.late_events:,} late events)"),
        ("content hash", summary.content_hash[:16]),
    ]
    rows += [(f"  {tag}", f"{count:,}") for tag, count in summary.events_by_type.items()]
    if summary.ground_truth_path:
        rows.append(("ground truth", summary.ground_truth_path))
    for row in rows:
        table.add_row(*row)
    return table


class _DeliveryStats:
    """Failed deliveries of a simulator's producer: only those are reported, so a paced
    loop's ``poll`` waits out its pause instead of returning for every acknowledged event."""

    def __init__(self) -> None:
        self.failed = 0
        self.first_error: str | None = None
        self.first_code: str | None = None

    def producer(self, producer_config: Mapping[str, str]) -> Producer:
        return Producer({**producer_settings(producer_config), "on_delivery": self.on_delivery,
                         "delivery.report.only.error": True})

    def on_delivery(self, err, msg) -> None:  # noqa: ANN001 - librdkafka callback
        if err is not None:
            self.failed += 1
            if self.first_error is None:
                self.first_error = f"{msg.topic()}: {err.str()}"
                self.first_code = err.name()


def _require_topics(producer: Producer, topics: list[str], bootstrap: str, wait_s: float = 5.0) -> None:
    # Metadata of every topic, never of the named ones: asking for a missing topic by name
    # makes a broker with auto.create.topics.enable create it with default settings.
    # A topic created a moment ago may take a few metadata refreshes to show up.
    deadline = time.monotonic() + wait_s
    while True:
        try:
            metadata = producer.list_topics(timeout=15)
        except KafkaException as exc:
            raise KafkaOperationError(
                f"cannot reach Kafka at {bootstrap}: {exc}",
                "start it with `callstream kafka start` or check --bootstrap-servers",
            ) from exc
        missing = [t for t in topics if t not in metadata.topics]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if missing:
        raise ConfigError(
            f"topics {', '.join(missing)} do not exist on {bootstrap}",
            "create them with `callstream topics apply`, or override the topic names",
        )


class _ProgressBar:
    """A rich progress bar over simulated time; a no-op when disabled."""

    def __init__(self, settings: SimulationSettings, enabled: bool, console: Console | None) -> None:
        self.enabled = enabled
        self.duration = settings.duration_s
        self._last = 0.0
        if not enabled:
            return
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[sim]}"),
            TextColumn("{task.fields[events]} events"),
            TextColumn("{task.fields[calls]} calls, {task.fields[live]} in progress"),
            TextColumn("{task.fields[wall]} wall"),
            console=console,
            transient=False,
        )
        self.task = self.progress.add_task(
            "simulating", total=settings.duration_s, sim="", events=0, calls=0, live=0, wall="0s"
        )
        self._started = time.perf_counter()

    def __enter__(self) -> _ProgressBar:
        if self.enabled:
            self.progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.enabled:
            self.progress.__exit__(kind, error, traceback)

    def update(self, sim_s: float, events: int, live: int, calls: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.2 and not force:
            return
        self._last = now
        # after the last arrival the bar stays full while the calls in progress drain
        self.progress.update(
            self.task,
            completed=max(0.0, min(sim_s, self.duration)),
            description="draining" if sim_s > self.duration else "simulating",
            sim=f"{sim_s:,.0f}/{self.duration:,.0f} s simulated",
            events=f"{events:,}",
            calls=f"{calls:,}",
            live=live,
            wall=f"{now - self._started:,.0f}s",
        )
