"""Ground truth for generated calls, written as JSON Lines next to the traffic.

One line per call (a chain of contacts linked by transfers): what the call was about, whether
it was fraud or should have escalated and why, the sentiment arc, what a QA review should
find for each contact, and for every transcript segment the exact PII spans. Benchmarks
score the redaction, fraud, escalation and QA processors against these records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import msgspec

from callstream.errors import SimulationError

TRUTH_VERSION = 1

QA_CHECKS = ("greeting", "disclosure", "identity_verified_first", "hold_etiquette", "closing")


class PiiSpan(msgspec.Struct, frozen=True):
    """``text[start:end]`` of the segment is PII of ``entity_type``."""

    start: int
    end: int
    entity_type: str
    spoken: bool  # said in words ("four one one one") rather than written ("4111")
    text: str  # the segment's text in the span, so a reader can verify offsets
    value: str  # normalized value: digits, ISO date, lowercase e-mail, name
    fragment: bool = False  # cut by a partial transcript, or one half of a value said in two segments


class SegmentTruth(msgspec.Struct, frozen=True):
    segment_id: str
    contact_id: str
    participant: str
    is_final: bool
    final_segment_id: str | None
    sentiment: str | None  # the customer's mood in this line: calm | frustrated | angry | relieved
    pii: list[PiiSpan]


class Signal(msgspec.Struct, frozen=True):
    """A moment a detector should notice: ``at_ms`` is the event time that first shows it."""

    name: str
    contact_id: str
    at_ms: int


class LegTruth(msgspec.Struct, frozen=True):
    """One contact of the call (a transfer starts a new contact)."""

    contact_id: str
    queue: str
    agent_id: str
    initiated_ms: int
    ended_ms: int
    disposition: str
    #: QA check name -> whether the agent passes it; None when the check does not apply
    #: (no hold, no account change).
    qa: dict[str, bool | None]


class Disorder(msgspec.Struct, frozen=True):
    """A transcript segment delivered twice or out of order, as real STT feeds do."""

    segment_id: str
    contact_id: str
    kind: Literal["duplicate", "reorder"]


class CallTruth(msgspec.Struct, frozen=True, kw_only=True):
    truth_version: int = TRUTH_VERSION
    call_index: int
    contact_id: str  # the first contact of the call
    linked_contact_ids: list[str]  # every contact of the call, in order
    customer_id: str
    intent: str
    caller_number: str
    number_on_file: str
    caller_id_mismatch: bool
    is_fraud: bool
    fraud_pattern: str | None  # account_takeover
    fraud_signals: list[Signal]  # present in fraud and in some honest calls alike
    should_escalate: bool
    escalation_reasons: list[str]  # anger | supervisor_request | long_hold
    escalation_signals: list[Signal]
    sentiment_arc: str  # calm | frustrated | angry_then_relieved | angry
    legs: list[LegTruth]
    segments: list[SegmentTruth]
    disorder: list[Disorder]
    complete: bool = True  # False when the run stopped before the call ended


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CallTruth)


class GroundTruthWriter:
    """Appends ``CallTruth`` records to a JSONL file; use as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("wb")
        except OSError as exc:
            raise SimulationError(
                f"cannot write ground truth to {self.path}: {exc}", "choose a writable --ground-truth path"
            ) from exc
        self.calls = 0

    def write(self, truth: CallTruth) -> None:
        self._handle.write(_encoder.encode(truth) + b"\n")
        self.calls += 1

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> GroundTruthWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_ground_truth(truths: Iterable[CallTruth], path: str | Path) -> int:
    """Write all records; returns how many."""
    with GroundTruthWriter(path) as writer:
        for truth in truths:
            writer.write(truth)
        return writer.calls


def read_ground_truth(path: str | Path) -> Iterator[CallTruth]:
    """Read records back, naming the file and line of anything unreadable."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SimulationError(f"cannot read ground truth {path}: {exc}", "check the path") from exc
    with handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                truth = _decoder.decode(line)
            except msgspec.DecodeError as exc:
                raise SimulationError(
                    f"ground truth {path} line {line_no} is not a call record: {exc}",
                    "regenerate it with the simulator",
                ) from exc
            if truth.truth_version > TRUTH_VERSION:
                raise SimulationError(
                    f"ground truth {path} line {line_no} has version {truth.truth_version}, "
                    f"this callstream reads up to {TRUTH_VERSION}",
                    "upgrade callstream",
                )
            yield truth
