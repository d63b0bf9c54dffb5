"""A rehearsal's traffic: the scenario's phases as one curve, paced into an idempotent
``acks=all`` producer that records every acknowledgement.

The phases become one piecewise-linear curve (written as a CSV beside the report, so a
run can be reproduced with ``callstream simulate --curve``); the simulator's pure
``generate_events`` provides the calls; this module paces them phase by phase (each phase
has its own speed-up) and keeps an ``AckLedger``: which events the cluster acknowledged
(delivery report without error), at which partition and offset. The loss checks compare
consumers against that ledger, never against what was merely sent.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import msgspec
from confluent_kafka import Producer

from callstream.contract.codec import encode_event
from callstream.contract.events import CallDisposition, CallEnded, TranscriptSegment
from callstream.kafka.produce import produce_patiently
from callstream.rehearse.schedule import Limits, ProducerSpec, Traffic
from callstream.simulate.curves import make_curve
from callstream.simulate.simulator import SimulationSettings, generate_events, producer_settings, wait_until_due

#: what a refused rehearsal record points at
REHEARSAL_TOPICS_HINT = "check the rehearsal topics"
SIMULATED_TOPICS = ("callstream.call.lifecycle", "callstream.transcript.raw", "callstream.agent.actions", "callstream.crm.updates")


def composite_points(traffic: Traffic, step_s: float = 1.0) -> list[tuple[float, float]]:
    """``(simulated second, calls per minute)`` of all phases back to back: each phase's
    curve sampled at least every ``step_s`` (and at most 2,000 points per phase)."""
    points: list[tuple[float, float]] = []
    for phase, sim_start, _, _, _ in traffic.phase_bounds():
        curve = make_curve(phase.curve, rate=phase.rate_per_min, duration_s=phase.duration_s)
        step = max(step_s, phase.duration_s / 2000)
        t = 0.0
        while t < phase.duration_s:
            points.append((round(sim_start + t, 6), max(0.0, curve.rate_at(t))))
            t += step
    points.append((round(traffic.simulated_s, 6), points[-1][1]))
    return points


def write_curve_csv(traffic: Traffic, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", "calls_per_minute"])
        for t, rate in composite_points(traffic):
            writer.writerow([f"{t:g}", f"{rate:.6g}"])
    return path


@dataclass
class AckLedger:
    """Every acknowledged event that a loss check needs, and the producer's trouble."""

    acked: int = 0
    failed: int = 0
    first_error: str | None = None
    #: catalog topic -> partition -> acknowledged offsets
    offsets: dict[tuple[str, int], list[int]] = field(default_factory=lambda: defaultdict(list))
    segments: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)
    disposed: set[str] = field(default_factory=set)
    #: (seconds since t0 at produce, acknowledgement latency in ms)
    ack_latency: list[tuple[float, float]] = field(default_factory=list)

    def delivered(self, topic: str, kind: str, ident: str, sent_s: float, err, msg) -> None:  # noqa: ANN001 - librdkafka callback
        if err is not None:
            self.failed += 1
            if self.first_error is None:
                self.first_error = f"{topic}: {err.str()}"
            return
        self.acked += 1
        self.offsets[(topic, msg.partition())].append(msg.offset())
        if kind == "segment":
            self.segments.add(ident)
        elif kind == "ended":
            self.ended.add(ident)
        elif kind == "disposed":
            self.disposed.add(ident)
        latency = msg.latency()
        if latency is not None:
            self.ack_latency.append((sent_s, latency * 1000.0))

    def callback_for(self, topic: str, event: object, sent_s: float):  # noqa: ANN201 - a librdkafka callback
        """The delivery callback that records ``event`` (on its catalog ``topic``) when acknowledged."""
        kind, ident = "", ""
        if isinstance(event, TranscriptSegment):
            kind, ident = "segment", event.segment_id
        elif isinstance(event, CallEnded):
            kind, ident = "ended", event.contact_id
        elif isinstance(event, CallDisposition):
            kind, ident = "disposed", event.contact_id
        return partial(self.delivered, topic, kind, ident, sent_s)

    def expected_quality_contacts(self) -> set[str]:
        """Contacts whose end and disposition were both acknowledged: each must get one score."""
        return self.ended & self.disposed


