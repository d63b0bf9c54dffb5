"""Fault injection on schedule: each planned fault runs at its time, by PID, and is recorded.

Faults on the same target (one broker, one processor instance, the archiver) run in
order in one thread, so a restart never overtakes the kill before it; faults on
different targets run concurrently, so a slow broker restart does not delay a processor
kill. What a fault does is up to the ``FaultTargets`` the runner provides.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from callstream.rehearse.schedule import PlannedFault


class FaultTargets(Protocol):
    def execute(self, fault: PlannedFault) -> dict[str, Any]:
        """Carry out ``fault``; returns details for the report (pid, node id, ...)."""
        ...


@dataclass
class FaultRecord:
    """One fault as it happened."""

    planned_at_s: float
    action: str
    label: str
    index: int
    started_at_s: float | None = None
    done_at_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.started_at_s is not None and self.error is None

    @property
    def is_down(self) -> bool:
        """Takes something down (a kill or stop), as opposed to a restart or a re-drive."""
        return self.action.startswith(("kill-", "stop-"))

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"ok": self.ok}


def target_key(fault: PlannedFault) -> str:
    """Which faults must run in order: the same broker (by node or by the fault that chose
    it), the same processor instance, the archiver."""
    if fault.kind == "broker":
        if fault.action == "restart-broker":
            return f"broker:{fault.broker}"
        return f"broker:{fault.id or f'#{fault.index}'}" if fault.broker == "leader" else f"broker:{fault.broker}"
    if fault.kind == "processor":
        return f"processor:{fault.processor}-{fault.instance}"
    if fault.kind == "redrive":
        return f"redrive:{fault.index}"
    return fault.kind


class FaultInjector:
    """Runs the planned faults against ``targets``, timed from ``t0`` (``time.monotonic()``)."""

    def __init__(self, planned: list[PlannedFault], targets: FaultTargets) -> None:
        self.planned = planned
        self.targets = targets
        self.records = [FaultRecord(f.at_s, f.action, f.label, f.index) for f in planned]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.t0 = 0.0

    def start(self, t0: float) -> None:
        self.t0 = t0
        lanes: dict[str, list[int]] = defaultdict(list)
        for i, fault in enumerate(self.planned):
            lanes[target_key(fault)].append(i)
        for key, indices in lanes.items():
            thread = threading.Thread(target=self._lane, args=(indices,), name=f"fault-{key}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Cancel faults that have not started (a started one finishes)."""
        self._stop.set()

    def join(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def pending(self) -> int:
        return sum(1 for r in self.records if r.done_at_s is None and r.error is None)

    def _lane(self, indices: list[int]) -> None:
        for i in indices:
            fault, record = self.planned[i], self.records[i]
            if self._stop.wait(max(0.0, self.t0 + fault.at_s - time.monotonic())):
                record.error = "not run: the rehearsal ended first"
                continue
            record.started_at_s = round(time.monotonic() - self.t0, 3)
            try:
                record.details = self.targets.execute(fault)
            except Exception as exc:  # a failed injection is a finding, not a crash of the run
                record.error = str(exc) or type(exc).__name__
            record.done_at_s = round(time.monotonic() - self.t0, 3)
