"""What differs between the two stores, in one place: SQLite (a local file) or PostgreSQL.

``for_bind(session)`` picks the strategy by the engine's dialect; nothing else in ``app``
asks which database it runs on for search. Both strategies answer the same questions with
the same meaning:

* **full-text search over events** (title, text and who took part). SQLite: the FTS5 table
  ``event_fts`` (tokenizer ``unicode61 remove_diacritics 2``, migration 0001), ranked with
  ``bm25`` and marked with ``snippet``. PostgreSQL: ``event_search.doc``, a ``tsvector``
  with a GIN index (migration 0012), ranked with ``ts_rank_cd`` and marked with
  ``ts_headline``. The ``tsvector`` and ``tsquery`` are built here from the same words FTS5
  sees (runs of letters and digits, lower-cased, accents removed: ``tokens``), so a name
  or a non-English word is found the same way on both, whatever the server's locale, and a
  phrase never spans two fields.
* **lookup as one types** (customer names, contact points, order numbers). SQLite: the
  FTS5 tables ``lookup_fts`` (trigram) and ``lookup_words`` (word prefixes) that the
  triggers of migration 0011 keep. PostgreSQL: ``pg_trgm`` GIN indexes on the same texts
  (migration 0012), searched with a regular expression: any fragment of three characters
  or more, or a word start for one or two.
* **a member of a JSON text column**: ``json_extract`` on SQLite, ``->>`` on PostgreSQL.
* **ids for rows inserted in bulk**: SQLite's single writer counts on from the highest id;
  PostgreSQL takes them from the table's sequence, so two writers never pick the same.
* **rows inserted in bulk** (``insert_rows``): SQLite binds plain tuples to a statement
  made once per table and set of columns; PostgreSQL goes through SQLAlchemy Core's
  ``executemany`` (its batched ``INSERT … VALUES``).
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Table, cast, func, insert, select, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

from app.search_syntax import Term

Bind = Session | Connection

# Kinds of lookup rows (rowid = id * 4 + kind on SQLite), kept by the triggers of 0011.
LOOKUP_IDENTITY, LOOKUP_CUSTOMER, LOOKUP_ORDER = 0, 1, 2

HL_START, HL_END = "\x02", "\x03"


@dataclass(frozen=True)
class Lookup:
    """What a typed fragment looks for: ``fragment`` (any substring, with its alternative
    written forms, three characters or more) or ``prefix`` (a word start)."""

    mode: str
    alternatives: tuple[str, ...]


# --- the words both stores index ---------------------------------------------------------

# Letters and digits (Python's \w without the underscore): FTS5 unicode61's token characters.
_TOKEN = re.compile(r"[^\W_]+")
# Combining marks left after NFD: the accents unicode61 "remove_diacritics 2" drops.
_MARKS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def fold(value: str) -> str:
    """Lower-cased, accents removed (``Élodie`` → ``elodie``), as FTS5 compares words."""
    low = value.lower()
    if low.isascii():
        return low
    return unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFD", low)))


def tokens(value: str) -> list[str]:
    """The words of a text as the full-text index holds them."""
    return _TOKEN.findall(fold(value))


# --- PostgreSQL tsvector / tsquery text ----------------------------------------------------

_MAX_POSITION = 16383  # PostgreSQL keeps positions up to this
_MAX_POSITIONS = 255  # per word
_MAX_LEXEME_BYTES = 2046
_MAX_DOC_BYTES = 900_000  # under the 1 MB a tsvector may hold


def tsvector_text(*fields: str) -> str:
    """A ``tsvector`` literal of the fields' words with their positions.

    Each field starts two positions past the previous one, so a phrase never runs from the
    end of a title into the start of a body (FTS5 keeps columns apart the same way). Words
    past PostgreSQL's limits (a word over 2 KB, positions past 16,383, a document over
    about 1 MB of words) are left out or share the last position, as ``to_tsvector`` would.
    """
    where: dict[str, list[int]] = {}
    position = 0
    size = 0
    for value in fields:
        position += 1
        for word in tokens(value):
            position += 1
            spots = where.get(word)
            if spots is None:
                length = len(word.encode("utf-8"))
                if length > _MAX_LEXEME_BYTES or size + length > _MAX_DOC_BYTES:
                    continue
                size += length + 8
                where[word] = spots = []
            at = min(position, _MAX_POSITION)
            if len(spots) < _MAX_POSITIONS and (not spots or spots[-1] != at):
                spots.append(at)
                size += 2
    return " ".join(f"'{w}':{','.join(map(str, spots))}" for w, spots in where.items())


_NOTHING = "'\x01'"  # a lexeme no text holds: a term without letters or digits finds nothing


def _ts_term(term: Term, *, whole: bool) -> str:
    words = [w for word in term.words for w in tokens(word)]
    if not words or any(len(w.encode("utf-8")) > _MAX_LEXEME_BYTES for w in words):
        return _NOTHING  # no word, or one too long for any index to hold
    from app.search_syntax import MIN_PREFIX

    star = term.star or (
        not whole and term.prefix and not term.star and len(term.words[-1]) >= MIN_PREFIX
    )
    quoted = [f"'{w}'" for w in words]
    if star:
        quoted[-1] += ":*"
    inner = " <-> ".join(quoted)
    return f"({inner})" if len(quoted) > 1 else inner


def tsquery_text(
    terms: Sequence[Term], excluded: Sequence[Term] = (), *, whole: bool = False
) -> str:
    """The ``tsquery`` for terms, as ``search_syntax.fts_match`` is the FTS5 query.

    Words AND-ed, a phrase with ``<->``, a prefix with ``:*``, excluded terms with ``!``.
    """
    parts = [_ts_term(t, whole=whole) for t in terms]
    if not parts:
        return ""
    out = " & ".join(parts)
    for t in excluded:
        other = _ts_term(t, whole=False)
        if other != _NOTHING:  # FTS5: "NOT" an empty phrase leaves nothing out
            out = f"({out}) & !{other}"
    return out


# --- the strategies ------------------------------------------------------------------------


class StoreDialect:
    """The SQLite strategy; ``PostgresDialect`` overrides what PostgreSQL does its own way."""

    name = "sqlite"

    # full-text index ------------------------------------------------------------------

    def index_events(self, bind: Bind, rows: Sequence[Mapping[str, Any]]) -> None:
        """Add new events to the full-text index (``id``, ``t`` title, ``b`` body, ``p`` people)."""
        if rows:
            _connection(bind).exec_driver_sql(
                "INSERT INTO event_fts(rowid, title, body, people) VALUES (?, ?, ?, ?)",
                [(r["id"], r["t"], r["b"], r["p"]) for r in rows],
            )

    def reindex_event(self, bind: Bind, event_id: int, title: str, body: str, people: str) -> None:
        """Put (or replace) one event in the full-text index."""
        self.forget_events(bind, [event_id])
        self.index_events(bind, [{"id": event_id, "t": title, "b": body, "p": people}])

    def forget_events(self, bind: Bind, ids: Sequence[int]) -> None:
        """Take events out of the full-text index."""
        if ids:
            bind.execute(
                text(f"DELETE FROM event_fts WHERE rowid IN ({','.join(str(int(i)) for i in ids)})")
            )

    # full-text queries ----------------------------------------------------------------

    def match_value(
        self, terms: Sequence[Term], excluded: Sequence[Term] = (), *, whole: bool = False
    ) -> str:
        """The bound value of a full-text query for terms ("" for no terms)."""
        from app.search_syntax import fts_match

        return fts_match(tuple(terms), tuple(excluded), whole=whole)

    def any_value(self, terms: Sequence[Term]) -> str:
        """The bound value of a query for events holding any of the terms."""
        return " OR ".join(self.match_value((t,)) for t in terms)

    def words_value(self, words: Sequence[str]) -> str:
        """Every word, each as a prefix (the timeline's filter box)."""
        return " ".join(f'"{w}"*' for w in words)

    def match_sql(self, param: str) -> str:
        """SQL: the ids of the events the full-text query ``:param`` finds."""
        return f"SELECT rowid FROM event_fts WHERE event_fts MATCH :{param}"

    def candidates_sql(self, param: str, conds: Sequence[str]) -> str:
        """SQL: (id, 0) of the newest-stored ``:lim`` matches of ``:param`` meeting ``conds``
        (over ``event e``)."""
        return (
            "SELECT event_fts.rowid, 0 "
            "FROM event_fts JOIN event e ON e.id = event_fts.rowid "
            f"WHERE event_fts MATCH :{param}"
            + "".join(f" AND {c}" for c in conds)
            + " ORDER BY event_fts.rowid DESC LIMIT :lim"
        )

    def scores(self, session: Session, match: str, ids: Sequence[int]) -> dict[int, float]:
        """Relevance of the events for a query: lower is better (bm25's sign)."""
        found = self._per_event(session, "bm25(event_fts)", match, ids)
        return {eid: float(v or 0) for eid, v in found.items()}

    def snippets(self, session: Session, match: str, ids: Sequence[int]) -> dict[int, str]:
        """A short excerpt of each event with the matches between ``HL_START``/``HL_END``."""
        found = self._per_event(
            session, "snippet(event_fts, -1, char(2), char(3), '…', 16)", match, ids
        )
        return {eid: str(v or "") for eid, v in found.items()}

    def _per_event(
        self, session: Session, expr: str, match: str, ids: Sequence[int]
    ) -> dict[int, Any]:
        if not ids:
            return {}
        # One pass over the matches between the lowest and highest id ("+rowid IN": not a
        # separate FTS5 look-up per id, each of which would expand a prefix again).
        rows = session.execute(
            text(
                f"SELECT rowid, {expr} FROM event_fts "
                "WHERE event_fts MATCH :q AND rowid >= :lo AND rowid <= :hi "
                f"AND +rowid IN ({','.join(str(int(i)) for i in ids)})"
            ),
            {"q": match, "lo": min(ids), "hi": max(ids)},
        )
        return {int(r[0]): r[1] for r in rows}

    # lookup as one types --------------------------------------------------------------

    def lookup_value(self, found: Lookup) -> str:
        """The bound value of a lookup."""
        if found.mode == "fragment":
            return " OR ".join(_quoted(a) for a in found.alternatives)
        return _quoted(found.alternatives[0]) + "*"

    def lookup_sql(self, found: Lookup, kind: int, param: str) -> str:
        """SQL: the ids of one kind (``LOOKUP_*``) that the lookup ``:param`` finds."""
        table = "lookup_fts" if found.mode == "fragment" else "lookup_words"
        return f"SELECT rowid / 4 FROM {table} WHERE {table} MATCH :{param} AND rowid % 4 = {kind}"

    # JSON --------------------------------------------------------------------------------

    def json_value(self, column: Any, key: str) -> Any:
        """SQL: the ``key`` member of a JSON text column (an object as JSON text, a string
        as itself, null or missing as NULL)."""
        return func.json_extract(column, f"$.{key}")

    # rows in bulk ------------------------------------------------------------------------

    def insert_rows(
        self, session: Session, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert ``rows`` (each with the same keys, column names of ``table``) in one
        ``executemany``: what ``session.execute(insert(table), rows)`` stores, without
        SQLAlchemy building each row's parameters again (a big import's rows by the
        hundred thousand).

        The statement and the columns' converters (a JSON text, a UTC time) are made once
        per table and set of keys, by SQLAlchemy, so a value is stored as Core stores it.
        Rows that leave out a column with a default go through Core, which fills it in; so
        do rows a converter refuses (a naive time), so that the error raised is Core's own
        (a ``StatementError``: the item's fault, recorded as a problem).
        """
        if not rows:
            return
        connection = session.connection()
        plan = _insert_plan(table, tuple(rows[0]), connection.dialect)
        if plan is None:
            session.execute(insert(table), list(rows))
            return
        sql, values, converters = plan
        try:
            params = [values(row) for row in rows]
            if converters:
                for n, row_values in enumerate(params):
                    converted = list(row_values)
                    for place, convert in converters:
                        converted[place] = convert(converted[place])
                    params[n] = tuple(converted)
        except Exception:  # Core raises (or stores) as it always did
            session.execute(insert(table), list(rows))
            return
        connection.exec_driver_sql(sql, params)

    # ids --------------------------------------------------------------------------------

    def new_ids(self, session: Session, column: Any, count: int) -> list[int]:
        """``count`` fresh ids for rows inserted in bulk with their ids given.

        SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so the ids past the
        highest are free.
        """
        top = session.scalar(select(func.max(column))) or 0
        return list(range(top + 1, top + 1 + count))


# (the statement, a row's values in its order, (place, converter) of the values to convert)
_Plan = tuple[str, Callable[[Mapping[str, Any]], tuple[Any, ...]], tuple[tuple[int, Any], ...]]
_plans: dict[tuple[str, tuple[str, ...], str], _Plan | None] = {}


def _insert_plan(table: Table, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    """The INSERT of ``table``'s columns ``keys`` as SQLAlchemy compiles it for ``dialect``
    (positional parameters), how to take a row's values in its order, and the converters
    SQLAlchemy would apply to them; None when the statement needs more than the keys (a
    column default to fill in) or is not positional."""
    cache_key = (table.name, keys, dialect.name)
    if cache_key in _plans:
        return _plans[cache_key]
    plan: _Plan | None = None
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    names = compiled.positiontup
    if compiled.positional and names is not None and sorted(names) == sorted(keys):
        columns = {column.key: column for column in table.columns}
        converters = tuple(
            (place, convert)
            for place, name in enumerate(names)
            if (convert := columns[name].type.dialect_impl(dialect).bind_processor(dialect))
        )
        take = operator.itemgetter(*names)
        values = take if len(names) > 1 else lambda row: (take(row),)
        plan = (compiled.string, values, converters)
    _plans[cache_key] = plan
    return plan


def _connection(bind: Bind) -> Connection:
    return bind.connection() if isinstance(bind, Session) else bind


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


# PostgreSQL: the texts the pg_trgm indexes of migration 0012 cover (the same as the
# SQLite lookup tables of 0011). Queries must use these exact expressions to use them.
PG_LOOKUP_TEXT = {
    ("fragment", LOOKUP_IDENTITY): (
        "identity",
        "id",
        "lower(value || ' ' || raw || ' ' || display_name || ' ' || search_digits)",
    ),
    ("fragment", LOOKUP_CUSTOMER): ("customer", "id", "lower(display_name)"),
    ("fragment", LOOKUP_ORDER): ("order_info", "event_id", "lower(number)"),
    ("prefix", LOOKUP_IDENTITY): (
        "identity",
        "id",
        "lower(split_part(value, '@', 1) || ' ' || display_name || ' ' || search_digits)",
    ),
    ("prefix", LOOKUP_CUSTOMER): ("customer", "id", "lower(display_name)"),
    ("prefix", LOOKUP_ORDER): ("order_info", "event_id", "lower(number)"),
}

# ts_headline's options: the marks SQLite's snippet() uses, about 16 words around the match.
_HEADLINE = (
    f"StartSel={HL_START}, StopSel={HL_END}, MaxWords=16, MinWords=8, ShortWord=0, "
    "MaxFragments=1, FragmentDelimiter=…"
)


# ts_headline reads this much of a text at most (a match further in: the caller's excerpt).
_HEADLINE_CHARS = 20_000


class PostgresDialect(StoreDialect):
    """PostgreSQL: ``tsvector``/``tsquery`` full-text search and ``pg_trgm`` lookups."""

    name = "postgresql"

    def insert_rows(
        self, session: Session, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        if rows:
            session.execute(insert(table), list(rows))

    def index_events(self, bind: Bind, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        bind.execute(
            text(
                "INSERT INTO event_search(event_id, doc) VALUES (:id, CAST(:doc AS tsvector)) "
                "ON CONFLICT (event_id) DO UPDATE SET doc = excluded.doc"
            ),
            [
                {"id": r["id"], "doc": tsvector_text(r["t"] or "", r["b"] or "", r["p"] or "")}
                for r in rows
            ],
        )

    def forget_events(self, bind: Bind, ids: Sequence[int]) -> None:
        if ids:
            bind.execute(
                text(
                    "DELETE FROM event_search WHERE event_id IN "
                    f"({','.join(str(int(i)) for i in ids)})"
                )
            )

    def match_value(
        self, terms: Sequence[Term], excluded: Sequence[Term] = (), *, whole: bool = False
    ) -> str:
        return tsquery_text(terms, excluded, whole=whole)

    def any_value(self, terms: Sequence[Term]) -> str:
        parts = [v for v in (self.match_value((t,)) for t in terms) if v != _NOTHING]
        return " | ".join(f"({p})" for p in parts) or _NOTHING

    def words_value(self, words: Sequence[str]) -> str:
        return tsquery_text([Term((w,), star=True) for w in words])

    def match_sql(self, param: str) -> str:
        return f"SELECT event_id FROM event_search WHERE doc @@ CAST(:{param} AS tsquery)"

    def candidates_sql(self, param: str, conds: Sequence[str]) -> str:
        return (
            "SELECT s.event_id, 0 FROM event_search s JOIN event e ON e.id = s.event_id "
            f"WHERE s.doc @@ CAST(:{param} AS tsquery)"
            + "".join(f" AND {c}" for c in conds)
            + " ORDER BY s.event_id DESC LIMIT :lim"
        )

    def scores(self, session: Session, match: str, ids: Sequence[int]) -> dict[int, float]:
        if not ids:
            return {}
        rows = session.execute(
            text(
                "SELECT event_id, ts_rank_cd(doc, CAST(:q AS tsquery)) FROM event_search "
                f"WHERE event_id IN ({','.join(str(int(i)) for i in ids)})"
            ),
            {"q": match},
        )
        return {int(eid): -float(rank or 0) for eid, rank in rows}  # higher rank is better

    def snippets(self, session: Session, match: str, ids: Sequence[int]) -> dict[int, str]:
        """``ts_headline`` of the text (else the title) that holds a match.

        The headline reads the stored text with PostgreSQL's parser, which keeps an email
        address or a URL as one word: where it marks nothing, the caller's excerpt (the
        words found in the text) is shown instead, as on SQLite for a fragment.
        """
        if not ids:
            return {}
        rows = session.execute(
            text(
                "SELECT e.id, ts_headline('simple', left(e.body, :most), q, :opts), "
                "ts_headline('simple', e.title, q, :opts) "
                "FROM event e, CAST(:q AS tsquery) AS q "
                f"WHERE e.id IN ({','.join(str(int(i)) for i in ids)})"
            ),
            {"q": _headline_query(match), "opts": _HEADLINE, "most": _HEADLINE_CHARS},
        )
        out: dict[int, str] = {}
        for eid, body, title in rows:
            for shown in (body, title):
                if shown and HL_START in shown:
                    out[int(eid)] = " ".join(str(shown).split())
                    break
        return out

    def lookup_value(self, found: Lookup) -> str:
        if found.mode == "fragment":
            return "|".join(_regex(a.lower()) for a in found.alternatives)
        words = tokens(found.alternatives[0])
        return "(^|[^[:alnum:]])" + "[^[:alnum:]]+".join(_regex(w) for w in words)

    def lookup_sql(self, found: Lookup, kind: int, param: str) -> str:
        table, key, expr = PG_LOOKUP_TEXT[(found.mode, kind)]
        return f"SELECT {key} FROM {table} WHERE {expr} ~ :{param}"

    def json_value(self, column: Any, key: str) -> Any:
        return cast(column, JSON)[key].as_string()  # ->>

    def new_ids(self, session: Session, column: Any, count: int) -> list[int]:
        """From the table's sequence: another writer may be inserting at the same time."""
        table = column.table.name
        rows = session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, :c)) FROM generate_series(1, :n)"),
            {"t": table, "c": column.name, "n": count},
        )
        return sorted(int(r[0]) for r in rows)


