"""Verdicts: each check of a scenario against the run's metrics, pass or fail with numbers.

``metrics`` maps a metric name to a number (run metrics) or to a mapping of group or
stage to a number (per-group and per-stage metrics); ``metrics["phases"][name]`` holds
the same for one traffic phase. A metric that was not measured (``None``, or absent)
fails its check: a verdict is never awarded without a number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from callstream.rehearse.schedule import METRICS, Check


@dataclass(frozen=True)
class Verdict:
    check: str
    metric: str
    passed: bool
    #: the number judged, or group/stage -> number for a ``*`` selector
    observed: float | dict[str, float | None] | None
    max: float | None
    min: float | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def within(value: float, check: Check) -> bool:
    if check.max is not None and value > check.max:
        return False
    return not (check.min is not None and value < check.min)


def _bound(check: Check) -> str:
    parts = []
    if check.max is not None:
        parts.append(f"<= {check.max:g}")
    if check.min is not None:
        parts.append(f">= {check.min:g}")
    return " and ".join(parts)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"


def evaluate_one(check: Check, metrics: Mapping[str, Any]) -> Verdict:
    scope = metrics
    if check.phase is not None:
        scope = (metrics.get("phases") or {}).get(check.phase) or {}
    raw = scope.get(check.metric)
    per = METRICS.get(check.metric)
    selector = check.group if per == "group" else check.stage if per == "stage" else None

    def verdict(passed: bool, observed: Any, detail: str) -> Verdict:
        return Verdict(check=check.label, metric=check.metric, passed=passed, observed=observed,
                       max=check.max, min=check.min, detail=detail)

    if per is None:
        return verdict(False, None, f"unknown metric {check.metric!r}")
    if per == "run":
        if raw is None or isinstance(raw, Mapping):
            return verdict(False, None, "not measured in this run")
        ok = within(raw, check)
        return verdict(ok, raw, f"{_number(raw)} {'within' if ok else 'outside'} {_bound(check)}")
    values: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    if selector is None:
        return verdict(False, None, f"{check.metric} is measured per {per}: name the {per} (or *)")
    if selector != "*":
        value = values.get(selector)
        if value is None:
            return verdict(False, None, f"{selector}: not measured in this run")
        ok = within(value, check)
        return verdict(ok, value, f"{selector}: {_number(value)} {'within' if ok else 'outside'} {_bound(check)}")
    if not values:
        return verdict(False, None, f"no {per} measured in this run")
    failing = {k: v for k, v in values.items() if v is None or not within(v, check)}
    detail = ", ".join(f"{k}: {'not measured' if v is None else _number(v)}" for k, v in sorted(values.items()))
    if failing:
        return verdict(False, dict(values), f"outside {_bound(check)} for {', '.join(sorted(failing))} ({detail})")
    return verdict(True, dict(values), f"all within {_bound(check)} ({detail})")


def evaluate(checks: list[Check], metrics: Mapping[str, Any]) -> list[Verdict]:
    return [evaluate_one(check, metrics) for check in checks]


def all_passed(verdicts: list[Verdict]) -> bool:
    """A run passes when every verdict does (a scenario with no checks does not pass)."""
    return bool(verdicts) and all(v.passed for v in verdicts)
