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
    gate, state = SequenceGate(), MemoryState()
    assert [sequences(gate.admit(seg(i), state)) for i in range(3)] == [[(0, False)], [(1, False)], [(2, False)]]


def test_partials_are_not_gated() -> None:
    gate, state = SequenceGate(), MemoryState()
    assert gate.admit(seg(0, final=False), state) == []
    assert sequences(gate.admit(seg(0), state)) == [(0, False)]


def test_early_segments_wait_for_the_gap_then_come_out_in_order() -> None:
    gate, state = SequenceGate(), MemoryState()
    assert sequences(gate.admit(seg(0), state)) == [(0, False)]
    assert gate.admit(seg(3), state) == []
    assert gate.admit(seg(2), state) == []
    assert gate.buffered(state) == 2
    assert sequences(gate.admit(seg(1), state)) == [(1, False), (2, False), (3, False)]
    assert gate.buffered(state) == 0


def test_duplicates_are_dropped_whether_admitted_or_buffered() -> None:
    gate, state = SequenceGate(), MemoryState()
    gate.admit(seg(0), state)
    assert gate.admit(seg(0), state) == []
    gate.admit(seg(2), state)
    assert gate.admit(seg(2), state) == []
    assert sequences(gate.admit(seg(1), state)) == [(1, False), (2, False)]
    assert gate.admit(seg(1), state) == []


def test_buffer_is_bounded_and_a_gap_that_never_fills_is_skipped() -> None:
    gate, state = SequenceGate(max_buffer=3, max_wait_ms=10**9), MemoryState()
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
    gate, state = SequenceGate(max_wait_ms=2_000), MemoryState()
    gate.admit(seg(0), state)
    assert gate.admit(seg(2, at_ms=T0 + 2_000), state) == []
    assert gate.admit(seg(3, at_ms=T0 + 3_000), state) == []
    assert gate.expire(state, now_ms=T0 + 3_500) == []
    assert sequences(gate.expire(state, now_ms=T0 + 4_001)) == [(2, False), (3, False)]


def test_flush_at_call_end_releases_the_buffer_and_later_finals_are_late() -> None:
    gate, state = SequenceGate(), MemoryState()
    gate.admit(seg(0), state)
    gate.admit(seg(2), state)
    assert sequences(gate.flush(state)) == [(2, False)]
    assert sequences(gate.admit(seg(1), state)) == [(1, True)]
    assert sequences(gate.admit(seg(7), state)) == [(7, True)]
    assert gate.admit(seg(7), state) == []  # duplicates are still dropped after the end
    gate.clear(state)
    assert state.data == {}


def test_state_is_plain_json_and_survives_a_restart() -> None:
    gate, state = SequenceGate(), MemoryState()
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
    gate, state = SequenceGate(max_buffer=8, max_wait_ms=10**9), MemoryState()
    out = [a for s in stream for a in gate.admit(s, state)] + gate.flush(state)
    assert [a.segment.sequence for a in out if not a.late] == list(range(40))
    assert len(out) == 40


def test_rejects_an_empty_buffer_bound() -> None:
    with pytest.raises(ValueError, match="max_buffer"):
        SequenceGate(max_buffer=0)
