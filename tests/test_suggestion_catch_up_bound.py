"""The catch-up's bound worked out in columns (``suggestion_store._far_columns``, and the
spellings ``_Bound`` works out without regular expressions) answers as the scorer's own
functions do, for the names of generated people: the names' bound of every pair it tells
far apart is ``_name_bound``'s, both ways round."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from app import suggestion_store
from app import suggestions as sx
from app.names import PersonName, parse_name
from tests.bench.bench_identity import _display, make_people
from tests.suggestion_setup import bound_case

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
def test_far_columns_are_the_name_bounds(seed: int) -> None:
    names = _names(seed)
    profiles = [sx._Profile(i, n.full, n) for i, n in enumerate(names)]
    # The frequencies of many more customers, as at 100,000: the bound's limit is high.
    freq = sx._Frequencies.of(profiles)
    freq = replace(freq, customers=100 * freq.customers)
    limit = suggestion_store._Bound(freq).limit
    rng = random.Random(seed)
    pairs = [(a, b) for a in names for b in rng.sample(names, 40)]
    pairs += [(a, a) for a in names]
    values, far = suggestion_store._far_columns(
        [a for a, _ in pairs], [b for _, b in pairs], freq, limit
    )
    told = 0
    for (a, b), value, apart in zip(pairs, values.tolist(), far.tolist(), strict=True):
        if not apart:
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


def test_the_changed_customers_that_spell_a_name_are_those_whose_local_part_spells_it() -> None:
    # ``_spelt_by`` (the spellings of a name looked up among the changed customers' local
    # parts) against ``name_spellings`` of each name, for every local part.
    names = _names(5)
    rng = random.Random(5)
    spelt = [local for n in rng.sample(names, 80) for local in sx.name_spellings(n)]
    others = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6)) for _ in range(40)
    ]
    owners: dict[str, set[int]] = {}
    for cid, local in enumerate([*spelt, *others, *spelt[:20]]):
        owners.setdefault(local, set()).add(cid)
    bound = suggestion_store._Bound(sx._Frequencies.of([]))
    hits = 0
    for name in names:
        want = {cid for local in sx.name_spellings(name) for cid in owners.get(local, ())}
        assert suggestion_store._spelt_by(bound, name, owners, set()) == want, name
        hits += bool(want)
    assert hits >= 40


def test_json_texts_decoded_at_once_are_each_decoded() -> None:
    texts = ['[["Zoë \\"Z\\" Lee", "lee", "zoe"]]', "[]", '"a, b"', "[1, [2]]", '{"a": 1}', "3"]
    assert suggestion_store._decoded(texts) == [json.loads(t) for t in texts]
    assert suggestion_store._decoded([]) == []
    # Texts that are no JSON value each, but would be read together: read one by one.
    with pytest.raises(ValueError):
        suggestion_store._decoded(["1, 2"])


@pytest.mark.parametrize("seed", [1, 2])
def test_the_catch_up_bounds_out_the_pairs_the_bound_tells_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # ``_unreachable`` (the pairs in columns, the spellings from sets and the keys'
    # members) leaves out exactly the pairs that ``_Bound.may_store`` leaves out, asked
    # pair by pair, with a third of the customers taken as changed.
    monkeypatch.setattr(suggestion_store, "_VECTOR_PAIRS", 0)  # names in columns, however few
    with bound_case(tmp_path, seed) as case:
        s, freq, profiles, said = case.session, case.freq, case.profiles, case.said
        fresh = {cid: p for cid, p in profiles.items() if cid % 3 == seed}
        keys = {cid: sx._block_keys(p) for cid, p in fresh.items()}
        pairs = {p for p in sx._candidate_pairs(profiles, said) if p[0] in fresh or p[1] in fresh}
        found = suggestion_store._unreachable(s, pairs, fresh, keys, said, freq, {})
        sketches = suggestion_store._stored_sketches(s, set(profiles), {})
        bound = suggestion_store._Bound(freq)
        held = suggestion_store._spelling_holders(s, bound, fresh)
    # The stored customers holding a key that spells a changed customer's name, against
    # the keys of each (the changed customers' sketches are their stored ones here).
    spelling = 0
    for a, theirs in held.items():
        for b, sketch in sketches.items():
            assert (b in theirs) == bound.spells_a(fresh[a], sketch), (a, b)
        spelling += len(theirs - {a})
    assert spelling
    bound = suggestion_store._Bound(freq)
    want = set()
    for x, y in pairs:
        a, other = (x, y) if x in fresh else (y, x)
        if not bound.may_store(fresh[a], sketches[other], (x, y) in said, a_first=a == x):
            want.add((x, y))
    assert found == want
    assert len(want) > len(pairs) // 4, f"{len(want)} of {len(pairs)} bounded out"
