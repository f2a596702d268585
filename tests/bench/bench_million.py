"""Benchmark: the app on a big shop history (up to a million events) in the real formats.

Run on demand (not part of the default suite; a million events take a long while to
generate and import on a 2-core machine, so the corpus and database are kept in --work):

    python -m tests.bench.bench_million [--events 1000000] [--work ~/.cache/threadline-bench]

Steps, each printed as it finishes and then as one table:

1. ``tests.bench.corpus`` writes the shop's mail (Maildir), WhatsApp and Messenger exports and
   Shopify and WooCommerce order files (one customer per ~50 events, one big account with
   10,000 events), once per (events, seed).
2. The installed ``threadline`` command imports the whole folder into a fresh database in one
   run, as a user would: events per second over the wall time, CPU seconds of the process and
   its parse workers, peak memory (largest process, and the whole process tree sampled each
   second), database size per 100k events, the load average meanwhile, and a progress line
   (events stored so far) every ``--every`` seconds. ``--only build`` stops there.
3. In-process, on that database: database size per 100k events; lookup-as-you-type p50/p95
   over prefixes of names, emails, phone fragments and order numbers; full-text first page
   p50/p95 for a common word, a rare word and a phrase; the big account's profile and first
   timeline page; its PDF export.
4. The GUI (offscreen Qt, the real widgets): opening the big account to its first painted
   page, and scrolling its whole timeline, with the longest stall of the event loop measured
   by a 5 ms heartbeat timer.
5. Whole process, median of 5: ``threadline search``, ``show`` and ``customers QUERY``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.bench import corpus

Figures = list[tuple[str, str]]


def _threadline() -> str:
    found = shutil.which("threadline", path=str(Path(sys.executable).parent)) or shutil.which(
        "threadline"
    )
    if not found:
        raise SystemExit("install the project first (pip install -e .): no `threadline` command")
    return found


def _ms(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def _time(fn: Callable[[], object], runs: int = 1) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (the import and its parse workers), from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += parents.get(pid, [])
    return out


def _memory_mb(pids: list[int]) -> tuple[float, float]:
    """The processes' memory: proportional set sizes summed (a page they share, such as the
    language model's tables mapped by the import and its parse worker, counts once in all),
    and resident set sizes summed (a shared page counts in each process that touched it)."""
    pss = rss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss += int(line.split()[1])
        except OSError:
            continue
    return pss / 1024, rss / 1024


def _stored(path: Path) -> int:
    """Events stored so far, read beside the running import (WAL: readers never block it)."""
    import sqlite3

    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as con:
            return int(con.execute("select coalesce(max(id), 0) from event").fetchone()[0])
    except sqlite3.Error:
        return 0


class _Watch:
    """Samples a running import every second: the memory of its whole process tree (the
    import and its parse workers together), the load average, and every ``every`` seconds
    prints a progress line with the events stored so far."""

    def __init__(self, proc: subprocess.Popen[str], db: Path, every: float) -> None:
        import threading

        self.proc, self.db, self.every = proc, db, every
        self.peak_tree_mb = 0.0  # proportional: what the processes hold between them
        self.peak_rss_sum_mb = 0.0
        self.loads: list[float] = []
        self.start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last_print, last_stored = self.start, 0
        proc_fs = Path("/proc").is_dir()
        while self.proc.poll() is None:
            time.sleep(1)
            if proc_fs:
                pss, rss = _memory_mb(_tree(self.proc.pid))
                self.peak_tree_mb = max(self.peak_tree_mb, pss)
                self.peak_rss_sum_mb = max(self.peak_rss_sum_mb, rss)
            self.loads.append(os.getloadavg()[0])
            now = time.perf_counter()
            if now - last_print >= self.every:
                stored = _stored(self.db)
                print(
                    f"import {now - self.start:,.0f} s: {stored:,} events stored, "
                    f"{stored / (now - self.start):,.0f}/s overall, "
                    f"{(stored - last_stored) / (now - last_print):,.0f}/s lately; "
                    f"load {self.loads[-1]:.1f}, memory of the import's processes "
                    f"{self.peak_tree_mb:,.0f} MB at most",
                    flush=True,
                )
                last_print, last_stored = now, stored

    def join(self) -> None:
        self._thread.join()


def build(work: Path, events: int, seed: int, figures: Figures, every: float = 60) -> Path:
    """The corpus and the imported database for (events, seed), made once and kept.

    The import is one run of the installed ``threadline import`` over the whole corpus
    folder into a fresh database, as a user would: events per second over the wall time,
    the CPU seconds of the process and its parse workers, peak memory (the largest single
    process, and the whole tree sampled every second), the database size per 100k events
    and the machine's load average meanwhile. A progress line every ``every`` seconds."""
    tag = f"{events}-{seed}"
    folder, db = work / f"corpus-{tag}", work / f"threadline-{tag}.db"
    if not folder.with_suffix(".json").exists():
        t = time.perf_counter()
        counts = corpus.generate(folder, events, seed)
        took = time.perf_counter() - t
        print(f"corpus written in {took:.0f} s: {counts}", flush=True)
        figures.append(("corpus written (events, seconds)", f"{events:,} in {took:,.0f} s"))
    if db.exists():
        return db
    exe = _threadline()
    partial = db.with_suffix(".partial")
    for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        leftover.unlink(missing_ok=True)
    for key, value in (
        ("owner_emails", corpus.SHOP_EMAIL),
        ("owner_names", corpus.SHOP_NAME),
        ("region", "GB"),
        ("currency", "GBP"),
        ("timezone", "Europe/London"),
    ):
        subprocess.run(
            [exe, "--db", str(partial), "config", key, value], check=True, capture_output=True
        )
    report = work / f"import-{tag}.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"importing {folder} into {partial} ({exe} import --json > {report})", flush=True)
    t = time.perf_counter()
    with report.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [exe, "--db", str(partial), "import", str(folder), "--json"],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        watch = _Watch(proc, partial, every)
        _, stderr = proc.communicate()
    took = time.perf_counter() - t
    watch.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    files = json.loads(report.read_text(encoding="utf-8") or '{"files": []}')["files"]
    if proc.returncode != 0:
        failed = [
            f"{r['path']}: {r.get('error') or r['problems'][:3]}"
            for r in files
            if r["status"] != "done" or r["problems"]
        ]
        raise SystemExit(f"import failed ({proc.returncode}): {failed[:10]} {stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stored = _count(partial)
    size = sum(
        p.stat().st_size for p in (partial, Path(f"{partial}-wal")) if p.exists()
    )  # (the WAL is folded in and removed when the import closes the file)
    loads = watch.loads or [os.getloadavg()[0]]
    figures += [
        (
            f"import, one run of the whole folder ({len(files):,} files)",
            f"{stored:,} events in {took:,.0f} s: {stored / took:,.0f} events/s",
        ),
        (
            "import, added / duplicates / problems",
            f"{sum(r['added'] for r in files):,} / {sum(r['duplicates'] for r in files):,}"
            f" / {sum(len(r['problems']) for r in files):,}",
        ),
        (
            "import, CPU (the process and its workers)",
            f"{cpu:,.0f} s ({cpu / took:.2f} cores on average)",
        ),
        (
            "import, peak memory: largest process / whole process tree (PSS; RSS summed)",
            f"{after.ru_maxrss / 1024:,.0f} / {watch.peak_tree_mb:,.0f} MB"
            f" ({watch.peak_rss_sum_mb:,.0f} MB)",
        ),
        (
            "import, database size per 100k events",
            f"{size / stored * 100_000 / 1e6:,.0f} MB ({size / 1e6:,.0f} MB in all)",
        ),
        (
            "import, load average (1 min) meanwhile: mean / max",
            f"{statistics.mean(loads):.1f} / {max(loads):.1f}",
        ),
    ]
    for key, value in figures:
        print(f"{key}: {value}", flush=True)
    partial.rename(db)
    return db


def _count(path: Path) -> int:
    import sqlite3

    with closing(sqlite3.connect(path)) as con:  # closed: an open one keeps a -wal
        return int(con.execute("select count(*) from event").fetchone()[0])


def _big_account(path: Path) -> str:
    """The customer that holds the corpus's customer 0 (its address ends in ``.0@``): its
    events, by source, as the corpus meant them to meet in one customer."""
    import sqlite3

    with closing(sqlite3.connect(path)) as con:  # closed: an open one keeps a -wal
        found = con.execute(
            "select c.id, c.display_name, c.event_count from identity i"
            " join customer_identity ci on ci.identity_id = i.id"
            " join customer c on c.id = ci.customer_id"
            " where i.kind = 'email' and i.value like '%.0@example.com'"
        ).fetchone()
        if found is None:
            return "not found"
        by_source = con.execute(
            "select e.source, count(distinct e.id) from customer_identity ci"
            " join event_participant p on p.identity_id = ci.identity_id"
            " join event e on e.id = p.event_id where ci.customer_id = ? group by 1 order by 1",
            (found[0],),
        ).fetchall()
    parts = ", ".join(f"{source} {n:,}" for source, n in by_source)
    return f"customer {found[0]} ({found[1]}): {found[2]:,} events ({parts})"


def _biggest(path: Path) -> int:
    """The id of the customer with the most events (the big account)."""
    import sqlite3

    with closing(sqlite3.connect(path)) as con:  # closed: an open one keeps a -wal
        return int(
            con.execute(
                "select id from customer where merged_into_id is null"
                " order by event_count desc limit 1"
            ).fetchone()[0]
        )


def in_process(db_path: Path, figures: Figures, tmp: Path) -> int:
    from sqlalchemy import select

    from app import queries
    from app.db import open_database
    from app.models import Customer, Identity, Order

    events = _count(db_path)
    size = db_path.stat().st_size
    figures.append(("events stored", f"{events:,}"))
    figures.append(("database size per 100k events", f"{size / events * 100_000 / 1e6:,.0f} MB"))
    db = open_database(db_path)
    rng = random.Random(5)
    with db.session() as s:
        names = list(s.scalars(select(Customer.display_name).limit(2000)))
        emails = list(s.scalars(select(Identity.value).where(Identity.kind == "email").limit(2000)))
        phones = list(s.scalars(select(Identity.value).where(Identity.kind == "phone").limit(2000)))
        numbers = list(s.scalars(select(Order.number).limit(2000)))
        probes: list[str] = []
        for pool, cut in ((names, (1, 3, 5)), (emails, (2, 6)), (numbers, (3, 5))):
            for value in rng.sample(pool, min(30, len(pool))):
                probes += [value[:n] for n in cut if len(value) > n]
        for value in rng.sample(phones, min(30, len(phones))):
            digits = value.lstrip("+")
            probes += [digits[-6:], "0" + digits[2:8]]
        took = [t for q in probes for t in _time(lambda q=q: queries.list_customers(s, q))]
        p50, p95 = _ms(took)
        figures.append(
            (f"lookup as you type, {len(probes)} prefixes p50 / p95", f"{p50:.0f} / {p95:.0f} ms")
        )
        for label, words in (
            ("common word", ["flowers", "delivery", "order"]),
            ("rare word", ["peonies", "sunflowers", "ribbon"]),
            ("phrase", ['"white peonies"', '"delivery address"', '"happy birthday"']),
        ):
            took = [t for w in words for t in _time(lambda w=w: queries.search(s, w), runs=5)]
            p50, p95 = _ms(took)
            figures.append(
                (f"full-text first page, {label} p50 / p95", f"{p50:.0f} / {p95:.0f} ms")
            )
        big = max(
            s.scalars(select(Customer).where(Customer.merged_into_id.is_(None))),
            key=lambda c: c.event_count,
        )
        big_id, big_count = big.id, big.event_count
        took = _time(
            lambda: (queries.customer(s, big_id), queries.timeline(s, big_id, limit=200)), runs=5
        )
        figures.append(
            (f"big account ({big_count:,} events): profile + first page", f"{_ms(took)[0]:.0f} ms")
        )
    db.dispose()
    exe = _threadline()
    pdf = tmp / "big.pdf"
    took = _time(
        lambda: subprocess.run(
            [exe, "--db", str(db_path), "export", str(big_id), "--pdf", str(pdf)],
            check=True,
            capture_output=True,
        )
    )
    figures.append((f"PDF export of the big account ({big_count:,} events)", f"{took[0]:.1f} s"))
    return big_id


_STARTUP_PROBE = """
import sys, time
t0 = float(sys.argv[2])
from ui.app import application, open_window
from PySide6.QtCore import QTimer
qt_app = application()
window = open_window(sys.argv[1])
shown = time.time() - t0
model = window.customer_model
done = []
def check():
    if model.rowCount() > 0 and not model.loading and not done:
        window.customers.view.grab()  # the first page painted
        done.append(time.time() - t0)
        done.append(time.process_time())
        qt_app.quit()
timer = QTimer()
timer.timeout.connect(check)
timer.start(1)
model.loaded.connect(check)
qt_app.exec()
print(f"{shown:.4f} {done[0]:.4f} {done[1]:.4f}")
"""


def startup(db_path: Path, figures: Figures, runs: int = 3) -> None:
    """App start, whole process: to the main window shown, and to the customer list's first
    page painted (median of ``runs``, each a fresh process with a fresh profile folder)."""
    shown, usable, cpu = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, HOME=home, XDG_DATA_HOME=home, XDG_CONFIG_HOME=home)
            env.setdefault("QT_QPA_PLATFORM", "offscreen")
            t0 = time.time()
            done = subprocess.run(
                [sys.executable, "-c", _STARTUP_PROBE, str(db_path), repr(t0)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            a, b, c = done.stdout.split()[-3:]
            shown.append(float(a))
            usable.append(float(b))
            cpu.append(float(c))
    figures.append(
        (
            f"app start to main window shown / customer list painted, median of {runs}",
            f"{statistics.median(shown) * 1000:.0f} / {statistics.median(usable) * 1000:.0f} ms"
            f" ({statistics.median(cpu) * 1000:.0f} ms of CPU)",
        )
    )


def _rss_mib() -> float:
    """This process's resident memory now, in MiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def gui(db_path: Path, big_id: int, figures: Figures, shots: Path | None = None) -> None:
    """Open the big account and page through its whole timeline with PageDown and the wheel,
    recording the longest gap between turns of the event loop (a 5 ms heartbeat)."""
    import gc

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QPoint, QPointF, Qt, QTimer
    from PySide6.QtGui import QKeyEvent, QWheelEvent
    from PySide6.QtWidgets import QApplication

    from app.db import open_database
    from ui import workers
    from ui.app import application
    from ui.main_window import MainWindow
    from ui.models import Loading, TimelineEntry

    app = QApplication.instance() or application([])  # (as the app makes it)
    # The status bar's count of merge suggestions, with the catch-up it starts (the whole
    # list built on a database that never had it): when it ran, to set against the scroll.
    from app.service import Service

    counting: list[float] = []  # start, end of each count
    plain_count = Service.suggestion_count

    def count(self: Service, **kwargs: Any) -> int:
        counting.append(time.perf_counter())
        try:
            return plain_count(self, **kwargs)
        finally:
            counting.append(time.perf_counter())

    Service.suggestion_count = count  # type: ignore[method-assign]
    t = time.perf_counter()
    db = open_database(db_path)
    window = MainWindow(db)
    window.resize(1280, 800)
    window.show()
    window.grab()
    figures.append(("main window built and painted", f"{(time.perf_counter() - t) * 1000:.0f} ms"))

    # Each gap between two beats of the heartbeat: wall time, and the GUI thread's own CPU
    # time in it (on a loaded machine the wall time also counts turns other processes had).
    gaps: list[float] = []
    beats: list[float] = []  # when each gap ended (perf_counter)
    busy: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]
    last_cpu = [time.thread_time()]
    last_proc = [time.process_time()]

    def beat() -> None:
        now, cpu = clock.elapsed(), time.thread_time()
        gaps.append(now - last[0])
        busy.append((cpu - last_cpu[0]) * 1000)
        beats.append(time.perf_counter())
        proc = time.process_time()
        if os.environ.get("BENCH_GAPS") and now - last[0] > 50:
            print(
                f"gap {now - last[0]} ms, {busy[-1]:.0f} ms CPU, "
                f"process {(proc - last_proc[0]) * 1000:.0f} ms",
                flush=True,
            )
        last_proc[0] = proc
        last[0], last_cpu[0] = now, cpu

    heart = QTimer()
    heart.setInterval(5)
    heart.timeout.connect(beat)
    heart.start()

    def wait(cond: Callable[[], bool], limit: float = 120) -> None:
        end = time.perf_counter() + limit
        while not cond():
            app.processEvents()
            if time.perf_counter() > end:
                raise SystemExit("the window did not get there in time")

    # A customer is opened from the list: wait until the window is idle (the list shown, and
    # what the window reads once it shows, ``MainWindow._warm_reads``, read).
    # (a count still running is left running: its catch-up may take minutes)
    wait(lambda: window._warmed and workers.manager().active == len(counting) % 2)
    model = window.timeline_model
    rss_before = _rss_mib()
    t, cpu = time.perf_counter(), time.thread_time()
    window.open_customer(big_id)
    wait(lambda: model.customer_id == big_id and model.rowCount() > 0 and not model.loading)
    window.grab()
    figures.append(
        (
            "GUI: open the big account to first paint",
            f"{(time.perf_counter() - t) * 1000:.0f} ms"
            f" ({(time.thread_time() - cpu) * 1000:.0f} ms of GUI-thread CPU)",
        )
    )

    view = window.timeline.view
    viewport = view.viewport()
    view.setFocus()
    bar = view.verticalScrollBar()
    center = QPointF(viewport.rect().center())

    def page_down() -> None:
        for kind in (QKeyEvent.Type.KeyPress, QKeyEvent.Type.KeyRelease):
            app.sendEvent(
                view, QKeyEvent(kind, Qt.Key.Key_PageDown, Qt.KeyboardModifier.NoModifier)
            )

    def wheel() -> None:
        event = QWheelEvent(
            center,
            QPointF(viewport.mapToGlobal(center.toPoint())),
            QPoint(0, 0),
            QPoint(0, -120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        app.sendEvent(viewport, event)

    def at_end() -> bool:
        rows = model.rowCount()
        return (
            rows > 0
            # (visualRect lays out first: a pending relayout may still grow the list)
            and viewport.rect().intersects(view.visualRect(model.index(rows - 1, 0)))
            and bar.value() == bar.maximum()
            and workers.manager().active == 0
            and not model.canFetchMore(model.index(0, 0).parent())
            and not isinstance(model.item(rows - 1), Loading)
        )

    # What the readers spend on each page (wall time and their own CPU) reading it and building
    # its rows, to set against the stalls (a reader holding the interpreter lock holds up the
    # GUI thread).
    from ui import models as timeline_models

    reads: list[tuple[float, float]] = []
    spans: list[tuple[float, float]] = []  # when a reader read or built a page
    # the garbage collector's passes: start, end, generation, objects collected, which thread,
    # its CPU time (ms; of the thread that ran it, which holds the interpreter lock throughout)
    collections: list[tuple[float, float, int, int, str, float]] = []
    collecting = [0.0, 0.0]

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[:] = time.perf_counter(), time.thread_time()
        else:
            thread = "GUI" if threading.current_thread() is threading.main_thread() else "reader"
            collections.append(
                (
                    collecting[0],
                    time.perf_counter(),
                    info["generation"],
                    info["collected"],
                    thread,
                    (time.thread_time() - collecting[1]) * 1000,
                )
            )

    gc.callbacks.append(collected)
    if os.environ.get("BENCH_GC") == "cycles":  # keep what each collection finds, to look at
        gc.set_debug(gc.DEBUG_SAVEALL)
    builds: list[tuple[float, float]] = []
    service = model._service
    plain_timeline, plain_build = service.timeline, timeline_models._build_rows

    def timed(fn: Callable[..., object], into: list[tuple[float, float]]) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            wall, own = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                into.append(
                    ((time.perf_counter() - wall) * 1000, (time.thread_time() - own) * 1000)
                )
                spans.append((wall, time.perf_counter()))

        return call

    service.timeline = timed(plain_timeline, reads)  # type: ignore[method-assign]
    timeline_models._build_rows = timed(plain_build, builds)  # type: ignore[assignment]

    gaps.clear()
    busy.clear()
    beats.clear()
    load = os.getloadavg()
    last[0], last_cpu[0] = clock.elapsed(), time.thread_time()
    t = time.perf_counter()
    presses = 0
    middle_saved = False
    end = time.perf_counter() + 600
    while not at_end():
        if time.perf_counter() > end:
            raise SystemExit("scrolling did not reach the end in 10 minutes")
        if bar.value() < bar.maximum():  # (at the bottom: the next page is on its way)
            page_down() if presses % 4 else wheel()
            presses += 1
        app.processEvents()
        if shots is not None and not middle_saved and model.rowCount() >= model.total // 2:
            window.grab().save(str(shots / "timeline-middle.png"))
            middle_saved = True
    took = time.perf_counter() - t
    heart.stop()
    scrolled = time.perf_counter()
    rows = model.rowCount()
    if shots is not None:
        window.grab().save(str(shots / "timeline-end.png"))
        # the longest message on screen, opened in place (its row as tall as its text)
        shown = {
            r: item
            for r in range(rows)
            if viewport.rect().intersects(view.visualRect(model.index(r, 0)))
            and isinstance(item := model.item(r), TimelineEntry)
        }
        longest = max(shown, key=lambda r: len(shown[r].event.text))
        window.timeline.view.setCurrentIndex(model.index(longest, 0))
        window.timeline._expand(model.index(longest, 0), True)
        wait(lambda: workers.manager().active == 0)
        for _ in range(20):
            app.processEvents()
        view.scrollTo(model.index(longest, 0))
        app.processEvents()
        window.grab().save(str(shots / "timeline-expanded.png"))
    service.timeline = plain_timeline  # type: ignore[method-assign]
    timeline_models._build_rows = plain_build
    over = sum(1 for g in gaps if g > 100)

    def during(i: int) -> str:
        """What overlapped gap ``i``: a reader's page (r), a garbage collection (gc, ms)."""
        end = beats[i]
        start = end - gaps[i] / 1000
        marks = ["r"] if any(a < end and b > start for a, b in spans) else []
        pauses = [(min(b, end) - max(a, start), g) for a, b, g, *_ in collections]
        pause = sum(p for p, _ in pauses if p > 0)
        if pause > 0.001:
            full = " gen 2" if any(p > 0 and g == 2 for p, g in pauses) else ""
            marks.append(f"gc {pause * 1000:.0f}{full}")
        return f" [{', '.join(marks)}]" if marks else ""

    over50 = sum(1 for g in gaps if g > 50)
    worst = sorted(range(len(gaps)), key=gaps.__getitem__, reverse=True)[:5]
    load = tuple(max(a, b) for a, b in zip(load, os.getloadavg(), strict=True))
    figures.append(
        (
            f"GUI: page through the whole timeline ({rows:,} rows, {presses:,} key/wheel steps)",
            f"{took:.1f} s, longest stall {max(gaps, default=0):.0f} ms "
            f"({busy[worst[0]] if worst else 0:.0f} ms of GUI-thread CPU in it), "
            f"{over} over 100 ms, {over50} over 50 ms",
        )
    )
    figures.append(
        (
            "GUI: the five longest stalls, ms (GUI-thread CPU in each)",
            ", ".join(f"{gaps[i]:.0f} ({busy[i]:.0f}){during(i)}" for i in worst),
        )
    )
    for what, spans in (("read", reads), ("rows built", builds)):
        figures.append(
            (
                f"GUI: pages {what} ({len(spans)}): wall / reader CPU, longest and total",
                f"{max((w for w, _ in spans), default=0):.0f} / "
                f"{max((c for _, c in spans), default=0):.0f} ms, "
                f"{sum(w for w, _ in spans):.0f} / {sum(c for _, c in spans):.0f} ms",
            )
        )
    for generation in (0, 1, 2):
        passes = [c for c in collections if c[2] == generation and c[0] < scrolled]
        spent = [(b - a) * 1000 for a, b, *_ in passes]
        cpu_ms = [c[5] for c in passes]
        figures.append(
            (
                f"GUI: generation-{generation} collections while scrolling:"
                " count, wall total / longest (CPU total / longest)",
                f"{len(passes)}, {sum(spent):.0f} / {max(spent, default=0):.0f} ms"
                f" ({sum(cpu_ms):.0f} / {max(cpu_ms, default=0):.0f} ms)"
                f" ({sum(1 for c in passes if c[4] == 'reader')} on a reader,"
                f" {sum(c[3] for c in passes):,} objects collected)",
            )
        )
    tracked = gc.get_objects()
    figures.append(
        (
            "GUI: after the scroll: objects the collector tracks (frozen) / RSS",
            f"{len(tracked):,} ({gc.get_freeze_count():,}) / {_rss_mib():.0f} MiB"
            f" (before opening the account {rss_before:.0f} MiB)",
        )
    )
    if os.environ.get("BENCH_GC"):  # what they are, by type
        from collections import Counter

        if gc.garbage:
            gc.set_debug(0)
            found = Counter(type(o).__qualname__ for o in gc.garbage)
            print(f"garbage found in cycles ({len(gc.garbage)}):", found.most_common(25))
            funcs = Counter(o.__qualname__ for o in gc.garbage if type(o).__name__ == "function")
            print("functions among it:", funcs.most_common(15), flush=True)
            gc.garbage.clear()

        kinds = Counter(type(o).__qualname__ for o in tracked)
        print("tracked after the scroll:", kinds.most_common(20), flush=True)
        for a, b, generation, freed, thread, own in collections:
            if generation == 2 or b - a > 0.01:
                print(
                    f"gc: generation {generation}, {(b - a) * 1000:.1f} ms"
                    f" ({own:.1f} ms CPU) on the {thread}"
                    f" thread, {freed} collected, {a - t:.2f} s into the scroll",
                    flush=True,
                )
    del tracked
    figures.append(("GUI: load average while scrolling (1, 5, 15 min)", f"{load}"))
    Service.suggestion_count = plain_count  # type: ignore[method-assign]
    figures.append(
        (
            "GUI: the suggestions' counts (with their catch-up), s from the scroll's start",
            ", ".join(
                f"{counting[i] - t:.1f} to {counting[i + 1] - t:.1f}"
                for i in range(0, len(counting) - 1, 2)
            ),
        )
    )
    # Left alone for 3 s: the full collection put off while scrolling runs (``ui.collector``),
    # and leaves little for one more.
    try:
        from ui.collector import collector
    except ImportError:  # (a checkout from before it, measured for comparison)
        collector = None
    idle = collector() if collector is not None else None
    ran, due = (idle.collections, idle.due()) if idle is not None else (0, False)
    quiet_start = time.perf_counter()
    while time.perf_counter() < quiet_start + 3:
        app.processEvents()
        time.sleep(0.005)
    gc.callbacks.remove(collected)
    after_idle = _rss_mib()
    by_idle = idle.collections - ran if idle is not None else 0
    idle_full = [c for c in collections if c[0] >= quiet_start and c[2] == 2]
    start, own = time.perf_counter(), time.thread_time()
    found = gc.collect()
    full_ms, full_cpu = (time.perf_counter() - start) * 1000, (time.thread_time() - own) * 1000
    figures.append(
        (
            "GUI: 3 s idle after the scroll: full collections by ui.collector (due before), ms"
            " (CPU) / RSS / then one more: found, ms (CPU) / objects tracked",
            f"{by_idle} ({'due' if due else 'not due'}),"
            f" {sum((b - a) * 1000 for a, b, *_ in idle_full):.0f}"
            f" ({sum(c[5] for c in idle_full):.0f}) ms / {after_idle:.0f} MiB"
            f" / {found} found, {full_ms:.0f} ({full_cpu:.0f}) ms / {len(gc.get_objects()):,}",
        )
    )
    window.close()
    db.dispose()


def _typical(path: Path) -> int:
    """The id of a customer with the median number of events."""
    import sqlite3

    with closing(sqlite3.connect(path)) as con:  # closed: an open one keeps a -wal
        ids = [
            r[0]
            for r in con.execute(
                "select id from customer where merged_into_id is null order by event_count, id"
            )
        ]
    return int(ids[len(ids) // 2])


def whole_process(db_path: Path, big_id: int, figures: Figures) -> None:
    import compileall

    import app
    import connectors

    exe = _threadline()
    # An installed app runs from byte code; a checkout under PYTHONDONTWRITEBYTECODE would
    # compile its modules again in every process (about 0.2 s of each command).
    for package in (app, connectors):
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)
    typical = _typical(db_path)
    for label, args in (
        ("threadline search flowers --json", ["search", "flowers", "--json"]),
        (f"threadline show {typical} --json (a median customer)", ["show", str(typical), "--json"]),
        (f"threadline show {big_id} --json", ["show", str(big_id), "--json"]),
        ("threadline customers jan --json", ["customers", "jan", "--json"]),
        ("threadline --version", ["--version"]),
    ):
        base = [exe] if label.endswith("--version") else [exe, "--db", str(db_path)]
        took = _time(
            lambda a=args, b=base: subprocess.run(b + a, check=True, capture_output=True), runs=5
        )
        figures.append((f"whole process: {label}, median of 5", f"{_ms(took)[0]:.0f} ms"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "threadline-bench")
    ap.add_argument("--skip-gui", action="store_true")
    ap.add_argument(
        "--only",
        choices=("build", "queries", "gui", "cli"),
        action="append",
        help="run only these steps (repeatable; the database is built or reused either way;"
        " `build` alone stops after it)",
    )
    ap.add_argument(
        "--every", type=float, default=60, help="seconds between the import's progress lines"
    )
    ap.add_argument("--db", type=Path, help="use this database instead of building one")
    ap.add_argument("--shots", type=Path, help="save the window mid-scroll and at the end here")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    steps = set(args.only or ("queries", "gui", "cli")) - {"build"}
    if args.skip_gui:
        steps.discard("gui")
    figures: Figures = []
    db = args.db or build(args.work, args.events, args.seed, figures, args.every)
    figures.append(("the big account (customer 0 of the corpus)", _big_account(db)))
    with tempfile.TemporaryDirectory() as tmp:
        if "queries" in steps:
            big = in_process(db, figures, Path(tmp))
        elif steps:
            big = _biggest(db)
        if "gui" in steps:
            startup(db, figures)
            gui(db, big, figures, args.shots)
        if "cli" in steps:
            whole_process(db, big, figures)
    width = max(len(k) for k, _ in figures)
    print(f"\n{args.events:,} events requested (seed {args.seed}), {os.cpu_count()} cores")
    for key, value in figures:
        print(f"{key:<{width}}  {value}")
    (args.work / f"figures-{args.events}-{args.seed}.json").write_text(
        json.dumps(figures, indent=1), encoding="utf-8"
    )


if __name__ == "__main__":
    main()
