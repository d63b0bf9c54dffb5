"""The handshake that lets a running ``callstream up`` switch itself during a migration.

``callstream migrate cutover`` (or ``rollback``), run beside ``up`` on the same state dir,
asks ``up`` for each client step of the switch through two small files under
``<state dir>/migration/``: a request (``prepare``, ``quiesce``, ``stop`` or ``start``, the
cluster, a sequence number) and ``up``'s answer with the same number. ``up`` polls for
requests in its live loop: it readies a warm standby of its processes on the joining
cluster while writes still flow, holds its simulator, stops its processes, and releases the
standby (and moves the simulator) on the joining cluster. ``up`` records its PID in
``<state dir>/up.json`` so the migration knows someone will answer.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from callstream.errors import MigrationError
from callstream.local.pids import pid_alive
from callstream.migrate.links import Link

#: how often the migration looks for `up`'s answer (a small file read): two of the four
#: answers are waited for inside the write pause
ANSWER_CHECK_S = 0.05


def _write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(document))
    partial.replace(path)  # atomic: the reader never sees half a file


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return None


class Handover:
    """Both sides of the handshake for one state dir."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.request_path = self.state_dir / "migration" / "handover-request.json"
        self.answer_path = self.state_dir / "migration" / "handover-answer.json"
        self.up_path = self.state_dir / "up.json"
        self._answered = 0

    # --- the running platform (`callstream up`) ---------------------------------------------

    def announce(self) -> None:
        """``up`` is running and answers requests (its PID in ``up.json``)."""
        _write(self.up_path, {"pid": os.getpid()})
        request = _read(self.request_path)
        self._answered = int(request["seq"]) if request else 0  # old requests are not ours

    def withdraw(self) -> None:
        self.up_path.unlink(missing_ok=True)

    def pending(self) -> dict[str, Any] | None:
        request = _read(self.request_path)
        if request is None or int(request["seq"]) <= self._answered:
            return None
        return request

    def answer(self, request: dict[str, Any], ok: bool, detail: str) -> None:
        self._answered = int(request["seq"])
        _write(self.answer_path, {"seq": request["seq"], "step": request["step"], "ok": ok, "detail": detail})

    # --- the migration -------------------------------------------------------------------------

    def platform_running(self) -> bool:
        running = _read(self.up_path)
        return running is not None and pid_alive(int(running["pid"]))

    def ask(self, step: str, cluster: str, timeout_s: float = 180.0) -> str:
        """Ask the running platform for ``step`` on ``cluster``; its answer's detail."""
        previous = _read(self.request_path)
        seq = (int(previous["seq"]) if previous else 0) + 1
        _write(self.request_path, {"seq": seq, "step": step, "cluster": cluster, "at": time.time()})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            answer = _read(self.answer_path)
            if answer is not None and int(answer["seq"]) == seq:
                if not answer["ok"]:
                    raise MigrationError(f"`callstream up` could not {step} on '{cluster}': {answer['detail']}",
                                         "read up's output; it keeps running where it was")
                return str(answer["detail"])
            if not self.platform_running():
                raise MigrationError(f"`callstream up` stopped before it answered '{step}'",
                                     "start the clients yourself, or `callstream migrate rollback`")
            time.sleep(ANSWER_CHECK_S)
        raise MigrationError(f"`callstream up` did not answer '{step}' within {timeout_s:.0f} s",
                             "read up's output; stop it and start the clients yourself")


class PlatformClients:
    """The clients of a running ``callstream up``: it switches itself when asked."""

    def __init__(self, handover: Handover, say: Any = print) -> None:
        self.handover, self.say = handover, say

    def prepare(self, cluster: Link) -> str | None:
        """`up` readies a warm standby on the joining cluster (nothing under autoscaling)."""
        self.say(f"  up: readying its processes on '{cluster.name}' while writes still flow ...")
        readied = self.handover.ask("prepare", cluster.name)
        if readied:
            self.say(f"  up: {readied}")
        return readied or None

    def quiesce(self, cluster: Link) -> None:
        self.say(f"  up: {self.handover.ask('quiesce', cluster.name)}")

    def stop(self, cluster: Link) -> None:
        self.say(f"  up: {self.handover.ask('stop', cluster.name)}")

    def start(self, cluster: Link) -> None:
        self.say(f"  up: {self.handover.ask('start', cluster.name)}")
