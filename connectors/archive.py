"""Safe reading of ``.zip`` exports (WhatsApp "Export chat" with media, Slack workspace exports).

An export archive is untrusted input. ``SafeZip`` opens one and checks it before anything is
read: the number of members, their total declared uncompressed size and the archive's overall
compression ratio are limited (the archive is refused with an ``ArchiveRefused``, a
``FormatError``, when one is exceeded); a member whose name is absolute or climbs out with
``..``, that is encrypted, that repeats an earlier name, or whose compression ratio is that of
a zip bomb is set aside in ``rejected`` with the reason, and the rest stays readable.

Members are read as streams (``open``), never extracted, so names are data, never paths to
write to. While they are read, the bytes that actually come out are counted, whatever the
central directory declared: one member stops at its cap, and the archive as a whole stops
(``ArchiveRefused``) once more than ``max_read_total`` bytes came out of it, or once what came
out is more than ``max_ratio`` times what was read in, however small each member is. Media
members are not read at all: connectors list them by name and size.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import IO

from app.errors import FormatError

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_EOCD = b"PK\x05\x06"
_CHUNK = 1 << 16
_DRIVE = re.compile(r"[A-Za-z]:")


class ArchiveError(FormatError):
    """A zip archive, or one member that had to be read, is unsafe or unreadable."""


class ArchiveRefused(ArchiveError):
    """The archive as a whole is over a limit: nothing more may be read from it."""


@dataclass(frozen=True)
class ZipLimits:
    """How much an archive may hold before it is refused.

    Attributes:
        max_members: members (files and folders) in the archive.
        max_total_size: declared uncompressed size of all members together, in bytes (media
            members count, though they are never read).
        max_read_total: bytes that may actually come out of the archive's members, all
            reads together.
        max_member_size: bytes of one member that may be read.
        max_ratio: uncompressed/compressed size above which a member, or the archive as a
            whole, counts as a zip bomb.
        ratio_floor: a single member smaller than this (uncompressed) is not ratio-checked on
            its own, nor is an archive that declares (or gave out) less in total; small text
            files compress well and cannot do harm.
    """

    max_members: int = 50_000
    max_total_size: int = 32 * 1024**3
    max_read_total: int = 4 * 1024**3
    max_member_size: int = 512 * 1024**2
    max_ratio: float = 200.0
    ratio_floor: int = 1024 * 1024


DEFAULT_LIMITS = ZipLimits()


@dataclass(frozen=True)
class Member:
    """One file in an archive, by reference.

    Attributes:
        name: the member's name with ``/`` separators (backslashes turned into ``/``, ``./``
            parts dropped); never absolute and never containing ``..``.
        size: declared uncompressed size in bytes.
        compressed_size: size inside the archive in bytes.
    """

    name: str
    size: int
    compressed_size: int

    @property
    def basename(self) -> str:
        """The last part of the name."""
        return self.name.rsplit("/", 1)[-1]


def looks_like_zip(head: bytes) -> bool:
    """Whether ``head`` starts like a zip archive.

    Args:
        head: the first bytes of a file.

    Returns:
        True for a local file header or an empty archive's end record.
    """
    return head.startswith(_ZIP_MAGIC)


def unsafe_name_reason(name: str) -> str | None:
    """Why a member name must not be used, or None if it is safe.

    Args:
        name: the name as stored in the archive.

    Returns:
        A short reason ("absolute path", "climbs out of the archive with ..", "NUL in name")
        or None.
    """
    if "\x00" in name:
        return "NUL in name"
    text = name.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        return "absolute path"
    if any(part == ".." for part in text.split("/")):
        return "climbs out of the archive with .."
    return None


def _clean(name: str) -> str:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def _declared_count(path: Path) -> int | None:
    """The member count the end-of-central-directory record states (None if not found)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - (1 << 16) - 22))
            tail = fh.read()
    except OSError:
        return None
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) < at + 22:
        return None
    (count,) = struct.unpack("<H", tail[at + 10 : at + 12])
    return None if count == 0xFFFF else int(count)


