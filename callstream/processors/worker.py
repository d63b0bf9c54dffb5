"""One processor instance as a process: ``python -m callstream.processors.worker NAME``.

``callstream run`` and ``callstream up`` start these (one per instance), so each is a
consumer-group member that can be stopped, killed and restarted by PID. Connection
settings come from the environment (CALLSTREAM_*), like every callstream command.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path

from callstream.contract.catalog import DEADLETTER_TOPIC, load_catalog
from callstream.entry import run_entry_point
from callstream.governance.verify import check_access
from callstream.kafka.config import static_member_id
from callstream.observe.client_metrics import serve_if_configured
from callstream.processors.registry import load_processor
from callstream.processors.runtime import build_application
from callstream.settings import client_config, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="callstream-worker", description=__doc__)
    parser.add_argument("processor")
    parser.add_argument("--instance", default="0", help="instance id on this host: its state directory and static group membership")
    parser.add_argument("--group", help="consumer group (default callstream-<processor>)")
    parser.add_argument("--topic-map", help="JSON object renaming catalog topics (tests, rehearsals)")
    parser.add_argument("--catalog", type=Path)
    parser.add_argument("--state-ttl-s", type=float, help="forget a call's state this many seconds after its last write (default: the processor's)")
    args = parser.parse_args(argv)
    if args.state_ttl_s is not None and args.state_ttl_s <= 0:
        parser.error(f"--state-ttl-s must be a positive number of seconds, got {args.state_ttl_s:g}")
    settings = load_settings(None)
    processor = load_processor(args.processor)
    group = args.group or processor.consumer_group
    state_dir = settings.state_dir / "processors" / group / f"instance-{args.instance}"
    conf = client_config(settings, processor.name)
    topic_names = json.loads(args.topic_map) if args.topic_map else {}
    check_access(conf, processor.name, reads=[topic_names.get(t, t) for t in processor.inputs],
                 writes=[topic_names.get(t, t) for t in (*processor.outputs, DEADLETTER_TOPIC)])
    app = build_application(
        processor, conf, load_catalog(args.catalog), state_dir,
        group=group, topic_names=topic_names or None,
        instance_id=static_member_id(group, args.instance),
        state_ttl=timedelta(seconds=args.state_ttl_s) if args.state_ttl_s else None,
    )
    serve_if_configured()  # per-instance /metrics when CALLSTREAM_METRICS_PORT is set
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
