"""The readiness scorecard: scores only from evidence, honest zeros, what is missing next."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

from callstream.rehearse.scorecard import (
    AREAS,
    CatalogFacts,
    Evidence,
    RehearsalRun,
    Runbook,
    gather_evidence,
    score,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FULL_CATALOG = CatalogFacts(path="catalog/topics.yaml", topics=15)
ALL_METRICS = ["callstream_client_errors_total", "callstream_consumer_lag_seconds", "callstream_brokers",
               "callstream_archive_lag_messages", "callstream_partition_skew_ratio", "callstream_stage_latency_seconds"]


def run(scenario: str, passed: bool = True, day: str = "2026-11-20") -> RehearsalRun:
    return RehearsalRun(scenario=scenario, passed=passed, finished_at=f"{day}T10:00:00+00:00",
                        path=f"docs/rehearsals/{scenario}/report.json", failed_checks=[] if passed else ["recovery_time_s <= 90"])


def evidence(**changes) -> Evidence:
    base = Evidence(
        now=NOW.isoformat(), event_types=23, catalog=FULL_CATALOG, schema_files=["schemas/call.ended/v1.json"],
        code={"events": ["callstream/contract/events.py"], "compatibility": ["callstream/contract/schemas.py"],
              "lag": ["callstream/observe/lag.py"], "replay": ["callstream/archive/replay.py"],
              "retention": ["callstream/archive/maintenance.py"], "metrics": ["callstream/observe/metrics.py"],
              "snapshot": ["callstream/observe/snapshot.py"], "curves": ["callstream/simulate/curves.py"]},
        tests={"compatibility": ["tests/contract/test_schemas.py"], "schema_drift": ["tests/contract/test_schemas.py"],
               "lag": ["tests/observe/test_lag.py"], "replay": ["tests/archive/test_replay.py"],
               "retention": ["tests/archive/test_maintenance.py"], "metrics": ["tests/observe/test_metrics.py"],
               "rehearsal": ["tests/rehearse/test_rehearsal_kafka.py"]},
        rehearsals=[run("burst"), run("broker-failure"), run("consumer-crash"), run("replay-under-load")],
        runbooks=[Runbook("docs/runbooks/consumer-recovery.md", "consumer-recovery", "consumer-crash", "platform-operations"),
                  Runbook("docs/runbooks/replay.md", "replay", "replay-under-load", "platform-operations"),
                  Runbook("docs/runbooks/consumer-ownership.md", "consumer-ownership", "consumer-crash", "platform-operations")],
        ci=".ci/run", metrics=ALL_METRICS, metrics_doc="docs/metrics.md",
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
                   "governance": 0, "migration safety": 0, "observability": 2}


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
    assert scores(evidence(tests={}))["consumer recovery"] == 0


def test_governance_counts_each_capability_only_with_code_and_tests() -> None:
    code = evidence().code | {"acl": ["callstream/governance/acls.py"]}
    assert scores(evidence(code=code))["governance"] == 1
    full = code | {"encryption": ["callstream/governance/crypto.py"], "audit": ["callstream/governance/audit.py"]}
    tests = evidence().tests | {"acl": ["t1"], "encryption": ["t2"], "audit": ["t3"]}
    assert scores(evidence(code=full))["governance"] == 1
    assert scores(evidence(code=full, tests=tests))["governance"] == 2


def test_retention_two_needs_declared_cost_compliance_and_replay_owners() -> None:
    owned = replace(FULL_CATALOG, retention_owners=["classification restricted"])
    assert scores(evidence(catalog=owned))["retention policy"] == 2
    gaps = replace(FULL_CATALOG, without_retention=["callstream.deadletter"])
    assert scores(evidence(catalog=gaps))["retention policy"] == 0


def test_event_model_needs_owners_schemas_checks_and_ci() -> None:
    assert scores(evidence(catalog=replace(FULL_CATALOG, without_owner=["t"])))["event model"] == 0
    assert scores(evidence(schemas_missing=["call.ended"]))["event model"] == 1
    assert scores(evidence(ci=None))["event model"] == 1


def test_migration_two_needs_a_passing_migration_rehearsal() -> None:
    code = evidence().code | {"migration": ["scenarios/migration.yaml"]}
    assert scores(evidence(code=code))["migration safety"] == 1
    assert scores(evidence(code=code, rehearsals=[run("migration")]))["migration safety"] == 2


def test_observability_two_needs_every_kind_of_metric() -> None:
    assert scores(evidence(metrics=[m for m in ALL_METRICS if "archive" not in m]))["observability"] == 1
    assert scores(evidence(metrics=[], code={}))["observability"] == 0


def make_project(root: Path) -> Path:
    """A minimal project tree: a catalog, one runbook, one report, one governance module."""
    (root / "catalog").mkdir(parents=True)
    (root / "catalog" / "topics.yaml").write_text(yaml.safe_dump({
        "classifications": {"restricted": {"archive_retention_days": 30}},
        "topics": [{"name": "a", "owner": "x", "retention": "1d", "consumers": ["c"]},
                   {"name": "b", "retention": "1d"}]}))
    (root / "docs" / "runbooks").mkdir(parents=True)
    (root / "docs" / "runbooks" / "replay.md").write_text(
        "---\nrunbook: replay\nrehearsal: replay-under-load\nowner: ops\n---\n# Replay\n")
    report = root / "docs" / "rehearsals" / "burst"
    report.mkdir(parents=True)
    (report / "report.json").write_text(json.dumps({
        "scenario": "burst", "passed": True, "run": {"finished_at": "2026-11-24T09:00:00+00:00"},
        "verdicts": [{"check": "x", "passed": True}]}))
    (root / "docs" / "rehearsals" / "junk").mkdir()
    (root / "docs" / "rehearsals" / "junk" / "report.json").write_text("{not json")
    (root / "callstream" / "governance").mkdir(parents=True)
    (root / "callstream" / "governance" / "acls.py").write_text("from confluent_kafka.admin import AclBinding\n")
    (root / "callstream" / "rehearse").mkdir()
    (root / "callstream" / "rehearse" / "scorecard.py").write_text("AESGCM Fernet AclBinding  # names only\n")
    return root


def test_gather_reads_the_project_and_skips_what_it_cannot_read(tmp_path: Path) -> None:
    found = gather_evidence(make_project(tmp_path / "p"), now=NOW)
    assert [r.scenario for r in found.rehearsals] == ["burst"]
    assert found.rehearsals[0].path == "docs/rehearsals/burst/report.json"
    assert found.catalog.without_owner == ["b"] and found.catalog.without_consumers == ["b"]
    assert found.runbooks == [Runbook("docs/runbooks/replay.md", "replay", "replay-under-load", "ops")]
    assert found.code["acl"] == ["callstream/governance/acls.py"]
    assert found.code["encryption"] == []  # the scorecard naming a word is no evidence
    assert found.ci is None and found.metrics == []
    card = score(found)
    assert {a.area: a.score for a in card.areas}["governance"] == 1
    assert {a.area: a.score for a in card.areas}["event model"] == 0


def test_the_real_project_gets_honest_zeros_where_nothing_exists_yet() -> None:
    card = score(gather_evidence(now=datetime.now(UTC)))
    got = {a.area: a for a in card.areas}
    assert got["migration safety"].score == 0
    assert got["event model"].score >= 1 and got["observability"].score >= 1
    assert all(a.evidence or a.score == 0 for a in card.areas)
    assert json.loads(json.dumps(card.to_json()))["max"] == 14
