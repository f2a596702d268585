"""The scorer's shortcuts give what the full scorer gives: the floor's bound drops only
pairs that score under it, and the quick answer of ``_touching`` is ``_names_touch``'s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
