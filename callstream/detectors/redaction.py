"""Find and redact PII/PCI in one transcript segment, whatever the speech-to-text vendor.

Detectors read the text as typed ("4111 1111 1111 1111", "+1 (555) 123-4567") and as
spoken ("four one one one ...", "double five", "john dot smith at example dot com"), and
report ``RedactionSpan``s as character offsets into the *original* text, so one redacted
stream can serve compliance and agent assist while the raw text stays restricted.

Numbers are found as *runs*: maximal sequences of numerals and number words joined by
spaces, punctuation or fillers ("uh", "dash"). A run is classified by its digits, its
grouping (3-2-4 is a social security number) and the words just before it ("account
ending in", "social security", "date of birth"); a run too long for one entity is split
into the partition that covers the most digits (a card followed by a phone number).

Speech-to-text splits values across segments: given the speaker's previous final segment
(``preceding``), a cue at its end ("my card number is") still applies, and a number it
began ("four one one one, one one one one...") is recognized from the part in this one.
A partial (``provisional``) also redacts a value cut off at its end ("it's four one one").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from callstream.contract.events import RedactedSegment, RedactionSpan, TranscriptSegment
from callstream.detectors.identifiers import (
    DRIVERS_LICENSE,
    PASSPORT_NUMBER,
    document_spans,
    national_insurance_spans,
    other_person_spans,
)

Span = RedactionSpan

CARD_NUMBER = "CARD_NUMBER"
PHONE_NUMBER = "PHONE_NUMBER"
EMAIL = "EMAIL"
DATE_OF_BIRTH = "DATE_OF_BIRTH"
NATIONAL_ID = "NATIONAL_ID"
ACCOUNT_NUMBER = "ACCOUNT_NUMBER"
STREET_ADDRESS = "STREET_ADDRESS"
PERSON_NAME = "PERSON_NAME"
#: card security code (CVV/CVC/CID): PCI DSS forbids keeping it after authorisation at all
SECURITY_CODE = "SECURITY_CODE"
PIN = "PIN"
ENTITY_TYPES = (
    CARD_NUMBER, PHONE_NUMBER, EMAIL, DATE_OF_BIRTH, NATIONAL_ID,
    ACCOUNT_NUMBER, STREET_ADDRESS, PERSON_NAME, SECURITY_CODE, PIN, PASSPORT_NUMBER, DRIVERS_LICENSE,
)

# When two detections overlap, the higher priority wins, then the longer span.
_PRIORITY = {
    CARD_NUMBER: 6, EMAIL: 6, NATIONAL_ID: 6, SECURITY_CODE: 6, PIN: 6, PASSPORT_NUMBER: 6, DRIVERS_LICENSE: 6, DATE_OF_BIRTH: 5, PHONE_NUMBER: 4,
    ACCOUNT_NUMBER: 4, STREET_ADDRESS: 3, PERSON_NAME: 2,
}

# --- vocabulary: spoken numbers -----------------------------------------------------------

DIGIT_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
TEEN_WORDS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}
TENS_WORDS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fourty": "4", "fifty": "5", "sixty": "6",
    "seventy": "7", "eighty": "8", "ninety": "9",
}
REPEAT_WORDS = {"double": 2, "triple": 3}
#: Words speech-to-text leaves inside a number that do not end it.
NUMBER_FILLERS = ("um", "uh", "uhm", "er", "erm", "ah", "dash", "hyphen")

# --- vocabulary: context before a number ------------------------------------------------

#: Words allowed between a context keyword and the number ("account ending in 4321").
#: A newline (the boundary with the previous segment) may only sit right before the number.
_CONTEXT_GAP = (
    r"(?:(?:[^\S\n]|[:#,.?-])+(?:is|it's|its|was|are|be|ends?|ending|in|with|of|on|at|the|my|last|"
    r"first|four|digits|no|num|um|uh|oh|that's|thats|should|me|please|it|just|so|yeah|yes|ok|okay|sure|"
    r"right|and|those|these))*"
    r"[\s:#,.?-]*$"
)
_NUMBER_NOUN = r"(?:\s+(?:number|no|num|#|id|code))?"
#: context name -> keywords; checked in this order, the first that ends the window wins.
NUMBER_CONTEXTS: tuple[tuple[str, str], ...] = (
    # PCI sensitive authentication data and identity documents come first: "the security
    # code on the back of the card" ends in "card", and must not read as a card context
    ("cvv", r"cvv2?|cvc2?|cid|c\.?\s?v\.?\s?v\.?|security\s+code|verification\s+(?:value|code|number)|"
            r"(?:three|four|3|4)[\s-]+digit\s+code(?:\s+on\s+the\s+(?:back|front))?|"
            r"(?:three|four|3|4)\s+(?:digits|numbers)\s+on\s+the\s+(?:back|front)(?:\s+of\s+the\s+card)?|"
            r"code\s+on\s+the\s+(?:back|front)(?:\s+of\s+the\s+card)?"),
    ("pin", r"pin(?:\s+(?:number|code))?|passcode|pass\s+code|access\s+code|(?:four|4)[\s-]+digit\s+pin"),
    ("passport", r"passport"),
    ("licence", r"driver'?s?\s+licen[cs]e|driving\s+licen[cs]e|licen[cs]e|dl"),
    ("ssn", r"social(?:\s+(?:security|insurance))?|ssn|s\s?s\s?n|sin|national\s+insurance|ni|national\s+id|tax\s+id|tin"),
    ("dob", r"born|birth|dob|d\.?\s?o\.?\s?b\.?|birthday|birth\s?date"),
    # "... and the last four are 3103": in identity checks the last four are the SSN's
    # ("last four of the card / account" ends in those words and matches them instead)
    ("last4", r"last\s+four(?:\s+digits)?"),
    ("card", r"card|credit|debit|visa|mastercard|master\s+card|amex|american\s+express|discover|pan"),
    ("account", r"account|acct|a/c|member|membership|customer|policy|subscriber|routing|iban|"
                r"loan|contract|mortgage|member\s+id"),
    ("noise", r"order|confirmation|tracking|ticket|case|invoice|reference|ref|serial|model|zip|"
              r"postal|extension|ext|otp|transaction|claim|room|flight|version|page|model|series"),
    ("phone", r"phone|telephone|cell|mobile|number|call\s+me|reach\s+me|callback|call\s+back|"
              r"contact|text\s+me|fax|landline|dial"),
)

# --- vocabulary: names, streets, dates ----------------------------------------------------

#: Common first names that are not also everyday words (so "thanks jane" is a name even in
#: lowercase speech-to-text output; "will", "bill", "may", "grace" are left out on purpose).
FIRST_NAMES = frozenset("""
aaron abigail adam adrian aisha alan albert alejandro alex alexander alexandra alice alicia
allison amanda amber amy ana andrea andrew angela anna anne anthony antonio ashley barbara
benjamin beth betty beverly brandon brenda brian brittany bruce bryan caleb carl carlos carol
caroline catherine charles charlotte cheryl chloe christian christina christine christopher
cindy claire cody connor craig crystal cynthia daniel danielle david deborah debra denise
dennis derek diana diane donald donna dorothy douglas dylan edward elena elijah elizabeth
ella emily emma eric erica ethan eugene evelyn fatima gabriel gary george gloria gregory
hannah harold heather helen henry isaac isabella jacob jacqueline james jamie jane janet
janice jared jason jeffrey jennifer jeremy jerry jesse jessica joan joe john johnny jonathan
jordan jose joseph joshua joyce juan judith judy julia julie justin karen katherine kathleen
kathryn kayla keith kelly kenneth kevin kimberly kyle larry laura lauren linda lisa logan
lori louis lucas luis madison margaret maria marie marilyn mark martha mary matthew megan
melissa michael michelle mohammed muhammad nancy natalie nathan nicholas nicole noah olivia
pamela patricia patrick paul peter priya rachel rahul ralph raymond rebecca richard robert
roger ronald ruth ryan samantha samuel sandra sara sarah scott sean sharon shirley sophia
stephanie stephen steven susan teresa theresa thomas timothy tyler victoria vincent virginia
walter wayne william zachary
""".split())

#: Words that are never part of a name: they stop a name that follows "my name is".
NAME_STOPWORDS = frozenset("""
a about account actually after again all also am an and any anybody anyone are as at back
be because been before being billing but by calling call called can cancel card could customer
did do does doing don't email for from get getting going gonna good got had has have having
he her here hi him his how i i'd i'll i'm im in is it it's its just know like looking manager
me mine monday tuesday wednesday thursday friday saturday sunday my need no not now number of
ok okay on one or our phone please really regarding representative right said say see she
should so some someone somebody speaking still supervisor sure thank thanks that that's the their
them then there they this to today trying uh um up us very want wanted was we well were what
when where which who why will with would yeah yes you you're your support agent sir madam
ma'am mr mrs ms mx mister missus miss dr doctor january february march april may june july august september october november
december from team department service services help helping here's happy sorry yesterday
tomorrow morning afternoon evening frustrated ridiculous great fine correct right wrong
first last middle name surname spelled spell spelling differently same different also
""".split())

STREET_SUFFIXES = (
    "street", "st", "avenue", "ave", "road", "rd", "boulevard", "blvd", "lane", "ln", "drive",
    "dr", "court", "ct", "way", "place", "pl", "terrace", "ter", "circle", "cir", "parkway",
    "pkwy", "highway", "hwy", "trail", "trl", "square", "sq", "plaza", "alley", "crescent",
    "loop", "pike", "row",
)
#: The rest of the USPS street suffixes ("Juarez Glens", "Hale Inlet"): most are everyday
#: words too, so a street ending in one needs Title Case or an address cue before it.
STREET_SUFFIXES_EXTENDED = (
    "alley", "arcade", "bayou", "beach", "bend", "bluff", "bluffs", "bottom", "branch", "bridge",
    "brook", "brooks", "burg", "burgs", "bypass", "camp", "canyon", "cape", "causeway", "center",
    "centers", "circles", "cliff", "cliffs", "club", "common", "commons", "corner", "corners",
    "course", "courts", "cove", "coves", "creek", "crest", "crossing", "crossroad", "curve",
    "dale", "dam", "divide", "drives", "estate", "estates", "expressway", "extension",
    "extensions", "fall", "falls", "ferry", "field", "fields", "flat", "flats", "ford", "fords",
    "forest", "forge", "forges", "fork", "forks", "fort", "freeway", "garden", "gardens",
    "gateway", "glen", "glens", "green", "greens", "grove", "groves", "harbor", "harbors",
    "haven", "heights", "hill", "hills", "hollow", "inlet", "island", "islands", "isle",
    "junction", "junctions", "key", "keys", "knoll", "knolls", "lake", "lakes", "land",
    "landing", "light", "lights", "loaf", "lock", "locks", "lodge", "mall", "manor", "manors",
    "meadow", "meadows", "mews", "mill", "mills", "mission", "motorway", "mount", "mountain",
    "mountains", "neck", "orchard", "oval", "overpass", "park", "parks", "parkways", "pass",
    "passage", "path", "pine", "pines", "plain", "plains", "point", "points", "port", "ports",
    "prairie", "radial", "ramp", "ranch", "rapid", "rapids", "rest", "ridge", "ridges", "river",
    "roads", "route", "rue", "run", "shoal", "shoals", "shore", "shores", "skyway", "spring",
    "springs", "spur", "spurs", "squares", "station", "stravenue", "stream", "streets", "summit",
    "throughway", "trace", "track", "trafficway", "trailer", "tunnel", "turnpike", "underpass",
    "union", "unions", "valley", "valleys", "via", "viaduct", "view", "views", "village",
    "villages", "ville", "vista", "walk", "walks", "wall", "ways", "well", "wells",
)
#: Words before a street that say an address follows (for lowercase text).
ADDRESS_CUES = r"address|live|living|lives|located|moved|move|moving|ship|send|deliver|mail|reside|visit"
#: Words that cannot be part of a street name ("20 dollars way too much" is no address).
STREET_NAME_STOPWORDS = (
    "in", "on", "at", "to", "the", "a", "an", "my", "your", "our", "their", "his", "her", "for",
    "and", "or", "of", "is", "was", "are", "it", "i", "you", "we", "they", "this", "that",
    "with", "from", "by", "about", "times", "hours", "minutes", "days", "weeks", "months",
    "years", "dollars", "bucks", "cents", "percent", "items", "things", "people", "calls",
    "more", "less", "than", "per", "each", "every", "only", "just", "so", "too", "very",
    "then", "but", "not", "no", "yes", "what", "when", "which", "who", "all", "other", "same",
)

MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)

# --- compiled patterns (once per process) -------------------------------------------------

# Patterns run on the lowered text (see _lowered) without IGNORECASE, which would halve
# their speed; offsets are the same in the original text.
_DIGIT_ALT = "|".join(sorted(DIGIT_WORDS, key=len, reverse=True))
_UNIT_ALT = "one|two|three|four|five|six|seven|eight|nine"
_TENS_ALT = "|".join(TENS_WORDS)
_TEEN_ALT = "|".join(TEEN_WORDS)

# One number token: a numeral, "double five", "twenty three", "fifteen", "eight hundred", "five".
_TOKEN = (
    r"(?<![\w@])(?P<num>\+?\d+)(?![\w@])"
    rf"|\b(?P<rep>double|triple)[\s-]+(?P<repd>{_DIGIT_ALT}|\d)\b"
    rf"|\b(?P<tens>{_TENS_ALT})(?:[\s-]+(?P<tensu>{_UNIT_ALT}))?\b"
    rf"|\b(?P<teen>{_TEEN_ALT})\b"
    rf"|\b(?P<hund>{_UNIT_ALT})[\s-]+hundred\b"
    rf"|\b(?P<digit>{_DIGIT_ALT})\b"
)
_SEP = r"(?:[\s,.;:/()\-]|\b(?:" + "|".join(NUMBER_FILLERS) + r")\b)+"
_TOKEN_RE = re.compile(_TOKEN)
_TOKEN_UNNAMED = re.sub(r"\(\?P<\w+>", "(?:", _TOKEN)
_RUN_RE = re.compile(rf"(?:{_TOKEN_UNNAMED})(?:{_SEP}(?:{_TOKEN_UNNAMED}))*")
_STRONG_SEP_RE = re.compile(r"[,.;:/()\n-]|dash|hyphen")
_CONTEXT_RES = tuple(
    (name, re.compile(rf"\b(?:{words})\b{_NUMBER_NOUN}{_CONTEXT_GAP}"))
    for name, words in NUMBER_CONTEXTS
)

#: a security code or PIN named anywhere in the window with no digits after it
_SECRET_CUE_RE = re.compile(rf"\b(?:(?P<cvv>{dict(NUMBER_CONTEXTS)['cvv']})|(?:{dict(NUMBER_CONTEXTS)['pin']}))\b[^0-9]*$")

_EMAIL_TYPED_RE = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_TLDS = r"com|net|org|edu|gov|io|co|us|uk|ca|info|biz|me|de|fr|au|in|ai|app|dev"
_EMAIL_WORD = r"[a-z0-9]+"
# a plain space joins the local part only before a number ("jones eighty five at ...")
_EMAIL_CONN = (
    rf"(?:\s*[._-]\s*|\s+(?:dot|period|underscore|dash|hyphen)\s+"
    rf"|\s+(?=(?:{'|'.join([*DIGIT_WORDS, *TEEN_WORDS, *TENS_WORDS])})\b|\d))"
)
_EMAIL_DOT = r"(?:\s*\.\s*|\s+dot\s+)"
_EMAIL_SPOKEN_RE = re.compile(
    rf"(?<![\w.])(?P<local>{_EMAIL_WORD}(?:{_EMAIL_CONN}{_EMAIL_WORD}){{0,6}})"
    rf"\s+(?:at(?:\s+(?:sign|symbol))?|@)\s+"
    rf"(?P<domain>{_EMAIL_WORD}(?:{_EMAIL_DOT}{_EMAIL_WORD}){{0,3}}{_EMAIL_DOT}(?:{_TLDS}))\b",
)
# "my email is john smith at ...": the words between the cue and the local part belong to it.
_EMAIL_CUE_RE = re.compile(
    r"\b(?:e-?mail|e\s+mail)(?:\s+address)?(?:\s+(?:is|it's|its|was))?[\s:,]+((?:(?!(?:is|it's|its|was)\b)[a-z0-9]+\s+){1,2})$"
)

# "member id is XK-44721": identifiers with letters (digit-only ones are number runs).
_ACCOUNT_ID_RE = re.compile(
    r"\b(?:account|acct|member|membership|customer|policy|subscriber|loan|contract)"
    r"(?:\s+(?:number|no|num|#|id))?(?:\s+(?:is|it's|was))?[\s:#]+"
    r"(?P<id>(?=[a-z0-9-]*\d)(?=[a-z0-9-]*[a-z])[a-z0-9][a-z0-9-]{3,}(?:\s+\d+)*)\b"
)
_ACCOUNT_HINTS = frozenset(["account", "acct", "member", "membership", "customer", "policy", "subscriber", "loan", "contract"])

_NUMWORD = rf"(?:{_DIGIT_ALT}|{_TEEN_ALT}|{_TENS_ALT}|hundred|thousand)"
_SPOKEN_NUMBER = rf"{_NUMWORD}(?:[\s-]+{_NUMWORD}){{0,5}}"
_STREET_WORD = (
    r"(?!(?:" + "|".join(STREET_NAME_STOPWORDS) + r")\b)"
    r"(?:[a-z][a-z'.]*|\d+(?:st|nd|rd|th))"
)
_ALL_SUFFIXES = "|".join(sorted({*STREET_SUFFIXES, *STREET_SUFFIXES_EXTENDED}, key=len, reverse=True))
_ADDRESS_RE = re.compile(
    rf"\b(?:\d{{1,6}}[a-z]?(?:-\d{{1,4}})?|{_SPOKEN_NUMBER})\s+"
    rf"(?:(?:north|south|east|west|n|s|e|w)\.?\s+)?"
    rf"(?P<street>(?:{_STREET_WORD}\s+){{1,3}}(?P<suffix>{_ALL_SUFFIXES}))\b\.?"
    r"(?:\s+(?:nw|ne|sw|se)\b)?"
    rf"(?:,?\s+(?:apt|apartment|unit|suite|ste|flat|number|no|\#)\.?\s*\#?\s*"
    rf"(?:\d+[a-z]?\b|[a-z]\d*\b|{_SPOKEN_NUMBER}\b))?"
    # ", Springfield, IL 62704" (needs capitals so ", and then" is never taken for a city)
    r"|\bp\.?\s?o\.?\s+box\s+\d+",
)
# ", Springfield, IL 62704" after a street: read on the original text, since it needs the
# capitals that tell a city from ", and then".
_ADDRESS_CUE_RE = re.compile(rf"\b(?:{ADDRESS_CUES})\b")
_CORE_SUFFIXES = frozenset(STREET_SUFFIXES)
_ABBREVIATED_SUFFIXES = frozenset(s for s in STREET_SUFFIXES if len(s) <= 4 and s not in ("road", "lane", "way", "loop", "pike", "row"))
_ADDRESS_CITY_RE = re.compile(r",\s*[A-Z][a-z]+(?:\s[A-Z][a-z]+)?(?:,\s*[A-Z]{2})?(?:\s+\d{5}(?:-\d{4})?)?")

_DAY_ORDINAL = (
    r"(?:twenty|thirty)[\s-](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|"
    r"first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
    r"thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth"
)
_DAY = rf"(?:\d{{1,2}}(?:st|nd|rd|th)?\b|(?:{_DAY_ORDINAL})\b|(?:twenty|thirty)[\s-](?:{_UNIT_ALT})\b|(?:{_TEEN_ALT}|{_UNIT_ALT}|twenty|thirty)\b)"
_YEAR = (
    rf"(?:\d{{4}}\b|'\d{{2}}\b|(?:nineteen|twenty)[\s-]+(?:(?:{_TENS_ALT})(?:[\s-]+(?:{_UNIT_ALT}))?|{_TEEN_ALT}|"
    rf"(?:oh|o|zero)[\s-]+(?:{_UNIT_ALT})|hundred)\b|two\s+thousand(?:\s+and)?(?:\s+(?:{_TEEN_ALT}|"
    rf"twenty(?:[\s-]+(?:{_UNIT_ALT}))?|{_UNIT_ALT}))?\b)"
)
_MONTH = rf"(?:{MONTHS})\b\.?"
_DATE_RE = re.compile(
    rf"(?<!\w)(?:"
    rf"\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})\b"
    rf"|\d{{4}}[/.-]\d{{1,2}}[/.-]\d{{1,2}}\b"
    rf"|{_MONTH},?\s+(?:of\s+)?{_YEAR}"
    rf"|{_MONTH},?\s+(?:the\s+)?{_DAY}(?:,?\s+(?:of\s+)?{_YEAR})?"
    rf"|(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?"
    rf")",
)
_DOB_WORDS = r"born|birth|dob|d\.?\s?o\.?\s?b\b\.?|birthday|birth\s?date"
_DOB_BEFORE_RE = re.compile(rf"\b(?:{_DOB_WORDS})(?:\W+\w+){{0,4}}?\W*$")
_DOB_AFTER_RE = re.compile(r"^\W*(?:\w+\W+){0,2}?(?:birthday|birth\s?date|date\s+of\s+birth)\b")

_NAME_WORD = r"[A-Za-z][A-Za-z'\-]*"
#: Cues after which a name almost surely follows.
_NAME_STRONG_CUE = (
    r"\b(?:first|last|middle|full|sur)\s?name(?:\s+(?:is|was))?|\bname\s+(?:is|was|of)|\bname's|\bspeaking\s+with|\bthis\s+is(?=\s+" + _NAME_WORD + r"\s+speaking\b)"
    r"|\b(?:mr|mrs|ms|mx|mister|missus)\b\.?"
)
#: Cues after which a name may follow: needs a capital letter or a known first name.
_NAME_WEAK_CUE = (
    r"\bthis\s+is|\bi'm|\bi\s+am|\bim\b|\bit's|\bhi|\bhello|\bhey|\bthanks|\bthank\s+you|\bdear"
    r"|\bbye|\bgoodbye|\bmiss\b|\bdr\b\.?|\bdoctor"
)
_NAME_CUE_RE = re.compile(
    rf"(?:(?P<strong>{_NAME_STRONG_CUE})|(?P<weak>{_NAME_WEAK_CUE}))"
    # a lookahead, so a cue inside the words ("hi Mr. Smith") is still found
    rf"(?=[\s,:]+(?P<words>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}}))",
)
_WORD_RE = re.compile(_NAME_WORD)
_TITLE_WORD = r"[A-Z][a-z]+(?:[-'][A-Za-z]+)?"
#: "Northwind customer care, Allen speaking" (case-sensitive, on the original text).
_NAME_SPEAKING_RE = re.compile(rf"(?P<name>{_TITLE_WORD}(?:\s+{_TITLE_WORD})?)\s+speaking\b")
_NAME_SPEAKING_LOWER_RE = re.compile(r"\b(?P<name>[a-z]+)\s+speaking\b")
#: The previous segment ended on a name cue: "my name is" | "Jane Doe".
_NAME_CUE_END_RE = re.compile(r"(?:\bname\s+(?:is|was)|\bname's|\bspeaking\s+with)\W*$")
_LEADING_WORDS_RE = re.compile(rf"\W*(?P<words>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})")
#: A sentence that is only a name in Title Case: "Zachary Baker. Date of birth ...".
_NAME_SENTENCE_RE = re.compile(rf"(?:^|(?<=[.!?]\s))(?P<name>{_TITLE_WORD}(?:\s+{_TITLE_WORD}){{1,2}})(?=\s*(?:[.!?,;]|$))")


# --- numbers --------------------------------------------------------------------------------

def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class _Token:
    __slots__ = ("start", "end", "digits", "numeral", "group_start")

    def __init__(self, start: int, end: int, digits: str, numeral: bool, group_start: bool) -> None:
        self.start = start
        self.end = end
        self.digits = digits
        self.numeral = numeral
        self.group_start = group_start


def _tokens_of_run(text: str, start: int, end: int) -> list[_Token]:
    tokens: list[_Token] = []
    prev_end = start
    prev_numeral = False
    for m in _TOKEN_RE.finditer(text, start, end):
        g = m.lastgroup
        if g == "num":
            digits = m.group("num").lstrip("+")
        elif g == "repd":
            word = m.group("repd").lower()
            digits = DIGIT_WORDS.get(word, word) * REPEAT_WORDS[m.group("rep").lower()]
        elif g in ("tens", "tensu"):
            unit = m.group("tensu")
            digits = TENS_WORDS[m.group("tens").lower()] + (DIGIT_WORDS[unit.lower()] if unit else "0")
        elif g == "teen":
            digits = TEEN_WORDS[m.group("teen").lower()]
        elif g == "hund":
            digits = DIGIT_WORDS[m.group("hund").lower()] + "00"
        else:
            digits = DIGIT_WORDS[m.group("digit").lower()]
        numeral = g == "num"
        group_start = (
            not tokens or numeral or prev_numeral
            or _STRONG_SEP_RE.search(text, prev_end, m.start()) is not None
        )
        tokens.append(_Token(m.start(), m.end(), digits, numeral, group_start))
        prev_end = m.end()
        prev_numeral = numeral
    return tokens


def _window(lower: str, start: int, tail: str, size: int) -> str:
    """The ``size`` characters before ``start``, reaching back into the previous segment."""
    if start >= size or not tail:
        return lower[max(0, start - size):start]
    return f"{tail}\n{lower[:start]}"[-size:]


def _context_before(lower: str, start: int, tail: str = "") -> str | None:
    secret = _SECRET_CUE_RE.search(_window(lower, start, tail, 64))
    if secret:  # "the passcode on the account is ...": the secret named first is what follows
        return "cvv" if secret.group("cvv") else "pin"
    window = _window(lower, start, tail, 48)
    for name, pattern in _CONTEXT_RES:
        if pattern.search(window):
            return name
    return None


def _classify(
    tokens: list[_Token], i: int, j: int, context: str | None, plus: bool, whole: bool = False
) -> str | None:
    """The entity type of tokens[i:j] as one number, or None when it is no PII.
    ``whole`` is set when the chunk is the entire run (not a piece of a longer number)."""
    digits = "".join(t.digits for t in tokens[i:j])
    n = len(digits)
    kind = _CONTEXT_ENTITIES.get(context or "")
    if kind is not None and _CONTEXT_DIGITS[kind][0] <= n <= _CONTEXT_DIGITS[kind][1]:
        return kind
    if (context == "ssn" and 4 <= n <= 9) or (context == "last4" and n == 4):
        return NATIONAL_ID
    if context == "dob" and 6 <= n <= 8:
        return DATE_OF_BIRTH
    if 13 <= n <= 19 and luhn_valid(digits) and context != "account":
        return CARD_NUMBER
    if context == "account" and 4 <= n <= 24:
        return ACCOUNT_NUMBER
    if whole and context == "card" and 6 <= n <= 12:
        return CARD_NUMBER  # a card number cut by a segment boundary: never leave it readable
    groups = _group_sizes(tokens, i, j)
    if whole and (groups in _CARD_HALF_GROUPS) and not any(t.numeral for t in tokens[i:j]):
        return CARD_NUMBER  # "four five zero six, eight five seven one...": half a card, said in card groups
    if n == 9 and groups == [3, 2, 4]:
        return NATIONAL_ID
    if context == "noise":
        return None
    if n == 10 or (n == 11 and digits[0] in "01") or (plus and 8 <= n <= 15):
        return PHONE_NUMBER
    if context == "phone" and 7 <= n <= 15:
        return PHONE_NUMBER
    if n == 7 and groups == [3, 4]:
        return PHONE_NUMBER
    return None


#: contexts that name what the number is outright, and how many digits it may have
_CONTEXT_ENTITIES = {"cvv": SECURITY_CODE, "pin": PIN, "passport": PASSPORT_NUMBER, "licence": DRIVERS_LICENSE}
_CONTEXT_DIGITS = {SECURITY_CODE: (3, 4), PIN: (4, 8), PASSPORT_NUMBER: (6, 9), DRIVERS_LICENSE: (5, 15)}

#: How people say part of a card number: 4-4, 4-4-4 (16-digit cards), 4-6 (Amex).
_CARD_HALF_GROUPS = ([4, 4], [4, 4, 4], [4, 6])


def _group_sizes(tokens: list[_Token], i: int, j: int) -> list[int]:
    sizes: list[int] = []
    for k in range(i, j):
        t = tokens[k]
        if t.group_start or k == i:
            sizes.append(len(t.digits))
        else:
            sizes[-1] += len(t.digits)
    return sizes


def _best_partition(tokens: list[_Token], context: str | None, plus: bool) -> list[tuple[int, int, str]]:
    """Split a run into chunks covering the most digits with entities (fewest chunks on ties)."""
    n = len(tokens)
    # a run said in groups ("five five five, one two three, ...") splits only between groups
    grouped = any(t.group_start for t in tokens[1:])
    cut = [True] + [t.group_start or not grouped for t in tokens[1:]] + [True]
    best: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    back: list[tuple[int, str | None]] = [(0, None)] * (n + 1)
    for j in range(1, n + 1):
        best[j] = best[j - 1]  # token j-1 left unclassified
        back[j] = (j - 1, None)
        if not cut[j]:
            continue
        width = 0
        for i in range(j - 1, -1, -1):
            width += len(tokens[i].digits)
            if width > 24:
                break
            if width < 4 or not cut[i]:
                continue
            kind = _classify(tokens, i, j, context if i == 0 else None, plus and i == 0)
            if kind is None:
                continue
            covered, negative_count = best[i]
            candidate = (covered + width, negative_count - 1)
            if candidate > best[j]:
                best[j] = candidate
                back[j] = (i, kind)
    chunks: list[tuple[int, int, str]] = []
    j = n
    while j > 0:
        i, kind = back[j]
        if kind is not None:
            chunks.append((i, j, kind))
        j = i
    chunks.reverse()
    return chunks


def _is_money(lower: str, start: int) -> bool:
    return start > 0 and lower[start - 1] in "$\u00a3\u20ac"


def _last_run(text: str, end: int | None = None) -> re.Match[str] | None:
    """The last run of number words or digits in ``text[:end]``."""
    last = None
    for last in _RUN_RE.finditer(text, 0, len(text) if end is None else end):  # noqa: B007 (the last one is wanted)
        pass
    return last


def _continued_run(tail: str, tokens: list[_Token]) -> str | None:
    """The entity type of a number that ``tail`` (the previous segment) began and ``tokens``
    (opening this segment) finish, or None. Only an incomplete number is continued."""
    previous = _last_run(tail)
    if previous is None or any(ch.isalnum() for ch in tail[previous.end():]):
        return None
    before = _tokens_of_run(tail, *previous.span())
    context = _context_before(tail, previous.start())
    plus = tail[previous.start()] == "+"
    alone = _classify(before, 0, len(before), context, plus, whole=True)
    digits = sum(len(t.digits) for t in before)
    if alone is not None and not (alone == CARD_NUMBER and digits < 13):
        return None  # the previous segment's number was already whole
    joined = before + tokens
    kind = _classify(joined, 0, len(joined), context, plus)
    return None if kind is None or digits + sum(len(t.digits) for t in tokens) > 19 else kind


def _number_spans(text: str, lower: str, tail: str = "") -> Iterable[tuple[int, int, str]]:
    for run in _RUN_RE.finditer(lower):
        start, end = run.span()
        if end - start < 3:
            continue
        tokens = _tokens_of_run(lower, start, end)
        # "Oh, five five five ..." opens with an interjection, not a zero
        while len(tokens) > 1 and tokens[1].group_start and lower[tokens[0].start:tokens[0].end] in ("oh", "o"):
            del tokens[0]
        start = tokens[0].start
        total = sum(len(t.digits) for t in tokens)
        if tail and total >= 2 and not any(ch.isalnum() for ch in lower[:start]):
            carried = _continued_run(tail, tokens)
            if carried is not None:
                yield start, tokens[-1].end, carried
                continue
        if total < 3 or _is_money(lower, start):
            continue
        context = _context_before(lower, start, tail)
        if total == 3:
            if context == "cvv":  # a security code is the one PII this short
                yield start, tokens[-1].end, SECURITY_CODE
            continue
        plus = lower[start] == "+"
        kind = _classify(tokens, 0, len(tokens), context, plus, whole=True)
        chunks = [(0, len(tokens), kind)] if kind else (
            _best_partition(tokens, context, plus) if total >= 7 else []
        )
        for i, j, kind in chunks:
            s, e = tokens[i].start, tokens[j - 1].end
            if s > 0 and lower[s - 1] == "(" and kind == PHONE_NUMBER:
                s -= 1  # "(555) 123-4567" starts at the parenthesis
            yield s, e, kind


def _account_id_spans(text: str, lower: str) -> Iterable[tuple[int, int, str]]:
    for m in _ACCOUNT_ID_RE.finditer(lower):
        yield m.start("id"), m.end("id"), ACCOUNT_NUMBER


# --- emails, dates, addresses, names --------------------------------------------------------

def _email_spans(text: str, lower: str) -> Iterable[tuple[int, int, str]]:
    if "@" in lower:
        for m in _EMAIL_TYPED_RE.finditer(lower):
            yield m.start(), m.end(), EMAIL
    for m in _EMAIL_SPOKEN_RE.finditer(lower):
        start = m.start()
        cue = _EMAIL_CUE_RE.search(lower, max(0, start - 60), start)
        if cue:
            start = cue.start(1)
        yield start, m.end(), EMAIL


def _date_of_birth_spans(text: str, lower: str, tail: str = "") -> Iterable[tuple[int, int, str]]:
    for m in _DATE_RE.finditer(lower):
        s, e = m.span()
        if _DOB_BEFORE_RE.search(_window(lower, s, tail, 40)) or _DOB_AFTER_RE.search(lower[e:e + 30]):
            yield s, e, DATE_OF_BIRTH


def _address_spans(text: str, lower: str) -> Iterable[tuple[int, int, str]]:
    for m in _ADDRESS_RE.finditer(lower):
        suffix = m.group("suffix")
        if suffix is not None and suffix not in _CORE_SUFFIXES:
            title_case = all(w[0].isupper() or w[0].isdigit() for w in text[m.start("street"):m.end("street")].split())
            if not (title_case or _ADDRESS_CUE_RE.search(lower, max(0, m.start() - 40), m.start())):
                continue
        end = m.end()
        if lower[end - 1] == "." and suffix not in _ABBREVIATED_SUFFIXES:
            end -= 1  # "Juarez Glens." ends a sentence; "Main St." is an abbreviation
        city = _ADDRESS_CITY_RE.match(text, end)
        yield m.start(), city.end() if city else end, STREET_ADDRESS


def _looks_like_name(word: str, need_capital: bool) -> bool:
    if len(word) < 2 or word.lower() in NAME_STOPWORDS:
        return False
    return word[0].isupper() if need_capital else True


def _name_spans(text: str, lower: str) -> Iterable[tuple[int, int, str]]:
    mixed_case = text is not lower and text != lower
    for m in _NAME_CUE_RE.finditer(lower):
        strong = m.group("strong") is not None
        words = list(_WORD_RE.finditer(text, m.start("words"), m.end("words")))
        first = words[0].group()
        # after a strong cue any non-stopword is a name; after a weak one ("this is", "thanks")
        # it needs a capital (when the text has capitals at all) or to be a known first name.
        if not _looks_like_name(first, need_capital=False):
            continue
        if not strong and not (first.lower() in FIRST_NAMES or (mixed_case and first[0].isupper())):
            continue
        # lowercase text gives no capital to stop at: take at most first + last name.
        limit = 3 if mixed_case else 2
        end = words[0].end()
        for w in words[1:limit]:
            if not _looks_like_name(w.group(), need_capital=mixed_case):
                break
            end = w.end()
        yield words[0].start(), end, PERSON_NAME


def _name_shape_spans(text: str, lower: str) -> Iterable[tuple[int, int, str]]:
    """Names with no cue before them: "Allen speaking", a sentence that is only a name."""
    mixed_case = text != lower
    if "speaking" in lower:
        for m in (_NAME_SPEAKING_RE if mixed_case else _NAME_SPEAKING_LOWER_RE).finditer(text):
            words = m.group("name").split()
            if mixed_case:
                # keep the words nearest to "speaking" that are names: "care, Allen speaking"
                while words and words[0].lower() in NAME_STOPWORDS:
                    words.pop(0)
                if words:
                    yield m.end("name") - len(" ".join(words)), m.end("name"), PERSON_NAME
            elif words[0] in FIRST_NAMES:
                yield m.start("name"), m.end("name"), PERSON_NAME
    if mixed_case:
        for m in _NAME_SENTENCE_RE.finditer(text):
            if not any(w.lower() in NAME_STOPWORDS for w in m.group("name").split()):
                yield m.start("name"), m.end("name"), PERSON_NAME


def _leading_name(text: str) -> Iterable[tuple[int, int, str]]:
    m = _LEADING_WORDS_RE.match(text)
    if m is None:
        return
    mixed_case = text != text.lower()
    name_words = []  # the leading words that look like a name: at most 3 (2 in lower case)
    for i, w in enumerate(_WORD_RE.finditer(text, m.start("words"), m.end("words"))):
        if i >= (3 if mixed_case else 2) or not _looks_like_name(w.group(), need_capital=mixed_case and i > 0):
            break
        name_words.append(w)
    if name_words:
        yield name_words[0].start(), name_words[-1].end(), PERSON_NAME


# --- partial transcripts: the value may be cut off at the end --------------------------------

_CONTEXT_GUESS = {
    "card": CARD_NUMBER, "phone": PHONE_NUMBER, "ssn": NATIONAL_ID, "last4": NATIONAL_ID,
    "account": ACCOUNT_NUMBER, "dob": DATE_OF_BIRTH,
}
_TRAILING_PUNCT = " ,.;:!?-)\u2026"
_TRAILING_DOB_RE = re.compile(rf"(?:the\s+)?(?:{_DAY}|{_MONTH})(?:\s+(?:of\s+)?{_MONTH}|\s+{_DAY})?$")
_TRAILING_EMAIL_RE = re.compile(
    r"(?:\be-?mail(?:\s+address)?(?:\s+is|:)\s+(?P<cued>[a-z0-9._-]+(?:\s+[a-z0-9._-]+){0,5})"
    r"|\b(?:it's|is|to|at)\s+(?!(?:look|be|get|go|come|talk|speak|arrive|stay|work|meet|point|see|home)\b)"
    r"(?P<open>[a-z0-9._-]{2,}(?:\s+(?:dot|underscore|dash)\s+[a-z0-9._-]+)*"
    r"\s+(?:at|dot|underscore|dash)(?:\s+[a-z0-9]+){0,3}(?:\s+dot)?))$"
)
_TRAILING_STREET_RE = re.compile(rf"\b(?:\d{{1,6}}|{_SPOKEN_NUMBER})\s+(?P<street>(?:{_STREET_WORD}\s*){{1,3}})$")


def _trailing_fragment_spans(text: str, lower: str, tail: str) -> Iterable[tuple[int, int, str]]:
    """Values a partial transcript cut off: "it's four one one", "born the tenth",
    "my email is kwright at". Only for provisional redaction: the final decides."""
    end = len(lower.rstrip(_TRAILING_PUNCT))
    if end == 0:
        return
    last = _last_run(lower, end)
    if last is not None and last.end() == end:
        tokens = _tokens_of_run(lower, *last.span())
        digits = sum(len(t.digits) for t in tokens)
        context = _context_before(lower, last.start(), tail)
        guess = _CONTEXT_GUESS.get(context or "")
        if guess is None and _ADDRESS_CUE_RE.search(_window(lower, last.start(), tail, 24)):
            guess = STREET_ADDRESS
        said_digit_by_digit = sum(1 for t in tokens if not t.numeral and len(t.digits) == 1) >= 2
        if guess is None and (digits >= 3 or said_digit_by_digit) and context != "noise" and not _is_money(lower, last.start()):
            # phone numbers open with a 3-digit group, cards with a 4-digit one
            guess = CARD_NUMBER if _group_sizes(tokens, 0, len(tokens))[0] == 4 else PHONE_NUMBER
        if guess is not None:
            start, stop = last.span()
            if start > 0 and lower[start - 1] == "(":
                start -= 1
                stop += lower.startswith(")", stop)
            yield start, stop, guess
    m = _TRAILING_DOB_RE.search(lower, 0, end)
    if m and _DOB_BEFORE_RE.search(_window(lower, m.start(), tail, 40)):
        yield m.start(), m.end(), DATE_OF_BIRTH
    if " at" in lower or "mail" in lower or " dot" in lower or " underscore" in lower or " dash" in lower:
        m = _TRAILING_EMAIL_RE.search(lower, 0, end)
        if m:
            group = "cued" if m.group("cued") else "open"
            yield m.start(group), m.end(group), EMAIL
    m = _TRAILING_STREET_RE.search(lower, 0, end)
    if m and (
        all(w[0].isupper() for w in text[m.start("street"):m.end("street")].split())
        or _ADDRESS_CUE_RE.search(lower, max(0, m.start() - 40), m.start())
    ):
        yield m.start(), m.end(), STREET_ADDRESS


# --- cheap hints: a detector's regexes run only when its words are present -------------------

_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(65, 91)})
_PUNCT_TO_SPACE = str.maketrans({c: " " for c in ",.;:!?()[]\"/-"})
_NUMBER_WORDS = frozenset(
    [*DIGIT_WORDS, *TEEN_WORDS, *TENS_WORDS, *REPEAT_WORDS, "hundred"]
)
_STREET_HINTS = frozenset([*STREET_SUFFIXES, *STREET_SUFFIXES_EXTENDED, "box"])
_DOB_HINTS = ("born", "birth", "dob", "d o b", "d.o.b")
_NAME_STRONG_HINTS = frozenset(["name", "name's", "surname", "firstname", "lastname", "speaking", "mr", "mrs", "ms", "mx", "mister", "missus"])
_NAME_WEAK_HINTS = frozenset([
    "this", "i'm", "im", "am", "it's", "hi", "hello", "hey", "thanks", "thank", "dear", "bye",
    "goodbye", "miss", "dr", "doctor",
])
_HAS_DIGIT_RE = re.compile(r"\d")


def _lowered(text: str) -> str:
    """``text`` in lowercase with the same length, so offsets carry over to the original."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _candidates(text: str, tail: str = "", provisional: bool = False) -> list[tuple[int, int, str]]:
    """Every detection in ``text`` (may overlap); ``tail``: the previous segment's end, lowered."""
    lower = _lowered(text)
    words = lower.translate(_PUNCT_TO_SPACE).split()
    vocabulary = set(words)
    found: list[tuple[int, int, str]] = []
    if _HAS_DIGIT_RE.search(lower) or sum(map(_NUMBER_WORDS.__contains__, words)) >= 2:
        found.extend(_number_spans(text, lower, tail))
    if not _ACCOUNT_HINTS.isdisjoint(vocabulary):
        found.extend(_account_id_spans(text, lower))
    if "@" in lower or (" at " in lower and ("dot" in vocabulary or "." in lower)):
        found.extend(_email_spans(text, lower))
    if any(hint in lower for hint in _DOB_HINTS) or (tail and any(hint in tail for hint in _DOB_HINTS)):
        found.extend(_date_of_birth_spans(text, lower, tail))
    if not _STREET_HINTS.isdisjoint(vocabulary):
        found.extend(_address_spans(text, lower))
    if tail and _NAME_CUE_END_RE.search(tail):
        found.extend(_leading_name(text))
    if text != lower or "speaking" in vocabulary:
        found.extend(_name_shape_spans(text, lower))
    if not _NAME_STRONG_HINTS.isdisjoint(vocabulary) or (
        not _NAME_WEAK_HINTS.isdisjoint(vocabulary)
        and (text != lower or not FIRST_NAMES.isdisjoint(vocabulary))
    ):
        found.extend(_name_spans(text, lower))
    if "passport" in lower or "licen" in lower or "dl " in lower:
        found.extend(document_spans(text))
    if text != lower:
        found.extend(national_insurance_spans(text, NATIONAL_ID))
    found.extend(other_person_spans(text, PERSON_NAME, _looks_like_name, FIRST_NAMES))
    if provisional:
        found.extend(_trailing_fragment_spans(text, lower, tail))
    return found


