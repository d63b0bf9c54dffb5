"""Field-level envelope encryption and the keystore, without Kafka."""

from __future__ import annotations

import sqlite3
import stat
import time
from pathlib import Path

import msgspec
import pytest
from support.racing import race

from callstream import bounded
from callstream.bounded import forget_oldest
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.events import CallInitiated, TranscriptSegment
from callstream.governance.encryption import RESTRICTED_FIELDS, FieldCipher, SealError, StateSeal, is_sealed
from callstream.governance.keystore import FileKek, KeyShredded, KeyStore, KeyUnavailable, open_keystore
from callstream.processors.base import MemoryState
from callstream.processors.redactor import Redactor

TOPICS = {"transcript.segment": "callstream.transcript.raw", "call.initiated": "callstream.call.lifecycle"}


def segment(text: str, event_id: str = "e1", contact: str = "c1", sequence: int = 1) -> TranscriptSegment:
    return TranscriptSegment(event_id=event_id, contact_id=contact, event_time_ms=1, produced_at_ms=1,
                             producer="test", segment_id=f"s-{event_id}", sequence=sequence, participant="customer",
                             start_offset_ms=0, end_offset_ms=10, text=text, is_final=True)


@pytest.fixture
def cipher(tmp_path):
    store = open_keystore(tmp_path / "keys")
    yield FieldCipher(store, TOPICS.__getitem__)
    store.close()


def test_the_contract_decides_what_is_restricted():
    assert RESTRICTED_FIELDS == {"call.initiated": ("caller_number",), "transcript.segment": ("text",)}


def test_a_sealed_field_is_ciphertext_on_the_wire_and_opens_with_the_key(cipher):
    plain = segment("my card is 4111 1111 1111 1111")
    sealed = cipher.seal(plain)
    value, headers = encode_event(sealed)
    assert b"4111" not in value and is_sealed(sealed.text)
    assert cipher.open(decode_event(value, headers)) == plain
    # a new nonce per seal: equal texts do not give equal ciphertexts
    assert cipher.seal(plain).text != sealed.text


def test_a_ciphertext_moved_to_another_record_field_or_topic_does_not_open(cipher):
    sealed = cipher.seal(segment("my pin is 4321"))
    with pytest.raises(SealError, match="moved from another record"):
        cipher.open(msgspec.structs.replace(segment("x", event_id="e2"), text=sealed.text))
    call = CallInitiated(event_id="e1", contact_id="c1", event_time_ms=1, produced_at_ms=1, producer="t",
                         caller_number=sealed.text, dialed_number="+18005550100")
    with pytest.raises(SealError):
        cipher.open(call)  # same event id and contact, another field and topic
    body = sealed.text[:-6] + ("A" if sealed.text[-6] != "A" else "B") + sealed.text[-5:]
    with pytest.raises(SealError):
        cipher.open(msgspec.structs.replace(sealed, text=body))


def test_key_files_are_owner_only_and_the_kek_sits_apart(tmp_path):
    store = open_keystore(tmp_path / "keys")
    store.data_key("c1")
    for name in ("keystore.db", "kek"):
        assert stat.S_IMODE((tmp_path / "keys" / name).stat().st_mode) == 0o600
    (tmp_path / "keys" / "kek").chmod(0o644)
    with pytest.raises(Exception, match="readable by other users"):
        open_keystore(tmp_path / "keys")


