"""Imported text never drives the terminal: the CLI shows control characters, never sends them.

The data is written here: an email whose sender name, subject and body carry
ESC sequences (colour, window title), BEL, CR and the C1 CSI ``U+009B``; a
Telegram export with such names; and a file whose name carries them. Every
human command's stdout and stderr must hold none of those bytes raw, and the
JSON output must hold none raw either while its values stay exactly as stored.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from email.header import Header
from pathlib import Path

import pytest

from app.terminal import printable, write_json
from tests.cli_entry import threadline

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "Eve \x1b[31mRed\x1b]0;pwned\x07 \r\x9b2J Evil"
RAW_BYTES = (b"\x1b", b"\x07", b"\r", b"\x9b", "\x9b".encode(), b"\x00")


def _email(folder: Path) -> Path:
    sender = Header(HOSTILE, "utf-8").encode()
    subject = Header("Order \x1b[2J\x1b]0;title\x07 \x9b31m done\r now", "utf-8").encode()
    path = folder / "hostile.eml"
    path.write_bytes(
        (
            f"From: {sender} <eve@example.com>\r\nTo: shop@example.org\r\n"
            f"Subject: {subject}\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
            "Message-ID: <hostile@example.com>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            "Hello =1B[31mred=1B]0;t=07 =C2=9B1m caf=C3=A9 =0D overwritten\r\n"
        ).encode()
    )
    return path


def _telegram(folder: Path) -> Path:
    messages = [
        {"id": 1, "type": "message", "date_unixtime": "1704103200",
         "from": "Mallory \x1b]0;title\x07\r\x9b31m", "from_id": "user77",
         "text": "order \x1b[5m blinking \x9b?25l cursor gone"},
        {"id": 2, "type": "message", "date": "\x1b[31mnot a date\x9b",
         "from": "Mallory", "from_id": "user77", "text": "broken"},
    ]  # fmt: skip
    path = folder / "result.json"
    chat = {"name": "Mallory \x1b[1m", "type": "personal_chat", "id": 7, "messages": messages}
    path.write_text(json.dumps(chat), encoding="utf-8")
    return path


class CLI:
    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "t.db"
        self.env = {**os.environ, "THREADLINE_HOME": str(tmp_path / "home"), "TZ": "UTC"}
        self.env.pop("THREADLINE_DB", None)

    def run(self, *args: str) -> tuple[int, bytes, bytes]:
        result = subprocess.run(
            [threadline(), "--db", str(self.db), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert b"Traceback" not in result.stderr, result.stderr
        return result.returncode, result.stdout, result.stderr


def _raw(data: bytes) -> list[bytes]:
    return [b for b in RAW_BYTES if b in data]


def test_human_output_shows_controls_and_json_keeps_values(tmp_path: Path) -> None:
    cli = CLI(tmp_path)
    junk = tmp_path / "junk \x1b[31m\x9b name.txt"
    junk.write_bytes(b"\x00\x01 nothing any connector reads")
    code, out, err = cli.run("import", str(_email(tmp_path)), str(_telegram(tmp_path)), str(junk))
    assert code in (1, 2) and b"hostile.eml" in out
    shown = [out, err]
    for args in (
        ("customers",),
        ("show", "eve@example.com"),
        ("search", "hello"),
        ("search", "blinking"),
        ("problems",),
        ("suggestions", "--min-score", "0"),
        ("import", str(tmp_path / "missing \x1b]0;x\x07.eml")),
    ):
        _code, out, err = cli.run(*args)
        shown += [out, err]
    everything = b"".join(shown)
    assert _raw(everything) == []
    assert b"\\x1b[31mRed\\x1b]0;pwned\\x07" in everything  # shown, visibly
    assert b"\\x9b" in everything and b"caf\xc3\xa9" in everything  # other text as it was

    _code, listed, _err = cli.run("customers", "--json")
    _code, shown_json, _err = cli.run("show", "eve@example.com", "--json")
    assert _raw(listed + shown_json) == []
    names = {c["name"] for c in json.loads(listed)}
    assert any("\x1b[31mRed\x1b]0;pwned\x07" in n and "\x9b2J" in n for n in names)
    events = json.loads(shown_json)["events"]
    assert any("\x1b[31mred" in e["text"] and "\x9b1m" in e["text"] for e in events)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\x1b[31mb", "a\\x1b[31mb"),
        ("t\x1b]0;title\x07", "t\\x1b]0;title\\x07"),
        ("over\rwrite", "over\\x0dwrite"),
        ("c1\x9b2J del\x7f nul\x00", "c1\\x9b2J del\\x7f nul\\x00"),
        ("keep\ttabs\nand lines, café ✓", "keep\ttabs\nand lines, café ✓"),
        ("bad \udcff byte", "bad \\udcff byte"),
    ],
)
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_write_json_escapes_c1_and_del_but_keeps_unicode() -> None:
    data = {"name": "x\x1b[31m\x9b\x7f café ✓", "n": [1, 2]}
    out = io.StringIO()
    write_json(data, out)
    text = out.getvalue()
    assert not any(ch in text for ch in "\x1b\x9b\x7f")
    assert "café ✓" in text and "\\u009b" in text and "\\u007f" in text
    assert json.loads(text) == data
    assert (
        text
        == json.dumps(data, ensure_ascii=False, indent=2)
        .replace("\x9b", "\\u009b")
        .replace("\x7f", "\\u007f")
        + "\n"
    )
