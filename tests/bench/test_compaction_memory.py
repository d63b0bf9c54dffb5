"""The compaction-memory benchmark compacts the same archive, as written, at each bound, each
in a process of its own."""

from __future__ import annotations

import pytest
from bench_scripts import load_bench
from rich.console import Console


@pytest.fixture(scope="module")
def compaction_memory():
    yield from load_bench("compaction_memory")


@pytest.mark.kafka
@pytest.mark.slow
def test_each_bound_compacts_the_same_archive_in_runs_of_at_most_its_rows(compaction_memory, tmp_path):
    compaction_memory.build(tmp_path, 1_000, 7, Console(quiet=True), flush_rows=100)
    unbounded = compaction_memory.measure(tmp_path, 2_000_000)
    bounded = compaction_memory.measure(tmp_path, 50)
    # the same 1,000 archived events each time: a copy of the archive as written, not the
    # previous bound's compacted one
    assert unbounded["rows"] == bounded["rows"] == 1_000
    assert unbounded["files_before"] == bounded["files_before"]
    assert 50 < bounded["largest_day_rows"] == unbounded["largest_day_rows"] < 1_000
    # unbounded, a day of a topic becomes one file (3 topics, 3 days); runs of 50 rows make more
    assert unbounded["files_before"] > unbounded["files_after"] == 9
    assert bounded["files_after"] > 9
    # each child's peak covers what it held before compacting; 1,000 events need far less than 1 GB
    for run in (unbounded, bounded):
        assert run["rss_before_mb"] <= run["peak_rss_mb"] < 1_000
