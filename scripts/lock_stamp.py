"""The lock's stamp of what it was compiled from: a sha256 of pyproject.toml's dependencies.

``python scripts/lock_stamp.py write requirements.lock`` (run by ``make lock``) records it;
``check`` (run by the test suite) fails when pyproject.toml's dependencies changed after the
lock was last compiled, so a new machine never installs something other than what passed.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "# compiled from pyproject.toml dependencies sha256 "


def dependencies_hash(pyproject: Path = ROOT / "pyproject.toml") -> str:
    project = tomllib.loads(pyproject.read_text())["project"]
    inputs = {"requires-python": project.get("requires-python"), "dependencies": project.get("dependencies", []),
              "optional-dependencies": project.get("optional-dependencies", {})}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def recorded_hash(lock: Path) -> str | None:
    for line in lock.read_text().splitlines():
        if line.startswith(PREFIX):
            return line.removeprefix(PREFIX).strip()
    return None


def main(action: str, lock: str) -> int:
    path = Path(lock)
    if action == "write":
        kept = [line for line in path.read_text().splitlines() if not line.startswith(PREFIX)]
        path.write_text("\n".join([f"{PREFIX}{dependencies_hash()}", *kept]) + "\n")
        return 0
    if recorded_hash(path) != dependencies_hash():
        print(f"{lock} was compiled from other pyproject.toml dependencies: run `make lock` and the suite",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
