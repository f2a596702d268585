"""The connector registry's static table: the names it lists without importing a connector
are the names of the real connector classes, and every connector class is listed."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import connectors
from app.db import Database
from connectors import registry


def test_each_listed_name_is_its_class_name_in_the_listed_order() -> None:
    for name, module, cls in registry._CONNECTORS:
        assert getattr(importlib.import_module(module), cls)().name == name, (module, cls)
    assert [c.name for c in registry.all_connectors()] == registry.names()


def test_every_connector_class_is_registered() -> None:
    listed = {(module, cls) for _name, module, cls in registry._CONNECTORS}
    found = set()
    for info in pkgutil.iter_modules(connectors.__path__):
        module = importlib.import_module(f"connectors.{info.name}")
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            named = isinstance(getattr(cls, "name", None), str) and cls.name
            if cls.__module__ == module.__name__ and named and hasattr(cls, "sniff"):
                found.add((module.__name__, cls_name))
    assert found == listed


def test_names_and_get_import_only_what_they_need() -> None:
    code = (
        "import json, sys\n"
        "from connectors import registry\n"
        "assert 'mbox' in registry.names()\n"
        "assert registry.get('eml').name == 'eml'\n"
        "print(json.dumps([m for m in sys.modules if m.startswith('connectors.')]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = json.loads(done.stdout)
    assert "connectors.eml" in loaded
    assert not {"connectors.mbox", "connectors.shopify", "connectors.imap"} & set(loaded)


def test_detecting_a_file_sniffs_its_csv_header_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every order connector asks for the header of the same head: a mail folder's mbox
    # was read as CSV by each of them (csv.Sniffer is slow on a text that is not CSV).
    from connectors import csv_common

    mail = (
        "From jane@example.com Mon Jan  4 08:00:00 2016\n"
        "From: Jane Doe <jane@example.com>\nTo: shop@example.com\n"
        "Subject: Where is my order?\nDate: Mon, 04 Jan 2016 08:00:00 +0000\n\n"
        "Hello, could you tell me, please, when it comes; thanks | Jane\n\n"
    )
    path = tmp_path / "shop.mbox"
    path.write_text(mail * 200, encoding="utf-8")
    calls: list[int] = []
    real = csv_common.sniff_delimiter

    def counted(text: str) -> str:
        calls.append(1)
        return real(text)

    monkeypatch.setattr(csv_common, "sniff_delimiter", counted)
    csv_common._header.cache_clear()
    assert registry.detect(path).name == "mbox"
    assert len(calls) == 1


def test_a_zip_is_offered_only_to_the_formats_that_read_one(tmp_path: Path) -> None:
    # Stored uncompressed, a Messenger chat's JSON shows in the zip's first bytes: the
    # archive is still no Messenger file, but a download the import reads as a folder.
    import zipfile

    from app.errors import UnrecognisedFormat

    fixtures = Path(__file__).parent / "fixtures"
    chat = fixtures / "chat" / "messenger_e2ee" / "Alice Smith_40.json"
    stored = tmp_path / "download.zip"
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zf:
        zf.write(chat, "messages/Alice Smith_40.json")
    assert b"senderName" in registry.read_head(stored)
    with pytest.raises(UnrecognisedFormat):
        registry.detect(stored)
    assert registry.export_archive(stored)
    whatsapp = tmp_path / "WhatsApp Chat with Alice Smith.zip"
    with zipfile.ZipFile(whatsapp, "w", zipfile.ZIP_STORED) as zf:
        zf.write(fixtures / "whatsapp" / "WhatsApp Chat with Alice Smith.txt", "_chat.txt")
    assert registry.detect(whatsapp).name == "whatsapp"
    assert not registry.export_archive(whatsapp)
    assert not registry.export_archive(chat) and not registry.export_archive(tmp_path)


def test_a_chat_of_metas_html_download_is_told_apart(db: Database, tmp_path: Path) -> None:
    """Meta's download in HTML (its default) has no reader: its chat pages say what to ask
    for instead, where other HTML files are only not a format Threadline recognises."""
    from app.errors import UnrecognisedFormat
    from app.ingest import import_paths

    download = tmp_path / "instagram-jane-2026-12-07"
    chat = download / "your_instagram_activity" / "messages" / "inbox" / "jane_17"
    chat.mkdir(parents=True)
    (chat / "message_1.html").write_text('<html><div class="_a6-g">Hi</div></html>')
    (download / "start_here.html").write_text("<html></html>")
    with pytest.raises(UnrecognisedFormat, match="ask for it again in JSON"):
        registry.detect(chat / "message_1.html")
    with pytest.raises(UnrecognisedFormat, match="not a format Threadline recognises"):
        registry.detect(download / "start_here.html")
    reports = import_paths(db, [download])
    assert {r.status for r in reports} == {"skipped"}
    reasons = sorted(r.reason() for r in reports)
    assert reasons[0].startswith("Meta's download in HTML") and len(reasons) == 2
