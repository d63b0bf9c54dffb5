"""The readiness scorecard: scores only from evidence, honest zeros, what is missing next."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

from callstream.archive.settings import ArchiveSettings
from callstream.rehearse.scorecard import (
    AREAS,
    CAPABILITIES,
    RECOVERY_RUNBOOKS,
    CatalogFacts,
    Deployment,
    Evidence,
    RehearsalRun,
    Runbook,
    gather_evidence,
    read_reports,
    read_runbooks,
    score,
)
from callstream.settings import load_settings

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
#: the capabilities callstream has today
BUILT = ("events", "compatibility", "lag", "replay", "retention", "metrics", "snapshot", "curves", "rehearsal", "acl",
         "encryption", "audit", "migration")
FULL_CATALOG = CatalogFacts(path="catalog/topics.yaml", topics=15)
ALL_METRICS = ["callstream_client_errors_total", "callstream_consumer_lag_seconds", "callstream_brokers",
               "callstream_archive_lag_messages", "callstream_partition_skew_ratio", "callstream_stage_latency_seconds"]


def run(scenario: str, passed: bool = True, day: str = "2026-11-20") -> RehearsalRun:
    return RehearsalRun(scenario=scenario, passed=passed, finished_at=f"{day}T10:00:00+00:00",
                        path=f"docs/rehearsals/{scenario}/report.json", failed_checks=[] if passed else ["recovery_time_s <= 90"])


def evidence(**changes) -> Evidence:
    base = Evidence(
        now=NOW.isoformat(), event_types=23, catalog=FULL_CATALOG, schema_files=["schemas/call.ended/v1.json"],
        capabilities={name: CAPABILITIES[name] for name in BUILT},
        verified={"compatibility": ["schemas holds for callstream 0.1.0"], "retention": ["no row past retention"],
                  "metrics": ["docs/metrics.md documents every metric"], "lag": ["report"], "replay": ["report"]},
        rehearsals=[run("burst"), run("broker-failure"), run("consumer-crash"), run("replay-under-load")],
        runbooks=[Runbook("docs/runbooks/consumer-recovery.md", "consumer-recovery", "consumer-crash", "platform-operations"),
                  Runbook("docs/runbooks/replay.md", "replay", "replay-under-load", "platform-operations"),
                  Runbook("docs/runbooks/consumer-ownership.md", "consumer-ownership", "consumer-crash", "platform-operations")],
        metrics=ALL_METRICS, metrics_doc="docs/metrics.md",
    )
    return replace(base, **changes)


def scores(e: Evidence) -> dict[str, int]:
    return {a.area: a.score for a in score(e).areas}


def test_no_evidence_scores_zero_everywhere_and_says_what_is_missing() -> None:
    card = score(Evidence(now=NOW.isoformat()))
    assert [a.area for a in card.areas] == list(AREAS)
    assert all(a.score == 0 for a in card.areas) and card.total == 0
    for area in card.areas:
        assert area.missing and all(m.startswith("for 1: ") for m in area.missing), area


def test_full_evidence_reaches_two_where_the_project_could_and_no_further() -> None:
    got = scores(evidence())
    assert got == {"event model": 2, "burst behavior": 2, "consumer recovery": 2, "retention policy": 1,
                   "governance": 1, "migration safety": 1, "observability": 2}


def test_every_awarded_level_lists_its_evidence() -> None:
    for area in score(evidence()).areas:
        assert len(area.evidence) >= area.score, area
        if area.score < 2:
            assert area.missing[0].startswith(f"for {area.score + 1}: ")


def test_burst_needs_a_fresh_passing_burst_and_a_failure_rehearsal_for_two() -> None:
    assert scores(evidence(rehearsals=[run("burst")]))["burst behavior"] == 1
    assert scores(evidence(rehearsals=[run("broker-failure")]))["burst behavior"] == 0
    assert scores(evidence(rehearsals=[run("burst", passed=False), run("broker-failure")]))["burst behavior"] == 0
    stale = evidence(rehearsals=[run("burst", day="2026-01-02"), run("broker-failure")])
    assert scores(stale)["burst behavior"] == 0
    area = next(a for a in score(stale).areas if a.area == "burst behavior")
    assert "rehearsal burst passed on 2026-01-02" in area.evidence[0] and "last 90 days" in area.missing[0]
    failed = next(a for a in score(evidence(rehearsals=[run("burst"), run("broker-failure", passed=False)])).areas
                  if a.area == "burst behavior")
    assert failed.score == 1 and any("FAILED (recovery_time_s <= 90)" in line for line in failed.evidence)


def test_consumer_recovery_needs_runbooks_tested_by_passing_rehearsals() -> None:
    assert scores(evidence(runbooks=[]))["consumer recovery"] == 1
    two = evidence(runbooks=evidence().runbooks[:2])
    area = next(a for a in score(two).areas if a.area == "consumer recovery")
    assert area.score == 1 and area.missing == ["for 2: a consumer-ownership runbook in docs/runbooks/ naming the rehearsal that tests it"]
    untested = evidence(rehearsals=[run("burst"), run("broker-failure"), run("replay-under-load")])
    area = next(a for a in score(untested).areas if a.area == "consumer recovery")
    assert area.score == 1 and "rehearsal consumer-crash" in area.missing[0]
    assert scores(evidence(capabilities={}))["consumer recovery"] == 0


def test_governance_counts_each_capability_only_when_installed_and_verified() -> None:
    with_acl = evidence().capabilities | {"acl": CAPABILITIES["acl"]}
    assert scores(evidence(capabilities=with_acl))["governance"] == 1
    full = with_acl | {"encryption": CAPABILITIES["encryption"], "audit": CAPABILITIES["audit"]}
    verified = evidence().verified | {"acl": ["acls verify"], "encryption": ["ciphertext read"], "audit": ["chain"]}
    assert scores(evidence(capabilities=full))["governance"] == 1
    assert scores(evidence(capabilities=full, verified=verified))["governance"] == 2


def test_retention_two_needs_declared_owners_and_an_archive_that_follows_its_retention() -> None:
    owned = replace(FULL_CATALOG, retention_owners=["internal", "restricted"])
    assert scores(evidence(catalog=owned))["retention policy"] == 2
    partly = replace(owned, retention_unowned=["public"])  # every classification's retention needs its owners
    area = next(a for a in score(evidence(catalog=partly)).areas if a.area == "retention policy")
    assert area.score == 1 and area.missing[0].endswith("missing for public")
    overdue = evidence(catalog=owned, verified={}, check_failures={"retention": "t keeps 5 rows past 30 days"})
    area = next(a for a in score(overdue).areas if a.area == "retention policy")
    assert area.score == 1 and "t keeps 5 rows past 30 days" in area.missing[0]
    gaps = replace(FULL_CATALOG, without_retention=["callstream.deadletter"])
    assert scores(evidence(catalog=gaps))["retention policy"] == 0


def test_event_model_needs_owners_schemas_and_a_live_compatibility_check() -> None:
    assert scores(evidence(catalog=replace(FULL_CATALOG, without_owner=["t"])))["event model"] == 0
    assert scores(evidence(schemas_missing=["call.ended"]))["event model"] == 1
    drifted = evidence(verified={}, check_failures={"compatibility": "1 problem(s), e.g. call.ended drifted"})
    area = next(a for a in score(drifted).areas if a.area == "event model")
    assert area.score == 1 and "call.ended drifted" in area.missing[0]


def test_migration_two_needs_a_passing_migration_rehearsal() -> None:
    tooling = evidence().capabilities | {"migration": CAPABILITIES["migration"]}
    assert scores(evidence(capabilities=tooling))["migration safety"] == 1
    assert scores(evidence(capabilities=tooling, rehearsals=[run("migration")]))["migration safety"] == 2


def test_observability_two_needs_every_kind_of_metric() -> None:
    assert scores(evidence(metrics=[m for m in ALL_METRICS if "archive" not in m]))["observability"] == 1
    assert scores(evidence(metrics=[], capabilities={}))["observability"] == 0


def make_deployment(root: Path) -> Deployment:
    """A minimal deployment of its own: a catalog, one runbook, one report, no archive yet."""
    (root / "catalog").mkdir(parents=True)
    (root / "catalog" / "topics.yaml").write_text(yaml.safe_dump({
        "classifications": {"restricted": {"archive_retention_days": 30, "cost_owner": "ops", "compliance_owner": "legal",
                                           "replay_owner": "ops"},
                            "internal": {"archive_retention_days": 395, "cost_owner": "ops"}},
        "topics": [{"name": "a", "owner": "x", "retention": "1d", "consumers": ["c"], "classification": "restricted"},
                   {"name": "b", "retention": "1d", "classification": "public"}]}))
    (root / "ops" / "runbooks").mkdir(parents=True)
    (root / "ops" / "runbooks" / "replay.md").write_text(
        "---\nrunbook: replay\nrehearsal: replay-under-load\nowner: ops\n---\n# Replay\n")
    report = root / "reports" / "burst"
    report.mkdir(parents=True)
    (report / "report.json").write_text(json.dumps({
        "scenario": "burst", "passed": True, "run": {"finished_at": "2026-11-24T09:00:00+00:00"},
        "verdicts": [{"check": "x", "passed": True}]}))
    (root / "reports" / "junk").mkdir()
    (root / "reports" / "junk" / "report.json").write_text("{not json")
    return Deployment(root=root, catalog=Path("catalog/topics.yaml"), schemas=Path("schemas"),
                      reports=(Path("reports"),), runbooks=Path("ops/runbooks"), metrics_doc=Path("metrics.md"),
                      archive=ArchiveSettings.for_state_dir(root / "state"))


def test_gather_reads_the_deployment_and_skips_what_it_cannot_read(tmp_path: Path) -> None:
    found = gather_evidence(make_deployment(tmp_path / "d"), now=NOW)
    assert [r.scenario for r in found.rehearsals] == ["burst"]
    assert found.rehearsals[0].path == "reports/burst/report.json"
    assert found.catalog.path == "catalog/topics.yaml"
    assert found.catalog.without_owner == ["b"] and found.catalog.without_consumers == ["b"]
    # owners of a retention count per classification; one named by a topic but not declared has none
    assert found.catalog.retention_owners == ["restricted"] and found.catalog.retention_unowned == ["internal", "public"]
    assert found.runbooks == [Runbook("ops/runbooks/replay.md", "replay", "replay-under-load", "ops")]
    assert set(found.capabilities) == set(BUILT)  # what the installed callstream provides, nothing more
    assert found.schema_files == [] and "compatibility" not in found.verified
    assert found.check_failures["retention"] == "no archive yet (nothing to check)"
    assert found.metrics_doc is None
    card = score(found)
    assert {a.area: a.score for a in card.areas}["governance"] == 1  # ACL tooling installed, not verified here
    assert {a.area: a.score for a in card.areas}["event model"] == 0


def test_stored_schemas_are_checked_against_the_installed_code(tmp_path: Path) -> None:
    from callstream.contract.schemas import export_schemas

    deployment = make_deployment(tmp_path / "d")
    export_schemas(tmp_path / "d" / "schemas")
    assert "compatibility" in gather_evidence(deployment, now=NOW).verified
    stored = tmp_path / "d" / "schemas" / "call.ended" / "v1.json"
    stored.write_text(stored.read_text().replace('"ended_by"', '"ended_by_someone"'))
    found = gather_evidence(deployment, now=NOW)
    assert "compatibility" not in found.verified and "call.ended" in found.check_failures["compatibility"]


def test_this_repository_is_one_deployment_with_honest_zeros(monkeypatch) -> None:
    repository = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repository)
    card = score(gather_evidence(Deployment.from_settings(load_settings(None, state_dir=repository / ".no-state"))))
    got = {a.area: a for a in card.areas}
    # the tooling, and the migration rehearsal recorded under docs/rehearsals (2 while it is fresh)
    assert got["migration safety"].score >= 1
    assert any("docs/rehearsals/migration/report.json" in line for line in got["migration safety"].evidence)
    # ACLs verified (docs/rehearsals/acls-verify); encryption and the audit log are checked on a
    # running deployment's archive and log, which a checkout without state does not have
    assert got["governance"].score == 1
    assert got["event model"].score == 2 and got["observability"].score == 2
    assert all(a.evidence or a.score == 0 for a in card.areas)
    assert json.loads(json.dumps(card.to_json()))["max"] == 14


def test_governance_reaches_two_on_sealed_archived_transcripts_and_a_verifying_audit_log(tmp_path: Path) -> None:
    from callstream.archive.rows import build_rows
    from callstream.archive.tables import Archive
    from callstream.contract.codec import encode_event
    from callstream.contract.events import TranscriptSegment
    from callstream.governance.audit import AuditLog
    from callstream.governance.encryption import FieldCipher
    from callstream.governance.keystore import open_keystore

    deployment = make_deployment(tmp_path / "d")
    (tmp_path / "d" / "reports" / "acls-verify").mkdir(parents=True)
    (tmp_path / "d" / "reports" / "acls-verify" / "report.json").write_text(json.dumps(
        {"scenario": "acls-verify", "passed": True, "finished_at": NOW.isoformat()}))
    cipher = FieldCipher(open_keystore(tmp_path / "keys"), lambda _: "callstream.transcript.raw")
    segments = [TranscriptSegment(event_id=f"e{i}", contact_id="c1", event_time_ms=NOW_MS, produced_at_ms=NOW_MS,
                                  producer="t", segment_id=f"s{i}", sequence=i, participant="customer",
                                  start_offset_ms=0, end_offset_ms=1, text=f"my card is 4111 {i}", is_final=True)
                for i in range(3)]
    table = Archive.open(deployment.archive).table("callstream.transcript.raw")

    def archive(events) -> None:
        values = [encode_event(e)[0] for e in events]
        n = len(values)
        table.append(build_rows("callstream.transcript.raw", [0] * n, list(range(n)), [NOW_MS] * n, [b"c1"] * n,
                                values, [None] * n, NOW_MS))

    archive([cipher.seal(s) for s in segments])
    audit = AuditLog(tmp_path / "audit")
    audit.append("acls.apply", "admin", {"added": 3})
    deployment = replace(deployment, audit_dir=tmp_path / "audit")
    found = gather_evidence(deployment, now=NOW)
    assert "3 of 3 archived raw transcript segments hold sealed text" in found.verified["encryption"][0]
    assert "1 entries" in found.verified["audit"][0]
    assert {a.area: a.score for a in score(found).areas}["governance"] == 2

    archive(segments[:1])  # one plaintext segment, or an edited log: back to 1
    found = gather_evidence(deployment, now=NOW)
    assert found.check_failures["encryption"] == "1 of 4 archived raw transcript segments hold plaintext"
    assert {a.area: a.score for a in score(found).areas}["governance"] == 1


def test_every_shipped_runbook_names_a_rehearsal_with_a_passing_recorded_report() -> None:
    root = Path(__file__).resolve().parents[2]
    books = read_runbooks(root / "docs" / "runbooks", root)
    passed = {r.scenario for r in read_reports([root / "docs" / "rehearsals"], root) if r.passed}
    assert {b.name for b in books} >= set(RECOVERY_RUNBOOKS)
    for book in books:
        assert book.owner and book.rehearsal in passed, book
