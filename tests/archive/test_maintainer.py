"""Maintenance beside a running archive: retention, then compaction, on a schedule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from callstream.archive import maintainer
from callstream.archive.maintainer import MaintenanceRound, maintain
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive, archived_offsets, data_files
from callstream.errors import ArchiveError

from .test_maintenance import LIFECYCLE, RAW, append


def fill(archive: Archive) -> None:
    append(archive, RAW, "fresh", 10, age_days=2, first_offset=0)
    append(archive, RAW, "old", 20, age_days=31, first_offset=10)  # past the restricted 30 days
    append(archive, RAW, "fresh", 10, age_days=2, first_offset=30)
    for commit in range(3):
        append(archive, LIFECYCLE, f"c{commit}", 20, age_days=0, first_offset=commit * 20)


def test_rounds_remove_rows_past_retention_compact_and_stop_when_told(tmp_path: Path) -> None:
    settings = ArchiveSettings.for_state_dir(tmp_path)
    fill(Archive.open(settings))
    stop, rounds = threading.Event(), []

    def record(result: MaintenanceRound) -> None:
        rounds.append(result.summary())
        if len(rounds) == 2:
            stop.set()

    assert maintain(settings, stop, every_s=0.01, on_round=record) == 2

    first, second = rounds
    assert first["rows_past_retention_removed"] == 20 and first["tables_compacted"] == 2
    assert (first["files_before"], first["files_after"]) == (5, 2)  # the old day's file went with retention
    assert second["rows_past_retention_removed"] == 0 and second["tables_compacted"] == 0  # nothing left to do
    archive = Archive.open(settings)
    raw, lifecycle = archive.table(RAW), archive.table(LIFECYCLE)
    assert sorted(raw.scan().to_arrow()["kafka_offset"].to_pylist()) == [*range(10), *range(30, 40)]
    assert archived_offsets(raw) == {0: 40} and archived_offsets(lifecycle) == {0: 60}
    assert len(data_files(raw)) == len(data_files(lifecycle)) == 1


def test_the_process_runs_one_round_from_the_settings(tmp_path: Path) -> None:
    fill(Archive.open(ArchiveSettings.for_state_dir(tmp_path / ".callstream")))
    done = subprocess.run([sys.executable, "-m", "callstream", "archive", "maintain", "--once"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    assert "20 rows past retention removed; 2 tables compacted, 5 -> 2 files" in done.stdout


def test_a_failed_round_is_logged_and_the_next_one_runs(tmp_path: Path, monkeypatch, caplog) -> None:
    settings = ArchiveSettings.for_state_dir(tmp_path)
    fill(Archive.open(settings))
    real, calls = maintainer.maintenance_round, []

    def failing_once(archive: Archive) -> MaintenanceRound:
        calls.append(1)
        if len(calls) == 1:
            raise ArchiveError("compaction kept conflicting", "retry later")
        return real(archive)

    monkeypatch.setattr(maintainer, "maintenance_round", failing_once)
    stop, done = threading.Event(), []
    assert maintain(settings, stop, every_s=0.01, on_round=lambda r: (done.append(r), stop.set())) == 2
    assert "compaction kept conflicting" in caplog.text and done[0].summary()["tables_compacted"] == 2



def test_freed_memory_is_given_back_to_the_system() -> None:
    # A process of its own: what the allocators keep depends on all that came before.
    # Freed, both allocators kept ~510 MB of this; given back, 5 MB stayed (stop 50).
    script = Path(__file__).with_name("compaction_memory.py")
    done = subprocess.run([sys.executable, str(script), "give-back"], capture_output=True, text=True, timeout=120,
                          check=True)
    figures = json.loads(done.stdout.splitlines()[-1])
    before, freed, given_back = (figures[f"resident_{what}_mb"] for what in ("before", "freed", "given_back"))
    assert freed > before + 300, (before, freed)  # the allocators held what was freed
    assert given_back < before + 60, (before, freed, given_back)
