"""Benchmark: Threadline's import against ``notmuch new`` on the same Maildir, in one run.

Run on demand (not part of the default suite):

    python -m tests.bench.bench_throughput [--messages 20000] [--reimport 100000]
                                           [--repeat 3] [--cache DIR] [--seed 7]
                                           [--no-other-formats]

It generates (once, into a cache folder: ``~/.cache/threadline-bench`` unless
``--cache`` says otherwise) a seeded Maildir and mbox of ``--messages``
messages with ``tests.bench.bench_mail``'s realistic mail, then, each in a
child process whose peak resident memory is read with ``os.wait4``:

- ``notmuch new`` into a fresh notmuch database (skipped when ``notmuch`` is
  not installed: Debian package ``notmuch``),
- Threadline's import of the same Maildir into a fresh database, everything
  included (parse, store, full-text index, identities, languages), then of the
  mbox, a WhatsApp export and a Shopify order CSV,
- a second import of the unchanged Maildir and mbox, and with ``--reimport N``
  (0 to skip) of an N-message Maildir and mbox (generated once into the cache).

The Maildir pair (``notmuch new``, then Threadline's import) is measured ``--repeat``
times, each pair back to back with the load average beside it: on a shared machine the
two tools' ratio within a pair is what compares, and the median ratio is printed last.

It prints one table (run, items, seconds, items per second, peak memory). The peak of an
import is its importing process's (the writer's) plus its parse worker's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench import bench_import, bench_mail

ROOT = Path(__file__).resolve().parents[2]


def _source(cache: Path, messages: int, seed: int) -> tuple[Path, Path]:
    """The cached Maildir and mbox of ``messages`` messages (generated on first use)."""
    folder = cache / f"mail-{messages}-seed{seed}"
    maildir, mbox = folder / "Maildir", folder / "mail.mbox"
    if not (folder / "complete").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        start = time.perf_counter()
        bench_mail.write_sources(bench_mail.generate(messages, seed), mbox, maildir)
        (folder / "complete").touch()
        print(
            f"generated {messages:,} messages in {time.perf_counter() - start:.0f} s into {folder}"
        )
    return maildir, mbox


def _wait(cmd: list[str], **kwargs: object) -> tuple[float, int, str, float]:
    """Run ``cmd``; its wall time, peak RSS (KiB, itself and its children), stdout and CPU
    seconds (user + system, its children's included)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, **kwargs)  # type: ignore[call-overload]
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}")
        out.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return seconds, usage.ru_maxrss, out.read().decode(), cpu


def run_notmuch(maildir: Path, work: Path) -> tuple[float, int, int, float] | None:
    """``notmuch new`` over ``maildir`` into a fresh database: (seconds, messages, KiB, CPU s)."""
    notmuch = shutil.which("notmuch")
    if notmuch is None:
        return None
    database = work / "notmuch-db"
    database.mkdir()
    config = work / "notmuch-config"
    config.write_text(
        f"[database]\npath={database}\nmail_root={maildir}\n[new]\ntags=unread;inbox;\n"
        "[maildir]\nsynchronize_flags=true\n",
        encoding="utf-8",
    )
    env = {**os.environ, "NOTMUCH_CONFIG": str(config)}
    seconds, peak, _out, cpu = _wait([notmuch, "new", "--quiet"], env=env)
    _s, _p, count, _c = _wait([notmuch, "count", "*"], env=env)
    return seconds, int(count.strip()), peak, cpu


def child(source: Path, db_path: Path, times: int) -> None:
    """Import ``source`` ``times`` times into ``db_path``; print the figures as JSON."""
    import resource

    from app import settings
    from app.db import open_database
    from app.ingest import import_file

    db = open_database(db_path)
    with db.session() as session:
        settings.set_value(session, "owner_emails", bench_mail.OWNER)
        settings.set_value(session, "owner_names", "Shop")
        settings.set_value(session, "region", "GB")
    runs = []
    for _ in range(times):
        start, cpu = time.perf_counter(), sum(os.times()[:4])
        report = import_file(db, source)
        runs.append(
            {
                "seconds": time.perf_counter() - start,
                "cpu": sum(os.times()[:4]) - cpu,  # this process's and its parse worker's
                "added": report.added,
                "duplicates": report.duplicates,
                "problems": len(report.problems),
                "status": report.status,
            }
        )
    db.dispose()
    worker_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"runs": runs, "worker_kib": worker_kib}))


def run_threadline(
    source: Path, db_path: Path, times: int = 1
) -> tuple[list[dict[str, float]], int]:
    """Import in a child process: the runs' figures and the peak KiB (writer + worker)."""
    cmd = [
        sys.executable,
        "-m",
        "tests.bench.bench_throughput",
        "--child",
        str(source),
        str(db_path),
        str(times),
    ]
    _s, peak, out, _c = _wait(cmd, cwd=ROOT)
    result = json.loads(out.strip().splitlines()[-1])
    return result["runs"], peak + int(result["worker_kib"])


