"""Postal addresses as evidence: normalised, compared field by field.

Orders carry a billing and a shipping address (``details["billing"]`` and
``details["shipping"]``: street, city, zip, province, country). Two customers
at one address are one person or one household; two customers whose full
addresses differ are less likely one person. Addresses never link anyone
automatically: they are evidence for the merge suggestions (``app.suggestions``).

Normalising folds case and accents, drops punctuation, writes common street
words one way (``street``/``st``, ``road``/``rd``, ``apartment``/``apt``/``unit``)
and reads the house number and the unit out of the street lines. Postcodes are
compared per country (a US ZIP+4 by its first five digits, a UK postcode
without its space) and one typing slip apart still agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from app.names import fold

_STREET_WORDS = {
    "street": "st",
    "str": "st",
    "road": "rd",
    "avenue": "ave",
    "av": "ave",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "crescent": "cres",
    "cresent": "cres",
    "circuit": "cct",
    "close": "cl",
    "terrace": "tce",
    "boulevard": "blvd",
    "highway": "hwy",
    "parade": "pde",
    "square": "sq",
    "grove": "gr",
    "mount": "mt",
    "saint": "st",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}
_UNIT_WORDS = frozenset("apartment apt unit flat suite ste no number".split())
_UNIT_RE = re.compile(r"^(\d+[a-z]?)\s*/\s*(\d+[a-z]?)\b")  # "4/12 Smith St": unit 4, house 12
_HOUSE_RE = re.compile(r"^\d+[a-z]?$")
_SIMILAR = 85  # rapidfuzz ratio at which two street or town spellings agree
_DIFFERENT = 60  # and below which they differ


@dataclass(frozen=True)
class Address:
    """A postal address split for comparison; empty strings for parts not given."""

    house: str
    street: str  # the street words, house number and unit left out, abbreviations applied
    unit: str
    town: str
    postcode: str

    @property
    def full(self) -> bool:
        """True if it names a home: a street, and a house number or a town or postcode."""
        return bool(self.street and (self.house or self.town or self.postcode))

    def key(self) -> str:
        """A readable form, for reasons in words."""
        parts = [f"{self.house} {self.street}".strip(), self.town, self.postcode.upper()]
        return ", ".join(p for p in parts if p)


class Match(Enum):
    """How two addresses compare."""

    SAME = "same"  # one home
    STREET = "street"  # one street and town, another house: neighbours
    HOUSE = "house"  # one house number on one street (or at one place), the rest unclear
    UNKNOWN = "unknown"  # too little to tell
    DIFFERENT = "different"  # two homes


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^\w/]+", fold(text)) if w]


def normalize_postcode(raw: str, country: str = "") -> str:
    """A postcode as compared: letters and digits only, upper case; ZIP+4 cut to five."""
    text = re.sub(r"[^0-9A-Za-z]", "", raw).upper()
    country = fold(country)
    if country in ("us", "usa", "united states", "united states of america") or (
        len(text) == 9 and text.isdigit() and not country
    ):
        text = text[:5]
    return text if len(text) >= 3 else ""


@lru_cache(maxsize=131072)
def _street(line: str) -> tuple[str, str, str]:
    """House number, unit and street words of the street lines."""
    text = " ".join(_words(line))
    house = unit = ""
    found = _UNIT_RE.match(text)
    if found:
        unit, house = found.group(1), found.group(2)
        text = text[found.end() :]
    words: list[str] = []
    tokens = text.replace("/", " ").split()
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if word in _UNIT_WORDS and i + 1 < len(tokens) and _HOUSE_RE.match(tokens[i + 1]):
            unit = unit or tokens[i + 1]
            i += 2
            continue
        if _HOUSE_RE.match(word):
            if not house:
                house = word
            elif not unit:
                unit = word
            i += 1
            continue
        words.append(_STREET_WORDS.get(word, word))
        i += 1
    return house, unit, " ".join(words)


def parse_address(fields: Mapping[str, Any]) -> Address | None:
    """An address from an order's billing or shipping details, or None if it says nothing."""
    street_text = str(fields.get("street") or "")
    if not street_text:
        street_text = ", ".join(
            str(fields.get(k) or "") for k in ("address1", "address2") if fields.get(k)
        )
    house, unit, street = _street(street_text)
    town = " ".join(_words(str(fields.get("city") or "")))
    postcode = normalize_postcode(str(fields.get("zip") or ""), str(fields.get("country") or ""))
    address = Address(house, street, unit, town, postcode)
    return address if (street or town or postcode) else None


def postcodes_agree(a: str, b: str) -> bool:
    """Equal, or one typing slip apart (a letter or digit changed, dropped or swapped)."""
    if not a or not b:
        return False
    return a == b or (min(len(a), len(b)) >= 4 and OSA.distance(a, b) <= 1)


