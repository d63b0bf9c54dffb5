"""The lock the README's commands install was compiled from today's pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_lock_follows_pyproject() -> None:
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock_stamp.py"), "check",
                            str(ROOT / "requirements.lock")], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
