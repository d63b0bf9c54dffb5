"""Traffic: phases become one curve; the ledger keeps only what the cluster acknowledged."""

from __future__ import annotations

from callstream.rehearse.schedule import parse_scenario
from callstream.rehearse.traffic import AckLedger, ProducerHealth, composite_points, write_curve_csv
from callstream.simulate.curves import load_curve_csv

TRAFFIC = parse_scenario({
    "name": "t", "description": "d",
    "traffic": {"phases": [{"name": "a", "rate_per_min": 60, "duration_s": 100},
                           {"name": "b", "curve": "campaign", "rate_per_min": 60, "duration_s": 200}]},
}, "t.yaml").traffic


def test_phases_become_one_curve_the_simulator_reads_back(tmp_path) -> None:
    points = composite_points(TRAFFIC)
    assert points[0] == (0.0, 60.0) and points[-1][0] == 300.0
    assert dict(points)[99.0] == 60.0 and dict(points)[100.0] == 60.0
    assert max(rate for _, rate in points) == 240.0  # the campaign's 4x plateau
    curve = load_curve_csv(write_curve_csv(TRAFFIC, tmp_path / "curve.csv"))
    assert curve.rate_at(50) == 60.0 and curve.rate_at(100 + 100) == 240.0


class Msg:
    def __init__(self, partition: int, offset: int, latency: float | None = 0.004) -> None:
        self._p, self._o, self._l = partition, offset, latency

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def latency(self) -> float | None:
        return self._l


class Err:
    def str(self) -> str:
        return "Local: Message timed out"


def test_ledger_records_acknowledged_events_only() -> None:
    ledger = AckLedger()
    ledger.delivered("callstream.transcript.raw", "segment", "seg-1", 1.0, None, Msg(2, 10))
    ledger.delivered("callstream.transcript.raw", "segment", "seg-2", 1.1, Err(), Msg(2, -1))
    ledger.delivered("callstream.call.lifecycle", "ended", "c1", 1.2, None, Msg(0, 5))
    ledger.delivered("callstream.call.lifecycle", "disposed", "c1", 1.3, None, Msg(0, 6))
    ledger.delivered("callstream.call.lifecycle", "ended", "c2", 1.4, None, Msg(1, 0, latency=None))
    assert (ledger.acked, ledger.failed) == (4, 1)
    assert ledger.first_error == "callstream.transcript.raw: Local: Message timed out"
    assert ledger.segments == {"seg-1"}
    assert ledger.offsets[("callstream.transcript.raw", 2)] == [10]
    assert ledger.expected_quality_contacts() == {"c1"}  # c2 ended, but its disposition never came
    assert ledger.ack_latency == [(1.0, 4.0), (1.2, 4.0), (1.3, 4.0)]


def test_producer_health_sums_broker_retries_and_counts_client_errors() -> None:
    health = ProducerHealth()
    health.on_stats('{"brokers": {"b1": {"txretries": 3}, "b2": {"txretries": 4}}}')
    health.on_error(Err())
    assert (health.retries, health.client_errors, health.last_error) == (7, 1, "Local: Message timed out")
