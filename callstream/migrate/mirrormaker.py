"""MirrorMaker 2, run as the baseline the migration rehearsal compares callstream's replicator with.

Kafka's own ``connect-mirror`` (from Maven Central, started in dedicated mode like the
broker: tracked by PID, configured through an owner-only properties file) replicates A to B
with topic names kept (``IdentityReplicationPolicy``), reading ``read_committed``, and syncs
consumer-group offsets into B's inactive groups from its checkpoints. Its intervals are set
shorter than the defaults (checkpoints and group sync every 5 s instead of 60 s) so the
baseline is the best MirrorMaker 2 setup, not the default one.
"""

from __future__ import annotations

import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from callstream.local import maven
from callstream.local.broker import LOG4J2, LOGGING_ARTIFACTS
from callstream.local.connect import CONNECT_VERSION
from callstream.local.credentials import write_private
from callstream.local.pids import pid_alive, signal_and_wait

MIRRORMAKER_VERSION = CONNECT_VERSION  # the newest connect-mirror on Maven Central; it talks to Kafka 4.4
MIRRORMAKER_ARTIFACTS = [maven.Artifact("org.apache.kafka", "connect-mirror", MIRRORMAKER_VERSION), *LOGGING_ARTIFACTS]
#: how often MirrorMaker 2 emits checkpoints and syncs group offsets here (default 60 s)
SYNC_INTERVAL_S = 5

def mirrormaker_libs() -> Path:
    return maven.resolve(f"mirrormaker-{MIRRORMAKER_VERSION}", MIRRORMAKER_ARTIFACTS) / "lib"


@dataclass(frozen=True)
class MirrorCluster:
    """One cluster as MirrorMaker 2 connects to it: SASL/SCRAM as a super user."""

    alias: str
    bootstrap_servers: str
    username: str
    password: str
    brokers: int


def properties(source: MirrorCluster, target: MirrorCluster, topics_regex: str, groups_regex: str) -> str:
    lines = [f"clusters = {source.alias}, {target.alias}"]
    for cluster in (source, target):
        jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{cluster.username}" '
                f'password="{cluster.password}";')
        replication = min(3, cluster.brokers)
        lines += [f"{cluster.alias}.bootstrap.servers = {cluster.bootstrap_servers}",
                  f"{cluster.alias}.security.protocol = SASL_PLAINTEXT",
                  f"{cluster.alias}.sasl.mechanism = SCRAM-SHA-512",
                  f"{cluster.alias}.sasl.jaas.config = {jaas}",
                  f"{cluster.alias}.config.storage.replication.factor = {replication}",
                  f"{cluster.alias}.offset.storage.replication.factor = {replication}",
                  f"{cluster.alias}.status.storage.replication.factor = {replication}"]
    lines += [
        f"{source.alias}->{target.alias}.enabled = true",
        f"{target.alias}->{source.alias}.enabled = false",
        f"{source.alias}->{target.alias}.topics = {topics_regex}",
        f"{source.alias}->{target.alias}.groups = {groups_regex}",
        f"{source.alias}.consumer.isolation.level = read_committed",
        "replication.policy.class = org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
        "sync.group.offsets.enabled = true",
        f"sync.group.offsets.interval.seconds = {SYNC_INTERVAL_S}",
        f"emit.checkpoints.interval.seconds = {SYNC_INTERVAL_S}",
        "refresh.topics.interval.seconds = 10",
        "refresh.groups.interval.seconds = 10",
        "sync.topic.acls.enabled = false",
        "sync.topic.configs.enabled = false",
        f"replication.factor = {min(3, target.brokers)}",
        f"checkpoints.topic.replication.factor = {min(3, target.brokers)}",
        f"heartbeats.topic.replication.factor = {min(3, target.brokers)}",
        f"offset-syncs.topic.replication.factor = {min(3, source.brokers)}",
        "tasks.max = 2",
        "dedicated.mode.enable.internal.rest = false",
    ]
    return "\n".join(lines) + "\n"


class MirrorMaker:
    """A dedicated-mode MirrorMaker 2 process replicating ``source`` to ``target``."""

    def __init__(self, work_dir: Path, source: MirrorCluster, target: MirrorCluster, topics_regex: str,
                 groups_regex: str = "callstream-.*") -> None:
        self.work_dir = Path(work_dir)
        self.source, self.target = source, target
        self.topics_regex, self.groups_regex = topics_regex, groups_regex
        self.process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.work_dir / "mirrormaker.log"

    def start(self) -> int:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "mm2.properties"
        write_private(config, properties(self.source, self.target, self.topics_regex, self.groups_regex))
        (self.work_dir / "log4j2.properties").write_text(LOG4J2)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [maven.java_executable(), "-Xmx512m", f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.properties'}",
                 "-cp", f"{mirrormaker_libs()}/*", "org.apache.kafka.connect.mirror.MirrorMaker", str(config)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and pid_alive(self.process.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            signal_and_wait([self.process.pid], signal.SIGTERM, 30)
