"""Sentiment of transcript segments: a VADER score per final segment, and a rolling score
per (call, participant) whose drop from the call's best is an escalation signal.

VADER (``vaderSentiment``) is lexicon based, ships its lexicon and runs offline; the
analyzer is built once per process. Scores are VADER's ``compound``, in [-1, 1].
"""

from __future__ import annotations

from functools import cache

import msgspec
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

#: |compound| below this is neutral by VADER's own convention; neutral segments ("okay",
#: "let me check") carry no signal, so by default they do not move the rolling score.
NEUTRAL_BAND = 0.05
#: Weight of the newest segment in the exponentially weighted score (half-life ~2 segments).
DEFAULT_ALPHA = 0.3


@cache
def sentiment_analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def segment_sentiment(text: str) -> float:
    """VADER compound score of one segment's text, in [-1, 1] (0 for empty text)."""
    if not text or text.isspace():
        return 0.0
    return float(sentiment_analyzer().polarity_scores(text)["compound"])


class RollingSentiment(msgspec.Struct, kw_only=True):
    """Exponentially weighted sentiment of one participant in one call.

    Keep one per (contact_id, participant); it is a plain msgspec Struct, so it can be
    stored as processor state with ``msgspec.to_builtins`` / ``msgspec.convert``.
    ``trend`` is ``score - peak``: 0 while the call is at its best, negative as it sours.
    """

    alpha: float = DEFAULT_ALPHA
    ignore_neutral: bool = True
    score: float = 0.0
    peak: float | None = None
    trough: float | None = None
    segments: int = 0
    scored_segments: int = 0
    last: float = 0.0

    def update(self, segment_score: float) -> float:
        """Fold one segment's score in; returns the new rolling score."""
        self.segments += 1
        self.last = segment_score
        if self.ignore_neutral and abs(segment_score) < NEUTRAL_BAND:
            return self.score
        if self.scored_segments == 0:
            self.score = segment_score  # no bias towards 0 from an empty history
        else:
            self.score = self.alpha * segment_score + (1.0 - self.alpha) * self.score
        self.scored_segments += 1
        self.peak = self.score if self.peak is None else max(self.peak, self.score)
        self.trough = self.score if self.trough is None else min(self.trough, self.score)
        return self.score

    def update_text(self, text: str) -> tuple[float, float]:
        """Score ``text`` and fold it in: ``(segment_score, rolling_score)``."""
        segment_score = segment_sentiment(text)
        return segment_score, self.update(segment_score)

    @property
    def trend(self) -> float:
        """The rolling score minus its best value so far in the call (<= 0)."""
        return 0.0 if self.peak is None else self.score - self.peak

    @property
    def drop(self) -> float:
        """How far the rolling score fell from the call's best (>= 0)."""
        return -self.trend


class SentimentTracker:
    """Rolling sentiment for many calls at once, keyed by (contact_id, participant)."""

    def __init__(self, alpha: float = DEFAULT_ALPHA, ignore_neutral: bool = True) -> None:
        self.alpha = alpha
        self.ignore_neutral = ignore_neutral
        self._rolling: dict[tuple[str, str], RollingSentiment] = {}

    def update(self, contact_id: str, participant: str, text: str) -> tuple[float, RollingSentiment]:
        """Score a final segment: ``(segment_score, rolling state after it)``."""
        key = (contact_id, participant)
        rolling = self._rolling.get(key)
        if rolling is None:
            rolling = self._rolling[key] = RollingSentiment(alpha=self.alpha, ignore_neutral=self.ignore_neutral)
        segment_score, _ = rolling.update_text(text)
        return segment_score, rolling

    def get(self, contact_id: str, participant: str) -> RollingSentiment | None:
        return self._rolling.get((contact_id, participant))

    def end_call(self, contact_id: str) -> None:
        """Forget a finished call's state."""
        for key in [k for k in self._rolling if k[0] == contact_id]:
            del self._rolling[key]

    def __len__(self) -> int:
        return len(self._rolling)
