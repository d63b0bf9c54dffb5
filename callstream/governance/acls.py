"""Least-privilege Kafka ACLs compiled from the topic catalog.

Every service the catalog names is a principal (``User:<service>``, or whatever the
``principals`` mapping of the settings says for a user's own cluster) and gets exactly:

* WRITE and DESCRIBE on the topics it produces (and DESCRIBE_CONFIGS for a stream
  processor: Quix validates the configs of every topic it uses);
* READ, DESCRIBE and DESCRIBE_CONFIGS on the topics it consumes (Quix reads a source
  topic's configs before it builds the topic's state);
* READ and DESCRIBE on its consumer groups (``callstream-<service>``, PREFIXED: a
  rehearsal's or a test's groups carry a suffix);
* for the stream processors: all they need on the internal topics Quix creates for state
  and repartitioning (``changelog__callstream-<service>`` and ``repartition__...``,
  PREFIXED), and, for the exactly-once ones, WRITE and DESCRIBE on their transactional ids
  (``callstream-<service>``, PREFIXED: ``build_application`` sets a stable id per group
  and instance, so a restarted instance fences its zombie);
* the Kafka Connect worker (``connect``) also owns its state topics (``callstream-connect.``,
  PREFIXED), which it creates;
* the observer behind the dashboard also DESCRIBEs every topic, every callstream group and
  the cluster (lag and health need offsets and metadata, never data).

Nothing broader: no wildcard resource, no ALL operation. ``plan`` diffs these grants with
the cluster's ACLs of the same principals; bindings of other principals are foreign and
left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from callstream.contract.catalog import Catalog
from callstream.errors import KafkaOperationError
from callstream.local.credentials import Credentials, ensure_scram_users

log = logging.getLogger(__name__)

Resource = Literal["topic", "group", "transactional_id", "cluster"]
Pattern = Literal["literal", "prefixed"]

#: the stream processors (Quix applications): they own internal topics
STREAM_PROCESSORS = ("redactor", "sentiment", "assist", "escalation", "fraud", "churn", "routing", "quality", "analytics",
                     "signals", "frontline")
#: the processors whose guarantee is exactly-once: only they write with a transactional id
#: (a test holds this to the processors' own ``guarantee``; importing them here would load Quix)
EXACTLY_ONCE = ("quality", "analytics")
#: the catalog service the observer (status, the dashboard) runs as
OBSERVER = "dashboard"
#: the Kafka Connect worker's service and the prefix of its config, offset and status topics
CONNECT_SERVICE = "connect"
CONNECT_TOPIC_PREFIX = "callstream-connect."
GROUP_PREFIX = "callstream-"
_CLUSTER_NAME = "kafka-cluster"

_RESOURCE_TYPES: dict[Resource, ResourceType] = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP,
                   "transactional_id": ResourceType.TRANSACTIONAL_ID, "cluster": ResourceType.BROKER}
_PATTERNS: dict[Pattern, ResourcePatternType] = {"literal": ResourcePatternType.LITERAL,
                                                 "prefixed": ResourcePatternType.PREFIXED}
_RESOURCE_OF: dict[ResourceType, Resource] = {v: k for k, v in _RESOURCE_TYPES.items()}
_PATTERN_OF: dict[ResourcePatternType, Pattern] = {v: k for k, v in _PATTERNS.items()}


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW binding: ``principal`` may ``operation`` on a resource."""

    principal: str
    resource: Resource
    name: str
    pattern: Pattern
    operation: str

    def binding(self) -> AclBinding:
        return AclBinding(_RESOURCE_TYPES[self.resource], self.name, _PATTERNS[self.pattern], self.principal, "*",
                          AclOperation[self.operation], AclPermissionType.ALLOW)

    @classmethod
    def of(cls, binding: AclBinding) -> Grant | None:
        """The grant a cluster binding is, or ``None`` for one callstream never writes (a DENY,
        a host other than ``*``, a resource or pattern type it does not use)."""
        resource = _RESOURCE_OF.get(binding.restype)
        pattern = _PATTERN_OF.get(binding.resource_pattern_type)
        if (resource is None or pattern is None or binding.permission_type != AclPermissionType.ALLOW
                or binding.host != "*"):
            return None
        return cls(binding.principal, resource, binding.name, pattern, binding.operation.name)

    def __str__(self) -> str:
        where = f"{self.resource} {self.name}{'*' if self.pattern == 'prefixed' else ''}"
        return f"{self.principal} {self.operation} {where}"


