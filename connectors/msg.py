"""The Outlook message connector: an ``.msg`` file, what Outlook for Windows saves when a
message is dragged out of it or saved with File › Save As (one message per file).

An ``.msg`` file is an OLE compound file (read with olefile) holding the message's MAPI
properties (MS-OXMSG): the fixed-size ones (numbers, times) in the stream
``__properties_version1.0`` (after a 32-byte header; each entry 16 bytes: the tag, flags
and the value), the others each in a stream of its own, ``__substg1.0_<tag><type>``
(``001F`` UTF-16, ``001E`` 8-bit in the message's code page, ``0102`` bytes); each
recipient and attachment in a storage of its own (``__recip_version1.0_#<n>``,
``__attach_version1.0_#<n>``, an 8-byte header). The message is written back as the
RFC 5322 message it was (``connectors.mapi``) and read as every other mail is. A contact
(what dragging one out of Outlook's People makes) is an address book card: its name, its
voice numbers and the email addresses of its named properties (``named_ids``). A file that
holds a calendar item or a task instead is reported as such and adds nothing.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.errors import FormatError
from app.records import Channel, ContactCard, Item, Notice, ParseOptions
from connectors import mail, mapi

log = logging.getLogger(__name__)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PROPERTIES = "__properties_version1.0"
_EMBEDDED = "__substg1.0_3701000D"  # an attachment's message (PR_ATTACH_DATA_OBJ, an object)
_MAX_MESSAGE = 64 * 1024**2  # the streams read of one message
_MAX_PARTS = 2048  # recipients and attachments read of one message
_UNICODE, _STRING8, _BINARY = 0x001F, 0x001E, 0x0102
_STRINGS = (_UNICODE, _STRING8)
_LONG, _SYSTIME, _I8 = 0x0003, 0x0040, 0x0014
_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)  # a FILETIME counts 100 ns from here


class _Properties:
    """The properties of the message or of one of its recipients or attachments (``folder``:
    its storage's path, "" for the message)."""

    def __init__(self, ole: Any, folder: str, header: int, code_page: int | None) -> None:
        self.ole = ole
        self.prefix = f"{folder}/" if folder else ""
        self.code_page = code_page
        self.fixed: dict[int, tuple[int, bytes]] = {}
        stream = f"{self.prefix}{_PROPERTIES}"
        if ole.exists(stream):
            data = ole.openstream(stream).read(_MAX_MESSAGE)
            for at in range(header, len(data) - 15, 16):
                tag, _flags, value = struct.unpack_from("<II8s", data, at)
                self.fixed.setdefault(tag >> 16, (tag & 0xFFFF, value))

    def _stream(self, tag: int, kind: int) -> bytes | None:
        name = f"{self.prefix}__substg1.0_{tag:04X}{kind:04X}"
        if not self.ole.exists(name):
            return None
        data: bytes = self.ole.openstream(name).read(_MAX_MESSAGE)
        return data

    def raw_text(self, tag: int) -> str:
        """A string property as stored (line breaks kept), "" if it has none."""
        data = self._stream(tag, _UNICODE)
        if data is not None:
            return data.decode("utf-16-le", "replace").rstrip("\0")
        data = self._stream(tag, _STRING8)
        return mapi.decoded(data, self.code_page) if data else ""

    def text(self, tag: int) -> str:
        return " ".join(self.raw_text(tag).split())

    def binary(self, tag: int) -> bytes:
        return self._stream(tag, _BINARY) or b""

    def number(self, tag: int) -> int | None:
        found = self.fixed.get(tag)
        if found is None and tag == mapi.ATTACH_SIZE:  # (not always written: its data's)
            name = f"{self.prefix}__substg1.0_{mapi.ATTACH_DATA:04X}{_BINARY:04X}"
            return int(self.ole.get_size(name)) if self.ole.exists(name) else None
        if found is None:
            return None
        kind, value = found
        if kind == _LONG:
            return int(struct.unpack_from("<i", value)[0])
        if kind == _I8:
            return int(struct.unpack_from("<q", value)[0])
        return None

    def time(self, tag: int) -> datetime | None:
        found = self.fixed.get(tag)
        if found is None or found[0] != _SYSTIME:
            return None
        ticks = struct.unpack_from("<Q", found[1])[0]
        try:
            when = _EPOCH + timedelta(microseconds=ticks // 10)
        except OverflowError:
            return None
        return mapi.utc(when.replace(tzinfo=None))


def _parts(ole: Any, folder: str, prefix: str, code_page: int | None) -> list[_Properties]:
    """The properties of each recipient or attachment of the message in ``folder`` ("" for
    the file's own; ``prefix``: their storages' names)."""
    above = folder.split("/") if folder else []
    names = sorted(
        {
            entry[-1]
            for entry in ole.listdir(streams=False, storages=True)
            if len(entry) == len(above) + 1 and entry[:-1] == above
        }
    )
    wanted = [n for n in names if n.startswith(prefix)][:_MAX_PARTS]
    return [_Properties(ole, "/".join((*above, n)), 8, code_page) for n in wanted]


def read_message(ole: Any, folder: str = "", depth: int = 0) -> tuple[mapi.Message, str]:
    """The message an ``.msg`` file holds (its properties read from ``ole`` as needed: keep
    it open) and its message class; or the message attached to it in ``folder`` (an
    attachment's ``__substg1.0_3701000D`` storage, whose property stream has a 24-byte
    header), ``depth`` messages down."""
    top = _Properties(ole, folder, 24 if folder else 32, None)
    top.code_page = top.number(mapi.MESSAGE_CODEPAGE) or top.number(mapi.INTERNET_CPID)
    html: bytes | str = top.binary(mapi.HTML) or top.raw_text(mapi.HTML)
    attachments = _parts(ole, folder, "__attach_version1.0_#", top.code_page)
    message = mapi.Message(
        top,
        plain=top.raw_text(mapi.BODY),
        html=html,
        received=top.raw_text(mapi.TRANSPORT_HEADERS),
        subject=top.raw_text(mapi.SUBJECT),
        recipients=_parts(ole, folder, "__recip_version1.0_#", top.code_page),
        attachments=attachments,
        rtf=lambda: _rtf(top.binary(mapi.RTF_COMPRESSED)),
        embedded=lambda: _embedded(ole, attachments, depth),
    )
    return message, top.text(mapi.MESSAGE_CLASS)


def _embedded(ole: Any, attachments: list[_Properties], depth: int) -> list[mapi.Message]:
    """The mail attached to a message as messages (Outlook's "Forward as attachment", a
    message dragged onto one): each attachment's embedded message storage, if it holds
    mail; none past ``mapi.MAX_EMBEDDED_DEPTH`` messages down."""
    import olefile

    if depth >= mapi.MAX_EMBEDDED_DEPTH:
        return []
    found: list[mapi.Message] = []
    for attachment in attachments:
        storage = f"{attachment.prefix}{_EMBEDDED}"
        try:
            if ole.exists(storage) and ole.get_type(storage) == olefile.STGTY_STORAGE:
                message, kind = read_message(ole, storage, depth + 1)
                if mapi.is_mail(kind):
                    found.append(message)
        except Exception as exc:  # (olefile raises many kinds on a damaged file)
            log.info("cannot read the message attached as %r: %r", storage, str(exc))
    return found


def _rtf(compressed: bytes) -> bytes:
    """``PR_RTF_COMPRESSED`` uncompressed (MS-OXRTFCP); b"" if none, or damaged."""
    if not compressed:
        return b""
    import compressed_rtf

    try:
        return bytes(compressed_rtf.decompress(compressed))
    except Exception:  # (the library raises a bare Exception for damaged data)
        return b""


_NAMES = "__nameid_version1.0"


def named_ids(ole: Any) -> dict[tuple[str, int], int]:
    """The file's numeric named properties (``mapi.named_ids`` of the GUID stream and the
    entry stream of ``__nameid_version1.0``, MS-OXMSG 2.2.3)."""
    guid_stream = f"{_NAMES}/__substg1.0_00020102"
    entry_stream = f"{_NAMES}/__substg1.0_00030102"
    if not (ole.exists(guid_stream) and ole.exists(entry_stream)):
        return {}
    guids = ole.openstream(guid_stream).read(_MAX_MESSAGE)
    return mapi.named_ids(guids, ole.openstream(entry_stream).read(_MAX_MESSAGE))


def read_contact(ole: Any, props: Any, locator: str) -> ContactCard:
    """The address book card of an ``.msg`` file that holds an Outlook contact."""
    return mapi.contact_card(props, mapi.contact_emails(props, named_ids(ole)), locator)


class MsgConnector:
    """Reads Outlook's ``.msg`` files: one message each."""

    name = "msg"
    label = "Outlook message (.msg)"
    channel: Channel = "email"
    extensions: tuple[str, ...] = (".msg",)

    def sniff(self, path: Path, head: bytes) -> float:
        """How sure it is that ``path`` is an Outlook message.

        Args:
            path: the file.
            head: its first bytes.

        Returns:
            0.95 for an OLE compound file holding a message's properties, else 0.0 (a Word
            or Excel file is one too, without them).
        """
        if not head.startswith(_OLE_MAGIC):
            return 0.0
        import olefile

        try:
            with olefile.OleFileIO(str(path)) as ole:
                classes = (f"__substg1.0_{mapi.MESSAGE_CLASS:04X}{kind:04X}" for kind in _STRINGS)
                found = ole.exists(_PROPERTIES) and any(ole.exists(name) for name in classes)
        except Exception:  # (olefile raises many kinds on a damaged file)
            return 0.0
        return 0.95 if found else 0.0

    def parse(self, path: Path, options: ParseOptions) -> Iterator[Item]:
        """Yield the event of the message in the file.

        Args:
            path: the ``.msg`` file.
            options: not used (the message's times are in UTC).

        Yields:
            An owner hint and the event, or a problem; a notice for an item that is not mail.

        Raises:
            FormatError: not a readable Outlook message.
        """
        import olefile

        card: ContactCard | None = None
        try:
            with olefile.OleFileIO(str(path)) as ole:  # (properties are read as needed)
                message, kind = read_message(ole)
                if mapi.is_contact(kind):
                    card = read_contact(ole, message.props, path.name)
                elif not mapi.is_mail(kind):
                    yield Notice(f"an Outlook {mapi.kind_of(kind)}, not mail: nothing to import")
                    return
                else:
                    raw, details, inside = mapi.message_bytes(message)
                    when = message.props.time(mapi.DELIVERY_TIME)
        except Exception as exc:  # (olefile raises many kinds on a damaged file)
            raise FormatError(
                f"{path.name}: not a readable Outlook message ({type(exc).__name__}: {exc})"
            ) from exc
        if card is not None:
            if card.emails or card.phones:
                yield card
            else:
                yield Notice("an Outlook contact without an email address or number")
            return
        for item in mail.MailReader().items(
            raw, path.name, extra=details, fallback_dates=[("date_received", when)]
        ):
            yield mapi.owners_side(item, inside, False)
