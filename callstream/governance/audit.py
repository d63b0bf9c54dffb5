"""The tamper-evident audit log: who read restricted data, and every governance action.

Entries are JSON lines in ``<audit dir>/log.jsonl``, each chained to the one before it:

    hash(n) = SHA-256(0x00 || hash(n-1) || canonical JSON of entry n)

and every append ends with a *signed tree head* in ``heads.jsonl``: the log's size and its
chain hash at that size, signed with the deployment's Ed25519 audit key. ``verify`` reads
the log back and names the first entry that was edited, removed or reordered, entries
appended without a signed head (out of band), and a tail cut off below the newest head.

Appends from several processes on one host are serialised by an exclusive lock on the
log file. Entries name people only by digest (``subject_digest``), so the log stays
verifiable after a customer is erased and keeps nothing the erasure should remove.
Shipping the heads off the host (the archive, a ticket, another team's store) is what
makes a truncation that also removes the newest heads detectable; ``verify
--trusted-head`` checks against such a copy.
"""

from __future__ import annotations

import base64
import fcntl
import getpass
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from callstream.errors import CallstreamError, ConfigError
from callstream.local.credentials import create_private_once

GENESIS = bytes(32)
_encode = msgspec.json.Encoder(order="sorted").encode


class AuditError(CallstreamError):
    """The audit log cannot be written or read."""


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    time_ms: int
    kind: str  # replay.raw | keys.unwrap | erasure | acls.apply | keys.rotate | dashboard.login | ...
    actor: str
    detail: dict[str, Any] = {}


class Head(msgspec.Struct, frozen=True, kw_only=True):
    size: int
    root: str  # hex chain hash after ``size`` entries
    time_ms: int
    signature: str  # base64 Ed25519 over the head's message

    def message(self) -> bytes:
        return f"callstream-audit-head\x1f{self.size}\x1f{self.root}\x1f{self.time_ms}".encode()


def operator(principal: str) -> str:
    """An entry's actor for a command a person ran: the principal and the OS user behind it."""
    return f"{principal} (os user {getpass.getuser()})"


def chain(previous: bytes, body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + previous + body).digest()


def entry_body(entry: Entry) -> bytes:
    return _encode(entry)


