"""The README's main command end to end: `callstream up` runs Kafka's catalog, every
processor, the archiver and the simulator; then history is queryable and replayable."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import msgspec
import pytest
from confluent_kafka import Consumer

from callstream.contract.codec import decode_event
from callstream.local.broker import free_ports
from callstream.observe.lag import OffsetReader
from callstream.processors.registry import deployment, load_processor

pytestmark = pytest.mark.slow


def run_cli(*args: str, cwd: Path, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "callstream", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_up_runs_the_platform_then_history_replays(cli_env: dict[str, str], kafka_config: dict[str, str],
                                                   tmp_path: Path) -> None:
    base = ["--state-dir", str(tmp_path / "state")]
    port = free_ports(1)[0]
    errors = tmp_path / "up.stderr"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "callstream", *base, "up", "--duration", "90", "--speedup", "10", "--rate", "60", "--seed",
             "3", "--dashboard-port", str(port)], cwd=tmp_path, env=cli_env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    metrics, prompting_since = "", None
    # a person stops `up` with Ctrl-C once calls, lag and prompts show; --duration only bounds a stuck run
    while process.poll() is None and (prompting_since is None or time.monotonic() - prompting_since < 10):
        time.sleep(2)
        try:
            metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        except OSError:
            continue  # the dashboard is still starting
        if prompting_since is None and "callstream_consumer_lag_messages{" in metrics and any(
                "assist latency (last" in line for line in lines):
            prompting_since = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.wait(timeout=200)
    reader.join(timeout=10)
    up = subprocess.CompletedProcess(process.args, process.returncode, "".join(lines), errors.read_text())
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    assert "callstream_consumer_lag_messages{" in metrics  # the dashboard served live metrics while up ran
    assert "calls in progress" in up.stdout and "archiver (pid" in up.stdout and "archive-maintenance (pid" in up.stdout
    assert "exited" not in up.stdout  # no processor died
    assert prompting_since is not None and "stopping ..." in up.stdout  # stopped by Ctrl-C, not by --duration
    assert "stopped the processors, the archiver and the dashboard" in up.stdout
    assert "http://127.0.0.1:" in up.stdout
    # it stopped the simulator first and the processors once they had committed all it sent
    assert "drained every processor has processed all the traffic sent" in up.stdout, up.stdout[-2000:]
    with OffsetReader(kafka_config) as reader:
        behind = {p.consumer_group: reader.group_lag(p.consumer_group, list(p.inputs), state=("Unknown", 0)).total_lag
                  for p in map(load_processor, deployment(False))}
    assert not any(behind.values()), behind

    counted = run_cli(*base, "archive", "query", "--json",
                      "SELECT event_type, count(*) AS n FROM callstream_call_lifecycle GROUP BY event_type", cwd=tmp_path,
                      env=cli_env)
    assert counted.returncode == 0, counted.stderr
    counts = {row["event_type"]: row["n"] for row in map(json.loads, counted.stdout.splitlines())}
    assert counts.get("call.initiated", 0) > 0

    truths = [msgspec.json.decode(line) for line in (tmp_path / "state" / "ground-truth.jsonl").read_bytes().splitlines()]
    contact = next(t["contact_id"] for t in truths if t.get("complete") and len(t["linked_contact_ids"]) == 1)
    redacted = run_cli(*base, "replay", "call", contact, "--json", cwd=tmp_path, env=cli_env)
    assert redacted.returncode == 0, redacted.stderr
    timeline = json.loads(redacted.stdout)
    types = [e["event_type"] for e in timeline["events"]]
    assert types[0] == "call.initiated" and "call.ended" in types and "transcript.redacted" in types
    assert "transcript.segment" not in types  # raw text only with --raw
    times = [e["event_time_ms"] for e in timeline["events"]]
    assert times == sorted(times)
    keys = [(e["topic"], e["partition"], e["offset"]) for e in timeline["events"]]
    assert len(keys) == len(set(keys))  # no duplicates at the archive/Kafka seam

    raw = run_cli(*base, "replay", "call", contact, "--json", "--raw", cwd=tmp_path, env=cli_env)
    assert "transcript.segment" in [e["event_type"] for e in json.loads(raw.stdout)["events"]]
    opened = [e["event"]["text"] for e in json.loads(raw.stdout)["events"] if e["event_type"] == "transcript.segment"]
    assert opened and not any(text.startswith("cs1:") for text in opened)  # privileged replay opens them

    # encryption is on: a plain consumer authorized to the raw topic reads only ciphertext
    ours = {c for t in truths for c in t["linked_contact_ids"]}
    consumer = Consumer({**kafka_config, "group.id": f"plain-{time.time_ns()}", "auto.offset.reset": "earliest"})
    consumer.subscribe(["callstream.transcript.raw"])
    texts, idle = [], 0
    while idle < 3:
        batch = [m for m in consumer.consume(1000, 1.0) if not m.error()]
        idle = 0 if batch else idle + 1
        texts += [e.text for e in map(lambda m: decode_event(m.value(), m.headers()), batch) if e and e.contact_id in ours]
    consumer.close()
    assert texts and all(text.startswith("cs1:") for text in texts)
    # up shipped the log (the redactor's and the simulator's key use) to the audit topic, as
    # the auditor; the privileged replay principal reads it back to pin the local log
    verified = run_cli(*base, "audit", "verify", "--json", "--against-kafka", cwd=tmp_path, env=cli_env)
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"], verified.stdout + verified.stderr
    actors = {json.loads(line)["actor"] for line in (tmp_path / "state" / "audit" / "log.jsonl").read_text().splitlines()}
    assert {"redactor", "simulator"} <= actors


def test_up_stops_with_status_1_when_a_processor_dies(cli_env: dict[str, str], tmp_path: Path) -> None:
    """`up` stops everything when one of its processes dies; its exit status says so (it was
    0, a clean stop, to a service manager or a script)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "callstream", "--state-dir", str(tmp_path / "state"), "up", "--duration", "120",
         "--no-simulator", "--no-archive", "--dashboard-port", str(free_ports(1)[0])],
        cwd=tmp_path, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    found = None
    try:
        deadline = time.monotonic() + 90
        while process.poll() is None and time.monotonic() < deadline:
            if found := re.search(r"routing\s+\(pid\s+(\d+)\)", "".join(lines)):
                os.kill(int(found.group(1)), signal.SIGKILL)  # a child of the `up` this test started
                break
            time.sleep(0.5)
        assert found, "".join(lines)[-2000:]
        process.wait(timeout=120)
    finally:
        if process.poll() is None:  # a failed test leaves no `up` behind
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
    reader.join(timeout=10)
    out = "".join(lines)
    assert process.returncode == 1, out[-2000:]
    assert re.search(r"routing exited \(-9\)", out) and "stopped the processors" in out
