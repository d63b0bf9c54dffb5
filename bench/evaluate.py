"""Precision and recall of the pipeline against the simulator's ground truth.

Runs a seeded simulation through the real processors on a local Kafka, then scores:
redaction by entity type (spoken and typed), fraud and escalation detection per call,
and the share of calls fully processed (every final redacted, a quality score per
contact). Redaction recall on card and phone numbers must be at least 0.99.

Redaction is also scored per entity type on the PCI corpus (tests/data/pci_corpus.yaml,
written apart from the simulator): recall at least 0.99 for cards, security codes and
PINs, 0.95 overall, precision at least 0.98. ``--corpus-only`` skips the pipeline run.

    python bench/evaluate.py [--calls-per-min 60] [--duration 300] [--seed 11] [--bootstrap HOST:PORT] [--corpus-only]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BenchCluster  # noqa: E402

from callstream.contract.codec import decode_event  # noqa: E402
from callstream.contract.events import EscalationOpened, FraudScored, QualityScored, RedactedSegment  # noqa: E402
from callstream.detectors.redaction import find_pii  # noqa: E402
from callstream.processors.evaluation import (  # noqa: E402
    load_labelled_corpus,
    overall,
    score_calls,
    score_corpus,
    score_redaction,
)
from callstream.simulate.groundtruth import read_ground_truth  # noqa: E402
from callstream.simulate.simulator import SimulationSettings, run_simulation  # noqa: E402

PCI_CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "pci_corpus.yaml"
PROCESSORS = ["redactor", "sentiment", "escalation", "fraud", "quality"]
OUTPUTS = ["callstream.transcript.redacted", "callstream.signals.fraud", "callstream.signals.escalation", "callstream.quality.events"]


def read_all(conf: dict, topics: list[str]) -> list:
    consumer = Consumer({**conf, "group.id": f"evaluate-{time.time_ns()}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    consumer.subscribe(topics)
    events, idle = [], 0
    while idle < 6:
        batch = consumer.consume(5000, 0.5)
        idle = 0 if batch else idle + 1
        events.extend(decode_event(m.value(), m.headers()) for m in batch if not m.error())
    consumer.close()
    return events


def evaluate_corpus(console: Console) -> tuple[dict, bool]:
    """Per entity type on the PCI corpus, against its targets."""
    cases = load_labelled_corpus(PCI_CORPUS)
    scores = score_corpus(cases, lambda text, preceding: find_pii(text, preceding))
    total = overall(scores)
    table = Table("entity", "tp", "fp", "fn", "precision", "recall", title=f"PCI corpus: {len(cases)} cases")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for name, score in [*sorted(scores.items()), ("overall", total)]:
        table.add_row(name, str(score.true_positives), str(score.false_positives), str(score.false_negatives),
                      fmt(score.precision), fmt(score.recall))
    console.print(table)
    ok = (all((scores[k].recall or 0) >= 0.99 for k in ("CARD_NUMBER", "SECURITY_CODE", "PIN"))
          and (total.recall or 0) >= 0.95 and (total.precision or 0) >= 0.98)
    console.print(f"PCI targets (recall >= 0.99 cards/security codes/PINs, >= 0.95 overall, precision >= 0.98): "
                  f"{'PASS' if ok else 'FAIL'}")
    return {"cases": len(cases), "by_entity": {k: v.as_dict() for k, v in sorted(scores.items())},
            "overall": total.as_dict(), "targets_met": ok}, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls-per-min", type=float, default=60)
    parser.add_argument("--duration", type=float, default=300, help="simulated seconds of arrivals")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--bootstrap")
    parser.add_argument("--corpus-only", action="store_true", help="score the PCI corpus only (no Kafka)")
    args = parser.parse_args()
    console = Console()
    corpus_figures, corpus_ok = evaluate_corpus(console)
    if args.corpus_only:
        print(json.dumps({"pci_corpus": corpus_figures}))
        sys.exit(0 if corpus_ok else 1)
    truth_path = Path(tempfile.mkdtemp()) / "truth.jsonl"
    with BenchCluster(args.bootstrap) as bench:
        bench.start_processors(PROCESSORS)
        sim = SimulationSettings(curve="steady", rate_per_min=args.calls_per_min, duration_s=args.duration,
                                 max_speed=True, seed=args.seed, ground_truth_path=truth_path)
        summary = run_simulation(sim, bench.conf, progress=False)
        drain_s = bench.wait_drained(PROCESSORS, timeout_s=600, settle_s=12)
        events = read_all(bench.conf, OUTPUTS)
    truths = list(read_ground_truth(truth_path))
    redacted = {e.segment_id: e.redactions for e in events if isinstance(e, RedactedSegment) and e.is_final}
    redaction = score_redaction(truths, redacted)
    fraud = score_calls(truths, {e.contact_id for e in events if isinstance(e, FraudScored) and e.level == "high"}, "is_fraud")
    escalation = score_calls(truths, {e.contact_id for e in events if isinstance(e, EscalationOpened)}, "should_escalate")
    scored_contacts = {e.contact_id for e in events if isinstance(e, QualityScored)}
    finals = {s.segment_id for t in truths for s in t.segments if s.is_final}
    complete = [t for t in truths if t.complete]
    fully = [t for t in complete
             if all(s.segment_id in redacted for s in t.segments if s.is_final)
             and all(c in scored_contacts for c in t.linked_contact_ids)]

    table = Table("measure", "tp", "fp", "fn", "precision", "recall", title=f"{len(truths)} calls, seed {args.seed}")
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    figures: dict = {"calls": len(truths), "events": summary.events, "drain_s": round(drain_s, 1), "redaction": {}, "redaction_by_form": {}}
    for name, score in sorted(redaction.by_entity.items()):
        table.add_row(f"redaction {name}", str(score.true_positives), str(score.false_positives), str(score.false_negatives), fmt(score.precision), fmt(score.recall))
        figures["redaction"][name] = score.as_dict()
    for name, score in sorted(redaction.by_form.items()):
        table.add_row(f"  recall {name}", str(score.true_positives), "", str(score.false_negatives), "", fmt(score.recall))
        figures["redaction_by_form"][name] = score.as_dict()
    for name, score in (("fraud (high)", fraud), ("escalation", escalation)):
        table.add_row(name, str(score.true_positives), str(score.false_positives), str(score.false_negatives), fmt(score.precision), fmt(score.recall))
    console.print(table)
    share = len(fully) / len(complete) if complete else 0.0
    console.print(f"finals redacted {len(finals & set(redacted))}/{len(finals)}; calls fully processed {len(fully)}/{len(complete)} ({share:.3f}); "
                  f"cross-segment fragments caught {redaction.fragments_caught}/{redaction.fragments}")
    card, phone = redaction.by_entity.get("CARD_NUMBER"), redaction.by_entity.get("PHONE_NUMBER")
    ok = bool(card and phone and card.recall >= 0.99 and phone.recall >= 0.99)
    console.print(f"card/phone recall >= 0.99: {'PASS' if ok else 'FAIL'}")
    ok = ok and corpus_ok
    figures |= {"pci_corpus": corpus_figures, "fraud": fraud.as_dict(), "escalation": escalation.as_dict(), "calls_fully_processed_share": share,
                "fragments": {"caught": redaction.fragments_caught, "total": redaction.fragments}, "card_phone_recall_ok": ok}
    print(json.dumps(figures))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
