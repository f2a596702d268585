"""PDF export of one customer's history: content, order, zones, Unicode, pages, redaction, errors.

The PDF is read back with pypdf; extracted text is compared with its whitespace
collapsed, since a PDF stores positioned words rather than spaces.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf
import pytest
from sqlalchemy import update

from app import queries, settings
from app.db import Database
from app.errors import Cancelled, NotFoundError, UserFacingError
from app.export.document import (
    REDACTED,
    ExportOptions,
    build_html,
    format_date,
    format_datetime,
    initials,
    redact_contacts,
)
from app.export.pdf import export_customer_pdf
from app.ingest import import_items
from app.models import Note
from app.notes import add_note
from app.records import EventRecord, Item, OrderInfo, OrderLine, Participant

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 7, 2, 12, 0, tzinfo=UTC)
NOTES_AT = datetime(2026, 6, 30, 16, 5, tzinfo=UTC)  # the notes' time (before NOW)
NAME = "Zoë Müller"
EMAIL = "zoe.mueller@example.com"
SHOP = "hello@bloom.example"

ZOE = Participant("from", NAME, email=EMAIL)
TO_SHOP = Participant("to", "Bloom Shop", email=SHOP)


def _email(key: str, at: datetime, title: str, text: str, *, outbound: bool = False) -> EventRecord:
    people = (
        (Participant("from", "Bloom Shop", email=SHOP), Participant("to", NAME, email=EMAIL))
        if outbound
        else (ZOE, TO_SHOP)
    )
    return EventRecord(
        channel="email",
        source="email",
        external_id=key,
        occurred_at=at,
        title=title,
        text=text,
        participants=people,
    )


def _chat(key: str, at: datetime, text: str) -> EventRecord:
    author = Participant("author", NAME, phone="+44 7700 900123", platform="whatsapp")
    return EventRecord(
        channel="chat",
        source="whatsapp",
        external_id=key,
        occurred_at=at,
        title=NAME,
        text=text,
        participants=(author,),
    )


ORDER = EventRecord(
    channel="order",
    source="shopify",
    external_id="#1001",
    occurred_at=datetime(2026, 3, 4, 18, 4, tzinfo=UTC),
    title="Order #1001",
    text="1 × Spring bouquet – Large\n3 × Periwinkle ribbon",
    participants=(
        Participant("buyer", NAME, email=EMAIL, phone="07700 900123", platform="shopify"),
    ),
    order=OrderInfo(
        number="#1001",
        currency="GBP",
        total=Decimal("57.51"),
        subtotal=Decimal("52.50"),
        shipping=Decimal("4.99"),
        tax=Decimal("0.02"),
        financial_status="paid",
        fulfillment_status="fulfilled",
        lines=(
            OrderLine("Spring bouquet – Large", 1, Decimal("45.00"), "SB-L"),
            OrderLine("Periwinkle ribbon", 3, Decimal("2.50"), "RIB-P"),
        ),
    ),
)

HISTORY: list[Item] = [
    # Listed out of order on purpose: the export sorts.
    _chat("c1", datetime(2026, 3, 4, 12, 2, tzinfo=UTC), "Привет! Ελληνικά too — the vase was €12"),
    _email(
        "m1@x",
        datetime(2026, 3, 3, 9, 15, tzinfo=UTC),
        "Question about my bouquet",
        "Hello,\n\nCould the bouquet come with periwinkle ribbons?\n"
        "Call me on 07700 900123 or write to zoe.mueller@example.com.\n\nThanks, Zoë",
    ),
    _email(
        "m2@x",
        datetime(2026, 3, 3, 11, 0, tzinfo=UTC),
        "Re: Question about my bouquet",
        "Hi Zoë,\nyes, we will add them. <b>no markup</b> & no surprises.",
        outbound=True,
    ),
    ORDER,
    _chat("c2", datetime(2026, 7, 1, 8, 0, tzinfo=UTC), "Summer delivery confirmed"),
]


def _load(db: Database, items: list[Item]) -> int:
    with db.session() as s:
        settings.set_value(s, "owner_emails", SHOP)
    report = import_items(db, lambda: items, label="test", format="test")
    assert not report.problems
    with db.session() as s:
        cid = queries.resolve_customer(s, "+44 7700 900123")
        notes = [
            add_note(s, cid, "Asked about a wedding order for June.", author="Priya"),
            add_note(
                s, cid, "Prefers periwinkle ribbons.\nAlways call first.", pinned=True, author="Sam"
            ),
        ]
        # Written at fixed times, not the clock's: two loads a minute apart (one on each
        # store) would otherwise print different note times.
        for i, note in enumerate(notes):
            at = NOTES_AT + timedelta(minutes=i)
            s.execute(update(Note).where(Note.id == note.id).values(created_at=at, updated_at=at))
    return cid


def _pages(path: Path) -> list[str]:
    """The text of every page with whitespace collapsed to single spaces."""
    return [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(path).pages]


def _in_order(text: str, *parts: str) -> None:
    """Each of ``parts`` occurs in ``text`` after the one before it."""
    position = 0
    for part in parts:
        found = text.find(part, position)
        assert found >= 0, f"{part!r} not found after {text[max(0, position - 80) : position]!r}"
        position = found + len(part)


@pytest.fixture(autouse=True)
def _qt_app(qapp: object) -> Iterator[None]:
    # A widgets-capable QApplication made by pytest-qt, so that the export does not
    # make a bare QGuiApplication that GUI tests later in the session could not use.
    yield


@pytest.fixture
def customer(db: Database) -> int:
    return _load(db, HISTORY)


# --- the Qt-free document ------------------------------------------------------------------


def test_document_module_does_not_import_qt() -> None:
    code = (
        "import sys, app.export.document; "
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_build_html_holds_profile_notes_and_events_in_order(db: Database, customer: int) -> None:
    with db.session() as s:
        html = build_html(s, customer, settings.zone(s), ExportOptions(), NOW)
    assert html.startswith("<!DOCTYPE html>") and html.endswith("</html>")
    assert "<title>Customer history — Zoë Müller</title>" in html
    assert "Generated 2 Jul 2026, 13:00" in html
    assert "http" not in html and "<img" not in html  # no external resources
    assert "&lt;b&gt;no markup&lt;/b&gt; &amp; no surprises" in html
    assert "Hi Zoë,<br>yes, we will add them." in html
    assert "You →" in html
    assert "+44 7700 900123" in html
    assert "£57.51" in html and "57.51 GBP" not in html  # as the GUI and the CLI write it
    _in_order(
        html,
        "Prefers periwinkle ribbons.",  # pinned first
        "Asked about a wedding order",
        "Tuesday 3 March 2026",
        "Question about my bouquet",
        "Re: Question about my bouquet",
        "Wednesday 4 March 2026",
        "Привет!",
        "Order #1001",
        "Wednesday 1 July 2026",
        "09:00",
        "Summer delivery confirmed",
    )


def test_build_html_pages_through_a_long_history_oldest_first(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.export import document

    monkeypatch.setattr(document, "CHUNK", 7)  # many pages of the query
    start = datetime(2026, 1, 1, tzinfo=UTC)
    items: list[Item] = [
        _chat(f"k{i}", start + timedelta(hours=5 * i), f"Message number {i:03d}") for i in range(60)
    ]
    cid = _load(db, items)
    seen: list[tuple[int, int]] = []
    with db.session() as s:
        html = build_html(
            s,
            cid,
            settings.zone(s),
            ExportOptions(),
            NOW,
            progress=lambda done, total: seen.append((done, total)),
        )
    _in_order(html, *(f"Message number {i:03d}" for i in range(60)))
    assert seen[-1] == (60, 60)


def test_build_html_without_notes_and_with_no_matching_events(db: Database, customer: int) -> None:
    with db.session() as s:
        html = build_html(
            s, customer, settings.zone(s), ExportOptions(channels=(), include_notes=False), NOW
        )
    assert "Prefers periwinkle" not in html
    assert "No events match this export." in html
    assert "Question about my bouquet" not in html


def test_build_html_rejects_an_empty_date_range_and_unknown_customer(
    db: Database, customer: int
) -> None:
    with db.session() as s:
        tz = settings.zone(s)
        bad = ExportOptions(since=date(2026, 5, 1), until=date(2026, 4, 1))
        with pytest.raises(UserFacingError, match="starts on"):
            build_html(s, customer, tz, bad, NOW)
        with pytest.raises(NotFoundError):
            build_html(s, 9999, tz, ExportOptions(), NOW)


def test_build_html_redacts_handles_names_and_contacts(db: Database) -> None:
    who = Participant("author", "Zoë Müller", handle="zoe_flowers", platform="telegram")
    item = EventRecord(
        channel="chat",
        source="telegram",
        external_id="t1",
        occurred_at=datetime(2026, 3, 5, 10, 0, tzinfo=UTC),
        title="Zoë Müller",
        text="I'm zoe_flowers here; Zoë at +44 7700 900999, 2026-03-01, 45.00 GBP",
        participants=(who,),
    )
    import_items(db, lambda: [item], label="test", format="test")
    with db.session() as s:
        (row,) = queries.list_customers(s)
        html = build_html(s, row.id, settings.zone(s), ExportOptions(redact=True), NOW)
    assert "zoe_flowers" not in html and "Zoë" not in html and "Müller" not in html
    assert "900999" not in html
    assert f"I'm {REDACTED} here; Z. at {REDACTED}, 2026-03-01, 45.00 GBP" in html
    assert f"{REDACTED} (Telegram)" in html
    assert "Customer history — Z. M." in html


def test_formatting_and_redaction_helpers() -> None:
    london = ZoneInfo("Europe/London")
    assert format_datetime(datetime(2026, 3, 3, 9, 15, tzinfo=UTC), london) == "3 Mar 2026, 09:15"
    assert format_datetime(datetime(2026, 7, 1, 8, 0, tzinfo=UTC), london) == "1 Jul 2026, 09:00"
    assert initials("Zoë Müller") == "Z. M."
    text = (
        "Mail jane.doe+tag@gmail.com or ring +44 7700 900123, (555) 123-4567, 07700 900123. "
        "Order #100012345 of 2026-03-01 09:15 cost 1234567.89 GBP; ref 12345."
    )
    assert redact_contacts(text) == (
        f"Mail {REDACTED} or ring {REDACTED}, {REDACTED}, {REDACTED}. "
        "Order #100012345 of 2026-03-01 09:15 cost 1234567.89 GBP; ref 12345."
    )


# --- the PDF ------------------------------------------------------------------------------


def test_pdf_holds_the_whole_history(db: Database, customer: int, tmp_path: Path) -> None:
    out = tmp_path / "zoe.pdf"
    pages = export_customer_pdf(db, customer, out, now=NOW)
    texts = _pages(out)
    assert pages == len(texts) >= 1
    text = " ".join(texts)
    for index, page in enumerate(texts, start=1):
        assert f"{NAME} — page {index} of {pages}" in page
        assert "Customer history — Zoë Müller" in page  # header line
    assert "Generated 2 Jul 2026, 13:00" in text
    # Profile.
    assert EMAIL in text
    assert "+44 7700 900123" in text
    assert "First contact 3 Mar 2026, 09:15" in text
    assert "Last contact 1 Jul 2026, 09:00" in text
    assert "Orders 1" in text
    assert "Spent £57.51" in text
    # Notes, pinned first; events oldest first; the order with its lines and totals.
    _in_order(
        text,
        "Prefers periwinkle ribbons. Always call first. Sam ·",
        "Asked about a wedding order for June. Priya ·",
        "Tuesday 3 March 2026",
        "09:15 EMAIL Zoë Müller Question about my bouquet",
        "Could the bouquet come with periwinkle ribbons?",
        "11:00 EMAIL You → (Bloom Shop) Re: Question about my bouquet",
        "<b>no markup</b> & no surprises.",
        "Wednesday 4 March 2026",
        "12:02 CHAT Zoë Müller via WhatsApp",
        "Привет! Ελληνικά too — the vase was €12",
        "18:04 ORDER Zoë Müller via Shopify Order #1001",
        "Status: paid · fulfilled",
        "Spring bouquet – Large SB-L 1 £45.00 £45.00",
        "Periwinkle ribbon RIB-P 3 £2.50 £7.50",
        "Subtotal £52.50",
        "Total £57.51",
        "Wednesday 1 July 2026",
        "09:00 CHAT",  # 08:00 UTC is 09:00 in London in summer
        "Summer delivery confirmed",
    )
    assert "08:00" not in text
    # Spaces are copied and extracted as spaces (Qt alone would map them to tabs).
    raw = pypdf.PdfReader(out).pages[0].extract_text()
    assert "\t" not in raw
    assert "Question about my bouquet" in raw
    meta = pypdf.PdfReader(out).metadata
    assert meta is not None
    assert meta.title == "Customer history — Zoë Müller"
    assert meta.get("/Creator") == "Threadline"


def test_times_follow_the_users_zone(db: Database, customer: int, tmp_path: Path) -> None:
    with db.session() as s:
        settings.set_value(s, "timezone", "America/New_York")
    out = tmp_path / "ny.pdf"
    export_customer_pdf(db, customer, out, now=NOW)
    text = " ".join(_pages(out))
    assert "times in America/New_York" in text
    _in_order(text, "Wednesday 1 July 2026", "04:00 CHAT", "Summer delivery confirmed")


def test_long_history_gives_several_pages(db: Database, tmp_path: Path) -> None:
    start = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    items: list[Item] = [
        _chat(f"k{i}", start + timedelta(hours=9 * i), f"Long history message {i:03d} " * 3)
        for i in range(400)
    ]
    cid = _load(db, items)
    out = tmp_path / "long.pdf"
    progress: list[tuple[int, int]] = []
    gc.collect()
    nones = sys.getrefcount(None)
    pages = export_customer_pdf(
        db, cid, out, now=NOW, progress=lambda done, total: progress.append((done, total))
    )
    gc.collect()
    # PySide6 6.12.0 drops a reference to None per void call on Python < 3.12 and a
    # long export then aborts the interpreter (hence the pin in pyproject.toml).
    assert sys.getrefcount(None) > nones - 100
    texts = _pages(out)
    assert pages == len(texts) >= 5
    for index, page in enumerate(texts, start=1):
        assert f"page {index} of {pages}" in page
    text = " ".join(texts)
    _in_order(text, *(f"Long history message {i:03d}" for i in range(0, 400, 25)))
    assert "Long history message 399" in texts[-1]
    assert (400, 400) in progress
    assert progress[-1] == (pages, pages)
    # Running head: the days each page covers.
    last = (start + timedelta(hours=9 * 399)).astimezone(ZoneInfo("Europe/London")).date()
    assert "1 Jan 2025 – " in texts[0]
    assert f"– {format_date(last)}" in texts[-1]


def test_redact_removes_contact_details_and_the_name(
    db: Database, customer: int, tmp_path: Path
) -> None:
    out = tmp_path / "redacted.pdf"
    export_customer_pdf(db, customer, out, ExportOptions(redact=True), now=NOW)
    texts = _pages(out)
    text = " ".join(texts)
    assert EMAIL not in text
    assert "example.com" not in text
    assert "900123" not in text
    assert "Zoë" not in text and "Müller" not in text
    assert "Customer history — Z. M." in text
    assert "Call me on [redacted] or write to [redacted]." in text
    assert "Hi Z.," in text
    assert "Total £57.51" in text  # money is not a phone number
    assert all(f"Z. M. — page {i}" in page for i, page in enumerate(texts, start=1))
    assert pypdf.PdfReader(out).metadata.title == "Customer history — Z. M."  # type: ignore[union-attr]


def test_channel_and_date_filters(db: Database, customer: int, tmp_path: Path) -> None:
    out = tmp_path / "email.pdf"
    export_customer_pdf(db, customer, out, ExportOptions(channels=("email",)), now=NOW)
    text = " ".join(_pages(out))
    assert "Question about my bouquet" in text
    assert "Привет" not in text and "Order #1001" not in text
    assert "Summer delivery" not in text
    assert "Filters: only email" in text

    out = tmp_path / "march4.pdf"
    options = ExportOptions(since=date(2026, 3, 4), until=date(2026, 3, 4), include_notes=False)
    export_customer_pdf(db, customer, out, options, now=NOW)
    text = " ".join(_pages(out))
    assert "Question about my bouquet" not in text
    assert "Summer delivery" not in text
    assert "Привет!" in text and "Total £57.51" in text
    assert "Prefers periwinkle" not in text
    assert "Events 5 (2 in this export)" in text


def test_unwritable_path_raises_a_user_facing_error(
    db: Database, customer: int, tmp_path: Path
) -> None:
    with pytest.raises(UserFacingError, match="cannot write the PDF"):
        export_customer_pdf(db, customer, tmp_path / "missing" / "out.pdf", now=NOW)
    with pytest.raises(UserFacingError, match="it is a folder"):
        export_customer_pdf(db, customer, tmp_path, now=NOW)


def test_a_cancelled_export_leaves_the_old_file_alone(
    db: Database, customer: int, tmp_path: Path
) -> None:
    out = tmp_path / "zoe.pdf"
    out.write_bytes(b"old")

    def cancel(done: int, total: int) -> None:
        raise Cancelled()

    with pytest.raises(Cancelled):
        export_customer_pdf(db, customer, out, now=NOW, progress=cancel)
    assert out.read_bytes() == b"old"
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".part"]
    export_customer_pdf(db, customer, out, now=NOW)
    assert out.read_bytes().startswith(b"%PDF")


def _cjk_font_available() -> bool:
    from PySide6.QtGui import QFontDatabase

    return bool(QFontDatabase.families(QFontDatabase.WritingSystem.SimplifiedChinese))


def test_cjk_text_survives(db: Database, tmp_path: Path) -> None:
    if not _cjk_font_available():
        pytest.skip("no font with Simplified Chinese support is installed")
    cid = _load(db, [_chat("cjk", datetime(2026, 3, 5, 10, 0, tzinfo=UTC), "你好，谢谢你的花束")])
    out = tmp_path / "cjk.pdf"
    export_customer_pdf(db, cid, out, now=NOW)
    assert "你好，谢谢你的花束" in "".join(" ".join(_pages(out)).split())


def test_export_works_from_a_cli_without_any_qt_application(
    db: Database, customer: int, tmp_path: Path
) -> None:
    out = tmp_path / "cli.pdf"
    code = (
        "import sys; from pathlib import Path; from app.db import open_database; "
        "from app.export.pdf import export_customer_pdf; "
        "db = open_database(sys.argv[1]); "
        "print(export_customer_pdf(db, int(sys.argv[2]), Path(sys.argv[3])))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY")}
    env.pop("WAYLAND_DISPLAY", None)
    db_path = db.url.removeprefix("sqlite:///")
    done = subprocess.run(
        [sys.executable, "-c", code, db_path, str(customer), str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) == len(_pages(out))
    assert "Zoë Müller — page 1 of" in _pages(out)[0]


def test_the_brief_comes_first_in_the_pdf(db: Database, customer: int, tmp_path: Path) -> None:
    out = tmp_path / "brief.pdf"
    export_customer_pdf(db, customer, out, ExportOptions(), now=NOW)
    text = " ".join(_pages(out))
    _in_order(text, "Zoë Müller · customer since", "Last contact", "Last bought", "Profile")
    redacted = tmp_path / "brief-redacted.pdf"
    export_customer_pdf(db, customer, redacted, ExportOptions(redact=True), now=NOW)
    text = " ".join(_pages(redacted))
    assert "Z. M. · customer since" in text and "Müller" not in text


@pytest.mark.slow
def test_the_pdf_reads_the_same_on_both_stores(tmp_path: Path, pg_url: str) -> None:
    """The same history on a SQLite file and on a PostgreSQL server gives the same PDF text
    (every page), with the filters, the redaction and a long history's pages."""
    from app.db import open_database

    start = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    more: list[Item] = [
        _chat(f"k{i}", start + timedelta(hours=9 * i), f"Long history message {i:03d} " * 3)
        for i in range(120)
    ]
    texts: list[dict[str, list[str]]] = []
    for where in (str(tmp_path / "local.db"), pg_url):
        db = open_database(where)
        try:
            with db.session() as s:
                settings.set_value(s, "region", "GB")
                settings.set_value(s, "timezone", "Europe/London")
            cid = _load(db, [*HISTORY, *more])
            out: dict[str, list[str]] = {}
            for name, options in (
                ("all", ExportOptions()),
                ("redacted", ExportOptions(redact=True)),
                ("email", ExportOptions(channels=("email",))),
                ("4 March", ExportOptions(since=date(2026, 3, 4), until=date(2026, 3, 4))),
            ):
                path = tmp_path / f"{len(texts)}-{name}.pdf"
                export_customer_pdf(db, cid, path, options, now=NOW)
                out[name] = _pages(path)
            texts.append(out)
        finally:
            db.dispose()
    local, server = texts
    assert len(local["all"]) >= 3
    _in_order(" ".join(local["all"]), "Prefers periwinkle ribbons.", "Total £57.51")
    assert "Long history message 119" in " ".join(local["all"])
    for name in local:
        assert server[name] == local[name], name


