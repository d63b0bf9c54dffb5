"""A processor's instances on one host share a state directory (``runtime.SHARED_STATE``):
a partition's store still held by the instance that had it is opened by its new owner as
soon as it is let go."""

from __future__ import annotations

import logging
import threading

from quixstreams.state.rocksdb.partition import RocksDBStorePartition

from callstream.processors.runtime import SHARED_STATE, STATE_WRITE_BUFFER_BYTES


def test_a_held_store_is_opened_once_its_holder_lets_go(tmp_path, caplog) -> None:
    path = str(tmp_path / "redactor" / "0")
    holder = RocksDBStorePartition(path, options=SHARED_STATE)  # the instance that had the partition
    opened: list[RocksDBStorePartition] = []
    taker = threading.Thread(target=lambda: opened.append(RocksDBStorePartition(path, options=SHARED_STATE)))
    with caplog.at_level(logging.WARNING, logger="quixstreams"):
        taker.start()
        taker.join(0.8)
        assert taker.is_alive() and not opened  # RocksDB's lock keeps it to one instance
        holder.close()
        taker.join(10)
    assert opened, "the new owner never opened the store"
    opened[0].close()
    retries = [r.getMessage() for r in caplog.records if "cannot acquire a lock" in r.getMessage()]
    assert len(retries) >= 2 and all("Retrying in 0.25sec" in m for m in retries), retries


def test_a_workers_stores_keep_little_state_in_memory(tmp_path) -> None:
    """Per-call state written at every checkpoint stays in RocksDB's write buffers until they
    are full: at Quix's 64 MiB each, three partitions held all ~150 MiB written below in
    memory (in a long `up`, half of each stateful worker's growth, bench/soak.py). A
    worker's stores write theirs out at ``STATE_WRITE_BUFFER_BYTES``."""
    partitions = [RocksDBStorePartition(str(tmp_path / "quality" / str(n)), options=SHARED_STATE) for n in range(3)]
    value = bytes(range(256)) * 8  # a call's state, ~2 KiB
    try:
        for n in range(75_000):  # ~150 MiB over 2,000 calls, rewritten as checkpoints do
            partitions[n % 3]._db.put(f"call-{n % 2000}".encode(), value)  # noqa: SLF001  Quix's store
        in_memory = sum(p._db.property_int_value("rocksdb.size-all-mem-tables") for p in partitions)  # noqa: SLF001
    finally:
        for partition in partitions:
            partition.close()
    bound = 3 * SHARED_STATE.max_write_buffer_number * STATE_WRITE_BUFFER_BYTES
    assert in_memory <= bound, f"{in_memory / 2**20:.0f} MiB of state in write buffers (bound {bound / 2**20:.0f} MiB)"
