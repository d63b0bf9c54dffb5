"""Running a replication direction: in a thread (rehearsals, tests) or as a background
process that outlives the command that started it (``callstream migrate start``).

The background replicator is tracked by PID in ``<state dir>/migration/replicator.json``
and stopped with SIGTERM, after which it finishes its transaction; a SIGKILL loses
nothing either (the next one resumes from the last committed transaction).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from callstream.errors import CallstreamError, MigrationError
from callstream.local.pids import pid_alive, signal_and_wait, stop_on_signals
from callstream.migrate.links import Link, open_link
from callstream.migrate.replicator import Replicator

logger = logging.getLogger(__name__)


class ReplicationThreads:
    """Each direction in a thread of this process."""

    def __init__(self, topics: list[str]) -> None:
        self.topics = topics
        self._running: dict[tuple[str, str], tuple[threading.Thread, threading.Event]] = {}
        self.errors: list[BaseException] = []
        self.replicators: dict[tuple[str, str], Replicator] = {}

    def start(self, source: Link, target: Link) -> None:
        key = (source.cluster_id, target.cluster_id)
        if key in self._running:
            return
        stop = threading.Event()
        replicator = Replicator(source, target, self.topics)
        self.replicators[key] = replicator

        def run() -> None:
            try:
                replicator.run(stop)
            except BaseException as exc:  # kept for the owner to raise; a thread cannot
                self.errors.append(exc)
            finally:
                replicator.close()

        thread = threading.Thread(target=run, name=f"replicate-{source.name}-{target.name}", daemon=True)
        thread.start()
        self._running[key] = (thread, stop)

    def stop(self, source: Link, target: Link) -> None:
        running = self._running.pop((source.cluster_id, target.cluster_id), None)
        if running is not None:
            thread, stop = running
            stop.set()
            thread.join(timeout=60)
        if self.errors:
            raise MigrationError(f"a replicator failed: {self.errors[0]}")

    def stop_all(self) -> None:
        for thread, stop in self._running.values():
            stop.set()
            thread.join(timeout=60)
        self._running.clear()


def _record(state_dir: Path) -> Path:
    return state_dir / "migration" / "replicator.json"


class ReplicationProcesses:
    """Each direction as a background process of its own (one at a time per state dir)."""

    def __init__(self, state_dir: Path, env: dict[str, str], topics: list[str] | None = None) -> None:
        self.state_dir, self.env, self.topics = state_dir, env, topics or []

    def running(self) -> dict | None:
        path = _record(self.state_dir)
        if not path.exists():
            return None
        record = json.loads(path.read_text())
        return record if pid_alive(record["pid"]) else None

    def start(self, source: Link, target: Link) -> None:
        running = self.running()
        if running is not None:
            if (running["source"], running["target"]) == (source.name, target.name):
                return
            raise MigrationError(f"a replicator from '{running['source']}' to '{running['target']}' runs (PID {running['pid']})",
                                 "stop it with `callstream migrate stop` first")
        log = self.state_dir / "migration" / f"replicator-{source.name}-{target.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            process = subprocess.Popen([sys.executable, "-m", "callstream.migrate.service", "--source", source.name,
                                        "--target", target.name, *[a for t in self.topics for a in ("--topic", t)]], stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        _record(self.state_dir).write_text(json.dumps({"pid": process.pid, "source": source.name, "target": target.name,
                                                       "log": str(log), "started": time.time()}))

    def stop(self, source: Link | None = None, target: Link | None = None) -> None:
        running = self.running()
        if running is not None:
            signal_and_wait([running["pid"]], signal.SIGTERM, 60)
        _record(self.state_dir).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """The background replicator: ``python -m callstream.migrate.service --source A --target B``."""
    from callstream.contract.catalog import load_catalog
    from callstream.migrate.plan import make_plan, prepare_target
    from callstream.settings import load_settings

    parser = argparse.ArgumentParser(prog="callstream-replicator")
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--topic", action="append", help="replicate only these topics (default: the platform's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stop = stop_on_signals()
    try:
        settings = load_settings(None)
        source, target = open_link(settings, args.source), open_link(settings, args.target)
        plan = make_plan(source, target, load_catalog(settings.deployment.catalog), args.topic)
        plan.refuse_if_impossible()
        prepare_target(plan, target)
        replicator = Replicator(source, target, [t.name for t in plan.topics])
    except CallstreamError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    # from here SIGTERM finishes the batch in hand (before, during start-up, it ends the
    # process at once): the log says so, and when this replicator (re)started
    print(json.dumps({"pid": os.getpid(), "started": f"{source.name} -> {target.name}",
                      "copied": 0}), flush=True)
    last = 0.0

    def progress(r: Replicator) -> None:
        nonlocal last
        if time.monotonic() - last >= 5:
            last = time.monotonic()
            print(json.dumps({"pid": os.getpid(), "copied": r.stats.copied, "looped": r.stats.looped,
                              "transactions": r.stats.transactions}), flush=True)

    try:
        replicator.run(stop, on_batch=progress)
    finally:
        replicator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
