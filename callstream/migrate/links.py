"""The two ends of a migration: named Kafka connections with their cluster ids.

``current`` is the platform's own connection (the ``kafka:`` section, or the local
broker); any other name is an entry of the settings' ``clusters:``. The migrator connects
to both as ``admin``: it creates topics, copies records, moves consumer groups and sets
the ACLs that fence producers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient

from callstream.errors import ConfigError, MigrationError
from callstream.settings import Settings, client_config

CURRENT = "current"


@dataclass(frozen=True)
class Link:
    """One cluster of a migration."""

    name: str
    config: dict[str, str] = field(repr=False)
    cluster_id: str
    #: service -> principal name on this cluster (``clusters.<name>.principals``)
    principals: dict[str, str] = field(default_factory=dict)

    def admin(self) -> AdminClient:
        return AdminClient(dict(self.config))


def cluster_id_of(config: dict[str, str], name: str, timeout_s: float = 10.0) -> str:
    """The Kafka cluster id (``ClusterMetadata.cluster_id``) of ``config``."""
    try:
        metadata = AdminClient(dict(config)).list_topics(timeout=timeout_s)
    except Exception as exc:  # confluent-kafka raises KafkaException with the broker's error
        raise MigrationError(f"cluster '{name}' ({config.get('bootstrap.servers')}) is not reachable: {exc}",
                             "check its bootstrap_servers and credentials in the settings") from None
    if not metadata.cluster_id:
        raise MigrationError(f"cluster '{name}' reports no cluster id", "migrate between KRaft or ZooKeeper clusters that have one")
    return str(metadata.cluster_id)


def settings_on(settings: Settings, name: str) -> Settings:
    """``settings`` pointed at the cluster named ``name`` (``current`` or a key of ``clusters:``)."""
    if name == CURRENT:
        return settings
    if name in settings.clusters:
        return settings.model_copy(update={"kafka": settings.clusters[name]})
    known = ", ".join([CURRENT, *settings.clusters]) or CURRENT
    raise ConfigError(f"no cluster named '{name}'", f"use one of {known}, or add it under clusters: in the settings")


def open_link(settings: Settings, name: str) -> Link:
    """The connection named ``name``, as the migrator (``admin``)."""
    on = settings_on(settings, name)
    conf = client_config(on)
    return Link(name, conf, cluster_id_of(conf, name), dict(on.kafka.principals))