# --- public API ----------------------------------------------------------------------------

#: How much of the previous segment ``preceding`` contributes (enough for a spoken card half).
PRECEDING_CHARS = 120


def find_pii(text: str, preceding: str = "", provisional: bool = False) -> list[Span]:
    """All PII/PCI in ``text`` as non-overlapping spans (original offsets), in text order.

    ``preceding`` is optional: the previous final segment of the same speaker. Its last
    ``PRECEDING_CHARS`` characters give context ("my card number is" | "four one one one
    ...", "my name is" | "Jane Doe") and let a number split across the two segments be
    recognized from the part in ``text``. Spans are only ever in ``text``.

    ``provisional`` marks a partial transcript: a value cut off at its end ("it's four
    one one", "born the tenth") is redacted too, with the entity type guessed from context.
    """
    tail = ""
    if preceding:
        tail = _lowered(preceding[-PRECEDING_CHARS:])
        if len(preceding) > PRECEDING_CHARS and " " in tail:
            tail = tail[tail.index(" ") + 1:]  # no half word at the cut
    candidates = _candidates(text, tail, provisional)
    if not candidates:
        return []
    candidates.sort(key=lambda c: (-_PRIORITY[c[2]], c[0] - c[1], c[0]))
    taken: list[tuple[int, int, str]] = []
    for s, e, kind in candidates:
        if all(e <= ts or s >= te for ts, te, _ in taken):
            taken.append((s, e, kind))
    taken.sort()
    return [Span(s, e, kind) for s, e, kind in taken]


