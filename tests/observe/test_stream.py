"""The tap's figures from hand-made messages: lineage latency per stage, the sliding
window, dead letters by reason, and events handed to the supervisor board."""

from __future__ import annotations

import time

from callstream.contract.codec import encode_event
from callstream.contract.deadletter import dead_letter
from callstream.contract.events import CallQueued, SentimentScored
from callstream.observe.stream import TapFigures
from callstream.testing import RecordedMessage

T0 = 1_767_225_600_000


def sentiment(i: int, latency_ms: int, producer: str = "sentiment") -> RecordedMessage:
    event = SentimentScored(event_id=f"e{i}", contact_id="c1", event_time_ms=T0, produced_at_ms=T0 + 1000 + latency_ms,
                            producer=producer, caused_by=f"r{i}", source_time_ms=T0 + 1000, segment_id=f"s{i}",
                            participant="customer", score=-0.5, rolling_score=-0.4)
    return RecordedMessage("sig-copy", encode_event(event)[0], timestamp_ms=T0 + 1000 + latency_ms + i)


def test_latency_per_stage_histogram_and_window() -> None:
    figures = TapFigures({"sig-copy": "callstream.signals.sentiment", "dlq": "callstream.deadletter"}, window_s=10)
    figures.handle([sentiment(i, latency_ms=10 * (i + 1)) for i in range(100)])  # 10 .. 1000 ms
    figures.handle([sentiment(100, latency_ms=30, producer="redactor")])
    [redactor, stage] = figures.latency(now_ms=T0 + 3000)
    assert (stage.stage, stage.count, stage.window_count) == ("sentiment", 100, 100)
    assert (stage.p50_ms, stage.p99_ms, stage.max_ms) == (500, 990, 1000)
    assert stage.buckets[0] == 0 and stage.buckets[1] == 1 and stage.buckets[-1] == 100  # le=0.01 holds the 10 ms one
    assert round(stage.sum_seconds, 3) == 50.5 and redactor.count == 1
    later = figures.latency(now_ms=T0 + 60_000)[1]  # the window moved past them; the histogram keeps them
    assert (later.window_count, later.p99_ms, later.count) == (0, None, 100)


def test_dead_letters_by_reason_and_rate() -> None:
    figures = TapFigures({"dlq": "callstream.deadletter"}, window_s=60)
    letters = []
    for i, reason in enumerate(["undecodable: not valid JSON", "undecodable: no event_type", "processing failed in fraud: boom"]):
        key, value, headers = dead_letter(b"x", b"k", [], reason, "raw", 0, i, "fraud" if "fraud" in reason else "redactor",
                                          failed_at_ms=T0 + i)
        letters.append(RecordedMessage("dlq", value, timestamp_ms=T0 + i, headers=headers))
    letters.append(RecordedMessage("dlq", b"no headers", timestamp_ms=T0))
    figures.handle(letters)
    counts = {(d.processor, d.reason): (d.total, d.per_minute) for d in figures.dead_letters(now_ms=T0 + 1000)}
    assert counts == {("redactor", "undecodable"): (2, 2.0), ("fraud", "processing_failed_in_fraud"): (1, 1.0),
                      ("unknown", "not_a_dead_letter"): (1, 1.0)}


def test_board_events_are_decoded_and_broken_ones_counted() -> None:
    figures = TapFigures({"lc": "callstream.call.lifecycle"})
    queued = CallQueued(event_id="q", contact_id="c9", event_time_ms=T0, produced_at_ms=T0, producer="sim", queue="billing")
    figures.handle([RecordedMessage("lc", encode_event(queued)[0], timestamp_ms=T0),
                    RecordedMessage("lc", b"{not json", timestamp_ms=T0)])
    assert figures.board_view()["calls_in_progress"] == {"billing": 1}
    assert figures.undecodable == 1 and figures.messages == 2


def test_the_live_line_counts_calls_alerts_and_assist_latency_from_lineage(monkeypatch) -> None:
    from callstream.contract.events import AssistPrompt, CallEnded, CallInitiated, SupervisorAlert
    from callstream.observe.live import WATCHED, LiveSummary

    summary = LiveSummary({t: t for t in WATCHED})
    common = {"contact_id": "c1", "event_time_ms": T0, "producer": "test"}
    events = [
        CallInitiated(event_id="i1", produced_at_ms=T0, caller_number="+1", dialed_number="+2", **common),
        CallInitiated(event_id="i2", produced_at_ms=T0, caller_number="+1", dialed_number="+2", **common),
        CallEnded(event_id="e1", produced_at_ms=T0, ended_by="agent", duration_ms=10, **common),
        AssistPrompt(event_id="a1", produced_at_ms=T0 + 1_040, source_time_ms=T0 + 1_000, caused_by="r1",
                     intent="billing_dispute", confidence=0.9, next_best_action="offer a refund", **common),
        SupervisorAlert(event_id="s1", produced_at_ms=T0, alert_id="al1", kind="escalation", severity="critical",
                        message="angry", **common),
    ]
    topic = {CallInitiated: "callstream.call.lifecycle", CallEnded: "callstream.call.lifecycle",
             AssistPrompt: "callstream.assist.prompts", SupervisorAlert: "callstream.supervisor.alerts"}
    messages = [RecordedMessage(topic[type(e)], encode_event(e)[0], timestamp_ms=T0) for e in events]
    messages += [RecordedMessage("callstream.transcript.redacted", b"counted, not decoded", timestamp_ms=T0),
                 RecordedMessage("callstream.deadletter", b"x", timestamp_ms=T0)]
    summary.handle(messages)
    assert (summary.events, summary.in_progress, summary.alerts, summary.dead_letters) == (7, 1, 1, 1)
    assert summary.recent_latencies() == [40]
    assert "assist latency (last 60 s) p50 40 ms" in summary.line()
    assert summary.last_alert == "escalation/critical: angry"
    # a start-up backlog ages out of the line: it reports how the pipeline answers now
    later = time.monotonic() + 61
    assert summary.recent_latencies(now=later) == []
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert "no prompts in the last 60 s" in summary.line()
