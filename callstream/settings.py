"""The one settings root: Kafka connection, archive, dashboard and the state directory.

Every command and every child process builds its settings here, with one precedence,
highest first:

1. flags (``--bootstrap-servers``, ``--state-dir``, a command's own options);
2. ``CALLSTREAM_*`` environment variables: the Kafka connection flat
   (``CALLSTREAM_BOOTSTRAP_SERVERS``, ``CALLSTREAM_SASL_PASSWORD``), the other sections by
   prefix (``CALLSTREAM_ARCHIVE_WAREHOUSE``, ``CALLSTREAM_ARCHIVE_S3__SECRET_ACCESS_KEY``,
   ``CALLSTREAM_DASHBOARD_PORT``, ``CALLSTREAM_DEPLOYMENT_RUNBOOKS_DIR``,
   ``CALLSTREAM_PROTECTION_ENCRYPTION``) and
   ``CALLSTREAM_STATE_DIR``;
3. the YAML file (``--config``, ``$CALLSTREAM_CONFIG`` or ``./callstream.yaml``) with the
   sections ``kafka:``, ``archive:``, ``dashboard:``, ``deployment:``, ``protection:``, a top-level
   ``state_dir:`` and ``clusters:`` (named Kafka connections a migration moves between,
   each like ``kafka:``; ``CALLSTREAM_CLUSTERS`` as JSON, a secret as
   ``CALLSTREAM_CLUSTER_<NAME>_SASL_PASSWORD``);
4. defaults.

Child processes (workers, the archiver, re-drives, the dashboard) receive the parent's
settings as environment variables (``child_environment``), never as arguments: a
command line is readable by every user of the machine through ``ps``; a process's
environment only by its owner.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from callstream.archive.settings import ArchiveSettings, S3Settings
from callstream.errors import ConfigError
from callstream.kafka.config import KafkaSettings, build_settings

DEFAULT_CONFIG_FILE = Path("callstream.yaml")
DEFAULT_STATE_DIR = Path(".callstream")
_SECTIONS = ("kafka", "archive", "dashboard", "deployment", "protection")


class ArchiveSection(BaseSettings):
    """Where the archive lives; unset fields take ``ArchiveSettings``' defaults under the state dir."""

    model_config = SettingsConfigDict(env_prefix="CALLSTREAM_ARCHIVE_", env_nested_delimiter="__",
                                      extra="forbid", frozen=True)

    #: a local directory or ``s3://bucket/prefix``
    warehouse: str | None = None
    #: SQLAlchemy URI of the Iceberg SQL catalog
    catalog_uri: str | None = None
    namespace: str | None = None
    s3: S3Settings | None = None
    consumer_group: str | None = None
    flush_max_rows: int | None = Field(default=None, gt=0)
    flush_max_age_s: float | None = Field(default=None, gt=0)
    snapshots_kept: int | None = Field(default=None, gt=0)
    maintenance_every_s: float | None = Field(default=None, gt=0)


class DashboardSection(BaseSettings):
    """Where the dashboard listens."""

    model_config = SettingsConfigDict(env_prefix="CALLSTREAM_DASHBOARD_", extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8765, gt=0, lt=65536)
    #: the login of a dashboard bound beyond loopback (generated into the state dir when unset)
    operations_token: SecretStr | None = None
    #: also opens the call drill-down, which shows transcript text
    transcripts_token: SecretStr | None = None


class DeploymentSection(BaseSettings):
    """Where this deployment keeps what the readiness scorecard reads (relative to the
    directory callstream runs in)."""

    model_config = SettingsConfigDict(env_prefix="CALLSTREAM_DEPLOYMENT_", extra="forbid", frozen=True)

    #: the topic catalog; default: ``$CALLSTREAM_CATALOG``, ./catalog/topics.yaml, the built-in one
    catalog: Path | None = None
    schemas_dir: Path = Path("schemas")
    #: rehearsal reports kept for the record (the state dir's reports are always read too)
    reports_dirs: tuple[Path, ...] = (Path("docs/rehearsals"),)
    runbooks_dir: Path = Path("docs/runbooks")
    metrics_doc: Path = Path("docs/metrics.md")


class ProtectionSection(BaseSettings):
    """Field encryption and the audit log (``callstream.governance``)."""

    model_config = SettingsConfigDict(env_prefix="CALLSTREAM_PROTECTION_", extra="forbid", frozen=True)

    #: producers seal restricted fields with per-contact data keys
    encryption: bool = True
    #: the keystore and the key-encryption key (default ``<state dir>/keys``)
    keys_dir: Path | None = None
    #: the audit log and its signing key (default ``<state dir>/audit``)
    audit_dir: Path | None = None


