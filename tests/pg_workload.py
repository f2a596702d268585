"""Several agents at once on one PostgreSQL store: the mixed workload and its invariants.

Used by ``tests/test_pg_concurrency.py`` (4 processes of mixed work, then every invariant)
and ``tests/bench/bench_pg_writers.py`` (import throughput of 1 writer against 4).

``write_mail`` builds the input: mbox files whose messages come from a fixed pool of
people (so several files, and several processes, meet the same contact points), each
message unique (its own Message-ID, sender, time and words). ``agent`` is one process:
it opens its own ``Service`` on the URL and, until its deadline, imports files (the
shared ones every agent imports, and its own), writes notes, merges, splits and undoes,
and returns what it did. ``check`` reads the store afterwards and returns every broken
invariant in words (none when all hold).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

OWNER = "shop@flowers.example"
#: One round of an agent's work.
MIX = ("import", "note", "merge", "note", "split", "import", "note", "undo")
PEOPLE = 40


def person(i: int) -> tuple[str, str]:
    """The name and address of person ``i`` of the pool."""
    return f"Person {i:03d} Tester", f"person{i:03d}@mail{i % 7}.example"


def write_mail(path: Path, tag: str, count: int, seed: int) -> list[str]:
    """Write an mbox of ``count`` unique messages; returns their Message-IDs."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids: list[str] = []
    chunks: list[str] = []
    for n in range(count):
        name, address = person(rng.randrange(PEOPLE))
        when = start + timedelta(minutes=rng.randrange(300_000))
        mid = f"<{tag}.{n}@agents.example>"
        ids.append(mid)
        chunks.append(
            f"From {address} {when:%a %b %d %H:%M:%S %Y}\n"
            f"From: {name} <{address}>\n"
            f"To: Flower Shop <{OWNER}>\n"
            f"Subject: Order question {tag} {n}\n"
            f"Date: {when:%a, %d %b %Y %H:%M:%S +0000}\n"
            f"Message-ID: {mid}\n"
            "Content-Type: text/plain; charset=utf-8\n\n"
            f"Hello, this is message {n} of {tag} about tulips number {rng.randrange(10**9)}.\n\n"
        )
    path.write_text("".join(chunks), encoding="utf-8")
    return ids


def prepare(url: str) -> None:
    """Build the schema and the owner's settings once, before the agents start."""
    from app.service import Service

    service = Service.open(url)
    try:
        service.configure_many(
            {"owner_emails": OWNER, "region": "GB", "timezone": "UTC", "user_name": "Setup"}
        )
    finally:
        service.close()


@dataclass
class AgentResult:
    """What one agent did (returned from its process)."""

    name: str
    notes: list[tuple[int, str]] = field(default_factory=list)
    imported: dict[str, int] = field(default_factory=dict)  # file → times imported whole
    counts: dict[str, int] = field(default_factory=dict)  # operation → times done
    refused: dict[str, int] = field(default_factory=dict)  # operation → refusals in words
    added: int = 0
    seconds: float = 0.0


def agent(
    url: str,
    name: str,
    files: list[str],
    seconds: float,
    seed: int,
    mix: tuple[str, ...] = MIX,
) -> AgentResult:
    """One agent's process: the operations of ``mix`` in turn (starting at a place of its
    own) on ``url`` until ``seconds`` have passed and the whole round was done once; with
    ``mix`` just ``("import",)``, each of ``files`` once, in order."""
    from app.errors import UserFacingError
    from app.service import Service

    rng = random.Random(seed)
    service = Service.open(url)
    result = AgentResult(name)
    started = time.monotonic()
    deadline = started + seconds
    pending = list(files)  # each file is imported at least once, early on
    turn = 0
    try:
        while time.monotonic() < deadline or turn < len(mix) or (mix == ("import",) and pending):
            op = mix[(seed + turn) % len(mix)]
            turn += 1
            try:
                if op == "import":
                    if not files:
                        break
                    path = pending.pop(0) if pending else rng.choice(files)
                    reports = service.import_paths([Path(path)], format="mbox")
                    for report in reports:
                        if report.status == "done":
                            result.imported[path] = result.imported.get(path, 0) + 1
                            result.added += report.added
                        else:
                            raise AssertionError(f"{path}: {report.status} {report.error}")
                elif op == "note":
                    customers = service.customers(limit=50)
                    if not customers:
                        continue
                    body = f"{name} note {len(result.notes)} {rng.randrange(10**9)}"
                    row = service.add_note(rng.choice(customers).id, body)
                    result.notes.append((row.id, body))
                elif op == "merge":
                    customers = service.customers(limit=50)
                    if len(customers) < 2:
                        continue
                    a, b = rng.sample(customers, 2)
                    service.merge(a.id, [b.id], reason=f"{name} thinks so")
                elif op == "split":
                    splittable = [c for c in service.customers(limit=50) if len(c.emails) > 1]
                    if not splittable:
                        continue
                    chosen = rng.choice(splittable)
                    idents = [i for i in chosen.identities if i.kind == "email"]
                    service.split(chosen.id, [rng.choice(idents).id])
                elif op == "undo":
                    service.undo()
                result.counts[op] = result.counts.get(op, 0) + 1
            except UserFacingError:  # "already the same customer", "a later change built on it"
                result.refused[op] = result.refused.get(op, 0) + 1
    finally:
        result.seconds = time.monotonic() - started
        service.close()
    return result


