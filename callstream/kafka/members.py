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
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from callstream.errors import KafkaOperationError, LocalKafkaError
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


def remove_static_members(conf: dict[str, str], group: str, stop: Callable[[], list[str]],
                          timeout_s: float = 60.0) -> MemberRemoval:
    """Call ``stop`` (which stops members of ``group`` and returns their
    ``group.instance.id``s), then remove those members from the group so that their
    partitions are reassigned now. The admin client starts and connects while ``stop``
    runs: a member removed while still running would rejoin."""
    properties = "".join(f"{k}={v}\n" for k, v in java_properties(conf).items())
    argv = [maven.java_executable(), "-cp", f"{compiled_program()}:{kafka_libs()}/*", PROGRAM.stem, group]
    tool = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if tool.stdin is None:
            raise RuntimeError("the member-removal tool has no stdin")
        tool.stdin.write(properties + "--\n")
        tool.stdin.flush()
        instance_ids = stop()
        out, err = tool.communicate("".join(f"{i}\n" for i in instance_ids) + "\n", timeout=timeout_s)
    except subprocess.TimeoutExpired:
        tool.kill()
        tool.communicate()
        raise KafkaOperationError(f"removing members from group {group} took over {timeout_s:.0f} s",
                                  "is the cluster reachable? their partitions move when their session times out") from None
    except BaseException:
        tool.kill()
        tool.communicate()
        raise
    lines = out.strip().splitlines()
    if tool.returncode != 0 or not lines:
        raise KafkaOperationError(f"removing {', '.join(instance_ids) or 'members'} from group {group} failed: "
                                  f"{(err.strip() or out.strip())[-500:]}",
                                  "the principal needs READ on the group; "
                                  "their partitions move when their session times out")
    answer = json.loads(lines[-1])
    return MemberRemoval(group, list(answer["removed"]), list(answer["not_found"]))


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
