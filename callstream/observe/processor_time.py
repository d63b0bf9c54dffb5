"""Where each processor's time went over the last window: events, time per event, and the
checkpoints that stopped its loop, from the workers' own histograms.

The workers' histograms (``callstream_processor_step_seconds`` and
``callstream_processor_checkpoint_seconds``, summed over their processes) only ever grow.
``ProcessorClock`` keeps their totals at each sample and reports the difference between the
newest sample and the oldest one still inside the window, so ``status`` and the dashboard
show the present, not the average since the workers started. A checkpoint's p99 is the
upper bound of the histogram bucket it falls in (all a bucket can tell), so it reads "at
most". The milliseconds per second a processor's loops stood still for checkpoints are
what a prompt arriving meanwhile waits for (NOTES, stop 57: 60-80 ms a second for the
frontline at 10,000 calls in real time).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from pathlib import Path

from callstream.observe.client_metrics import (
    CHECKPOINT_SECONDS,
    STEP_SECONDS,
    HistogramTotals,
    histogram_totals,
    read_worker_metrics,
)
from callstream.observe.snapshot import ProcessorTime, WorkerSample

#: processor -> (step totals, checkpoint totals)
Totals = dict[str, tuple[HistogramTotals, HistogramTotals]]


def read_worker_samples(directory: Path) -> list[WorkerSample]:
    """Every sample of the workers' metrics in ``directory``, summed over their processes."""
    return [WorkerSample(f.name, f.type, s.name, dict(s.labels), float(s.value))
            for f in read_worker_metrics(directory) for s in f.samples]


def worker_totals(samples: Iterable[WorkerSample]) -> Totals:
    """The step and checkpoint histograms' totals per processor."""
    rows = [(s.family, s) for s in samples]
    steps = histogram_totals(rows, STEP_SECONDS, ("processor",))
    checkpoints = histogram_totals(rows, CHECKPOINT_SECONDS, ("processor",))
    return {key[0]: (steps.get(key, HistogramTotals()), checkpoints.get(key, HistogramTotals()))
            for key in steps.keys() | checkpoints.keys()}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


class ProcessorClock:
    """Each processor's figures over the last ``window_s`` seconds of samples."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, Totals]] = deque()

    def update(self, now_s: float, samples: Iterable[WorkerSample]) -> list[ProcessorTime]:
        """Record this sample's totals and report the window up to it (nothing on the first
        sample: a difference needs two)."""
        totals = worker_totals(samples)
        self._samples.append((now_s, totals))
        # keep the newest sample at or before the window's start: the window is then whole
        while len(self._samples) > 1 and self._samples[1][0] <= now_s - self.window_s:
            self._samples.popleft()
        since_s, earlier = self._samples[0]
        span = now_s - since_s
        if span <= 0:
            return []
        out = []
        for processor, (step, checkpoint) in sorted(totals.items()):
            before = earlier.get(processor, (HistogramTotals(), HistogramTotals()))
            steps, checkpoints = step.minus(before[0]), checkpoint.minus(before[1])
            p99 = checkpoints.within(0.99)
            out.append(ProcessorTime(
                processor=processor, over_seconds=round(span, 3),
                events_per_s=round(steps.count / span, 3),
                step_mean_us=round(steps.sum / steps.count * 1e6, 1) if steps.count else None,
                checkpoints=int(checkpoints.count),
                checkpoint_mean_ms=_ms(checkpoints.sum / checkpoints.count) if checkpoints.count else None,
                checkpoint_p99_bound_ms=_ms(p99), checkpoint_p99_beyond_buckets=bool(checkpoints.count) and p99 is None,
                stopped_ms_per_s=round(checkpoints.sum / span * 1000, 3)))
        return out
