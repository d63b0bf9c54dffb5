"""Identity documents and other people's names, for the redactor.

Card security codes and PINs are short numbers the redactor recognises from the words
before them (``callstream.detectors.redaction``'s number contexts). What is here has
letters in it or no number at all:

* passport and driving-licence numbers typed with letters ("C03005988", "S530-4609-8372",
  "MORGA753116SM9IJ"), found after a cue that names the document;
* UK national insurance numbers ("QQ 12 34 56 C"), whose shape alone is distinctive;
* names of people other than the caller, after the relation that introduces them ("my
  husband Robert", "on behalf of my mother, Eleanor Whitfield", "an agent called Dmitri").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

PASSPORT_NUMBER = "PASSPORT_NUMBER"
DRIVERS_LICENSE = "DRIVERS_LICENSE"

_GAP = r"(?:[\s:#,.-]|\b(?:is|it's|its|was|number|no|num|on|file|should|be|um|uh)\b)*"
#: a document number typed with letters and digits: at least four digits, no spaces
_DOCUMENT_NUMBER = r"(?=[A-Za-z0-9-]*(?:\d[A-Za-z-]*){4})[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){4,19}"
_DOCUMENT_CUES = (
    (PASSPORT_NUMBER, r"passport"),
    (DRIVERS_LICENSE, r"driver'?s?\s+licen[cs]e|driving\s+licen[cs]e|licen[cs]e\s+(?:number|no|#)|\bdl\s+(?:number|no|#)"),
)
_DOCUMENT_RES = tuple(
    (kind, re.compile(rf"(?:{cue})\b{_GAP}(?P<value>{_DOCUMENT_NUMBER})(?![A-Za-z0-9])", re.IGNORECASE))
    for kind, cue in _DOCUMENT_CUES
)
#: the shape of a national insurance number (two letters, three pairs of digits, A-D); the
#: prefix letters are not checked, so HMRC's "QQ" specimen numbers are caught too
_NINO_RE = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D](?![A-Za-z0-9])")

_RELATIONS = (
    r"husband|wife|partner|business\s+partner|spouse|fianc[ée]e?|boyfriend|girlfriend|son|daughter|"
    r"mother|mom|mum|father|dad|brother|sister|friend|colleague|manager|boss|neighbou?r|aunt|uncle|"
    r"grandmother|grandfather|grandma|grandpa|cousin|nephew|niece|assistant|roommate|carer|caregiver"
)
_OTHER_PERSON_CUE_RE = re.compile(
    rf"\b(?:(?:my|our|his|her|their)\s+(?:{_RELATIONS})|account\s+holder(?:'s\s+name)?(?:\s+is)?|"
    rf"(?:called|named)|(?:spoke|talked|speaking)\s+(?:to|with))[\s,]+(?:is\s+)?", re.IGNORECASE)
_NAME_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'\-]*")


def document_spans(text: str) -> Iterable[tuple[int, int, str]]:
    for kind, pattern in _DOCUMENT_RES:
        for m in pattern.finditer(text):
            yield m.start("value"), m.end("value"), kind


def national_insurance_spans(text: str, national_id: str) -> Iterable[tuple[int, int, str]]:
    for m in _NINO_RE.finditer(text):
        yield m.start(), m.end(), national_id


def other_person_spans(text: str, person: str, looks_like_name: Callable[[str, bool], bool],
                       first_names: frozenset[str]) -> Iterable[tuple[int, int, str]]:
    """A name right after a relation or an introduction; capitalised, or a known first name
    when the speech-to-text writes in lowercase."""
    mixed_case = text != text.lower()
    for cue in _OTHER_PERSON_CUE_RE.finditer(text):
        words: list[re.Match[str]] = []
        pos = cue.end()
        while len(words) < (2 if mixed_case else 1):
            w = _NAME_WORD_RE.match(text, pos)
            if w is None:
                break
            word = w.group()
            capitalised = mixed_case and word[0].isupper()
            if not looks_like_name(word, False) or not (capitalised or (not words and word.lower() in first_names)):
                break
            words.append(w)
            pos = w.end() + 1
            if text[w.end():pos] != " ":
                break
        if words:
            yield words[0].start(), words[-1].end(), person
