"""Run alone (``python compaction_memory.py STATE_DIR CALLS``): archive CALLS calls' transcript
segments in flush-sized files, compact them, and print one JSON line of memory figures.
``python compaction_memory.py give-back``: free ~550 MB and give it back, the same figures.

A process of its own because Arrow's peak (``max_memory``) only ever grows: in the test
process every earlier test would count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa

from callstream.archive.maintainer import give_back_memory
from callstream.archive.maintenance import compact
from callstream.archive.rows import TopicBuffer
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive, archived_offsets, offsets_property
from callstream.contract.codec import encode_event
from callstream.contract.events import RedactedSegment

TOPIC = "callstream.transcript.redacted"
SEGMENTS_PER_CALL = 40
WORDS = "billing account refund charge plan upgrade outage router password card statement payment".split()


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def archive_calls(archive: Archive, calls: int, t0: int) -> int:
    """Calls' segments, 500 calls (20,000 rows) a flush as the archiver writes them; the bytes appended."""
    table = archive.table(TOPIC)
    appended = offset = 0
    for first in range(0, calls, 500):
        buffer = TopicBuffer(TOPIC)
        for call in range(first, min(calls, first + 500)):
            contact = f"call-{call:06d}"
            for i in range(SEGMENTS_PER_CALL):
                text = " ".join(WORDS[(call + i * j) % len(WORDS)] for j in range(14))
                event = RedactedSegment(event_id=f"{contact}-s{i}", event_time_ms=t0 + call * 10 + i * 9_000,
                                        contact_id=contact, producer="test", produced_at_ms=t0,
                                        segment_id=f"{contact}-g{i}", sequence=i, participant="agent",
                                        start_offset_ms=i * 9_000, end_offset_ms=i * 9_000 + 8_000, text=text,
                                        is_final=True, provisional=False)
                buffer.add(offset % 6, offset, t0, contact.encode(), encode_event(event)[0], None, now=0.0)
                offset += 1
        rows = buffer.to_arrow(archived_at_ms=t0)
        appended += rows.nbytes
        table.append(rows, snapshot_properties=offsets_property(archived_offsets(table) | buffer.next_offsets))
    return appended


def main(state_dir: str, calls: int) -> None:
    archive = Archive.open(ArchiveSettings.for_state_dir(Path(state_dir)))
    appended = archive_calls(archive, calls, t0=1_764_900_000_000)
    give_back_memory()
    before_mb = resident_mb()
    [result] = compact(archive, [TOPIC])
    after_mb = resident_mb()
    give_back_memory()
    print(json.dumps({"rows": result.rows_after, "files_before": result.files_before, "files_after": result.files_after,
                      "appended_bytes": appended, "arrow_peak_bytes": pa.default_memory_pool().max_memory(),
                      "resident_before_mb": before_mb, "resident_after_mb": after_mb,
                      "resident_given_back_mb": resident_mb()}))


def give_back() -> None:
    before_mb = resident_mb()
    arrays = [pa.array([b"x" * 50] * 2000) for _ in range(3000)]  # ~300 MB of Arrow buffers
    texts = [f"{'y' * 100}{i}" for i in range(2_000_000)]  # and ~250 MB through the C library's malloc
    del arrays, texts
    freed_mb = resident_mb()
    give_back_memory()
    print(json.dumps({"resident_before_mb": before_mb, "resident_freed_mb": freed_mb,
                      "resident_given_back_mb": resident_mb()}))


if __name__ == "__main__":
    if sys.argv[1:] == ["give-back"]:
        give_back()
    else:
        main(sys.argv[1], int(sys.argv[2]))
