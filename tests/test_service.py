"""The service facade on a temporary database: import, search, open, notes, merge/undo, settings."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import NotFoundError, UserFacingError
from app.service import Service

ROOT = Path(__file__).resolve().parent.parent


def _message(sender: str, to: str, subject: str, body: str, day: int) -> str:
    return (
        f"From {sender.split('<')[-1].rstrip('>')} Mon Mar  {day} 10:00:00 2026\n"
        f"From: {sender}\n"
        f"To: {to}\n"
        f"Subject: {subject}\n"
        f"Date: Mon, {day} Mar 2026 10:00:00 +0000\n"
        f"Message-ID: <{subject.replace(' ', '-')}-{day}@example.com>\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        f"{body}\n"
        "\n"
    )


@pytest.fixture
def mailbox(tmp_path: Path) -> Path:
    path = tmp_path / "shop.mbox"
    path.write_text(
        _message("Jane Doe <jane@example.com>", "shop@example.com", "Invoice question", "Hi", 2)
        + _message("Shop <shop@example.com>", "jane@example.com", "Re invoice", "Sure thing", 3)
        + _message("Jane Doe <jane@example.com>", "shop@example.com", "Thanks", "Great", 4)
        + _message("J Doe <jd@example.org>", "shop@example.com", "Order 77", "Where is it", 5),
        encoding="utf-8",
    )
    return path


@pytest.fixture
def service(store_url: str) -> Iterator[Service]:
    """The service on a SQLite file and on a PostgreSQL server (tests/conftest.py)."""
    svc = Service.open(store_url)
    svc.configure_many({"region": "GB", "timezone": "Europe/London"})
    yield svc
    svc.close()


def test_import_search_open_note(service: Service, mailbox: Path) -> None:
    seen: list[object] = []
    reports = service.import_paths(
        [mailbox], owner=[("owner_emails", "shop@example.com")], progress=seen.append
    )
    assert [(r.status, r.added, r.duplicates) for r in reports] == [("done", 4, 0)]
    assert seen, "progress was reported"
    # The owner's address was saved and applied before the import: not a customer.
    assert service.setting("owner_emails") == "shop@example.com"
    names = {c.best_identity for c in service.all_customers()}
    assert names == {"jane@example.com", "jd@example.org"}

    hits = service.search("invoice")
    assert hits and all(h.customer_name == "Jane Doe" for h in hits)

    note = service.add_note("jane@example.com", "prefers email", pinned=True)
    view = service.open_customer("jane@example.com")
    assert view.customer.name == "Jane Doe"
    assert len(view.events) == 3
    assert {e.direction for e in view.events} == {"inbound", "outbound"}
    assert [n.id for n in view.notes] == [note.id]
    assert service.notes(view.customer.id)[0].pinned

    # Importing the same file again adds nothing.
    again = service.import_paths([mailbox])
    assert [(r.added, r.duplicates) for r in again] == [(0, 4)]


def test_merge_then_undo(service: Service, mailbox: Path) -> None:
    service.import_paths([mailbox], owner=[("owner_emails", "shop@example.com")])
    jane = service.resolve_customer("jane@example.com")
    other = service.resolve_customer("jd@example.org")
    [change] = service.merge(jane, [other], reason="same person")
    merged = service.customer(jane)
    assert set(merged.emails) == {"jane@example.com", "jd@example.org"}
    assert service.customer(other).id == jane  # a merged customer shows its survivor
    assert service.history(limit=5)[0].id == change

    undone = service.undo(change)
    assert (undone.id, undone.undone) == (change, True)
    assert service.customer(other).id == other
    assert set(service.customer(jane).emails) == {"jane@example.com"}

    service.reject(jane, other)
    assert all({s.customer_a, s.customer_b} != {jane, other} for s in service.suggestions())


def test_notes_and_their_authors(service: Service, mailbox: Path) -> None:
    """Add, edit, pin and delete notes; the author is the "Your name" setting on a file and
    the signed-in role on a server, kept through edits, a merge and its undo."""
    service.import_paths([mailbox], owner=[("owner_emails", "shop@example.com")])
    on_server = service.url.startswith("postgresql")
    if not on_server:
        service.configure("user_name", "Priya")
    me = "threadline_admin" if on_server else "Priya"
    jane = service.resolve_customer("jane@example.com")
    jd = service.resolve_customer("jd@example.org")
    first = service.add_note("jane@example.com", "Prefers email — £12 budget")
    second = service.add_note(jane, "  Allergic to lilies  ", pinned=True)
    other = service.add_note(jd, "Asked about order 77")
    assert (first.author, second.author, other.author) == (me, me, me)
    assert second.body == "Allergic to lilies"
    assert [n.id for n in service.notes(jane)] == [second.id, first.id]  # pinned first
    edited = service.edit_note(first.id, "Prefers email")
    assert (edited.body, edited.author) == ("Prefers email", me)
    assert service.set_pinned(second.id, False).pinned is False
    with pytest.raises(UserFacingError, match="needs some text"):
        service.add_note(jane, "   ")
    [change] = service.merge(jane, [jd], reason="same person")
    assert {n.id for n in service.notes(jane)} == {first.id, second.id, other.id}
    assert service.add_note(jd, "to the survivor").customer_id == jane
    service.undo(change)
    assert [n.id for n in service.notes(jd)] == [other.id]
    assert {n.author for n in service.notes(jane)} == {me}
    service.delete_note(first.id)
    assert first.id not in {n.id for n in service.notes(jane)}
    with pytest.raises(NotFoundError):
        service.delete_note(first.id)


def test_merge_split_undo_and_forget_by_reference(service: Service, mailbox: Path) -> None:
    service.import_paths([mailbox], owner=[("owner_emails", "shop@example.com")])
    change, merged = service.merge_refs("jane@example.com", "jd@example.org", reason="same")
    assert set(merged.emails) == {"jane@example.com", "jd@example.org"}
    assert service.resolve_customer("jd@example.org") == merged.id
    with pytest.raises(UserFacingError):  # no such change
        service.undo(change + 1000)
    split_change, moved = service.split_refs(str(merged.id), ["jd@example.org"])
    assert moved.emails == ("jd@example.org",) and moved.id != merged.id
    with pytest.raises(UserFacingError, match="undo"):
        service.undo(change)  # the split depends on the merge: refused, naming it
    assert service.undo(split_change).undone
    assert service.undo(change).undone
    assert [c.action for c in service.history(limit=2)] == ["undo", "undo"]
    jd = service.resolve_customer("jd@example.org")
    plan = service.erasure_plan(jd)
    assert plan.events and plan.identities
    report = service.forget(jd)
    assert report.erasure_id
    with pytest.raises(NotFoundError):
        service.resolve_customer("jd@example.org")
    assert [s.kind for s in service.suppressions()] == ["email"]
    again = service.import_paths([mailbox])  # the forgotten customer stays forgotten
    assert [(r.added, r.suppressed) for r in again] == [(0, 1)]
    assert {c.best_identity for c in service.all_customers()} == {"jane@example.com"}


def test_owner_setting_takes_effect_at_once(service: Service, mailbox: Path) -> None:
    service.import_paths([mailbox])  # nobody told it which address is the shop's
    shop = service.resolve_customer("shop@example.com")
    assert shop
    stored = service.configure("owner_emails", "shop@example.com")
    assert stored == "shop@example.com"
    # Owner addresses re-evaluated: the shop is no customer any more, and what it
    # sent is outbound on Jane's timeline.
    assert "shop@example.com" not in {c.best_identity for c in service.all_customers()}
    with pytest.raises(NotFoundError):
        service.resolve_customer("shop@example.com")
    view = service.open_customer("jane@example.com")
    assert any(e.direction == "outbound" and e.title == "Re invoice" for e in view.events)


def test_importing_the_service_loads_no_heavy_module() -> None:
    script = (
        "import sys\n"
        "import app.service\n"
        "heavy = ('PySide6', 'imapclient', 'keyring', 'connectors', 'app.export', "
        "'alembic.script', 'app.accounts', 'app.sync')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
