"""Same features, same answers: the service on a SQLite file and on a PostgreSQL server.

``store`` (tests/conftest.py) runs each test here on both stores; the comparison test runs
one scenario of real files (import, customers, open, notes, suggestions, merge, split,
undo, export, search) on both and asserts the answers are the same. The PostgreSQL cases
are skipped, with the reason, where the server binaries are not installed.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app import dialect, queries
from app.db import Database
from app.ingest import import_items
from app.records import EventRecord, OrderInfo, OrderLine, Participant
from app.service import Service

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
FILES = (
    *sorted(p for p in (ROOT / "resources" / "demo").iterdir() if p.is_file()),
    FIXTURES / "email" / "shop.mbox",
    FIXTURES / "email" / "shift_jis_8bit_body_docomo.eml",
    FIXTURES / "whatsapp" / "WhatsApp Chat with Alice Smith.txt",
    FIXTURES / "orders" / "shopify_orders_export_redacted.csv",
)
# Words, phrases, prefixes, exclusions, fields and fragments; ranked ones compared as sets.
SEARCHES = (
    "order",
    "deliver*",
    '"thank you"',
    "flowers -wedding",
    "channel:order",
    "channel:chat after:2020-01-01",
    "from:jane",
    "900123",
    "order:10",
    "peony",
    "birthday",
    "zzzz",
)
_MOMENTS = {"created_at", "updated_at", "at", "exported_at", "generated"}


def _stable(value: Any) -> Any:
    """JSON without the moments of this run (when a note was written, an export made)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in _MOMENTS}
    if isinstance(value, list | tuple):
        return [_stable(v) for v in value]
    return value


def scenario(svc: Service, tmp: Path) -> dict[str, Any]:
    """Everything a shop does on a first day, as JSON answers."""
    out: dict[str, Any] = {}
    svc.configure_many({"region": "GB", "timezone": "Europe/London"})
    reports = svc.import_paths(list(FILES), owner=[("owner_emails", "hello@bloomandbranch.co.uk")])
    out["import"] = [(Path(r.path).name, r.status, r.added, r.duplicates) for r in reports]
    again = svc.import_paths(list(FILES))
    out["again"] = [(r.status, r.added) for r in again]
    out["customers"] = [c.as_json() for c in svc.customers(limit=500)]
    total, _more, page = svc.customer_page("", 20)
    out["page"] = (total, [c.id for c in page])
    for typed in ("j", "ja", "jan", "@gm", "0090", "#10", "smith"):
        out[f"lookup {typed}"] = sorted(c.id for c in svc.all_customers(typed))
    best = max(out["customers"], key=lambda c: (c["event_count"], -c["id"]))
    view = svc.open_customer(str(best["id"]))
    out["open"] = {
        "customer": view.customer.as_json(),
        "events": [e.as_json() for e in view.events],
        "brief": list(view.brief.lines),
    }
    svc.add_note(best["id"], "Prefers ribbons, £12 budget — ask about Tuesday")
    svc.add_note(best["id"], "Pinned: allergic to lilies", pinned=True)
    out["notes"] = [n.as_json() for n in svc.notes(best["id"])]
    suggested = svc.suggestions()
    out["suggestions"] = [s.as_json() for s in suggested]
    if suggested:
        first = suggested[0]
        (change,) = svc.merge(first.customer_a, [first.customer_b], reason="test")
        out["merged"] = svc.customer(first.customer_b).as_json()
        merged = svc.customer(first.customer_a)
        moved = [i.id for i in merged.identities][-1:]
        target, split_change, row = svc.split(merged.id, moved)
        out["split"] = (target, row.as_json())
        out["undo split"] = svc.undo(split_change).action
        out["after undo"] = svc.customer(first.customer_a).as_json()
        out["history"] = [(c.action, c.undone) for c in svc.history()]
        assert change
    out["customers after"] = [c.as_json() for c in svc.customers(limit=500)]
    exported = tmp / f"export-{os.getpid()}.json"
    svc.export_data(best["id"], exported)
    out["export"] = _stable(json.loads(exported.read_text(encoding="utf-8")))
    for query in SEARCHES:
        hits = [h.as_json() for h in svc.search(query, limit=200)]
        for h in hits:
            assert h["snippet"] or query.startswith(("channel:", "order:")), (query, h)
            del h["snippet"]  # FTS5's snippet and ts_headline choose their words differently
        words = any(not w.startswith(("channel:", "after:", "order:")) for w in query.split())
        out[f"search {query}"] = sorted(hits, key=lambda h: h["event_id"]) if words else hits
    return _stable(out)


