"""Field-level envelope encryption of restricted fields, decided by the event contract.

A field whose type the contract classifies ``restricted`` (``x-classification`` in the
JSON Schemas: the raw transcript text, the caller's number) is sealed by its producer with
the data key of its contact (``callstream.governance.keystore``): AES-256-GCM, with the
catalog topic, the event id and the field name as associated data, so a ciphertext moved
to another record, field or topic fails to open. The sealed value stays a JSON string:

    cs1:<key version>:<key id, base64url>:<nonce + ciphertext + tag, base64url>

so every schema, the archive and the dead-letter topic carry it unchanged, and a reader
without the key sees only that. The redactor and privileged replay open it; everything
else reads the redacted stream.
"""

from __future__ import annotations

import base64
import secrets
import typing
from collections.abc import Callable
from functools import cache

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callstream.bounded import forget_oldest
from callstream.contract.events import EVENT_TYPES, Envelope, event_type_of
from callstream.errors import CallstreamError
from callstream.governance.keystore import KeyStore

SEALED_PREFIX = "cs1:"
_NONCE_BYTES = 12


class SealError(CallstreamError):
    """A sealed field does not open: tampered, moved to another record, or not a sealed value."""


@cache
def restricted_fields(event_class: type[Envelope]) -> tuple[str, ...]:
    """The fields of an event class the contract classifies ``restricted``."""
    hints = typing.get_type_hints(event_class, include_extras=True)
    found = []
    for name in msgspec.structs.fields(event_class):
        for meta in getattr(hints.get(name.name), "__metadata__", ()):
            extra = getattr(meta, "extra_json_schema", None) or {}
            if extra.get("x-classification") == "restricted":
                found.append(name.name)
    return tuple(found)


#: event type -> its restricted fields, for every event type that has any
RESTRICTED_FIELDS: dict[str, tuple[str, ...]] = {
    tag: fields for tag, cls in EVENT_TYPES.items() if (fields := restricted_fields(cls))
}


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def field_context(topic: str, event_id: str, field: str) -> bytes:
    """The associated data of a sealed field: where it belongs."""
    return f"{topic}\x1f{event_id}\x1f{field}".encode()


class FieldCipher:
    """Seals and opens restricted fields with per-contact data keys from ``keystore``.

    ``topic_of`` names the catalog topic of an event type (the associated data uses the
    catalog's name, so a renamed copy of a topic in a test or a migration target opens
    the same records)."""

    def __init__(self, keystore: KeyStore, topic_of: Callable[[str], str]) -> None:
        self.keystore = keystore
        self._topic_of = topic_of
        self._aead: dict[tuple[str, int], AESGCM] = {}

    # --- single values ---------------------------------------------------------------------

    def seal_value(self, contact_id: str, plaintext: str, context: bytes) -> str:
        key = self.keystore.data_key(contact_id)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._cipher(key.key_id, key.version, key.material).encrypt(nonce, plaintext.encode(), context)
        return f"{SEALED_PREFIX}{key.version}:{_b64(key.key_id.encode())}:{_b64(nonce + sealed)}"

    def open_value(self, value: str, context: bytes) -> str:
        """The plaintext of a sealed value; ``KeyShredded`` when its key was erased,
        ``SealError`` when it was tampered with or belongs elsewhere."""
        try:
            _, version, key_id_b64, body_b64 = value.split(":", 3)
            key_id, body = _unb64(key_id_b64).decode(), _unb64(body_b64)
            key_version = int(version)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SealError(f"not a sealed value ({exc})") from None
        material = self.keystore.key(key_id, key_version)
        try:
            return self._cipher(key_id, key_version, material).decrypt(body[:_NONCE_BYTES], body[_NONCE_BYTES:], context).decode()
        except InvalidTag:
            raise SealError("the sealed value does not open: it was altered, or moved from another record or field") from None

    def _cipher(self, key_id: str, version: int, material: bytes) -> AESGCM:
        aead = self._aead.get((key_id, version))
        if aead is None:
            aead = self._aead[(key_id, version)] = AESGCM(material)
            forget_oldest(self._aead)  # a cipher per recent contact
        return aead

    # --- events -----------------------------------------------------------------------------

    def seal(self, event: Envelope) -> Envelope:
        """``event`` with every restricted field sealed (already sealed ones kept)."""
        return self._rewrite(event, lambda value: isinstance(value, str) and bool(value) and not is_sealed(value),
                             lambda value, context: self.seal_value(event.contact_id, value, context))

    def open(self, event: Envelope) -> Envelope:
        """``event`` with every sealed restricted field opened; plaintext fields pass."""
        return self._rewrite(event, is_sealed, self.open_value)

    def _rewrite(self, event: Envelope, applies: Callable[[object], bool],
                 change: Callable[[str, bytes], str]) -> Envelope:
        """``event`` with ``change(value, associated data)`` applied to each restricted field
        whose value ``applies``; the event itself when none does."""
        tag = event_type_of(event)
        fields = RESTRICTED_FIELDS.get(tag)
        if not fields:
            return event
        topic = self._topic_of(tag)
        changes = {name: change(value, field_context(topic, event.event_id, name))
                   for name in fields if applies(value := getattr(event, name))}
        return msgspec.structs.replace(event, **changes) if changes else event

    @staticmethod
    def is_protected(event: Envelope) -> bool:
        """Whether every non-empty restricted field of ``event`` is sealed."""
        return all(is_sealed(v) or not v for v in
                   (getattr(event, f) for f in RESTRICTED_FIELDS.get(event_type_of(event), ())))


class StateSeal:
    """Seals what a processor keeps in its per-call state (and so in its changelog topic)
    under the contact's data key: erasing the customer makes the state unreadable too."""

    def __init__(self, cipher: FieldCipher, processor: str) -> None:
        self.cipher = cipher
        self.processor = processor

    def seal(self, contact_id: str, name: str, text: str) -> str:
        return self.cipher.seal_value(contact_id, text, self._context(contact_id, name))

    def open(self, contact_id: str, name: str, stored: str) -> str:
        if not is_sealed(stored):
            return stored
        return self.cipher.open_value(stored, self._context(contact_id, name))

    def _context(self, contact_id: str, name: str) -> bytes:
        return f"state\x1f{self.processor}\x1f{contact_id}\x1f{name}".encode()
