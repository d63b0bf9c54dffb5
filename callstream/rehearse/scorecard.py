"""The readiness scorecard: seven areas, each 0 (weak), 1 (partial) or 2 (documented,
tested and owned), scored only from evidence a deployment can show.

A deployment is what a platform team runs: its topic catalog, its exported schemas, its
rehearsal reports and runbooks, its archive, and the callstream it has installed.
``gather_evidence`` reads those (``Deployment``, configured by the ``deployment:`` section
of the settings) and runs live checks on them (schema compatibility against the installed
code, the archive against its retention); ``score`` is a pure function of that evidence.
callstream's own repository is one such deployment. Each level names what it rests on, and
every area lists what is missing for the next level, so a score is never awarded on faith:
no evidence, no point.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.console import Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from callstream.settings import Settings

#: a rehearsal older than this no longer proves today's behavior
FRESH_DAYS = 90
AREAS = ("event model", "burst behavior", "consumer recovery", "retention policy", "governance",
         "migration safety", "observability")
BURST_SCENARIOS = ("burst",)
FAILURE_SCENARIOS = ("broker-failure", "broker-failure-stays-down", "consumer-crash")
RETENTION_OWNER_KEYS = ("cost_owner", "compliance_owner", "replay_owner")
RECOVERY_RUNBOOKS = ("consumer-recovery", "replay", "consumer-ownership")
#: the report `callstream acls verify` writes among the rehearsal reports
ACL_VERIFY_REPORT = "acls-verify"

#: capability -> the module of callstream that provides it; a capability counts only when
#: the installed callstream has that module (migration is not built yet)
CAPABILITIES = {
    "events": "callstream.contract.events",
    "compatibility": "callstream.contract.compatibility",
    "lag": "callstream.observe.lag",
    "replay": "callstream.archive.replay",
    "retention": "callstream.archive.maintenance",
    "metrics": "callstream.observe.metrics",
    "snapshot": "callstream.observe.snapshot",
    "curves": "callstream.simulate.curves",
    "rehearsal": "callstream.rehearse.runner",
    "acl": "callstream.governance.acls",
    "encryption": "callstream.governance.encryption",
    "audit": "callstream.governance.audit",
    "migration": "callstream.migrate",
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
    #: classifications declaring cost, compliance and replay owners for their retention
    retention_owners: list[str] = field(default_factory=list)
    #: classifications (declared, or used by a topic) missing any of those three owners
    retention_unowned: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class Runbook:
    path: str
    name: str
    rehearsal: str | None
    owner: str | None


@dataclass(frozen=True)
class Evidence:
    """Everything the scorecard judges, as plain checkable facts (paths relative to the deployment)."""

    now: str
    callstream_version: str = "?"
    event_types: int = 0
    catalog: CatalogFacts = field(default_factory=lambda: CatalogFacts(path="catalog/topics.yaml", error="not read"))
    schemas_dir: str = "schemas"
    schema_files: list[str] = field(default_factory=list)
    schemas_missing: list[str] = field(default_factory=list)
    #: capability -> the module of the installed callstream that provides it
    capabilities: dict[str, str] = field(default_factory=dict)
    #: capability -> what verified it in this deployment (live checks and passing reports)
    verified: dict[str, list[str]] = field(default_factory=dict)
    #: capability -> why a live check of it failed or could not run
    check_failures: dict[str, str] = field(default_factory=dict)
    rehearsals: list[RehearsalRun] = field(default_factory=list)
    runbooks_dir: str = "docs/runbooks"
    runbooks: list[Runbook] = field(default_factory=list)
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

@dataclass(frozen=True)
class Deployment:
    """Where one deployment keeps what the scorecard reads."""

    #: evidence paths are shown relative to this directory
    root: Path
    catalog: Path
    schemas: Path
    #: every ``report.json`` below these counts (rehearsal runs)
    reports: tuple[Path, ...]
    runbooks: Path
    metrics_doc: Path
    #: the deployment's archive settings, for the live retention check (``None``: no archive)
    archive: Any = None
    #: the deployment's audit log, verified live (``None``: none)
    audit_dir: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings, root: Path | None = None) -> Deployment:
        """The deployment the settings describe: its ``deployment:`` section, the catalog
        every command uses, the state dir's reports and the configured archive."""
        from callstream.contract.catalog import default_catalog_path

        section = settings.deployment
        root = Path(root or Path.cwd())
        return cls(
            root=root, catalog=section.catalog or default_catalog_path(), schemas=section.schemas_dir,
            reports=(*section.reports_dirs, Path(settings.state_dir) / "reports"),
            runbooks=section.runbooks_dir, metrics_doc=section.metrics_doc, archive=settings.archive_settings(),
            audit_dir=settings.audit_dir,
        )

    def path(self, relative: Path) -> Path:
        return relative if relative.is_absolute() else self.root / relative

    def show(self, path: Path) -> str:
        return _relative(self.path(path), self.root)


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
    owned = {c for c, policy in classifications.items()
             if isinstance(policy, dict) and all(policy.get(k) for k in RETENTION_OWNER_KEYS)}
    used = set(classifications) | {str(t["classification"]) for t in topics if t.get("classification")}
    return CatalogFacts(
        path=_relative(path, root), topics=len(topics),
        without_owner=[name(t) for t in topics if not t.get("owner")],
        without_retention=[name(t) for t in topics if not t.get("retention")],
        without_consumers=[name(t) for t in topics if not t.get("consumers")],
        classifications_without_retention=[c for c, p in classifications.items()
                                           if not (isinstance(p, dict) and p.get("archive_retention_days"))],
        retention_owners=sorted(owned),
        retention_unowned=sorted(used - owned),
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


def installed_capabilities() -> dict[str, str]:
    """``CAPABILITIES`` that the installed callstream has."""
    return {name: module for name, module in CAPABILITIES.items() if _installed(module)}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def _check_schemas(schemas: Path) -> str | None:
    """Why the stored schemas do not hold for the installed code (``None``: they do)."""
    from callstream.contract.schemas import check_compatibility, schema_drift

    problems = [str(v) for v in check_compatibility(schemas)] + schema_drift(schemas)
    return f"{len(problems)} problem(s), e.g. {problems[0]}" if problems else None


def _check_retention(archive_settings: Any, catalog_path: Path) -> tuple[list[str], str | None]:
    """A dry run of ``archive retention``: (evidence, failure)."""
    from callstream.archive.maintenance import apply_retention, retention_days_by_topic
    from callstream.archive.tables import Archive
    from callstream.contract.catalog import load_catalog

    if not archive_settings.catalog_created:
        return [], "no archive yet (nothing to check)"
    try:
        results = apply_retention(Archive.open(archive_settings), retention_days_by_topic(load_catalog(catalog_path)),
                                  dry_run=True)
    except Exception as exc:  # an unreadable archive is a finding, not a crash of the scorecard
        return [], f"the archive could not be checked: {exc}"
    overdue = [r for r in results if r.rows_removed]
    if overdue:
        return [], ", ".join(f"{r.topic} keeps {r.rows_removed:,} rows past {r.retention_days} days" for r in overdue)
    return [f"no archived row is older than its retention in {len(results)} table(s) (dry run, checked now)"], None


#: archived raw segments sampled for the live encryption check
ENCRYPTION_SAMPLE = 2000


def _check_encryption(archive_settings: Any) -> tuple[list[str], str | None]:
    """Whether a sample of the archived raw transcript holds sealed text only: (evidence, failure)."""
    from callstream.archive.body import PAYLOAD_COLUMNS, payloads
    from callstream.archive.tables import Archive
    from callstream.contract.codec import decode_event
    from callstream.errors import DecodeError
    from callstream.governance.encryption import FieldCipher

    if not archive_settings.catalog_created:
        return [], "no archive yet (nothing to check)"
    table = Archive.open(archive_settings).table("callstream.transcript.raw", create=False)
    if table is None or table.current_snapshot() is None:
        return [], "no archived raw transcript to check"
    sealed = plain = 0
    for payload in payloads(table.scan(selected_fields=PAYLOAD_COLUMNS, limit=ENCRYPTION_SAMPLE).to_arrow()).to_pylist():
        try:
            event = decode_event(payload)
        except DecodeError:
            continue
        if event is not None:
            sealed, plain = (sealed + 1, plain) if FieldCipher.is_protected(event) else (sealed, plain + 1)
    if plain:
        return [], f"{plain} of {plain + sealed} archived raw transcript segments hold plaintext"
    if not sealed:
        return [], "no archived raw transcript segment to check"
    return [f"{sealed} of {sealed} archived raw transcript segments hold sealed text only (checked now)"], None


def _check_audit(audit_dir: Path) -> tuple[list[str], str | None]:
    from callstream.governance.audit import AuditError, AuditLog

    try:
        result = AuditLog(audit_dir).verify()
    except AuditError as exc:
        return [], exc.message
    if not result.ok:
        return [], "; ".join(result.problems) or "the audit log is empty"
    return [f"the audit log verifies: {result.entries} entries under {result.heads} signed heads (checked now)"], None


def gather_evidence(deployment: Deployment, now: datetime | None = None) -> Evidence:
    """Read ``deployment`` and run the live checks on it."""
    import callstream
    from callstream.contract.events import EVENT_TYPES
    from callstream.observe.metrics import METRICS, metrics_table

    now = now or datetime.now(UTC)
    capabilities = installed_capabilities()
    schemas = deployment.path(deployment.schemas)
    schema_files = sorted(_relative(p, deployment.root) for p in schemas.rglob("*.json")) if schemas.is_dir() else []
    exported = {p.parent.name for p in schemas.rglob("v*.json")} if schemas.is_dir() else set()
    rehearsals = read_reports([deployment.path(d) for d in deployment.reports], deployment.root)
    verified: dict[str, list[str]] = {}
    failures: dict[str, str] = {}
    if schema_files:
        problem = _check_schemas(schemas)
        if problem is None:
            verified["compatibility"] = [f"{deployment.show(deployment.schemas)} holds for callstream "
                                         f"{callstream.__version__}: compatible and not drifted (checked now)"]
        else:
            failures["compatibility"] = problem
    verifications = [r for r in rehearsals if r.passed and r.scenario == ACL_VERIFY_REPORT]
    if verifications:
        verified["acl"] = [f"`callstream acls verify` refused every unlisted principal and allowed every listed "
                           f"one ({r.path}, {(r.finished_at or '?')[:10]})" for r in verifications[:1]]
    passing = [r for r in rehearsals if r.passed and r.scenario != ACL_VERIFY_REPORT]
    if passing:
        verified["rehearsal"] = [r.path for r in passing[:3]]
        verified["lag"] = [f"consumer lag sampled through {r.path}" for r in passing[:3]]
    replayed = [r for r in passing if r.scenario == "replay-under-load"]
    if replayed:
        verified["replay"] = [f"replay under load in {r.path}" for r in replayed[:3]]
    if deployment.archive is not None:
        shown, failure = _check_retention(deployment.archive, deployment.path(deployment.catalog))
        if shown:
            verified["retention"] = shown
        if failure:
            failures["retention"] = failure
    live_checks: list[tuple[str, tuple[list[str], str | None]]] = []
    if deployment.archive is not None:
        live_checks.append(("encryption", _check_encryption(deployment.archive)))
    if deployment.audit_dir is not None:
        live_checks.append(("audit", _check_audit(deployment.audit_dir)))
    for capability, (shown, failure) in live_checks:
        if shown:
            verified[capability] = shown
        if failure:
            failures[capability] = failure
    metrics_doc = deployment.path(deployment.metrics_doc)
    if metrics_doc.is_file():
        if metrics_table() in metrics_doc.read_text():
            verified["metrics"] = [f"{deployment.show(deployment.metrics_doc)} documents every metric as exported"]
        else:
            failures["metrics"] = f"{deployment.show(deployment.metrics_doc)} differs from the exported metrics"
    return Evidence(
        now=now.isoformat(timespec="seconds"),
        callstream_version=callstream.__version__,
        event_types=len(EVENT_TYPES) if "events" in capabilities else 0,
        catalog=read_catalog_facts(deployment.path(deployment.catalog), deployment.root),
        schemas_dir=deployment.show(deployment.schemas),
        schema_files=schema_files,
        schemas_missing=sorted(set(EVENT_TYPES) - exported),
        capabilities=capabilities, verified=verified, check_failures=failures,
        rehearsals=rehearsals,
        runbooks_dir=deployment.show(deployment.runbooks),
        runbooks=read_runbooks(deployment.path(deployment.runbooks), deployment.root),
        metrics=sorted(spec.name for spec in METRICS) if "metrics" in capabilities else [],
        metrics_doc=deployment.show(deployment.metrics_doc) if metrics_doc.is_file() else None,
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


def _lack_check(e: Evidence, capability: str, wanted: str) -> str:
    failure = e.check_failures.get(capability)
    return f"{wanted} ({failure})" if failure else wanted


def score_event_model(e: Evidence) -> AreaScore:
    cat = e.catalog
    shown1, lack1 = [], []
    if e.event_types and "events" in e.capabilities:
        shown1.append(f"{e.event_types} typed, versioned event types ({e.capabilities['events']})")
    else:
        lack1.append("typed event definitions (callstream.contract.events)")
    if cat.error:
        lack1.append(f"a readable topic catalog ({cat.path}: {cat.error})")
    elif cat.without_owner:
        lack1.append(f"an owner for topics {', '.join(cat.without_owner)}")
    else:
        shown1.append(f"every one of {cat.topics} topics has one owner ({cat.path})")
    shown2, lack2 = [], []
    if e.schema_files and not e.schemas_missing:
        shown2.append(f"{len(e.schema_files)} JSON Schemas exported under {e.schemas_dir} covering every event type")
    else:
        lack2.append(f"exported schemas (`callstream schemas export`) in {e.schemas_dir} for "
                     f"{', '.join(e.schemas_missing) or 'every event type'}")
    if e.verified.get("compatibility"):
        shown2.append(f"compatibility enforced: {e.verified['compatibility'][0]}")
    else:
        lack2.append(_lack_check(e, "compatibility", f"schemas in {e.schemas_dir} that pass `callstream schemas check` "
                                 "against the installed callstream"))
    return _area("event model", [(shown1, lack1), (shown2, lack2)])


def score_burst(e: Evidence) -> AreaScore:
    burst = _latest_passing(e, BURST_SCENARIOS)
    failure = _latest_passing(e, FAILURE_SCENARIOS)
    shown1, lack1 = _describe_runs(e, BURST_SCENARIOS), []
    if "curves" in e.capabilities:
        shown1.append(f"traffic curves (steady, daily, campaign, outage, CSV) in {e.capabilities['curves']}")
    if burst is None:
        lack1.append(f"a passing `callstream rehearse burst` report from the last {FRESH_DAYS} days")
    shown2, lack2 = _describe_runs(e, FAILURE_SCENARIOS), []
    if failure is None:
        lack2.append(f"a passing failure rehearsal ({', '.join(FAILURE_SCENARIOS)}) from the last {FRESH_DAYS} days")
    return _area("burst behavior", [(shown1, lack1), (shown2, lack2)])


def score_consumer_recovery(e: Evidence) -> AreaScore:
    shown1, lack1 = [], []
    for capability, what in (("lag", "consumer lag in messages and seconds"), ("replay", "replay and rewind from the archive")):
        if capability in e.capabilities:
            shown1.append(f"{what} ({e.capabilities[capability]})")
        else:
            lack1.append(what)
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
            lack2.append(f"a {needed} runbook in {e.runbooks_dir}/ naming the rehearsal that tests it")
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
    if "retention" in e.capabilities:
        shown1.append(f"archive retention enforced by `callstream archive retention` ({e.capabilities['retention']})")
    else:
        lack1.append("a tool that enforces archive retention")
    shown2, lack2 = [], []
    if cat.retention_owners and not cat.retention_unowned:
        shown2.append(f"cost, compliance and replay owners declared for every classification's retention "
                      f"({', '.join(cat.retention_owners)})")
    else:
        lack2.append(f"cost, compliance and replay owners for each retention policy ({', '.join(RETENTION_OWNER_KEYS)} "
                     f"in the catalog's classifications); missing for {', '.join(cat.retention_unowned) or 'every one'}")
    if e.verified.get("retention"):
        shown2.append(f"the archive follows its retention: {e.verified['retention'][0]}")
    else:
        lack2.append(_lack_check(e, "retention", "an archive that keeps nothing past its retention (checked live)"))
    return _area("retention policy", [(shown1, lack1), (shown2, lack2)])


def score_governance(e: Evidence) -> AreaScore:
    shown1, lack1 = [], []
    names = {"acl": "Kafka ACLs applied from the catalog", "encryption": "field-level encryption",
             "audit": "a tamper-evident audit log"}
    present = [k for k in names if k in e.capabilities]
    for k in present:
        shown1.append(f"{names[k]}: {e.capabilities[k]}")
    if e.catalog.error is None and e.catalog.topics:
        enforced = "enforced by verified ACLs" if e.verified.get("acl") else "declared, not enforced"
        shown1.append(f"the catalog declares producers, consumers and a classification per topic ({enforced})")
    if not present:
        lack1.append("any of: " + ", ".join(names.values()) + " (the installed callstream has none)")
    shown2, lack2 = [], []
    for k, label in names.items():
        if k not in e.capabilities:
            lack2.append(f"{label} (not in the installed callstream)")
        elif not e.verified.get(k):
            lack2.append(_lack_check(e, k, f"{label} verified on this deployment's cluster"))
        else:
            shown2.append(f"{label} verified: {', '.join(e.verified[k][:3])}")
    return _area("governance", [(shown1, lack1), (shown2, lack2)])


def score_migration(e: Evidence) -> AreaScore:
    shown1, lack1 = [], []
    if "migration" in e.capabilities:
        shown1.append(f"migration tooling: {e.capabilities['migration']}")
    else:
        lack1.append("tooling that moves topics and consumer offsets from cluster A to cluster B")
    migration_runs = [r.scenario for r in e.rehearsals if "migrat" in r.scenario]
    shown2, lack2 = _describe_runs(e, migration_runs), []
    if _latest_passing(e, migration_runs) is None:
        lack2.append("a passing migration rehearsal with cutover and rollback, offsets checked")
    return _area("migration safety", [(shown1, lack1), (shown2, lack2)])


def score_observability(e: Evidence) -> AreaScore:
    shown1, lack1 = [], []
    if "lag" in e.capabilities:
        shown1.append(f"consumer lag per group and partition ({e.capabilities['lag']})")
    else:
        lack1.append("consumer lag measurement")
    if e.metrics:
        shown1.append(f"{len(e.metrics)} Prometheus metrics ({e.capabilities.get('metrics', '?')})")
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
    if "snapshot" in e.capabilities:
        shown2.append(f"correlated: every metric comes from one snapshot ({e.capabilities['snapshot']})")
    else:
        lack2.append("one snapshot behind all metrics (so they correlate)")
    if e.verified.get("metrics"):
        shown2.append(e.verified["metrics"][0])
    else:
        lack2.append(_lack_check(e, "metrics", "a metrics contract document that matches the exported metrics"))
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