def _without_authors(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_authors(v) for k, v in value.items() if k != "author"}
    if isinstance(value, list):
        return [_without_authors(v) for v in value]
    return value


@pytest.mark.slow
def test_same_answers_on_both_stores(tmp_path: Path, pg_url: str) -> None:
    answers = []
    for where in (str(tmp_path / "local.db"), pg_url):
        svc = Service.open(where)
        try:
            answers.append(scenario(svc, tmp_path))
        finally:
            svc.close()
    # Who wrote a note is each store's own answer (the login role on a server, the "Your
    # name" setting on a file: app.authors), so it is compared apart from the rest.
    assert all(n["author"] == "threadline_admin" for n in answers[1]["notes"])
    local, server = (_without_authors(a) for a in answers)
    assert local["import"] and all(status == "done" for _n, status, *_ in local["import"])
    assert all(added == 0 for _s, added in local["again"])
    assert local["suggestions"] and local["notes"][0]["pinned"]
    assert local["search order"] and local["lookup ja"]
    for key in local:
        if server[key] != local[key]:  # show where they part
            import difflib

            a = json.dumps(local[key], indent=1, sort_keys=True, default=str).splitlines()
            b = json.dumps(server[key], indent=1, sort_keys=True, default=str).splitlines()
            print("\n".join(list(difflib.unified_diff(a, b, lineterm=""))[:80]))
        assert server[key] == local[key], key
    assert server == local


# --- what each store must do itself -----------------------------------------------------


def _mail(key: str, title: str, body: str, *, name: str = "Ann Lee") -> EventRecord:
    return EventRecord(
        channel="email",
        source="email",
        external_id=f"<{key}@x>",
        occurred_at=datetime(2026, 3, int(key[-1]) + 1, 10, 0, tzinfo=UTC),
        title=title,
        text=body,
        participants=(Participant("from", name, email=f"{key}@example.com"),),
    )


def _order(number: str, day: int) -> EventRecord:
    return EventRecord(
        channel="order",
        source="shopify",
        external_id=number,
        occurred_at=datetime(2026, 3, day, 9, 0, tzinfo=UTC),
        title=f"Order {number}",
        text="1 × Tulips",
        participants=(Participant("buyer", "Jane Doe", email="jane@example.com"),),
        order=OrderInfo(
            number=number,
            currency="GBP",
            total=Decimal("10.00"),
            lines=(OrderLine("Tulips", 1, Decimal("10.00")),),
        ),
    )


def _titles(db: Database, query: str) -> list[str]:
    with db.session() as s:
        return sorted(h.title for h in queries.search(s, query))


def test_words_as_the_full_text_index_reads_them(store: Database) -> None:
    """Accents, capitals, non-Latin words and addresses are found alike on both stores."""
    records = [
        _mail("a1", "Rendez-vous à l'École", "Élodie écrit: merci beaucoup, ÇA VA"),
        _mail("a2", "Заказ", "Привет, где мой заказ? Straße", name="Пётр"),
        _mail("a3", "Lunch", "mail jane.doe@gmail.com or see https://shop.example/x_y"),
        _mail("a4", "Next", "Tuesday"),  # "next tuesday" spans the title and the text
    ]
    import_items(store, lambda: records, label="test", format="test")
    assert _titles(store, "ecole") == _titles(store, "ÉCOLE") == ["Rendez-vous à l'École"]
    assert _titles(store, "elod") == ["Rendez-vous à l'École"]
    assert _titles(store, "заказ") == _titles(store, "ЗАКАЗ") == ["Заказ"]
    assert _titles(store, "пётр") == ["Заказ"]  # who wrote, in any case
    assert _titles(store, "straße") == ["Заказ"]
    assert _titles(store, "gmail") == _titles(store, "doe") == ["Lunch"]
    assert _titles(store, "x_y") == ["Lunch"]  # "_" parts words, as in FTS5
    assert _titles(store, '"next tuesday"') == []
    assert _titles(store, "next tuesday") == ["Next"]
    with store.session() as s:
        (hit,) = queries.search(s, "merci")
        assert f"{queries.HL_START}merci{queries.HL_END}" in hit.snippet


