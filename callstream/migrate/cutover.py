"""The cutover: a staged state machine that moves a live platform to another cluster.

Every stage checks before it acts, and a failed check before the clients move undoes the
fences and restarts the clients it stopped, so the leaving cluster keeps serving:

1. replication caught up (within ``max_lag`` records), and the joining cluster's groups
   list no members (an earlier switch's static members stay listed until their session
   ends, and a group's positions can only be set while it is empty);
2. the producers the caller controls quiesced, then the ingest producers fenced on the
   leaving cluster (DENY WRITE, ``callstream.migrate.fence``);
3. optionally, processors drained (their groups have read everything), bounded by
   ``drain_timeout_s``; callstream's own processors commit what they processed when they
   stop, so they need no drain;
4. the leaving cluster's clients stopped (callstream's components stop themselves; the
   check is that every group is empty, or that its positions stand still);
5. every writer fenced, processors included;
6. the leaving cluster's end offsets stable for ``stable_s`` (else something still writes):
   the window of step 4 when nothing was written in it and nothing since the fence, a
   window of its own after the fence otherwise;
7. the last records replicated (an exact count of records past the replicator's position);
8. every group's position, and the archive's, translated exactly onto the joining cluster;
9. replication back armed (loop-guarded by origin), so a rollback stays exact;
10. clients started on the joining cluster (whose fences from an earlier switch were lifted
    after step 1, so its clients can get ready in the meantime);
11. verified: receipts of every migrated catalog partition equal on both sides, over the
    ranges the leaving cluster held when writes stopped (new traffic may flow meanwhile).

A rollback is the same machine with the clusters swapped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from confluent_kafka import KafkaException

from callstream.contract.catalog import Catalog
from callstream.errors import MigrationError
from callstream.governance.acls import STREAM_PROCESSORS, principal_for
from callstream.migrate.fence import fence, unfence
from callstream.migrate.links import Link
from callstream.migrate.plan import STATE_PREFIXES, group_positions, producer_principals
from callstream.migrate.positions import apply_positions, translate_archive, translate_positions
from callstream.migrate.receipts import Comparison, compare, watermarks
from callstream.migrate.replicator import Replicator, committed_positions, unreplicated
from callstream.migrate.scan import CONSUME_WAIT_S
from callstream.observe.lag import OffsetReader


class Clients(Protocol):
    """Who stops and starts the platform's clients on a cluster."""

    def prepare(self, cluster: Link) -> str | None:
        """Ready the clients to start on ``cluster`` while writes still flow (a warm standby,
        started and checked but not consuming), so their start-up is not paid inside the
        write pause; what was readied, or ``None`` when there is nothing to ready. ``start``
        releases them; a refused switch's ``start`` on the leaving cluster discards them."""

    def quiesce(self, cluster: Link) -> None:
        """Producers this side controls stop writing (before the fence refuses them)."""

    def stop(self, cluster: Link) -> None: ...

    def start(self, cluster: Link) -> None: ...


class Replication(Protocol):
    """Who runs the long-lived replicator of a direction (a thread, a background process)."""

    def stop(self, source: Link, target: Link) -> None: ...

    def start(self, source: Link, target: Link) -> None: ...


#: how long consumers the operator stops may take to read what is left before they are asked to
#: stop (those that commit only now and then would read it again on the joining cluster)
DRAIN_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SwitchOptions:
    max_lag: int = 50_000
    stable_s: float = 3.0
    drain_timeout_s: float = DRAIN_TIMEOUT_S
    clients_timeout_s: float = 120.0
    catch_up_timeout_s: float = 300.0
    #: the leaving cluster cannot fence (no authorizer): the operator stopped its producers
    producers_stopped: bool = False


@dataclass(frozen=True)
class Stage:
    name: str
    seconds: float
    detail: str


@dataclass
class SwitchReport:
    leaving: str
    joining: str
    stages: list[Stage] = field(default_factory=list)
    positions: dict[str, dict[str, int]] = field(default_factory=dict)
    archive: dict[str, dict[int, int]] = field(default_factory=dict)
    receipts: list[Comparison] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    #: from fencing the ingest producers to clients started on the joining cluster
    write_pause_s: float = 0.0

    @property
    def verified(self) -> bool:
        return bool(self.receipts) and all(c.equal for c in self.receipts)

    def to_json(self) -> dict:
        return {"leaving": self.leaving, "joining": self.joining, "verified": self.verified,
                "write_pause_s": round(self.write_pause_s, 2),
                "stages": [asdict(s) for s in self.stages], "positions": self.positions,
                "archive": {t: {str(p): o for p, o in v.items()} for t, v in self.archive.items()},
                "receipts": [c.to_json() for c in self.receipts]}


