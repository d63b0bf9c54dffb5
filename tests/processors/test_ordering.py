"""The per-call sequence gate: reorders finals, drops duplicates, bounds its buffer,
flags late segments, flushes at call end, and keeps only JSON in state."""

from __future__ import annotations

import json

import pytest

from callstream.contract.events import RedactedSegment
from callstream.processors.base import MemoryState
from callstream.processors.ordering import SequenceGate

T0 = 1_700_000_000_000


def seg(sequence: int, *, final: bool = True, segment_id: str | None = None, at_ms: int | None = None) -> RedactedSegment:
    return RedactedSegment(
        event_id=f"e-{sequence}-{final}", contact_id="c-1",
        event_time_ms=at_ms if at_ms is not None else T0 + sequence * 1000,
        produced_at_ms=T0, producer="test",
        segment_id=segment_id or f"c-1-s{sequence}", sequence=sequence, participant="customer",
        start_offset_ms=sequence * 1000, end_offset_ms=sequence * 1000 + 900,
        text=f"line {sequence}", is_final=final, provisional=not final,
    )


def sequences(admitted) -> list[tuple[int, bool]]:
    return [(a.segment.sequence, a.late) for a in admitted]


def test_in_order_finals_pass_straight_through() -> None:
    gate, state = SequenceGate(first_sequence=0), MemoryState()
    assert [sequences(gate.admit(seg(i), state)) for i in range(3)] == [[(0, False)], [(1, False)], [(2, False)]]


def test_partials_are_never_admitted_but_hold_their_place_in_the_sequence() -> None:
    # the simulator's numbering: s1, s2 partials of final s3, then final s4
    gate, state = SequenceGate(first_sequence=1), MemoryState()
    assert gate.admit(seg(1, final=False), state) == []
    assert gate.admit(seg(2, final=False), state) == []
    assert sequences(gate.admit(seg(3), state)) == [(3, False)]
    assert sequences(gate.admit(seg(4), state)) == [(4, False)]


def test_a_final_waits_for_a_partial_delivered_after_it() -> None:
    gate, state = SequenceGate(first_sequence=1), MemoryState()
    assert gate.admit(seg(2), state) == []
    assert sequences(gate.admit(seg(1, final=False), state)) == [(2, False)]
    assert gate.admit(seg(1, final=False), state) == []  # a re-sent partial changes nothing


def test_early_segments_wait_for_the_gap_then_come_out_in_order() -> None:
    gate, state = SequenceGate(first_sequence=0), MemoryState()
    assert sequences(gate.admit(seg(0), state)) == [(0, False)]
    assert gate.admit(seg(3), state) == []
    assert gate.admit(seg(2), state) == []
    assert gate.buffered(state) == 2
    assert sequences(gate.admit(seg(1), state)) == [(1, False), (2, False), (3, False)]
    assert gate.buffered(state) == 0


def test_duplicates_are_dropped_whether_admitted_or_buffered() -> None:
    gate, state = SequenceGate(first_sequence=0), MemoryState()
    gate.admit(seg(0), state)
    assert gate.admit(seg(0), state) == []
    gate.admit(seg(2), state)
    assert gate.admit(seg(2), state) == []
    assert sequences(gate.admit(seg(1), state)) == [(1, False), (2, False)]
    assert gate.admit(seg(1), state) == []


def test_ids_prefixed_with_the_contact_are_remembered_short_and_older_full_ones_still_match() -> None:
    gate, state = SequenceGate(first_sequence=0), MemoryState()
    assert sequences(gate.admit(seg(0, segment_id="c-1:s0"), state)) == [(0, False)]
    assert json.dumps(state.data).count("c-1") == 0  # the contact id is the state's key already
    assert gate.admit(seg(0, segment_id="c-1:s0"), state) == []  # a re-send
    # a gate written before the short form holds full ids, and still drops their re-sends
    older = MemoryState()
    older.data.update(json.loads(json.dumps(state.data).replace("\\u001f", "c-1")))
    assert older.data != state.data and gate.admit(seg(0, segment_id="c-1:s0"), older) == []


