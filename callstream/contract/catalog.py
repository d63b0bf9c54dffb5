"""The topic catalog as code: every topic's owner, classification, retention and clients.

The catalog file (``callstream/contract/topics.yaml`` unless a deployment has its own
``catalog/topics.yaml``) is validated as a whole; any problem
raises ``CatalogError`` naming the file, the entry and the reason.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callstream.contract.events import EVENT_TYPES
from callstream.errors import CatalogError

Classification = Literal["public", "internal", "confidential", "restricted"]
CLASSIFICATIONS: tuple[str, ...] = ("public", "internal", "confidential", "restricted")
DEADLETTER_TOPIC = "callstream.deadletter"

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_retention(value: str | int) -> int:
    """``"3d"`` -> milliseconds; ``-1``/``"forever"`` -> -1 (Kafka's keep-forever)."""
    if isinstance(value, int):
        if value < -1 or value == 0:
            raise ValueError(f"retention {value} must be positive milliseconds or -1")
        return value
    if value.strip() in ("forever", "-1"):
        return -1
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"retention {value!r} is not a duration like 12h, 3d or 2w")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


class Environment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    replication_factor: int = Field(ge=1)
    min_insync_replicas: int = Field(ge=1)


class ClassificationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    archive_retention_days: int = Field(ge=1)
    #: who answers for this retention: what keeping it costs (Kafka's hot window and the
    #: archive), whether it meets the rules the data falls under, and who decides a replay
    #: or re-drive of what it keeps. The scorecard counts a retention policy as owned when
    #: all three are named.
    cost_owner: str | None = Field(default=None, min_length=1)
    compliance_owner: str | None = Field(default=None, min_length=1)
    replay_owner: str | None = Field(default=None, min_length=1)

    def owners_line(self) -> str:
        """``cost X, compliance Y, replay Z`` (``?`` for an owner not named)."""
        return (f"cost {self.cost_owner or '?'}, compliance {self.compliance_owner or '?'}, "
                f"replay {self.replay_owner or '?'}")


