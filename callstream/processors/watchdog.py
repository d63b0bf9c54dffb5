"""A deadline on an exactly-once processor's checkpoint commit.

Quix commits an exactly-once checkpoint (``send_offsets_to_transaction`` then
``commit_transaction``) without a deadline outside a rebalance. After a broker was killed,
that call has been seen to block for good in librdkafka 2.12.1 (`callstream rehearse
broker-failure`: 3 runs of 8, the worker's stack parked in ``send_offsets_to_transaction``
while its group's lag grew to 94k; librdkafka issue #5511 describes the same hang when the
group coordinator's broker is decommissioned). Nothing can interrupt a blocked C call, so
the watchdog ends the process: a restarted worker with the same ``transactional.id`` fences
the stuck producer (its open transaction is aborted) and goes on from the last committed
offsets, so nothing is lost or counted twice. A false alarm (a commit that was only slow)
therefore costs a restart, never data; a healthy commit takes well under a second, a few
seconds through a coordinator failover. It exits with ``RESTART_EXIT`` for
supervisors (`callstream up`, the rehearsal runner) to restart it.

A commit can also fail outright after a leader moves: librdkafka then fails the transaction
as abortable ("skipped sequence numbers (OUT_OF_ORDER_SEQUENCE_NUMBER, requires epoch
bump)", rehearse broker-failure, 1 run of 5 on 2026-12-07) and Quix stops the application
with the error. ``restart_on_transient_failure`` turns such an error (abortable or
retriable, never fatal or a refusal) into the same exit: the restart aborts the open
transaction and resumes from the last committed offsets. Without it the worker exited 1,
which `callstream up` takes for a crash and stops the whole platform.

Since ADR 0011 the case that stuck most (the group coordinator's broker killed) is ended
inside librdkafka by the producer closing idle connections
(``runtime.IDLE_CONNECTION_CLOSE_MS``); the watchdog stays for what that does not cover.

Measured (broker-failure, 3 nodes, the leader of raw[0] killed at 50 s): with a 60 s
deadline the worker exited 61 s into the hang and the run recovered 96.5 s after the kill
(bound 90 s), nothing lost; without the watchdog the same hang never ended and 1,761
acknowledged events never got a quality score or an archive row.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import KafkaError, KafkaException

log = logging.getLogger(__name__)

#: EX_TEMPFAIL: restart me (a stuck or failed checkpoint commit; nothing lost by a restart)
RESTART_EXIT = 75
#: half of librdkafka's ``transaction.timeout.ms`` (60 s): long past any healthy commit, and
#: soon enough that the restart still fits a broker-failure's 90 s recovery bound
COMMIT_DEADLINE_S = 30.0

_Result = TypeVar("_Result")


class CommitWatchdog:
    """Ends the process when a guarded commit has not returned within ``deadline_s``."""

    def __init__(self, what: str, deadline_s: float = COMMIT_DEADLINE_S,
                 on_stuck: Callable[[], None] | None = None) -> None:
        self.what, self.deadline_s = what, deadline_s
        self.on_stuck = on_stuck or self._exit
        self._started: float | None = None
        self._thread: threading.Thread | None = None

    def guard(self, commit: Callable[..., _Result]) -> Callable[..., _Result]:
        def guarded(*args: Any, **kwargs: Any) -> _Result:
            self._ensure_watching()
            self._started = time.monotonic()
            try:
                return commit(*args, **kwargs)
            finally:
                self._started = None

        return guarded

    def _ensure_watching(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="commit-watchdog", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while True:
            time.sleep(min(1.0, self.deadline_s / 4))
            started = self._started
            if started is not None and time.monotonic() - started > self.deadline_s:
                self.on_stuck()
                return

    def _exit(self) -> None:
        log.critical("%s: a checkpoint commit has not returned for %.0f s; exiting (code %d) so that a restart "
                     "fences the stuck transaction and resumes from the last committed offsets",
                     self.what, self.deadline_s, RESTART_EXIT)
        faulthandler.dump_traceback(all_threads=True)  # where it was stuck, for the log
        os._exit(RESTART_EXIT)


def guard_commits(app: Any, what: str, deadline_s: float = COMMIT_DEADLINE_S) -> CommitWatchdog:
    """Put a Quix ``Application``'s checkpoint commits under a ``CommitWatchdog``. The commit
    is the processing context's ``commit_checkpoint`` (a Quix internal: the version is pinned
    in the lock, and ``tests/processors/test_commit_watchdog.py`` fails if it moves)."""
    watchdog = CommitWatchdog(what, deadline_s)
    context = app._processing_context  # noqa: SLF001
    context.commit_checkpoint = watchdog.guard(context.commit_checkpoint)
    return watchdog


def transient(exc: KafkaException) -> bool:
    """Whether a fresh process gets past ``exc``: an aborted transaction or a retriable
    error. Fatal errors (a fenced producer) and refusals (an ACL) stay errors."""
    error = exc.args[0] if exc.args else None
    if not isinstance(error, KafkaError) or error.fatal():
        return False
    return bool(error.txn_requires_abort() or error.retriable())


def restart_on_transient_failure(run: Callable[[], None], what: str) -> None:
    """``run()``; a transient Kafka failure it ends with becomes ``RESTART_EXIT``."""
    try:
        run()
    except KafkaException as exc:
        if not transient(exc):
            raise
        log.error("%s: stopped by a transient Kafka failure (%s); exiting (code %d) so that a restart aborts the open "
                  "transaction and resumes from the last committed offsets", what, exc.args[0], RESTART_EXIT)
        raise SystemExit(RESTART_EXIT) from exc
