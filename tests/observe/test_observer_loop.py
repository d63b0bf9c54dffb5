"""The observer's loop outlives a sample that fails for an unforeseen reason: a dead
thread would leave the dashboard showing its last sample for good."""

from __future__ import annotations

import logging
import struct
import threading

from callstream.observe.observer import Observer, ObserverSettings
from callstream.observe.snapshot import Snapshot


def test_a_failed_sample_is_logged_and_counted_and_sampling_goes_on(kafka_config, tmp_path, caplog) -> None:
    observer = Observer(kafka_config, ObserverSettings(interval_s=0.1, state_dir=tmp_path, groups=[]), lookback_s=0)
    real = observer.sample
    calls: list[int] = []

    def first_fails(now_ms: int | None = None) -> Snapshot:
        calls.append(1)
        if len(calls) == 1:  # what a worker's metrics file read as it was created raised
            raise struct.error("unpack_from requires a buffer of at least 4 bytes")
        snapshot = real(now_ms)
        observer.stop()
        return snapshot

    observer.sample = first_fails  # type: ignore[method-assign]
    runner = threading.Thread(target=observer.run, daemon=True)
    with caplog.at_level(logging.ERROR, logger="callstream.observe.observer"):
        runner.start()
        runner.join(timeout=60)
    try:
        assert not runner.is_alive() and len(calls) == 2
        assert observer.latest is not None and observer.latest.cluster.reachable
        assert "a sample failed" in caplog.text
        # and the failure shows where operators look: the observer's own client errors
        assert observer.latest.client_errors == {"observer/observer/sample_failed:error": 1}
    finally:
        observer.close()