def test_buffer_is_bounded_and_a_gap_that_never_fills_is_skipped() -> None:
    gate, state = SequenceGate(first_sequence=0, max_buffer=3, max_wait_ms=10**9), MemoryState()
    gate.admit(seg(0), state)
    for i in range(2, 5):  # sequence 1 is lost
        assert gate.admit(seg(i), state) == []
    assert gate.buffered(state) == 3
    # a fourth early segment overflows the buffer: stop waiting for 1
    assert sequences(gate.admit(seg(5), state)) == [(2, False), (3, False), (4, False), (5, False)]
    assert gate.buffered(state) == 0
    # the lost segment turns up after all: admitted, flagged late
    assert sequences(gate.admit(seg(1), state)) == [(1, True)]


def test_waiting_is_bounded_in_event_time() -> None:
    gate, state = SequenceGate(first_sequence=0, max_wait_ms=2_000), MemoryState()
    gate.admit(seg(0), state)
    assert gate.admit(seg(2, at_ms=T0 + 2_000), state) == []
    assert gate.admit(seg(3, at_ms=T0 + 3_000), state) == []
    assert gate.expire(state, now_ms=T0 + 3_500) == []
    assert sequences(gate.expire(state, now_ms=T0 + 4_001)) == [(2, False), (3, False)]


def test_flush_at_call_end_releases_the_buffer_and_later_finals_are_late() -> None:
    gate, state = SequenceGate(first_sequence=0), MemoryState()
    gate.admit(seg(0), state)
    gate.admit(seg(2), state)
    assert sequences(gate.flush(state)) == [(2, False)]
    assert sequences(gate.admit(seg(1), state)) == [(1, True)]
    assert sequences(gate.admit(seg(7), state)) == [(7, True)]
    assert gate.admit(seg(7), state) == []  # duplicates are still dropped after the end
    gate.clear(state)
    assert state.data == {}


def test_state_is_plain_json_and_survives_a_restart() -> None:
    gate, state = SequenceGate(first_sequence=0), MemoryState()
    gate.admit(seg(0), state)
    gate.admit(seg(2), state)
    restored = MemoryState()
    restored.data = json.loads(json.dumps(state.data))  # what RocksDB keeps
    admitted = gate.admit(seg(1), restored)
    assert sequences(admitted) == [(1, False), (2, False)]
    assert admitted[1].segment == seg(2)


def test_shuffled_stream_with_resends_comes_out_once_in_order() -> None:
    import random

    rng = random.Random(7)
    stream = [seg(i) for i in range(40)]
    stream += rng.sample(stream, 10)  # re-sends
    # local disorder only: swap neighbours, as a second channel or a retry does
    for i in range(0, len(stream) - 1, 3):
        stream[i], stream[i + 1] = stream[i + 1], stream[i]
    gate, state = SequenceGate(first_sequence=0, max_buffer=8, max_wait_ms=10**9), MemoryState()
    out = [a for s in stream for a in gate.admit(s, state)] + gate.flush(state)
    assert [a.segment.sequence for a in out if not a.late] == list(range(40))
    assert len(out) == 40


def test_rejects_an_empty_buffer_bound() -> None:
    with pytest.raises(ValueError, match="max_buffer"):
        SequenceGate(max_buffer=0)


def test_simulated_calls_with_resends_and_reorders_come_out_once_each_in_order() -> None:
    from callstream.contract.events import CallEnded, TranscriptSegment
    from callstream.simulate.conversation import ConversationProfile, generate_call

    profile = ConversationProfile(disorder_share=0.3)
    disordered = 0
    for index in range(20):
        call = generate_call(index, 1_700_000_000_000 + index * 60_000, seed=11, profile=profile)
        disordered += len(call.truth.disorder)
        gates: dict[str, MemoryState] = {}
        admitted: dict[str, list] = {}
        gate = SequenceGate()
        for timed in call.events:
            event = timed.event
            state = gates.setdefault(event.contact_id, MemoryState())
            if isinstance(event, TranscriptSegment):
                admitted.setdefault(event.contact_id, []).extend(gate.admit(event, state))
            elif isinstance(event, CallEnded):
                admitted.setdefault(event.contact_id, []).extend(gate.flush(state))
        for contact_id, out in admitted.items():
            finals = sorted({t.segment_id for t in call.truth.segments if t.contact_id == contact_id and t.is_final})
            assert sorted(a.segment.segment_id for a in out) == finals  # every final, once
            in_order = [a.segment.sequence for a in out if not a.late]
            assert in_order == sorted(in_order)
    assert disordered > 20  # the profile really did disorder the feed
