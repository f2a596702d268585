"""Benchmark: stored merge suggestions at scale (from scratch, after an import, the count).

Run on demand (not part of the default suite):

    python -m tests.bench.bench_suggestions [--customers 100000] [--seed 3] [--db PATH]
        [--via-import] [--skip-one-process] [--skip-old-count]
        [--after-import PATH] [--profile N] [--steps] [--skip-check] [--gui]

By default the database is written directly with bulk inserts (importing 250,000 records
through the import path takes many minutes and measures the import, not the suggestions):
the identity benchmark's generated people (``tests.bench.bench_identity.make_people``: Zipf
names with typos and nicknames, households, offices, second addresses and mobiles), each
split over one to three customers as an import leaves a person whose contact points
nothing ties together, with the display names their messages show, their orders with a
billing postcode, and messages that quote one of their order numbers (mentions); then the
customers' figures are counted as an import leaves them, so that the next import recounts
(and marks for the suggestions) only the customers it touches. ``--via-import`` writes the
identity benchmark's records through the import path instead. Then:

- from scratch: ``app.suggestions.suggestions`` (computed in one process, nothing stored)
  and ``app.suggestion_store.rebuild`` (computed, scored by one process per core, stored);
- an import of 1,000 records through the real import path (new people, and new messages
  and orders of known ones), then ``catch_up`` and the count, timed together from the end
  of the import (what the status bar waits for), and whether the list equals a
  from-scratch build with the same frequencies;
- the review queue's first page (``Service``), and for comparison what the count cost
  before (computing the whole list).

``--db PATH`` keeps the generated database for the next run (each run works on a copy).
``--after-import PATH`` keeps the database as the import left it (rebuilt, then 1,000
records imported, not caught up): the next run with it starts at the catch-up (the steps
before it are not timed again). ``--profile N`` runs the catch-up under cProfile and prints
its N most expensive functions (by own time and by cumulative time); ``--steps`` times its
main steps instead (each function below wrapped in a timer: no profiler's overhead), and
prints them with how often each ran. ``--skip-check`` leaves
out the comparison with a from-scratch build (a rebuild's time, when only the catch-up is
looked at). ``--gui`` also times what the window shows: the main window (offscreen Qt) open
on the rebuilt database before the import, the same 1,000 records imported, then from the
end of the import (the import flow's ``import_finished``) to the status bar's new count
(``suggestions_counted``), the catch-up run as the window runs it (on a worker thread).
Times are wall-clock and CPU (this process's and its finished children's: the forked
scorers), since a shared machine's load inflates the wall-clock ones.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from app import mentions, settings, suggestion_store, suggestions
from app.customer_stats import refresh_customer_stats
from app.db import Database, open_database
from app.identity import normalize_email, normalize_phone
from app.ingest import import_items
from app.models import (
    Customer,
    CustomerIdentity,
    Event,
    EventParticipant,
    Identity,
    Mention,
    Order,
    SuggestionDirty,
    SuggestionPair,
)
from app.records import EventRecord
from app.service import Service
from tests.bench.bench_identity import T0, Person, _display, make_people, make_records

PER_PERSON = 1.5  # customers per person on average
IMPORTED_PER_PERSON = 1.48  # the same through the import path (bench_identity: 14,781 for 10,000)


def build(db: Database, customers: int, seed: int) -> int:
    """Write about ``customers`` customers; returns how many people they are."""
    n_people = int(customers / PER_PERSON)
    people, users = make_people(n_people, seed)
    rng = random.Random(seed + 7)
    shared = {value for value, who in users.items() if len(who) > 1}
    identity_ids: dict[str, int] = {}
    identity_rows: list[dict[str, Any]] = []
    customer_rows: list[dict[str, Any]] = []
    links: set[tuple[int, int]] = set()
    event_rows: list[dict[str, Any]] = []
    participant_rows: list[dict[str, Any]] = []
    order_rows: list[dict[str, Any]] = []
    mention_rows: list[dict[str, Any]] = []

    def identity(kind: str, value: str, name: str) -> int:
        if value not in identity_ids:
            identity_ids[value] = len(identity_ids) + 1
            identity_rows.append(
                {
                    "id": identity_ids[value],
                    "kind": kind,
                    "value": value,
                    "raw": value,
                    "match_key": value,
                    "display_name": name,
                    "shared": value in shared,
                    "line_type": "mobile" if value.startswith("+447") else "fixed_line",
                }
            )
        return identity_ids[value]

    order_no = 0
    for p in people:
        points = _points(p)
        rng.shuffle(points)
        parts = min(len(points), rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0])
        groups: list[list[tuple[str, str]]] = [[] for _ in range(parts)]
        for i, point in enumerate(points):
            groups[i if i < parts else rng.randrange(parts)].append(point)
        numbers: list[str] = []
        for group in groups:
            cid = len(customer_rows) + 1
            has_email = any(kind == "email" for kind, _ in group)
            name = _display(rng, p) if has_email or rng.random() < 0.7 else ""
            customer_rows.append({"id": cid, "display_name": name})
            ids = [identity(kind, value, name) for kind, value in group]
            links.update((cid, iid) for iid in ids)
            for _ in range(rng.randint(0, 2) if has_email else 0):
                order_no += 1
                numbers.append(f"#{order_no}")
                eid = len(event_rows) + 1
                event_rows.append(
                    _event(eid, "order", {"billing": {"zip": p.postcode}}, f"Order #{order_no}")
                )
                order_rows.append(
                    {
                        "event_id": eid,
                        "number": f"#{order_no}",
                        "platform": "shopify",
                        "currency": "GBP",
                        "total": Decimal("20.00"),
                    }
                )
                participant_rows.append(
                    {"event_id": eid, "identity_id": ids[0], "role": "buyer", "name": name}
                )
            for _ in range(rng.randint(1, 2)):
                eid = len(event_rows) + 1
                text = "Hello, thanks"
                if numbers and rng.random() < 0.3:
                    text = f"Hello about my order {rng.choice(numbers)}, thanks"
                event_rows.append(_event(eid, "email", {}, text))
                participant_rows.append(
                    {"event_id": eid, "identity_id": ids[0], "role": "from", "name": name}
                )
                mention_rows.extend(mentions.rows(eid, "", text, "GB"))
    with db.session() as s:
        settings.set_value(s, "region", "GB")
        for model, rows in (
            (Customer, customer_rows),
            (Identity, identity_rows),
            (CustomerIdentity, [{"customer_id": c, "identity_id": i} for c, i in links]),
            (Event, event_rows),
            (Order, order_rows),
            (EventParticipant, participant_rows),
            (Mention, mention_rows),
        ):
            for start in range(0, len(rows), 20000):
                s.execute(insert(model), rows[start : start + 20000])
    with db.session() as s:
        # The customers' figures as an import leaves them (counted, not "waiting for a
        # recount"), so that the next import recounts only the customers it touches.
        refresh_customer_stats(s, range(1, len(customer_rows) + 1))
    return len(people)


def build_by_import(db: Database, customers: int, seed: int) -> int:
    """Write about ``customers`` customers through the import path (slow: minutes)."""
    people, _users = make_people(int(customers / IMPORTED_PER_PERSON), seed)
    records = [r for r, _ in make_records(people, seed)]
    with db.session() as s:
        settings.set_value(s, "region", "GB")
    import_items(db, lambda: records, label="bench", format="bench", batch_size=2000)
    return len(people)


def _points(p: Person) -> list[tuple[str, str]]:
    points = [("email", normalize_email(e) or e) for e in p.emails]
    for phone in (p.mobile, p.work_mobile, p.landline):
        if phone:
            points.append(("phone", normalize_phone(phone, "GB") or phone))
    return points


def _event(eid: int, channel: str, details: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": eid,
        "channel": channel,
        "source": "shopify" if channel == "order" else "email",
        "external_id": f"s{eid}",
        "occurred_at": T0,
        "direction": "inbound",
        "title": text,
        "body": text,
        "details": details,
        "content_hash": "",
        "locator": "",
    }


def new_records(people: int, seed: int, count: int) -> list[EventRecord]:
    """``count`` records: 70% from new people, 30% new messages of known people."""
    fresh, _ = make_people(people // 10 + 50, seed + 1000)
    known, _ = make_people(people, seed)
    rng = random.Random(seed + 2000)
    out = [r for r, _ in make_records(fresh, seed + 1000)][: count * 7 // 10]
    again = [r for r, _ in make_records(rng.sample(known, count // 3), seed + 3000)]
    out += again[: count - len(out)]
    return [replace(r, external_id=f"new{i}") for i, r in enumerate(out)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--db", type=Path, metavar="PATH", help="keep the database here")
    parser.add_argument(
        "--via-import",
        action="store_true",
        help="write the database through the import path (bench_identity's records; slow)",
    )
    parser.add_argument(
        "--skip-one-process",
        action="store_true",
        help="do not time the list computed in one process (app.suggestions.suggestions)",
    )
    parser.add_argument(
        "--skip-old-count", action="store_true", help="do not time the old count (the whole list)"
    )
    parser.add_argument(
        "--after-import",
        type=Path,
        metavar="PATH",
        help="keep (or start from) the database as the import left it, before the catch-up",
    )
    parser.add_argument(
        "--profile", type=int, metavar="N", default=0, help="profile the catch-up: top N"
    )
    parser.add_argument(
        "--steps", action="store_true", help="time the catch-up's main steps (no profiler)"
    )
    parser.add_argument(
        "--skip-check", action="store_true", help="do not compare with a from-scratch build"
    )
    parser.add_argument(
        "--gui",
        action="store_true",
        help="time the window's count after the import too (not with --after-import's copy)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.db or Path(tmp) / "base.db"
        figures: list[tuple[str, str]] = []
        if not base.exists():
            t0 = _now()
            fresh = open_database(base)
            writer = build_by_import if args.via_import else build
            writer(fresh, args.customers, args.seed)
            fresh.dispose()
            how = "import path" if args.via_import else "bulk"
            figures.append((f"write the database ({how}, not measured)", _s(t0)))
        path = Path(tmp) / "suggest.db"  # the base stays as generated, for the next run
        before_import = Path(tmp) / "window.db" if args.gui else None
        saved = args.after_import
        if saved is not None and saved.exists() and before_import is not None:
            raise SystemExit("--gui needs the import: leave out --after-import's saved copy")
        stored = 0
        if saved is not None and saved.exists():
            shutil.copyfile(saved, path)
            db = open_database(path)
            svc = Service(db)
            with db.read_session() as s:
                stored = s.query(SuggestionPair).count()
        else:
            shutil.copyfile(base, path)
            db, svc, stored = _rebuild_and_import(path, figures, args, before_import)
            if saved is not None:
                db.dispose()  # checkpointed: one file to copy
                shutil.copyfile(path, saved)
                db = open_database(path)
                svc = Service(db)
        with db.read_session() as s:
            marked = s.scalar(select(func.count()).select_from(SuggestionDirty)) or 0
        profiler = cProfile.Profile() if args.profile else None
        steps = _StepTimes() if args.steps else None
        t0 = _now()
        # What the service runs before it reads the count (its commit leaves the log's
        # checkpoint for later: timed below, as the window runs it once the count is shown).
        with db.session(checkpoint=False) as s:
            if profiler is not None:
                profiler.enable()
            outcome = suggestion_store.catch_up(s)
            if profiler is not None:
                profiler.disable()
        if steps is not None:
            steps.stop()
        count = svc.suggestion_count()
        work = suggestion_store.last_work
        figures.append(
            (
                f"after the import: catch_up ({outcome}, {marked:,} customers marked, "
                f"{work.changed:,} changed, {work.scored:,} pairs scored) "
                f"and the count ({count:,})",
                _s(t0),
            )
        )
        t0 = _now()
        svc.checkpoint()
        figures.append(("then the log's checkpoint, after the count (not waited for)", _s(t0)))
        t0 = _now()
        queue = svc.suggestions(limit=200)
        figures.append((f"review queue, first {len(queue)} pairs", _ms(t0)))
        if before_import is not None:
            # (before the check and the old count: the whole lists they compute leave memo
            # tables in this process that the window's threads would then walk)
            _window_count(before_import, figures, args, count)
        if not args.skip_check:
            figures.append(("incremental result equals a rebuild", f"{_same(db)} | -"))
        if not args.skip_old_count:
            with db.read_session() as s:
                t0 = _now()
                old = len(suggestions.suggestions(s))
                figures.append((f"count as before: compute the list ({old:,})", _s(t0)))
        db.dispose()
    if steps is not None:
        print(steps.table())
    if profiler is not None:
        for order in ("tottime", "cumulative"):
            pstats.Stats(profiler).strip_dirs().sort_stats(order).print_stats(args.profile)
    print(f"{stored:,} pairs stored (score {suggestion_store.STORE_MIN_SCORE} or more)")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    width = max(len(k) for k, _ in figures)
    print(f"| {'step':<{width}} | wall | CPU |")
    print(f"|{'-' * (width + 2)}|------|-----|")
    for k, v in figures:
        print(f"| {k:<{width}} | {v} |")


def _same(db: Database) -> bool:
    """Whether the stored list equals a from-scratch build with the same frequencies."""
    with db.read_session() as s:
        same = [
            (r["customer_a"], r["customer_b"], r["score"], tuple(r["reasons"]))
            for r in suggestion_store.compute(s, keep_stats=True).rows
        ]
        kept = [
            (r.customer_a, r.customer_b, r.score, tuple(r.reasons))
            for r in s.scalars(
                select(SuggestionPair).order_by(
                    SuggestionPair.customer_a, SuggestionPair.customer_b
                )
            )
        ]
    return sorted(same) == kept


def _rebuild_and_import(
    path: Path,
    figures: list[tuple[str, str]],
    args: argparse.Namespace,
    before_import: Path | None = None,
) -> tuple[Database, Service, int]:
    """From scratch (timed), then the import of 1,000 records (timed; ``_records``); the
    database as rebuilt is copied to ``before_import`` if given."""
    db = open_database(path)
    with db.read_session() as s:
        n = s.scalar(select(func.count()).select_from(Customer)) or 0
        listed = None
        if not args.skip_one_process:
            t0 = _now()
            listed = suggestions.suggestions(s)
            figures.append((f"from scratch, one process ({n:,} customers)", _s(t0)))
    with db.session() as s:
        t0 = _now()
        suggestion_store.rebuild(s)
        figures.append(("from scratch, computed and stored (rebuild)", _s(t0)))
        stored = s.query(SuggestionPair).count()
    if before_import is not None:
        db.dispose()  # (checkpointed: one file to copy)
        shutil.copyfile(path, before_import)
        db = open_database(path)
    svc = Service(db)
    assert listed is None or svc.suggestions() == listed, "the stored list is the computed one"
    records = _records(db, args)
    t0 = _now()
    import_items(db, lambda: records, label="bench", format="bench")
    figures.append((f"import {len(records):,} records (import path)", _s(t0)))
    return db, svc, stored


class _StepTimes:
    """The catch-up's main steps timed where they are called: each function of ``STEPS``
    wrapped (in its module or class) until ``stop``. Nested steps count in their callers
    too (``_update`` holds nearly all of the others)."""

    STEPS: tuple[tuple[Any, str], ...] = (
        (suggestion_store, "_update"),
        (suggestion_store, "_state"),
        (suggestions, "_profiles"),
        (suggestion_store, "_stored_digests"),
        (suggestion_store, "_members"),
        (suggestion_store._OrdersRead, "need"),
        (suggestion_store._NameLists, "__init__"),
        (suggestion_store.suggestion_mentions, "update"),
        (suggestion_store, "_fresh_features"),
        (suggestion_store, "_sifted"),
        (suggestion_store, "_light_profiles"),
        (suggestion_store, "_still_candidates"),
        (suggestion_store, "_scored"),
        (suggestion_store, "_delete_pairs"),
        (suggestion_store, "_write_customers"),
        (suggestion_store, "_insert_pairs"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.plain: list[tuple[Any, str, Any]] = []
        for owner, name in self.STEPS:
            function = getattr(owner, name)
            label = f"{getattr(owner, '__name__', '?').rpartition('.')[2]}.{name}"
            self.plain.append((owner, name, function))
            setattr(owner, name, self._timed(function, label))

    def _timed(self, function: Any, label: str) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t0
                self.calls[label] = self.calls.get(label, 0) + 1

        return timed

    def stop(self) -> None:
        for owner, name, function in self.plain:
            setattr(owner, name, function)

    def table(self) -> str:
        rows = sorted(self.seconds.items(), key=lambda item: -item[1])
        width = max((len(k) for k, _ in rows), default=4)
        lines = [f"| {'step':<{width}} | wall | calls |", f"|{'-' * (width + 2)}|------|-------|"]
        lines += [f"| {k:<{width}} | {v:.3f} s | {self.calls[k]} |" for k, v in rows]
        return "\n".join(lines)


def _records(db: Database, args: argparse.Namespace) -> list[EventRecord]:
    """The 1,000 records imported: drawn from the database's own count of customers, so
    that every run of one database imports the same ones (the first, which writes it, too)."""
    with db.read_session() as s:
        n = s.scalar(select(func.count()).select_from(Customer)) or 0
    return new_records(int(n / PER_PERSON), args.seed, 1000)


def _window_count(
    path: Path, figures: list[tuple[str, str]], args: argparse.Namespace, want: int
) -> None:
    """The main window open on the rebuilt database (``path``) and its count shown, the
    1,000 records imported, then the time from the import flow's end to the new count in
    the status bar (which must be ``want``, the count found in-process)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ui import workers
    from ui.app import application
    from ui.main_window import MainWindow

    app = QApplication.instance() or application([])  # (as the app makes it)
    db = open_database(path)
    window = MainWindow(db)
    window.resize(1280, 800)
    window.show()
    shown: list[tuple[float, int]] = []  # (when, count) of each count the status bar got
    window.identity_flow.suggestions_counted.connect(
        lambda n: shown.append((time.perf_counter(), n))
    )

    def wait(done: Callable[[], bool], limit: float = 300) -> None:
        """Run the event loop, as the app does, until ``done()`` (asked every 20 ms: this
        thread asks for the interpreter's lock no more often than the app's own does)."""
        loop, check = QEventLoop(), QTimer()
        check.setInterval(20)
        check.timeout.connect(lambda: loop.quit() if done() else None)
        end = time.perf_counter() + limit
        check.start()
        while not done():
            loop.exec()
            if time.perf_counter() > end:
                raise SystemExit("the window did not get there in time")
        check.stop()

    wait(lambda: bool(shown) and window._warmed and workers.manager().active == 0)
    records = _records(db, args)
    import_items(db, lambda: records, label="bench", format="bench")
    counted = len(shown)
    t0, cpu = time.perf_counter(), _cpu()
    window.import_flow.import_finished.emit([])
    wait(lambda: len(shown) > counted)
    at, n = shown[-1]
    cpu = _cpu() - cpu  # (every thread's, the window's waiting loop's too)
    assert n == want, f"the window counted {n:,}, the service {want:,}"
    figures.append(
        (
            f"in the window: from the import's end to the status bar's count ({n:,})",
            f"{at - t0:.2f} s | {cpu:.2f} s",
        )
    )
    wait(lambda: workers.manager().active == 0)
    window.close()
    app.processEvents()
    db.dispose()


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the forked scorers)."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _now() -> tuple[float, float]:
    return time.perf_counter(), _cpu()


def _s(t0: tuple[float, float]) -> str:
    wall, cpu = time.perf_counter() - t0[0], _cpu() - t0[1]
    return f"{wall:.2f} s | {cpu:.2f} s"


def _ms(t0: tuple[float, float]) -> str:
    wall, cpu = time.perf_counter() - t0[0], _cpu() - t0[1]
    return f"{wall * 1000:.0f} ms | {cpu * 1000:.0f} ms"


if __name__ == "__main__":
    main()
