"""Signals a long-running callstream process receives: a stop, not a crash."""

from __future__ import annotations

import os
import signal

import pytest

from callstream.local.pids import stop_on_signals


@pytest.fixture
def kept_handlers():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_sets_the_event_instead_of_ending_the_process(kept_handlers, sig) -> None:
    stop = stop_on_signals()
    assert not stop.is_set()
    os.kill(os.getpid(), sig)  # handled in the main thread before kill returns to Python code
    assert stop.wait(1.0), f"{signal.Signals(sig).name} did not set the stop event"
