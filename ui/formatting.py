"""Pure text helpers the panes share: search highlights, snippets, attachments.

Money, dates, durations, phone numbers and names are written by ``app.formatting``
(the one formatting module the CLI and the PDF use too); they are re-exported here so
the panes keep one ``fmt`` to call. Nothing here touches the database or needs a
running ``QApplication``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from app.formatting import (
    age,
    best_contact,
    by_kind,
    chat_extras,
    contact_points,
    customer_name,
    date_text,
    date_time,
    day_heading,
    day_label,
    duration,
    file_size,
    identity_text,
    join_nonempty,
    local,
    long_date,
    money,
    money_totals,
    order_change,
    person_name,
    phone,
    platform_label,
    plural,
    relative_time,
    short_date,
    source_name,
    time_of_day,
    when,
)
from app.service import HL_END, HL_START, Service

__all__ = [
    "age",
    "attachment_text",
    "best_contact",
    "by_kind",
    "chat_extras",
    "contact_points",
    "customer_name",
    "date_text",
    "date_time",
    "day_heading",
    "day_label",
    "duration",
    "file_size",
    "first_line",
    "has_query",
    "highlight_html",
    "identity_text",
    "join_nonempty",
    "local",
    "long_date",
    "match_spans",
    "money",
    "money_totals",
    "order_change",
    "person_name",
    "phone",
    "platform_label",
    "plural",
    "query_terms",
    "relative_time",
    "short_date",
    "snippet_html",
    "snippet_plain",
    "source_name",
    "time_of_day",
    "when",
]


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, whitespace collapsed."""
    for line in text.splitlines():
        stripped = " ".join(line.split())
        if stripped and not stripped.startswith(">"):
            return stripped
    return ""


def query_terms(query: str) -> tuple[str, ...]:
    """The words of a search to highlight, as the full-text index sees them (prefixes).

    Fields (``from:jane``, ``channel:email``, ``after:7d``) and left-out words
    (``-cancelled``) are not highlighted; a query the syntax cannot read still
    highlights its words.
    """
    return Service.search_terms(query)


def has_query(query: str) -> bool:
    """Whether a search box holds anything to search for (a word, a field)."""
    return re.search(r"\w", query, flags=re.UNICODE) is not None


def match_spans(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Where in ``text`` a word starts with one of ``terms`` (sorted, non-overlapping)."""
    if not terms or not text:
        return []
    pattern = re.compile(
        r"\b(?:" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + ")",
        re.IGNORECASE | re.UNICODE,
    )
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def highlight_html(text: str, terms: Sequence[str], style: str) -> str:
    """``text`` as HTML (escaped, newlines kept) with matches wrapped in a styled span."""
    out: list[str] = []
    pos = 0
    for start, end in match_spans(text, terms):
        out.append(html.escape(text[pos:start]))
        out.append(f'<span style="{style}">{html.escape(text[start:end])}</span>')
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out).replace("\n", "<br>")


def snippet_html(snippet: str, style: str) -> str:
    """A search snippet (matches between \\x02 and \\x03) as HTML with styled matches."""
    parts: list[str] = []
    for i, chunk in enumerate(re.split(f"[{HL_START}{HL_END}]", snippet)):
        text = html.escape(re.sub(r"\s+", " ", chunk))
        parts.append(f'<span style="{style}">{text}</span>' if i % 2 else text)
    return "".join(parts)


def snippet_plain(snippet: str) -> str:
    """A search snippet without its match markers (for tooltips and screen readers)."""
    return " ".join(snippet.replace(HL_START, "").replace(HL_END, "").split())


def attachment_text(attachment: dict[str, object]) -> str:
    """ "invoice.pdf · application/pdf · 120 KB" for one ``details["attachments"]`` entry."""
    name = str(attachment.get("name") or "(unnamed attachment)")
    kind = str(attachment.get("type") or "")
    raw = attachment.get("size")
    size = file_size(raw if isinstance(raw, int) else None)
    return join_nonempty((name, kind, size))
