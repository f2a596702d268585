"""Reading an IMAP BODYSTRUCTURE: the parts of a message without downloading them.

``connectors.imap`` fetches a large message as its header and text parts only.
This module walks the BODYSTRUCTURE that the server sent (as parsed by
imapclient) into ``Part`` leaves with their section numbers, decodes their
names (RFC 2231 and RFC 2047), tells text bodies from attachments the way
``connectors.mail`` does, and helps put the fetched sections back together.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import decode_rfc2231
from typing import Any
from urllib.parse import unquote_to_bytes

from connectors import mail

_STRIPPED_HEADERS = re.compile(
    rb"^(content-type|content-transfer-encoding|mime-version)\s*:", re.IGNORECASE
)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def section_bytes(data: dict[bytes, Any], section: str) -> bytes:
    """The bytes of ``BODY[section]`` in a FETCH answer (with or without a ``<0>`` origin).

    Args:
        data: one message's FETCH answer (imapclient's dict).
        section: "TEXT", "1.2", "1.2.MIME", …

    Returns:
        The bytes, or b"" when the server sent none.
    """
    key = f"BODY[{section}]".encode()
    for name, value in data.items():
        if isinstance(name, bytes) and (name == key or name.startswith(key + b"<")):
            return value if isinstance(value, bytes) else b""
    return b""


def strip_mime_headers(header: bytes) -> bytes:
    """The header block without its MIME fields and without the final blank line.

    Args:
        header: ``BODY[HEADER]`` as fetched.

    Returns:
        The other header fields, each line ending in a line break.
    """
    kept: list[bytes] = []
    skipping = False
    for line in header.splitlines(keepends=True):
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        skipping = bool(_STRIPPED_HEADERS.match(line))
        if not skipping:
            kept.append(line)
    if kept and not kept[-1].endswith(b"\n"):
        kept[-1] += b"\r\n"
    return b"".join(kept)


@dataclass(frozen=True)
class Part:
    """One leaf of a BODYSTRUCTURE."""

    section: str
    type: str
    params: dict[str, str]
    encoding: str
    size: int
    disposition: str
    disposition_params: dict[str, str]

    @property
    def name(self) -> str:
        """The file name (Content-Disposition ``filename``, else Content-Type ``name``)."""
        return param(self.disposition_params, "filename") or param(self.params, "name")

    @property
    def is_text(self) -> bool:
        """True for a text/plain or text/html body part (not one attached as a file)."""
        if self.type not in ("text/plain", "text/html"):
            return False
        return self.disposition != "attachment" and (self.disposition == "inline" or not self.name)

    def attachment(self) -> dict[str, Any]:
        """The part as ``connectors.mail`` records an attachment (decoded size estimated)."""
        size = self.size
        if self.encoding == "base64":
            size = size * 57 // 78  # 76 characters + CRLF carry 57 bytes
        return {"name": self.name, "type": self.type, "size": size}


def params_dict(value: Any) -> dict[str, str]:
    """A BODYSTRUCTURE parameter list (``(key value key value)``) as a dict, keys lower case."""
    if not isinstance(value, tuple | list):
        return {}
    flat = [_text(v) for v in value]
    return {flat[i].lower(): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def param(params: dict[str, str], name: str) -> str:
    """A MIME parameter, decoding RFC 2231 (``name*``, ``name*0*``…) and RFC 2047 words.

    Args:
        params: from ``params_dict``.
        name: the parameter ("filename", "name").

    Returns:
        The decoded value, or "" when absent.
    """
    if name in params:
        return mail.decode_words(params[name]).strip()
    if name + "*" in params:
        charset, _, text = decode_rfc2231(params[name + "*"])
        return mail.decode_bytes(unquote_to_bytes(text), charset or None).strip()
    pieces: list[tuple[int, bool, str]] = []
    for key, value in params.items():
        match = re.fullmatch(re.escape(name) + r"\*(\d+)(\*?)", key)
        if match:
            pieces.append((int(match.group(1)), bool(match.group(2)), value))
    if not pieces:
        return ""
    pieces.sort()
    charset = ""
    data = bytearray()
    for index, encoded, value in pieces:
        if encoded and index == 0 and value.count("'") >= 2:
            charset, _, value = value.split("'", 2)
        data += unquote_to_bytes(value) if encoded else value.encode("utf-8", "replace")
    return mail.decode_bytes(bytes(data), charset or None).strip()


def leaves(node: Any, prefix: str = "") -> Iterator[Part]:
    """The leaf parts of a BODYSTRUCTURE with their section numbers (message/* not entered).

    Args:
        node: the BODYSTRUCTURE (imapclient's ``BodyData``) or one of its parts.
        prefix: the section number of ``node`` ("" for the whole message).

    Yields:
        Each leaf part; a part too short to read counts as an unnamed attachment.
    """
    if getattr(node, "is_multipart", False) or (node and isinstance(node[0], list)):
        for index, child in enumerate(node[0], start=1):
            yield from leaves(child, f"{prefix}{index}" if not prefix else f"{prefix}.{index}")
        return
    fields = list(node) if isinstance(node, tuple | list) else []
    if len(fields) < 2:
        fields = [b"application", b"octet-stream"]
    maintype, subtype = _text(fields[0]).lower(), _text(fields[1]).lower()
    ctype = f"{maintype}/{subtype}"
    size = fields[6] if len(fields) > 6 and isinstance(fields[6], int) else 0
    if maintype == "text":
        ext = 8
    elif ctype in ("message/rfc822", "message/global"):
        ext = 10
    else:
        ext = 7
    disposition = fields[ext + 1] if len(fields) > ext + 1 else None
    kind, disp_params = "", {}
    if isinstance(disposition, tuple | list) and disposition:
        kind = _text(disposition[0]).lower()
        disp_params = params_dict(disposition[1] if len(disposition) > 1 else None)
    yield Part(
        section=prefix or "1",
        type=ctype,
        params=params_dict(fields[2] if len(fields) > 2 else None),
        encoding=_text(fields[5] if len(fields) > 5 else "").lower(),
        size=size,
        disposition=kind,
        disposition_params=disp_params,
    )