class SafeZip:
    """A zip archive opened for checked, in-memory reading.

    Use as a context manager. ``members`` maps each safe member's cleaned name to a
    ``Member``; ``rejected`` lists ``(name, reason)`` for members that were set aside.

    Attributes:
        path: the archive file.
        limits: the limits it was checked against.
        members: safe files by cleaned name, in archive order.
        rejected: members set aside, with the reason.
    """

    def __init__(self, path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> None:
        """Open and check ``path``.

        Args:
            path: the ``.zip`` file.
            limits: the limits to enforce.

        Raises:
            ArchiveError: not a readable zip, too many members, or too large in total.
        """
        self.path = path
        self.limits = limits
        self.members: dict[str, Member] = {}
        self.rejected: list[tuple[str, str]] = []
        self._by_name: dict[str, zipfile.ZipInfo] = {}
        self._read_out = 0  # bytes that came out of members so far
        self._read_in = 0  # compressed size of the members opened so far
        declared = _declared_count(path)
        if declared is not None and declared > limits.max_members:
            raise ArchiveRefused(self._too_many(declared))
        try:
            self._zip = zipfile.ZipFile(path)
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            NotImplementedError,
            OSError,
            ValueError,
            EOFError,
        ) as exc:
            raise ArchiveError(f"{path.name}: not a readable zip archive ({exc})") from exc
        try:
            self._check()
        except ArchiveError:
            self._zip.close()
            raise

    def _too_many(self, count: int) -> str:
        return (
            f"{self.path.name}: refused: {count} members, more than the "
            f"{self.limits.max_members} allowed"
        )

    def _check(self) -> None:
        infos = self._zip.infolist()
        limits = self.limits
        if len(infos) > limits.max_members:
            raise ArchiveRefused(self._too_many(len(infos)))
        total = sum(i.file_size for i in infos)
        if total > limits.max_total_size:
            raise ArchiveRefused(
                f"{self.path.name}: refused: {total} bytes uncompressed, more than the "
                f"{limits.max_total_size} allowed"
            )
        for info in infos:
            if info.is_dir():
                continue
            reason = unsafe_name_reason(info.filename)
            name = _clean(info.filename)
            if reason is None and not name:
                reason = "empty name"
            if reason is None and info.flag_bits & 0x1:
                reason = "encrypted"
            if reason is None and name in self._by_name:
                reason = "the same name appears twice"
            if (
                reason is None
                and info.file_size > limits.ratio_floor
                and info.file_size > limits.max_ratio * max(info.compress_size, 1)
            ):
                ratio = info.file_size // max(info.compress_size, 1)
                reason = (
                    f"compression ratio {ratio}:1 is above {limits.max_ratio:g}:1 "
                    "(possible zip bomb)"
                )
            if reason is not None:
                self.rejected.append((info.filename, reason))
                continue
            self._by_name[name] = info
            self.members[name] = Member(name, info.file_size, info.compress_size)
        # Many members, each too small to be checked on its own, can make a bomb together.
        kept = sum(i.file_size for i in self._by_name.values())
        packed = sum(i.compress_size for i in self._by_name.values())
        if kept > limits.ratio_floor and kept > limits.max_ratio * max(packed, 1):
            raise ArchiveRefused(
                f"{self.path.name}: refused: its members expand {kept // max(packed, 1)}:1 "
                f"({kept} bytes from {packed}), above {limits.max_ratio:g}:1 (possible zip bomb)"
            )

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the archive file."""
        self._zip.close()

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members.values())

    def date_time(self, name: str) -> tuple[int, int, int, int, int, int]:
        """A member's modification time as the archive keeps it (local time, to two seconds)."""
        return self._by_name[name].date_time

    def open(self, name: str, max_bytes: int | None = None) -> MemberStream:
        """One member as a binary stream, checked while it is read.

        Args:
            name: a key of ``members``.
            max_bytes: a lower cap than ``limits.max_member_size`` for this member.

        Returns:
            The stream (a context manager); its ``read`` raises ``ArchiveError`` when the
            member turns out larger than its cap or its declared size, or is corrupt, and
            ``ArchiveRefused`` when the archive as a whole goes over a limit.

        Raises:
            ArchiveError: the member is unknown, was rejected, or declares more than the cap.
        """
        info = self._by_name.get(name)
        if info is None:
            rejected = dict(self.rejected)
            why = rejected.get(name, "no such member")
            raise ArchiveError(f"{self.path.name}!{name}: cannot read: {why}")
        cap = self.limits.max_member_size
        if max_bytes is not None:
            cap = min(cap, max_bytes)
        where = f"{self.path.name}!{name}"
        if info.file_size > cap:
            raise ArchiveError(f"{where}: {info.file_size} bytes, more than the {cap} allowed")
        try:
            fh = self._zip.open(info)
        except _ZIP_ERRORS as exc:
            raise ArchiveError(f"{where}: unreadable ({exc})") from exc
        self._read_in += max(info.compress_size, 1)
        return MemberStream(self, fh, info, cap, where)

    def _count(self, stream: MemberStream, got: int) -> None:
        """Account for ``got`` more bytes out of ``stream``; raise past any limit."""
        limits = self.limits
        stream.got += got
        self._read_out += got
        info = stream.info
        if stream.got > info.file_size or stream.got > stream.cap:
            raise ArchiveError(f"{stream.where}: holds more data than it declares")
        if stream.got > limits.ratio_floor and stream.got > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise ArchiveRefused(
                f"{stream.where}: refused: expands more than {limits.max_ratio:g}:1 "
                "(possible zip bomb)"
            )
        if self._read_out > limits.max_read_total:
            raise ArchiveRefused(
                f"{self.path.name}: refused: more than {limits.max_read_total} bytes "
                "uncompressed read from it"
            )
        if self._read_out > limits.ratio_floor and self._read_out > limits.max_ratio * max(
            self._read_in, 1
        ):
            raise ArchiveRefused(
                f"{self.path.name}: refused: its members expand more than "
                f"{limits.max_ratio:g}:1 (possible zip bomb)"
            )

    def read(self, name: str, max_bytes: int | None = None) -> bytes:
        """The content of one member, read in memory with a size cap.

        Args:
            name: a key of ``members``.
            max_bytes: a lower cap than ``limits.max_member_size`` for this read.

        Returns:
            The member's bytes.

        Raises:
            ArchiveError: the member is unknown or was rejected, is larger than the cap,
                turns out larger than it declared, or is corrupt.
        """
        chunks: list[bytes] = []
        with self.open(name, max_bytes) as stream:
            while chunk := stream.read(_CHUNK):
                chunks.append(chunk)
        return b"".join(chunks)


