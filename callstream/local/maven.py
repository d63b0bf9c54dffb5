"""Resolve Java artifacts (the Kafka broker, the S3 test server) from Maven Central with ``mvn``.

Jars are copied once into a cache directory (``$CALLSTREAM_CACHE`` or ``~/.cache/callstream``)
and reused; a marker file records a complete resolution so a half-finished copy is redone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from callstream.errors import LocalKafkaError

MIN_JAVA = 17


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str

    def pom_dependency(self) -> str:
        return (
            f"<dependency><groupId>{self.group}</groupId><artifactId>{self.artifact}</artifactId>"
            f"<version>{self.version}</version></dependency>"
        )


def cache_root() -> Path:
    return Path(os.environ.get("CALLSTREAM_CACHE", Path.home() / ".cache" / "callstream"))


def java_executable() -> str:
    """The ``java`` to run, checked to be at least Java 17 (Kafka 4 brokers need it)."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise LocalKafkaError(
            "Java was not found", f"install a Java {MIN_JAVA}+ runtime (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise LocalKafkaError(f"could not read the Java version from {java} -version", "check the Java installation")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise LocalKafkaError(
            f"Java {major} at {java} is too old; Kafka 4 needs Java {MIN_JAVA} or newer",
            "install openjdk-17 or newer and set JAVA_HOME",
        )
    return java


def resolve(name: str, artifacts: list[Artifact]) -> Path:
    """A directory holding the jars of ``artifacts`` and their runtime dependencies."""
    target = cache_root() / name
    marker = target / ".resolved"
    wanted = ",".join(f"{a.group}:{a.artifact}:{a.version}" for a in artifacts)
    if marker.exists() and marker.read_text() == wanted:
        return target  # resolved before, for exactly these artifacts
    mvn = shutil.which("mvn")
    if not mvn:
        raise LocalKafkaError(
            f"Maven (mvn) is needed once to fetch {name} from Maven Central but was not found",
            "install it (apt-get install maven) or run `make setup`",
        )
    work = cache_root() / f"{name}.build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    deps = "".join(a.pom_dependency() for a in artifacts)
    (work / "pom.xml").write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>io.callstream.runtime</groupId><artifactId>runtime</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{deps}</dependencies></project>"
    )
    log = work / "mvn.log"
    libs = work / "lib"
    with log.open("w") as handle:
        result = subprocess.run(
            [mvn, "-B", "-q", "dependency:copy-dependencies", f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
            cwd=work, stdout=handle, stderr=subprocess.STDOUT, check=False,
        )
    if result.returncode != 0 or not any(libs.glob("*.jar")):
        raise LocalKafkaError(
            f"Maven could not resolve {name} (exit {result.returncode})",
            f"read {log}; Maven Central must be reachable",
        )
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.move(str(libs), target / "lib")
    marker.write_text(wanted)
    shutil.rmtree(work, ignore_errors=True)
    return target