class AuditLog:
    """One deployment's audit log under ``directory`` (owner-only), with its signing key."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.log_path = self.directory / "log.jsonl"
        self.heads_path = self.directory / "heads.jsonl"
        self.key_path = self.directory / "signing.key"
        self.public_key_path = self.directory / "signing.pub"

    # --- keys -------------------------------------------------------------------------------

    def _signing_key(self) -> Ed25519PrivateKey:
        try:
            raw = self.key_path.read_bytes()
        except FileNotFoundError:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            raw = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
            if not create_private_once(self.key_path, raw):  # another process created it first
                return self._signing_key()
        else:
            if self.key_path.stat().st_mode & 0o077:
                raise ConfigError(f"the audit signing key {self.key_path} is readable by other users",
                                  f"run `chmod 600 {self.key_path}`")
        key = Ed25519PrivateKey.from_private_bytes(raw)
        # Every process that signs makes sure the public half is there before its first entry:
        # the process that created the key may still be writing it (or have stopped before it),
        # and a verifier must never find a signed entry without the key to check it.
        if not self.public_key_path.exists():
            create_private_once(self.public_key_path, key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        return key

    def public_key(self) -> Ed25519PublicKey:
        try:
            return Ed25519PublicKey.from_public_bytes(self.public_key_path.read_bytes())
        except FileNotFoundError:
            raise AuditError(f"no audit log at {self.directory} (no signing.pub)",
                             "check --state-dir; the log is created by the first audited action") from None

    # --- writing ----------------------------------------------------------------------------

    def append(self, kind: str, actor: str, detail: Mapping[str, Any] | None = None) -> Entry:
        return self.append_many([(kind, actor, dict(detail or {}))])[-1]

    def append_many(self, items: Iterable[tuple[str, str, dict[str, Any]]]) -> list[Entry]:
        """Append entries and sign the new head, all under the log's lock."""
        key = self._signing_key()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+b") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            try:
                seq, root = self._tip(log)
                written = []
                lines = []
                for kind, actor, detail in items:
                    entry = Entry(seq=seq, time_ms=time.time_ns() // 1_000_000, kind=kind, actor=actor, detail=detail)
                    body = entry_body(entry)
                    root = chain(root, body)
                    lines.append(body + b"\n")
                    written.append(entry)
                    seq += 1
                log.write(b"".join(lines))
                log.flush()
                os.fsync(log.fileno())
                head = _sign(key, seq, root)
                with open(self.heads_path, "ab") as heads:
                    os.chmod(self.heads_path, 0o600)
                    heads.write(_encode(head) + b"\n")
                self._write_tip(seq, root)
                return written
            finally:
                fcntl.flock(log, fcntl.LOCK_UN)

    def _tip(self, log: Any) -> tuple[int, bytes]:
        """The next sequence number and the chain hash so far: from the tip file when it
        matches the log's length, else by reading the log (it was written elsewhere)."""
        size = os.fstat(log.fileno()).st_size
        try:
            tip = json.loads((self.directory / "tip.json").read_text())
            if tip["bytes"] == size:
                return tip["seq"], bytes.fromhex(tip["root"])
        except (FileNotFoundError, ValueError, KeyError):
            pass
        seq, root = 0, GENESIS
        for _, body in _lines(self.log_path):
            root = chain(root, body)
            seq += 1
        return seq, root

    def _write_tip(self, seq: int, root: bytes) -> None:
        tip = self.directory / "tip.json"
        tmp = tip.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": seq, "root": root.hex(), "bytes": self.log_path.stat().st_size}))
        tmp.replace(tip)

    # --- reading ----------------------------------------------------------------------------

    def entries(self) -> Iterator[Entry]:
        for _, body in _lines(self.log_path):
            yield msgspec.json.decode(body, type=Entry)

    def heads(self) -> list[Head]:
        return [msgspec.json.decode(body, type=Head) for _, body in _lines(self.heads_path)]

    def verify(self, trusted_head: Head | None = None) -> Verification:
        return verify_log(self.log_path, self.heads(), self.public_key(), trusted_head)


def _sign(key: Ed25519PrivateKey, size: int, root: bytes) -> Head:
    unsigned = Head(size=size, root=root.hex(), time_ms=time.time_ns() // 1_000_000, signature="")
    signature = base64.b64encode(key.sign(unsigned.message())).decode()
    return msgspec.structs.replace(unsigned, signature=signature)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip(b"\n")
            if line:
                yield number, line


@dataclass
class Verification:
    entries: int = 0
    heads: int = 0
    signed_size: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and self.entries > 0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "heads": self.heads, "signed_size": self.signed_size,
                "problems": self.problems, "seconds": round(self.seconds, 3)}


def verify_log(log_path: Path, heads: list[Head], public_key: Ed25519PublicKey,
               trusted_head: Head | None = None) -> Verification:
    """Check the chain, the heads and their signatures; every problem names its entry."""
    started = time.perf_counter()
    result = Verification(heads=len(heads))
    valid_heads: dict[int, str] = {}
    for index, head in enumerate([*heads, *([trusted_head] if trusted_head else [])]):
        try:
            public_key.verify(base64.b64decode(head.signature), head.message())
        except (InvalidSignature, ValueError):
            result.problems.append(f"signed head {index + 1} (size {head.size}) has an invalid signature: forged or edited")
            continue
        valid_heads[head.size] = head.root
    result.signed_size = max(valid_heads, default=0)

    root = GENESIS
    roots_at = {0: root.hex()}
    expected = 0
    broken = False
    seen: set[int] = set()
    out_of_place: tuple[int, int, int] | None = None  # line, expected seq, found seq
    for line_no, body in _lines(log_path):
        try:
            entry = msgspec.json.decode(body, type=Entry)
        except msgspec.DecodeError as exc:
            result.problems.append(f"line {line_no} is not an audit entry ({exc})")
            broken = True
            break
        if entry.seq != expected and out_of_place is None:
            out_of_place = (line_no, expected, entry.seq)
        seen.add(entry.seq)
        root = chain(root, body)
        expected += 1
        roots_at[expected] = root.hex()
    result.entries = expected
    if out_of_place is not None:
        line_no, wanted, found = out_of_place
        missing = sorted(set(range(max(seen) + 1)) - seen)
        if missing:
            result.problems.append(f"entry {missing[0]} was removed (line {line_no} holds entry {found})")
        else:
            result.problems.append(f"entries were reordered: line {line_no} holds entry {found}, expected entry {wanted}")
        broken = True

    if result.signed_size > expected:
        result.problems.append(f"the log ends after {expected} entries but a signed head covers {result.signed_size}: "
                               f"entries {expected}..{result.signed_size - 1} were cut off")
    for size, signed_root in sorted(valid_heads.items()):
        if size <= expected and roots_at[size] != signed_root and not broken:
            first_bad = _first_divergence(valid_heads, roots_at, size)
            result.problems.append(f"entry {first_bad} was edited: the chain no longer matches the head signed at size {size}")
            broken = True
            break
    if not broken and expected > result.signed_size:
        result.problems.append(f"entries {result.signed_size}..{expected - 1} are not covered by a signed head: "
                               f"appended out of band")
    result.seconds = time.perf_counter() - started
    return result


def _first_divergence(heads: dict[int, str], roots_at: dict[int, str], bad_size: int) -> int:
    """The earliest entry a mismatch can be pinned to: the first entry after the last
    signed head that still matches (each append signs a head, so this is usually exact)."""
    good = max((s for s, r in heads.items() if s < bad_size and roots_at.get(s) == r), default=0)
    return good


def read_head(path: Path) -> Head:
    """A head saved earlier (one line of heads.jsonl) to verify against."""
    try:
        return msgspec.json.decode(path.read_bytes().strip().splitlines()[-1], type=Head)
    except (OSError, IndexError, msgspec.DecodeError) as exc:
        raise ConfigError(f"cannot read a signed head from {path}: {exc}",
                          "pass a line copied from the audit log's heads.jsonl") from None
