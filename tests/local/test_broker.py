"""The local Apache Kafka: start/stop/status over the protocol, and the 3-voter KRaft quorum."""

import json
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from callstream.errors import LocalKafkaError
from callstream.local import broker
from callstream.local.sessions import FENCED, session_changes


def test_session_broker_answers_over_the_protocol(kafka_config: dict[str, str]) -> None:
    info = broker.describe(kafka_config)
    assert info["controller"] is not None
    assert len(info["brokers"]) >= 1


def test_three_broker_quorum_survives_losing_the_leader(kafka_installation, tmp_path: Path, unique_name, eventually) -> None:
    state = tmp_path / "q3"
    cluster, started = broker.start(state, 3, ports=broker.free_ports(6), timeout_s=120)
    try:
        assert started
        info = broker.describe(cluster.client_config())
        assert len(info["brokers"]) == 3
        again, started_again = broker.start(state, 3, timeout_s=60)  # idempotent: reported, not duplicated
        assert not started_again
        assert [n.pid for n in again.nodes] == [n.pid for n in cluster.nodes]
        for node in cluster.nodes:  # three JVMs on one machine run C1 only (MULTI_NODE_JIT)
            assert "-XX:TieredStopAtLevel=1" in Path(f"/proc/{node.pid}/cmdline").read_bytes().decode().split("\0")
        with pytest.raises(LocalKafkaError, match="already running"):
            broker.start(state, 1)

        topic = unique_name("rf3")
        admin = AdminClient(cluster.client_config())
        admin.create_topics([NewTopic(topic, 1, 3, config={"min.insync.replicas": "2"})])[topic].result(30)
        def partition_leader() -> int | None:
            partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
            return partitions[0].leader if 0 in partitions and partitions[0].leader >= 0 else None

        leader = eventually(partition_leader)
        assert leader is not None
        broker.stop_node(cluster, leader, kill=True)

        producer = Producer({**cluster.client_config(), "acks": "all", "enable.idempotence": True, "message.timeout.ms": 60000})
        delivered: list = []
        for i in range(20):
            producer.produce(topic, value=f"event-{i}".encode(), on_delivery=lambda err, msg: delivered.append(err))
        assert producer.flush(60) == 0
        assert delivered == [None] * 20  # acks=all accepted with 2 of 3 replicas in sync
        survivors = broker.describe(cluster.client_config() | {"bootstrap.servers": ",".join(n.address for n in cluster.running_nodes())})
        assert len(survivors["brokers"]) == 2 and survivors["controller"] is not None
        assert f"{leader}@" not in " ".join(survivors["brokers"])
        # the controller's decision is in the brokers' logs, so a rehearsal can count fencings
        fencings = lambda: [c.broker for c in session_changes(n.log_path for n in cluster.nodes) if c.change == FENCED]  # noqa: E731
        assert eventually(fencings) == [leader]
    finally:
        stopped = broker.stop(state)
    assert len(stopped) == 2
    assert not broker.LocalCluster.load(state).running_nodes()


def test_port_in_use_is_a_clear_error(kafka_installation, tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(LocalKafkaError, match=f"port {port} on 127.0.0.1 is in use"):
            broker.start(tmp_path / "busy", 1, ports=[port, broker.free_ports(1)[0]])


def test_only_multi_node_clusters_give_up_the_c2_compiler(tmp_path: Path) -> None:
    def cluster(size: int) -> broker.LocalCluster:
        nodes = [broker.KafkaNode(i, 19092 + 2 * i, 19093 + 2 * i, str(tmp_path / f"node-{i}")) for i in range(1, size + 1)]
        return broker.LocalCluster(state_dir=tmp_path, nodes=nodes)

    one, three = cluster(1), cluster(3)
    assert "-Xmx512m" in broker.jvm_options(one, "512m")
    assert not [o for o in broker.jvm_options(one, "512m") if "Tiered" in o]
    assert broker.jvm_options(three, "1g")[:3] == ["-Xmx1g", "-Xms1g", "-XX:+UseG1GC"]
    assert set(broker.MULTI_NODE_JIT) <= set(broker.jvm_options(three, "1g"))


def test_invalid_broker_count(tmp_path: Path) -> None:
    with pytest.raises(LocalKafkaError, match="--brokers must be 1 or 3"):
        broker.start(tmp_path, 2)


def test_java_too_old_or_missing_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from callstream.local import maven

    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    with pytest.raises(LocalKafkaError, match="Java was not found"):
        maven.java_executable()
    fake = tmp_path / "old" / "bin" / "java"
    fake.parent.mkdir(parents=True)
    fake.write_text('#!/bin/sh\necho \'openjdk version "11.0.2"\' >&2\n')
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "old"))
    with pytest.raises(LocalKafkaError, match="Java 11 .* too old"):
        maven.java_executable()


