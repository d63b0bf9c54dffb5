"""Signals a long-running callstream process receives: a stop, not a crash."""

from __future__ import annotations

import os
import signal

import pytest

from callstream.local.pids import interrupt_on_signals, stop_on_signals


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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_interrupts_a_command_like_ctrl_c(kept_handlers, sig) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a shell starts a background job
    interrupt_on_signals()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), sig)
        signal.sigtimedwait([], 0.5)  # not reached once the handler has run: it raises first
