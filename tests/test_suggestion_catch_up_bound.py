"""The catch-up's bound worked out in columns (``suggestion_store._far_bounds``, and the
spellings ``_Bound`` works out without regular expressions) answers as the scorer's own
functions do, for the names of generated people: the names' bound of every pair it tells
far apart is ``_name_bound``'s, both ways round."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from app import suggestion_store
from app import suggestions as sx
from app.names import PersonName, parse_name
from tests.bench.bench_identity import _display, make_people

# Names that the generated people do not write: written apart or together, swapped, with
# several given names, a family name in two parts, accents and punctuation, one part only.
_MORE = [
    "Mary Ann Smith",
    "Maryann Smith",
    "Smith Mary",
    "Smith Maryann",
    "van der Berg Jan",
    "Jan Vanderberg",
    "O'Brien Pat",
    "Pat OBrien",
    "Jo-Ann Lee",
    "Émile Zola",
    "Emile Zola",
    "Zola",
    "Li",
    "Li Na",
    "Na Li",
]


def _names(seed: int) -> list[PersonName]:
    rng = random.Random(seed)
    people, _users = make_people(300, seed)
    texts = [_display(rng, p) for p in people for _ in range(2)] + _MORE
    found: dict[str, PersonName] = {}
    for text in texts:
        name = parse_name(text)
        if name.tokens:
            found.setdefault(name.full, name)
    return list(found.values())


@pytest.mark.parametrize("seed", [1, 2])
def test_far_bounds_are_the_name_bounds(seed: int) -> None:
    names = _names(seed)
    profiles = [sx._Profile(i, n.full, n) for i, n in enumerate(names)]
    # The frequencies of many more customers, as at 100,000: the bound's limit is high.
    freq = sx._Frequencies.of(profiles)
    freq = replace(freq, customers=100 * freq.customers)
    limit = suggestion_store._Bound(freq).limit
    rng = random.Random(seed)
    pairs = [(a, b) for a in names for b in rng.sample(names, 40)]
    pairs += [(a, a) for a in names]
    bounds = suggestion_store._far_bounds([a for a, _ in pairs], [b for _, b in pairs], freq, limit)
    told = 0
    for (a, b), value in zip(pairs, bounds, strict=True):
        if value is None:
            continue
        told += 1
        assert value < limit
        assert sx._name_bound(a, b, freq, limit) == value, (a, b)
        assert sx._name_bound(b, a, freq, limit) == value, (b, a)
    assert told > len(pairs) // 2  # most names are far apart
    assert told < len(pairs)  # and not all


def test_the_bound_spells_names_as_the_scorer_does() -> None:
    bound = suggestion_store._Bound(sx._Frequencies.of([]))
    for name in _names(3):
        assert bound._spellings(name) == sx.name_spellings(name), name


def test_strings_in_columns_hold_the_letters_of_each() -> None:
    texts = ["", "ab", "smith", "héllo wörld", "x" * 70, "ǅz", "a b-c", "a\0b", "😀x", "\udc80z"]
    rng = random.Random(4)  # and characters of any plane, a few at a time
    texts += [
        "".join(chr(rng.randint(0, 0x2FFFF)) for _ in range(rng.randint(0, 12))) for _ in range(500)
    ]
    mine, theirs = suggestion_store._strings(texts), sx._Strings.of(texts)
    assert mine.letters.tolist() == theirs.letters.tolist()
    assert mine.length.tolist() == theirs.length.tolist()
    assert mine.text.tolist() == texts
