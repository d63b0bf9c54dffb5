"""The local Apache Kafka (KRaft) that callstream starts and stops itself.

One node runs as a combined controller+broker; ``brokers=3`` runs a 3-voter KRaft quorum,
every node both controller and broker, all on 127.0.0.1 with distinct ports. Readiness is
checked over the Kafka protocol (cluster metadata through the admin client), never by
reading logs. Processes are tracked by PID in ``<state_dir>/kafka/cluster.json``.

Security is on unless asked otherwise (``security="insecure"``): clients authenticate with
SASL/SCRAM-SHA-512, the controller listener with SASL/PLAIN (a KRaft controller cannot
check SCRAM credentials, which live in the metadata it serves), and Kafka's
``StandardAuthorizer`` refuses whatever no ACL allows (``allow.everyone.if.no.acl.found``
is false). Only ``admin`` and the nodes' own ``controller`` principal are super users;
every other principal gets exactly the ACLs ``callstream acls apply`` compiles from the
catalog. Passwords live in ``credentials.json`` (see ``callstream.local.credentials``).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from confluent_kafka.admin import AdminClient

from callstream.errors import LocalKafkaError
from callstream.kafka.config import LOCAL_KAFKA_VERSION, LOCAL_KAFKA_VERSIONS
from callstream.local import maven
from callstream.local.credentials import ADMIN, CONTROLLER, MECHANISM, Credentials, write_private
from callstream.local.pids import pid_alive, signal_and_wait
from callstream.local.tls import LocalTls
from callstream.local.tls import generate as generate_tls

KAFKA_VERSION = LOCAL_KAFKA_VERSION
SUPPORTED_VERSIONS = re.compile(LOCAL_KAFKA_VERSIONS)
#: Kafka's own slf4j is 1.x-era through transitive deps; pin the 2.x API + log4j2 binding
#: (for every Java process callstream starts: brokers, MirrorMaker 2)
LOGGING_ARTIFACTS = [
    maven.Artifact("org.slf4j", "slf4j-api", "2.0.17"),
    maven.Artifact("org.apache.logging.log4j", "log4j-slf4j2-impl", "2.24.3"),
    maven.Artifact("org.apache.logging.log4j", "log4j-core", "2.24.3"),
]


def kafka_artifacts(version: str = KAFKA_VERSION) -> list[maven.Artifact]:
    return [
        maven.Artifact("org.apache.kafka", "kafka_2.13", version),
        # Kafka's command-line tools (console consumer, consumer groups) for third-party checks
        maven.Artifact("org.apache.kafka", "kafka-tools", version),
        *LOGGING_ARTIFACTS,
    ]


def check_version(version: str) -> str:
    """``version`` when the launcher can start it, else a clear error."""
    if not SUPPORTED_VERSIONS.match(version):
        raise LocalKafkaError(
            f"callstream cannot start Apache Kafka {version!r} locally: it starts KRaft releases 3.9.x and 4.x",
            f"use {KAFKA_VERSION} (the default) or 3.9.2, or point callstream at your own cluster with bootstrap_servers")
    return version


DEFAULT_PORT_BASE = 19092
DEFAULT_HEAP = "512m"
#: The JIT of a node in a multi-node local cluster: C1 only. Three JVMs share this machine
#: with the platform, and after every start their C2 compilers took 0.66 of 2 cores for the
#: first minute of a broker-failure rehearsal, when the traffic and the fault come. C1 alone
#: costs more per request once warm (one node at 5,000 calls: 0.64 cores), so a single node,
#: which runs for long, keeps the full tiered JIT. ADR 0011 has the runs.
MULTI_NODE_JIT = ("-XX:TieredStopAtLevel=1",)
#: "sasl": authenticated and authorized (the default); "insecure": plaintext, anyone on loopback may do anything
SECURITY_MODES = ("sasl", "insecure")

#: log4j2 for the Java processes callstream starts (brokers, MirrorMaker 2): Kafka's own
#: loggers at WARN, so their logs hold what went wrong. A fenced broker loses every leader
#: it held, so the controller's session decisions are logged too: unfence grants, and of
#: the replication manager's INFO lines (one per partition it replays) only "Fencing broker
#: N at epoch E because its session has timed out". Its two filters are named a and b
#: because log4j2's properties parser runs a logger's filters in the order of a hash map
#: (a, then b; reversed, the WARN threshold drops the fencing line: the 3-node test looks
#: for it).
LOG4J2 = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d{ISO8601_OFFSET_DATE_TIME_HHCMM}] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
logger.fencing.name = org.apache.kafka.controller.ReplicationControlManager
logger.fencing.level = INFO
logger.fencing.filter.a.type = RegexFilter
logger.fencing.filter.a.regex = .*Fencing broker .* because its session has timed out.*
logger.fencing.filter.a.onMatch = ACCEPT
logger.fencing.filter.a.onMismatch = NEUTRAL
logger.fencing.filter.b.type = ThresholdFilter
logger.fencing.filter.b.level = WARN
logger.fencing.filter.b.onMatch = ACCEPT
logger.fencing.filter.b.onMismatch = DENY
logger.sessions.name = org.apache.kafka.controller.BrokerHeartbeatManager
logger.sessions.level = INFO
"""


