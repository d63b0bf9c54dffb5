"""The sentiment processor: a score per final redacted segment and a rolling score per
call and speaker (kept in the per-call state, so it survives a restart)."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from callstream.contract.events import Envelope, RedactedSegment, SentimentScored
from callstream.detectors.sentiment import RollingSentiment
from callstream.processors.base import CallState, Processor, derive


def _clamp(score: float) -> float:
    return max(-1.0, min(1.0, score))


class SentimentScorer(Processor):
    name = "sentiment"
    description = "VADER sentiment per final segment and a rolling score per call and speaker"
    inputs = ("callstream.transcript.redacted",)
    outputs = ("callstream.signals.sentiment",)
    guarantee = "at-least-once"
    niceness = 10  # scores feed alerts and routing, seconds away: the live path goes first

    def process(self, event: Envelope, state: CallState) -> Iterable[Envelope]:
        if not isinstance(event, RedactedSegment) or not event.is_final:
            return ()
        key = f"rolling:{event.participant}"
        stored = state.get(key)
        rolling = msgspec.convert(stored, RollingSentiment) if stored else RollingSentiment()
        segment_score, rolling_score = rolling.update_text(event.text)
        state.set(key, msgspec.to_builtins(rolling))
        return (derive(
            SentimentScored, event, self.name, "sentiment",
            segment_id=event.segment_id, participant=event.participant,
            score=_clamp(segment_score), rolling_score=_clamp(rolling_score),
        ),)
