"""The registry of connectors: lists them, finds one by name, detects a file's format.

Adding a source format means adding one connector module and one line in
``_CONNECTORS`` below; nothing else changes. Listing the format names imports
no connector; a connector's module is imported when it is first needed.

Most sources are files. A few are directories (a Maildir): a connector
claims a directory when its ``sniff`` gives it enough confidence with an
empty ``head``, and ``expand`` then yields the directory as one source
instead of walking into it.
"""

from __future__ import annotations

import csv
import decimal
import email.errors
import importlib
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from app.errors import UnrecognisedFormat, UserFacingError
from connectors.base import Connector, MappingSpec

# Every connector as (format name, module, class), in the order ties are broken. The names
# are written here, not read from the classes, so listing them (``--format``'s choices) imports
# no connector; tests/test_registry.py checks each name against its class.
_CONNECTORS: tuple[tuple[str, str, str], ...] = (
    ("mbox", "connectors.mbox", "MboxConnector"),
    ("eml", "connectors.eml", "EmlConnector"),
    ("maildir", "connectors.maildir", "MaildirConnector"),
    ("apple_mail", "connectors.apple_mail", "AppleMailConnector"),
    ("olm", "connectors.olm", "OlmConnector"),
    ("pst", "connectors.pst", "PstConnector"),
    ("msg", "connectors.msg", "MsgConnector"),
    ("whatsapp", "connectors.whatsapp", "WhatsAppConnector"),
    ("shopify", "connectors.shopify", "ShopifyConnector"),
    ("squarespace", "connectors.squarespace", "SquarespaceConnector"),
    ("messenger", "connectors.meta_dyi", "MessengerConnector"),
    ("instagram", "connectors.meta_dyi", "InstagramConnector"),
    ("telegram", "connectors.telegram", "TelegramConnector"),
    ("telegram_html", "connectors.telegram_html", "TelegramHtmlConnector"),
    ("slack", "connectors.slack", "SlackConnector"),
    ("zendesk", "connectors.zendesk", "ZendeskConnector"),
    ("chat_csv", "connectors.chat_csv", "ChatCsvConnector"),
    ("woocommerce", "connectors.woocommerce", "WooCommerceConnector"),
    ("etsy", "connectors.etsy", "EtsyConnector"),
    ("stripe", "connectors.stripe", "StripeConnector"),
    ("paypal", "connectors.paypal", "PayPalConnector"),
    ("square", "connectors.square", "SquareConnector"),
    ("amazon", "connectors.amazon", "AmazonConnector"),
    ("ebay", "connectors.ebay", "EbayConnector"),
    ("orders_csv", "connectors.orders_csv", "OrdersCsvConnector"),
    ("sms_backup", "connectors.sms_backup", "SmsBackupConnector"),
    ("google_voice", "connectors.google_voice", "GoogleVoiceConnector"),
    ("line", "connectors.line", "LineConnector"),
    ("imazing", "connectors.imazing", "IMazingConnector"),
    ("imessage_txt", "connectors.imessage_txt", "IMessageTxtConnector"),
    ("imessage_html", "connectors.imessage_html", "IMessageHtmlConnector"),
    ("vcard", "connectors.vcard", "VCardConnector"),
    ("contacts_csv", "connectors.contacts_csv", "ContactsCsvConnector"),
)

# Generic CSV formats whose columns the user maps (module, attribute holding a MappingSpec).
_MAPPED: dict[str, tuple[str, str]] = {
    "chat_csv": ("connectors.chat_csv", "MAPPING"),
    "orders_csv": ("connectors.orders_csv", "MAPPING"),
    "contacts_csv": ("connectors.contacts_csv", "MAPPING"),
}

SNIFF_BYTES = 64 * 1024
_MIN_CONFIDENCE = 0.3

log = logging.getLogger(__name__)

