"""Events a processor ignores leave its worker by their first bytes, before Quix opens the
call's state and before they are decoded (``runtime.read_filter``)."""

from __future__ import annotations

import json

from samples import build_sample

from callstream.contract.codec import encode_event
from callstream.contract.events import CallEnded, CallHeartbeat
from callstream.processors.registry import load_processor
from callstream.processors.runtime import read_filter


def test_quality_and_analytics_skip_heartbeats_unread_and_read_everything_else() -> None:
    heartbeat, _ = encode_event(build_sample(CallHeartbeat))
    ended, _ = encode_event(build_sample(CallEnded))
    # the same heartbeat from a producer that writes its keys in another order: the step
    # decodes it and drops it there
    reordered = json.dumps(dict(reversed(list(json.loads(heartbeat).items())))).encode()
    for name in ("quality", "analytics", "routing"):
        worth_reading = read_filter(load_processor(name))
        assert worth_reading is not None, name
        assert not worth_reading(heartbeat), name
        assert worth_reading(ended) and worth_reading(reordered), name
        assert worth_reading(None), name  # a tombstone goes on to the step, which dead-letters it
        assert worth_reading(b"\x00 not json"), name  # so does garbage


def test_processors_that_ignore_nothing_and_bundles_read_every_message() -> None:
    # a bundle's members decide in the step: routing ignores heartbeats, escalation reads them
    for name in ("redactor", "escalation", "signals", "frontline"):
        assert read_filter(load_processor(name)) is None, name
