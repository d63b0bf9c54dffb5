"""A processor's instances on one host share a state directory (``runtime.SHARED_STATE``):
a partition's store still held by the instance that had it is opened by its new owner as
soon as it is let go."""

from __future__ import annotations

import logging
import threading

from quixstreams.state.rocksdb.partition import RocksDBStorePartition

from callstream.processors.runtime import SHARED_STATE


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