def test_maven_failure_points_at_its_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from callstream.local import maven

    monkeypatch.setenv("CALLSTREAM_CACHE", str(tmp_path))
    with pytest.raises(LocalKafkaError, match=r"Maven could not resolve .*read .*mvn.log"):
        maven.resolve("nothing", [maven.Artifact("io.callstream.does.not", "exist", "0.0.0")])


def test_an_unsecured_state_dir_is_refused_with_the_fix(tmp_path: Path) -> None:
    plaintext = broker.LocalCluster(state_dir=tmp_path, cluster_id="x", security="insecure",
                                    nodes=[broker.KafkaNode(1, 1, 2, str(tmp_path / "kafka" / "node-1"))])
    plaintext.save()
    with pytest.raises(LocalKafkaError) as refused:
        broker.start(tmp_path, 1)  # the default: authenticated
    assert "was made without authentication (insecure), not sasl" in refused.value.message
    assert "`callstream kafka stop --fresh`" in (refused.value.hint or "")
    legacy = json.loads((tmp_path / "kafka" / "cluster.json").read_text())
    del legacy["security"]  # a state dir from before security existed
    (tmp_path / "kafka" / "cluster.json").write_text(json.dumps(legacy))
    assert broker.LocalCluster.load(tmp_path).security == "insecure"


def test_unlaunchable_kafka_releases_are_refused_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LocalKafkaError, match=r"cannot start Apache Kafka '3.8.1' locally: it starts KRaft releases 3.9.x and 4.x") as refused:
        broker.start(tmp_path, 1, version="3.8.1")
    assert "bootstrap_servers" in (refused.value.hint or "")
    made = broker.LocalCluster(state_dir=tmp_path, cluster_id="x", version="3.9.2",
                               nodes=[broker.KafkaNode(1, 1, 2, str(tmp_path / "kafka" / "node-1"))])
    made.save()
    with pytest.raises(LocalKafkaError, match="was made with Apache Kafka 3.9.2, not 4.4.0") as other:
        broker.start(tmp_path, 1)  # data of one release is not restarted under another
    assert "start it with 3.9.2" in (other.value.hint or "")
    monkeypatch.setenv("CALLSTREAM_LOCAL_KAFKA_VERSION", "2.8.0")
    from callstream.errors import ConfigError
    from callstream.settings import load_settings

    with pytest.raises(ConfigError, match="local_kafka_version"):
        load_settings(None, state_dir=tmp_path)


@pytest.mark.slow
def test_kafka_3_9_starts_secured_and_enforces_the_catalog(kafka_installation, tmp_path: Path, unique_name) -> None:
    """The last 3.x release, still common in production fleets, from its own Maven jars:
    KRaft, SCRAM, the authorizer; a principal writes what the catalog grants it and nothing else."""
    from confluent_kafka import KafkaError

    from callstream.contract.catalog import load_catalog
    from callstream.governance.acls import grant_catalog

    cluster, started = broker.start(tmp_path, 1, ports=broker.free_ports(2), timeout_s=120, version="3.9.2")
    try:
        assert started and cluster.version == "3.9.2"
        assert json.loads((tmp_path / "kafka" / "cluster.json").read_text())["version"] == "3.9.2"
        admin = AdminClient(cluster.client_config())
        versions = admin.describe_cluster(request_timeout=10).result(timeout=15)
        assert versions.cluster_id == cluster.cluster_id
        grant_catalog(cluster.client_config(), load_catalog(), state_dir=tmp_path)
        topics = ["callstream.transcript.raw", unique_name("outside")]
        for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
            future.result(timeout=30)
        outcomes: dict[str, KafkaError | None] = {}
        producer = Producer({**cluster.client_config("simulator"), "message.timeout.ms": "10000"})
        for topic in topics:
            producer.produce(topic, b"x", on_delivery=lambda err, msg: outcomes.__setitem__(msg.topic(), err))
        producer.flush(15)
        assert outcomes[topics[0]] is None
        assert outcomes[topics[1]] is not None and outcomes[topics[1]].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        broker.stop(tmp_path)
