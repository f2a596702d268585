"""The CLI's lean read path answers exactly what the full path answers.

``Service.open_reading`` (app.readpath: the SQLite file read with ``sqlite3``, no
SQLAlchemy) and ``Service.open`` (SQLAlchemy and the ORM) are asked the same questions on
the same database, and their JSON must be the same text: customers with and without a
query, one customer by id, email, phone, order number and name, and searches, over a
seeded shop history in the real export formats plus the odd cases built here (unicode
names, a merged customer, notes, orders in yen and Kuwaiti dinars with a refund, a
customer waiting for an answer, a profile whose figures were never stored, no results).
A damaged file is refused the same way, and ``quick_check`` is remembered by its stamp.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app import dbfile, ingest
from app.db import open_database
from app.errors import DamagedDatabaseError, UserFacingError
from app.service import LeanService, Service
from tests.bench import corpus

MBOX = """\
From zoe@example.de Mon Jan  5 10:00:00 2026
From: =?utf-8?q?Zo=C3=AB_=C3=85ngstr=C3=B6m?= <Zoe.Angstrom@Example.de>
To: shop@bloomandbranch.example
Cc: =?utf-8?b?5p2O6Zu3?= <li.lei@example.cn>, nameless@example.org
Subject: =?utf-8?q?Pfingstrosen_=F0=9F=8C=B8_f=C3=BCr_die_Hochzeit?=
Date: Mon, 5 Jan 2026 10:00:00 +0100
Message-ID: <zoe-1@example.de>

Hallo,
Haben Sie weiße Pfingstrosen für Samstag? Bitte um Rückruf.

From li.lei@example.cn Tue Jan  6 09:00:00 2026
From: =?utf-8?b?5p2O6Zu3?= <li.lei@example.cn>
To: shop@bloomandbranch.example
Subject: =?utf-8?b?6Iqx5p2f?= order
Date: Tue, 6 Jan 2026 09:00:00 +0800
Message-ID: <li-1@example.cn>

我想订一束花 for delivery on Friday. Can you do peonies?

From nameless@example.org Wed Jan  7 09:00:00 2026
From: nameless@example.org
To: shop@bloomandbranch.example
Subject: no name here
Date: Wed, 7 Jan 2026 09:00:00 +0000
Message-ID: <nameless-1@example.org>

Just a question without a name: do you sell vases?

From dup@example.com Thu Jan  8 09:00:00 2026
From: Sam Taylor <sam.one@example.com>
To: shop@bloomandbranch.example
Subject: first Sam
Date: Thu, 8 Jan 2026 09:00:00 +0000
Message-ID: <sam-1@example.com>

Hello from the first Sam.

From dup@example.com Fri Jan  9 09:00:00 2026
From: Sam Taylor <sam.two@example.com>
To: shop@bloomandbranch.example
Subject: second Sam
Date: Fri, 9 Jan 2026 09:00:00 +0000
Message-ID: <sam-2@example.com>

Hello from the second Sam.
"""


def write_orders(path: Path) -> Path:
    """Orders in yen (no decimals) and Kuwaiti dinars (three), one of them refunded."""
    rows: list[dict[str, str]] = []
    for number, currency, total, refunded, status, items, when in (
        ("#J1", "JPY", "1500", "", "paid", [("抹茶 Matcha", "2", "500"), ("茶碗", "1", "500")],
         "2026-02-01 09:15:00 +0900"),
        ("#K1", "KWD", "12.345", "12.345", "refunded", [("Rose oil", "1", "12.345")],
         "2026-02-02 10:00:00 +0300"),
        ("#K2", "KWD", "3.500", "", "paid", [("Vase", "1", "3.500")],
         "2026-02-03 10:00:00 +0300"),
    ):  # fmt: skip
        for k, (name, quantity, price) in enumerate(items):
            row = {
                "Name": number,
                "Created at": when,
                "Lineitem quantity": quantity,
                "Lineitem name": name,
                "Lineitem price": price,
                "Lineitem sku": f"SKU-{number}-{k}",
            }
            if k == 0:
                row.update(
                    {
                        "Email": "Zoe.Angstrom@Example.de",
                        "Financial Status": status,
                        "Fulfillment Status": "fulfilled" if status == "paid" else "",
                        "Currency": currency,
                        "Subtotal": total,
                        "Shipping": "0",
                        "Taxes": "0",
                        "Total": total,
                        "Billing Name": "Zoë Ångström",
                        "Billing Phone": "+49 221 1234567",
                        "Refunded Amount": refunded,
                    }
                )
            rows.append(row)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, corpus.SHOPIFY_HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shop database: a seeded history, the odd cases above, a merge and notes."""
    folder = tmp_path_factory.mktemp("shop")
    exports = folder / "exports"
    corpus.generate(exports, 600, seed=5, heavy=120)
    (exports / "odd.mbox").write_text(MBOX, encoding="utf-8")
    write_orders(exports / "orders_odd.csv")
    path = folder / "shop.db"
    svc = Service.open(path)
    try:
        svc.configure("owner_emails", corpus.SHOP_EMAIL)
        reports = svc.import_paths([exports])
        assert sum(r.added for r in reports) > 500, [r.as_json() for r in reports]
        one = svc.resolve_customer("sam.one@example.com")
        two = svc.resolve_customer("sam.two@example.com")
        svc.merge(one, [two], reason="the same Sam")
        zoe = svc.resolve_customer("zoe.angstrom@example.de")
        svc.add_note(str(zoe), "Prefers 🌸 peonies; ruft gern zurück", pinned=True)
        svc.add_note(str(zoe), "Second note\nwith two lines")
        svc.add_note(str(one), "Merged from two addresses")
    finally:
        svc.close()
    return path