def test_pdf_names_every_source_as_people_write_it(db: Database, tmp_path: Path) -> None:
    """Each import's source reads as its program's name ("via eBay", "zoe_m (eBay)",
    "via Google Voice"), never as the code it is stored under."""
    from app.service import Service
    from tests.conftest import FIXTURES

    Service(db).import_paths(
        [
            FIXTURES / "orders" / "ebay" / "ebay-orders-uk.csv",
            FIXTURES / "chat" / "google_voice",
            FIXTURES / "chat" / "line",
        ]
    )
    texts = []
    with db.read_session() as s:
        ids = [
            queries.resolve_customer(s, "Zoë Müller"),
            queries.resolve_customer(s, "+1 212-555-1234"),
            queries.resolve_customer(s, "Tom Okafor"),
        ]
    for cid in ids:
        out = tmp_path / f"{cid}.pdf"
        export_customer_pdf(db, cid, out, now=NOW)
        texts.append(" ".join(_pages(out)))
    ebay, voice, line = texts
    assert "via eBay" in ebay and "zoe_m (eBay)" in ebay
    assert "via Google Voice" in voice
    assert "via LINE" in line
    for text in texts:
        assert "via ebay" not in text and "google_voice" not in text and "via line" not in text


def test_pdf_lists_what_was_sent_with_a_chat_message(db: Database, tmp_path: Path) -> None:
    """A picture sent with a text is named below it (the file is not imported), and so are
    the reactions and a deletion on the phone."""
    from app.service import Service
    from tests.conftest import FIXTURES

    Service(db).import_paths([FIXTURES / "chat" / "imazing" / "Messages - Robin Example.csv"])
    with db.read_session() as s:
        robin = queries.resolve_customer(s, "robin@example.org")
    out = tmp_path / "robin.pdf"
    export_customer_pdf(db, robin, out, now=NOW)
    text = " ".join(_pages(out))
    _in_order(text, "One corner is dented though", "Photo (not imported): box, opened | side.png")
    assert "Reactions: Loved by you" in text
    assert "Deleted from the conversation after it was sent" in text
