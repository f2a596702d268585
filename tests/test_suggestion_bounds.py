"""The scorer's shortcuts give what the full scorer gives: the floor's bound drops only
pairs that score under it, and the quick answer of ``_touching`` is ``_names_touch``'s."""

from __future__ import annotations

import random
from collections import Counter
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app import suggestions as sx
from app.db import open_database
from tests.bench.bench_suggestions import build


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database of about 1,500 generated customers (the suggestions benchmark's)."""
    path = tmp_path_factory.mktemp("bounds") / "generated.db"
    db = open_database(path)
    build(db, 1500, 11)
    db.dispose()
    return path


def _read(path: Path) -> tuple[dict[int, Any], Any, dict[tuple[int, int], set[str]]]:
    """The generated database's profiles, frequencies and mentions, as a rebuild reads them."""
    db = open_database(path)
    with db.read_session() as s:
        profiles = sx._profiles(s)
        freq = sx._Frequencies.of(profiles.values())
        said = sx._mentions(s, profiles)
    db.dispose()
    return profiles, freq, said


@pytest.mark.parametrize("calibrated_floor", [0.01, 0.2, 0.44, 0.6])
def test_the_floor_drops_only_pairs_under_it(generated: Path, calibrated_floor: float) -> None:
    profiles, freq, said = _read(generated)
    pairs = list(sx._candidate_pairs(profiles, said))
    floor = sx.raw_floor(calibrated_floor)
    dropped = 0
    for x, y in pairs:
        a, b, mentions = profiles[x], profiles[y], said.get((x, y), ())
        full = sx.score_pair(a, b, freq, mentions)
        quick = sx.score_pair(a, b, freq, mentions, floor)
        if quick == (0.0, [], []) and full != quick:
            dropped += 1
            assert full[0] < floor, (x, y, full)
            assert sx.calibrated(full[0]) < calibrated_floor
        else:
            assert quick == full, (x, y)
    if calibrated_floor > 0.01:  # at 0.01, among so few customers, no pair is sure to miss it
        assert dropped, "the bound drops some pairs"


def test_raw_floor_inverts_the_calibration() -> None:
    assert sx.raw_floor(0.0) == 0.0
    for wanted in (0.01, 0.2, 0.44, 0.45, 0.5, 0.9, 0.999, 1.0):
        raw = sx.raw_floor(wanted)
        assert sx.calibrated(raw) == pytest.approx(wanted) or sx.calibrated(raw) >= wanted
        assert sx.calibrated(raw * (1 - 1e-9)) < wanted


def test_touching_answers_as_names_touch(generated: Path) -> None:
    db = open_database(generated)
    with db.read_session() as s:
        profiles = sx._profiles(s)
    db.dispose()
    ranked = sorted(profiles, key=lambda cid: sx._name_orders(profiles[cid])[0])
    parts: dict[int, frozenset[str]] = {}
    answers = []
    for i, x in enumerate(ranked):
        for y in ranked[i + 1 : i + 8]:
            a, b = profiles[x], profiles[y]
            touching = sx._touching(a, b, parts)
            assert touching == sx._names_touch(a, b), (a.name, b.name)
            answers.append(touching)
    assert any(answers) and not all(answers)


# Names close in one way each (a slip or two in the surname, a short surname, a surname in
# parts, a swap, a swap with slips, a split, a swap and a split), under given names so common
# that the same given name under another surname could not reach the floor: each pair must
# still be scored in full.
_CLOSE = [
    ("John Zimmermann", "John Zimmrmenn"),
    ("John Zimmermann", "John Zimermannn"),
    ("John Montgomerie", "John Mountgomery"),
    ("Ann Lee", "Ann Lea"),
    ("Jon Ray", "John Roy"),
    ("John Smyth", "Smith Jon"),
    ("Anna van Dyke", "Anna Dyke"),
    ("John Smith", "Smith John"),
    ("John Smithson", "Smithsen Jonn"),
    ("Jane Greenwood", "Jane Green Wood"),
    ("Darcie Macgowan", "Macgo Wan Darcie"),
    ("J. Smithson", "John Smithson"),
    ("Smithson", "John Smithson"),
    ("Mary Jane Smithson", "Jane Smithson"),  # one leaves the first given name out
]


def _profile(cid: int, name: str) -> sx._Profile:
    profile = sx._Profile(cid, name, sx.parse_name(name))
    profile.emails = {f"c{cid}@example.org"}
    return profile


def test_close_names_are_scored_in_full() -> None:
    pairs = [(_profile(2 * i + 1, x), _profile(2 * i + 2, y)) for i, (x, y) in enumerate(_CLOSE)]
    freq = sx._Frequencies.of(p for pair in pairs for p in pair)
    # As among a million customers where these given names are common.
    freq.customers = freq.named = 1_000_000
    for given in ("john", "jane", "ann", "anna", "darcie", "macgo", "smith"):
        freq.given[given] = 50_000
    floor = sx.raw_floor(0.01)
    for a, b in pairs:
        full = sx.score_pair(a, b, freq)
        assert full[0] >= floor, (a.name, b.name, full)
        assert sx.score_pair(a, b, freq, (), floor) == full, (a.name, b.name)
    # And a pair whose names are far apart is dropped.
    far = sx.score_pair(_profile(91, "John Smith"), _profile(92, "John Brown"), freq, (), floor)
    assert far == (0.0, [], [])


@pytest.mark.parametrize("calibrated_floor", [0.01, 0.2, 0.44])
def test_scorable_leaves_out_only_pairs_under_the_floor(
    generated: Path, calibrated_floor: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sx, "_VECTOR_MIN", 0)  # the columns, however few the pairs
    profiles, freq, said = _read(generated)
    codes = list(sx._candidate_codes(profiles, said))
    floor = sx.raw_floor(calibrated_floor)
    kept = set(sx.scorable(profiles, freq, said, codes, floor))
    pairs = [(code >> 32, code & sx._LOW) for code in codes]
    assert kept <= set(pairs)
    left_out = 0
    for x, y in pairs:
        full = sx.score_pair(profiles[x], profiles[y], freq, said.get((x, y), ()))
        if (x, y) not in kept:
            left_out += 1
            assert full[0] < floor, (x, y, full)
            assert sx.calibrated(full[0]) < calibrated_floor
    if calibrated_floor > 0.01:  # at 0.01, among so few customers, no pair is sure to miss it
        assert left_out, "some pairs are left out"


def test_scorable_keeps_close_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sx, "_VECTOR_MIN", 0)
    pairs = [(_profile(2 * i + 1, x), _profile(2 * i + 2, y)) for i, (x, y) in enumerate(_CLOSE)]
    far = (_profile(91, "John Smith"), _profile(92, "John Brown"))
    conflict = (_profile(93, "John Smith"), _profile(94, "Mary Smith"))  # a family conflict
    pairs += [far, conflict]
    freq = sx._Frequencies.of(p for pair in pairs for p in pair)
    freq.customers = freq.named = 1_000_000
    for given in ("john", "jane", "ann", "anna", "darcie", "macgo", "smith", "mary"):
        freq.given[given] = 50_000
    profiles = {p.id: p for pair in pairs for p in pair}
    floor = sx.raw_floor(0.01)
    kept = sx.scorable(profiles, freq, {}, [a.id << 32 | b.id for a, b in pairs], floor)
    assert kept == [(a.id, b.id) for a, b in pairs[: len(_CLOSE)]]
    for a, b in (far, conflict):  # what the full scorer says of the two left out
        assert sx.score_pair(a, b, freq)[0] < floor


