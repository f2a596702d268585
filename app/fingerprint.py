"""What makes two emails the same message, whichever way they arrived.

A Message-ID alone does not: some mailers reuse one (a template resent to
many people, a broken client numbering from 1 again). Two emails with one
Message-ID are the same message only when their *fingerprint* agrees too: the
sender's address, the time in the Date header and the text of the body.

The fingerprint is built from what every transport delivers alike, never from
raw bytes: an mbox (``>From `` quoting, ``Status`` headers, LF line ends),
a Maildir (flags in the file name), an IMAP server (CRLF line ends, its own
``Received`` and keyword headers) and a saved .eml all give the same one.
So the address is lower-cased, the time is used only when it came from the
Date header (fallbacks such as the mbox ``From `` line, the Maildir file name
or the IMAP INTERNALDATE differ by transport), and the body is compared as
its words: line ends, runs of blanks, trailing spaces and ``>From `` quoting
do not count.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime

_QUOTED_FROM = re.compile(r"^>+(?=From )", re.MULTILINE)


def normalised_body(text: str) -> str:
    """The body's words, one space apart, without mbox ``>From `` quoting."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return " ".join(_QUOTED_FROM.sub("", text).split())


def mail_fingerprint(sender: str | None, sent_at: datetime | None, body: str) -> str:
    """A digest of sender address, Date-header time and body words (64 hex digits).

    Args:
        sender: the From address (any case; None or "" when there is none).
        sent_at: the time from the Date header, or None when the message's time
            came from elsewhere (it differs by transport then).
        body: the plain text of the body as stored.
    """
    when = sent_at.astimezone(UTC).replace(microsecond=0).isoformat() if sent_at else ""
    body_digest = hashlib.sha256(normalised_body(body).encode("utf-8")).hexdigest()
    basis = "\x1f".join(((sender or "").strip().lower(), when, body_digest))
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()


def date_is_from_header(details: Mapping[str, object]) -> bool:
    """Whether an email's ``occurred_at`` came from its Date header.

    Events stored before the date fallbacks existed carry no ``date_from``;
    their time always came from the Date header.
    """
    return details.get("date_from", "date") == "date"


def alternate_id(external_id: str, fingerprint: str) -> str:
    """The event key of a different message that reuses ``external_id`` (deterministic)."""
    return f"{external_id[:470]}#{fingerprint[:16]}"
