"""Removing static members from a consumer group (KIP-345), through Kafka's own admin client.

A static member (``group.instance.id``, which every callstream worker sets so that a
restart gets its partitions back at once) sends no LeaveGroup when it stops: the group
keeps its partitions for it until its session times out (45 s by default), and they are
processed by nobody meanwhile. That is right for a restart and wrong for an instance that
leaves for good, such as one removed when a surge has passed. Kafka's admin API removes
such a member at once (``Admin.removeMembersFromConsumerGroup``); librdkafka does not offer
it, so a small Java program (``java/RemoveStaticMembers.java``, run by the JDK's source
launcher against the kafka-clients jar the local broker already uses) does. The client
settings, passwords included, go to it on stdin, never in argv.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from callstream.errors import KafkaOperationError
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


def remove_static_members(conf: dict[str, str], group: str, instance_ids: list[str],
                          timeout_s: float = 60.0) -> MemberRemoval:
    """Remove the members with these ``group.instance.id``s from ``group`` so that their
    partitions are reassigned now; stop their processes first, or they rejoin."""
    if not instance_ids:
        return MemberRemoval(group)
    properties = "".join(f"{k}={v}\n" for k, v in java_properties(conf).items())
    argv = [maven.java_executable(), "-cp", f"{kafka_libs()}/*", str(PROGRAM), group, *instance_ids]
    try:
        done = subprocess.run(argv, input=properties, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise KafkaOperationError(f"removing {', '.join(instance_ids)} from group {group} took over {timeout_s:.0f} s",
                                  "is the cluster reachable? their partitions move when their session times out") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise KafkaOperationError(f"removing {', '.join(instance_ids)} from group {group} failed: "
                                  f"{(done.stderr.strip() or done.stdout.strip())[-500:]}",
                                  "the principal needs DESCRIBE and READ on the group; "
                                  "their partitions move when their session times out")
    answer = json.loads(lines[-1])
    return MemberRemoval(group, list(answer["removed"]), list(answer["not_found"]))