def test_touching_rest_answers_as_names_touch(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sx, "_VECTOR_MIN", 0)
    db = open_database(generated)
    with db.read_session() as s:
        profiles = sx._profiles(s)
    db.dispose()
    ranked = sorted(profiles, key=lambda cid: sx._name_orders(profiles[cid])[1])
    codes = []
    for i, x in enumerate(ranked):
        for y in ranked[i + 1 : i + 12]:
            low, high = min(x, y), max(x, y)
            if sx._parts(profiles[low]).isdisjoint(sx._parts(profiles[high])):
                codes.append(low << 32 | high)
    touching = set(sx._touching_rest(profiles, codes))
    expected = {c for c in codes if sx._names_touch(profiles[c >> 32], profiles[c & sx._LOW])}
    assert touching == expected
    assert touching and len(touching) < len(codes)


def _reference_candidates(
    profiles: dict[int, Any], said: dict[tuple[int, int], set[str]]
) -> set[tuple[int, int]]:
    """The candidate pairs as the blocking rules define them, written out pair by pair in
    Python (what ``_candidate_array`` computes in numpy columns)."""
    keys = {cid: sx._block_keys(p) for cid, p in profiles.items()}
    orders = {cid: sx._name_orders(p) for cid, p in profiles.items()}
    blocks: dict[str, list[int]] = {}
    for cid, own in keys.items():
        for key in own:
            blocks.setdefault(key, []).append(cid)
    strong: set[tuple[int, int]] = {(min(x, y), max(x, y)) for x, y in said if x != y}
    weak: set[tuple[int, int]] = set()

    def windows(ranked: list[int], width: int) -> set[tuple[int, int]]:
        return {
            (min(x, y), max(x, y))
            for i, x in enumerate(ranked)
            for y in ranked[i + 1 : i + 1 + width]
        }

    for key, members in blocks.items():
        into = weak if key.partition(":")[0] in sx._WEAK_KEYS else strong
        if len(members) <= sx.MAX_BLOCK:
            into.update((x, y) for x in members for y in members if x < y)
        else:
            for which in range(3):
                ranked = sorted(members, key=lambda cid: (orders[cid][which], cid))
                into.update(windows(ranked, sx.WINDOW))
    for which in range(3):
        named = [c for c in orders if orders[c][which]]
        ranked = sorted(named, key=lambda c: (orders[c][which], c))
        weak.update(windows(ranked, sx.NAME_WINDOW))
    touching = {(x, y) for x, y in weak - strong if sx._names_touch(profiles[x], profiles[y])}
    return strong | touching


