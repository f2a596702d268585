"""What the CLI writes to a terminal: imported text made inert, credentials kept out.

Names, subjects, snippets, problems and paths come from files other people
wrote. Written raw, ``ESC [ 2 J`` clears the screen, ``ESC ] 0 ; … BEL``
retitles the window, a carriage return overwrites the line and ``U+009B``
(a C1 CSI) starts a control sequence on terminals that honour C1. ``printable``
shows every C0 and C1 control, DEL and lone surrogate as visible text (``\\x1b``),
keeping only newline and tab; ``safe_print`` is ``print`` through it (and,
for stderr, through ``app.redact`` too: diagnostics never carry a credential).
``write_json`` writes one JSON document with the C1 controls and DEL escaped as
``\\u009b``: JSON already escapes C0, this keeps the rest of the document raw
UTF-8 (``ensure_ascii=False``) and the parsed values are unchanged.
"""

from __future__ import annotations

import builtins
import json
import re
import sys
from typing import IO, Any

from app.redact import redact

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_JSON_UNSAFE = re.compile("[\x7f-\x9f\ud800-\udfff]")  # one character each
_JSON_PIECE = 1 << 16


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character except newline and tab shown as ``\\xNN``.

    Args:
        text: anything headed for a terminal.

    Returns:
        The text, safe to write raw: no ESC, CR, BEL, C1 or lone surrogate is left.
    """
    return _UNSAFE.sub(_visible, text)


def safe_print(
    *values: object,
    sep: str | None = " ",
    end: str | None = "\n",
    file: IO[str] | None = None,
    flush: bool = False,
) -> None:
    """``print`` with the text made ``printable``; on stderr, credentials redacted too.

    Args:
        values: what to print, as ``print`` takes it.
        sep: between the values.
        end: after the last value.
        file: the stream; stdout by default.
        flush: flush the stream afterwards.
    """
    stream = sys.stdout if file is None else file
    text = (" " if sep is None else sep).join(str(v) for v in values)
    if stream is sys.stderr:
        text = redact(text)
    builtins.print(printable(text), end=end, file=stream, flush=flush)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def write_json(data: Any, stream: IO[str] | None = None) -> None:
    """One JSON document (indented, UTF-8) and a newline, with no raw control character.

    Args:
        data: the document.
        stream: where to write it; stdout by default.
    """
    out = sys.stdout if stream is None else stream
    # Written in pieces of about 64 KB, not per token: a customer with thousands of events
    # is tens of thousands of tokens, and a write and a search for each cost more than
    # encoding them.
    pending: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(ensure_ascii=False, indent=2).iterencode(data):
        pending.append(chunk)
        size += len(chunk)
        if size >= _JSON_PIECE:
            out.write(_JSON_UNSAFE.sub(_json_escape, "".join(pending)))
            pending.clear()
            size = 0
    pending.append("\n")
    out.write(_JSON_UNSAFE.sub(_json_escape, "".join(pending)))
