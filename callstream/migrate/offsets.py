"""The exact offset map of one replication direction.

Every record the replicator copies from source offset ``s`` lands at target offset ``d``;
a record it skips because it came from the target in the first place (the loop guard)
already sits at the target offset its origin header names. The map keeps those pairs as
runs (``src``, ``dst``, ``length``: both sides advance by one per record), which is how
they arrive: a run breaks only where the source has a transaction marker or a gap.

The map travels in the target's ``callstream.migration.offsets`` topic, written in the
same transaction as the records it describes, so it is exact by construction: a pair is
visible exactly when its record is. Keys are ``<source cluster id>/<topic>/<partition>``.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

MAP_TOPIC = "callstream.migration.offsets"
#: header on every replicated record: ``<source cluster id>:<source offset>``
ORIGIN_HEADER = "callstream-origin"


@dataclass(frozen=True)
class Run:
    """Source offsets ``src .. src+length-1`` sit at target offsets ``dst .. dst+length-1``."""

    src: int
    dst: int
    length: int

    @property
    def src_end(self) -> int:
        return self.src + self.length


@dataclass
class PartitionMap:
    """The runs of one topic partition, in source order."""

    runs: list[Run] = field(default_factory=list)
    #: ``src_end - 1`` of every run, for bisecting
    _lasts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._lasts = [r.src_end - 1 for r in self.runs]

    def _append(self, run: Run) -> None:
        self.runs.append(run)
        self._lasts.append(run.src_end - 1)

    def add(self, src: int, dst: int) -> None:
        if self.runs:
            last = self.runs[-1]
            if src < last.src_end:
                raise ValueError(f"source offset {src} mapped twice (the map already reaches {last.src_end - 1})")
            if src == last.src_end and dst == last.dst + last.length:
                self.runs[-1] = Run(last.src, last.dst, last.length + 1)
                self._lasts[-1] = src
                return
        self._append(Run(src, dst, 1))

    def extend(self, runs: Iterable[Run]) -> None:
        for run in runs:
            if self.runs and run.src < self.runs[-1].src_end:
                continue  # already known (a map record read twice)
            self._append(run)

    @property
    def mapped_to(self) -> int:
        """The source offset after the last mapped record (0 for an empty map)."""
        return self.runs[-1].src_end if self.runs else 0

    def translate(self, position: int, target_start: int = 0) -> int:
        """The target position of source position ``position`` (the next offset to read).

        Inside a run it is exact; in a gap (a transaction marker) it is the next mapped
        record's; past the last mapped record it is just after that record's copy, so a
        consumer reads whatever the target holds beyond. An empty map gives ``target_start``.
        """
        index = bisect.bisect_left(self._lasts, position)
        if index < len(self.runs):
            run = self.runs[index]
            return run.dst + max(0, position - run.src)
        if not self.runs:
            return target_start
        last = self.runs[-1]
        return last.dst + last.length

    def covers(self, offset: int) -> bool:
        """Whether the source record at ``offset`` (or a later one) is mapped."""
        return offset < self.mapped_to


@dataclass
class OffsetMap:
    """The map of one direction (source cluster -> target cluster), per topic partition."""

    source_id: str
    partitions: dict[tuple[str, int], PartitionMap] = field(default_factory=dict)

    def of(self, topic: str, partition: int) -> PartitionMap:
        return self.partitions.setdefault((topic, partition), PartitionMap())

    def translate(self, topic: str, partition: int, position: int, target_start: int = 0) -> int:
        return self.of(topic, partition).translate(position, target_start)

    def record_key(self, topic: str, partition: int) -> bytes:
        return f"{self.source_id}/{topic}/{partition}".encode()

    def absorb(self, key: bytes, value: bytes) -> bool:
        """Add the runs of one map record; ``False`` if it belongs to another direction."""
        source_id, _, rest = key.decode().partition("/")
        if source_id != self.source_id:
            return False
        topic, _, partition = rest.rpartition("/")
        self.of(topic, int(partition)).extend(Run(*r) for r in json.loads(value)["runs"])
        return True


def encode_runs(runs: list[Run]) -> bytes:
    return json.dumps({"runs": [[r.src, r.dst, r.length] for r in runs]}, separators=(",", ":")).encode()


def runs_of(pairs: Iterable[tuple[int, int]]) -> list[Run]:
    """Compress ``(src, dst)`` pairs (in source order) into runs."""
    partition = PartitionMap()
    for src, dst in pairs:
        partition.add(src, dst)
    return partition.runs


def origin_of(headers: list[tuple[str, bytes]] | None) -> tuple[str, int] | None:
    """``(cluster id, offset)`` of a replicated record's origin header, or ``None``."""
    for name, value in headers or ():
        if name == ORIGIN_HEADER and value:
            cluster, _, offset = value.decode().rpartition(":")
            return cluster, int(offset)
    return None