@dataclass
class KafkaNode:
    node_id: int
    client_port: int
    controller_port: int
    directory: str
    pid: int | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def log_path(self) -> Path:
        return Path(self.directory) / "broker.log"

    def is_alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)


@dataclass
class LocalCluster:
    """A local KRaft cluster's layout and processes, persisted as JSON in the state dir."""

    state_dir: Path
    nodes: list[KafkaNode] = field(default_factory=list)
    cluster_id: str = ""
    version: str = KAFKA_VERSION
    security: str = "sasl"
    #: SASL_SSL on the client listener (``kafka start --tls``), verified against a local CA
    tls: bool = False

    @property
    def secured(self) -> bool:
        return self.security == "sasl"

    @property
    def local_tls(self) -> LocalTls:
        return LocalTls(self.home / "tls")

    def security_summary(self) -> str:
        """One line for `kafka status` and `up`: what protects this cluster, or that nothing does."""
        if self.secured:
            transport = f"TLS (CA {self.local_tls.ca_certificate})" if self.tls else "no TLS"
            return (f"security: SASL/SCRAM-SHA-512 for clients, {transport}, SASL/PLAIN between nodes, ACLs enforced "
                    f"(credentials in {self.home / 'credentials.json'}, owner-only)")
        return "security: NONE (--insecure): plaintext, no authentication, no ACLs; anyone on this machine has full access"

    def client_config(self, principal: str = ADMIN) -> dict[str, str]:
        """librdkafka settings to reach this cluster as ``principal``."""
        conf = {"bootstrap.servers": self.bootstrap_servers}
        if self.secured:
            conf |= Credentials.load(self.state_dir).client_properties(principal)
        if self.tls:
            conf |= {"security.protocol": "SASL_SSL", "ssl.ca.location": str(self.local_tls.ca_certificate)}
        return conf

    @property
    def home(self) -> Path:
        return Path(self.state_dir) / "kafka"

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.address for node in self.nodes)

    @property
    def state_file(self) -> Path:
        return self.home / "cluster.json"

    def node(self, node_id: int) -> KafkaNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise LocalKafkaError(f"the local cluster has no node {node_id}", f"nodes are {[n.node_id for n in self.nodes]}")

    def save(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        data = {"version": self.version, "cluster_id": self.cluster_id, "security": self.security, "tls": self.tls,
                "nodes": [asdict(n) for n in self.nodes]}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.state_file)

    @classmethod
    def load(cls, state_dir: Path) -> LocalCluster | None:
        path = Path(state_dir) / "kafka" / "cluster.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text())
            nodes = [KafkaNode(**n) for n in data["nodes"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise LocalKafkaError(f"{path} is unreadable ({exc})", "run `callstream kafka stop --fresh` to reset it") from None
        # a state dir from before security existed was made plaintext
        return cls(state_dir=Path(state_dir), nodes=nodes, cluster_id=data.get("cluster_id", ""),
                   version=data.get("version", KAFKA_VERSION), security=data.get("security", "insecure"),
                   tls=bool(data.get("tls", False)))

    def running_nodes(self) -> list[KafkaNode]:
        return [n for n in self.nodes if n.is_alive()]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_ports(count: int) -> list[int]:
    """Ports the OS reports free right now (for tests and throwaway clusters)."""
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def kafka_libs(version: str = KAFKA_VERSION) -> Path:
    return maven.resolve(f"kafka-{version}", kafka_artifacts(check_version(version))) / "lib"


def _security_properties(node: KafkaNode, credentials: Credentials | None, tls: LocalTls | None) -> list[str]:
    if credentials is None:
        return [
            f"listeners=PLAINTEXT://127.0.0.1:{node.client_port},CONTROLLER://127.0.0.1:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.client_port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
        ]
    admin, controller = credentials.password(ADMIN), credentials.password(CONTROLLER)
    return [
        f"listeners=CLIENT://127.0.0.1:{node.client_port},CONTROLLER://127.0.0.1:{node.controller_port}",
        f"advertised.listeners=CLIENT://127.0.0.1:{node.client_port}",
        f"listener.security.protocol.map=CLIENT:{'SASL_SSL' if tls else 'SASL_PLAINTEXT'},CONTROLLER:SASL_PLAINTEXT",
        "inter.broker.listener.name=CLIENT",
        *([] if tls is None else [
            "ssl.keystore.type=PEM", f"ssl.keystore.location={tls.broker_keystore}",
            "ssl.truststore.type=PEM", f"ssl.truststore.location={tls.ca_certificate}",
        ]),
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f"listener.name.client.{MECHANISM.lower()}.sasl.jaas.config="
        f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{ADMIN}" password="{admin}";',
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
        f'required username="{CONTROLLER}" password="{controller}" user_{CONTROLLER}="{controller}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN};User:{CONTROLLER}",
    ]


def _server_properties(node: KafkaNode, voters: str, size: int, credentials: Credentials | None,
                       tls: LocalTls | None) -> str:
    replicas = min(3, size)
    return "\n".join([
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        f"controller.quorum.voters={voters}",
        *_security_properties(node, credentials, tls),
        "controller.listener.names=CONTROLLER",
        f"log.dirs={Path(node.directory) / 'data'}",
        f"offsets.topic.replication.factor={replicas}",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={min(2, replicas)}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={min(2, replicas)}",
        "offsets.topic.num.partitions=6",
        "transaction.state.log.num.partitions=6",
        # Tests and rehearsals create many short-lived groups; don't wait for more joiners.
        "group.initial.rebalance.delay.ms=0",
        "num.network.threads=2",
        "num.io.threads=4",
        "log.retention.check.interval.ms=60000",
        # log.cleaner.backoff.ms stays at Kafka's 15 s. At 2 s the cleaner kept recompacting
        # the processors' changelogs through a surge: `rehearse burst` failed 3 of 3 (assist
        # p99 once settled 19.8-51.9 s, bound 2 s) and passed with 15 s (0.6 s); NOTES, stop 31.
        "",
    ])


def _new_cluster_id() -> str:
    # Kafka's storage tool would read an id starting with "-" as an option.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _plan(state_dir: Path, brokers: int, ports: list[int] | None, port_base: int) -> LocalCluster:
    if brokers not in (1, 3):
        raise LocalKafkaError(f"--brokers must be 1 or 3, not {brokers}", "use 1 for development, 3 for a KRaft quorum")
    ports = ports or [port_base + i for i in range(2 * brokers)]
    if len(ports) != 2 * brokers:
        raise LocalKafkaError(f"{brokers} brokers need {2 * brokers} ports, got {len(ports)}")
    home = Path(state_dir) / "kafka"
    nodes = [
        KafkaNode(node_id=i + 1, client_port=ports[2 * i], controller_port=ports[2 * i + 1], directory=str(home / f"node-{i + 1}"))
        for i in range(brokers)
    ]
    return LocalCluster(state_dir=Path(state_dir), nodes=nodes, cluster_id=_new_cluster_id())


def start(
    state_dir: Path,
    brokers: int = 1,
    *,
    port_base: int = DEFAULT_PORT_BASE,
    ports: list[int] | None = None,
    timeout_s: float = 90.0,
    heap: str = DEFAULT_HEAP,
    security: str = "sasl",
    tls: bool = False,
    version: str = KAFKA_VERSION,
) -> tuple[LocalCluster, bool]:
    """Start (or find running) a local cluster; returns it and whether it was started now."""
    check_version(version)
    if security not in SECURITY_MODES:
        raise LocalKafkaError(f"unknown security mode {security!r}", f"one of {', '.join(SECURITY_MODES)}")
    if tls and security != "sasl":
        raise LocalKafkaError("--tls needs authentication, which --insecure turns off", "drop one of the two")
    existing = LocalCluster.load(state_dir)
    if existing and existing.security != security:
        made = "without authentication" if existing.security == "insecure" else "with authentication"
        raise LocalKafkaError(
            f"the local cluster in {existing.home} was made {made} ({existing.security}), not {security}",
            "start it as it was made (`--insecure` or not), or run `callstream kafka stop --fresh` "
            "to delete its data and start a new one")
    if existing and existing.tls != tls:
        raise LocalKafkaError(
            f"the local cluster in {existing.home} was made {'with' if existing.tls else 'without'} TLS",
            f"start it {'with' if existing.tls else 'without'} --tls, or run `callstream kafka stop --fresh` first")
    if existing and existing.version != version:
        raise LocalKafkaError(
            f"the local cluster in {existing.home} was made with Apache Kafka {existing.version}, not {version}",
            f"start it with {existing.version} (CALLSTREAM_LOCAL_KAFKA_VERSION={existing.version}), or run "
            "`callstream kafka stop --fresh` to delete its data and start a new one")
    if existing and existing.running_nodes():
        if len(existing.nodes) != brokers:
            raise LocalKafkaError(
                f"a {len(existing.nodes)}-broker local cluster is already running from {existing.home}",
                "run `callstream kafka stop` first to switch modes",
            )
        for node in existing.nodes:
            if not node.is_alive():
                _launch(existing, node, heap)
        wait_ready(existing, timeout_s)
        return existing, False
    if existing and len(existing.nodes) == brokers and all(Path(n.directory, "data", "meta.properties").exists() for n in existing.nodes):
        cluster = existing  # restart on the same data: topics and offsets survive a stop
        fresh = False
    else:
        cluster = _plan(state_dir, brokers, ports, port_base)
        cluster.security = security
        cluster.tls = tls
        cluster.version = version
        fresh = True
        if cluster.secured:
            Credentials.generate([]).save(state_dir)
        if tls:
            generate_tls(cluster.local_tls.directory)
    for node in cluster.nodes:
        for port in (node.client_port, node.controller_port):
            if port_in_use(port):
                raise LocalKafkaError(
                    f"port {port} on 127.0.0.1 is in use, so Kafka node {node.node_id} cannot listen there",
                    "stop what uses it, or choose other ports with --port-base",
                )
    java = maven.java_executable()
    libs = kafka_libs(cluster.version)
    credentials = Credentials.load(state_dir) if cluster.secured else None
    local_tls = cluster.local_tls if cluster.tls else None
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in cluster.nodes)
    for node in cluster.nodes:
        directory = Path(node.directory)
        directory.mkdir(parents=True, exist_ok=True)
        # holds the admin and controller passwords when secured: owner-only
        write_private(directory / "server.properties",
                      _server_properties(node, voters, len(cluster.nodes), credentials, local_tls))
        (directory / "log4j2.properties").write_text(LOG4J2)
        if fresh:
            _format(java, libs, cluster.cluster_id, directory, credentials)
    cluster.save()
    for node in cluster.nodes:
        _launch(cluster, node, heap, java=java, libs=libs)
    wait_ready(cluster, timeout_s)
    return cluster, True


def _format(java: str, libs: Path, cluster_id: str, directory: Path, credentials: Credentials | None) -> None:
    log = directory / "format.log"
    tool = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(directory / "server.properties"),
            "--ignore-formatted"]
    if credentials is not None:
        # the admin's SCRAM credential goes into the first metadata; it reaches the tool
        # through an owner-only @argfile, so no command line ever shows the password
        tool += ["--add-scram", f"{MECHANISM}=[name={ADMIN},password={credentials.password(ADMIN)}]"]
    argfile = directory / "format.args"
    write_private(argfile, "\n".join(f'"{arg}"' for arg in tool) + "\n")
    try:
        with log.open("w") as handle:
            result = subprocess.run(
                [java, "-cp", f"{libs}/*", f"-Dlog4j2.configurationFile={directory / 'log4j2.properties'}", f"@{argfile}"],
                stdout=handle, stderr=subprocess.STDOUT, check=False,
            )
    finally:
        argfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise LocalKafkaError(f"formatting the Kafka storage in {directory} failed", f"read {log}")


