"""Broker sessions read back from the local brokers' logs (the lines their log4j2 layout writes)."""

from datetime import UTC, datetime
from pathlib import Path

from callstream.local.sessions import FENCED, UNFENCED, SessionChange, parse, session_changes


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


CONTROLLER_1 = """\
[2026-12-07T01:33:03,637+00:00] INFO [QuorumController id=1] Fencing broker 2 at epoch 1204 because its session has timed out. (org.apache.kafka.controller.ReplicationControlManager)
[2026-12-07T01:33:04,000+00:00] WARN [QuorumController id=1] Fencing broker 3 at epoch 9 ... (a WARN line is not the controller's session decision)
[2026-12-07T01:33:08,592+00:00] INFO [QuorumController id=1] The request from broker 2 to unfence has been granted because it has caught up with the offset of its register broker record 1204. (org.apache.kafka.controller.BrokerHeartbeatManager)
[2026-12-07T01:33:09,000+00:00] INFO [QuorumController id=1] The request from broker 3 to unfence cannot yet be granted because it has not caught up (org.apache.kafka.controller.BrokerHeartbeatManager)
"""
# the node that was the active controller before a kill, with an offset other than UTC
CONTROLLER_3 = """\
[2026-12-07T02:32:01,732+01:00] INFO [QuorumController id=3] Fencing broker 2 at epoch 19 because its session has timed out. (org.apache.kafka.controller.ReplicationControlManager)
"""


def test_fencings_and_unfence_grants_are_read_with_their_time_broker_and_controller() -> None:
    assert parse(CONTROLLER_1.splitlines()) == [
        SessionChange(_ms("2026-12-07T01:33:03.637+00:00"), 2, FENCED, 1),
        SessionChange(_ms("2026-12-07T01:33:08.592+00:00"), 2, UNFENCED, 1),
    ]


def test_every_nodes_log_is_read_and_the_changes_put_in_time_order(tmp_path: Path) -> None:
    (tmp_path / "node-1.log").write_text(CONTROLLER_1)
    (tmp_path / "node-3.log").write_text(CONTROLLER_3 + "\x00\xff not text\n")
    logs = [tmp_path / "node-1.log", tmp_path / "node-2.log", tmp_path / "node-3.log"]  # node 2 never wrote one
    changes = session_changes(logs)
    assert [(c.broker, c.change, c.controller) for c in changes] == [(2, FENCED, 3), (2, FENCED, 1), (2, UNFENCED, 1)]
    assert changes[0].at_ms == _ms("2026-12-07T01:32:01.732+00:00")
    assert datetime.fromtimestamp(changes[1].at_ms / 1000, UTC).isoformat() == "2026-12-07T01:33:03.637000+00:00"
