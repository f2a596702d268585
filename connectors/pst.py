"""The Outlook data file connector: a ``.pst`` (Outlook for Windows' archive and export,
File › Open & Export › Import/Export › Export to a file) or an ``.ost`` (its offline copy
of an Exchange or Microsoft 365 mailbox).

The file is read with libpff (``pypff``, the ``libpff-python`` wheels), folder by folder;
each message's MAPI properties are written back as the RFC 5322 message it was
(``connectors.mapi``) and read as every other mail is (``connectors.mail``): identities,
threads, automated senders, HTML and languages alike. Mail is read (``IPM.Note`` and its
kinds, meeting requests and replies, delivery reports), and contacts as address book cards
(``IPM.Contact``: the name, voice numbers, and Email1–Email3, named properties found
through the file's name-to-id map); calendar items, tasks, notes and distribution lists
are left out. The folder is kept (``details["folder"]``, below the file's
top folder); a Sent folder names the owner's address; a Junk one is left out. A message
that cannot be read is a problem with its folder and number; the rest goes on.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from app.errors import FormatError
from app.records import Channel, Item, ParseOptions, Problem
from connectors import mail, mapi
from connectors.maildir import is_sent_folder

log = logging.getLogger(__name__)

_MAGIC = b"!BDN"
_PROGRESS_EVERY = 200
_STRING_TYPES = (0x001F, 0x001E)  # PT_UNICODE, PT_STRING8
_TIME_TYPE = 0x0040  # PT_SYSTIME
_INTEGER_TYPES = (0x0002, 0x0003, 0x0014)


class _Properties:
    """A libpff item's properties (its record set ``index``), the first entry of each tag."""

    def __init__(self, item: Any, index: int = 0) -> None:
        self.entries: dict[int, Any] = {}
        if item.number_of_record_sets > index:
            for entry in item.get_record_set(index).entries:
                self.entries.setdefault(entry.entry_type, entry)

    def text(self, tag: int) -> str:
        entry = self.entries.get(tag)
        if entry is None or entry.value_type not in _STRING_TYPES:
            return ""
        try:
            value = entry.data_as_string
        except (OSError, RuntimeError, ValueError):  # (a damaged or unconvertible string)
            return ""
        return " ".join((value or "").split())

    def number(self, tag: int) -> int | None:
        entry = self.entries.get(tag)
        if entry is None or entry.value_type not in _INTEGER_TYPES:
            return None
        try:
            return int(entry.data_as_integer)
        except (OSError, ValueError, TypeError):
            return None

    def time(self, tag: int) -> datetime | None:
        entry = self.entries.get(tag)
        if entry is None or entry.value_type != _TIME_TYPE:
            return None
        try:
            return mapi.utc(entry.data_as_datetime)
        except (OSError, ValueError, OverflowError):
            return None


def _message(item: Any, props: _Properties) -> mapi.Message:
    """A libpff message as ``connectors.mapi`` reads it (libpff gives the plain body in
    UTF-8, the HTML one as stored)."""
    recipients = item.recipients
    return mapi.Message(
        props,
        plain=item.plain_text_body or b"",
        html=item.html_body or b"",
        received=item.transport_headers or "",
        rtf=lambda: _rtf(item),
        subject=item.subject or "",
        recipients=[_Properties(recipients, i) for i in range(recipients.number_of_record_sets)]
        if recipients is not None
        else [],
        attachments=[
            _Properties(item.get_attachment(i)) for i in range(item.number_of_attachments)
        ],
    )


def _rtf(item: Any) -> bytes:
    """A message's RTF body, uncompressed by libpff (b"" if none, or damaged)."""
    try:
        return item.rtf_body or b""
    except (OSError, ValueError):  # (libpff: "unable to retrieve RTF body")
        return b""


def _named_ids(store: Any) -> dict[tuple[str, int], int]:
    """The file's numeric named properties (``mapi.named_ids`` of its name-to-id map: the
    GUID stream and the entry stream, MS-PST 2.4.7); {} if they cannot be read."""
    streams: dict[int, bytes] = {}
    try:
        table = store.get_name_to_id_map()
        if table is not None and table.number_of_record_sets:
            for entry in table.get_record_set(0).entries:
                if entry.entry_type in (0x0002, 0x0003):
                    streams[entry.entry_type] = entry.data or b""
    except (OSError, RuntimeError, ValueError) as exc:  # (a damaged map: no addresses)
        log.info("libpff cannot read the named properties: %r", str(exc))
        return {}
    return mapi.named_ids(streams.get(0x0002, b""), streams.get(0x0003, b""))


@dataclass
class _Folder:
    """A folder of the file: its path below the file's top folders ("Inbox",
    "Inbox/Suppliers"; "" for a top folder itself), its libpff folder and how many items
    it holds, or why it cannot be read (a damaged part of the file: its items are lost,
    the folders beside it are read)."""

    name: str
    folder: Any = None
    items: int = 0
    damage: str = ""


