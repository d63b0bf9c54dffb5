"""The local cluster's principals and their generated passwords.

``callstream kafka start`` (unless ``--insecure``) runs the broker with SASL/SCRAM-SHA-512
on its client listener and an authenticated controller listener. Every principal gets a
random password, kept in ``<state_dir>/kafka/credentials.json`` readable by its owner only:
never printed, logged or passed on a command line. A callstream component connects as its
own principal (``client_properties``); ``callstream kafka client-config`` writes one
principal's properties for third-party tools.

The principals are ``admin`` (super user: topics, ACLs and credentials), ``controller``
(the nodes' own quorum traffic, SASL/PLAIN: KRaft controllers cannot use SCRAM, whose
credentials live in the metadata they serve) and one per service the topic catalog names.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callstream.errors import ConfigError

MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
ADMIN = "admin"
CONTROLLER = "controller"


def credentials_path(state_dir: Path) -> Path:
    return Path(state_dir) / "kafka" / "credentials.json"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, created that way (never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT


def create_private_once(path: Path, data: bytes) -> bool:
    """Create ``path``, readable by its owner only, holding ``data``: whole or not at all, and
    never over a file that exists. False when it existed (another process created it first).

    The bytes are written and synced under a name of their own, then hard-linked into place:
    processes starting together on a new state dir never read a key half written (an empty
    file created with O_EXCL and not yet filled stopped a scaled-out worker, stop 53)."""
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)  # fails if it exists
        except FileExistsError:
            return False
        return True
    finally:
        draft.unlink(missing_ok=True)


@dataclass
class Credentials:
    """Passwords by principal name (``User:<name>`` in Kafka's ACLs)."""

    passwords: dict[str, str] = field(default_factory=dict)

    @classmethod
    def generate(cls, principals: list[str]) -> Credentials:
        names = [ADMIN, CONTROLLER, *principals]
        return cls({name: secrets.token_urlsafe(32) for name in dict.fromkeys(names)})

    def add(self, principals: list[str]) -> list[str]:
        """Give every principal without a password one; returns the new principals."""
        new = [p for p in dict.fromkeys(principals) if p not in self.passwords]
        for principal in new:
            self.passwords[principal] = secrets.token_urlsafe(32)
        return new

    def password(self, principal: str) -> str:
        try:
            return self.passwords[principal]
        except KeyError:
            raise ConfigError(f"the local cluster has no principal {principal!r}",
                              "run `callstream acls apply` to create the catalog's principals") from None

    def save(self, state_dir: Path) -> None:
        write_private(credentials_path(state_dir), json.dumps({"mechanism": MECHANISM, "passwords": self.passwords}))

    @classmethod
    def load(cls, state_dir: Path) -> Credentials:
        return cls.load_file(credentials_path(state_dir))

    @classmethod
    def load_file(cls, path: Path) -> Credentials:
        """A credentials file: ``{"passwords": {principal: password}}``, owner-only."""
        if path.exists() and path.stat().st_mode & 0o077:
            raise ConfigError(f"the credentials file {path} is readable by others",
                              f"make it private: chmod 600 {path}")
        try:
            data = json.loads(path.read_text())
            return cls(dict(data["passwords"]))
        except FileNotFoundError:
            raise ConfigError(f"the local cluster's credentials {path} are missing",
                              "run `callstream kafka stop --fresh` and start it again") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is unreadable ({exc})", "run `callstream kafka stop --fresh` to reset it") from None

    def client_properties(self, principal: str, username: str | None = None) -> dict[str, str]:
        """The librdkafka SASL properties for connecting as ``principal`` (whose SASL user
        name is ``username`` where a cluster names it differently)."""
        return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": MECHANISM,
                "sasl.username": username or principal, "sasl.password": self.password(principal)}


def ensure_scram_users(admin: Any, credentials: Credentials, principals: list[str], state_dir: Path) -> list[str]:
    """Give every principal a password (saved first) and its SCRAM credential on the
    cluster; returns the principals that had none. Safe to repeat."""
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    new = credentials.add([p for p in principals if p not in (ADMIN, CONTROLLER)])
    credentials.save(state_dir)
    try:
        existing = set(admin.describe_user_scram_credentials().result(timeout=30))
    except Exception:  # no user has a credential yet: the describe fails with RESOURCE_NOT_FOUND
        existing = set()
    wanted = [p for p in credentials.passwords if p != CONTROLLER and p not in existing]
    if not wanted:
        return new
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(p, info, credentials.password(p).encode()) for p in wanted])
    for principal, future in futures.items():
        try:
            future.result(timeout=30)
        except Exception as exc:
            raise ConfigError(f"could not create the SCRAM credential of {principal}: {exc}",
                              "is the local cluster running with authentication? see `callstream kafka status`") from None
    return new


_JAAS_MODULES = {"SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
                 "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
                 "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule"}


def java_properties(conf: dict[str, str]) -> dict[str, str]:
    """The Java client's form of a librdkafka config (what Kafka's own tools read)."""
    java = {k: v for k, v in conf.items() if k in ("bootstrap.servers", "security.protocol", "sasl.mechanism",
                                                    "client.id")}
    mechanism = conf.get("sasl.mechanism")
    if mechanism in _JAAS_MODULES and "sasl.username" in conf:
        user, password = conf["sasl.username"], conf.get("sasl.password", "")
        java["sasl.jaas.config"] = f'{_JAAS_MODULES[mechanism]} required username="{user}" password="{password}";'
    if "ssl.ca.location" in conf:
        java["ssl.truststore.type"] = "PEM"
        java["ssl.truststore.location"] = conf["ssl.ca.location"]
    return java


def write_client_properties(conf: dict[str, str], principal: str, directory: Path) -> list[Path]:
    """``<principal>.librdkafka.properties`` (kcat ``-F``) and ``<principal>.java.properties``
    (``--command-config`` / ``--consumer.config`` of Kafka's tools), owner-only."""
    directory = Path(directory)
    librdkafka = directory / f"{principal}.librdkafka.properties"
    java = directory / f"{principal}.java.properties"
    write_private(librdkafka, "".join(f"{k}={v}\n" for k, v in sorted(conf.items()) if not k.endswith("_cb")))
    write_private(java, "".join(f"{k}={v}\n" for k, v in sorted(java_properties(conf).items())))
    return [librdkafka, java]
