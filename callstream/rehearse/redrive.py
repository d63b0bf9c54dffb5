"""A rehearsal's archive re-drive as its own process (so it competes with the live path for
the broker and the CPU, as a real replay job would, and can be stopped by PID).

``python -m callstream.rehearse.redrive --from-ms T1 --to-ms T2 --into TOPIC [--rate N]
--topic T ...`` prints one JSON line with the re-drive report. The cluster and the archive
come from callstream's settings (``CALLSTREAM_*``, as every child gets them).
"""

from __future__ import annotations

import argparse
import json
import sys

from callstream.archive.replay import redrive_window
from callstream.archive.tables import Archive
from callstream.entry import run_entry_point
from callstream.settings import client_config, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m callstream.rehearse.redrive", description=__doc__.split("\n")[0])
    parser.add_argument("--from-ms", type=int, required=True)
    parser.add_argument("--to-ms", type=int, required=True)
    parser.add_argument("--into", required=True)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--topic", action="append", required=True, dest="topics")
    args = parser.parse_args(argv)
    settings = load_settings()
    archive = Archive.open(settings.archive_settings())
    report = redrive_window(archive, client_config(settings, "replay"), from_ms=args.from_ms, to_ms=args.to_ms,
                            into_topic=args.into, topics=args.topics, rate_per_s=args.rate, progress=False)
    print(json.dumps({"events": report.events, "seconds": round(report.seconds, 3),
                      "events_per_s": round(report.events_per_s, 1), "per_topic": report.per_topic}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_entry_point(main))
