"""``python -m callstream.observe.dashboard --port N``: the dashboard as a child process
(``callstream up`` starts it this way). Connection settings come from CALLSTREAM_*."""

from __future__ import annotations

import argparse
import sys

from callstream.errors import CallstreamError
from callstream.observe.observer import add_observer_arguments, observer_from_arguments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callstream.observe.dashboard", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    add_observer_arguments(parser)
    args = parser.parse_args(argv)
    try:
        observer, conf = observer_from_arguments(args)
    except CallstreamError as exc:
        print(f"callstream: error: {exc}", file=sys.stderr)
        return exc.exit_code
    from callstream.observe.dashboard.server import serve

    print(f"dashboard: http://{args.host}:{args.port}/ (metrics at /metrics)", flush=True)
    serve(observer, conf, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
