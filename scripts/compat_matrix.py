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
    lines += _suite_and_burst(reports)
    lines += ["", "## Not run here", ""]
    lines += [f"- **{name}**: {why}" for name, why in NOT_RUN_HERE]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} from {len(reports)} run(s)")


def _suite_and_burst(reports: list[dict]) -> list[str]:
    """The Kafka-marked tests and the burst rehearsal per backbone, where they were run."""
    lines = ["", "## The Kafka-marked tests and the burst rehearsal", "",
             "Apache Kafka 4.4.0 on one node is the suite's own broker: `make test` runs every test on it in each CI run,",
             "and `docs/rehearsals/burst/` holds its burst report. The other backbones, from `scripts/backbone.py`:", "",
             "| backbone | Kafka-marked tests | burst rehearsal |", "|---|---|---|"]
    for r in reports:
        run = RUNS / r["dir"]
        if not (run / "suite.json").exists() and not (run / "burst.json").exists():
            continue
        suite = json.loads((run / "suite.json").read_text()) if (run / "suite.json").exists() else None
        burst = json.loads((run / "burst.json").read_text()) if (run / "burst.json").exists() else None
        tests = "not run" if suite is None else (f"{suite['passed']} passed, {suite['failed']} failed, "
                                                 f"{suite['skipped']} skipped ({suite['minutes']} min, {suite['finished_at']})")
        rehearsal = "not run" if burst is None else ("PASSED" if burst["passed"] else "FAILED: " + "; ".join(
            f"{c['name']}: {c['detail']}" for c in burst["checks"] if not c["passed"])) + f" ({burst['finished_at']})"
        lines.append(f"| `{r['dir']}` | {tests} | {rehearsal} |")
    failing = [(r["dir"], json.loads((RUNS / r["dir"] / "suite.json").read_text())) for r in reports
               if (RUNS / r["dir"] / "suite.json").exists()]
    for name, suite in failing:
        if suite["failures"]:
            lines += ["", f"Failing tests on `{name}`:", ""] + [f"- `{t}`" for t in suite["failures"]]
    return lines


def _short(probe: dict) -> str:
    measured = probe.get("measured") or {}
    for key in ("join_s", "rebalance_s", "rejoin_s", "waited_s"):
        if key in measured:
            return f"{key.removesuffix('_s')} {measured[key]} s"
    return ""


if __name__ == "__main__":
    main()
