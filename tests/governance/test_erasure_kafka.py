"""The erasure proof, through the real pipeline: simulated calls of several customers, sealed
by the simulator, redacted by a real redactor worker, archived; then one customer is erased
with `callstream erase`, and every topic, every reachable archive snapshot, the processors'
state stores and changelogs and the dead-letter topic are searched for that customer's PII."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import rocksdict
from confluent_kafka.admin import AdminClient
from support.reading import read_to_end

from callstream.archive.archiver import archive_topics
from callstream.archive.body import payloads
from callstream.archive.replay import ReplayScope, call_timeline
from callstream.archive.tables import Archive
from callstream.contract.codec import decode_event
from callstream.contract.events import TranscriptSegment
from callstream.governance.protection import ProducerSeal, open_payload, open_protection, reveal_timeline
from callstream.settings import load_settings
from callstream.simulate.customers import e164
from callstream.simulate.groundtruth import read_ground_truth
from callstream.simulate.simulator import SimulationSettings, run_simulation

pytestmark = pytest.mark.slow


def pii_by_customer(truth_path: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """customer -> their PII strings (long enough to be unique), customer -> contacts."""
    pii: dict[str, set[str]] = defaultdict(set)
    contacts: dict[str, set[str]] = defaultdict(set)
    for call in read_ground_truth(truth_path):
        contacts[call.customer_id].update(call.linked_contact_ids)
        pii[call.customer_id].update({e164(call.caller_number), call.caller_number})
        for segment in call.segments:
            for span in segment.pii:
                if not span.fragment:
                    pii[call.customer_id].update(s for s in (span.text, span.value) if len(s) >= 8)
    shared = defaultdict(int)
    for strings in pii.values():
        for s in strings:
            shared[s] += 1
    return {c: {s for s in strings if shared[s] == 1} for c, strings in pii.items()}, contacts


def read_all(conf: dict[str, str], *topics: str, timeout_s: float = 60.0) -> list:
    """Every committed record of ``topics``, read to each partition's end (no group join)."""
    return read_to_end(conf, *topics, timeout_s=timeout_s)


def message_bytes(m) -> bytes:
    return b"".join([m.key() or b"", m.value() or b"", *((v or b"") for _, v in (m.headers() or []))])


def matches(blobs, strings: set[str]) -> list[str]:
    needles = [s.encode() for s in strings]
    return sorted({n.decode() for blob in blobs for n in needles if n in blob})


def state_store_values(root: Path) -> list[bytes]:
    """Every key and value in every RocksDB store (and column family) under ``root``."""
    found = []
    for current in root.rglob("CURRENT"):
        path = str(current.parent)
        for family in rocksdict.Rdict.list_cf(path):
            db = rocksdict.Rdict(path, access_type=rocksdict.AccessType.read_only(), column_families={
                f: rocksdict.Options(raw_mode=True) for f in rocksdict.Rdict.list_cf(path)},
                options=rocksdict.Options(raw_mode=True))
            for key, value in db.get_column_family(family).items():
                found.append(bytes(key) + bytes(value))
            db.close()
    return found


