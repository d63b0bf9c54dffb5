"""``python -m callstream.observe.dashboard [--port N]``: the dashboard as a child process
(``callstream up`` starts it this way). Settings come from CALLSTREAM_* like every child's;
the dashboard section gives the host and port unless flags say otherwise."""

from __future__ import annotations

import argparse
import sys

from callstream.entry import run_entry_point
from callstream.governance.audit import AuditLog
from callstream.observe.dashboard.access import access_from_settings, describe, record_endpoint
from callstream.observe.observer import add_observer_arguments, observer_from_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callstream.observe.dashboard", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, help="default: the dashboard section of the settings (8765)")
    add_observer_arguments(parser)
    args = parser.parse_args(argv)
    observer, conf, settings = observer_from_arguments(args)
    from callstream.observe.dashboard.server import serve

    host, port = args.host or settings.dashboard.host, args.port or settings.dashboard.port
    access, where = access_from_settings(settings.dashboard, settings.state_dir, host)
    print(f"dashboard: http://{host}:{port}/ (metrics at /metrics); {describe(access, where)}", flush=True)
    record_endpoint(settings.state_dir, host, port)
    serve(observer, conf, host=host, port=port, access=access, tokens_hint=where, audit=AuditLog(settings.audit_dir))
    return 0


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
