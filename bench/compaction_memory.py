"""Benchmark: compaction's peak memory and time by `archive.compaction_max_rows`.

Compaction reads, sorts and rewrites a day's files in runs of at most
``archive.compaction_max_rows`` rows (2M by default): what bounds `archive maintain`'s memory
(`callstream up` starts it). This gives the figures to size a host by: it archives
``--events`` events (`bench/archive.py`'s calls, over two days of event time, so three
event-date partitions a topic) on a local broker, keeps the archive as the archiver left
it, and compacts a fresh copy of it once per bound, each in a process of its own, measuring
that process's peak resident memory (VmHWM), the compaction's time and the files it
leaves. Baseline, from the same run: the default bound.

    python bench/compaction_memory.py [--events 2000000] [--max-rows 100000,250000,500000]

The last line of output is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

from confluent_kafka.admin import AdminClient, NewTopic
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from archive import EVENTS_PER_CALL, PARTITIONS, archive_all, produce  # noqa: E402

from callstream.archive.maintenance import compact  # noqa: E402
from callstream.archive.settings import DEFAULT_MAX_ROWS_PER_REWRITE, ArchiveSettings  # noqa: E402
from callstream.archive.tables import Archive  # noqa: E402
from callstream.local import broker  # noqa: E402

GROUP = "bench-archiver"


def build(work: Path, events: int, seed: int, console: Console, flush_rows: int | None = None) -> Path:
    """Archive ``events`` on a broker of its own and keep the archive, as written, in a tar
    (``flush_rows``: smaller consumed batches and flushes, so a small archive has many files)."""
    state = work / "state"
    cluster, _ = broker.start(state, 1, ports=broker.free_ports(2), timeout_s=120)
    try:
        conf = cluster.client_config()
        topics = {kind: f"bench.{kind}" for kind in ("lifecycle", "redacted", "sentiment")}
        admin = AdminClient(conf)
        for future in admin.create_topics([NewTopic(t, PARTITIONS, 1) for t in topics.values()]).values():
            future.result(30)
        produced, _, _ = produce(conf, topics, max(1, events // EVENTS_PER_CALL), seed)
        console.print(f"archiving {produced:,} events ...")
        flushes = {"flush_max_rows": flush_rows, "consume_batch": flush_rows} if flush_rows else {}
        archive_all(ArchiveSettings.for_state_dir(state, consumer_group=GROUP, **flushes), conf, list(topics.values()),
                    produced)
    finally:
        broker.stop(state)
    kept = work / "archive.tar"
    with tarfile.open(kept, "w") as tar:
        tar.add(state / "archive", arcname="archive")
    return kept


def peak_resident_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ``ru_maxrss``: Linux carries that
    across exec, so a child would report its parent's peak (the archiving, ~1.3 GB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def compact_once(work: Path, max_rows: int) -> dict:
    """Restore the archive as written and compact it at ``max_rows``: this process's figures.
    (Iceberg's metadata names files by absolute path: the copy goes back where it was.)"""
    state = work / "state"
    shutil.rmtree(state / "archive", ignore_errors=True)
    with tarfile.open(work / "archive.tar") as tar:
        tar.extractall(state, filter="data")
    archive = Archive.open(ArchiveSettings.for_state_dir(state, consumer_group=GROUP, compaction_max_rows=max_rows))
    days: Counter[tuple[str, str]] = Counter()
    for topic, table in archive.tables():
        for task in table.scan().plan_files():
            days[(topic, str(task.file.partition))] += task.file.record_count
    before_mb = peak_resident_mb()
    started = time.perf_counter()
    results = compact(archive)
    return {"max_rows": max_rows, "largest_day_rows": max(days.values()),
            "rss_before_mb": round(before_mb), "peak_rss_mb": round(peak_resident_mb()),
            "compaction_s": round(time.perf_counter() - started, 1),
            "rows": sum(r.rows_before for r in results),
            "files_before": sum(r.files_before for r in results), "files_after": sum(r.files_after for r in results)}


def measure(work: Path, max_rows: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--compact-once", str(max_rows), "--work", str(work)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"compaction at {max_rows:,} rows failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--max-rows", default="100000,250000,500000", help="bounds to compare with the default")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compact-once", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compact_once:
        print(json.dumps(compact_once(args.work, args.compact_once)))
        return
    try:
        bounds = sorted({int(b) for b in args.max_rows.split(",")} - {DEFAULT_MAX_ROWS_PER_REWRITE})
    except ValueError:
        parser.error(f"--max-rows takes row counts separated by commas, not {args.max_rows!r}")
    if args.events < EVENTS_PER_CALL or any(b <= 0 for b in bounds):
        parser.error(f"--events must be at least {EVENTS_PER_CALL} and every --max-rows positive")
    console = Console()
    work = Path(tempfile.mkdtemp(prefix="callstream-bench-compaction-"))
    try:
        build(work, args.events, args.seed, console)
        runs = []
        for max_rows in [DEFAULT_MAX_ROWS_PER_REWRITE, *bounds]:
            console.print(f"compacting at {max_rows:,} rows a run ...")
            runs.append(measure(work, max_rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    baseline = runs[0]
    for run in runs:
        run["peak_x_default"] = round(run["peak_rss_mb"] / baseline["peak_rss_mb"], 2)
        run["time_x_default"] = round(run["compaction_s"] / baseline["compaction_s"], 2)
    table = Table(title=f"compaction of {baseline['rows']:,} archived events ({baseline['files_before']} files, "
                        f"the largest day of a topic {baseline['largest_day_rows']:,} rows)")
    for column in ("max rows a run", "peak RSS", "x default", "time", "x default", "files after"):
        table.add_column(column, justify="right")
    for run in runs:
        name = f"{run['max_rows']:,}" + (" (default)" if run is baseline else "")
        table.add_row(name, f"{run['peak_rss_mb']:,} MB", f"{run['peak_x_default']:.2f}",
                      f"{run['compaction_s']:.1f} s", f"{run['time_x_default']:.2f}", str(run["files_after"]))
    console.print(table)
    print(json.dumps({"events": args.events, "default_max_rows": DEFAULT_MAX_ROWS_PER_REWRITE, "runs": runs}))


if __name__ == "__main__":
    main()
