"""A live one-screen summary of a running pipeline, read from its output topics.

It consumes (in its own group, from the latest offsets) the lifecycle, assist, alert and
dead-letter topics and reports calls in progress, event rates, alerts and the assist
latency measured from each prompt's lineage (``produced_at_ms - source_time_ms``).
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from confluent_kafka import Consumer

from callstream.contract.codec import decode_event
from callstream.contract.events import AssistPrompt, CallEnded, CallInitiated, SupervisorAlert
from callstream.errors import DecodeError
from callstream.observe.stream import percentile

WATCHED = (
    "callstream.call.lifecycle", "callstream.transcript.raw", "callstream.assist.prompts",
    "callstream.supervisor.alerts", "callstream.deadletter",
)


@dataclass
class LiveSummary:
    started: float = field(default_factory=time.monotonic)
    events: int = 0
    calls_started: int = 0
    calls_ended: int = 0
    alerts: int = 0
    dead_letters: int = 0
    last_alert: str = ""
    assist_latency_ms: deque = field(default_factory=lambda: deque(maxlen=5000))
    window: deque = field(default_factory=lambda: deque(maxlen=50))  # (time, events) samples

    @property
    def in_progress(self) -> int:
        return max(0, self.calls_started - self.calls_ended)

    def rate(self) -> float:
        if len(self.window) < 2:
            return 0.0
        (t0, e0), (t1, e1) = self.window[0], self.window[-1]
        return (e1 - e0) / (t1 - t0) if t1 > t0 else 0.0

    def line(self) -> str:
        ordered = sorted(self.assist_latency_ms)
        p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
        latency = f"assist latency p50 {p50:.0f} ms p99 {p99:.0f} ms" if p50 is not None else "assist latency: no prompts yet"
        return (
            f"calls in progress {self.in_progress:>5} | {self.rate():>7,.0f} events/s | alerts {self.alerts:>4} | "
            f"dead letters {self.dead_letters:>3} | {latency}"
        )


class LiveMonitor:
    def __init__(self, client_config: dict[str, str], topics: dict[str, str] | None = None) -> None:
        rename = topics or {}
        self.topic_of = {rename.get(t, t): t for t in WATCHED}
        self.consumer = Consumer({
            **client_config, "group.id": f"callstream-live-{uuid.uuid4().hex[:8]}", "auto.offset.reset": "latest",
            "enable.auto.commit": False,
        })
        self.consumer.subscribe(list(self.topic_of))
        self.summary = LiveSummary()

    def poll(self, seconds: float) -> LiveSummary:
        deadline = time.monotonic() + seconds
        summary = self.summary
        while time.monotonic() < deadline:
            for message in self.consumer.consume(1000, max(0.05, deadline - time.monotonic())):
                if message.error():
                    continue
                summary.events += 1
                topic = self.topic_of.get(message.topic())
                if topic == "callstream.deadletter":
                    summary.dead_letters += 1
                    continue
                if topic == "callstream.transcript.raw":
                    continue
                try:
                    event = decode_event(message.value(), message.headers())
                except DecodeError:
                    continue
                if isinstance(event, CallInitiated):
                    summary.calls_started += 1
                elif isinstance(event, CallEnded):
                    summary.calls_ended += 1
                elif isinstance(event, AssistPrompt) and event.source_time_ms:
                    summary.assist_latency_ms.append(event.produced_at_ms - event.source_time_ms)
                elif isinstance(event, SupervisorAlert):
                    summary.alerts += 1
                    summary.last_alert = f"{event.kind}/{event.severity}: {event.message}"
        summary.window.append((time.monotonic(), summary.events))
        return summary

    def close(self) -> None:
        self.consumer.close()
