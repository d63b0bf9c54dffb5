"""`callstream kafka status` and `topics apply/check` through the CLI against the real broker."""

import json
import subprocess
import sys
from pathlib import Path

from callstream.contract.catalog import BUILTIN_CATALOG


def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "callstream", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_status_lists_topics_created_by_apply(cli_env: dict[str, str], tmp_path: Path, unique_name) -> None:
    catalog = tmp_path / "topics.yaml"
    source = BUILTIN_CATALOG.read_text()
    name = unique_name("cli.lifecycle")
    catalog.write_text(source.replace("name: callstream.call.lifecycle", f"name: {name}"))
    first = run_cli("topics", "apply", "--catalog", str(catalog), cwd=tmp_path, env=cli_env)
    assert first.returncode == 0, first.stderr
    assert f"create          {name}" in first.stdout
    second = run_cli("topics", "apply", "--catalog", str(catalog), cwd=tmp_path, env=cli_env)
    assert "0 change(s) applied" in second.stdout
    check = run_cli("topics", "check", "--catalog", str(catalog), cwd=tmp_path, env=cli_env)
    assert check.returncode == 0 and "the cluster matches it" in check.stdout
    status = run_cli("kafka", "status", "--json", cwd=tmp_path, env=cli_env)
    assert status.returncode == 0, status.stderr
    info = json.loads(status.stdout)
    assert name in info["topics"] and info["controller"] is not None
