"""Four agents at once on one PostgreSQL store lose nothing and duplicate nothing.

Four processes (``multiprocessing``, each with its own ``Service`` on the server) import
the same and different mbox files, write notes, merge, split and undo for
``THREADLINE_AGENTS_SECONDS`` seconds (default 25; the documented full run is a minute:
``THREADLINE_AGENTS_SECONDS=60 python -m pytest tests/test_pg_concurrency.py``). Then every
count and invariant is checked (``tests/pg_workload.check``): no event or contact point
twice, no contact point on two live customers, every event on exactly one live customer,
the merge log agreeing with the customers' pointers, every note written present, and the
import runs adding up to what is stored.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.records import EventRecord
from tests import pg_workload
from tests.postgres import PgServer, run_postgres, server_bin

pytestmark = pytest.mark.slow

AGENTS = 4
SECONDS = float(os.environ.get("THREADLINE_AGENTS_SECONDS", "25"))


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    if server_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian package postgresql)")
    with run_postgres() as server:
        yield server


def _files(folder: Path) -> tuple[dict[str, list[str]], list[str], list[list[str]]]:
    """Two files every agent imports and three of each agent's own: their messages."""
    messages: dict[str, list[str]] = {}
    shared = []
    for n in range(2):
        path = folder / f"shared{n}.mbox"
        messages[str(path)] = pg_workload.write_mail(path, f"shared{n}", 40, seed=n)
        shared.append(str(path))
    own: list[list[str]] = []
    for a in range(AGENTS):
        mine = []
        for n in range(4):
            path = folder / f"agent{a}-{n}.mbox"
            messages[str(path)] = pg_workload.write_mail(
                path, f"a{a}f{n}", 40, seed=100 + a * 10 + n
            )
            mine.append(str(path))
        own.append(mine)
    return messages, shared, own


def test_four_agents_at_once_lose_nothing_and_duplicate_nothing(
    pg: PgServer, tmp_path: Path
) -> None:
    url = pg.new_database("agents")
    pg_workload.prepare(url)
    messages, shared, own = _files(tmp_path)
    context = multiprocessing.get_context("spawn")
    with context.Pool(AGENTS) as pool:
        jobs = [
            pool.apply_async(
                pg_workload.agent, (url, f"agent{a}", shared + own[a], SECONDS, 1000 + a)
            )
            for a in range(AGENTS)
        ]
        results = [job.get(timeout=SECONDS * 20 + 300) for job in jobs]
    done = {op: sum(r.counts.get(op, 0) for r in results) for op in pg_workload.MIX}
    # The agents really worked at the same time: each did its round of work once at least.
    assert done["import"] >= AGENTS * 2 and done["note"] >= AGENTS * 2, done
    assert done["merge"] > 0 and done["split"] + done["undo"] > 0, done
    broken = pg_workload.check(url, results, messages)
    assert broken == []


def test_a_write_that_loses_against_a_concurrent_one_runs_again(pg: PgServer) -> None:
    """Two transactions change one customer's name, interleaved: the server aborts the
    second (serialization_failure) and ``Database.write`` runs it again on fresh data."""
    from sqlalchemy import select, text

    from app.db import open_database
    from app.models import Customer

    url = pg.new_database("lost_update")
    db, other = open_database(url), open_database(url)
    try:
        with db.session() as session:
            session.add(Customer(display_name="Ada"))
        attempts: list[str] = []

        def rename(session) -> None:  # type: ignore[no-untyped-def]
            customer = session.scalars(select(Customer)).one()  # the snapshot is taken here
            attempts.append(customer.display_name)
            if len(attempts) == 1:  # a colleague renames her meanwhile, and commits first
                with other.session() as theirs:
                    theirs.execute(text("UPDATE customer SET display_name = 'Ada L.'"))
            customer.display_name += " (VIP)"

        db.write(rename)
        assert attempts == ["Ada", "Ada L."]  # the second run saw the colleague's change
        with db.read_session() as session:
            assert session.scalars(select(Customer.display_name)).one() == "Ada L. (VIP)"
    finally:
        db.dispose()
        other.dispose()


