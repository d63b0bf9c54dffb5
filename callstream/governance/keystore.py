"""Data keys for restricted fields: one per contact, owned by a customer once known, wrapped
by a key-encryption key (KEK).

Every contact (one leg of a call) gets its own AES-256 data key the first time a producer
seals one of its restricted fields. When the customer behind the contact becomes known
(the caller is recognised, the CRM names them) the key is *linked* to that customer, so
erasing the customer shreds the keys of all their contacts, including the calls made
before anyone knew who was speaking. Erasing one contact shreds just its key.

The local store is an SQLite file with owner-only permissions; the KEK lives in a separate
owner-only file (``KeyWrapper`` is the seam where a cloud KMS or a Vault transit engine
takes its place: it only wraps and unwraps). Data keys never leave this store except
unwrapped in the memory of a process that seals or opens fields.

Shredding deletes the wrapped key with SQLite's ``secure_delete`` on and truncates the
write-ahead log, so no copy of the wrapped bytes survives in the files for the KEK to open.
Keys are never kept in Kafka: a compacted topic keeps a record after its tombstone until
the cleaner runs, and erasure must not wait for that.

Processes cache unwrapped keys; every cache watches the store's *shred generation* (one
small query at most once per second), so a shredded key stops working everywhere within
about a second.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callstream.bounded import forget_oldest
from callstream.errors import CallstreamError, ConfigError
from callstream.local.credentials import create_private_once

DATA_KEY_BYTES = 32  # AES-256
#: how often a cache asks the store whether anything was shredded
GENERATION_CHECK_S = 1.0


class KeyShredded(CallstreamError):
    """The data key of a contact was shredded: its customer (or the contact) was erased."""


class KeyUnavailable(CallstreamError):
    """A data key cannot be read: unknown key id, or a wrapping that the KEK does not open."""


def subject_digest(kind: str, subject_id: str) -> str:
    """How the store and the audit log name an erased subject: a digest, never the id."""
    return hashlib.sha256(f"callstream:{kind}:{subject_id}".encode()).hexdigest()


class KeyWrapper(Protocol):
    """Wraps and unwraps data keys: a local KEK file, or a KMS / Vault transit engine."""

    version: int

    def wrap(self, data_key: bytes, key_id: str) -> bytes: ...
    def unwrap(self, wrapped: bytes, key_id: str, kek_version: int) -> bytes: ...


class FileKek:
    """256-bit KEKs in owner-only files, created on first use: version 1 in ``path``, each
    rotation's in ``path.v<N>``; the highest version wraps new keys. Wrapping is AES-GCM
    with the key id as associated data, so a wrapped key copied to another row does not open."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._aeads: dict[int, AESGCM] = {}
        self.version = 1
        self._refresh()
        if self.version == 1:
            self._aeads[1] = AESGCM(self._load_or_create(self.path))

    def _file(self, version: int) -> Path:
        return self.path if version == 1 else self.path.with_name(f"{self.path.name}.v{version}")

    def _refresh(self) -> None:
        """Follow a rotation made by another process: wrap with the newest KEK on disk."""
        versions = [int(p.name.rsplit(".v", 1)[1]) for p in self.path.parent.glob(f"{self.path.name}.v*")
                    if p.name.rsplit(".v", 1)[1].isdigit()]
        self.version = max(versions, default=1)

    def _aead(self, version: int) -> AESGCM:
        aead = self._aeads.get(version)
        if aead is None:
            path = self._file(version)
            if not path.exists():
                raise KeyUnavailable(f"KEK version {version} ({path}) is gone: it was retired by a rotation",
                                     "run `callstream keys rotate` again to re-wrap what it left behind")
            aead = self._aeads[version] = AESGCM(self._load_or_create(path))
        return aead

    @staticmethod
    def _load_or_create(path: Path) -> bytes:
        try:
            material = path.read_bytes()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            material = secrets.token_bytes(DATA_KEY_BYTES)
            if not create_private_once(path, material):  # another process created it first: use theirs
                return FileKek._load_or_create(path)
            return material
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"the key-encryption key {path} is readable by other users", f"run `chmod 600 {path}`")
        if len(material) != DATA_KEY_BYTES:
            raise ConfigError(f"the key-encryption key {path} is not a 256-bit key ({len(material)} bytes)",
                              "restore the file from its backup; a new key cannot open the existing data keys")
        return material

    def wrap(self, data_key: bytes, key_id: str) -> bytes:
        self._refresh()
        nonce = secrets.token_bytes(12)
        return nonce + self._aead(self.version).encrypt(nonce, data_key, key_id.encode())

    def unwrap(self, wrapped: bytes, key_id: str, kek_version: int) -> bytes:
        try:
            return self._aead(kek_version).decrypt(wrapped[:12], wrapped[12:], key_id.encode())
        except InvalidTag:
            raise KeyUnavailable(f"the KEK does not open data key {key_id}",
                                 "the keystore and the KEK file belong to different deployments") from None

    def rotate(self) -> int:
        """Make the next KEK version the one that wraps; returns it."""
        self._refresh()
        new = self.version + 1
        self._aeads[new] = AESGCM(self._load_or_create(self._file(new)))
        self.version = new
        return new

    def retire(self, versions: Iterable[int]) -> None:
        """Delete older KEK versions once nothing is wrapped by them."""
        for version in versions:
            if version != self.version:
                self._file(version).unlink(missing_ok=True)
                self._aeads.pop(version, None)


