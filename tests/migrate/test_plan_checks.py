"""`migrate plan` refuses a target whose transactions differ from Apache Kafka's (Tansu 0.6
shows aborted records to read_committed readers: docs/compatibility.md), naming the probe."""

from __future__ import annotations

import pytest

from callstream.kafka import compat
from callstream.migrate.links import Link
from callstream.migrate.plan import target_transaction_problems


def test_a_target_failing_a_transaction_probe_is_a_plan_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[set[str] | None] = []

    def probes(conf, *, only=None, progress=None):
        asked.append(only)
        return [compat.Probe("transactions", "commit, abort, read_committed", "fail",
                             "read_committed saw [b'committed', b'aborted']"),
                compat.Probe("transactions", "zombie fencing", "pass", "fenced")]

    monkeypatch.setattr(compat, "run_probes", probes)
    [problem] = target_transaction_problems(Link("b", {"bootstrap.servers": "127.0.0.1:9"}, "cluster-b"))
    assert asked == [{"transactions"}]
    assert problem.startswith("'b' fails `callstream compat`'s commit, abort, read_committed probe "
                              "(read_committed saw [b'committed', b'aborted']); at stake: the exactly-once outputs")