def jvm_options(cluster: LocalCluster, heap: str) -> list[str]:
    """The JVM flags of every node of ``cluster`` (see ``MULTI_NODE_JIT``)."""
    jit = MULTI_NODE_JIT if len(cluster.nodes) > 1 else ()
    return [f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", *jit, "-Djava.awt.headless=true"]


def _launch(cluster: LocalCluster, node: KafkaNode, heap: str, *, java: str | None = None, libs: Path | None = None) -> None:
    java = java or maven.java_executable()
    libs = libs or kafka_libs(cluster.version)
    directory = Path(node.directory)
    with node.log_path.open("ab") as log:
        process = subprocess.Popen(
            [java, *jvm_options(cluster, heap), f"-Dlog4j2.configurationFile={directory / 'log4j2.properties'}",
             "-cp", f"{libs}/*", "kafka.Kafka", str(directory / "server.properties")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the CLI must not take the broker with it
        )
    node.pid = process.pid
    cluster.save()


def describe(client_config: dict[str, str], timeout_s: float = 5.0) -> dict:
    """Cluster metadata over the protocol: brokers, controller, topics."""
    # log_level 0: while a broker boots, connection-refused lines are expected noise.
    admin = AdminClient({**client_config, "socket.timeout.ms": "3000", "log_level": 0})
    cluster = admin.describe_cluster(request_timeout=timeout_s).result(timeout=timeout_s + 1)
    metadata = admin.list_topics(timeout=timeout_s)
    return {
        "cluster_id": cluster.cluster_id,
        "controller": cluster.controller.id if cluster.controller else None,
        "brokers": sorted(f"{n.id}@{n.host}:{n.port}" for n in cluster.nodes),
        "topics": sorted(t for t in metadata.topics if not t.startswith("__")),
    }


def wait_ready(cluster: LocalCluster, timeout_s: float) -> dict:
    """Wait until every running node serves metadata and a controller is elected."""
    deadline = time.monotonic() + timeout_s
    expected = len(cluster.running_nodes()) or len(cluster.nodes)
    last_error = "no answer yet"
    while time.monotonic() < deadline:
        dead = [n for n in cluster.nodes if n.pid and not n.is_alive()]
        if dead and not cluster.running_nodes():
            raise LocalKafkaError(
                f"Kafka node {dead[0].node_id} exited during start-up", f"read {dead[0].log_path}"
            )
        try:
            info = describe(cluster.client_config(), timeout_s=3)
            if info["controller"] is not None and len(info["brokers"]) >= expected:
                return info
            last_error = f"{len(info['brokers'])}/{expected} brokers registered"
        except Exception as exc:  # the admin client raises KafkaException while the broker boots
            last_error = str(exc)
        time.sleep(0.5)
    logs = ", ".join(str(n.log_path) for n in cluster.nodes)
    raise LocalKafkaError(
        f"local Kafka was not ready within {timeout_s:.0f}s ({last_error})", f"read {logs}"
    )


def stop_node(cluster: LocalCluster, node_id: int, *, kill: bool = False, timeout_s: float = 30.0) -> float:
    """Stop one node by PID (SIGTERM, or SIGKILL with ``kill``); returns seconds taken."""
    node = cluster.node(node_id)
    started = time.monotonic()
    if node.pid and node.is_alive():
        signal_and_wait([node.pid], signal.SIGKILL if kill else signal.SIGTERM, timeout_s)
    node.pid = None
    cluster.save()
    return time.monotonic() - started


def start_node(cluster: LocalCluster, node_id: int, heap: str = DEFAULT_HEAP, timeout_s: float = 60.0) -> None:
    node = cluster.node(node_id)
    if not node.is_alive():
        _launch(cluster, node, heap)
    wait_ready(cluster, timeout_s)


def stop(state_dir: Path, timeout_s: float = 30.0, fresh: bool = False) -> list[int]:
    """Stop every node by PID and wait; ``fresh`` also deletes the data. Returns stopped PIDs."""
    cluster = LocalCluster.load(state_dir)
    if cluster is None:
        return []
    pids = [n.pid for n in cluster.running_nodes() if n.pid]
    # All at once: stopping voters one by one loses the quorum and stalls controlled shutdown.
    signal_and_wait(pids, signal.SIGTERM, timeout_s)
    for node in cluster.nodes:
        node.pid = None
    cluster.save()
    if fresh:
        shutil.rmtree(cluster.home, ignore_errors=True)
    return pids


def local_bootstrap(state_dir: Path) -> str | None:
    """The bootstrap servers of the running local cluster, if any."""
    cluster = LocalCluster.load(state_dir)
    if cluster and cluster.running_nodes():
        return ",".join(n.address for n in cluster.running_nodes())
    return None


def local_client_config(state_dir: Path, principal: str = ADMIN) -> dict[str, str] | None:
    """librdkafka settings for the running local cluster as ``principal`` (``None``: none runs)."""
    cluster = LocalCluster.load(state_dir)
    if cluster is None or not cluster.running_nodes():
        return None
    conf = cluster.client_config(principal)
    conf["bootstrap.servers"] = ",".join(n.address for n in cluster.running_nodes())
    return conf