def apply_redactions(text: str, spans: list[Span]) -> str:
    """``text`` with each span replaced by ``[ENTITY_TYPE]``; spans must not overlap."""
    parts: list[str] = []
    pos = 0
    for span in sorted(spans, key=lambda s: s.start):
        parts.append(text[pos:span.start])
        parts.append(f"[{span.entity_type}]")
        pos = span.end
    parts.append(text[pos:])
    return "".join(parts)


def redact_text(text: str, preceding: str = "", provisional: bool = False) -> tuple[str, list[Span]]:
    """Redact ``text``: the text with ``[ENTITY_TYPE]`` placeholders and the spans removed
    (``preceding`` and ``provisional`` as in ``find_pii``)."""
    spans = find_pii(text, preceding, provisional)
    return (apply_redactions(text, spans) if spans else text), spans


def redact_segment(
    segment: TranscriptSegment, *, event_id: str, produced_at_ms: int, producer: str, preceding: str = ""
) -> RedactedSegment:
    """The redacted twin of a raw segment, linked to it by ``caused_by`` (partials are provisional)."""
    text, spans = redact_text(segment.text, preceding, provisional=not segment.is_final)
    return RedactedSegment(
        event_id=event_id,
        contact_id=segment.contact_id,
        event_time_ms=segment.event_time_ms,
        produced_at_ms=produced_at_ms,
        producer=producer,
        caused_by=segment.event_id,
        source_time_ms=segment.source_time_ms or segment.event_time_ms,
        segment_id=segment.segment_id,
        sequence=segment.sequence,
        participant=segment.participant,
        start_offset_ms=segment.start_offset_ms,
        end_offset_ms=segment.end_offset_ms,
        text=text,
        is_final=segment.is_final,
        provisional=not segment.is_final,
        redactions=spans,
        final_segment_id=segment.final_segment_id,
        confidence=segment.confidence,
        language=segment.language,
    )
