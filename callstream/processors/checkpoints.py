"""How long a worker's loop stops for each checkpoint, as ``callstream_processor_checkpoint_seconds``.

A checkpoint hands the calls' state to Quix (``state_cache.py``), produces the changelogs,
waits for every output to be acknowledged, commits the offsets (or the transaction) and
writes the state stores. The worker reads nothing meanwhile, so a prompt arriving then waits
for it: at 10,000 calls in real time the frontline stopped 60-80 ms a second this way, most
of assist's tail (NOTES, stop 57). The histogram shows that stall beside the per-event step
time; Kafka Streams reports the same as its commit latency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from callstream.observe.client_metrics import ProcessorMetrics


def time_checkpoints(app: Any, metrics: ProcessorMetrics, clock: Callable[[], float] = time.monotonic) -> None:
    """Time each checkpoint ``app`` commits, outermost: wrap after the state cache's hook
    and before the commit watchdog's (Quix internals: the processing context's
    ``commit_checkpoint`` and its checkpoint's ``expired`` and ``empty``). Before ``app.run()``."""
    context = app._processing_context  # noqa: SLF001
    commit = context.commit_checkpoint

    def timed(force: bool = False, revoking: bool = False) -> None:
        # called after every message: only a due checkpoint is timed, and it is decided once
        # (asked again, Quix's clock could answer otherwise; the state cache relies on force)
        if not force and not context.checkpoint.expired():
            return
        empty = context.checkpoint.empty()  # an idle worker's checkpoint only closes
        started = clock()
        commit(force=True, revoking=revoking)
        if not empty:
            metrics.checkpoint_seconds.observe(clock() - started)

    context.commit_checkpoint = timed
