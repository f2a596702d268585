"""The search box's little language, turned into a typed query.

What people know from mail programs and web search::

    invoice                 words: every one must appear (the whole word first; when
                            fewer than a page of messages has it, also words starting
                            with it, so a half-typed word still finds something)
    "next tuesday"          a phrase: these words, next to each other
    deliver*                words starting with it, always
    -cancelled              leave out what contains this word (alone: the word itself)
    from:jane               sent by someone whose name, email or phone contains it
    from:"Jane Doe"         (quotes around a value with spaces)
    channel:email           email, chat or order; or a source: whatsapp, shopify, …
    after:2026-01-31        on or after that day; before:2026-02-01 is before that day
    after:7d                in the last 7 days (also w, m, y: weeks, months, years)
    order:1043              the order whose number contains 1043, and messages naming it

Words with digits (``900123``, ``#1043``) also match fragments of phone numbers
and order numbers. A field other search boxes know (``subject:``, ``to:``,
``is:``…) is refused with a one-line message, as are an unbalanced quote and a
date that is not one; any other ``word:word`` (``tulips:red``, ``12:30``) is
searched as text. Nothing here touches the database: ``app.queries.search``
runs the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from dateutil.relativedelta import relativedelta

from app.errors import UserFacingError

FIELDS = ("from", "channel", "before", "after", "order")
# Fields of other mail and web search boxes: refused with a hint, since a search for the
# text would silently find the wrong thing. Any other ``word:word`` is text ("tulips:red").
_OTHER_FIELDS = frozenset(
    "subject to cc bcc in is has label labels filename title body text date since until "
    "older newer older_than newer_than larger smaller size sender author source type kind "
    "customer name email phone tag tags site intitle intext inurl status list".split()
)
CHANNELS = ("email", "chat", "order")
MAX_TERMS = 32
MAX_CHARS = 1000

_WORD = re.compile(r"\w+", re.UNICODE)
_FIELD = re.compile(r"([A-Za-z]+):(.*)", re.DOTALL)
_RELATIVE = re.compile(r"(\d{1,4})([dwmy])", re.IGNORECASE)
_DAY = re.compile(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?")


class SearchSyntaxError(UserFacingError):
    """The query cannot be read: an unbalanced quote, an unknown field, a bad date."""


@dataclass(frozen=True)
class Term:
    """Words to find: one word (``prefix``: any word starting with it) or a phrase."""

    words: tuple[str, ...]
    phrase: bool = False
    prefix: bool = True
    star: bool = False  # typed as ``word*``: a prefix even when the whole word is found

    @property
    def fragment(self) -> str:
        """The text to look for inside phone and order numbers ("" when not number-like).

        A single word with a digit and at least three letters or digits: ``900123``,
        ``#1043``, ``SO-1043``.
        """
        if self.phrase or len(self.words) != 1:
            return ""
        word = self.words[0]
        return word if len(word) >= 3 and any(ch.isdigit() for ch in word) else ""


@dataclass(frozen=True)
class SearchQuery:
    """A parsed search: text terms and filters, all optional.

    Terms are distinct (case as typed); past ``MAX_TERMS`` terms or ``MAX_CHARS``
    characters of terms the rest is dropped.
    """

    terms: tuple[Term, ...] = ()
    excluded: tuple[Term, ...] = ()
    senders: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    after: datetime | None = None
    before: datetime | None = None
    orders: tuple[str, ...] = ()
    words: tuple[str, ...] = field(default=(), compare=False)

    @property
    def empty(self) -> bool:
        """Nothing to look for (excluded words alone find nothing)."""
        return not (
            self.terms
            or self.senders
            or self.channels
            or self.orders
            or self.after is not None
            or self.before is not None
        )


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text))


def _tokens(text: str) -> list[tuple[str, bool]]:
    """Split on blanks, keeping double-quoted runs whole; (token, quoted-somewhere)."""
    out: list[tuple[str, bool]] = []
    buf: list[str] = []
    quoted = False
    inside = False
    for ch in text:
        if ch == '"':
            inside = not inside
            quoted = True
            buf.append(ch)
        elif ch.isspace() and not inside:
            if buf:
                out.append(("".join(buf), quoted))
            buf, quoted = [], False
        else:
            buf.append(ch)
    if inside:
        raise SearchSyntaxError('the search has an unbalanced quote ("): add the closing one')
    if buf:
        out.append(("".join(buf), quoted))
    return out


def _day(value: str, name: str, now: datetime) -> datetime:
    """The start of the day ``value`` names (local midnight, as UTC), or a relative time."""
    text = value.strip().lower()
    rel = _RELATIVE.fullmatch(text)
    if rel:
        n, unit = int(rel.group(1)), rel.group(2)
        step = {
            "d": relativedelta(days=n),
            "w": relativedelta(weeks=n),
            "m": relativedelta(months=n),
            "y": relativedelta(years=n),
        }[unit]
        return (now - step).astimezone(UTC)
    if text in ("today", "yesterday"):
        local = now.astimezone()
        day = local.date() - timedelta(days=1 if text == "yesterday" else 0)
        return _midnight(day)
    match = _DAY.fullmatch(text)
    if match:
        try:
            day = date(int(match.group(1)), int(match.group(2)), int(match.group(3) or 1))
        except ValueError:
            match = None
        else:
            return _midnight(day)
    raise SearchSyntaxError(
        f"{name}:{value} is not a date: use YYYY-MM-DD (2026-01-31), YYYY-MM, today, "
        "yesterday, or a span such as 7d, 2w, 3m, 1y"
    )


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day).astimezone().astimezone(UTC)


def _unquote(value: str) -> str:
    return value.replace('"', "").strip()


def parse(text: str, *, now: datetime | None = None) -> SearchQuery:
    """Read a search box's text.

    Args:
        text: what the user typed.
        now: the current time (relative dates count back from it); default: now.

    Raises:
        SearchSyntaxError: an unbalanced quote, an unknown ``field:``, an empty
            field value, or a date that is not one.
    """
    now = now or datetime.now(UTC)
    terms: list[Term] = []
    excluded: list[Term] = []
    senders: list[str] = []
    channels: list[str] = []
    orders: list[str] = []
    after: datetime | None = None
    before: datetime | None = None
    size = 0
    for token, quoted in _tokens(text):
        match = _FIELD.fullmatch(token)
        if match and not token.startswith('"'):
            name, value = match.group(1).lower(), match.group(2)
            if name not in FIELDS:
                if name in _OTHER_FIELDS and value:  # "subject:x" from another program
                    raise SearchSyntaxError(
                        f"unknown search field {match.group(1)}: use from:, channel:, "
                        f'before:, after: or order: (or put "{token}" in quotes)'
                    )
            else:
                value = _unquote(value)
                if not value:
                    raise SearchSyntaxError(f"{name}: needs a value, such as {_EXAMPLE[name]}")
                if name == "from":
                    senders.append(value)
                elif name == "channel":
                    channels.extend(v.lower() for v in value.split(",") if v.strip())
                elif name == "order":
                    orders.append(value.lstrip("#").strip())
                elif name == "after":
                    when = _day(value, name, now)
                    after = when if after is None else max(after, when)
                else:
                    when = _day(value, name, now)
                    before = when if before is None else min(before, when)
                continue
        negate = token.startswith("-") and len(token) > 1
        body = token[1:] if negate else token
        phrase = quoted
        words = tuple(w.lower() for w in _words(body))
        if not words:
            continue  # punctuation alone: "*", "^", "NEAR(", "-"
        term = Term(
            words=words,
            phrase=phrase or len(words) > 1,
            prefix=not phrase,
            star=not phrase and body.rstrip().endswith("*"),
        )
        bucket = excluded if negate else terms
        if term in bucket:
            continue
        # Bounded like app.queries.query_words: further terms are dropped, so the cost
        # of a query stays bounded whatever is typed (the CLI refuses such a query).
        size += sum(len(w) + 1 for w in words)
        if size > MAX_CHARS + 1 or len(terms) + len(excluded) >= MAX_TERMS:
            break
        bucket.append(term)
    if excluded and not terms and not (senders or channels or orders or after or before):
        # Nothing to leave out from: "-periwinkle" alone is a search for the word, as a
        # query starting with "-" always was (``threadline search -periwinkle``).
        terms, excluded = excluded, []
    return SearchQuery(
        terms=tuple(terms),
        excluded=tuple(excluded),
        senders=tuple(dict.fromkeys(senders)),
        channels=tuple(dict.fromkeys(channels)),
        after=after,
        before=before,
        orders=tuple(dict.fromkeys(o for o in orders if o)),
        words=tuple(w for t in terms for w in t.words),
    )


_EXAMPLE = {
    "from": "from:jane or from:07700",
    "channel": "channel:email",
    "before": "before:2026-01-31",
    "after": "after:7d",
    "order": "order:1043",
}


def fts_match(
    terms: tuple[Term, ...], excluded: tuple[Term, ...] = (), *, whole: bool = False
) -> str:
    """An FTS5 MATCH expression for the terms: every word quoted, so nothing is syntax.

    A word is ``"word"*`` (a prefix, from ``MIN_PREFIX`` letters; ``"word"`` with
    ``whole``, unless typed with ``*``), a phrase ``"two words"``. Excluded terms
    become ``NOT`` (only after at least one term: FTS5 has no bare NOT).
    """
    parts = [_fts_term(t, whole=whole) for t in terms]
    if not parts:
        return ""
    out = " AND ".join(parts)
    for t in excluded:
        out = f"({out}) NOT {_fts_term(t)}"
    return out


# A word shorter than this is a prefix only when typed with "*": "c" would expand to
# every word starting with c, which at a million messages takes seconds.
MIN_PREFIX = 3


def has_prefixes(terms: tuple[Term, ...]) -> bool:
    """Whether ``fts_match(terms, whole=True)`` finds less than ``fts_match(terms)``."""
    return any(_implicit_prefix(t) for t in terms)


def _implicit_prefix(term: Term) -> bool:
    return term.prefix and not term.star and len(term.words[-1]) >= MIN_PREFIX


def _fts_term(term: Term, *, whole: bool = False) -> str:
    inner = " ".join(w.replace('"', '""') for w in term.words)
    star = term.star or (not whole and _implicit_prefix(term))
    return f'"{inner}"*' if star else f'"{inner}"'