def services(catalog: Catalog) -> list[str]:
    """Every producer and consumer the catalog names, in order of first mention."""
    names = [s for topic in catalog.topics for s in (*topic.producers, *topic.consumers)]
    return list(dict.fromkeys([*names, OBSERVER]))


def principal_for(service: str, mapping: Mapping[str, str] | None = None) -> str:
    """``User:<service>``, unless ``mapping`` names the service's principal: a full one
    (``User:CN=redactor,O=acme`` for mTLS) or a SASL user name."""
    name = (mapping or {}).get(service) or service
    return name if ":" in name else f"User:{name}"


def compile_grants(catalog: Catalog, *, names: Mapping[str, str] | None = None,
                   principals: Mapping[str, str] | None = None) -> set[Grant]:
    """The least-privilege grants of the catalog; ``names`` renames topics (a rehearsal's copies)."""
    actual = {t.name: (names or {}).get(t.name, t.name) for t in catalog.topics}
    grants: set[Grant] = set()

    def allow(service: str, resource: Resource, name: str, pattern: Pattern, *operations: str) -> None:
        grants.update(Grant(principal_for(service, principals), resource, name, pattern, op) for op in operations)

    for topic in catalog.topics:
        for producer in topic.producers:
            allow(producer, "topic", actual[topic.name], "literal", "WRITE", "DESCRIBE")
            if producer in STREAM_PROCESSORS:  # Quix validates the configs of every topic it uses
                allow(producer, "topic", actual[topic.name], "literal", "DESCRIBE_CONFIGS")
        for consumer in topic.consumers:
            allow(consumer, "topic", actual[topic.name], "literal", "READ", "DESCRIBE", "DESCRIBE_CONFIGS")
            allow(consumer, "group", f"{GROUP_PREFIX}{consumer}", "prefixed", "READ", "DESCRIBE")
    for processor in STREAM_PROCESSORS:
        for internal in ("changelog", "repartition"):
            allow(processor, "topic", f"{internal}__{GROUP_PREFIX}{processor}", "prefixed",
                  "CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS")
        if processor in EXACTLY_ONCE:
            allow(processor, "transactional_id", f"{GROUP_PREFIX}{processor}", "prefixed", "WRITE", "DESCRIBE")
    if CONNECT_SERVICE in services(catalog):
        allow(CONNECT_SERVICE, "topic", CONNECT_TOPIC_PREFIX, "prefixed",
              "CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS")
    for topic in catalog.topics:
        allow(OBSERVER, "topic", actual[topic.name], "literal", "DESCRIBE")
    allow(OBSERVER, "group", GROUP_PREFIX, "prefixed", "DESCRIBE")
    allow(OBSERVER, "cluster", _CLUSTER_NAME, "literal", "DESCRIBE")
    return grants


@dataclass(frozen=True)
class AclPlan:
    """What ``apply`` would change: grants to create and callstream's stale bindings to delete."""

    missing: list[Grant]
    stale: list[Grant]
    kept: int
    #: grants of principals the catalog does not name on its topics or callstream's groups:
    #: readers or writers nobody declared. Reported, never changed (they may be a user's own)
    undeclared: list[Grant] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        return not self.missing and not self.stale


def _kafka(what: str, future: object, timeout_s: float = 30.0) -> object:
    try:
        return future.result(timeout=timeout_s)  # type: ignore[attr-defined]
    except Exception as exc:  # KafkaException wraps the broker's error
        error = exc.args[0] if exc.args else exc
        name = error.name() if hasattr(error, "name") else type(exc).__name__
        raise KafkaOperationError(f"{what} failed: {error}",
                                  "ACLs need an authorizer on the cluster and a principal allowed to alter them "
                                  "(the local cluster's admin)", code=name) from None


def cluster_grants(admin: AdminClient) -> set[Grant]:
    """Every ALLOW binding on the cluster that has a shape callstream writes."""
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    bindings = _kafka("describing the cluster's ACLs", admin.describe_acls(everything))
    return {g for g in (Grant.of(b) for b in bindings) if g is not None}  # type: ignore[attr-defined]


def current_grants(admin: AdminClient, principals: Iterable[str]) -> set[Grant]:
    """The cluster's ALLOW bindings of ``principals`` (everything else is not callstream's)."""
    wanted = set(principals)
    return {g for g in cluster_grants(admin) if g.principal in wanted}


def reaches_catalog(grant: Grant, topics: set[str]) -> bool:
    """Whether ``grant`` covers one of ``topics`` or a callstream consumer group."""
    if grant.resource == "topic":
        if grant.pattern == "prefixed":
            return any(topic.startswith(grant.name) for topic in topics)
        return grant.name == "*" or grant.name in topics
    if grant.resource == "group":  # every callstream group starts with GROUP_PREFIX
        return (grant.name == "*" or grant.name.startswith(GROUP_PREFIX)
                or (grant.pattern == "prefixed" and GROUP_PREFIX.startswith(grant.name)))
    return False


