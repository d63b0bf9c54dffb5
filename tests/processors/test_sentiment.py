"""Segment sentiment (VADER) and the rolling per-(call, participant) score and trend."""

from __future__ import annotations

import time

import msgspec
import pytest

from callstream.detectors import sentiment
from callstream.detectors.sentiment import RollingSentiment, SentimentTracker, segment_sentiment


@pytest.mark.parametrize(
    "text",
    ["thank you so much, that was really helpful", "great, that fixed it, I appreciate it",
     "perfect thanks you've been wonderful"],
)
def test_positive_segments_score_positive(text):
    assert segment_sentiment(text) > 0.5


@pytest.mark.parametrize(
    "text",
    ["this is ridiculous, I hate this terrible service", "I am NOT happy!!!",
     "i have been waiting forty minutes this is terrible",  # speech-to-text style
     "worst company ever, absolutely awful"],
)
def test_negative_segments_score_negative(text):
    assert segment_sentiment(text) < -0.4


@pytest.mark.parametrize("text", ["", "   ", "[PHONE_NUMBER] is my cell"])
def test_empty_and_redacted_segments_are_neutral(text):
    assert segment_sentiment(text) == 0.0


def test_analyzer_is_built_once_per_process():
    assert sentiment.sentiment_analyzer() is sentiment.sentiment_analyzer()


def test_rolling_score_is_exponentially_weighted_from_the_first_score():
    rolling = RollingSentiment(alpha=0.5)
    assert rolling.update(0.8) == pytest.approx(0.8)
    assert rolling.update(-0.4) == pytest.approx(0.2)
    assert rolling.update(-0.4) == pytest.approx(-0.1)
    assert (rolling.peak, rolling.trough) == (pytest.approx(0.8), pytest.approx(-0.1))
    assert rolling.trend == pytest.approx(-0.9)
    assert rolling.drop == pytest.approx(0.9)


def test_neutral_segments_do_not_dilute_the_rolling_score_unless_asked():
    rolling = RollingSentiment(alpha=0.5)
    rolling.update(-0.6)
    for _ in range(5):
        rolling.update(0.0)
    assert rolling.score == pytest.approx(-0.6)
    assert (rolling.segments, rolling.scored_segments, rolling.last) == (6, 1, 0.0)

    diluting = RollingSentiment(alpha=0.5, ignore_neutral=False)
    diluting.update(-0.6)
    diluting.update(0.0)
    assert diluting.score == pytest.approx(-0.3)


def test_trend_is_zero_before_any_signal_and_while_improving():
    rolling = RollingSentiment()
    assert rolling.trend == 0.0
    for score in (-0.5, 0.0, 0.2, 0.6):
        rolling.update(score)
        assert rolling.trend == 0.0


def test_a_souring_call_shows_a_large_drop():
    customer = [
        "hi, thanks, I hope you can help me with my bill today",
        "okay sure",
        "wait, why is it higher than last month? that doesn't seem right",
        "I've been charged twice, this is ridiculous",
        "this is terrible service, I am so angry, I want a supervisor now",
    ]
    rolling = RollingSentiment()
    for text in customer:
        rolling.update_text(text)
    assert rolling.peak is not None and rolling.peak > 0.3
    assert rolling.last < -0.5
    assert rolling.drop > 0.5


def test_state_round_trips_through_builtins():
    rolling = RollingSentiment(alpha=0.4)
    for score in (0.3, -0.7, 0.1):
        rolling.update(score)
    state = msgspec.to_builtins(rolling)
    restored = msgspec.convert(state, RollingSentiment)
    assert restored == rolling
    assert restored.update(0.5) == rolling.update(0.5)


def test_tracker_keeps_calls_and_participants_apart_and_forgets_ended_calls():
    tracker = SentimentTracker(alpha=0.5)
    score, state = tracker.update("c1", "customer", "this is awful")
    assert score < 0 and state.score == score
    tracker.update("c1", "agent", "I completely understand, I'm happy to help")
    tracker.update("c2", "customer", "great, thanks")
    assert tracker.get("c1", "agent").score > 0
    assert tracker.get("c1", "customer").score < 0
    assert len(tracker) == 3
    tracker.end_call("c1")
    assert len(tracker) == 1 and tracker.get("c1", "customer") is None
    assert tracker.get("c2", "customer") is not None


def test_throughput_segments_per_second():
    texts = [
        "i have been waiting on hold for forty minutes this is really frustrating",
        "thank you so much for your help today you have been great",
        "can you please check why my bill went up again this month",
        "okay let me take a look at the account for you one moment",
    ] * 250
    segment_sentiment(texts[0])  # build the analyzer outside the timing
    start = time.perf_counter()
    for text in texts:
        segment_sentiment(text)
    rate = len(texts) / (time.perf_counter() - start)
    print(f"\nVADER segment_sentiment: {rate:,.0f} segments/s (~13-word segments, one core)")
    assert rate > 2_000
