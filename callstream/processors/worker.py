"""One processor instance as a process: ``python -m callstream.processors.worker NAME``.

``callstream run`` and ``callstream up`` start these (one per instance), so each is a
consumer-group member that can be stopped, killed and restarted by PID. Connection
settings come from the environment (CALLSTREAM_*), like every callstream command.
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import json
import signal
import sys
from datetime import timedelta
from pathlib import Path

from callstream.contract.catalog import DEADLETTER_TOPIC, load_catalog
from callstream.entry import run_entry_point
from callstream.governance.protection import open_protection
from callstream.governance.verify import check_access
from callstream.kafka.config import static_member_id
from callstream.local.processes import wait_for_go
from callstream.observe.client_metrics import serve_if_configured
from callstream.priority import lower_priority
from callstream.processors.base import Processor
from callstream.processors.registry import load_processor
from callstream.processors.runtime import build_application
from callstream.processors.watchdog import restart_on_transient_failure
from callstream.settings import Settings, client_config, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callstream-worker", description=__doc__)
    parser.add_argument("processor")
    parser.add_argument("--instance", default="0", help="instance id on this host: its static group membership")
    parser.add_argument("--group", help="consumer group (default callstream-<processor>)")
    parser.add_argument("--topic-map", help="JSON object renaming catalog topics (tests, rehearsals)")
    parser.add_argument("--catalog", type=Path)
    parser.add_argument("--state-ttl-s", type=float, help="forget a call's state this many seconds after its last write (default: the processor's)")
    parser.add_argument("--wait-for", type=Path, help="a warm standby: get ready, then join the group only once this file exists")
    args = parser.parse_args(argv)
    if args.state_ttl_s is not None and args.state_ttl_s <= 0:
        parser.error(f"--state-ttl-s must be a positive number of seconds, got {args.state_ttl_s:g}")
    run_processor(load_settings(None), load_processor(args.processor), instance=args.instance, group=args.group,
                  topic_names=json.loads(args.topic_map) if args.topic_map else None, catalog=args.catalog,
                  state_ttl=timedelta(seconds=args.state_ttl_s) if args.state_ttl_s else None, wait_for=args.wait_for)
    return 0


def run_processor(settings: Settings, processor: Processor, *, instance: str = "0", group: str | None = None,
                  topic_names: dict[str, str] | None = None, catalog: Path | None = None,
                  state_ttl: timedelta | None = None, wait_for: Path | None = None) -> None:
    """Run one instance of ``processor`` until it is stopped: check its ACLs, open its
    keys when it reads restricted fields, and serve its metrics when configured. With
    ``wait_for`` it joins its group only once that file exists (``wait_for_go``)."""
    group = group or processor.consumer_group
    if processor.niceness:
        lower_priority(processor.niceness)
    # one directory for the processor's instances on this host (``runtime.SHARED_STATE``)
    state_dir = settings.state_dir / "processors" / group
    conf = client_config(settings, processor.name)
    names = topic_names or {}
    check_access(conf, processor.name, reads=[names.get(t, t) for t in processor.inputs],
                 writes=[names.get(t, t) for t in (*processor.outputs, DEADLETTER_TOPIC)])
    protection = open_protection(settings, processor.name, force=True) if processor.reads_restricted else None
    app = build_application(
        processor, conf, load_catalog(catalog), state_dir, protection=protection,
        group=group, topic_names=names or None, instance_id=static_member_id(group, instance), state_ttl=state_ttl,
    )
    serve_if_configured()  # per-instance /metrics when CALLSTREAM_METRICS_PORT is set
    # `kill -USR1 <pid>` writes every thread's stack to the log: how a worker that stopped
    # making progress without dying (a stall after a broker loss) shows where it waits
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    wait_for_go(wait_for)
    # What exists by now (modules, Quix's application, the detectors' tables) lives as long
    # as the process: frozen, the collector's full passes no longer walk it (a full pass
    # over ~80k such objects took 72-204 ms of a worker's time under load).
    gc.freeze()
    try:
        restart_on_transient_failure(app.run, processor.name)
    finally:
        if protection is not None:
            protection.close()  # the last window of key unwraps goes into the audit log


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
