"""Removing static members from a consumer group (KIP-345), through Kafka's own admin client.

A static member (``group.instance.id``, which every callstream worker sets so that a
restart gets its partitions back at once) sends no LeaveGroup when it stops: the group
keeps its partitions for it until its session times out (45 s by default), and they are
processed by nobody meanwhile. That is right for a restart and wrong for an instance that
leaves for good, such as one removed when a surge has passed. Kafka's admin API removes
such a member at once (``Admin.removeMembersFromConsumerGroup``); librdkafka does not offer
it, so a small Java program (``java/RemoveStaticMembers.java``, compiled once into the cache
against the kafka-clients jar the local broker already uses) does. The client settings,
passwords included, go to it on stdin, never in argv.
"""

from __future__ import annotations

import hashlib
import json
import select
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from callstream.errors import CallstreamError, KafkaOperationError, LocalKafkaError
from callstream.local import maven
from callstream.local.broker import kafka_libs
from callstream.local.credentials import java_properties

PROGRAM = Path(__file__).parent / "java" / "RemoveStaticMembers.java"


@dataclass(frozen=True)
class MemberRemoval:
    group: str
    removed: list[str] = field(default_factory=list)
    #: not a member (any more): its session had already ended, or it never joined
    not_found: list[str] = field(default_factory=list)


class StaticMemberRemover:
    """A running ``RemoveStaticMembers`` with a connected admin client: started once (a JVM
    start costs seconds on a busy machine, more than the hand-over it serves), then each
    removal is one round trip. ``close`` (or the context manager) stops it."""

    def __init__(self, conf: dict[str, str], timeout_s: float = 60.0) -> None:
        self.conf, self.timeout_s = dict(conf), timeout_s
        self._tool: subprocess.Popen[str] | None = None
        self._errors: IO[bytes] | None = None

    def _started(self) -> subprocess.Popen[str]:
        if self._tool is not None and self._tool.poll() is None:
            return self._tool
        argv = [maven.java_executable(), "-cp", f"{compiled_program()}:{kafka_libs()}/*", PROGRAM.stem]
        self._errors = tempfile.TemporaryFile()  # a file, not a pipe: nobody reads it until something fails
        tool = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors, text=True)
        self._tool = tool
        self._send("".join(f"{k}={v}\n" for k, v in java_properties(self.conf).items()) + "--\n")
        self._answer("connecting the admin client")
        return tool

    def start(self) -> None:
        """Start the tool and connect now rather than at the first removal."""
        self._started()

    def remove(self, group: str, stop: Callable[[], list[str]]) -> MemberRemoval:
        """Call ``stop`` (which stops members of ``group`` and returns their
        ``group.instance.id``s), then remove those members so that their partitions are
        reassigned now. (A member removed while still running would rejoin.)"""
        try:
            self._started()
        except CallstreamError:
            stop()  # asked to stop, they stop: only the hand-over is lost (the session timeout applies)
            raise
        instance_ids = stop()
        if not instance_ids:
            return MemberRemoval(group)
        self._send("\t".join([group, *instance_ids]) + "\n")
        answer = self._answer(f"removing {', '.join(instance_ids)} from group {group}")
        if answer.get("error"):
            raise KafkaOperationError(f"removing {', '.join(instance_ids)} from group {group} failed: {answer['error']}",
                                      "the principal needs READ on the group; their partitions move when their "
                                      "session times out")
        return MemberRemoval(group, list(answer["removed"]), list(answer["not_found"]))

    def _send(self, text: str) -> None:
        tool = self._tool
        if tool is None or tool.stdin is None:
            raise RuntimeError("the member-removal tool is not running")
        tool.stdin.write(text)
        tool.stdin.flush()

    def _answer(self, doing: str) -> dict[str, Any]:
        tool = self._tool
        if tool is None or tool.stdout is None:
            raise RuntimeError("the member-removal tool is not running")
        ready, _, _ = select.select([tool.stdout], [], [], self.timeout_s)
        line = tool.stdout.readline() if ready else ""
        if not line:
            exited = tool.poll() is not None
            said = self._said()
            self.close()
            raise KafkaOperationError(f"{doing}: the admin tool " + ("exited" if exited else
                                      f"gave no answer within {self.timeout_s:.0f} s") + (f": {said}" if said else ""),
                                      "is the cluster reachable? stopped members' partitions move when their "
                                      "session times out")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _said(self) -> str:
        """The end of what the tool wrote to stderr (why it failed)."""
        if self._errors is None:
            return ""
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace").strip()[-400:]

    def close(self) -> None:
        tool, self._tool = self._tool, None
        if self._errors is not None:
            self._errors.close()
            self._errors = None
        if tool is None:
            return
        if tool.poll() is None:
            try:
                tool.communicate("\n", timeout=10)  # an empty request line ends it
            except (subprocess.TimeoutExpired, OSError, ValueError):
                tool.kill()
                tool.communicate()

    def __enter__(self) -> StaticMemberRemover:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def compiled_program() -> Path:
    """The directory holding ``PROGRAM`` compiled (once per version of its source): a JVM
    then starts in a fraction of the time the source launcher needs to compile it."""
    digest = hashlib.sha256(PROGRAM.read_bytes()).hexdigest()[:16]
    target = maven.cache_root() / "tools" / f"{PROGRAM.stem}-{digest}"
    if (target / f"{PROGRAM.stem}.class").exists():
        return target
    javac = shutil.which("javac")
    if javac is None:
        raise LocalKafkaError("javac was not found (callstream compiles a small Kafka admin helper once)",
                              "install a JDK: apt-get install openjdk-17-jdk-headless (scripts/setup-system.sh does)")
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{PROGRAM.stem}-", dir=target.parent))
    done = subprocess.run([javac, "-cp", f"{kafka_libs()}/*", "-d", str(building), str(PROGRAM)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise LocalKafkaError(f"compiling {PROGRAM.name} failed: {done.stderr.strip()[-500:]}", "check the JDK (17+)")
    try:
        building.rename(target)
    except OSError:  # another process compiled it first
        shutil.rmtree(building, ignore_errors=True)
    return target