class Settings(BaseModel):
    """Everything callstream is configured with, validated once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: where local state lives: the local broker, the archive, processor state, reports
    state_dir: Path = DEFAULT_STATE_DIR
    kafka: KafkaSettings = Field(default_factory=KafkaSettings.model_construct)
    archive: ArchiveSection = Field(default_factory=ArchiveSection.model_construct)
    dashboard: DashboardSection = Field(default_factory=DashboardSection.model_construct)
    deployment: DeploymentSection = Field(default_factory=DeploymentSection.model_construct)
    protection: ProtectionSection = Field(default_factory=ProtectionSection.model_construct)
    #: named connections to other clusters (``callstream migrate --from/--to``)
    clusters: dict[str, KafkaSettings] = Field(default_factory=dict)

    @property
    def keys_dir(self) -> Path:
        return self.protection.keys_dir or self.state_dir / "keys"

    @property
    def audit_dir(self) -> Path:
        return self.protection.audit_dir or self.state_dir / "audit"

    def archive_settings(self, **overrides: Any) -> ArchiveSettings:
        """The archive's settings: this file's ``archive:`` section over the state dir's defaults."""
        values = self.archive.model_dump(exclude_none=True)
        return ArchiveSettings.for_state_dir(self.state_dir, **(values | overrides))

    def with_cluster(self, bootstrap_servers: str) -> Settings:
        """The same settings pointed at ``bootstrap_servers`` (a local broker just started)."""
        kafka = build_settings(self.kafka.model_dump() | {"bootstrap_servers": bootstrap_servers}, source="settings")
        return self.model_copy(update={"kafka": kafka})

    def with_state_dir(self, state_dir: Path) -> Settings:
        return self.model_copy(update={"state_dir": Path(state_dir)})


def read_config_file(path: Path) -> dict[str, Any]:
    """The sections of a callstream YAML config file."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found", "pass an existing file to --config") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(document, dict):
        raise ConfigError(f"config file {path} must be a mapping with sections {', '.join(_SECTIONS)}")
    unknown = sorted(set(document) - {*_SECTIONS, "state_dir", "clusters"})
    if unknown:
        raise ConfigError(f"config file {path} has unknown key(s) {', '.join(unknown)}",
                          f"use the sections {', '.join(_SECTIONS)} and a top-level state_dir")
    for section in (*_SECTIONS, "clusters"):
        if not isinstance(document.get(section) or {}, dict):
            raise ConfigError(f"config file {path}: '{section}:' must be a mapping")
    return document


def _environment_values(section: type[BaseSettings], source: str) -> dict[str, Any]:
    """The fields of ``section`` that ``CALLSTREAM_*`` variables set."""
    try:
        from_env = section()
    except ValidationError as exc:
        raise _invalid(exc, source) from None
    return {name: getattr(from_env, name) for name in from_env.model_fields_set}


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, BaseModel):
            value = value.model_dump(exclude_unset=True)
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _invalid(exc: ValidationError, source: str) -> ConfigError:
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors())
    return ConfigError(f"invalid settings from {source}: {problems}",
                       "fix the value in the config file, the CALLSTREAM_* variable or the flag")


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Settings from flags > ``CALLSTREAM_*`` environment > YAML file > defaults.

    ``flags`` are ``state_dir`` and fields of the Kafka connection (``bootstrap_servers``, ...);
    a flag of ``None`` is not given.
    """
    unknown = sorted(set(flags) - {"state_dir", *KafkaSettings.model_fields})
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}", "see callstream.settings for the settings")
    if config_file is None and os.environ.get("CALLSTREAM_CONFIG"):
        config_file = Path(os.environ["CALLSTREAM_CONFIG"])
    if config_file is None and DEFAULT_CONFIG_FILE.exists():
        config_file = DEFAULT_CONFIG_FILE
    document = read_config_file(config_file) if config_file else {}
    source = f"{config_file}, environment and flags" if config_file else "environment and flags"

    kafka_values = dict(document.get("kafka") or {})
    kafka_values.update(_environment_values(KafkaSettings, "CALLSTREAM_* environment variables"))
    kafka_values.update({k: v for k, v in flags.items() if k != "state_dir" and v is not None})
    sections: dict[str, Any] = {"kafka": build_settings(kafka_values, source=source)}
    sections_of: tuple[tuple[str, type[BaseSettings]], ...] = (
        ("archive", ArchiveSection), ("dashboard", DashboardSection), ("deployment", DeploymentSection),
        ("protection", ProtectionSection))
    for name, section in sections_of:
        values = _merge(dict(document.get(name) or {}), _environment_values(section, "CALLSTREAM_* environment variables"))
        try:
            sections[name] = section.model_validate(values)
        except ValidationError as exc:
            raise _invalid(exc, source) from None
    state_dir = flags.get("state_dir") or os.environ.get("CALLSTREAM_STATE_DIR") or document.get("state_dir")
    return Settings(state_dir=Path(state_dir or DEFAULT_STATE_DIR), clusters=_clusters(document, source), **sections)