@dataclass
class ProducerHealth:
    """librdkafka's view: request retries (from statistics) and client errors (error_cb)."""

    retries: int = 0
    client_errors: int = 0
    last_error: str | None = None

    def on_stats(self, payload: str) -> None:
        stats = json.loads(payload)
        self.retries = sum(int(b.get("txretries", 0)) for b in stats.get("brokers", {}).values())

    def on_error(self, error) -> None:  # noqa: ANN001 - librdkafka callback
        self.client_errors += 1
        self.last_error = error.str()


class TrafficThread:
    """A rehearsal's traffic produced in a thread: ``ledger`` fills as acks arrive, ``error``
    holds what ended it early (the rehearsal owns the verdict)."""

    thread_name = "rehearsal-traffic"

    def __init__(self) -> None:
        self.ledger = AckLedger()
        self.produced = 0
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0 = 0.0
        self.start_ms = 0

    def start(self, t0: float, start_ms: int) -> None:
        """Start producing: ``t0`` (``time.monotonic()``) is second 0 of the schedule and
        ``start_ms`` (epoch ms) the simulated clock's start, so event times map back to it."""
        self.t0 = t0
        self.start_ms = start_ms
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._produce_all()
        except BaseException as exc:  # reported by the runner, which owns the verdict
            self.error = exc
        finally:
            self._finish()

    def _finish(self) -> None:
        self.finished.set()

    def _produce_all(self) -> None:
        raise NotImplementedError


class TrafficDriver(TrafficThread):
    """Produces the scenario's traffic phase by phase."""

    def __init__(
        self,
        traffic: Traffic,
        limits: Limits,
        producer_spec: ProducerSpec,
        client_config: dict[str, str],
        topic_names: dict[str, str],
        curve_csv: Path,
    ) -> None:
        super().__init__()
        self.traffic = traffic
        self.limits = limits
        self.health = ProducerHealth()
        self.calls = 0
        self.stopped_by: str | None = None
        self.unsent = 0
        self._catalog_of = {topic_names.get(t, t): t for t in SIMULATED_TOPICS}
        self._settings = SimulationSettings(
            curve=str(curve_csv), duration_s=traffic.simulated_s, seed=traffic.seed,
            topic_overrides={t: topic_names[t] for t in SIMULATED_TOPICS if t in topic_names},
            drain=traffic.tail == "drain",
        )
        conf = producer_settings(client_config) | {
            "acks": producer_spec.acks,
            "enable.idempotence": str(producer_spec.idempotence).lower(),
            "statistics.interval.ms": "1000",
            "stats_cb": self.health.on_stats,
            "error_cb": self.health.on_error,
            "client.id": "callstream-rehearsal-traffic",
        } | producer_spec.librdkafka
        self.producer = Producer(conf)

    def _produce_all(self) -> None:
        traffic, limits, producer, ledger = self.traffic, self.limits, self.producer, self.ledger
        settings = replace(self._settings, start_time_ms=self.start_ms)
        t0 = self.t0

        def on_call(_call) -> None:  # noqa: ANN001
            self.calls += 1

        for sim_s, topic, event in generate_events(settings, on_call=on_call):
            if self._stop.is_set():
                self.stopped_by = "stopped"
                break
            due = traffic.wall_of(sim_s)
            if due >= limits.max_wall_s:
                self.stopped_by = "limits.max_wall_s"
                break
            if self.produced >= limits.max_events:
                self.stopped_by = "limits.max_events"
                break
            wait_until_due(producer, t0 + due, time.monotonic, self._stop.is_set)
            value, headers = encode_event(msgspec.structs.replace(event, produced_at_ms=time.time_ns() // 1_000_000),
                                          validate=False)
            produce_patiently(producer, topic, value, event.contact_id.encode(), headers, hint=REHEARSAL_TOPICS_HINT,
                              on_delivery=ledger.callback_for(self._catalog_of[topic], event, time.monotonic() - t0))
            self.produced += 1
            if self.produced & 0xFF == 0:
                producer.poll(0)
        else:
            self.stopped_by = "end of traffic"
        # acks=all with a broker down may take a while: wait, but bounded
        deadline = time.monotonic() + 120
        while producer.flush(1.0) and time.monotonic() < deadline:
            pass
        self.unsent = len(producer)
