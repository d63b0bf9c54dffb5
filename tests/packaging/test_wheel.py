"""callstream as users install it: a wheel in a fresh virtual environment outside the
checkout, with no catalog/, scenarios/ or schemas/ beside it, runs its main commands."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from callstream.local.broker import free_ports

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv holding the callstream wheel built from this checkout.

    The wheel is installed with ``--no-deps``; its dependencies (exactly the locked ones)
    come from the test environment's site-packages through a ``.pth`` line, which Python
    reads for plain directories only: the checkout's editable install stays invisible.
    """
    home = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(home / "dist"), str(REPOSITORY)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    wheel = next((home / "dist").glob("callstream-*.whl"))
    venv.create(home / "venv", with_pip=True)
    site = next((home / "venv" / "lib").glob("python3*/site-packages"))
    (site / "locked-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = home / "venv" / "bin" / "python"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    return home / "venv"


def run(venv_dir: Path, *args: str, cwd: Path, settings_env: dict[str, str] | None = None,
        timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLSTREAM_", "PYTHONPATH"))} | (settings_env or {})
    return subprocess.run([str(venv_dir / "bin" / "callstream"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_the_wheel_is_what_runs(wheel_venv: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(wheel_venv / "bin" / "python"), "-c", "import callstream; print(callstream.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip().startswith(str(wheel_venv)), where.stdout + where.stderr


def test_the_registry_build_project_ships_inside_the_wheel(wheel_venv: Path, tmp_path: Path) -> None:
    listing = ("from importlib import resources; root = resources.files('callstream.local') / 'apicurio'; "
               "print(root.joinpath('pom.xml').is_file(), "
               "root.joinpath('src/main/java/io/callstream/registry/DynamicConfigProducer.java').is_file())")
    found = subprocess.run([str(wheel_venv / "bin" / "python"), "-c", listing], cwd=tmp_path, capture_output=True,
                           text=True, timeout=60)
    assert found.stdout.split() == ["True", "True"], found.stdout + found.stderr


def test_catalog_and_scenarios_ship_inside_the_wheel(wheel_venv: Path, tmp_path: Path, kafka_settings_env) -> None:
    check = run(wheel_venv, "topics", "check", cwd=tmp_path, settings_env=kafka_settings_env)
    assert "topics.yaml" in check.stdout + check.stderr and "not found" not in check.stderr, check.stdout + check.stderr
    listed = run(wheel_venv, "rehearse", "--list", cwd=tmp_path)
    assert listed.returncode == 0 and "burst" in listed.stdout and "broker-failure" in listed.stdout, listed.stderr
    burst = run(wheel_venv, "rehearse", "burst", "--check", cwd=tmp_path)
    assert burst.returncode == 0 and "burst" in burst.stdout and "is valid" in burst.stdout, burst.stdout + burst.stderr


def test_up_runs_from_the_wheel(wheel_venv: Path, tmp_path: Path, kafka_settings_env) -> None:
    """`up --bundled` here (tests/cli/test_up.py runs the default, a process per processor)."""
    up = run(wheel_venv, "--state-dir", str(tmp_path / "state"), "up", "--duration", "20", "--no-simulator", "--bundled",
             "--dashboard-port", str(free_ports(1)[0]), cwd=tmp_path, settings_env=kafka_settings_env)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    assert "archiver (pid" in up.stdout and "dashboard (pid" in up.stdout
    assert "frontline (pid" in up.stdout and "quality (pid" in up.stdout and "redactor (pid" not in up.stdout
    assert "exited" not in up.stdout  # no processor died
    assert "stopped the processors, the archiver and the dashboard" in up.stdout
