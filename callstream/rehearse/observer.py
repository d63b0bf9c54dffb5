"""Reads a rehearsal's output topics as a consumer would: latency per stage from lineage,
and what the loss checks compare with the acknowledged input.

The observer taps (``StreamTap``) every partition from the beginning (no group, nothing
committed, so a coordinator failing over cannot stall it) and reads committed data only,
so exactly-once outputs count once they are committed, as a real consumer sees them.
Latency is ``produced_at_ms - source_time_ms`` of each output: the time from the
simulated event reaching Kafka to the derived event being produced.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Set as AbstractSet
from typing import Any

from confluent_kafka import KafkaException

from callstream.contract.catalog import DEADLETTER_TOPIC
from callstream.contract.codec import decode_event
from callstream.contract.events import QualityScored, RedactedSegment
from callstream.errors import DecodeError
from callstream.observe.stream import StreamTap
from callstream.rehearse.schedule import STAGE_OF_PROCESSOR


class OutputObserver:
    """Taps ``topics`` (actual name -> catalog name) from the beginning, committed data only,
    in a thread until ``finish``."""

    def __init__(self, client_config: dict[str, str], topics: dict[str, str], t0_ms: int,
                 transactional: AbstractSet[str] = frozenset()) -> None:
        self.topics = topics
        #: topics written in transactions: each ends with a commit marker no consumer reads
        self.transactional = set(transactional)
        self.t0_ms = t0_ms
        self.tap = StreamTap(client_config, topics, self._observe_batch, start="beginning", committed_only=True)
        #: stage -> ([seconds since t0 when produced], [latency ms])
        self.latency: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
        self.redacted_segments: set[str] = set()
        self.quality_contacts: list[str] = []
        self.dead_letters = 0
        self.outputs = 0
        self.undecodable = 0
        #: catalog topic -> outputs whose (deterministic, lineage-derived) event id was seen before
        self.repeats: dict[str, int] = defaultdict(int)
        self._seen: set[tuple[str, str]] = set()
        self.caught_up = False
        self.error: BaseException | None = None
        self._finish = threading.Event()
        self._finish_by = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rehearsal-observer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout_s: float) -> bool:
        """Read up to the current end of every partition (or ``timeout_s``), then stop;
        returns whether it caught up."""
        self._finish_by = time.monotonic() + timeout_s
        self._finish.set()
        self._done.wait(timeout_s + 15)
        return self.caught_up

    def close(self) -> None:
        self._finish_by = time.monotonic()
        self._finish.set()
        self._done.wait(20)

    def _run(self) -> None:
        try:
            self.tap.assign(timeout_s=30)
            idle_since = time.monotonic()
            while True:
                if self.tap.poll(0.2, max_messages=1000):
                    idle_since = time.monotonic()
                if self._finish.is_set():
                    if time.monotonic() >= self._finish_by:
                        break
                    if time.monotonic() - idle_since > 1.0 and self.tap.at_end(self.transactional):
                        self.caught_up = True
                        break
        except BaseException as exc:  # reported in the run's figures
            self.error = exc
        finally:
            try:
                self.tap.close()
            except (KafkaException, RuntimeError):
                pass
            self._done.set()

    def _observe_batch(self, messages: list) -> None:
        for message in messages:
            if message.error() is None:
                self._observe(message)

    def _observe(self, message: Any) -> None:
        if self.topics.get(message.topic()) == DEADLETTER_TOPIC:
            self.dead_letters += 1
            return
        self.outputs += 1
        try:
            event = decode_event(message.value(), message.headers())
        except DecodeError:
            self.undecodable += 1
            return
        if event is None:
            return
        seen = (message.topic(), event.event_id)
        if seen in self._seen:
            self.repeats[self.topics[message.topic()]] += 1
        self._seen.add(seen)
        stage = STAGE_OF_PROCESSOR.get(event.producer)
        if stage is not None and event.source_time_ms is not None:
            times, values = self.latency[stage]
            times.append((event.produced_at_ms - self.t0_ms) / 1000.0)
            values.append(float(event.produced_at_ms - event.source_time_ms))
        if isinstance(event, RedactedSegment):
            self.redacted_segments.add(event.segment_id)
        elif isinstance(event, QualityScored):
            self.quality_contacts.append(event.contact_id)