@dataclass
class Platform:
    """What the switch moves: topic names and the principals by role."""

    topics: list[str]
    #: the data topics (receipts compare them; state topics are compacted independently)
    catalog_topics: list[str]
    ingest_principals: list[str]
    processor_principals: list[str]
    archive: object | None = None


def platform_of(topics: list[str], catalog: Catalog, principals: dict[str, str] | None = None,
                archive: object | None = None) -> Platform:
    """The platform that ``topics`` carry: its data topics (everything but the processors'
    state topics) and its principals by role, named as on the leaving cluster."""
    processors = sorted(principal_for(p, principals) for p in STREAM_PROCESSORS)
    return Platform(topics=topics, catalog_topics=[t for t in topics if not t.startswith(STATE_PREFIXES)],
                    ingest_principals=[p for p in producer_principals(catalog, principals) if p not in processors],
                    processor_principals=processors, archive=archive)


def _partitions(link: Link, topics: list[str]) -> list[tuple[str, int]]:
    metadata = link.admin().list_topics(timeout=10)
    return [(t, p) for t in topics if t in metadata.topics for p in sorted(metadata.topics[t].partitions)]


def _members(link: Link, groups: list[str]) -> dict[str, int]:
    """The groups among ``groups`` that list members, with how many; a group that could not
    be described counts as listing some (-1): only a group seen empty is taken for empty."""
    with OffsetReader(link.config) as reader:
        states = reader.group_states(groups)
    return {g: states[g][1] if g in states else -1 for g in groups if g not in states or states[g][1]}