def _clusters(document: dict[str, Any], source: str) -> dict[str, KafkaSettings]:
    """The named connections: the file's ``clusters:`` with ``CALLSTREAM_CLUSTERS`` (JSON) over it."""
    named = dict(document.get("clusters") or {})
    if os.environ.get("CALLSTREAM_CLUSTERS"):
        try:
            from_env = json.loads(os.environ["CALLSTREAM_CLUSTERS"])
        except ValueError as exc:
            raise ConfigError(f"CALLSTREAM_CLUSTERS is not JSON: {exc}", 'set it to {"name": {"bootstrap_servers": ...}}') from None
        named |= from_env if isinstance(from_env, dict) else {}
    clusters = {}
    for name, values in named.items():
        if not isinstance(values, dict) or not values.get("bootstrap_servers"):
            raise ConfigError(f"cluster '{name}' in {source} needs bootstrap_servers",
                              "give every entry of clusters: at least bootstrap_servers")
        clusters[str(name)] = build_settings(values, source=f"clusters.{name} of {source}",
                                          env_prefix=f"CALLSTREAM_CLUSTER_{str(name).upper()}_")
    return clusters


def client_config(settings: Settings, principal: str = "admin") -> dict[str, str]:
    """The librdkafka dict for the configured cluster, or for the running local broker as
    ``principal`` (every callstream component connects as its own: ``admin`` for catalog and
    ACL changes, the catalog's service name otherwise). A configured cluster uses the
    credentials of the settings, whoever asks."""
    if not settings.kafka.is_local:
        conf = settings.kafka.to_librdkafka()
        if settings.kafka.credentials_file is not None:
            from callstream.local.credentials import Credentials

            own = Credentials.load_file(settings.kafka.credentials_file).client_properties(
                principal, settings.kafka.principals.get(principal))
            conf |= {k: v for k, v in own.items() if k in ("sasl.username", "sasl.password")}
        return conf
    from callstream.local.broker import local_client_config

    local = local_client_config(settings.state_dir, principal)
    if local is None:
        raise ConfigError(
            f"no Kafka cluster is configured and no local broker is running (state dir {settings.state_dir})",
            "run `callstream kafka start`, or point at a cluster with --bootstrap-servers or CALLSTREAM_BOOTSTRAP_SERVERS",
        )
    return settings.kafka.to_librdkafka() | local


def _flatten(prefix: str, values: dict[str, Any], env: dict[str, str]) -> None:
    for name, value in values.items():
        key = f"{prefix}{name.upper()}"
        if isinstance(value, dict):
            _flatten(f"{key}__", value, env)
        elif value is not None:
            env[key] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def child_environment(settings: Settings) -> dict[str, str]:
    """``CALLSTREAM_*`` variables that recreate ``settings`` exactly in a child process.

    A child's settings then come from ``load_settings()`` like any command's, secrets
    included, and nothing about them appears on its command line.
    """
    env: dict[str, str] = {"CALLSTREAM_STATE_DIR": str(settings.state_dir)}
    kafka = settings.kafka.model_dump(exclude_none=True)
    mappings = {name: kafka.pop(name) for name in ("librdkafka", "principals")}
    _flatten("CALLSTREAM_", kafka, env)
    for name, mapping in mappings.items():  # a mapping travels as JSON, which pydantic-settings reads back
        if mapping:
            env[f"CALLSTREAM_{name.upper()}"] = json.dumps(mapping)
    _flatten("CALLSTREAM_ARCHIVE_", settings.archive.model_dump(exclude_none=True), env)
    _flatten("CALLSTREAM_DASHBOARD_", settings.dashboard.model_dump(exclude_none=True), env)
    deployment = settings.deployment.model_dump(exclude_none=True)
    for name in ("reports_dirs",):  # a sequence travels as JSON, which pydantic-settings reads back
        deployment[name] = json.dumps([str(p) for p in deployment[name]])
    _flatten("CALLSTREAM_DEPLOYMENT_", deployment, env)
    _flatten("CALLSTREAM_PROTECTION_", settings.protection.model_dump(exclude_none=True), env)
    if settings.clusters:
        env["CALLSTREAM_CLUSTERS"] = json.dumps({name: _plain(kafka) for name, kafka in settings.clusters.items()})
    return env


def _plain(kafka: KafkaSettings) -> dict[str, Any]:
    """A connection as JSON-able values, secrets unwrapped (for a child's environment only)."""
    values = kafka.model_dump(exclude_none=True, mode="json")
    for name in ("sasl_password", "ssl_key_password"):
        secret = getattr(kafka, name)
        if secret is not None:
            values[name] = secret.get_secret_value()
    return values


def child_process_environment(settings: Settings) -> dict[str, str]:
    """A child's whole environment: ours, with ``settings`` laid over any inherited
    ``CALLSTREAM_*`` values; the child reads no config file (``settings`` already holds it)."""
    return {**os.environ, **child_environment(settings), "CALLSTREAM_CONFIG": os.devnull}