def plan(admin: AdminClient, desired: set[Grant], principals: Iterable[str]) -> AclPlan:
    wanted = set(principals)
    found = cluster_grants(admin)
    current = {g for g in found if g.principal in wanted}
    topics = {g.name for g in desired if g.resource == "topic" and g.pattern == "literal"}
    return AclPlan(missing=sorted(desired - current), stale=sorted(current - desired), kept=len(desired & current),
                   undeclared=sorted(g for g in found if g.principal not in wanted and reaches_catalog(g, topics)))


def apply(admin: AdminClient, acl_plan: AclPlan, *, visible_within_s: float = 10.0) -> None:
    """Create the missing grants and delete the stale ones, and return once the cluster shows
    the change.

    In KRaft mode an ACL call returns when the controller has committed the change; each
    broker applies it from the metadata log a moment later, so a describe (or a client's
    request) right after could still see the old ACLs. Waiting here makes ``acls apply``
    followed by ``acls check``, or a grant followed by the client it is for, see the grant.
    """
    if acl_plan.missing:
        futures = admin.create_acls([g.binding() for g in acl_plan.missing])
        for grant, future in zip(acl_plan.missing, futures.values(), strict=True):
            _kafka(f"creating {grant}", future)
    if acl_plan.stale:
        filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                                    b.permission_type) for b in (g.binding() for g in acl_plan.stale)]
        for future in admin.delete_acls(filters).values():
            _kafka("deleting a stale ACL", future)
    if acl_plan.missing or acl_plan.stale:
        _await_visible(admin, acl_plan, visible_within_s)


def _await_visible(admin: AdminClient, acl_plan: AclPlan, within_s: float) -> None:
    created, deleted = set(acl_plan.missing), set(acl_plan.stale)
    principals = {g.principal for g in created | deleted}
    deadline = time.monotonic() + within_s
    while True:
        current = current_grants(admin, principals)
        if created <= current and not deleted & current:
            return
        if time.monotonic() >= deadline:
            log.warning("the cluster committed %d ACL changes but did not show them within %.0f s; "
                        "`callstream acls check` may report drift until every broker has applied them",
                        len(created) + len(deleted), within_s)
            return
        time.sleep(0.1)


def topic_grants(service: str, *, reads: Iterable[str] = (), writes: Iterable[str] = (), groups: Iterable[str] = (),
                 principals: Mapping[str, str] | None = None) -> list[Grant]:
    """The grants the catalog would give ``service`` on topics and groups it does not list
    (a rehearsal's re-drive topic, a test's own topics)."""
    principal = principal_for(service, principals)
    return ([Grant(principal, "topic", t, "literal", op) for t in reads for op in ("READ", "DESCRIBE")]
            + [Grant(principal, "topic", t, "literal", op) for t in writes for op in ("WRITE", "DESCRIBE")]
            + [Grant(principal, "group", g, "literal", op) for g in groups for op in ("READ", "DESCRIBE")])


def add(admin_config: Mapping[str, str], grants: list[Grant]) -> None:
    apply(AdminClient(dict(admin_config)), AclPlan(missing=grants, stale=[], kept=0))


def revoke(admin_config: Mapping[str, str], grants: list[Grant]) -> None:
    apply(AdminClient(dict(admin_config)), AclPlan(missing=[], stale=grants, kept=0))


def grant_catalog(admin_config: Mapping[str, str], catalog: Catalog, *, names: Mapping[str, str] | None = None,
                  principals: Mapping[str, str] | None = None, state_dir: Path | None = None,
                  delete_stale: bool = True) -> AclPlan:
    """Make the cluster's ACLs match the catalog's grants (what ``callstream acls apply`` does).

    ``state_dir``: the local cluster's, whose principals get SCRAM credentials first.
    ``delete_stale=False`` only adds: a rehearsal granting its renamed copies must not take
    away the grants of the catalog's own topics.
    """
    admin = AdminClient(dict(admin_config))
    if state_dir is not None:
        ensure_scram_users(admin, Credentials.load(state_dir), services(catalog), state_dir)
    desired = compile_grants(catalog, names=names, principals=principals)
    acl_plan = plan(admin, desired, {g.principal for g in desired})
    if not delete_stale:
        acl_plan = AclPlan(missing=acl_plan.missing, stale=[], kept=acl_plan.kept)
    apply(admin, acl_plan)
    return acl_plan