def as_text(value: Any) -> str:
    """The JSON as the CLI writes it (key order included), waiting time left out."""
    text = json.dumps(value, ensure_ascii=False, indent=2)
    return re.sub(r'"waited_seconds": \d+', '"waited_seconds": 0', text)


def answer(call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """The JSON of ``call(*args, **kwargs)``, or the error it raised (type and message)."""
    try:
        result = call(*args, **kwargs)
    except UserFacingError as exc:
        return f"{type(exc).__name__}: {exc}"
    if isinstance(result, list):
        return as_text([r.as_json() for r in result])
    return as_text(
        {
            "customer": result.customer.as_json(),
            "events": [e.as_json() for e in result.events],
            "notes": [n.as_json() for n in result.notes],
            "brief": result.brief.as_json(),
        }
    )


@pytest.fixture
def both(shop: Path) -> Iterator[tuple[Service, Service]]:
    full = Service.open(shop)
    lean = Service.open_reading(shop)
    assert isinstance(lean, LeanService)
    try:
        yield full, lean
    finally:
        full.close()
        lean.close()


CUSTOMER_QUERIES = [
    "",
    "jane",
    "Zoë",
    "zoe.angstrom@example.de",
    "ZOE.ANGSTROM@EXAMPLE.DE",
    "李",
    "+49 221 1234567",
    "0221 1234567",
    "07700 9",
    "#K1",
    "K2",
    "10001",
    "sam",
    "nobody-at-all",
    "zz",
    "%",
    '"',
]


@pytest.mark.parametrize("query", CUSTOMER_QUERIES)
def test_customers_are_the_same(both: tuple[Service, Service], query: str) -> None:
    full, lean = both
    assert answer(lean.all_customers, query) == answer(full.all_customers, query)


def test_every_customer_opens_the_same(both: tuple[Service, Service], shop: Path) -> None:
    full, lean = both
    con = sqlite3.connect(shop)
    ids = [r[0] for r in con.execute("SELECT id FROM customer ORDER BY id")]
    con.close()
    assert len(ids) > 10
    for cid in [*ids, max(ids) + 1]:
        assert answer(lean.open_customer, str(cid)) == answer(full.open_customer, str(cid)), cid


@pytest.mark.parametrize(
    "ref",
    [
        "zoe.angstrom@example.de",
        "+49 221 1234567",
        "#K2",
        "K2",
        "Zoë Ångström",
        "zoë ångström",
        "sam.two@example.com",  # merged away: its survivor
        "Sam Taylor",
        "nameless@example.org",  # no name: the address is the name
        "li.lei@example.cn",
        "nobody",
        "",
    ],
)
def test_one_customer_is_the_same(both: tuple[Service, Service], ref: str) -> None:
    full, lean = both
    assert answer(lean.open_customer, ref) == answer(full.open_customer, ref)


SEARCHES = [
    "peonies",
    "Pfingstrosen",
    "rückruf",
    "我想订一束花",
    '"white peonies"',
    "del*",
    "order -refund",
    "-order",
    "from:jane",
    'from:"Zoë"',
    "channel:email vases",
    "channel:chat",
    "channel:whatsapp",
    "channel:nosuch",
    "order:K1",
    "order:10003",
    "1234567",
    "after:2026-01-01 before:2026-02-01",
    "after:nonsense",
    "zzzzqqqq",
    '"unclosed',
]


@pytest.mark.parametrize("query", SEARCHES)
def test_search_is_the_same(both: tuple[Service, Service], query: str) -> None:
    full, lean = both
    for limit in (50, 3):
        assert answer(lean.search, query, limit=limit) == answer(full.search, query, limit=limit), (
            limit
        )


def test_the_lean_path_never_opened_the_full_one(shop: Path) -> None:
    lean = Service.open_reading(shop)
    assert isinstance(lean, LeanService)
    try:
        lean.all_customers("jane")
        lean.open_customer("zoe.angstrom@example.de")
        lean.search("peonies")
        assert lean._full is None  # everything was read through the reader
    finally:
        lean.close()


def test_figures_never_stored_are_counted_by_the_full_path(shop: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    source, target = sqlite3.connect(shop), sqlite3.connect(copy)
    source.backup(target)
    source.close()
    zoe = target.execute(
        "SELECT ci.customer_id FROM customer_identity ci JOIN identity i ON i.id = ci.identity_id"
        " WHERE i.value = 'zoe.angstrom@example.de'"
    ).fetchone()[0]
    target.execute("UPDATE customer SET profile = '{}' WHERE id = ?", (zoe,))
    target.commit()
    target.close()
    full, lean = Service.open(copy), Service.open_reading(copy)
    try:
        assert answer(lean.open_customer, str(zoe)) == answer(full.open_customer, str(zoe))
        assert answer(lean.all_customers, "zoe") == answer(full.all_customers, "zoe")
        assert isinstance(lean, LeanService) and lean._full is not None  # it fell back
    finally:
        full.close()
        lean.close()


def test_a_server_url_or_a_new_file_takes_the_full_path(tmp_path: Path) -> None:
    new = Service.open_reading(tmp_path / "new.db")
    try:
        assert not isinstance(new, LeanService)
        assert new.all_customers() == []
    finally:
        new.close()


def test_an_old_schema_is_upgraded_by_the_full_path(shop: Path, tmp_path: Path) -> None:
    copy = tmp_path / "old.db"
    source, target = sqlite3.connect(shop), sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.execute("UPDATE alembic_version SET version_num = 'not-the-head'")
    target.commit()
    target.close()
    with pytest.raises(UserFacingError, match="newer version of Threadline"):
        Service.open_reading(copy)


# --- damaged files and the stamp of quick_check ------------------------------------------


def small_database(tmp_path: Path) -> Path:
    path = tmp_path / "small.db"
    mbox = tmp_path / "m.mbox"
    mbox.write_text(MBOX, encoding="utf-8")
    db = open_database(path)
    try:
        ingest.import_paths(db, [mbox])
    finally:
        db.dispose()
    con = sqlite3.connect(path)
    con.execute("pragma wal_checkpoint(truncate)")
    con.close()
    return path


def flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for page in range(1, len(data) // 4096):
        data[page * 4096 + 3] ^= 0xFF  # the b-tree page header: its cell count
        data[page * 4096 + 700] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_damaged_file_is_refused_by_the_lean_path_as_by_the_full_one(tmp_path: Path) -> None:
    path = small_database(tmp_path)
    flip_bytes(path)
    with pytest.raises(DamagedDatabaseError) as lean:
        Service.open_reading(path)
    with pytest.raises(DamagedDatabaseError) as full:
        Service.open(path)
    assert str(lean.value) == str(full.value)
    assert "is damaged" in str(lean.value)


def test_quick_check_is_remembered_until_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = small_database(tmp_path)
    monkeypatch.setattr(dbfile, "_SETTLE", 0.0)  # the file counts as settled at once
    checked: list[Path] = []
    real = dbfile.quick_check

    def counted(file: Path) -> str | None:
        checked.append(file)
        return real(file)

    monkeypatch.setattr(dbfile, "quick_check", counted)
    dbfile.check_file(path)
    dbfile.check_file(path)
    assert len(checked) == 1  # the second open trusted the stamp
    stamp = path.with_name(f".{path.name}.checked")
    assert stamp.exists() and stamp.stat().st_mode & 0o077 == 0

    con = sqlite3.connect(path)  # a write (through the WAL): checked again
    con.execute("INSERT INTO setting (key, value) VALUES ('currency', 'EUR')")
    con.commit()
    dbfile.check_file(path)
    assert len(checked) == 2
    con.close()

    flip_bytes(path)  # damaged after a stamp was written: found all the same
    with pytest.raises(DamagedDatabaseError, match="is damaged"):
        dbfile.check_file(path)
    assert not stamp.exists()
    with pytest.raises(DamagedDatabaseError, match="is damaged"):
        dbfile.check_file(path)
    assert len(checked) == 4


def test_a_file_changed_just_before_its_check_gets_no_stamp(tmp_path: Path) -> None:
    path = small_database(tmp_path)  # written a moment ago: within the settling time
    dbfile.check_file(path)
    assert not path.with_name(f".{path.name}.checked").exists()
