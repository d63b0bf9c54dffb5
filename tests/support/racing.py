"""Processes racing through one barrier: how start-up races are tested (several workers
creating the same key on a new state dir at once)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any


def race(target: Callable[..., str], *args: Any, racers: int = 6, timeout_s: float = 30) -> list[str]:
    """Fork ``racers`` processes that meet at a barrier and then each call ``target(*args)``:
    their results, or ``"error: ..."`` for a racer that raised (the race being tested)."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(racers), context.Queue()
    processes = [context.Process(target=_racer, args=(barrier, results, target, args)) for _ in range(racers)]
    for process in processes:
        process.start()
    got = [results.get(timeout=timeout_s) for _ in processes]
    for process in processes:
        process.join(timeout=timeout_s)
    return got


def _racer(barrier: Any, results: Any, target: Callable[..., str], args: tuple) -> None:
    barrier.wait()
    try:
        results.put(target(*args))
    except Exception as exc:
        results.put(f"error: {exc}")
