"""A real S3-compatible server on 127.0.0.1 for archive tests and local runs: s3proxy.

s3proxy (``org.gaul:s3proxy`` from Maven Central, its self-contained
``jar-with-dependencies``) runs on Java with the jclouds ``filesystem`` backend, so buckets
are plain directories under ``data_dir``. Clients sign requests (SigV2/SigV4) with fixed
keys. Readiness is checked over HTTP (``/healthz``, then a signed request), never by
reading the log; the process is tracked and stopped by PID (``<home>/s3proxy.json``), so
another process (``python -m callstream.local.s3server stop``) can stop it too.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from callstream.errors import LocalKafkaError
from callstream.local import maven
from callstream.local.broker import free_ports
from callstream.local.pids import pid_alive, signal_and_wait

S3PROXY_VERSION = "4.1.0"
#: Fixed test credentials: the server only listens on loopback.
DEFAULT_ACCESS_KEY = "callstream"
DEFAULT_SECRET_KEY = "callstream-local-secret"
DEFAULT_REGION = "us-east-1"


def s3proxy_jar(version: str = S3PROXY_VERSION) -> Path:
    """The s3proxy jar, fetched once from Maven Central with ``mvn`` into the cache dir."""
    target = maven.cache_root() / f"s3proxy-{version}"
    jar = target / f"s3proxy-{version}-jar-with-dependencies.jar"
    marker = target / ".resolved"
    if marker.exists() and jar.exists():
        return jar
    mvn = shutil.which("mvn")
    if not mvn:
        raise LocalKafkaError(
            "Maven (mvn) is needed once to fetch s3proxy from Maven Central but was not found",
            "install it (apt-get install maven)",
        )
    target.mkdir(parents=True, exist_ok=True)
    log = target / "mvn.log"
    with log.open("w") as handle:
        # The fat jar is a classified artifact: dependency:copy takes it whole, no pom needed.
        result = subprocess.run(
            [mvn, "-B", "-q", "dependency:copy",
             f"-Dartifact=org.gaul:s3proxy:{version}:jar:jar-with-dependencies",
             f"-DoutputDirectory={target}"],
            cwd=target, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False,
        )
    if result.returncode != 0 or not jar.exists():
        raise LocalKafkaError(
            f"Maven could not fetch org.gaul:s3proxy:{version} (exit {result.returncode})",
            f"read {log}; Maven Central must be reachable",
        )
    marker.write_text(f"org.gaul:s3proxy:{version}:jar-with-dependencies")
    return jar


@dataclass
class LocalS3Server:
    """One s3proxy process: where it listens, its keys, its files and its PID."""

    home: Path
    port: int
    access_key_id: str = DEFAULT_ACCESS_KEY
    secret_access_key: str = DEFAULT_SECRET_KEY
    region: str = DEFAULT_REGION
    pid: int | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return Path(self.home) / "data"

    @property
    def log_path(self) -> Path:
        return Path(self.home) / "s3proxy.log"

    @property
    def state_file(self) -> Path:
        return Path(self.home) / "s3proxy.json"

    def is_alive(self) -> bool:
        return self.pid is not None and pid_alive(self.pid)

    def create_bucket(self, bucket: str) -> None:
        """Create ``bucket`` (a no-op if it exists) through the S3 API with the server's keys."""
        from pyarrow import fs  # pyarrow's S3 client: the same one the archive's FileIO uses

        s3 = fs.S3FileSystem(
            access_key=self.access_key_id, secret_key=self.secret_access_key, region=self.region,
            endpoint_override=self.endpoint_url, scheme="http", force_virtual_addressing=False,
            allow_bucket_creation=True,
        )
        try:
            s3.create_dir(bucket)
        except OSError as exc:
            raise LocalKafkaError(f"could not create bucket {bucket!r} at {self.endpoint_url}: {exc}",
                                  f"read {self.log_path}") from None

    def save(self) -> None:
        Path(self.home).mkdir(parents=True, exist_ok=True)
        data = asdict(self) | {"home": str(self.home)}
        self.state_file.write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, home: Path) -> LocalS3Server | None:
        path = Path(home) / "s3proxy.json"
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise LocalKafkaError(f"{path} is unreadable ({exc})", f"delete {path} and start again") from None

    def __enter__(self) -> LocalS3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self.home)


