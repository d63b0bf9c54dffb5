"""Erasure without Kafka: mid-call, twice, unknown subjects, and the archive purge."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from callstream.archive import maintenance
from callstream.archive.rows import build_rows
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive, archived_offsets
from callstream.contract.catalog import load_catalog
from callstream.contract.codec import decode_event, encode_event
from callstream.contract.events import CallInitiated, TranscriptSegment, event_type_of
from callstream.governance.audit import AuditLog
from callstream.governance.encryption import FieldCipher
from callstream.governance.erasure import UnknownSubject, erase
from callstream.governance.keystore import open_keystore
from callstream.governance.protection import ProducerSeal, Protection, UnwrapTally
from callstream.processors.base import KeyedMemoryState
from callstream.processors.redactor import Redactor
from callstream.processors.runtime import ProcessorStep

T0 = 1_790_000_000_000


@pytest.fixture
def protection(tmp_path) -> Protection:
    audit = AuditLog(tmp_path / "audit")
    keystore = open_keystore(tmp_path / "keys")
    return Protection(keystore, FieldCipher(keystore, load_catalog().topic_for), audit, UnwrapTally(audit, "test"))


@pytest.fixture
def archive(tmp_path) -> Archive:
    return Archive.open(ArchiveSettings.for_state_dir(tmp_path))


def call(contact: str, customer: str | None, segments: int, first: int = 1) -> list:
    events: list = []
    if first == 1:
        events.append(CallInitiated(event_id=f"{contact}-init", contact_id=contact, event_time_ms=T0, produced_at_ms=T0,
                                    producer="t", caller_number="+15555550100", dialed_number="+18005550100",
                                    customer_id=customer))
    events += [TranscriptSegment(event_id=f"{contact}-{i}", contact_id=contact, event_time_ms=T0 + i, produced_at_ms=T0,
                                 producer="t", segment_id=f"{contact}-s{i}", sequence=i, participant="customer",
                                 start_offset_ms=i, end_offset_ms=i + 1, text=f"my card is 4111 1111 1111 1111 ({i})",
                                 is_final=True) for i in range(first, first + segments)]
    return events


def archive_events(archive: Archive, events: list) -> None:
    catalog = load_catalog()
    by_topic: dict[str, list[bytes]] = {}
    for event in events:
        by_topic.setdefault(catalog.topic_for(event_type_of(event)), []).append(encode_event(event)[0])
    for topic, values in by_topic.items():
        n = len(values)
        table = archive.table(topic)
        start = sum(archived_offsets(table).values())
        table.append(build_rows(topic, [0] * n, list(range(start, start + n)), [T0] * n, [None] * n, values,
                                [None] * n, T0), snapshot_properties={"callstream.offsets": f'{{"0": {start + n}}}'})


def test_erasing_mid_call_stops_the_rest_of_the_call_everywhere(protection, archive):
    seal = ProducerSeal(protection)
    redactor = ProcessorStep(Redactor(), load_catalog(), protection)
    states = KeyedMemoryState()
    before = [seal(e) for e in call("c-live", "cust-live", 3)]
    in_flight = [encode_event(e)[0] for e in before[1:]]  # sealed segments still on their way to the redactor
    outputs = [redactor(in_flight[0], b"c-live", 0, None, states.for_key("c-live"))]
    assert "[CARD_NUMBER]" in decode_event(outputs[0][0].value).text
    archive_events(archive, before)

    receipt = erase(protection, archive, customer="cust-live")
    assert receipt.contacts == 1 and receipt.keys_shredded == 1 and sum(receipt.rows_purged.values()) == 4

    after = [seal(e) for e in call("c-live", "cust-live", 2, first=4)]
    assert after == [None, None] and seal.withheld == 2  # the rest of the call's speech is never written
    assert redactor(in_flight[1], b"c-live", 0, None, states.for_key("c-live")) == []  # dropped, not dead-lettered
    assert redactor.erased == 1
    assert "4111" not in repr(states.for_key("c-live").data)


def test_erasing_twice_and_erasing_an_unknown_subject(protection, archive):
    seal = ProducerSeal(protection)
    archive_events(archive, [seal(e) for e in call("c-1", "cust-1", 2)] + [seal(e) for e in call("c-2", "cust-2", 2)])
    first = erase(protection, archive, customer="cust-1")
    assert not first.already_erased and first.keys_shredded == 1
    second = erase(protection, archive, customer="cust-1")
    assert second.already_erased and second.keys_shredded == 0 and second.rows_purged == {}

    entries = len(list(protection.audit.entries()))
    rows = {t: tb.scan().to_arrow().num_rows for t, tb in archive.tables()}
    with pytest.raises(UnknownSubject, match="no customer cust-nobody is known") as refused:
        erase(protection, archive, customer="cust-nobody")
    assert refused.value.exit_code == 3
    with pytest.raises(UnknownSubject, match="no contact c-nobody is known"):
        erase(protection, archive, contact="c-nobody")
    assert len(list(protection.audit.entries())) == entries  # nothing written, nothing purged
    assert {t: tb.scan().to_arrow().num_rows for t, tb in archive.tables()} == rows
    assert protection.cipher.open(seal(call("c-2", "cust-2", 1)[1])).text.startswith("my card")


def test_the_purge_removes_old_snapshots_and_their_files_and_keeps_the_archivers_offsets(protection, archive, tmp_path):
    seal = ProducerSeal(protection)
    archive_events(archive, [seal(e) for e in call("c-1", "cust-1", 3)])
    archive_events(archive, [seal(e) for e in call("c-2", "cust-2", 3)])
    raw = archive.table("callstream.transcript.raw")
    offsets = archived_offsets(raw)
    assert offsets == {0: 6}
    receipt = erase(protection, archive, contact="c-1")
    raw = raw.refresh()
    assert len(raw.metadata.snapshots) == 1 and receipt.files_removed > 0
    assert archived_offsets(raw) == offsets  # the archiver resumes where it was
    remaining = raw.scan().to_arrow()["contact_id"].to_pylist()
    assert remaining == ["c-2"] * 3
    on_storage = [pq.read_table(p, columns=["contact_id"])["contact_id"].to_pylist() for p in tmp_path.rglob("*.parquet")]
    assert on_storage and not any("c-1" in contacts for contacts in on_storage)  # no file holds c-1's rows
    kinds = [e.kind for e in protection.audit.entries()]
    assert kinds == ["erasure"] and protection.audit.verify().ok


def test_the_purge_commits_beside_an_archiver_that_appended_during_its_rewrite(protection, archive, tmp_path, monkeypatch):
    # A running archiver commits every few seconds; a purge that redid its rewrite on each
    # lost race never finished beside one flushing every second.
    seal = ProducerSeal(protection)
    archive_events(archive, [seal(e) for e in call("c-1", "cust-1", 3)])
    archive_events(archive, [seal(e) for e in call("c-2", "cust-2", 3)])
    rewrite, flushes = maintenance.rewrite_runs, []

    def with_a_flush_meanwhile(table, runs, zstd_level, without_contacts=frozenset()):
        written = rewrite(table, runs, zstd_level, without_contacts)
        if len(flushes) < 2:
            archive_events(archive, [seal(e) for e in call("c-3", "cust-3", 2)])
            flushes.append(table.name())
        return written

    monkeypatch.setattr(maintenance, "rewrite_runs", with_a_flush_meanwhile)
    receipt = erase(protection, archive, contact="c-1")

    raw = archive.table("callstream.transcript.raw")
    assert receipt.rows_purged == {"callstream.transcript.raw": 3, "callstream.call.lifecycle": 1}
    assert sorted(raw.scan().to_arrow()["contact_id"].to_pylist()) == ["c-2"] * 3 + ["c-3"] * 4
    assert archived_offsets(raw) == {0: 10}  # the flushes made during the purge kept their offsets
    on_storage = [pq.read_table(p, columns=["contact_id"])["contact_id"].to_pylist() for p in tmp_path.rglob("*.parquet")]
    assert not any("c-1" in contacts for contacts in on_storage)
