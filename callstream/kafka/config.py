"""One typed Kafka connection config with a lossless round trip to librdkafka's dict.

It is the ``kafka:`` section of callstream's settings (``callstream.settings`` loads it
with the other sections, one precedence for all). With no ``bootstrap_servers``, commands
use the local broker that ``callstream kafka start`` runs (see ``callstream.local.broker``).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callstream.errors import ConfigError

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]

# settings field -> librdkafka property; secrets are unwrapped only here, at the edge.
_LIBRDKAFKA_NAMES = {
    "bootstrap_servers": "bootstrap.servers",
    "client_id": "client.id",
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_username": "sasl.username",
    "sasl_password": "sasl.password",
    "ssl_ca_location": "ssl.ca.location",
    "ssl_certificate_location": "ssl.certificate.location",
    "ssl_key_location": "ssl.key.location",
    "ssl_key_password": "ssl.key.password",
}


#: the Apache Kafka release callstream starts by default, and the releases its launcher can
#: configure: KRaft with a static quorum and SCRAM credentials written at format time (3.9 is
#: the last 3.x, still what many fleets run; ZooKeeper-era releases are not launched)
LOCAL_KAFKA_VERSION = "4.4.0"
LOCAL_KAFKA_VERSIONS = r"^(3\.9|4\.\d+)\.\d+$"


class KafkaSettings(BaseSettings):
    """How callstream connects to a Kafka-protocol cluster."""

    model_config = SettingsConfigDict(env_prefix="CALLSTREAM_", extra="forbid", frozen=True)

    bootstrap_servers: str | None = Field(
        default=None, description="host:port list; empty means the local broker"
    )
    #: the Apache Kafka release of the local broker callstream starts itself (no bootstrap_servers)
    local_kafka_version: str = Field(default=LOCAL_KAFKA_VERSION,
                                     description=f"3.9.x or 4.x; the default is the tested {LOCAL_KAFKA_VERSION}")
    client_id: str = "callstream"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None
    ssl_key_location: Path | None = None
    ssl_key_password: SecretStr | None = None
    schema_registry_url: str | None = None
    #: an owner-only JSON file ``{"passwords": {service: password}}``: every callstream
    #: component then connects as its own principal (the local cluster keeps one itself)
    credentials_file: Path | None = None
    #: service -> SASL user name where the cluster's principals are named differently
    principals: dict[str, str] = Field(default_factory=dict)
    #: extra librdkafka properties passed through unchanged (e.g. {"socket.timeout.ms": "5000"})
    librdkafka: dict[str, str] = Field(default_factory=dict)

    @field_validator("local_kafka_version")
    @classmethod
    def _launchable(cls, version: str) -> str:
        if not re.match(LOCAL_KAFKA_VERSIONS, version):
            raise ValueError(f"callstream starts KRaft releases 3.9.x and 4.x (e.g. {LOCAL_KAFKA_VERSION} or 3.9.2), "
                             f"not {version!r}")
        return version

    @model_validator(mode="after")
    def _security_is_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism is None:
                raise ValueError(f"security_protocol {self.security_protocol} needs sasl_mechanism")
            if (self.sasl_mechanism != "OAUTHBEARER" and not (self.sasl_username and self.sasl_password)
                    and self.credentials_file is None):
                raise ValueError(
                    f"sasl_mechanism {self.sasl_mechanism} needs sasl_username and sasl_password (or a credentials_file)"
                )
        for name in ("ssl_ca_location", "ssl_certificate_location", "ssl_key_location", "credentials_file"):
            path = getattr(self, name)
            if path is not None and not path.exists():
                raise ValueError(f"{name} {path} does not exist")
        return self

    @property
    def is_local(self) -> bool:
        return not self.bootstrap_servers

    def to_librdkafka(self, bootstrap_servers: str | None = None) -> dict[str, str]:
        """The librdkafka dict for confluent-kafka clients (secrets unwrapped)."""
        conf: dict[str, str] = {}
        for field, prop in _LIBRDKAFKA_NAMES.items():
            value = getattr(self, field)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            conf[prop] = str(value)
        if bootstrap_servers:
            conf["bootstrap.servers"] = bootstrap_servers
        conf.update(self.librdkafka)
        return conf

    @classmethod
    def from_librdkafka(cls, conf: dict[str, str], **fields: Any) -> KafkaSettings:
        """The inverse of ``to_librdkafka``: unknown properties land in ``librdkafka``."""
        by_prop = {prop: field for field, prop in _LIBRDKAFKA_NAMES.items()}
        known: dict[str, Any] = dict(fields)
        passthrough: dict[str, str] = {}
        for prop, value in conf.items():
            if prop in by_prop:
                known[by_prop[prop]] = value
            else:
                passthrough[prop] = value
        return build_settings(known | {"librdkafka": passthrough}, source="librdkafka config")


def build_settings(values: dict[str, Any], source: str, *, env_prefix: str = "CALLSTREAM_") -> KafkaSettings:
    """Validate settings, turning pydantic's report into one ConfigError line.

    ``env_prefix``: where unset fields come from in the environment; a named cluster of a
    migration reads ``CALLSTREAM_CLUSTER_<NAME>_*``, never the platform's own connection.
    """
    try:
        return KafkaSettings(**values, _env_prefix=env_prefix)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid Kafka settings from {source}: {problems}",
            "fix the value in the config file, the CALLSTREAM_* variable or the flag",
        ) from None


#: Every callstream producer picks partitions like the Java client (murmur2 of the key), so
#: a contact's events land where Kafka Streams, Java producers and replay's tail lookup
#: expect them; librdkafka's own default (CRC32) would scatter them differently.
KEY_PARTITIONER = {"partitioner": "murmur2_random"}


def static_member_id(member: str, instance: str = "0") -> str:
    """A ``group.instance.id`` unique per host and instance: a restarted member with the
    same id takes its partitions back at once instead of after the session timeout. Two
    live members with one id fence each other, hence the host name."""
    return f"{member}-{socket.gethostname()}-{instance}"
