"""Benchmark: the cost of an archive flush as a table's history grows (a long-running archiver).

A running deployment flushes every table at least every ``flush_max_age_s`` (20 s), so a
day adds ~4,300 snapshots to each table. This fills the archiver's buffer with a small
batch and flushes it, many times, once with the table kept as callstream keeps it (old
snapshots expired, manifests merged) and once as a baseline that keeps every snapshot and
lists one manifest per flush, in the same run. No Kafka: the buffer is filled directly,
so the figures are the commit's own. Prints a table and, as the last line, one JSON object.

    python bench/archive_commits.py [--flushes 300] [--rows 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import msgspec

from callstream.archive.archiver import Archiver
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive

TOPIC = "callstream.call.lifecycle"
#: never reached by the baseline's flushes: it keeps every snapshot
UNBOUNDED = 10**9
NO_KAFKA = {"bootstrap.servers": "127.0.0.1:9"}


def _flush_times(state_dir: Path, *, bounded: bool, flushes: int, rows: int) -> tuple[list[float], int, int]:
    """Seconds per flush, then the table's snapshot and manifest counts at the end."""
    settings = ArchiveSettings.for_state_dir(state_dir, snapshots_kept=20 if bounded else UNBOUNDED)
    archiver = Archiver(settings, NO_KAFKA, [TOPIC])
    if not bounded:  # the layout before: one manifest per flush, never merged
        with archiver.tables[TOPIC].transaction() as tx:
            tx.set_properties({"commit.manifest-merge.enabled": "false"})
    buffer, offset, times = archiver.buffers[TOPIC], 0, []
    for _ in range(flushes):
        for i in range(rows):
            event = {"event_type": "call.started", "event_id": f"e{offset}", "contact_id": f"c{i % 20}",
                     "event_time_ms": 1_764_000_000_000 + offset}
            buffer.add(i % 6, offset, event["event_time_ms"], b"k", msgspec.json.encode(event), None, 0.0)
            offset += 1
        started = time.perf_counter()
        archiver.flush(TOPIC)
        times.append(time.perf_counter() - started)
    table = Archive.open(settings).table(TOPIC)
    assert table is not None and table.scan().to_arrow().num_rows == offset, "the archive lost rows"
    return times, len(table.metadata.snapshots), len(table.current_snapshot().manifests(table.io))


def _window(times: list[float], start: int, size: int = 50) -> tuple[float, float]:
    """Mean and p90 in ms of flushes ``start`` .. ``start + size``."""
    part = sorted(times[start:start + size])
    return statistics.fmean(part) * 1000, part[int(len(part) * 0.9) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flushes", type=int, default=300, help="flushes per table (at least 100)")
    parser.add_argument("--rows", type=int, default=200, help="rows per flush")
    args = parser.parse_args()
    if args.flushes < 100:
        parser.error("--flushes must be at least 100 (the first and last 50 are compared)")
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="callstream-bench-") as tmp:
        for name, bounded in (("baseline", False), ("kept", True)):
            times, snapshots, manifests = _flush_times(Path(tmp) / name, bounded=bounded,
                                                       flushes=args.flushes, rows=args.rows)
            first, last = _window(times, 0), _window(times, args.flushes - 50)
            figures[name] = {"first50_mean_ms": round(first[0], 1), "first50_p90_ms": round(first[1], 1),
                             "last50_mean_ms": round(last[0], 1), "last50_p90_ms": round(last[1], 1),
                             "max_ms": round(max(times) * 1000, 1), "growth": round(last[0] / first[0], 2),
                             "snapshots": snapshots, "manifests": manifests}
    print(f"{args.flushes} flushes of {args.rows} rows each, one table, no Kafka\n")
    print(f"{'table kept as':<36} {'first 50 mean/p90 ms':>21} {'last 50 mean/p90 ms':>20} "
          f"{'growth':>7} {'snapshots':>9} {'manifests':>9}")
    labels = {"baseline": "baseline: every snapshot, fast append", "kept": "callstream: expired, merged"}
    for name, f in figures.items():
        print(f"{labels[name]:<36} {f['first50_mean_ms']:>12.1f} / {f['first50_p90_ms']:<6.1f} "
              f"{f['last50_mean_ms']:>11.1f} / {f['last50_p90_ms']:<6.1f} {f['growth']:>7.2f} "
              f"{f['snapshots']:>9} {f['manifests']:>9}")
    ratio = figures["kept"]["last50_mean_ms"] / figures["baseline"]["last50_mean_ms"]
    print(f"\nlast 50 flushes: callstream's table at {ratio:.2f}x the baseline's flush time")
    print(json.dumps({"bench": "archive_commits", "flushes": args.flushes, "rows_per_flush": args.rows,
                      **figures, "last50_ratio_kept_vs_baseline": round(ratio, 3)}))


if __name__ == "__main__":
    main()
