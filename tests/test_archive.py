"""Tests for the safe zip reader: names, member count, total size, zip bombs, lies, corruption."""

from __future__ import annotations

import shutil
import struct
import time
import warnings
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.errors import FormatError
from app.records import EventRecord, Item, ParseOptions, Problem
from connectors.archive import (
    SPARE_BYTES,
    ArchiveError,
    SafeZip,
    ZipLimits,
    looks_like_zip,
    member_names,
    unpack,
    unpack_tar,
    unsafe_name_reason,
)
from connectors.slack import SlackConnector
from connectors.whatsapp import WhatsAppConnector

WHATSAPP = Path(__file__).parent / "fixtures" / "whatsapp"
SLACK = Path(__file__).parent / "fixtures" / "chat" / "slack_export"
OPTIONS = ParseOptions(tz=ZoneInfo("Europe/London"))


def make_zip(path: Path, members: dict[str, bytes], *, stored: bool = False) -> Path:
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are written on purpose
        with zipfile.ZipFile(path, "w", method) as zf:
            for name, data in members.items():
                info = zipfile.ZipInfo(name.split("#")[0], (2024, 1, 1, 0, 0, 0))
                info.compress_type = method
                zf.writestr(info, data)
    return path


def patch_central(path: Path, name: bytes, offset: int, fmt: str, value: int) -> None:
    """Overwrite a field of ``name``'s central directory entry (offset from its signature)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        (length,) = struct.unpack_from("<H", data, at + 28)
        if data[at + 46 : at + 46 + length] == name:
            struct.pack_into(fmt, data, at + offset, value)
            path.write_bytes(bytes(data))
            return
        at = data.find(b"PK\x01\x02", at + 46)
    raise AssertionError(f"{name!r} not in the central directory")


def items(connector: WhatsAppConnector | SlackConnector, path: Path) -> list[Item]:
    return list(connector.parse(path, OPTIONS))


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.txt", "climbs out of the archive with .."),
        ("a/../../evil.txt", "climbs out of the archive with .."),
        ("..\\evil.txt", "climbs out of the archive with .."),
        ("/etc/passwd", "absolute path"),
        ("\\server\\share.txt", "absolute path"),
        ("C:\\Windows\\evil.txt", "absolute path"),
        ("c:evil.txt", "absolute path"),
        ("name\x00.txt", "NUL in name"),
        ("ok/../fine..txt", "climbs out of the archive with .."),
    ],
)
def test_unsafe_names(name: str, reason: str) -> None:
    assert unsafe_name_reason(name) == reason


@pytest.mark.parametrize("name", ["_chat.txt", "a/b/c.jpg", "dots..in..name.txt", "./x.txt"])
def test_safe_names(name: str) -> None:
    assert unsafe_name_reason(name) is None


def test_traversal_members_are_rejected_and_others_readable(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "a.zip",
        {"../evil.txt": b"x", "/abs.txt": b"y", "ok/./file.txt": b"fine", "dir\\win.txt": b"w"},
    )
    with SafeZip(path) as archive:
        assert set(archive.members) == {"ok/file.txt", "dir/win.txt"}
        assert dict(archive.rejected) == {
            "../evil.txt": "climbs out of the archive with ..",
            "/abs.txt": "absolute path",
        }
        assert archive.read("ok/file.txt") == b"fine"
        with pytest.raises(ArchiveError, match="climbs out"):
            archive.read("../evil.txt")
        with pytest.raises(ArchiveError, match="no such member"):
            archive.read("missing.txt")
    assert member_names(path) == ["ok/file.txt", "dir/win.txt"]


def test_nothing_is_ever_written_to_disk(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    path = make_zip(tmp_path / "a.zip", {"../escaped.txt": b"x", "inside.txt": b"y"})
    with SafeZip(path) as archive:
        archive.read("inside.txt")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.zip", "work"]


def test_duplicate_names_keep_the_first(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"same.txt#1": b"first", "same.txt#2": b"second"})
    with SafeZip(path) as archive:
        assert archive.read("same.txt") == b"first"
        assert archive.rejected == [("same.txt", "the same name appears twice")]


# --- limits -----------------------------------------------------------------------------


def test_too_many_members_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(11)})
    with pytest.raises(ArchiveError, match=r"refused: 11 members, more than the 10 allowed"):
        SafeZip(path, ZipLimits(max_members=10))
    assert member_names(path, ZipLimits(max_members=10)) is None
    with SafeZip(path, ZipLimits(max_members=11)) as archive:
        assert len(archive.members) == 11


def test_too_many_members_counted_from_central_directory(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(5)})
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 60000, 60000)  # claims 60000 entries
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="60000 members"):
        SafeZip(path)


def test_total_size_limit(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "big.zip", {"a.bin": b"a" * 600, "b.bin": b"b" * 600})
    with pytest.raises(ArchiveError, match=r"1200 bytes uncompressed, more than the 1000"):
        SafeZip(path, ZipLimits(max_total_size=1000))


def test_bomb_ratio_member_rejected(tmp_path: Path) -> None:
    zeros = b"\0" * (4 * 1024 * 1024)
    path = make_zip(tmp_path / "bomb.zip", {"bomb.bin": zeros, "note.txt": b"hello"})
    with SafeZip(path) as archive:
        assert list(archive.members) == ["note.txt"]
        ((name, reason),) = archive.rejected
        assert name == "bomb.bin"
        assert "possible zip bomb" in reason and "above 200:1" in reason
        with pytest.raises(ArchiveError, match="zip bomb"):
            archive.read("bomb.bin")
    # Small members compress as they like; only big ones are checked.
    with SafeZip(path, ZipLimits(ratio_floor=8 * 1024 * 1024)) as archive:
        assert "bomb.bin" in archive.members


def test_member_size_cap(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"a.txt": b"a" * 5000})
    with SafeZip(path) as archive:
        assert len(archive.read("a.txt", max_bytes=5000)) == 5000
        with pytest.raises(ArchiveError, match="5000 bytes, more than the 100 allowed"):
            archive.read("a.txt", max_bytes=100)
    with (
        SafeZip(path, ZipLimits(max_member_size=10)) as archive,
        pytest.raises(ArchiveError, match="more than the 10 allowed"),
    ):
        archive.read("a.txt")


def test_member_that_lies_about_its_size(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "liar.zip", {"liar.txt": b"x" * 1000}, stored=True)
    patch_central(path, b"liar.txt", 24, "<I", 10)  # uncompressed size: 10
    with SafeZip(path) as archive:
        assert archive.members["liar.txt"].size == 10
        with pytest.raises(ArchiveError, match=r"liar\.txt"):
            archive.read("liar.txt")


def test_encrypted_member_rejected(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "enc.zip", {"secret.txt": b"x"})
    patch_central(path, b"secret.txt", 8, "<H", 0x1)
    with SafeZip(path) as archive:
        assert archive.rejected == [("secret.txt", "encrypted")]


def test_corrupt_member_is_an_archive_error(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bad.zip", {"a.txt": b"hello world " * 100})
    data = bytearray(path.read_bytes())
    start = data.find(b"a.txt") + len("a.txt")
    data[start + 5 : start + 25] = b"\xff" * 20
    path.write_bytes(bytes(data))
    with SafeZip(path) as archive, pytest.raises(ArchiveError, match=r"a\.txt"):
        archive.read("a.txt")


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "fake.zip"
    path.write_bytes(b"PK\x03\x04 but then nothing")
    with pytest.raises(ArchiveError, match="not a readable zip archive"):
        SafeZip(path)
    assert isinstance(ArchiveError("x"), FormatError)
    assert member_names(path) is None
    assert looks_like_zip(b"PK\x03\x04rest") and looks_like_zip(b"PK\x05\x06")
    assert not looks_like_zip(b"[{}]")


# --- the connectors that read archives ---------------------------------------------------------


def test_whatsapp_zip_with_traversal_member_reports_a_problem(tmp_path: Path) -> None:
    chat = (WHATSAPP / "whatsapp_ios_attached_media.txt").read_bytes()
    path = make_zip(tmp_path / "WhatsApp Chat - Loris.zip", {"_chat.txt": chat, "../x.jpg": b"x"})
    found = items(WhatsAppConnector(), path)
    problems = [i for i in found if isinstance(i, Problem)]
    assert problems == [
        Problem(
            "WhatsApp Chat - Loris.zip!../x.jpg",
            "archive member skipped: climbs out of the archive with ..",
        )
    ]
    assert len([i for i in found if isinstance(i, EventRecord)]) == 50


def test_whatsapp_zip_whose_chat_is_unsafe_is_refused(tmp_path: Path) -> None:
    chat = (WHATSAPP / "whatsapp_ios_attached_media.txt").read_bytes()
    path = make_zip(tmp_path / "evil.zip", {"../../_chat.txt": chat})
    with pytest.raises(FormatError, match=r"no WhatsApp chat text .*climbs out"):
        items(WhatsAppConnector(), path)
    assert WhatsAppConnector().sniff(path, path.read_bytes()[:65536]) == 0.0


def test_whatsapp_zip_bomb_chat_is_refused(tmp_path: Path) -> None:
    bomb = b"[01.01.19, 10:00:00] A: " + b"a" * (4 * 1024 * 1024)
    path = make_zip(tmp_path / "bomb.zip", {"_chat.txt": bomb})
    with pytest.raises(FormatError, match="zip bomb"):
        items(WhatsAppConnector(), path)


def test_whatsapp_zip_too_many_members(tmp_path: Path) -> None:
    files = {"_chat.txt": b"[01.01.19, 10:00:00] A: hi"} | {f"{i}.jpg": b"x" for i in range(5)}
    path = make_zip(tmp_path / "many.zip", files)
    data = bytearray(path.read_bytes())
    struct.pack_into("<HH", data, data.rfind(b"PK\x05\x06") + 8, 50001, 50001)
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="50001 members, more than the 50000 allowed"):
        items(WhatsAppConnector(), path)
    assert WhatsAppConnector().sniff(path, path.read_bytes()[:65536]) == 0.0


def test_slack_zip_with_unsafe_member(tmp_path: Path) -> None:
    members = {
        str(p.relative_to(SLACK)).replace("\\", "/"): p.read_bytes()
        for p in sorted(SLACK.rglob("*.json"))
    }
    members["../../outside/2024-01-01.json"] = b"[]"
    path = make_zip(tmp_path / "export.zip", members)
    found = items(SlackConnector(), path)
    assert (
        Problem(
            "export.zip!../../outside/2024-01-01.json",
            "archive member skipped: climbs out of the archive with ..",
        )
        in found
    )
    assert len([i for i in found if isinstance(i, EventRecord)]) == 20


# --- a zip of exports, taken out to be read as a folder -----------------------------------


def test_unpack_takes_the_data_out_and_leaves_the_rest_in(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "download.zip",
        {
            "messages/Alice_40.json": b'{"messages": []}',
            "messages/media/a1.jpeg": b"\xff\xd8\xff\xd9",
            "orders/orders_export.csv": b"Name,Email\n",
            "__MACOSX/orders/._orders_export.csv": b"\0\5\26\7",
            "orders/._orders_export.csv": b"\0\5\26\7",
            ".DS_Store": b"\0\0\0\1Bud1",
            "../escaped.txt": b"x",
            "/etc/passwd": b"root",
        },
    )
    into = tmp_path / "out"
    into.mkdir()
    done = unpack(path, into)
    assert sorted(p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file()) == [
        "messages/Alice_40.json",
        "orders/orders_export.csv",
    ]
    assert (into / "orders" / "orders_export.csv").read_bytes() == b"Name,Email\n"
    assert done.left_out == ["messages/media/a1.jpeg"]
    assert sorted(name for name, _ in done.rejected) == ["../escaped.txt", "/etc/passwd"]
    assert done.complete
    assert not (tmp_path / "escaped.txt").exists()
    # The file keeps the time the archive gives it (2024-01-01, local time).
    stamp = (into / "messages" / "Alice_40.json").stat().st_mtime
    assert time.localtime(stamp)[:3] == (2024, 1, 1)


def test_unpack_refuses_a_bomb_and_a_disk_without_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zeros = b"\0" * (4 * 1024 * 1024)
    bomb = make_zip(tmp_path / "bomb.zip", {"a.json": zeros, "b.json": zeros})
    into = tmp_path / "out"
    into.mkdir()
    done = unpack(bomb, into)  # each member set aside, nothing written
    assert [name for name, _ in done.rejected] == ["a.json", "b.json"]
    assert all("possible zip bomb" in reason for _, reason in done.rejected)
    assert list(into.iterdir()) == []
    many = make_zip(tmp_path / "many.zip", {f"{n}.json": zeros[: 900 * 1024] for n in range(8)})
    with pytest.raises(ArchiveError, match="possible zip bomb"):  # small ones, together
        unpack(many, into)
    path = make_zip(tmp_path / "big.zip", {"mail.mbox": b"From a\n" * 1000})
    free = shutil.disk_usage(into)
    monkeypatch.setattr("shutil.disk_usage", lambda _p: free._replace(free=SPARE_BYTES + 100))
    with pytest.raises(
        ArchiveError, match=r"needs 7 KB free on the disk for its files \(256 MB free\)"
    ):
        unpack(path, into)
    assert list(into.iterdir()) == []


def test_unpack_stops_when_cancelled_and_names_that_clash_are_set_aside(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "a.zip", {"a/x.csv": b"1", "a": b"2", "b.csv": b"3"})
    into = tmp_path / "out"
    into.mkdir()
    done = unpack(path, into)
    assert done.rejected == [("a", "its name is taken by another member here")]
    assert (into / "a" / "x.csv").read_bytes() == b"1" and (into / "b.csv").exists()
    again = tmp_path / "again"
    again.mkdir()
    assert not unpack(path, again, should_cancel=lambda: True).complete


def test_unpack_sets_a_corrupt_member_aside_and_takes_the_rest_out(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "bad.zip", {"a.txt": b"hello world " * 100, "b.csv": b"Name\n"})
    data = bytearray(path.read_bytes())
    start = data.find(b"a.txt") + len("a.txt")
    data[start + 5 : start + 25] = b"\xff" * 20
    path.write_bytes(bytes(data))
    into = tmp_path / "out"
    into.mkdir()
    ticks: list[tuple[int, int]] = []
    done = unpack(path, into, on_bytes=lambda d, t: ticks.append((d, t)))
    ((name, reason),) = done.rejected
    assert name == "a.txt" and reason.startswith("a.txt: unreadable")
    assert [p.name for p in into.iterdir()] == ["b.csv"]  # (no half-written a.txt)
    assert ticks[-1] == (5, 1205)  # (the last report: what was taken out, of all)


def _tgz(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1704067200  # 2024-01-01
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return path


def test_unpack_tar_takes_the_data_out_of_a_takeout_tgz(tmp_path: Path) -> None:
    path = _tgz(
        tmp_path / "takeout-20240101T000000Z-001.tgz",
        {
            "Takeout/Mail/All mail Including Spam and Trash.mbox": b"From x\n",
            "Takeout/Mail/User Settings/Labels.txt": b"Inbox\n",
            "Takeout/Google Photos/IMG_0001.jpg": b"\xff\xd8",
            "../escaped.txt": b"x",
            "/etc/passwd": b"root",
        },
        links={"Takeout/link.mbox": "/etc/passwd"},
    )
    into = tmp_path / "out"
    into.mkdir()
    done = unpack_tar(path, into)
    assert sorted(p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file()) == [
        "Takeout/Mail/All mail Including Spam and Trash.mbox",
        "Takeout/Mail/User Settings/Labels.txt",
    ]
    assert done.left_out == ["Takeout/Google Photos/IMG_0001.jpg"]
    assert sorted(done.rejected) == [
        ("../escaped.txt", "climbs out of the archive with .."),
        ("/etc/passwd", "absolute path"),
        ("Takeout/link.mbox", "not a plain file (a link or a device)"),
    ]
    assert not (tmp_path / "escaped.txt").exists()
    mbox = into / "Takeout" / "Mail" / "All mail Including Spam and Trash.mbox"
    assert mbox.stat().st_mtime == 1704067200
    bomb = _tgz(tmp_path / "bomb.tgz", {"a.mbox": b"\0" * (8 * 1024 * 1024)})
    with pytest.raises(ArchiveError, match="possible tar bomb"):
        unpack_tar(bomb, tmp_path / "out2")
    broken = tmp_path / "broken.tgz"
    data = path.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        unpack_tar(broken, into)