def test_shredding_leaves_no_wrapped_key_in_the_files_for_the_kek_to_open(tmp_path):
    store = open_keystore(tmp_path / "keys")
    cipher = FieldCipher(store, TOPICS.__getitem__)
    sealed = cipher.seal(segment("call me on 555 0100", contact="c-erased"))
    keep = cipher.seal(segment("hello", contact="c-kept"))
    with sqlite3.connect(tmp_path / "keys" / "keystore.db") as db:  # as anyone holding the file would
        wrapped = db.execute("SELECT wrapped FROM data_keys WHERE key_id = 'c-erased'").fetchone()[0]
    other = open_keystore(tmp_path / "keys")  # another process's cache, warmed before the shred
    assert FieldCipher(other, TOPICS.__getitem__).open(sealed).text == "call me on 555 0100"

    result = store.shred(["c-erased"], customer_id="cust-1")
    assert result.keys_shredded == 1 and not result.already_erased
    files = b"".join(p.read_bytes() for p in (tmp_path / "keys").iterdir() if p.is_file())
    assert wrapped not in files
    with pytest.raises(KeyShredded):
        cipher.open(sealed)
    with pytest.raises(KeyShredded):
        store.data_key("c-erased")  # no new key is ever made for an erased contact
    time.sleep(1.1)  # caches watch the shred generation once a second
    with pytest.raises(KeyShredded):
        FieldCipher(other, TOPICS.__getitem__).open(sealed)
    assert cipher.open(keep).text == "hello"
    assert store.shred(["c-erased"], customer_id="cust-1").already_erased


def test_contacts_link_to_their_customer_once_known(tmp_path):
    store = open_keystore(tmp_path / "keys")
    store.data_key("c1")
    store.data_key("c2")
    store.link("c1", "cust-9")
    store.link("c2", "cust-9")
    assert store.contacts_of("cust-9") == ["c1", "c2"] and store.owner_of("c1") == "cust-9"


class TransitWrapper:
    """Stands for a KMS or Vault transit engine: callstream sees only wrap and unwrap."""

    version = 7

    def __init__(self) -> None:
        self.calls = 0

    def wrap(self, data_key: bytes, key_id: str) -> bytes:
        self.calls += 1
        return bytes(b ^ 0x5A for b in data_key) + key_id.encode()

    def unwrap(self, wrapped: bytes, key_id: str, kek_version: int) -> bytes:
        self.calls += 1
        assert kek_version == 7 and wrapped.endswith(key_id.encode())
        return bytes(b ^ 0x5A for b in wrapped[:32])


def test_another_key_wrapper_takes_the_local_keks_place(tmp_path):
    transit = TransitWrapper()
    cipher = FieldCipher(KeyStore(tmp_path / "ks.db", transit), TOPICS.__getitem__)
    assert cipher.open(cipher.seal(segment("secret"))).text == "secret"
    assert transit.calls >= 2
    with pytest.raises(KeyUnavailable):
        FieldCipher(KeyStore(tmp_path / "ks.db", FileKek(tmp_path / "kek")), TOPICS.__getitem__).open(
            cipher.seal(segment("secret")))


def test_the_redactor_keeps_only_sealed_context_in_its_state(cipher):
    redactor = Redactor()
    redactor.state_seal = StateSeal(cipher, "redactor")
    state = MemoryState()
    list(redactor.process(segment("my card number is 4111 1111", event_id="e1"), state))
    out = list(redactor.process(segment("1111 1111 thanks", event_id="e2", sequence=2), state))
    assert "4111" not in repr(state.data) and "1111" not in repr(state.data)
    assert out[0].text.startswith("[CARD_NUMBER]") or "1111" not in out[0].text  # context still used
    cipher.keystore.shred(["c1"])
    out = list(redactor.process(segment("fine, thanks", event_id="e3", sequence=3), state))
    assert out[0].text == "fine, thanks"  # erased context is dropped, not a failure


