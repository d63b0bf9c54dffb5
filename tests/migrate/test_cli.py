"""`callstream migrate` end to end on two real clusters, as an operator runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from confluent_kafka import Consumer
from support.migration import create, produce


def _cli(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "callstream", *args], env=env, capture_output=True, text=True, timeout=timeout)


def _commit_after(link, topic: str, group: str, count: int) -> None:
    consumer = Consumer({**link.config, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": "false"})
    consumer.subscribe([topic])
    read, deadline = 0, time.monotonic() + 60
    while read < count and time.monotonic() < deadline:
        read += len([m for m in consumer.consume(count - read, 1.0) if not m.error()])
    consumer.commit(asynchronous=False)
    consumer.close()


def test_plan_start_cutover_rollback_verify_finish(source_link, target_link, cli_env, target_settings_env, unique_name, tmp_path):
    topic, group = unique_name("calls"), unique_name("callstream-assist")
    create(source_link, topic)
    produce(source_link, topic, 500, transactional=True, abort_every=4)
    _commit_after(source_link, topic, group, 100)
    env = cli_env | target_settings_env | {"CALLSTREAM_STATE_DIR": str(tmp_path / "state")}

    planned = _cli(env, "migrate", "plan", "--to", "b", "--topic", topic, "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert [(t["name"], t["partitions"], t["action"]) for t in plan["topics"]] == [(topic, 3, "create")]
    assert plan["groups"][group] and set(plan["groups"][group]) <= {f"{topic}/{p}" for p in range(3)}

    started = _cli(env, "migrate", "start", "--to", "b", "--topic", topic)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + 90
        while True:
            status = _cli(env, "migrate", "status", "--json")
            assert status.returncode == 0, status.stderr
            report = json.loads(status.stdout)
            if report["lag_records"] == 0:
                break
            assert time.monotonic() < deadline, f"replication never caught up: {report['lag']}"
            time.sleep(1)
        assert report["replicator"] is not None and report["phase"] == "replicating"
        assert report["groups"][group]  # the group's position on both sides

        cut = _cli(env, "migrate", "cutover", "--stable-seconds", "1", "--clients-timeout", "30", "--json")
        assert cut.returncode == 0, cut.stderr + cut.stdout
        cut_report = json.loads(cut.stdout.splitlines()[-1])
        assert cut_report["verified"]
        # consumers the operator stops get a drain by default; `--drain-timeout 0` skips it
        assert "processors-drained" in [stage["name"] for stage in cut_report["stages"]]
        assert {k: v["target"] for k, v in report["groups"][group].items()} == cut_report["positions"][group]

        produce(target_link, topic, 50, start=5_000)  # the platform now writes to B
        back = _cli(env, "migrate", "rollback", "--stable-seconds", "1", "--clients-timeout", "30", "--drain-timeout", "0",
                    "--json")
        assert back.returncode == 0, back.stderr + back.stdout
        back_report = json.loads(back.stdout.splitlines()[-1])
        assert back_report["verified"] and "processors-drained" not in [stage["name"] for stage in back_report["stages"]]

        deadline = time.monotonic() + 60
        while (verified := _cli(env, "migrate", "verify", "--json")).returncode != 0:
            assert time.monotonic() < deadline, verified.stdout + verified.stderr
            time.sleep(1)
        assert all(r["equal"] for r in json.loads(verified.stdout)["receipts"])
        state = json.loads((tmp_path / "state" / "migration" / "state.json").read_text())
        assert (state["active"], state["phase"], len(state["switches"])) == ("current", "rolled-back", 2)
    finally:
        finished = _cli(env, "migrate", "finish")
    assert finished.returncode == 0, finished.stderr
    record = tmp_path / "state" / "migration" / "replicator.json"
    assert not record.exists()
    assert "migration.cutover" in (tmp_path / "state" / "audit" / "log.jsonl").read_text()


def test_plan_refuses_a_target_with_other_partitions(source_link, target_link, cli_env, target_settings_env, unique_name, tmp_path):
    topic = unique_name("calls")
    create(source_link, topic, partitions=3)
    create(target_link, topic, partitions=2)
    env = cli_env | target_settings_env | {"CALLSTREAM_STATE_DIR": str(tmp_path / "state")}
    planned = _cli(env, "migrate", "plan", "--to", "b", "--topic", topic)
    assert planned.returncode == 1
    assert f"topic {topic} has 2 partitions on 'b' and 3 on 'current'" in planned.stdout
    started = _cli(env, "migrate", "start", "--to", "b", "--topic", topic)
    assert started.returncode != 0 and "cannot start" in started.stderr


def test_unknown_cluster_is_named_with_the_fix(cli_env, tmp_path):
    env = cli_env | {"CALLSTREAM_STATE_DIR": str(tmp_path / "state")}
    planned = _cli(env, "migrate", "plan", "--to", "nowhere")
    assert planned.returncode != 0
    assert "no cluster named 'nowhere'" in planned.stderr and "clusters:" in planned.stderr
