"""What one process needs to protect restricted data: its keystore, cipher and audit log.

``open_protection(settings, actor)`` gives a process (the simulator, a gateway, the
redactor, privileged replay, ``erase``) the deployment's keystore and audit log, or
``None`` when the deployment runs without encryption. Key unwraps are audited per
process and time window ("the redactor opened 812 contact keys between 10:00 and
10:01"), not per record: the log stays small and still answers who read what, when.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from callstream.contract.catalog import load_catalog
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.events import Envelope, event_type_of
from callstream.errors import DecodeError
from callstream.governance.audit import AuditLog
from callstream.governance.encryption import RESTRICTED_FIELDS, FieldCipher, SealError
from callstream.governance.keystore import KeyShredded, KeyStore, KeyUnavailable, open_keystore, subject_digest

if TYPE_CHECKING:
    from callstream.archive.replay import CallTimeline
    from callstream.settings import Settings

#: unwraps are summed per process over this window before they become an audit entry
UNWRAP_WINDOW_S = 60.0


class UnwrapTally:
    """Counts the data keys a process unwraps and writes one audit entry per window."""

    def __init__(self, audit: AuditLog, actor: str, window_s: float = UNWRAP_WINDOW_S) -> None:
        self.audit = audit
        self.actor = actor
        self.window_s = window_s
        self._lock = threading.Lock()
        self._count = 0
        self._started_ms = 0

    def __call__(self, key_id: str) -> None:
        now_ms = time.time_ns() // 1_000_000
        with self._lock:
            if self._count == 0:
                self._started_ms = now_ms
            self._count += 1
            due = now_ms - self._started_ms >= self.window_s * 1000
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            count, started = self._count, self._started_ms
            self._count = 0
        if count:
            self.audit.append("keys.unwrap", self.actor, {
                "keys": count, "from_ms": started, "to_ms": time.time_ns() // 1_000_000})


@dataclass
class Protection:
    keystore: KeyStore
    cipher: FieldCipher
    audit: AuditLog
    tally: UnwrapTally

    def close(self) -> None:
        self.tally.flush()
        self.keystore.close()


def open_audit(settings: Settings) -> AuditLog:
    return AuditLog(settings.audit_dir)


@contextmanager
def keystore_session(settings: Settings, actor: str) -> Iterator[Protection]:
    """The deployment's keystore and audit log for one command (erase, keys, replay --raw),
    whether or not its producers encrypt; closed, and its key use audited, at the end."""
    protection = open_protection(settings, actor, force=True)
    assert protection is not None  # force: always opened
    try:
        yield protection
    finally:
        protection.close()


def open_protection(settings: Settings, actor: str, *, force: bool = False) -> Protection | None:
    """The protection of ``actor``'s process, or None when encryption is off (unless ``force``:
    erasure and privileged replay still need the keystore of a deployment that turned it off)."""
    if not settings.protection.encryption and not force:
        return None
    audit = open_audit(settings)
    tally = UnwrapTally(audit, actor)
    keystore = open_keystore(settings.keys_dir, on_unwrap=tally)
    catalog = load_catalog(settings.deployment.catalog)
    return Protection(keystore, FieldCipher(keystore, catalog.topic_for), audit, tally)


class ProducerSeal:
    """A producer's side of field encryption (the simulator, a speech gateway): link each
    contact to its customer as soon as an event names them, then seal restricted fields.
    Events of an erased contact are withheld (``None``): no key is made for it again."""

    def __init__(self, protection: Protection) -> None:
        self.protection = protection
        self._linked: set[str] = set()
        self.withheld = 0

    def __call__(self, event: Envelope) -> Envelope | None:
        customer = getattr(event, "customer_id", None)
        if customer and event.contact_id not in self._linked:
            if len(self._linked) > 100_000:
                self._linked.clear()
            self.protection.keystore.link(event.contact_id, customer)
            self._linked.add(event.contact_id)
        try:
            return self.protection.cipher.seal(event)
        except KeyShredded:
            self.withheld += 1
            return None

    def flush(self) -> None:
        """Write the key use counted so far to the audit log (the run is ending)."""
        self.protection.tally.flush()


def open_payload(cipher: FieldCipher, payload: bytes | None) -> tuple[bytes | None, int]:
    """A stored event with its sealed fields opened, and how many fields that opened; an
    erased contact's fields stay sealed (their key is gone)."""
    try:
        event = decode_event(payload)
    except DecodeError:
        return payload, 0
    if event is None:
        return payload, 0
    try:
        opened = cipher.open(event)
    except (KeyShredded, KeyUnavailable, SealError):
        return payload, 0
    if opened is event:
        return payload, 0
    return encode_event(opened, validate=False)[0], len(RESTRICTED_FIELDS.get(event_type_of(event), ()))


def reveal_timeline(protection: Protection, timeline: CallTimeline, actor: str) -> CallTimeline:
    """A call's timeline with its sealed restricted fields opened (privileged replay),
    recorded in the audit log: who, which contacts (by digest), how many fields."""
    events, opened = [], 0
    for event in timeline.events:
        payload, fields = open_payload(protection.cipher, event.payload)
        opened += fields
        events.append(dataclasses.replace(event, payload=payload))
    protection.audit.append("replay.raw", actor, {
        "contacts": [subject_digest("contact", c) for c in timeline.contact_ids],
        "events": len(events), "fields_opened": opened})
    return dataclasses.replace(timeline, events=tuple(events))
