"""The archive benchmark's calls cover three event dates whatever the time of day it runs."""

from __future__ import annotations

import random

import pytest
from bench_scripts import load_bench

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def archive_bench():
    yield from load_bench("archive")


@pytest.mark.parametrize("time_of_day_ms", [0, 1, 60_000, 3_600_000, 12 * 3_600_000, 22 * 3_600_000, DAY_MS - 60_000, DAY_MS - 1])
def test_twenty_calls_start_on_three_dates_within_the_last_two_days(archive_bench, time_of_day_ms: int) -> None:
    # the compaction-memory test archives 20 calls and expects 3 dates a topic: drawn from the
    # last 48 h alone, a run at 22:10 UTC had none on the oldest date (its slice was ~2 h)
    now = 20_000 * DAY_MS + time_of_day_ms
    for seed in range(50):
        rng = random.Random(seed)
        starts = [archive_bench.call_start_ms(now, c, rng) for c in range(20)]
        assert {s // DAY_MS for s in starts} == {now // DAY_MS - k for k in range(3)}
        assert all(now - 2 * DAY_MS <= s <= now for s in starts)
    # the three placed calls end on the date they start on, unless their date's slice is shorter than a call
    early = archive_bench.call_start_ms(20_000 * DAY_MS + 12 * 3_600_000, 1, random.Random(1))
    assert (early + archive_bench.CALL_MS) // DAY_MS == early // DAY_MS
