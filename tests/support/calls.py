"""Hand-written calls for processor tests: each method makes the call's next event a few
seconds after the last, and ``run_processor`` feeds events through a processor."""

from __future__ import annotations

import json
import time
from typing import Any

from callstream.contract.events import (
    CallConnected,
    CallEnded,
    Envelope,
    RedactedSegment,
    SentimentScored,
    TranscriptSegment,
)
from callstream.processors.base import MemoryState, Processor


def card_segments(count: int, start: int = 0, *, contacts: int = 17, all_final: bool = False) -> list[TranscriptSegment]:
    """Raw customer segments, each with a card and a phone number to redact, over ``contacts``
    calls (17: every partition gets some); every third is interim unless ``all_final``."""
    now = int(time.time() * 1000)
    return [
        TranscriptSegment(
            event_id=f"raw-{i}", contact_id=f"call-{i % contacts}", event_time_ms=now, produced_at_ms=now, producer="test",
            segment_id=f"seg-{i}", sequence=i, participant="customer", start_offset_ms=i * 1000, end_offset_ms=i * 1000 + 900,
            text=f"sure, my card is 4111 1111 1111 1111 and my phone is five five five one two three four five six seven, item {i}",
            is_final=all_final or i % 3 != 0,
        )
        for i in range(start, start + count)
    ]


#: 2026-01-01T00:00:00Z: every hand-written call starts here
T0 = 1_767_225_600_000


class CallBuilder:
    """One call's events in order; subclasses add the events their processor cares about."""

    #: how far apart consecutive events are, unless a method says otherwise
    step_ms = 3_000
    agent_id = "agent-7"
    queue = "billing"

    def __init__(self, contact_id: str = "call-1") -> None:
        self.contact_id = contact_id
        self.now = T0
        self.n = 0
        self.sequence = 0

    def event(self, cls: type[Envelope], step_ms: int | None = None, **fields: Any) -> Any:
        """The next event of type ``cls``, ``step_ms`` after the previous one."""
        self.now += self.step_ms if step_ms is None else step_ms
        self.n += 1
        return cls(event_id=f"{self.contact_id}-e{self.n}", contact_id=self.contact_id, event_time_ms=self.now,
                   produced_at_ms=self.now, producer="test", **fields)

    def connected(self) -> CallConnected:
        return self.event(CallConnected, agent_id=self.agent_id, queue=self.queue)

    def says(self, participant: str, text: str) -> RedactedSegment:
        self.sequence += 1
        return self.event(RedactedSegment, segment_id=f"{self.contact_id}:s{self.sequence}", sequence=self.sequence,
                          participant=participant, start_offset_ms=0, end_offset_ms=1, text=text,
                          is_final=True, provisional=False)

    def agent(self, text: str) -> RedactedSegment:
        return self.says("agent", text)

    def customer(self, text: str) -> RedactedSegment:
        return self.says("customer", text)

    def sentiment(self, score: float, rolling: float | None = None, participant: str = "customer", *,
                  segment_id: str | None = None, step_ms: int | None = None) -> SentimentScored:
        return self.event(SentimentScored, step_ms=step_ms, segment_id=segment_id or f"{self.contact_id}:s{self.sequence}",
                          participant=participant, score=score, rolling_score=score if rolling is None else rolling)

    def ended(self, by: str = "customer", **fields: Any) -> CallEnded:
        return self.event(CallEnded, ended_by=by, duration_ms=self.now - T0, **fields)


def run_processor(processor: Processor, events: list[Envelope], state: MemoryState | None = None) -> list[Any]:
    """Every output of ``processor`` for ``events``, in order, through one per-call state."""
    state = state if state is not None else MemoryState()
    out: list[Any] = []
    for event in events:
        out.extend(processor.process(event, state))
        json.dumps(state.data)  # Quix keeps state as JSON: it must stay plain data
    return out


#: a fixed simulated start (2026-01-01 UTC), so seeded streams are the same on every run
START_MS = 1_767_225_600_000


def redaction_stand_in(segment: TranscriptSegment) -> RedactedSegment:
    return RedactedSegment(
        event_id=f"{segment.event_id}/redacted", contact_id=segment.contact_id, event_time_ms=segment.event_time_ms,
        produced_at_ms=segment.produced_at_ms, producer="redaction-stand-in", caused_by=segment.event_id,
        source_time_ms=segment.produced_at_ms, segment_id=segment.segment_id, sequence=segment.sequence,
        participant=segment.participant, start_offset_ms=segment.start_offset_ms,
        end_offset_ms=segment.end_offset_ms, text=segment.text, is_final=segment.is_final,
        provisional=not segment.is_final, final_segment_id=segment.final_segment_id,
        confidence=segment.confidence, language=segment.language,
    )