def _load() -> str:
    """The 1-, 5- and 15-minute load averages."""
    with open("/proc/loadavg", encoding="ascii") as fh:
        return " ".join(fh.read().split()[:3])


def _row(
    name: str,
    items: float,
    seconds: float,
    peak_kib: int | None,
    unit: str = "msg/s",
    cpu: float | None = None,
) -> str:
    rate = f"{items / seconds:,.0f} {unit}" if seconds else "—"
    memory = f"{peak_kib / 1024:,.0f} MB" if peak_kib else "—"
    used = f"{cpu:,.1f} s" if cpu is not None else "—"
    return f"| {name} | {items:,.0f} | {seconds:,.2f} s | {rate} | {memory} | {used} |"


class _Rows(list[str]):
    """The table's rows, each printed as soon as it is known (a long run shows progress)."""

    def append(self, row: str) -> None:
        super().append(row)
        print(row, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--reimport", type=int, default=100_000, help="0: skip the big re-import")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "threadline-bench")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="notmuch/Threadline pairs")
    parser.add_argument("--no-other-formats", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("SOURCE", "DB", "TIMES"))
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
        return
    maildir, mbox = _source(args.cache, args.messages, args.seed)
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {_load()}"
    )
    rows = _Rows()
    rows.append("| format (run) | messages | seconds | rate | peak RSS | CPU |")
    rows.append("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ratios: list[float] = []
        again: dict[str, float] = {}
        for rep in range(1, max(1, args.repeat) + 1):
            rows.append(f"| pair {rep}, load average {_load()} | | | | | |")
            tmp_rep = work / f"rep{rep}"
            tmp_rep.mkdir()
            notmuch = run_notmuch(maildir, tmp_rep)
            if notmuch is None:
                rows.append("| notmuch new | — | — | (notmuch not installed) | — | — |")
            else:
                rows.append(
                    _row(
                        f"notmuch new, Maildir ({args.messages:,})",
                        notmuch[1],
                        notmuch[0],
                        notmuch[2],
                        cpu=notmuch[3],
                    )
                )
            runs, peak = run_threadline(maildir, tmp_rep / "maildir.db", times=2)
            first, again = runs
            rows.append(
                _row(
                    f"Threadline import, Maildir ({args.messages:,})",
                    first["added"],
                    first["seconds"],
                    peak,
                    cpu=first["cpu"],
                )
            )
            if notmuch is not None:
                ratio = (first["added"] / first["seconds"]) / (notmuch[1] / notmuch[0])
                ratios.append(ratio)
                rows.append(f"| Threadline ÷ notmuch | | | {ratio:.2f}× | | |")
        if ratios:
            rows.append(
                f"| Threadline ÷ notmuch, median of {len(ratios)} | | | "
                f"{statistics.median(ratios):.2f}× | | |"
            )
        rows.append(
            _row("re-import, unchanged Maildir", again["duplicates"], again["seconds"], None)
        )
        runs, peak = run_threadline(mbox, work / "mbox.db", times=2)
        rows.append(
            _row(
                f"Threadline import, mbox ({args.messages:,})",
                runs[0]["added"],
                runs[0]["seconds"],
                peak,
                cpu=runs[0]["cpu"],
            )
        )
        rows.append(
            _row("re-import, unchanged mbox", runs[1]["duplicates"], runs[1]["seconds"], None)
        )
        if not args.no_other_formats:
            rng = random.Random(args.seed)
            people = bench_import._people(rng, 1500)
            chat = work / "WhatsApp Chat with Jane Doe.txt"
            bench_import.write_whatsapp(chat, 100_000, args.seed)
            orders = work / "orders_export.csv"
            bench_import.write_shopify(orders, people, 10_000, args.seed)
            runs, peak = run_threadline(chat, work / "chat.db")
            rows.append(
                _row(
                    "WhatsApp export (100,000 lines)",
                    runs[0]["added"],
                    runs[0]["seconds"],
                    peak,
                    "lines/s",
                    runs[0]["cpu"],
                )
            )
            runs, peak = run_threadline(orders, work / "orders.db")
            rows.append(
                _row(
                    "Shopify order CSV (10,000 orders)",
                    runs[0]["added"],
                    runs[0]["seconds"],
                    peak,
                    "orders/s",
                    runs[0]["cpu"],
                )
            )
        if args.reimport:
            big_maildir, big_mbox = _source(args.cache, args.reimport, args.seed)
            for name, source in (("Maildir", big_maildir), ("mbox", big_mbox)):
                runs, _peak = run_threadline(source, work / f"big-{name}.db", times=2)
                rows.append(
                    _row(
                        f"first import, {name} ({args.reimport:,})",
                        runs[0]["added"],
                        runs[0]["seconds"],
                        _peak,
                        cpu=runs[0]["cpu"],
                    )
                )
                rows.append(
                    _row(
                        f"re-import, unchanged {name} ({args.reimport:,})",
                        runs[1]["duplicates"],
                        runs[1]["seconds"],
                        None,
                    )
                )


if __name__ == "__main__":
    main()