class TopicSpec(BaseModel):
    """One topic as the catalog declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")
    owner: str = Field(min_length=1)
    description: str = Field(min_length=1)
    partitions: int = Field(ge=1)
    retention: str | int
    cleanup_policy: Literal["delete", "compact", "compact,delete"] = "delete"
    key: str
    classification: Classification
    event_types: list[str] = Field(default_factory=list)
    producers: list[str] = Field(default_factory=list)
    consumers: list[str] = Field(default_factory=list)
    replication_factor: int | None = Field(default=None, ge=1)
    #: who stamps a record's Kafka timestamp: the producer (``CreateTime``, the moment it
    #: was produced) or the broker (``LogAppendTime``). A topic whose producers stamp
    #: something else - a window result carries its window's event time - says "broker",
    #: or lag in seconds reads the window's age as the consumer's delay.
    timestamps: Literal["producer", "broker"] = "producer"

    @field_validator("retention")
    @classmethod
    def _retention_parses(cls, value: str | int) -> str | int:
        parse_retention(value)
        return value

    @field_validator("event_types")
    @classmethod
    def _event_types_known(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {sorted(EVENT_TYPES)}")
        return value

    @property
    def retention_ms(self) -> int:
        return parse_retention(self.retention)

    def kafka_configs(self, environment: Environment) -> dict[str, str]:
        """Topic-level configs callstream manages on the cluster."""
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            "min.insync.replicas": str(environment.min_insync_replicas),
            "message.timestamp.type": "LogAppendTime" if self.timestamps == "broker" else "CreateTime",
        }

    def replication_for(self, environment: Environment) -> int:
        return self.replication_factor or environment.replication_factor


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    environments: dict[str, Environment]
    classifications: dict[Classification, ClassificationPolicy]
    topics: list[TopicSpec]
    source: str = "<memory>"

    @cached_property
    def by_name(self) -> dict[str, TopicSpec]:
        return {t.name: t for t in self.topics}

    @cached_property
    def topic_of_event(self) -> dict[str, str]:
        return {event_type: t.name for t in self.topics for event_type in t.event_types}

    def readable_by(self, principal: str) -> frozenset[str]:
        """Names of the topics the catalog lets ``principal`` consume (what its ACLs allow)."""
        return frozenset(t.name for t in self.topics if principal in t.consumers)

    def unreadable_by(self, principal: str) -> frozenset[str]:
        """Names of the topics ``principal`` may not consume: their lag in seconds has to come
        from offsets and timestamp lookups, never from reading a message."""
        return frozenset(t.name for t in self.topics) - self.readable_by(principal)

    def topic(self, name: str) -> TopicSpec:
        try:
            return self.by_name[name]
        except KeyError:
            raise CatalogError(f"{self.source}: no topic named {name!r}", f"known topics: {', '.join(self.by_name)}") from None

    def topic_for(self, event_type: str) -> str:
        try:
            return self.topic_of_event[event_type]
        except KeyError:
            raise CatalogError(f"{self.source}: no topic carries event type {event_type!r}", "add it to a topic's event_types") from None

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            raise CatalogError(
                f"{self.source}: no environment named {name!r}", f"choose one of {', '.join(self.environments)}"
            ) from None

    def environment_for_brokers(self, broker_count: int) -> tuple[str, Environment]:
        """The largest-replication environment this many brokers can hold."""
        fitting = [(n, e) for n, e in self.environments.items() if e.replication_factor <= broker_count]
        if not fitting:
            raise CatalogError(f"{self.source}: no environment fits a {broker_count}-broker cluster")
        return max(fitting, key=lambda item: item[1].replication_factor)

    def check_fits(self, environment: Environment, broker_count: int) -> None:
        """Replication above the broker count is an error, named per topic."""
        for topic in self.topics:
            rf = topic.replication_for(environment)
            if rf > broker_count:
                raise CatalogError(
                    f"{self.source}: topic {topic.name}: replication factor {rf} is above the {broker_count} broker(s) of the cluster",
                    "lower replication_factor or use an environment that fits",
                )
            if environment.min_insync_replicas > rf:
                raise CatalogError(
                    f"{self.source}: topic {topic.name}: min.insync.replicas {environment.min_insync_replicas} is above its replication factor {rf}",
                    "lower min_insync_replicas in the environment",
                )


#: the catalog that ships with callstream (package data, so a wheel install has it)
BUILTIN_CATALOG = Path(__file__).resolve().parent / "topics.yaml"


def default_catalog_path() -> Path:
    """``$CALLSTREAM_CATALOG``, else a deployment's own ``./catalog/topics.yaml``, else the
    catalog that ships with callstream."""
    if os.environ.get("CALLSTREAM_CATALOG"):
        return Path(os.environ["CALLSTREAM_CATALOG"])
    local = Path("catalog/topics.yaml")
    if local.exists():
        return local
    return BUILTIN_CATALOG


def _entry_name(document: dict, loc: tuple) -> str:
    if len(loc) >= 2 and loc[0] == "topics" and isinstance(loc[1], int):
        topics = document.get("topics") or []
        name = topics[loc[1]].get("name", "?") if loc[1] < len(topics) and isinstance(topics[loc[1]], dict) else "?"
        field = ".".join(str(p) for p in loc[2:])
        return f"topics[{loc[1]}] ({name}){': ' + field if field else ''}"
    return ".".join(str(p) for p in loc) or "catalog"


def parse_catalog(document: object, source: str) -> Catalog:
    if not isinstance(document, dict):
        raise CatalogError(f"{source}: the catalog must be a mapping with 'environments', 'classifications' and 'topics'")
    try:
        catalog = Catalog(**document, source=source)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise CatalogError(f"{source}: {_entry_name(document, tuple(err['loc']))}: {err['msg']}{more}", "fix that entry") from None
    seen: dict[str, int] = {}
    for index, topic in enumerate(catalog.topics):
        if topic.name in seen:
            raise CatalogError(f"{source}: topics[{index}] ({topic.name}): duplicate topic, first declared at topics[{seen[topic.name]}]")
        seen[topic.name] = index
    owners: dict[str, str] = {}
    for topic in catalog.topics:
        for event_type in topic.event_types:
            if event_type in owners:
                raise CatalogError(f"{source}: topic {topic.name}: event type {event_type} is already carried by {owners[event_type]}", "each event type has one topic")
            owners[event_type] = topic.name
    missing = [c for c in CLASSIFICATIONS if c not in catalog.classifications]
    if missing:
        raise CatalogError(f"{source}: classifications: no policy for {missing}", "add archive_retention_days for each level")
    return catalog


def load_catalog(path: Path | None = None) -> Catalog:
    path = Path(path) if path else default_catalog_path()
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CatalogError(f"catalog file {path} not found", "pass an existing file with --catalog") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    return parse_catalog(document, str(path))
