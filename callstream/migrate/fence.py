"""Fencing producers on a cluster being left: DENY WRITE ACLs on the migrated topics.

A DENY binding wins over every ALLOW in Kafka's authorizer, so the producers keep their
grants and lose only the right to write while the fence stands; lifting the fence (a
rollback) gives it back unchanged. The migrator connects as a super user and is never
fenced.
"""

from __future__ import annotations

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from callstream.errors import MigrationError
from callstream.migrate.links import Link


def _bindings(principals: list[str], topics: list[str]) -> list[AclBinding]:
    return [AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, principal, "*",
                       AclOperation.WRITE, AclPermissionType.DENY)
            for principal in principals for topic in topics]


def fence(link: Link, principals: list[str], topics: list[str]) -> int:
    """Deny ``principals`` WRITE on ``topics``; the number of bindings."""
    bindings = _bindings(principals, topics)
    if not bindings:
        return 0
    admin = link.admin()  # kept alive until the futures resolve
    for binding, future in admin.create_acls(bindings).items():
        try:
            future.result(timeout=30)
        except Exception as exc:
            raise MigrationError(
                f"cannot fence producers on '{link.name}' ({binding.principal} on {binding.name}): {exc}",
                "the cluster needs an authorizer and the migrator a user that may change ACLs; "
                "without them stop the producers yourself and pass --producers-stopped") from None
    return len(bindings)


def unfence(link: Link, principals: list[str], topics: list[str]) -> int:
    """Lift ``fence``'s bindings; the number removed."""
    filters = [AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type)
               for b in _bindings(principals, topics)]
    if not filters:
        return 0
    removed = 0
    admin = link.admin()
    for _, future in admin.delete_acls(filters).items():
        try:
            removed += len(future.result(timeout=30))
        except Exception as exc:
            raise MigrationError(f"cannot lift the fence on '{link.name}': {exc}",
                                 "retry; the migrator needs a user that may change ACLs") from None
    return removed