_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    OSError,
    EOFError,
    ValueError,
)


class MemberStream:
    """One archive member being read: every chunk is counted against the limits.

    Attributes:
        info: the member's central directory entry.
        cap: the most bytes it may give.
        where: ``archive!member``, for messages.
        got: bytes it gave so far.
    """

    def __init__(
        self, archive: SafeZip, fh: IO[bytes], info: zipfile.ZipInfo, cap: int, where: str
    ) -> None:
        """Wrap the open member ``fh`` of ``archive``."""
        self._archive = archive
        self._fh = fh
        self.info = info
        self.cap = cap
        self.where = where
        self.got = 0

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left for a negative size); b"" at the end.

        Raises:
            ArchiveError: the member is corrupt, or over its cap or declared size.
            ArchiveRefused: the archive as a whole went over a limit.
        """
        if size is None or size < 0:
            chunks: list[bytes] = []
            while chunk := self.read(_CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)
        try:
            chunk = self._fh.read(min(size, _CHUNK))
        except _ZIP_ERRORS as exc:
            raise ArchiveError(f"{self.where}: unreadable ({exc})") from exc
        self._archive._count(self, len(chunk))
        return chunk

    def close(self) -> None:
        """Close the member."""
        self._fh.close()

    def __enter__(self) -> MemberStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def member_names(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> list[str] | None:
    """The safe member names of a zip archive, for sniffing; None if it is not a usable zip.

    Only the archive's central directory is read.

    Args:
        path: the file.
        limits: the limits to check against.
    """
    # Sizes and ratios are not checked here: a zip bomb is still recognised for what it
    # claims to be, and then refused with its reason when it is imported.
    lenient = replace(limits, max_total_size=sys.maxsize, max_ratio=float("inf"))
    try:
        with SafeZip(path, lenient) as archive:
            return list(archive.members)
    except ArchiveError:
        return None


# --- a zip of exports, taken out to be read as a folder ----------------------------------

# A download that holds exports (Meta's "Download your information", Google Takeout, a shop's
# zipped order files) may be large: a Takeout mailbox alone can be many gigabytes.
EXPORT_LIMITS = ZipLimits(
    max_members=500_000,
    max_total_size=1024**4,
    max_read_total=1024**4,
    max_member_size=512 * 1024**3,
)
# Members that no format reads: photos, videos, sound, documents. They are not taken out.
_NOT_READ = frozenset(
    {
        *(".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".heif", ".bmp", ".tif", ".tiff"),
        *(".mp4", ".mov", ".webm", ".m4v", ".3gp", ".avi", ".mkv"),
        *(".m4a", ".mp3", ".aac", ".ogg", ".oga", ".opus", ".wav", ".amr", ".flac"),
        *(".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".svg", ".ico"),
    }
)
SPARE_BYTES = 256 * 1024**2  # left free on the disk beside what is taken out
_TELL_EVERY = 4 * 1024**2  # bytes taken out between two progress reports


@dataclass
class Unpacked:
    """What ``unpack`` took out of an archive.

    Attributes:
        left_out: members not taken out (photos, videos and other files no format reads).
        rejected: members set aside as unsafe, with the reason (``SafeZip.rejected``).
        complete: False when it was cancelled part way.
    """

    left_out: list[str]
    rejected: list[tuple[str, str]]
    complete: bool = True


def junk(name: str) -> bool:
    """Whether a member is the archiver's own (macOS's ``__MACOSX/`` copies and ``._``
    files, ``.DS_Store``, Windows' ``Thumbs.db``): never data, never mentioned."""
    base = name.rsplit("/", 1)[-1]
    return (
        name.startswith("__MACOSX/")
        or base.startswith("._")
        or base.lower() in (".ds_store", "thumbs.db", "desktop.ini")
    )


