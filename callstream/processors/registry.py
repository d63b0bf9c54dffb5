"""The processors callstream can run, by name (``callstream run --list``)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

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


#: bundles (``callstream.processors.bundle``): processors that run in one consumer when the
#: deployment is bundled. ``frontline``: the redactor and assist, each final redacted and handed to
#: assist in one step (the live path, one topic in, no hop between them; ADR 0010);
#: ``signals``: the at-least-once rule processors on the transcript and lifecycle, apart from
#: the live path so their work never queues ahead of a prompt. The exactly-once quality and
#: windowed analytics processors keep their own transactions.
BUNDLES: dict[str, tuple[str, ...]] = {
    "frontline": ("redactor", "assist"),
    "signals": ("sentiment", "escalation", "fraud", "churn", "routing"),
}
#: the bundles ``callstream up --bundled`` runs
BUNDLED = ("frontline", "signals")


def processor_names() -> list[str]:
    return list(_PROCESSORS)


def deployment(bundled: bool = False, bundles: Sequence[str] | None = None) -> list[str]:
    """The workers a platform runs: every processor, or each of ``bundles`` (``BUNDLED`` when
    ``bundled``) in place of its members."""
    chosen = tuple(bundles) if bundles is not None else BUNDLED if bundled else ()
    inside: set[str] = set()
    for bundle in chosen:
        if bundle not in BUNDLES:
            raise ConfigError(f"no bundle named {bundle!r}", f"choose from {', '.join(BUNDLES)}")
        if inside & set(BUNDLES[bundle]):
            raise ConfigError(f"bundle {bundle} shares processors with another bundle of this deployment",
                              "run each processor in at most one bundle")
        inside |= set(BUNDLES[bundle])
    return [n for n in _PROCESSORS if n not in inside] + list(chosen)


def load_processor(name: str) -> Processor:
    if name in BUNDLES:
        from callstream.processors.bundle import ProcessorBundle

        return ProcessorBundle(name, [load_processor(member) for member in BUNDLES[name]])
    target = _PROCESSORS.get(name)
    if target is None:
        raise ConfigError(f"no processor named {name!r}",
                          f"choose one of {', '.join([*_PROCESSORS, *BUNDLES])} (callstream run --list)")
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
