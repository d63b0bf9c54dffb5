"""Per-call state expires: a processor that never sees a call end (the redactor) must not
keep its state forever. Quix evicts a key ``state_ttl`` of record time after its last
write; the redactor's repeat filter shows it: a segment re-sent after the TTL is redacted
again, one re-sent within it is still dropped."""

from __future__ import annotations

import time

from callstream.contract.codec import decode_event, encode_event
from callstream.contract.events import TranscriptSegment

RAW, REDACTED = "callstream.transcript.raw", "callstream.transcript.redacted"
TTL_S = 5


def segment(contact: str, segment_id: str, event_id: str, at_ms: int) -> TranscriptSegment:
    return TranscriptSegment(
        event_id=event_id, contact_id=contact, event_time_ms=at_ms, produced_at_ms=at_ms, producer="test",
        segment_id=segment_id, sequence=1, participant="customer", start_offset_ms=0, end_offset_ms=900,
        text="my number is five five five one two three four", is_final=True,
    )


def test_state_expires_after_its_ttl_of_record_time(pipeline, workers) -> None:
    workers("redactor", "0", "--state-ttl-s", str(TTL_S))
    t0 = int(time.time() * 1000) - 600_000

    def send(event: TranscriptSegment, at_ms: int) -> None:
        # one partition for every call: expiry is judged against the partition's newest record time
        value, headers = encode_event(event)
        pipeline.producer.produce(pipeline[RAW], value, key=event.contact_id.encode(), headers=headers,
                                  partition=0, timestamp=at_ms)

    send(segment("call-a", "a-1", "first-a", t0), t0)
    pipeline.producer.flush(30)
    pipeline.read(REDACTED, lambda ms: len(ms) >= 1, timeout_s=90)
    # Quix turns a store's expiry on when the first checkpoint with a TTL write commits
    # (every 0.5 s for the redactor); expiry is judged from then on
    time.sleep(2)
    send(segment("call-b", "b-1", "first-b", t0 + 60_000), t0 + 60_000)  # call-a's state is now past its TTL
    send(segment("call-a", "a-1", "resent-a", t0 + 61_000), t0 + 61_000)  # expired state: redacted again
    send(segment("call-b", "b-1", "resent-b", t0 + 62_000), t0 + 62_000)  # 2 s after its write: still a repeat
    send(segment("call-c", "c-1", "marker", t0 + 63_000), t0 + 63_000)  # in order behind all of the above
    pipeline.producer.flush(30)

    marker_seen = lambda ms: any(b"marker" in m.value() for m in ms)  # noqa: E731
    pipeline.read(REDACTED, marker_seen, timeout_s=90)
    # the worker handled the marker after every earlier record: read all it emitted
    out = [decode_event(m.value(), m.headers()) for m in pipeline.read_to_end(REDACTED)]
    assert sorted(e.caused_by for e in out) == ["first-a", "first-b", "marker", "resent-a"]