# What malformed data (not a bug) raises while a connector reads it: a JSON integer past
# Python's 4,300-digit limit or a bad value (ValueError, UnicodeError), a number too large
# (OverflowError), a non-finite amount (decimal.InvalidOperation), JSON nested too deeply
# (RecursionError), a CSV line the csv module refuses (csv.Error), a mail structure the
# email package refuses (MessageError). A TypeError, AttributeError or KeyError is our bug.
DATA_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    OverflowError,
    decimal.InvalidOperation,
    RecursionError,
    csv.Error,
    email.errors.MessageError,
)


def display_path(path: Path | str) -> str:
    """``path`` as text that can always be printed and stored.

    A file name that is not valid UTF-8 reaches Python with its bad bytes as
    lone surrogates; they become backslash escapes (``bad\\xff.mbox``).
    """
    return displayable(str(path))


def displayable(text: str) -> str:
    """``text`` with lone surrogates (undecodable bytes of a file name) as backslash escapes."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    return text


_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def special_file(path: Path) -> str | None:
    """What ``path`` is when it is neither a regular file nor a folder ("a named pipe
    (FIFO)", "a socket", …), else None. Looks without opening it: opening a FIFO blocks."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None  # reading it will say why
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def check_regular(path: Path) -> None:
    """Refuse a path that is a FIFO, device or socket, before anything opens it.

    Raises:
        UserFacingError: ``path`` is not a regular file or folder.
    """
    what = special_file(path)
    if what is not None:
        raise UserFacingError(f"{display_path(path)}: {what}, not a regular file; skipped")


@cache
def _load(module_name: str, class_name: str) -> Connector:
    connector: Connector = getattr(importlib.import_module(module_name), class_name)()
    return connector


def all_connectors() -> tuple[Connector, ...]:
    """Every registered connector, instantiated once (this imports all of them)."""
    return tuple(_load(module, cls) for _name, module, cls in _CONNECTORS)


def names() -> list[str]:
    """The format names ``--format`` accepts, without importing any connector."""
    return [name for name, _module, _cls in _CONNECTORS]


def get(name: str) -> Connector:
    """The connector called ``name``; only its own module is imported.

    Raises:
        UserFacingError: no connector has that name.
    """
    for known, module, cls in _CONNECTORS:
        if known == name:
            return _load(module, cls)
    raise UserFacingError(f"unknown format {name!r}; known formats: {', '.join(names())}")


def mapping_spec(name: str) -> MappingSpec | None:
    """The column-mapping needs of format ``name`` (None for formats with fixed columns)."""
    entry = _MAPPED.get(name)
    if entry is None:
        return None
    spec = getattr(importlib.import_module(entry[0]), entry[1])
    assert isinstance(spec, MappingSpec)
    return spec


def read_headers(path: Path) -> list[str]:
    """The header row of a CSV file (any common delimiter; UTF-8 with or without BOM, or
    Windows-1252).

    Raises:
        UserFacingError: the file cannot be read.
    """
    head = read_head(path)
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = head.decode("cp1252", errors="replace")
    first = next(iter(text.splitlines()), "")
    delimiter = max((",", ";", "\t", "|"), key=first.count)
    row = next(csv.reader([first], delimiter=delimiter), [])
    return [cell.strip() for cell in row]


def read_head(path: Path) -> bytes:
    """The first bytes of ``path`` that sniffing looks at.

    Raises:
        UserFacingError: the file cannot be read.
    """
    check_regular(path)
    try:
        with path.open("rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise UserFacingError(f"{display_path(path)}: cannot read: {exc.strerror or exc}") from exc


def detect(path: Path) -> Connector:
    """The connector most sure that ``path`` is its format.

    A directory is offered to every connector with an empty ``head``.

    Raises:
        UnrecognisedFormat: no connector recognises the file or directory.
        UserFacingError: the file cannot be read.
    """
    head = b"" if path.is_dir() else read_head(path)
    # A zip archive is only offered to the connectors that read one (a member stored
    # uncompressed shows its text in the archive's first bytes: a JSON or CSV sniffer
    # would take the archive for its format).
    zipped = head.startswith((b"PK\x03\x04", b"PK\x05\x06"))
    best: Connector | None = None
    best_score = 0.0
    for connector in all_connectors():
        if zipped and ".zip" not in connector.extensions:
            continue
        score = _sniff(connector, path, head)
        if score > best_score:
            best, best_score = connector, score
    if best is None or best_score < _MIN_CONFIDENCE:
        if _meta_html(path):
            raise UnrecognisedFormat(f"{display_path(path)}: {META_HTML}")
        what = "a folder" if path.is_dir() else "a format"
        raise UnrecognisedFormat(
            f"{display_path(path)}: not {what} Threadline recognises "
            f"(supported: {', '.join(names())})"
        )
    return best


# The folders of Meta's "Download your information" that hold one chat each
_META_CHATS = frozenset(
    {"inbox", "archived_threads", "filtered_threads", "message_requests", "e2ee_cutover"}
)
META_HTML = (
    "Meta's download in HTML: ask for it again in JSON "
    "(Accounts Centre › Download your information › Format: JSON)"
)


def _meta_html(path: Path) -> bool:
    """Whether ``path`` is a chat page of Meta's download in HTML (``messages/inbox/<chat>/
    message_1.html``), which no connector reads: the JSON download holds the same."""
    name = path.name.lower()
    return (
        name.startswith("message_")
        and name.endswith(".html")
        and name[8:-5].isdigit()
        and path.parent.parent.name.lower() in _META_CHATS
    )


_TAR_NAMES = (".tgz", ".tar", ".tar.gz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def export_archive(path: Path) -> str | None:
    """ "zip" if ``path`` is a zip archive that no format claims as its own (a WhatsApp chat
    and a Slack workspace are read from their zip by their connectors), "tar" for a tar
    archive (a Google Takeout's ``.tgz``), else None: a download of exports (Meta's
    "Download your information", a Takeout, zipped order files), which the import reads as
    the folder it holds."""
    from connectors.archive import looks_like_tar, looks_like_zip

    if path.is_dir() or special_file(path) is not None:
        return None
    try:
        with path.open("rb") as fh:  # (four bytes: asked of every file an import meets)
            kind = "zip" if looks_like_zip(fh.read(4)) else None
    except OSError:
        return None  # (the import says why it cannot be read)
    if kind is None and path.name.lower().endswith(_TAR_NAMES) and looks_like_tar(path):
        kind = "tar"
    if kind is None:
        return None
    try:
        detect(path)
    except UnrecognisedFormat:
        return kind
    except UserFacingError:
        return None
    return None


def _sniff(connector: Connector, path: Path, head: bytes) -> float:
    """A connector's confidence; malformed data that trips its sniffing counts as "not mine"."""
    try:
        return connector.sniff(path, head)
    except DATA_ERRORS as exc:
        log.info("%s: %s could not sniff it: %r", display_path(path), connector.name, exc)
        return 0.0


def claims_directory(path: Path) -> bool:
    """Whether some connector reads the directory ``path`` as one source (a Maildir).

    Args:
        path: a directory.

    Returns:
        True if a connector's ``sniff`` of the directory reaches the threshold.
    """
    return any(_sniff(c, path, b"") >= _MIN_CONFIDENCE for c in all_connectors())


# Files that mail programs and desktops keep beside the mail: Apple Mail's export of a
# mailbox (``Inbox.mbox/``: ``mbox``, ``Info.plist``, ``table_of_contents``),
# Thunderbird's summary files (``Inbox.msf`` beside ``Inbox``) and its account files,
# Windows' thumbnails and folder settings. They hold no mail, chat or order.
_BESIDE_THE_MAIL = frozenset(
    {
        "info.plist",
        "table_of_contents",
        "msgfilterrules.dat",
        "popstate.dat",
        "filterlog.html",
        "thumbs.db",
        "desktop.ini",
    }
)


SHARED_CARD = "a contact shared in the chat exported with it, not your address book"
_SHARED_CARD_CHATS = 20  # chat exports beside a card looked into, at most
_SHARED_CARD_SCAN = 256 * 1024**2  # bytes of each chat searched for the card's name


def shared_in_chat(path: Path) -> bool:
    """Whether ``path`` is a contact card shared in a chat whose export lies around it: one
    person's card a customer passed on, not the owner's address book. A WhatsApp export
    keeps it beside the chat, which names it ("Bob Plumber.vcf (file attached)", "<attached:
    00000012-Bob Plumber.vcf>"); a Telegram one in its ``contacts/`` folder, which its
    ``result.json`` or ``messages.html`` names ("contacts/contact_1.vcard")."""
    import unicodedata

    if path.suffix.lower() not in (".vcf", ".vcard"):
        return False
    names = {unicodedata.normalize(f, path.name).encode("utf-8") for f in ("NFC", "NFD")}
    try:
        beside = sorted(p for p in path.parent.iterdir() if p.suffix.lower() == ".txt")
    except OSError:
        beside = []
    whatsapp = get("whatsapp")
    for chat in beside[:_SHARED_CARD_CHATS]:
        try:
            chat_export = chat.is_file() and _sniff(whatsapp, chat, read_head(chat)) >= 0.5
            if chat_export and _names_one(chat, names):
                return True
        except (OSError, UserFacingError):
            continue
    if path.parent.name.lower() != "contacts":
        return False
    relative = {b"contacts/" + name for name in names}
    for root in (path.parent.parent, *list(path.parent.parent.parents)[:2]):
        try:
            pages = sorted(root.glob("messages*.html"))[:_SHARED_CARD_CHATS]
        except OSError:
            continue
        for export in (root / "result.json", *pages):
            try:
                if export.is_file() and _names_one(export, relative):
                    return True
            except OSError:
                continue
    return False


def _names_one(text_file: Path, names: set[bytes]) -> bool:
    """Whether the file holds one of ``names`` in its first ``_SHARED_CARD_SCAN`` bytes."""
    longest = max(len(n) for n in names)
    with text_file.open("rb") as fh:
        tail = b""
        read = 0
        while read < _SHARED_CARD_SCAN:
            block = fh.read(1024**2)
            if not block:
                return False
            read += len(block)
            text = tail + block
            if any(name in text for name in names):
                return True
            tail = text[-longest:]
    return False


def beside_the_mail(path: Path) -> bool:
    """Whether a file met on a folder's walk is one a mail program or the desktop keeps
    beside the data (``_BESIDE_THE_MAIL``, Thunderbird's ``.msf``): skipped unread."""
    name = path.name.lower()
    return name in _BESIDE_THE_MAIL or name.endswith(".msf")


def expand(paths: Iterable[Path]) -> Iterator[Path]:
    """Sources to import: each file as given, each folder walked recursively.

    A directory that a connector claims (a Maildir, given or met on the walk)
    is yielded itself, and inside it only the directories that are claimed
    too (nested Maildirs) are looked at: its own files belong to it. Hidden
    files and folders met on the walk are skipped (a Maildir's ``.Sent``
    subfolders are read by the Maildir connector), and so are symbolic links
    to folders and the files mail programs keep beside the mail
    (``beside_the_mail``: Apple Mail's ``Info.plist``, Thunderbird's ``.msf``). Named
    pipes, devices and sockets met on the walk are yielded (never opened) so the import
    can say it skipped them (see ``special_file``).
    """
    for path in paths:
        if path.is_dir():
            yield from _walk(path)
        else:
            yield path


def _walk(folder: Path) -> Iterator[Path]:
    claimed = claims_directory(folder)
    if claimed:
        yield folder
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return
    for child in children:
        if child.name.startswith(".") or (not child.is_dir() and beside_the_mail(child)):
            continue
        if child.is_dir():
            if child.is_symlink():
                continue  # a linked folder may lead back up the tree
            if not claimed or claims_directory(child):
                yield from _walk(child)
        elif not claimed and (child.is_file() or special_file(child) is not None):
            yield child
