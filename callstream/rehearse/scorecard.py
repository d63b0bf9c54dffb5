"""The readiness scorecard: seven areas, each 0 (weak), 1 (partial) or 2 (documented,
tested and owned), scored only from evidence the project can check.

``gather_evidence`` looks at the project (rehearsal reports and their dates, the catalog,
exported schemas, runbooks, which capabilities have code and tests); ``score`` is a pure
function of that evidence. Each level names what it rests on, and every area lists what is
missing for the next level, so a score is never awarded on faith: no file, no point.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from rich.console import Group
from rich.table import Table
from rich.text import Text

#: a rehearsal older than this no longer proves today's behavior
FRESH_DAYS = 90
AREAS = ("event model", "burst behavior", "consumer recovery", "retention policy", "governance",
         "migration safety", "observability")
BURST_SCENARIOS = ("burst",)
FAILURE_SCENARIOS = ("broker-failure", "broker-failure-stays-down", "consumer-crash")
RETENTION_OWNER_KEYS = ("cost_owner", "compliance_owner", "replay_owner")
RECOVERY_RUNBOOKS = ("consumer-recovery", "replay", "consumer-ownership")

#: capability -> what in the package source shows it exists (the rehearsal lab itself is
#: not scanned: it names these words without implementing them)
CODE_PATTERNS = {
    "acl": re.compile(r"\bAclBinding\b|\.create_acls\("),
    "encryption": re.compile(r"\bAESGCM\b|\bFernet\b|\bChaCha20Poly1305\b"),
    "audit": re.compile(r"^class \w*Audit\w*\b", re.MULTILINE),
}


@dataclass(frozen=True)
class RehearsalRun:
    scenario: str
    passed: bool
    finished_at: str | None
    path: str
    failed_checks: list[str] = field(default_factory=list)

    def age_days(self, now: datetime) -> float | None:
        if not self.finished_at:
            return None
        try:
            when = datetime.fromisoformat(self.finished_at)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (now - when) / timedelta(days=1)


@dataclass(frozen=True)
class CatalogFacts:
    path: str
    topics: int = 0
    without_owner: list[str] = field(default_factory=list)
    without_retention: list[str] = field(default_factory=list)
    without_consumers: list[str] = field(default_factory=list)
    classifications_without_retention: list[str] = field(default_factory=list)
    #: classifications (or topics) declaring cost, compliance and replay owners for retention
    retention_owners: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class Runbook:
    path: str
    name: str
    rehearsal: str | None
    owner: str | None


@dataclass(frozen=True)
class Evidence:
    """Everything the scorecard judges, as plain checkable facts (paths are relative)."""

    now: str
    event_types: int = 0
    catalog: CatalogFacts = field(default_factory=lambda: CatalogFacts(path="catalog/topics.yaml", error="not read"))
    schema_files: list[str] = field(default_factory=list)
    schemas_missing: list[str] = field(default_factory=list)
    #: capability -> files (code or tests) that show it
    code: dict[str, list[str]] = field(default_factory=dict)
    tests: dict[str, list[str]] = field(default_factory=dict)
    rehearsals: list[RehearsalRun] = field(default_factory=list)
    runbooks: list[Runbook] = field(default_factory=list)
    ci: str | None = None
    metrics: list[str] = field(default_factory=list)
    metrics_doc: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AreaScore:
    area: str
    score: int
    evidence: list[str]
    missing: list[str]


@dataclass(frozen=True)
class Scorecard:
    areas: list[AreaScore]
    evidence: Evidence

    @property
    def total(self) -> int:
        return sum(a.score for a in self.areas)

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "max": 2 * len(self.areas), "scored_at": self.evidence.now,
                "areas": [asdict(a) for a in self.areas], "evidence": self.evidence.to_json()}


# --- gathering ------------------------------------------------------------------------------

def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def read_reports(directories: Iterable[Path], root: Path) -> list[RehearsalRun]:
    """Every readable ``report.json`` under ``directories`` (unreadable ones are skipped)."""
    runs, seen = [], set()
    for directory in directories:
        if not Path(directory).is_dir():
            continue
        for path in sorted(Path(directory).rglob("report.json")):
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            try:
                data = json.loads(path.read_text())
                run = RehearsalRun(
                    scenario=str(data["scenario"]), passed=data.get("passed") is True,
                    finished_at=(data.get("run") or {}).get("finished_at"), path=_relative(path, root),
                    failed_checks=[v["check"] for v in data.get("verdicts", []) if not v.get("passed")])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            runs.append(run)
    return runs


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def read_catalog_facts(path: Path, root: Path) -> CatalogFacts:
    try:
        document = yaml.safe_load(path.read_text()) or {}
        topics = document.get("topics") or []
        classifications = document.get("classifications") or {}
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        return CatalogFacts(path=_relative(path, root), error=str(exc))
    name = lambda t: str(t.get("name", "?"))  # noqa: E731
    owners = [f"classification {c}" for c, policy in classifications.items()
              if isinstance(policy, dict) and all(policy.get(k) for k in RETENTION_OWNER_KEYS)]
    owners += [f"topic {name(t)}" for t in topics if all(t.get(k) for k in RETENTION_OWNER_KEYS)]
    return CatalogFacts(
        path=_relative(path, root), topics=len(topics),
        without_owner=[name(t) for t in topics if not t.get("owner")],
        without_retention=[name(t) for t in topics if not t.get("retention")],
        without_consumers=[name(t) for t in topics if not t.get("consumers")],
        classifications_without_retention=[c for c, p in classifications.items()
                                           if not (isinstance(p, dict) and p.get("archive_retention_days"))],
        retention_owners=owners,
    )


def read_runbooks(directory: Path, root: Path) -> list[Runbook]:
    """Runbooks with YAML front matter naming the rehearsal that exercises them."""
    books = []
    for path in sorted(directory.glob("*.md")) if directory.is_dir() else []:
        text = path.read_text()
        meta: dict[str, Any] = {}
        if text.startswith("---\n") and "\n---" in text[4:]:
            try:
                meta = yaml.safe_load(text[4:text.index("\n---", 4)]) or {}
            except yaml.YAMLError:
                meta = {}
        books.append(Runbook(path=_relative(path, root), name=str(meta.get("runbook", path.stem)),
                             rehearsal=meta.get("rehearsal"), owner=meta.get("owner")))
    return books


def _existing(root: Path, *paths: str) -> list[str]:
    return [p for p in paths if (root / p).exists()]


def _scan_code(root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {k: [] for k in CODE_PATTERNS}
    package = root / "callstream"
    for path in sorted(package.rglob("*.py")):
        if "rehearse" in path.relative_to(package).parts:
            continue
        text = path.read_text(errors="replace")
        for capability, pattern in CODE_PATTERNS.items():
            if pattern.search(text):
                found[capability].append(_relative(path, root))
    found["audit"] += [_relative(p, root) for p in package.rglob("*audit*.py") if _relative(p, root) not in found["audit"]]
    found["migration"] = sorted({_relative(p, root) for p in package.rglob("*migrat*.py")}
                                | {_relative(p, root) for p in (root / "scenarios").glob("*migrat*.yaml")})
    return found


def _tests_mentioning(root: Path, pattern: str) -> list[str]:
    regex = re.compile(pattern)
    return [_relative(p, root) for p in sorted((root / "tests").rglob("test_*.py")) if regex.search(p.read_text(errors="replace"))]


def gather_evidence(root: Path | None = None, report_dirs: Iterable[Path] = (), now: datetime | None = None) -> Evidence:
    """Look at the project under ``root`` (default: the checkout this package runs from)."""
    root = Path(root) if root else project_root()
    now = now or datetime.now(UTC)
    from callstream.contract.events import EVENT_TYPES

    schema_dir = root / "schemas"
    schema_files = sorted(_relative(p, root) for p in schema_dir.rglob("*.json")) if schema_dir.is_dir() else []
    exported = {Path(p).parts[1] if len(Path(p).parts) > 2 else Path(p).stem.split(".v")[0] for p in schema_files}
    code = _scan_code(root)
    code |= {
        "events": _existing(root, "callstream/contract/events.py"),
        "compatibility": _existing(root, "callstream/contract/schemas.py"),
        "lag": _existing(root, "callstream/observe/lag.py"),
        "replay": _existing(root, "callstream/archive/replay.py"),
        "retention": [p for p in _existing(root, "callstream/archive/maintenance.py")
                      if "retention" in (root / p).read_text(errors="replace")],
        "metrics": _existing(root, "callstream/observe/metrics.py"),
        "snapshot": _existing(root, "callstream/observe/snapshot.py"),
        "curves": _existing(root, "callstream/simulate/curves.py"),
        "rehearsal": _existing(root, "callstream/rehearse/runner.py"),
    }
    tests = {
        "compatibility": _tests_mentioning(root, r"check_compatibility|compare_schemas"),
        "schema_drift": _tests_mentioning(root, r"schema_drift\("),
        "lag": _existing(root, "tests/observe/test_lag.py"),
        "replay": _existing(root, "tests/archive/test_replay.py"),
        "retention": _tests_mentioning(root, r"retention"),
        "metrics": _existing(root, "tests/observe/test_metrics.py"),
        "rehearsal": _tests_mentioning(root, r"run_scenario\("),
        "acl": _tests_mentioning(root, r"AclBinding|create_acls"),
        "encryption": _tests_mentioning(root, r"encrypt"),
        "audit": _tests_mentioning(root, r"audit"),
    }
    metrics_source = root / "callstream/observe/metrics.py"
    metrics = sorted(set(re.findall(r"""["'](callstream_[a-z0-9_]+)["']""", metrics_source.read_text()))) if metrics_source.exists() else []
    dirs = [*report_dirs, root / "docs" / "rehearsals"]
    return Evidence(
        now=now.isoformat(timespec="seconds"),
        event_types=len(EVENT_TYPES) if code["events"] else 0,
        catalog=read_catalog_facts(root / "catalog" / "topics.yaml", root),
        schema_files=schema_files,
        schemas_missing=sorted(set(EVENT_TYPES) - exported),
        code=code, tests=tests,
        rehearsals=read_reports(dirs, root),
        runbooks=read_runbooks(root / "docs" / "runbooks", root),
        ci=".ci/run" if (root / ".ci" / "run").exists() else None,
        metrics=metrics,
        metrics_doc="docs/metrics.md" if (root / "docs" / "metrics.md").exists() else None,
    )


# --- scoring (pure) ---------------------------------------------------------------------------

def _latest_passing(evidence: Evidence, scenarios: Iterable[str]) -> RehearsalRun | None:
    now = datetime.fromisoformat(evidence.now)
    fresh = [r for r in evidence.rehearsals if r.scenario in set(scenarios) and r.passed
             and (age := r.age_days(now)) is not None and age <= FRESH_DAYS]
    return max(fresh, key=lambda r: r.finished_at or "", default=None)


def _describe_runs(evidence: Evidence, scenarios: Iterable[str]) -> list[str]:
    wanted = set(scenarios)
    lines = []
    for run in sorted(evidence.rehearsals, key=lambda r: (r.scenario, r.finished_at or "")):
        if run.scenario in wanted:
            verdict = "passed" if run.passed else f"FAILED ({', '.join(run.failed_checks[:3])})"
            lines.append(f"rehearsal {run.scenario} {verdict} on {(run.finished_at or '?')[:10]} ({run.path})")
    return lines


def _area(name: str, levels: list[tuple[list[str], list[str]]]) -> AreaScore:
    """``levels[i]`` = (evidence for level i+1, what level i+1 still lacks); the score is the
    highest level whose own and lower levels' lacks are all empty."""
    score, evidence, missing = 0, [], []
    for level, (shown, lacking) in enumerate(levels, start=1):
        evidence += shown
        if lacking:
            missing = [f"for {level}: {item}" for item in lacking]
            break
        score = level
    return AreaScore(area=name, score=score, evidence=evidence, missing=missing)


def score_event_model(e: Evidence) -> AreaScore:
    cat = e.catalog
    shown1, lack1 = [], []
    if e.event_types and e.code.get("events"):
        shown1.append(f"{e.event_types} typed, versioned event types ({', '.join(e.code['events'])})")
    else:
        lack1.append("typed event definitions (callstream/contract/events.py)")
    if cat.error:
        lack1.append(f"a readable topic catalog ({cat.path}: {cat.error})")
    elif cat.without_owner:
        lack1.append(f"an owner for topics {', '.join(cat.without_owner)}")
    else:
        shown1.append(f"every one of {cat.topics} topics has one owner ({cat.path})")
    shown2, lack2 = [], []
    if e.schema_files and not e.schemas_missing:
        shown2.append(f"{len(e.schema_files)} JSON Schemas exported under schemas/ covering every event type")
    else:
        lack2.append(f"exported schemas for {', '.join(e.schemas_missing) or 'every event type'}")
    if e.code.get("compatibility") and e.tests.get("compatibility"):
        shown2.append(f"compatibility checker {e.code['compatibility'][0]} tested by {', '.join(e.tests['compatibility'])}")
    else:
        lack2.append("a compatibility checker with tests")
    if e.tests.get("schema_drift"):
        shown2.append(f"committed schemas checked against the code by {', '.join(e.tests['schema_drift'])}")
    else:
        lack2.append("a test that fails when the code drifts from the committed schemas")
    if e.ci:
        shown2.append(f"CI entry point {e.ci} runs the test suite (so the checks are enforced)")
    else:
        lack2.append("a CI entry point that runs the compatibility tests")
    return _area("event model", [(shown1, lack1), (shown2, lack2)])


def score_burst(e: Evidence) -> AreaScore:
    burst = _latest_passing(e, BURST_SCENARIOS)
    failure = _latest_passing(e, FAILURE_SCENARIOS)
    shown1, lack1 = _describe_runs(e, BURST_SCENARIOS), []
    if e.code.get("curves"):
        shown1.append(f"traffic curves (steady, daily, campaign, outage, CSV) in {e.code['curves'][0]}")
    if burst is None:
        lack1.append(f"a passing `callstream rehearse burst` report from the last {FRESH_DAYS} days")
    shown2, lack2 = _describe_runs(e, FAILURE_SCENARIOS), []
    if failure is None:
        lack2.append(f"a passing failure rehearsal ({', '.join(FAILURE_SCENARIOS)}) from the last {FRESH_DAYS} days")
    if e.tests.get("rehearsal"):
        shown2.append(f"an end-to-end rehearsal in the test suite ({', '.join(e.tests['rehearsal'])})")
    else:
        lack2.append("an end-to-end rehearsal in the test suite")
    return _area("burst behavior", [(shown1, lack1), (shown2, lack2)])


def score_consumer_recovery(e: Evidence) -> AreaScore:
    shown1, lack1 = [], []
    for capability, what in (("lag", "consumer lag in messages and seconds"), ("replay", "replay and rewind from the archive")):
        if e.code.get(capability) and e.tests.get(capability):
            shown1.append(f"{what}: {e.code[capability][0]}, tested by {', '.join(e.tests[capability])}")
        else:
            lack1.append(f"{what} with tests")
    if e.catalog.error is None and e.catalog.topics and not e.catalog.without_consumers:
        shown1.append(f"consumer ownership: every topic in {e.catalog.path} names its consumers")
    else:
        lack1.append(f"declared consumers for topics {', '.join(e.catalog.without_consumers) or '(catalog unreadable)'}")
    shown2, lack2 = [], []
    books = {b.name: b for b in e.runbooks}
    # the rubric names three: lag (consumer recovery), replay and consumer ownership
    for needed in RECOVERY_RUNBOOKS:
        book = books.get(needed)
        if book is None:
            lack2.append(f"a {needed} runbook in docs/runbooks/ naming the rehearsal that tests it")
            continue
        run = _latest_passing(e, [book.rehearsal]) if book.rehearsal else None
        if run is None:
            lack2.append(f"a passing report of rehearsal {book.rehearsal or '(none named)'} that tests {book.path}")
        else:
            shown2.append(f"runbook {book.path} (owner {book.owner or '?'}) tested by rehearsal {run.scenario}, "
                          f"passed {(run.finished_at or '?')[:10]} ({run.path})")
    return _area("consumer recovery", [(shown1, lack1), (shown2, lack2)])


def score_retention(e: Evidence) -> AreaScore:
    cat = e.catalog
    shown1, lack1 = [], []
    if cat.error is None and cat.topics and not cat.without_retention and not cat.classifications_without_retention:
        shown1.append(f"every topic has a Kafka retention and every classification an archive retention ({cat.path})")
    else:
        lack1.append("a retention for every topic and classification in the catalog")
    if e.code.get("retention") and e.tests.get("retention"):
        shown1.append(f"retention enforced by {e.code['retention'][0]}, tested by {', '.join(e.tests['retention'][:3])}")
    else:
        lack1.append("code that enforces archive retention, with tests")
    shown2, lack2 = [], []
    if cat.retention_owners:
        shown2.append(f"cost, compliance and replay owners declared for {', '.join(cat.retention_owners)}")
    else:
        lack2.append(f"cost, compliance and replay owners for each retention policy ({', '.join(RETENTION_OWNER_KEYS)} "
                     f"in the catalog's classifications); only topic owners are declared today")
    return _area("retention policy", [(shown1, lack1), (shown2, lack2)])


def score_governance(e: Evidence) -> AreaScore:
    shown1, lack1 = [], []
    names = {"acl": "Kafka ACLs applied from the catalog", "encryption": "field-level encryption",
             "audit": "a tamper-evident audit log"}
    present = [k for k in names if e.code.get(k)]
    for k in present:
        shown1.append(f"{names[k]}: {', '.join(e.code[k][:3])}")
    if e.catalog.error is None and e.catalog.topics:
        shown1.append("the catalog declares producers, consumers and a classification per topic (declared, not enforced)")
    if not present:
        lack1.append("any of: " + ", ".join(names.values()) + " (none has code yet)")
    shown2, lack2 = [], []
    for k, label in names.items():
        if not e.code.get(k):
            lack2.append(f"{label} (no code)")
        elif not e.tests.get(k):
            lack2.append(f"tests that verify {label}")
        else:
            shown2.append(f"{label} verified by {', '.join(e.tests[k][:3])}")
    return _area("governance", [(shown1, lack1), (shown2, lack2)])


def score_migration(e: Evidence) -> AreaScore:
    shown1, lack1 = [], []
    if e.code.get("migration"):
        shown1.append(f"migration tooling or scenario: {', '.join(e.code['migration'])}")
    else:
        lack1.append("tooling or a scenario that moves topics and consumer offsets from cluster A to cluster B")
    migration_runs = [r.scenario for r in e.rehearsals if "migrat" in r.scenario]
    shown2, lack2 = _describe_runs(e, migration_runs), []
    if _latest_passing(e, migration_runs) is None:
        lack2.append("a passing migration rehearsal with cutover and rollback, offsets checked")
    return _area("migration safety", [(shown1, lack1), (shown2, lack2)])


def score_observability(e: Evidence) -> AreaScore:
    shown1, lack1 = [], []
    if e.code.get("lag"):
        shown1.append(f"consumer lag per group and partition ({e.code['lag'][0]})")
    else:
        lack1.append("consumer lag measurement")
    if e.metrics:
        shown1.append(f"{len(e.metrics)} Prometheus metrics ({e.code['metrics'][0] if e.code.get('metrics') else '?'})")
    else:
        lack1.append("exported metrics")
    categories = {
        "clients": ("client_errors", "consumer_lag"),
        "brokers": ("brokers", "under_replicated", "offline_partitions"),
        "storage": ("archive_",),
        "skew": ("partition_skew",),
        # routing: how events flow from topic to group to stage
        "routing": ("stage_latency", "consume_messages"),
    }
    shown2, lack2 = [], []
    for category, needles in categories.items():
        hits = [m for m in e.metrics if any(n in m for n in needles)]
        if hits:
            shown2.append(f"{category}: {', '.join(hits[:3])}")
        else:
            lack2.append(f"metrics for {category}")
    if e.code.get("snapshot"):
        shown2.append(f"correlated: every metric comes from one snapshot ({e.code['snapshot'][0]})")
    else:
        lack2.append("one snapshot behind all metrics (so they correlate)")
    if e.metrics_doc and e.tests.get("metrics"):
        shown2.append(f"documented in {e.metrics_doc}, tested by {', '.join(e.tests['metrics'])}")
    else:
        lack2.append("a metrics contract document checked by tests")
    return _area("observability", [(shown1, lack1), (shown2, lack2)])


def score(evidence: Evidence) -> Scorecard:
    return Scorecard(areas=[
        score_event_model(evidence), score_burst(evidence), score_consumer_recovery(evidence),
        score_retention(evidence), score_governance(evidence), score_migration(evidence),
        score_observability(evidence),
    ], evidence=evidence)


def render(card: Scorecard) -> Group:
    """A summary table, then each area's evidence and what its next level needs (readable
    in an 80-column terminal, where a four-column table of long sentences is not)."""
    colors = {0: "red", 1: "yellow", 2: "green"}
    summary = Table(title=f"readiness scorecard: {card.total}/{2 * len(card.areas)} (scored {card.evidence.now[:10]})",
                    title_justify="left")
    summary.add_column("area", style="bold")
    summary.add_column("score", justify="center")
    summary.add_column("to reach the next level", overflow="fold")
    for area in card.areas:
        summary.add_row(area.area, f"[{colors[area.score]}]{area.score}[/]",
                        area.missing[0].split(": ", 1)[1] if area.missing else "(top level)")
    parts: list[Any] = [summary]
    for area in card.areas:
        lines = [f"\n[bold]{area.area}[/]: [{colors[area.score]}]{area.score}[/]"]
        lines += [f"  evidence: {line}" for line in area.evidence] or ["  evidence: (none)"]
        lines += [f"  [dim]missing {line}[/]" for line in area.missing]
        parts.append(Text.from_markup("\n".join(lines)))
    return Group(*parts)
