"""Benchmark: what data protection costs. No Kafka; one process, like a redactor worker.

1. The redactor's per-message step (decode, open, redact, seal its context, encode) over
   simulated raw segments: plaintext input and no keystore (the baseline) against sealed
   input opened with per-contact keys. Reported as the median of ``--rounds`` rounds and
   the ratio, with the spread of the ratios.
2. The audit log: appending ``--audit-entries`` entries (batches of 1,000, one signed head
   per batch), then ``verify``, against a bare SHA-256 chain over the same lines (baseline).
3. Erasure: an archive of ``--archive-events`` simulated events (sealed as the simulator
   seals them), then ``erase`` of one customer: shred, physical purge, snapshot expiry.

    python bench/protection.py [--rounds 5] [--segments 20000] [--audit-entries 1000000] [--archive-events 1000000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from callstream.archive.rows import build_rows
from callstream.archive.settings import ArchiveSettings
from callstream.archive.tables import Archive
from callstream.contract.catalog import load_catalog
from callstream.contract.codec import encode_event
from callstream.contract.events import TranscriptSegment
from callstream.governance.audit import AuditLog
from callstream.governance.erasure import erase
from callstream.governance.protection import Protection, open_protection
from callstream.processors.base import KeyedMemoryState
from callstream.processors.redactor import Redactor
from callstream.processors.runtime import ProcessorStep
from callstream.settings import Settings
from callstream.simulate.simulator import SimulationSettings, generate_events


def simulated(events_wanted: int, seed: int = 7):
    """(topic, event) pairs of a simulated run, the first ``events_wanted`` of them."""
    settings = SimulationSettings(rate_per_min=600, duration_s=86_400, max_speed=True, seed=seed, drain=False)
    for n, sim in enumerate(generate_events(settings)):
        if n >= events_wanted:
            return
        yield sim.topic, sim.event


def protection_in(directory: Path) -> Protection:
    """A deployment's protection in ``directory`` (its keys and audit log), as workers open it."""
    protection = open_protection(Settings(state_dir=directory), "bench", force=True)
    assert protection is not None
    return protection


def redactor_step(segments: int, rounds: int, directory: Path) -> dict:
    raw = [e for _, e in simulated(segments * 3) if isinstance(e, TranscriptSegment)][:segments]
    protection = protection_in(directory)
    plain = [encode_event(e)[0] for e in raw]
    sealed = [encode_event(protection.cipher.seal(e))[0] for e in raw]
    catalog = load_catalog()

    def run(values: list[bytes], with_keys: bool) -> float:
        step = ProcessorStep(Redactor(), catalog, protection if with_keys else None)
        states = KeyedMemoryState()
        started = time.perf_counter()
        for event, value in zip(raw, values, strict=True):
            step(value, event.contact_id.encode(), 0, None, states.for_key(event.contact_id))
        return len(values) / (time.perf_counter() - started)

    base, enc = [], []
    for _ in range(rounds):
        base.append(run(plain, with_keys=False))
        enc.append(run(sealed, with_keys=True))
    ratios = [e / b for e, b in zip(enc, base, strict=True)]
    return {"segments": len(raw), "plaintext_per_s": round(statistics.median(base)),
            "sealed_per_s": round(statistics.median(enc)), "ratio": round(statistics.median(ratios), 3),
            "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
            "contacts": len({e.contact_id for e in raw})}


def audit_log(entries: int, directory: Path) -> dict:
    log = AuditLog(directory / "audit-bench")
    batch = 1000
    started = time.perf_counter()
    for first in range(0, entries, batch):
        log.append_many([("keys.unwrap", "redactor", {"keys": i, "window": "60s"})
                         for i in range(first, min(entries, first + batch))])
    append_s = time.perf_counter() - started
    result = log.verify()
    started = time.perf_counter()
    root = bytes(32)
    with log.log_path.open("rb") as handle:
        for line in handle:
            root = hashlib.sha256(b"\x00" + root + line.rstrip(b"\n")).digest()
    bare_s = time.perf_counter() - started
    return {"entries": result.entries, "heads": result.heads, "ok": result.ok,
            "append_per_s": round(entries / append_s), "verify_s": round(result.seconds, 2),
            "verify_per_s": round(result.entries / result.seconds), "bare_chain_per_s": round(entries / bare_s),
            "verify_vs_bare": round(bare_s / result.seconds, 3)}


def erasure(events: int, directory: Path) -> dict:
    protection = protection_in(directory / "erasure")
    archive = Archive.open(ArchiveSettings.for_state_dir(directory / "erasure"))
    by_topic: dict[str, list] = defaultdict(list)
    customers: dict[str, set[str]] = defaultdict(set)
    started = time.perf_counter()
    for topic, event in simulated(events, seed=11):
        customer = getattr(event, "customer_id", None)
        if customer:
            customers[customer].add(event.contact_id)
            protection.keystore.link(event.contact_id, customer)
        by_topic[topic].append(encode_event(protection.cipher.seal(event), validate=False)[0])
    built_s = time.perf_counter() - started
    started = time.perf_counter()
    for topic, values in by_topic.items():
        table = archive.table(topic)
        for first in range(0, len(values), 200_000):
            chunk = values[first:first + 200_000]
            n = len(chunk)
            table.append(build_rows(topic, [0] * n, list(range(first, first + n)), [None] * n, [None] * n,
                                    chunk, [None] * n, time.time_ns() // 1_000_000))
    archived_s = time.perf_counter() - started
    target = max(customers, key=lambda c: len(customers[c]))
    receipt = erase(protection, archive, customer=target, actor="bench")
    return {"events": sum(map(len, by_topic.values())), "tables": len(by_topic), "customers": len(customers),
            "contacts_erased": receipt.contacts, "rows_purged": sum(receipt.rows_purged.values()),
            "files_removed": receipt.files_removed, "erase_s": receipt.seconds,
            "build_s": round(built_s, 1), "archive_s": round(archived_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--segments", type=int, default=20_000)
    parser.add_argument("--audit-entries", type=int, default=1_000_000)
    parser.add_argument("--archive-events", type=int, default=1_000_000)
    args = parser.parse_args()
    console = Console()
    directory = Path(tempfile.mkdtemp(prefix="callstream-protection-bench-"))
    step = redactor_step(args.segments, args.rounds, directory)
    audit = audit_log(args.audit_entries, directory)
    erased = erasure(args.archive_events, directory)

    table = Table("measure", "baseline", "with protection", "ratio", title="data protection (one process)")
    table.add_row(f"redactor step, {step['segments']:,} segments/s (median of {args.rounds})",
                  f"{step['plaintext_per_s']:,}", f"{step['sealed_per_s']:,}",
                  f"{step['ratio']:.3f} ({step['ratio_min']:.3f}-{step['ratio_max']:.3f})")
    table.add_row(f"audit verify, {audit['entries']:,} entries/s", f"{audit['bare_chain_per_s']:,} (bare chain)",
                  f"{audit['verify_per_s']:,}", f"{audit['verify_vs_bare']:.3f}")
    table.add_row("audit append, entries/s (batches of 1,000)", "", f"{audit['append_per_s']:,}", "")
    table.add_row(f"erase one customer in {erased['events']:,} archived events", "",
                  f"{erased['erase_s']:.2f} s ({erased['rows_purged']:,} rows, {erased['files_removed']} files)", "")
    console.print(table)
    print(json.dumps({"redactor_step": step, "audit": audit, "erasure": erased}))


if __name__ == "__main__":
    main()
