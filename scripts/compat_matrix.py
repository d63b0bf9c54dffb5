"""Write docs/compatibility.md from the `callstream compat --report` runs under docs/compatibility/.

    python scripts/compat_matrix.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "compatibility"
OUT = ROOT / "docs" / "compatibility.md"

NOT_RUN_HERE = [
    ("AutoMQ, Redpanda", "cannot run here (no binaries from the package registries). Run `callstream compat` before "
     "moving; transactions, KIP-848 and DescribeConfigs are the rows most likely to differ."),
    ("Amazon MSK, Confluent Cloud", "managed: run `callstream compat --bootstrap-servers ...` with an admin principal "
     "of yours. The ACL and SCRAM row answers `unsupported` where the provider manages principals itself."),
]

#: real ecosystem parts callstream is tested with in `make test` (the test that shows each)
ECOSYSTEM = [
    ("Kafka Connect 4.3.1 (distributed worker, file sink and source)", "tests/connect/test_connect_worker.py",
     "a sink of the redacted transcript gets every segment exactly once; a source writes CRM updates; the sink's "
     "group shows in `callstream status`; the worker runs as the catalog's `connect` principal"),
    ("Apache Spark 4.1 with Iceberg 1.12.0 (JDBC catalog on callstream's SQLite catalog)",
     "tests/archive/test_spark_reads_the_archive.py",
     "the same tables, row counts and call timeline as callstream's own reader (`callstream archive spark-conf`)"),
    ("Kafka's consumer-groups tool (from the broker's jars)", "tests/observe/test_foreign_tools.py",
     "the same lag per partition as `callstream status --json` at the same moment"),
    ("kcat 1.7 (Debian)", "tests/observe/test_foreign_tools.py",
     "lists and reads a callstream topic as a catalog principal with `callstream kafka client-config`'s file, run "
     "with callstream's librdkafka (the command prints how): Debian's librdkafka 2.0.2 fails SCRAM against Kafka "
     "4.x brokers, a librdkafka bug fixed in 2.6.1"),
    ("Apicurio Registry 2.4.2.Final (in memory, Confluent-compatible API)", "tests/contract/test_registry.py",
     "`schemas register` registers every event type under FULL, idempotently, and nothing of a refused change; the "
     "registry refuses all 10 edits callstream's check refuses, and also the 3 it accepts (an added or removed "
     "optional field: JSON Schema's open content model), which `schemas register` names in its hint; it judges "
     "compatibility with everit (drafts 4-7 only), so callstream sends its schemas as draft-07 (they use only "
     "keywords both drafts read alike, checked). Built once from Maven Central by `callstream registry start` "
     "(2.4.2 is the newest whose parts are all served here; two substitutions, see callstream/local/apicurio/pom.xml)"),
]


def main() -> None:
    reports = [json.loads(p.read_text()) | {"dir": p.parent.name} for p in sorted(RUNS.glob("*/report.json"))]
    names = list(dict.fromkeys(f"{p['area']}: {p['name']}" for r in reports for p in r["probes"]))
    lines = [
        "# Kafka compatibility",
        "",
        "What `callstream compat` measured on each backbone callstream started on this machine. Every row is a",
        "behaviour callstream or its users depend on (`callstream/kafka/compat.py` says how each is probed);",
        "`pass` means the backbone behaved as Apache Kafka does. Regenerate with",
        "`python scripts/backbone.py <backbone> [--suite] [--burst]` (or, for a cluster of yours,",
        "`callstream compat --report docs/compatibility/<name> --label ...`) then `python scripts/compat_matrix.py`.",
        "",
        "| behaviour | " + " | ".join(r["dir"] for r in reports) + " |",
        "|---|" + "---|" * len(reports),
    ]
    for name in names:
        cells = []
        for r in reports:
            probe = next((p for p in r["probes"] if f"{p['area']}: {p['name']}" == name), None)
            cells.append("-" if probe is None else probe["status"] + (f" ({_short(probe)})" if _short(probe) else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Runs", ""]
    for r in reports:
        counts = r["counts"]
        lines.append(f"- `{r['dir']}`: {r['label']}; {r['finished_at']}; {counts['pass']} pass, {counts['fail']} fail, "
                     f"{counts['unsupported']} unsupported.")
    lines += _at_stake(reports, names)
    lines += ["", "## Ecosystem parts", "", "| part | test | what it shows |", "|---|---|---|"]
    lines += [f"| {part} | `{test}` | {shows} |" for part, test, shows in ECOSYSTEM]
    lines += _suite_and_burst(reports)
    lines += ["", "## Not run here", ""]
    lines += [f"- **{name}**: {why}" for name, why in NOT_RUN_HERE]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} from {len(reports)} run(s)")


def _at_stake(reports: list[dict], names: list[str]) -> list[str]:
    """For each row some backbone does not pass: what callstream relies on it for."""
    from callstream.kafka.compat import AT_STAKE

    lines = ["", "## What a row that does not pass costs", ""]
    for name in names:
        missing = [r["dir"] for r in reports for p in r["probes"]
                   if f"{p['area']}: {p['name']}" == name and p["status"] != "pass"]
        if missing:
            probe = name.split(": ", 1)[1]
            lines.append(f"- **{name}** ({', '.join(missing)}): {AT_STAKE.get(probe, '')}.")
    return lines


def _suite_and_burst(reports: list[dict]) -> list[str]:
    """The Kafka-marked tests and the burst rehearsal per backbone, where they were run."""
    lines = ["", "## The Kafka-marked tests and the burst rehearsal", "",
             "Apache Kafka 4.4.0 on one node is the suite's own broker: `make test` runs every test on it in each CI run,",
             "and `docs/rehearsals/burst/` holds its burst report. The other backbones, from `scripts/backbone.py`:", "",
             "| backbone | Kafka-marked tests | burst rehearsal |", "|---|---|---|"]
    suites: dict[str, dict] = {}
    for r in reports:
        run = RUNS / r["dir"]
        if not (run / "suite.json").exists() and not (run / "burst.json").exists():
            continue
        suite = json.loads((run / "suite.json").read_text()) if (run / "suite.json").exists() else None
        burst = json.loads((run / "burst.json").read_text()) if (run / "burst.json").exists() else None
        if suite is not None:
            suites[r["dir"]] = suite
        tests = "not run" if suite is None else (f"{suite['passed']} passed, {suite['failed']} failed, "
                                                 f"{suite['skipped']} skipped of `{suite.get('tests', 'all')}` "
                                                 f"({suite['minutes']} min, {suite['finished_at']})")
        rehearsal = "not run" if burst is None else ("PASSED" if burst["passed"] else "FAILED: " + ("; ".join(
            f"{c['name']}: {c['detail']}" for c in burst["checks"] if not c["passed"]) or burst.get("error") or "")
        ) + f" ({burst['finished_at']})"
        lines.append(f"| `{r['dir']}` | {tests} | {rehearsal} |")
    for name, suite in suites.items():
        if suite["failures"]:
            lines += ["", f"Failing tests on `{name}`:", ""] + [
                f"- `{t}`" if isinstance(t, str) else f"- `{t['test']}`: {t['message'].splitlines()[0] if t['message'] else ''}"
                for t in suite["failures"]]
    return lines


def _short(probe: dict) -> str:
    measured = probe.get("measured") or {}
    for key in ("join_s", "rebalance_s", "rejoin_s", "waited_s"):
        if key in measured:
            return f"{key.removesuffix('_s')} {measured[key]} s"
    return ""


if __name__ == "__main__":
    main()