def test_a_key_a_colleague_inserted_first_runs_again_a_few_times_then_fails(
    pg: PgServer,
) -> None:
    """A unique key taken by a concurrent insert can surface as unique_violation rather than
    a serialization failure: ``Database.write`` runs the transaction again (the rerun sees the
    colleague's row), but a duplicate of the transaction's own making fails after a few runs."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from app.db import PG_MAYBE_CONCURRENT_TRIES, open_database

    db = open_database(pg.new_database("key_clash"))
    try:
        with db.session() as session:
            session.execute(text("CREATE TABLE mark (k integer PRIMARY KEY)"))
            session.execute(text("INSERT INTO mark VALUES (1)"))
        attempts: list[int] = []

        def mark(session) -> None:  # type: ignore[no-untyped-def]
            attempts.append(len(attempts))
            key = 1 if len(attempts) == 1 else 2  # the first run meets the colleague's key
            session.execute(text("INSERT INTO mark VALUES (:k)"), {"k": key})

        db.write(mark)
        assert attempts == [0, 1]
        with db.read_session() as session:
            assert session.execute(text("SELECT k FROM mark ORDER BY k")).scalars().all() == [1, 2]

        runs: list[int] = []

        def always_clashes(session) -> None:  # type: ignore[no-untyped-def]
            runs.append(1)
            session.execute(text("INSERT INTO mark VALUES (1)"))

        with pytest.raises(IntegrityError):
            db.write(always_clashes)
        assert len(runs) == PG_MAYBE_CONCURRENT_TRIES
    finally:
        db.dispose()


def test_an_import_hands_its_recount_to_a_colleague_waiting_for_the_writers_turn(
    pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a colleague's import waits for the writers' turn, an import leaves the
    customers it touched marked "not counted" instead of recounting their whole history;
    the next import that finds nobody waiting recounts every marked customer, so the
    stored figures end equal to a recount. A customer a colleague counted between two of
    the run's batches is marked again when the run adds to her."""
    from sqlalchemy import select

    from app.db import Database, open_database
    from app.ingest import import_items
    from app.models import Customer
    from tests.test_profile_figures import _mail, check

    url = pg.new_database("hand_over")
    db, colleague = open_database(url), open_database(url)
    # Someone always queues behind ``db``'s imports, never behind the colleague's.
    monkeypatch.setattr(Database, "writers_waiting", lambda self, session: self is db)

    def marked() -> set[str]:
        with colleague.read_session() as s:
            return set(s.scalars(select(Customer.display_name).where(Customer.profile == {})))

    def counts() -> dict[str, int]:
        with colleague.read_session() as s:
            return dict(s.execute(select(Customer.display_name, Customer.event_count)).all())

    try:

        def mine() -> Iterator[EventRecord]:
            yield _mail("a1", "ada@example.com", "Ada", 1)
            yield _mail("a2", "bob@example.com", "Bob", 2)
            # the first batch is written: handed over, not recounted
            assert {"Ada", "Bob"} <= marked()
            # the colleague's import (nobody behind it) recounts every marked customer
            import_items(
                colleague,
                lambda: [_mail("b1", "bob@example.com", "Bob", 3)],
                label="colleague",
                format="test",
            )
            assert marked() == set()
            assert counts()["Ada"] == 1 and counts()["Bob"] == 2
            yield _mail("a3", "ada@example.com", "Ada", 4)  # Ada again, after her recount

        import_items(db, mine, label="mine", format="test", batch_size=2)
        assert "Ada" in marked(), "the run's last batch hands Ada over again"
        assert counts()["Ada"] == 1  # not recounted by a run that had someone behind it
        import_items(colleague, lambda: [], label="next", format="test")
        assert marked() == set()
        check(colleague, "after the queue ran dry")
    finally:
        db.dispose()
        colleague.dispose()


def test_writers_waiting_sees_an_import_batch_queued_behind_another(pg: PgServer) -> None:
    """``writers_waiting`` is true exactly while a batch waits at ``writers_queue`` (the
    one holding the turn does not count)."""
    import threading
    import time

    from app.db import open_database

    db = open_database(pg.new_database("queued"))
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with db.writers_queue():
            holding.set()
            release.wait()

    def queue() -> None:
        with db.writers_queue():
            pass

    def waiting() -> bool:
        with db.session() as s:
            return db.writers_waiting(s)

    first, second = threading.Thread(target=hold), threading.Thread(target=queue)
    try:
        assert not waiting()
        first.start()
        assert holding.wait(60)
        assert not waiting()
        second.start()
        give_up = time.monotonic() + 60  # the second batch reaches the server's lock queue
        while not waiting():
            assert time.monotonic() < give_up, "the queued batch never showed as waiting"
    finally:
        release.set()
        first.join()
        second.join()
    assert not waiting()
    db.dispose()


def test_one_import_of_many_files_recounts_its_customers_once_at_its_end(
    pg: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a server the files of one ``import_paths`` call hand their recount on to the
    next file: a folder of small files is recounted with its last file's last batch, not
    once per file over the same customers' whole history, and the figures are right."""
    from app import identity, ingest
    from app.db import open_database
    from tests.test_profile_figures import check

    for n in range(5):
        pg_workload.write_mail(tmp_path / f"part{n}.mbox", f"p{n}", 6, seed=n)
    db = open_database(pg.new_database("one_call"))
    recounts: list[int] = []
    real = identity.refresh_customer_stats

    def counted(session, ids) -> None:  # type: ignore[no-untyped-def]
        recounts.append(len(set(ids)))
        real(session, ids)

    monkeypatch.setattr(identity, "refresh_customer_stats", counted)
    try:
        reports = ingest.import_paths(db, [tmp_path], format="mbox")
        assert [r.status for r in reports] == ["done"] * 5
        assert sum(r.added for r in reports) == 30
        assert len(recounts) == 1, recounts
        check(db, "after one call of five files")
    finally:
        db.dispose()
