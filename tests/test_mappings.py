"""Column mappings for generic CSVs: given once, remembered per header set."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import mappings, queries
from app.db import Database
from app.errors import FormatError
from app.ingest import import_file, preview_file
from connectors import registry

ODD_ORDERS = "Ref;When;Who;Mail;Amount;Cur\n{rows}"


def _orders(path: Path, rows: list[str]) -> Path:
    path.write_text(ODD_ORDERS.format(rows="\n".join(rows) + "\n"), encoding="utf-8")
    return path


def test_specs_and_headers(tmp_path: Path) -> None:
    spec = registry.mapping_spec("orders_csv")
    assert spec is not None and "number" in spec.required
    assert registry.mapping_spec("shopify") is None
    chat = registry.mapping_spec("chat_csv")
    assert chat is not None and chat.guess(["Created at", "Author", "Message"]) == {
        "time": "Created at",
        "author": "Author",
        "text": "Message",
    }
    f = _orders(tmp_path / "a.csv", ["A-1;2026-03-01 10:00;Kim Lee;kim@example.com;12.50;EUR"])
    assert registry.read_headers(f) == ["Ref", "When", "Who", "Mail", "Amount", "Cur"]


def test_a_mapping_is_remembered_for_the_same_headers(db: Database, tmp_path: Path) -> None:
    first = _orders(
        tmp_path / "march.csv", ["A-1;2026-03-01 10:00;Kim Lee;kim@example.com;12.50;EUR"]
    )
    second = _orders(
        tmp_path / "april.csv", ["A-2;2026-04-02 11:00;Kim Lee;kim@example.com;8.00;EUR"]
    )
    with pytest.raises(FormatError):
        import_file(db, first)  # nobody can tell which column is which
    mapping = {
        "number": "Ref",
        "date": "When",
        "name": "Who",
        "email": "Mail",
        "total": "Amount",
        "currency": "Cur",
    }
    report = import_file(db, first, format="orders_csv", column_map=mapping)
    assert report.added == 1
    with db.session() as s:
        assert mappings.suggest(s, "orders_csv", registry.read_headers(second)) == mapping
    # The next export with the same columns needs neither --format nor --map.
    again = import_file(db, second)
    assert (again.format, again.added) == ("orders_csv", 1)
    assert preview_file(db, second).records[0].order is not None
    with db.session() as s:
        kim = queries.resolve_customer(s, "kim@example.com")
        assert queries.customer(s, kim).orders.count == 2
