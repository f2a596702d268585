"""Every script prints: the PDF of a customer who writes in many scripts, on a machine with
no fonts at all, uses the bundled Noto fonts, draws no missing-glyph box, and gives the text
back out (emoji are drawn as images, which no PDF text extraction can map back)."""

from __future__ import annotations

import os
import re
import subprocess
import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.cli_entry import threadline

ROOT = Path(__file__).resolve().parent.parent

SAMPLES = {
    "latin": "Crème brûlée, naïve façade, Øresund, Łódź",
    "greek": "Καλημέρα σας",
    "cyrillic": "Здравствуйте, спасибо",
    "arabic": "مرحبا بكم",
    "hebrew": "שלום עולם",
    "chinese": "谢谢你的花",
    "japanese": "ありがとうございます、東京",
    "korean": "감사합니다 꽃",
    "thai": "ขอบคุณครับ",
}
EMOJI = "🙏 💐 👍🏽"
RTL = {"arabic", "hebrew"}


def _chat(tmp_path: Path) -> Path:
    lines = [
        f"02/03/2026, 10:{i:02d} - Mina Kovač: {text}" for i, text in enumerate(SAMPLES.values())
    ]
    lines.append(f"02/03/2026, 10:59 - Mina Kovač: Thanks {EMOJI}")
    path = tmp_path / "WhatsApp Chat with Mina Kovač.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _no_system_fonts(tmp_path: Path) -> Path:
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{tmp_path / 'no-fonts'}</dir><cachedir>{tmp_path / 'fc-cache'}</cachedir>"
        "</fontconfig>",
        encoding="utf-8",
    )
    return conf


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", unicodedata.normalize("NFKC", text))


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("scripts")
    env = {
        **os.environ,
        "THREADLINE_HOME": str(tmp_path / "home"),
        "QT_QPA_PLATFORM": "offscreen",
        "FONTCONFIG_FILE": str(_no_system_fonts(tmp_path)),
        "TZ": "Europe/London",
    }
    env.pop("THREADLINE_DB", None)
    db = str(tmp_path / "s.db")

    def run(*args: str) -> None:
        done = subprocess.run(
            [threadline(), "--db", db, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    run("config", "owner_names", "Bloom & Branch")
    run("import", str(_chat(tmp_path)), "--date-order", "dmy")
    out = tmp_path / "mina.pdf"
    run("export", "Mina Kovač", "--pdf", str(out))
    return out


def test_every_script_comes_back_out_as_text(pdf: Path) -> None:
    text = "\n".join(page.extract_text() for page in PdfReader(pdf).pages)
    found = set(_words(text))
    for script, sample in SAMPLES.items():
        for word in _words(sample):
            # A PDF stores right-to-left text in visual order: its words come out reversed.
            ok = word in found or (script in RTL and word[::-1] in found) or word in text
            assert ok, f"{script}: {word!r} not in the extracted text"


def test_no_missing_glyph_and_only_bundled_fonts(pdf: Path) -> None:
    reader = PdfReader(pdf)
    fonts: set[str] = set()
    images = 0
    for page in reader.pages:
        content = page.get_contents()
        assert content is not None
        data = content.get_data().decode("latin-1")
        # Glyph 0 is .notdef, the empty box of a character no font has.
        assert "<0000>" not in data
        images += len(re.findall(r"/Im\d+\s+Do", data))
        resources = page["/Resources"]
        for font in resources.get("/Font", {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert images >= 3  # the three emoji, drawn in colour
    names = {name.split("+")[-1].lstrip("/") for name in fonts}
    for family in ("NotoSans", "NotoSansArabic", "NotoSansHebrew", "NotoSansCJK", "NotoSansThai"):
        assert any(name.startswith(family) for name in names), names


def test_the_pdf_layout_reads_no_file_named_in_its_html(tmp_path: Path) -> None:
    from PySide6.QtCore import QSizeF

    from app.export.pdf import InertDocument, ensure_gui_application

    ensure_gui_application()
    bait = tmp_path / "bait.png"
    bait.write_bytes(b"\x89PNG\r\n\x1a\n")
    os.utime(bait, (1_000_000, 1_000_000))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it would block the export for ever
    doc = InertDocument()
    doc.setPageSize(QSizeF(400, 400))
    doc.setHtml(f'<p>x<img src="{bait}"><img src="file://{fifo}"><img src="/dev/zero"></p>')
    assert doc.pageCount() == 1
    assert bait.stat().st_atime == 1_000_000
