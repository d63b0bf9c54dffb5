"""The replicator against two real clusters: exact copies, an exact offset map, a crash."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter

from support.migration import create, produce, read_all

from callstream.contract.catalog import load_catalog
from callstream.migrate.offsets import ORIGIN_HEADER, origin_of
from callstream.migrate.plan import make_plan, prepare_target
from callstream.migrate.receipts import compare
from callstream.migrate.replicator import Replicator, committed_positions, read_offset_map, unreplicated


def _drain(replicator: Replicator, source) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if replicator.step() == 0 and not any(unreplicated(source, replicator.positions).values()):
            return
    raise AssertionError("replication did not catch up in 60 s")


def test_copies_partition_for_partition_without_aborted_records(source_link, target_link, unique_name):
    topic = unique_name("calls")
    create(source_link, topic)
    kept = produce(source_link, topic, 1000, transactional=True, abort_every=4)
    prepare_target(make_plan(source_link, target_link, load_catalog(), [topic]), target_link)
    replicator = Replicator(source_link, target_link, [topic])
    try:
        _drain(replicator, source_link)
    finally:
        replicator.close()

    on_source, on_target = read_all(source_link, topic), read_all(target_link, topic)
    assert len(kept) == 750 and sorted(v for _, _, v, _ in on_target) == sorted(kept)
    # partition for partition, in order, each record carrying its source position
    by_origin = {(p, int(h[ORIGIN_HEADER].decode().rpartition(":")[2])): (p2, v) for p2, _, v, h in on_target
                 for p in [p2]}
    assert {(p, o): (p, v) for p, o, v, _ in on_source} == by_origin
    offset_map = read_offset_map(target_link, source_link.cluster_id)
    for partition, offset, value, _ in on_source:
        target_offset = offset_map.translate(topic, partition, offset)
        assert [v for p, o, v, _ in on_target if p == partition and o == target_offset] == [value]
    receipts = compare(source_link, target_link, offset_map, [(topic, p) for p in range(3)])
    assert all(r.equal for r in receipts) and sum(r.source.count for r in receipts) == 750


def test_resumes_after_a_kill_without_gap_or_duplicate(source_link, target_link, target_settings_env, cli_env,
                                                       unique_name, tmp_path):
    topic = unique_name("segments")
    create(source_link, topic)
    produce(source_link, topic, 2000)
    writer = threading.Thread(target=produce, args=(source_link, topic, 6000), kwargs={"start": 2000, "transactional": True})
    writer.start()
    argv = [sys.executable, "-m", "callstream.migrate.service", "--source", "current", "--target", "b", "--topic", topic]
    env = cli_env | target_settings_env | {"CALLSTREAM_STATE_DIR": str(tmp_path / "state")}
    kills = 0
    for run in range(3):  # killed mid-stream twice, then left to finish
        log = tmp_path / f"replicator-{run}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        partitions = [(topic, p) for p in range(3)]
        while time.monotonic() < deadline and process.poll() is None:
            copied = sum(committed_positions(source_link, target_link, partitions).values())
            if kills < 2 and copied > 1500 * (kills + 1):
                process.send_signal(signal.SIGKILL)
                process.wait(30)
                kills += 1
                break
            # the last one may find nothing left to copy: stopped gracefully once it says it
            # runs (a SIGTERM during its start-up ends it at once, exit -15)
            if kills == 2 and not writer.is_alive() and b'"started"' in log.read_bytes() and not any(
                    unreplicated(source_link, committed_positions(source_link, target_link, partitions)).values()):
                process.send_signal(signal.SIGTERM)
                assert process.wait(60) == 0
                break
            time.sleep(0.2)
        else:
            process.kill()
            raise AssertionError(f"replicator did not progress: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
    writer.join(60)
    assert kills == 2

    on_source, on_target = read_all(source_link, topic), read_all(target_link, topic)
    origins = Counter((p, origin_of(list(h.items()))) for p, _, _, h in on_target)
    assert len(on_target) == len(on_source) == 8000
    assert max(origins.values()) == 1, "a record was copied twice"
    assert set(origins) == {(p, (source_link.cluster_id, o)) for p, o, _, _ in on_source}
    offset_map = read_offset_map(target_link, source_link.cluster_id)
    assert all(r.equal for r in compare(source_link, target_link, offset_map, [(topic, p) for p in range(3)]))