@dataclass(frozen=True)
class DataKey:
    key_id: str
    version: int
    material: bytes = field(repr=False)


@dataclass(frozen=True)
class ShredResult:
    contacts: list[str]
    keys_shredded: int
    already_erased: bool


_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (
    key_id TEXT NOT NULL, version INTEGER NOT NULL, wrapped BLOB NOT NULL,
    kek_version INTEGER NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY (key_id, version));
CREATE TABLE IF NOT EXISTS owners (key_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, linked_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS owners_by_customer ON owners (customer_id);
CREATE TABLE IF NOT EXISTS shredded (digest TEXT PRIMARY KEY, kind TEXT NOT NULL, shredded_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', 0);
"""


#: how long a keystore statement waits for another process's lock, and how long opening a
#: keystore retries the switch to WAL
BUSY_TIMEOUT_S = 30.0


def _switch_to_wal(db: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another process holds the file. SQLite
    answers this switch "database is locked" at once, without waiting out the busy timeout,
    while another connection is opening the same new file: workers of one processor started
    together (an instance and its warm standby) failed so 8 times in 60 (NOTES.md, stop 67)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class KeyStore:
    """Per-contact data keys in SQLite, wrapped by ``wrapper``; safe to share between
    processes on one host (WAL mode, a busy timeout)."""

    def __init__(self, path: Path, wrapper: KeyWrapper, *, on_unwrap: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.wrapper = wrapper
        self._on_unwrap = on_unwrap
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        elif self.path.stat().st_mode & 0o077:
            raise ConfigError(f"the keystore {self.path} is readable by other users", f"run `chmod 600 {self.path}`")
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        _switch_to_wal(self._db)
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        for suffix in ("-wal", "-shm"):
            sidecar = Path(f"{self.path}{suffix}")
            if sidecar.exists():
                sidecar.chmod(0o600)
        self._cache: dict[tuple[str, int], bytes] = {}
        #: contact -> its current key version, for producers sealing many fields of one call
        self._current: dict[str, int] = {}
        self._generation = self._read_generation()
        self._checked = time.monotonic()

    # --- keys ----------------------------------------------------------------------------

    def data_key(self, contact_id: str) -> DataKey:
        """The current data key of a contact, created on first use; ``KeyShredded`` once
        the contact or its customer was erased (no new key is ever made for it)."""
        with self._lock:
            self._check_generation()
            version = self._current.get(contact_id)
            if version is not None:
                return DataKey(contact_id, version, self._unwrap_locked(contact_id, version))
            row = self._db.execute("SELECT version FROM data_keys WHERE key_id = ? ORDER BY version DESC LIMIT 1",
                                   (contact_id,)).fetchone()
            if row is not None:
                self._current[contact_id] = row[0]
                forget_oldest(self._current)
                return DataKey(contact_id, row[0], self._unwrap_locked(contact_id, row[0]))
            if self._is_shredded(contact_id):
                raise KeyShredded(f"contact {contact_id} was erased; its restricted fields cannot be written")
            material = secrets.token_bytes(DATA_KEY_BYTES)
            self._db.execute("INSERT OR IGNORE INTO data_keys VALUES (?, 1, ?, ?, ?)",
                             (contact_id, self.wrapper.wrap(material, contact_id), self.wrapper.version, _now_ms()))
            row = self._db.execute("SELECT version FROM data_keys WHERE key_id = ? ORDER BY version DESC LIMIT 1",
                                   (contact_id,)).fetchone()
            # another process may have created it at the same moment: theirs won, read it back
            return DataKey(contact_id, row[0], self._unwrap_locked(contact_id, row[0]))

    def key(self, key_id: str, version: int) -> bytes:
        """The material of one data key version, to open what it sealed."""
        with self._lock:
            self._check_generation()
            return self._unwrap_locked(key_id, version)

    def _unwrap_locked(self, key_id: str, version: int) -> bytes:
        cached = self._cache.get((key_id, version))
        if cached is not None:
            return cached
        row = self._db.execute("SELECT wrapped, kek_version FROM data_keys WHERE key_id = ? AND version = ?",
                               (key_id, version)).fetchone()
        if row is None:
            if self._is_shredded(key_id):
                raise KeyShredded(f"the data key of contact {key_id} was shredded (erased)")
            raise KeyUnavailable(f"no data key {key_id} version {version} in the keystore {self.path}",
                                 "the record was sealed by another deployment's keystore")
        material = self.wrapper.unwrap(row[0], key_id, row[1])
        self._cache[(key_id, version)] = material
        forget_oldest(self._cache)  # the keys of recent contacts
        if self._on_unwrap is not None:
            self._on_unwrap(key_id)
        return material

    def _is_shredded(self, contact_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM shredded WHERE digest = ?",
                                (subject_digest("contact", contact_id),)).fetchone() is not None

    def _read_generation(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE name = 'generation'").fetchone()[0])

    def _check_generation(self) -> None:
        now = time.monotonic()
        if now - self._checked < GENERATION_CHECK_S:
            return
        self._checked = now
        generation = self._read_generation()
        if generation != self._generation:
            self._cache.clear()
            self._current.clear()
            self._generation = generation

    # --- owners --------------------------------------------------------------------------

    def link(self, contact_id: str, customer_id: str) -> None:
        """The customer behind ``contact_id`` is known: erasing them now covers this contact."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO owners VALUES (?, ?, ?)", (contact_id, customer_id, _now_ms()))

    def contacts_of(self, customer_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT key_id FROM owners WHERE customer_id = ? ORDER BY key_id",
                                    (customer_id,)).fetchall()
        return [r[0] for r in rows]

    def owner_of(self, contact_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT customer_id FROM owners WHERE key_id = ?", (contact_id,)).fetchone()
        return row[0] if row else None

    def knows(self, contact_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM data_keys WHERE key_id = ? LIMIT 1",
                                    (contact_id,)).fetchone() is not None

    def was_erased(self, kind: str, subject_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM shredded WHERE digest = ?",
                                    (subject_digest(kind, subject_id),)).fetchone() is not None

    # --- erasure -------------------------------------------------------------------------

    def shred(self, contact_ids: Iterable[str], customer_id: str | None = None) -> ShredResult:
        """Delete the data keys of ``contact_ids`` (and record the customer as erased), so
        nothing they sealed can be opened again; idempotent."""
        contacts = sorted(set(contact_ids))
        with self._lock:
            already = customer_id is not None and self._db.execute(
                "SELECT 1 FROM shredded WHERE digest = ?", (subject_digest("customer", customer_id),)).fetchone()
            now = _now_ms()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                shredded = 0
                for contact in contacts:
                    shredded += self._db.execute("DELETE FROM data_keys WHERE key_id = ?", (contact,)).rowcount
                    self._db.execute("DELETE FROM owners WHERE key_id = ?", (contact,))
                    self._db.execute("INSERT OR IGNORE INTO shredded VALUES (?, 'contact', ?)",
                                     (subject_digest("contact", contact), now))
                if customer_id is not None:
                    self._db.execute("INSERT OR IGNORE INTO shredded VALUES (?, 'customer', ?)",
                                     (subject_digest("customer", customer_id), now))
                self._db.execute("UPDATE meta SET value = value + 1 WHERE name = 'generation'")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._cache = {k: v for k, v in self._cache.items() if k[0] not in contacts}
            for contact in contacts:
                self._current.pop(contact, None)
            self._truncate_log()
        return ShredResult(contacts=contacts, keys_shredded=shredded, already_erased=bool(already))

    def _truncate_log(self) -> None:
        # the write-ahead log still holds the pages as they were before the delete
        for _ in range(50):
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.1)
        raise CallstreamError(f"the keystore's write-ahead log {self.path}-wal could not be truncated: readers kept it busy",
                              "run the erasure again: it is idempotent")

    def status(self) -> dict[str, int]:
        with self._lock:
            one = lambda sql: int(self._db.execute(sql).fetchone()[0])  # noqa: E731
            return {"data_keys": one("SELECT count(*) FROM data_keys"),
                    "linked_contacts": one("SELECT count(*) FROM owners"),
                    "erased_contacts": one("SELECT count(*) FROM shredded WHERE kind = 'contact'"),
                    "erased_customers": one("SELECT count(*) FROM shredded WHERE kind = 'customer'"),
                    "kek_version": int(getattr(self.wrapper, "version", 0))}

    def rotate_kek(self) -> tuple[int, int]:
        """Re-wrap every data key under a new KEK version and retire the old versions (a
        copy of the old KEK then opens nothing in this store). Returns (new version, keys)."""
        rotate = getattr(self.wrapper, "rotate", None)
        if rotate is None:
            raise ConfigError(f"{type(self.wrapper).__name__} rotates its keys itself", "rotate them in the KMS")
        new = rotate()
        rewrapped = 0
        with self._lock:
            while True:  # keys another process wrapped under the old version meanwhile are caught next round
                rows = self._db.execute("SELECT key_id, version, wrapped, kek_version FROM data_keys WHERE kek_version != ?",
                                        (new,)).fetchall()
                if not rows:
                    break
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for key_id, version, wrapped, old in rows:
                        material = self.wrapper.unwrap(wrapped, key_id, old)
                        self._db.execute("UPDATE data_keys SET wrapped = ?, kek_version = ? WHERE key_id = ? AND version = ?",
                                         (self.wrapper.wrap(material, key_id), new, key_id, version))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                rewrapped += len(rows)
            self._truncate_log()
        self.wrapper.retire(range(1, new))  # type: ignore[attr-defined]
        return new, rewrapped

    def close(self) -> None:
        self._db.close()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def open_keystore(keys_dir: Path, *, on_unwrap: Callable[[str], None] | None = None) -> KeyStore:
    """The local keystore of a deployment: ``keys_dir/keystore.db`` wrapped by ``keys_dir/kek``."""
    keys_dir = Path(keys_dir)
    return KeyStore(keys_dir / "keystore.db", FileKek(keys_dir / "kek"), on_unwrap=on_unwrap)
