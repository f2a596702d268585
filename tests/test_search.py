"""Search that people know: the query syntax, its filters, ranking, highlights, fragments,
malformed and hostile input, and the customer lookup as one types."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from app import queries, settings
from app.db import Database
from app.ingest import import_items
from app.merges import merge_customers
from app.records import EventRecord, OrderInfo, OrderLine, Participant
from app.search_syntax import SearchSyntaxError, Term, fts_match, parse

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
SHOP = "shop@example.com"


def mail(key: str, sender: str, name: str, subject: str, body: str, at: datetime) -> EventRecord:
    return EventRecord(
        channel="email",
        source="email",
        external_id=f"<{key}@x>",
        occurred_at=at,
        title=subject,
        text=body,
        participants=(
            Participant("from", name, email=sender),
            Participant("to", "Shop", email=SHOP),
        ),
    )


def reply(key: str, to: str, subject: str, body: str, at: datetime) -> EventRecord:
    return EventRecord(
        channel="email",
        source="email",
        external_id=f"<{key}@x>",
        occurred_at=at,
        title=subject,
        text=body,
        participants=(Participant("from", "Shop", email=SHOP), Participant("to", "", email=to)),
    )


def chat(key: str, name: str, phone: str, body: str, at: datetime) -> EventRecord:
    return EventRecord(
        channel="chat",
        source="whatsapp",
        external_id=key,
        occurred_at=at,
        title=name,
        text=body,
        participants=(Participant("author", name, phone=phone, platform="whatsapp"),),
    )


def order(number: str, email: str, name: str, total: str, at: datetime) -> EventRecord:
    return EventRecord(
        channel="order",
        source="shopify",
        external_id=number,
        occurred_at=at,
        title=f"Order {number}",
        text="1 × Peony bouquet",
        participants=(Participant("buyer", name, email=email, platform="shopify"),),
        order=OrderInfo(
            number=number,
            currency="GBP",
            total=Decimal(total),
            financial_status="paid",
            lines=(OrderLine("Peony bouquet", 1, Decimal(total)),),
        ),
    )


def day(n: int) -> datetime:
    """Noon UTC, ``n`` days before NOW (far from any midnight in any zone near UTC)."""
    return NOW - timedelta(days=n)


@pytest.fixture
def db(store: Database) -> Database:
    """Every test here runs on SQLite and on PostgreSQL (tests/conftest.py ``store``)."""
    return store


def sqlite_only(db: Database) -> Path:
    """The file of a SQLite store (the test is about the file); PostgreSQL: skipped."""
    if db.path is None:
        pytest.skip("about the local SQLite file")
    return db.path


@pytest.fixture
def shop(db: Database) -> Database:
    with db.session() as s:
        settings.set_value(s, "region", "GB")
        settings.set_value(s, "owner_emails", SHOP)
    records = [
        mail("a", "jane.doe@gmail.com", "Jane Doe", "Wedding flowers", "Next Tuesday "
             "we need peonies for the wedding. Where is my order #10432?", day(40)),
        mail("b", "jane.doe@gmail.com", "Jane Doe", "Thanks", "The peonies were lovely.", day(3)),
        mail("c", "bob@example.org", "Bob Stone", "Tuesday delivery", "Can you deliver "
             "tuesday next week? Not urgent.", day(10)),
        reply("d", "bob@example.org", "Re: Tuesday delivery", "Yes, next tuesday works.", day(9)),
        chat("w1", "Amir Khan", "+44 7700 900123", "hi can I get tulips:red and NEAR(me)", day(5)),
        chat("w2", "Amir Khan", "+44 7700 900123", "cancelled, sorry", day(1)),
        order("#10432", "jane.doe@gmail.com", "Jane Doe", "48.00", day(41)),
        order("#20077", "bob@example.org", "Bob Stone", "12.50", day(20)),
    ]  # fmt: skip
    import_items(db, lambda: records, label="test", format="test")
    return db


def titles(db: Database, query: str) -> list[str]:
    with db.session() as s:
        return [h.title for h in queries.search(s, query, now=NOW)]


# --- the parser ------------------------------------------------------------------------


def test_parser_reads_every_operator() -> None:
    q = parse(
        'peon* "next tuesday" -cancelled from:"Jane Doe" channel:email,whatsapp '
        "after:2026-01-31 before:7d order:#10432",
        now=NOW,
    )
    assert q.terms == (
        Term(("peon",), star=True),
        Term(("next", "tuesday"), phrase=True, prefix=False),
    )
    assert q.excluded == (Term(("cancelled",)),)
    assert q.senders == ("Jane Doe",)
    assert q.channels == ("email", "whatsapp")
    assert q.orders == ("10432",)
    assert q.after is not None and q.after.date() in (datetime(2026, 1, 30).date(),
                                                      datetime(2026, 1, 31).date())  # fmt: skip
    assert q.before == NOW - timedelta(days=7)
    assert fts_match(q.terms, q.excluded) == '("peon"* AND "next tuesday") NOT "cancelled"*'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"unbalanced', "unbalanced quote"),
        ('"', "unbalanced quote"),
        ('from:"Jane', "unbalanced quote"),
        ("subject:hello", "unknown search field subject"),
        ("after:2026-13-01", "after:2026-13-01 is not a date"),
        ("before:yesterdayish", "is not a date"),
        ("before:31/01/2026", "is not a date"),
        ("from:", "from: needs a value"),
        ("order:", "order: needs a value"),
    ],
)
def test_malformed_syntax_is_one_line(shop: Database, text: str, message: str) -> None:
    with pytest.raises(SearchSyntaxError, match=message) as caught:
        parse(text, now=NOW)
    assert "\n" not in str(caught.value)
    with shop.session() as s, pytest.raises(SearchSyntaxError):
        queries.search(s, text, now=NOW)


@pytest.mark.parametrize(
    "text",
    [
        "NEAR(",
        "NEAR(peonies wedding)",
        "*",
        "^peonies",
        "peonies^",
        "-",
        "--",
        "- -peonies",
        "tulips:red",
        "12:30",
        ":",
        "::peonies",
        "peonies:",
        "https://example.com/x",
        '""',
        '"peonies" OR "AND"',
        "AND OR NOT",
        "peonies NOT",
        "(peonies",
        "{title}: peonies",
        "title : peonies",
        'col:umn"quoted:field"',
        "\x00\x02\x03",
        "é́́́" * 50,
        "peonies " * 5000,
        "a" * 50_000,
        "+44",
        "#",
        "*peon*",
    ],
)
def test_hostile_input_never_raises(shop: Database, text: str) -> None:
    with shop.session() as s:
        hits = queries.search(s, text, now=NOW)
        assert isinstance(hits, list)
        queries.count_customers(s, text)
        queries.list_customers(s, text)


def test_fts_special_characters_are_searched_as_text(shop: Database) -> None:
    assert titles(shop, "tulips:red") == ["Amir Khan"]
    assert titles(shop, "NEAR(me)") == ["Amir Khan"]
    assert titles(shop, "^tulips") == ["Amir Khan"]


# --- the operators ----------------------------------------------------------------------


def test_words_are_all_required_and_prefixes(shop: Database) -> None:
    assert set(titles(shop, "peon")) == {
        "Wedding flowers",
        "Thanks",
        "Order #10432",
        "Order #20077",
    }
    assert set(titles(shop, "peonies")) == {"Wedding flowers", "Thanks"}
    assert titles(shop, "peon wedding") == ["Wedding flowers"]
    assert titles(shop, "peon*") == titles(shop, "peon")
    assert titles(shop, "Peonies LOVELY") == ["Thanks"]


def test_phrase_needs_the_words_in_order(shop: Database) -> None:
    assert set(titles(shop, "tuesday next")) == {
        "Wedding flowers",
        "Tuesday delivery",
        "Re: Tuesday delivery",
    }
    assert set(titles(shop, '"next tuesday"')) == {"Wedding flowers", "Re: Tuesday delivery"}
    assert titles(shop, '"tuesday next week"') == ["Tuesday delivery"]
    assert titles(shop, '"next tues"') == []  # a quoted phrase is exact, no prefix


def test_excluded_words(shop: Database) -> None:
    assert set(titles(shop, "tuesday -urgent")) == {"Wedding flowers", "Re: Tuesday delivery"}
    assert titles(shop, "channel:chat -cancelled") == ["Amir Khan"]


def test_from_matches_name_email_and_phone_of_the_sender(shop: Database) -> None:
    assert set(titles(shop, "from:jane")) == {"Wedding flowers", "Thanks", "Order #10432"}
    assert set(titles(shop, "from:bob@example")) == {"Tuesday delivery", "Order #20077"}
    assert titles(shop, 'from:"Bob Stone" tuesday') == ["Tuesday delivery"]  # not the reply
    assert len(titles(shop, "from:900123")) == 2
    assert len(titles(shop, 'from:"07700 900"')) == 2  # typed with a space, as people do
    assert len(titles(shop, "from:07700900")) == 2  # the national form of +447700900…
    assert titles(shop, "from:nobody") == []


def test_channel_filter_by_kind_and_source(shop: Database) -> None:
    assert set(titles(shop, "channel:order")) == {"Order #10432", "Order #20077"}
    assert len(titles(shop, "channel:chat")) == 2
    assert titles(shop, "channel:whatsapp cancelled") == ["Amir Khan"]
    assert len(titles(shop, "channel:mail")) == 4
    assert set(titles(shop, "channel:shopify,chat")) == set(
        titles(shop, "channel:order") + titles(shop, "channel:chat")
    )
    with shop.session() as s, pytest.raises(SearchSyntaxError, match="channel:telegram"):
        queries.search(s, "channel:telegram", now=NOW)


def test_dates_absolute_and_relative(shop: Database) -> None:
    assert titles(shop, "after:7d") == ["Amir Khan", "Thanks", "Amir Khan"]  # newest first
    assert set(titles(shop, "peonies after:7d")) == {"Thanks"}
    assert set(titles(shop, "peonies before:7d")) == {"Wedding flowers"}
    start = day(11).date().isoformat()
    end = day(8).date().isoformat()
    assert set(titles(shop, f"after:{start} before:{end}")) == {
        "Tuesday delivery",
        "Re: Tuesday delivery",
    }
    assert titles(shop, "after:2w before:3w") == []  # nothing is both


def test_order_numbers_find_the_order_and_the_messages_naming_it(shop: Database) -> None:
    assert set(titles(shop, "order:10432")) == {"Order #10432", "Wedding flowers"}
    assert set(titles(shop, "order:#10432")) == {"Order #10432", "Wedding flowers"}
    assert titles(shop, "order:0077") == ["Order #20077"]  # a fragment
    assert titles(shop, "order:10432 channel:order") == ["Order #10432"]


def test_number_fragments_match_inside_phones_and_order_numbers(shop: Database) -> None:
    # "900123" is in the middle of +447700900123: a word index alone cannot find it
    assert len(titles(shop, "900123")) == 2
    assert titles(shop, "0077") == ["Order #20077"]
    assert titles(shop, "0432 channel:order") == ["Order #10432"]
    assert titles(shop, "cancelled 0090") == ["Amir Khan"]


def test_combined_filters_and_ranking(shop: Database) -> None:
    assert titles(shop, "peonies from:jane channel:email after:30d") == ["Thanks"]
    # bm25: the message with the word in its title and body ranks before the one without
    got = titles(shop, "tuesday channel:email")
    assert got[0] in ("Tuesday delivery", "Re: Tuesday delivery")
    assert got[-1] == "Wedding flowers"


def test_snippets_mark_the_matches(shop: Database) -> None:
    with shop.session() as s:
        (hit,) = queries.search(s, '"lovely"', now=NOW)
        assert f"{queries.HL_START}lovely{queries.HL_END}" in hit.snippet
        (frag,) = queries.search(s, "0077", now=NOW)
        assert frag.snippet  # an order's text, with no word to mark
        (chat_hit,) = queries.search(s, "from:amir cancel", now=NOW)
        assert f"{queries.HL_START}cancel" in chat_hit.snippet
        assert json.dumps(hit.as_json())  # the CLI shape still serialises


def test_search_in_one_customer(shop: Database) -> None:
    with shop.session() as s:
        jane = queries.resolve_customer(s, "jane.doe@gmail.com")
        got = queries.search(s, "tuesday", customer_id=jane, now=NOW)
        assert [h.title for h in got] == ["Wedding flowers"]


# --- lookup as one types ----------------------------------------------------------------


def names(db: Database, query: str) -> list[str]:
    with db.session() as s:
        rows = queries.list_customers(s, query)
        assert queries.count_customers(s, query) == len(rows)
        return sorted(r.name for r in rows)


def test_lookup_by_prefixes_fragments_and_order_numbers(shop: Database) -> None:
    assert names(shop, "j") == ["Jane Doe"]
    assert names(shop, "Ja") == ["Jane Doe"]
    assert names(shop, "jan") == ["Jane Doe"]
    assert names(shop, "doe@gm") == ["Jane Doe"]
    assert names(shop, "STONE") == ["Bob Stone"]
    assert names(shop, "0090") == ["Amir Khan"]  # inside +447700900123
    assert names(shop, "07700 900123") == ["Amir Khan"]  # the national form
    assert names(shop, "077009") == ["Amir Khan"]
    assert names(shop, "0432") == ["Jane Doe"]  # inside order #10432
    assert names(shop, "#20077") == ["Bob Stone"]
    assert names(shop, "zzz") == []
    assert names(shop, "%") == []
    assert names(shop, "_") == []


def test_lookup_follows_merges_and_renames(shop: Database) -> None:
    with shop.session() as s:
        bob = queries.resolve_customer(s, "bob@example.org")
        amir = queries.resolve_customer(s, "+447700900123")
        merge_customers(s, bob, amir, reason="test")
    # one customer now holds both: every fragment of either finds the survivor once
    assert names(shop, "0090") == names(shop, "bob@") == names(shop, "#20077")
    assert len(names(shop, "0090")) == 1


# --- the CLI ----------------------------------------------------------------------------


def _cli(db: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "THREADLINE_HOME": str(tmp / "home"), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("THREADLINE_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "--db", str(db), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_search_syntax_errors_exit_2_in_one_line(shop: Database, tmp_path: Path) -> None:
    path = sqlite_only(shop)
    shop.dispose()
    for bad in ('"peonies', "subject:x", "after:someday"):
        result = _cli(path, tmp_path, "search", bad)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    ok = _cli(path, tmp_path, "search", "lovely", "--json")
    assert ok.returncode == 0, ok.stderr
    (hit,) = json.loads(ok.stdout)
    assert set(hit) == {
        "event_id", "customer_id", "customer_name", "channel", "occurred_at", "title", "snippet"
    }  # fmt: skip
    assert "[lovely]" in hit["snippet"]


def test_highlighted_words_leave_out_fields_and_excluded_words() -> None:
    from ui import formatting as fmt

    assert fmt.query_terms('Peonies "next Tuesday" -cancelled from:jane after:7d') == (
        "peonies",
        "next",
        "tuesday",
    )
    assert fmt.query_terms('"unclosed peonies') == ("unclosed", "peonies")
    assert fmt.has_query("channel:email") and not fmt.has_query(" * ")


def test_upgrade_indexes_what_is_stored(shop: Database, tmp_path: Path) -> None:
    """A database written before the lookup index (0011) and the PostgreSQL search (0012)
    finds its customers, figures and events at once."""
    from alembic import command

    from app.db import _alembic_config, open_database

    with shop.session() as s:
        before = {r.id: r.as_json() for r in queries.list_customers(s)}
    with shop.engine.begin() as conn:
        cfg = _alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
        conn.exec_driver_sql("UPDATE identity SET display_name = display_name")  # no trigger
    shop.dispose()
    db = open_database(shop.url)
    try:
        with db.session() as s:
            assert {r.id: r.as_json() for r in queries.list_customers(s)} == before
            assert [r.name for r in queries.list_customers(s, "0090")] == ["Amir Khan"]
            assert [r.name for r in queries.list_customers(s, "ja")] == ["Jane Doe"]
            stored = s.execute(text("SELECT count(*) FROM customer WHERE profile = '{}'"))
            assert stored.scalar() == 0
        assert titles(db, "900123 channel:chat") == ["Amir Khan", "Amir Khan"]
        assert titles(db, "lovely peon") == ["Thanks"]  # the events' words, indexed again
    finally:
        db.dispose()


def test_a_left_out_word_alone_is_searched(shop: Database) -> None:
    # "-word" with nothing to leave it out from searches the word (the CLI always did)
    assert titles(shop, "-lovely") == titles(shop, "lovely") == ["Thanks"]
    assert titles(shop, "--lovely") == ["Thanks"]
    assert set(titles(shop, "channel:email -lovely")) == {
        "Wedding flowers",
        "Tuesday delivery",
        "Re: Tuesday delivery",
    }
