"""The archive on a real S3-compatible server (s3proxy from Maven Central, on 127.0.0.1)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from pyarrow import fs as pafs

from callstream.archive.archiver import Archiver, archive_topics
from callstream.archive.maintenance import apply_retention, compact
from callstream.archive.query import query, s3_filesystem
from callstream.archive.replay import ReplayScope, call_timeline
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive, archived_offsets, data_files
from callstream.local import s3server

from .conftest import DAY_MS, new_producer, now_ms, produce_events, queued
from .test_archiver import UNREACHABLE, fill


def test_s3proxy_is_a_real_server_with_auth(s3_server: s3server.LocalS3Server) -> None:
    with urllib.request.urlopen(f"{s3_server.endpoint_url}/healthz", timeout=5) as response:
        assert json.loads(response.read())["status"] == "OK"
    assert s3_server.is_alive() and s3_server.endpoint_url.startswith("http://127.0.0.1:")
    wrong = pafs.S3FileSystem(access_key="nobody", secret_key="wrong", endpoint_override=s3_server.endpoint_url,
                              scheme="http", region="us-east-1", force_virtual_addressing=False)
    with pytest.raises(OSError):
        wrong.get_file_info(pafs.FileSelector("callstream-any", recursive=False))


def test_archive_compaction_and_retention_on_s3(s3_settings: ArchiveSettings) -> None:
    topic = "callstream.transcript.raw"
    for batch in range(3):
        archiver = Archiver(s3_settings, UNREACHABLE, [topic])
        fill(archiver, topic, 0, range(batch * 100, batch * 100 + 100))
        assert archiver.flush(topic).rows == 100
    archive = Archive.open(s3_settings)
    table = archive.table(topic)
    files = data_files(table)
    assert len(files) == 3 and all(f.startswith(s3_settings.warehouse + "/") for f in files)
    s3 = s3_filesystem(s3_settings)
    assert all(s3.get_file_info(f.removeprefix("s3://")).type == pafs.FileType.File for f in files)
    assert query(archive, "SELECT count(*) AS n FROM callstream_transcript_raw").to_pylist() == [{"n": 300}]

    [result] = compact(archive)
    assert (result.files_before, result.files_after, result.rows_after) == (3, 1, 300)
    assert all(s3.get_file_info(f.removeprefix("s3://")).type == pafs.FileType.NotFound for f in files)
    assert archived_offsets(table.refresh()) == {0: 300}

    later = now_ms() + 31 * DAY_MS  # 31 days on, restricted rows are past retention
    [removed] = apply_retention(archive, {topic: ("restricted", 30)}, now_ms=later)
    assert removed.rows_removed == 300
    assert table.refresh().scan().to_arrow().num_rows == 0
    assert archived_offsets(table) == {0: 300}  # the archiver still resumes after them


def test_archiver_and_timeline_against_s3(kafka_config, make_topics, s3_settings: ArchiveSettings, unique_name) -> None:
    [lifecycle] = make_topics("lifecycle", partitions=3)
    settings = s3_settings.model_copy(update={"consumer_group": unique_name("archiver")})
    producer = new_producer(kafka_config)
    t0 = now_ms()
    for c in range(25):
        produce_events(producer, lifecycle, queued(f"call-{c}", 40, t0))
    assert producer.flush(30) == 0

    stats = archive_topics(settings, kafka_config, [lifecycle], idle_exit_s=1.5, max_seconds=60)

    assert stats.archived == 1000
    archive = Archive.open(settings)
    rows = archive.table(lifecycle).scan().to_arrow()
    pairs = sorted(zip(rows["kafka_partition"].to_pylist(), rows["kafka_offset"].to_pylist(), strict=False))
    assert len(pairs) == len(set(pairs)) == 1000
    timeline = call_timeline(archive, "call-7", kafka_conf=kafka_config, scope=ReplayScope(topics=(lifecycle,)))
    assert len(timeline.events) == 40 and timeline.from_archive == 40
    assert [e.event_time_ms for e in timeline.events] == [t0 + i for i in range(40)]
