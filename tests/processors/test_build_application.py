"""Building a processor's Quix application survives Quix not seeing a topic it just made."""

from __future__ import annotations

import types

import pytest


def test_a_new_internal_topic_quix_does_not_see_yet_is_found_on_the_next_attempt(monkeypatch):
    from quixstreams.models.topics.exceptions import TopicNotFoundError

    from callstream.processors import runtime

    attempts: list[int] = []

    def build(*args, **kwargs):
        attempts.append(1)
        if len(attempts) < 3:
            raise TopicNotFoundError('Topic "changelog__callstream-analytics--x--default" not found on the broker')
        return "built"

    monkeypatch.setattr(runtime, "_build", build)
    monkeypatch.setattr(runtime.time, "sleep", lambda s: None)
    analytics = types.SimpleNamespace(name="analytics")
    assert runtime.build_application(analytics, {}, None, None) == "built" and len(attempts) == 3

    def missing_input(*args, **kwargs):
        raise TopicNotFoundError('Topic "callstream.transcript.raw" not found on the broker')

    monkeypatch.setattr(runtime, "_build", missing_input)
    with pytest.raises(TopicNotFoundError, match="callstream.transcript.raw"):
        runtime.build_application(analytics, {}, None, None)  # a real missing topic is not retried
