"""Ground truth JSONL: written, read back, and unreadable files reported by line."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from callstream.errors import SimulationError
from callstream.simulate.conversation import ConversationProfile, generate_call
from callstream.simulate.groundtruth import QA_CHECKS, read_ground_truth, write_ground_truth


def truths(n: int = 5):
    return [generate_call(i, 1_767_261_600_000, seed=9, profile=ConversationProfile()).truth for i in range(n)]


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "truth.jsonl"
    original = truths()
    assert write_ground_truth(original, path) == 5
    assert len(path.read_text().splitlines()) == 5
    assert list(read_ground_truth(path)) == original


def test_records_carry_what_benchmarks_score_against(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    write_ground_truth(truths(1), path)
    record = msgspec.json.decode(path.read_text().splitlines()[0])
    assert record["truth_version"] == 1
    for key in (
        "contact_id",
        "linked_contact_ids",
        "intent",
        "is_fraud",
        "fraud_pattern",
        "should_escalate",
        "escalation_reasons",
        "sentiment_arc",
        "legs",
        "segments",
        "disorder",
    ):
        assert key in record
    assert set(record["legs"][0]["qa"]) == set(QA_CHECKS)
    spans = [span for segment in record["segments"] for span in segment["pii"]]
    assert spans and set(spans[0]) >= {"start", "end", "entity_type", "spoken"}


def test_a_corrupt_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    write_ground_truth(truths(2), path)
    with path.open("a") as handle:
        handle.write('{"truth_version": 1, "contact_id": 5}\n')
    with pytest.raises(SimulationError, match=r"truth\.jsonl line 3 is not a call record"):
        list(read_ground_truth(path))


def test_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    record = msgspec.json.encode(msgspec.structs.replace(truths(1)[0], truth_version=99))
    path.write_bytes(record + b"\n")
    with pytest.raises(SimulationError, match="line 1 has version 99"):
        list(read_ground_truth(path))


def test_missing_file_and_unwritable_path(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="cannot read ground truth"):
        list(read_ground_truth(tmp_path / "nope.jsonl"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SimulationError, match="cannot write ground truth"):
        write_ground_truth([], blocker / "truth.jsonl")