def _folders(root: Any) -> list[_Folder]:
    """Every folder, depth first in the file's order."""
    found: list[_Folder] = []
    stack: list[tuple[list[str], Any]] = [([], root)]
    while stack:
        names, folder = stack.pop()
        name = "/".join(names[1:])
        try:
            items = folder.number_of_sub_messages
            subfolders = [folder.get_sub_folder(i) for i in range(folder.number_of_sub_folders)]
            labels = [(sub.name or "").replace("/", "∕") for sub in subfolders]
        except OSError as exc:
            log.info("libpff cannot read the folder %r: %r", name, str(exc))
            found.append(_Folder(name, damage="cannot read the folder (damaged in the file)"))
            continue
        found.append(_Folder(name, folder, items))
        for sub, label in reversed(list(zip(subfolders, labels, strict=True))):
            stack.append(([*names, label], sub))
    return found


class PstConnector:
    """Reads Outlook data files (``.pst``, ``.ost``): every mail message, folder by folder."""

    name = "pst"
    label = "Outlook data file (.pst, .ost)"
    channel: Channel = "email"
    extensions: tuple[str, ...] = (".pst", ".ost")

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure it is that ``path`` is an Outlook data file.

        Args:
            path: the file.
            head: its first bytes.

        Returns:
            0.95 when it starts with the Outlook data file's signature, else 0.0.
        """
        return 0.95 if head[:4] == _MAGIC else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the events of every mail message in the file.

        Args:
            path: the ``.pst`` or ``.ost`` file.
            options: progress (in messages) and cancel callbacks are used.

        Yields:
            Owner hints, events, problems and notices.

        Raises:
            FormatError: not a readable Outlook data file.
        """
        import pypff

        store = pypff.file()
        with contextlib.ExitStack() as stack:
            try:
                store.open(str(path))
            except (OSError, RuntimeError, ValueError) as exc:
                # (a paragraph of libpff's steps; repr: a name may hold bytes no encoding reads)
                log.info("libpff cannot open %r: %r", str(path), str(exc))
                try:  # (a name libpff cannot pass to the system: read through Python)
                    store.open_file_object(stack.enter_context(path.open("rb")))
                except (OSError, RuntimeError, ValueError):
                    raise FormatError(
                        f"{path.name}: not a readable Outlook data file "
                        "(damaged, cut short, or not one)"
                    ) from exc
            stack.callback(store.close)
            yield from self._read(store, path, options)

    def _read(self, store: Any, path: Path, options: ParseOptions) -> Iterator[Item]:
        try:
            root = store.get_root_folder()
        except OSError as exc:
            log.info("libpff cannot read the folders of %r: %r", str(path), str(exc))
            raise FormatError(f"{path.name}: its folders cannot be read (damaged)") from exc
        folders = _folders(root)
        total = sum(f.items for f in folders)
        reader = mail.MailReader()
        spam: dict[str, int] = {}
        names: dict[tuple[str, int], int] | None = None  # (read at the first contact)
        done = 0
        for place in folders:
            name, folder = place.name, place.folder
            if place.damage:
                yield Problem(f"{path.name}!{name or '(top)'}", place.damage)
                continue
            if name and mail.is_spam_folder(name):  # (not read: Junk's senders are no one's)
                if place.items:
                    spam[name] = place.items
                done += place.items
                continue
            sent = is_sent_folder(name)
            for index in range(place.items):
                if options.should_cancel is not None and options.should_cancel():
                    return
                done += 1
                if options.progress is not None and done % _PROGRESS_EVERY == 0:
                    options.progress(done, total)
                locator = f"{path.name}!{name or '(top)'}#{index + 1}"
                try:
                    item = folder.get_sub_message(index)
                    props = _Properties(item)
                    kind = props.text(mapi.MESSAGE_CLASS)
                    if mapi.is_contact(kind):
                        if names is None:
                            names = _named_ids(store)
                        emails = mapi.contact_emails(props, names)
                        card = mapi.contact_card(props, emails, locator)
                        if card.emails or card.phones:
                            yield card
                        continue
                    if not mapi.is_mail(kind):
                        continue  # (a calendar item, a task, a note, a distribution list)
                    raw, details, inside = mapi.message_bytes(_message(item, props))
                except (OSError, RuntimeError) as exc:  # (libpff: a damaged part of the file)
                    log.info("libpff cannot read %r: %r", locator, str(exc))
                    yield Problem(locator, "cannot read the message (damaged in the file)")
                    continue
                except ValueError as exc:  # (a value libpff refuses to give)
                    yield Problem(locator, f"cannot read the message ({exc})")
                    continue
                if name:
                    details["folder"] = name
                when = props.time(mapi.DELIVERY_TIME) or props.time(mapi.CLIENT_SUBMIT_TIME)
                for found in reader.items(
                    raw,
                    locator,
                    extra=details,
                    sent=sent,
                    fallback_dates=[("date_received", when)],
                ):
                    yield mapi.owners_side(found, inside, sent)
        if reader.spam:
            yield mail.spam_notice(reader.spam)
        if spam:
            yield mail.spam_folders_notice(spam)
        if options.progress is not None:
            options.progress(total, total)