def _text_similarity(a: str, b: str) -> float:
    """How alike two street or town texts are, 0–100: word order, split words, typos."""
    short, long = sorted((a, b), key=len)
    found = max(
        fuzz.token_set_ratio(a, b) if len(short) >= 6 else 0.0,
        fuzz.ratio(a.replace(" ", ""), b.replace(" ", "")),
        # One gives a building or estate name too: the street is still in it.
        fuzz.partial_ratio(short, long) if len(short) >= 8 else 0.0,
    )
    if found >= _SIMILAR:
        return found
    # A slip in a street word or a space moved into it ("wakelinc ircuit", "renestreet",
    # "ctescent"), which the short forms did not catch; and the street line written
    # before or after another line (a building, an estate), or the lines swapped: each
    # text's leading and trailing runs of two words or more against the other's.
    # Only an agreement counts: the runs would make two different streets look alike
    # enough to say nothing either way.
    runs_a, runs_b = _runs(a), _runs(b)
    agree = max((fuzz.ratio(x, y) for x in runs_a for y in runs_b if x[0] == y[0]), default=0.0)
    return agree if agree >= _SIMILAR else found


# The street words that a slip or a lost space hides from ``_STREET_WORDS`` ("sreet",
# "ctescent", "renestreet", "wakelinc ircuit"). A slip is forgiven only in the longer
# ones and never in a street's first word: "Drove Road" is not a grove, nor "Count
# Street" a court.
_LONG_STREET_WORDS = tuple(w for w in _STREET_WORDS if len(w) >= 5 and _STREET_WORDS[w] != w)
_SLIP_STREET_WORDS = tuple(w for w in _LONG_STREET_WORDS if len(w) >= 6)
_RUN = 8  # the fewest letters of a run of words compared on its own


def _street_word(word: str, first: bool) -> list[str]:
    """A word as ``_street`` would have read it without the slip: a long street word
    mistyped once (not as the first word), or one written together with the name before
    it."""
    if len(word) >= 5 and word not in _STREET_WORDS:
        for long in _LONG_STREET_WORDS:
            if len(word) >= len(long) + 3 and word.endswith(long):
                return [word[: -len(long)], _STREET_WORDS[long]]
        if not first:
            for long in _SLIP_STREET_WORDS:
                if OSA.distance(word, long) <= 1:
                    return [_STREET_WORDS[long]]
    return [word]


@lru_cache(maxsize=131072)
def _runs(text: str) -> tuple[str, ...]:
    """The whole text, street words read through slips, spaces left out; then its leading
    and trailing runs of two words or more (of ``_RUN`` letters or more)."""
    words = [part for i, w in enumerate(text.split()) for part in _street_word(w, i == 0)]
    runs = {"".join(words[:k]) for k in range(2, len(words))}
    runs.update("".join(words[k:]) for k in range(1, len(words) - 1))
    whole = "".join(words)
    return (whole, *sorted(r for r in runs if len(r) >= _RUN and r != whole))


@lru_cache(maxsize=262144)
def compare(a: Address, b: Address) -> Match:
    """Whether two addresses are one home, one street, two homes, or cannot tell.

    Field by field: the house number, the street words (spelling slips, split or
    joined words and swapped address lines forgiven), the town, the postcode
    (one slip forgiven). One home needs the street and the house number to agree
    (when both give one), and the town or the postcode; two homes need the
    street, or the house number on a street that agrees, and the town or postcode
    to disagree where both are given.
    """
    street = _text_similarity(a.street, b.street) if a.street and b.street else None
    town = _text_similarity(a.town, b.town) if a.town and b.town else None
    post = postcodes_agree(a.postcode, b.postcode) if a.postcode and b.postcode else None
    house = (a.house == b.house) if a.house and b.house else None
    town_differs = town is not None and town < _DIFFERENT
    # A postcode one slip away agrees only where the towns do not say otherwise.
    place_agrees = (town is not None and town >= _SIMILAR) or (post is True and not town_differs)
    place_differs = town_differs or (town is None and post is False)
    if street is not None and street >= _SIMILAR:
        if house is not False and place_agrees:
            return Match.SAME
        if house and a.postcode and a.postcode == b.postcode:
            # One house on one street in one postcode: the town named otherwise (a suburb
            # for the town, a slip past forgiving), not another home.
            return Match.SAME
        if house is False and place_agrees:
            return Match.STREET
        if house and (post is True or (town is not None and town >= _SIMILAR)):
            return Match.HOUSE  # one house on one street, but the town or postcode differs
        if place_differs and house is not None:
            return Match.DIFFERENT
        return Match.UNKNOWN
    if street is not None and street < _DIFFERENT and (place_differs or house is False):
        return Match.DIFFERENT
    if street is None and town_differs and a.postcode != b.postcode:
        return Match.DIFFERENT  # one gives no street: another town, another postcode
    if street is None and house and place_agrees:
        return Match.HOUSE  # one gives no street: the same number in the same place
    return Match.UNKNOWN