def _properties(server: LocalS3Server) -> str:
    return "\n".join([
        f"s3proxy.endpoint={server.endpoint_url}",
        "s3proxy.authorization=aws-v2-or-v4",
        f"s3proxy.identity={server.access_key_id}",
        f"s3proxy.credential={server.secret_access_key}",
        "jclouds.provider=filesystem",
        f"jclouds.filesystem.basedir={server.data_dir}",
        "",
    ])


def start(home: Path, *, port: int = 0, timeout_s: float = 60.0, heap: str = "256m") -> LocalS3Server:
    """Start s3proxy on 127.0.0.1 (``port=0`` picks a free one) or return the running one."""
    existing = LocalS3Server.load(home)
    if existing and existing.is_alive():
        wait_ready(existing, timeout_s)
        return existing
    server = LocalS3Server(home=Path(home), port=port or free_ports(1)[0])
    server.data_dir.mkdir(parents=True, exist_ok=True)
    conf = Path(home) / "s3proxy.conf"
    conf.write_text(_properties(server))
    java = maven.java_executable()
    jar = s3proxy_jar()
    with server.log_path.open("ab") as log:
        process = subprocess.Popen(
            [java, f"-Xmx{heap}", "-jar", str(jar), "--properties", str(conf)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    server.pid = process.pid
    server.save()
    try:
        wait_ready(server, timeout_s)
    except LocalKafkaError:
        stop(home)
        raise
    return server


def wait_ready(server: LocalS3Server, timeout_s: float) -> None:
    """Wait until s3proxy answers ``/healthz`` and rejects an unsigned request as S3 would."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not server.is_alive():
            raise LocalKafkaError(f"s3proxy (pid {server.pid}) exited during start-up", f"read {server.log_path}")
        try:
            with urllib.request.urlopen(f"{server.endpoint_url}/healthz", timeout=2) as response:
                status = json.loads(response.read() or b"{}").get("status")
            if status == "OK" and _rejects_anonymous(server):
                return
            last = f"healthz status {status!r}"
        except (OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise LocalKafkaError(f"s3proxy at {server.endpoint_url} was not ready within {timeout_s:.0f}s ({last})",
                          f"read {server.log_path}")


def _rejects_anonymous(server: LocalS3Server) -> bool:
    # Auth is on: an unsigned ListBuckets must be refused with 403 (an S3 answer, not a proxy's).
    try:
        urllib.request.urlopen(server.endpoint_url + "/", timeout=2).close()
    except urllib.error.HTTPError as exc:
        return exc.code == 403
    return False


def stop(home: Path, timeout_s: float = 20.0, fresh: bool = False) -> int | None:
    """Stop the s3proxy recorded in ``home`` by PID; ``fresh`` also deletes its data."""
    server = LocalS3Server.load(home)
    pid = server.pid if server else None
    if server and pid and server.is_alive():
        signal_and_wait([pid], signal.SIGTERM, timeout_s)
    if server:
        server.pid = None
        server.save()
    if fresh:
        shutil.rmtree(Path(home) / "data", ignore_errors=True)
    return pid


def main(argv: list[str] | None = None) -> int:
    """``python -m callstream.local.s3server resolve|start|stop [HOME]`` for CI scripts."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in {"resolve", "start", "stop"}:
        print("usage: python -m callstream.local.s3server resolve|start|stop [HOME]", file=sys.stderr)
        return 2
    home = Path(args[1]) if len(args) > 1 else Path(".callstream") / "s3"
    try:
        if args[0] == "resolve":
            print(s3proxy_jar())
        elif args[0] == "start":
            server = start(home)
            print(json.dumps({"endpoint": server.endpoint_url, "pid": server.pid,
                              "access_key_id": server.access_key_id, "region": server.region}))
        else:
            print(json.dumps({"stopped_pid": stop(home)}))
    except LocalKafkaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