def check(url: str, results: list[AgentResult], messages: dict[str, list[str]]) -> list[str]:
    """Every broken invariant of the store at ``url`` after ``results``, in words."""
    from sqlalchemy import create_engine

    broken: list[str] = []
    engine = create_engine(url)

    def rows(sql: str) -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))

    def one(sql: str) -> Any:
        return rows(sql)[0][0]

    try:
        for what, sql in (
            (
                "events stored twice (same source and Message-ID)",
                "SELECT source, external_id FROM event GROUP BY 1, 2 HAVING count(*) > 1",
            ),
            (
                "events stored twice (same source and fingerprint)",
                "SELECT source, fingerprint FROM event WHERE fingerprint <> '' "
                "GROUP BY 1, 2 HAVING count(*) > 1",
            ),
            (
                "contact points stored twice",
                "SELECT kind, platform, value FROM identity GROUP BY 1, 2, 3 HAVING count(*) > 1",
            ),
            (
                "contact points on more than one live customer",
                "SELECT ci.identity_id FROM customer_identity ci "
                "JOIN customer c ON c.id = ci.customer_id AND c.merged_into_id IS NULL "
                "JOIN identity i ON i.id = ci.identity_id AND NOT i.shared "
                "GROUP BY 1 HAVING count(*) > 1",
            ),
            (
                "customers' contact points with no live customer",
                "SELECT i.id FROM identity i WHERE NOT i.is_own AND i.kind = 'email' AND NOT "
                "EXISTS (SELECT 1 FROM customer_identity ci JOIN customer c ON c.id = "
                "ci.customer_id AND c.merged_into_id IS NULL WHERE ci.identity_id = i.id)",
            ),
            (
                "events that do not belong to exactly one live customer",
                "SELECT e.id FROM event e LEFT JOIN (SELECT p.event_id, ci.customer_id "
                "FROM event_participant p JOIN identity i ON i.id = p.identity_id "
                "AND NOT i.is_own JOIN customer_identity ci ON ci.identity_id = i.id "
                "JOIN customer c ON c.id = ci.customer_id AND c.merged_into_id IS NULL) x "
                "ON x.event_id = e.id GROUP BY e.id HAVING count(DISTINCT x.customer_id) <> 1",
            ),
            (
                "merged customers that still hold contact points or notes",
                "SELECT c.id FROM customer c WHERE c.merged_into_id IS NOT NULL AND (EXISTS "
                "(SELECT 1 FROM customer_identity ci WHERE ci.customer_id = c.id) OR EXISTS "
                "(SELECT 1 FROM note n WHERE n.customer_id = c.id))",
            ),
            (
                "live customers whose event count is wrong",
                "SELECT c.id FROM customer c WHERE c.merged_into_id IS NULL AND c.event_count <> "
                "(SELECT count(DISTINCT p.event_id) FROM customer_identity ci JOIN "
                "event_participant p ON p.identity_id = ci.identity_id "
                "WHERE ci.customer_id = c.id)",
            ),
        ):
            found = rows(sql)
            if found:
                broken.append(f"{len(found)} {what}: {[tuple(r) for r in found[:5]]}")

        # Merge log against customer states, both ways.
        merges = rows(
            "SELECT action, details, undone_by FROM audit_log WHERE action IN ('merge', 'split')"
        )
        import json

        live_merges: set[tuple[int, int]] = set()
        undone_creations: set[tuple[int, int]] = set()
        for action, details, undone_by in merges:
            d = json.loads(details)
            if action == "merge" and undone_by is None:
                live_merges.add((int(d["merged"]), int(d["survivor"])))
            if action == "split" and undone_by is not None and d.get("created"):
                undone_creations.add((int(d["to"]), int(d["from"])))
        pointers = {
            (int(c), int(s))
            for c, s in rows(
                "SELECT id, merged_into_id FROM customer WHERE merged_into_id IS NOT NULL"
            )
        }
        logged = live_merges | undone_creations
        if pointers != logged:
            broken.append(
                "merge log and customers disagree: "
                f"pointers without a change {sorted(pointers - logged)[:5]}, "
                f"changes without a pointer {sorted(logged - pointers)[:5]}"
            )

        # Every note written is there, with its text, on a live customer.
        notes = {
            int(i): (body, merged)
            for i, body, merged in rows(
                "SELECT n.id, n.body, c.merged_into_id FROM note n "
                "JOIN customer c ON c.id = n.customer_id"
            )
        }
        written = [n for r in results for n in r.notes]
        lost = [n for n in written if n[0] not in notes or notes[n[0]][0] != n[1]]
        if lost:
            broken.append(f"{len(lost)} of {len(written)} notes lost: {lost[:3]}")
        if any(notes[i][1] is not None for i, _ in written if i in notes):
            broken.append("notes left on a merged customer")
        if len(notes) != len(written):
            broken.append(f"{len(notes)} notes stored, {len(written)} written")

        # Imports: every message of every file imported is there once, and the runs add up.
        imported = {f for r in results for f in r.imported}
        expected = {m for f in imported for m in messages[f]}
        stored = one("SELECT count(*) FROM event")
        if stored != len(expected):
            broken.append(f"{stored} events stored, {len(expected)} distinct messages imported")
        added = one("SELECT coalesce(sum(added), 0) FROM import_run")
        if added != stored:
            broken.append(f"import runs added {added} events in all, {stored} are stored")
        if added != sum(r.added for r in results):
            broken.append("import runs and the agents' reports disagree on what was added")
        runs = rows(
            "SELECT path, added + duplicates + updated, problem_count, status FROM import_run"
        )
        sizes = {Path(f).name: len(messages[f]) for f in messages}
        for path, total, problems, status in runs:
            if status != "done" or problems or total != sizes.get(Path(path).name):
                broken.append(f"import run of {path}: {status}, {total} items, {problems} problems")
                break
        done_runs = len(runs)
        if done_runs != sum(sum(r.imported.values()) for r in results):
            broken.append(f"{done_runs} import runs, the agents finished a different number")
    finally:
        engine.dispose()
    return broken
