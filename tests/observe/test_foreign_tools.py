"""Kafka's own consumer-groups tool reads callstream's groups, and reports the same lag as
`callstream status` at the same moment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import confluent_kafka
from confluent_kafka import Consumer, Producer, TopicPartition

from callstream.local import maven
from callstream.local.broker import kafka_libs
from callstream.local.credentials import write_client_properties
from callstream.local.librdkafka import tool_library_dir

GROUP_TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


def kafka_tool_lag(kafka_config: dict[str, str], group: str, tmp_path) -> dict[tuple[str, int], int]:
    """Lag per partition as `kafka-consumer-groups.sh --describe` prints it."""
    write_client_properties(kafka_config, "admin", tmp_path)
    done = subprocess.run(
        [maven.java_executable(), "-cp", f"{kafka_libs()}/*", GROUP_TOOL, "--bootstrap-server",
         kafka_config["bootstrap.servers"], "--command-config", str(tmp_path / "admin.java.properties"),
         "--describe", "--group", group],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.split() for line in done.stdout.splitlines() if line.strip()]
    header = next(i for i, cols in enumerate(lines) if cols[:2] == ["GROUP", "TOPIC"])
    columns = lines[header]
    rows = [dict(zip(columns, cols, strict=False)) for cols in lines[header + 1:]]
    return {(row["TOPIC"], int(row["PARTITION"])): int(row["LAG"]) for row in rows}


def test_kafkas_group_tool_and_status_agree_on_lag(kafka_config, create_topic, unique_name, cli_env, grant,
                                                   tmp_path) -> None:
    topic = create_topic(unique_name("foreign"), partitions=3)
    group = unique_name("callstream-foreign")
    grant("dashboard", reads=(topic,), groups=(group,))  # status observes as the dashboard principal
    producer = Producer(kafka_config)
    for partition in range(3):
        for i in range(20):
            producer.produce(topic, f"{i}".encode(), key=b"k", partition=partition)
    assert producer.flush(30) == 0
    consumer = Consumer({**kafka_config, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, p, 5 * (p + 1)) for p in range(3)], asynchronous=False)
    consumer.close()  # a stopped group: its lag holds still while both tools look

    theirs = kafka_tool_lag(kafka_config, group, tmp_path)
    # status watches callstream's topics: the test's topic stands in for one of them
    done = subprocess.run([sys.executable, "-m", "callstream", "status", "--json", "--sample", "--interval", "0",
                           "--group", group, "--lookback", "1", "--topic-map", json.dumps({"callstream.crm.updates": topic})],
                          env=cli_env, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 3), done.stderr  # 3: thresholds breached (a stopped group lags), still a report
    [ours_group] = [g for g in json.loads(done.stdout)["snapshot"]["groups"] if g["group"] == group]
    ours = {(topic, p["partition"]): p["lag"] for p in ours_group["partitions"] if p["topic"] == "callstream.crm.updates"}
    assert theirs == ours == {(topic, 0): 15, (topic, 1): 10, (topic, 2): 5}, (theirs, ours)


def test_kcat_lists_and_reads_callstreams_topic_as_a_principal(kafka_config, create_topic, unique_name, grant,
                                                              session_cluster, tmp_path) -> None:
    """kcat (Debian's build) with the file `kafka client-config` writes, linked to callstream's own
    librdkafka: Debian's 2.0.2 fails SCRAM against Kafka 4.x (fixed in librdkafka 2.6.1)."""
    topic = create_topic(unique_name("kcat"), partitions=3)
    producer = Producer(kafka_config)
    for i in range(30):
        producer.produce(topic, f"segment-{i}".encode(), key=f"call-{i % 4}".encode())
    assert producer.flush(30) == 0
    principal = "dashboard" if session_cluster is not None else "admin"
    grant(principal, reads=(topic,))
    conf = session_cluster.client_config(principal) if session_cluster is not None else kafka_config
    write_client_properties(conf, principal, tmp_path)
    settings = ["-F", str(tmp_path / f"{principal}.librdkafka.properties")]
    env = {**os.environ, "LD_LIBRARY_PATH": str(tool_library_dir())}
    listed = subprocess.run(["kcat", *settings, "-L", "-t", topic, "-J"], capture_output=True, text=True, timeout=60,
                            env=env)
    assert listed.returncode == 0, listed.stderr
    [described] = json.loads(listed.stdout)["topics"]
    assert described["topic"] == topic and len(described["partitions"]) == 3
    read = subprocess.run(["kcat", *settings, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k %s\\n"],
                          capture_output=True, text=True, timeout=60, env=env)
    version = subprocess.run(["kcat", "-V"], capture_output=True, text=True, timeout=30, env=env).stdout
    assert f"librdkafka {confluent_kafka.libversion()[0]}" in version
    assert read.returncode == 0, read.stderr
    assert sorted(read.stdout.split("\n")[:-1]) == sorted(f"call-{i % 4} segment-{i}" for i in range(30))
