"""A live one-screen summary of a running pipeline, read from its output topics.

It taps (``StreamTap``, from the latest offsets) the lifecycle, redacted transcript, assist,
alert and dead-letter topics and reports calls in progress, event rates, alerts and the
assist latency measured from each prompt's lineage (``produced_at_ms - source_time_ms``).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from callstream.contract.codec import decode_event
from callstream.contract.events import AssistPrompt, CallEnded, CallInitiated, SupervisorAlert, event_tag
from callstream.errors import DecodeError
from callstream.observe.stream import StreamTap, percentile, read_lineage

#: what the dashboard's principal may read: the live line runs as it
WATCHED = (
    "callstream.call.lifecycle", "callstream.transcript.redacted", "callstream.assist.prompts",
    "callstream.supervisor.alerts", "callstream.deadletter",
)


#: the assist latency on the live line covers the prompts of this many seconds
LATENCY_WINDOW_S = 60.0

#: the lifecycle and signal events the live line counts
_INITIATED, _ENDED = event_tag(CallInitiated), event_tag(CallEnded)
_PROMPT, _ALERT = event_tag(AssistPrompt), event_tag(SupervisorAlert)
_COUNTED = frozenset({_INITIATED, _ENDED, _PROMPT, _ALERT})


@dataclass
class LiveSummary:
    #: actual topic name -> catalog name
    topic_of: dict[str, str]
    started: float = field(default_factory=time.monotonic)
    events: int = 0
    calls_started: int = 0
    calls_ended: int = 0
    alerts: int = 0
    dead_letters: int = 0
    last_alert: str = ""
    #: (monotonic time received, latency ms) of recent prompts
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

    def recent_latencies(self, now: float | None = None) -> list[float]:
        """Assist latencies of the prompts received in the last ``LATENCY_WINDOW_S``: the
        line says how the pipeline answers now, not what it did while starting."""
        since = (time.monotonic() if now is None else now) - LATENCY_WINDOW_S
        return sorted(ms for at, ms in self.assist_latency_ms if at >= since)

    def line(self) -> str:
        ordered = self.recent_latencies()
        p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
        if p50 is not None:
            latency = f"assist latency (last {LATENCY_WINDOW_S:.0f} s) p50 {p50:.0f} ms p99 {p99:.0f} ms"
        elif self.assist_latency_ms:
            latency = f"assist latency: no prompts in the last {LATENCY_WINDOW_S:.0f} s"
        else:
            latency = "assist latency: no prompts yet"
        return (
            f"calls in progress {self.in_progress:>5} | {self.rate():>7,.0f} events/s | alerts {self.alerts:>4} | "
            f"dead letters {self.dead_letters:>3} | {latency}"
        )


    def handle(self, messages: list) -> None:
        """Account for one batch the tap read."""
        for message in messages:
            if message.error() is not None:
                continue
            self.events += 1
            topic = self.topic_of.get(message.topic())
            if topic == "callstream.deadletter":
                self.dead_letters += 1
                continue
            if topic == "callstream.transcript.redacted" or not message.value():
                continue  # counted as traffic only
            lineage = read_lineage(message.value())
            if lineage is None or lineage.event_type not in _COUNTED:
                continue
            if lineage.event_type == _INITIATED:
                self.calls_started += 1
            elif lineage.event_type == _ENDED:
                self.calls_ended += 1
            elif lineage.event_type == _PROMPT:
                if lineage.latency_ms is not None:
                    self.assist_latency_ms.append((time.monotonic(), lineage.latency_ms))
            else:
                self._alert(message)

    def _alert(self, message: Any) -> None:
        try:
            event = decode_event(message.value(), message.headers())
        except DecodeError:
            return
        if isinstance(event, SupervisorAlert):
            self.alerts += 1
            self.last_alert = f"{event.kind}/{event.severity}: {event.message}"


class LiveMonitor:
    """The tap from the latest offsets into a ``LiveSummary``."""

    def __init__(self, client_config: dict[str, str], topics: dict[str, str] | None = None) -> None:
        rename = topics or {}
        self.summary = LiveSummary({rename.get(t, t): t for t in WATCHED})
        self.tap = StreamTap(client_config, self.summary.topic_of, self.summary.handle, start="latest")
        self.tap.assign()

    def read(self, seconds: float) -> None:
        """Consume for up to ``seconds`` without taking a rate sample."""
        self.tap.poll(seconds)

    def sample(self) -> LiveSummary:
        """The summary, with a rate sample taken now."""
        self.summary.window.append((time.monotonic(), self.summary.events))
        return self.summary

    def close(self) -> None:
        self.tap.close()