class _TakeOut:
    """Members taken out into a folder: each one's file made under its name, its bytes
    copied and counted, the progress told now and then (``unpack`` and ``unpack_tar``)."""

    def __init__(
        self,
        into: Path,
        should_cancel: Callable[[], bool] | None,
        on_bytes: Callable[[int, int], None] | None,
    ) -> None:
        self.into = into
        self.should_cancel = should_cancel
        self.on_bytes = on_bytes
        self.done = 0  # bytes taken out so far
        self._told = 0

    def target(self, name: str) -> Path:
        return self.into.joinpath(*name.split("/"))

    def sink(self, name: str) -> IO[bytes] | None:
        """A new file for the member ``name``, or None when its name is taken (names that
        differ only in case on this disk, or a file where another member's folder is).

        Raises:
            OSError: the file cannot be made.
        """
        target = self.target(name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            return target.open("xb")
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            return None

    def copy(
        self,
        read: Callable[[int], bytes],
        sink: IO[bytes],
        total: int,
        most: int | None = None,
        where: str = "",
    ) -> bool:
        """Copy what ``read`` gives into ``sink``; False if cancelled on the way.

        Raises:
            OSError: the disk could not take it.
            ArchiveError: more than ``most`` bytes came (``where``: the member, for the
                message).
        """
        got = 0
        while chunk := read(_CHUNK * 16):
            got += len(chunk)
            if most is not None and got > most:
                raise ArchiveError(f"{where}: holds more than it declares")
            sink.write(chunk)
            self.done += len(chunk)
            if self.should_cancel is not None and self.should_cancel():
                return False
            if self.on_bytes is not None and self.done - self._told >= _TELL_EVERY:
                self.on_bytes(self.done, total)
                self._told = self.done
        return True

    def stamp(self, name: str, when: float) -> None:
        """Give the member's file its time in the archive (a time it got wrong: kept now)."""
        with contextlib.suppress(OverflowError, ValueError, OSError):
            os.utime(self.target(name), (when, when))

    def finish(self, total: int) -> None:
        if self.on_bytes is not None:
            self.on_bytes(self.done, total)


def unpack(
    path: Path,
    into: Path,
    *,
    should_cancel: Callable[[], bool] | None = None,
    on_bytes: Callable[[int, int], None] | None = None,
    limits: ZipLimits = EXPORT_LIMITS,
) -> Unpacked:
    """Take the members of an archive of exports out into the folder ``into``, each under
    its own (checked) name, so that it can be read as a folder; photos and other files
    no format reads stay in (``Unpacked.left_out``). Every byte is counted against the
    limits as it comes out (``SafeZip``).

    Args:
        path: the ``.zip`` file.
        into: an empty folder of this process's own.
        should_cancel: polled between chunks; True stops it (``Unpacked.complete`` False).
        on_bytes: called with (bytes taken out, bytes to take out) now and then.
        limits: the archive's limits.

    Raises:
        ArchiveError: not a readable zip, over a limit, a member corrupt, or not enough
            room on the disk for what is to be taken out.
    """
    import shutil
    import time

    with SafeZip(path, limits) as archive:
        wanted = [
            m
            for m in archive
            if not junk(m.name) and Path(m.basename).suffix.lower() not in _NOT_READ
        ]
        left_out = [
            m.name
            for m in archive
            if not junk(m.name) and Path(m.basename).suffix.lower() in _NOT_READ
        ]
        total = sum(m.size for m in wanted)
        free = shutil.disk_usage(into).free
        if total + SPARE_BYTES > free:
            raise ArchiveError(
                f"{path.name}: reading it needs {_size(total)} free on the disk for its files "
                f"({_size(free)} free): unzip it where there is room and import the folder"
            )
        rejected = list(archive.rejected)
        out = _TakeOut(into, should_cancel, on_bytes)
        for member in wanted:
            try:
                sink = out.sink(member.name)
            except OSError as exc:
                raise ArchiveError(f"{path.name}: cannot take {member.name} out: {exc}") from exc
            if sink is None:
                rejected.append((member.name, "its name is taken by another member here"))
                continue
            try:
                with archive.open(member.name) as source, sink:
                    if not out.copy(source.read, sink, total):
                        return Unpacked(left_out, rejected, complete=False)
            except ArchiveRefused:
                raise  # (the archive as a whole is over a limit)
            except ArchiveError as exc:  # this member is corrupt: set aside, the rest goes on
                out.target(member.name).unlink(missing_ok=True)
                rejected.append((member.name, str(exc).removeprefix(f"{path.name}!")))
                continue
            except OSError as exc:  # (the disk filled up)
                raise ArchiveError(f"{path.name}: cannot take {member.name} out: {exc}") from exc
            with contextlib.suppress(OverflowError, ValueError):
                out.stamp(member.name, time.mktime((*archive.date_time(member.name), 0, 0, -1)))
        out.finish(total)
        return Unpacked(left_out, rejected)


def _size(count: int) -> str:
    if count >= 1024**3:
        return f"{count / 1024**3:.1f} GB"
    if count >= 1024**2:
        return f"{count / 1024**2:.0f} MB"
    return f"{max(count / 1024, 1):.0f} KB"


# --- a tar archive of exports (Google Takeout's ".tgz" choice) ------------------------------

_GZIP_MAGIC = b"\x1f\x8b"


def looks_like_tar(path: Path) -> bool:
    """Whether ``path`` is a tar archive, plain or compressed (gzip, bzip2, xz)."""
    import tarfile

    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, ValueError):
        return False