def test_orders_after_bulk_inserted_events_get_fresh_ids(store: Database) -> None:
    """Events written in bulk with their ids given never take an id a later order needs.

    On a server the ids come from the event sequence: before, an order imported after a
    batch of messages was given an id the batch had used, and those items were lost.
    """
    import_items(
        store, lambda: [_mail(f"b{i}", "Hello", "hi") for i in range(3)], label="m", format="t"
    )
    import_items(
        store, lambda: [_order("#501", 20), _mail("c5", "More", "text")], label="o", format="t"
    )
    import_items(store, lambda: [_order("#502", 21)], label="o2", format="t")
    with store.session() as s:
        assert s.execute(text("SELECT count(*) FROM event")).scalar() == 6
    assert _titles(store, "tulips") == ["Order #501", "Order #502"]


def test_forgetting_a_customer_takes_their_words_out_of_the_index(store: Database) -> None:
    from app import erasure

    records = [_mail("d1", "Secret plan", "periwinkle", name="Zed Quill"), _order("#777", 3)]
    import_items(store, lambda: records, label="test", format="test")
    with store.session() as s:
        zed = queries.resolve_customer(s, "d1@example.com")
    erasure.forget(store, zed)
    assert _titles(store, "periwinkle") == []
    assert _titles(store, "tulips") == ["Order #777"]
    with store.session() as s:
        table = "event_fts" if dialect.for_bind(s).name == "sqlite" else "event_search"
        assert s.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 1


def test_timeline_filter_on_both_stores(store: Database) -> None:
    records = [_order("#601", 4), _mail("e1", "Hello", "peonies please")]
    import_items(store, lambda: records, label="test", format="test")
    with store.session() as s:
        jane = queries.resolve_customer(s, "jane@example.com")
        assert [e.title for e in queries.timeline(s, jane, query="tul")] == ["Order #601"]
        assert queries.timeline_count(s, jane, query="tulips order") == 1
        assert queries.timeline_count(s, jane, query="peonies") == 0


def _fixture_files() -> list[Path]:
    """Every real-format sample under tests/fixtures (mail, chats, orders; the broken mails
    too, but not the Python library's mail corpus), and the export folders as the user
    picks them."""
    folders = [
        FIXTURES / "chat" / "slack_export",
        FIXTURES / "whatsapp" / "WhatsApp Chat - Carol",
        FIXTURES / "chat" / "messages",
    ]
    left_out = [*folders, FIXTURES / "email" / "stdlib_corpus"]
    files = [
        p
        for p in sorted(FIXTURES.rglob("*"))
        if p.is_file() and p.name != "README.md" and not any(f in p.parents for f in left_out)
    ]
    return [*files, *folders]


def _imported(svc: Service) -> dict[str, Any]:
    svc.configure_many({"region": "GB", "timezone": "Europe/London"})
    out: dict[str, Any] = {}
    for report in svc.import_paths(_fixture_files()):
        shown = report.as_json()
        shown["path"] = str(Path(report.path).relative_to(FIXTURES))
        out[f"import {shown['path']}"] = _stable(shown)
    out["problems"] = [(where, why) for _path, where, why, _at in svc.problems()]
    for customer in svc.customers(limit=1000):
        view = svc.open_customer(str(customer.id))
        out[f"customer {customer.id}"] = {
            "customer": customer.as_json(),
            "events": [e.as_json() for e in view.events],
        }
    for query in ("order", "thank*", "zendesk", "refund", "channel:chat", "こんにちは"):
        hits = [h.as_json() for h in svc.search(query, limit=500)]
        out[f"search {query}"] = sorted(
            ({k: v for k, v in h.items() if k != "snippet"} for h in hits),
            key=lambda h: h["event_id"],
        )
    return out


@pytest.mark.slow
def test_the_sample_files_import_alike_on_both_stores(tmp_path: Path, pg_url: str) -> None:
    """Every sample export (odd encodings, NUL bytes, broken MIME, every order format) gives
    the same reports, problems, customers, timelines and hits on a file and on a server."""
    answers = []
    for where in (str(tmp_path / "local.db"), pg_url):
        svc = Service.open(where)
        try:
            answers.append(_imported(svc))
        finally:
            svc.close()
    local, server = answers
    assert sum(v["added"] for k, v in local.items() if k.startswith("import ")) > 100
    assert local["problems"]
    for key in local:
        assert server.get(key) == local[key], key
    assert server == local
