"""PCI-safe redaction on a corpus written apart from the simulator's phrase tables
(tests/data/pci_corpus.yaml): the targets of precision and recall per entity type."""

from __future__ import annotations

from pathlib import Path

import pytest

from callstream.detectors.redaction import find_pii
from callstream.processors.evaluation import load_labelled_corpus, overall, score_corpus

CORPUS = Path(__file__).resolve().parents[1] / "data" / "pci_corpus.yaml"


@pytest.fixture(scope="module")
def scores():
    return score_corpus(load_labelled_corpus(CORPUS), lambda text, preceding: find_pii(text, preceding))


@pytest.mark.parametrize("entity", ["CARD_NUMBER", "SECURITY_CODE", "PIN"])
def test_cards_security_codes_and_pins_are_caught(scores, entity):
    assert scores[entity].recall >= 0.99, scores[entity].as_dict()


def test_overall_recall_and_precision(scores):
    total = overall(scores)
    assert total.recall >= 0.95 and total.precision >= 0.98, {k: v.as_dict() for k, v in scores.items()}


def test_every_document_type_is_in_the_corpus(scores):
    assert set(scores) >= {"CARD_NUMBER", "SECURITY_CODE", "PIN", "PASSPORT_NUMBER", "DRIVERS_LICENSE",
                           "NATIONAL_ID", "PERSON_NAME"}