def switch(leaving: Link, joining: Link, platform: Platform, clients: Clients, replication: Replication,
           options: SwitchOptions = SwitchOptions(), log: Callable[[str], None] = lambda _: None) -> SwitchReport:
    """Move the platform from ``leaving`` to ``joining`` (a cutover, or a rollback)."""
    report = SwitchReport(leaving.name, joining.name)
    partitions = _partitions(leaving, platform.topics)
    clock = time.monotonic()

    def stage(name: str, detail: str) -> None:
        nonlocal clock
        now = time.monotonic()
        report.stages.append(Stage(name, round(now - clock, 3), detail))
        log(f"{name}: {detail} ({now - clock:.1f} s)")
        clock = now

    ends = watermarks(leaving, partitions)
    positions = committed_positions(leaving, joining, partitions)
    behind = {tp: max(0, ends[tp][1] - positions[tp]) for tp in partitions}
    lag = sum(behind.values())
    if lag > options.max_lag:
        worst = max(behind, key=lambda tp: behind[tp])
        raise MigrationError(
            f"replication from '{leaving.name}' to '{joining.name}' is {lag} records behind "
            f"(most on {worst[0]}/{worst[1]}: {behind[worst]}); the switch needs at most {options.max_lag}",
            "keep `callstream migrate start` running until `callstream migrate status` shows it caught up")
    stage("caught-up", f"{lag} records behind")
    groups = sorted(group_positions(leaving.config, set(platform.topics)))
    listed = wait_groups_empty(joining, groups, options.clients_timeout_s, waiting=lambda listed: log(
        f"waiting up to {options.clients_timeout_s:.0f} s for {len(listed)} groups to list no members on "
        f"'{joining.name}' (an earlier switch's static members leave when their session ends) ..."))
    if listed:
        names = ", ".join(f"{g} ({n})" for g, n in sorted(listed.items())[:3])
        raise MigrationError(
            f"{len(listed)} groups still list members on '{joining.name}' after {options.clients_timeout_s:.0f} s "
            f"({names}): their positions cannot be set there while they do",
            f"stop the consumers of those groups on '{joining.name}', then retry")
    stage("joining-empty", f"{len(groups)} groups list no members on '{joining.name}'")
    # a rollback left the joining cluster fenced; its clients may get ready (a warm standby)
    # while this switch runs, and its only writer until they start is the replicator
    lifted = unfence(joining, platform.ingest_principals + platform.processor_principals, platform.topics)
    if lifted:
        stage("joining-open", f"{lifted} fences of an earlier switch lifted on '{joining.name}'")
    readied = clients.prepare(joining)
    if readied:
        stage("clients-prepared", readied)

    fenced: list[tuple[list[str], list[str]]] = []
    clients_stopped = replication_stopped = False

    def undo(reason: str, hint: str) -> MigrationError:
        for principals, topics in fenced:
            unfence(leaving, principals, topics)
        if replication_stopped:
            replication.start(leaving, joining)
        if clients_stopped:
            clients.start(leaving)
        return MigrationError(f"switch from '{leaving.name}' to '{joining.name}' refused: {reason} "
                              f"(fences lifted, '{leaving.name}' keeps serving)", hint)

    paused_at = time.monotonic()
    clients.quiesce(leaving)
    if not options.producers_stopped:
        ingest = [p for p in platform.ingest_principals if p not in platform.processor_principals]
        fence(leaving, ingest, platform.catalog_topics)
        fenced.append((ingest, platform.catalog_topics))
        stage("ingest-fenced", f"{len(ingest)} principals denied WRITE on '{leaving.name}'")
        if options.drain_timeout_s > 0:
            stage("processors-drained", drain(leaving, platform.catalog_topics, options.drain_timeout_s)[1])

    clients.stop(leaving)
    clients_stopped = True
    asked_s = time.monotonic() - clock
    stopped = wait_clients_stopped(leaving, platform, options, partitions)
    if stopped is None:
        raise undo(f"clients still consume from '{leaving.name}' (their groups' positions kept moving for "
                   f"{options.clients_timeout_s:.0f} s)", "stop them (their positions move with the switch), then retry")
    stage("clients-stopped", f"{stopped.detail} (asking them to stop took {asked_s:.1f} s)")

    if not options.producers_stopped:
        fence(leaving, platform.processor_principals, platform.topics)
        fenced.append((platform.processor_principals, platform.topics))
        stage("writers-fenced", f"{len(platform.processor_principals)} processor principals denied WRITE")
    if stopped.still_ends is not None:  # nothing written while the clients stood still: that window stands
        before, window = stopped.still_ends, f"{options.stable_s:.0f} s with the groups' positions, and since the fence"
    else:
        before, window = watermarks(leaving, partitions), f"{options.stable_s:.0f} s"
        time.sleep(options.stable_s)
    after = watermarks(leaving, partitions)
    grown = {tp: after[tp][1] - before[tp][1] for tp in partitions if after[tp][1] != before[tp][1]}
    if grown:
        tp = next(iter(grown))
        raise undo(f"'{leaving.name}' still accepts writes ({tp[0]}/{tp[1]} grew by {grown[tp]} in {window})",
                   "a producer outside the catalog's principals writes; stop it, or fence it, then retry")
    stage("source-stable", f"end offsets unchanged for {window}")

    replication.stop(leaving, joining)
    replication_stopped = True
    stopped_at = time.monotonic()
    replicator = Replicator(leaving, joining, platform.topics)
    stopped_s, opened_s = stopped_at - clock, time.monotonic() - stopped_at
    try:
        deadline = time.monotonic() + options.catch_up_timeout_s
        # the source is still and every writer fenced: a step that finds nothing need not
        # wait for more, the check after it says whether anything is left
        while replicator.step(CONSUME_WAIT_S) or any(unreplicated(leaving, replicator.positions).values()):
            if time.monotonic() > deadline:
                raise undo(f"the last records did not replicate within {options.catch_up_timeout_s:.0f} s",
                           "check the joining cluster's health; `callstream migrate status` shows the lag")
        stage("replicated", f"{replicator.stats.copied} last records copied; nothing left on '{leaving.name}' "
                            f"(the running replicator stopped in {stopped_s:.1f} s, a fresh one opened in {opened_s:.1f} s: "
                            + ", ".join(f"{part} {s:.2f} s" for part, s in replicator.opening_s.items()) + ")")
    finally:
        replicator.close()
    # the replicator's map: what it read from the target at start plus what it just copied
    offset_map = replicator.offset_map
    # what the leaving cluster holds now is what the receipts compare, after clients moved
    catalog_partitions = _partitions(leaving, platform.catalog_topics)
    frozen = watermarks(leaving, catalog_partitions)

    translating = time.monotonic()
    try:
        report.positions = translate_positions(group_positions(leaving.config, set(platform.topics)), offset_map, joining)
        apply_positions(joining, report.positions)
        groups_s, archive_at = time.monotonic() - translating, time.monotonic()
        if platform.archive is not None:
            report.archive = translate_archive(platform.archive, offset_map, joining)
    except (MigrationError, KafkaException) as exc:
        raise undo(f"the positions could not be moved to '{joining.name}': {exc}",
                   "read the reason; nothing moved, so the switch can be run again") from exc
    stage("positions-translated", f"{len(report.positions)} groups in {groups_s:.1f} s, {len(report.archive)} archive "
                                  f"tables in {time.monotonic() - archive_at:.1f} s")

    replication.start(joining, leaving)
    stage("reverse-armed", f"'{joining.name}' -> '{leaving.name}' replicating (loop-guarded)")

    report.write_pause_s = time.monotonic() - paused_at  # writes may go to the joining cluster from here
    clients.start(joining)
    stage("clients-started", f"clients on '{joining.name}'")

    report.receipts = compare(leaving, joining, offset_map, catalog_partitions, frozen)
    differing = [c for c in report.receipts if not c.equal]
    stage("verified" if not differing else "verify-FAILED",
          f"{len(report.receipts) - len(differing)}/{len(report.receipts)} partitions equal")
    return report