def test_rotating_the_kek_rewraps_every_key_and_retires_the_old_one(tmp_path):
    store = open_keystore(tmp_path / "keys")
    cipher = FieldCipher(store, TOPICS.__getitem__)
    sealed = [cipher.seal(segment(f"text {i}", contact=f"c{i}")) for i in range(5)]
    old_kek = (tmp_path / "keys" / "kek").read_bytes()
    other = open_keystore(tmp_path / "keys")  # another process, started before the rotation
    assert store.rotate_kek() == (2, 5)
    assert not (tmp_path / "keys" / "kek").exists() and (tmp_path / "keys" / "kek.v2").exists()
    fresh = FieldCipher(open_keystore(tmp_path / "keys"), TOPICS.__getitem__)
    assert [fresh.open(s).text for s in sealed] == [f"text {i}" for i in range(5)]
    # the old KEK opens nothing left in the store
    with sqlite3.connect(tmp_path / "keys" / "keystore.db") as db:
        rows = db.execute("SELECT key_id, wrapped, kek_version FROM data_keys").fetchall()
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    for key_id, wrapped, version in rows:
        assert version == 2
        with pytest.raises(InvalidTag):
            AESGCM(old_kek).decrypt(wrapped[:12], wrapped[12:], key_id.encode())
    # a process that started before the rotation wraps its new keys under the new KEK
    FieldCipher(other, TOPICS.__getitem__).seal(segment("later", contact="c-new"))
    assert fresh.open(FieldCipher(other, TOPICS.__getitem__).seal(segment("later", contact="c-new"))).text == "later"
    assert store.status()["kek_version"] == 2 and store.status()["data_keys"] == 6


def test_a_full_cache_forgets_its_oldest_tenth_not_everything():
    entries = {n: str(n) for n in range(100)}
    forget_oldest(entries, 100)
    assert len(entries) == 100  # at the limit: nothing to forget
    entries[100] = "100"
    forget_oldest(entries, 100)
    assert list(entries) == list(range(11, 101))  # the ten oldest and one more went


def test_keys_and_ciphers_are_kept_for_recent_contacts_only(tmp_path, monkeypatch):
    monkeypatch.setattr(bounded, "RECENT_CONTACTS", 50)
    store = open_keystore(tmp_path / "keys")
    cipher = FieldCipher(store, TOPICS.__getitem__)
    try:
        sealed = {}
        for n in range(200):
            contact = f"c{n}"
            sealed[contact] = cipher.seal(segment(f"my pin is {n:04d}", event_id=f"e{n}", contact=contact))
            cipher.seal(segment("again", event_id=f"f{n}", contact=contact))  # the current-version lookup too
        assert len(cipher._aead) <= 50 and len(store._cache) <= 50 and len(store._current) <= 50  # noqa: SLF001
        assert ("c199", 1) in cipher._aead and ("c0", 1) not in cipher._aead  # noqa: SLF001
        # a contact forgotten by the caches still opens: its key is read from the keystore again
        assert cipher.open(sealed["c0"]).text == "my pin is 0000"
        assert cipher.open(sealed["c199"]).text == "my pin is 0199"
    finally:
        store.close()


def _kek_of(path: str) -> str:
    FileKek(Path(path))
    return Path(path).read_bytes().hex()


def test_workers_starting_together_on_a_new_state_dir_share_one_whole_key(tmp_path) -> None:
    for round_ in range(15):
        path = tmp_path / f"r{round_}" / "kek"
        got = race(_kek_of, str(path))  # the race: a worker reading a key not yet written
        assert len(set(got)) == 1 and len(got[0]) == 64, got  # one 256-bit key, every racer read it whole
        assert sorted(p.name for p in path.parent.iterdir()) == ["kek"]  # no draft left behind


def _keystore_opened(path: str) -> str:
    KeyStore(Path(path) / "keystore.db", FileKek(Path(path) / "kek")).data_key("contact-1")
    return "opened"


def test_workers_starting_together_open_one_new_keystore(tmp_path) -> None:
    # SQLite refused the switch to WAL at once ("database is locked") while another process
    # opened the same new file: 8 of 60 rounds of four racers failed before the retry
    for round_ in range(20):
        directory = tmp_path / f"r{round_}"
        FileKek(directory / "kek")  # the key exists, as when `up` made it before the workers
        assert race(_keystore_opened, str(directory), racers=4) == ["opened"] * 4
