"""The lock's stamp of what it was compiled from: a sha256 of the whole pyproject.toml.

``python scripts/lock_stamp.py write requirements.lock`` (run by ``make lock``) records it;
``check`` (run by the test suite) fails when pyproject.toml changed after the lock was last
compiled, so a new machine never installs something other than what passed. The whole file
counts, not only its dependency tables: build settings and extras live there too, and
"relock after any change" is a rule nobody has to interpret.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "# compiled from pyproject.toml sha256 "


def pyproject_hash(pyproject: Path = ROOT / "pyproject.toml") -> str:
    return hashlib.sha256(pyproject.read_bytes()).hexdigest()


def recorded_hash(lock: Path) -> str | None:
    for line in lock.read_text().splitlines():
        if line.startswith(PREFIX):
            return line.removeprefix(PREFIX).strip()
    return None


def main(action: str, lock: str) -> int:
    path = Path(lock)
    if action == "write":
        kept = [line for line in path.read_text().splitlines() if not line.startswith(PREFIX)]
        path.write_text("\n".join([f"{PREFIX}{pyproject_hash()}", *kept]) + "\n")
        return 0
    if recorded_hash(path) != pyproject_hash():
        print(f"{lock} was compiled from another pyproject.toml: run `make lock` and the suite",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