def _min_positions(leaving: Link, topics: list[str], only: set[str] | None = None,
                   ) -> tuple[dict[str, dict[str, int]], dict[tuple[str, int], int]]:
    """Every group's positions (or those of ``only``), and per partition the lowest of them
    (the slowest reader's)."""
    positions = group_positions(leaving.config, set(topics))
    if only is not None:
        positions = {g: p for g, p in positions.items() if g in only}
    lowest: dict[tuple[str, int], int] = {}
    for group_positions_ in positions.values():
        for key, offset in group_positions_.items():
            topic, _, partition = key.rpartition("/")
            tp = (topic, int(partition))
            lowest[tp] = min(offset, lowest.get(tp, offset))
    return positions, lowest


def drain(link: Link, topics: list[str], timeout_s: float, poll_s: float = 0.5) -> tuple[bool, str]:
    """Wait until every group with members has read every committed record of ``topics``
    (one probe from the slowest reader's position of each partition; an idle group cannot
    drain): whether they did, and what was seen."""
    deadline = time.monotonic() + timeout_s
    consuming = set(_members(link, sorted(group_positions(link.config, set(topics)))))
    while True:
        positions, lowest = _min_positions(link, topics, consuming)
        pending = sum(unreplicated(link, lowest).values()) if lowest else 0
        if pending == 0:
            return True, f"{len(positions)} groups have read everything"
        if time.monotonic() > deadline:
            return False, f"{pending} records unread after {timeout_s:.0f} s (they move with the groups' positions)"
        time.sleep(poll_s)


@dataclass(frozen=True)
class ClientsStopped:
    """What ``wait_clients_stopped`` saw once the leaving cluster's clients stood still."""

    detail: str
    #: the watermarks of the switch's partitions, when no end offset moved in the last
    #: window either (that window then also shows the source stable); ``None`` if one did
    still_ends: dict[tuple[str, int], tuple[int, int]] | None


def wait_groups_empty(link: Link, groups: list[str], timeout_s: float, *,
                      waiting: Callable[[dict[str, int]], None] = lambda _: None, poll_s: float = 1.0) -> dict[str, int]:
    """Wait until none of ``groups`` lists members on ``link``, at most ``timeout_s``
    (``waiting`` is told what the first look found, if it must wait): the groups that still
    do, with how many (empty when all are)."""
    deadline = time.monotonic() + timeout_s
    listed = _members(link, groups)
    if listed:
        waiting(listed)
    while listed and time.monotonic() < deadline:
        time.sleep(poll_s)
        listed = _members(link, groups)
    return listed


def wait_clients_stopped(leaving: Link, platform: Platform, options: SwitchOptions, partitions: list[tuple[str, int]],
                         ) -> ClientsStopped | None:
    """Wait until every group is empty, or its positions stop moving: a static member
    (``group.instance.id``) that stopped stays listed until its session times out, and
    Kafka's admin API to remove it is not in librdkafka. ``None`` if positions kept moving."""
    deadline = time.monotonic() + options.clients_timeout_s
    previous, _ = _min_positions(leaving, platform.topics)
    previous_ends = watermarks(leaving, partitions)
    while True:
        time.sleep(options.stable_s)
        current, _ = _min_positions(leaving, platform.topics)
        ends = watermarks(leaving, partitions)
        still = ends if all(ends[tp][1] == previous_ends[tp][1] for tp in partitions) else None
        listed = _members(leaving, sorted(current))
        if not listed:
            return ClientsStopped(f"{len(current)} groups empty on '{leaving.name}'", still)
        if current == previous:
            names = ", ".join(f"{g} ({n})" for g, n in sorted(listed.items())[:3])
            return ClientsStopped(
                f"{len(current)} groups stopped on '{leaving.name}': positions unchanged for {options.stable_s:.0f} s; "
                f"{len(listed)} still list members until their session times out ({names})", still)
        if time.monotonic() > deadline:
            return None
        previous, previous_ends = current, ends