@pytest.mark.parametrize("max_block", [6, 60])
def test_candidate_array_gives_the_blocking_rules_pairs(
    generated: Path, max_block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small blocks at 6 customers: many keys are oversized and read in name order.
    monkeypatch.setattr(sx, "MAX_BLOCK", max_block)
    monkeypatch.setattr(sx, "_VECTOR_MIN", 0)  # _touching_rest's columns, however few
    profiles, _freq, said = _read(generated)
    codes = sx._candidate_array(profiles, said)
    found = [(code >> 32, code & sx._LOW) for code in codes.tolist()]
    assert len(found) == len(set(found)), "each pair once"
    expected = _reference_candidates(profiles, said)
    assert set(found) == expected
    assert set(sx._candidate_pairs(profiles, said)) == expected


@pytest.mark.parametrize("calibrated_floor", [0.01, 0.2, 0.44, 0.7])
def test_the_scored_pairs_are_those_of_every_candidate_scored_in_full(
    generated: Path, calibrated_floor: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a rebuild keeps (the candidates in numpy, the filter, the scorer with the floor)
    # against the blocking rules' every pair scored in full: nothing reaching the floor is
    # lost on the way.
    monkeypatch.setattr(sx, "_VECTOR_MIN", 0)
    profiles, freq, said = _read(generated)
    floor = sx.raw_floor(calibrated_floor)

    def kept(pairs: Any, bound: float | None) -> dict[tuple[int, int], Any]:
        found = {}
        for x, y in pairs:
            mentions = said.get((x, y), ())
            if bound is None:
                raw, reasons, against = sx.score_pair(profiles[x], profiles[y], freq, mentions)
            else:
                raw, reasons, against = sx.score_pair(
                    profiles[x], profiles[y], freq, mentions, bound
                )
            if sx.calibrated(raw) >= calibrated_floor and (reasons or against):
                found[x, y] = (raw, reasons, against)
        return found

    quick = sx.scorable(profiles, freq, said, sx._candidate_array(profiles, said), floor)
    full = kept(sorted(_reference_candidates(profiles, said)), None)
    assert full, "some pairs reach the floor"
    assert kept(quick, floor) == full


def test_block_and_window_arrays_give_the_pairs_one_by_one() -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    sizes = rng.integers(1, 9, size=40)
    member = np.concatenate(
        [np.sort(rng.choice(10_000, size=int(n), replace=False)) for n in sizes]
    ).astype(np.int64)
    starts = np.cumsum(sizes) - sizes
    expected = [
        code
        for start, size in zip(starts.tolist(), sizes.tolist(), strict=True)
        for code in sx._block_codes(member[start : start + size].tolist())
    ]
    assert sx._block_array(member, starts, sizes).tolist() == expected
    ranked = rng.permutation(50).astype(np.int64)
    for width in (1, 4, 10, 60):
        assert sorted(sx._window_array(ranked, width).tolist()) == sorted(
            sx._window_codes(ranked.tolist(), width)
        )


@pytest.mark.parametrize("held", [2, 8])
def test_sharing_parts_answers_as_the_part_sets(
    generated: Path, held: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With 2 parts held, most customers are read from their sets (more parts than held).
    import numpy as np

    monkeypatch.setattr(sx, "_PARTS_HELD", held)
    profiles, _freq, _said = _read(generated)
    ranked = sorted(profiles, key=lambda cid: sx._name_orders(profiles[cid])[0])
    codes = sorted(
        {min(x, y) << 32 | max(x, y) for i, x in enumerate(ranked) for y in ranked[i + 1 : i + 6]}
    )
    found = sx._sharing_parts(profiles, np.array(codes, dtype=np.int64)).tolist()
    expected = [
        not sx._parts(profiles[c >> 32]).isdisjoint(sx._parts(profiles[c & sx._LOW])) for c in codes
    ]
    assert found == expected
    assert any(found) and not all(found)


def test_letters_of_gives_the_letters_of_each_text(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    import numpy as np

    monkeypatch.setattr(sx, "_LETTERS_ROWS", 7)  # several chunks, some all empty
    rng = random.Random(3)
    alphabet = "abcdefghijklmnopqrstuvwxyz -'éüßøł中@"
    texts = [
        "".join(rng.choice(alphabet) for _ in range(rng.choice((0, 0, 3, 12, 40))))
        for _ in range(200)
    ]
    texts[7:14] = [""] * 7
    for some in (texts, [*texts, "nul\0inside"]):
        length = np.fromiter(map(len, some), dtype=np.int64, count=len(some))
        assert sx._letters_of(some, length).tolist() == [sx._letters(t) for t in some]


def test_scorable_leaves_out_conflicts_that_share_only_a_household(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Names that surely conflict stay under the floor with a postcode and a contact point
    both share (the household's cap), so they are left out; phone numbers that end alike
    may lift them, so those are kept and scored. A number both give (the household's
    landline) is their contact point, not digits that happen to agree: the scorer does
    not count its digits, so neither does the bound."""
    monkeypatch.setattr(sx, "_VECTOR_MIN", 0)
    household = (_profile(1, "John Smith"), _profile(2, "Mary Smith"))
    phones = (_profile(3, "John Brown"), _profile(4, "Mary Brown"))
    strangers = (_profile(5, "Peter Grant"), _profile(6, "Laura Hughes"))
    landline = (_profile(7, "Paul Jones"), _profile(8, "Ruth Jones"))
    both = (_profile(9, "Paul Evans"), _profile(10, "Ruth Evans"))
    # A mailbox of one that spells the other's name (rhughes@, Ruth Hughes) lifts no
    # conflict: the scorer weighs a spelled name only where the names agree.
    spelt = (_profile(11, "Mary Hughes"), _profile(12, "Ruth Hughes"))
    spelt[0].emails = {"rhughes@example.org"}
    for a, b in (household, phones, strangers, landline, both, spelt):
        a.postcodes = b.postcodes = {"ab12cd"}
        a.shared = b.shared = {7: "+44 20 7946 0000"}
    phones[0].phones, phones[1].phones = {"+442079460123"}, {"+441619460123"}  # (…9460123)
    for p in landline:
        p.phones = {"+442079460000"}
    # The landline, and mobiles that end alike: the scorer counts no digits once a number
    # is the same on both.
    both[0].phones = {"+442079460000", "+447700900123"}
    both[1].phones = {"+442079460000", "+447800900123"}
    pairs = [household, phones, strangers, landline, both, spelt]
    freq = sx._Frequencies.of(p for pair in pairs for p in pair)
    freq.customers = freq.named = 1_000_000
    for given in ("john", "mary", "peter", "laura", "paul", "ruth"):
        freq.given[given] = 50_000
    profiles = {p.id: p for pair in pairs for p in pair}
    floor = sx.raw_floor(0.01)
    assert sx._clash_below(freq, floor)
    kept = sx.scorable(profiles, freq, {}, [a.id << 32 | b.id for a, b in pairs], floor)
    assert kept == [(3, 4)]
    assert "phone numbers end alike (…9460123)" in sx.score_pair(*phones, freq)[1]
    assert "email rhughes@example.org spells the name Ruth Hughes" in sx.score_pair(*spelt, freq)[1]
    for a, b in (household, strangers, landline, both, spelt):  # the full scorer on those left out
        full = sx.score_pair(a, b, freq)
        assert full[2] and full[0] < floor, (a.name, b.name, full)
        assert sx.score_pair(a, b, freq, (), floor) == (0.0, [], [])


def test_share_nothing_answers_as_the_evidence_sets(generated: Path) -> None:
    """``_Evidence.share_nothing`` answers as one set of what each customer may meet the
    other with (numbers' last digits, postcodes and their slips, shared contact points,
    and local parts against the spellings of names, in both directions) would."""
    profiles, freq, said = _read(generated)
    columns, evidence = sx.prefilter_columns(profiles, freq)
    index = {cid: i for i, cid in enumerate(columns.ids)}

    def sets(cid: int) -> tuple[frozenset[str], frozenset[str]]:
        quick, shared = sx._quick(profiles[cid]), profiles[cid].shared
        common = {*quick.tails, *quick.postcodes, *(f"\0{k}" for k in shared)}
        mine = {*common, *("\1" + x for x in quick.locals), *("\2" + x for x in quick.spellings)}
        theirs = {*common, *("\1" + x for x in quick.spellings), *("\2" + x for x in quick.locals)}
        return frozenset(mine), frozenset(theirs)

    answers = {False: 0, True: 0}
    spelt = 0
    for x, y in sx._candidate_pairs(profiles, said):
        expected = sets(x)[0].isdisjoint(sets(y)[1])
        assert evidence.share_nothing(index[x], index[y]) == expected, (x, y)
        answers[expected] += 1
        qx, qy = sx._quick(profiles[x]), sx._quick(profiles[y])
        spelt += not qy.locals.isdisjoint(qx.spellings) and qx.locals.isdisjoint(qy.spellings)
    assert answers[False] and answers[True], answers
    assert spelt, "some pair is spelt only by the higher id's address"


@pytest.mark.parametrize("vector_min", [0, 10**9])
def test_weak_pairs_compared_in_runs_answer_as_all_at_once(
    generated: Path, vector_min: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebuild's helper compares the names of one half of the weak pairs while the main
    # process compares the other's (``_There.candidates``): put back together, the
    # answers are those of all the pairs at once, in the same order.
    import numpy as np

    monkeypatch.setattr(sx, "_VECTOR_MIN", vector_min)
    profiles, _freq, _said = _read(generated)
    seen, rest = sx._blocked_pairs(profiles)
    assert len(seen) and len(rest) > 100
    whole = sx._touching_weak(profiles, rest)
    assert len(whole[0]) and len(whole[1])  # some share a part, some only touch
    at_once = sx._unmentioned_candidates(profiles)
    assert all(np.array_equal(x, y) for x, y in zip((seen, *whole), at_once, strict=True))
    for cut in (0, 1, len(rest) // 3, len(rest) // 2, len(rest) - 1, len(rest)):
        first = sx._touching_weak(profiles, rest[:cut])
        second = sx._touching_weak(profiles, rest[cut:])
        for part, one, two in zip(whole, first, second, strict=True):
            together = np.concatenate((one, two))
            assert together.dtype == np.int64
            assert np.array_equal(together, part)


def test_scorable_in_shares_keeps_what_it_keeps_of_all(
    generated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each forked scorer pre-filters its own share of the candidates (``_scored``'s
    # ``sift``): the shares' pairs, in order, are those of all the candidates at once.
    monkeypatch.setattr(sx, "_VECTOR_MIN", 0)  # (a share of a few would be kept whole)
    profiles, freq, said = _read(generated)
    codes = sx._candidate_array(profiles, said)
    floor = sx.raw_floor(0.01)
    prepared = sx.prefilter_columns(profiles, freq)
    whole = sx.scorable(profiles, freq, said, codes, floor, prepared)
    assert 0 < len(whole) < len(codes)
    step = len(codes) // 7 + 1
    shares = [
        pair
        for start in range(0, len(codes), step)
        for pair in sx.scorable(profiles, freq, said, codes[start : start + step], floor, prepared)
    ]
    assert shares == whole


# Pairs (the lower id's name first, as ``score_pair`` reads them) whose names weigh little
# once the family names or the given names are found apart: an initial on either side,
# the same given name or a nickname under another surname, close spellings that several
# customers each hold (two names) or that one customer holds (a slip).
_APART = [
    ("J. Smith", "James Brown"),  # the first gives an initial: a conflict
    ("James Brown", "J. Smith"),  # the whole name first: "first names James/J"
    ("James Brown", "James Smith"),  # the same given name under another surname
    ("Jim Brown", "James Smith"),  # a nickname under another surname
    # Close spellings, too short for ``fuzz.ratio`` to join them: held by many each (two
    # names), or one of them by one customer (a slip)
    ("Ana Smith", "Ann Smith"),
    ("Anj Smith", "Ann Smith"),
    ("Ann Lei", "Ann Lee"),
    ("Ann Lea", "Ann Lee"),
    ("Anj Lea", "Ann Lee"),
    ("Marixx Lee", "Mariah Lee"),  # two slips in a long given name, one surname
    ("Mara Smith", "Mary Smith"),  # a ratio of 75: two given names held by many
    ("Ann Thompsxn", "Anna Thompson"),
    # A given name so rare that it weighs more than nothing said under another surname
    ("Zebedee Brown", "Z. Smith"),
    ("Z. Smith", "Zebedee Brown"),
    ("Zebedee Brown", "Zebedee Smith"),
    ("Zebedie Brown", "Zebedee Smith"),
]


@pytest.mark.parametrize("customers", [30, 300, 3000, 100_000])
def test_scorable_keeps_every_pair_at_a_floor_just_under_its_score(
    customers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pre-filter's bounds on what the names weigh (``scorable``) hold at the edge: a
    # pair is kept at any floor under its score, and only a pair under the floor is left
    # out, however many customers make the names common or rare.
    monkeypatch.setattr(sx, "_VECTOR_MIN", 0)
    pairs = [(_profile(2 * i + 1, x), _profile(2 * i + 2, y)) for i, (x, y) in enumerate(_APART)]
    profiles = {p.id: p for pair in pairs for p in pair}
    freq = sx._Frequencies.of(profiles.values())
    freq.customers = freq.named = customers
    held = max(customers // 50, 2)  # common names, held by a fiftieth of the customers each
    for given in ("james", "mary", "mara", "ann", "anna", "ana", "mariah"):
        freq.given[given] = held
    for family in ("smith", "brown", "thompson", "lee", "lei"):
        freq.family[family] = held
    freq.given["anj"] = freq.given["marixx"] = freq.family["lea"] = freq.family["thompsxn"] = 1
    codes = [a.id << 32 | b.id for a, b in pairs]
    left_out = 0
    for a, b in pairs:
        raw = sx.score_pair(a, b, freq)[0]
        assert raw > 0.0
        for floor in (raw * 0.999, raw * 1.5):
            kept = sx.scorable(profiles, freq, {}, codes, floor)
            if floor < raw:
                assert (a.id, b.id) in kept, (a.name, b.name, raw)
            elif (a.id, b.id) not in kept:
                left_out += 1
    assert left_out, "some pairs are left out just above their score"


def test_the_stored_features_leave_out_what_the_profiles_do(generated: Path) -> None:
    # The catch-up reads its partners' pre-filter columns from the store (feature_rows,
    # stored_prefilter): they leave out the pairs the profiles' own columns leave out,
    # but those of a customer with more than the columns hold (kept, for the scorer).
    profiles, freq, said = _read(generated)
    codes = sx._candidate_array(profiles, said)
    floor = sx.raw_floor(0.01)
    prepared = sx.prefilter_columns(profiles, freq)
    ids = prepared[0].ids
    stored = sx.stored_prefilter(ids, sx.feature_rows(prepared))
    full = sx.left_out_of(codes, *prepared, freq, said, floor)
    read = sx.left_out_of(codes, *stored, freq, said, floor)
    assert full.sum() > len(codes) // 2  # (most pairs of names alone are left out)
    assert not (read & ~full).any()  # never one the profiles keep
    many = {cid for cid, m in zip(ids, stored[1].many.tolist(), strict=True) if m}
    for code in codes[full & ~read].tolist():
        assert {code >> 32, code & sx._LOW} & many, code
    assert (full & ~read).sum() <= len(codes) // 100


def test_stored_features_are_read_back_as_written() -> None:
    plain = _profile(1, "Jane Doe")
    plain.phones = {"+447700900123", "07700900123"}
    plain.postcodes = {"sw1a1aa", "e16an"}
    odd = sx._Profile(2, "Ann Lee", sx.PersonName(("ann",), "l\x1fee"))  # (a separator:
    odd.emails = {"c2@example.org"}  # not kept, its pairs scored)
    many = _profile(3, "Mary Major")
    many.postcodes = {"a1", "b2", "c3", "d4"}
    profiles = {p.id: p for p in (plain, odd, many)}
    freq = sx._Frequencies.of(profiles.values())
    prepared = sx.prefilter_columns(profiles, freq)
    rows = sx.feature_rows(prepared)
    assert all(len(row[0]) == sx.features_dtype().itemsize for row in rows)
    names, evidence = sx.stored_prefilter([1, 2, 3], rows)
    before = prepared[0]
    both = np.array([0, 2])
    assert names.first.text[both].tolist() == before.first.text[both].tolist()
    assert names.turned.text[both].tolist() == before.turned.text[both].tolist()
    for k in (0, 2):
        assert names.joined.letters[k] == before.joined.letters[k]
        assert names.full[k] == before.full[k] and names.p_given[k] == before.p_given[k]
    assert evidence.many.tolist() == [False, True, True]
    assert evidence.postcodes == ["e16an\x1fsw1a1aa", "", ""] and not names.simple[1]
    assert sorted(v for v in evidence.phones[0].tolist() if v >= 0) == sorted(
        [sx._phone_number("+447700900123"), sx._phone_number("07700900123")]
    )
    assert evidence._slips(0) >= {"sw1a1aa", "e16an", "sw1a1a"}
    # Texts not as written (two with a separator too few and too many, which the whole
    # list's count would not tell): those customers' pairs are left to the scorer.
    bad = [
        (rows[0][0], "jane\x1fdoe\x1fjanedoe", ""),
        rows[1],
        (rows[2][0], "a\x1fb\x1fc\x1fd\x1fe", ""),
    ]
    names, evidence = sx.stored_prefilter([1, 2, 3], bad)
    assert names.simple.tolist() == [False, False, False]
    assert evidence.many.tolist() == [True, True, True]
    assert names.first.text[np.arange(3)].tolist() == ["", "", ""]
    # Numbers written apart are apart; a number that does not fit is none.
    assert sx._phone_number("+4477") != sx._phone_number("4477")
    assert sx._phone_number("007") != sx._phone_number("07")
    assert sx._phone_number("+44 77") is None
    # The same texts give the same numbers in any process (not Python's hash).
    assert sx._Codes()["jane"] == sx._Codes()["jane"] == 4201429650


def test_stored_postcodes_apart_as_their_slips_say() -> None:
    # The catch-up tells two customers' stored postcodes apart by an edit distance when
    # each gives one, by their slips (each with a character left out) otherwise: the same
    # answers, for postcodes of a few letters each, where slips meet often.
    rng = random.Random(4)

    def postcode() -> str:
        return "".join(rng.choice("ab1") for _ in range(rng.randint(1, 5)))

    texts = [
        sx._SIFT_SEPARATOR.join(sorted({postcode() for _ in range(rng.choice([1, 1, 1, 2]))}))
        for _ in range(300)
    ]
    texts += ["", "sw1a1aa", "sw1a1a", "sw1aa1a", "e16an"]
    evidence = sx._StoredEvidence({}, list(range(len(texts))), *[None] * 9, postcodes=texts)
    answers: Counter[bool] = Counter()
    for i, j in product(range(len(texts)), repeat=2):
        apart = evidence._apart(i, j)
        assert apart == evidence._slips(i).isdisjoint(evidence._slips(j)), (texts[i], texts[j])
        answers[apart] += 1
    assert answers[True] and answers[False]
