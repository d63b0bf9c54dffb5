"""How people say identifiers, and utterances that remember where each one sits.

A speech-to-text feed writes the same card number as ``4111 1111 1111 1111`` or as
``four one one one, one one one one, ...`` depending on the vendor and the speaker; the
renderings here produce both forms. ``Utterance`` assembles a line of dialogue from a
template and records the exact ``[start, end)`` character span of every PII value, which
becomes the ground truth the redaction benchmarks score against.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import string
from functools import lru_cache
from typing import NamedTuple

from num2words import num2words

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


class Pii(NamedTuple):
    """One PII value as it appears in text."""

    text: str
    #: CARD_NUMBER | PHONE_NUMBER | EMAIL | DATE_OF_BIRTH | NATIONAL_ID | ACCOUNT_NUMBER | STREET_ADDRESS | PERSON_NAME
    entity_type: str
    spoken: bool  # True: said in words ("four one one one"); False: written ("4111")
    value: str  # the normalized value: digits of a number, ISO date, lowercase email, the name
    fragment: bool = False  # part of a value split across two segments


class Span(NamedTuple):
    start: int
    end: int
    pii: Pii


class Utterance(NamedTuple):
    text: str
    spans: tuple[Span, ...]


@lru_cache(maxsize=2048)
def _parse(template: str) -> tuple[tuple[str, str | None], ...]:
    return tuple((literal, field) for literal, field, _, _ in string.Formatter().parse(template))


def render(template: str, slots: dict[str, str | Pii]) -> Utterance:
    """Fill ``{slot}`` placeholders; slots holding ``Pii`` are recorded as spans."""
    parts: list[str] = []
    spans: list[Span] = []
    length = 0
    for literal, field in _parse(template):
        parts.append(literal)
        length += len(literal)
        if field is None:
            continue
        value = slots[field]
        if isinstance(value, Pii):
            spans.append(Span(length, length + len(value.text), value))
            text = value.text
        else:
            text = value
        parts.append(text)
        length += len(text)
    return Utterance("".join(parts), tuple(spans))


def prefix(utterance: Utterance, n_words: int) -> Utterance:
    """The first ``n_words`` words, as a partial transcript shows them mid-sentence; PII
    spans cut by the end are clipped (still PII: a provisional redaction must cover them)."""
    text = utterance.text
    cut = 0
    for _ in range(n_words):
        nxt = text.find(" ", cut + 1)
        if nxt < 0:
            cut = len(text)
            break
        cut = nxt
    shown = text[:cut].rstrip(" ,.;:!?")
    spans = []
    for span in utterance.spans:
        if span.start >= len(shown):
            continue
        end = min(span.end, len(shown))
        clipped = span.pii if end == span.end else span.pii._replace(text=shown[span.start : end], fragment=True)
        spans.append(Span(span.start, end, clipped))
    return Utterance(shown, tuple(spans))


def spoken_digits(digits: str, groups: tuple[int, ...] = (), oh_for_zero: bool = False) -> str:
    """``"5551234"`` -> ``"five five five, one two three four"`` (groups split by commas)."""
    words = ["oh" if (d == "0" and oh_for_zero) else DIGIT_WORDS[int(d)] for d in digits]
    if not groups:
        return " ".join(words)
    out, i = [], 0
    for size in groups:
        out.append(" ".join(words[i : i + size]))
        i += size
    if i < len(words):
        out.append(" ".join(words[i:]))
    return ", ".join(out)


def _grouped(digits: str, groups: tuple[int, ...], sep: str) -> str:
    out, i = [], 0
    for size in groups:
        out.append(digits[i : i + size])
        i += size
    return sep.join(out)


def card_groups(number: str) -> tuple[int, ...]:
    return (4, 6, 5) if len(number) == 15 else (4, 4, 4, 4)


def phone_number(digits: str, rng: random.Random, spoken: bool) -> Pii:
    """A 10-digit North American number, written in one of the usual ways or said aloud."""
    if spoken:
        text = spoken_digits(digits, (3, 3, 4), oh_for_zero=rng.random() < 0.5)
    else:
        text = rng.choice(
            (
                f"{digits[:3]}-{digits[3:6]}-{digits[6:]}",
                f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
                f"{digits[:3]}.{digits[3:6]}.{digits[6:]}",
                digits,
            )
        )
    return Pii(text, "PHONE_NUMBER", spoken, digits)


def card_number(number: str, rng: random.Random, spoken: bool) -> Pii:
    groups = card_groups(number)
    if spoken:
        text = spoken_digits(number, groups)
    else:
        text = rng.choice((_grouped(number, groups, " "), _grouped(number, groups, "-"), number))
    return Pii(text, "CARD_NUMBER", spoken, number)


def card_number_in_two(number: str) -> tuple[Pii, Pii]:
    """A card number said in two breaths, the halves landing in separate segments."""
    groups = card_groups(number)
    first = sum(groups[:2])
    head = spoken_digits(number[:first], groups[:2])
    tail = spoken_digits(number[first:], groups[2:])
    return (
        Pii(head, "CARD_NUMBER", True, number, fragment=True),
        Pii(tail, "CARD_NUMBER", True, number, fragment=True),
    )


def date_of_birth(born: dt.date, rng: random.Random, spoken: bool) -> Pii:
    month = born.strftime("%B")
    if spoken:
        day = num2words(born.day, to="ordinal")
        year = num2words(born.year, to="year")
        text = rng.choice((f"{month} {day}, {year}", f"the {day} of {month}, {year}"))
    else:
        text = rng.choice(
            (
                f"{born.month:02d}/{born.day:02d}/{born.year}",
                f"{born.month}/{born.day}/{born.year}",
                f"{month} {born.day}, {born.year}",
            )
        )
    return Pii(text, "DATE_OF_BIRTH", spoken, born.isoformat())


def email(address: str, spoken: bool) -> Pii:
    """``jane.okafor@example.com``, or said as ``jane dot okafor at example dot com``."""
    if spoken:
        local, domain = address.split("@")
        said = []
        for chunk in re.findall(r"[._]|\d+|[^._\d]+", local):
            if chunk == ".":
                said.append("dot")
            elif chunk == "_":
                said.append("underscore")
            elif chunk.isdigit():
                said.append(spoken_digits(chunk))
            else:
                said.append(chunk)
        text = " ".join(said) + " at " + domain.replace(".", " dot ")
    else:
        text = address
    return Pii(text, "EMAIL", spoken, address.lower())


def house_number(number: int) -> str:
    """How a house number is said: 1205 -> "twelve oh five", 123 -> "one twenty-three"."""
    digits = str(number)
    if len(digits) <= 2:
        return num2words(number)
    head, tail = digits[:-2], digits[-2:]
    head_words = num2words(int(head))
    if tail == "00":
        return f"{head_words} hundred"
    if tail[0] == "0":
        return f"{head_words} oh {DIGIT_WORDS[int(tail[1])]}"
    return f"{head_words} {num2words(int(tail))}"


def street_address(number: int, street: str, unit: str, rng: random.Random, spoken: bool) -> Pii:
    line = f"{number} {street}" + (f", {unit}" if unit else "")
    if spoken:
        text = f"{house_number(number)} {street}" + (f", {unit}" if unit else "")
    else:
        text = line
    return Pii(text, "STREET_ADDRESS", spoken, line)


def account_number(digits: str, rng: random.Random, spoken: bool) -> Pii:
    if spoken:
        text = spoken_digits(digits, (3, 3) if rng.random() < 0.5 else ())
    else:
        text = digits if rng.random() < 0.7 else _grouped(digits, (3, 3, len(digits) - 6), "-")
    return Pii(text, "ACCOUNT_NUMBER", spoken, digits)


def national_id(ssn: str, spoken: bool, last_four_only: bool) -> Pii:
    """A US social security number, or only its last four digits as agents usually ask."""
    digits = ssn.replace("-", "")
    if last_four_only:
        part = digits[-4:]
        return Pii(spoken_digits(part) if spoken else part, "NATIONAL_ID", spoken, part)
    text = spoken_digits(digits, (3, 2, 4)) if spoken else f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
    return Pii(text, "NATIONAL_ID", spoken, digits)


def person_name(name: str) -> Pii:
    return Pii(name, "PERSON_NAME", True, name)


def luhn_valid(number: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
