"""A running `callstream up` switches itself when `callstream migrate cutover` moves the platform, and back."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from callstream.contract.catalog import load_catalog
from callstream.governance.acls import grant_catalog
from callstream.local import broker
from callstream.local.credentials import credentials_path
from callstream.processors.registry import deployment, load_processor
from callstream.scaling.controller import StableMembers

pytestmark = pytest.mark.slow


@pytest.fixture
def own_cluster(kafka_installation: Path, tmp_path: Path) -> Iterator[broker.LocalCluster]:
    """A throwaway secured cluster for `up` to run on: the cutover fences it."""
    cluster, _ = broker.start(tmp_path / "cluster-a", 1, ports=broker.free_ports(2), timeout_s=120)
    try:
        grant_catalog(cluster.client_config(), load_catalog(), state_dir=cluster.state_dir)
        yield cluster
    finally:
        broker.stop(tmp_path / "cluster-a")


def _redacted_on(conf: dict[str, str]) -> int:
    """Records in the redacted topic (0 while the topic is new and has no leaders yet)."""
    consumer = Consumer({**conf, "group.id": f"count-{time.monotonic_ns()}"})
    topic = "callstream.transcript.redacted"
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions)
    except KafkaException:
        return 0
    finally:
        consumer.close()


def test_up_moves_its_processes_and_simulator_to_the_target_and_back(own_cluster, target_cluster, target_settings_env, cli_env,
                                                             tmp_path: Path) -> None:
    grant_catalog(target_cluster.client_config(), load_catalog(), state_dir=target_cluster.state_dir, delete_stale=False)
    env = {k: v for k, v in cli_env.items() if not k.startswith("CALLSTREAM_")} | target_settings_env | {
        "CALLSTREAM_BOOTSTRAP_SERVERS": own_cluster.bootstrap_servers, "CALLSTREAM_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CALLSTREAM_SASL_MECHANISM": "SCRAM-SHA-512", "CALLSTREAM_CREDENTIALS_FILE": str(credentials_path(own_cluster.state_dir)),
        "CALLSTREAM_STATE_DIR": str(tmp_path / "state")}

    def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "callstream", *args], env=env, capture_output=True, text=True,
                              timeout=timeout, cwd=tmp_path)

    up = subprocess.Popen([sys.executable, "-m", "callstream", "up", "--duration", "240", "--speedup", "4", "--rate", "60",
                           "--no-archive", "--dashboard-port", str(broker.free_ports(1)[0])],
                          env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finished = None
    try:
        deadline = time.monotonic() + 90
        while _redacted_on(own_cluster.client_config()) < 50:
            assert up.poll() is None and time.monotonic() < deadline, "up did not get the platform going"
            time.sleep(2)
        # every processor holds its partitions, so its state topics exist, before the migration
        # copies the topic list: on a loaded host the last workers were handed theirs 9 s after
        # the redactor's first output, and the cutover then found a changelog only the source had
        members = StableMembers(own_cluster.client_config())
        groups = [load_processor(name).consumer_group for name in deployment()]
        deadline = time.monotonic() + 120
        while not all(members(group) for group in groups):
            assert up.poll() is None and time.monotonic() < deadline, "not every processor got its partitions"
            time.sleep(2)
        started = cli("migrate", "start", "--to", "b")
        assert started.returncode == 0, started.stderr
        def switch(kind: str, joining: str, cluster: broker.LocalCluster) -> None:
            """The switch, with `up` readying its processes on ``joining`` before writes pause and
            releasing them there; then `up`'s processors redact what its simulator sends there."""
            done = cli("migrate", kind, "--stable-seconds", "1", "--clients-timeout", "60", "--json")
            if done.returncode != 0:
                up.send_signal(signal.SIGINT)
                pytest.fail(f"{kind} failed: {done.stderr[-2000:]}\nup said: {up.communicate(timeout=60)[0][-4000:]}")
            report = json.loads(done.stdout.splitlines()[-1])
            assert report["verified"] and report["positions"] and report["joining"] == joining
            stages = {stage["name"]: stage["detail"] for stage in report["stages"]}
            # up's processes commit what they processed as they stop: no drain holds producers longer
            assert "processors-drained" not in stages, report["stages"]
            assert stages.get("clients-prepared") == f"{len(deployment())} processes ready on '{joining}', waiting to be released"
            redacted = _redacted_on(cluster.client_config())
            deadline = time.monotonic() + 60
            while _redacted_on(cluster.client_config()) <= redacted:
                assert up.poll() is None and time.monotonic() < deadline, f"nothing new was redacted on '{joining}'"
                time.sleep(2)

        switch("cutover", "b", target_cluster)
        # and back at once: the rollback waits for the static members up left on A to time out
        # (before writes pause), and B's records are replicated to A from then on
        switch("rollback", "current", own_cluster)
        finished = cli("migrate", "finish")
        assert finished.returncode == 0, finished.stderr
    finally:
        if finished is None:  # a step failed before `finish`: its background replicator would outlive the test
            cli("migrate", "stop")
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)  # as a service manager stops it
        output = up.communicate(timeout=120)[0]
    assert "migration quiesce" in output and "migration start (b)" in output, output[-3000:]
    assert "migration start (b) done: processes (warm standby released)" in output, output[-3000:]
    assert "migration start (current) done: processes (warm standby released)" in output, output[-3000:]
    assert "exited" not in output, output[-3000:]
    assert up.returncode == 0 and "stopping ..." in output, output[-3000:]  # the orderly stop, not a kill
    assert "stopped the processors, the archiver and the dashboard" in output, output[-3000:]


def test_a_standby_that_cannot_start_on_the_joining_cluster_refuses_the_switch(tmp_path: Path) -> None:
    """`up` readies its processes on the joining cluster before any write pauses; one that
    dies there (here: the cluster's credentials file holds no passwords) refuses
    the switch with its log named, and nothing of the standby is left running."""
    from callstream.cli.up_cmd import PlatformProcesses
    from callstream.errors import MigrationError
    from callstream.settings import Settings

    credentials = tmp_path / "credentials-of-b.json"
    credentials.write_text("{}")
    credentials.chmod(0o600)
    settings = Settings.model_validate({"state_dir": tmp_path / "state", "clusters": {"b": {
        "bootstrap_servers": "127.0.0.1:9", "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "credentials_file": str(credentials)}}})
    processes = PlatformProcesses(settings, load_catalog(), no_archive=True, bundled=True)
    with pytest.raises(MigrationError, match=r"did not get ready on 'b' .*logs/b/") as refused:
        processes.prepare("b")
    assert all(name in str(refused.value) for name in deployment(bundled=True)), refused.value
    assert processes.standby is None
    logs = list((tmp_path / "state" / "logs" / "b").glob("*.log"))
    assert logs and all("credentials-of-b.json" in log.read_text() for log in logs), [log.read_text()[-500:] for log in logs]
