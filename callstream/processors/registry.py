"""The processors callstream can run, by name (``callstream run --list``)."""

from __future__ import annotations

import importlib

from callstream.errors import ConfigError
from callstream.processors.base import Processor

#: name -> "module:Class", imported on demand so one processor's imports never slow another's start
_PROCESSORS: dict[str, str] = {
    "redactor": "callstream.processors.redactor:Redactor",
    "sentiment": "callstream.processors.sentiment:SentimentScorer",
    "assist": "callstream.processors.assist:AgentAssist",
    "escalation": "callstream.processors.escalation:EscalationDetector",
    "fraud": "callstream.processors.fraud:FraudScorer",
    "churn": "callstream.processors.churn:ChurnScorer",
    "routing": "callstream.processors.routing:RoutingDecider",
    "quality": "callstream.processors.quality:QualityScorer",
    "analytics": "callstream.processors.analytics:AnalyticsAggregator",
}


def processor_names() -> list[str]:
    return list(_PROCESSORS)


def load_processor(name: str) -> Processor:
    target = _PROCESSORS.get(name)
    if target is None:
        raise ConfigError(f"no processor named {name!r}", f"choose one of {', '.join(_PROCESSORS)} (callstream run --list)")
    module_name, class_name = target.split(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"processor {name} is not available in this build ({exc})") from None
    return cls()


def available() -> dict[str, Processor]:
    """Every processor that loads, by name."""
    found = {}
    for name in _PROCESSORS:
        try:
            found[name] = load_processor(name)
        except ConfigError:
            continue
    return found
