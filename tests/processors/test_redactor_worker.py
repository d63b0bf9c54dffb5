"""The redactor as a real worker: redacts, dead-letters bad input, survives a kill by PID."""

from __future__ import annotations

import os
import signal
import time

from support.calls import card_segments

from callstream.contract.codec import decode_event
from callstream.contract.deadletter import read_dead_letter
from callstream.contract.events import RedactedSegment
from callstream.observe.client_metrics import CHECKPOINT_SECONDS, read_worker_metrics

RAW, REDACTED, DLQ = "callstream.transcript.raw", "callstream.transcript.redacted", "callstream.deadletter"


def distinct_events_at_least(count: int):
    """An ``until`` for ``pipeline.read``: stop once ``count`` distinct event ids arrived."""
    seen: set[str] = set()
    done = [0]

    def until(messages: list) -> bool:
        for message in messages[done[0]:]:
            seen.add(decode_event(message.value(), message.headers()).event_id)
        done[0] = len(messages)
        return len(seen) >= count

    return until


def test_redacts_and_dead_letters_without_stopping(pipeline, worker_metrics_dir, workers) -> None:
    worker = workers("redactor")
    pipeline.produce(RAW, card_segments(50))
    pipeline.produce_raw(RAW, b'{"event_type": "transcript.segment", "contact_id": 7}', key=b"call-bad")
    pipeline.produce(RAW, card_segments(50, start=50) + card_segments(5))  # the last 5 re-send segment ids: dropped

    out = pipeline.read_events(REDACTED, lambda ms: len(ms) >= 100, timeout_s=90)
    assert sorted(int(e.segment_id.split("-")[1]) for e in out) == list(range(100))
    assert all(isinstance(e, RedactedSegment) for e in out)
    for event in out:
        assert "4111" not in event.text and "five five five" not in event.text
        assert {s.entity_type for s in event.redactions} >= {"CARD_NUMBER", "PHONE_NUMBER"}
        assert event.provisional == (not event.is_final)
        assert event.caused_by == event.segment_id.replace("seg", "raw")
    # each output carries its input's timestamp and the headers it was encoded with (decoded above)
    raw = pipeline.read(RAW, lambda ms: len(ms) >= 106, timeout_s=30)
    raw_times: dict[str, int] = {}
    for m in raw:  # the first of a re-sent segment id is the one redacted
        if m.key() != b"call-bad":
            raw_times.setdefault(decode_event(m.value(), m.headers()).segment_id, m.timestamp()[1])
    redacted = pipeline.read(REDACTED, lambda ms: len(ms) >= 100, timeout_s=30)
    assert {decode_event(m.value(), m.headers()).segment_id: m.timestamp()[1] for m in redacted}.items() <= raw_times.items()
    dead = pipeline.read(DLQ, lambda ms: len(ms) >= 1, timeout_s=30)
    assert len(dead) == 1
    letter = read_dead_letter(dead[0])
    assert letter.processor == "redactor" and letter.source_topic == pipeline[RAW]
    assert "undecodable" in letter.reason and letter.key == b"call-bad"

    # it timed the checkpoints that committed all this (a Quix release that moves the commit fails here)
    deadline = time.monotonic() + 10
    while (checkpoints := _checkpoints_timed(worker_metrics_dir)) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert checkpoints is not None, "the worker timed no checkpoint"
    count, seconds = checkpoints
    assert count >= 1 and 0 < seconds < 30 * count

    # a stalled worker can be asked where it waits: SIGUSR1 writes its threads' stacks to its log
    os.kill(worker.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while "Current thread" not in worker.log_path.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "Current thread" in worker.log_path.read_text(errors="replace") and worker.alive()


def _checkpoints_timed(directory) -> tuple[float, float] | None:
    """(count, sum) of the redactor's ``callstream_processor_checkpoint_seconds``, once it has any."""
    values = {s.name.removeprefix(CHECKPOINT_SECONDS): s.value
              for family in read_worker_metrics(directory) if family.name == CHECKPOINT_SECONDS
              for s in family.samples if s.labels.get("processor") == "redactor"}
    return (values["_count"], values["_sum"]) if values.get("_count") else None


def test_kill_mid_stream_and_restart_loses_nothing(pipeline, workers) -> None:
    worker = workers("redactor")
    pipeline.produce(RAW, card_segments(3000))
    first = pipeline.read(REDACTED, lambda ms: len(ms) >= 300, timeout_s=90)
    assert len(first) >= 300
    workers.group.kill("redactor-0")  # SIGKILL by PID, mid-stream
    assert not worker.alive()
    workers.group.restart("redactor-0")
    out = pipeline.read_events(REDACTED, distinct_events_at_least(3000), timeout_s=120)
    ids = [e.event_id for e in out]
    assert {f"raw-{i}/redacted" for i in range(3000)} <= set(ids)  # no loss
    # at-least-once: a replayed input yields the same event id, so consumers drop repeats by id
    assert len(set(ids)) == 3000


def test_a_restarted_worker_resumes_before_the_session_timeout(pipeline, workers) -> None:
    """Workers are static group members (one ``group.instance.id`` per host and instance):
    a worker restarted after a SIGKILL takes its partitions back at once. A dynamic member
    would find them held by its dead predecessor until the 45 s session timeout ran out."""
    workers("redactor")
    pipeline.produce(RAW, card_segments(60))
    pipeline.read(REDACTED, lambda ms: len(ms) >= 60, timeout_s=90)
    workers.group.kill("redactor-0")
    restarted = time.monotonic()
    workers.group.restart("redactor-0")
    pipeline.produce(RAW, card_segments(60, start=1000))  # 17 contacts: every partition gets some
    out = pipeline.read_events(REDACTED, distinct_events_at_least(120), timeout_s=90)
    resumed_after_s = time.monotonic() - restarted
    assert {f"raw-{i}/redacted" for i in range(1000, 1060)} <= {e.event_id for e in out}
    # the bound leaves room for a slow interpreter start, not for a session timeout (45 s)
    assert resumed_after_s < 35, f"the restarted worker took {resumed_after_s:.1f} s: static membership is not working"
