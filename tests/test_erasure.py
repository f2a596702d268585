"""Erasure that stays erased: ``threadline forget`` through the CLI, then the database file's
bytes (main file, WAL, search index) searched for everything that named the customer, a
re-import that brings nothing of them back, and the suppression list that can be lifted."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli_e2e import CLI, cli  # noqa: F401

SECRETS = (
    "jane.forget@example.com",
    "Jane Forget",
    "7700900777",
    "ZEBRAQUOKKA",
    "XYLOPHONIC",
    "PINEAPPLEWORD",
    "Walrus",
    "Orchard Lane",
)


def _mail(path: Path) -> None:
    messages = [
        (
            "Jane Forget <jane.forget@example.com>",
            "Bloom & Branch <hello@bloomandbranch.co.uk>",
            "",
            "<f1@example.com>",
            "Mon, 02 Mar 2026 09:15:04 +0000",
            "My order",
            "The ZEBRAQUOKKA bouquet arrived, thank you!",
        ),
        (
            "Bloom & Branch <hello@bloomandbranch.co.uk>",
            "Jane Forget <jane.forget@example.com>",
            "",
            "<f2@example.com>",
            "Mon, 02 Mar 2026 10:15:04 +0000",
            "Re: My order",
            "So glad you like the bouquet.",
        ),
        (
            "Bob Keeper <bob.keeper@example.com>",
            "Bloom & Branch <hello@bloomandbranch.co.uk>",
            "Jane Forget <jane.forget@example.com>",
            "<f3@example.com>",
            "Tue, 03 Mar 2026 11:00:00 +0000",
            "Flowers for the party",
            "Hello team, we need flowers for the MARIGOLDPARTY on Friday.",
        ),
    ]
    blocks = []
    for sender, to, cc, mid, date, subject, body in messages:
        head = f"From: {sender}\nTo: {to}\n" + (f"Cc: {cc}\n" if cc else "")
        blocks.append(
            f"From x@y Mon Mar 02 09:15:00 2026\n{head}Message-ID: {mid}\nDate: {date}\n"
            f"Subject: {subject}\nContent-Type: text/plain; charset=utf-8\n\n{body}\n\n"
        )
    path.write_text("".join(blocks), encoding="utf-8")


def _chat(folder: Path) -> Path:
    path = folder / "WhatsApp Chat with +44 7700 900777.txt"
    path.write_text(
        "10/03/2026, 08:41 - +44 7700 900777: Hi, this is Jane, XYLOPHONIC question\n"
        "10/03/2026, 08:50 - Bloom & Branch: Hello Jane!\n",
        encoding="utf-8",
    )
    return path


def _orders(path: Path) -> None:
    path.write_text(
        "Name,Email,Financial Status,Currency,Total,Created at,Lineitem quantity,"
        "Lineitem name,Lineitem price,Billing Name,Billing Address1,Billing City,Billing Zip,"
        "Billing Phone\n"
        "#5501,jane.forget@example.com,paid,GBP,30.00,2026-03-01 18:06:41 +0000,1,"
        "Purple Walrus Vase,30.00,Jane Forget,14 Orchard Lane,Bristol,BS6 5AB,+44 7700 900777\n"
        "#5502,bob.keeper@example.com,paid,GBP,12.00,2026-03-02 18:06:41 +0000,1,"
        "Tulips,12.00,Bob Keeper,1 High Street,Bath,BA1 1AA,\n",
        encoding="utf-8",
    )


def _database_bytes(cli: CLI) -> bytes:  # noqa: F811
    db = Path(cli.db)  # a SQLite file here
    files = [p for p in db.parent.glob(db.name + "*") if p.is_file()]
    return b"".join(p.read_bytes() for p in files)


@pytest.mark.slow
def test_forget_erases_every_byte_and_keeps_them_out(cli: CLI, tmp_path: Path) -> None:  # noqa: F811
    mbox, orders = tmp_path / "mail.mbox", tmp_path / "orders_export.csv"
    _mail(mbox)
    _orders(orders)
    files = [str(mbox), str(_chat(tmp_path)), str(orders)]
    cli.json("import", *files)
    jane = next(c for c in cli.json("customers") if "jane.forget@example.com" in c["emails"])
    assert "+447700900777" in jane["phones"]  # the order gave both: one customer
    assert cli.run("note", str(jane["id"]), "Jane likes PINEAPPLEWORD").returncode == 0
    made = cli.json("backup")
    backup = Path(made["backup"])
    assert any(s.encode() in _database_bytes(cli) for s in SECRETS)

    done = cli.run("forget", "jane.forget@example.com", "--yes")
    assert done.returncode == 0, done.stderr
    assert "forgot customer" in done.stdout
    assert str(backup) in done.stderr and "still holds" in done.stderr

    customers = cli.json("customers")
    assert all("jane.forget@example.com" not in c["emails"] for c in customers)
    bob = next(c for c in customers if "bob.keeper@example.com" in c["emails"])
    bob_events = cli.json("show", str(bob["id"]))["events"]
    party = next(e for e in bob_events if "MARIGOLDPARTY" in e["text"])
    assert party["title"] == "Flowers for the party"
    assert cli.json("search", "MARIGOLDPARTY")
    for word in ("ZEBRAQUOKKA", "XYLOPHONIC", "PINEAPPLEWORD", "Walrus"):
        assert cli.json("search", word) == []
    stored = _database_bytes(cli)
    for secret in SECRETS:
        assert secret.encode() not in stored, secret
        assert secret.lower().encode() not in stored.lower(), secret
    changes = cli.json("changes")
    assert any(c["action"] == "erasure" for c in changes)

    # A later import of the same files brings nothing of them back.
    again = cli.json("import", *files)
    assert sum(f.get("suppressed", 0) for f in again["files"]) >= 4
    assert all("jane.forget@example.com" not in c["emails"] for c in cli.json("customers"))
    stored = _database_bytes(cli)
    assert b"ZEBRAQUOKKA" not in stored and b"jane.forget" not in stored
    human = cli.run("import", *files)
    assert "held back (forgotten customers)" in human.stdout

    listed = cli.json("suppressions")
    assert len(listed) >= 2 and {r["kind"] for r in listed} >= {"email", "phone"}
    assert all("jane" not in str(r).lower() for r in listed)
    lifted = cli.json("suppressions", "--erasure", str(listed[0]["erasure"]))
    assert lifted["lifted"] == len(listed)
    cli.json("import", *files)
    assert any("jane.forget@example.com" in c["emails"] for c in cli.json("customers"))


def test_forget_asks_first(cli: CLI, tmp_path: Path) -> None:  # noqa: F811
    orders = tmp_path / "orders_export.csv"
    _orders(orders)
    cli.json("import", str(orders))
    done = cli.run("forget", "jane.forget@example.com")
    assert done.returncode != 0 and "--yes" in done.stderr and "1 events" in done.stderr
    assert any("jane.forget@example.com" in c["emails"] for c in cli.json("customers"))
