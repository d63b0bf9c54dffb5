"""Keep a running archive lean and lawful on a schedule: retention first, then compaction.

Without it, rows outlive their classification's retention until someone runs `archive
retention`, and every flush leaves a small file that each timeline lookup and scan plan
reads until someone runs `archive compact`. `callstream up` runs this beside the archiver;
a deployment that runs `archive run` under its own supervisor runs `callstream archive
maintain` beside it (or `archive maintain --once` from its scheduler). Both rewrites are
safe beside a running archiver (ADR 0014). The first round waits one interval: a
deployment starting up has nothing to compact, and its CPU is needed elsewhere.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from callstream.entry import run_entry_point
from callstream.errors import CallstreamError
from callstream.local.pids import stop_on_signals
from callstream.priority import lower_priority

if TYPE_CHECKING:  # pyiceberg and pyarrow load at the first round: `up` starts this beside everything else
    from callstream.archive.maintenance import CompactionResult, RetentionResult
    from callstream.archive.settings import ArchiveSettings
    from callstream.archive.tables import Archive

logger = logging.getLogger(__name__)

#: below the archiver's own niceness: maintenance can always wait
NICENESS = 15


@dataclass(frozen=True)
class MaintenanceRound:
    retention: list[RetentionResult]
    compaction: list[CompactionResult]
    seconds: float

    def summary(self) -> dict:
        return {
            "rows_past_retention_removed": sum(r.rows_removed for r in self.retention),
            "tables_compacted": sum(1 for c in self.compaction if c.partitions_rewritten),
            "files_before": sum(c.files_before for c in self.compaction),
            "files_after": sum(c.files_after for c in self.compaction),
            "files_purged": sum(c.files_purged for c in self.compaction) + sum(r.files_purged for r in self.retention),
            "seconds": round(self.seconds, 2),
        }


def maintenance_round(archive: Archive) -> MaintenanceRound:
    """Retention per the catalog's classifications, then compaction of every table."""
    from callstream.archive.maintenance import apply_retention, compact, retention_days_by_topic
    from callstream.contract.catalog import load_catalog

    started = time.monotonic()
    retention = apply_retention(archive, retention_days_by_topic(load_catalog()))
    compaction = compact(archive)
    return MaintenanceRound(retention, compaction, time.monotonic() - started)


def give_back_memory() -> None:
    """Hand what a round freed back to the system. Arrow's allocator (mimalloc) and the C
    library's malloc keep freed pages for reuse, so between rounds (15 min apart) the
    process held its last round's peak: 3.4 GB after compacting 1.6M transcript rows, 0.29
    GB once given back (stop 49)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL(None).malloc_trim(0)  # glibc; other C libraries have none, and nothing is lost
    except (OSError, AttributeError):
        pass


def maintain(settings: ArchiveSettings, stop: threading.Event, *, every_s: float, first_now: bool = False,
             once: bool = False, on_round: Callable[[MaintenanceRound], None] | None = None) -> int:
    """Run a round every ``every_s`` until ``stop`` (the first at once with ``first_now``,
    otherwise after one interval; only that one with ``once``); the number of rounds run,
    failed ones included."""
    rounds = 0
    while (first_now and rounds == 0) or not stop.wait(every_s):
        from callstream.archive.tables import Archive

        try:
            result = maintenance_round(Archive.open(settings))
        except CallstreamError as exc:
            if once:
                raise
            # the deployment goes on; the next round plans again on what the tables hold then
            logger.warning("archive maintenance round failed, the next one retries: %s", exc)
            continue
        finally:
            rounds += 1
            give_back_memory()
        if on_round is not None:
            on_round(result)
        if once:
            break
    return rounds


def main(argv: list[str] | None = None) -> int:
    """Process entry point (`up` starts it; `callstream archive maintain` wraps the same)."""
    parser = argparse.ArgumentParser(prog="python -m callstream.archive.maintainer", description=__doc__.split("\n")[0])
    parser.add_argument("--every-s", type=float, help="seconds between rounds (default from settings)")
    parser.add_argument("--now", action="store_true", help="the first round at once, not after one interval")
    parser.add_argument("--once", action="store_true", help="one round at once, then exit")
    args = parser.parse_args(argv)
    lower_priority(NICENESS)
    from callstream.settings import load_settings

    settings = load_settings().archive_settings()
    maintain(settings, stop_on_signals(), every_s=args.every_s or settings.maintenance_every_s, first_now=args.now or args.once,
             once=args.once, on_round=lambda r: print(json.dumps(r.summary()), flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
