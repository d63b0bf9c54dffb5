"""Foreseeable mistakes print one line saying what to do: no traceback, non-zero exit."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from callstream.contract.catalog import BUILTIN_CATALOG


def run_cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "callstream", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["topics", "check", "--offline", "--catalog", "missing.yaml"], {}, "catalog file missing.yaml not found"),
        (["topics", "check"], {}, "no local broker is running"),
        (["kafka", "status"], {"CALLSTREAM_SECURITY_PROTOCOL": "TLS"}, "security_protocol"),
        (["kafka", "start", "--brokers", "2"], {}, "'2' is not one of '1', '3'"),
        (["--config", "nope.yaml", "kafka", "status"], {}, "config file nope.yaml not found"),
        (["scale", "--min-instances", "3", "--max-instances", "2"], {},
         "invalid scaling policy: max_instances (2) is below min_instances (3)"),
        (["scale", "redactor", "--lag-bound-s", "1", "--in-below-s", "2"], {},
         "in_below_s (2) must be below lag_bound_s (1)"),
        (["scale", "teleporter"], {}, "unknown processor(s) teleporter"),
    ],
)
def test_one_line_error_without_traceback(tmp_path: Path, args, env, expected) -> None:
    result = run_cli(*args, cwd=tmp_path, env=env)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("callstream: error")]) <= 1


def test_every_command_has_help(tmp_path: Path) -> None:
    for args in (["--help"], ["kafka", "--help"], ["kafka", "start", "--help"], ["topics", "apply", "--help"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "Usage: callstream" in result.stdout


def test_invalid_catalog_via_cli_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "topics.yaml"
    bad.write_text(BUILTIN_CATALOG.read_text().replace("classification: restricted", "classification: secret", 1))
    result = run_cli("topics", "check", "--offline", "--catalog", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert "callstream.transcript.raw" in result.stderr and "classification" in result.stderr


def test_replay_without_a_cluster_shows_the_archive_and_says_what_it_could_not_read(tmp_path: Path) -> None:
    import json

    result = run_cli("--state-dir", str(tmp_path / "state"), "replay", "call", "call-1", "--json", cwd=tmp_path,
                     env={"CALLSTREAM_BOOTSTRAP_SERVERS": ""})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"contact_id": "call-1", "contact_ids": ["call-1"], "events": []}
    assert "Kafka's hot tail was not read (no Kafka cluster is configured" in result.stderr
    assert "Traceback" not in result.stderr
