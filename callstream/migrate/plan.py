"""What a migration moves and whether the target can take it.

``make_plan`` reads both clusters and lists, in the order they move: the catalog's topics
and the processors' state topics (partitions and the configs set on them), the consumer
groups with their positions, the ACL principals that will be fenced, and the problems that
make the migration impossible as configured (fewer partitions on the target, a topic that
exists with other partitions, a cluster callstream cannot administer). ``prepare_target``
creates what is missing on the target, the offset map's topic included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from callstream.contract.catalog import Catalog
from callstream.errors import MigrationError
from callstream.governance.acls import principal_for
from callstream.kafka.topics import broker_count
from callstream.migrate.links import Link
from callstream.migrate.offsets import MAP_TOPIC
from callstream.observe.lag import OffsetReader

#: Quix's internal topics of callstream's processors (see ``callstream.governance.acls``)
STATE_PREFIXES = ("changelog__callstream-", "repartition__callstream-")
#: groups that belong to the migration itself
MIGRATION_GROUP_PREFIX = "callstream-migrate"


@dataclass(frozen=True)
class TopicMove:
    name: str
    partitions: int
    configs: dict[str, str]
    #: "create" on the target, or "exists" with the same partition count
    action: str


@dataclass
class MigrationPlan:
    source: str
    target: str
    source_cluster: str
    target_cluster: str
    topics: list[TopicMove] = field(default_factory=list)
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    fenced_principals: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)

    def refuse_if_impossible(self) -> None:
        if self.problems:
            raise MigrationError(f"the migration from '{self.source}' to '{self.target}' cannot start: "
                                 + "; ".join(self.problems), "fix each problem, then run `callstream migrate plan` again")


def _call(what: str, future: object, timeout_s: float = 30.0) -> object:
    try:
        return future.result(timeout=timeout_s)  # type: ignore[attr-defined]
    except Exception as exc:  # KafkaException carries the broker's error
        raise MigrationError(f"{what} failed: {exc}", "check that the migrator connects as a user that may do it") from None


def migrated_topics(admin: AdminClient, catalog: Catalog, only: list[str] | None = None) -> dict[str, int]:
    """The topics of the platform that exist on ``admin``'s cluster (the catalog's and the
    processors' state topics, or exactly ``only``), with their partition counts."""
    metadata = admin.list_topics(timeout=10)
    if only:
        missing = sorted(set(only) - set(metadata.topics))
        if missing:
            raise MigrationError(f"topic(s) {', '.join(missing)} do not exist on the source", "name existing topics")
        return {name: len(metadata.topics[name].partitions) for name in sorted(only)}
    wanted = {t.name for t in catalog.topics}
    return {name: len(info.partitions) for name, info in sorted(metadata.topics.items())
            if name in wanted or name.startswith(STATE_PREFIXES)}


def topic_configs(admin: AdminClient, topics: list[str]) -> dict[str, dict[str, str]]:
    """The configs set on each topic (not the broker's defaults)."""
    if not topics:
        return {}
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics])
    configs = {}
    for resource, future in futures.items():
        entries = _call(f"reading the configs of {resource.name}", future)
        configs[resource.name] = {name: entry.value for name, entry in entries.items()  # type: ignore[attr-defined]
                                  if entry.source == 1 and entry.value is not None}  # DYNAMIC_TOPIC_CONFIG
    return configs


def group_positions(conf: Mapping[str, str], topics: set[str]) -> dict[str, dict[str, int]]:
    """Committed positions ``{group: {"topic/partition": offset}}`` of every group on ``topics``
    (read through consumers, as ``callstream status`` reads them: librdkafka's admin call for
    group offsets can crash while coordinators move)."""
    with OffsetReader(conf) as reader:
        groups = [g for g in reader.groups() if not g.startswith(MIGRATION_GROUP_PREFIX)]
        committed = reader.committed_of_groups(groups, sorted(topics))
    return {g: {f"{t}/{p}": o for (t, p), o in sorted(offsets.items())} for g, offsets in committed.items() if offsets}


def producer_principals(catalog: Catalog, names: dict[str, str] | None = None) -> list[str]:
    """Every principal that writes a catalog topic (the ones a cutover fences)."""
    return sorted({principal_for(p, names) for t in catalog.topics for p in t.producers})


def make_plan(source: Link, target: Link, catalog: Catalog, only: list[str] | None = None) -> MigrationPlan:
    plan = MigrationPlan(source.name, target.name, source.cluster_id, target.cluster_id)
    if source.cluster_id == target.cluster_id:
        plan.problems.append(f"'{source.name}' and '{target.name}' are the same cluster")
        return plan
    source_admin, target_admin = source.admin(), target.admin()
    on_source = migrated_topics(source_admin, catalog, only)
    on_target = {n: len(i.partitions) for n, i in target_admin.list_topics(timeout=10).topics.items()}
    configs = topic_configs(source_admin, list(on_source))
    for name, partitions in on_source.items():
        if name not in on_target:
            action = "create"
        elif on_target[name] != partitions:
            plan.problems.append(f"topic {name} has {on_target[name]} partitions on '{target.name}' and {partitions} on "
                                 f"'{source.name}' (records move partition for partition)")
            action = "conflict"
        else:
            action = "exists"
        plan.topics.append(TopicMove(name, partitions, configs.get(name, {}), action))
    plan.groups = group_positions(source.config, set(on_source))
    plan.fenced_principals = producer_principals(catalog, source.principals)
    return plan


def target_transaction_problems(target: Link) -> list[str]:
    """The replicator, the offset map and the exactly-once processors need the target's
    transactions to behave as Apache Kafka's: `callstream compat`'s transaction probes, run
    on the target (a few seconds), name each behaviour that differs."""
    from callstream.kafka.compat import AT_STAKE, run_probes

    return [f"'{target.name}' fails `callstream compat`'s {p.name} probe ({p.detail}); at stake: {AT_STAKE[p.name]}"
            for p in run_probes(target.config, only={"transactions"}) if p.status != "pass"]


def prepare_target(plan: MigrationPlan, target: Link) -> list[str]:
    """Create the plan's missing topics (and the offset map's) on the target; their names."""
    admin = target.admin()
    replication = min(3, broker_count(admin))
    existing = set(admin.list_topics(timeout=10).topics)
    new = [NewTopic(t.name, num_partitions=t.partitions, replication_factor=replication,
                    config={k: v for k, v in t.configs.items() if k != "min.insync.replicas" or replication > 1})
           for t in plan.topics if t.name not in existing]
    if MAP_TOPIC not in existing:
        new.append(NewTopic(MAP_TOPIC, num_partitions=1, replication_factor=replication,
                            config={"retention.ms": "-1", "cleanup.policy": "delete"}))
    if new:
        for name, future in admin.create_topics(new).items():
            _call(f"creating topic {name} on '{target.name}'", future, 60)
    return [t.topic for t in new]
