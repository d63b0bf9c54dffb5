"""Erase one customer (or one contact) everywhere, with a receipt in the audit log.

In order:

1. **Find the contacts**: every contact the keystore links to the customer, plus every
   contact whose archived lifecycle or CRM events name them (calls archived before the
   link existed).
2. **Shred their data keys** (``KeyStore.shred``): from that moment every sealed field of
   theirs (the raw transcript, the caller's number) is ciphertext without a key in Kafka,
   in the archive, in the redactor's state and changelog, and in the dead-letter topic.
   Producers refuse to make a new key for them, so nothing new is sealed for them either.
3. **Purge the archive physically**: delete their rows from every archive table (a
   rewrite of the files holding them, swapped in keeping the archiver's offsets), then expire the snapshots
   that still reference the old files and delete the files only those snapshots held
   (``expire_snapshots``: pyiceberg's expiry alone leaves them on storage). When Kafka is
   reachable it first waits until the archiver has committed past Kafka's end offsets at
   the time of the shred, so no row of theirs still in flight lands after the purge.
4. **Write the receipt** (what was shredded and purged, counts, time) to the audit log,
   naming the subject by digest only.

Kafka's hot window keeps its copies until topic retention removes them (the raw topic one
day, the others three): the restricted fields there are sealed under the shredded key, and
the redacted and derived events carry no restricted data (see docs/data-protection.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import In

from callstream.archive.body import PAYLOAD_COLUMNS, payloads
from callstream.archive.maintenance import expire_snapshots, rewrite_table
from callstream.archive.tables import Archive, archived_offsets
from callstream.errors import CallstreamError
from callstream.governance.audit import operator
from callstream.governance.keystore import subject_digest
from callstream.governance.protection import Protection

if TYPE_CHECKING:
    from pyiceberg.table import Table

#: the archive tables whose events name the customer of a contact
_CUSTOMER_TOPICS = ("callstream.call.lifecycle", "callstream.crm.updates")


class UnknownSubject(CallstreamError):
    """Nothing is known about the customer or contact to erase: nothing was changed."""

    exit_code = 3


@dataclass
class ErasureReceipt:
    kind: str  # customer | contact
    subject: str  # digest of the id
    contacts: int
    keys_shredded: int
    already_erased: bool
    rows_purged: dict[str, int] = field(default_factory=dict)
    files_removed: int = 0
    archive_waited_s: float = 0.0
    seconds: float = 0.0
    finished_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def archived_contacts_of(archive: Archive, customer_id: str) -> set[str]:
    """Contacts whose archived lifecycle or CRM events name ``customer_id``."""
    needle = f'"customer_id":"{customer_id}"'.encode()
    found: set[str] = set()
    for topic in _CUSTOMER_TOPICS:
        table = archive.table(topic, create=False)
        if table is None or table.current_snapshot() is None:
            continue
        rows = table.scan(selected_fields=PAYLOAD_COLUMNS).to_arrow()
        if rows.num_rows:
            hits = rows.filter(pc.match_substring(payloads(rows).cast(pa.large_string()), pattern=needle.decode()))
            found.update(c for c in hits["contact_id"].to_pylist() if c)
    return found


def purge_archive(archive: Archive, contacts: list[str]) -> tuple[dict[str, int], int]:
    """Rewrite every file holding rows of ``contacts`` without them (in every table), then
    delete the old files. Beside a running archiver: the rewrite is done once and only its
    swap retried (``rewrite_table``)."""
    rows_purged: dict[str, int] = {}
    files = 0
    matching = In(term="contact_id", literals=contacts)

    def files_with_them(table: Table) -> list[list]:  # file statistics narrow it; the rewrite decides
        return [[task] for task in table.scan(row_filter=matching).plan_files()] if table.current_snapshot() else []

    for topic, table in archive.tables():
        done = rewrite_table(table, files_with_them, what="erasure", without_contacts=frozenset(contacts),
                             zstd_level=archive.settings.compacted_zstd_level)
        if done is not None:
            files += expire_snapshots(table)
            rows_purged[topic] = done.rows_dropped
    return rows_purged, files


def wait_for_archiver(archive: Archive, end_offsets: Mapping[str, Mapping[int, int]], timeout_s: float) -> float:
    """Wait until every archive table has committed up to ``end_offsets``; seconds waited."""
    started = time.monotonic()
    while True:
        behind = []
        for topic, ends in end_offsets.items():
            table = archive.table(topic, create=False)
            done = archived_offsets(table.refresh()) if table is not None else {}
            behind += [f"{topic}[{p}]" for p, end in ends.items() if end > 0 and done.get(p, 0) < end]
        if not behind:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise CallstreamError(
                f"the archiver has not archived past the erasure point of {', '.join(behind[:4])} in {timeout_s:.0f} s; "
                "the keys are shredded, the archive purge did not run",
                "check that `callstream archive run` (or `up`) is running, then run the same erase again")
        time.sleep(1.0)


def erase(protection: Protection, archive: Archive, *, customer: str | None = None, contact: str | None = None,
          end_offsets: Mapping[str, Mapping[int, int]] | None = None, archive_timeout_s: float = 120.0,
          actor: str = "admin") -> ErasureReceipt:
    """Erase ``customer`` (all their contacts) or one ``contact``; see the module docstring.
    ``end_offsets`` are Kafka's end offsets per archived topic, read just before the call."""
    if (customer is None) == (contact is None):
        raise CallstreamError("name exactly one subject to erase", "pass --customer ID or --contact ID")
    started = time.perf_counter()
    keystore = protection.keystore
    kind, subject_id = ("customer", customer) if customer is not None else ("contact", contact)
    assert subject_id is not None
    if customer is not None:
        contacts = set(keystore.contacts_of(customer)) | archived_contacts_of(archive, customer)
        known = bool(contacts)
    else:
        contacts = {subject_id}
        known = keystore.knows(subject_id) or bool(_archived_rows(archive, subject_id))
    if not known and not keystore.was_erased(kind, subject_id):
        raise UnknownSubject(f"no {kind} {subject_id} is known to the keystore or the archive; nothing was changed",
                             f"check the {kind} id (it is case-sensitive)")
    shred = keystore.shred(sorted(contacts), customer_id=customer)
    already = shred.already_erased or (not shred.keys_shredded and keystore.was_erased(kind, subject_id))
    waited = wait_for_archiver(archive, end_offsets, archive_timeout_s) if end_offsets else 0.0
    rows, files = purge_archive(archive, sorted(contacts)) if contacts else ({}, 0)
    receipt = ErasureReceipt(kind=kind, subject=subject_digest(kind, subject_id), contacts=len(contacts),
                             keys_shredded=shred.keys_shredded, already_erased=already, rows_purged=rows,
                             files_removed=files, archive_waited_s=round(waited, 3),
                             seconds=round(time.perf_counter() - started, 3), finished_ms=time.time_ns() // 1_000_000)
    protection.audit.append("erasure", operator(actor), receipt.to_dict())
    return receipt


def _archived_rows(archive: Archive, contact_id: str) -> int:
    total = 0
    for _, table in archive.tables():
        if table.current_snapshot() is not None:
            total += table.scan(row_filter=In(term="contact_id", literals=[contact_id]), selected_fields=("contact_id",)).to_arrow().num_rows
    return total
