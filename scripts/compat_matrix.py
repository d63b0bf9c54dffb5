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
    ("Apache Kafka 3.9 (KRaft)", "not run yet: callstream's launcher starts 4.x only (its KRaft settings and "
     "SCRAM bootstrap are 4.x's). Many fleets still run 3.9: run `callstream compat` against yours."),
    ("Tansu (stateless brokers over S3)", "not run yet. Known from its issue tracker to lag behind (a slow first group "
     "join, DescribeConfigs without retention.ms): the groups and admin rows are the ones to watch."),
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
        "`callstream compat --report docs/compatibility/<backbone> --label ...` then `python scripts/compat_matrix.py`.",
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
    lines += ["", "## Not run here", ""]
    lines += [f"- **{name}**: {why}" for name, why in NOT_RUN_HERE]
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} from {len(reports)} run(s)")


def _short(probe: dict) -> str:
    measured = probe.get("measured") or {}
    for key in ("join_s", "rebalance_s", "rejoin_s", "waited_s"):
        if key in measured:
            return f"{key.removesuffix('_s')} {measured[key]} s"
    return ""


if __name__ == "__main__":
    main()
