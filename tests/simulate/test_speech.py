"""Spoken and typed renderings of identifiers, and utterances with exact PII spans."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from callstream.simulate import speech


def test_render_records_the_span_of_every_pii_slot() -> None:
    name = speech.person_name("Jane Okafor")
    phone = speech.phone_number("5551234567", random.Random(1), spoken=True)
    utterance = speech.render(
        "My name is {name}, call me on {phone}. Thanks {who}!", {"name": name, "phone": phone, "who": "Sam"}
    )
    assert utterance.text.startswith("My name is Jane Okafor, call me on ")
    assert [utterance.text[s.start : s.end] for s in utterance.spans] == ["Jane Okafor", phone.text]
    assert [s.pii.entity_type for s in utterance.spans] == ["PERSON_NAME", "PHONE_NUMBER"]
    assert utterance.text.endswith("Thanks Sam!")  # plain slots are not PII


def test_spoken_digits_groups_like_people_do() -> None:
    assert speech.spoken_digits("5551234567", (3, 3, 4)) == "five five five, one two three, four five six seven"
    assert speech.spoken_digits("2015550100", (3, 3, 4), oh_for_zero=True) == "two oh one, five five five, oh one oh oh"


def test_phone_numbers_typed_and_spoken() -> None:
    rng = random.Random(3)
    typed = {speech.phone_number("5551234567", rng, spoken=False).text for _ in range(40)}
    assert typed == {"555-123-4567", "(555) 123-4567", "555.123.4567", "5551234567"}
    spoken = speech.phone_number("5551234567", rng, spoken=True)
    assert spoken.spoken and spoken.value == "5551234567" and "five five five" in spoken.text


def test_card_numbers_typed_spoken_and_split_in_two() -> None:
    rng = random.Random(2)
    typed = {speech.card_number("4111111111111111", rng, spoken=False).text for _ in range(30)}
    assert "4111 1111 1111 1111" in typed and "4111-1111-1111-1111" in typed
    spoken = speech.card_number("4111111111111111", rng, spoken=True)
    assert spoken.text == "four one one one, one one one one, one one one one, one one one one"
    amex = speech.card_number("378282246310005", rng, spoken=False)
    assert amex.text in ("3782 822463 10005", "3782-822463-10005", "378282246310005")
    head, tail = speech.card_number_in_two("4111111111111111")
    assert head.fragment and tail.fragment and head.value == tail.value == "4111111111111111"
    assert head.text.count(" ") + tail.text.count(" ") + 2 == 16  # every digit said once


def test_dates_of_birth() -> None:
    born = dt.date(1985, 3, 4)
    rng = random.Random(0)
    spoken = {speech.date_of_birth(born, rng, spoken=True).text for _ in range(20)}
    assert spoken == {"March fourth, nineteen eighty-five", "the fourth of March, nineteen eighty-five"}
    typed = {speech.date_of_birth(born, rng, spoken=False).text for _ in range(30)}
    assert typed == {"03/04/1985", "3/4/1985", "March 4, 1985"}
    assert speech.date_of_birth(born, rng, spoken=True).value == "1985-03-04"


def test_emails_typed_and_spoken() -> None:
    assert speech.email("jane.okafor@example.com", spoken=True).text == "jane dot okafor at example dot com"
    assert speech.email("j_okafor42@example.org", spoken=True).text == "j underscore okafor four two at example dot org"
    typed = speech.email("Jane.Okafor@example.com", spoken=False)
    assert typed.text == "Jane.Okafor@example.com" and typed.value == "jane.okafor@example.com"


@pytest.mark.parametrize(
    ("number", "said"),
    [
        (7, "seven"),
        (42, "forty-two"),
        (123, "one twenty-three"),
        (1205, "twelve oh five"),
        (1200, "twelve hundred"),
        (8467, "eighty-four sixty-seven"),
    ],
)
def test_house_numbers_are_said_the_usual_way(number: int, said: str) -> None:
    assert speech.house_number(number) == said


def test_national_id_whole_or_last_four() -> None:
    assert speech.national_id("123-45-6789", spoken=False, last_four_only=False).text == "123-45-6789"
    last4 = speech.national_id("123-45-6789", spoken=True, last_four_only=True)
    assert (last4.text, last4.value) == ("six seven eight nine", "6789")


def test_prefix_clips_spans_like_a_partial_transcript() -> None:
    card = speech.card_number("4111111111111111", random.Random(0), spoken=True)
    utterance = speech.render("It's {card}.", {"card": card})
    partial = speech.prefix(utterance, 4)
    assert partial.text == "It's four one one"
    (span,) = partial.spans
    assert partial.text[span.start : span.end] == "four one one" == span.pii.text
    assert span.pii.fragment and span.pii.value == "4111111111111111"
    assert speech.prefix(utterance, 100).text == utterance.text.rstrip(".")
    assert speech.prefix(utterance, 1).spans == ()


@pytest.mark.parametrize(
    ("number", "valid"),
    [("4111111111111111", True), ("378282246310005", True), ("4111111111111112", False), ("41111x", False)],
)
def test_luhn(number: str, valid: bool) -> None:
    assert speech.luhn_valid(number) is valid