def test_erasing_a_customer_leaves_no_readable_pii_anywhere(kafka_config, pipeline, workers, tmp_path, cli_env,
                                                           kafka_settings_env, eventually, monkeypatch) -> None:
    state = tmp_path / "state"
    for name, value in kafka_settings_env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(None, state_dir=state)
    truth = tmp_path / "truth.jsonl"
    overrides = {t: pipeline[t] for t in ("callstream.call.lifecycle", "callstream.transcript.raw",
                                           "callstream.agent.actions", "callstream.crm.updates")}
    protection = open_protection(settings, "simulator")
    summary = run_simulation(SimulationSettings(rate_per_min=30, duration_s=40, max_speed=True, seed=23,
                                                ground_truth_path=truth, topic_overrides=overrides),
                             kafka_config, progress=False, seal=ProducerSeal(protection))
    pii, contacts = pii_by_customer(truth)
    target = max(pii, key=lambda c: len(pii[c]))
    others = {s for c, strings in pii.items() if c != target for s in strings}
    assert summary.calls >= 5 and len(pii[target]) >= 3 and others

    # a plain consumer authorized to the raw topic reads ciphertext only
    raw = read_all(kafka_config, pipeline["callstream.transcript.raw"])
    assert raw and matches([message_bytes(m) for m in raw], pii[target] | others) == []
    opened = [open_payload(protection.cipher, m.value())[0] for m in raw]
    assert set(matches(opened, pii[target])) == pii[target] & set(matches(opened, pii[target] | others))
    assert matches(opened, pii[target]), "the search finds the customer's PII once the fields are opened"

    workers("redactor")
    workers("fraud")
    segments = {e.segment_id for e in (decode_event(m.value(), m.headers()) for m in raw) if isinstance(e, TranscriptSegment)}
    assert eventually(lambda: len(read_all(kafka_config, pipeline["callstream.transcript.redacted"])) >= len(segments),
                      timeout_s=120)
    archive_settings = settings.archive_settings(flush_max_rows=2000, flush_max_age_s=1.0)
    archived = archive_topics(archive_settings, kafka_config, list(pipeline.names.values()), idle_exit_s=3.0,
                              max_seconds=120)
    assert archived.archived >= summary.events

    erase = [sys.executable, "-m", "callstream", "--state-dir", str(state), "erase", "--customer", target, "--json"]
    done = subprocess.run(erase, env=cli_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    receipt = json.loads(done.stdout)
    assert receipt["contacts"] == len(contacts[target]) and receipt["keys_shredded"] == len(contacts[target])
    assert sum(receipt["rows_purged"].values()) > 0 and receipt["files_removed"] > 0
    workers.group.stop_all()  # type: ignore[attr-defined]  # their stores can be opened once they stopped

    # Kafka: every pipeline topic (the dead-letter topic among them) and every changelog
    suffix = pipeline["callstream.deadletter"].rsplit(".", 1)[-1]
    changelogs = [t for t in AdminClient(kafka_config).list_topics(timeout=10).topics if t.startswith("changelog__")
                  and suffix in t]
    assert changelogs, "the stateful workers' changelog topics are searched too"
    kafka_values = []
    for m in read_all(kafka_config, *pipeline.names.values(), *changelogs):
        kafka_values += [message_bytes(m), open_payload(protection.cipher, m.value())[0] or b""]
    assert matches(kafka_values, pii[target]) == []
    assert matches(kafka_values, others), "the other customers' data still opens"

    # the archive: every snapshot still reachable, fields opened where a key remains
    archive = Archive.open(archive_settings)
    archive_values, erased_rows = [], 0
    for _, table in archive.tables():
        for snapshot in table.metadata.snapshots:
            rows = table.scan(snapshot_id=snapshot.snapshot_id).to_arrow()
            erased_rows += sum(1 for c in rows["contact_id"].to_pylist() if c in contacts[target])
            values = payloads(rows).to_pylist()  # compacted rows hold their events as columns
            archive_values += [v or b"" for v in values]
            archive_values += [open_payload(protection.cipher, v)[0] or b"" for v in values]
    assert erased_rows == 0 and matches(archive_values, pii[target]) == []
    assert matches(archive_values, others)

    # processor state stores on disk
    stores = state_store_values(state / "processors")
    assert stores and matches(stores, pii[target]) == []

    # another customer's call replays in full, restricted text opened for the privileged replay
    other = next(c for c in contacts if c != target and pii[c] & others)
    scope = ReplayScope(topics=tuple(pipeline.names.values()), restricted=frozenset({pipeline["callstream.transcript.raw"]}))
    timelines = [call_timeline(archive, c, scope=scope, include_raw=True, include_linked=False) for c in contacts[other]]
    revealed = [reveal_timeline(protection, t, "test") for t in timelines]
    assert matches([e.payload or b"" for t in revealed for e in t.events], pii[other])
    assert not matches([e.payload or b"" for t in timelines for e in t.events], pii[other])

    # twice: a receipt that says so, nothing left; unknown: exit 3, nothing changed
    again = subprocess.run(erase, env=cli_env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout)["already_erased"]
    log_before = (state / "audit" / "log.jsonl").read_bytes()
    unknown = subprocess.run([*erase[:-3], "--customer", "cust-nobody"], env=cli_env, capture_output=True, text=True,
                             timeout=300)
    assert unknown.returncode == 3 and "no customer cust-nobody is known" in unknown.stderr
    assert (state / "audit" / "log.jsonl").read_bytes() == log_before
    verified = subprocess.run([sys.executable, "-m", "callstream", "--state-dir", str(state), "audit", "verify", "--json"],
                              env=cli_env, capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"], verified.stdout
    kinds = [json.loads(line)["kind"] for line in (state / "audit" / "log.jsonl").read_text().splitlines()]
    assert kinds.count("erasure") == 2 and "replay.raw" in kinds
