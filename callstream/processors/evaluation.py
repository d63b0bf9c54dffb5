"""How well the processors match the simulator's ground truth: precision and recall.

Redaction is scored per entity type on final segments: a true PII span counts as caught
when predicted spans of the same type cover at least ``COVERAGE`` of its characters, and
a predicted span is correct when it overlaps a true span of its type. Values cut across
segments (``fragment``) are reported apart: no single segment holds all of them.
Call-level detections (fraud, escalation) are scored per call chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from callstream.contract.events import RedactionSpan
from callstream.simulate.groundtruth import CallTruth

COVERAGE = 0.9


@dataclass
class Score:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float | None:
        predicted = self.true_positives + self.false_positives
        return self.true_positives / predicted if predicted else None

    @property
    def recall(self) -> float | None:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else None

    def as_dict(self) -> dict:
        return {"tp": self.true_positives, "fp": self.false_positives, "fn": self.false_negatives,
                "precision": self.precision, "recall": self.recall}


@dataclass
class RedactionReport:
    by_entity: dict[str, Score] = field(default_factory=dict)
    #: recall split by how the value was said: "CARD_NUMBER/spoken", "PHONE_NUMBER/typed", ...
    by_form: dict[str, Score] = field(default_factory=dict)
    fragments_caught: int = 0
    fragments: int = 0
    segments_scored: int = 0
    segments_missing: int = 0


def _covered(start: int, end: int, spans: list[RedactionSpan]) -> float:
    covered = sum(max(0, min(end, s.end) - max(start, s.start)) for s in spans)
    return covered / max(1, end - start)


def score_redaction(truths: Iterable[CallTruth], redacted: Mapping[str, list[RedactionSpan]]) -> RedactionReport:
    """``redacted`` maps segment id -> the spans the redactor reported for it."""
    report = RedactionReport()
    for truth in truths:
        for segment in truth.segments:
            if not segment.is_final:
                continue
            predicted = redacted.get(segment.segment_id)
            if predicted is None:
                report.segments_missing += 1
                continue
            report.segments_scored += 1
            for pii in segment.pii:
                same_type = [s for s in predicted if s.entity_type == pii.entity_type]
                caught = _covered(pii.start, pii.end, same_type) >= COVERAGE
                if pii.fragment:
                    report.fragments += 1
                    report.fragments_caught += caught
                    continue
                for key, table in ((pii.entity_type, report.by_entity), (f"{pii.entity_type}/{'spoken' if pii.spoken else 'typed'}", report.by_form)):
                    score = table.setdefault(key, Score())
                    if caught:
                        score.true_positives += 1
                    else:
                        score.false_negatives += 1
            for span in predicted:
                overlaps = any(p.entity_type == span.entity_type and p.start < span.end and span.start < p.end for p in segment.pii)
                if not overlaps:
                    report.by_entity.setdefault(span.entity_type, Score()).false_positives += 1
    return report


def score_calls(truths: Iterable[CallTruth], flagged_contacts: set[str], attribute: str) -> Score:
    """Call-level detection: a call chain is flagged when any of its contacts was."""
    score = Score()
    for truth in truths:
        actual = bool(getattr(truth, attribute))
        predicted = any(c in flagged_contacts for c in truth.linked_contact_ids)
        if actual and predicted:
            score.true_positives += 1
        elif predicted:
            score.false_positives += 1
        elif actual:
            score.false_negatives += 1
    return score


@dataclass(frozen=True)
class LabelledCase:
    """A labelled text: ``spans`` are (exact substring of ``text``, entity type)."""

    text: str
    spans: tuple[tuple[str, str], ...]
    preceding: str = ""


def load_labelled_corpus(path: Path) -> list[LabelledCase]:
    """A YAML list of ``{text, spans: [[substring, TYPE], ...], preceding?}``."""
    import yaml

    cases = []
    for number, item in enumerate(yaml.safe_load(Path(path).read_text()) or [], start=1):
        spans = tuple((str(value), str(kind)) for value, kind in item.get("spans") or [])
        for value, _ in spans:
            if value not in item["text"]:
                raise ValueError(f"{path} case {number}: {value!r} is not in its text {item['text']!r}")
        cases.append(LabelledCase(text=item["text"], spans=spans, preceding=item.get("preceding") or ""))
    return cases


def score_corpus(cases: Iterable[LabelledCase],
                 find: Callable[[str, str], list[RedactionSpan]]) -> dict[str, Score]:
    """Per entity type over a labelled corpus, by the same rules as ``score_redaction``:
    ``find(text, preceding)`` returns the detected spans."""
    scores: dict[str, Score] = {}
    for case in cases:
        predicted = find(case.text, case.preceding)
        truth = []
        for value, kind in case.spans:
            start = case.text.index(value)
            truth.append((start, start + len(value), kind))
            same_type = [s for s in predicted if s.entity_type == kind]
            score = scores.setdefault(kind, Score())
            if _covered(start, start + len(value), same_type) >= COVERAGE:
                score.true_positives += 1
            else:
                score.false_negatives += 1
        for span in predicted:
            if not any(k == span.entity_type and s < span.end and span.start < e for s, e, k in truth):
                scores.setdefault(span.entity_type, Score()).false_positives += 1
    return scores


def overall(scores: Mapping[str, Score]) -> Score:
    total = Score()
    for score in scores.values():
        total.true_positives += score.true_positives
        total.false_positives += score.false_positives
        total.false_negatives += score.false_negatives
    return total
