"""Benchmark: import rate and peak memory for a large mbox and a large Maildir.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_mail [--messages 100000] [--formats mbox maildir]
                                     [--seed 7] [--workdir DIR] [--parse-only] [--profile DIR]

A seeded generator writes realistic mail: customers with non-ASCII names
(RFC 2047 encoded), threads whose replies carry In-Reply-To and References,
the owner's replies (filed under ``.Sent`` in the Maildir), HTML
alternatives, attachments (base64 of random bytes), bodies in UTF-8,
ISO-8859-1, Windows-1252 and Shift_JIS, quoted-printable and base64
transfer encodings, and some shop notifications and newsletters. The same
messages go into an N-message mbox and an N-message Maildir.

Each import runs in a child process through ``app.ingest.import_file`` into a
fresh SQLite database (with ``owner_emails`` set first). Peak memory is the
child's maximum resident set size, read with ``os.wait4`` (the child's own
``ru_maxrss``: the whole process, interpreter and libraries included); the
child also reports its resident size just before the import started.
``--parse-only`` also times the connector alone (no database), and
``--profile DIR`` writes a cProfile of each import into DIR and prints the
top functions.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import quopri
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formataddr
from pathlib import Path

OWNER = "hello@bloom-shop.example"
OWNER_NAME = "Bloom & Branch"
FIRST = [
    "Jane",
    "Zoë",
    "María",
    "Jürgen",
    "Łukasz",
    "Siobhán",
    "Ólafur",
    "François",
    "Priya",
    "Chen",
    "Olu",
    "Fatima",
    "Tom",
    "Grace",
    "Mateo",
    "Noor",
]
LAST = [
    "Doe",
    "Müller",
    "García",
    "Nowak",
    "Ó Briain",
    "Lefèvre",
    "Patel",
    "Okafor",
    "Haddad",
    "Smith",
    "Rossi",
    "Berg",
]
JAPANESE = ["山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲"]
WORDS = (
    "bouquet ribbon delivery order invoice wedding tulips roses refund courier tomorrow "
    "address gift birthday anniversary vase posy colour peonies thank please arrived "
    "damaged lovely stems florist card message Friday morning afternoon"
).split()
ACCENTED = "café crème naïve Grüße déjà señora façade fiancée Ångström œuvre".split()
JAPANESE_TEXT = "ご注文ありがとうございます。お届けは明日の午前中です。よろしくお願いします。"


def _customers(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """(display name, address, body charset) per customer."""
    people = []
    for n in range(count):
        if rng.random() < 0.08:
            name, charset = rng.choice(JAPANESE), "shift_jis"
            address = f"customer{n}@example.jp"
        else:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            charset = rng.choice(["utf-8", "utf-8", "utf-8", "iso-8859-1", "windows-1252"])
            address = f"customer{n}@example.com"
        people.append((name, address, charset))
    return people


def _sentence(rng: random.Random, charset: str) -> str:
    if charset == "shift_jis":
        return JAPANESE_TEXT
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 16))]
    if rng.random() < 0.5:
        words.insert(rng.randrange(len(words)), rng.choice(ACCENTED))
    return " ".join(words).capitalize() + "."


def _text_part(text: str, charset: str, rng: random.Random, subtype: str = "plain") -> bytes:
    try:
        data = text.encode(charset)
    except UnicodeEncodeError:  # as mail clients do: fall back to UTF-8
        charset, data = "utf-8", text.encode()
    if data.isascii():
        cte, body = "7bit", data
    elif charset == "shift_jis" and rng.random() < 0.5:
        cte, body = "base64", base64.encodebytes(data)
    elif charset != "utf-8" or rng.random() < 0.5:
        cte, body = "quoted-printable", quopri.encodestring(data)
    else:
        cte, body = "8bit", data
    head = f"Content-Type: text/{subtype}; charset={charset}\nContent-Transfer-Encoding: {cte}\n"
    return head.encode() + b"\n" + body.rstrip(b"\n") + b"\n"


def _html(text: str) -> str:
    paragraphs = "".join(f"<p>{line}</p>" for line in text.split("\n") if line)
    return (
        '<html><head><style>p{font-family:Georgia}</style></head><body style="color:#222">'
        f'<div class="msg">{paragraphs}</div><img src="https://track.example/p.gif" width="1" '
        'height="1"><p><a href="https://bloom-shop.example/orders">Your orders</a></p>'
        "</body></html>"
    )


def _message(
    rng: random.Random,
    n: int,
    at: datetime,
    sender: tuple[str, str],
    recipient: tuple[str, str],
    charset: str,
    subject: str,
    parents: list[str],
) -> bytes:
    message_id = f"<bench-{n}.{rng.getrandbits(32):08x}@mail.example>"
    text = "\n".join(_sentence(rng, charset) for _ in range(rng.randint(2, 10)))
    text = f"Hello {recipient[0].split()[0]},\n\n{text}\n\n-- \n{sender[0]}"
    headers = [
        f"Received: from mx.example ([192.0.2.{n % 250}]) by mail.example; {format_datetime(at)}",
        f"Message-ID: {message_id}",
        f"Date: {format_datetime(at)}",
        f"From: {formataddr(sender, 'utf-8')}",
        f"To: {formataddr(recipient, 'utf-8')}",
        f"Subject: {_encode_subject(subject)}",
        "MIME-Version: 1.0",
    ]
    if parents:
        headers.append(f"In-Reply-To: {parents[-1]}")
        headers.append("References: " + " ".join(parents[-10:]))
    body = _text_part(text, charset, rng)
    alternative = rng.random() < 0.5
    if alternative:
        html = _text_part(_html(text), charset if charset != "shift_jis" else "utf-8", rng, "html")
        body = (
            b'Content-Type: multipart/alternative; boundary="alt"\n\n--alt\n'
            + body
            + b"--alt\n"
            + html
            + b"--alt--\n"
        )
    if rng.random() < 0.12:
        size = int(rng.lognormvariate(9.5, 1.0))  # median ~13 KB
        data = base64.encodebytes(rng.randbytes(min(size, 400_000)))
        name = rng.choice(["photo.jpg", "invoice.pdf", "Lieferschein Nr. 5.pdf", "写真.jpg"])
        disposition = f'attachment; filename="{_encode_subject(name)}"'
        body = (
            b'Content-Type: multipart/mixed; boundary="mix"\n\n--mix\n'
            + body
            + b"--mix\nContent-Type: application/octet-stream\n"
            + f"Content-Disposition: {disposition}\n".encode()
            + b"Content-Transfer-Encoding: base64\n\n"
            + data
            + b"--mix--\n"
        )
    return ("\n".join(headers) + "\n").encode() + body


def _encode_subject(subject: str) -> str:
    if subject.isascii():
        return subject
    return "=?utf-8?B?" + base64.b64encode(subject.encode()).decode() + "?="


def _notification(rng: random.Random, n: int, at: datetime, customer: str) -> bytes:
    sender, extra = rng.choice(
        [
            ("Shopify <mailer@shopify.com>", ""),
            ("PayPal <service@paypal.co.uk>", ""),
            ("Flower News <news@florist-weekly.example>", "List-Unsubscribe: <mailto:u@x>\n"),
        ]
    )
    return (
        f"Message-ID: <note-{n}@platform.example>\nDate: {format_datetime(at)}\n"
        f"From: {sender}\nTo: {OWNER}\nSubject: [Bloom & Branch] Order #{10000 + n} placed by "
        f"{customer}\n{extra}MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n"
        f"<p>Order <b>#{10000 + n}</b> was placed.</p><img src='https://t.example/o.gif'>\n"
    ).encode()


def generate(count: int, seed: int) -> Iterator[tuple[bytes, bool, str]]:
    """The messages, streamed: (bytes, sent by the owner, Maildir flags)."""
    rng = random.Random(seed)
    people = _customers(rng, max(50, count // 30))
    threads: list[tuple[tuple[str, str, str], str, list[str]]] = []
    at = datetime(2019, 1, 1, tzinfo=UTC)
    for n in range(count):
        at += timedelta(seconds=rng.randint(60, 1800))
        roll = rng.random()
        if roll < 0.08:
            yield _notification(rng, n, at, rng.choice(people)[0]), False, "S"
            continue
        if roll < 0.45 or not threads:
            person = rng.choice(people)
            subject = f"{rng.choice(WORDS).capitalize()} for {rng.choice(WORDS)}"
            if rng.random() < 0.3:
                subject += f" – {rng.choice(ACCENTED)}"
            thread = (person, subject, [])
            threads.append(thread)
            if len(threads) > 400:
                threads.pop(0)
            outbound = False
        else:
            thread = rng.choice(threads[-200:])
            outbound = rng.random() < 0.6
        person, subject, chain = thread
        owner = (OWNER_NAME, OWNER)
        customer = (person[0], person[1])
        sender, recipient = (owner, customer) if outbound else (customer, owner)
        shown = subject if not chain else rng.choice(["Re: ", "RE: ", "AW: "]) + subject
        raw = _message(rng, n, at, sender, recipient, person[2], shown, chain)
        chain.append(raw.split(b"Message-ID: ", 1)[1].split(b"\n", 1)[0].decode())
        flags = rng.choice(["S", "S", "RS", "FS", ""])
        yield raw, outbound, flags


def write_sources(
    messages: Iterator[tuple[bytes, bool, str]], mbox: Path | None, maildir: Path | None
) -> None:
    """Write the messages to an mboxrd file and a Maildir++ tree (received mail in the
    root, the owner's in ``.Sent``), whichever are given."""
    if maildir is not None:
        for folder in (maildir, maildir / ".Sent"):
            for sub in ("cur", "new", "tmp"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
        (maildir / ".Sent" / "maildirfolder").touch()
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(mbox.open("wb")) if mbox is not None else None
        for n, (raw, outbound, flags) in enumerate(messages):
            if fh is not None:
                fh.write(f"From bench{n}@mail.example Mon Jan  1 00:00:00 2024\n".encode())
                for line in raw.splitlines(keepends=True):
                    fh.write(b">" + line if line.lstrip(b">").startswith(b"From ") else line)
                fh.write(b"\n")
            if maildir is not None:
                folder = maildir / ".Sent" if outbound else maildir
                name = f"{1546300800 + n * 60}.M{n}P4242.bench"
                target = folder / "cur" / f"{name}:2,{flags}" if flags else folder / "new" / name
                target.write_bytes(raw)


def _rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def child(source: Path, db_path: Path, mode: str, profile: Path | None) -> None:
    """Run one import (or parse) and print its figures as JSON (runs in the child process)."""
    from app import settings
    from app.db import open_database
    from app.ingest import import_file
    from app.records import EventRecord, ParseOptions, Problem
    from connectors import registry

    result: dict[str, object] = {}
    if mode == "parse":
        rss_before = _rss_kib()
        connector = registry.detect(source)
        start = time.perf_counter()
        counts = {"records": 0, "problems": 0}
        for item in connector.parse(source, ParseOptions(tz=UTC)):
            if isinstance(item, EventRecord):
                counts["records"] += 1
            elif isinstance(item, Problem):
                counts["problems"] += 1
        result = {"seconds": time.perf_counter() - start, **counts, "rss_before_kib": rss_before}
    else:
        db = open_database(db_path)
        with db.session() as session:
            settings.set_value(session, "owner_emails", OWNER)
            settings.set_value(session, "region", "GB")
        rss_before = _rss_kib()
        profiler = None
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        start = time.perf_counter()
        report = import_file(db, source)
        seconds = time.perf_counter() - start
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(str(profile))
        db.dispose()
        result = {
            "seconds": seconds,
            "records": report.added,
            "duplicates": report.duplicates,
            "problems": len(report.problems),
            "status": report.status,
            "rss_before_kib": rss_before,
            "db_mb": db_path.stat().st_size / 1e6,
        }
    print(json.dumps(result))


def _run_child(args: list[str]) -> tuple[dict[str, float], int]:
    """Run this module as a child; its JSON result and its peak RSS in KiB (from wait4)."""
    cmd = [sys.executable, "-m", "tests.bench.bench_mail", "--child", *args]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, cwd=Path(__file__).resolve().parents[2])
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(cmd)}")
    return json.loads(text.strip().splitlines()[-1]), usage.ru_maxrss  # KiB on Linux


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    """Generate the data, run the imports in child processes, print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument(
        "--formats", nargs="+", choices=("mbox", "maildir"), default=["mbox", "maildir"]
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="keep the data here (default: a temp dir)")
    parser.add_argument("--parse-only", action="store_true", help="also time the parser alone")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="cProfile each import into DIR/<format>.prof"
    )
    parser.add_argument("--child", nargs=4, metavar=("SOURCE", "DB", "MODE", "PROFILE"))
    args = parser.parse_args()
    if args.child:
        source, db, mode, profile = args.child
        child(Path(source), Path(db), mode, Path(profile) if profile != "-" else None)
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        sources = {"mbox": root / "mail.mbox", "maildir": root / "Maildir"}
        write_sources(
            generate(args.messages, args.seed),
            sources["mbox"] if "mbox" in args.formats else None,
            sources["maildir"] if "maildir" in args.formats else None,
        )
        print(f"generated {args.messages:,} messages in {time.perf_counter() - start:.0f} s")
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        for name in args.formats:
            source = sources[name]
            size = _size(source) / 1e6
            if args.parse_only:
                figures, peak = _run_child([str(source), "-", "parse", "-"])
                rate = figures["records"] / figures["seconds"]
                print(
                    f"{name:8} parse only: {figures['records']:,} records, "
                    f"{figures['problems']} problems in {figures['seconds']:.1f} s = "
                    f"{rate:,.0f} msg/s; peak RSS {peak / 1024:.0f} MB"
                )
            profile = args.profile / f"bench_mail_{name}.prof" if args.profile else None
            db_path = root / f"{name}.db"
            figures, peak = _run_child([str(source), str(db_path), "import", str(profile or "-")])
            rate = figures["records"] / figures["seconds"]
            print(
                f"{name:8} import: {figures['records']:,} added, {figures['problems']} problems "
                f"in {figures['seconds']:.1f} s = {rate:,.0f} msg/s; source {size:,.0f} MB, "
                f"database {figures['db_mb']:,.0f} MB; peak RSS {peak / 1024:.0f} MB "
                f"(before the import {figures['rss_before_kib'] / 1024:.0f} MB)"
            )
            if profile is not None:
                import pstats

                print(f"  profile saved to {profile}")
                pstats.Stats(str(profile)).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