def unpack_tar(
    path: Path,
    into: Path,
    *,
    should_cancel: Callable[[], bool] | None = None,
    on_bytes: Callable[[int, int], None] | None = None,
    limits: ZipLimits = EXPORT_LIMITS,
) -> Unpacked:
    """``unpack`` for a tar archive (``.tgz``, ``.tar.gz``, ``.tar``), read once as a stream.

    Only regular files are taken out, each under its checked name (links, devices and
    folders are not made; an absolute name or one climbing out with ``..`` is set aside);
    photos and other files no format reads stay in. The members' sizes count against the
    limits, and the room on the disk is checked before each one: a stream tells no total
    beforehand. The bytes that come out of the whole archive may not pass ``max_ratio``
    times the archive's size (a tar bomb is refused).

    Raises:
        ArchiveError: not a readable tar archive, over a limit, or not enough room.
    """
    import shutil
    import tarfile

    size = max(path.stat().st_size, 1)
    left_out: list[str] = []
    rejected: list[tuple[str, str]] = []
    out = _TakeOut(into, should_cancel, on_bytes)
    count = 0
    try:
        with tarfile.open(path, "r|*") as archive:
            for member in archive:
                count += 1
                if count > limits.max_members:
                    raise ArchiveRefused(
                        f"{path.name}: refused: more than the {limits.max_members} members allowed"
                    )
                name = _clean(member.name)
                reason = unsafe_name_reason(member.name)
                if member.isdir() or (reason is None and (junk(name) or not name)):
                    continue
                if reason is None and not member.isreg():
                    reason = "not a plain file (a link or a device)"
                if reason is not None:
                    rejected.append((member.name, reason))
                    continue
                if Path(name).suffix.lower() in _NOT_READ:
                    left_out.append(name)
                    continue
                if member.size > limits.max_member_size:
                    rejected.append((name, f"{member.size} bytes, more than allowed"))
                    continue
                after = out.done + member.size
                if after > limits.max_ratio * size and after > limits.ratio_floor:
                    raise ArchiveRefused(
                        f"{path.name}: refused: its members expand more than "
                        f"{limits.max_ratio:g}:1 (possible tar bomb)"
                    )
                free = shutil.disk_usage(into).free
                if member.size + SPARE_BYTES > free:
                    raise ArchiveError(
                        f"{path.name}: reading it needs {_size(member.size)} free on the disk"
                        f" for {name} ({_size(free)} free): unpack it where there is room and"
                        " import the folder"
                    )
                sink = out.sink(name)
                if sink is None:
                    rejected.append((name, "its name is taken by another member here"))
                    continue
                source = archive.extractfile(member)
                with sink:
                    where = f"{path.name}!{name}"
                    if source is not None and not out.copy(
                        source.read, sink, 0, member.size, where
                    ):
                        return Unpacked(left_out, rejected, complete=False)
                out.stamp(name, member.mtime)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{path.name}: not a readable tar archive ({exc})") from exc
    except OSError as exc:
        raise ArchiveError(f"{path.name}: cannot take its files out: {exc}") from exc
    out.finish(out.done)
    return Unpacked(left_out, rejected)