def _regex(value: str) -> str:
    """``value`` as literal text in a PostgreSQL regular expression (ARE)."""
    return "".join(ch if ch.isalnum() else "\\" + ch for ch in value)


def _headline_query(match: str) -> str:
    """The query for ``ts_headline``: the same words, phrases as plain words.

    The headline re-reads the text with PostgreSQL's own parser, whose positions differ
    from the index's; marking each word of a phrase is what FTS5's snippet shows too.
    """
    return match.replace("<->", "&")


_SQLITE = StoreDialect()
_POSTGRES = PostgresDialect()


def for_bind(bind: Bind) -> StoreDialect:
    """The strategy for the database a session or connection talks to."""
    name = bind.get_bind().dialect.name if isinstance(bind, Session) else bind.dialect.name
    if name == "postgresql":
        return _POSTGRES
    return _SQLITE


def stored_people(bind: Bind, ids: list[int]) -> dict[int, str]:
    """The search index's "people" text of these stored events, from the tables: each
    participant's name and contact point (as written), then an order's number with and
    without its "#". Events with none are left out."""
    from app.models import EventParticipant, Identity, Order

    people: dict[int, list[str]] = {}
    for eid, name, value, raw in bind.execute(
        select(EventParticipant.event_id, EventParticipant.name, Identity.value, Identity.raw)
        .join(Identity, Identity.id == EventParticipant.identity_id, isouter=True)
        .where(EventParticipant.event_id.in_(ids))
        .order_by(EventParticipant.event_id, EventParticipant.identity_id)
    ):
        people.setdefault(eid, []).extend(x for x in (name, raw or value) if x)
    for eid, number in bind.execute(
        select(Order.event_id, Order.number).where(Order.event_id.in_(ids))
    ):
        people.setdefault(eid, []).extend((number, number.lstrip("#")))
    return {eid: " ".join(parts) for eid, parts in people.items()}


def fill_index(bind: Bind, batch: int = 2000) -> int:
    """Index every stored event (title, text and who took part) from the tables: for a copied
    store or a schema that gains the index. Returns how many events were indexed.

    Read a page of events at a time (by id), so memory stays bounded at any size.
    """
    from app.models import Event

    dialect = for_bind(bind)
    done = 0
    last = 0
    while True:
        page = bind.execute(
            select(Event.id, Event.title, Event.body)
            .where(Event.id > last)
            .order_by(Event.id)
            .limit(batch)
        ).all()
        if not page:
            return done
        ids = [row[0] for row in page]
        people = stored_people(bind, ids)
        dialect.index_events(
            bind,
            [
                {"id": eid, "t": title, "b": body, "p": people.get(eid, "")}
                for eid, title, body in page
            ],
        )
        done += len(page)
        last = ids[-1]
