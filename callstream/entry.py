"""How every callstream process starts and fails: the CLI and each ``python -m callstream...``
child (workers, the archiver, re-drives, the dashboard, the observer).

A foreseeable failure is a ``CallstreamError``, printed as one line on stderr (what was
wrong, then what to do) with its exit code; Ctrl-C exits 130. Supervisors (``up``, the
rehearsal runner) read a dead child's log and see the same line a user would.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from callstream.errors import CallstreamError

INTERRUPTED_EXIT_CODE = 130


def error_line(exc: CallstreamError) -> str:
    return f"callstream: error: {exc.message}" + (f" -- {exc.hint}" if exc.hint else "")


def run_entry_point(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run ``main(argv)`` and turn its outcome into an exit code (for ``sys.exit``)."""
    try:
        result = main(argv)
    except CallstreamError as exc:
        print(error_line(exc), file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("callstream: interrupted", file=sys.stderr, flush=True)
        return INTERRUPTED_EXIT_CODE
    return result if isinstance(result, int) else 0
